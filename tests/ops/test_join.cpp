// SPDX-License-Identifier: MIT
// Tests of ops/join.hpp: concat, stack, split, chunk, unbind.
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/join.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {

using tensors = std::vector<tensor<double>>;

/// The shapes of a list of tensors, for comparisons.
template <class T>
std::vector<shape> shapes_of(const std::vector<tensor<T>>& list) {
  std::vector<shape> out;
  for (const auto& t : list) out.push_back(t.shape());
  return out;
}

/// sum of squares of the pieces joined again (a scalar-free way to use every piece in a checked function).
tensor<double> joined_squares(const std::vector<tensor<double>>& pieces, int axis) {
  const auto y = kexue::concat(pieces, axis);
  return y * y;
}

}  // namespace

TEST_SUITE("ops.join") {
  TEST_CASE_TEMPLATE("concat joins along an existing axis", T, float, double) {
    const tensor<T> a = {{1, 2}, {3, 4}};
    const auto b = kexue::from_vector<T>({5, 6}, {2, 1});
    const tensor<T> c = {{7, 8, 9}, {10, 11, 12}};
    // rows of a, b, c side by side: [1 2 | 5 | 7 8 9], [3 4 | 6 | 10 11 12]
    check_values(kexue::concat({a, b, c}, 1), {2, 6}, {1, 2, 5, 7, 8, 9, 3, 4, 6, 10, 11, 12});
    check_values(kexue::concat({a, a}, 0), {4, 2}, {1, 2, 3, 4, 1, 2, 3, 4});
    check_values(kexue::concat(std::vector<tensor<T>>{a, b}, -1), {2, 3}, {1, 2, 5, 3, 4, 6});
    check_values(kexue::concat({a}, 0), {2, 2}, {1, 2, 3, 4});
  }

  TEST_CASE_TEMPLATE("stack joins along a new axis", T, float, double) {
    const tensor<T> a = {1, 2, 3};
    const tensor<T> b = {4, 5, 6};
    check_values(kexue::stack({a, b}, 0), {2, 3}, {1, 2, 3, 4, 5, 6});
    check_values(kexue::stack({a, b}, 1), {3, 2}, {1, 4, 2, 5, 3, 6});
    check_values(kexue::stack({a, b}, -1), {3, 2}, {1, 4, 2, 5, 3, 6});
    check_values(kexue::stack({kexue::scalar<T>(7), kexue::scalar<T>(8)}, 0), {2}, {7, 8});
  }

  TEST_CASE_TEMPLATE("split and chunk cut an axis like torch", T, float, double) {
    const auto x = kexue::reshape(kexue::arange<T>(T(10)), {2, 5});  // [[0..4], [5..9]]
    const auto by_size = kexue::split(x, 2, 1);
    REQUIRE(shapes_of(by_size) == std::vector<shape>{{2, 2}, {2, 2}, {2, 1}});
    check_values(by_size[0], {2, 2}, {0, 1, 5, 6});
    check_values(by_size[2], {2, 1}, {4, 9});
    const auto by_sizes = kexue::split(x, std::vector<index_t>{1, 0, 4}, 1);
    REQUIRE(shapes_of(by_sizes) == std::vector<shape>{{2, 1}, {2, 0}, {2, 4}});
    check_values(by_sizes[2], {2, 4}, {1, 2, 3, 4, 6, 7, 8, 9});
    // torch.chunk: 5 into 3 gives ceil(5/3) = 2 per piece: 2, 2, 1; 6 into 4 gives 2, 2, 2 (three pieces)
    CHECK(shapes_of(kexue::chunk(x, 3, 1)) == std::vector<shape>{{2, 2}, {2, 2}, {2, 1}});
    CHECK(shapes_of(kexue::chunk(kexue::arange<T>(T(6)), 4)) == std::vector<shape>{{2}, {2}, {2}});
    check_values(kexue::chunk(x, 2, 0)[1], {1, 5}, {5, 6, 7, 8, 9});
  }

  TEST_CASE_TEMPLATE("unbind returns the slices without the axis", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    const auto rows = kexue::unbind(x);
    REQUIRE(rows.size() == 2);
    check_values(rows[1], {3}, {4, 5, 6});
    const auto cols = kexue::unbind(x, -1);
    REQUIRE(cols.size() == 3);
    check_values(cols[2], {2}, {3, 6});
  }

  TEST_CASE("join ops work on int64 and bool tensors") {
    const tensor<index_t> a = {{1, 2}, {3, 4}};
    const tensor<index_t> b = {{5, 6}};
    CHECK(kexue::concat({a, b}, 0).to_vector() == std::vector<index_t>{1, 2, 3, 4, 5, 6});
    CHECK(kexue::stack({a, a}, 2).shape() == shape{2, 2, 2});
    CHECK(kexue::stack({a, a}, 2).to_vector() == std::vector<index_t>{1, 1, 2, 2, 3, 3, 4, 4});
    CHECK(kexue::split(a, 1, 1)[1].to_vector() == std::vector<index_t>{2, 4});
    CHECK(kexue::unbind(a, 1)[0].to_vector() == std::vector<index_t>{1, 3});
    const tensor<bool> m = {true, false};
    CHECK(kexue::concat({m, m}, 0).to_vector() == std::vector<bool>{true, false, true, false});
  }

  TEST_CASE("empty pieces and axes behave") {
    const auto e = tensor<float>::empty({2, 0});
    const auto a = kexue::from_vector<float>({1, 2}, {2, 1});
    check_values(kexue::concat({e, a, e}, 1), {2, 1}, {1, 2});
    CHECK(kexue::concat({e, e}, 1).shape() == shape{2, 0});
    CHECK(kexue::concat({e, e}, 0).shape() == shape{4, 0});
    CHECK(shapes_of(kexue::split(e, 3, 1)) == std::vector<shape>{{2, 0}});                  // torch.split: one piece
    CHECK(shapes_of(kexue::chunk(e, 3, 1)) == std::vector<shape>{{2, 0}, {2, 0}, {2, 0}});  // torch.chunk: `chunks`
    CHECK(kexue::unbind(e, 1).empty());
    CHECK(kexue::stack({e, e}, 1).shape() == shape{2, 2, 0});
  }

  TEST_CASE("gradients flow to each joined input, including ones that need none") {
    auto a = kexue::zeros<double>({2, 2}).requires_grad(true);
    const auto b = kexue::zeros<double>({2, 1});  // no gradient
    auto c = kexue::zeros<double>({2, 1}).requires_grad(true);
    kexue::concat({a, b, c}, 1).backward(tensor<double>{{1, 2, 3, 4}, {5, 6, 7, 8}});
    check_values(a.grad(), {2, 2}, {1, 2, 5, 6});
    check_values(c.grad(), {2, 1}, {4, 8});
    CHECK_FALSE(b.grad().defined());
  }

  TEST_CASE("join ops pass gradcheck and second-order checks") {
    auto a = kexue::randn<double>({2, 3}, 31).requires_grad(true);
    auto b = kexue::randn<double>({2, 1}, 32).requires_grad(true);
    auto c = kexue::randn<double>({2, 3}, 33).requires_grad(true);
    const auto concat_fn = [](const tensors& v) { return kexue::concat({v[0], v[1], v[2]}, 1); };
    const auto stack_fn = [](const tensors& v) { return kexue::stack({v[0], v[1]}, 1); };
    check_gradients(concat_fn, {a, b, c});
    check_gradients(stack_fn, {a, c});
    check_second_order([&](const tensors& v) { return concat_fn(v) * concat_fn(v); }, {a, b, c});
    check_second_order([&](const tensors& v) { return stack_fn(v) * stack_fn(v); }, {a, c});

    auto x = kexue::randn<double>({3, 5}, 34).requires_grad(true);
    // The pieces reordered and joined again: every piece's gradient has to reach its own columns.
    const auto split_fn = [](const tensors& v) {
      auto p = kexue::split(v[0], 2, 1);
      return kexue::concat({p[2], p[0], p[1]}, 1);
    };
    const auto sections_fn = [](const tensors& v) {
      auto p = kexue::split(v[0], std::vector<index_t>{3, 2}, 1);
      return kexue::concat({p[1], p[0]}, 1);
    };
    const auto chunk_fn = [](const tensors& v) {
      auto p = kexue::chunk(v[0], 2, 0);
      return kexue::concat({p[1], p[0]}, 0);
    };
    const auto unbind_fn = [](const tensors& v) {
      auto p = kexue::unbind(v[0], 1);
      return kexue::stack({p[4], p[1], p[1]}, 0);
    };
    for (const auto& fn : std::vector<kexue::testing::double_fn>{split_fn, sections_fn, chunk_fn, unbind_fn}) {
      check_gradients(fn, {x});
      check_second_order([fn](const tensors& v) { return fn(v) * fn(v); }, {x});
    }
    check_gradients([](const tensors& v) { return joined_squares(kexue::split(v[0], 3, 1), 1); }, {x});
  }

  TEST_CASE("bad lists and shapes are reported") {
    const tensor<float> a = {{1, 2, 3}, {4, 5, 6}};
    const tensor<float> b = {{1, 2}, {3, 4}};
    const tensor<float> v = {1, 2, 3};
    CHECK_THROWS_WITH_AS(kexue::concat(std::vector<tensor<float>>{}, 0), "concat: expects at least one tensor",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::concat({a, b, a}, 0),
                         "concat: shapes must match except along axis 0 (got [2, 3], [2, 2], [2, 3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::concat({a, v}, 1), "concat: shapes must match except along axis 1 (got [2, 3], [3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::concat({a, b}, 2), "concat: axis 2 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::concat({kexue::scalar<float>(1)}, 0),
                         "concat: axis 0 out of range for a tensor of rank 0", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::stack(std::vector<tensor<float>>{}, 0), "stack: expects at least one tensor",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::stack({a, a, b}, 0), "stack: shapes must be equal (got [2, 3], [2, 3], [2, 2])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::stack({a, a}, 3), "stack: axis 3 out of range for a tensor of rank 3",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::split(a, 0, 1), "split: split size must be positive (got 0)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::split(a, std::vector<index_t>{1, 1}, 1),
                         "split: sizes [1, 1] sum to 2, but axis 1 has size 3 (shape [2, 3])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::split(a, std::vector<index_t>{4, -1}, 1), "split: section 1 has negative size -1",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::split(a, 1, 2), "split: axis 2 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::chunk(a, 0, 1), "chunk: number of chunks must be positive (got 0)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::unbind(a, -3), "unbind: axis -3 out of range for a tensor of rank 2",
                         kexue::index_error);
  }
}
