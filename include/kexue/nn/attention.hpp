// SPDX-License-Identifier: MIT
// nn::multi_head_attention: torch.nn.MultiheadAttention's layout (batch first) on top of
// scaled_dot_product_attention, with its masks, causal rule, scale and pattern policies and rotary positions.
#pragma once

#include <cmath>    // std::sqrt
#include <memory>   // std::shared_ptr
#include <sstream>  // extra_repr
#include <string>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/nn/positional.hpp>
#include <kexue/ops/attention.hpp>
#include <kexue/ops/linear.hpp>
#include <kexue/ops/permute.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue::nn {

/// Options of nn::multi_head_attention (defaults in brackets).
struct multi_head_attention_options {
  multi_head_attention_options(index_t embed_dim, index_t num_heads) : embed_dim_(embed_dim), num_heads_(num_heads) {}
  /// Biases of the input and output projections [true].
  multi_head_attention_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  /// Feature size of key / value inputs [0: embed_dim]. When either differs from embed_dim the projections
  /// are separate parameters q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim], as PyTorch.
  multi_head_attention_options& kdim(index_t v) {
    kdim_ = v;
    return *this;
  }
  multi_head_attention_options& vdim(index_t v) {
    vdim_ = v;
    return *this;
  }
  /// Dropout probability on the attention weights, in training mode only [0].
  multi_head_attention_options& dropout(double p) {
    dropout_ = p;
    return *this;
  }
  /// Scale policy of the logits: standard 1/√head_dim [default], entropy-invariant (spec A16, n = keys each
  /// query sees, clamped at min_keys) or a fixed value.
  multi_head_attention_options& entropy_invariant(index_t min_keys = 16) {
    scale_ = attention_scale::entropy_invariant;
    min_keys_ = min_keys;
    return *this;
  }
  multi_head_attention_options& scale(double value) {
    scale_ = attention_scale::fixed;
    scale_value_ = value;
    return *this;
  }
  /// Attention pattern (spec A17) [dense].
  multi_head_attention_options& pattern(attention_pattern p, index_t k = 0) {
    pattern_ = p;
    pattern_size_ = k;
    return *this;
  }
  /// Rotary position embedding applied to the per-head queries and keys [false] (RoFormer pairing unless
  /// rotary_interleaved(false)).
  multi_head_attention_options& rotary(bool on, double base = 10000.0) {
    rotary_ = on;
    rotary_base_ = base;
    return *this;
  }
  multi_head_attention_options& rotary_interleaved(bool on) {
    rotary_interleaved_ = on;
    return *this;
  }

  index_t embed_dim() const { return embed_dim_; }
  index_t num_heads() const { return num_heads_; }
  bool bias() const { return bias_; }
  index_t kdim() const { return kdim_ > 0 ? kdim_ : embed_dim_; }
  index_t vdim() const { return vdim_ > 0 ? vdim_ : embed_dim_; }
  double dropout() const { return dropout_; }
  attention_scale scale_policy() const { return scale_; }
  double scale_value() const { return scale_value_; }
  index_t min_keys() const { return min_keys_; }
  attention_pattern pattern() const { return pattern_; }
  index_t pattern_size() const { return pattern_size_; }
  bool rotary() const { return rotary_; }
  double rotary_base() const { return rotary_base_; }
  bool rotary_interleaved() const { return rotary_interleaved_; }

 private:
  index_t embed_dim_, num_heads_;
  bool bias_ = true;
  index_t kdim_ = 0, vdim_ = 0;
  double dropout_ = 0.0;
  attention_scale scale_ = attention_scale::standard;
  double scale_value_ = 1.0;
  index_t min_keys_ = 16;
  attention_pattern pattern_ = attention_pattern::dense;
  index_t pattern_size_ = 0;
  bool rotary_ = false;
  double rotary_base_ = 10000.0;
  bool rotary_interleaved_ = true;
};

/// Per-call arguments of multi_head_attention::forward (torch's forward keywords; masks: true = masked out).
template <class T>
struct multi_head_attention_call {
  tensor<bool> key_padding_mask;  ///< [B, Nk], true = padding key
  tensor<bool> bool_attn_mask;    ///< [Nq, Nk], [B·H, Nq, Nk] or [B, H, Nq, Nk], true = not allowed
  tensor<T> additive_attn_mask;   ///< same shapes, added to the logits
  bool causal = false;            ///< query i sees keys j ≤ i + causal_offset
  index_t causal_offset = 0;
  index_t position_offset = 0;       ///< rotary: position of the first query / key (decoding with a cache)
  bool need_weights = false;         ///< also return the attention weights (differentiable)
  bool average_attn_weights = true;  ///< weights averaged over heads [B, Nq, Nk], else [B, H, Nq, Nk]

  multi_head_attention_call& with_key_padding_mask(const tensor<bool>& m) {
    key_padding_mask = m;
    return *this;
  }
  multi_head_attention_call& with_attn_mask(const tensor<bool>& m) {
    bool_attn_mask = m;
    return *this;
  }
  multi_head_attention_call& with_attn_mask(const tensor<T>& m) {
    additive_attn_mask = m;
    return *this;
  }
  multi_head_attention_call& with_causal(bool on = true, index_t offset = 0) {
    causal = on;
    causal_offset = offset;
    return *this;
  }
  multi_head_attention_call& with_weights(bool on = true, bool average = true) {
    need_weights = on;
    average_attn_weights = average;
    return *this;
  }
};

/// @brief Multi-head attention as torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True):
/// q = query·W_qᵀ + b_q, k = key·W_kᵀ + b_k, v = value·W_vᵀ + b_v, split into H heads of E/H features,
/// attention per head (scaled_dot_product_attention), heads concatenated, out_proj.
/// Parameters (PyTorch's names, layout and initialisation): in_proj_weight [3E, E] (rows q, k, v;
/// xavier_uniform) when kdim = vdim = E, else q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight
/// [E, vdim] (xavier_uniform each); in_proj_bias [3E] (zeros); out_proj (linear E → E, PyTorch's linear
/// init, bias zeroed).
/// Shapes: query [B, Nq, E], key [B, Nk, kdim], value [B, Nk, vdim] → output [B, Nq, E]; weights (after
/// dropout) [B, Nq, Nk] averaged over heads or [B, H, Nq, Nk]. The weights carry gradient, as PyTorch's
/// attn_output_weights: to query and key (through the q, k projections, rotary positions included) and so to
/// in_proj_weight / in_proj_bias (or q_proj_weight, k_proj_weight), second order included; the output keeps
/// the fused attention path either way. Unlike PyTorch, a query that sees no key gives zeros (before
/// out_proj's bias), not NaN.
/// @throws value_error when E is not divisible by H; shape_error naming the configuration and the shapes.
template <class T = float>
class multi_head_attention : public cloneable<multi_head_attention<T>, T> {
 public:
  explicit multi_head_attention(const multi_head_attention_options& options, generator& gen = default_generator())
      : options_(options), gen_(gen.next_u64()) {
    KEXUE_CHECK(options.embed_dim() > 0 && options.num_heads() > 0 && options.embed_dim() % options.num_heads() == 0,
                value_error, "multi_head_attention",
                "embed_dim must be a positive multiple of num_heads, got embed_dim=", options.embed_dim(),
                ", num_heads=", options.num_heads());
    KEXUE_CHECK(options.dropout() >= 0 && options.dropout() < 1, value_error, "multi_head_attention",
                "dropout must lie in [0, 1), got ", options.dropout());
    reset(gen);
  }

  void reset(generator& gen) override {
    const index_t e = options_.embed_dim();
    auto xavier = [&](index_t out, index_t in) {
      const T bound = static_cast<T>(std::sqrt(6.0 / double(in + out)));
      return rand<T>({out, in}, gen, -bound, bound);
    };
    if (same_dims()) {
      in_proj_weight = this->register_parameter("in_proj_weight", xavier(3 * e, e));
    } else {
      q_proj_weight = this->register_parameter("q_proj_weight", xavier(e, e));
      k_proj_weight = this->register_parameter("k_proj_weight", xavier(e, options_.kdim()));
      v_proj_weight = this->register_parameter("v_proj_weight", xavier(e, options_.vdim()));
    }
    if (options_.bias()) in_proj_bias = this->register_parameter("in_proj_bias", zeros<T>({3 * e}));
    out_proj =
        this->register_module("out_proj", std::make_shared<linear<T>>(linear_options(e, e).bias(options_.bias()), gen));
    if (options_.bias()) {
      T* b = out_proj->bias.data();
      for (index_t i = 0; i < e; ++i) b[i] = T(0);
    }
  }

  /// Output and weights (weights undefined unless call.need_weights).
  struct result {
    tensor<T> output;
    tensor<T> weights;
  };

  /// Cross attention (or self attention when query, key and value are the same tensor).
  result forward(const tensor<T>& query, const tensor<T>& key, const tensor<T>& value,
                 const multi_head_attention_call<T>& call = {}) const {
    const index_t e = options_.embed_dim(), h = options_.num_heads(), hd = e / h;
    const bool ok = query.rank() == 3 && key.rank() == 3 && value.rank() == 3 && query.size(2) == e &&
                    key.size(2) == options_.kdim() && value.size(2) == options_.vdim() &&
                    key.size(0) == query.size(0) && value.size(0) == query.size(0) && value.size(1) == key.size(1);
    KEXUE_CHECK(ok, shape_error, describe(), "expected query [B, Nq, ", e, "], key [B, Nk, ", options_.kdim(),
                "], value [B, Nk, ", options_.vdim(), "], got query ", format_shape(query.shape()), ", key ",
                format_shape(key.shape()), ", value ", format_shape(value.shape()));
    const index_t b = query.size(0), nq = query.size(1), nk = key.size(1);
    auto bias_part = [&](index_t i) { return options_.bias() ? narrow(in_proj_bias, 0, i * e, e) : tensor<T>(); };
    auto weight_part = [&](index_t i) {
      if (!same_dims()) return i == 0 ? q_proj_weight : i == 1 ? k_proj_weight : v_proj_weight;
      return narrow(in_proj_weight, 0, i * e, e);
    };
    // [B, N, E] → [B, H, N, hd]
    auto heads = [&](const tensor<T>& x, index_t n) { return permute(reshape(x, {b, n, h, hd}), {0, 2, 1, 3}); };
    tensor<T> q = heads(kexue::linear(query, weight_part(0), bias_part(0)), nq);
    tensor<T> k = heads(kexue::linear(key, weight_part(1), bias_part(1)), nk);
    const tensor<T> v = heads(kexue::linear(value, weight_part(2), bias_part(2)), nk);
    if (options_.rotary()) {
      const rotary_embedding<T> rope(
          rotary_embedding_options(hd).base(options_.rotary_base()).interleaved(options_.rotary_interleaved()));
      q = rope.forward(q, call.position_offset);
      k = rope.forward(k, call.position_offset);
    }
    attention_options<T> o;
    if (call.key_padding_mask.defined()) o.key_padding_mask(call.key_padding_mask);
    if (call.bool_attn_mask.defined()) o.attn_mask(per_head(call.bool_attn_mask, b));
    if (call.additive_attn_mask.defined()) o.attn_mask(per_head(call.additive_attn_mask, b));
    o.causal(call.causal, call.causal_offset).pattern(options_.pattern(), options_.pattern_size());
    if (options_.scale_policy() == attention_scale::entropy_invariant) o.entropy_invariant(options_.min_keys());
    if (options_.scale_policy() == attention_scale::fixed) o.scale(options_.scale_value());
    if (this->is_training() && options_.dropout() > 0) o.dropout(options_.dropout(), gen_);
    result r;
    tensor<T> attended;
    if (call.need_weights) {
      auto a = scaled_dot_product_attention_with_weights(q, k, v, o);
      attended = a.output;
      r.weights = call.average_attn_weights ? mean(a.weights, {1}) : a.weights;
    } else {
      attended = scaled_dot_product_attention(q, k, v, o);
    }
    r.output = out_proj->forward(reshape(permute(attended, {0, 2, 1, 3}), {b, nq, e}));
    return r;
  }

  /// Self attention: forward(x, x, x, call).output.
  tensor<T> forward(const tensor<T>& x, const multi_head_attention_call<T>& call = {}) const {
    return forward(x, x, x, call).output;
  }

  const multi_head_attention_options& options() const { return options_; }
  std::string type_name() const override { return "multi_head_attention"; }
  std::string extra_repr() const override {
    std::ostringstream s;
    s << "embed_dim=" << options_.embed_dim() << ", num_heads=" << options_.num_heads();
    if (!same_dims()) s << ", kdim=" << options_.kdim() << ", vdim=" << options_.vdim();
    s << ", bias=" << (options_.bias() ? "true" : "false");
    if (options_.dropout() > 0) s << ", dropout=" << options_.dropout();
    return s.str();
  }

  tensor<T> in_proj_weight;  ///< [3E, E] when kdim = vdim = E
  tensor<T> q_proj_weight;   ///< [E, E] otherwise
  tensor<T> k_proj_weight;   ///< [E, kdim]
  tensor<T> v_proj_weight;   ///< [E, vdim]
  tensor<T> in_proj_bias;    ///< [3E]
  std::shared_ptr<linear<T>> out_proj;

 private:
  bool same_dims() const { return options_.kdim() == options_.embed_dim() && options_.vdim() == options_.embed_dim(); }
  std::string describe() const { return "multi_head_attention(" + extra_repr() + ")"; }

  /// PyTorch's 3-D masks [B·H, Nq, Nk] as [B, H, Nq, Nk]; other ranks pass unchanged.
  template <class M>
  tensor<M> per_head(const tensor<M>& m, index_t b) const {
    if (m.rank() != 3) return m;
    const index_t h = options_.num_heads();
    KEXUE_CHECK(m.size(0) == b * h, shape_error, describe(), "a 3-D attn_mask must be [B·num_heads, Nq, Nk] with ",
                "B·num_heads = ", b * h, ", got ", format_shape(m.shape()));
    return reshape(m, {b, h, m.size(1), m.size(2)});
  }

  multi_head_attention_options options_;
  mutable generator gen_;
};

}  // namespace kexue::nn
