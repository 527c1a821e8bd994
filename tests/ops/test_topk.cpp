// SPDX-License-Identifier: MIT
// Tests of ops/topk.hpp: the k largest / smallest elements along an axis, ties, NaN and gradients.
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/topk.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using vec = std::vector<tensor<double>>;

TEST_SUITE("ops.topk") {
  TEST_CASE_TEMPLATE("topk picks the largest or smallest, sorted or in index order", T, float, double) {
    const tensor<T> x = {{1, 5, 2, 4}, {7, 0, 3, 6}};
    auto r = kexue::topk(x, 2);
    check_values(r.values, {2, 2}, {5, 4, 7, 6});
    CHECK(r.indices.to_vector() == std::vector<index_t>{1, 3, 0, 3});
    r = kexue::topk(x, 3, 1, false);
    check_values(r.values, {2, 3}, {1, 2, 4, 0, 3, 6});
    CHECK(r.indices.to_vector() == std::vector<index_t>{0, 2, 3, 1, 2, 3});
    r = kexue::topk(x, 2, -1, true, false);  // unsorted: the same elements, by position
    check_values(r.values, {2, 2}, {5, 4, 7, 6});
    CHECK(r.indices.to_vector() == std::vector<index_t>{1, 3, 0, 3});
    r = kexue::topk(x, 1, 0);  // along the first axis
    check_values(r.values, {1, 4}, {7, 5, 3, 6});
    CHECK(r.indices.to_vector() == std::vector<index_t>{1, 0, 1, 1});
    r = kexue::topk(x, 0);
    CHECK(r.values.shape() == kexue::shape{2, 0});
  }

  TEST_CASE_TEMPLATE("topk breaks ties by lower index and ranks NaN above numbers", T, float, double) {
    const auto [values, indices] = kexue::topk(tensor<T>{1, 3, 3, 2, 3}, 2);
    check_values(values, {2}, {3, 3});
    CHECK(indices.to_vector() == std::vector<index_t>{1, 2});
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const tensor<T> x = {1, nan, 3, nan};
    auto r = kexue::topk(x, 3);
    check_values(r.values, {3}, {NAN, NAN, 3});
    CHECK(r.indices.to_vector() == std::vector<index_t>{1, 3, 2});
    r = kexue::topk(x, 2, 0, false);
    check_values(r.values, {2}, {1, 3});
    CHECK(r.indices.to_vector() == std::vector<index_t>{0, 2});
  }

  TEST_CASE("topk scatters the gradient of the values into the chosen positions") {
    auto x = tensor<double>{{1, 5, 2, 4}, {7, 0, 3, 6}}.requires_grad(true);
    kexue::topk(x, 2).values.backward(tensor<double>{{10, 20}, {30, 40}});
    check_values(x.grad(), {2, 4}, {0, 10, 0, 20, 30, 0, 0, 40});
    const auto z =
        tensor<double>{{{0.3, -1.2, 0.8}, {1.5, 0.1, -0.4}}, {{0.9, 2.0, -0.6}, {-1.1, 0.4, 0.7}}}.requires_grad(true);
    check_gradients([](const vec& v) { return kexue::topk(v[0], 2).values; }, {z});
    check_gradients([](const vec& v) { return kexue::topk(v[0], 1, 1, false).values; }, {z});
    check_gradients([](const vec& v) { return kexue::topk(v[0], 2, 0, true, false).values; }, {z});
    check_second_order([](const vec& v) { return kexue::square(kexue::topk(v[0], 2, -1).values); }, {z});
  }

  TEST_CASE("topk rejects k out of range and bad axes with exact messages") {
    const auto x = kexue::zeros<double>({2});
    CHECK_THROWS_WITH_AS(kexue::topk(x, 3), "topk: k = 3 is out of range for axis 0 of size 2 (shape [2])",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::topk(x, -1), "topk: k = -1 is out of range for axis 0 of size 2 (shape [2])",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::topk(x, 1, 1), "topk: axis 1 out of range for a tensor of rank 1", kexue::index_error);
  }
}
