// SPDX-License-Identifier: MIT
#include <cmath>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/pool.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

TEST_SUITE("ops.pool") {
  TEST_CASE_TEMPLATE("max_pool1d and avg_pool1d reduce windows of the length", T, float, double) {
    auto x = kx::tensor<T>{{{1, 5, 2, 4, 3, 0}}};
    // Kernel 2 (stride 2): max (5, 4, 3), mean (3, 3, 1.5).
    check_values(kx::max_pool1d(x, 2), {1, 1, 3}, {5, 4, 3});
    check_values(kx::avg_pool1d(x, 2), {1, 1, 3}, {3, 3, 1.5});
    // Kernel 3, stride 2, padding 1: windows (pad, 1, 5), (5, 2, 4), (4, 3, 0) → max (5, 5, 4);
    // mean with the pad counted: (6/3, 11/3, 7/3); without: (6/2, 11/3, 7/3).
    check_values(kx::max_pool1d(x, 3, 2, 1), {1, 1, 3}, {5, 5, 4});
    check_values(kx::avg_pool1d(x, 3, 2, 1), {1, 1, 3}, {2, 11.0 / 3, 7.0 / 3});
    check_values(kx::avg_pool1d(x, 3, 2, 1, false), {1, 1, 3}, {3, 11.0 / 3, 7.0 / 3});
  }

  TEST_CASE_TEMPLATE("max_pool2d and avg_pool2d reduce 2x2 blocks", T, float, double) {
    // x = [[1, 2, 3, 4], [5, 6, 7, 8]]: 2x2 blocks → max (6, 8), mean (3.5, 5.5).
    auto x = kx::reshape(kx::arange<T>(1, 9), {1, 1, 2, 4});
    check_values(kx::max_pool2d(x, 2), {1, 1, 1, 2}, {6, 8});
    check_values(kx::avg_pool2d(x, 2), {1, 1, 1, 2}, {3.5, 5.5});
    // Kernel (2, 3), stride 1: max over columns 0-2 and 1-3 → (7, 8).
    check_values(kx::max_pool2d(x, {2, 3}, 1), {1, 1, 1, 2}, {7, 8});
  }

  TEST_CASE("max pooling sends the gradient to the first largest element and propagates NaN") {
    // Windows (3, 3) and (1, 2): the first 3 gets the gradient, then the 2.
    auto x = kx::tensor<double>{{{3, 3, 1, 2}}}.requires_grad(true);
    auto g = kx::grad({kx::sum(kx::max_pool1d(x, 2) * kx::tensor<double>{{{10, 20}}})}, {x});
    check_values(g[0], {1, 1, 4}, {10, 0, 0, 20});
    auto nan = kx::max_pool1d(kx::tensor<double>{{{1, NAN, 2, 0}}}, 2);
    CHECK(std::isnan(nan.data()[0]));
    CHECK(nan.data()[1] == 2);
  }

  TEST_CASE("pools pass gradient checks of first and second order") {
    kx::generator gen(kexue_test_seed());
    auto x3 = kx::randn<double>({2, 2, 7}, gen).requires_grad(true);
    auto x4 = kx::randn<double>({1, 2, 5, 4}, gen).requires_grad(true);
    auto square = [](const kx::tensor<double>& y) { return y * y; };
    std::vector<kx::testing::double_fn> fns3 = {
        [&](const std::vector<kx::tensor<double>>& v) { return square(kx::max_pool1d(v[0], 3, 2, 1)); },
        [&](const std::vector<kx::tensor<double>>& v) { return square(kx::avg_pool1d(v[0], 3, 2, 1)); },
        [&](const std::vector<kx::tensor<double>>& v) { return square(kx::avg_pool1d(v[0], 3, 2, 1, false)); },
        [&](const std::vector<kx::tensor<double>>& v) { return square(kx::global_max_pool1d(v[0])); },
        [&](const std::vector<kx::tensor<double>>& v) { return square(kx::global_avg_pool1d(v[0])); },
        [&](const std::vector<kx::tensor<double>>& v) { return square(kx::upsample_nearest1d(v[0], 2)); },
    };
    for (const auto& fn : fns3) {
      kx::testing::check_gradients(fn, {x3});
      kx::testing::check_second_order(fn, {x3});
    }
    std::vector<kx::testing::double_fn> fns4 = {
        [&](const std::vector<kx::tensor<double>>& v) {
          return square(kx::max_pool2d(v[0], {2, 3}, {2, 1}, {1, 1}));
        },
        [&](const std::vector<kx::tensor<double>>& v) { return square(kx::avg_pool2d(v[0], 2, 1, 1, false)); },
        [&](const std::vector<kx::tensor<double>>& v) {
          return square(kx::upsample_nearest2d(v[0], {2, 3}));
        },
    };
    for (const auto& fn : fns4) {
      kx::testing::check_gradients(fn, {x4});
      kx::testing::check_second_order(fn, {x4});
    }
  }

  TEST_CASE_TEMPLATE("global pooling over the length ignores padded positions", T, float, double) {
    // Row 0: channel values (1, 9, 2) with the last position padded; row 1: (4, -1, 6), nothing real.
    auto x = kx::tensor<T>{{{1, 9, 2}}, {{4, -1, 6}}};
    auto mask = kx::tensor<bool>{{true, false, true}, {false, false, false}};
    check_values(kx::global_max_pool1d(x, mask), {2, 1}, {2, 0});
    check_values(kx::global_avg_pool1d(x, mask), {2, 1}, {1.5, 0});
    check_values(kx::global_max_pool1d(x), {2, 1}, {9, 6});
    check_values(kx::global_avg_pool1d(x), {2, 1}, {4, 3});
  }

  TEST_CASE("masked global pooling passes gradient checks") {
    kx::generator gen(kexue_test_seed() + 1);
    auto x = kx::randn<double>({2, 3, 4}, gen).requires_grad(true);
    auto mask = kx::tensor<bool>{{true, true, false, true}, {false, true, false, false}};
    auto fmax = [mask](const std::vector<kx::tensor<double>>& v) {
      return kx::square(kx::global_max_pool1d(v[0], mask));
    };
    auto favg = [mask](const std::vector<kx::tensor<double>>& v) {
      return kx::square(kx::global_avg_pool1d(v[0], mask));
    };
    kx::testing::check_gradients(fmax, {x});
    kx::testing::check_second_order(fmax, {x});
    kx::testing::check_gradients(favg, {x});
    kx::testing::check_second_order(favg, {x});
  }

  TEST_CASE_TEMPLATE("upsample_nearest repeats every element", T, float, double) {
    check_values(kx::upsample_nearest1d(kx::tensor<T>{{{1, 2}}}, 3), {1, 1, 6}, {1, 1, 1, 2, 2, 2});
    check_values(kx::upsample_nearest2d(kx::reshape(kx::tensor<T>{1, 2}, {1, 1, 1, 2}), {2, 2}), {1, 1, 2, 4},
                 {1, 1, 2, 2, 1, 1, 2, 2});
  }

  TEST_CASE("pools reject bad arguments with precise messages") {
    auto x = kx::zeros<float>({1, 2, 5});
    CHECK_THROWS_WITH_AS(kx::max_pool1d(kx::zeros<float>({2, 5}), 2),
                         "max_pool1d: expected input [batch, channels, length], got [2, 5]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::max_pool1d(x, 0), "max_pool1d: kernel size must be at least 1, got 0", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::avg_pool1d(x, 2, 1, 2),
                         "avg_pool1d: padding must be at most half the kernel size, got padding 2 for kernel 2",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(kx::max_pool1d(x, 6),
                         "max_pool1d: input [1, 2, 5] is smaller than the kernel 6 with padding 0", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::max_pool2d(kx::zeros<float>({1, 1, 2, 2}), 3, 1, {1, 2}),
                         "max_pool2d: padding must be at most half the kernel size, got padding 1, 2 for kernel 3, 3",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(kx::global_max_pool1d(x, kx::tensor<bool>{{true, false}}),
                         "global_max_pool1d: expected mask [1, 5] for input [1, 2, 5], got [1, 2]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::upsample_nearest1d(x, 0), "upsample_nearest1d: scale must be at least 1, got 0",
                         kx::value_error);
  }
}
