// SPDX-License-Identifier: MIT
// algo::whitening (A15): closed forms, identity covariance after whitening, streaming fit == batch fit,
// truncation, the 1/N and 1/(N − 1) conventions, errors.
#include <cmath>    // std::sqrt
#include <cstdint>  // std::uint64_t

#include <doctest/doctest.h>

#include <kexue/algo/whitening.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/slice.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::algo::whitening;
using kx::algo::whitening_options;
using kx::testing::check_close;
using kx::testing::check_values;

namespace test_whitening {

/// n anisotropic rows in 5-D: N(0, I) · A + offset, A with scales 10, 3, 1, 0.3, 0.1 mixed by a fixed matrix.
tensor<double> anisotropic_rows(index_t n, std::uint64_t seed, double offset = 7) {
  kx::generator gen(seed);
  const tensor<double> z = kx::randn<double>({n, 5}, gen);
  const tensor<double> mix = {
      {10, 1, 0, 0.5, 0}, {0, 3, 0.2, 0, 0.1}, {0.3, 0, 1, 0, 0}, {0, 0.1, 0, 0.3, 0.05}, {0, 0, 0.02, 0, 0.1}};
  return kx::add_scalar(kx::matmul(z, mix), offset);
}

/// The covariance (1/N) zᵀz − mean ᵀmean of the rows of z, and their mean, for the checks.
tensor<double> covariance_of(const tensor<double>& z) {
  const tensor<double> mean = kx::mean(z, {0}, true);
  const tensor<double> c = kx::sub(z, mean);
  return kx::mul_scalar(kx::matmul(c, c, true, false), 1.0 / static_cast<double>(z.size(0)));
}

}  // namespace test_whitening

TEST_SUITE("algo.whitening") {
  TEST_CASE("a hand-sized case takes its closed form") {
    // Rows (1,0), (−1,0), (0,2), (0,−2) plus (3,3): μ = (3,3), Σ = diag(2/4, 8/4) = diag(0.5, 2). Descending
    // eigenvalues 2 (along y), 0.5 (along x); W = [e_y/√2, e_x/√0.5] up to signs.
    const tensor<double> x = {{4, 3}, {2, 3}, {3, 5}, {3, 1}};
    whitening<double> w;
    w.fit(x);
    CHECK(w.count() == 4);
    CHECK(w.dim() == 2);
    check_values(w.mean(), {2}, {3, 3});
    check_values(w.covariance(), {2, 2}, {0.5, 0, 0, 2});
    check_values(w.eigenvalues(), {2}, {2, 0.5});
    // |x̃| row by row: (0, √2), (0, √2), (√2, 0), (√2, 0)
    const tensor<double> z = kx::abs(w.transform(x));
    const double r2 = std::sqrt(2.0);
    check_values(z, {4, 2}, {0, r2, 0, r2, r2, 0, r2, 0}, 1e-12, 1e-12);
    check_values(kx::abs(w.transform(x, 1)), {4, 1}, {0, 0, r2, r2}, 1e-12, 1e-12);
    // rotation only: |(x − μ)U| = (0, 1), (0, 1), (2, 0), (2, 0)
    check_values(kx::abs(w.rotate(x)), {4, 2}, {0, 1, 0, 1, 2, 0, 2, 0}, 1e-12, 1e-12);
  }

  TEST_CASE_TEMPLATE("the whitened rows have mean 0 and identity covariance, truncated ones too", T, float, double) {
    const tensor<double> x = test_whitening::anisotropic_rows(400, 11);
    whitening<T> w;
    w.fit(x.to<T>());
    const tensor<double> z = w.transform(x.to<T>()).template to<double>();
    const double tol = sizeof(T) == 8 ? 1e-9 : 2e-3;
    check_close(kx::mean(z, {0}), kx::zeros<double>({5}), tol, tol);
    check_close(test_whitening::covariance_of(z), kx::eye<double>(5), tol, tol);
    // whitening-k: the first k columns of the full transform, covariance I_k
    const tensor<double> z2 = w.transform(x.to<T>(), 2).template to<double>();
    check_close(z2, kx::narrow(z, 1, 0, 2), tol, tol);
    check_close(test_whitening::covariance_of(z2), kx::eye<double>(2), tol, tol);
    // rotation only: covariance Λ = diag(eigenvalues), and W = U Λ^{−1/2}
    const tensor<double> lambda = w.eigenvalues().template to<double>();
    for (index_t i = 0; i + 1 < 5; ++i) CHECK(lambda(i) >= lambda(i + 1));
    const tensor<double> r = w.rotate(x.to<T>()).template to<double>();
    const tensor<double> cov_r = test_whitening::covariance_of(r);
    for (index_t i = 0; i < 5; ++i)
      for (index_t j = 0; j < 5; ++j)
        CHECK(cov_r(i, j) == doctest::Approx(i == j ? lambda(i) : 0.0).epsilon(tol).scale(lambda(0)));
    check_close(w.matrix().template to<double>(), kx::div(w.rotation().template to<double>(), kx::sqrt(lambda)), tol,
                tol);
  }

  TEST_CASE("streaming partial_fit equals the batch fit") {
    // A large offset (1e3 against spreads of 0.1 … 10) is where the raw-moment recurrence would cancel.
    const tensor<double> x = test_whitening::anisotropic_rows(300, 12, 1e3);
    whitening<double> batch, stream;
    batch.fit(x);
    index_t start = 0;
    for (index_t size : {7, 1, 50, 2, 240}) {
      stream.partial_fit(kx::narrow(x, 0, start, size));
      start += size;
    }
    REQUIRE(start == 300);
    CHECK(stream.count() == 300);
    check_close(stream.mean(), batch.mean(), 1e-13, 1e-13);
    check_close(stream.covariance(), batch.covariance(), 1e-11, 1e-11);
    check_close(kx::abs(stream.transform(x)), kx::abs(batch.transform(x)), 1e-8, 1e-8);
    // fit forgets earlier batches
    stream.fit(kx::narrow(x, 0, 0, 100));
    whitening<double> first;
    first.fit(kx::narrow(x, 0, 0, 100));
    CHECK(stream.count() == 100);
    check_close(stream.covariance(), first.covariance(), 1e-14, 1e-14);
  }

  TEST_CASE("the unbiased covariance only rescales W, and eps enters W only") {
    const tensor<double> x = test_whitening::anisotropic_rows(50, 13);
    whitening<double> w, u(whitening_options().unbiased(true)), e(whitening_options().eps(0.5));
    w.fit(x);
    u.fit(x);
    e.fit(x);
    check_close(u.covariance(), kx::mul_scalar(w.covariance(), 50.0 / 49), 1e-12, 1e-12);
    // W_unbiased = W·√(49/50), so the transformed rows shrink by the same factor
    check_close(kx::abs(u.transform(x)), kx::mul_scalar(kx::abs(w.transform(x)), std::sqrt(49.0 / 50)), 1e-9, 1e-9);
    check_close(e.eigenvalues(), w.eigenvalues(), 1e-12, 1e-12);
    // (Λ + 0.5)^{−1/2} column scales
    check_close(kx::abs(e.matrix()), kx::abs(kx::div(w.rotation(), kx::sqrt(kx::add_scalar(w.eigenvalues(), 0.5)))),
                1e-9, 1e-9);
  }

  TEST_CASE("shape, fit and rank errors name the problem") {
    whitening<double> w;
    CHECK_THROWS_WITH_AS(w.transform(tensor<double>{{1, 2}}), "whitening: not fitted", kx::value_error);
    CHECK_THROWS_WITH_AS(w.mean(), "whitening: not fitted", kx::value_error);
    CHECK_THROWS_WITH_AS(w.fit(tensor<double>{1, 2, 3}), "whitening: expected x [N, d] with N >= 1, got [3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(w.fit(kx::zeros<double>({0, 3})), "whitening: expected x [N, d] with N >= 1, got [0, 3]",
                         kx::shape_error);
    // Rows (1,0,0), (−1,0,0): Σ = diag(1, 0, 0), rank 1.
    const tensor<double> x = {{1, 0, 0}, {-1, 0, 0}};
    w.fit(x);
    CHECK_THROWS_WITH_AS(w.partial_fit(tensor<double>{{1, 2}}), "whitening: expected x [N, 3], got [1, 2]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(w.transform(tensor<double>{{1, 2}}), "whitening: expected x [N, 3], got [1, 2]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(w.transform(x, 4), "whitening: k must be in [1, 3], got 4", kx::value_error);
    CHECK_THROWS_WITH_AS(w.transform(x, -1), "whitening: k must be in [1, 3], got -1", kx::value_error);
    CHECK_THROWS_WITH_AS(w.transform(x, 2),
                         "whitening: eigenvalue 2 of 3 of the covariance (plus eps) is not positive (0); use a smaller "
                         "k or a positive eps",
                         kx::value_error);
    check_values(w.transform(x, 1), {2, 1}, {1, -1});  // the one direction with variance 1, sign as Eigen's
    whitening<double> eps(whitening_options().eps(1e-6));
    eps.fit(x);
    CHECK(eps.transform(x).shape() == kx::shape{2, 3});
    whitening<double> u(whitening_options().unbiased(true));
    u.fit(tensor<double>{{1, 2}});
    CHECK_THROWS_WITH_AS(u.covariance(), "whitening: the unbiased covariance needs at least 2 rows, got 1",
                         kx::value_error);
  }
}
