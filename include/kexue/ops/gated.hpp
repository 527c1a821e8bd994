// SPDX-License-Identifier: MIT
// Fused sigmoid gates over the two halves of a tensor: glu (a·σ(b)) and the gated residual mix of DGCNN
// (x + (a − x)·σ(b)), one pass forward and one pass backward.
#pragma once

#include <algorithm>  // std::min
#include <vector>

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/vector_math.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue {

/// @brief Gated linear unit, as PyTorch's F.glu(h, dim): h is split along `axis` into halves a (first) and
///        b (second), and
///
///            y = a ⊙ σ(b)
///
///        h [..., 2m, ...] → y [..., m, ...] (the axis halves). Gradients: da = g⊙σ(b), db = g⊙a⊙σ(b)(1 − σ(b)),
///        computed in one fused pass; second order (create_graph) through the same formulas written with
///        differentiable ops.
/// @throws shape_error "glu: expected an even size along axis 1, got [2, 3]" for an odd or zero half.
template <class T>
tensor<T> glu(const tensor<T>& h, int axis = -1);

/// @brief Gated residual mix of DGCNN (spec A02 eq. 3; a highway connection): h is split along `axis` into
///        the value a (first half) and the gate pre-activation b (second half), s = σ(b), and
///
///            y = x ⊙ (1 − s) + a ⊙ s  =  x + (a − x) ⊙ s
///
///        x [..., m, ...] and h [..., 2m, ...] (equal elsewhere) → y of x's shape. Gradients, one fused pass:
///        dx = g⊙(1 − s), da = g⊙s, db = g⊙(a − x)⊙s(1 − s); second order through the same formulas written with
///        differentiable ops. Equals add(x, mul(sub(narrow(h, axis, 0, m), x), sigmoid(narrow(h, axis, m, m))))
///        in a third of the memory traffic and without its temporaries.
/// @throws shape_error "gated_residual: expected h with twice x's size along axis 1 and x's other sizes, got x
///         [2, 3, 4] and h [2, 5, 4]".
template <class T>
tensor<T> gated_residual(const tensor<T>& x, const tensor<T>& h, int axis = -1);

// ~~~ Implementation ~~~

namespace detail {

/// Geometry of a split into halves: h viewed as [outer, 2, len], each half a contiguous run of len elements per
/// outer index (len = m · the product of the sizes after the axis).
struct gate_geometry {
  index_t outer = 1;  ///< product of the sizes before the axis
  index_t len = 0;    ///< elements of one half per outer index
};

inline gate_geometry gate_split(const shape& h, int axis) {
  gate_geometry g;
  for (int d = 0; d < axis; ++d) g.outer *= h[d];
  g.len = h[axis] / 2;
  for (int d = axis + 1; d < h.rank(); ++d) g.len *= h[d];
  return g;
}

/// Elements per block of the fused loops: the sigmoid of one block lives on the stack (16 KiB in double).
inline constexpr index_t gate_block = 2048;

/// Calls f(o, j0, j1) over blocks [j0, j1) of every half-run, in parallel over all blocks (a block per thread
/// chunk at least 32 Ki elements).
template <class F>
void for_each_gate_block(const gate_geometry& g, F&& f) {
  const index_t blocks_per_row = (g.len + gate_block - 1) / gate_block;
  const index_t blocks = g.outer * blocks_per_row;
  parallel_for(0, blocks, index_t(16), [&](index_t b0, index_t b1) {
    for (index_t blk = b0; blk < b1; ++blk) {
      const index_t o = blk / blocks_per_row;
      const index_t j0 = (blk % blocks_per_row) * gate_block;
      f(o, j0, std::min(g.len, j0 + gate_block));
    }
  });
}

/// y = x + (a − x)·σ(b), or a·σ(b) when x is null; x and y as [outer, len], h as [outer, 2, len].
template <class T>
void gate_forward(const T* x, const T* h, T* y, const gate_geometry& g) {
  for_each_gate_block(g, [&](index_t o, index_t j0, index_t j1) {
    alignas(64) T s[gate_block];
    const index_t n = j1 - j0;
    const T* a = h + o * 2 * g.len + j0;
    const T* b = a + g.len;
    T* __restrict yo = y + o * g.len + j0;
    vsigmoid(b, s, n);
    if (x) {
      const T* __restrict xo = x + o * g.len + j0;
      for (index_t i = 0; i < n; ++i) yo[i] = xo[i] + (a[i] - xo[i]) * s[i];
    } else {
      for (index_t i = 0; i < n; ++i) yo[i] = a[i] * s[i];
    }
  });
}

/// The fused backward: dh = [g·s, g·(a − x)·s(1 − s)] and, when dx is non-null, dx = g·(1 − s) (x null: glu).
template <class T>
void gate_backward(const T* x, const T* h, const T* grad, T* dx, T* dh, const gate_geometry& g) {
  for_each_gate_block(g, [&](index_t o, index_t j0, index_t j1) {
    alignas(64) T s[gate_block];
    const index_t n = j1 - j0;
    const T* __restrict a = h + o * 2 * g.len + j0;
    const T* __restrict b = a + g.len;
    const T* __restrict go = grad + o * g.len + j0;
    T* __restrict da = dh + o * 2 * g.len + j0;
    T* __restrict db = da + g.len;
    vsigmoid(b, s, n);
    if (x) {
      const T* __restrict xo = x + o * g.len + j0;
      for (index_t i = 0; i < n; ++i) {
        const T gs = go[i] * s[i];
        da[i] = gs;
        db[i] = gs * (a[i] - xo[i]) * (T(1) - s[i]);
      }
      if (dx) {
        T* __restrict dxo = dx + o * g.len + j0;
        for (index_t i = 0; i < n; ++i) dxo[i] = go[i] - go[i] * s[i];
      }
    } else {
      for (index_t i = 0; i < n; ++i) {
        const T gs = go[i] * s[i];
        da[i] = gs;
        db[i] = gs * a[i] * (T(1) - s[i]);
      }
    }
  });
}

/// The half shape: h's shape with the axis halved.
inline shape gate_half_shape(const shape& h, int axis) {
  shape half = h;
  half[axis] /= 2;
  return half;
}

}  // namespace detail

template <class T>
tensor<T> glu(const tensor<T>& h, int axis) {
  const char* op = "glu";
  const int a = shape::normalize_axis(axis, h.rank(), op);
  KEXUE_CHECK(h.size(a) % 2 == 0 && h.size(a) > 0, shape_error, op, "expected an even size along axis ", a, ", got ",
              format_shape(h.shape()));
  const auto geo = detail::gate_split(h.shape(), a);
  auto out = tensor<T>::empty(detail::gate_half_shape(h.shape(), a));
  detail::gate_forward<T>(nullptr, h.data(), out.data(), geo);
  return autograd::record<T>(op, std::move(out), {h}, [h, a, geo](auto) {
    return [h, a, geo](const tensor<T>& g) {
      if (is_grad_enabled()) {  // second order: the same formulas, differentiable
        const index_t m = h.size(a) / 2;
        const auto value = narrow(h, a, 0, m);
        const auto s = sigmoid(narrow(h, a, m, m));
        const auto gs = mul(g, s);
        return std::vector<tensor<T>>{concat({gs, mul(mul(gs, value), detail::one_minus(s))}, a)};
      }
      auto dh = tensor<T>::empty(h.shape());
      detail::gate_backward<T>(nullptr, h.data(), g.data(), nullptr, dh.data(), geo);
      return std::vector<tensor<T>>{dh};
    };
  });
}

template <class T>
tensor<T> gated_residual(const tensor<T>& x, const tensor<T>& h, int axis) {
  const char* op = "gated_residual";
  bool fits = x.rank() == h.rank() && x.rank() > 0;
  const int a = fits ? shape::normalize_axis(axis, h.rank(), op) : 0;
  for (int d = 0; fits && d < x.rank(); ++d) fits = d == a ? h.size(d) == 2 * x.size(d) : h.size(d) == x.size(d);
  KEXUE_CHECK(fits, shape_error, op, "expected h with twice x's size along axis ", axis, " and x's other sizes, got x ",
              format_shape(x.shape()), " and h ", format_shape(h.shape()));
  const auto geo = detail::gate_split(h.shape(), a);
  auto out = tensor<T>::empty(x.shape());
  detail::gate_forward<T>(x.data(), h.data(), out.data(), geo);
  return autograd::record<T>(op, std::move(out), {x, h}, [x, h, a, geo](auto) {
    return [x, h, a, geo](const tensor<T>& g) {
      if (is_grad_enabled()) {  // second order: the same formulas, differentiable
        const index_t m = x.size(a);
        const auto value = narrow(h, a, 0, m);
        const auto s = sigmoid(narrow(h, a, m, m));
        const auto gs = mul(g, s);
        return std::vector<tensor<T>>{sub(g, gs), concat({gs, mul(mul(gs, sub(value, x)), detail::one_minus(s))}, a)};
      }
      auto dh = tensor<T>::empty(h.shape());
      tensor<T> dx = x.requires_grad() ? tensor<T>::empty(x.shape()) : tensor<T>();
      detail::gate_backward<T>(x.data(), h.data(), g.data(), dx.defined() ? dx.data() : nullptr, dh.data(), geo);
      return std::vector<tensor<T>>{dx, dh};
    };
  });
}

}  // namespace kexue
