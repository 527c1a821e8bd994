// SPDX-License-Identifier: MIT
// A11 example: WGAN-GP on a 2-D ring of 8 Gaussians, with the author's sign convention and one-sided penalty.
//
// What the article shows (spec A11): a critic D measures a "neural distance" mean D(real) − mean D(fake) between
// sample sets; it must be Lipschitz or the distance diverges; the constraint ‖∇D‖ ≤ 1 is enforced softly by a
// penalty on random interpolates between real and fake samples, which needs double backprop. The generator G
// then learns to cover the data.
//
// Data: 8 Gaussians (σ = 0.05) at radius 2 on a ring, sampled fresh each batch.
// Critic D: MLP 2 → 64 → relu → 64 → relu → 1. Generator G: noise U(−1, 1)^8 → 64 → relu → 64 → relu → 2.
// Losses (author's convention: D low on real, high on fake; spec Appendix C 5):
//   D_loss = loss::wgan_critic(D(real), D(fake))  = mean D(real) − mean D(fake)
//          + loss::gradient_penalty(D, real, fake, gen)   = 10 · mean relu(‖∇D(x̂)‖ − 1) at random interpolates
//   G_loss = loss::wgan_generator(D(G(z)))  = mean D(fake)
// Adam(lr 2e-3, β = (0.5, 0.9)) for both, 5 critic steps per generator step, batch 128, 800 generator steps,
// one thread.
//
// Claims (thresholds from measured runs with margin; measured values in README.md):
//   modes_covered: all 8 modes receive ≥ 2% of 2000 generated samples (nearest mode within 4σ = 0.2)
//   near_fraction: ≥ 0.45 of the generated samples lie within 0.2 of a mode (measured 0.66; 0.61-0.73
//     in nearby configurations: batch 256, lr 1e-3 to 2e-3)
//   grad_norm: the critic's mean ‖∇D‖ at random interpolates is in [0.5, 1.2] (the one-sided penalty keeps it
//     at most about 1; nothing pushes it up once fakes match the data: measured 0.85 here, 0.64 after the 3000
//     steps of --full)
//   unconstrained_divergence: a critic trained without the penalty on the initial generator's samples reaches
//     |D_loss| ≥ 10× the penalised critic's after the same 200 steps (without the constraint the distance
//     diverges; with it, it settles near the Wasserstein distance; measured 2.0 vs 308, ratio 157)
// Expected output: progress lines (step, D_loss, G_loss, modes hit), then four "claim: ... PASS" lines.
// --full: 3000 generator steps and also the two-sided penalty (Gulrajani et al.), with two more claims: its mean
// ‖∇D‖ is in [0.8, 1.2] (measured 0.996) and its near-mode fraction is within 0.15 of the one-sided run's
// (measured 0.88 vs 0.81: the article says both penalties work about equally).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "../common/example_support.hpp"
#include "../common/gaussian_ring.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;

namespace {

using ring = kexue_examples::gaussian_ring;
constexpr kx::index_t noise_dim = 8, batch = 128, hidden = 64;
constexpr double lr = 2e-3;
constexpr int critic_steps_per_g = 5;

/// `n` points of the 8-Gaussian ring.
tensor sample_real(kx::index_t n, kx::generator& gen) { return ring::sample<float>(n, gen); }

std::shared_ptr<kx::nn::sequential<float>> mlp(kx::index_t in, kx::index_t out, kx::generator& gen) {
  auto m = std::make_shared<kx::nn::sequential<float>>();
  const auto relu = [](const tensor& h) { return kx::relu(h); };
  m->push_back(std::make_shared<kx::nn::linear<float>>(in, hidden, gen))
      .push_back("relu1", relu)
      .push_back(std::make_shared<kx::nn::linear<float>>(hidden, hidden, gen))
      .push_back("relu2", relu)
      .push_back(std::make_shared<kx::nn::linear<float>>(hidden, out, gen));
  return m;
}

using coverage = ring::coverage;
coverage measure_coverage(const tensor& x) { return ring::measure(x); }

/// Mean ‖∇ₓD‖ over random interpolates between real and fake samples.
double mean_grad_norm(const kx::nn::sequential<float>& critic, const tensor& real, const tensor& fake,
                      kx::generator& gen) {
  const tensor points = kx::loss::random_interpolates(real, fake, gen).detach().requires_grad(true);
  const tensor g = kx::grad({kx::sum(critic(points))}, {points})[0];  // [B, 2]
  double total = 0;
  for (kx::index_t i = 0; i < g.size(0); ++i) total += std::hypot(g(i, 0), g(i, 1));
  return total / static_cast<double>(g.size(0));
}

tensor noise(kx::index_t n, kx::generator& gen) { return kx::rand<float>({n, noise_dim}, gen, -1.0f, 1.0f); }

struct gan_result {
  coverage cov;
  double grad_norm = 0;
};

/// Trains a fresh GAN (fixed seeds) with the given penalty form; prints progress.
gan_result train_gan(kx::loss::penalty_kind kind, int g_steps, bool verbose) {
  namespace L = kx::loss;
  kx::generator gen(11);
  auto critic = mlp(2, 1, gen);
  auto generator = mlp(noise_dim, 2, gen);
  const auto adam = kx::optim::adam_options().lr(lr).betas(0.5, 0.9);
  kx::optim::adam<float> d_opt(critic->parameters(), adam), g_opt(generator->parameters(), adam);
  const L::critic_fn<float> d = [&](const tensor& x) { return (*critic)(x); };
  const auto penalty = L::gradient_penalty_options().weight(10).kind(kind);

  float d_loss_value = 0, g_loss_value = 0;
  for (int step = 1; step <= g_steps; ++step) {
    for (int k = 0; k < critic_steps_per_g; ++k) {
      const tensor real = sample_real(batch, gen);
      tensor fake;
      {
        kx::no_grad_guard no_grad;
        fake = (*generator)(noise(batch, gen));
      }
      const tensor w = L::wgan_critic(d(real), d(fake));
      const tensor d_loss = kx::add(w, L::gradient_penalty<float>(d, real, fake, gen, penalty));
      d_opt.zero_grad();
      d_loss.backward();
      d_opt.step();
      d_loss_value = w.item();
    }
    const tensor g_loss = L::wgan_generator(d((*generator)(noise(batch, gen))));
    g_opt.zero_grad();
    g_loss.backward();
    g_opt.step();
    g_loss_value = g_loss.item();
    if (verbose && (step == 1 || step % (g_steps / 6) == 0)) {
      kx::no_grad_guard no_grad;
      const coverage c = measure_coverage((*generator)(noise(2000, gen)));
      std::printf("step %5d  D_loss (before penalty) %8.4f  G_loss %8.4f  modes hit %d/8  near a mode %.3f\n", step,
                  d_loss_value, g_loss_value, c.modes_hit, c.near);
    }
  }
  gan_result r;
  {
    kx::no_grad_guard no_grad;
    r.cov = measure_coverage((*generator)(noise(2000, gen)));
  }
  tensor fake;
  {
    kx::no_grad_guard no_grad;
    fake = (*generator)(noise(1000, gen));
  }
  r.grad_norm = mean_grad_norm(*critic, sample_real(1000, gen), fake, gen);
  return r;
}

/// Trains only a critic for `steps` steps on real samples vs the fixed samples of an untrained generator, with
/// or without the penalty; returns |mean D(real) − mean D(fake)| at the end.
double critic_only(bool with_penalty, int steps) {
  namespace L = kx::loss;
  kx::generator gen(5);
  auto critic = mlp(2, 1, gen);
  auto generator = mlp(noise_dim, 2, gen);
  kx::optim::adam<float> opt(critic->parameters(), kx::optim::adam_options().lr(lr).betas(0.5, 0.9));
  const L::critic_fn<float> d = [&](const tensor& x) { return (*critic)(x); };
  float value = 0;
  for (int step = 1; step <= steps; ++step) {
    const tensor real = sample_real(batch, gen);
    tensor fake;
    {
      kx::no_grad_guard no_grad;
      fake = (*generator)(noise(batch, gen));
    }
    tensor loss = L::wgan_critic(d(real), d(fake));
    value = loss.item();
    if (with_penalty) loss = kx::add(loss, L::gradient_penalty<float>(d, real, fake, gen));
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  return std::fabs(value);
}

using kexue_examples::claim;

}  // namespace

int main(int argc, char** argv) try {
  const bool full = argc > 1 && std::strcmp(argv[1], "--full") == 0;
  const int g_steps = full ? 3000 : 800;
  // These tensors are tiny ([128, 64]): OpenMP threads cost more than they give (measured 5x slower with 2
  // threads on a loaded 2-core machine), so run on one.
  kx::set_num_threads(1);
  std::printf(
      "wgan_gp_toy2d: 8 Gaussians on a ring (radius 2, sigma 0.05); MLP critic and generator 64-64; "
      "one-sided penalty (lambda 10); %d generator steps x %d critic steps, batch %lld\n",
      g_steps, critic_steps_per_g, static_cast<long long>(batch));

  const gan_result one = train_gan(kx::loss::penalty_kind::one_sided, g_steps, true);
  std::printf("one-sided: modes hit %d/8, near a mode %.3f, mean |grad D| at interpolates %.3f\n", one.cov.modes_hit,
              one.cov.near, one.grad_norm);
  gan_result two;
  if (full) {
    two = train_gan(kx::loss::penalty_kind::two_sided, g_steps, false);
    std::printf("two-sided: modes hit %d/8, near a mode %.3f, mean |grad D| at interpolates %.3f\n", two.cov.modes_hit,
                two.cov.near, two.grad_norm);
  }
  const int critic_steps = 200;
  const double with_gp = critic_only(true, critic_steps), without = critic_only(false, critic_steps);
  std::printf("critic alone, %d steps vs a fixed untrained generator: |D_loss| %.3f with the penalty, %.3f without\n",
              critic_steps, with_gp, without);

  bool pass = true;
  pass &= claim("modes_covered", one.cov.modes_hit, "== 8", one.cov.modes_hit == 8);
  pass &= claim("near_fraction", one.cov.near, ">= 0.45", one.cov.near >= 0.45);
  pass &= claim("critic_grad_norm_at_interpolates", one.grad_norm, "in [0.5, 1.2]",
                one.grad_norm >= 0.5 && one.grad_norm <= 1.2);
  if (full) {
    pass &= claim("two_sided_grad_norm_at_interpolates", two.grad_norm, "in [0.8, 1.2]",
                  two.grad_norm >= 0.8 && two.grad_norm <= 1.2);
    pass &= claim("two_sided_minus_one_sided_near_mode_fraction", two.cov.near - one.cov.near, "in [-0.15, 0.15]",
                  std::fabs(two.cov.near - one.cov.near) <= 0.15);
  }
  pass &= claim("unconstrained_over_penalised_critic_loss", without / with_gp, ">= 10", without >= 10 * with_gp);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
