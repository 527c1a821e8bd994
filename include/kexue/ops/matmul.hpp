// SPDX-License-Identifier: MIT
// matmul: matrix products (1-D, 2-D, batched with broadcast batch axes) with transpose flags.
#pragma once

#include <algorithm>  // std::max
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

namespace detail {
/// C[m, n] = op(A)·op(B) for dense row-major A, B (op = transpose when the flag is set), written into c.
template <class T>
void matmul_2d(const T* a, const T* b, T* c, index_t m, index_t n, index_t k, bool trans_a, bool trans_b) {
  // Leading dimensions at least 1 (BLAS's rule), so empty operands (k = 0: C is zeros) pass the checks.
  const auto ld = [](index_t v) { return std::max<index_t>(v, 1); };
  kernels::gemm<T>(trans_a, trans_b, m, n, k, T(1), a, ld(trans_a ? m : k), b, ld(trans_b ? k : n), T(0), c, ld(n));
}
}  // namespace detail

/// Matrix product with PyTorch's rules: a [.., m, k] · b [.., k, n] → [broadcast(..), m, n]; a 1-D
/// argument is a vector (prepended / appended axis removed from the result). `trans_a` / `trans_b` use the
/// transpose of the last two axes of a / b without materialising it (a stored [.., k, m] when trans_a).
/// Gradients: dA = G·op(B)ᵀ, dB = op(A)ᵀ·G (transposed back when the flags are set), summed over
/// broadcast batch axes.
template <class T>
tensor<T> matmul(const tensor<T>& a, const tensor<T>& b, bool trans_a = false, bool trans_b = false) {
  KEXUE_CHECK(a.rank() >= 1 && b.rank() >= 1, shape_error, "matmul", "both arguments need rank >= 1 (lhs ",
              format_shape(a.shape()), ", rhs ", format_shape(b.shape()), ")");
  // Vectors: promote to matrices, multiply, drop the added axis.
  if (a.rank() == 1 || b.rank() == 1) {
    KEXUE_CHECK(!(a.rank() == 1 && trans_a) && !(b.rank() == 1 && trans_b), shape_error, "matmul",
                "transpose flags apply to matrices, not vectors (lhs ", format_shape(a.shape()), ", rhs ",
                format_shape(b.shape()), ")");
    const tensor<T> a2 = a.rank() == 1 ? unsqueeze(a, 0) : a;
    const tensor<T> b2 = b.rank() == 1 ? unsqueeze(b, 1) : b;
    tensor<T> c = matmul(a2, b2, trans_a, trans_b);
    if (a.rank() == 1) c = squeeze(c, -2);
    if (b.rank() == 1) c = squeeze(c, -1);
    return c;
  }
  const shape& sa = a.shape();
  const shape& sb = b.shape();
  const index_t m = trans_a ? sa[sa.rank() - 1] : sa[sa.rank() - 2];
  const index_t ka = trans_a ? sa[sa.rank() - 2] : sa[sa.rank() - 1];
  const index_t kb = trans_b ? sb[sb.rank() - 1] : sb[sb.rank() - 2];
  const index_t n = trans_b ? sb[sb.rank() - 2] : sb[sb.rank() - 1];
  if (ka != kb) {
    KEXUE_THROW(shape_error, "matmul", "inner dimensions differ (lhs ", format_shape(sa), trans_a ? " transposed" : "",
                ", rhs ", format_shape(sb), trans_b ? " transposed" : "", ")");
  }
  // Batch axes broadcast.
  shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  shape batch;
  {
    const int r = std::max(batch_a.rank(), batch_b.rank());
    for (int i = 0; i < r; ++i) {
      const int ia = batch_a.rank() - r + i, ib = batch_b.rank() - r + i;
      const index_t da = ia >= 0 ? batch_a[ia] : 1, db = ib >= 0 ? batch_b[ib] : 1;
      if (da != db && da != 1 && db != 1) {
        KEXUE_THROW(shape_error, "matmul", "batch dimensions cannot be broadcast (lhs ", format_shape(sa), ", rhs ",
                    format_shape(sb), ")");
      }
      batch.push_back(da == 1 ? db : da);
    }
  }
  shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  auto out = tensor<T>::empty(out_shape);
  const index_t batches = batch.numel();
  const index_t size_a = m * ka, size_b = ka * n, size_c = m * n;
  const index_t lda = std::max<index_t>(trans_a ? m : ka, 1), ldb = std::max<index_t>(trans_b ? ka : n, 1);
  if (batch_b.numel() == 1 && !trans_a) {
    // b is shared by every batch: one product with the batches stacked as rows, [batches·m, k]·[k, n].
    detail::matmul_2d(a.data(), b.data(), out.data(), batches * m, n, ka, false, trans_b);
  } else if ((batch_a == batch || batch_a.numel() == 1) && (batch_b == batch || batch_b.numel() == 1)) {
    // Each side either has every batch or one matrix shared by all (stride 0).
    kernels::gemm_batched<T>(trans_a, trans_b, m, n, ka, T(1), a.data(), lda, b.data(), ldb, T(0), out.data(),
                             std::max<index_t>(n, 1), batches, batch_a.numel() == 1 ? 0 : size_a,
                             batch_b.numel() == 1 ? 0 : size_b, size_c);
  } else {
    // Partial broadcasting: map each output batch index to the batch index of a and b.
    const shape strides_a = detail::broadcast_strides(batch_a, batch);
    const shape strides_b = detail::broadcast_strides(batch_b, batch);
    const shape dense = batch.strides();
    for (index_t i = 0; i < batches; ++i) {
      index_t ia = 0, ib = 0, rest = i;
      for (int d = 0; d < batch.rank(); ++d) {
        const index_t coord = rest / dense[d];
        rest %= dense[d];
        ia += coord * strides_a[d];
        ib += coord * strides_b[d];
      }
      detail::matmul_2d(a.data() + ia * size_a, b.data() + ib * size_b, out.data() + i * size_c, m, n, ka, trans_a,
                        trans_b);
    }
  }
  return autograd::record<T>("matmul", out, {a, b}, [a, b, trans_a, trans_b](auto) {
    return [a, b, trans_a, trans_b](const tensor<T>& g) {
      tensor<T> ga, gb;
      if (a.requires_grad()) {
        ga = trans_a ? matmul(b, g, trans_b, true) : matmul(g, b, false, !trans_b);
        ga = sum_to(ga, a.shape());
      }
      if (b.requires_grad()) {
        gb = trans_b ? matmul(g, a, true, trans_a) : matmul(a, g, !trans_a, false);
        gb = sum_to(gb, b.shape());
      }
      return std::vector<tensor<T>>{ga, gb};
    };
  });
}

}  // namespace kexue
