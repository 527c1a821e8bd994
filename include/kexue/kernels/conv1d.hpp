// SPDX-License-Identifier: MIT
// Stride-1 1-D convolution kernels on raw pointers (forward, input gradient, weight gradient) and their scalar twins.
#pragma once

#include <algorithm>    // std::min, std::max, std::fill, std::clamp
#include <cstddef>      // std::size_t
#include <cstring>      // std::memcpy
#include <type_traits>  // std::is_same_v: Winograd and the register transposes are float-only

#include <kexue/core/shape.hpp>  // index_t
#include <kexue/kernels/gemm.hpp>
#include <kexue/kernels/parallel.hpp>

namespace kexue::kernels {

/// @brief Sizes of a stride-1 1-D convolution (cross-correlation, PyTorch's layout) x [B, C, L] * w [O, C/groups, K]
///        → y [B, O, L_out], with `pad_left` zeros before each input row and `pad_right` after it.
/// @details L_out = L + pad_left + pad_right − dilation·(K − 1). Contracts of every kernel below: all sizes
///          at least 1 except the paddings (at least 0), groups divides C and O, L_out at least 1; buffers dense
///          row-major with exactly these shapes, not overlapping.
struct conv1d_shape {
  index_t batch = 1;
  index_t in_channels = 1;   ///< C
  index_t out_channels = 1;  ///< O
  index_t length = 1;        ///< L
  index_t kernel = 1;        ///< K
  index_t dilation = 1;
  index_t pad_left = 0;
  index_t pad_right = 0;
  index_t groups = 1;

  index_t out_length() const { return length + pad_left + pad_right - dilation * (kernel - 1); }
  index_t group_in() const { return in_channels / groups; }
  index_t group_out() const { return out_channels / groups; }
};

/// @brief y[b, o, j] = bias[o] + Σ_{c < C/groups, t < K} w[o, c, t] · x[b, g·C/groups + c, j + t·dilation − pad_left]
///        (0 outside [0, L)), o in group g = o / (O/groups).
/// @param x [B, C, L]; w [O, C/groups, K]; bias [O] or null (then 0); y [B, O, L_out], overwritten.
/// @details Parallel over the items; the result does not depend on the thread count. Kernel 3 in float goes
///          through Winograd's minimal filtering F(4, 3) (half the multiply-adds; below), whose error is ~4x
///          that of the direct sum (max |error| ≈ 2e-6 · max |y|, rms ≈ 5e-7 · rms y at 128 channels, against
///          the double twin; see bench/README.md). Double and other kernel sizes go through the per-tap product
///          (direct sums: an output whose terms are all 0 is exactly 0).
template <class T>
void conv1d_forward(const conv1d_shape& s, const T* x, const T* w, const T* bias, T* y);

/// @brief dx[b, c, i] = Σ_{o, t} w[o, c, t] · gy[b, o, i + pad_left − t·dilation] (0 outside [0, L_out)): the
///        adjoint of conv1d_forward in x (a stride-1 transposed convolution).
/// @param gy [B, O, L_out]; w [O, C/groups, K]; dx [B, C, L], overwritten.
/// @details As conv1d_forward (kernel 3 in float: F(4, 3) over the flipped, transposed weight).
template <class T>
void conv1d_input_grad(const conv1d_shape& s, const T* gy, const T* w, T* dx);

/// @brief dw[o, c, t] = Σ_{b, j} gy[b, o, j] · x[b, g·C/groups + c, j + t·dilation − pad_left]: the adjoint of
///        conv1d_forward in w.
/// @param x [B, C, L]; gy [B, O, L_out]; dw [O, C/groups, K], overwritten.
/// @details The batch is summed in min(B, 4) fixed chunks (in parallel), then the chunks in order: the result
///          does not depend on the thread count. Kernel 3 in float: F(4, 3)'s adjoint; otherwise per-tap products.
template <class T>
void conv1d_weight_grad(const conv1d_shape& s, const T* x, const T* gy, T* dw);

/// The scalar twins of the three kernels above: the defining sums as plain loops, same contracts.
template <class T>
void conv1d_forward_reference(const conv1d_shape& s, const T* x, const T* w, const T* bias, T* y);
template <class T>
void conv1d_input_grad_reference(const conv1d_shape& s, const T* gy, const T* w, T* dx);
template <class T>
void conv1d_weight_grad_reference(const conv1d_shape& s, const T* x, const T* gy, T* dw);

// ~~~ implementation: scalar twins ~~~

template <class T>
void conv1d_forward_reference(const conv1d_shape& s, const T* x, const T* w, const T* bias, T* y) {
  const index_t cg = s.group_in(), og = s.group_out(), lo = s.out_length(), k = s.kernel;
  for (index_t b = 0; b < s.batch; ++b)
    for (index_t o = 0; o < s.out_channels; ++o)
      for (index_t j = 0; j < lo; ++j) {
        T sum = bias != nullptr ? bias[o] : T(0);
        for (index_t c = 0; c < cg; ++c)
          for (index_t t = 0; t < k; ++t) {
            const index_t i = j + t * s.dilation - s.pad_left;
            if (i >= 0 && i < s.length)
              sum += w[(o * cg + c) * k + t] * x[(b * s.in_channels + o / og * cg + c) * s.length + i];
          }
        y[(b * s.out_channels + o) * lo + j] = sum;
      }
}

template <class T>
void conv1d_input_grad_reference(const conv1d_shape& s, const T* gy, const T* w, T* dx) {
  const index_t cg = s.group_in(), og = s.group_out(), lo = s.out_length(), k = s.kernel;
  for (index_t b = 0; b < s.batch; ++b)
    for (index_t ci = 0; ci < s.in_channels; ++ci)
      for (index_t i = 0; i < s.length; ++i) {
        T sum = T(0);
        const index_t grp = ci / cg, c = ci % cg;
        for (index_t o = grp * og; o < (grp + 1) * og; ++o)
          for (index_t t = 0; t < k; ++t) {
            const index_t j = i + s.pad_left - t * s.dilation;
            if (j >= 0 && j < lo) sum += w[(o * cg + c) * k + t] * gy[(b * s.out_channels + o) * lo + j];
          }
        dx[(b * s.in_channels + ci) * s.length + i] = sum;
      }
}

template <class T>
void conv1d_weight_grad_reference(const conv1d_shape& s, const T* x, const T* gy, T* dw) {
  const index_t cg = s.group_in(), og = s.group_out(), lo = s.out_length(), k = s.kernel;
  for (index_t o = 0; o < s.out_channels; ++o)
    for (index_t c = 0; c < cg; ++c)
      for (index_t t = 0; t < k; ++t) {
        T sum = T(0);
        for (index_t b = 0; b < s.batch; ++b)
          for (index_t j = 0; j < lo; ++j) {
            const index_t i = j + t * s.dilation - s.pad_left;
            if (i >= 0 && i < s.length)
              sum += gy[(b * s.out_channels + o) * lo + j] * x[(b * s.in_channels + o / og * cg + c) * s.length + i];
          }
        dw[(o * cg + c) * k + t] = sum;
      }
}

// ~~~ implementation: the per-tap products ~~~
//
// A stride-1 convolution is a sum over the K kernel taps of matrix products with a shifted view of the
// zero-padded input: y[b] = Σ_t w[:, :, t] · xp[b][:, t·d : t·d + L_out]. conv1d_tap_product runs the whole sum
// for one item through the GEMM's register micro-kernel, each tile of y accumulated over the taps while it is
// in L1, with both operands read in place: the weight once regrouped tap-major per call, the input once
// zero-padded per item. The input gradient is the same product with the flipped, transposed weight over the
// padded output gradient; the weight gradient reads x in place (the padding only shortens the depth of each
// tap) against the output gradient packed once per item.

namespace detail {

/// A per-thread work buffer of at least n elements, grown on demand and kept for the thread's lifetime (no
/// allocation or page faults per call once warm). Slot tells apart the buffers one call holds at once.
template <class T, int Slot>
T* conv1d_buffer(index_t n) {
  static thread_local gemm_workspace<T> workspace;
  return gemm_workspace<T>::grow(workspace.a, workspace.a_size, static_cast<std::size_t>(std::max<index_t>(n, 1)));
}

/// The buffers' slots: those the calling thread holds for the whole call, and those each worker holds.
enum conv1d_slot : int { slot_weight, slot_wino_weight, slot_partial, slot_work0, slot_work1, slot_work2, slot_work3 };

/// The operands of conv1d_tap_product: C [m, n] (=, or += with `accumulate`) Σ_{s < terms} A_s · B_s.
/// A_s = a + s·a_step is m × k, row-major with row stride lda, read in place. B_s = b + s·b_step is k × n:
/// element (p, j) at b + p·ldb + (j / nr)·b_tile + j % nr, so either in place (ldb = row stride, b_tile = nr;
/// rows are read up to one SIMD register past column n: callers leave that slack) or packed in nr-wide
/// panels (ldb = nr, b_tile = nr · panel depth). `row_init` (length m, or null) starts row i of C at
/// row_init[i] instead of 0.
template <class T>
struct conv1d_tap_operands {
  index_t m, n, k, terms;
  const T* a;
  index_t lda, a_step;
  const T* b;
  index_t ldb, b_step, b_tile;
  T* c;
  index_t ldc;
  bool accumulate;
  const T* row_init;
};

/// Runs conv1d_tap_operands on the calling thread. Loops (outer to inner): nc columns of C, mr rows (their
/// A micro-panel stays in L1), terms, kc depth, nr columns (B streams from L2); each tile of C is summed
/// over every term and depth block in place, in the same order whatever the tiling of the caller.
template <class T>
void conv1d_tap_product(const conv1d_tap_operands<T>& q) {
  using config = gemm_config<T>;
  constexpr index_t mr = config::mr, nr = config::nr, w = config::width;
  if (q.m == 0 || q.n == 0) return;
  const gemm_blocking& blocking = gemm_blocking_for<T>();
  const index_t kc_max = even_block(std::max<index_t>(q.k, 1), blocking.kc, 1);
  const index_t nc_max = even_block(q.n, blocking.nc, nr);
  for (index_t jc = 0; jc < q.n; jc += nc_max) {
    const index_t nc = std::min(nc_max, q.n - jc);
    for (index_t ir = 0; ir < q.m; ir += mr) {
      const index_t rows = std::min(mr, q.m - ir);
      T* c_rows = q.c + ir * q.ldc + jc;
      bool fresh = !q.accumulate;  // the next write to this panel of C ignores its contents
      if (q.row_init != nullptr) {
        for (index_t i = 0; i < rows; ++i) std::fill(c_rows + i * q.ldc, c_rows + i * q.ldc + nc, q.row_init[ir + i]);
        fresh = false;
      }
      if (fresh && (q.k == 0 || q.terms == 0)) {
        for (index_t i = 0; i < rows; ++i) std::fill(c_rows + i * q.ldc, c_rows + i * q.ldc + nc, T(0));
        continue;
      }
      const auto full = gemm_kernel_for<T>(true, static_cast<int>(rows), config::nv);
      for (index_t s = 0; s < q.terms; ++s) {
        for (index_t pc = 0; pc < q.k; pc += kc_max) {
          const index_t kc = std::min(kc_max, q.k - pc);
          gemm_tile_args<T> args{T(1), T(1), fresh, false, nullptr};
          const T* a_panel = q.a + s * q.a_step + ir * q.lda + pc;
          const T* b_rows = q.b + s * q.b_step + pc * q.ldb + jc / nr * q.b_tile;
          index_t jr = 0;
          for (; jr + nr <= nc; jr += nr) {
            full(kc, a_panel, q.lda, b_rows + jr / nr * q.b_tile, q.ldb, c_rows + jr, q.ldc, nr, args);
          }
          if (jr < nc) {
            const auto tail = gemm_kernel_for<T>(true, static_cast<int>(rows), static_cast<int>(ceil_div(nc - jr, w)));
            tail(kc, a_panel, q.lda, b_rows + jr / nr * q.b_tile, q.ldb, c_rows + jr, q.ldc, nc - jr, args);
          }
          fresh = false;
        }
      }
    }
  }
}

/// Slack after a buffer read in place by conv1d_tap_product (one register).
template <class T>
constexpr index_t conv1d_slack() {
  return gemm_config<T>::width;
}

/// w [O, C/groups, K] regrouped tap-major as [groups, K, O/groups, C/groups] (`flip` false), or flipped and
/// transposed as [groups, K, C/groups, O/groups] with tap s holding w[:, :, K − 1 − s]ᵀ (`flip` true, the
/// weight of the input gradient), into the calling thread's weight buffer.
template <class T>
const T* conv1d_taps_of_weight(const T* w, const conv1d_shape& g, bool flip) {
  const index_t k = g.kernel, og = g.group_out(), cg = g.group_in();
  T* out = conv1d_buffer<T, slot_weight>(g.out_channels * cg * k);
  for (index_t grp = 0; grp < g.groups; ++grp)
    for (index_t o = 0; o < og; ++o)
      for (index_t c = 0; c < cg; ++c)
        for (index_t t = 0; t < k; ++t) {
          const T v = w[((grp * og + o) * cg + c) * k + t];
          if (flip) {
            out[((grp * k + (k - 1 - t)) * cg + c) * og + o] = v;
          } else {
            out[((grp * k + t) * og + o) * cg + c] = v;
          }
        }
  return out;
}

/// dst[r, j] = src[r, j − offset] for j < row (0 where j − offset is outside [0, length)), rows r < rows of
/// src at stride `length` and of dst at stride `row`.
template <class T>
void conv1d_pad_rows(const T* src, index_t rows, index_t length, index_t offset, index_t row, T* dst) {
  const index_t lo = std::clamp<index_t>(offset, 0, row), hi = std::clamp<index_t>(offset + length, lo, row);
  for (index_t r = 0; r < rows; ++r) {
    T* d = dst + r * row;
    std::fill(d, d + lo, T(0));
    if (hi > lo) std::memcpy(d + lo, src + r * length + (lo - offset), sizeof(T) * static_cast<std::size_t>(hi - lo));
    std::fill(d + hi, d + row, T(0));
  }
}

/// out[b] (+ bias) = Σ_s wt_s · src_b[:, s·d : s·d + n] per item and group, src_b being item b of `src` [B,
/// rows, length] shifted right by `offset` in zero padding to `padded` columns. The forward (src = x, wt the
/// tap-major weight) and the input gradient (src = gy, wt the flipped transposed weight) of the per-tap path.
template <class T>
void conv1d_taps_apply(const T* src, index_t in_rows, index_t length, index_t offset, index_t padded, const T* wt,
                       index_t out_rows, index_t n, const T* bias, const conv1d_shape& g, T* out) {
  const index_t k = g.kernel, groups = g.groups, gi = in_rows / groups, go = out_rows / groups;
  parallel_for(0, g.batch, 1, [&](index_t b0, index_t b1) {
    const index_t size = in_rows * padded + conv1d_slack<T>();
    T* xp = conv1d_buffer<T, slot_work0>(size);
    std::fill(xp + in_rows * padded, xp + size, T(0));
    for (index_t b = b0; b < b1; ++b) {
      conv1d_pad_rows(src + b * in_rows * length, in_rows, length, offset, padded, xp);
      for (index_t grp = 0; grp < groups; ++grp) {
        conv1d_tap_product<T>({go, n, gi, k, wt + grp * k * go * gi, gi, go * gi, xp + grp * gi * padded, padded,
                               g.dilation, gemm_config<T>::nr, out + (b * out_rows + grp * go) * n, n, false,
                               bias != nullptr ? bias + grp * go : nullptr});
      }
    }
  });
}

/// Fixed number of batch chunks the weight gradient sums separately (then adds in chunk order), so threads
/// can share the batch and the result does not depend on the thread count.
inline index_t conv1d_weight_grad_chunks(index_t batch) { return std::min<index_t>(batch, 4); }

// ~~~ implementation: Winograd F(4, 3) for kernel 3 ~~~
//
// With kernel 3 the per-tap product does 3 multiply-adds per output, channel pair and item. Winograd's minimal
// filtering F(4, 3) (interpolation points 0, ±1, ±2, ∞) gets four outputs of one dilation class, y_{j + i·d}
// (i < 4), from the six inputs x_i = xp[j + i·d] (i < 6) with six products instead of twelve:
//   V = Bᵀx, U = G w, M_k = U_k · V_k (k < 6), y = Aᵀ M, with
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
//   G = [1/4 0 0; −1/6 −1/6 −1/6; −1/6 1/6 −1/6; 1/24 1/12 1/6; 1/24 −1/12 1/6; 0 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
// Over the channels each M_k is one GEMM, so the products cost 1/2 of the taps' multiply-adds. The weight
// gradient is the adjoint: dU_k = Σ_tiles dM_k · V_kᵀ with dM = A·gy (per tile), then dw = Gᵀ dU.
// Tile t = q·d + r (r < d) covers the outputs 4dq + r + i·d: blocks of 4d outputs, the last one cut at the
// output length. The GEMMs run channels-last: per item the input is transposed once into xᵀ [positions,
// channels] (zero-padded), the input transform of a block of up to mr tiles goes to an L1-resident buffer
// right before its micro-kernel calls (A operand, tile rows), the transformed weight is packed once per call
// (B operand, nr-wide panels of output channels), and each mr × nr block of the six M_k is turned into outputs
// while in L1. Only the output (channels-last) is transposed back at the end of the item.
// With AVX-512 and dilation 1, 2, 4 or 8, lengths that fill blocks of 16 tiles take the row path instead
// (conv1d_wino_rows_apply below): the roles of the operands swapped so that nothing is transposed in memory
// in the forward and the input gradient (the transposes were ~28% of a forward + backward); its weight
// gradient still transposes x once per item.

/// True where the kernels take F(4, 3): kernel 3 in float. Double keeps the direct per-tap sums, whose every
/// output is a sum of its own terms only (exact zeros stay exact, as gradient checks and structural tests expect).
template <class T>
bool conv1d_use_winograd(const conv1d_shape& s) {
  return s.kernel == 3 && std::is_same_v<T, float>;
}

/// Number of tiles of an output length n at dilation d (whole blocks of 4d outputs).
inline index_t conv1d_wino_tiles(index_t n, index_t d) { return (n + 4 * d - 1) / (4 * d) * d; }

/// First output (and first input of the padded source) of tile t at dilation d.
inline index_t conv1d_wino_start(index_t t, index_t d) { return 4 * d * (t / d) + t % d; }

#if KEXUE_USE_XSIMD && defined(__AVX512F__)
#define KEXUE_CONV1D_AVX512_TRANSPOSE 1
/// dst[j·ld_dst + i] = src[i·ld_src + j] for the 16 × 16 block of floats at src: 16 loads, 64 shuffles, 16
/// stores of whole cache lines.
inline void conv1d_transpose_16(const float* src, index_t ld_src, float* dst, index_t ld_dst) noexcept {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld_src);
  for (int i = 0; i < 8; ++i) {  // per 128-bit lane: rows 2i, 2i + 1 interleaved, columns 4L + {0, 1} / {2, 3}
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4i + j], lane L: rows 4i..4i + 3 of column 4L + j
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), e = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, e));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, e));
  }
  for (int j = 0; j < 4; ++j) {  // lanes regrouped so that each register holds two columns of 8 rows
    t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
  }
  for (int j = 0; j < 4; ++j) {  // column j, 4 + j, 8 + j, 12 + j: all 16 rows
    _mm512_storeu_ps(dst + j * ld_dst, _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88));
    _mm512_storeu_ps(dst + (8 + j) * ld_dst, _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd));
    _mm512_storeu_ps(dst + (4 + j) * ld_dst, _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88));
    _mm512_storeu_ps(dst + (12 + j) * ld_dst, _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd));
  }
}
#endif

/// dst[j·ld_dst + i] = src[i·ld_src + j] for i < rows, j < cols, through register transposes of square blocks
/// where the instruction set has them (16 × 16 floats with AVX-512, 8 × 8 floats / 4 × 4 doubles with AVX).
template <class T>
void conv1d_transpose(const T* src, index_t ld_src, index_t rows, index_t cols, T* dst, index_t ld_dst) {
  index_t i0 = 0;
#ifdef KEXUE_CONV1D_AVX512_TRANSPOSE
  if constexpr (std::is_same_v<T, float>) {
    for (; i0 + 16 <= rows; i0 += 16) {
      index_t j0 = 0;
      for (; j0 + 16 <= cols; j0 += 16)
        conv1d_transpose_16(src + i0 * ld_src + j0, ld_src, dst + j0 * ld_dst + i0, ld_dst);
      for (; j0 < cols; ++j0)
        for (index_t i = i0; i < i0 + 16; ++i) dst[j0 * ld_dst + i] = src[i * ld_src + j0];
    }
  }
#endif
#ifdef KEXUE_GEMM_AVX_TRANSPOSE
  constexpr index_t side = transpose_block_size<T>;
  if constexpr (side > 0) {
    for (; i0 + side <= rows; i0 += side) {
      index_t j0 = 0;
      for (; j0 + side <= cols; j0 += side)
        transpose_block(src + i0 * ld_src + j0, ld_src, dst + j0 * ld_dst + i0, ld_dst);
      for (; j0 < cols; ++j0)
        for (index_t i = i0; i < i0 + side; ++i) dst[j0 * ld_dst + i] = src[i * ld_src + j0];
    }
  }
#endif
  for (; i0 < rows; ++i0)
    for (index_t j = 0; j < cols; ++j) dst[j * ld_dst + i0] = src[i0 * ld_src + j];
}

/// xt[p, c] = src[c, p − offset] for p < positions, c < channels (0 where p − offset is outside [0, length)):
/// the zero-padded input, channels-last, row stride `channels`.
template <class T>
void conv1d_transpose_padded(const T* src, index_t channels, index_t length, index_t offset, index_t positions, T* xt) {
  const index_t lo = std::clamp<index_t>(offset, 0, positions),
                hi = std::clamp<index_t>(offset + length, lo, positions);
  std::fill(xt, xt + lo * channels, T(0));
  if (hi > lo) conv1d_transpose(src + (lo - offset), length, channels, hi - lo, xt + lo * channels, channels);
  std::fill(xt + hi * channels, xt + positions * channels, T(0));
}

/// V_k of `count` tiles from t0 on: v[k·k_stride + r·ld + c] = Σ_i Bᵀ[k, i] · xt[(start(t0 + r) + i·d)·ld + c]
/// for c < channels, xt channels-last with row stride ld; start(t) is the first input of tile t (by default
/// conv1d_wino_start(t, d)).
template <class T, class Start>
void conv1d_wino_input(const T* xt, index_t ld, index_t channels, index_t t0, index_t count, index_t d, T* v,
                       index_t k_stride, Start start) {
  for (index_t r = 0; r < count; ++r) {
    const T* __restrict x0 = xt + start(t0 + r) * ld;
    const T* __restrict x1 = x0 + d * ld;
    const T* __restrict x2 = x1 + d * ld;
    const T* __restrict x3 = x2 + d * ld;
    const T* __restrict x4 = x3 + d * ld;
    const T* __restrict x5 = x4 + d * ld;
    T* __restrict v0 = v + r * ld;
    T* __restrict v1 = v0 + k_stride;
    T* __restrict v2 = v1 + k_stride;
    T* __restrict v3 = v2 + k_stride;
    T* __restrict v4 = v3 + k_stride;
    T* __restrict v5 = v4 + k_stride;
#pragma GCC ivdep  // the rows never overlap
    for (index_t c = 0; c < channels; ++c) {
      const T a = x4[c] - T(4) * x2[c], b = T(4) * x1[c] - x3[c];
      const T e = x4[c] - x2[c], f = T(2) * (x1[c] - x3[c]);
      v0[c] = T(4) * x0[c] - T(5) * x2[c] + x4[c];
      v1[c] = a - b;
      v2[c] = a + b;
      v3[c] = e - f;
      v4[c] = e + f;
      v5[c] = T(4) * x1[c] - T(5) * x3[c] + x5[c];
    }
  }
}

/// The transformed weight in panels of `nr` output rows: for each group, k < 6 and panel q,
/// u[((grp·6 + k)·panels + q)·in_rows·nr + c·nr + l] = Σ_t G[k, t] · f(q·nr + l, c, t) (0 beyond out_rows),
/// where f(o, c, t) = w[grp·out_rows + o, c, t] (forward: out_rows = O/groups, in_rows = C/groups) or, `flip`,
/// w[grp·in_rows + c, o, 2 − t] (input gradient: out_rows = C/groups, in_rows = O/groups). With nr the
/// micro-kernel's nr this is its B operand (channels-last path); with nr = mr, its packed A operand (row
/// path). In the calling thread's buffer.
template <class T>
const T* conv1d_wino_weight(const T* w, index_t groups, index_t out_rows, index_t in_rows, bool flip,
                            index_t nr = gemm_config<T>::nr) {
  const index_t panels = ceil_div(out_rows, nr), panel = in_rows * nr;
  T* u = conv1d_buffer<T, slot_wino_weight>(groups * 6 * panels * panel);
  const index_t ks = panels * panel;  // distance between k and k + 1
  parallel_for(0, groups * panels, 1, [&](index_t p0, index_t p1) {
    const T sixth = T(1) / T(6), twelfth = T(1) / T(12), twenty_fourth = T(1) / T(24);
    for (index_t pq = p0; pq < p1; ++pq) {
      const index_t grp = pq / panels, q = pq % panels;
      const index_t valid = std::min(nr, out_rows - q * nr);
      for (index_t c = 0; c < in_rows; ++c) {
        T* at = u + (grp * 6 * panels + q) * panel + c * nr;
        for (index_t l = 0; l < nr; ++l) {
          const index_t o = q * nr + l;
          T g0 = T(0), g1 = T(0), g2 = T(0);
          if (l < valid) {
            const T* f =
                flip ? w + ((grp * in_rows + c) * out_rows + o) * 3 : w + ((grp * out_rows + o) * in_rows + c) * 3;
            g0 = flip ? f[2] : f[0];
            g1 = f[1];
            g2 = flip ? f[0] : f[2];
          }
          const T s02 = g0 + g2, e02 = g0 * twenty_fourth + g2 * sixth;
          at[l] = g0 * T(0.25);
          at[ks + l] = -(s02 + g1) * sixth;
          at[2 * ks + l] = (g1 - s02) * sixth;
          at[3 * ks + l] = e02 + g1 * twelfth;
          at[4 * ks + l] = e02 - g1 * twelfth;
          at[5 * ks + l] = g2;
        }
      }
    }
  });
  return u;
}

/// out[b] (+ bias) = the kernel-3 convolution of src_b [in_rows, length] shifted right by `offset` in zero
/// padding with the transformed weight u of conv1d_wino_weight, n outputs per row: the forward (src = x) and
/// the input gradient (src = gy, u flipped) of kernel 3. Parallel over the items.
template <class T>
void conv1d_wino_apply(const T* src, index_t in_rows, index_t length, index_t offset, const T* u, index_t out_rows,
                       index_t n, const T* bias, const conv1d_shape& g, T* out) {
  using config = gemm_config<T>;
  constexpr index_t mr = config::mr, nr = config::nr, w = config::width;
  const index_t d = g.dilation, groups = g.groups, gi = in_rows / groups, go = out_rows / groups;
  const index_t tiles = conv1d_wino_tiles(n, d), positions = 4 * (tiles / d) * d + 2 * d;
  const index_t blocks = ceil_div(tiles, mr), panels = ceil_div(go, nr), k_u = panels * gi * nr;
  parallel_for(0, g.batch, 1, [&](index_t b0, index_t b1) {
    T* xt = conv1d_buffer<T, slot_work0>(positions * in_rows);
    T* v = conv1d_buffer<T, slot_work1>(6 * mr * in_rows);
    T* m = conv1d_buffer<T, slot_work2>(6 * mr * nr);
    T* yt = conv1d_buffer<T, slot_work3>(n * out_rows);
    const gemm_tile_args<T> args{T(1), T(0), true, false, nullptr};
    for (index_t b = b0; b < b1; ++b) {
      conv1d_transpose_padded(src + b * in_rows * length, in_rows, length, offset, positions, xt);
      gemm_prefetcher next_item;  // the next item's source, to L2 over this item's micro-kernel calls
      if (b + 1 < b1)
        next_item.plan(src + (b + 1) * in_rows * length, 0, in_rows * length * index_t(sizeof(T)), 1,
                       blocks * groups * panels * 6);
      for (index_t blk = 0; blk < blocks; ++blk) {
        const index_t t0 = tiles * blk / blocks, rows = tiles * (blk + 1) / blocks - t0;
        conv1d_wino_input(xt, in_rows, in_rows, t0, rows, d, v, mr * in_rows,
                          [d](index_t t) { return conv1d_wino_start(t, d); });
        for (index_t grp = 0; grp < groups; ++grp) {
          for (index_t q = 0; q < panels; ++q) {
            const index_t cols = std::min(nr, go - q * nr);
            const auto kernel = gemm_kernel_for<T>(true, static_cast<int>(rows), static_cast<int>(ceil_div(cols, w)));
            for (index_t k = 0; k < 6; ++k) {
              kernel(gi, v + k * mr * in_rows + grp * gi, in_rows, u + (grp * 6 + k) * k_u + q * gi * nr, nr,
                     m + k * mr * nr, nr, cols, args);
              next_item.step();
            }
            // y = Aᵀ M for the block's tiles and this panel's output rows, into yt [n, out_rows].
            const index_t o0 = grp * go + q * nr;
            const T* bias_q = bias != nullptr ? bias + o0 : nullptr;
            for (index_t r = 0; r < rows; ++r) {
              const T* __restrict m0 = m + r * nr;
              const T* __restrict m1 = m0 + mr * nr;
              const T* __restrict m2 = m1 + mr * nr;
              const T* __restrict m3 = m2 + mr * nr;
              const T* __restrict m4 = m3 + mr * nr;
              const T* __restrict m5 = m4 + mr * nr;
              const index_t j = conv1d_wino_start(t0 + r, d);
              T* __restrict y0 = yt + j * out_rows + o0;
              T* __restrict y1 = y0 + d * out_rows;
              T* __restrict y2 = y1 + d * out_rows;
              T* __restrict y3 = y2 + d * out_rows;
              if (j + 3 * d < n) {
#pragma GCC ivdep  // the rows never overlap
                for (index_t l = 0; l < cols; ++l) {
                  const T bl = bias_q != nullptr ? bias_q[l] : T(0);
                  const T s12 = m1[l] + m2[l], d12 = m1[l] - m2[l], s34 = m3[l] + m4[l], d34 = m3[l] - m4[l];
                  y0[l] = bl + m0[l] + s12 + s34;
                  y1[l] = bl + d12 + T(2) * d34;
                  y2[l] = bl + s12 + T(4) * s34;
                  y3[l] = bl + d12 + T(8) * d34 + m5[l];
                }
              } else {
#pragma GCC ivdep  // the rows never overlap
                for (index_t l = 0; l < cols; ++l) {
                  const T bl = bias_q != nullptr ? bias_q[l] : T(0);
                  const T s12 = m1[l] + m2[l], d12 = m1[l] - m2[l], s34 = m3[l] + m4[l], d34 = m3[l] - m4[l];
                  if (j < n) y0[l] = bl + m0[l] + s12 + s34;
                  if (j + d < n) y1[l] = bl + d12 + T(2) * d34;
                  if (j + 2 * d < n) y2[l] = bl + s12 + T(4) * s34;
                }
              }
            }
          }
        }
      }
      conv1d_transpose(yt, out_rows, n, out_rows, out + b * out_rows * n, n);
    }
  });
}

#ifdef KEXUE_CONV1D_AVX512_TRANSPOSE
#define KEXUE_CONV1D_WINO_ROWS 1
// The row path of F(4, 3) (AVX-512 floats, dilation 1, 2, 4 or 8): the same products with the roles swapped,
// M_k [out rows, tiles] = U_k [out rows, in rows] · V_k [in rows, tiles], so that neither the source nor the
// result is ever transposed in memory. The tiles of a row are grouped in blocks of 16 consecutive q (tile
// (q, r) covers outputs 4dq + r + i·d): seen as the matrix X[q, s] = xp[4dq + s] (s < 4d), the six inputs of
// the 16 tiles (q, r) of a block are the columns r, r + d, r + 2d, r + 3d of its 16 rows and, shifted by one
// row, r and r + d. A block of a source row is split into its 4d columns in registers (4d·log2(4d) permutes
// per 64d floats), transformed, and stored as the B operand (nr-wide panels of tiles, tile index
// (block·d + r)·16 + lane); the results of a block are transformed back and interleaved the same way, straight
// into the output row.

/// col[j][l] = flat[l·S + j] for the 16·S floats flat of v[0..S) (16 rows of S columns, row-major): the S
/// columns, each a register of 16 rows. S·log2(S) two-source permutes.
template <int S>
inline void conv1d_split_columns(const __m512* v, __m512* col) noexcept {
  if constexpr (S == 1) {
    col[0] = v[0];
  } else {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 e[S / 2], o[S / 2], ce[S / 2], co[S / 2];
    for (int m = 0; m < S / 2; ++m) {  // the even and the odd elements of the flat sequence, in order
      e[m] = _mm512_permutex2var_ps(v[2 * m], even, v[2 * m + 1]);
      o[m] = _mm512_permutex2var_ps(v[2 * m], odd, v[2 * m + 1]);
    }
    conv1d_split_columns<S / 2>(e, ce);  // the even columns: 16 rows of S / 2
    conv1d_split_columns<S / 2>(o, co);  // the odd ones
    for (int j = 0; j < S / 2; ++j) {
      col[2 * j] = ce[j];
      col[2 * j + 1] = co[j];
    }
  }
}

/// The inverse of conv1d_split_columns: v[0..S) = the 16 rows of the columns col[0..S), row-major.
template <int S>
inline void conv1d_join_columns(const __m512* col, __m512* v) noexcept {
  if constexpr (S == 1) {
    v[0] = col[0];
  } else {
    const __m512i low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 ce[S / 2], co[S / 2], e[S / 2], o[S / 2];
    for (int j = 0; j < S / 2; ++j) {
      ce[j] = col[2 * j];
      co[j] = col[2 * j + 1];
    }
    conv1d_join_columns<S / 2>(ce, e);
    conv1d_join_columns<S / 2>(co, o);
    for (int m = 0; m < S / 2; ++m) {  // even and odd elements interleaved again
      v[2 * m] = _mm512_permutex2var_ps(e[m], low, o[m]);
      v[2 * m + 1] = _mm512_permutex2var_ps(e[m], high, o[m]);
    }
  }
}

/// Blocks of 16 tiles per residue r of an output length n at dilation d (the last one cut at n).
inline index_t conv1d_wino_row_blocks(index_t n, index_t d) { return ceil_div(ceil_div(n, 4 * d), index_t(16)); }

/// True where the row path applies: dilation 1, 2, 4 or 8, and the whole blocks of 16 tiles add at most
/// 1/8 to the tiles the output needs (the channels-last path takes the other lengths).
inline bool conv1d_wino_rows_fit(index_t n, index_t d) {
  if (d != 1 && d != 2 && d != 4 && d != 8) return false;
  const index_t q = ceil_div(n, 4 * d);
  return 8 * 16 * conv1d_wino_row_blocks(n, d) <= 9 * q;
}

/// As conv1d_wino_apply through the row path, dilation D; ua is conv1d_wino_weight in mr-row panels.
template <int D>
void conv1d_wino_rows_apply(const float* src, index_t in_rows, index_t length, index_t offset, const float* ua,
                            index_t out_rows, index_t n, const float* bias, const conv1d_shape& g, float* out) {
  using config = gemm_config<float>;
  constexpr index_t mr = config::mr, nr = config::nr, w = config::width;
  static_assert(w == 16 && nr % 16 == 0, "the row path is written for 16-float registers");
  constexpr int S = 4 * D;                                        // columns of X: one block of 4d outputs per row
  constexpr index_t block_tiles = 16 * D;                         // tiles per block of 16 rows q
  constexpr index_t chunk = block_tiles > nr ? block_tiles : nr;  // tiles turned into outputs together
  const index_t groups = g.groups, gi = in_rows / groups, go = out_rows / groups;
  const index_t blocks = conv1d_wino_row_blocks(n, D), tiles = blocks * block_tiles, panels = ceil_div(tiles, nr);
  const index_t row_length = 16 * S * (blocks + 1);  // one more block: the shifted inputs of the last one
  const index_t o_panels = ceil_div(go, mr), k_v = panels * in_rows * nr, k_u = o_panels * gi * mr;
  const index_t lo = std::clamp<index_t>(offset, 0, row_length),
                hi = std::clamp<index_t>(offset + length, lo, row_length);
  parallel_for(0, g.batch, 1, [&](index_t b0, index_t b1) {
    float* row = conv1d_buffer<float, slot_work0>(row_length);
    float* v = conv1d_buffer<float, slot_work1>(6 * k_v);
    float* m = conv1d_buffer<float, slot_work2>(6 * mr * nr);
    float* y = conv1d_buffer<float, slot_work3>(4 * mr * chunk);  // Aᵀ M of a chunk: [i, row, tile]
    const gemm_tile_args<float> args{1.0f, 0.0f, true, false, nullptr};
    for (index_t b = b0; b < b1; ++b) {
      gemm_prefetcher next_item;  // the next item's source, to L2 over this item's micro-kernel calls
      if (b + 1 < b1)
        next_item.plan(src + (b + 1) * in_rows * length, 0, in_rows * length * index_t(sizeof(float)), 1,
                       groups * o_panels * panels * 6);
      // V_k [in rows, tiles] in nr-wide panels: v[k·k_v + (panel·in_rows + c)·nr + tile % nr].
      for (index_t c = 0; c < in_rows; ++c) {
        const float* __restrict from = src + (b * in_rows + c) * length;
        for (index_t p = 0; p < lo; ++p) row[p] = 0.0f;
        for (index_t p = lo; p < hi; ++p) row[p] = from[p - offset];  // a plain loop: memmove's rep movsb stalls loads
        for (index_t p = hi; p < row_length; ++p) row[p] = 0.0f;
        __m512 raw[S], prev[S], next[S];
        for (int s = 0; s < S; ++s) raw[s] = _mm512_loadu_ps(row + 16 * s);
        conv1d_split_columns<S>(raw, prev);
        for (index_t j = 0; j < blocks; ++j) {
          for (int s = 0; s < S; ++s) raw[s] = _mm512_loadu_ps(row + 16 * S * (j + 1) + 16 * s);
          conv1d_split_columns<S>(raw, next);
          for (int r = 0; r < D; ++r) {
            const __m512 x0 = prev[r], x1 = prev[r + D], x2 = prev[r + 2 * D], x3 = prev[r + 3 * D];
            const __m512 x4 =
                _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next[r]), _mm512_castps_si512(prev[r]), 1));
            const __m512 x5 = _mm512_castsi512_ps(
                _mm512_alignr_epi32(_mm512_castps_si512(next[r + D]), _mm512_castps_si512(prev[r + D]), 1));
            const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
            const __m512 a = _mm512_fnmadd_ps(four, x2, x4), bb = _mm512_fmsub_ps(four, x1, x3);
            const __m512 e = _mm512_sub_ps(x4, x2), f = _mm512_mul_ps(two, _mm512_sub_ps(x1, x3));
            const index_t tile = (j * D + r) * 16;
            float* at = v + ((tile / nr) * in_rows + c) * nr + tile % nr;
            _mm512_storeu_ps(at, _mm512_add_ps(_mm512_fnmadd_ps(five, x2, _mm512_mul_ps(four, x0)), x4));
            _mm512_storeu_ps(at + k_v, _mm512_sub_ps(a, bb));
            _mm512_storeu_ps(at + 2 * k_v, _mm512_add_ps(a, bb));
            _mm512_storeu_ps(at + 3 * k_v, _mm512_sub_ps(e, f));
            _mm512_storeu_ps(at + 4 * k_v, _mm512_add_ps(e, f));
            _mm512_storeu_ps(at + 5 * k_v, _mm512_add_ps(_mm512_fnmadd_ps(five, x3, _mm512_mul_ps(four, x1)), x5));
          }
          for (int s = 0; s < S; ++s) prev[s] = next[s];
        }
      }
      // M_k = U_k V_k per mr rows and chunk of tiles, then y = Aᵀ M (+ bias) interleaved into the output rows.
      for (index_t grp = 0; grp < groups; ++grp) {
        for (index_t p = 0; p < o_panels; ++p) {
          const index_t rows = std::min(mr, go - p * mr), o0 = grp * go + p * mr;
          for (index_t t0 = 0; t0 < tiles; t0 += chunk) {
            const index_t chunk_tiles = std::min(chunk, tiles - t0);
            // The chunk's output lines, requested for writing over its micro-kernel calls (else each store of
            // the join below waits for its line: ~10% of the forward at B = 32, L = 256).
            const index_t first_out = t0 / block_tiles * 16 * S;
            gemm_prefetcher out_lines;
            out_lines.for_write = true;
            out_lines.plan(out + (b * out_rows + o0) * n + first_out, n * index_t(sizeof(float)),
                           std::min(n - first_out, chunk_tiles / block_tiles * 16 * S) * index_t(sizeof(float)), rows,
                           6 * ceil_div(chunk_tiles, nr));
            for (index_t c0 = 0; c0 < chunk_tiles; c0 += nr) {
              const index_t cols = std::min(nr, chunk_tiles - c0), panel = (t0 + c0) / nr;
              const auto kernel = gemm_kernel_for<float>(false, static_cast<int>(rows), static_cast<int>(cols / w));
              for (index_t k = 0; k < 6; ++k) {
                kernel(gi, ua + (grp * 6 + k) * k_u + p * gi * mr, mr, v + k * k_v + (panel * in_rows + grp * gi) * nr,
                       nr, m + k * mr * nr, nr, cols, args);
                next_item.step();
                out_lines.step();
              }
              for (index_t i = 0; i < rows; ++i) {
                const __m512 bl = _mm512_set1_ps(bias != nullptr ? bias[o0 + i] : 0.0f);
                for (index_t l = 0; l < cols; l += 16) {
                  const float* mk = m + i * nr + l;
                  const __m512 m0 = _mm512_loadu_ps(mk), m1 = _mm512_loadu_ps(mk + mr * nr),
                               m2 = _mm512_loadu_ps(mk + 2 * mr * nr), m3 = _mm512_loadu_ps(mk + 3 * mr * nr),
                               m4 = _mm512_loadu_ps(mk + 4 * mr * nr), m5 = _mm512_loadu_ps(mk + 5 * mr * nr);
                  const __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);
                  const __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
                  float* yk = y + i * chunk + c0 + l;
                  _mm512_storeu_ps(yk, _mm512_add_ps(_mm512_add_ps(bl, m0), _mm512_add_ps(s12, s34)));
                  _mm512_storeu_ps(yk + mr * chunk, _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, _mm512_add_ps(bl, d12)));
                  _mm512_storeu_ps(yk + 2 * mr * chunk,
                                   _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s34, _mm512_add_ps(bl, s12)));
                  _mm512_storeu_ps(
                      yk + 3 * mr * chunk,
                      _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d34, _mm512_add_ps(bl, d12)), m5));
                }
              }
            }
            // Each block of 16 rows q in the chunk: columns r + i·d from y, joined into 64d consecutive outputs.
            for (index_t i = 0; i < rows; ++i) {
              float* dst = out + (b * out_rows + o0 + i) * n;
              for (index_t jb = 0; jb * block_tiles < chunk_tiles; ++jb) {
                const index_t j = (t0 + jb * block_tiles) / block_tiles;
                __m512 col[S], joined[S];
                for (int r = 0; r < D; ++r)
                  for (int q = 0; q < 4; ++q)
                    col[r + q * D] = _mm512_loadu_ps(y + (q * mr + i) * chunk + jb * block_tiles + r * 16);
                conv1d_join_columns<S>(col, joined);
                const index_t first = j * 16 * S;
                for (int s = 0; s < S; ++s) {
                  const index_t at = first + 16 * s;
                  if (at + 16 <= n) {
                    _mm512_storeu_ps(dst + at, joined[s]);
                  } else if (at < n) {
                    _mm512_mask_storeu_ps(dst + at, static_cast<__mmask16>((1u << (n - at)) - 1u), joined[s]);
                  }
                }
              }
            }
          }
        }
      }
    }
  });
}

/// The row path at the dilation of g (1, 2, 4 or 8: see conv1d_wino_rows_fit).
inline void conv1d_wino_rows(const float* src, index_t in_rows, index_t length, index_t offset, const float* ua,
                             index_t out_rows, index_t n, const float* bias, const conv1d_shape& g, float* out) {
  switch (g.dilation) {
    case 1:
      return conv1d_wino_rows_apply<1>(src, in_rows, length, offset, ua, out_rows, n, bias, g, out);
    case 2:
      return conv1d_wino_rows_apply<2>(src, in_rows, length, offset, ua, out_rows, n, bias, g, out);
    case 4:
      return conv1d_wino_rows_apply<4>(src, in_rows, length, offset, ua, out_rows, n, bias, g, out);
    default:
      return conv1d_wino_rows_apply<8>(src, in_rows, length, offset, ua, out_rows, n, bias, g, out);
  }
}
#endif

/// dw[grp·og + o, c, t] = Σ_k G[k, t] · Σ_q partial[q, grp, k, o, c] for partial [chunks, groups, 6, O/groups,
/// C/groups] (the sums dU_k of each batch chunk), the chunks added in order (into chunk 0).
template <class T>
void conv1d_wino_weight_grad_finish(T* partial, const conv1d_shape& g, index_t chunks, T* dw) {
  const index_t og = g.group_out(), cg = g.group_in(), groups = g.groups, per = 6 * og * cg;
  parallel_for(0, groups * og, std::max<index_t>(1, 4096 / std::max<index_t>(1, 6 * chunks * cg)),
               [&](index_t r0, index_t r1) {
                 const T sixth = T(1) / T(6), twelfth = T(1) / T(12), twenty_fourth = T(1) / T(24);
                 for (index_t r = r0; r < r1; ++r) {
                   T* u = partial + r / og * per + r % og * cg;  // u_k[c] at u[k·og·cg + c]
                   for (index_t k = 0; k < 6; ++k) {
                     T* __restrict sum = u + k * og * cg;
                     for (index_t qq = 1; qq < chunks; ++qq) {
                       const T* __restrict add = sum + qq * groups * per;
                       for (index_t c = 0; c < cg; ++c) sum[c] += add[c];
                     }
                   }
                   T* out = dw + r * cg * 3;
                   const index_t ks = og * cg;
                   for (index_t c = 0; c < cg; ++c) {
                     const T s12 = u[ks + c] + u[2 * ks + c], d12 = u[2 * ks + c] - u[ks + c];
                     const T s34 = u[3 * ks + c] + u[4 * ks + c], d34 = u[3 * ks + c] - u[4 * ks + c];
                     out[c * 3] = u[c] * T(0.25) - s12 * sixth + s34 * twenty_fourth;
                     out[c * 3 + 1] = d12 * sixth + d34 * twelfth;
                     out[c * 3 + 2] = (s34 - s12) * sixth + u[5 * ks + c];
                   }
                 }
               });
}

/// As conv1d_weight_grad for kernel 3, through F(4, 3): dU_k [O/groups, C/groups] = Σ_b dM_k(gy_b) · V_k(x_b)ᵀ,
/// summed per batch chunk (items in order), then dw = Gᵀ Σ_chunks dU in chunk order. Per item: x transposed
/// and transformed (V_k channels-last [tiles, C], the B operand read in place), gy packed per group into mr-row
/// panels and transformed in them (dM_k, the packed A operand).
template <class T>
void conv1d_wino_weight_grad(const T* x, const T* gy, const conv1d_shape& g, T* dw) {
  using config = gemm_config<T>;
  constexpr index_t mr = config::mr, nr = config::nr, w = config::width;
  const index_t og = g.group_out(), cg = g.group_in(), lo = g.out_length(), ci = g.in_channels;
  const index_t d = g.dilation, groups = g.groups, per = 6 * og * cg;  // per chunk and group
  const index_t tiles = conv1d_wino_tiles(lo, d), positions = 4 * (tiles / d) * d + 2 * d;
  const index_t o_panels = ceil_div(og, mr), k_dm = o_panels * tiles * mr;
  const index_t chunks = conv1d_weight_grad_chunks(g.batch);
  T* partial = conv1d_buffer<T, slot_partial>(chunks * groups * per);  // [chunk, groups, 6, O/groups, C/groups]
  parallel_for(0, chunks, 1, [&](index_t q0, index_t q1) {
    T* xt = conv1d_buffer<T, slot_work0>(positions * ci);
    T* v = conv1d_buffer<T, slot_work1>(6 * tiles * ci + w);  // + w: the last row is read a register past C
    T* gp = conv1d_buffer<T, slot_work2>(o_panels * mr * lo);
    T* dm = conv1d_buffer<T, slot_work3>(6 * k_dm);
    std::fill(v + 6 * tiles * ci, v + 6 * tiles * ci + w, T(0));
    for (index_t q = q0; q < q1; ++q) {
      const index_t b_begin = g.batch * q / chunks, b_end = g.batch * (q + 1) / chunks;
      for (index_t b = b_begin; b < b_end; ++b) {
        conv1d_transpose_padded(x + b * ci * g.length, ci, g.length, g.pad_left, positions, xt);
        conv1d_wino_input(xt, ci, ci, 0, tiles, d, v, tiles * ci, [d](index_t t) { return conv1d_wino_start(t, d); });
        for (index_t grp = 0; grp < groups; ++grp) {
          gemm_pack_a(false, gy + (b * g.out_channels + grp * og) * lo, lo, og, lo, gp);
          // dM_k = A gy per tile, in the packed panels: dm[(k·o_panels + p)·tiles·mr + t·mr + i].
          for (index_t p = 0; p < o_panels; ++p) {
            const T* panel = gp + p * mr * lo;
            for (index_t t = 0; t < tiles; ++t) {
              const index_t j = conv1d_wino_start(t, d);
              const T* __restrict g0 = panel + j * mr;
              const T* __restrict g1 = g0 + d * mr;
              const T* __restrict g2 = g1 + d * mr;
              const T* __restrict g3 = g2 + d * mr;
              T* __restrict d0 = dm + (p * tiles + t) * mr;
              T* __restrict d1 = d0 + k_dm;
              T* __restrict d2 = d1 + k_dm;
              T* __restrict d3 = d2 + k_dm;
              T* __restrict d4 = d3 + k_dm;
              T* __restrict d5 = d4 + k_dm;
              const bool h0 = j < lo, h1 = j + d < lo, h2 = j + 2 * d < lo, h3 = j + 3 * d < lo;
#pragma GCC ivdep  // the rows never overlap
              for (index_t i = 0; i < mr; ++i) {
                const T a0 = h0 ? g0[i] : T(0), a1 = h1 ? g1[i] : T(0), a2 = h2 ? g2[i] : T(0), a3 = h3 ? g3[i] : T(0);
                const T s02 = a0 + a2, s13 = a1 + a3, e02 = a0 + T(4) * a2, e13 = T(2) * a1 + T(8) * a3;
                d0[i] = a0;
                d1[i] = s02 + s13;
                d2[i] = s02 - s13;
                d3[i] = e02 + e13;
                d4[i] = e02 - e13;
                d5[i] = a3;
              }
            }
          }
          for (index_t k = 0; k < 6; ++k) {
            T* dst = partial + (q * groups + grp) * per + k * og * cg;
            for (index_t p = 0; p < o_panels; ++p) {
              const index_t rows = std::min(mr, og - p * mr);
              for (index_t jc = 0; jc < cg; jc += nr) {
                const index_t cols = std::min(nr, cg - jc);
                const auto kernel =
                    gemm_kernel_for<T>(false, static_cast<int>(rows), static_cast<int>(ceil_div(cols, w)));
                const gemm_tile_args<T> args{T(1), T(1), b == b_begin, false, nullptr};
                kernel(tiles, dm + k * k_dm + p * tiles * mr, mr, v + k * tiles * ci + grp * cg + jc, ci,
                       dst + p * mr * cg + jc, cg, cols, args);
              }
            }
          }
        }
      }
    }
  });
  conv1d_wino_weight_grad_finish(partial, g, chunks, dw);
}

#ifdef KEXUE_CONV1D_WINO_ROWS
/// As conv1d_wino_weight_grad through the row path's tiles (dilation D, see conv1d_wino_rows_apply):
/// dU_k [O/groups, C/groups] += dM_k · V_k over two items at a time (a depth of two items' tiles per call).
/// dM_k [O, tiles] is split from the rows of gy in registers (the A operand read in place, no packing); V_k
/// [tiles, C] comes from x transposed, as on the channels-last path, tile (q, r) of block j being row
/// (j·D + r)·16 + q % 16.
template <int D>
void conv1d_wino_rows_weight_grad(const float* x, const float* gy, const conv1d_shape& g, float* dw) {
  using config = gemm_config<float>;
  constexpr index_t mr = config::mr, nr = config::nr, w = config::width;
  constexpr int S = 4 * D;
  constexpr index_t block_tiles = 16 * D, pair = 2;
  const index_t og = g.group_out(), cg = g.group_in(), lo = g.out_length(), ci = g.in_channels, co = g.out_channels;
  const index_t groups = g.groups, per = 6 * og * cg;  // per chunk and group
  const index_t blocks = conv1d_wino_row_blocks(lo, D), tiles = blocks * block_tiles, depth_max = pair * tiles;
  const index_t positions = 16 * S * blocks + 2 * D, row_length = 16 * S * blocks;
  const index_t o_panels = ceil_div(og, mr), chunks = conv1d_weight_grad_chunks(g.batch);
  float* partial = conv1d_buffer<float, slot_partial>(chunks * groups * per);  // [chunk, groups, 6, og, cg]
  const auto start = [](index_t t) { return 4 * D * (t / block_tiles * 16 + t % 16) + t / 16 % D; };
  parallel_for(0, chunks, 1, [&](index_t q0, index_t q1) {
    float* xt = conv1d_buffer<float, slot_work0>(positions * ci);
    float* v = conv1d_buffer<float, slot_work1>(6 * depth_max * ci + w);  // + w: B is read a register past C
    float* row = conv1d_buffer<float, slot_work2>(row_length);
    float* dm = conv1d_buffer<float, slot_work3>(6 * co * depth_max);  // dM_k [O, two items' tiles]
    std::fill(v + 6 * depth_max * ci, v + 6 * depth_max * ci + w, 0.0f);
    for (index_t q = q0; q < q1; ++q) {
      const index_t b_begin = g.batch * q / chunks, b_end = g.batch * (q + 1) / chunks;
      for (index_t b = b_begin; b < b_end; b += pair) {
        const index_t items = std::min(pair, b_end - b);
        for (index_t u = 0; u < items; ++u) {
          conv1d_transpose_padded(x + (b + u) * ci * g.length, ci, g.length, g.pad_left, positions, xt);
          conv1d_wino_input(xt, ci, ci, 0, tiles, index_t(D), v + u * tiles * ci, depth_max * ci, start);
          // dM_k = A gy per tile: columns r + i·D of each block of 16 rows of gy seen as [q, 4D].
          for (index_t o = 0; o < co; ++o) {
            const float* __restrict from = gy + ((b + u) * co + o) * lo;
            for (index_t p = 0; p < lo; ++p) row[p] = from[p];
            for (index_t p = lo; p < row_length; ++p) row[p] = 0.0f;
            float* to = dm + o * depth_max + u * tiles;
            for (index_t j = 0; j < blocks; ++j) {
              __m512 raw[S], col[S];
              for (int s = 0; s < S; ++s) raw[s] = _mm512_loadu_ps(row + 16 * S * j + 16 * s);
              conv1d_split_columns<S>(raw, col);
              for (int r = 0; r < D; ++r) {
                const __m512 a0 = col[r], a1 = col[r + D], a2 = col[r + 2 * D], a3 = col[r + 3 * D];
                const __m512 s02 = _mm512_add_ps(a0, a2), s13 = _mm512_add_ps(a1, a3);
                const __m512 e02 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), a2, a0);
                const __m512 e13 = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), a3, _mm512_add_ps(a1, a1));
                float* at = to + (j * D + r) * 16;
                const index_t k_dm = co * depth_max;
                _mm512_storeu_ps(at, a0);
                _mm512_storeu_ps(at + k_dm, _mm512_add_ps(s02, s13));
                _mm512_storeu_ps(at + 2 * k_dm, _mm512_sub_ps(s02, s13));
                _mm512_storeu_ps(at + 3 * k_dm, _mm512_add_ps(e02, e13));
                _mm512_storeu_ps(at + 4 * k_dm, _mm512_sub_ps(e02, e13));
                _mm512_storeu_ps(at + 5 * k_dm, a3);
              }
            }
          }
        }
        const gemm_tile_args<float> args{1.0f, 1.0f, b == b_begin, false, nullptr};
        for (index_t grp = 0; grp < groups; ++grp) {
          for (index_t k = 0; k < 6; ++k) {
            float* dst = partial + (q * groups + grp) * per + k * og * cg;
            for (index_t p = 0; p < o_panels; ++p) {
              const index_t rows = std::min(mr, og - p * mr);
              for (index_t jc = 0; jc < cg; jc += nr) {
                const index_t cols = std::min(nr, cg - jc);
                const auto kernel =
                    gemm_kernel_for<float>(true, static_cast<int>(rows), static_cast<int>(ceil_div(cols, w)));
                kernel(items * tiles, dm + (k * co + grp * og + p * mr) * depth_max, depth_max,
                       v + k * depth_max * ci + grp * cg + jc, ci, dst + p * mr * cg + jc, cg, cols, args);
              }
            }
          }
        }
      }
    }
  });
  conv1d_wino_weight_grad_finish(partial, g, chunks, dw);
}

/// The row path's weight gradient at the dilation of g (1, 2, 4 or 8).
inline void conv1d_wino_rows_weight_grad(const float* x, const float* gy, const conv1d_shape& g, float* dw) {
  switch (g.dilation) {
    case 1:
      return conv1d_wino_rows_weight_grad<1>(x, gy, g, dw);
    case 2:
      return conv1d_wino_rows_weight_grad<2>(x, gy, g, dw);
    case 4:
      return conv1d_wino_rows_weight_grad<4>(x, gy, g, dw);
    default:
      return conv1d_wino_rows_weight_grad<8>(x, gy, g, dw);
  }
}
#endif

/// The per-tap weight gradient: dwᵀ_t [C/groups, O/groups] = Σ_b x_b shifted (read in place; the taps' zero
/// padding only narrows the range of j) · gy_bᵀ (packed once per item), items summed in order within each of
/// conv1d_weight_grad_chunks chunks, in parallel over chunks.
template <class T>
void conv1d_taps_weight_grad(const T* x, const T* gy, const conv1d_shape& g, T* dw) {
  constexpr index_t nr = gemm_config<T>::nr;
  const index_t k = g.kernel, og = g.group_out(), cg = g.group_in(), lo = g.out_length();
  const index_t d = g.dilation, groups = g.groups, per = k * cg * og;  // per chunk and group
  const index_t panel_cols = round_up_to(og, nr);
  const index_t chunks = conv1d_weight_grad_chunks(g.batch);
  T* partial = conv1d_buffer<T, slot_partial>(chunks * groups * per);  // [chunk, groups, K, C/groups, O/groups]
  parallel_for(0, chunks, 1, [&](index_t q0, index_t q1) {
    T* packed = conv1d_buffer<T, slot_work0>(panel_cols * lo);
    for (index_t q = q0; q < q1; ++q) {
      const index_t b_begin = g.batch * q / chunks, b_end = g.batch * (q + 1) / chunks;
      for (index_t b = b_begin; b < b_end; ++b) {
        for (index_t grp = 0; grp < groups; ++grp) {
          gemm_pack_b(true, gy + (b * g.out_channels + grp * og) * lo, lo, lo, og, packed);
          for (index_t t = 0; t < k; ++t) {
            const index_t shift = t * d - g.pad_left;  // x column of output position j: j + shift
            const index_t j_lo = std::max<index_t>(0, -shift), j_hi = std::min(lo, g.length - shift);
            const index_t depth = std::max<index_t>(0, j_hi - j_lo);
            conv1d_tap_product<T>({cg, og, depth, 1, x + (b * g.in_channels + grp * cg) * g.length + j_lo + shift,
                                   g.length, 0, packed + j_lo * nr, nr, 0, nr * lo,
                                   partial + (q * groups + grp) * per + t * cg * og, og, b > b_begin, nullptr});
          }
        }
      }
    }
  });
  // dw[grp·og + o, c, t] = Σ_q partial[q, grp, t, c, o], the chunks added in order, one row of o at a time.
  parallel_for(0, groups * k * cg, std::max<index_t>(1, 4096 / std::max<index_t>(1, chunks * og)),
               [&](index_t r0, index_t r1) {
                 for (index_t r = r0; r < r1; ++r) {
                   const index_t grp = r / (k * cg), t = r / cg % k, c = r % cg;
                   const T* row = partial + grp * per + (t * cg + c) * og;
                   T* out = dw + (grp * og * cg + c) * k + t;
                   for (index_t o = 0; o < og; ++o) {
                     T sum = row[o];
                     for (index_t q = 1; q < chunks; ++q) sum += row[q * groups * per + o];
                     out[o * cg * k] = sum;
                   }
                 }
               });
}

}  // namespace detail

// ~~~ implementation: entry points ~~~

template <class T>
void conv1d_forward(const conv1d_shape& s, const T* x, const T* w, const T* bias, T* y) {
  if (detail::conv1d_use_winograd<T>(s)) {
#ifdef KEXUE_CONV1D_WINO_ROWS
    if constexpr (std::is_same_v<T, float>) {
      if (detail::conv1d_wino_rows_fit(s.out_length(), s.dilation)) {
        const float* ua =
            detail::conv1d_wino_weight(w, s.groups, s.group_out(), s.group_in(), false, detail::gemm_config<float>::mr);
        return detail::conv1d_wino_rows(x, s.in_channels, s.length, s.pad_left, ua, s.out_channels, s.out_length(),
                                        bias, s, y);
      }
    }
#endif
    const T* u = detail::conv1d_wino_weight(w, s.groups, s.group_out(), s.group_in(), false);
    return detail::conv1d_wino_apply(x, s.in_channels, s.length, s.pad_left, u, s.out_channels, s.out_length(), bias, s,
                                     y);
  }
  const T* wt = detail::conv1d_taps_of_weight(w, s, false);
  detail::conv1d_taps_apply(x, s.in_channels, s.length, s.pad_left, s.pad_left + s.length + s.pad_right, wt,
                            s.out_channels, s.out_length(), bias, s, y);
}

/// dx[c, i] = Σ_s w[o, c, K − 1 − s] · gyp[o, i + s·d] with gy shifted right by (K − 1)·d − pad_left in zero
/// padding: the forward kernel on the flipped transposed weight.
template <class T>
void conv1d_input_grad(const conv1d_shape& s, const T* gy, const T* w, T* dx) {
  const index_t span = (s.kernel - 1) * s.dilation;
  if (detail::conv1d_use_winograd<T>(s)) {
#ifdef KEXUE_CONV1D_WINO_ROWS
    if constexpr (std::is_same_v<T, float>) {
      if (detail::conv1d_wino_rows_fit(s.length, s.dilation)) {
        const float* ua =
            detail::conv1d_wino_weight(w, s.groups, s.group_in(), s.group_out(), true, detail::gemm_config<float>::mr);
        return detail::conv1d_wino_rows(gy, s.out_channels, s.out_length(), span - s.pad_left, ua, s.in_channels,
                                        s.length, static_cast<const float*>(nullptr), s, dx);
      }
    }
#endif
    const T* u = detail::conv1d_wino_weight(w, s.groups, s.group_in(), s.group_out(), true);
    return detail::conv1d_wino_apply(gy, s.out_channels, s.out_length(), span - s.pad_left, u, s.in_channels, s.length,
                                     static_cast<const T*>(nullptr), s, dx);
  }
  const T* wt = detail::conv1d_taps_of_weight(w, s, true);
  detail::conv1d_taps_apply(gy, s.out_channels, s.out_length(), span - s.pad_left, s.length + span, wt, s.in_channels,
                            s.length, static_cast<const T*>(nullptr), s, dx);
}

template <class T>
void conv1d_weight_grad(const conv1d_shape& s, const T* x, const T* gy, T* dw) {
  if (detail::conv1d_use_winograd<T>(s)) {
#ifdef KEXUE_CONV1D_WINO_ROWS
    if constexpr (std::is_same_v<T, float>) {
      if (detail::conv1d_wino_rows_fit(s.out_length(), s.dilation))
        return detail::conv1d_wino_rows_weight_grad(x, gy, s, dw);
    }
#endif
    return detail::conv1d_wino_weight_grad(x, gy, s, dw);
  }
  detail::conv1d_taps_weight_grad(x, gy, s, dw);
}

}  // namespace kexue::kernels
