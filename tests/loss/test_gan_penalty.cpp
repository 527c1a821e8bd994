// SPDX-License-Identifier: MIT
// Tests of loss/gan.hpp, part 1: WGAN losses, random interpolates, the gradient penalty (double backprop) and the
// finite-difference penalty.
#include <cmath>  // std::abs

#include "loss/loss_other_reference.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/loss/gan.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/matmul.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kl = kexue::loss;
using kexue::tensor;
using kexue::testing::check_values;
using tensors = std::vector<tensor<double>>;

namespace {
/// D(x) = tanh(x w1ᵀ + b1) w2ᵀ + b2: x [B, 3], w1 [5, 3], b1 [5], w2 [1, 5], b2 [1] → [B, 1] (the critic of
/// make_reference_loss_other.py), from matmul and tanh only.
template <class T>
kl::critic_fn<T> mlp_critic(const tensor<T>& w1, const tensor<T>& b1, const tensor<T>& w2, const tensor<T>& b2) {
  return [=](const tensor<T>& x) {
    return kexue::add(kexue::matmul(kexue::tanh(kexue::add(kexue::matmul(x, w1, false, true), b1)), w2, false, true),
                      b2);
  };
}
}  // namespace

TEST_SUITE("loss.gan") {
  TEST_CASE_TEMPLATE("wgan losses follow the author's sign convention, or the other one on request", T, float, double) {
    const tensor<T> d_real = {1, 2, 3};                      // mean 2
    const tensor<T> d_fake = {0.5, 1.5};                     // mean 1
    check_values(kl::wgan_critic(d_real, d_fake), {}, {1});  // 2 − 1: D low on real
    check_values(kl::wgan_generator(d_fake), {}, {1});       // mean D(fake)
    const auto high = kl::wgan_options().sign(kl::critic_sign::high_on_real);
    check_values(kl::wgan_critic(d_real, d_fake, high), {}, {-1});  // 1 − 2
    check_values(kl::wgan_generator(d_fake, high), {}, {-1});
    CHECK_THROWS_WITH_AS(kl::wgan_critic(tensor<T>::empty({0}), d_fake), "wgan_critic: d_real is empty (shape [0])",
                         kexue::shape_error);
  }

  TEST_CASE("random_interpolates puts each sample on its real-fake segment with one epsilon per sample") {
    kexue::generator gen(kexue_test_seed()), same(kexue_test_seed());
    const auto real = kexue::randn<double>({4, 2, 3}, gen);
    const auto fake = kexue::randn<double>({4, 2, 3}, gen);
    kexue::generator draw(kexue_test_seed() + 1), replay(kexue_test_seed() + 1);
    const tensor<double> y = kl::random_interpolates(real, fake, draw);
    const tensor<double> eps = kexue::rand<double>({4, 1, 1}, replay);
    for (int i = 0; i < 4; ++i) {
      CHECK(eps(i, 0, 0) >= 0);
      CHECK(eps(i, 0, 0) < 1);
      for (int a = 0; a < 2; ++a) {
        for (int b = 0; b < 3; ++b) {
          const double expected = real(i, a, b) + eps(i, 0, 0) * (fake(i, a, b) - real(i, a, b));
          CHECK(y(i, a, b) == doctest::Approx(expected).epsilon(1e-14));
        }
      }
    }
    CHECK_FALSE(y.requires_grad());
    CHECK_THROWS_WITH_AS(kl::random_interpolates(real, kexue::zeros<double>({3, 2, 3}), draw),
                         "random_interpolates: real shape [4, 2, 3] differs from fake shape [3, 2, 3]",
                         kexue::shape_error);
  }

  TEST_CASE("for a linear critic the penalty is (|w| - 1)^2 or relu(|w| - 1), with hand-derived gradients") {
    kexue::generator gen(kexue_test_seed());
    const auto points = kexue::randn<double>({4, 3}, gen);
    tensor<double> w = tensor<double>{{2}, {1}, {2}}.requires_grad(true);  // ‖w‖ = 3
    const kl::critic_fn<double> linear = [&w](const tensor<double>& x) { return kexue::matmul(x, w); };
    const auto two = kl::gradient_penalty_options().kind(kl::penalty_kind::two_sided);
    // ∇_x D = w for every sample: 10·(3 − 1)² = 40; d/dw = 10·2(‖w‖ − 1)·w/‖w‖ = (40/3)·w.
    tensor<double> p = kl::gradient_penalty(linear, points, two);
    check_values(p, {}, {40});
    check_values(kexue::grad({p}, {w})[0], {3, 1}, {80.0 / 3, 40.0 / 3, 80.0 / 3});
    // One-sided (the author's): 10·relu(3 − 1) = 20; d/dw = 10·w/‖w‖.
    p = kl::gradient_penalty(linear, points);
    check_values(p, {}, {20});
    check_values(kexue::grad({p}, {w})[0], {3, 1}, {20.0 / 3, 10.0 / 3, 20.0 / 3});
    // ‖w‖ = 0.5: one-sided 0 with zero gradient; two-sided 10·0.25 = 2.5, d/dw = 10·2(−0.5)·w/0.5 = −20·w.
    w = tensor<double>{{0.3}, {0.4}, {0}}.requires_grad(true);
    p = kl::gradient_penalty(linear, points);
    check_values(p, {}, {0});
    check_values(kexue::grad({p}, {w})[0], {3, 1}, {0, 0, 0});
    p = kl::gradient_penalty(linear, points, kl::gradient_penalty_options(two).reduction(kl::reduction::none));
    // The 1e-12 inside the root moves n by 1e-12 and these values by ~1e-11 (checked to 1e-9).
    check_values(p, {4}, {2.5, 2.5, 2.5, 2.5}, 1e-9, 1e-9);
    check_values(kexue::grad({kexue::mean(p)}, {w})[0], {3, 1}, {-6, -8, 0}, 1e-9, 1e-9);
  }

  TEST_CASE("the gradient penalty of an MLP critic passes first- and second-order gradient checks") {
    kexue::generator gen(kexue_test_seed());
    const auto leaf = [&](kexue::shape s, double scale) {
      return kexue::mul_scalar(kexue::randn<double>(s, gen), scale).detach().requires_grad(true);
    };
    // Scales giving gradient norms on both sides of 1 (the one-sided kink is not hit).
    const tensors inputs = {leaf({4, 3}, 1), leaf({5, 3}, 1), leaf({5}, 0.5), leaf({1, 5}, 0.5), leaf({1}, 1)};
    for (const auto kind : {kl::penalty_kind::one_sided, kl::penalty_kind::two_sided}) {
      const kexue::testing::double_fn fn = [kind](const tensors& v) {
        return kl::gradient_penalty(mlp_critic(v[1], v[2], v[3], v[4]), v[0],
                                    kl::gradient_penalty_options().kind(kind));
      };
      kexue::testing::check_gradients(fn, inputs);  // w.r.t. the critic's weights and the points
      kexue::testing::check_second_order(fn, inputs);
    }
  }

  TEST_CASE("the gradient penalty equals PyTorch's autograd.grad(create_graph=True) on an MLP with the same weights") {
    for (const char* kind : {"two_sided", "one_sided"}) {
      const auto k = std::string(kind) == "two_sided" ? kl::penalty_kind::two_sided : kl::penalty_kind::one_sided;
      kexue::testing::check_loss_reference(std::string("gradient_penalty_mlp_") + kind, {"x", "w1", "b1", "w2", "b2"},
                                           [k](const tensors& v) {
                                             return kl::gradient_penalty(mlp_critic(v[1], v[2], v[3], v[4]), v[0],
                                                                         kl::gradient_penalty_options().kind(k));
                                           });
    }
  }

  TEST_CASE("the penalty from real and fake batches, under no_grad, and with a critic ignoring its input") {
    kexue::generator gen(kexue_test_seed());
    const auto real = kexue::randn<double>({3, 2}, gen);
    const auto fake = kexue::randn<double>({3, 2}, gen);
    const tensor<double> w = tensor<double>{{3}, {4}}.requires_grad(true);  // ‖w‖ = 5
    const kl::critic_fn<double> linear = [&w](const tensor<double>& x) { return kexue::matmul(x, w); };
    const tensor<double> p = kl::gradient_penalty(linear, real, fake, gen);  // 10·relu(5 − 1) = 40
    check_values(p, {}, {40});
    CHECK(p.requires_grad());
    {
      kexue::no_grad_guard off;
      const tensor<double> q = kl::gradient_penalty(linear, real, fake, gen);
      check_values(q, {}, {40});
      CHECK_FALSE(q.requires_grad());
    }
    // ∇ = 0: n = √(1e-12) = 1e-6, two-sided 10·(1e-6 − 1)².
    const kl::critic_fn<double> constant = [&w](const tensor<double>& x) {
      return kexue::add(kexue::mul_scalar(kexue::sum(w), 0.0), kexue::zeros<double>({x.size(0)}));
    };
    check_values(kl::gradient_penalty(constant, real, kl::gradient_penalty_options().kind(kl::penalty_kind::two_sided)),
                 {}, {10 * (1e-6 - 1) * (1e-6 - 1)});
  }

  TEST_CASE("the gradient penalty works in float") {
    kexue::generator gen(kexue_test_seed());
    const auto points = kexue::randn<float>({3, 2}, gen);
    const tensor<float> w = tensor<float>{{3}, {4}}.requires_grad(true);  // ‖w‖ = 5
    const kl::critic_fn<float> linear = [&w](const tensor<float>& x) { return kexue::matmul(x, w); };
    // Two-sided: 10·(5 − 1)² = 160; d/dw = 10·2·4·w/5 = 16·w = [48, 64].
    const tensor<float> p =
        kl::gradient_penalty(linear, points, kl::gradient_penalty_options().kind(kl::penalty_kind::two_sided));
    check_values(p, {}, {160});
    check_values(kexue::grad({p}, {w})[0], {2, 1}, {48, 64});
  }

  TEST_CASE("the finite-difference penalty of a linear 1-D critic is the penalty of its slope") {
    kexue::generator gen(kexue_test_seed());
    const auto real = kexue::randn<double>({5, 1}, gen);
    const auto fake = kexue::add_scalar(real, 2.0);  // |fake − real| = 2: interpolates never coincide for long
    tensor<double> w = tensor<double>{{3}}.requires_grad(true);
    const kl::critic_fn<double> linear = [&w](const tensor<double>& x) { return kexue::matmul(x, w); };
    // |D(y1) − D(y2)| / |y1 − y2| = |w| = 3 (up to the 1e-12 inside the root): two-sided 10·4 = 40, d/dw = 40.
    const auto two = kl::gradient_penalty_options().kind(kl::penalty_kind::two_sided);
    const tensor<double> p = kl::finite_difference_penalty(linear, real, fake, gen, two);
    check_values(p, {}, {40}, 1e-8, 1e-8);
    check_values(kexue::grad({p}, {w})[0], {1, 1}, {40}, 1e-8, 1e-8);
    check_values(kl::finite_difference_penalty(linear, real, fake, gen), {}, {20}, 1e-8, 1e-8);  // 10·relu(3 − 1)
  }

  TEST_CASE("gradient penalty errors name the shapes and values") {
    const kl::critic_fn<double> two_scores = [](const tensor<double>& x) {
      return kexue::zeros<double>({x.size(0), 2});
    };
    CHECK_THROWS_WITH_AS(kl::gradient_penalty(two_scores, kexue::zeros<double>({4, 3})),
                         "gradient_penalty: the critic's output shape [4, 2] is not one value per sample (expected "
                         "[4] or [4, 1])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::gradient_penalty(two_scores, kexue::zeros<double>({})),
                         "gradient_penalty: points must have a batch axis (got shape [])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(
        kl::gradient_penalty(two_scores, kexue::zeros<double>({4, 3}), kl::gradient_penalty_options().weight(-1)),
        "gradient_penalty: weight must be non-negative (got -1)", kexue::value_error);
  }
}
