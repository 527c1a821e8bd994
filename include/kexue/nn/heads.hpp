// SPDX-License-Identifier: MIT
// Task heads of the articles: additive attention pooling (A02), pointer / span heads (A02 "half-pointer
// half-tagging", A26 subject and object heads), and gathering token vectors at per-example positions (A26).
#pragma once

#include <string>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>
#include <kexue/ops/softmax.hpp>

namespace kexue::nn {

namespace detail {
/// Checks a [B, T] mask against a [B, T, ...] sequence for the layer `who`.
template <class T>
void check_sequence_mask(const std::string& who, const tensor<T>& h, const tensor<bool>& mask) {
  if (!mask.defined()) return;
  KEXUE_CHECK(mask.rank() == 2 && mask.size(0) == h.size(0) && mask.size(1) == h.size(1), shape_error, who, "mask ",
              format_shape(mask.shape()), " does not match the sequence ", format_shape(h.shape()), " (expected [",
              h.size(0), ", ", h.size(1), "])");
}
}  // namespace detail

/// @brief The vectors of `h` at one position per example (A26's batch_gather): out[b] = h[b, positions[b]].
/// @param h `[B, T, D]`; @param positions `[B]` with values in [0, T).
/// @return `[B, D]`. Gradient: scattered back to the gathered positions (gather's).
/// @throws shape_error / index_error naming the shapes or the position out of range.
template <class T>
tensor<T> gather_positions(const tensor<T>& h, const tensor<index_t>& positions) {
  KEXUE_CHECK(h.rank() == 3 && positions.rank() == 1 && positions.size(0) == h.size(0), shape_error, "gather_positions",
              "expected h [B, T, D] and positions [B], got ", format_shape(h.shape()), " and ",
              format_shape(positions.shape()));
  const index_t b = h.size(0), d = h.size(2);
  auto index = tensor<index_t>::empty({b, 1, d});
  for (index_t i = 0; i < b; ++i) {
    const index_t p = positions.data()[i];
    KEXUE_CHECK(p >= 0 && p < h.size(1), index_error, "gather_positions", "position ", p, " of example ", i,
                " is outside [0, ", h.size(1), ")");
    for (index_t j = 0; j < d; ++j) index.data()[i * d + j] = p;
  }
  return reshape(gather(h, 1, index), {b, d});
}

/// Activation of attention_pooling's scoring layer.
enum class pooling_activation { tanh, swish };

/// Options of nn::attention_pooling. Defaults: tanh, hidden size = input size, biases on (A02 eq. 5).
struct attention_pooling_options {
  explicit attention_pooling_options(index_t dim) : dim_(dim), hidden_(dim) {}
  attention_pooling_options& hidden(index_t h) {
    hidden_ = h;
    return *this;
  }
  attention_pooling_options& activation(pooling_activation a) {
    activation_ = a;
    return *this;
  }
  attention_pooling_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  index_t dim() const { return dim_; }
  index_t hidden() const { return hidden_; }
  pooling_activation activation() const { return activation_; }
  bool bias() const { return bias_; }

 private:
  index_t dim_, hidden_;
  pooling_activation activation_ = pooling_activation::tanh;
  bool bias_ = true;
};

/// @brief Additive attention pooling from R-Net, as A02 uses it to turn a sequence into one vector:
/// λ_i = softmax_i(αᵀ Act(W x_i + b) + β), out = Σ_i λ_i x_i, padded positions excluded from the softmax
/// (a sequence with no real position gives zeros). Parameters: `score` (linear dim→hidden) and `alpha`
/// (linear hidden→1), PyTorch initialisation.
/// forward(h `[B, T, dim]`, mask `[B, T]` optional, true = real token) -> `[B, dim]`.
template <class T = float>
class attention_pooling : public cloneable<attention_pooling<T>, T> {
 public:
  explicit attention_pooling(const attention_pooling_options& options, generator& gen = default_generator())
      : options_(options) {
    reset(gen);
  }
  void reset(generator& gen) override {
    score = this->register_module(
        "score",
        std::make_shared<linear<T>>(linear_options(options_.dim(), options_.hidden()).bias(options_.bias()), gen));
    alpha = this->register_module(
        "alpha", std::make_shared<linear<T>>(linear_options(options_.hidden(), 1).bias(options_.bias()), gen));
  }

  tensor<T> forward(const tensor<T>& h, const tensor<bool>& mask = tensor<bool>()) const {
    KEXUE_CHECK(h.rank() == 3 && h.size(2) == options_.dim(), shape_error, describe(), "expected input [B, T, ",
                options_.dim(), "], got ", format_shape(h.shape()));
    detail::check_sequence_mask(describe(), h, mask);
    const tensor<T> weights = this->weights(h, mask);  // [B, T]
    return sum(mul(h, unsqueeze(weights, -1)), {1});   // [B, dim]
  }

  /// The attention weights λ `[B, T]` of a call (for inspection).
  tensor<T> weights(const tensor<T>& h, const tensor<bool>& mask = tensor<bool>()) const {
    tensor<T> hidden = score->forward(h);
    hidden = options_.activation() == pooling_activation::tanh ? kexue::tanh(hidden) : kexue::swish(hidden);
    const tensor<T> logits = squeeze(alpha->forward(hidden), -1);
    return mask.defined() ? softmax(logits, mask, -1) : softmax(logits, -1);
  }

  std::string type_name() const override { return "attention_pooling"; }
  std::string extra_repr() const override {
    return "dim=" + std::to_string(options_.dim()) + ", hidden=" + std::to_string(options_.hidden()) +
           ", activation=" + (options_.activation() == pooling_activation::tanh ? "tanh" : "swish");
  }

  std::shared_ptr<linear<T>> score, alpha;

 private:
  std::string describe() const { return "attention_pooling(" + extra_repr() + ")"; }
  attention_pooling_options options_;
};

/// How pointer_head turns scores into positions.
enum class pointer_mode {
  tagging,  ///< independent sigmoid per token: zero, one or several answers (A02, A26 triples)
  softmax,  ///< softmax over the positions: exactly one answer (A26 event subjects)
};

/// Options of nn::pointer_head. Defaults: 1 pointer pair, tagging mode, bias on.
struct pointer_head_options {
  explicit pointer_head_options(index_t dim) : dim_(dim) {}
  /// Number of (start, end) pairs per token: 1 for a subject head, the number of predicates for A26's object
  /// head.
  pointer_head_options& pairs(index_t n) {
    pairs_ = n;
    return *this;
  }
  pointer_head_options& mode(pointer_mode m) {
    mode_ = m;
    return *this;
  }
  pointer_head_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  index_t dim() const { return dim_; }
  index_t pairs() const { return pairs_; }
  pointer_mode mode() const { return mode_; }
  bool bias() const { return bias_; }

 private:
  index_t dim_;
  index_t pairs_ = 1;
  pointer_mode mode_ = pointer_mode::tagging;
  bool bias_ = true;
};

/// What pointer_head::forward returns: logits and probabilities `[B, T, pairs]` for starts and ends.
template <class T>
struct pointer_output {
  tensor<T> start_logits, end_logits;  ///< padded positions: −1e12 in softmax mode (A02's constant)
  tensor<T> start, end;                ///< probabilities (sigmoid, or softmax over T); 0 at padded positions
};

/// @brief Start/end pointers over a token sequence ("half-pointer half-tagging", A02 eq. 8; A26's subject
/// and object heads). Logits come from one linear map dim → 2·pairs (start logits first, then end logits).
/// In tagging mode, an optional per-example gate p_global `[B]` (A02: "no answer" without driving every token
/// to 0) multiplies the probabilities: p_start_i = p_global · σ(logit_i).
/// forward(h `[B, T, dim]`, mask `[B, T]` optional (true = real token), gate `[B]` optional) -> pointer_output.
/// Train tagging heads on the logits (loss::binary_cross_entropy_with_logits or focal), softmax heads with a
/// masked cross-entropy over positions.
template <class T = float>
class pointer_head : public cloneable<pointer_head<T>, T> {
 public:
  explicit pointer_head(const pointer_head_options& options, generator& gen = default_generator()) : options_(options) {
    KEXUE_CHECK(options.pairs() > 0, value_error, "pointer_head", "pairs must be positive, got ", options.pairs());
    reset(gen);
  }
  void reset(generator& gen) override {
    proj = this->register_module(
        "proj",
        std::make_shared<linear<T>>(linear_options(options_.dim(), 2 * options_.pairs()).bias(options_.bias()), gen));
  }

  pointer_output<T> forward(const tensor<T>& h, const tensor<bool>& mask = tensor<bool>(),
                            const tensor<T>& gate = tensor<T>()) const {
    KEXUE_CHECK(h.rank() == 3 && h.size(2) == options_.dim(), shape_error, describe(), "expected input [B, T, ",
                options_.dim(), "], got ", format_shape(h.shape()));
    detail::check_sequence_mask(describe(), h, mask);
    if (gate.defined()) {
      KEXUE_CHECK(options_.mode() == pointer_mode::tagging, value_error, describe(),
                  "a gate applies to tagging mode only");
      KEXUE_CHECK(gate.shape() == shape{h.size(0)}, shape_error, describe(), "gate ", format_shape(gate.shape()),
                  " must be [", h.size(0), "]");
    }
    const index_t p = options_.pairs();
    const tensor<T> logits = proj->forward(h);  // [B, T, 2p]
    pointer_output<T> out;
    out.start_logits = narrow(logits, 2, 0, p);
    out.end_logits = narrow(logits, 2, p, p);
    const tensor<bool> keep = mask.defined() ? unsqueeze(mask, -1) : tensor<bool>();  // [B, T, 1]
    if (options_.mode() == pointer_mode::softmax) {
      if (keep.defined()) {
        out.start_logits = where(expand(keep, out.start_logits.shape()), out.start_logits, static_cast<T>(-1e12));
        out.end_logits = where(expand(keep, out.end_logits.shape()), out.end_logits, static_cast<T>(-1e12));
      }
      out.start = softmax(out.start_logits, 1);
      out.end = softmax(out.end_logits, 1);
      return out;
    }
    out.start = sigmoid(out.start_logits);
    out.end = sigmoid(out.end_logits);
    if (gate.defined()) {
      const tensor<T> g = reshape(gate, {h.size(0), 1, 1});
      out.start = mul(out.start, g);
      out.end = mul(out.end, g);
    }
    if (keep.defined()) {
      out.start = where(expand(keep, out.start.shape()), out.start, T(0));
      out.end = where(expand(keep, out.end.shape()), out.end, T(0));
    }
    return out;
  }

  std::string type_name() const override { return "pointer_head"; }
  std::string extra_repr() const override {
    return "dim=" + std::to_string(options_.dim()) + ", pairs=" + std::to_string(options_.pairs()) +
           ", mode=" + (options_.mode() == pointer_mode::tagging ? "tagging" : "softmax");
  }

  std::shared_ptr<linear<T>> proj;

 private:
  std::string describe() const { return "pointer_head(" + extra_repr() + ")"; }
  pointer_head_options options_;
};

}  // namespace kexue::nn
