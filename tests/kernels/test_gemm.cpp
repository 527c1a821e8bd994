// SPDX-License-Identifier: MIT
// Tests of kernels/gemm.hpp against its scalar twin gemm_reference: every tail, transpose, stride and
// scalar combination, non-finite values, the batched entry, the fused epilogue, and 1 and 2 threads.
#include <algorithm>  // std::max
#include <cmath>      // std::abs, std::isnan, std::isinf
#include <cstdint>    // std::uint32_t
#include <limits>     // quiet_NaN, infinity, epsilon
#include <random>     // std::mt19937
#include <vector>

#include "kernels/test_gemm_support.hpp"
#include <doctest/doctest.h>

#include <kexue/kernels/gemm.hpp>

#include "support/seed.hpp"

namespace {

using namespace kexue_gemm_test;

/// Runs gemm and gemm_reference on one case (see check_case_with).
template <class T>
void check_case(const gemm_case<T>& gc, const kk::gemm_epilogue<T>& epilogue = {}, bool use_bias = false) {
  check_case_with(gc, epilogue, use_bias, [&gc](gemm_operands<T>& ops, const kk::gemm_epilogue<T>& e) {
    kk::gemm<T>(gc.trans_a, gc.trans_b, gc.m, gc.n, gc.k, gc.alpha, ops.pa(), ops.lda, ops.pb(), ops.ldb, gc.beta,
                ops.pc(), ops.ldc, e);
  });
}

/// Sizes around every multiple of the register tile and the cache blocks of the build being tested.
const std::vector<index_t> small_sizes = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
const std::vector<index_t> edge_sizes = {31, 32, 33, 63, 64, 65, 127, 128, 129};

}  // namespace

TEST_SUITE("kernels.gemm") {
  TEST_CASE_TEMPLATE("gemm matches the reference exactly on small integer matrices of every small size", T, float,
                     double) {
    // Integers: every product and partial sum is exact, so any indexing or tail error shows as a mismatch.
    const std::vector<index_t> depths = {1, 2, 3, 7, 16, 17, 33};
    int counter = 0;
    for (int trans = 0; trans < 4; ++trans) {
      for (index_t m : small_sizes) {
        for (index_t n : small_sizes) {
          gemm_case<T> gc;
          gc.trans_a = trans & 1;
          gc.trans_b = trans & 2;
          gc.m = m;
          gc.n = n;
          gc.k = depths[static_cast<std::size_t>(counter++) % depths.size()];
          gc.integers = true;
          gc.alpha = T(2);
          gc.beta = T(-1);
          check_case(gc);
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("gemm matches the reference on tails of the tile and block sizes", T, float, double) {
    for (const gemm_case<T>& gc : gemm_tail_cases<T>(edge_sizes, false)) check_case(gc);
  }

  TEST_CASE_TEMPLATE("gemm matches the reference on large products on one and two threads", T, float, double) {
    struct shape3 {
      index_t m, n, k;
    };
    // About 4M multiply-adds at most, so that the suite stays fast under AddressSanitizer at -O0.
    const std::vector<shape3> shapes = {{255, 257, 64}, {1000, 33, 129}, {65, 1000, 63}, {33, 127, 1000},
                                        {257, 255, 65}, {1, 1000, 257},  {1000, 1, 255}, {17, 31, 1000}};
    for (int threads : {1, 2}) {
      thread_count_guard guard(threads);
      CAPTURE(threads);
      int counter = 0;
      for (const shape3& s : shapes) {
        for (int trans = 0; trans < 4; ++trans) {
          if ((counter++ + threads) % 2) continue;  // half the transposes per thread count, all over both
          gemm_case<T> gc;
          gc.trans_a = trans & 1;
          gc.trans_b = trans & 2;
          gc.m = s.m;
          gc.n = s.n;
          gc.k = s.k;
          gc.alpha = T(-1.25);
          gc.beta = T(0.5);
          gc.pad = 3;
          gc.offset = 1;
          check_case(gc);
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("gemm matches the reference when strides are multiples of 4 KiB", T, float, double) {
    // A row stride of 4 KiB sends op(A) through the packing routine instead of being read in place.
    for (int trans = 0; trans < 4; ++trans) {
      gemm_case<T> gc;
      gc.trans_a = trans & 1;
      gc.trans_b = trans & 2;
      gc.m = 45;
      gc.n = 77;
      gc.k = kk::gemm_blocking_for<T>().kc + 30;
      const index_t page = index_t(4096 / sizeof(T)), row = gc.trans_a ? gc.m : gc.k;
      gc.pad = (row + page - 1) / page * page - row;
      gc.beta = T(0.5);
      check_case(gc);
    }
  }

  TEST_CASE_TEMPLATE("gemm gives bitwise the same result on one and two threads", T, float, double) {
    gemm_case<T> gc;
    gc.m = 301;
    gc.n = 259;
    gc.k = 2 * kk::gemm_blocking_for<T>().kc + 5;
    gc.beta = T(0.5);
    gemm_operands<T> ops(gc, static_cast<std::uint32_t>(kexue_test_seed()));
    std::vector<T> one = ops.c, two = ops.c;
    {
      thread_count_guard guard(1);
      kk::gemm<T>(false, true, gc.m, gc.n, gc.k, T(1), ops.a.data(), ops.lda, ops.b.data(), gc.k, gc.beta, one.data(),
                  ops.ldc);
    }
    {
      thread_count_guard guard(2);
      kk::gemm<T>(false, true, gc.m, gc.n, gc.k, T(1), ops.a.data(), ops.lda, ops.b.data(), gc.k, gc.beta, two.data(),
                  ops.ldc);
    }
    CHECK(one == two);
  }

  TEST_CASE_TEMPLATE("gemm follows BLAS for alpha and beta of zero and one", T, float, double) {
    for (T alpha : {T(0), T(1), T(-2)}) {
      for (T beta : {T(0), T(1), T(0.25)}) {
        for (int trans = 0; trans < 4; ++trans) {
          gemm_case<T> gc;
          gc.trans_a = trans & 1;
          gc.trans_b = trans & 2;
          gc.m = 37;
          gc.n = 45;
          gc.k = 29;
          gc.alpha = alpha;
          gc.beta = beta;
          check_case(gc);
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("beta zero ignores NaN and infinity in C; alpha zero does not read A and B", T, float, double) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const T inf = std::numeric_limits<T>::infinity();
    const index_t m = 19, n = 35, k = 23;
    std::vector<T> a(m * k, T(1)), b(k * n, T(2)), c(m * n, nan);
    c[5] = inf;
    kk::gemm<T>(false, false, m, n, k, T(1), a.data(), k, b.data(), n, T(0), c.data(), n);
    bool all_46 = true;
    for (T x : c) all_46 = all_46 && x == T(2 * k);
    CHECK(all_46);

    // alpha == 0: C = beta C, and NaN in A or B is never read (BLAS semantics).
    std::fill(a.begin(), a.end(), nan);
    std::fill(b.begin(), b.end(), inf);
    std::fill(c.begin(), c.end(), T(3));
    kk::gemm<T>(false, false, m, n, k, T(0), a.data(), k, b.data(), n, T(2), c.data(), n);
    bool all_6 = true;
    for (T x : c) all_6 = all_6 && x == T(6);
    CHECK(all_6);
    // k == 0 with beta == 0 writes zeros.
    kk::gemm<T>(false, false, m, n, 0, T(1), a.data(), 1, b.data(), n, T(0), c.data(), n);
    bool all_0 = true;
    for (T x : c) all_0 = all_0 && x == T(0);
    CHECK(all_0);
  }

  TEST_CASE_TEMPLATE("NaN and infinity in A or B reach exactly the elements of C they touch", T, float, double) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const T inf = std::numeric_limits<T>::infinity();
    for (int trans = 0; trans < 4; ++trans) {
      const bool ta = trans & 1, tb = trans & 2;
      const index_t m = 29, n = 41, k = 300;  // k > kc for float and double
      std::vector<T> a(m * k), b(k * n), c(m * n, T(0)), r(m * n, T(0));
      std::mt19937 gen(static_cast<std::uint32_t>(kexue_test_seed()));
      for (auto& x : a) x = T(1) + T(gen() % 8);  // positive: no Inf - Inf, no 0 * Inf
      for (auto& x : b) x = T(1) + T(gen() % 8);
      auto at_a = [&](index_t i, index_t p) -> T& { return ta ? a[p * m + i] : a[i * k + p]; };
      auto at_b = [&](index_t p, index_t j) -> T& { return tb ? b[j * k + p] : b[p * n + j]; };
      at_a(3, 250) = nan;  // row 3 of C becomes NaN
      at_b(7, 40) = inf;   // column 40 becomes +Inf (NaN where it meets row 3)
      at_a(28, 0) = -inf;  // row 28 becomes -Inf, NaN at column 40 (-Inf + Inf)
      kk::gemm<T>(ta, tb, m, n, k, T(1), a.data(), ta ? m : k, b.data(), tb ? k : n, T(0), c.data(), n);
      kk::gemm_reference<T>(ta, tb, m, n, k, T(1), a.data(), ta ? m : k, b.data(), tb ? k : n, T(0), r.data(), n);
      CAPTURE(trans);
      int mismatches = 0;
      for (std::size_t i = 0; i < c.size(); ++i) {
        const bool same = std::isnan(r[i]) ? std::isnan(c[i]) : std::isinf(r[i]) ? c[i] == r[i] : std::isfinite(c[i]);
        mismatches += !same;
      }
      CHECK(mismatches == 0);
      CHECK(std::isnan(c[3 * n + 0]));
      CHECK(c[0 * n + 40] == inf);
      CHECK(std::isnan(c[28 * n + 40]));
      CHECK(c[28 * n + 1] == -inf);
    }
  }

  TEST_CASE_TEMPLATE("the fused bias and ReLU match the reference epilogue", T, float, double) {
    kk::gemm_epilogue<T> relu;
    relu.activation = kk::gemm_activation::relu;
    for (int threads : {1, 2}) {
      thread_count_guard guard(threads);
      for (index_t n : {1, 15, 16, 17, 33, 100, 257}) {
        gemm_case<T> gc;
        gc.trans_b = n % 2 == 1;
        gc.m = 70;
        gc.n = n;
        gc.k = kk::gemm_blocking_for<T>().kc + 9;  // the epilogue must wait for the last K block
        gc.beta = n % 3 == 0 ? T(0) : T(1);
        gc.integers = true;
        check_case(gc, relu, true);
        check_case(gc, kk::gemm_epilogue<T>{}, true);  // bias alone
      }
    }
    // ReLU keeps NaN (as PyTorch's relu does) and maps negative values, -0 excepted, to +0.
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> a = {nan, T(-1), T(2)}, b = {T(1)}, c(3);
    kk::gemm<T>(false, false, 3, 1, 1, T(1), a.data(), 1, b.data(), 1, T(0), c.data(), 1, relu);
    CHECK(std::isnan(c[0]));
    CHECK(c[1] == T(0));
    CHECK(c[2] == T(2));
  }

  TEST_CASE_TEMPLATE("a custom activation is applied once to every element, after the last K block", T, float, double) {
    // x -> 2x + 1 is not idempotent: applying it twice, or before the product is complete, changes results.
    kk::gemm_epilogue<T> epilogue;
    epilogue.activation = kk::gemm_activation::custom;
    epilogue.custom = [](T* row, index_t count) {
      for (index_t j = 0; j < count; ++j) row[j] = T(2) * row[j] + T(1);
    };
    for (int threads : {1, 2}) {
      thread_count_guard guard(threads);
      gemm_case<T> gc;
      gc.m = 300;
      gc.n = 90;
      gc.k = 2 * kk::gemm_blocking_for<T>().kc + 1;
      gc.beta = T(1);
      gc.integers = true;
      gc.pad = 2;
      check_case(gc, epilogue, true);
      gc.k = 0;
      check_case(gc, epilogue, true);
    }
  }

  TEST_CASE_TEMPLATE("gemm_batched equals one gemm per matrix, with shared operands and threads", T, float, double) {
    const index_t m = 13, n = 37, k = 21, batch = 7;
    const index_t lda = k + 1, ldb = n, ldc = n + 3;
    const index_t stride_a = m * lda + 5, stride_c = m * ldc + 2;
    std::mt19937 gen(static_cast<std::uint32_t>(kexue_test_seed()));
    auto fill = [&](std::vector<T>& v, index_t count) {
      v.resize(static_cast<std::size_t>(count));
      for (auto& x : v) x = T(static_cast<int>(gen() % 9) - 4);
    };
    std::vector<T> a, b, c, bias;
    fill(a, batch * stride_a);
    fill(b, k * ldb);  // stride_b = 0: one B for every item
    fill(c, batch * stride_c);
    fill(bias, n);
    kk::gemm_epilogue<T> epilogue;
    epilogue.bias = bias.data();
    epilogue.activation = kk::gemm_activation::relu;
    for (int threads : {1, 2}) {
      thread_count_guard guard(threads);
      for (index_t items : {index_t(1), index_t(3), batch}) {
        CAPTURE(threads);
        CAPTURE(items);
        std::vector<T> got = c, want = c;
        kk::gemm_batched<T>(false, false, m, n, k, T(1), a.data(), lda, b.data(), ldb, T(-1), got.data(), ldc, items,
                            stride_a, 0, stride_c, epilogue);
        for (index_t i = 0; i < items; ++i) {
          kk::gemm_reference<T>(false, false, m, n, k, T(1), a.data() + i * stride_a, lda, b.data(), ldb, T(-1),
                                want.data() + i * stride_c, ldc, epilogue);
        }
        CHECK(got == want);
      }
    }
    // Large items, fewer than the threads: each product is threaded instead.
    thread_count_guard guard(2);
    const index_t big = 160;
    std::vector<T> ba, bb, bc;
    fill(ba, big * big);
    fill(bb, 3 * big * big);
    fill(bc, 3 * big * big);
    std::vector<T> got = bc, want = bc;
    kk::gemm_batched<T>(true, true, big, big, big, T(1), ba.data(), big, bb.data(), big, T(0), got.data(), big, 3, 0,
                        big * big, big * big);
    for (index_t i = 0; i < 3; ++i) {
      kk::gemm_reference<T>(true, true, big, big, big, T(1), ba.data(), big, bb.data() + i * big * big, big, T(0),
                            want.data() + i * big * big, big);
    }
    CHECK(got == want);
  }

  TEST_CASE("gemm rejects negative sizes and short strides, naming them") {
    std::vector<float> x(64, 1.0f);
    CHECK_THROWS_WITH_AS(kk::gemm<float>(false, false, -1, 2, 2, 1.0f, x.data(), 2, x.data(), 2, 0.0f, x.data(), 2),
                         "gemm: negative size (m -1, n 2, k 2)", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kk::gemm<float>(false, false, 2, 3, 4, 1.0f, x.data(), 3, x.data(), 3, 0.0f, x.data(), 3),
                         "gemm: lda 3 is smaller than the row length 4 of A (m 2, k 4, trans_a false)",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kk::gemm<float>(false, true, 2, 3, 4, 1.0f, x.data(), 4, x.data(), 3, 0.0f, x.data(), 3),
                         "gemm: ldb 3 is smaller than the row length 4 of B (k 4, n 3, trans_b true)",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kk::gemm<float>(false, false, 2, 3, 4, 1.0f, x.data(), 4, x.data(), 3, 0.0f, x.data(), 2),
                         "gemm: ldc 2 is smaller than the row length 3 of C (m 2, n 3)", kexue::shape_error);
    CHECK_THROWS_WITH_AS(
        kk::gemm_batched<float>(false, false, 2, 3, 4, 1.0f, x.data(), 4, x.data(), 3, 0.0f, x.data(), 3, 2, 8, 12, 5),
        "gemm_batched: stride_c 5 makes the C matrices overlap (m 2, n 3, ldc 3)", kexue::shape_error);
    // Empty products are fine and touch nothing.
    kk::gemm<float>(false, false, 0, 0, 0, 1.0f, nullptr, 1, nullptr, 1, 0.0f, nullptr, 1);
  }
}
