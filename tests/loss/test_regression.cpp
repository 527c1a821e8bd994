// SPDX-License-Identifier: MIT
// Tests of loss/regression.hpp: mse, l1, huber, smooth_l1.
#include "loss/loss_other_reference.hpp"
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/regression.hpp>

#include "support/tensor_checks.hpp"

namespace kl = kexue::loss;
using kexue::tensor;
using kexue::testing::check_values;
using tensors = std::vector<tensor<double>>;

TEST_SUITE("loss.regression") {
  TEST_CASE_TEMPLATE("mse and l1 match hand-computed values for every reduction", T, float, double) {
    const tensor<T> x = {{1, 2}, {3, 5}};
    const tensor<T> y = {{0, 4}, {3, 4.5}};
    // d = x − y = [[1, −2], [0, 0.5]]; d² = [[1, 4], [0, 0.25]], sum 5.25, mean 1.3125;
    // |d| = [[1, 2], [0, 0.5]], sum 3.5, mean 0.875.
    check_values(kl::mse(x, y, kl::mse_options().reduction(kl::reduction::none)), {2, 2}, {1, 4, 0, 0.25});
    check_values(kl::mse(x, y), {}, {1.3125});
    check_values(kl::mse(x, y, kl::mse_options().reduction(kl::reduction::sum)), {}, {5.25});
    check_values(kl::l1(x, y, kl::l1_options().reduction(kl::reduction::none)), {2, 2}, {1, 2, 0, 0.5});
    check_values(kl::l1(x, y), {}, {0.875});
    check_values(kl::l1(x, y, kl::l1_options().reduction(kl::reduction::sum)), {}, {3.5});
  }

  TEST_CASE_TEMPLATE("huber and smooth_l1 are quadratic inside the threshold and linear outside", T, float, double) {
    const tensor<T> x = {0.5, -2, 1, 3, 0};
    const tensor<T> y = tensor<T>{0, 0, 0, 0, 0};
    const auto none = kl::reduction::none;
    // huber δ = 1: 0.5 → ½·0.25 = 0.125; −2 → 1·(2 − 0.5) = 1.5; 1 (= δ, linear side, equal to ½) → 0.5;
    // 3 → 2.5; 0 → 0. Mean (0.125 + 1.5 + 0.5 + 2.5)/5 = 0.925.
    check_values(kl::huber(x, y, kl::huber_options().reduction(none)), {5}, {0.125, 1.5, 0.5, 2.5, 0});
    check_values(kl::huber(x, y), {}, {0.925});
    // huber δ = 2.5: 0.5 → 0.125; −2 → 2; 1 → 0.5; 3 → 2.5·(3 − 1.25) = 4.375; 0 → 0.
    check_values(kl::huber(x, y, kl::huber_options().delta(2.5).reduction(none)), {5}, {0.125, 2, 0.5, 4.375, 0});
    // smooth_l1 β = 2: ½d²/2 inside: 0.0625, 1 (|−2| = β: linear 2 − 1 = 1), 0.25; 3 → 3 − 1 = 2; 0 → 0.
    check_values(kl::smooth_l1(x, y, kl::smooth_l1_options().beta(2).reduction(none)), {5}, {0.0625, 1, 0.25, 2, 0});
    // β = 0 is l1: |d|.
    check_values(kl::smooth_l1(x, y, kl::smooth_l1_options().beta(0).reduction(none)), {5}, {0.5, 2, 1, 3, 0});
  }

  TEST_CASE("sample weights broadcast over the elements and masks drop entries") {
    const tensor<double> x = {{1, 2}, {3, 5}};
    const tensor<double> y = {{0, 4}, {3, 4.5}};
    const tensor<double> w = {{2}, {0.5}};  // per row, broadcast over the last axis
    // w·d² = [[2, 8], [0, 0.125]]: sum 10.125, weighted mean 10.125 / (2 + 2 + 0.5 + 0.5) = 2.025.
    check_values(kl::mse(x, y, {}, w), {}, {2.025});
    check_values(kl::mse(x, y, kl::mse_options().reduction(kl::reduction::none), w), {2, 2}, {2, 8, 0, 0.125});
    tensor<bool> keep = tensor<bool>::empty({2, 2});
    keep.data()[0] = true, keep.data()[1] = false, keep.data()[2] = true, keep.data()[3] = true;
    // |d| kept: 1, 0, 0.5 → mean 1.5/3 = 0.5.
    check_values(kl::l1(x, y, {}, keep), {}, {0.5});
  }

  TEST_CASE("shape and value errors name the loss, the shapes and the value") {
    const tensor<double> a = kexue::zeros<double>({2, 3});
    const tensor<double> b = kexue::zeros<double>({2, 1});
    CHECK_THROWS_WITH_AS(kl::mse(a, b), "mse: input shape [2, 3] differs from target shape [2, 1]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::l1(b, a), "l1: input shape [2, 1] differs from target shape [2, 3]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::huber(a, a, kl::huber_options().delta(0)), "huber: delta must be positive (got 0)",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kl::smooth_l1(a, a, kl::smooth_l1_options().beta(-1)),
                         "smooth_l1: beta must be non-negative (got -1)", kexue::value_error);
  }

  TEST_CASE("gradients and second-order gradients pass the finite-difference check") {
    // Differences away from the kinks (0 for l1, ±δ for huber), in both huber regions.
    const tensor<double> x = tensor<double>{{0.3, -1.7, 2.2}, {-0.4, 0.9, -2.6}}.requires_grad(true);
    const tensor<double> y = tensor<double>{{0.1, 0.2, -0.3}, {0.5, 0.2, 0.1}}.requires_grad(true);
    const tensor<double> w = tensor<double>{{0.5}, {2.0}}.requires_grad(true);
    const kexue::testing::double_fn fns[] = {
        [](const tensors& v) { return kl::mse(v[0], v[1], {}, v[2]); },
        [](const tensors& v) { return kl::l1(v[0], v[1], kl::l1_options().reduction(kl::reduction::sum), v[2]); },
        [](const tensors& v) { return kl::huber(v[0], v[1], kl::huber_options().delta(0.8), v[2]); },
        [](const tensors& v) {
          return kl::smooth_l1(v[0], v[1], kl::smooth_l1_options().beta(1.2).reduction(kl::reduction::none), v[2]);
        },
    };
    for (const auto& fn : fns) {
      kexue::testing::check_gradients(fn, {x, y, w});
      kexue::testing::check_second_order(fn, {x, y, w});
    }
  }

  TEST_CASE("values and gradients equal PyTorch's mse_loss, l1_loss, huber_loss and smooth_l1_loss") {
    using kexue::testing::check_loss_reference;
    const std::vector<std::string> in = {"input", "target"};
    const kl::reduction reductions[] = {kl::reduction::none, kl::reduction::mean, kl::reduction::sum};
    const char* names[] = {"none", "mean", "sum"};
    for (int r = 0; r < 3; ++r) {
      const auto red = reductions[r];
      check_loss_reference(std::string("mse_") + names[r], in,
                           [red](const tensors& v) { return kl::mse(v[0], v[1], kl::mse_options().reduction(red)); });
      check_loss_reference(std::string("l1_") + names[r], in,
                           [red](const tensors& v) { return kl::l1(v[0], v[1], kl::l1_options().reduction(red)); });
    }
    for (int r = 0; r < 2; ++r) {
      const auto red = reductions[r];
      check_loss_reference(std::string("huber_delta0.7_") + names[r], in, [red](const tensors& v) {
        return kl::huber(v[0], v[1], kl::huber_options().delta(0.7).reduction(red));
      });
      check_loss_reference(std::string("smooth_l1_beta0.5_") + names[r], in, [red](const tensors& v) {
        return kl::smooth_l1(v[0], v[1], kl::smooth_l1_options().beta(0.5).reduction(red));
      });
    }
    check_loss_reference("smooth_l1_beta0_mean", in,
                         [](const tensors& v) { return kl::smooth_l1(v[0], v[1], kl::smooth_l1_options().beta(0)); });
    check_loss_reference("huber_default_sum", in, [](const tensors& v) {
      return kl::huber(v[0], v[1], kl::huber_options().reduction(kl::reduction::sum));
    });
  }
}
