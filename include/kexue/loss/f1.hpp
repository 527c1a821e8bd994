// SPDX-License-Identifier: MIT
// Soft macro-F1 loss of spec A01: a batch-level, differentiable surrogate of macro-F1 for fine-tuning.
#pragma once

#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/classification.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/one_hot.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/softmax.hpp>

namespace kexue::loss {

/// Options of soft_macro_f1_loss.
struct soft_f1_options {
  /// ε of A01, added once per sample and class in each denominator and once to the macro-F1 inside the log.
  /// Default 1e-7.
  KEXUE_LOSS_ARG(double, eps, 1e-7);
  /// true (default): the input is logits and p = softmax over the last axis (the article's softmax head);
  /// false: the input is probabilities used as given (e.g. sigmoid outputs of a multi-label head).
  KEXUE_LOSS_ARG(bool, from_logits, true);
};

/// Soft macro-F1 loss (A01), a batch-level loss (not a sum over samples, so there is no reduction option):
///   F1_c = 2 Σ_i s_i y_ic p_ic / Σ_i s_i (y_ic + p_ic + ε),   loss = −log( (1/C) Σ_c F1_c + ε )
/// over the samples i of the batch (every axis but the last, the C classes), with s_i = sample_weight ×
/// mask (default 1; a masked sample drops out of both sums). input and target are [..., C]; target is one-hot
/// (or soft) and may require a gradient. On one-hot predictions it equals −log(macro-F1 + ε) of the hard
/// metric up to the ε terms. A01 uses it only to fine-tune after cross-entropy: from scratch it does not
/// converge. sample_weight broadcasts to [...], mask is [...].
/// Gradient: through numerators and denominators (composed; second order works).
/// Errors: shape_error "soft_macro_f1_loss: target shape [4, 2] differs from input shape [4, 3]",
/// "soft_macro_f1_loss: mask shape [3] differs from the per-sample loss shape [4]" (and the sample_weight
/// counterpart), "soft_macro_f1_loss: input must have batch axes and a class axis, got shape [3]".
template <class T>
tensor<T> soft_macro_f1_loss(const tensor<T>& input, const tensor<T>& target, const soft_f1_options& options = {},
                             const weighting_arg<T>& weights = {});

/// The same with class indices [...] (one-hot encoded with input's class count; no ignore_index: use the mask).
/// Error: index_error "soft_macro_f1_loss: label 4 is out of range for 3 classes".
template <class T>
tensor<T> soft_macro_f1_loss(const tensor<T>& input, const tensor<index_t>& target, const soft_f1_options& options = {},
                             const weighting_arg<T>& weights = {});

// ~~~ Implementation ~~~

template <class T>
tensor<T> soft_macro_f1_loss(const tensor<T>& input, const tensor<T>& target, const soft_f1_options& options,
                             const weighting_arg<T>& weights) {
  const char* op = "soft_macro_f1_loss";
  KEXUE_CHECK(input.rank() >= 2, shape_error, op, "input must have batch axes and a class axis, got shape ",
              format_shape(input.shape()));
  KEXUE_CHECK(target.shape() == input.shape(), shape_error, op, "target shape ", format_shape(target.shape()),
              " differs from input shape ", format_shape(input.shape()));
  const int last = input.rank() - 1;
  shape samples;
  for (int i = 0; i < last; ++i) samples.push_back(input.shape()[i]);
  if (weights.sample_weight.defined()) detail::check_weight_shape(weights.sample_weight.shape(), samples, op);
  detail::check_mask_shape(weights.mask, samples, op);
  const tensor<T> p = options.from_logits() ? softmax(input, last) : input;
  const T eps = static_cast<T>(options.eps());
  tensor<T> num = mul(target, p);                   // y·p       [..., C]
  tensor<T> den = add_scalar(add(target, p), eps);  // y + p + ε  [..., C]
  if (weights.sample_weight.defined() || weights.mask.defined()) {
    tensor<T> s = weights.sample_weight.defined() ? expand(weights.sample_weight, samples) : ones<T>(samples);
    if (weights.mask.defined()) s = where(weights.mask, s, T(0));
    s = unsqueeze(s, last);  // [..., 1]
    num = mul(num, s);
    den = mul(den, s);
  }
  std::vector<int> batch_axes;
  for (int i = 0; i < last; ++i) batch_axes.push_back(i);
  tensor<T> f1 = mul_scalar(div(sum(num, batch_axes), sum(den, batch_axes)), T(2));  // [C]
  return neg(log(add_scalar(mean(f1), eps)));
}

template <class T>
tensor<T> soft_macro_f1_loss(const tensor<T>& input, const tensor<index_t>& target, const soft_f1_options& options,
                             const weighting_arg<T>& weights) {
  const char* op = "soft_macro_f1_loss";
  detail::check_index_target_shape(input.shape(), target.shape(), op, "input");
  const index_t classes = input.shape()[input.rank() - 1];
  const index_t* t = target.data();
  for (index_t i = 0; i < target.numel(); ++i) {
    KEXUE_CHECK(t[i] >= 0 && t[i] < classes, index_error, op, "label ", t[i], " is out of range for ", classes,
                " classes");
  }
  return soft_macro_f1_loss(input, one_hot<T>(target, classes), options, weights);
}

}  // namespace kexue::loss
