// SPDX-License-Identifier: MIT
// Tests of loss/gan.hpp, part 2: the single-loss GAN (stop-gradient routing), IMLE, repulsive IMLE and GLO.
#include <cmath>  // std::sqrt

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/loss/gan.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/matmul.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kl = kexue::loss;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_values;
using tensors = std::vector<tensor<double>>;

namespace {
/// Critic weights w1 [2, 4], w2 [4, 1], generator weights wg [2, 2], real [5, 2] and noise z [3, 2], from the seed.
struct gan_setup {
  kexue::generator gen{kexue_test_seed()};
  tensor<double> w1 = param({2, 4}), w2 = param({4, 1}), wg = param({2, 2});
  tensor<double> real = kexue::randn<double>({5, 2}, gen), z = kexue::randn<double>({3, 2}, gen);
  tensor<double> param(const kexue::shape& s) { return kexue::randn<double>(s, gen).requires_grad(true); }
};
}  // namespace

TEST_SUITE("loss.gan") {
  TEST_CASE("the single-loss GAN routes the critic's gradient to D and lambda times the generator's to G") {
    const gan_setup set;
    const tensor<double>&w1 = set.w1, &w2 = set.w2, &wg = set.wg, &real = set.real, &z = set.z;
    // D(x) = softplus(x w1) w2 − 1 (scores of both signs, so some hinges are active); G(z) = tanh(z wg).
    const kl::critic_fn<double> critic = [&](const tensor<double>& x) {
      return kexue::add_scalar(kexue::matmul(kexue::softplus(kexue::matmul(x, w1)), w2), -1.0);
    };
    const auto hinge = [](const tensor<double>& t) { return kexue::mean(kexue::relu(kexue::add_scalar(t, 1.0))); };
    for (const auto objective : {kl::gan_objective::hinge, kl::gan_objective::wasserstein}) {
      for (const bool single : {false, true}) {
        CAPTURE(single);
        const double lambda = 0.7;
        const tensor<double> fake = kexue::tanh(kexue::matmul(z, wg));
        const tensor<double> loss = kl::single_loss_gan(
            critic, real, fake,
            kl::single_loss_gan_options().generator_weight(lambda).objective(objective).single_forward(single));
        // The critic's loss alone (fake detached) and the generator's loss alone, in the author's sign.
        const tensor<double> d_fake_detached = critic(fake.detach());
        const tensor<double> d_loss = objective == kl::gan_objective::hinge
                                          ? kexue::add(hinge(critic(real)), hinge(kexue::neg(d_fake_detached)))
                                          : kexue::sub(kexue::mean(critic(real)), kexue::mean(d_fake_detached));
        const tensor<double> g_loss = kexue::mean(critic(fake));
        CHECK(loss.item() == d_loss.item());  // the routing term is exactly 0
        // retain_graph: g_loss below runs through the same generator graph.
        const auto g_all = kexue::grad<double>({loss}, {w1, w2, wg}, kexue::grad_options().retain_graph(true));
        const auto g_d = kexue::grad({d_loss}, {w1, w2});
        const auto g_g = kexue::grad({g_loss}, {wg});
        // Both losses really depend on their parameters here (some hinges active), so the checks below bite.
        CHECK(kexue::sum(kexue::abs(g_d[0])).item() > 1e-3);
        CHECK(kexue::sum(kexue::abs(g_g[0])).item() > 1e-3);
        check_close(g_all[0], g_d[0], 1e-14, 1e-14);
        check_close(g_all[1], g_d[1], 1e-14, 1e-14);
        check_close(g_all[2], kexue::mul_scalar(g_g[0], lambda), 1e-14, 1e-14);
      }
    }
    CHECK_THROWS_WITH_AS(kl::single_loss_gan(critic, real, z, kl::single_loss_gan_options().generator_weight(-1)),
                         "single_loss_gan: generator_weight must be non-negative (got -1)", kexue::value_error);
  }

  TEST_CASE("single_forward routes exactly through a random (dropout-like) critic evaluated once on the fakes") {
    const gan_setup set;
    const tensor<double>&w1 = set.w1, &w2 = set.w2, &wg = set.wg, &real = set.real, &z = set.z;
    // A fresh keep-mask (p = 0.7, scaled by 1/0.7) at every call, drawn from `masks` (replayable).
    kexue::generator masks(1);
    int calls = 0;
    const kl::critic_fn<double> critic = [&](const tensor<double>& x) {
      ++calls;
      const tensor<double> keep = kexue::mul_scalar(kexue::bernoulli<double>({x.size(0), 4}, 0.7, masks), 1 / 0.7);
      return kexue::add_scalar(kexue::matmul(kexue::mul(kexue::softplus(kexue::matmul(x, w1)), keep), w2), -1.0);
    };
    const double lambda = 0.7;
    const tensor<double> fake = kexue::tanh(kexue::matmul(z, wg));
    const tensor<double> loss = kl::single_loss_gan(
        critic, real, fake, kl::single_loss_gan_options().generator_weight(lambda).single_forward(true));
    CHECK(calls == 2);  // real, then the fakes once
    const auto g_all = kexue::grad<double>({loss}, {w1, w2, wg}, kexue::grad_options().retain_graph(true));
    // Replay both masks: D(real) and D(fake) as the loss saw them (D's gradient does not depend on whether its
    // input carries a graph, so the critic's hinge loss on d_fake gives the D-gradient of the sg[fake] term).
    masks.seed(1);
    const tensor<double> d_real = critic(real);
    const tensor<double> d_fake = critic(fake);
    const auto hinge = [](const tensor<double>& t) { return kexue::mean(kexue::relu(kexue::add_scalar(t, 1.0))); };
    const tensor<double> d_loss = kexue::add(hinge(d_real), hinge(kexue::neg(d_fake)));
    CHECK(loss.item() == d_loss.item());
    const auto g_d = kexue::grad<double>({d_loss}, {w1, w2}, kexue::grad_options().retain_graph(true));
    const auto g_g = kexue::grad({kexue::mean(d_fake)}, {wg});
    CHECK(kexue::sum(kexue::abs(g_d[0])).item() > 1e-3);
    CHECK(kexue::sum(kexue::abs(g_g[0])).item() > 1e-3);
    check_close(g_all[0], g_d[0], 1e-14, 1e-14);
    check_close(g_all[1], g_d[1], 1e-14, 1e-14);
    check_close(g_all[2], kexue::mul_scalar(g_g[0], lambda), 1e-14, 1e-14);
  }

  TEST_CASE_TEMPLATE("imle pulls each real sample's nearest fake, by hand", T, float, double) {
    const tensor<T> real = {{0, 0}, {10, 0}};
    const tensor<T> fake = tensor<T>{{1, 0}, {9, 1}, {0, 3}}.requires_grad(true);
    // real 0: distances² to the fakes 1, 82, 9 → 1 (fake 0); real 1: 81, 2, 109 → 2 (fake 1). Mean 1.5.
    const tensor<T> loss = kl::imle(real, fake);
    check_values(loss, {}, {1.5});
    // d/dfake = 2(f − x)/M for each chosen fake: fake 0: [1, 0]; fake 1: [−1, 1]; fake 2 unused: 0.
    check_values(kexue::grad({loss}, {fake})[0], {3, 2}, {1, 0, -1, 1, 0, 0});
    check_values(kl::nearest_squared_distance(fake, real), {3}, {1, 2, 9});
  }

  TEST_CASE_TEMPLATE("imle_repulsive pulls fakes to real samples and pushes them from a second fake batch", T, float,
                     double) {
    const tensor<T> real = {{0, 0}, {10, 0}};
    const tensor<T> fake = {{1, 0}, {9, 1}};
    const tensor<T> fake2 = {{1, 1}, {9, 3}};
    // Pull: 1 (to [0, 0]), 2 (to [10, 0]); nearest in fake2: 1 (to [1, 1]), 4 (to [9, 3]).
    // Unbounded: [1 − 1, 2 − 4] = [0, −2], mean −1. Margin 3: [1 + relu(3 − 1), 2 + relu(3 − 4)] = [3, 2], mean 2.5.
    check_values(kl::imle_repulsive(fake, real, fake2), {}, {-1});
    check_values(
        kl::imle_repulsive(fake, real, fake2, kl::imle_repulsive_options().margin(3).reduction(kl::reduction::none)),
        {2}, {3, 2});
  }

  TEST_CASE("imle works on samples of any rank and passes the gradient checks") {
    kexue::generator gen(kexue_test_seed());
    const auto leaf = [&](kexue::shape s) { return kexue::randn<double>(s, gen).requires_grad(true); };
    const tensors inputs = {leaf({3, 2, 2}), leaf({4, 2, 2}), leaf({2, 2, 2})};
    const kexue::testing::double_fn fns[] = {
        [](const tensors& v) { return kl::imle(v[0], v[1]); },
        [](const tensors& v) { return kl::imle_repulsive(v[0], v[1], v[2], kl::imle_repulsive_options().margin(4)); },
        [](const tensors& v) { return kl::imle_repulsive(v[0], v[1], v[2]); },
    };
    for (const auto& fn : fns) {
      kexue::testing::check_gradients(fn, inputs);
      kexue::testing::check_second_order(fn, inputs);
    }
  }

  TEST_CASE("glo adds pixel and feature distances; codes stay on the unit sphere") {
    const tensor<double> target = {{1, 2}, {0, 1}};
    const tensor<double> reconstruction = {{0, 0}, {0, 1}};
    // Sample 0: ‖(1, 2)‖² = 5; sample 1: 0. Mean 2.5.
    check_values(kl::glo(target, reconstruction), {}, {2.5});
    // A feature map φ(x) = 2x adds ‖2·(1, 2)‖² = 20 to sample 0: 25 (and 20 with pixel_weight 0).
    const kl::feature_fn<double> twice = [](const tensor<double>& x) {
      return std::vector<tensor<double>>{kexue::mul_scalar(x, 2.0)};
    };
    const auto none = kl::glo_options().reduction(kl::reduction::none);
    check_values(kl::glo(target, reconstruction, none, {}, twice), {2}, {25, 0});
    check_values(kl::glo(target, reconstruction, kl::glo_options(none).pixel_weight(0), {}, twice), {2}, {20, 0});
    // Codes: normalised in the forward pass, or projected in place after a step (a zero row stays zero).
    check_values(kl::glo_codes(tensor<double>{{3, 4}}), {1, 2}, {0.6, 0.8});
    const tensor<double> codes = {{3, 4}, {0, 0}, {0, -2}};
    const auto version = codes.version();
    kl::project_rows_to_unit_sphere(codes);
    check_values(codes, {3, 2}, {0.6, 0.8, 0, 0, 0, -1});
    CHECK(codes.version() == version + 1);
  }

  // (single_loss_gan is not here: by design its gradient is not the derivative of its value.)
  TEST_CASE("wgan, finite-difference penalty and glo pass the gradient checks") {
    kexue::generator gen(kexue_test_seed());
    const auto leaf = [&](kexue::shape s) { return kexue::randn<double>(s, gen).requires_grad(true); };
    // v: real [3, 2], z [3, 2], critic weights w1 [2, 4], w2 [4, 1], generator weights wg [2, 2].
    const tensors inputs = {leaf({3, 2}), leaf({3, 2}), leaf({2, 4}), leaf({4, 1}), leaf({2, 2})};
    const auto critic_of = [](const tensors& v) {
      return kl::critic_fn<double>([w1 = v[2], w2 = v[3]](const tensor<double>& x) {
        return kexue::add_scalar(kexue::matmul(kexue::softplus(kexue::matmul(x, w1)), w2), -1.0);
      });
    };
    const auto fake_of = [](const tensors& v) { return kexue::tanh(kexue::matmul(v[1], v[4])); };
    const kexue::testing::double_fn fns[] = {
        [&](const tensors& v) {
          const auto d = critic_of(v);
          return kexue::add(kl::wgan_critic(d(v[0]), d(fake_of(v))), kl::wgan_generator(d(fake_of(v))));
        },
        [&](const tensors& v) {
          const kl::feature_fn<double> features = [w1 = v[2]](const tensor<double>& x) {
            return std::vector<tensor<double>>{kexue::tanh(kexue::matmul(x, w1))};
          };
          return kl::glo(v[0], fake_of(v), {}, {}, features);
        },
    };
    for (const auto& fn : fns) {
      kexue::testing::check_gradients(fn, inputs);
      kexue::testing::check_second_order(fn, inputs);
    }
    // The finite-difference penalty trains the critic only (its interpolates are constants): the critic's weights.
    const tensor<double> real = inputs[0].detach(), fake = inputs[1].detach();
    const kexue::testing::double_fn penalty = [&](const tensors& v) {
      kexue::generator g(11);  // the same interpolates at every evaluation
      return kl::finite_difference_penalty(critic_of({real, fake, v[0], v[1]}), real, fake, g,
                                           kl::gradient_penalty_options().kind(kl::penalty_kind::two_sided));
    };
    kexue::testing::check_gradients(penalty, {inputs[2], inputs[3]});
    kexue::testing::check_second_order(penalty, {inputs[2], inputs[3]});
  }

  TEST_CASE("imle and glo errors name the shapes") {
    const auto z = [](kexue::shape s) { return kexue::zeros<double>(s); };
    CHECK_THROWS_WITH_AS(kl::imle(z({4, 3}), z({5, 2})),
                         "imle: real [4, 3] and fake [5, 2] must have the same shape after the batch axis",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::nearest_squared_distance(z({4, 3}), z({0, 3})),
                         "nearest_squared_distance: no candidates (shape [0, 3])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::imle_repulsive(z({2, 3}), z({2, 3}), z({2, 3}), kl::imle_repulsive_options().margin(-1)),
                         "imle_repulsive: margin must be non-negative (got -1)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kl::glo(z({2, 3}), z({2, 4})),
                         "glo: target shape [2, 3] differs from reconstruction shape [2, 4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::project_rows_to_unit_sphere(z({})),
                         "project_rows_to_unit_sphere: expected rank at least 1 (got shape [])", kexue::shape_error);
  }
}
