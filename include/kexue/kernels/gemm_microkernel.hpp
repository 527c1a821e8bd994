// SPDX-License-Identifier: MIT
// GEMM register micro-kernel: an mr x nr tile of C held in SIMD registers, fed from packed or in-place panels.
#pragma once

#include <array>    // the dispatch table
#include <cstddef>  // std::size_t
#include <utility>  // std::index_sequence

#include <kexue/config.hpp>
#include <kexue/core/shape.hpp>  // index_t
#include <kexue/kernels/simd.hpp>

namespace kexue::kernels {

/// Activation fused into the write-back of C by gemm (see gemm_epilogue).
enum class gemm_activation {
  none,    ///< C = alpha op(A) op(B) + beta C (+ bias)
  relu,    ///< then x < 0 ? 0 : x (NaN stays NaN, as in PyTorch)
  custom,  ///< then gemm_epilogue::custom is applied in place to the finished rows of C
};

/// @brief Work fused into the write-back of C: C = act(alpha op(A) op(B) + beta C + bias).
/// @details `bias` (length n, or null) is added to every row (bias[j] to column j). `custom` is called as
///          custom(ptr, count) on contiguous row segments of the finished C, each element exactly once, while
///          the segment is still in cache; it must be safe to call from several threads at once.
template <class T>
struct gemm_epilogue {
  const T* bias = nullptr;
  gemm_activation activation = gemm_activation::none;
  void (*custom)(T* row_segment, index_t count) = nullptr;
};

namespace detail {

/// @brief The register operations the micro-kernel needs, over xsimd's default architecture or over plain
///        scalars when KEXUE_USE_XSIMD is 0 (then "registers" are single values and the compiler vectorizes
///        what it can).
template <class T>
struct gemm_simd {
#if KEXUE_USE_XSIMD
  using reg = simd::batch<T>;
  static constexpr int width = static_cast<int>(reg::size);
  /// 32 vector registers with AVX-512 (zmm0-31), 16 for AVX/AVX2/SSE.
  static constexpr int registers = sizeof(reg) >= 64 ? 32 : 16;
  static reg broadcast(T x) noexcept { return reg(x); }
  static reg load(const T* p) noexcept { return reg::load_aligned(p); }
  static reg loadu(const T* p) noexcept { return reg::load_unaligned(p); }
  static void storeu(T* p, const reg& v) noexcept { v.store_unaligned(p); }
  static reg fma(const reg& x, const reg& y, const reg& z) noexcept { return xsimd::fma(x, y, z); }
  static reg relu(const reg& x) noexcept { return xsimd::select(x < reg(T(0)), reg(T(0)), x); }
#else
  using reg = T;
  static constexpr int width = 1;
  static constexpr int registers = 16;
  static reg broadcast(T x) noexcept { return x; }
  static reg load(const T* p) noexcept { return *p; }
  static reg loadu(const T* p) noexcept { return *p; }
  static void storeu(T* p, const reg& v) noexcept { *p = v; }
  static reg fma(const reg& x, const reg& y, const reg& z) noexcept { return x * y + z; }
  static reg relu(const reg& x) noexcept { return x < T(0) ? T(0) : x; }
#endif
};

/// @brief Register blocking for T: the micro-tile is mr rows by nr = nv * width columns of C.
/// @details AVX-512 (32 registers): 12 x 2 accumulator registers + 2 for B + 1 broadcast of A = 27.
///          AVX2 / SSE (16 registers): 6 x 2 + 2 + 1 = 15. Scalar: a 4 x 4 tile. For tuning, defining both
///          KEXUE_GEMM_MR and KEXUE_GEMM_NV overrides mr and nv.
template <class T>
struct gemm_config {
  using ops = gemm_simd<T>;
  static constexpr int width = ops::width;
#if defined(KEXUE_GEMM_MR) && defined(KEXUE_GEMM_NV)
  static constexpr int nv = KEXUE_GEMM_NV;
  static constexpr int mr = KEXUE_GEMM_MR;
#elif KEXUE_USE_XSIMD
  static constexpr int nv = 2;
  static constexpr int mr = ops::registers >= 32 ? 12 : 6;
#else
  static constexpr int nv = 4;
  static constexpr int mr = 4;
#endif
  static constexpr int nr = nv * width;
};

/// Scalars the write-back of one tile needs; bias already points at the tile's first column.
template <class T>
struct gemm_tile_args {
  T alpha;
  T beta;
  bool beta_zero;  ///< C's old contents are ignored (BLAS semantics for beta == 0: NaN in C does not propagate)
  bool relu;
  const T* bias;  ///< null, or the tile's slice of the bias (only on the last K block)
};

/// @brief Computes one tile: C[0:Rows, 0:n_valid] = epilogue(alpha * op(A) op(B) + beta * C) over a depth of kc.
/// @param a      ADirect false: packed A panel, a[p * mr + i] = op(A)(i, p) (see gemm_pack_a).
///               ADirect true: op(A) read in place, row-major: a[i * a_stride + p] = op(A)(i, p).
/// @param b      B panel: b[p * b_stride + j] = op(B)(p, j) for j < Vecs * width: a packed, zero-padded panel
///               (b_stride = nr) or, for a full-width tile, op(B) read in place (b_stride = ldb).
/// @param c      the tile's top-left element of row-major C with row stride ldc (any alignment)
/// @param n_valid columns of the tile to write, in ((Vecs - 1) * width, Vecs * width]
template <class T, bool ADirect, int Rows, int Vecs>
void gemm_micro_kernel(index_t kc, const T* __restrict a, index_t a_stride, const T* __restrict b, index_t b_stride,
                       T* __restrict c, index_t ldc, index_t n_valid, const gemm_tile_args<T>& args) noexcept {
  using ops = gemm_simd<T>;
  using reg = typename ops::reg;
  constexpr int w = ops::width;
  constexpr int mr = gemm_config<T>::mr;

  // The tile of C is needed only after the k loop: start bringing its lines in now, so the write-back
  // does not wait on L2/L3.
#pragma GCC unroll 16
  for (int i = 0; i < Rows; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + Vecs * w - 1, 1, 3);
  }

  // A narrow tile has fewer accumulators than FMA latency x FMA ports (4 x 2) and would wait on its own
  // chains: it then alternates between two sets of accumulators (even and odd k), added at the end.
  constexpr int sets = Rows * Vecs < 8 ? 2 : 1;
  reg acc[sets][Rows][Vecs];
#pragma GCC unroll 2
  for (int s = 0; s < sets; ++s) {
#pragma GCC unroll 16
    for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < Vecs; ++j) acc[s][i][j] = ops::broadcast(T(0));
    }
  }

  auto step = [&](reg(&sum)[Rows][Vecs]) {
    reg bv[Vecs];
#pragma GCC unroll 4
    for (int j = 0; j < Vecs; ++j) bv[j] = ops::loadu(b + j * w);
#pragma GCC unroll 16
    for (int i = 0; i < Rows; ++i) {
      const reg av = ops::broadcast(ADirect ? a[i * a_stride] : a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < Vecs; ++j) sum[i][j] = ops::fma(av, bv[j], sum[i][j]);
    }
    a += ADirect ? 1 : mr;
    b += b_stride;
  };
  index_t p = 0;
  if constexpr (sets == 2) {
    for (; p + 2 <= kc; p += 2) {
      step(acc[0]);
      step(acc[sets - 1]);
    }
  }
#pragma GCC unroll 2
  for (; p < kc; ++p) step(acc[0]);
  if constexpr (sets == 2) {
#pragma GCC unroll 16
    for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < Vecs; ++j) acc[0][i][j] = acc[0][i][j] + acc[sets - 1][i][j];
    }
  }

  // Write-back: full registers go straight to C; the last, partial register of a column tail goes
  // through a small buffer so no lane beyond n_valid is read or written.
  const reg alpha = ops::broadcast(args.alpha);
  const reg beta = ops::broadcast(args.beta);
  const index_t tail = n_valid - (Vecs - 1) * w;  // valid lanes in the last register, 1..w
  // The usual cases (whole registers, no bias or activation, alpha 1, beta 0 or 1) take a short path: the
  // general one below is a few hundred instructions, which costs several percent of a call at small kc.
  if (tail == w && !args.bias && !args.relu && args.alpha == T(1) && (args.beta_zero || args.beta == T(1))) {
    if (args.beta_zero) {
#pragma GCC unroll 16
      for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 4
        for (int j = 0; j < Vecs; ++j) ops::storeu(c + i * ldc + j * w, acc[0][i][j]);
      }
    } else {
#pragma GCC unroll 16
      for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 4
        for (int j = 0; j < Vecs; ++j) ops::storeu(c + i * ldc + j * w, acc[0][i][j] + ops::loadu(c + i * ldc + j * w));
      }
    }
    return;
  }
  alignas(64) T buffer[w] = {};
#pragma GCC unroll 16
  for (int i = 0; i < Rows; ++i) {
    T* row = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < Vecs; ++j) {
      const bool partial = j == Vecs - 1 && tail < w;
      T* dst = row + j * w;
      reg v = acc[0][i][j] * alpha;
      if (!args.beta_zero) {
        reg old;
        if (partial) {
          for (index_t q = 0; q < tail; ++q) buffer[q] = dst[q];
          old = ops::load(buffer);
        } else {
          old = ops::loadu(dst);
        }
        v = ops::fma(beta, old, v);
      }
      if (args.bias) {
        if (partial) {
          for (index_t q = 0; q < tail; ++q) buffer[q] = args.bias[j * w + q];
          v = v + ops::load(buffer);
        } else {
          v = v + ops::loadu(args.bias + j * w);
        }
      }
      if (args.relu) v = ops::relu(v);
      if (partial) {
        ops::storeu(buffer, v);
        for (index_t q = 0; q < tail; ++q) dst[q] = buffer[q];
      } else {
        ops::storeu(dst, v);
      }
    }
  }
}

/// Signature shared by every instantiation of the micro-kernel.
template <class T>
using gemm_kernel_fn = void (*)(index_t, const T*, index_t, const T*, index_t, T*, index_t, index_t,
                                const gemm_tile_args<T>&);

template <class T, bool ADirect, std::size_t Row, std::size_t... Vecs>
constexpr void fill_gemm_kernel_row(gemm_kernel_fn<T>* row, std::index_sequence<Vecs...>) {
  ((row[Vecs] = &gemm_micro_kernel<T, ADirect, static_cast<int>(Row) + 1, static_cast<int>(Vecs) + 1>), ...);
}

/// Entry (r - 1) * nv + (v - 1) computes r rows and v registers of columns.
template <class T, bool ADirect, std::size_t... Rows>
constexpr auto make_gemm_kernel_table(std::index_sequence<Rows...>) {
  constexpr std::size_t nv = gemm_config<T>::nv;
  std::array<gemm_kernel_fn<T>, sizeof...(Rows) * nv> table{};
  (fill_gemm_kernel_row<T, ADirect, Rows>(table.data() + Rows * nv, std::make_index_sequence<nv>{}), ...);
  return table;
}

/// @brief The micro-kernel for a tile of `rows` (1..mr) rows and `vecs` (1..nv) registers of columns, reading
///        A packed or (a_direct) in place.
template <class T>
inline gemm_kernel_fn<T> gemm_kernel_for(bool a_direct, int rows, int vecs) noexcept {
  using config = gemm_config<T>;
  static constexpr auto packed = make_gemm_kernel_table<T, false>(std::make_index_sequence<config::mr>{});
  static constexpr auto direct = make_gemm_kernel_table<T, true>(std::make_index_sequence<config::mr>{});
  const std::size_t index = static_cast<std::size_t>((rows - 1) * config::nv + (vecs - 1));
  return a_direct ? direct[index] : packed[index];
}

}  // namespace detail
}  // namespace kexue::kernels
