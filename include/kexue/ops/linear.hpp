// SPDX-License-Identifier: MIT
// linear: y = x·Wᵀ + b in one GEMM with the bias fused into its write-back (torch.nn.functional.linear).
#pragma once

#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// @brief Affine map of the last axis, as torch.nn.functional.linear: y = x·Wᵀ + b.
/// @param x `[..., in]` (rank ≥ 1); @param weight `[out, in]` (PyTorch's layout);
/// @param bias `[out]`, or an undefined tensor for none.
/// @return `[..., out]`. The forward is one GEMM over all leading axes, with the bias added in the GEMM's
/// write-back (no second pass over y).
/// Gradients: dx = g·W, dW = gᵀ·x (summed over leading axes), db = Σ g, composed from matmul and sum, so
/// second order works.
/// @throws shape_error naming both shapes when x's last axis differs from W's, or the bias is not `[out]`.
template <class T>
tensor<T> linear(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias = tensor<T>()) {
  static_assert(tensor<T>::is_differentiable, "linear: inputs must be float or double tensors");
  KEXUE_CHECK(weight.rank() == 2, shape_error, "linear", "weight must be [out, in], got ",
              format_shape(weight.shape()));
  const index_t out_features = weight.size(0), in_features = weight.size(1);
  KEXUE_CHECK(x.rank() >= 1 && x.size(-1) == in_features, shape_error, "linear", "input ", format_shape(x.shape()),
              " does not end in ", in_features, " (weight ", format_shape(weight.shape()), ")");
  if (bias.defined()) {
    KEXUE_CHECK(bias.shape() == shape{out_features}, shape_error, "linear", "bias ", format_shape(bias.shape()),
                " must be [", out_features, "] (weight ", format_shape(weight.shape()), ")");
  }
  shape out_shape = x.shape();
  out_shape[out_shape.rank() - 1] = out_features;
  auto out = tensor<T>::empty(out_shape);
  index_t m = 1;  // rows: the product of the leading axes
  for (int i = 0; i + 1 < x.rank(); ++i) m *= x.size(i);
  kernels::gemm_epilogue<T> epilogue;
  if (bias.defined()) epilogue.bias = bias.data();
  kernels::gemm<T>(false, true, m, out_features, in_features, T(1), x.data(), in_features, weight.data(), in_features,
                   T(0), out.data(), out_features, epilogue);
  return autograd::record<T>("linear", out, {x, weight, bias}, [x, weight, bias](auto) {
    return [x, weight, bias](const tensor<T>& g) {
      tensor<T> gx, gw, gb;
      if (x.requires_grad()) gx = matmul(g, weight);  // [..., out]·[out, in]
      if (weight.requires_grad() || bias.requires_grad()) {
        const tensor<T> g2 = reshape(g, {-1, weight.size(0)});  // [rows, out]
        if (weight.requires_grad()) gw = matmul(g2, reshape(x, {-1, weight.size(1)}), true, false);
        if (bias.defined() && bias.requires_grad()) gb = sum(g2, {0});
      }
      return std::vector<tensor<T>>{gx, gw, gb};
    };
  });
}

}  // namespace kexue
