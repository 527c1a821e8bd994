// SPDX-License-Identifier: MIT
// Tests of ops/norm.hpp, batch_norm: training and evaluation by hand, the running-statistics update formula,
// gradient and second-order checks, errors.
#include <cmath>  // std::sqrt
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/norm.hpp>

#include "support/tensor_checks.hpp"

using kexue::shape;
using kexue::tensor;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using tensors = std::vector<tensor<double>>;

TEST_SUITE("ops.norm") {
  TEST_CASE_TEMPLATE("batch_norm in training normalises by batch statistics and updates the running ones", T, float,
                     double) {
    // Channel 0 = [1, 2, 3, 4]: μ 2.5, biased σ² 1.25, unbiased 5/3; channel 1 = [0, 4, 0, 4]: μ 2, σ² 4, 16/3.
    const tensor<T> x = {{1, 0}, {2, 4}, {3, 0}, {4, 4}};
    auto rm = tensor<T>{0, 0}, rv = tensor<T>{1, 1};
    const auto v0 = rm.version();
    // ε = 0: channel 0 (x − 2.5)/√1.25, channel 1 (x − 2)/2.
    check_values(kexue::batch_norm(x, rm, rv, {}, {}, true, T(0.1), T(0)), {4, 2},
                 {-1.3416407864998738, -1, -0.4472135954999579, 1, 0.4472135954999579, -1, 1.3416407864998738, 1});
    // running ← 0.9·running + 0.1·batch (unbiased variance): mean [0.25, 0.2], var [0.9 + 1/6, 0.9 + 1.6/3]
    check_values(rm, {2}, {0.25, 0.2});
    check_values(rv, {2}, {0.9 + 1.0 / 6, 0.9 + 1.6 / 3});
    CHECK(rm.version() != v0);
    // Momentum 1 replaces them; a second step with momentum 0.5 averages.
    kexue::batch_norm(x, rm, rv, {}, {}, true, T(1), T(0));
    check_values(rm, {2}, {2.5, 2});
    check_values(rv, {2}, {5.0 / 3, 16.0 / 3});
    kexue::batch_norm(kexue::mul_scalar(x, T(2)), rm, rv, {}, {}, true, T(0.5), T(0));
    check_values(rm, {2}, {0.5 * 2.5 + 0.5 * 5, 0.5 * 2 + 0.5 * 4});
    check_values(rv, {2}, {0.5 * 5.0 / 3 + 0.5 * 20.0 / 3, 0.5 * 16.0 / 3 + 0.5 * 64.0 / 3});
  }

  TEST_CASE_TEMPLATE("batch_norm in evaluation uses the running statistics and leaves them alone", T, float, double) {
    const tensor<T> x = {{1, 0}, {2, 4}, {3, 0}, {4, 4}};
    const tensor<T> rm = {1, 2}, rv = {4, 1};
    // channel 0 (x − 1)/2 = [0, 0.5, 1, 1.5], ·2 → [0, 1, 2, 3]; channel 1 (x − 2)/1 + 1 = [−1, 3, −1, 3]
    check_values(kexue::batch_norm(x, rm, rv, tensor<T>{2, 1}, tensor<T>{0, 1}, false, T(0.1), T(0)), {4, 2},
                 {0, -1, 1, 3, 2, -1, 3, 3});
    check_values(rm, {2}, {1, 2});
    check_values(rv, {2}, {4, 1});
  }

  TEST_CASE("batch_norm over [N, C, L] and [N, C, H, W] reduces every axis but the channel") {
    // [2, 2, 2]: channel 0 holds x[:, 0, :] = [0, 2, 4, 6] → μ 3, σ² 5; ε = 0 → (x − 3)/√5.
    const tensor<double> x = {{{0, 2}, {1, 1}}, {{4, 6}, {1, 1}}};
    auto y = kexue::batch_norm(x, {}, {}, {}, {}, true, 0.1, 1.0);
    // channel 1 is constant 1: σ² 0, ε = 1 → 0. channel 0: (x − 3)/√6.
    const double s = std::sqrt(6.0);
    check_values(y, {2, 2, 2}, {-3 / s, -1 / s, 0, 0, 1 / s, 3 / s, 0, 0});
    const auto x4 = kexue::rand<double>({2, 3, 2, 2}, 5);
    const auto y4 = kexue::batch_norm(x4, {}, {}, {}, {}, true, 0.1, 0.0);
    const auto m = kexue::mean(y4, {0, 2, 3});
    const auto v = kexue::mean(kexue::square(y4), {0, 2, 3});
    for (int c = 0; c < 3; ++c) {
      CHECK(m(c) == doctest::Approx(0).epsilon(1e-12));
      CHECK(v(c) == doctest::Approx(1).epsilon(1e-12));
    }
  }

  TEST_CASE("batch_norm passes gradient and second-order checks in training and evaluation") {
    const auto x = kexue::rand<double>({3, 2, 4}, 1).requires_grad(true);
    const auto w = kexue::rand<double>({2}, 2).requires_grad(true);
    const auto b = kexue::rand<double>({2}, 3).requires_grad(true);
    const auto train = [](const tensors& v) { return kexue::batch_norm(v[0], {}, {}, v[1], v[2], true, 0.1, 1e-3); };
    const tensor<double> rm = {0.5, -0.2}, rv = {1.5, 0.7};
    const auto eval = [rm, rv](const tensors& v) {
      return kexue::batch_norm(v[0], rm, rv, v[1], v[2], false, 0.1, 1e-3);
    };
    check_gradients(train, {x, w, b});
    check_second_order(train, {x, w, b});
    check_gradients(eval, {x, w, b});
    check_second_order(eval, {x, w, b});
  }

  TEST_CASE("the fused backward equals the composed one in training and evaluation") {
    const auto x = kexue::rand<double>({3, 4, 5}, 1).requires_grad(true);
    const auto w = kexue::rand<double>({4}, 2).requires_grad(true);
    const auto b = kexue::rand<double>({4}, 3).requires_grad(true);
    const auto up = kexue::rand<double>({3, 4, 5}, 4);
    const tensor<double> rm = {0.5, -0.2, 0.1, 0}, rv = {1.5, 0.7, 2, 1};
    for (bool training : {true, false}) {
      CAPTURE(training);
      std::vector<tensors> grads;
      for (bool create : {false, true}) {
        const auto y = kexue::batch_norm(x, training ? tensor<double>() : rm, training ? tensor<double>() : rv, w, b,
                                         training, 0.1, 1e-3);
        grads.push_back(
            kexue::grad({kexue::sum(kexue::mul(y, up))}, {x, w, b}, kexue::grad_options().create_graph(create)));
      }
      for (int i = 0; i < 3; ++i) kexue::testing::check_close(grads[0][i], grads[1][i], 1e-12, 1e-12);
    }
  }

  TEST_CASE("batch_norm's errors name the shapes") {
    const auto x = kexue::zeros<float>({2, 4});
    const auto c4 = kexue::ones<float>({4});
    CHECK_THROWS_WITH_AS(kexue::batch_norm(kexue::zeros<float>({4}), c4, c4),
                         "batch_norm: expected input [N, C, ...], got [4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::batch_norm(x, kexue::ones<float>({3}), c4),
                         "batch_norm: running_mean shape [3] differs from [C] = [4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::batch_norm(x, c4, c4, kexue::ones<float>({2, 2})),
                         "batch_norm: weight shape [2, 2] differs from [C] = [4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::batch_norm(kexue::zeros<float>({1, 4}), c4, c4, {}, {}, true),
                         "batch_norm: expected more than 1 value per channel when training, got input [1, 4]",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::batch_norm(x, {}, {}),
                         "batch_norm: running_mean and running_var are required in "
                         "evaluation",
                         kexue::value_error);
  }
}
