// SPDX-License-Identifier: MIT
// GEMM packing: copies blocks of op(A) and op(B) into the contiguous, zero-padded panels the micro-kernel reads.
#pragma once

#include <algorithm>    // std::min, std::fill
#include <cstring>      // std::memcpy
#include <type_traits>  // std::is_same_v

#include <kexue/core/shape.hpp>  // index_t
#include <kexue/kernels/gemm_microkernel.hpp>

#if KEXUE_USE_XSIMD && defined(__AVX__)
#include <immintrin.h>  // 8x8 / 4x4 register transposes (xsimd 8.1 has no two-register shuffles)
#define KEXUE_GEMM_AVX_TRANSPOSE 1
#endif

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

#ifdef KEXUE_GEMM_AVX_TRANSPOSE
/// Transposes the 8 x 8 block of floats at src (row stride ld) into dst (row stride dst_ld):
/// dst[q * dst_ld + i] = src[i * ld + q]. 24 shuffles per 64 values instead of 64 scalar loads and stores.
inline void transpose_block(const float* src, index_t ld, float* dst, index_t dst_ld) noexcept {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * dst_ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * dst_ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

/// Transposes the 4 x 8 block of floats at src (4 rows of row stride ld) into 8 rows of 4 in dst.
inline void transpose_block_4(const float* src, index_t ld, float* dst, index_t dst_ld) noexcept {
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld);
  const __m256 r2 = _mm256_loadu_ps(src + 2 * ld), r3 = _mm256_loadu_ps(src + 3 * ld);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 u[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xee),
                       _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xee)};
  for (int q = 0; q < 4; ++q) {
    _mm_storeu_ps(dst + q * dst_ld, _mm256_castps256_ps128(u[q]));
    _mm_storeu_ps(dst + (q + 4) * dst_ld, _mm256_extractf128_ps(u[q], 1));
  }
}

/// Transposes the 4 x 4 block of doubles at src (row stride ld) into dst (row stride dst_ld).
inline void transpose_block(const double* src, index_t ld, double* dst, index_t dst_ld) noexcept {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + ld);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * ld), r3 = _mm256_loadu_pd(src + 3 * ld);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + dst_ld, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * dst_ld, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * dst_ld, _mm256_permute2f128_pd(t1, t3, 0x31));
}

/// Side of the square block transpose_block handles for T (0: none).
template <class T>
inline constexpr int transpose_block_size = std::is_same_v<T, float>    ? 8
                                            : std::is_same_v<T, double> ? 4
                                                                        : 0;
#else
template <class T>
inline constexpr int transpose_block_size = 0;
#endif

/// dst[p * Width + i] = src[i * ld + p] for i < count, zero beyond (a transpose: source columns contiguous).
template <class T, int Width>
inline void gemm_pack_transpose(const T* src, index_t ld, index_t count, index_t kc, T* dst) noexcept {
  if (count == Width) {
    index_t p = 0;
#ifdef KEXUE_GEMM_AVX_TRANSPOSE
    // Register transposes of side x side blocks (float: also 4 x 8 for a leftover group of 4 rows).
    constexpr int side = transpose_block_size<T>;
    constexpr int blocked_rows = std::is_same_v<T, float> ? Width / 4 * 4 : Width / side * side;
    if constexpr (side > 0 && blocked_rows > 0) {
      for (; p + side <= kc; p += side) {
        T* out = dst + p * Width;
        int i = 0;
        for (; i + side <= Width; i += side) transpose_block(src + i * ld + p, ld, out + i, Width);
        if constexpr (std::is_same_v<T, float>) {
          if (i + 4 <= Width) {
            transpose_block_4(src + i * ld + p, ld, out + i, Width);
            i += 4;
          }
        }
        for (; i < Width; ++i) {
          for (int q = 0; q < side; ++q) out[q * Width + i] = src[i * ld + p + q];
        }
      }
    }
#endif
    // Blocks of 8 depths: each source row contributes 8 consecutive values (part of one cache line), and
    // the 8 x Width destination block is written once, so both sides stay in L1.
    constexpr index_t block = 8;
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
      for (int i = 0; i < Width; ++i) out[i] = i < count ? src[i * ld + p] : T(0);
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
