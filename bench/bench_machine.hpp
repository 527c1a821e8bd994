// SPDX-License-Identifier: MIT
// Machine measurements shared by the benchmark binaries: FMA peak, memory bandwidth, build description.
#pragma once

#include <algorithm>  // std::max, std::min
#include <chrono>     // timing
#include <cstddef>    // std::size_t
#include <cstdio>     // std::snprintf
#include <cstring>    // std::memcpy
#include <ctime>      // clock_gettime: thread CPU time
#include <new>        // aligned operator new
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <benchmark/benchmark.h>

#include <kexue/config.hpp>
#include <kexue/kernels/simd.hpp>

namespace kexue::bench {

/// @brief Floating-point operations per second one thread reaches with independent FMA chains held in
///        registers (no memory traffic): the arithmetic peak of one core for T, in GFLOP/s (an FMA counts 2).
/// @param seconds how long to measure, in thread CPU time; the best of 5 rounds is returned.
template <class T>
double measure_peak_fma_gflops(double seconds = 0.1);

/// @brief The same FMA loop on `threads` threads at once (OpenMP; one thread without it): total GFLOP/s over
///        wall-clock time, so it is only meaningful when the machine is otherwise idle.
template <class T>
double measure_peak_fma_gflops_threads(int threads, double seconds = 0.1);

/// @brief STREAM-style triad a[i] = b[i] + s c[i] over three float arrays of `bytes_per_array` bytes each,
///        on `threads` threads: GB/s counting 3 arrays moved per pass (read b, c; write a). Choose the size to
///        select the level: ~1/4 of L2 for L2, a few times L3 for DRAM.
inline double measure_triad_gbs(std::size_t bytes_per_array, int threads = 1, double seconds = 0.1);

/// @brief Compiler, optimisation and instruction-set flags this translation unit was built with.
inline std::string build_description();

/// @brief Adds arch, flags, and the measured single-core and all-thread FMA peaks (float) to the benchmark
///        context (printed in the console header and stored in the JSON "context"). Returns the one-core peak.
inline double add_machine_context(int threads);

// ~~~ implementation ~~~

namespace detail {

/// CPU time of the calling thread in seconds: on a shared machine it counts only the time the thread ran,
/// so a one-thread measurement is not diluted by other processes. Wall clock where unavailable.
inline double thread_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

template <class T>
struct fma_chain_ops {
#if KEXUE_USE_XSIMD
  using reg = simd::batch<T>;
  static constexpr int lanes = static_cast<int>(reg::size);
  // Enough independent chains to cover FMA latency x ports (4 x 2) with room to spare, within the register file.
  static constexpr int chains = sizeof(reg) >= 64 ? 24 : 12;
  static reg fma(const reg& x, const reg& y, const reg& z) { return xsimd::fma(x, y, z); }
  static T first(const reg& x) {
    alignas(64) T out[reg::size];
    x.store_aligned(out);
    return out[0];
  }
#else
  using reg = T;
  static constexpr int lanes = 1;
  static constexpr int chains = 12;
  static reg fma(const reg& x, const reg& y, const reg& z) { return x * y + z; }
  static T first(const reg& x) { return x; }
#endif
};

/// Runs `iterations` rounds of `chains` independent FMAs; returns a value depending on every chain.
template <class T>
__attribute__((noinline)) T fma_chains(long iterations) {
  using ops = fma_chain_ops<T>;
  using reg = typename ops::reg;
  // Start values the compiler cannot see: a chain starting at the fixed point 1.0 would be folded away.
  T start = T(1.5);
  benchmark::DoNotOptimize(start);
  reg acc[ops::chains];
#pragma GCC unroll 32
  for (int c = 0; c < ops::chains; ++c) acc[c] = reg(start + T(c) * T(1e-3));
  // x -> 0.999999 x + 1e-6 stays in [1, 1.6]: no overflow, no denormals.
  const reg scale(T(0.999999)), shift(T(1e-6));
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 32
    for (int c = 0; c < ops::chains; ++c) acc[c] = ops::fma(acc[c], scale, shift);
  }
  T sum = 0;
  for (int c = 0; c < ops::chains; ++c) sum += ops::first(acc[c]);
  return sum;
}

template <class T>
double fma_round_gflops(long iterations) {
  using ops = fma_chain_ops<T>;
  const double start = thread_seconds();
  T sink = fma_chains<T>(iterations);
  const double elapsed = thread_seconds() - start;
  benchmark::DoNotOptimize(sink);
  return 2.0 * ops::lanes * ops::chains * double(iterations) / elapsed * 1e-9;
}

/// Iterations of the FMA loop that take about `seconds` on one thread.
template <class T>
long fma_iterations_for(double seconds) {
  long iterations = 1 << 16;
  for (;;) {
    const double start = thread_seconds();
    T sink = fma_chains<T>(iterations);
    benchmark::DoNotOptimize(sink);
    const double elapsed = thread_seconds() - start;
    if (elapsed > seconds / 8 || iterations > (1L << 40)) return static_cast<long>(iterations * seconds / elapsed);
    iterations *= 4;
  }
}

}  // namespace detail

template <class T>
double measure_peak_fma_gflops(double seconds) {
  const long iterations = detail::fma_iterations_for<T>(seconds);
  double best = 0;
  for (int round = 0; round < 5; ++round) best = std::max(best, detail::fma_round_gflops<T>(iterations));
  return best;
}

template <class T>
double measure_peak_fma_gflops_threads(int threads, double seconds) {
#ifdef _OPENMP
  const long iterations = detail::fma_iterations_for<T>(seconds);
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      T sink = detail::fma_chains<T>(iterations);
      benchmark::DoNotOptimize(sink);
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    using ops = detail::fma_chain_ops<T>;
    best = std::max(best, 2.0 * ops::lanes * ops::chains * double(iterations) * threads / elapsed * 1e-9);
  }
  return best;
#else
  (void)threads;
  return measure_peak_fma_gflops<T>(seconds);
#endif
}

inline double measure_triad_gbs(std::size_t bytes_per_array, int threads, double seconds) {
  const std::size_t n = std::max<std::size_t>(bytes_per_array / sizeof(float), 1024);
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const float s = 0.5f;
  auto pass = [&] {
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) a[i] = b[i] + s * c[i];
    benchmark::ClobberMemory();
  };
  (void)threads;
  pass();  // first touch
  double best = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int passes = 0;
  do {
    const auto start = std::chrono::steady_clock::now();
    pass();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 3.0 * double(n) * sizeof(float) / elapsed * 1e-9);
    ++passes;
  } while (passes < 3 || std::chrono::steady_clock::now() < deadline);
  benchmark::DoNotOptimize(a.data());
  return best;
}

inline std::string build_description() {
  std::string flags;
#if defined(__clang__)
  flags += "clang " __clang_version__;
#elif defined(__GNUC__)
  flags += "g++ " __VERSION__;
#endif
#ifdef __OPTIMIZE__
  flags += " optimized";
#endif
#ifdef NDEBUG
  flags += " NDEBUG";
#endif
#ifdef __AVX512F__
  flags += " avx512f";
#endif
#ifdef __AVX512BW__
  flags += " avx512bw";
#endif
#ifdef __AVX2__
  flags += " avx2";
#endif
#ifdef __FMA__
  flags += " fma";
#endif
#ifdef _OPENMP
  flags += " openmp";
#endif
  flags += KEXUE_USE_XSIMD ? " xsimd" : " scalar";
  return flags;
}

inline double add_machine_context(int threads) {
  char text[64];
  const double one = measure_peak_fma_gflops<float>();
  benchmark::AddCustomContext("kexue_simd_arch", simd::arch_name());
  benchmark::AddCustomContext("kexue_build", build_description());
  std::snprintf(text, sizeof text, "%.1f", one);
  benchmark::AddCustomContext("peak_fma_gflops_1thread", text);
  if (threads > 1) {
    std::snprintf(text, sizeof text, "%.1f", measure_peak_fma_gflops_threads<float>(threads));
    benchmark::AddCustomContext("peak_fma_gflops_" + std::to_string(threads) + "threads", text);
  }
  return one;
}

}  // namespace kexue::bench
