// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <cmath>

#include <kexue/core/creation.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("ops.reduce") {
  TEST_CASE_TEMPLATE("sum and mean over any axes", T, float, double) {
    auto x = kx::reshape(kx::arange<T>(T(24)), {2, 3, 4});
    check_values(kx::sum(x), {}, {276});
    check_values(kx::sum(x, {0}), {3, 4}, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
    check_values(kx::sum(x, {1, -1}), {2}, {66, 210});
    check_values(kx::sum(x, {2}, true), {2, 3, 1}, {6, 22, 38, 54, 70, 86});
    check_values(kx::mean(x, {0, 2}), {3}, {7.5, 11.5, 15.5});
    check_values(kx::mean(x, {}, true), {1, 1, 1}, {11.5});
  }

  TEST_CASE("mean of an empty tensor is NaN") { CHECK(std::isnan(kx::mean(kx::zeros<double>({0})).item())); }

  TEST_CASE("bad axes are rejected") {
    auto x = kx::zeros<float>({2, 3});
    CHECK_THROWS_WITH_AS(kx::sum(x, {2}), "sum: axis 2 out of range for a tensor of rank 2", kx::index_error);
    CHECK_THROWS_WITH_AS(kx::mean(x, {1, -1}), "mean: an axis is repeated", kx::index_error);
  }

  TEST_CASE("expand and sum_to are adjoint") {
    kx::tensor<double> x = {{1}, {2}};
    auto e = kx::expand(x, {3, 2, 2});
    check_values(e, {3, 2, 2}, {1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2});
    check_values(kx::sum_to(e, {2, 1}), {2, 1}, {6, 12});
    CHECK_THROWS_WITH_AS(kx::expand(x, {3, 3}), "expand: shapes cannot be broadcast (lhs [2, 1], rhs [3, 3])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::sum_to(e, {4}), "sum_to: shapes cannot be broadcast (lhs [4], rhs [3, 2, 2])",
                         kx::shape_error);
  }

  TEST_CASE("gradients of reductions") {
    auto x = kx::randn<double>({3, 4, 2}, 2).requires_grad(true);
    check_gradients([](const V& v) { return kx::sum(v[0], {1}); }, {x});
    check_gradients([](const V& v) { return kx::mean(v[0], {0, 2}, true); }, {x});
    check_gradients([](const V& v) { return kx::expand(kx::sum(v[0], {2}, true), {2, 3, 4, 2}); }, {x});
    check_second_order([](const V& v) { return kx::mean(kx::exp(v[0]), {1}); }, {x});
  }
}
