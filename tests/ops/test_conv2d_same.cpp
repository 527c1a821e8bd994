// SPDX-License-Identifier: MIT
// conv2d with padding_mode::same (PyTorch's padding='same'): the asymmetric split, gradients, errors.
// PyTorch equality: tests/ops/test_conv_reference.cpp (cases conv2d_same, conv2d_same_dilated).
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/conv.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("ops.conv") {
  TEST_CASE_TEMPLATE("conv2d with same padding keeps the size and puts the odd zero at the bottom right", T, float,
                     double) {
    // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 0], [0, -1]] (kernel 2x2): one zero per axis in total,
    // none at the top/left and one at the bottom/right, so out[i, j] = x[i, j] − x[i + 1, j + 1] (0 outside):
    // [[1 − 5, 2 − 6, 3 − 0], [4 − 8, 5 − 9, 6 − 0], [7 − 0, 8 − 0, 9 − 0]].
    auto x = kx::reshape(kx::arange<T>(1, 10), {1, 1, 3, 3});
    auto w = kx::reshape(kx::tensor<T>{1, 0, 0, -1}, {1, 1, 2, 2});
    check_values(kx::conv2d(x, w, {}, 1, kx::padding_mode::same), {1, 1, 3, 3}, {-4, -4, 3, -4, -4, 6, 7, 8, 9});
    // Dilation 2 doubles the total to 2 per axis, split (1, 1): out[i, j] = x[i − 1, j − 1] − x[i + 1, j + 1]
    // (0 outside): row 0: (0 − 5, 0 − 6, 0 − 0), row 1: (0 − 8, 1 − 9, 2 − 0), row 2: (0, 4, 5).
    check_values(kx::conv2d(x, w, kx::tensor<T>{0}, 1, kx::padding_mode::same, 2), {1, 1, 3, 3},
                 {-5, -6, 0, -8, -8, 2, 0, 4, 5});
    // valid is no padding: the 2x2 output of the plain convolution.
    check_values(kx::conv2d(x, w, {}, 1, kx::padding_mode::valid), {1, 1, 2, 2}, {-4, -4, -4, -4});
  }

  TEST_CASE("conv2d with same padding passes first- and second-order gradient checks") {
    kx::generator gen(kexue_test_seed());
    // Kernel (2, 3), dilation (1, 2): totals 1 and 4, split (0, 1) and (2, 2); groups 2.
    auto x = kx::randn<double>({2, 4, 3, 4}, gen).requires_grad(true);
    auto w = kx::randn<double>({2, 2, 2, 3}, gen).requires_grad(true);
    auto b = kx::randn<double>({2}, gen).requires_grad(true);
    auto fn = [](const std::vector<kx::tensor<double>>& v) {
      return kx::conv2d(v[0], v[1], v[2], 1, kx::padding_mode::same, {1, 2}, 2);
    };
    CHECK(fn({x, w, b}).shape() == kx::shape{2, 2, 3, 4});
    kx::testing::check_gradients(fn, {x, w, b});
    kx::testing::check_second_order(fn, {x, w, b});
    auto squared = [](const std::vector<kx::tensor<double>>& v) {
      auto y = kx::conv2d(v[0], v[1], {}, 1, kx::padding_mode::same, {1, 2}, 2);
      return y * y;
    };
    kx::testing::check_second_order(squared, {x, w});
  }

  TEST_CASE("conv2d rejects same padding with a stride, and causal padding") {
    auto x = kx::zeros<float>({1, 1, 4, 4});
    auto w = kx::zeros<float>({1, 1, 3, 3});
    CHECK_THROWS_WITH_AS(kx::conv2d(x, w, {}, {2, 1}, kx::padding_mode::same),
                         "conv2d: padding same needs stride 1, got (2, 1)", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::conv2d(x, w, {}, 1, kx::padding_mode::causal),
                         "conv2d: padding causal is defined for conv1d only; use valid, same or explicit sizes",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(kx::conv2d(x, kx::zeros<float>({1, 2, 3, 3}), {}, 1, kx::padding_mode::same),
                         "conv2d: weight [1, 2, 3, 3] with groups 1 expects 2 input channels, got input [1, 1, 4, 4]",
                         kx::shape_error);
  }
}
