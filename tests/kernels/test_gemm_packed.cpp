// SPDX-License-Identifier: MIT
// Tests of packed_b and gemm_packed (kernels/gemm.hpp): against gemm_reference on every tail, transpose,
// stride and scalar combination, bitwise against gemm, on 1 and 2 threads, the epilogue, and the errors.
#include <algorithm>  // std::fill
#include <cstdint>    // std::uint32_t
#include <limits>     // quiet_NaN, infinity
#include <vector>

#include "kernels/test_gemm_support.hpp"
#include <doctest/doctest.h>

#include <kexue/kernels/gemm.hpp>

#include "support/seed.hpp"

namespace {

using namespace kexue_gemm_test;

/// Packs B once, then runs gemm_packed; checked against gemm_reference (see check_case_with).
template <class T>
void check_packed_case(const gemm_case<T>& gc, const kk::gemm_epilogue<T>& epilogue = {}, bool use_bias = false) {
  check_case_with(gc, epilogue, use_bias, [&gc](gemm_operands<T>& ops, const kk::gemm_epilogue<T>& e) {
    const kk::packed_b<T> packed(gc.trans_b, gc.k, gc.n, ops.pb(), ops.ldb);
    CHECK(packed.k() == gc.k);
    CHECK(packed.n() == gc.n);
    kk::gemm_packed<T>(gc.trans_a, gc.m, gc.alpha, ops.pa(), ops.lda, packed, gc.beta, ops.pc(), ops.ldc, e);
  });
}

}  // namespace

TEST_SUITE("kernels.gemm") {
  TEST_CASE_TEMPLATE("gemm_packed matches the reference on tails of the tile and block sizes", T, float, double) {
    // m and n around the tile (mr up to 12, nr 16 or 32), depths crossing K blocks, every transpose.
    for (const gemm_case<T>& gc : gemm_tail_cases<T>({1, 5, 12, 13, 31, 33, 64, 65}, true)) check_packed_case(gc);
  }

  TEST_CASE_TEMPLATE("gemm_packed follows BLAS for alpha and beta and fuses the epilogue", T, float, double) {
    for (T alpha : {T(0), T(1), T(-2)}) {
      for (T beta : {T(0), T(1), T(0.25)}) {
        gemm_case<T> gc;
        gc.trans_b = alpha == T(1);
        gc.m = 37;
        gc.n = 45;
        gc.k = 29;
        gc.alpha = alpha;
        gc.beta = beta;
        check_packed_case(gc);
      }
    }
    kk::gemm_epilogue<T> relu;
    relu.activation = kk::gemm_activation::relu;
    gemm_case<T> gc;
    gc.m = 30;
    gc.n = 70;
    gc.k = kk::gemm_blocking_for<T>().kc + 9;  // ReLU and bias only on the last K block
    gc.beta = T(0.5);
    check_packed_case(gc, relu, true);
  }

  TEST_CASE_TEMPLATE("gemm_packed gives bitwise gemm's result, reusing one packing, on one and two threads", T, float,
                     double) {
    // 32 x 384 x 128 is a recurrent step (batch 32, 3 gates of 128); 301 x 259 x (2 kc + 5) crosses blocks
    // and is split across threads.
    struct shape3 {
      index_t m, n, k;
    };
    const index_t kc = kk::gemm_blocking_for<T>().kc;
    for (const shape3& s : {shape3{32, 384, 128}, shape3{301, 259, 2 * kc + 5}}) {
      for (bool trans_b : {false, true}) {
        gemm_case<T> gc;
        gc.trans_b = trans_b;
        gc.m = s.m;
        gc.n = s.n;
        gc.k = s.k;
        gc.beta = T(0.5);
        gemm_operands<T> ops(gc, static_cast<std::uint32_t>(kexue_test_seed()));
        // The packing is independent of B afterwards: B is overwritten before the products.
        const kk::packed_b<T> packed(gc.trans_b, gc.k, gc.n, ops.pb(), ops.ldb);
        const std::vector<T> b = ops.b;
        std::fill(ops.b.begin(), ops.b.end(), std::numeric_limits<T>::quiet_NaN());
        for (int threads : {1, 2}) {
          thread_count_guard guard(threads);
          CAPTURE(threads);
          CAPTURE(gc.m);
          CAPTURE(trans_b);
          std::vector<T> want = ops.c, got = ops.c;
          kk::gemm<T>(false, gc.trans_b, gc.m, gc.n, gc.k, T(1), ops.pa(), ops.lda, b.data(), ops.ldb, gc.beta,
                      want.data(), ops.ldc);
          for (int repeat = 0; repeat < 2; ++repeat) {
            got = ops.c;
            kk::gemm_packed<T>(false, gc.m, T(1), ops.pa(), ops.lda, packed, gc.beta, got.data(), ops.ldc);
            CHECK(got == want);
          }
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("gemm_packed ignores NaN in C for beta zero and propagates NaN and infinity from A", T, float,
                     double) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const T inf = std::numeric_limits<T>::infinity();
    const index_t m = 14, n = 35, k = 23;
    std::vector<T> a(m * k, T(1)), b(k * n, T(2)), c(m * n, nan);
    const kk::packed_b<T> packed(false, k, n, b.data(), n);
    kk::gemm_packed<T>(false, m, T(1), a.data(), k, packed, T(0), c.data(), n);
    bool all_46 = true;
    for (T x : c) all_46 = all_46 && x == T(2 * k);
    CHECK(all_46);
    // Row 3 of A holds a NaN, row 7 an infinity: only those rows of C change (NaN; +inf since B > 0).
    a[3 * k + 4] = nan;
    a[7 * k + 20] = inf;
    kk::gemm_packed<T>(false, m, T(1), a.data(), k, packed, T(0), c.data(), n);
    bool rows_ok = true;
    for (index_t i = 0; i < m; ++i) {
      for (index_t j = 0; j < n; ++j) {
        const T x = c[i * n + j];
        rows_ok = rows_ok && (i == 3 ? x != x : i == 7 ? x == inf : x == T(2 * k));
      }
    }
    CHECK(rows_ok);
  }

  TEST_CASE("packed_b and gemm_packed reject negative sizes and short strides, naming them") {
    std::vector<float> x(64, 1.0f);
    CHECK_THROWS_WITH_AS(kk::packed_b<float>(false, -1, 2, x.data(), 2), "packed_b: negative size (k -1, n 2)",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kk::packed_b<float>(true, 4, 3, x.data(), 3),
                         "packed_b: ldb 3 is smaller than the row length 4 of B (k 4, n 3, trans_b true)",
                         kexue::shape_error);
    const kk::packed_b<float> packed(false, 4, 3, x.data(), 3);
    CHECK_THROWS_WITH_AS(kk::gemm_packed<float>(false, -1, 1.0f, x.data(), 4, packed, 0.0f, x.data(), 3),
                         "gemm_packed: negative size (m -1, n 3, k 4)", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kk::gemm_packed<float>(false, 2, 1.0f, x.data(), 3, packed, 0.0f, x.data(), 3),
                         "gemm_packed: lda 3 is smaller than the row length 4 of A (m 2, k 4, trans_a false)",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kk::gemm_packed<float>(false, 2, 1.0f, x.data(), 4, packed, 0.0f, x.data(), 2),
                         "gemm_packed: ldc 2 is smaller than the row length 3 of C (m 2, n 3)", kexue::shape_error);
    // Empty operands are fine and touch nothing.
    const kk::packed_b<float> empty;
    CHECK(empty.k() == 0);
    kk::gemm_packed<float>(false, 0, 1.0f, nullptr, 1, empty, 0.0f, nullptr, 1);
    std::vector<float> c(6, 5.0f);
    const kk::packed_b<float> no_depth(false, 0, 3, nullptr, 3);
    kk::gemm_packed<float>(false, 2, 1.0f, nullptr, 1, no_depth, 2.0f, c.data(), 3);  // k = 0: C = beta C
    CHECK(c == std::vector<float>(6, 10.0f));
  }
}
