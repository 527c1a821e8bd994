// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/conv.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("ops.conv") {
  TEST_CASE_TEMPLATE("conv1d slides the kernel over the zero-padded input", T, float, double) {
    // x = (1, 2, 3, 4), w = (1, 0, -1), bias 10, padding 1: xp = (0, 1, 2, 3, 4, 0);
    // out[t] = 10 + xp[t] - xp[t + 2] = 10 + (0-2, 1-3, 2-4, 3-0) = (8, 8, 8, 13).
    auto x = kx::tensor<T>{{{1, 2, 3, 4}}};
    auto w = kx::tensor<T>{{{1, 0, -1}}};
    auto b = kx::tensor<T>{10};
    check_values(kx::conv1d(x, w, b, 1, 1), {1, 1, 4}, {8, 8, 8, 13});
    // No padding, dilation 2: out[0] = x0 - x4... L=4 with dilated span 5 is too short, so use padding (2, 1):
    // xp = (0, 0, 1, 2, 3, 4, 0), out[t] = xp[t] - xp[t + 4] = (0-3, 0-4, 1-0), length 7 - 5 + 1 = 3.
    check_values(kx::conv1d(x, w, {}, 1, {2, 1}, 2), {1, 1, 3}, {-3, -4, 1});
    // Stride 2 without padding: windows at 0 and 2 of (1, 2, 3, 4) need length 3: only t = 0 fits: 1 - 3.
    check_values(kx::conv1d(x, w, {}, 2), {1, 1, 1}, {-2});
  }

  TEST_CASE_TEMPLATE("conv1d mixes channels and keeps groups apart", T, float, double) {
    // Two input channels a = (1, 2), b = (3, 4), kernel 1. Output o0 = a + 10 b, o1 = 2 a - b.
    auto x = kx::tensor<T>{{{1, 2}, {3, 4}}};
    auto w = kx::reshape(kx::tensor<T>{1, 10, 2, -1}, {2, 2, 1});
    check_values(kx::conv1d(x, w), {1, 2, 2}, {31, 42, -1, 0});
    // groups 2: o0 sees only a (weight 5), o1 only b (weight -1).
    auto wg = kx::reshape(kx::tensor<T>{5, -1}, {2, 1, 1});
    check_values(kx::conv1d(x, wg, {}, 1, 0, 1, 2), {1, 2, 2}, {5, 10, -3, -4});
  }

  TEST_CASE("the gradients of conv1d are the transposed convolution and the correlation") {
    // y[t] = Σ_k w[k] x[t + k] with x = (1, 2, 3), w = (1, 1): y = (3, 5); with dL/dy = (1, 10):
    // dL/dx = (1, 1 + 10, 10) = (1, 11, 10); dL/dw[k] = Σ_t g[t] x[t + k] = (1 + 20, 2 + 30) = (21, 32).
    auto x = kx::tensor<double>{{{1, 2, 3}}}.requires_grad(true);
    auto w = kx::tensor<double>{{{1, 1}}}.requires_grad(true);
    auto b = kx::tensor<double>{0.5}.requires_grad(true);
    auto y = kx::conv1d(x, w, b);
    auto g = kx::grad({kx::sum(y * kx::tensor<double>{{{1, 10}}})}, {x, w, b});
    check_values(g[0], {1, 1, 3}, {1, 11, 10});
    check_values(g[1], {1, 1, 2}, {21, 32});
    check_values(g[2], {1}, {11});
  }

  struct conv1d_config {
    kx::index_t stride, left, right, dilation, groups;
  };

  /// First- and second-order checks of conv1d under one configuration, linear and squared.
  void check_conv1d_gradients(const conv1d_config& c, kx::generator& gen) {
    CAPTURE(c.stride);
    CAPTURE(c.dilation);
    CAPTURE(c.groups);
    auto x = kx::randn<double>({2, 4, 7}, gen).requires_grad(true);
    auto w = kx::randn<double>({2, 4 / c.groups, 3}, gen).requires_grad(true);
    auto b = kx::randn<double>({2}, gen).requires_grad(true);
    auto fn = [c](const std::vector<kx::tensor<double>>& v) {
      return kx::conv1d(v[0], v[1], v[2], c.stride, {c.left, c.right}, c.dilation, c.groups);
    };
    kx::testing::check_gradients(fn, {x, w, b});
    kx::testing::check_second_order(fn, {x, w, b});
    // A non-linear use, so the second derivative through both arguments of the backward ops is exercised.
    auto fn2 = [c](const std::vector<kx::tensor<double>>& v) {
      auto y = kx::conv1d(v[0], v[1], {}, c.stride, {c.left, c.right}, c.dilation, c.groups);
      return y * y;
    };
    kx::testing::check_second_order(fn2, {x, w});
  }

  TEST_CASE("conv1d passes gradient checks of first and second order at stride 1 (per-tap kernels)") {
    kx::generator gen(kexue_test_seed());
    check_conv1d_gradients({1, 1, 1, 1, 1}, gen);
  }

  TEST_CASE("conv1d passes gradient checks of first and second order with causal padding and dilation 2") {
    kx::generator gen(kexue_test_seed() + 2);
    check_conv1d_gradients({1, 4, 0, 2, 1}, gen);
  }

  TEST_CASE("conv1d passes gradient checks of first and second order at strides 2 and 3 (im2col kernels)") {
    kx::generator gen(kexue_test_seed() + 1);
    check_conv1d_gradients({2, 2, 0, 2, 2}, gen);
    check_conv1d_gradients({3, 0, 1, 1, 2}, gen);
  }

  TEST_CASE("conv1d rejects bad shapes and hyper-parameters with precise messages") {
    auto x = kx::zeros<float>({2, 4, 5});
    auto w = kx::zeros<float>({6, 4, 3});
    CHECK_THROWS_WITH_AS(kx::conv1d(kx::zeros<float>({4, 5}), w),
                         "conv1d: expected input [batch, channels, length], got [4, 5]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, kx::zeros<float>({6, 4})),
                         "conv1d: expected weight [out_channels, in_channels / groups, kernel], got [6, 4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, kx::zeros<float>({6, 3, 3})),
                         "conv1d: weight [6, 3, 3] with groups 1 expects 3 input channels, got input [2, 4, 5]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, kx::zeros<float>({6, 2, 3}), {}, 1, 0, 1, 4),
                         "conv1d: groups 4 must divide the input channels and the output channels (input [2, 4, 5], "
                         "weight [6, 2, 3])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, w, kx::zeros<float>({4})), "conv1d: expected bias [6], got [4]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, w, {}, 1, 0, 3),
                         "conv1d: input length 5 with padding (0, 0) is shorter than the dilated kernel 7 (input "
                         "[2, 4, 5], weight [6, 4, 3])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, w, {}, 0), "conv1d: stride must be at least 1, got 0", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, w, {}, 1, 0, 0), "conv1d: dilation must be at least 1, got 0", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, w, {}, 1, {-1, 0}), "conv1d: padding must be non-negative, got -1",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(kx::conv1d(x, w, {}, 1, 0, 1, 0), "conv1d: groups must be at least 1, got 0", kx::value_error);
  }
}
