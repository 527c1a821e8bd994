// SPDX-License-Identifier: MIT
// GEMM packing: copies blocks of op(A) and op(B) into the contiguous, zero-padded panels the micro-kernel reads.
#pragma once

#include <algorithm>  // std::min, std::fill
#include <cstring>    // std::memcpy

#include <kexue/core/shape.hpp>  // index_t
#include <kexue/kernels/gemm_microkernel.hpp>

namespace kexue::kernels::detail {

/// @brief Packs the mc x kc block of op(A) into panels of mr rows.
/// @param a   the block's first element: op(A)(i, p) = trans ? a[p * lda + i] : a[i * lda + p]
/// @param dst ceil(mc / mr) panels of mr * kc values; panel q holds dst[q * mr * kc + p * mr + i] =
///            op(A)(q * mr + i, p), zero for rows beyond mc.
template <class T>
void gemm_pack_a(bool trans, const T* a, index_t lda, index_t mc, index_t kc, T* dst) noexcept;

/// @brief Packs the kc x nc block of op(B) into panels of nr columns.
/// @param b   the block's first element: op(B)(p, j) = trans ? b[j * ldb + p] : b[p * ldb + j]
/// @param dst ceil(nc / nr) panels of kc * nr values; panel q holds dst[q * nr * kc + p * nr + j] =
///            op(B)(p, q * nr + j), zero for columns beyond nc.
template <class T>
void gemm_pack_b(bool trans, const T* b, index_t ldb, index_t kc, index_t nc, T* dst) noexcept;

// ~~~ implementation ~~~

/// dst[p * Width + i] = src[p * ld + i] for i < count, zero for count <= i < Width (source rows contiguous).
template <class T, int Width>
inline void gemm_pack_copy(const T* src, index_t ld, index_t count, index_t kc, T* dst) noexcept {
  if (count == Width) {
    for (index_t p = 0; p < kc; ++p) {
      std::memcpy(dst + p * Width, src + p * ld, sizeof(T) * Width);
    }
  } else {
    // A fixed-length loop with a select (rather than a copy of `count` and a fill) compiles to inline vector
    // code instead of memcpy/memset calls, which dominate for the small blocks that reach this path.
    for (index_t p = 0; p < kc; ++p) {
      T* out = dst + p * Width;
      const T* in = src + p * ld;
      for (int i = 0; i < Width; ++i) out[i] = i < count ? in[i] : T(0);
    }
  }
}

/// dst[p * Width + i] = src[i * ld + p] for i < count, zero beyond (a transpose: source columns contiguous).
template <class T, int Width>
inline void gemm_pack_transpose(const T* src, index_t ld, index_t count, index_t kc, T* dst) noexcept {
  if (count == Width) {
    // Blocks of 8 depths: each source row contributes 8 consecutive values (part of one cache line), and
    // the 8 x Width destination block is written once, so both sides stay in L1.
    constexpr index_t block = 8;
    index_t p = 0;
    for (; p + block <= kc; p += block) {
      T* out = dst + p * Width;
      for (int i = 0; i < Width; ++i) {
        const T* in = src + i * ld + p;
#pragma GCC unroll 8
        for (index_t q = 0; q < block; ++q) out[q * Width + i] = in[q];
      }
    }
    for (; p < kc; ++p) {
      for (int i = 0; i < Width; ++i) dst[p * Width + i] = src[i * ld + p];
    }
  } else {
    for (index_t p = 0; p < kc; ++p) {
      T* out = dst + p * Width;
      for (index_t i = 0; i < count; ++i) out[i] = src[i * ld + p];
      for (index_t i = count; i < Width; ++i) out[i] = T(0);
    }
  }
}

template <class T>
void gemm_pack_a(bool trans, const T* a, index_t lda, index_t mc, index_t kc, T* dst) noexcept {
  constexpr int mr = gemm_config<T>::mr;
  for (index_t i = 0; i < mc; i += mr) {
    const index_t rows = std::min<index_t>(mr, mc - i);
    if (trans) {
      gemm_pack_copy<T, mr>(a + i, lda, rows, kc, dst);
    } else {
      gemm_pack_transpose<T, mr>(a + i * lda, lda, rows, kc, dst);
    }
    dst += mr * kc;
  }
}

template <class T>
void gemm_pack_b(bool trans, const T* b, index_t ldb, index_t kc, index_t nc, T* dst) noexcept {
  constexpr int nr = gemm_config<T>::nr;
  if (trans) {
    for (index_t j = 0; j < nc; j += nr) {
      gemm_pack_transpose<T, nr>(b + j * ldb, ldb, std::min<index_t>(nr, nc - j), kc, dst);
      dst += nr * kc;
    }
    return;
  }
  // Row by row: each source row is read front to back (one hardware-prefetched stream, which matters when
  // B comes from L3 or memory), its nr-wide pieces going to consecutive panels.
  const index_t full = nc / nr * nr;
  for (index_t p = 0; p < kc; ++p) {
    const T* in = b + p * ldb;
    T* out = dst + p * nr;
    for (index_t j = 0; j < full; j += nr) {
      std::memcpy(out, in + j, sizeof(T) * nr);
      out += nr * kc;
    }
    if (full < nc) {
      const index_t count = nc - full;
      for (int j = 0; j < nr; ++j) out[j] = j < count ? in[full + j] : T(0);
    }
  }
}

}  // namespace kexue::kernels::detail
