// SPDX-License-Identifier: MIT
// Core-op benchmarks: per-op overhead on tiny tensors, and element-wise ops on 1M floats against the memory
// bandwidth of raw loops measured in the same run. bench/torch_core.cpp runs the same cases with libtorch;
// bench/compare.py prints the two side by side (see bench/README.md, "Core ops").
#include <algorithm>  // std::max
#include <cmath>      // std::exp, std::abs: reference values
#include <cstdint>    // std::uint64_t
#include <cstring>    // std::memcpy
#include <ctime>      // clock_gettime (POSIX): thread CPU time
#include <string>
#include <vector>

#include "bench_machine.hpp"
#include <benchmark/benchmark.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>

namespace {

using kexue::tensor;

constexpr kexue::index_t large_n = 1 << 20;  // "1M floats": 4 MiB per array

/// Triad bandwidth of this machine for 4 MiB arrays (one thread), measured once in main() before the
/// benchmarks; the percentage counters of the 1M cases refer to it.
double g_triad_bytes_per_second = 0;

/// CPU time of this thread in seconds (the clock of Google Benchmark's "CPU" column).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Runs `body` as the timed loop of a 1M case moving `bytes_per_iteration` (bytes read + bytes written, the
/// STREAM convention: write-allocate traffic is counted for no case, raw loops included) and sets the
/// counters: bytes_per_second, and pct_of_triad = that rate in percent of the triad bandwidth measured at
/// start-up (both over CPU time).
template <class Body>
void run_bandwidth_case(benchmark::State& state, double bytes_per_iteration, Body body) {
  const double start = thread_cpu_seconds();
  for (auto _ : state) body();
  const double seconds = thread_cpu_seconds() - start;
  const double bytes = bytes_per_iteration * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  if (g_triad_bytes_per_second > 0 && seconds > 0) {
    state.counters["pct_of_triad"] = 100.0 * bytes / seconds / g_triad_bytes_per_second;
  }
}

tensor<float> tiny(float start) { return kexue::tensor<float>{start, start + 1, start + 2, start + 3}; }

tensor<float> large(std::uint64_t seed) {
  kexue::generator gen(seed);
  return kexue::rand<float>({large_n}, gen, -2.0f, 2.0f);
}

/// True if every element of `got` is within a relative 1e-5 of `expected(i)`: checked once per run,
/// outside the timed loop.
template <class F>
bool matches(const tensor<float>& got, F expected) {
  for (kexue::index_t i = 0; i < got.numel(); ++i) {
    const double e = expected(i);
    if (std::abs(got.data()[i] - e) > 1e-5 * (1 + std::abs(e))) return false;
  }
  return true;
}

// ~~~ Per-op overhead ~~~

/// The allocation floor: one 4-float tensor created and dropped.
void BM_empty_tiny(benchmark::State& state) {
  for (auto _ : state) {
    auto t = tensor<float>::empty({4});
    benchmark::DoNotOptimize(t.data());
  }
}
BENCHMARK(BM_empty_tiny);

/// add of two 4-float tensors that require no gradient (no node recorded).
void BM_add_tiny(benchmark::State& state) {
  const auto a = tiny(1), b = tiny(10);
  if (!matches(kexue::add(a, b), [](auto i) { return 11.0 + 2.0 * i; })) state.SkipWithError("wrong result");
  for (auto _ : state) {
    auto c = kexue::add(a, b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_add_tiny);

/// add of two 4-float tensors that require a gradient: the op records a graph node (freed with the output).
void BM_add_tiny_grad(benchmark::State& state) {
  auto a = tiny(1), b = tiny(10);
  a.requires_grad(true);
  b.requires_grad(true);
  if (!kexue::add(a, b).grad_fn()) state.SkipWithError("no node recorded");
  for (auto _ : state) {
    auto c = kexue::add(a, b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_add_tiny_grad);

/// The inputs of a 16x16 linear layer: x [16, 16] (no gradient), weight w [16, 16] and bias b [16].
struct linear16 {
  tensor<float> x = kexue::randn<float>({16, 16}, 1);
  tensor<float> w = kexue::randn<float>({16, 16}, 2).requires_grad(true);
  tensor<float> b = kexue::randn<float>({16}, 3).requires_grad(true);

  /// y = x wᵀ + b [16, 16]
  tensor<float> forward() const { return kexue::add(kexue::matmul(x, w, false, true), b); }
};

/// Forward only, with the graph recorded (and freed when y goes): two ops, two nodes.
void BM_linear16_forward(benchmark::State& state) {
  linear16 layer;
  for (auto _ : state) {
    auto y = layer.forward();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_linear16_forward);

/// y = x wᵀ + b, loss = sum(y), loss.backward(), then the gradients are cleared (set to none, as
/// PyTorch's zero_grad does by default).
void BM_linear16_forward_backward(benchmark::State& state) {
  linear16 layer;
  {
    kexue::sum(layer.forward()).backward();
    // d sum(x wᵀ + b)/d b = 16 for every element (one per row of x).
    if (!layer.b.grad().defined() || layer.b.grad().data()[0] != 16.0f) state.SkipWithError("wrong gradient");
    layer.w.zero_grad();
    layer.b.zero_grad();
  }
  for (auto _ : state) {
    auto loss = kexue::sum(layer.forward());
    loss.backward();
    benchmark::DoNotOptimize(layer.w.grad().data());
    layer.w.zero_grad();
    layer.b.zero_grad();
  }
}
BENCHMARK(BM_linear16_forward_backward);

// ~~~ Element-wise ops on 1M floats ~~~

/// One element-wise case on 1M floats: c = op(a, b) (unary ops ignore b), checked once against
/// reference(a[i], b[i]) in double, then timed. `arrays`: how many 1M arrays the op moves (read + written).
template <class Op, class Reference>
void elementwise_1m(benchmark::State& state, int arrays, Op op, Reference reference) {
  const auto a = large(1), b = large(2);
  if (!matches(op(a, b), [&](auto i) { return reference(double(a.data()[i]), double(b.data()[i])); })) {
    state.SkipWithError("wrong result");
  }
  run_bandwidth_case(state, double(arrays) * large_n * sizeof(float), [&] {
    auto c = op(a, b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  });
}

void BM_add_1M(benchmark::State& state) {  // read a, b; write c
  elementwise_1m(
      state, 3, [](const auto& a, const auto& b) { return kexue::add(a, b); },
      [](double x, double y) { return x + y; });
}
BENCHMARK(BM_add_1M);

void BM_mul_1M(benchmark::State& state) {
  elementwise_1m(
      state, 3, [](const auto& a, const auto& b) { return kexue::mul(a, b); },
      [](double x, double y) { return x * y; });
}
BENCHMARK(BM_mul_1M);

void BM_exp_1M(benchmark::State& state) {  // read a; write c
  elementwise_1m(
      state, 2, [](const auto& a, const auto&) { return kexue::exp(a); }, [](double x, double) { return std::exp(x); });
}
BENCHMARK(BM_exp_1M);

void BM_relu_1M(benchmark::State& state) {
  elementwise_1m(
      state, 2, [](const auto& a, const auto&) { return kexue::relu(a); },
      [](double x, double) { return std::max(0.0, x); });
}
BENCHMARK(BM_relu_1M);

void BM_sum_1M(benchmark::State& state) {
  const auto a = large(1);
  double expected = 0;
  for (kexue::index_t i = 0; i < large_n; ++i) expected += a.data()[i];
  if (std::abs(kexue::sum(a).item() - expected) > 1e-3 * large_n) state.SkipWithError("wrong result");
  run_bandwidth_case(state, 1.0 * large_n * sizeof(float), [&] {  // read a
    auto s = kexue::sum(a);
    benchmark::DoNotOptimize(s.data());
    benchmark::ClobberMemory();
  });
}
BENCHMARK(BM_sum_1M);

// ~~~ Bandwidth baselines: raw loops over the same sizes, preallocated output ~~~

void BM_copy_1M_memcpy(benchmark::State& state) {
  std::vector<float> src(large_n, 1.0f), dst(large_n);
  run_bandwidth_case(state, 2.0 * large_n * sizeof(float), [&] {
    std::memcpy(dst.data(), src.data(), large_n * sizeof(float));
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  });
}
BENCHMARK(BM_copy_1M_memcpy);

/// STREAM triad a = b + s·c, the raw-loop bandwidth the element-wise ops are measured against.
void BM_triad_1M(benchmark::State& state) {
  std::vector<float> a(large_n), b(large_n, 1.0f), c(large_n, 2.0f);
  const float s = 0.5f;
  run_bandwidth_case(state, 3.0 * large_n * sizeof(float), [&] {
    float* __restrict pa = a.data();
    const float* __restrict pb = b.data();
    const float* __restrict pc = c.data();
    for (kexue::index_t i = 0; i < large_n; ++i) pa[i] = pb[i] + s * pc[i];
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  });
}
BENCHMARK(BM_triad_1M);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("library", "kexue");
  kexue::bench::add_machine_context(1);
  g_triad_bytes_per_second = 1e9 * kexue::bench::measure_triad_gbs(large_n * sizeof(float), 1, 0.2);
  benchmark::AddCustomContext("triad_gbs_4MiB_1thread", std::to_string(g_triad_bytes_per_second * 1e-9));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
