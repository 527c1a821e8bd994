// SPDX-License-Identifier: MIT
// Stride-1 1-D convolution kernels on raw pointers (forward, input gradient, weight gradient) and their scalar twins.
#pragma once

#include <algorithm>    // std::min, std::max, std::fill, std::clamp
#include <cstddef>      // std::size_t
#include <cstring>      // std::memcpy
#include <type_traits>  // std::integral_constant: the dilations the Winograd transforms specialise

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
/// @details Parallel over the items; the result does not depend on the thread count. Kernel 3 goes through
///          Winograd's minimal filtering (see below), other kernels through the per-tap product.
template <class T>
void conv1d_forward(const conv1d_shape& s, const T* x, const T* w, const T* bias, T* y);

/// @brief dx[b, c, i] = Σ_{o, t} w[o, c, t] · gy[b, o, i + pad_left − t·dilation] (0 outside [0, L_out)): the
///        adjoint of conv1d_forward in x (a stride-1 transposed convolution).
/// @param gy [B, O, L_out]; w [O, C/groups, K]; dx [B, C, L], overwritten.
template <class T>
void conv1d_input_grad(const conv1d_shape& s, const T* gy, const T* w, T* dx);

/// @brief dw[o, c, t] = Σ_{b, j} gy[b, o, j] · x[b, g·C/groups + c, j + t·dilation − pad_left]: the adjoint of
///        conv1d_forward in w.
/// @param x [B, C, L]; gy [B, O, L_out]; dw [O, C/groups, K], overwritten.
/// @details The batch is summed in min(B, 4) fixed chunks (in parallel), then the chunks in order: the result
///          does not depend on the thread count.
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

// ~~~ implementation: Winograd F(2, 3) for kernel 3 ~~~
//
// With kernel 3 the per-tap product does 3 multiply-adds per output, channel pair and item. Winograd's minimal
// filtering F(2, 3) gets two outputs of one dilation class, j and j + d, from the four inputs x0..x3 =
// xp[j + {0, 1, 2, 3}·d] with four products instead of six:
//   V = (x0 − x2, x1 + x2, x2 − x1, x1 − x3),  U = (g0, (g0 + g1 + g2) / 2, (g0 − g1 + g2) / 2, g2),
//   M_k = U_k · V_k,  y_j = M1 + M2 + M3,  y_{j+d} = M2 − M3 − M4,
// and over the channels each M_k is one GEMM [O, C] · [C, pairs]: 2/3 of the multiply-adds of the taps. The
// weight gradient is the adjoint: dU_k = Σ_pairs dM_k · V_kᵀ with dM = (g_j, g_j + g_{j+d}, g_j − g_{j+d},
// −g_{j+d}), then dg0 = dU1 + (dU2 + dU3) / 2, dg1 = (dU2 − dU3) / 2, dg2 = (dU2 + dU3) / 2 + dU4. Pairs are
// numbered n = q·d + r for the outputs 2dq + r and 2dq + d + r (r < d): blocks of 2d outputs, the last one
// cut at the output length.

/// Number of output pairs of an output length n at dilation d (whole blocks of 2d outputs).
inline index_t conv1d_wino_pairs(index_t n, index_t d) { return (n + 2 * d - 1) / (2 * d) * d; }

/// v [4, rows, pairs]: the input transform of xp [rows, 2·pairs + 2d], the rows of src [rows, length] shifted
/// right by `offset` in zero padding (xp[c, p] = src[c, p − offset], 0 outside), read in place.
template <class T, index_t D>
void conv1d_wino_input(const T* src, index_t rows, index_t length, index_t offset, index_t pairs, index_t dilation,
                       T* v) {
  const index_t d = D > 0 ? D : dilation, blocks = pairs / d, plane = rows * pairs;
  // Blocks q whose inputs xp[2dq, 2dq + 4d) all lie in the source: 2dq >= offset and 2dq + 4d − offset <= length.
  const index_t q_lo = std::min(blocks, offset > 0 ? (offset + 2 * d - 1) / (2 * d) : index_t(0));
  const index_t span = length + offset - 4 * d;
  const index_t q_hi = std::clamp<index_t>(span < 0 ? 0 : span / (2 * d) + 1, q_lo, blocks);
  for (index_t c = 0; c < rows; ++c) {
    const T* x = src + c * length;
    T* v1 = v + c * pairs;
    T* v2 = v1 + plane;
    T* v3 = v2 + plane;
    T* v4 = v3 + plane;
    // V of pair i from its inputs x0..x3 = xp[p + {0, 1, 2, 3}·d].
    auto put = [&](index_t i, T x0, T x1, T x2, T x3) {
      v1[i] = x0 - x2;
      v2[i] = x1 + x2;
      v3[i] = x2 - x1;
      v4[i] = x1 - x3;
    };
    auto edge_block = [&](index_t q) {
      auto at = [&](index_t p) {
        const index_t i = p - offset;
        return i >= 0 && i < length ? x[i] : T(0);
      };
      for (index_t r = 0; r < d; ++r) {
        const index_t p = 2 * d * q + r;
        put(q * d + r, at(p), at(p + d), at(p + 2 * d), at(p + 3 * d));
      }
    };
    for (index_t q = 0; q < q_lo; ++q) edge_block(q);
    for (index_t q = q_lo; q < q_hi; ++q) {
      const T* b = x + 2 * d * q - offset;
      for (index_t r = 0; r < d; ++r) put(q * d + r, b[r], b[d + r], b[2 * d + r], b[3 * d + r]);
    }
    for (index_t q = q_hi; q < blocks; ++q) edge_block(q);
  }
}

/// y[o, j] = bias[o] + the output transform of m [4, rows, pairs], for j < n (row stride of y: n): the two
/// outputs of every pair computed over contiguous vectors into `work` (2·pairs elements), then put in place
/// block by block.
template <class T, index_t D>
void conv1d_wino_output(const T* m, index_t rows, index_t pairs, index_t dilation, const T* bias, index_t n, T* y,
                        T* work) {
  const index_t d = D > 0 ? D : dilation;
  const index_t plane = rows * pairs, blocks = pairs / d;
  T* first = work;           // y[2dq + r] of pair qd + r
  T* second = work + pairs;  // y[2dq + d + r]
  for (index_t o = 0; o < rows; ++o) {
    const T* m1 = m + o * pairs;
    const T* m2 = m1 + plane;
    const T* m3 = m2 + plane;
    const T* m4 = m3 + plane;
    const T b0 = bias != nullptr ? bias[o] : T(0);
    for (index_t i = 0; i < pairs; ++i) {
      first[i] = b0 + m1[i] + m2[i] + m3[i];
      second[i] = b0 + m2[i] - m3[i] - m4[i];
    }
    T* row = y + o * n;
    const index_t whole = std::min(blocks, n / (2 * d));
    for (index_t q = 0; q < whole; ++q) {
      for (index_t r = 0; r < d; ++r) {
        row[2 * d * q + r] = first[q * d + r];
        row[2 * d * q + d + r] = second[q * d + r];
      }
    }
    for (index_t q = whole; q < blocks; ++q) {
      for (index_t r = 0; r < d; ++r) {
        const index_t j = 2 * d * q + r;
        if (j < n) row[j] = first[q * d + r];
        if (j + d < n) row[j + d] = second[q * d + r];
      }
    }
  }
}

/// dm_k [pairs, nr] (k < 4, at dm + k·stride): the adjoint output transform of one packed panel
/// g [n, nr] (the output gradient of nr channels, transposed by gemm_pack_b), rows j >= n taken as 0.
template <class T, index_t D>
void conv1d_wino_output_adjoint(const T* g, index_t n, index_t pairs, index_t dilation, T* dm, index_t stride) {
  constexpr index_t nr = gemm_config<T>::nr;
  const index_t d = D > 0 ? D : dilation;
  for (index_t i = 0; i < pairs; ++i) {
    const index_t j = 2 * d * (i / d) + i % d;
    const T* g0 = g + j * nr;
    const T* g1 = g0 + d * nr;
    const bool has0 = j < n, has1 = j + d < n;
    T* d1 = dm + i * nr;
    T* d2 = d1 + stride;
    T* d3 = d2 + stride;
    T* d4 = d3 + stride;
    if (has0 && has1) {
      for (index_t l = 0; l < nr; ++l) {
        d1[l] = g0[l];
        d2[l] = g0[l] + g1[l];
        d3[l] = g0[l] - g1[l];
        d4[l] = -g1[l];
      }
    } else {
      for (index_t l = 0; l < nr; ++l) {
        const T a = has0 ? g0[l] : T(0), b = has1 ? g1[l] : T(0);
        d1[l] = a;
        d2[l] = a + b;
        d3[l] = a - b;
        d4[l] = -b;
      }
    }
  }
}

/// Calls f(std::integral_constant<index_t, D>()) with D the dilation when it is 1, 2, 4 or 8 (the transforms
/// then vectorise over whole blocks), 0 otherwise.
template <class F>
void conv1d_wino_dispatch(index_t d, F&& f) {
  switch (d) {
    case 1:
      return f(std::integral_constant<index_t, 1>());
    case 2:
      return f(std::integral_constant<index_t, 2>());
    case 4:
      return f(std::integral_constant<index_t, 4>());
    case 8:
      return f(std::integral_constant<index_t, 8>());
    default:
      return f(std::integral_constant<index_t, 0>());
  }
}

/// u [groups, 4, rows, cols] from the tap-major weight wt [groups, 3, rows, cols] of conv1d_taps_of_weight.
template <class T>
const T* conv1d_wino_weight(const T* wt, index_t groups, index_t rows, index_t cols) {
  const index_t plane = rows * cols;
  T* u = conv1d_buffer<T, slot_wino_weight>(groups * 4 * plane);
  for (index_t grp = 0; grp < groups; ++grp) {
    const T* g0 = wt + grp * 3 * plane;
    const T* g1 = g0 + plane;
    const T* g2 = g1 + plane;
    T* out = u + grp * 4 * plane;
    for (index_t i = 0; i < plane; ++i) {
      out[i] = g0[i];
      out[plane + i] = (g0[i] + g1[i] + g2[i]) / T(2);
      out[2 * plane + i] = (g0[i] - g1[i] + g2[i]) / T(2);
      out[3 * plane + i] = g2[i];
    }
  }
  return u;
}

/// As conv1d_taps_apply for kernel 3, through F(2, 3): per item, transform, four GEMMs per group, transform back.
template <class T>
void conv1d_wino_apply(const T* src, index_t in_rows, index_t length, index_t offset, const T* wt, index_t out_rows,
                       index_t n, const T* bias, const conv1d_shape& g, T* out) {
  constexpr index_t nr = gemm_config<T>::nr;
  const index_t d = g.dilation, groups = g.groups, gi = in_rows / groups, go = out_rows / groups;
  const index_t pairs = conv1d_wino_pairs(n, d);
  const T* u = conv1d_wino_weight(wt, groups, go, gi);
  parallel_for(0, g.batch, 1, [&](index_t b0, index_t b1) {
    const index_t v_size = 4 * in_rows * pairs + conv1d_slack<T>();
    T* v = conv1d_buffer<T, slot_work0>(v_size);
    T* m = conv1d_buffer<T, slot_work1>(4 * out_rows * pairs);
    T* work = conv1d_buffer<T, slot_work2>(2 * pairs);
    std::fill(v + 4 * in_rows * pairs, v + v_size, T(0));
    for (index_t b = b0; b < b1; ++b) {
      conv1d_wino_dispatch(d, [&](auto dc) {
        conv1d_wino_input<T, decltype(dc)::value>(src + b * in_rows * length, in_rows, length, offset, pairs, d, v);
      });
      for (index_t grp = 0; grp < groups; ++grp) {
        for (index_t k = 0; k < 4; ++k) {
          conv1d_tap_product<T>({go, pairs, gi, 1, u + (grp * 4 + k) * go * gi, gi, 0,
                                 v + (k * in_rows + grp * gi) * pairs, pairs, 0, nr,
                                 m + (k * out_rows + grp * go) * pairs, pairs, false, nullptr});
        }
      }
      conv1d_wino_dispatch(d, [&](auto dc) {
        conv1d_wino_output<T, decltype(dc)::value>(m, out_rows, pairs, d, bias, n, out + b * out_rows * n, work);
      });
    }
  });
}

/// As conv1d_weight_grad for kernel 3, through F(2, 3): dUᵀ_k [C/groups, O/groups] = Σ_b V_k(x_b) ·
/// dM_k(gy_b)ᵀ, summed per batch chunk, then dw = Gᵀ dU.
template <class T>
void conv1d_wino_weight_grad(const T* x, const T* gy, const conv1d_shape& g, T* dw) {
  constexpr index_t nr = gemm_config<T>::nr;
  const index_t og = g.group_out(), cg = g.group_in(), lo = g.out_length();
  const index_t d = g.dilation, groups = g.groups, per = 4 * cg * og;  // per chunk and group
  const index_t pairs = conv1d_wino_pairs(lo, d);
  const index_t panel = round_up_to(og, nr) * pairs;  // one packed dM_k of a group
  const index_t chunks = conv1d_weight_grad_chunks(g.batch);
  T* partial = conv1d_buffer<T, slot_partial>(chunks * groups * per);  // [chunk, groups, 4, C/groups, O/groups]
  parallel_for(0, chunks, 1, [&](index_t q0, index_t q1) {
    T* v = conv1d_buffer<T, slot_work0>(4 * g.in_channels * pairs);
    T* packed_gy = conv1d_buffer<T, slot_work1>(panel / pairs * lo);  // gy of one group, transposed in nr-wide panels
    T* dm = conv1d_buffer<T, slot_work2>(4 * panel);                  // the four dM_k of one group, likewise
    for (index_t q = q0; q < q1; ++q) {
      const index_t b_begin = g.batch * q / chunks, b_end = g.batch * (q + 1) / chunks;
      for (index_t b = b_begin; b < b_end; ++b) {
        conv1d_wino_dispatch(d, [&](auto dc) {
          conv1d_wino_input<T, decltype(dc)::value>(x + b * g.in_channels * g.length, g.in_channels, g.length,
                                                    g.pad_left, pairs, d, v);
        });
        for (index_t grp = 0; grp < groups; ++grp) {
          gemm_pack_b(true, gy + (b * g.out_channels + grp * og) * lo, lo, lo, og, packed_gy);
          for (index_t p = 0; p < panel / (nr * pairs); ++p) {
            conv1d_wino_dispatch(d, [&](auto dc) {
              conv1d_wino_output_adjoint<T, decltype(dc)::value>(packed_gy + p * nr * lo, lo, pairs, d,
                                                                 dm + p * nr * pairs, panel);
            });
          }
          for (index_t k = 0; k < 4; ++k) {
            conv1d_tap_product<T>({cg, og, pairs, 1, v + (k * g.in_channels + grp * cg) * pairs, pairs, 0,
                                   dm + k * panel, nr, 0, nr * pairs, partial + (q * groups + grp) * per + k * cg * og,
                                   og, b > b_begin, nullptr});
          }
        }
      }
    }
  });
  // dw[grp·og + o, c, :] = Gᵀ Σ_q dU[q, grp, :, c, o], the chunks added in order.
  parallel_for(0, groups * cg, std::max<index_t>(1, 4096 / std::max<index_t>(1, 4 * chunks * og)),
               [&](index_t r0, index_t r1) {
                 for (index_t r = r0; r < r1; ++r) {
                   const index_t grp = r / cg, c = r % cg;
                   const T* base = partial + grp * per + c * og;
                   T* out = dw + (grp * og * cg + c) * 3;
                   for (index_t o = 0; o < og; ++o) {
                     T u[4];
                     for (index_t k = 0; k < 4; ++k) {
                       T sum = base[k * cg * og + o];
                       for (index_t qq = 1; qq < chunks; ++qq) sum += base[qq * groups * per + k * cg * og + o];
                       u[k] = sum;
                     }
                     out[o * cg * 3] = u[0] + (u[1] + u[2]) / T(2);
                     out[o * cg * 3 + 1] = (u[1] - u[2]) / T(2);
                     out[o * cg * 3 + 2] = (u[1] + u[2]) / T(2) + u[3];
                   }
                 }
               });
}

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
  const T* wt = detail::conv1d_taps_of_weight(w, s, false);
  if (s.kernel == 3) {
    return detail::conv1d_wino_apply(x, s.in_channels, s.length, s.pad_left, wt, s.out_channels, s.out_length(), bias,
                                     s, y);
  }
  detail::conv1d_taps_apply(x, s.in_channels, s.length, s.pad_left, s.pad_left + s.length + s.pad_right, wt,
                            s.out_channels, s.out_length(), bias, s, y);
}

/// dx[c, i] = Σ_s w[o, c, K − 1 − s] · gyp[o, i + s·d] with gy shifted right by (K − 1)·d − pad_left in zero
/// padding: the forward kernel on the flipped transposed weight.
template <class T>
void conv1d_input_grad(const conv1d_shape& s, const T* gy, const T* w, T* dx) {
  const T* wt = detail::conv1d_taps_of_weight(w, s, true);
  const index_t span = (s.kernel - 1) * s.dilation;
  if (s.kernel == 3) {
    return detail::conv1d_wino_apply(gy, s.out_channels, s.out_length(), span - s.pad_left, wt, s.in_channels, s.length,
                                     static_cast<const T*>(nullptr), s, dx);
  }
  detail::conv1d_taps_apply(gy, s.out_channels, s.out_length(), span - s.pad_left, s.length + span, wt, s.in_channels,
                            s.length, static_cast<const T*>(nullptr), s, dx);
}

template <class T>
void conv1d_weight_grad(const conv1d_shape& s, const T* x, const T* gy, T* dw) {
  if (s.kernel == 3) return detail::conv1d_wino_weight_grad(x, gy, s, dw);
  detail::conv1d_taps_weight_grad(x, gy, s, dw);
}

}  // namespace kexue::kernels
