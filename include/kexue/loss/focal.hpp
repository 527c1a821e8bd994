// SPDX-License-Identifier: MIT
// Losses that reweight hard or rare examples, from logits: focal (A08), hard/margin truncation (A08, A09), the softened
// loss (A08), pⁿ (A26).
#pragma once

#include <cmath>   // std::log, std::isnan
#include <vector>  // per-class alpha

#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/classification.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/softmax.hpp>
#include <kexue/ops/stop_gradient.hpp>

namespace kexue::loss {

// All losses here take logits (stable forms from spec A08(c)); the binary ones are element-wise, with logits and
// target of the same shape (= the per-sample shape), targets in [0, 1] (hard 0/1 or soft; not checked). The
// multi-class ones take logits [..., C] and class indices [...] as cross_entropy does (class axis last,
// ignore_index). Reduction, sample weights and masks: reduction.hpp. The modulating/weighting factors of focal
// and softened losses are differentiated (no stop-gradient), as the spec requires; the 0/1 weights of the
// truncated losses carry no gradient.

/// Options of sigmoid_focal_loss (defaults of the focal-loss paper and torchvision, except the reduction).
struct sigmoid_focal_options {
  /// α ∈ [0, 1] weights the positive term, 1 − α the negative one; a negative α switches the weighting off
  /// (torchvision's convention). Default 0.25.
  KEXUE_LOSS_ARG(double, alpha, 0.25);
  /// γ ≥ 0, the focusing exponent (γ = 0: α-weighted BCE). Default 2.
  KEXUE_LOSS_ARG(double, gamma, 2.0);
  /// Default mean (torchvision's default is none).
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Options of softmax_focal_loss.
struct softmax_focal_options {
  /// γ ≥ 0. Default 2.
  KEXUE_LOSS_ARG(double, gamma, 2.0);
  /// Per-class α_c (empty = no α weighting). The mean divides by the number of kept samples, not by Σ α.
  KEXUE_LOSS_ARG(std::vector<double>, alpha, {});
  /// Default −100.
  KEXUE_LOSS_ARG(index_t, ignore_index, -100);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Options of margin_truncated_bce and margin_truncated_bce_with_logits (spec A09).
struct margin_truncated_options {
  /// m ∈ [0.5, 1]: positives stop contributing once ŷ > m, negatives once ŷ < 1 − m. Default 0.6 (A09);
  /// m = 0.5 is the hard truncation of A08.
  KEXUE_LOSS_ARG(double, margin, 0.6);
  /// ε inside the logs of the probability-input variant: log(ŷ + ε), log(1 − ŷ + ε). Default 1e-8 (A09).
  KEXUE_LOSS_ARG(double, eps, 1e-8);
  /// Used by margin_truncated_cross_entropy only. Default −100.
  KEXUE_LOSS_ARG(index_t, ignore_index, -100);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Options of softened_bce_with_logits and softened_cross_entropy (spec A08).
struct softened_options {
  /// K > 0, the steepness of the sigmoid that replaces the step function. Default 1 (then the binary loss equals
  /// focal loss with γ = 1 and no α).
  KEXUE_LOSS_ARG(double, k, 1.0);
  /// Used by softened_cross_entropy only. Default −100.
  KEXUE_LOSS_ARG(index_t, ignore_index, -100);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Options of power_bce_with_logits (spec A26).
struct power_bce_options {
  /// n > 0: the probability of label 1 is σ(x)ⁿ. Default 2 (the reference code's subject head; 4 for objects).
  KEXUE_LOSS_ARG(double, n, 2.0);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Binary focal loss (Lin et al.), torchvision.ops.sigmoid_focal_loss's formula, element-wise:
///   p = σ(x),  ce = BCE-with-logits(x, y),  1 − p_t = y·σ(−x) + (1 − y)·σ(x),
///   l = α_t · (1 − p_t)^γ · ce,   α_t = α·y + (1 − α)·(1 − y)   (α_t = 1 when α < 0)
/// For y ∈ {0, 1}: −α (1−p)^γ log p (y = 1) and −(1−α) p^γ log(1−p) (y = 0). 1 − p_t is formed as above
/// (not as 1 − p_t, which cancels to 0 for confident predictions), so values are accurate for any logit; for
/// γ < 1 the gradient is infinite where 1 − p_t underflows to 0 (|x| > ~745 in double).
/// Gradient: to logits and target (the modulating factor included). Errors: shape_error "sigmoid_focal_loss:
/// target shape [2] differs from logits shape [2, 3]"; value_error "sigmoid_focal_loss: gamma must be ≥ 0
/// (got -1)", "sigmoid_focal_loss: alpha must be ≤ 1 (got 1.5)".
template <class T>
tensor<T> sigmoid_focal_loss(const tensor<T>& logits, const tensor<T>& target,
                             const sigmoid_focal_options& options = {}, const weighting_arg<T>& weights = {});

/// Multi-class focal loss: with logp = log_softmax(logits), p_t = exp(logp_t), per sample
///   l_i = −α_{t_i} · (1 − p_t)^γ · logp_t,   1 − p_t = −expm1(logp_t)
/// (K = γ analogue of A08's softened loss; γ = 0 and no α is cross_entropy). logits [..., C], target [...];
/// ignore_index as cross_entropy. Errors: as cross_entropy naming "softmax_focal_loss" (label range, shapes,
/// "alpha has 2 entries, expected one per class (3)"), and the gamma error.
template <class T>
tensor<T> softmax_focal_loss(const tensor<T>& logits, const tensor<index_t>& target,
                             const softmax_focal_options& options = {}, const weighting_arg<T>& weights = {});

/// Margin-truncated binary cross-entropy of A09 from logits, element-wise with ŷ = σ(x), θ(0) = ½:
///   λ = 1 − θ(y − m)·θ(ŷ − m) − θ(1 − m − y)·θ(1 − m − ŷ),   l = λ · BCE-with-logits(x, y)
/// so a positive stops contributing (loss and gradient 0) once ŷ > m, a negative once ŷ < 1 − m; λ is a
/// constant (no gradient). m = 0.5 gives the hard truncation of A08, −θ(−x) log σ(x) (y = 1) and
/// −θ(x) log σ(−x) (y = 0); see hard_truncated_bce_with_logits. Errors: the shape error as sigmoid_focal_loss
/// naming "margin_truncated_bce_with_logits"; value_error "margin_truncated_bce_with_logits: margin must be in
/// [0.5, 1] (got 0.3)".
template <class T>
tensor<T> margin_truncated_bce_with_logits(const tensor<T>& logits, const tensor<T>& target,
                                           const margin_truncated_options& options = {},
                                           const weighting_arg<T>& weights = {});

/// The same loss from probabilities ŷ ∈ [0, 1], for fidelity to the article:
///   l = −λ · [y log(ŷ + ε) + (1 − y) log(1 − ŷ + ε)]   (ε = options.eps(), 1e-8)
/// Prefer the logits form. Errors as above, naming "margin_truncated_bce".
template <class T>
tensor<T> margin_truncated_bce(const tensor<T>& probs, const tensor<T>& target,
                               const margin_truncated_options& options = {}, const weighting_arg<T>& weights = {});

/// A08's hard-truncated loss: margin_truncated_bce_with_logits with the margin forced to 0.5 (options.margin()
/// is ignored): only misclassified examples (and ties, at weight ½) contribute. Errors name
/// "hard_truncated_bce_with_logits".
template <class T>
tensor<T> hard_truncated_bce_with_logits(const tensor<T>& logits, const tensor<T>& target,
                                         const margin_truncated_options& options = {},
                                         const weighting_arg<T>& weights = {});

/// A09's multi-class form −Σ_y λ·y·log ŷ with one-hot y: per sample l_i = (1 − θ(p_t − m))·(−log p_t), p =
/// softmax(logits), so a sample stops contributing once its target probability exceeds m (θ(0) = ½, constant
/// weight). logits [..., C], target [...], ignore_index as cross_entropy. Errors as cross_entropy naming
/// "margin_truncated_cross_entropy", and the margin error (m ∈ [0.5, 1]).
template <class T>
tensor<T> margin_truncated_cross_entropy(const tensor<T>& logits, const tensor<index_t>& target,
                                         const margin_truncated_options& options = {},
                                         const weighting_arg<T>& weights = {});

/// A08's softened truncation, binary, element-wise (θ(t) replaced by σ(Kt)):
///   l = y · σ(−K x) · softplus(−x) + (1 − y) · σ(K x) · softplus(x)
/// i.e. −σ(−Kx) log σ(x) for y = 1 and −σ(Kx) log σ(−x) for y = 0. With K = 1 it equals sigmoid_focal_loss with
/// γ = 1 and α < 0. The weight σ(±Kx) is differentiated. Errors: the shape error naming
/// "softened_bce_with_logits"; value_error "softened_bce_with_logits: k must be positive (got 0)".
template <class T>
tensor<T> softened_bce_with_logits(const tensor<T>& logits, const tensor<T>& target,
                                   const softened_options& options = {}, const weighting_arg<T>& weights = {});

/// A08's softened loss, multi-class: l_i = −softmax(−K x_i)_t · log softmax(x_i)_t (a full softmax of the negated,
/// scaled logits). logits [..., C], target [...], ignore_index as cross_entropy. Errors as cross_entropy naming
/// "softened_cross_entropy", and the k error.
template <class T>
tensor<T> softened_cross_entropy(const tensor<T>& logits, const tensor<index_t>& target,
                                 const softened_options& options = {}, const weighting_arg<T>& weights = {});

/// The pⁿ imbalance trick of A26 (spec Appendix C 18): plain BCE with σ(x)ⁿ as the probability of label 1,
///   l = −y log σ(x)ⁿ − (1 − y) log(1 − σ(x)ⁿ) = n·y·softplus(−x) − (1 − y)·log(1 − exp(a)),  a = n·log σ(x) ≤ 0
/// with log(1 − eᵃ) computed as log(−expm1(a)) for a > −ln 2 and log1p(−eᵃ) otherwise (accurate everywhere,
/// finite for |x| < ~745 in double). Pushes initial outputs towards 0; positives weigh n. n = 1 is
/// binary_cross_entropy_with_logits. Errors: the shape error naming "power_bce_with_logits"; value_error
/// "power_bce_with_logits: n must be positive (got 0)".
template <class T>
tensor<T> power_bce_with_logits(const tensor<T>& logits, const tensor<T>& target, const power_bce_options& options = {},
                                const weighting_arg<T>& weights = {});

// ~~~ Implementation ~~~

namespace detail {

inline void check_same_target_shape(const shape& logits, const shape& target, const char* op) {
  KEXUE_CHECK(target == logits, shape_error, op, "target shape ", format_shape(target), " differs from logits shape ",
              format_shape(logits));
}

/// θ(t) of the spec: 1, ½, 0 for t > 0, t = 0, t < 0.
template <class T>
T heaviside(T t) {
  return t > T(0) ? T(1) : (t < T(0) ? T(0) : T(0.5));
}

/// A09's λ(y, ŷ) as a constant tensor (ŷ read from `probs`, detached).
template <class T>
tensor<T> truncation_weight(const tensor<T>& probs, const tensor<T>& target, double margin) {
  const T m = static_cast<T>(margin);
  auto out = tensor<T>::empty(target.shape());
  const T* p = probs.data();
  const T* y = target.data();
  for (index_t i = 0; i < out.numel(); ++i) {
    out.data()[i] =
        T(1) - heaviside(y[i] - m) * heaviside(p[i] - m) - heaviside(T(1) - m - y[i]) * heaviside(T(1) - m - p[i]);
  }
  return out;
}

inline void check_margin(double m, const char* op) {
  KEXUE_CHECK(m >= 0.5 && m <= 1.0, value_error, op, "margin must be in [0.5, 1] (got ", m, ")");
}

inline void check_gamma(double gamma, const char* op) {
  KEXUE_CHECK(gamma >= 0.0, value_error, op, "gamma must be ≥ 0 (got ", gamma, ")");
}

/// BCE from logits without pos_weight: (1 − y)·x + softplus(−x).
template <class T>
tensor<T> bce_terms(const tensor<T>& x, const tensor<T>& y) {
  return add(mul(T(1) - y, x), softplus(neg(x)));
}

template <class T>
tensor<T> margin_truncated_logits(const tensor<T>& logits, const tensor<T>& target, double margin, reduction r,
                                  const weighting<T>& weights, const char* op) {
  check_same_target_shape(logits.shape(), target.shape(), op);
  check_margin(margin, op);
  const tensor<T> probs = sigmoid(logits.detach());
  const tensor<T> lambda = truncation_weight(probs, target.detach(), margin);
  return reduce(mul(lambda, bce_terms(logits, target)), r, weights, op);
}

}  // namespace detail

template <class T>
tensor<T> sigmoid_focal_loss(const tensor<T>& logits, const tensor<T>& target, const sigmoid_focal_options& options,
                             const weighting_arg<T>& weights) {
  const char* op = "sigmoid_focal_loss";
  detail::check_same_target_shape(logits.shape(), target.shape(), op);
  detail::check_gamma(options.gamma(), op);
  KEXUE_CHECK(options.alpha() <= 1.0, value_error, op, "alpha must be ≤ 1 (got ", options.alpha(), ")");
  const tensor<T> ce = detail::bce_terms(logits, target);
  // 1 − p_t = y·σ(−x) + (1 − y)·σ(x)
  const tensor<T> one_minus_pt = add(mul(target, sigmoid(neg(logits))), mul(T(1) - target, sigmoid(logits)));
  const T gamma = static_cast<T>(options.gamma());
  tensor<T> l = gamma == T(0) ? ce : mul(pow(one_minus_pt, gamma), ce);
  if (options.alpha() >= 0) {
    const T a = static_cast<T>(options.alpha());
    l = mul(add_scalar(mul_scalar(target, T(2) * a - T(1)), T(1) - a), l);  // α·y + (1 − α)(1 − y)
  }
  return reduce(l, options.reduction(), weights, op);
}

template <class T>
tensor<T> softmax_focal_loss(const tensor<T>& logits, const tensor<index_t>& target,
                             const softmax_focal_options& options, const weighting_arg<T>& weights) {
  const char* op = "softmax_focal_loss";
  detail::check_gamma(options.gamma(), op);
  const index_t classes = logits.rank() > 0 ? logits.shape()[logits.rank() - 1] : 0;
  KEXUE_CHECK(options.alpha().empty() || static_cast<index_t>(options.alpha().size()) == classes, shape_error, op,
              "alpha has ", options.alpha().size(), " entries, expected one per class (", classes, ")");
  auto it = detail::prepare_index_loss(logits, target, options.ignore_index(), options.alpha(), weights, "logits", op);
  const tensor<T> nll = detail::picked_nll(log_softmax(logits, logits.rank() - 1), it.safe);  // −logp_t
  const T gamma = static_cast<T>(options.gamma());
  tensor<T> l = gamma == T(0) ? nll : mul(pow(neg(expm1(neg(nll))), gamma), nll);
  if (it.weight.defined()) l = mul(l, it.weight);
  it.weight = tensor<T>();  // α scales the terms but not the mean's denominator
  return detail::reduce_index_loss(l, it, options.reduction(), weights, op);
}

template <class T>
tensor<T> margin_truncated_cross_entropy(const tensor<T>& logits, const tensor<index_t>& target,
                                         const margin_truncated_options& options, const weighting_arg<T>& weights) {
  const char* op = "margin_truncated_cross_entropy";
  detail::check_margin(options.margin(), op);
  const auto it = detail::prepare_index_loss(logits, target, options.ignore_index(), {}, weights, "logits", op);
  const tensor<T> nll = detail::picked_nll(log_softmax(logits, logits.rank() - 1), it.safe);  // −log p_t
  auto lambda = tensor<T>::empty(nll.shape());  // 1 − θ(p_t − m), a constant
  const T m = static_cast<T>(options.margin());
  for (index_t i = 0; i < nll.numel(); ++i) lambda.data()[i] = T(1) - detail::heaviside(std::exp(-nll.data()[i]) - m);
  return detail::reduce_index_loss(mul(lambda, nll), it, options.reduction(), weights, op);
}

template <class T>
tensor<T> margin_truncated_bce_with_logits(const tensor<T>& logits, const tensor<T>& target,
                                           const margin_truncated_options& options, const weighting_arg<T>& weights) {
  return detail::margin_truncated_logits(logits, target, options.margin(), options.reduction(), weights,
                                         "margin_truncated_bce_with_logits");
}

template <class T>
tensor<T> hard_truncated_bce_with_logits(const tensor<T>& logits, const tensor<T>& target,
                                         const margin_truncated_options& options, const weighting_arg<T>& weights) {
  return detail::margin_truncated_logits(logits, target, 0.5, options.reduction(), weights,
                                         "hard_truncated_bce_with_logits");
}

template <class T>
tensor<T> margin_truncated_bce(const tensor<T>& probs, const tensor<T>& target, const margin_truncated_options& options,
                               const weighting_arg<T>& weights) {
  const char* op = "margin_truncated_bce";
  detail::check_same_target_shape(probs.shape(), target.shape(), op);
  detail::check_margin(options.margin(), op);
  const tensor<T> lambda = detail::truncation_weight(probs.detach(), target.detach(), options.margin());
  const T eps = static_cast<T>(options.eps());
  // −[y log(ŷ + ε) + (1 − y) log(1 − ŷ + ε)]
  const tensor<T> bce =
      neg(add(mul(target, log(add_scalar(probs, eps))), mul(T(1) - target, log(add_scalar(neg(probs), T(1) + eps)))));
  return reduce(mul(lambda, bce), options.reduction(), weights, op);
}

template <class T>
tensor<T> softened_bce_with_logits(const tensor<T>& logits, const tensor<T>& target, const softened_options& options,
                                   const weighting_arg<T>& weights) {
  const char* op = "softened_bce_with_logits";
  detail::check_same_target_shape(logits.shape(), target.shape(), op);
  KEXUE_CHECK(options.k() > 0, value_error, op, "k must be positive (got ", options.k(), ")");
  const T k = static_cast<T>(options.k());
  const tensor<T> kx = mul_scalar(logits, k);
  const tensor<T> pos = mul(sigmoid(neg(kx)), softplus(neg(logits)));  // −σ(−Kx) log σ(x)
  const tensor<T> negative = mul(sigmoid(kx), softplus(logits));       // −σ(Kx) log σ(−x)
  return reduce(add(mul(target, pos), mul(T(1) - target, negative)), options.reduction(), weights, op);
}

template <class T>
tensor<T> softened_cross_entropy(const tensor<T>& logits, const tensor<index_t>& target,
                                 const softened_options& options, const weighting_arg<T>& weights) {
  const char* op = "softened_cross_entropy";
  KEXUE_CHECK(options.k() > 0, value_error, op, "k must be positive (got ", options.k(), ")");
  const auto it = detail::prepare_index_loss(logits, target, options.ignore_index(), {}, weights, "logits", op);
  const int last = logits.rank() - 1;
  const tensor<T> nll = detail::picked_nll(log_softmax(logits, last), it.safe);
  const tensor<T> w =
      squeeze(gather(softmax(mul_scalar(logits, -static_cast<T>(options.k())), last), last, it.safe), last);
  return detail::reduce_index_loss(mul(w, nll), it, options.reduction(), weights, op);
}

template <class T>
tensor<T> power_bce_with_logits(const tensor<T>& logits, const tensor<T>& target, const power_bce_options& options,
                                const weighting_arg<T>& weights) {
  const char* op = "power_bce_with_logits";
  detail::check_same_target_shape(logits.shape(), target.shape(), op);
  KEXUE_CHECK(options.n() > 0, value_error, op, "n must be positive (got ", options.n(), ")");
  const T n = static_cast<T>(options.n());
  const tensor<T> a = mul_scalar(log_sigmoid(logits), n);  // log pⁿ ≤ 0
  // log(1 − eᵃ): each branch sees only inputs where it is accurate and finite, so where() gets no NaN gradient
  const T cut = -static_cast<T>(0.6931471805599453);  // −ln 2
  const tensor<T> near = log(neg(expm1(clamp_min(a, cut))));
  const tensor<T> far = log1p(neg(exp(clamp_max(a, cut))));
  const tensor<T> log_one_minus = where(greater(a, cut), near, far);
  const tensor<T> l = sub(mul(mul_scalar(target, n), softplus(neg(logits))), mul(T(1) - target, log_one_minus));
  return reduce(l, options.reduction(), weights, op);
}

}  // namespace kexue::loss
