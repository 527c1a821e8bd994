// SPDX-License-Identifier: MIT
// Ranking and margin losses: triplet margin, multi-class margin, hinge embedding, margin ranking, JoSE's spherical
// hinge.
#pragma once

#include <vector>  // class weights

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/normalize.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reduce_stats.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue::loss {

// All losses here are hinges max(0, ·) written with relu: the gradient is 0 where the hinge is inactive and at
// its kink, and second order is 0 almost everywhere (2·max(0, ·) for multi_margin with p = 2). Each returns
// `reduce(per_sample, options.reduction(), weights)` (loss/reduction.hpp) with the per-sample shape given.

/// Options of triplet_margin.
struct triplet_margin_options {
  /// The margin m added to d(a, p) − d(a, n). Default 1.
  KEXUE_LOSS_ARG(double, margin, 1.0);
  /// The norm degree p > 0 of the distances. Default 2.
  KEXUE_LOSS_ARG(double, p, 2.0);
  /// Added to every difference before the norm, ‖a − b + eps‖ (PyTorch's pairwise_distance). Default 1e-6.
  KEXUE_LOSS_ARG(double, eps, 1e-6);
  /// Use min(d(a, n), d(p, n)) as the negative distance (the "distance swap" of Balntas et al.). Default false.
  KEXUE_LOSS_ARG(bool, swap, false);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Triplet margin loss, PyTorch's triplet_margin_loss: max(0, m + d(a, p) − d(a, n)) with
/// d(x, y) = ‖x − y + eps‖_p over the last axis (with swap, d(a, n) is replaced by min(d(a, n), d(p, n))).
/// @param anchor, positive, negative the same shape `[..., D]` (usually `[B, D]`).
/// @return reduced; the per-sample shape `[...]` for reduction::none.
/// Gradient: through the norms (norm's gradient at a zero vector is 0); min splits ties evenly.
/// @throws shape_error "triplet_margin: anchor [4, 3], positive [4, 3] and negative [5, 3] must have one shape
/// of rank at least 1"; value_error "triplet_margin: p must be positive (got 0)".
template <class T>
tensor<T> triplet_margin(const tensor<T>& anchor, const tensor<T>& positive, const tensor<T>& negative,
                         const triplet_margin_options& options = {}, const weighting_arg<T>& weights = {});

/// Options of multi_margin.
struct multi_margin_options {
  /// The exponent p of each hinge term: 1 or 2. Default 1.
  KEXUE_LOSS_ARG(int, p, 1);
  /// The margin m. Default 1.
  KEXUE_LOSS_ARG(double, margin, 1.0);
  /// Per-class weights w (one per class), scaling each sample's loss by w[target]; empty = all ones. Default empty.
  KEXUE_LOSS_ARG(std::vector<double>, class_weight, {});
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Multi-class hinge (Crammer–Singer style, PyTorch's multi_margin_loss):
/// l_i = w[y_i]/C · Σ_{j ≠ y_i} max(0, m − x[i, y_i] + x[i, j])^p.
/// @param input `[B, C]` scores; @param target `[B]` int64 class indices in [0, C).
/// @return reduced; `[B]` for reduction::none.
/// Gradient: to input only; each active term pushes x[i, j] up and x[i, y_i] down (times p·hinge^(p−1)).
/// Second order works (PyTorch has no double backward for this loss).
/// @throws shape_error "multi_margin: expected input [B, C] and target [B] (got input [4, 5], target [3])",
/// "multi_margin: class_weight has 4 entries for 5 classes"; value_error "multi_margin: p must be 1 or 2
/// (got 3)"; index_error "multi_margin: target 7 of sample 2 is outside [0, 5)".
template <class T>
tensor<T> multi_margin(const tensor<T>& input, const tensor<index_t>& target, const multi_margin_options& options = {},
                       const weighting_arg<T>& weights = {});

/// Options of hinge_embedding.
struct hinge_embedding_options {
  /// The margin m for dissimilar pairs. Default 1.
  KEXUE_LOSS_ARG(double, margin, 1.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Hinge embedding loss, PyTorch's hinge_embedding_loss: x where the label is 1 (x is a distance to
/// shrink), max(0, m − x) where it is −1.
/// @param input `[...]` (typically distances); @param label the same shape, every entry 1 or −1.
/// @return reduced; `[...]` for reduction::none. Gradient: to input only.
/// @throws shape_error "hinge_embedding: input shape [3] differs from label shape [4]"; value_error
/// "hinge_embedding: labels must be 1 or -1 (got 0.5 at flat index 2)".
template <class T>
tensor<T> hinge_embedding(const tensor<T>& input, const tensor<T>& label, const hinge_embedding_options& options = {},
                          const weighting_arg<T>& weights = {});

/// Options of margin_ranking.
struct margin_ranking_options {
  /// The margin m. Default 0.
  KEXUE_LOSS_ARG(double, margin, 0.0);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief Margin ranking loss, PyTorch's margin_ranking_loss: max(0, m − y·(x1 − x2)); y = 1 asks x1 to rank
/// above x2 by m, y = −1 the reverse.
/// @param input1, input2, label the same shape `[...]`, labels 1 or −1.
/// @return reduced; `[...]` for reduction::none. Gradient: to input1 and input2.
/// @throws shape_error "margin_ranking: input1 [3], input2 [3] and label [4] must have one shape";
/// value_error "margin_ranking: labels must be 1 or -1 (got 0 at flat index 1)".
template <class T>
tensor<T> margin_ranking(const tensor<T>& input1, const tensor<T>& input2, const tensor<T>& label,
                         const margin_ranking_options& options = {}, const weighting_arg<T>& weights = {});

/// Options of spherical_hinge.
struct spherical_hinge_options {
  /// The margin m. Default 0.15 (the JoSE reference implementation's usage example; spec A21).
  KEXUE_LOSS_ARG(double, margin, 0.15);
  /// Compute cosines (each vector divided by its norm) instead of plain dot products. Off by default: JoSE
  /// keeps every vector on the unit sphere, where both agree, and its optimizer wants the raw gradient
  /// ∇_x f(x) of the dot-product form, which it projects onto the tangent space itself. Turn it on to
  /// train unconstrained parameters θ through x = θ/‖θ‖ (the gradient is then already projected and scaled
  /// by 1/‖θ‖). Default false.
  KEXUE_LOSS_ARG(bool, normalize, false);
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// @brief JoSE's spherical text-embedding hinge (spec A21) for a centre word u, its context word v, its
/// document d and negative centre words u′:
///   ℓ = Σ_k max(0, m − ⟨u, v⟩ − ⟨u, d⟩ + ⟨u′_k, v⟩ + ⟨u′_k, d⟩)
/// where ⟨·,·⟩ is the dot product (the cosine on the unit sphere; cosine_similarity with `normalize`).
/// @param u, v, d `[B, D]`; @param u_neg `[B, D]` (one negative per sample) or `[B, K, D]` (K negatives, the
/// per-sample loss summing their hinges).
/// @return reduced; `[B]` for reduction::none.
/// Gradient: to all four inputs. On an active hinge, ∂ℓ/∂u = −(v + d), ∂ℓ/∂u′_k = v + d,
/// ∂ℓ/∂v = u′_k − u, ∂ℓ/∂d = u′_k − u (dot-product form).
/// @throws shape_error "spherical_hinge: expected u, v, d [B, D] and u_neg [B, D] or [B, K, D] (got u [2, 3],
/// v [2, 3], d [2, 4], u_neg [2, 3])".
template <class T>
tensor<T> spherical_hinge(const tensor<T>& u, const tensor<T>& v, const tensor<T>& d, const tensor<T>& u_neg,
                          const spherical_hinge_options& options = {}, const weighting_arg<T>& weights = {});

// ~~~ Implementation ~~~

namespace detail {
/// Throws value_error naming the first label that is neither 1 nor −1.
template <class T>
void check_signed_labels(const tensor<T>& label, const char* op) {
  const T* y = label.data();
  for (index_t i = 0, n = label.numel(); i < n; ++i) {
    KEXUE_CHECK(y[i] == T(1) || y[i] == T(-1), value_error, op, "labels must be 1 or -1 (got ", y[i], " at flat index ",
                i, ")");
  }
}

/// ‖a − b + eps‖_p over the last axis (PyTorch's pairwise_distance).
template <class T>
tensor<T> pairwise_distance(const tensor<T>& a, const tensor<T>& b, double p, T eps) {
  return norm(add_scalar(sub(a, b), eps), p, {-1});
}
}  // namespace detail

template <class T>
tensor<T> triplet_margin(const tensor<T>& anchor, const tensor<T>& positive, const tensor<T>& negative,
                         const triplet_margin_options& options, const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "triplet_margin: inputs must be float or double tensors");
  KEXUE_CHECK(anchor.rank() >= 1 && anchor.shape() == positive.shape() && anchor.shape() == negative.shape(),
              shape_error, "triplet_margin", "anchor ", format_shape(anchor.shape()), ", positive ",
              format_shape(positive.shape()), " and negative ", format_shape(negative.shape()),
              " must have one shape of rank at least 1");
  KEXUE_CHECK(options.p() > 0, value_error, "triplet_margin", "p must be positive (got ", options.p(), ")");
  const T eps = static_cast<T>(options.eps());
  const tensor<T> d_pos = detail::pairwise_distance(anchor, positive, options.p(), eps);
  tensor<T> d_neg = detail::pairwise_distance(anchor, negative, options.p(), eps);
  if (options.swap()) d_neg = minimum(d_neg, detail::pairwise_distance(positive, negative, options.p(), eps));
  const tensor<T> per = relu(add_scalar(sub(d_pos, d_neg), static_cast<T>(options.margin())));
  return reduce(per, options.reduction(), weights, "triplet_margin");
}

template <class T>
tensor<T> multi_margin(const tensor<T>& input, const tensor<index_t>& target, const multi_margin_options& options,
                       const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "multi_margin: input must be a float or double tensor");
  KEXUE_CHECK(input.rank() == 2 && target.rank() == 1 && target.size(0) == input.size(0), shape_error, "multi_margin",
              "expected input [B, C] and target [B] (got input ", format_shape(input.shape()), ", target ",
              format_shape(target.shape()), ")");
  KEXUE_CHECK(options.p() == 1 || options.p() == 2, value_error, "multi_margin", "p must be 1 or 2 (got ", options.p(),
              ")");
  const index_t batch = input.size(0);
  const index_t classes = input.size(1);
  const auto& cw = options.class_weight();
  KEXUE_CHECK(cw.empty() || static_cast<index_t>(cw.size()) == classes, shape_error, "multi_margin",
              "class_weight has ", cw.size(), " entries for ", classes, " classes");
  // The target's own column is excluded from the sum; w[y] scales the sample.
  auto other = tensor<bool>::empty(input.shape());
  auto sample_scale = tensor<T>::empty({batch});
  for (index_t i = 0; i < batch; ++i) {
    const index_t y = target.data()[i];
    KEXUE_CHECK(y >= 0 && y < classes, index_error, "multi_margin", "target ", y, " of sample ", i, " is outside [0, ",
                classes, ")");
    for (index_t j = 0; j < classes; ++j) other.data()[i * classes + j] = j != y;
    sample_scale.data()[i] =
        static_cast<T>(cw.empty() ? 1.0 : cw[static_cast<std::size_t>(y)]) / static_cast<T>(classes);
  }
  const tensor<T> x_target = gather(input, 1, reshape(target, {batch, 1}));                    // [B, 1]
  tensor<T> hinge = relu(add_scalar(sub(input, x_target), static_cast<T>(options.margin())));  // [B, C]
  if (options.p() == 2) hinge = square(hinge);
  const tensor<T> per = mul(sum(where(other, hinge, T(0)), {1}), sample_scale);
  return reduce(per, options.reduction(), weights, "multi_margin");
}

template <class T>
tensor<T> hinge_embedding(const tensor<T>& input, const tensor<T>& label, const hinge_embedding_options& options,
                          const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "hinge_embedding: inputs must be float or double tensors");
  KEXUE_CHECK(input.shape() == label.shape(), shape_error, "hinge_embedding", "input shape ",
              format_shape(input.shape()), " differs from label shape ", format_shape(label.shape()));
  detail::check_signed_labels(label, "hinge_embedding");
  const tensor<T> dissimilar = relu(add_scalar(neg(input), static_cast<T>(options.margin())));
  return reduce(where(equal(label, T(1)), input, dissimilar), options.reduction(), weights, "hinge_embedding");
}

template <class T>
tensor<T> margin_ranking(const tensor<T>& input1, const tensor<T>& input2, const tensor<T>& label,
                         const margin_ranking_options& options, const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "margin_ranking: inputs must be float or double tensors");
  KEXUE_CHECK(input1.shape() == input2.shape() && input1.shape() == label.shape(), shape_error, "margin_ranking",
              "input1 ", format_shape(input1.shape()), ", input2 ", format_shape(input2.shape()), " and label ",
              format_shape(label.shape()), " must have one shape");
  detail::check_signed_labels(label, "margin_ranking");
  const tensor<T> per =
      relu(add_scalar(neg(mul(label.detach(), sub(input1, input2))), static_cast<T>(options.margin())));
  return reduce(per, options.reduction(), weights, "margin_ranking");
}

template <class T>
tensor<T> spherical_hinge(const tensor<T>& u, const tensor<T>& v, const tensor<T>& d, const tensor<T>& u_neg,
                          const spherical_hinge_options& options, const weighting_arg<T>& weights) {
  static_assert(tensor<T>::is_differentiable, "spherical_hinge: inputs must be float or double tensors");
  const shape& s = u.shape();
  const bool many = u_neg.rank() == 3;
  const bool ok = s.rank() == 2 && v.shape() == s && d.shape() == s &&
                  (many ? u_neg.size(0) == s[0] && u_neg.size(2) == s[1] : u_neg.shape() == s);
  KEXUE_CHECK(ok, shape_error, "spherical_hinge", "expected u, v, d [B, D] and u_neg [B, D] or [B, K, D] (got u ",
              format_shape(s), ", v ", format_shape(v.shape()), ", d ", format_shape(d.shape()), ", u_neg ",
              format_shape(u_neg.shape()), ")");
  const bool cosine = options.normalize();
  // ⟨a, b⟩ over the last axis, with broadcasting ([B, K, D] against [B, 1, D]).
  const auto similarity = [cosine](const tensor<T>& a, const tensor<T>& b) {
    return cosine ? cosine_similarity(a, b, -1) : sum(mul(a, b), {-1});
  };
  const tensor<T> positive = add(similarity(u, v), similarity(u, d));  // [B]
  const tensor<T> v_b = many ? unsqueeze(v, 1) : v;
  const tensor<T> d_b = many ? unsqueeze(d, 1) : d;
  const tensor<T> negative = add(similarity(u_neg, v_b), similarity(u_neg, d_b));  // [B] or [B, K]
  const tensor<T> pos_b = many ? unsqueeze(positive, 1) : positive;
  tensor<T> per = relu(add_scalar(sub(negative, pos_b), static_cast<T>(options.margin())));
  if (many) per = sum(per, {1});
  return reduce(per, options.reduction(), weights, "spherical_hinge");
}

}  // namespace kexue::loss
