// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/core/eigen.hpp>

namespace kx = kexue;

TEST_SUITE("core.eigen") {
  TEST_CASE_TEMPLATE("tensors are seen as Eigen maps without a copy", T, float, double) {
    kx::tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    auto m = kx::as_matrix(x);
    CHECK(m.rows() == 2);
    CHECK(m.cols() == 3);
    CHECK(m(1, 0) == T(4));
    m(0, 1) = T(20);  // writes go to the tensor
    CHECK(x(0, 1) == T(20));
    CHECK(kx::as_array(x).sum() == T(1 + 20 + 3 + 4 + 5 + 6));
    // Higher ranks map as [product of leading axes, last axis].
    auto y = kx::zeros<T>({2, 3, 4});
    CHECK(kx::as_matrix(y).rows() == 6);
    CHECK(kx::as_matrix(y).cols() == 4);
  }

  TEST_CASE("Eigen matrices become tensors by copy or by view") {
    Eigen::Matrix<double, 2, 3, Eigen::RowMajor> m;
    m << 1, 2, 3, 4, 5, 6;
    auto copied = kx::from_eigen(m);
    CHECK(copied.shape() == kx::shape{2, 3});
    CHECK(copied(1, 2) == 6);
    m(0, 0) = 100;
    CHECK(copied(0, 0) == 1);  // a copy
    auto viewed = kx::wrap_eigen(m);
    CHECK(viewed(0, 0) == 100);  // a view
    viewed(1, 1) = -5;
    CHECK(m(1, 1) == -5);
    // Column-major expressions are copied in row-major order.
    Eigen::MatrixXf c(2, 2);
    c << 1, 2, 3, 4;
    auto t = kx::from_eigen(c.transpose());
    CHECK(t.to_vector() == std::vector<float>{1, 3, 2, 4});
  }
}
