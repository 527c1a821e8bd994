// SPDX-License-Identifier: MIT
// Elementwise exp, log, tanh, sigmoid, gelu (erf and tanh forms) over 64K floats (L2-resident): kexue's
// vectorised kernels against their std:: scalar twins and Eigen's array functions, in Gelem/s, one thread.
//
//   bench_vector_math --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <cmath>   // std::erf, std::tanh
#include <random>  // std::mt19937
#include <vector>

#include "bench_machine.hpp"
#include <Eigen/Core>
#include <benchmark/benchmark.h>
#include <unsupported/Eigen/SpecialFunctions>  // Array::erf

#include <kexue/kernels/vector_math.hpp>

namespace {

using kexue::index_t;
constexpr index_t n = 1 << 16;

/// Inputs where each function does real work: [-10, 10] (log: (0, 20]).
std::vector<float> inputs(bool positive) {
  std::mt19937 gen(42);
  std::uniform_real_distribution<float> dist(positive ? 1e-3f : -10.0f, positive ? 20.0f : 10.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(gen);
  return x;
}

template <class F>
void run(benchmark::State& state, bool positive, F f) {
  const std::vector<float> x = inputs(positive);
  std::vector<float> y(n);
  for (auto _ : state) {
    f(x.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["Gelem_s"] = benchmark::Counter(double(n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

using array = Eigen::Array<float, Eigen::Dynamic, 1>;
using map = Eigen::Map<array>;
using const_map = Eigen::Map<const array>;

#define KEXUE_BENCH_VMATH(name, positive, eigen_expr)                                                              \
  void BM_##name##_kernel(benchmark::State& state) { run(state, positive, kexue::v##name<float>); }                \
  void BM_##name##_reference(benchmark::State& state) { run(state, positive, kexue::v##name##_reference<float>); } \
  void BM_##name##_eigen(benchmark::State& state) {                                                                \
    run(state, positive, [](const float* px, float* py, index_t count) {                                           \
      const_map x(px, count);                                                                                      \
      map(py, count) = eigen_expr;                                                                                 \
    });                                                                                                            \
  }                                                                                                                \
  BENCHMARK(BM_##name##_kernel);                                                                                   \
  BENCHMARK(BM_##name##_reference);                                                                                \
  BENCHMARK(BM_##name##_eigen);

KEXUE_BENCH_VMATH(exp, false, x.exp())
KEXUE_BENCH_VMATH(log, true, x.log())
KEXUE_BENCH_VMATH(tanh, false, x.tanh())
KEXUE_BENCH_VMATH(sigmoid, false, 1.0f / (1.0f + (-x).exp()))
KEXUE_BENCH_VMATH(gelu, false, 0.5f * x * (1.0f + (x * 0.70710678f).erf()))
KEXUE_BENCH_VMATH(gelu_tanh, false, 0.5f * x * (1.0f + (0.79788456f * (x + 0.044715f * x.cube())).tanh()))

#undef KEXUE_BENCH_VMATH

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  kexue::bench::add_machine_context(1);
#ifdef KEXUE_BENCH_BUILD_INFO
  benchmark::AddCustomContext("kexue_build_flags", KEXUE_BENCH_BUILD_INFO);
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
