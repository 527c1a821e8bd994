// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/conv.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("ops.conv") {
  TEST_CASE_TEMPLATE("conv2d correlates a 2x2 kernel over an image", T, float, double) {
    // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 0], [0, -1]]: out[i, j] = x[i, j] - x[i+1, j+1] = -4.
    auto x = kx::reshape(kx::arange<T>(1, 10), {1, 1, 3, 3});
    auto w = kx::reshape(kx::tensor<T>{1, 0, 0, -1}, {1, 1, 2, 2});
    check_values(kx::conv2d(x, w), {1, 1, 2, 2}, {-4, -4, -4, -4});
    // Padding 1, stride 2: xp is 5x5 with x in the middle; outputs at (0, 0), (0, 2), (2, 0), (2, 2):
    // xp[0,0] - xp[1,1] = -1, xp[0,2] - xp[1,3] = -3, xp[2,0] - xp[3,1] = -7, xp[2,2] - xp[3,3] = 5 - 9 = -4.
    check_values(kx::conv2d(x, w, {}, 2, 1), {1, 1, 2, 2}, {-1, -3, -7, -4});
    // Dilation 2 with a bias of 1: only out[0, 0] = 1 + x[0,0] - x[2,2] = 1 + 1 - 9 = -7.
    check_values(kx::conv2d(x, w, kx::tensor<T>{1}, 1, 0, 2), {1, 1, 1, 1}, {-7});
  }

  TEST_CASE_TEMPLATE("conv_transpose2d spreads each input pixel over the kernel", T, float, double) {
    // x = [[1, 2]], kernel 2x2 of ones, stride 2: each pixel paints its own 2x2 block → [[1,1,2,2],[1,1,2,2]].
    auto x = kx::reshape(kx::tensor<T>{1, 2}, {1, 1, 1, 2});
    auto w = kx::ones<T>({1, 1, 2, 2});
    check_values(kx::conv_transpose2d(x, w, {}, 2), {1, 1, 2, 4}, {1, 1, 2, 2, 1, 1, 2, 2});
    // Stride 1: the blocks overlap in the middle column: [[1, 3, 2], [1, 3, 2]]; bias 0.5 added everywhere.
    check_values(kx::conv_transpose2d(x, w, kx::tensor<T>{0.5}), {1, 1, 2, 3}, {1.5, 3.5, 2.5, 1.5, 3.5, 2.5});
    // Kernel 4, stride 2, padding 1 doubles the size (the DCGAN upsampling step): 3x5 → 6x10.
    auto big = kx::conv_transpose2d(kx::ones<T>({2, 3, 3, 5}), kx::ones<T>({3, 4, 4, 4}), {}, 2, 1);
    CHECK(big.shape() == kx::shape{2, 4, 6, 10});
    // output_padding 1 adds a row and a column: 7x11.
    CHECK(kx::conv_transpose2d(kx::ones<T>({2, 3, 3, 5}), kx::ones<T>({3, 4, 4, 4}), {}, 2, 1, 1).shape() ==
          kx::shape{2, 4, 7, 11});
  }

  TEST_CASE("conv_transpose2d is the adjoint of conv2d") {
    // ⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩ for any x, y of matching shapes.
    kx::generator gen(kexue_test_seed());
    auto x = kx::randn<double>({2, 4, 7, 6}, gen);
    auto w = kx::randn<double>({6, 2, 3, 2}, gen);
    auto y = kx::randn<double>({2, 6, 4, 3}, gen);
    auto lhs = kx::sum(kx::conv2d(x, w, {}, {2, 2}, {1, 1}, {1, 2}, 2) * y).item();
    auto rhs = kx::sum(x * kx::conv_transpose2d(y, w, {}, {2, 2}, {1, 1}, {0, 1}, 2, {1, 2})).item();
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
  }

  TEST_CASE("conv2d and conv_transpose2d pass gradient checks of first and second order") {
    kx::generator gen(kexue_test_seed() + 1);
    auto x = kx::randn<double>({2, 2, 5, 4}, gen).requires_grad(true);
    auto w = kx::randn<double>({2, 1, 3, 2}, gen).requires_grad(true);
    auto b = kx::randn<double>({2}, gen).requires_grad(true);
    auto conv = [](const std::vector<kx::tensor<double>>& v) {
      return kx::conv2d(v[0], v[1], v[2], {2, 1}, {1, 0}, {1, 2}, 2);
    };
    kx::testing::check_gradients(conv, {x, w, b});
    kx::testing::check_second_order(conv, {x, w, b});
    auto xt = kx::randn<double>({2, 2, 3, 2}, gen).requires_grad(true);
    auto wt = kx::randn<double>({2, 3, 3, 4}, gen).requires_grad(true);
    auto bt = kx::randn<double>({3}, gen).requires_grad(true);
    auto transposed = [](const std::vector<kx::tensor<double>>& v) {
      auto y = kx::conv_transpose2d(v[0], v[1], v[2], 2, 1, {1, 0});
      return y * y;
    };
    kx::testing::check_gradients(transposed, {xt, wt, bt});
    kx::testing::check_second_order(transposed, {xt, wt, bt});
  }

  TEST_CASE("conv_transpose1d matches conv_transpose2d on a height-1 image and checks its gradients") {
    kx::generator gen(kexue_test_seed() + 2);
    auto x = kx::randn<double>({2, 2, 4}, gen).requires_grad(true);
    auto w = kx::randn<double>({2, 3, 3}, gen).requires_grad(true);
    auto y = kx::conv_transpose1d(x, w, {}, 2, 1, 1);
    CHECK(y.shape() == kx::shape{2, 3, 8});  // (4 - 1)·2 - 2 + 2 + 1 + 1 = 8
    kx::testing::check_close(kx::unsqueeze(y, 2), kx::conv_transpose2d(kx::unsqueeze(x, 2), kx::unsqueeze(w, 2), {},
                                                                       {1, 2}, {0, 1}, {0, 1}));
    auto fn = [](const std::vector<kx::tensor<double>>& v) {
      auto y = kx::conv_transpose1d(v[0], v[1], {}, 2, 1, 1);
      return y * y;
    };
    kx::testing::check_gradients(fn, {x, w});
    kx::testing::check_second_order(fn, {x, w});
  }

  TEST_CASE("conv2d and conv_transpose2d reject bad shapes with precise messages") {
    CHECK_THROWS_WITH_AS(kx::conv2d(kx::zeros<float>({1, 2, 3}), kx::zeros<float>({1, 2, 1, 1})),
                         "conv2d: expected input [batch, channels, height, width], got [1, 2, 3]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv2d(kx::zeros<float>({1, 2, 3, 3}), kx::zeros<float>({1, 2, 4, 1})),
                         "conv2d: input [1, 2, 3, 3] with padding (0, 0) is smaller than the dilated kernel (weight "
                         "[1, 2, 4, 1], dilation (1, 1))",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv_transpose2d(kx::zeros<float>({1, 2, 3, 3}), kx::zeros<float>({3, 2, 2, 2})),
                         "conv_transpose2d: weight [3, 2, 2, 2] expects 3 input channels, got input [1, 2, 3, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(
        kx::conv_transpose2d(kx::zeros<float>({1, 2, 3, 3}), kx::zeros<float>({2, 2, 2, 2}), {}, 2, 0, 2),
        "conv_transpose2d: output_padding (2, 2) must be smaller than the stride (2, 2)", kx::value_error);
    CHECK_THROWS_WITH_AS(
        kx::conv_transpose2d(kx::zeros<float>({1, 2, 3, 3}), kx::zeros<float>({2, 2, 2, 2}), kx::zeros<float>({3})),
        "conv_transpose2d: expected bias [2], got [3]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv_transpose1d(kx::zeros<float>({1, 2, 3}), kx::zeros<float>({3, 2, 2})),
                         "conv_transpose1d: weight [3, 2, 2] expects 3 input channels, got input [1, 2, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::conv_transpose1d(kx::zeros<float>({1, 2, 3}), kx::zeros<float>({2, 2, 2}), {}, 2, 0, 2),
                         "conv_transpose1d: output_padding 2 must be smaller than the stride 2", kx::value_error);
  }
}
