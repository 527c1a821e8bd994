// SPDX-License-Identifier: MIT
// SGEMM C = A B (row-major, fp32): kexue's kernel (and its pre-packed-B entry) against its scalar twin, Eigen,
// OpenBLAS and oneDNN, on 1 and 2 threads, in GFLOP/s and in percent of the FMA peak measured at start-up.
//
//   bench_gemm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//              --benchmark_enable_random_interleaving=true --benchmark_out=gemm.json
//   python3 bench/torch_gemm.py --kexue-json gemm.json     # adds PyTorch and prints the ratio table
#include <algorithm>  // std::max, std::min
#include <cmath>      // std::abs
#include <cstdint>    // std::uint32_t
#include <cstdio>     // std::printf
#include <random>     // std::mt19937
#include <string>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>
#ifdef KEXUE_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef KEXUE_BENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench_machine.hpp"

#include <kexue/core/allocator.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/kernels/parallel.hpp>

namespace {

using kexue::index_t;

/// Single-core float FMA peak measured in main(), GFLOP/s.
double g_peak_gflops = 0;

/// A, B, C for one shape, 64-byte aligned (from kexue's allocator, the same for every library), filled with
/// uniform values in [-1, 1).
struct gemm_problem {
  index_t m, n, k;
  float* a;
  float* b;
  float* c;

  gemm_problem(index_t m_, index_t n_, index_t k_) : m(m_), n(n_), k(k_) {
    a = allocate(m * k);
    b = allocate(k * n);
    c = allocate(m * n);
    std::mt19937 gen(42);
    for (index_t i = 0; i < m * k; ++i) a[i] = float(gen() >> 8) * (2.0f / 16777216.0f) - 1.0f;
    for (index_t i = 0; i < k * n; ++i) b[i] = float(gen() >> 8) * (2.0f / 16777216.0f) - 1.0f;
    for (index_t i = 0; i < m * n; ++i) c[i] = 0.0f;
  }
  ~gemm_problem() {
    kexue::deallocate_bytes(a, bytes(m * k));
    kexue::deallocate_bytes(b, bytes(k * n));
    kexue::deallocate_bytes(c, bytes(m * n));
  }
  gemm_problem(const gemm_problem&) = delete;
  gemm_problem& operator=(const gemm_problem&) = delete;

  static std::size_t bytes(index_t count) { return static_cast<std::size_t>(count) * sizeof(float); }
  static float* allocate(index_t count) { return static_cast<float*>(kexue::allocate_bytes(bytes(count))); }

  /// Largest error of C at 64 sampled elements, relative to sum |a||b| of that element (double dot products):
  /// an independent check of whichever library wrote C. Float sums of k terms stay well below k * 2^-23.
  double sampled_error() const {
    std::mt19937 gen(7);
    double worst = 0;
    for (int s = 0; s < 64; ++s) {
      const index_t i = static_cast<index_t>(gen() % static_cast<std::uint32_t>(m));
      const index_t j = static_cast<index_t>(gen() % static_cast<std::uint32_t>(n));
      double sum = 0, magnitude = 0;
      for (index_t p = 0; p < k; ++p) {
        sum += double(a[i * k + p]) * double(b[p * n + j]);
        magnitude += std::abs(double(a[i * k + p]) * double(b[p * n + j]));
      }
      worst = std::max(worst, std::abs(double(c[i * n + j]) - sum) / magnitude);
    }
    return worst;
  }
};

/// Sets up the counters every variant reports, and checks the result of one untimed run.
void finish(benchmark::State& state, const gemm_problem& p, int threads) {
  const double flops = 2.0 * double(p.m) * double(p.n) * double(p.k);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  // Percent of `threads` times the one-core peak: the silicon's limit for this many cores.
  state.counters["pct_peak"] = benchmark::Counter(flops * 1e-9 * 100.0 / (g_peak_gflops * threads),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
}

bool check_once(benchmark::State& state, const gemm_problem& p) {
  const double error = p.sampled_error();
  if (!(error < 1e-5)) {
    state.SkipWithError(("wrong result: relative error " + std::to_string(error)).c_str());
    return false;
  }
  return true;
}

int threads_of(const benchmark::State& state) { return static_cast<int>(state.range(3)); }

void BM_gemm_kernel(benchmark::State& state) {
  gemm_problem p(state.range(0), state.range(1), state.range(2));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  auto run = [&] {
    kexue::kernels::gemm<float>(false, false, p.m, p.n, p.k, 1.0f, p.a, p.k, p.b, p.n, 0.0f, p.c, p.n);
  };
  run();
  if (!check_once(state, p)) return;
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(p.c);
    benchmark::ClobberMemory();
  }
  finish(state, p, threads);
}

/// kernels::gemm_packed with B packed once before the timed loop (as a layer's weights would be): the
/// product without the packing of B that every gemm call does.
void BM_gemm_packed(benchmark::State& state) {
  gemm_problem p(state.range(0), state.range(1), state.range(2));
  const int threads = threads_of(state);
  kexue::set_num_threads(threads);
  const kexue::kernels::packed_b<float> packed(false, p.k, p.n, p.b, p.n);
  auto run = [&] { kexue::kernels::gemm_packed<float>(false, p.m, 1.0f, p.a, p.k, packed, 0.0f, p.c, p.n); };
  run();
  if (!check_once(state, p)) return;
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(p.c);
    benchmark::ClobberMemory();
  }
  finish(state, p, threads);
}

void BM_gemm_reference(benchmark::State& state) {
  gemm_problem p(state.range(0), state.range(1), state.range(2));
  auto run = [&] {
    kexue::kernels::gemm_reference<float>(false, false, p.m, p.n, p.k, 1.0f, p.a, p.k, p.b, p.n, 0.0f, p.c, p.n);
  };
  run();
  if (!check_once(state, p)) return;
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(p.c);
    benchmark::ClobberMemory();
  }
  finish(state, p, 1);
}

void BM_gemm_eigen(benchmark::State& state) {
  gemm_problem p(state.range(0), state.range(1), state.range(2));
  const int threads = threads_of(state);
  Eigen::setNbThreads(threads);
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const matrix, Eigen::Aligned64> a(p.a, p.m, p.k), b(p.b, p.k, p.n);
  Eigen::Map<matrix, Eigen::Aligned64> c(p.c, p.m, p.n);
  auto run = [&] { c.noalias() = a * b; };
  run();
  if (!check_once(state, p)) return;
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(p.c);
    benchmark::ClobberMemory();
  }
  finish(state, p, threads);
}

#ifdef KEXUE_BENCH_HAVE_OPENBLAS
void BM_gemm_openblas(benchmark::State& state) {
  gemm_problem p(state.range(0), state.range(1), state.range(2));
  const int threads = threads_of(state);
  openblas_set_num_threads(threads);
  const int m = static_cast<int>(p.m), n = static_cast<int>(p.n), k = static_cast<int>(p.k);
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, p.a, k, p.b, n, 0.0f, p.c, n);
  };
  run();
  if (!check_once(state, p)) return;
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(p.c);
    benchmark::ClobberMemory();
  }
  finish(state, p, threads);
}
#endif

#ifdef KEXUE_BENCH_HAVE_DNNL
void BM_gemm_dnnl(benchmark::State& state) {
  gemm_problem p(state.range(0), state.range(1), state.range(2));
  const int threads = threads_of(state);
#ifdef _OPENMP
  omp_set_num_threads(threads);  // oneDNN (Debian's build) runs on the OpenMP runtime
#endif
  auto run = [&] {
    dnnl_sgemm('N', 'N', p.m, p.n, p.k, 1.0f, p.a, p.k, p.b, p.n, 0.0f, p.c, p.n);  // row-major, like ours
  };
  run();
  if (!check_once(state, p)) return;
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(p.c);
    benchmark::ClobberMemory();
  }
  finish(state, p, threads);
#ifdef _OPENMP
  omp_set_num_threads(kexue::get_num_threads());
#endif
}
#endif

/// The shapes: cubes where blocking strategies change, and transformer-layer shapes
/// (tokens x d_model x d_model, attention scores, a narrow output, the MLP up-projection).
const std::vector<std::vector<int64_t>> shapes = {
    {32, 32, 32},       {64, 64, 64},     {128, 128, 128}, {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
    {2048, 2048, 2048}, {4096, 768, 768}, {512, 512, 64},  {512, 64, 512},  {128, 3072, 768}};

/// Registers `fn` over the shapes (those up to max_cube^3 multiply-adds) for 1 .. max_threads threads. One
/// thread is timed in thread CPU time, which other processes on a shared machine do not inflate; more
/// threads in wall-clock time, the only meaningful clock for work spread over threads.
void register_grid(const char* name, void (*fn)(benchmark::State&), int max_threads, int64_t max_cube) {
  for (int threads = 1; threads <= max_threads; ++threads) {
    auto* b = benchmark::RegisterBenchmark(name, fn);
    b->ArgNames({"m", "n", "k", "threads"})->Unit(benchmark::kMicrosecond);
    if (threads > 1) b->UseRealTime();
    // With repetitions, also the best repetition (the "max" aggregate of GFLOPS): on a shared machine
    // the median of several threads' wall time mostly measures the other processes.
    b->ComputeStatistics("max", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
    for (const auto& s : shapes) {
      if (s[0] * s[1] * s[2] <= max_cube * max_cube * max_cube) b->Args({s[0], s[1], s[2], threads});
    }
  }
}

void register_all(int max_threads) {
  register_grid("BM_gemm_kernel", BM_gemm_kernel, max_threads, 4096);
  register_grid("BM_gemm_packed", BM_gemm_packed, max_threads, 4096);
  register_grid("BM_gemm_reference", BM_gemm_reference, 1, 128);
  register_grid("BM_gemm_eigen", BM_gemm_eigen, max_threads, 4096);
#ifdef KEXUE_BENCH_HAVE_OPENBLAS
  register_grid("BM_gemm_openblas", BM_gemm_openblas, max_threads, 4096);
#endif
#ifdef KEXUE_BENCH_HAVE_DNNL
  register_grid("BM_gemm_dnnl", BM_gemm_dnnl, max_threads, 4096);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Threads: 1 and 2 (the machine has two cores), capped by what OpenMP offers.
  const int max_threads = std::min(2, kexue::get_num_threads());
  g_peak_gflops = kexue::bench::add_machine_context(max_threads);
#ifdef KEXUE_BENCH_BUILD_INFO
  benchmark::AddCustomContext("kexue_build_flags", KEXUE_BENCH_BUILD_INFO);
#endif
  const auto& blocking = kexue::kernels::gemm_blocking_for<float>();
  using config = kexue::kernels::detail::gemm_config<float>;
  benchmark::AddCustomContext("kexue_gemm_tile", std::to_string(config::mr) + "x" + std::to_string(config::nr) +
                                                     " mc " + std::to_string(blocking.mc) + " kc " +
                                                     std::to_string(blocking.kc) + " nc " +
                                                     std::to_string(blocking.nc));
#ifdef KEXUE_BENCH_HAVE_OPENBLAS
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
#endif
  register_all(max_threads);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
