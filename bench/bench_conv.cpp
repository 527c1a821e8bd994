// SPDX-License-Identifier: MIT
// conv1d at the size of a DGCNN / spectra block (B = 32, 128 -> 128 channels, L = 256, kernel 3, "same"
// padding) at dilations 1, 2, 4: forward, and forward + backward to the input, weight and bias, on 1 and 2
// threads, through the public op (autograd included). The dgcnn_ variants are the convolution of the DGCNN
// training step (bench_training): 128 -> 256 channels (the gated block's two halves) at dilations 1, 2, 4, 8. Times are
// in ms per call; compare the CPU time (of the calling thread) at one thread and the wall-clock time at two, as
// bench/torch_conv.py does.
//
//   bench_conv --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_out=conv.json
//   /usr/bin/python3 bench/torch_conv.py --kexue-json conv.json   # PyTorch, and the ratio table
#include <string>
#include <vector>

#include "bench_machine.hpp"
#include <benchmark/benchmark.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/conv.hpp>

namespace {

namespace kx = kexue;
using kx::index_t;

constexpr index_t batch = 32, channels = 128, length = 256, kernel = 3;

struct problem {
  kx::tensor<float> x, w, b, gy;
  problem(bool requires_grad, index_t out_channels) {
    kx::generator gen(42);
    x = kx::randn<float>({batch, channels, length}, gen).requires_grad(requires_grad);
    w = kx::mul_scalar(kx::randn<float>({out_channels, channels, kernel}, gen), 0.05f).requires_grad(requires_grad);
    b = kx::randn<float>({out_channels}, gen).requires_grad(requires_grad);
    gy = kx::randn<float>({batch, out_channels, length}, gen);
  }
};

template <index_t OutChannels>
void BM_conv1d_forward(benchmark::State& state) {
  const index_t dilation = state.range(0);
  kx::set_num_threads(static_cast<int>(state.range(1)));
  problem p(false, OutChannels);
  kx::no_grad_guard guard;
  for (auto _ : state) {
    auto y = kx::conv1d(p.x, p.w, p.b, 1, dilation, dilation);
    benchmark::DoNotOptimize(y.data());
  }
}

template <index_t OutChannels>
void BM_conv1d_forward_backward(benchmark::State& state) {
  const index_t dilation = state.range(0);
  kx::set_num_threads(static_cast<int>(state.range(1)));
  problem p(true, OutChannels);
  for (auto _ : state) {
    auto y = kx::conv1d(p.x, p.w, p.b, 1, dilation, dilation);
    auto g = kx::grad<float>({y}, {p.x, p.w, p.b}, kx::grad_options(), {p.gy});
    benchmark::DoNotOptimize(g[0].data());
  }
}

void conv_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"dilation", "threads"});
  for (int threads : {1, 2}) {
    for (int d : {1, 2, 4}) b->Args({d, threads});
  }
  b->Unit(benchmark::kMillisecond);
}

void dgcnn_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"dilation", "threads"});
  for (int threads : {1, 2}) {
    for (int d : {1, 2, 4, 8}) b->Args({d, threads});
  }
  b->Unit(benchmark::kMillisecond);
}

BENCHMARK_TEMPLATE(BM_conv1d_forward, channels)->Name("BM_conv1d_forward")->Apply(conv_args);
BENCHMARK_TEMPLATE(BM_conv1d_forward_backward, channels)->Name("BM_conv1d_forward_backward")->Apply(conv_args);
BENCHMARK_TEMPLATE(BM_conv1d_forward, 2 * channels)->Name("BM_conv1d_dgcnn_forward")->Apply(dgcnn_args);
BENCHMARK_TEMPLATE(BM_conv1d_forward_backward, 2 * channels)
    ->Name("BM_conv1d_dgcnn_forward_backward")
    ->Apply(dgcnn_args);

}  // namespace

BENCHMARK_MAIN();
