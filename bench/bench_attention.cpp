// SPDX-License-Identifier: MIT
// Benchmarks of scaled_dot_product_attention (ops/attention.hpp): B = 4, heads = 8, n = 512, d = 64, float,
// forward and forward + backward, without and with the causal mask, on 1 and 2 threads; the same attention
// composed of kexue ops (matmul, softmax, matmul) as an in-binary baseline. Compare with PyTorch through
// bench/torch_attention.py.
#include <cmath>    // std::sqrt, std::abs
#include <cstdint>  // int64_t
#include <string>   // error texts
#include <vector>

#include "bench_machine.hpp"
#include <benchmark/benchmark.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/attention.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/softmax.hpp>

namespace {

using kexue::index_t;
using kexue::tensor;

constexpr index_t batch = 4, heads = 8, n = 512, dim = 64;

struct problem {
  tensor<float> q, k, v, g;
  problem() {
    kexue::generator gen(42);
    q = kexue::randn<float>({batch, heads, n, dim}, gen);
    k = kexue::randn<float>({batch, heads, n, dim}, gen);
    v = kexue::randn<float>({batch, heads, n, dim}, gen);
    g = kexue::randn<float>({batch, heads, n, dim}, gen);
  }
};

/// softmax(q kᵀ / √d [+ causal −inf]) v composed of differentiable kexue ops.
tensor<float> composed(const tensor<float>& q, const tensor<float>& k, const tensor<float>& v, bool causal) {
  const tensor<float> s = kexue::matmul(q, k, false, true) * (1.0f / std::sqrt(float(dim)));
  if (!causal) return kexue::matmul(kexue::softmax(s, -1), v);
  return kexue::matmul(
      kexue::softmax(s, kexue::attention_pattern_mask(n, n, kexue::attention_pattern::dense, 0, true), -1), v);
}

/// Checked once per run, outside the timed loop: the fused op against the composed ops.
bool check(benchmark::State& state, const problem& p, bool causal) {
  const tensor<float> a =
      kexue::scaled_dot_product_attention(p.q, p.k, p.v, kexue::attention_options<float>().causal(causal));
  const tensor<float> b = composed(p.q, p.k, p.v, causal);
  double worst = 0;
  for (index_t i = 0; i < a.numel(); ++i) worst = std::max(worst, double(std::abs(a.data()[i] - b.data()[i])));
  if (!(worst < 1e-4)) {
    state.SkipWithError(("fused attention differs from the composed ops by " + std::to_string(worst)).c_str());
    return false;
  }
  return true;
}

void finish(benchmark::State& state, int passes) {
  // 2 GEMMs of 2·n·n·d flops per (batch, head) forward; the backward adds 4 more.
  const double flops = double(batch * heads) * 2.0 * n * n * dim * passes;
  state.counters["GFLOP_s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = double(state.range(1));
}

void BM_attention_forward(benchmark::State& state) {
  const bool causal = state.range(0) != 0;
  kexue::set_num_threads(static_cast<int>(state.range(1)));
  problem p;
  if (!check(state, p, causal)) return;
  const auto options = kexue::attention_options<float>().causal(causal);
  for (auto _ : state) {
    tensor<float> out = kexue::scaled_dot_product_attention(p.q, p.k, p.v, options);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, 2);
}

void BM_attention_forward_backward(benchmark::State& state) {
  const bool causal = state.range(0) != 0;
  kexue::set_num_threads(static_cast<int>(state.range(1)));
  problem p;
  if (!check(state, p, causal)) return;
  p.q.requires_grad(true);
  p.k.requires_grad(true);
  p.v.requires_grad(true);
  const auto options = kexue::attention_options<float>().causal(causal);
  for (auto _ : state) {
    tensor<float> out = kexue::scaled_dot_product_attention(p.q, p.k, p.v, options);
    auto grads = kexue::grad<float>({out}, {p.q, p.k, p.v}, {}, {p.g});
    benchmark::DoNotOptimize(grads[0].data());
    benchmark::ClobberMemory();
  }
  finish(state, 6);
}

void BM_attention_composed_forward(benchmark::State& state) {
  const bool causal = state.range(0) != 0;
  kexue::set_num_threads(static_cast<int>(state.range(1)));
  problem p;
  for (auto _ : state) {
    tensor<float> out = composed(p.q, p.k, p.v, causal);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, 2);
}

void BM_attention_composed_forward_backward(benchmark::State& state) {
  const bool causal = state.range(0) != 0;
  kexue::set_num_threads(static_cast<int>(state.range(1)));
  problem p;
  p.q.requires_grad(true);
  p.k.requires_grad(true);
  p.v.requires_grad(true);
  for (auto _ : state) {
    tensor<float> out = composed(p.q, p.k, p.v, causal);
    auto grads = kexue::grad<float>({out}, {p.q, p.k, p.v}, {}, {p.g});
    benchmark::DoNotOptimize(grads[0].data());
    benchmark::ClobberMemory();
  }
  finish(state, 6);
}

/// Spec A17 at T = 4096 (B = 1, heads = 2, d = 64, one thread): dense against local (k = 64: 129 keys per
/// query), atrous (k = 64: 64 keys) and sparse (k = 64: their union, 191 keys), which compute only the visible
/// blocks (weights kept for the backward per head: dense T², local (64 + 128)·T, atrous T²/64, sparse the
/// local and the atrous blocks, (64 + 128 + T/64)·T).
void BM_attention_pattern_forward(benchmark::State& state) {
  const auto pattern = static_cast<kexue::attention_pattern>(state.range(0));
  kexue::set_num_threads(1);
  constexpr index_t t = 4096, h = 2;
  kexue::generator gen(7);
  auto q = kexue::randn<float>({1, h, t, dim}, gen), k = kexue::randn<float>({1, h, t, dim}, gen);
  auto v = kexue::randn<float>({1, h, t, dim}, gen);
  const auto options = kexue::attention_options<float>().pattern(pattern, 64);
  for (auto _ : state) {
    tensor<float> out = kexue::scaled_dot_product_attention(q, k, v, options);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

/// As BM_attention_pattern_forward, forward + backward (kexue::grad of q, k, v with a fixed upstream gradient).
void BM_attention_pattern_forward_backward(benchmark::State& state) {
  const auto pattern = static_cast<kexue::attention_pattern>(state.range(0));
  kexue::set_num_threads(1);
  constexpr index_t t = 4096, h = 2;
  kexue::generator gen(7);
  auto q = kexue::randn<float>({1, h, t, dim}, gen).requires_grad(true);
  auto k = kexue::randn<float>({1, h, t, dim}, gen).requires_grad(true);
  auto v = kexue::randn<float>({1, h, t, dim}, gen).requires_grad(true);
  const auto g = kexue::randn<float>({1, h, t, dim}, gen);
  const auto options = kexue::attention_options<float>().pattern(pattern, 64);
  for (auto _ : state) {
    tensor<float> out = kexue::scaled_dot_product_attention(q, k, v, options);
    auto grads = kexue::grad<float>({out}, {q, k, v}, {}, {g});
    benchmark::DoNotOptimize(grads[0].data());
    benchmark::ClobberMemory();
  }
}

/// One thread is timed in CPU time, two in wall-clock time (CPU time would count the calling thread only).
void grid(const char* name, void (*fn)(benchmark::State&), int max_threads) {
  for (int threads = 1; threads <= max_threads; ++threads) {
    auto* b = benchmark::RegisterBenchmark(name, fn);
    b->ArgNames({"causal", "threads"})->Unit(benchmark::kMillisecond)->MinTime(0.5);
    if (threads > 1) b->UseRealTime();
    for (int causal : {0, 1}) b->Args({causal, threads});
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const int max_threads = std::min(2, kexue::get_num_threads());
  kexue::bench::add_machine_context(max_threads);
#ifdef KEXUE_BENCH_BUILD_INFO
  benchmark::AddCustomContext("kexue_build_flags", KEXUE_BENCH_BUILD_INFO);
#endif
  grid("BM_attention_forward", BM_attention_forward, max_threads);
  grid("BM_attention_forward_backward", BM_attention_forward_backward, max_threads);
  grid("BM_attention_composed_forward", BM_attention_composed_forward, max_threads);
  grid("BM_attention_composed_forward_backward", BM_attention_composed_forward_backward, max_threads);
  auto* patterns = benchmark::RegisterBenchmark("BM_attention_pattern_forward", BM_attention_pattern_forward);
  patterns->ArgNames({"pattern"})->Unit(benchmark::kMillisecond)->MinTime(0.5);
  for (int p = 0; p < 4; ++p) patterns->Args({p});  // dense, local, atrous, sparse
  auto* pattern_grads =
      benchmark::RegisterBenchmark("BM_attention_pattern_forward_backward", BM_attention_pattern_forward_backward);
  pattern_grads->ArgNames({"pattern"})->Unit(benchmark::kMillisecond)->MinTime(0.5);
  for (int p = 0; p < 4; ++p) pattern_grads->Args({p});
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
