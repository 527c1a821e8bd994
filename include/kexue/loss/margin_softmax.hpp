// SPDX-License-Identifier: MIT
// Margin softmax losses of spec A06: AM-softmax (additive cosine margin) and the author's "simpler A-softmax".
#pragma once

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/classification.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/normalize.hpp>

namespace kexue::loss {

/// Options of am_softmax_loss (defaults of the AM-softmax paper, used by A06).
struct am_softmax_options {
  /// Scale s > 0 applied to every logit. Default 30.
  KEXUE_LOSS_ARG(double, s, 30.0);
  /// Margin m ≥ 0 subtracted from the target cosine only. Default 0.35.
  KEXUE_LOSS_ARG(double, m, 0.35);
  /// Default −100.
  KEXUE_LOSS_ARG(index_t, ignore_index, -100);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Options of simple_a_softmax_loss (A06's "simpler A-softmax"; the reference code's defaults).
struct simple_a_softmax_options {
  /// Scale s > 0. Default 30.
  KEXUE_LOSS_ARG(double, s, 30.0);
  /// Integer angular multiplier m ≥ 1 in ψ(θ) = min(cos mθ, cos θ). Default 4.
  KEXUE_LOSS_ARG(int, m, 4);
  /// Default −100.
  KEXUE_LOSS_ARG(index_t, ignore_index, -100);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Cosines between l2-normalised features [..., D] and l2-normalised class vectors class_weight [C, D]:
/// [..., C] = normalize(features) · normalize(class_weight)ᵀ. Both are normalised in the forward pass, so the
/// gradient flows through the normalisation (A06's reference code instead projects the class vectors after each
/// optimizer step; with unit-norm class vectors both agree). Errors: shape_error "cosine_logits: class_weight
/// shape [5, 8] does not fit features shape [4, 16] (expected [C, 16])".
template <class T>
tensor<T> cosine_logits(const tensor<T>& features, const tensor<T>& class_weight);

/// AM-softmax loss from cosines [..., C] (e.g. cosine_logits) and class indices [...] (A06, Appendix C 1):
///   logits = s · (cos − m · onehot(t)),   l_i = cross_entropy(logits_i, t_i)
///          = −log[ e^{s(cos_t − m)} / (e^{s(cos_t − m)} + Σ_{j≠t} e^{s cos_j}) ]
/// The margin is added to the target column only (a scatter, no one-hot), then everything is scaled and the
/// stable log-softmax cross-entropy is taken (no "subtract e^{s cos_t} from Z" trick). m = 0 gives
/// cross_entropy(s·cos). ignore_index, reduction and weights as cross_entropy. At inference rank by cos.
/// Gradient: to the cosines (and through cosine_logits to features and class vectors).
/// Errors: as cross_entropy naming "am_softmax_loss"; value_error "am_softmax_loss: s must be positive (got 0)",
/// "am_softmax_loss: m must be ≥ 0 (got -0.1)".
template <class T>
tensor<T> am_softmax_loss(const tensor<T>& cosines, const tensor<index_t>& target,
                          const am_softmax_options& options = {}, const weighting_arg<T>& weights = {});

/// AM-softmax from features [..., D] and class vectors [C, D]: am_softmax_loss(cosine_logits(features,
/// class_weight), target, options, weights).
template <class T>
tensor<T> am_softmax_loss(const tensor<T>& features, const tensor<T>& class_weight, const tensor<index_t>& target,
                          const am_softmax_options& options = {}, const weighting_arg<T>& weights = {});

/// A06's "simpler A-softmax" from cosines: the target cosine c_t is replaced by ψ = min(T_m(c_t), c_t), with T_m
/// the Chebyshev polynomial (T_m(cos θ) = cos mθ; m = 4: 8c⁴ − 8c² + 1), then logits = s · cos and
/// cross-entropy. Cosines are expected in [−1, 1]. Errors: as am_softmax_loss naming "simple_a_softmax_loss";
/// value_error "simple_a_softmax_loss: m must be ≥ 1 (got 0)".
template <class T>
tensor<T> simple_a_softmax_loss(const tensor<T>& cosines, const tensor<index_t>& target,
                                const simple_a_softmax_options& options = {}, const weighting_arg<T>& weights = {});

// ~~~ Implementation ~~~

namespace detail {

/// Checks what cross_entropy would check, naming `op`, and returns the gather-safe target [..., 1].
template <class T>
tensor<index_t> margin_target(const tensor<T>& cosines, const tensor<index_t>& target, index_t ignore_index,
                              const weighting<T>& weights, double s, const char* op) {
  KEXUE_CHECK(s > 0, value_error, op, "s must be positive (got ", s, ")");
  if (weights.sample_weight.defined()) check_weight_shape(weights.sample_weight.shape(), target.shape(), op);
  return prepare_index_loss(cosines, target, ignore_index, {}, weights, "cosines", op).safe;
}

/// cross_entropy(s · (cos + delta at the target column)).
template <class T>
tensor<T> margin_cross_entropy(const tensor<T>& cosines, const tensor<index_t>& safe, const tensor<T>& delta, double s,
                               const tensor<index_t>& target, index_t ignore_index, reduction r,
                               const weighting<T>& weights) {
  const int last = cosines.rank() - 1;
  const tensor<T> logits = mul_scalar(scatter_add(cosines, last, safe, delta), static_cast<T>(s));
  return cross_entropy(logits, target, cross_entropy_options().ignore_index(ignore_index).reduction(r), weights);
}

}  // namespace detail

template <class T>
tensor<T> cosine_logits(const tensor<T>& features, const tensor<T>& class_weight) {
  const index_t d = features.rank() > 0 ? features.shape()[features.rank() - 1] : 0;
  KEXUE_CHECK(features.rank() >= 1 && class_weight.rank() == 2 && class_weight.shape()[1] == d, shape_error,
              "cosine_logits", "class_weight shape ", format_shape(class_weight.shape()),
              " does not fit features shape ", format_shape(features.shape()), " (expected [C, ", d, "])");
  return matmul(l2_normalize(features, -1), l2_normalize(class_weight, -1), false, true);
}

template <class T>
tensor<T> am_softmax_loss(const tensor<T>& cosines, const tensor<index_t>& target, const am_softmax_options& options,
                          const weighting_arg<T>& weights) {
  const char* op = "am_softmax_loss";
  const auto safe = detail::margin_target(cosines, target, options.ignore_index(), weights, options.s(), op);
  KEXUE_CHECK(options.m() >= 0, value_error, op, "m must be ≥ 0 (got ", options.m(), ")");
  const tensor<T> delta = full<T>(safe.shape(), -static_cast<T>(options.m()));
  return detail::margin_cross_entropy(cosines, safe, delta, options.s(), target, options.ignore_index(),
                                      options.reduction(), weights);
}

template <class T>
tensor<T> am_softmax_loss(const tensor<T>& features, const tensor<T>& class_weight, const tensor<index_t>& target,
                          const am_softmax_options& options, const weighting_arg<T>& weights) {
  return am_softmax_loss(cosine_logits(features, class_weight), target, options, weights);
}

template <class T>
tensor<T> simple_a_softmax_loss(const tensor<T>& cosines, const tensor<index_t>& target,
                                const simple_a_softmax_options& options, const weighting_arg<T>& weights) {
  const char* op = "simple_a_softmax_loss";
  const auto safe = detail::margin_target(cosines, target, options.ignore_index(), weights, options.s(), op);
  KEXUE_CHECK(options.m() >= 1, value_error, op, "m must be ≥ 1 (got ", options.m(), ")");
  const tensor<T> c = gather(cosines, cosines.rank() - 1, safe);  // [..., 1]
  tensor<T> previous = ones_like(c), current = c;                 // T_0, T_1
  for (int k = 1; k < options.m(); ++k) {                         // T_{k+1} = 2c·T_k − T_{k−1}
    tensor<T> next = sub(mul_scalar(mul(c, current), T(2)), previous);
    previous = current;
    current = next;
  }
  const tensor<T> delta = sub(minimum(current, c), c);  // ψ − c_t ≤ 0
  return detail::margin_cross_entropy(cosines, safe, delta, options.s(), target, options.ignore_index(),
                                      options.reduction(), weights);
}

}  // namespace kexue::loss
