// SPDX-License-Identifier: MIT
// Loss reduction (mean, sum, none) with optional sample weights and masks, and the options pattern every loss uses.
#pragma once

#include <utility>  // std::move

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/reduce.hpp>

// ~~~ The options pattern shared by every loss in kexue::loss ~~~
//
// Every loss has the signature
//
//   tensor<T> <name>(inputs..., const <name>_options& options = {}, const weighting_arg<T>& weights = {});
//
// * `<name>_options` (not a template) holds the hyper-parameters, each with a documented default and a chained
//   setter (declared with KEXUE_LOSS_ARG below), and always `reduction` (default mean):
//   `loss::sigmoid_focal_options().gamma(2).reduction(loss::reduction::sum)`. Scalar hyper-parameters are double
//   and converted to T; per-class constants (class weights, pos_weight, α) are std::vector<double>.
// * `weighting<T>` holds the per-batch tensors, both optional: `sample_weight` (broadcastable to the loss's
//   per-sample shape by NumPy's right-aligned rules, e.g. [B, 1] per sequence for per-token losses of shape
//   [B, T]) and `mask` (tensor<bool> of exactly the per-sample shape; false = excluded). It converts implicitly
//   from either tensor, so `loss::binary_cross_entropy_with_logits(x, y, {}, w)`,
//   `loss::cross_entropy(x, t, {}, keep)` and `..., {}, {w, keep})` all work (`weighting_arg<T>` keeps T from
//   being deduced from that argument).
// * mean is the weighted average Σ w·l / Σ w over the kept samples (PyTorch's convention for class weights),
//   0 when nothing is kept; see reduce().
// * The loss computes a per-sample tensor (shape documented per loss, usually the target's shape) and hands
//   it to `loss::reduce` below, so reduction, weights and masks mean the same thing for every loss.
//   Batch-level losses that are not a sum over samples (soft macro-F1) document what they accept instead.

namespace kexue::loss {

/// How a per-sample loss becomes the returned tensor.
enum class reduction {
  mean,  ///< (weighted) mean over the unmasked samples: a scalar
  sum,   ///< (weighted) sum over the unmasked samples: a scalar
  none,  ///< the weighted per-sample losses, 0 where masked: the per-sample shape
};

/// "mean", "sum" or "none" (for printing options).
inline const char* reduction_name(reduction r) {
  switch (r) {
    case reduction::mean:
      return "mean";
    case reduction::sum:
      return "sum";
    case reduction::none:
      return "none";
  }
  return "?";
}

/// The optional per-batch tensors of a loss call: sample weights and a keep-mask. See the top of this file.
template <class T>
struct weighting {
  tensor<T> sample_weight;  ///< undefined = all ones; broadcastable to the per-sample shape (may require grad)
  tensor<bool> mask;        ///< undefined = keep all; exactly the per-sample shape; false = excluded

  weighting() = default;
  weighting(tensor<T> w) : sample_weight(std::move(w)) {}  // NOLINT: implicit on purpose
  weighting(tensor<bool> m) : mask(std::move(m)) {}        // NOLINT: implicit on purpose
  weighting(tensor<T> w, tensor<bool> m) : sample_weight(std::move(w)), mask(std::move(m)) {}
};

/// Reduces a per-sample loss tensor, with optional sample weights w and keep-mask m (undefined = absent).
///
/// Let l be `per_sample`, w broadcast to l's shape (1 if absent), m the mask as 0/1 (1 if absent):
///   none: w·l where m, 0 elsewhere (l's shape; a NaN in a masked-out entry does not leak);
///   sum:  Σ m·w·l;
///   mean: Σ m·w·l / Σ m·w — the weighted average, PyTorch's convention (cross_entropy with class weights
///         divides by the sum of the selected weights; Keras' "sum_over_batch_size" would divide by the count
///         instead). Without weights this is the mean over the unmasked entries.
///         When the denominator is 0 (all entries masked, all weights 0, or an empty batch) the result is the
///         numerator, i.e. 0, not NaN (a NaN or inf among the selected losses still propagates).
/// Masked entries are excluded with `where`, so they contribute neither value nor gradient.
/// Gradient: flows to per_sample and to sample_weight (composed of mul, where, sum, div: second order works).
/// Errors (shape_error, naming `op`):
///   "<op>: sample_weight shape [3] does not broadcast to the per-sample loss shape [2, 4]",
///   "<op>: mask shape [2] differs from the per-sample loss shape [2, 4]".
template <class T>
tensor<T> reduce(const tensor<T>& per_sample, reduction r, const tensor<T>& sample_weight, const tensor<bool>& mask,
                 const char* op);

/// `weighting<T>` in a non-deduced context, for parameters: T comes from the loss's tensor arguments, so a
/// plain tensor<T> or tensor<bool> argument converts implicitly. Losses declare `const weighting_arg<T>& weights = {}`.
template <class T>
using weighting_arg = kexue::detail::non_deduced_t<weighting<T>>;

/// reduce(per_sample, r, weights.sample_weight, weights.mask, op).
template <class T>
tensor<T> reduce(const tensor<T>& per_sample, reduction r, const weighting_arg<T>& weights, const char* op) {
  return reduce(per_sample, r, weights.sample_weight, weights.mask, op);
}

}  // namespace kexue::loss

/// Declares a loss option: a private member `name_` with default `init`, a getter `name()` and a chained setter
/// `name(value)` (as PyTorch's TORCH_ARG). Used inside the `<loss>_options` structs of kexue::loss.
#define KEXUE_LOSS_ARG(type, name, init)                \
 public:                                                \
  auto name(const type& value)->decltype(*this) {       \
    name##_ = value;                                    \
    return *this;                                       \
  }                                                     \
  const type& name() const noexcept { return name##_; } \
                                                        \
 private:                                               \
  type name##_ = init

namespace kexue::loss {

// ~~~ reduce ~~~

namespace detail {
/// Throws unless `w` broadcasts to `s` without enlarging it.
inline void check_weight_shape(const shape& w, const shape& s, const char* op) {
  bool ok = w.rank() <= s.rank();
  for (int i = 0; ok && i < w.rank(); ++i) {
    const index_t d = w[w.rank() - 1 - i];
    ok = d == 1 || d == s[s.rank() - 1 - i];
  }
  KEXUE_CHECK(ok, shape_error, op, "sample_weight shape ", format_shape(w),
              " does not broadcast to the per-sample loss shape ", format_shape(s));
}
}  // namespace detail

namespace detail {
/// The reduction step shared by reduce() and losses whose per-sample terms already carry their weights
/// (cross_entropy with class weights and label smoothing): `terms` are the weighted contributions, `den` the
/// weights the mean divides by (undefined = the count of kept entries), `mask` (may be undefined) the kept
/// entries. Shapes are the caller's responsibility (den broadcastable to terms, mask equal to it).
template <class T>
tensor<T> reduce_terms(const tensor<T>& terms, reduction r, const tensor<T>& den, const tensor<bool>& mask) {
  const tensor<T> l = mask.defined() ? where(mask, terms, T(0)) : terms;
  if (r == reduction::none) return l;
  tensor<T> total = sum(l);
  if (r == reduction::sum) return total;
  if (den.defined()) {
    tensor<T> w = expand(den, terms.shape());
    if (mask.defined()) w = where(mask, w, T(0));
    const tensor<T> d = sum(w);
    return div(total, where(equal(d, T(0)), T(1), d));
  }
  index_t count = terms.numel();
  if (mask.defined()) {
    count = 0;
    const bool* m = mask.data();
    for (index_t i = 0; i < mask.numel(); ++i) count += m[i] ? 1 : 0;
  }
  return count == 0 ? total : div(total, scalar<T>(static_cast<T>(count)));
}

/// Throws unless the mask (if defined) has exactly the per-sample shape `s`.
inline void check_mask_shape(const tensor<bool>& mask, const shape& s, const char* op) {
  if (!mask.defined()) return;
  KEXUE_CHECK(mask.shape() == s, shape_error, op, "mask shape ", format_shape(mask.shape()),
              " differs from the per-sample loss shape ", format_shape(s));
}
}  // namespace detail

template <class T>
tensor<T> reduce(const tensor<T>& per_sample, reduction r, const tensor<T>& sample_weight, const tensor<bool>& mask,
                 const char* op) {
  const shape& s = per_sample.shape();
  if (sample_weight.defined()) detail::check_weight_shape(sample_weight.shape(), s, op);
  detail::check_mask_shape(mask, s, op);
  const tensor<T> terms = sample_weight.defined() ? mul(per_sample, sample_weight) : per_sample;
  return detail::reduce_terms(terms, r, sample_weight, mask);
}

}  // namespace kexue::loss
