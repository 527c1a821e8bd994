// SPDX-License-Identifier: MIT
// Tests of ops/compare.hpp: comparisons, logical ops, where, maximum/minimum, clamp.
#include <cmath>  // NAN
#include <optional>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/ops/compare.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {

/// The mask's values, row-major, as 0/1 ints (doctest prints vectors of int readably).
std::vector<int> flags(const tensor<bool>& m) {
  std::vector<int> out;
  for (index_t i = 0; i < m.numel(); ++i) out.push_back(m.data()[i] ? 1 : 0);
  return out;
}

using tensors = std::vector<tensor<double>>;

}  // namespace

TEST_SUITE("ops.compare") {
  TEST_CASE_TEMPLATE("comparisons broadcast and return boolean masks", T, float, double) {
    const tensor<T> a = {{1, 2, 3}, {4, 5, 6}};
    const tensor<T> b = {2, 5, 6};  // broadcast over the rows of a
    const auto eq = kexue::equal(a, b);
    CHECK(eq.shape() == shape{2, 3});
    CHECK(flags(eq) == std::vector<int>{0, 0, 0, 0, 1, 1});
    CHECK(flags(kexue::not_equal(a, b)) == std::vector<int>{1, 1, 1, 1, 0, 0});
    CHECK(flags(kexue::less(a, b)) == std::vector<int>{1, 1, 1, 0, 0, 0});
    CHECK(flags(kexue::less_equal(a, b)) == std::vector<int>{1, 1, 1, 0, 1, 1});
    CHECK(flags(kexue::greater(a, b)) == std::vector<int>{0, 0, 0, 1, 0, 0});
    CHECK(flags(kexue::greater_equal(a, b)) == std::vector<int>{0, 0, 0, 1, 1, 1});
  }

  TEST_CASE_TEMPLATE("comparisons with a scalar keep the tensor's shape", T, float, double) {
    const tensor<T> x = {{-1, 0}, {2, 3}};
    CHECK(kexue::greater(x, 0).shape() == shape{2, 2});
    CHECK(flags(kexue::greater(x, 0)) == std::vector<int>{0, 0, 1, 1});
    CHECK(flags(kexue::greater_equal(x, 0.0)) == std::vector<int>{0, 1, 1, 1});
    CHECK(flags(kexue::less(x, 2)) == std::vector<int>{1, 1, 0, 0});
    CHECK(flags(kexue::less_equal(x, 2.0f)) == std::vector<int>{1, 1, 1, 0});
    CHECK(flags(kexue::equal(x, 3)) == std::vector<int>{0, 0, 0, 1});
    CHECK(flags(kexue::not_equal(x, 3)) == std::vector<int>{1, 1, 1, 0});
  }

  TEST_CASE("comparisons with a scalar use the common type") {
    // int64 ids against 0.5: compared as doubles, so 0 < 0.5 and 1 > 0.5 (casting 0.5 to int64 would give 0).
    const tensor<index_t> ids = {0, 1, 2};
    CHECK(flags(kexue::less(ids, 0.5)) == std::vector<int>{1, 0, 0});
    CHECK(flags(kexue::equal(ids, 1)) == std::vector<int>{0, 1, 0});
    // float 0.1f against the double 0.1: they differ in double.
    const tensor<float> x = {0.1f};
    CHECK(flags(kexue::equal(x, 0.1)) == std::vector<int>{0});
    CHECK(flags(kexue::equal(x, 0.1f)) == std::vector<int>{1});
  }

  TEST_CASE("NaN compares unequal to everything") {
    const tensor<double> x = {NAN, 1};
    const tensor<double> y = {NAN, NAN};
    CHECK(flags(kexue::equal(x, y)) == std::vector<int>{0, 0});
    CHECK(flags(kexue::not_equal(x, y)) == std::vector<int>{1, 1});
    CHECK(flags(kexue::less(x, y)) == std::vector<int>{0, 0});
    CHECK(flags(kexue::greater_equal(x, y)) == std::vector<int>{0, 0});
  }

  TEST_CASE("comparisons of tensors that require gradients attach no node") {
    auto x = tensor<double>{1, 2, 3}.requires_grad(true);
    const auto m = kexue::less(x, 2.5);
    CHECK_FALSE(m.requires_grad());
    CHECK(flags(m) == std::vector<int>{1, 1, 0});
    CHECK(flags(kexue::equal(x, x)) == std::vector<int>{1, 1, 1});
  }

  TEST_CASE("comparisons name the op when shapes do not broadcast") {
    const auto a = kexue::zeros<float>({2, 3});
    const auto b = kexue::zeros<float>({4});
    CHECK_THROWS_WITH_AS(kexue::less(a, b), "less: shapes cannot be broadcast (lhs [2, 3], rhs [4])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::equal(a, b), "equal: shapes cannot be broadcast (lhs [2, 3], rhs [4])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::greater_equal(a, b), "greater_equal: shapes cannot be broadcast (lhs [2, 3], rhs [4])",
                         kexue::shape_error);
  }

  TEST_CASE("logical ops combine masks with broadcasting") {
    const tensor<bool> a = {{true, true}, {false, false}};
    const tensor<bool> b = {true, false};
    CHECK(flags(kexue::logical_and(a, b)) == std::vector<int>{1, 0, 0, 0});
    CHECK(flags(kexue::logical_or(a, b)) == std::vector<int>{1, 1, 1, 0});
    CHECK(flags(kexue::logical_not(a)) == std::vector<int>{0, 0, 1, 1});
    CHECK_THROWS_WITH_AS(kexue::logical_or(a, tensor<bool>{true, false, true}),
                         "logical_or: shapes cannot be broadcast (lhs [2, 2], rhs [3])", kexue::shape_error);
  }

  TEST_CASE_TEMPLATE("where selects with three-way broadcasting", T, float, double) {
    const auto mask = kexue::from_vector<bool>({true, false}, {2, 1});
    const tensor<T> a = {{1, 2, 3}};      // [1, 3]
    const auto b = kexue::scalar<T>(-1);  // []
    // Row 0 takes a, row 1 takes b: [[1, 2, 3], [-1, -1, -1]].
    check_values(kexue::where(mask, a, b), {2, 3}, {1, 2, 3, -1, -1, -1});
    check_values(kexue::where(mask, a, 0), {2, 3}, {1, 2, 3, 0, 0, 0});
    check_values(kexue::where(mask, 7.5, a), {2, 3}, {7.5, 7.5, 7.5, 1, 2, 3});
    // Two scalars: the mask's shape.
    check_values(kexue::where(mask, T(0), T(-1)), {2, 1}, {0, -1});
  }

  TEST_CASE("where works on integer tensors") {
    const tensor<bool> mask = {true, false, true};
    const tensor<index_t> a = {1, 2, 3};
    const auto out = kexue::where(mask, a, index_t(0));
    CHECK(out.to_vector() == std::vector<index_t>{1, 0, 3});
  }

  TEST_CASE("where routes the gradient by the mask and folds broadcast axes") {
    const tensor<bool> mask = {{true, false, true}, {false, false, true}};  // [2, 3]
    auto a = tensor<double>{{1, 2, 3}, {4, 5, 6}}.requires_grad(true);      // [2, 3]
    auto b = tensor<double>{10, 20, 30}.requires_grad(true);                // [3], broadcast over rows
    kexue::sum(kexue::where(mask, a, b)).backward();
    // a gets 1 where the mask is true; b gets, per column, the number of rows where the mask is false.
    check_values(a.grad(), {2, 3}, {1, 0, 1, 0, 0, 1});
    check_values(b.grad(), {3}, {1, 2, 0});
  }

  TEST_CASE("where passes gradient and second-order checks") {
    const auto mask = kexue::from_vector<bool>({true, false, true}, {3, 1});
    auto a = tensor<double>{{0.3, -1.2, 0.7, 2.0}}.requires_grad(true);                                       // [1, 4]
    auto b = tensor<double>{{0.5, 1.5, -0.5, 1.0}, {2.5, -2.0, 0.1, 0.2}, {1, 2, 3, 4}}.requires_grad(true);  // [3, 4]
    const auto fn = [mask](const tensors& v) { return kexue::where(mask, kexue::mul(v[0], v[0]), v[1]); };
    check_gradients(fn, {a, b});
    check_second_order(fn, {a, b});
  }

  TEST_CASE("where names all three shapes when they do not broadcast") {
    const auto mask = kexue::full<bool>({2, 3}, true);
    CHECK_THROWS_WITH_AS(kexue::where(mask, kexue::zeros<float>({4}), kexue::zeros<float>({3})),
                         "where: shapes cannot be broadcast (mask [2, 3], a [4], b [3])", kexue::shape_error);
  }

  TEST_CASE_TEMPLATE("maximum and minimum broadcast and propagate NaN", T, float, double) {
    const tensor<T> a = {{1, 5}, {-2, 0}};
    const tensor<T> b = {0, 3};
    check_values(kexue::maximum(a, b), {2, 2}, {1, 5, 0, 3});
    check_values(kexue::minimum(a, b), {2, 2}, {0, 3, -2, 0});
    const tensor<T> x = {NAN, 1, 2};
    const tensor<T> y = {1, NAN, 1};
    check_values(kexue::maximum(x, y), {3}, {NAN, NAN, 2});
    check_values(kexue::minimum(x, y), {3}, {NAN, NAN, 1});
  }

  TEST_CASE("maximum and minimum split the gradient half and half at ties, as PyTorch") {
    // torch 1.13: a = [1, 2, 3], b = [1, 1, 4]: maximum grads a [0.5, 1, 0], b [0.5, 0, 1];
    // minimum grads a [0.5, 0, 1], b [0.5, 1, 0].
    auto a = tensor<double>{1, 2, 3}.requires_grad(true);
    auto b = tensor<double>{1, 1, 4}.requires_grad(true);
    kexue::sum(kexue::maximum(a, b)).backward();
    check_values(a.grad(), {3}, {0.5, 1, 0});
    check_values(b.grad(), {3}, {0.5, 0, 1});
    a.zero_grad();
    b.zero_grad();
    kexue::sum(kexue::minimum(a, b)).backward();
    check_values(a.grad(), {3}, {0.5, 0, 1});
    check_values(b.grad(), {3}, {0.5, 1, 0});
    // Broadcast, torch 1.13: c [[1, 2], [1, 0]] against d [1] gives c.grad [[0.5, 1], [0.5, 0]] and
    // d.grad [2] (0.5 + 0 + 0.5 + 1, summed over the broadcast entries).
    auto c = tensor<double>{{1, 2}, {1, 0}}.requires_grad(true);
    auto d = tensor<double>{1}.requires_grad(true);
    kexue::sum(kexue::maximum(c, d)).backward();
    check_values(c.grad(), {2, 2}, {0.5, 1, 0.5, 0});
    check_values(d.grad(), {1}, {2});
  }

  TEST_CASE("maximum and minimum pass gradient and second-order checks away from ties") {
    auto a = tensor<double>{{0.3, -1.2, 0.7}, {2.0, -0.4, 1.1}}.requires_grad(true);  // [2, 3]
    auto b = tensor<double>{0.1, 0.2, 0.9}.requires_grad(true);                       // [3]
    const auto fmax = [](const tensors& v) { return kexue::mul(kexue::maximum(v[0], v[1]), v[0]); };
    const auto fmin = [](const tensors& v) { return kexue::mul(kexue::minimum(v[0], v[1]), v[1]); };
    check_gradients(fmax, {a, b});
    check_gradients(fmin, {a, b});
    check_second_order(fmax, {a, b});
    check_second_order(fmin, {a, b});
  }

  TEST_CASE("maximum names the op when shapes do not broadcast") {
    CHECK_THROWS_WITH_AS(kexue::maximum(kexue::zeros<double>({2}), kexue::zeros<double>({3})),
                         "maximum: shapes cannot be broadcast (lhs [2], rhs [3])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::minimum(kexue::zeros<double>({2}), kexue::zeros<double>({3})),
                         "minimum: shapes cannot be broadcast (lhs [2], rhs [3])", kexue::shape_error);
  }

  TEST_CASE_TEMPLATE("clamp limits values to the bounds", T, float, double) {
    const tensor<T> x = {-1, 0, 0.5, 1, 2, NAN};
    check_values(kexue::clamp(x, 0, 1), {6}, {0, 0, 0.5, 1, 1, NAN});
    check_values(kexue::clamp(x, 0.25, std::nullopt), {6}, {0.25, 0.25, 0.5, 1, 2, NAN});
    check_values(kexue::clamp(x, std::nullopt, 0.75), {6}, {-1, 0, 0.5, 0.75, 0.75, NAN});
    check_values(kexue::clamp_min(x, 0), {6}, {0, 0, 0.5, 1, 2, NAN});
    check_values(kexue::clamp_max(x, 0), {6}, {-1, 0, 0, 0, 0, NAN});
    check_values(kexue::clamp(x, 0.5, 0.5), {6}, {0.5, 0.5, 0.5, 0.5, 0.5, NAN});
  }

  TEST_CASE("clamp passes the gradient at the boundaries, as PyTorch") {
    // torch 1.13: clamp([-1, 0, 0.5, 1, 2], 0, 1).sum() gives grad [0, 1, 1, 1, 0]; min only: [0, 1, 1, 1, 1].
    auto x = tensor<double>{-1, 0, 0.5, 1, 2, NAN}.requires_grad(true);
    kexue::sum(kexue::clamp(x, 0, 1)).backward();
    check_values(x.grad(), {6}, {0, 1, 1, 1, 0, 0});
    x.zero_grad();
    kexue::sum(kexue::clamp_min(x, 0)).backward();
    check_values(x.grad(), {6}, {0, 1, 1, 1, 1, 0});
    x.zero_grad();
    kexue::sum(kexue::clamp_max(x, 0.5)).backward();
    check_values(x.grad(), {6}, {1, 1, 1, 0, 0, 0});
  }

  TEST_CASE("clamp passes gradient and second-order checks away from the bounds") {
    auto x = tensor<double>{{-1.3, 0.2, 0.6}, {0.9, 1.7, -0.1}}.requires_grad(true);
    const auto fn = [](const tensors& v) { return kexue::mul(kexue::clamp(v[0], 0, 1), v[0]); };
    check_gradients(fn, {x});
    check_second_order(fn, {x});
  }

  TEST_CASE("clamp rejects missing, NaN and crossed bounds") {
    const auto x = kexue::zeros<float>({2});
    CHECK_THROWS_WITH_AS(kexue::clamp(x, std::nullopt, std::nullopt), "clamp: at least one bound must be given",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::clamp(x, NAN, 1), "clamp: lower bound is NaN", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::clamp_max(x, NAN), "clamp: upper bound is NaN", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::clamp(x, 2, 1), "clamp: lower bound 2 is greater than upper bound 1",
                         kexue::value_error);
  }

  TEST_CASE_TEMPLATE("clamp with tensor bounds broadcasts all three", T, float, double) {
    const tensor<T> x = {{-1, 0.5, 2}, {0.2, 0.4, 0.9}};  // [2, 3]
    const auto lo = kexue::from_vector<T>({0, T(0.3)}, {2, 1});
    const tensor<T> hi = {1, 0.35, 1};  // [3]
    // Row 0: clamp to [0, 1], [0, 0.35], [0, 1] → [0, 0.35, 1]; row 1: [0.3, 1], [0.3, 0.35], [0.3, 1] →
    // [0.3, 0.35, 0.9].
    check_values(kexue::clamp(x, lo, hi), {2, 3}, {0, 0.35, 1, 0.3, 0.35, 0.9});
  }

  TEST_CASE("clamp with tensor bounds routes gradients as PyTorch") {
    // torch 1.13, x [-1, 0.5, 2, 0.5, 0, 1], lo [0, 1, 1, 0, 0, 0], hi [1, 0, 0, 1, 1, 1]:
    // y [0, 0, 0, 0.5, 0, 1], x.grad [0, 0, 0, 1, 1, 1], lo.grad [1, 0, 0, 0, 0, 0], hi.grad [0, 1, 1, 0, 0, 0].
    auto x = tensor<double>{-1, 0.5, 2, 0.5, 0, 1}.requires_grad(true);
    auto lo = tensor<double>{0, 1, 1, 0, 0, 0}.requires_grad(true);
    auto hi = tensor<double>{1, 0, 0, 1, 1, 1}.requires_grad(true);
    const auto y = kexue::clamp(x, lo, hi);
    check_values(y, {6}, {0, 0, 0, 0.5, 0, 1});
    kexue::sum(y).backward();
    check_values(x.grad(), {6}, {0, 0, 0, 1, 1, 1});
    check_values(lo.grad(), {6}, {1, 0, 0, 0, 0, 0});
    check_values(hi.grad(), {6}, {0, 1, 1, 0, 0, 0});
    // torch 1.13, lo == hi above x: no input gets the gradient; NaN x: none either.
    auto x2 = tensor<double>{-1, NAN}.requires_grad(true);
    auto b2 = tensor<double>{0, 0}.requires_grad(true);
    kexue::sum(kexue::clamp(x2, b2, b2)).backward();
    check_values(x2.grad(), {2}, {0, 0});
    check_values(b2.grad(), {2}, {0, 0});
  }

  TEST_CASE("clamp with tensor bounds passes gradient and second-order checks") {
    auto x = tensor<double>{{-1.3, 0.2, 0.6}, {0.9, 1.7, -0.1}}.requires_grad(true);  // [2, 3]
    auto lo = kexue::from_vector<double>({-0.5, 0.0}, {2, 1}).requires_grad(true);
    auto hi = tensor<double>{1.0, 0.4, 1.2}.requires_grad(true);  // [3]
    const auto fn = [](const tensors& v) { return kexue::mul(kexue::clamp(v[0], v[1], v[2]), kexue::add(v[0], v[2])); };
    check_gradients(fn, {x, lo, hi});
    check_second_order(fn, {x, lo, hi});
  }

  TEST_CASE("clamp with tensor bounds names all three shapes") {
    CHECK_THROWS_WITH_AS(kexue::clamp(kexue::zeros<float>({2}), kexue::zeros<float>({3}), kexue::zeros<float>({1})),
                         "clamp: shapes cannot be broadcast (x [2], lo [3], hi [1])", kexue::shape_error);
  }
}
