// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_gradients;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("ops.reshape") {
  TEST_CASE_TEMPLATE("views share storage and infer one dimension", T, float, double) {
    auto x = kx::arange<T>(T(6));
    auto y = kx::reshape(x, {2, -1});
    CHECK(y.shape() == kx::shape{2, 3});
    CHECK(y.shares_storage_with(x));
    y(1, 0) = T(42);
    CHECK(x(3) == T(42));
    CHECK(kx::flatten(kx::reshape(x, {1, 2, 3}), 1).shape() == kx::shape{1, 6});
    CHECK(kx::unsqueeze(x, -1).shape() == kx::shape{6, 1});
    CHECK(kx::unsqueeze(x, 0).shape() == kx::shape{1, 6});
    CHECK(kx::squeeze(kx::reshape(x, {1, 6, 1})).shape() == kx::shape{6});
    CHECK(kx::squeeze(kx::reshape(x, {1, 6, 1}), 0).shape() == kx::shape{6, 1});
    CHECK(kx::view(x, {3, 2}).shape() == kx::shape{3, 2});
  }

  TEST_CASE("reshape errors name the shapes") {
    auto x = kx::zeros<float>({2, 3});
    CHECK_THROWS_WITH_AS(kx::reshape(x, {4, 2}), "reshape: cannot reshape [2, 3] (6 elements) into [4, 2] (8 elements)",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::reshape(x, {-1, -1}), "reshape: only one dimension can be -1 (got [-1, -1])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::reshape(x, {4, -1}), "reshape: cannot reshape [2, 3] into [4, -1]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::squeeze(x, 1), "squeeze: axis 1 has size 3, expected 1 (shape [2, 3])", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::unsqueeze(x, 4), "unsqueeze: axis 4 out of range for a tensor of rank 3",
                         kx::index_error);
  }

  TEST_CASE("gradients flow through views") {
    auto x = kx::randn<double>({2, 3}, 1).requires_grad(true);
    check_gradients([](const V& v) { return kx::reshape(v[0], {3, 2}) * kx::tensor<double>{1, 2}; }, {x});
    check_gradients([](const V& v) { return kx::unsqueeze(kx::flatten(v[0]), 0) * 2.0; }, {x});
  }
}
