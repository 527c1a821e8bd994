// SPDX-License-Identifier: MIT
// Shared by the gemm tests: test cases, seeded operands and the comparison with gemm_reference under a
// rounding-error bound.
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::abs
#include <cstdint>    // std::uint32_t
#include <limits>     // epsilon, min
#include <random>     // std::mt19937
#include <vector>

#include <doctest/doctest.h>

#include <kexue/kernels/gemm.hpp>

#include "support/seed.hpp"

namespace kexue_gemm_test {

using kexue::index_t;
namespace kk = kexue::kernels;

struct thread_count_guard {
  explicit thread_count_guard(int n) : saved_(kexue::get_num_threads()) { kexue::set_num_threads(n); }
  ~thread_count_guard() { kexue::set_num_threads(saved_); }
  thread_count_guard(const thread_count_guard&) = delete;
  thread_count_guard& operator=(const thread_count_guard&) = delete;

 private:
  int saved_;
};

/// One call of gemm: sizes, transposes, scalars, and how the operands are laid out in memory.
template <class T>
struct gemm_case {
  bool trans_a = false;
  bool trans_b = false;
  index_t m = 1, n = 1, k = 1;
  T alpha = T(1);
  T beta = T(0);
  index_t pad = 0;        ///< extra elements per row of A, B and C beyond the minimum stride
  index_t offset = 0;     ///< operands start this many elements into their buffers (1: misaligned)
  bool integers = false;  ///< small integers: every product and sum is exact, so results must match exactly
};

/// Operands of a gemm_case, filled from a seeded generator. C holds the same start values for both runs.
template <class T>
struct gemm_operands {
  index_t lda, ldb, ldc;
  std::vector<T> a, b, c, c_ref, bias;

  gemm_operands(const gemm_case<T>& gc, std::uint32_t seed) : offset_(gc.offset) {
    lda = (gc.trans_a ? gc.m : gc.k) + gc.pad;
    ldb = (gc.trans_b ? gc.k : gc.n) + gc.pad;
    ldc = gc.n + gc.pad;
    std::mt19937 gen(seed);
    auto draw = [&] {
      if (gc.integers) return T(static_cast<int>(gen() % 9) - 4);                      // -4..4
      return T(2) * T(gen() >> 8) * T(1.0 / 16777216.0) - T(1) + T(1.0 / 16777216.0);  // (-1, 1), never 0
    };
    auto fill = [&](std::vector<T>& v, index_t count) {
      v.resize(static_cast<std::size_t>(count + gc.offset));
      for (auto& x : v) x = draw();
    };
    fill(a, (gc.trans_a ? gc.k : gc.m) * lda);
    fill(b, (gc.trans_b ? gc.n : gc.k) * ldb);
    fill(c, gc.m * ldc);
    fill(bias, gc.n);
    c_ref = c;
  }
  const T* pa() const { return a.data() + offset_; }
  const T* pb() const { return b.data() + offset_; }
  T* pc() { return c.data() + offset_; }
  T* pc_ref() { return c_ref.data() + offset_; }
  index_t offset_;
};

/// Largest |c - c_ref| divided by the error bound of that element, over C. A value <= 1 passes.
/// Bound: each of the two results is a sum of k products, whose rounding error is at most
/// gamma_k = k u sum_p |a_ip b_pj| (u = epsilon / 2; Higham, Accuracy and Stability, §3.1) plus the
/// roundings of the alpha, beta and bias terms; so the two differ by at most
/// (k + 3) epsilon (|alpha| sum |a||b| + |beta c| + |bias|). Random data stays far below it, while a
/// missing or doubled product (about sum |a||b| / k) stays above it for every k used here.
template <class T>
double worst_error_ratio(const gemm_case<T>& gc, gemm_operands<T>& ops, const std::vector<T>& c_start, const T* bias) {
  const double eps = std::numeric_limits<T>::epsilon();
  double worst = 0;
  for (index_t i = 0; i < gc.m; ++i) {
    for (index_t j = 0; j < gc.n; ++j) {
      double magnitude = 0;
      for (index_t p = 0; p < gc.k; ++p) {
        const T x = gc.trans_a ? ops.pa()[p * ops.lda + i] : ops.pa()[i * ops.lda + p];
        const T y = gc.trans_b ? ops.pb()[j * ops.ldb + p] : ops.pb()[p * ops.ldb + j];
        magnitude += std::abs(double(x) * double(y));
      }
      const std::size_t at = static_cast<std::size_t>(gc.offset + i * ops.ldc + j);
      magnitude = std::abs(double(gc.alpha)) * magnitude;
      if (gc.beta != T(0)) magnitude += std::abs(double(gc.beta) * double(c_start[at]));
      if (bias) magnitude += std::abs(double(bias[j]));
      const double bound = double(gc.k + 3) * eps * magnitude + double(std::numeric_limits<T>::min());
      const double diff = std::abs(double(ops.c[at]) - double(ops.c_ref[at]));
      if (gc.integers) {
        worst = std::max(worst, diff == 0 ? 0.0 : 2.0);
      } else {
        worst = std::max(worst, diff / bound);
      }
    }
  }
  return worst;
}

/// Runs `run(ops, epilogue)` (which must write the product into ops.pc()) and gemm_reference on one case and
/// checks C agrees everywhere, and that `run` wrote nothing outside the m x n window of C (padding and the
/// offset gap keep their start values).
template <class T, class Run>
void check_case_with(const gemm_case<T>& gc, const kk::gemm_epilogue<T>& epilogue_in, bool use_bias, Run run) {
  const std::uint32_t seed = static_cast<std::uint32_t>(kexue_test_seed() + gc.m * 131 + gc.n * 17 + gc.k);
  gemm_operands<T> ops(gc, seed);
  kk::gemm_epilogue<T> epilogue = epilogue_in;
  if (use_bias) epilogue.bias = ops.bias.data();
  const std::vector<T> c_start = ops.c;
  CAPTURE(gc.trans_a);
  CAPTURE(gc.trans_b);
  CAPTURE(gc.m);
  CAPTURE(gc.n);
  CAPTURE(gc.k);
  CAPTURE(gc.alpha);
  CAPTURE(gc.beta);
  CAPTURE(gc.pad);
  CAPTURE(gc.offset);
  run(ops, epilogue);
  kk::gemm_reference<T>(gc.trans_a, gc.trans_b, gc.m, gc.n, gc.k, gc.alpha, ops.pa(), ops.lda, ops.pb(), ops.ldb,
                        gc.beta, ops.pc_ref(), ops.ldc, epilogue);
  CHECK(worst_error_ratio(gc, ops, c_start, epilogue.bias) <= 1.0);
  bool outside_untouched = true;
  for (std::size_t at = 0; at < ops.c.size(); ++at) {
    const index_t rel = static_cast<index_t>(at) - gc.offset;
    const bool inside = rel >= 0 && rel % ops.ldc < gc.n && rel / ops.ldc < gc.m;
    if (!inside && !(ops.c[at] == c_start[at])) outside_untouched = false;
  }
  CHECK(outside_untouched);
}

/// @brief Sampled combinations around the tile and block sizes: every (m, n) of `sizes` x `sizes`, the depth
///        cycling through {1, 17, 64, kc - 1, kc + 1, 2 kc + 3} (crossing a K block for a third of them), all
///        four transposes, padded strides, a misaligned start, alpha 0.75 (or 1 every fifth case when
///        `vary_alpha`) and beta 0 or -1.5.
template <class T>
std::vector<gemm_case<T>> gemm_tail_cases(const std::vector<index_t>& sizes, bool vary_alpha) {
  const index_t kc = kk::gemm_blocking_for<T>().kc;
  const std::vector<index_t> depths = {1, 17, 64, kc - 1, kc + 1, 2 * kc + 3};
  std::vector<gemm_case<T>> cases;
  int counter = 0;
  for (index_t m : sizes) {
    for (index_t n : sizes) {
      gemm_case<T> gc;
      gc.trans_a = counter & 1;
      gc.trans_b = (counter >> 1) & 1;
      gc.m = m;
      gc.n = n;
      gc.k = depths[static_cast<std::size_t>(counter) % depths.size()];
      gc.pad = counter % 3 == 0 ? 5 : 0;
      gc.offset = counter % 4 == 1 ? 1 : 0;
      gc.alpha = vary_alpha && counter % 5 == 0 ? T(1) : T(0.75);
      gc.beta = counter % 2 ? T(0) : T(-1.5);
      ++counter;
      cases.push_back(gc);
    }
  }
  return cases;
}

}  // namespace kexue_gemm_test
