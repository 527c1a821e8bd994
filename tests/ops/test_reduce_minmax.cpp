// SPDX-License-Identifier: MIT
// Tests of ops/reduce_minmax.hpp: max, min, argmax, argmin, max_with_indices, min_with_indices.
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/reduce_minmax.hpp>

#include "support/tensor_checks.hpp"

using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using vec = std::vector<tensor<double>>;

namespace {
template <class T>
void check_indices(const tensor<kexue::index_t>& actual, const kexue::shape& s, std::vector<kexue::index_t> expected) {
  REQUIRE(actual.shape() == s);
  CHECK(actual.to_vector() == expected);
}
}  // namespace

TEST_SUITE("ops.reduce_minmax") {
  TEST_CASE_TEMPLATE("max and min reduce over any set of axes", T, float, double) {
    const tensor<T> x = {{1, 5, 3}, {4, 2, 6}};
    check_values(kexue::max(x), {}, {6});
    check_values(kexue::min(x), {}, {1});
    check_values(kexue::max(x, {0}), {3}, {4, 5, 6});  // column-wise
    check_values(kexue::min(x, {1}), {2}, {1, 2});     // row-wise
    check_values(kexue::max(x, {-1}, true), {2, 1}, {5, 6});
    check_values(kexue::min(x, {0, 1}, true), {1, 1}, {1});
    const tensor<T> y = {{{1, 9}, {3, 4}}, {{0, 2}, {7, 5}}};  // [2, 2, 2]
    check_values(kexue::max(y, {0, 2}), {2}, {9, 7});          // max{1,9,0,2}, max{3,4,7,5}
    check_values(kexue::min(y, {2, 0}), {2}, {0, 3});
  }

  TEST_CASE_TEMPLATE("max and min propagate NaN and keep infinities", T, float, double) {
    const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
    const tensor<T> x = {{1, nan, 3}, {-inf, -inf, -inf}};
    check_values(kexue::max(x, {1}), {2}, {NAN, -INFINITY});
    check_values(kexue::min(x, {1}), {2}, {NAN, -INFINITY});
    CHECK(std::isnan(kexue::max(x).item()));
  }

  TEST_CASE("max splits the gradient evenly among ties, as torch.amax") {
    // Row 0 has max 3 twice, row 1 has max 2 twice: each tie gets g/2.
    auto x = tensor<double>{{1, 3, 3}, {2, 2, 0}}.requires_grad(true);
    kexue::sum(kexue::max(x, {1})).backward();
    check_values(x.grad(), {2, 3}, {0, 0.5, 0.5, 0.5, 0.5, 0});
    // Over all axes: the two 3s share the gradient.
    auto z = tensor<double>{{1, 3, 3}, {2, 2, 0}}.requires_grad(true);
    kexue::max(z).backward();
    check_values(z.grad(), {2, 3}, {0, 0.5, 0.5, 0, 0, 0});
    auto w = tensor<double>{{1, 3, 3}, {2, 2, 0}}.requires_grad(true);
    kexue::min(w).backward();
    check_values(w.grad(), {2, 3}, {0, 0, 0, 0, 0, 1});
  }

  TEST_CASE("max of a NaN slice has a NaN gradient, as PyTorch") {
    auto x = tensor<double>{1, NAN, 3}.requires_grad(true);
    kexue::max(x).backward();
    check_values(x.grad(), {3}, {NAN, NAN, NAN});
  }

  TEST_CASE("max and min pass the gradient check, and second order is zero in x") {
    const auto x = tensor<double>{{0.3, -1.2, 0.8}, {1.5, 0.1, -0.4}}.requires_grad(true);
    check_gradients([](const vec& v) { return kexue::max(v[0], {1}); }, {x});
    check_gradients([](const vec& v) { return kexue::min(v[0], {0}, true); }, {x});
    check_gradients([](const vec& v) { return kexue::max(v[0]); }, {x});
    check_second_order([](const vec& v) { return kexue::max(v[0], {1}); }, {x});
  }

  TEST_CASE("the gradient of max is differentiable in the incoming gradient") {
    // grad(max(x)) = one-hot · g; differentiating a loss of that gradient w.r.t. g works (create_graph).
    auto x = tensor<double>{{1, 4}, {3, 2}}.requires_grad(true);
    auto g = tensor<double>{10, 20}.requires_grad(true);
    auto y = kexue::max(x, {1});
    auto gx = kexue::grad<double>({y}, {x}, kexue::grad_options().create_graph(true), {g})[0];
    check_values(gx, {2, 2}, {0, 10, 20, 0});
    auto gg = kexue::grad<double>({kexue::sum(kexue::mul(gx, gx))}, {g})[0];
    check_values(gg, {2}, {20, 40});  // d/dg Σ (g·onehot)² = 2g
  }

  TEST_CASE_TEMPLATE("argmax and argmin take the first occurrence on ties", T, float, double) {
    const tensor<T> x = {{1, 3, 3}, {2, 2, 0}};
    check_indices<T>(kexue::argmax(x, 1), {2}, {1, 0});
    check_indices<T>(kexue::argmin(x, 1), {2}, {0, 2});
    check_indices<T>(kexue::argmax(x, 0, true), {1, 3}, {1, 0, 0});
    check_indices<T>(kexue::argmin(x, -2), {3}, {0, 1, 1});
    check_indices<T>(kexue::argmax(x), {}, {1});  // flattened: first 3 at flat index 1
    check_indices<T>(kexue::argmin(x), {}, {5});
  }

  TEST_CASE_TEMPLATE("argmax and argmin point at the first NaN", T, float, double) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const tensor<T> x = {1, nan, 3, nan};
    CHECK(kexue::argmax(x, 0).item() == 1);
    CHECK(kexue::argmin(x, 0).item() == 1);
  }

  TEST_CASE_TEMPLATE("max_with_indices returns values and first positions", T, float, double) {
    const tensor<T> x = {{1, 3, 3}, {2, 2, 0}};
    const auto r = kexue::max_with_indices(x, 1);
    check_values(r.values, {2}, {3, 2});
    check_indices<T>(r.indices, {2}, {1, 0});
    const auto [values, indices] = kexue::min_with_indices(x, 0, true);
    check_values(values, {1, 3}, {1, 2, 0});
    check_indices<T>(indices, {1, 3}, {0, 1, 1});
  }

  TEST_CASE("max_with_indices sends the gradient to the chosen position only") {
    auto x = tensor<double>{{1, 3, 3}, {2, 2, 0}}.requires_grad(true);
    kexue::sum(kexue::max_with_indices(x, 1).values).backward();
    check_values(x.grad(), {2, 3}, {0, 1, 0, 1, 0, 0});
    const auto y = tensor<double>{{{0.5, -1.0}, {2.0, 0.3}}, {{-0.7, 1.1}, {0.2, 0.9}}}.requires_grad(true);
    check_gradients([](const vec& v) { return kexue::max_with_indices(v[0], 1).values; }, {y});
    check_gradients([](const vec& v) { return kexue::min_with_indices(v[0], -1, true).values; }, {y});
    check_second_order([](const vec& v) { return kexue::min_with_indices(v[0], 0).values; }, {y});
  }

  TEST_CASE("extremes reject empty axes and bad axes with exact messages") {
    const auto e = kexue::zeros<double>({0, 3});
    CHECK_THROWS_WITH_AS(kexue::max(e), "max: cannot reduce over axis 0 of size 0 (shape [0, 3])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::min(e, {0}), "min: cannot reduce over axis 0 of size 0 (shape [0, 3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::argmax(e, 0), "argmax: cannot reduce over axis 0 of size 0 (shape [0, 3])",
                         kexue::shape_error);
    check_values(kexue::max(e, {1}), {0}, {});  // reducing the non-empty axis is fine
    const auto x = kexue::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(kexue::max(x, {2}), "max: axis 2 out of range for a tensor of rank 2", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::min(x, {1, -1}), "min: an axis is repeated", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::argmin(x, -3), "argmin: axis -3 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::max_with_indices(x, 5), "max_with_indices: axis 5 out of range for a tensor of rank 2",
                         kexue::index_error);
  }
}
