// SPDX-License-Identifier: MIT
// Classification losses from logits: cross_entropy (class indices or probabilities), nll_loss,
// binary_cross_entropy_with_logits.
#pragma once

#include <cmath>    // std::isnan
#include <utility>  // std::move
#include <vector>   // class and positive weights

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/cross_entropy.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/softmax.hpp>

namespace kexue::loss {

// Conventions of this header (see reduction.hpp for the options/weighting pattern):
// * the class axis is the LAST axis: logits [..., C] (e.g. [B, C] or [B, T, C], channels last as in the
//   spec), class-index targets [...] (int64), probability targets [..., C]. PyTorch puts the class axis at 1
//   for [N, C, d...]; move it last (kexue::permute) to compare.
// * the per-sample loss has the target's batch shape [...]; sample_weight broadcasts to it, mask equals it.

/// Options of nll_loss (defaults as torch.nn.functional.nll_loss).
struct nll_options {
  /// Targets equal to this are skipped: zero loss, zero gradient, not counted by the mean. Default −100.
  KEXUE_LOSS_ARG(index_t, ignore_index, -100);
  /// Class weights w_c, one per class (empty = all 1). The mean divides by Σ w_{t_i} over kept samples.
  KEXUE_LOSS_ARG(std::vector<double>, weight, {});
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Options of cross_entropy (defaults as torch.nn.functional.cross_entropy).
struct cross_entropy_options {
  /// Class-index targets equal to this are skipped (not used with probability targets). Default −100.
  KEXUE_LOSS_ARG(index_t, ignore_index, -100);
  /// ε in [0, 1]: the target becomes (1−ε)·onehot + ε/C. Default 0.
  KEXUE_LOSS_ARG(double, label_smoothing, 0.0);
  /// Class weights w_c, one per class (empty = all 1).
  KEXUE_LOSS_ARG(std::vector<double>, weight, {});
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Options of binary_cross_entropy_with_logits (defaults as torch.nn.functional.binary_cross_entropy_with_logits).
struct bce_options {
  /// Weight p_c of the positive term, broadcast along the last axis: empty (= 1), one value, or one per entry
  /// of the last axis (e.g. per label of a multi-label head). p_c > 1 raises recall of class c.
  KEXUE_LOSS_ARG(std::vector<double>, pos_weight, {});
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Negative log-likelihood of class indices given log-probabilities (torch.nn.functional.nll_loss).
/// log_probs [..., C], target [...] (int64). Per sample: l_i = −w_{t_i} · log_probs[i, t_i]; skipped where
/// t_i == ignore_index. mean = Σ sw_i l_i / Σ sw_i w_{t_i} over kept samples (PyTorch's weighted mean; sw =
/// sample_weight, default 1); sum = Σ sw_i l_i; none = sw_i l_i (0 where skipped or masked), shape [...].
/// Gradient: to log_probs (a scatter of −w into the target column), composed, so second order works.
/// Errors: index_error "nll_loss: label 5 is out of range for 3 classes"; shape_error "nll_loss: target shape
/// [3] does not match log_probs shape [2, 4] (expected [2])", "nll_loss: weight has 2 entries, expected one
/// per class (4)"; the reduction's weight/mask shape errors.
template <class T>
tensor<T> nll_loss(const tensor<T>& log_probs, const tensor<index_t>& target, const nll_options& options = {},
                   const weighting_arg<T>& weights = {});

/// Softmax cross-entropy from logits with class-index targets (torch.nn.functional.cross_entropy).
/// logits [..., C], target [...] (int64). With logp = log_softmax(logits), ε = label_smoothing, w = class
/// weights (default 1):
///   l_i = (1−ε) · w_{t_i} · (−logp[i, t_i]) + (ε/C) · Σ_c w_c · (−logp[i, c])
/// mean = Σ sw_i l_i / Σ sw_i w_{t_i} over kept samples (exactly PyTorch's normalisation, smoothing term
/// included); sum and none as nll_loss. Samples with t_i == ignore_index contribute nothing.
/// Computed by the fused row kernel of kexue::softmax_cross_entropy (ops/cross_entropy.hpp) on the [N, C] rows;
/// stable for any logits (logsumexp − x_t); a NaN logit gives a NaN loss for its sample.
/// Gradient: (softmax − smoothed target) scaled by the weights, fused; second order through that op's composed
/// backward. Errors: as nll_loss naming "cross_entropy", plus value_error "cross_entropy: label_smoothing must be
/// in [0, 1] (got 1.5)".
template <class T>
tensor<T> cross_entropy(const tensor<T>& logits, const tensor<index_t>& target,
                        const cross_entropy_options& options = {}, const weighting_arg<T>& weights = {});

/// Softmax cross-entropy from logits with class-probability targets (soft labels; PyTorch's probability form).
/// logits and target [..., C]; target rows are used as given (not checked to sum to 1). With smoothing,
/// q = (1−ε)·target + ε/C. Per sample l_i = −Σ_c w_c q_ic logp_ic, shape [...]. mean divides by the number of
/// kept samples (weighted by sample_weight), NOT by class weights, as PyTorch does for probability targets.
/// ignore_index is not used. Fused (kexue::softmax_cross_entropy). Gradient flows to logits and target. Errors:
/// shape_error "cross_entropy: target shape [2, 3] differs from logits shape [2, 4]", the weight-count error and the
/// label_smoothing error.
template <class T>
tensor<T> cross_entropy(const tensor<T>& logits, const tensor<T>& target, const cross_entropy_options& options = {},
                        const weighting_arg<T>& weights = {});

/// Binary cross-entropy from logits (torch.nn.functional.binary_cross_entropy_with_logits), element-wise:
///   l = −[p · y · log σ(x) + (1 − y) · log(1 − σ(x))] = (1 − y)·x + (1 + (p − 1)·y) · softplus(−x)
/// with p = pos_weight (default 1); stable for any x (softplus never overflows). logits and target have the
/// same shape, which is the per-sample shape; y may be soft (in [0, 1], not checked).
/// Note on sample weights: PyTorch's `weight` argument with mean divides by the element count; here mean is
/// the weighted average Σ w l / Σ w (reduction.hpp). Gradient: to logits, target and sample weights, composed.
/// Errors: shape_error "binary_cross_entropy_with_logits: target shape [2] differs from logits shape [2, 3]",
/// "binary_cross_entropy_with_logits: pos_weight has 2 entries, expected 1 or the last axis size (3)".
template <class T>
tensor<T> binary_cross_entropy_with_logits(const tensor<T>& logits, const tensor<T>& target,
                                           const bce_options& options = {}, const weighting_arg<T>& weights = {});

// ~~~ Implementation ~~~

namespace detail {

/// A [n] tensor from doubles (class weights and the like).
template <class T>
tensor<T> from_doubles(const std::vector<double>& v) {
  auto out = tensor<T>::empty(shape{static_cast<index_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) out.data()[i] = static_cast<T>(v[i]);
  return out;
}

/// Checks that `target` (class indices) has logits' shape without its last axis.
inline void check_index_target_shape(const shape& logits, const shape& target, const char* op, const char* what) {
  KEXUE_CHECK(logits.rank() >= 1, shape_error, op, what, " must have at least one axis (the classes), got shape ",
              format_shape(logits));
  shape expected;
  for (int i = 0; i + 1 < logits.rank(); ++i) expected.push_back(logits[i]);
  KEXUE_CHECK(target.rank() == expected.rank() && target == expected, shape_error, op, "target shape ",
              format_shape(target), " does not match ", what, " shape ", format_shape(logits), " (expected ",
              format_shape(expected), ")");
}

/// Checks class weights: empty or one per class.
inline void check_class_weight(const std::vector<double>& w, index_t classes, const char* op) {
  KEXUE_CHECK(w.empty() || static_cast<index_t>(w.size()) == classes, shape_error, op, "weight has ", w.size(),
              " entries, expected one per class (", classes, ")");
}

/// The class-index bookkeeping of nll_loss/cross_entropy: target with ignored entries replaced by 0 (safe to
/// gather), as [..., 1]; the keep-mask (target != ignore_index, and the user's mask); the per-sample class
/// weight w_{t_i} (undefined when there are no class weights). Checks every label.
template <class T>
struct index_target {
  tensor<index_t> safe;  // [..., 1]
  tensor<bool> keep;     // [...]; undefined when nothing is ignored and there is no user mask
  tensor<T> weight;      // [...]; undefined without class weights
};

template <class T>
index_target<T> prepare_index_target(const tensor<index_t>& target, index_t classes, index_t ignore_index,
                                     const std::vector<double>& class_weight, const tensor<bool>& user_mask,
                                     const char* op) {
  const index_t n = target.numel();
  index_target<T> out;
  shape s1 = target.shape();
  s1.push_back(1);
  out.safe = tensor<index_t>::empty(s1);
  auto keep = tensor<bool>::empty(target.shape());
  if (!class_weight.empty()) out.weight = tensor<T>::empty(target.shape());
  bool any_ignored = false;
  const index_t* t = target.data();
  for (index_t i = 0; i < n; ++i) {
    const bool ignored = t[i] == ignore_index;
    if (!ignored) {
      KEXUE_CHECK(t[i] >= 0 && t[i] < classes, index_error, op, "label ", t[i], " is out of range for ", classes,
                  " classes");
    }
    any_ignored = any_ignored || ignored;
    out.safe.data()[i] = ignored ? 0 : t[i];
    keep.data()[i] = !ignored && (!user_mask.defined() || user_mask.data()[i]);
    if (out.weight.defined()) out.weight.data()[i] = ignored ? T(0) : static_cast<T>(class_weight[t[i]]);
  }
  if (any_ignored || user_mask.defined()) out.keep = keep;
  return out;
}

/// The shared front of every class-index loss: checks target against logits [..., C] (named `what`), the
/// class-weight count and the mask shape, then prepare_index_target.
template <class T>
index_target<T> prepare_index_loss(const tensor<T>& logits, const tensor<index_t>& target, index_t ignore_index,
                                   const std::vector<double>& class_weight, const weighting<T>& weights,
                                   const char* what, const char* op) {
  check_index_target_shape(logits.shape(), target.shape(), op, what);
  const index_t classes = logits.shape()[logits.rank() - 1];
  check_class_weight(class_weight, classes, op);
  check_mask_shape(weights.mask, target.shape(), op);
  return prepare_index_target<T>(target, classes, ignore_index, class_weight, weights.mask, op);
}

/// −logp[i, t_i] as [...] (logp [..., C], safe [..., 1]).
template <class T>
tensor<T> picked_nll(const tensor<T>& logp, const tensor<index_t>& safe) {
  return neg(squeeze(gather(logp, logp.rank() - 1, safe), logp.rank() - 1));
}

/// Reduction for class-index losses: terms already carry class weights; the mean divides by Σ sw·w_t.
template <class T>
tensor<T> reduce_index_loss(tensor<T> terms, const index_target<T>& it, reduction r, const weighting<T>& weights,
                            const char* op) {
  if (weights.sample_weight.defined()) {
    check_weight_shape(weights.sample_weight.shape(), terms.shape(), op);
    terms = mul(terms, weights.sample_weight);
  }
  tensor<T> den;
  if (it.weight.defined()) {
    den = weights.sample_weight.defined() ? mul(it.weight, weights.sample_weight) : it.weight;
  } else if (weights.sample_weight.defined()) {
    den = weights.sample_weight;
  }
  return reduce_terms(terms, r, den, it.keep);
}

/// The options of kexue::softmax_cross_entropy (ops/cross_entropy.hpp) for a cross_entropy call.
template <class T>
softmax_cross_entropy_options<T> fused_options(const cross_entropy_options& o) {
  softmax_cross_entropy_options<T> f;
  f.ignore_index(o.ignore_index()).label_smoothing(static_cast<T>(o.label_smoothing()));
  if (!o.weight().empty()) f.weight(from_doubles<T>(o.weight()));
  return f;
}

/// A shape without its last axis.
inline shape batch_shape(const shape& s) {
  shape out;
  for (int i = 0; i + 1 < s.rank(); ++i) out.push_back(s[i]);
  return out;
}

inline void check_label_smoothing(double eps, const char* op) {
  KEXUE_CHECK(eps >= 0.0 && eps <= 1.0, value_error, op, "label_smoothing must be in [0, 1] (got ", eps, ")");
}

}  // namespace detail

template <class T>
tensor<T> nll_loss(const tensor<T>& log_probs, const tensor<index_t>& target, const nll_options& options,
                   const weighting_arg<T>& weights) {
  const char* op = "nll_loss";
  const auto it =
      detail::prepare_index_loss(log_probs, target, options.ignore_index(), options.weight(), weights, "log_probs", op);
  tensor<T> terms = detail::picked_nll(log_probs, it.safe);
  if (it.weight.defined()) terms = mul(terms, it.weight);
  return detail::reduce_index_loss(terms, it, options.reduction(), weights, op);
}

template <class T>
tensor<T> cross_entropy(const tensor<T>& logits, const tensor<index_t>& target, const cross_entropy_options& options,
                        const weighting_arg<T>& weights) {
  const char* op = "cross_entropy";
  const auto it =
      detail::prepare_index_loss(logits, target, options.ignore_index(), options.weight(), weights, "logits", op);
  detail::check_label_smoothing(options.label_smoothing(), op);
  const index_t classes = logits.shape()[logits.rank() - 1];
  // the fused per-row kernel of ops/cross_entropy.hpp on [N, C] rows (labels already checked above)
  const index_t rows = target.numel();
  const tensor<T> terms =
      reshape(softmax_cross_entropy(reshape(logits, shape{rows, classes}), reshape(target, shape{rows}),
                                    detail::fused_options<T>(options)),
              target.shape());
  return detail::reduce_index_loss(terms, it, options.reduction(), weights, op);
}

template <class T>
tensor<T> cross_entropy(const tensor<T>& logits, const tensor<T>& target, const cross_entropy_options& options,
                        const weighting_arg<T>& weights) {
  const char* op = "cross_entropy";
  KEXUE_CHECK(logits.rank() >= 1, shape_error, op, "logits must have at least one axis (the classes), got shape ",
              format_shape(logits.shape()));
  KEXUE_CHECK(target.shape() == logits.shape(), shape_error, op, "target shape ", format_shape(target.shape()),
              " differs from logits shape ", format_shape(logits.shape()));
  detail::check_label_smoothing(options.label_smoothing(), op);
  const int last = logits.rank() - 1;
  const index_t classes = logits.shape()[last];
  detail::check_class_weight(options.weight(), classes, op);
  const index_t rows = classes == 0 ? 0 : logits.numel() / classes;
  const tensor<T> per_sample =
      reshape(softmax_cross_entropy(reshape(logits, shape{rows, classes}), reshape(target, shape{rows, classes}),
                                    detail::fused_options<T>(options)),
              detail::batch_shape(logits.shape()));
  return reduce(per_sample, options.reduction(), weights, op);
}

template <class T>
tensor<T> binary_cross_entropy_with_logits(const tensor<T>& logits, const tensor<T>& target, const bce_options& options,
                                           const weighting_arg<T>& weights) {
  const char* op = "binary_cross_entropy_with_logits";
  KEXUE_CHECK(target.shape() == logits.shape(), shape_error, op, "target shape ", format_shape(target.shape()),
              " differs from logits shape ", format_shape(logits.shape()));
  const auto& pw = options.pos_weight();
  const index_t last = logits.rank() > 0 ? logits.shape()[logits.rank() - 1] : 1;
  KEXUE_CHECK(pw.empty() || pw.size() == 1 || static_cast<index_t>(pw.size()) == last, shape_error, op,
              "pos_weight has ", pw.size(), " entries, expected 1 or the last axis size (", last, ")");
  // l = (1 − y)·x + (1 + (p − 1)·y) · softplus(−x)
  const tensor<T> sp = softplus(neg(logits));
  tensor<T> coeff;  // 1 + (p − 1)·y, or 1
  if (!pw.empty()) coeff = add_scalar(mul(target, add_scalar(detail::from_doubles<T>(pw), T(-1))), T(1));
  const tensor<T> per = add(mul(T(1) - target, logits), coeff.defined() ? mul(coeff, sp) : sp);
  return reduce(per, options.reduction(), weights, op);
}

}  // namespace kexue::loss
