// SPDX-License-Identifier: MIT
// Tests of ops/cumsum.hpp: cumulative sums forward and reverse, and their gradients.
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/cumsum.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using vec = std::vector<tensor<double>>;

TEST_SUITE("ops.cumsum") {
  TEST_CASE_TEMPLATE("cumsum runs along the chosen axis", T, float, double) {
    const tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    check_values(kexue::cumsum(x, 1), {2, 3}, {1, 3, 6, 4, 9, 15});
    check_values(kexue::cumsum(x, 0), {2, 3}, {1, 2, 3, 5, 7, 9});
    check_values(kexue::cumsum(x, -1, true), {2, 3}, {6, 5, 3, 15, 11, 6});  // sums from the end
    check_values(kexue::cumsum(x, -2, true), {2, 3}, {5, 7, 9, 4, 5, 6});
    const tensor<T> y = {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}};  // middle axis of [2, 2, 2]
    check_values(kexue::cumsum(y, 1), {2, 2, 2}, {1, 2, 4, 6, 5, 6, 12, 14});
    check_values(kexue::cumsum(kexue::zeros<T>({2, 0}), 1), {2, 0}, {});
  }

  TEST_CASE("the gradient of cumsum is the reverse cumsum") {
    // y_i = Σ_{j≤i} x_j, loss Σ w_i y_i ⇒ dx_j = Σ_{i≥j} w_i: w = [1, 2, 3] → [6, 5, 3].
    auto x = tensor<double>{0.5, -1, 2}.requires_grad(true);
    kexue::cumsum(x, 0).backward(tensor<double>{1, 2, 3});
    check_values(x.grad(), {3}, {6, 5, 3});
    const auto z = tensor<double>{{0.3, -1.2, 0.8}, {1.5, 0.1, -0.4}}.requires_grad(true);
    check_gradients([](const vec& v) { return kexue::cumsum(v[0], 1); }, {z});
    check_gradients([](const vec& v) { return kexue::cumsum(v[0], 0, true); }, {z});
    // Second order through a non-linear loss: the backward is itself a recorded cumsum.
    check_second_order([](const vec& v) { return kexue::mul(kexue::cumsum(v[0], 1), v[0]); }, {z});
    check_second_order([](const vec& v) { return kexue::mul(kexue::cumsum(v[0], 0, true), v[0]); }, {z});
  }

  TEST_CASE("cumsum rejects a bad axis with an exact message") {
    CHECK_THROWS_WITH_AS(kexue::cumsum(kexue::zeros<double>({2, 3}), 2),
                         "cumsum: axis 2 out of range for a tensor of rank 2", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::cumsum(kexue::scalar<double>(1), 0),
                         "cumsum: axis 0 out of range for a tensor of rank 0", kexue::index_error);
  }
}
