// SPDX-License-Identifier: MIT
// Loss benchmarks for loss/gan.hpp and loss/ranking.hpp: one WGAN-GP critic step (gradient penalty by double
// backprop through the author's MNIST critic), the IMLE nearest-neighbour loss, and a triplet loss.
// bench/torch_loss_other.py times PyTorch on the same cases and prints the comparison (bench/README.md,
// "Regression, ranking, divergence and GAN losses"). Float32, one thread (kexue::set_num_threads(1)).
#include <vector>

#include <benchmark/benchmark.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/loss/gan.hpp>
#include <kexue/loss/ranking.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/matmul.hpp>

namespace {

using kexue::tensor;
namespace kl = kexue::loss;

/// The author's MNIST critic (spec A11 [ref-code]): 784 → 128 (relu) → 32 (relu) → 1, weights U(−0.05, 0.05),
/// zero biases; weights stored [in, out].
struct mnist_critic {
  std::vector<tensor<float>> params;
  explicit mnist_critic(kexue::generator& gen) {
    const kexue::index_t sizes[] = {784, 128, 32, 1};
    for (int l = 0; l < 3; ++l) {
      params.push_back(kexue::rand<float>({sizes[l], sizes[l + 1]}, gen, -0.05f, 0.05f).requires_grad(true));
      params.push_back(kexue::zeros<float>({sizes[l + 1]}).requires_grad(true));
    }
  }
  tensor<float> operator()(const tensor<float>& x) const {
    tensor<float> h = x;
    for (int l = 0; l < 3; ++l) {
      h = kexue::add(kexue::matmul(h, params[2 * l]), params[2 * l + 1]);
      if (l < 2) h = kexue::relu(h);
    }
    return h;  // [B, 1]
  }
};

/// D_loss = mean D(real) − mean D(fake) + 10·mean relu(‖∇D(x̂)‖ − 1), then backward to the critic's weights.
void BM_wgan_gp_critic_step(benchmark::State& state) {
  kexue::set_num_threads(1);
  const auto batch = state.range(0);
  kexue::generator gen(7);
  mnist_critic critic(gen);
  const auto real = kexue::rand<float>({batch, 784}, gen);
  const auto fake = kexue::rand<float>({batch, 784}, gen);
  for (auto _ : state) {
    const kl::critic_fn<float> d = [&critic](const tensor<float>& x) { return critic(x); };
    const tensor<float> loss =
        kexue::add(kl::wgan_critic(critic(real), critic(fake)), kl::gradient_penalty(d, real, fake, gen));
    loss.backward();
    benchmark::DoNotOptimize(critic.params[0].grad().data());
    benchmark::ClobberMemory();
    for (auto& p : critic.params) p.zero_grad();
  }
}

/// IMLE: M real against N fake samples of 784 values (the author's demo uses 128 and 128), forward and backward.
void BM_imle(benchmark::State& state) {
  kexue::set_num_threads(1);
  const auto m = state.range(0);
  kexue::generator gen(7);
  const auto real = kexue::rand<float>({m, 784}, gen);
  auto fake = kexue::rand<float>({m, 784}, gen).requires_grad(true);
  for (auto _ : state) {
    const tensor<float> loss = kl::imle(real, fake);
    loss.backward();
    benchmark::DoNotOptimize(fake.grad().data());
    benchmark::ClobberMemory();
    fake.zero_grad();
  }
}

/// triplet_margin (p = 2) on [B, 128] embeddings, forward and backward.
void BM_triplet_margin(benchmark::State& state) {
  kexue::set_num_threads(1);
  const auto batch = state.range(0);
  kexue::generator gen(7);
  const auto a = kexue::randn<float>({batch, 128}, gen).requires_grad(true);
  const auto p = kexue::randn<float>({batch, 128}, gen).requires_grad(true);
  const auto n = kexue::randn<float>({batch, 128}, gen).requires_grad(true);
  for (auto _ : state) {
    const tensor<float> loss = kl::triplet_margin(a, p, n);
    loss.backward();
    benchmark::DoNotOptimize(a.grad().data());
    benchmark::ClobberMemory();
    for (auto t : {a, p, n}) t.zero_grad();
  }
}

BENCHMARK(BM_wgan_gp_critic_step)->ArgName("batch")->Arg(100);
BENCHMARK(BM_imle)->ArgName("samples")->Arg(128);
BENCHMARK(BM_triplet_margin)->ArgName("batch")->Arg(256);

}  // namespace

BENCHMARK_MAIN();
