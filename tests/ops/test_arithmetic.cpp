// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("ops.arithmetic") {
  TEST_CASE_TEMPLATE("binary ops broadcast like numpy", T, float, double) {
    kx::tensor<T> a = {{1, 2, 3}, {4, 5, 6}};
    kx::tensor<T> row = {10, 20, 30};
    kx::tensor<T> col = {{2}, {4}};
    check_values(a + row, {2, 3}, {11, 22, 33, 14, 25, 36});
    check_values(a - col, {2, 3}, {-1, 0, 1, 0, 1, 2});
    check_values(a * col, {2, 3}, {2, 4, 6, 16, 20, 24});
    check_values(row / col, {2, 3}, {5, 10, 15, 2.5, 5, 7.5});  // [1,3] / [2,1] → [2,3]
    check_values(-a, {2, 3}, {-1, -2, -3, -4, -5, -6});
  }

  TEST_CASE_TEMPLATE("scalars combine with tensors from either side", T, float, double) {
    kx::tensor<T> a = {1, 2, 4};
    check_values(a + 1, {3}, {2, 3, 5});
    check_values(1.5 - a, {3}, {0.5, -0.5, -2.5});
    check_values(a * 2, {3}, {2, 4, 8});
    check_values(a / 2, {3}, {0.5, 1, 2});
    check_values(8 / a, {3}, {8, 4, 2});
    check_values(kx::pow(a, T(3)), {3}, {1, 8, 64});
    check_values(kx::pow(a, kx::tensor<T>{2, 0.5, 0}), {3}, {1, std::sqrt(2.0), 1});
  }

  TEST_CASE("broadcast over middle axes and rank-0 operands") {
    auto a = kx::arange<double>(6.0);
    auto x = kx::reshape(a, {2, 1, 3});
    kx::tensor<double> y = {{1}, {2}};  // [2, 1] → broadcasts to [2, 2, 3]
    auto z = x + y;
    CHECK(z.shape() == kx::shape{2, 2, 3});
    check_values(z, {2, 2, 3}, {1, 2, 3, 2, 3, 4, 4, 5, 6, 5, 6, 7});
    check_values(kx::scalar<double>(2) * x, {2, 1, 3}, {0, 2, 4, 6, 8, 10});
  }

  TEST_CASE("gradients of arithmetic with broadcasting") {
    kx::generator gen(5);
    auto a = kx::randn<double>({2, 3}, gen).requires_grad(true);
    auto b = kx::randn<double>({3}, gen).requires_grad(true);
    auto c = kx::rand<double>({2, 1}, gen, 0.5, 2.0).requires_grad(true);
    check_gradients([](const V& v) { return v[0] + v[1] - v[2]; }, {a, b, c});
    check_gradients([](const V& v) { return v[0] * v[1] / v[2]; }, {a, b, c});
    check_gradients([](const V& v) { return 3.0 / v[1] + v[0] * 2.0 - 1.0; }, {a, c});
    check_gradients([](const V& v) { return kx::pow(v[1], 2.5) + kx::pow(v[1], v[0]); }, {b, c});
    check_second_order([](const V& v) { return v[0] * v[1] / v[2]; }, {a, b, c});
    check_second_order([](const V& v) { return kx::pow(v[2], 3.0) * v[0] + kx::pow(v[2], v[1]); }, {a, b, c});
  }

  TEST_CASE("mismatched shapes name both operands") {
    CHECK_THROWS_WITH_AS(kx::zeros<float>({2, 3}) * kx::zeros<float>({2}),
                         "mul: shapes cannot be broadcast (lhs [2, 3], rhs [2])", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::zeros<float>({4}) / kx::zeros<float>({3}),
                         "div: shapes cannot be broadcast (lhs [4], rhs [3])", kx::shape_error);
  }

  TEST_CASE("IEEE special values propagate") {
    kx::tensor<double> a = {1, -1, 0};
    auto q = a / kx::zeros<double>({3});
    CHECK(q(0) == INFINITY);
    CHECK(q(1) == -INFINITY);
    CHECK(std::isnan(q(2)));
  }
}
