// SPDX-License-Identifier: MIT
// Tests of ops/slice.hpp: narrow, slice, slice_backward, select, pad, flip.
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/slice.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;

namespace {
using tensors = std::vector<tensor<double>>;
}  // namespace

TEST_SUITE("ops.slice") {
  TEST_CASE_TEMPLATE("narrow takes a run of rows or columns", T, float, double) {
    const tensor<T> x = {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}};
    check_values(kexue::narrow(x, 0, 1, 2), {2, 4}, {5, 6, 7, 8, 9, 10, 11, 12});
    check_values(kexue::narrow(x, 1, 1, 2), {3, 2}, {2, 3, 6, 7, 10, 11});
    check_values(kexue::narrow(x, -1, -2, 2), {3, 2}, {3, 4, 7, 8, 11, 12});  // start −2 = column 2
    check_values(kexue::narrow(x, 1, 4, 0), {3, 0}, {});                      // empty at the end is allowed
    CHECK_FALSE(kexue::narrow(x, 0, 0, 3).shares_storage_with(x));
  }

  TEST_CASE_TEMPLATE("slice follows Python's rules for start, end and step", T, float, double) {
    const auto x = kexue::arange<T>(T(10));  // 0..9
    check_values(kexue::slice(x, 0, 2, 5), {3}, {2, 3, 4});
    check_values(kexue::slice(x, 0, -3, 100, 2), {2}, {7, 9});  // x[-3:100:2]: end clamped to 10
    check_values(kexue::slice(x, 0, 1, 8, 3), {3}, {1, 4, 7});  // x[1:8:3]
    check_values(kexue::slice(x, 0, 1, 7, 3), {2}, {1, 4});     // x[1:7:3]: 7 itself excluded
    check_values(kexue::slice(x, 0, -100, 2), {2}, {0, 1});     // start clamped to 0
    check_values(kexue::slice(x, 0, 8, 2), {0}, {});            // start ≥ end: empty
    check_values(kexue::slice(x, 0, 0, -1), {9}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
    check_values(kexue::slice(x, 0, 3, 4, 1000), {1}, {3});
    const tensor<T> m = {{1, 2, 3}, {4, 5, 6}};
    check_values(kexue::slice(m, 1, 0, 3, 2), {2, 2}, {1, 3, 4, 6});
  }

  TEST_CASE_TEMPLATE("select removes the indexed axis", T, float, double) {
    const tensor<T> x = {{{1, 2}, {3, 4}, {5, 6}}, {{7, 8}, {9, 10}, {11, 12}}};  // [2, 3, 2]
    check_values(kexue::select(x, 0, 1), {3, 2}, {7, 8, 9, 10, 11, 12});
    check_values(kexue::select(x, 1, -1), {2, 2}, {5, 6, 11, 12});
    check_values(kexue::select(x, 2, 0), {2, 3}, {1, 3, 5, 7, 9, 11});
    check_values(kexue::select(tensor<T>{4, 5}, 0, 1), {}, {5});  // a vector gives a scalar
  }

  TEST_CASE_TEMPLATE("pad surrounds the tensor with a constant", T, float, double) {
    const tensor<T> x = {{1, 2}, {3, 4}};
    // one row of 9 above, one column before and two after:
    // [9 9 9 9 9]
    // [9 1 2 9 9]
    // [9 3 4 9 9]
    check_values(kexue::pad(x, {{1, 0}, {1, 2}}, 9), {3, 5}, {9, 9, 9, 9, 9, 9, 1, 2, 9, 9, 9, 3, 4, 9, 9});
    check_values(kexue::pad(x, -1, 1, 0), {2, 3}, {0, 1, 2, 0, 3, 4});  // causal left padding with zeros
    check_values(kexue::pad(x, {{0, 0}, {0, 0}}), {2, 2}, {1, 2, 3, 4});
    check_values(kexue::pad(tensor<T>::empty({0, 2}), 0, 1, 1, 5), {2, 2}, {5, 5, 5, 5});
  }

  TEST_CASE_TEMPLATE("flip reverses the chosen axes", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    check_values(kexue::flip(x, {1}), {2, 3}, {3, 2, 1, 6, 5, 4});
    check_values(kexue::flip(x, {0}), {2, 3}, {4, 5, 6, 1, 2, 3});
    check_values(kexue::flip(x, {0, -1}), {2, 3}, {6, 5, 4, 3, 2, 1});
    check_values(kexue::flip(x, {}), {2, 3}, {1, 2, 3, 4, 5, 6});
    const tensor<T> c = {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}};
    check_values(kexue::flip(c, {0, 2}), {2, 2, 2}, {6, 5, 8, 7, 2, 1, 4, 3});
  }

  TEST_CASE_TEMPLATE("slice_backward places values into zeros", T, float, double) {
    const tensor<T> g = {{1, 2}, {3, 4}};
    check_values(kexue::slice_backward(g, 1, 5, 1, 2), {2, 5}, {0, 1, 0, 2, 0, 0, 3, 0, 4, 0});
    check_values(kexue::slice_backward(g, 0, 3, 1), {3, 2}, {0, 0, 1, 2, 3, 4});
  }

  TEST_CASE("slicing ops work on int64 and bool tensors") {
    const tensor<index_t> ids = {{1, 2, 3}, {4, 5, 6}};
    CHECK(kexue::narrow(ids, 1, 1, 2).to_vector() == std::vector<index_t>{2, 3, 5, 6});
    CHECK(kexue::slice(ids, 1, 0, 3, 2).to_vector() == std::vector<index_t>{1, 3, 4, 6});
    CHECK(kexue::select(ids, 0, -1).to_vector() == std::vector<index_t>{4, 5, 6});
    CHECK(kexue::pad(ids, 0, 0, 1, -1).to_vector() == std::vector<index_t>{1, 2, 3, 4, 5, 6, -1, -1, -1});
    CHECK(kexue::flip(ids, {1}).to_vector() == std::vector<index_t>{3, 2, 1, 6, 5, 4});
    const tensor<bool> mask = {true, false, false};
    const auto padded = kexue::pad(mask, 0, 1, 0, true);
    CHECK(padded.shape() == shape{4});
    CHECK((padded(0) && padded(1) && !padded(2) && !padded(3)));
  }

  TEST_CASE("zero-length slices have zero gradients") {
    auto x = kexue::randn<double>({2, 3}, 3).requires_grad(true);
    const auto y = kexue::narrow(x, 1, 2, 0);
    CHECK(y.shape() == shape{2, 0});
    y.backward(tensor<double>::empty({2, 0}));
    check_values(x.grad(), {2, 3}, {0, 0, 0, 0, 0, 0});
    const auto e = kexue::slice(tensor<float>::empty({0, 4}), 1, 1, 3);
    CHECK(e.shape() == shape{0, 2});
    CHECK(kexue::flip(tensor<float>::empty({0, 4}), {0, 1}).shape() == shape{0, 4});
  }

  TEST_CASE("gradients of narrow, slice and select land at the read positions") {
    auto x = kexue::zeros<double>({2, 5}).requires_grad(true);
    kexue::slice(x, 1, 1, 5, 2).backward(tensor<double>{{1, 2}, {3, 4}});
    check_values(x.grad(), {2, 5}, {0, 1, 0, 2, 0, 0, 3, 0, 4, 0});
    x.zero_grad();
    kexue::select(x, 1, -1).backward(tensor<double>{5, 6});
    check_values(x.grad(), {2, 5}, {0, 0, 0, 0, 5, 0, 0, 0, 0, 6});
  }

  TEST_CASE("slicing ops pass gradcheck and second-order checks") {
    auto x = kexue::randn<double>({3, 4, 5}, 11).requires_grad(true);
    const std::vector<std::pair<std::string, kexue::testing::double_fn>> cases = {
        {"narrow", [](const tensors& v) { return kexue::narrow(v[0], 1, 1, 2); }},
        {"slice", [](const tensors& v) { return kexue::slice(v[0], 2, -4, 5, 2); }},
        {"select", [](const tensors& v) { return kexue::select(v[0], 0, 2); }},
        {"pad",
         [](const tensors& v) {
           return kexue::pad(v[0], {{1, 0}, {0, 0}, {2, 1}}, 0.5);
         }},
        {"flip",
         [](const tensors& v) {
           return kexue::flip(v[0], {0, 2});
         }},
        {"slice_backward", [](const tensors& v) { return kexue::slice_backward(v[0], 1, 9, 1, 2); }},
    };
    for (const auto& [name, fn] : cases) {
      CAPTURE(name);
      check_gradients(fn, {x});
      // Squared, so the first-order gradient depends on x and its backward runs the adjoint op again.
      check_second_order([fn = fn](const tensors& v) { return fn(v) * fn(v); }, {x});
    }
  }

  TEST_CASE("bad arguments are reported") {
    const tensor<float> x = {{1, 2, 3}, {4, 5, 6}};
    CHECK_THROWS_WITH_AS(kexue::narrow(x, 2, 0, 1), "narrow: axis 2 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::narrow(x, 1, 2, 2),
                         "narrow: start 2 + length 2 exceeds the size 3 of axis 1 (shape [2, 3])", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::narrow(x, 1, -4, 1),
                         "narrow: start -4 out of range for axis 1 of size 3 (shape [2, 3])", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::narrow(x, 1, 0, -1), "narrow: length -1 is negative", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::slice(x, 1, 0, 2, 0), "slice: step must be positive (got 0)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::slice(x, -3, 0, 2), "slice: axis -3 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::select(x, 1, 3), "select: index 3 out of range for axis 1 of size 3 (shape [2, 3])",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::select(x, 0, -3), "select: index -3 out of range for axis 0 of size 2 (shape [2, 3])",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::select(kexue::scalar<float>(1), 0, 0),
                         "select: axis 0 out of range for a tensor of rank 0", kexue::index_error);
    CHECK_THROWS_WITH_AS(
        kexue::pad(x, {{1, 1}}),
        "pad: 1 (before, after) pairs given for a tensor of rank 2 (shape [2, 3]); expected one per axis",
        kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::pad(x, 1, 0, -1), "pad: padding (0, -1) of axis 1 is negative", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::flip(x, {1, -1}), "flip: axis -1 is repeated", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::flip(x, {2}), "flip: axis 2 out of range for a tensor of rank 2", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::slice_backward(x, 1, 4, 1, 2),
                         "slice_backward: 3 positions from 1 in steps of 2 do not fit an axis of size 4 (gradient "
                         "shape [2, 3])",
                         kexue::index_error);
  }
}
