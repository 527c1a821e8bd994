// SPDX-License-Identifier: MIT
// One training step (zero_grad, forward, loss, backward, optimizer step) of the models of issue 5, timed at
// 1 and 2 threads; bench/torch_training.py times PyTorch on the same models and prints the ratios.
//
//   bench_training --benchmark_repetitions=5 --benchmark_out=training.json
//   /usr/bin/python3 bench/torch_training.py --kexue-json training.json
#include <memory>

#include <benchmark/benchmark.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/loss/classification.hpp>
#include <kexue/loss/regression.hpp>
#include <kexue/nn/gated_conv.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/sequential.hpp>
#include <kexue/nn/transformer.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/optim/adam.hpp>

namespace kx = kexue;

namespace {

/// MLP 784-256-256-10 (ReLU), Adam(1e-3), cross-entropy over 10 classes, batch 128.
void BM_mlp_step(benchmark::State& state) {
  kx::set_num_threads(static_cast<int>(state.range(0)));
  kx::generator gen(1);
  kx::nn::sequential<float> mlp;
  const auto relu = [](const kx::tensor<float>& x) { return kx::relu(x); };
  mlp.push_back(std::make_shared<kx::nn::linear<float>>(784, 256, gen))
      .push_back("relu1", relu)
      .push_back(std::make_shared<kx::nn::linear<float>>(256, 256, gen))
      .push_back("relu2", relu)
      .push_back(std::make_shared<kx::nn::linear<float>>(256, 10, gen));
  kx::optim::adam<float> adam(mlp.parameters(), kx::optim::adam_options().lr(1e-3));
  const auto x = kx::randn<float>({128, 784}, gen);
  const auto y = kx::randint(0, 10, {128}, gen);
  for (auto _ : state) {
    adam.zero_grad();
    auto loss = kx::loss::cross_entropy(mlp(x), y);
    loss.backward();
    adam.step();
    benchmark::DoNotOptimize(loss.data());
  }
}

/// 6 dilated gated conv1d blocks (DGCNN, A02: Y = X(1−σ) + Conv(X)σ; dilations 1, 2, 4, 8, 1, 1; 128
/// channels, kernel 3, same padding), length 256, batch 32, Adam(1e-3), MSE to a fixed random target.
void BM_dgcnn_step(benchmark::State& state) {
  kx::set_num_threads(static_cast<int>(state.range(0)));
  kx::generator gen(2);
  kx::nn::sequential<float> net;
  for (kx::index_t d : {1, 2, 4, 8, 1, 1}) {
    net.push_back(std::make_shared<kx::nn::gated_conv1d<float>>(
        kx::nn::gated_conv1d_options(128).kernel_size(3).dilation(d).padding(kx::nn::padding_mode::same), gen));
  }
  kx::optim::adam<float> adam(net.parameters(), kx::optim::adam_options().lr(1e-3));
  const auto x = kx::randn<float>({32, 128, 256}, gen);
  const auto target = kx::randn<float>({32, 128, 256}, gen);
  for (auto _ : state) {
    adam.zero_grad();
    auto loss = kx::loss::mse(net(x), target);
    loss.backward();
    adam.step();
    benchmark::DoNotOptimize(loss.data());
  }
}

/// A transformer encoder layer (post-LN, d 256, 4 heads, ff 1024, relu, dropout 0), sequence 128, batch 16,
/// AdamW(1e-3), MSE to a fixed random target.
void BM_transformer_step(benchmark::State& state) {
  kx::set_num_threads(static_cast<int>(state.range(0)));
  kx::generator gen(3);
  kx::nn::transformer_layer<float> layer(kx::nn::transformer_layer_options(256, 4).dim_feedforward(1024).dropout(0.0),
                                         gen);
  kx::optim::adamw<float> opt(layer.parameters(), kx::optim::adamw_options().lr(1e-3));
  const auto x = kx::randn<float>({16, 128, 256}, gen);
  const auto target = kx::randn<float>({16, 128, 256}, gen);
  for (auto _ : state) {
    opt.zero_grad();
    auto loss = kx::loss::mse(layer(x), target);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.data());
  }
}

}  // namespace

BENCHMARK(BM_transformer_step)->ArgName("threads")->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_transformer_step)->ArgName("threads")->Arg(2)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_dgcnn_step)->ArgName("threads")->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_dgcnn_step)->ArgName("threads")->Arg(2)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_mlp_step)->ArgName("threads")->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(0.5);
BENCHMARK(BM_mlp_step)->ArgName("threads")->Arg(2)->Unit(benchmark::kMillisecond)->MinTime(0.5)->UseRealTime();

BENCHMARK_MAIN();
