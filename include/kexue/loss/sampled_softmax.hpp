// SPDX-License-Identifier: MIT
// Losses with sampled negatives (spec A05, A10): NCE / negative sampling, sampled softmax with log-Q correction, random
// softmax.
#pragma once

#include <cmath>   // std::log, std::pow, std::isfinite
#include <limits>  // infinity for removed accidental hits
#include <string>  // expected-shape text
#include <vector>  // sampler tables

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/loss/classification.hpp>
#include <kexue/loss/reduction.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue::loss {

// ~~~ Negative samplers (every draw takes an explicit generator) ~~~

/// [rows, k] class ids drawn independently and uniformly from [0, num_classes) with replacement (A10's sampler:
/// the target and the padding id may be drawn). Uses gen.below, so a seed gives the same ids everywhere.
/// Error: value_error "uniform_negatives: num_classes must be positive (got 0)" (and for negative rows or k).
inline tensor<index_t> uniform_negatives(index_t rows, index_t k, index_t num_classes, generator& gen);

/// Draws class ids from an arbitrary discrete distribution in O(1) per draw (Walker's alias method, Vose's
/// construction). Weights need not sum to 1. Errors: value_error "alias_sampler: needs at least one weight",
/// "alias_sampler: weight 2 is negative or not finite (got -1)", "alias_sampler: the weights sum to 0".
class alias_sampler {
 public:
  explicit alias_sampler(const std::vector<double>& weights);
  /// Number of classes.
  index_t size() const { return static_cast<index_t>(probability_.size()); }
  /// Normalised probability Q(i) of class i.
  double probability(index_t i) const { return probability_.at(static_cast<std::size_t>(i)); }
  /// One draw (consumes one gen.below and one gen.uniform).
  index_t sample(generator& gen) const;
  /// Independent draws of the given shape.
  tensor<index_t> sample(const shape& s, generator& gen) const;
  /// log Q as a [size()] tensor (−inf for zero-weight classes), for the log-Q correction.
  template <class T>
  tensor<T> log_probabilities() const;

 private:
  std::vector<double> probability_, threshold_;
  std::vector<index_t> alias_;
};

/// counts^power (word2vec's unigram^0.75 noise; the exponent is a convention, not stated in A05), for an
/// alias_sampler. Error: value_error "unigram_weights: count 1 is negative (got -2)".
inline std::vector<double> unigram_weights(const std::vector<double>& counts, double power = 0.75);

// ~~~ Losses ~~~

/// Options of nce_loss.
struct nce_options {
  /// false (default): the k negative terms are averaged (A05's formula, one noise term per data term: no shift
  /// of the optimum); true: summed (word2vec; the fitted score becomes PMI − log k).
  KEXUE_LOSS_ARG(bool, sum_negatives, false);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Noise-contrastive estimation / negative sampling (A05): classify data against noise with p(1|x) = σ(G − γ):
///   l_i = −log σ(G⁺_i − γ) − agg_j log(1 − σ(G⁻_ij − γ)) = softplus(γ − G⁺_i) + agg_j softplus(G⁻_ij − γ)
/// scores_pos [...] (G of the data samples), scores_neg [..., k] (G of k noise samples each), gamma a learnable
/// scalar tensor (undefined = 0, word2vec's choice; with uniform noise U, γ − log U estimates log Z). agg = mean
/// or sum (options). For general NCE with noise U, pass G − log(k·U(x)) as scores. Per-sample shape [...].
/// Gradient: to both score tensors and gamma. Errors: shape_error "nce_loss: scores_neg shape [3, 5] does not fit
/// scores_pos shape [4] (expected [4, k])", "nce_loss: gamma must hold one value (got shape [2])".
template <class T>
tensor<T> nce_loss(const tensor<T>& scores_pos, const tensor<T>& scores_neg, const tensor<T>& gamma = tensor<T>(),
                   const nce_options& options = {}, const weighting_arg<T>& weights = {});

/// Options of sampled_softmax_loss.
struct sampled_softmax_options {
  /// k, negatives drawn per example by the sampler overload. Default 16.
  KEXUE_LOSS_ARG(index_t, num_negatives, 16);
  /// Subtract log Q(c) from every candidate logit (target included), as TF's sampled_softmax_loss; the sampler
  /// overload takes Q from the sampler. Default true.
  KEXUE_LOSS_ARG(bool, subtract_log_q, true);
  /// Give negatives equal to the example's target a logit of −inf (they drop out). Default false.
  KEXUE_LOSS_ARG(bool, remove_accidental_hits, false);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// Softmax cross-entropy over a candidate set [t_i, n_i1, …, n_ik] instead of all V classes (A10):
///   z_ic = h_i · w_c + b_c − log Q(c),   l_i = −log softmax(z_i)_0   (the target is candidate 0)
/// hidden [B, d], weight [V, d], bias [V] or undefined (no bias), target [B], negatives [B, k] (per example) or
/// [k] (shared by the batch), log_q [V] or undefined (no correction; options.subtract_log_q is not consulted
/// here). Only the B·(k+1) candidate rows are gathered (index_select), so the gradient to weight and bias is
/// nonzero on those rows only. Per-sample shape [B]. Stable (log-softmax).
/// Errors: shape_error "sampled_softmax_loss: weight shape [10, 3] does not fit hidden shape [2, 4] (expected
/// [V, 4])", "... target shape [3] does not fit hidden shape [2, 4] (expected [2])", "... negatives shape [3, 2]
/// does not fit hidden shape [2, 4] (expected [2, k] or [k])", "... bias shape [9] does not fit weight shape
/// [10, 4] (expected [10])", "... log_q shape [9] ..."; index_error "sampled_softmax_loss: label 12 is out of
/// range for 10 classes", "sampled_softmax_loss: negative 12 is out of range for 10 classes".
template <class T>
tensor<T> sampled_softmax_loss(const tensor<T>& hidden, const tensor<T>& weight, const tensor<T>& bias,
                               const tensor<index_t>& target, const tensor<index_t>& negatives, const tensor<T>& log_q,
                               const sampled_softmax_options& options = {}, const weighting_arg<T>& weights = {});

/// Sampled softmax with k = options.num_negatives() negatives per example drawn from `sampler` with `gen`, and
/// the log-Q correction from the sampler when options.subtract_log_q() (TF's sampled_softmax_loss, except that
/// each example draws its own negatives). Error: value_error "sampled_softmax_loss: the sampler has 9 classes,
/// weight has 10 rows", plus the above.
template <class T>
tensor<T> sampled_softmax_loss(const tensor<T>& hidden, const tensor<T>& weight, const tensor<T>& bias,
                               const tensor<index_t>& target, const alias_sampler& sampler, generator& gen,
                               const sampled_softmax_options& options = {}, const weighting_arg<T>& weights = {});

/// Options of random_softmax_loss (A10's reference defaults).
struct random_softmax_options {
  /// Negatives per example. Default 16 (the article suggests 10–30).
  KEXUE_LOSS_ARG(index_t, num_negatives, 16);
  /// Default mean.
  KEXUE_LOSS_ARG(::kexue::loss::reduction, reduction, ::kexue::loss::reduction::mean);
};

/// A10's "random softmax loss" (Appendix C 13): per example, k ids drawn uniformly from [0, V) with gen
/// (uniform_negatives; the target and padding id 0 may be drawn; no exclusion, no log-Q correction), and softmax
/// cross-entropy over [t, n_1, …, n_k] with the target at index 0. Equals sampled_softmax_loss with those
/// negatives and no log_q. Shapes and errors as sampled_softmax_loss, naming "random_softmax_loss".
template <class T>
tensor<T> random_softmax_loss(const tensor<T>& hidden, const tensor<T>& weight, const tensor<T>& bias,
                              const tensor<index_t>& target, generator& gen, const random_softmax_options& options = {},
                              const weighting_arg<T>& weights = {});

// ~~~ Implementation: samplers ~~~

inline tensor<index_t> uniform_negatives(index_t rows, index_t k, index_t num_classes, generator& gen) {
  KEXUE_CHECK(num_classes > 0, value_error, "uniform_negatives", "num_classes must be positive (got ", num_classes,
              ")");
  KEXUE_CHECK(rows >= 0 && k >= 0, value_error, "uniform_negatives", "rows and k must be non-negative (got ", rows,
              " and ", k, ")");
  auto out = tensor<index_t>::empty(shape{rows, k});
  for (index_t i = 0; i < rows * k; ++i) {
    out.data()[i] = static_cast<index_t>(gen.below(static_cast<std::uint64_t>(num_classes)));
  }
  return out;
}

inline alias_sampler::alias_sampler(const std::vector<double>& weights) {
  const char* op = "alias_sampler";
  const std::size_t n = weights.size();
  KEXUE_CHECK(n > 0, value_error, op, "needs at least one weight");
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    KEXUE_CHECK(weights[i] >= 0 && std::isfinite(weights[i]), value_error, op, "weight ", i,
                " is negative or not finite (got ", weights[i], ")");
    total += weights[i];
  }
  KEXUE_CHECK(total > 0, value_error, op, "the weights sum to 0");
  probability_.resize(n);
  threshold_.assign(n, 1.0);
  alias_.resize(n);
  std::vector<double> scaled(n);
  std::vector<std::size_t> small, large;
  for (std::size_t i = 0; i < n; ++i) {
    probability_[i] = weights[i] / total;
    scaled[i] = probability_[i] * static_cast<double>(n);
    alias_[i] = static_cast<index_t>(i);
    (scaled[i] < 1.0 ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {  // Vose: pair one under-full column with one over-full donor
    const std::size_t s = small.back(), l = large.back();
    small.pop_back();
    threshold_[s] = scaled[s];
    alias_[s] = static_cast<index_t>(l);
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // leftovers are full columns up to rounding: threshold 1 (never take the alias)
}

inline index_t alias_sampler::sample(generator& gen) const {
  const auto column = static_cast<std::size_t>(gen.below(probability_.size()));
  return gen.uniform() < threshold_[column] ? static_cast<index_t>(column) : alias_[column];
}

inline tensor<index_t> alias_sampler::sample(const shape& s, generator& gen) const {
  auto out = tensor<index_t>::empty(s);
  for (index_t i = 0; i < out.numel(); ++i) out.data()[i] = sample(gen);
  return out;
}

template <class T>
tensor<T> alias_sampler::log_probabilities() const {
  auto out = tensor<T>::empty(shape{size()});
  for (index_t i = 0; i < size(); ++i) {
    const double p = probability_[static_cast<std::size_t>(i)];
    out.data()[i] = p > 0 ? static_cast<T>(std::log(p)) : -std::numeric_limits<T>::infinity();
  }
  return out;
}

inline std::vector<double> unigram_weights(const std::vector<double>& counts, double power) {
  std::vector<double> out(counts.size());
  for (std::size_t i = 0; i < counts.size(); ++i) {
    KEXUE_CHECK(counts[i] >= 0, value_error, "unigram_weights", "count ", i, " is negative (got ", counts[i], ")");
    out[i] = std::pow(counts[i], power);
  }
  return out;
}

// ~~~ Implementation: losses ~~~

template <class T>
tensor<T> nce_loss(const tensor<T>& scores_pos, const tensor<T>& scores_neg, const tensor<T>& gamma,
                   const nce_options& options, const weighting_arg<T>& weights) {
  const char* op = "nce_loss";
  const shape& p = scores_pos.shape();
  const shape& n = scores_neg.shape();
  bool fits = n.rank() == p.rank() + 1;
  for (int i = 0; fits && i < p.rank(); ++i) fits = n[i] == p[i];
  if (!fits) {
    std::string expected = "[";
    for (int i = 0; i < p.rank(); ++i) expected += std::to_string(p[i]) + ", ";
    KEXUE_THROW(shape_error, op, "scores_neg shape ", format_shape(n), " does not fit scores_pos shape ",
                format_shape(p), " (expected ", expected, "k])");
  }
  KEXUE_CHECK(!gamma.defined() || gamma.numel() == 1, shape_error, op, "gamma must hold one value (got shape ",
              format_shape(gamma.shape()), ")");
  const tensor<T> g = gamma.defined() ? reshape(gamma, shape{}) : tensor<T>();
  const tensor<T> pos = softplus(g.defined() ? sub(g, scores_pos) : neg(scores_pos));  // −log σ(G⁺ − γ)
  const tensor<T> negs = softplus(g.defined() ? sub(scores_neg, g) : scores_neg);      // −log(1 − σ(G⁻ − γ))
  const int last = scores_neg.rank() - 1;
  const tensor<T> agg = options.sum_negatives() ? sum(negs, {last}) : mean(negs, {last});
  return reduce(add(pos, agg), options.reduction(), weights, op);
}

namespace detail {

inline void check_ids(const tensor<index_t>& ids, index_t classes, const char* what, const char* op) {
  const index_t* v = ids.data();
  for (index_t i = 0; i < ids.numel(); ++i) {
    KEXUE_CHECK(v[i] >= 0 && v[i] < classes, index_error, op, what, " ", v[i], " is out of range for ", classes,
                " classes");
  }
}

template <class T>
tensor<T> candidate_softmax(const tensor<T>& hidden, const tensor<T>& weight, const tensor<T>& bias,
                            const tensor<index_t>& target, const tensor<index_t>& negatives, const tensor<T>& log_q,
                            bool remove_hits, reduction r, const weighting<T>& weights, const char* op) {
  KEXUE_CHECK(hidden.rank() == 2, shape_error, op, "hidden must be [B, d], got shape ", format_shape(hidden.shape()));
  const index_t b = hidden.shape()[0], d = hidden.shape()[1];
  KEXUE_CHECK(weight.rank() == 2 && weight.shape()[1] == d, shape_error, op, "weight shape ",
              format_shape(weight.shape()), " does not fit hidden shape ", format_shape(hidden.shape()),
              " (expected [V, ", d, "])");
  const index_t v = weight.shape()[0];
  KEXUE_CHECK(target.shape() == shape{b}, shape_error, op, "target shape ", format_shape(target.shape()),
              " does not fit hidden shape ", format_shape(hidden.shape()), " (expected [", b, "])");
  const bool shared = negatives.rank() == 1;
  KEXUE_CHECK(shared || (negatives.rank() == 2 && negatives.shape()[0] == b), shape_error, op, "negatives shape ",
              format_shape(negatives.shape()), " does not fit hidden shape ", format_shape(hidden.shape()),
              " (expected [", b, ", k] or [k])");
  KEXUE_CHECK(!bias.defined() || bias.shape() == shape{v}, shape_error, op, "bias shape ", format_shape(bias.shape()),
              " does not fit weight shape ", format_shape(weight.shape()), " (expected [", v, "])");
  KEXUE_CHECK(!log_q.defined() || log_q.shape() == shape{v}, shape_error, op, "log_q shape ",
              format_shape(log_q.shape()), " does not fit weight shape ", format_shape(weight.shape()), " (expected [",
              v, "])");
  check_ids(target, v, "label", op);
  check_ids(negatives, v, "negative", op);
  const index_t k = negatives.shape()[negatives.rank() - 1];
  // candidates [B, k+1]: the target first
  auto cand = tensor<index_t>::empty(shape{b, k + 1});
  auto hit = tensor<bool>::empty(shape{b, k + 1});
  for (index_t i = 0; i < b; ++i) {
    cand(i, 0) = target.data()[i];
    hit(i, 0) = false;
    for (index_t j = 0; j < k; ++j) {
      const index_t c = shared ? negatives.data()[j] : negatives(i, j);
      cand(i, j + 1) = c;
      hit(i, j + 1) = remove_hits && c == target.data()[i];
    }
  }
  const tensor<index_t> flat = reshape(cand, shape{b * (k + 1)});
  const tensor<T> rows = reshape(index_select(weight, 0, flat), shape{b, k + 1, d});  // [B, k+1, d]
  tensor<T> logits = reshape(matmul(rows, unsqueeze(hidden, 2)), shape{b, k + 1});    // [B, k+1]
  if (bias.defined()) logits = add(logits, reshape(index_select(bias, 0, flat), shape{b, k + 1}));
  if (log_q.defined()) logits = sub(logits, reshape(index_select(log_q.detach(), 0, flat), shape{b, k + 1}));
  if (remove_hits) logits = where(hit, -std::numeric_limits<T>::infinity(), logits);
  return cross_entropy(logits, zeros<index_t>(shape{b}), cross_entropy_options().reduction(r), weights);
}

}  // namespace detail

template <class T>
tensor<T> sampled_softmax_loss(const tensor<T>& hidden, const tensor<T>& weight, const tensor<T>& bias,
                               const tensor<index_t>& target, const tensor<index_t>& negatives, const tensor<T>& log_q,
                               const sampled_softmax_options& options, const weighting_arg<T>& weights) {
  return detail::candidate_softmax(hidden, weight, bias, target, negatives, log_q, options.remove_accidental_hits(),
                                   options.reduction(), weights, "sampled_softmax_loss");
}

template <class T>
tensor<T> sampled_softmax_loss(const tensor<T>& hidden, const tensor<T>& weight, const tensor<T>& bias,
                               const tensor<index_t>& target, const alias_sampler& sampler, generator& gen,
                               const sampled_softmax_options& options, const weighting_arg<T>& weights) {
  const char* op = "sampled_softmax_loss";
  KEXUE_CHECK(weight.rank() == 2 && sampler.size() == weight.shape()[0], value_error, op, "the sampler has ",
              sampler.size(), " classes, weight has ", weight.rank() == 2 ? weight.shape()[0] : 0, " rows");
  KEXUE_CHECK(options.num_negatives() >= 1, value_error, op, "num_negatives must be positive (got ",
              options.num_negatives(), ")");
  const index_t b = hidden.rank() >= 1 ? hidden.shape()[0] : 0;
  const tensor<index_t> negatives = sampler.sample(shape{b, options.num_negatives()}, gen);
  const tensor<T> log_q = options.subtract_log_q() ? sampler.log_probabilities<T>() : tensor<T>();
  return detail::candidate_softmax(hidden, weight, bias, target, negatives, log_q, options.remove_accidental_hits(),
                                   options.reduction(), weights, op);
}

template <class T>
tensor<T> random_softmax_loss(const tensor<T>& hidden, const tensor<T>& weight, const tensor<T>& bias,
                              const tensor<index_t>& target, generator& gen, const random_softmax_options& options,
                              const weighting_arg<T>& weights) {
  const char* op = "random_softmax_loss";
  KEXUE_CHECK(options.num_negatives() >= 1, value_error, op, "num_negatives must be positive (got ",
              options.num_negatives(), ")");
  KEXUE_CHECK(weight.rank() == 2 && weight.shape()[0] > 0, shape_error, op,
              "weight must be [V, d] with V > 0, got shape ", format_shape(weight.shape()));
  const index_t b = hidden.rank() >= 1 ? hidden.shape()[0] : 0;
  const tensor<index_t> negatives = uniform_negatives(b, options.num_negatives(), weight.shape()[0], gen);
  return detail::candidate_softmax(hidden, weight, bias, target, negatives, tensor<T>(), false, options.reduction(),
                                   weights, op);
}

}  // namespace kexue::loss
