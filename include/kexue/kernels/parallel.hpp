// SPDX-License-Identifier: MIT
// Thread count control and a chunked parallel_for: OpenMP when the consumer compiles with it, inline otherwise.
#pragma once

#include <algorithm>  // std::min, std::max
#include <atomic>     // the thread-count setting
#include <exception>  // std::exception_ptr, carried out of the parallel region

#ifdef _OPENMP
#include <omp.h>
#endif

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>  // index_t

namespace kexue {

/// @brief Sets the number of threads kexue's parallel loops and the GEMM use from now on.
/// @param n at least 1; throws value_error otherwise. Without OpenMP the setting is stored but everything
///          runs on the calling thread. Does not change OpenMP's own global setting (omp_set_num_threads).
inline void set_num_threads(int n);

/// @brief The number of threads kexue's parallel loops use: the last set_num_threads value, or by default
///        omp_get_max_threads() (OMP_NUM_THREADS or the number of cores), or 1 without OpenMP.
inline int get_num_threads() noexcept;

/// @brief True when called from inside an active parallel region (then kexue's loops run inline).
inline bool in_parallel_region() noexcept;

/// @brief Calls `f(chunk_begin, chunk_end)` on disjoint contiguous chunks that cover [begin, end), in
///        parallel over up to get_num_threads() threads.
/// @param grain the smallest chunk worth a thread: the range is split into at most
///        ceil((end - begin) / grain) chunks, one per thread, of near-equal length (grain >= 1).
/// @details Runs inline as one call f(begin, end) when there is one chunk, when OpenMP is off, or when
///          already inside a parallel region (nested calls never oversubscribe). An exception thrown by f
///          on any thread is rethrown on the calling thread after all chunks finish (the first one caught).
///          Does nothing when end <= begin.
///          On a machine with more runnable threads than cores, GNU OpenMP's default of spinning at the
///          join can cost milliseconds per region (the thread it waits for is not running); there, run with
///          OMP_WAIT_POLICY=passive.
template <class F>
void parallel_for(index_t begin, index_t end, index_t grain, F&& f);

// ~~~ implementation ~~~

namespace detail {

/// 0 means "not set": get_num_threads() then asks OpenMP.
inline std::atomic<int> requested_threads{0};

}  // namespace detail

inline void set_num_threads(int n) {
  KEXUE_CHECK(n >= 1, value_error, "set_num_threads", "the number of threads must be at least 1, got ", n);
  detail::requested_threads.store(n, std::memory_order_relaxed);
}

inline int get_num_threads() noexcept {
  const int n = detail::requested_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

inline bool in_parallel_region() noexcept {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

template <class F>
void parallel_for(index_t begin, index_t end, index_t grain, F&& f) {
  if (end <= begin) return;
  const index_t length = end - begin;
  grain = std::max<index_t>(grain, 1);
  const index_t max_chunks = (length + grain - 1) / grain;
  const int threads = static_cast<int>(std::min<index_t>(get_num_threads(), max_chunks));
  if (threads <= 1 || in_parallel_region()) {
    f(begin, end);
    return;
  }
#ifdef _OPENMP
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    // OpenMP may give fewer threads than asked (OMP_THREAD_LIMIT, dynamic adjustment): split by the real count.
    const index_t team = omp_get_num_threads();
    const index_t t = omp_get_thread_num();
    const index_t chunk_begin = begin + length * t / team;
    const index_t chunk_end = begin + length * (t + 1) / team;
    if (chunk_begin < chunk_end) {
      try {
        f(chunk_begin, chunk_end);
      } catch (...) {
#pragma omp critical(kexue_parallel_for_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
#else
  f(begin, end);
#endif
}

}  // namespace kexue
