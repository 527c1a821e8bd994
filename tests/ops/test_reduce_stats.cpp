// SPDX-License-Identifier: MIT
// Tests of ops/reduce_stats.hpp: var, stddev (with corrections) and vector norms.
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/reduce_stats.hpp>

#include "support/fixtures.hpp"
#include "support/tensor_checks.hpp"

using kexue::tensor;
using kexue::var_correction;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using vec = std::vector<tensor<double>>;

namespace {
using kexue::testing::inf;
}  // namespace

TEST_SUITE("ops.reduce_stats") {
  TEST_CASE_TEMPLATE("var and stddev of a hand-computed vector", T, float, double) {
    // [1, 2, 3, 4]: mean 2.5, Σd² = 2.25 + 0.25 + 0.25 + 2.25 = 5; unbiased 5/3, biased 5/4.
    const tensor<T> x = {1, 2, 3, 4};
    check_values(kexue::var(x), {}, {5.0 / 3});
    check_values(kexue::var(x, {}, false), {}, {1.25});
    check_values(kexue::var(x, {0}, var_correction{2}), {}, {2.5});
    check_values(kexue::stddev(x), {}, {std::sqrt(5.0 / 3)});
    check_values(kexue::stddev(x, {0}, var_correction{0}, true), {1}, {std::sqrt(1.25)});
  }

  TEST_CASE_TEMPLATE("var reduces over any set of axes", T, float, double) {
    // Rows [1, 3] and [2, 6]: unbiased variances 2 and 8; columns [1, 2] and [3, 6]: 0.5 and 4.5.
    const tensor<T> x = {{1, 3}, {2, 6}};
    check_values(kexue::var(x, {1}), {2}, {2, 8});
    check_values(kexue::var(x, {0}, true, true), {1, 2}, {0.5, 4.5});
    // All four: mean 3, Σd² = 4 + 0 + 1 + 9 = 14, /3.
    check_values(kexue::var(x, {0, 1}), {}, {14.0 / 3});
    const tensor<T> y = {{{1, 2}, {3, 4}}, {{5, 6}, {7, 9}}};  // [2, 2, 2], axes 0 and 2
    // Slice j = 0: {1, 2, 5, 6}, mean 3.5, Σd² = 6.25 + 2.25 + 2.25 + 6.25 = 17; j = 1: {3, 4, 7, 9},
    // mean 5.75, Σd² = 7.5625 + 3.0625 + 1.5625 + 10.5625 = 22.75.
    check_values(kexue::var(y, {0, 2}, false), {2}, {17.0 / 4, 22.75 / 4});
  }

  TEST_CASE("var is accurate under a large common offset") {
    // The naive E[x²] − E[x]² loses every digit here; the two-pass form keeps them.
    const tensor<double> x = {1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4};
    check_values(kexue::var(x), {}, {5.0 / 3});
    const tensor<float> xf = {1e4f + 1, 1e4f + 2, 1e4f + 3, 1e4f + 4};
    check_values(kexue::var(xf), {}, {5.0 / 3}, 1e-5);
  }

  TEST_CASE("var of too few elements is NaN or inf, as PyTorch") {
    CHECK(std::isnan(kexue::var(tensor<double>{2}).item()));                       // 0 / 0
    CHECK(kexue::var(tensor<double>{2}, {}, false).item() == 0);                   // population variance of one value
    CHECK(kexue::var(tensor<double>{1, 3}, {}, var_correction{3}).item() == inf);  // 2 / max(0, −1)
    CHECK(std::isnan(kexue::var(kexue::zeros<double>({0})).item()));               // empty
  }

  TEST_CASE("var and stddev pass the gradient checks, to second order") {
    const auto x = tensor<double>{{0.3, -1.2, 0.8}, {1.5, 0.1, -0.4}}.requires_grad(true);
    check_gradients([](const vec& v) { return kexue::var(v[0]); }, {x});
    check_gradients([](const vec& v) { return kexue::var(v[0], {1}, false, true); }, {x});
    check_gradients([](const vec& v) { return kexue::stddev(v[0], {0}); }, {x});
    check_gradients([](const vec& v) { return kexue::stddev(v[0], {1}, var_correction{0}); }, {x});
    check_second_order([](const vec& v) { return kexue::var(v[0], {1}); }, {x});
    check_second_order([](const vec& v) { return kexue::stddev(v[0], {0, 1}); }, {x});
  }

  TEST_CASE("stddev of a constant slice has a zero gradient, as PyTorch") {
    auto x = tensor<double>{{2, 2, 2}, {1, 2, 3}}.requires_grad(true);
    kexue::sum(kexue::stddev(x, {1})).backward();
    // Row 1: stddev 1, gradient (x − 2)/(2·1)·2/2 = (x − 2)/2.
    check_values(x.grad(), {2, 3}, {0, 0, 0, -0.5, 0, 0.5});
  }

  TEST_CASE_TEMPLATE("norm for p = 1, 2, 3 and inf", T, float, double) {
    const tensor<T> x = {{3, -4}, {-1, 0}};
    check_values(kexue::norm(x), {}, {std::sqrt(26.0)});  // 9 + 16 + 1
    check_values(kexue::norm(x, 2, {1}), {2}, {5, 1});
    check_values(kexue::norm(x, 1, {0}), {2}, {4, 4});
    check_values(kexue::norm(x, 3, {1}, true), {2, 1}, {std::cbrt(91.0), 1});  // 27 + 64
    check_values(kexue::norm(x, inf, {1}), {2}, {4, 1});
    check_values(kexue::norm(x, 0.5, {1}), {2}, {std::pow(std::sqrt(3.0) + 2, 2), 1});
  }

  TEST_CASE("norm gradients, including ties of the inf-norm") {
    auto x = tensor<double>{1, -3, 3}.requires_grad(true);
    kexue::norm(x, inf).backward();
    check_values(x.grad(), {3}, {0, -0.5, 0.5});  // torch.linalg.vector_norm(inf) splits ties
    auto y = tensor<double>{3, -4}.requires_grad(true);
    kexue::norm(y).backward();
    check_values(y.grad(), {2}, {0.6, -0.8});  // x / ‖x‖
    const auto z = tensor<double>{{0.3, -1.2, 0.8}, {1.5, 0.1, -0.4}}.requires_grad(true);
    for (const double p : {1.0, 2.0, 3.0, 1.5, 0.7, inf}) {
      CAPTURE(p);
      check_gradients([p](const vec& v) { return kexue::norm(v[0], p, {1}); }, {z});
      if (p != 1.0 && p != inf) check_second_order([p](const vec& v) { return kexue::norm(v[0], p); }, {z});
    }
  }

  TEST_CASE("norm has a zero gradient at zero, the subgradient PyTorch picks") {
    for (const double p : {1.0, 2.0, 3.0, 0.5, inf}) {
      CAPTURE(p);
      auto x = kexue::zeros<double>({3}).requires_grad(true);
      kexue::norm(x, p).backward();
      check_values(x.grad(), {3}, {0, 0, 0});
    }
    // p < 1 with a zero element in a non-zero slice: that element gets 0 (no 0·inf).
    auto y = tensor<double>{0, 1}.requires_grad(true);
    kexue::norm(y, 0.5).backward();
    check_values(y.grad(), {2}, {0, 1});
  }

  TEST_CASE("stats reject bad arguments with exact messages") {
    const auto x = kexue::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(kexue::norm(x, 0), "norm: p must be positive or inf (got 0)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::norm(x, -2), "norm: p must be positive or inf (got -2)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::norm(x, 2, {3}), "norm: axis 3 out of range for a tensor of rank 2",
                         kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::norm(kexue::zeros<double>({0}), inf),
                         "norm: cannot reduce over axis 0 of size 0 (shape [0])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::var(x, {0, 0}), "var: an axis is repeated", kexue::index_error);
    CHECK_THROWS_WITH_AS(kexue::stddev(x, {-3}), "stddev: axis -3 out of range for a tensor of rank 2",
                         kexue::index_error);
  }
}
