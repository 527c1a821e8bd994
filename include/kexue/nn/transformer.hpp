// SPDX-License-Identifier: MIT
// nn::transformer_layer: one transformer block in three orders, BERT post-LN, GPT-2 pre-LN and GPT2_ML
// (spec A03), with torch.nn.TransformerEncoderLayer's parameters and names.
#pragma once

#include <memory>   // std::shared_ptr
#include <sstream>  // extra_repr
#include <string>

#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/attention.hpp>
#include <kexue/nn/dropout.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/nn/norm.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>

namespace kexue::nn {

/// @brief Where the layer norms sit (spec A03; Attn = self attention, FFN = feed-forward, LN = layer norm):
///  - post_ln (BERT, torch norm_first=False): h = LN₁(x + Attn(x)); y = LN₂(h + FFN(h));
///  - pre_ln (GPT-2, torch norm_first=True):  h = x + Attn(LN₁(x)); y = h + FFN(LN₂(h)) (a model adds one
///    final LN after its last block);
///  - gpt2ml (GPT2_ML, Grover):               h = x + Attn(x); y = LN₂(h + FFN(LN₁(h))) — the FFN's residual is
///    taken from h, before LN₁ (norm1 plays the article's LN₀, norm2 its LN₁).
enum class block_order { post_ln, pre_ln, gpt2ml };

/// @brief The feed-forward activation: relu, gelu (exact erf form; PyTorch's 'gelu', BERT) or gelu_tanh
/// (the tanh approximation of GPT-2 and Grover/GPT2_ML).
enum class ffn_activation { relu, gelu, gelu_tanh };

/// Options of nn::transformer_layer (defaults in brackets, torch.nn.TransformerEncoderLayer's).
struct transformer_layer_options {
  transformer_layer_options(index_t d_model, index_t nhead) : d_model_(d_model), nhead_(nhead) {}

  /// BERT's block: post-LN, gelu, not causal.
  static transformer_layer_options bert(index_t d_model, index_t nhead, index_t dim_feedforward) {
    return transformer_layer_options(d_model, nhead).dim_feedforward(dim_feedforward).activation(ffn_activation::gelu);
  }
  /// GPT-2's decoder block: pre-LN, gelu (tanh form), causal self attention.
  static transformer_layer_options gpt2(index_t d_model, index_t nhead, index_t dim_feedforward) {
    return transformer_layer_options(d_model, nhead)
        .dim_feedforward(dim_feedforward)
        .activation(ffn_activation::gelu_tanh)
        .order(block_order::pre_ln)
        .causal(true);
  }
  /// GPT2_ML's block (A03): Attn → Add → LN → FFN → Add → LN as above, gelu (tanh form), causal.
  static transformer_layer_options gpt2ml(index_t d_model, index_t nhead, index_t dim_feedforward) {
    return gpt2(d_model, nhead, dim_feedforward).order(block_order::gpt2ml);
  }

  /// Hidden size of the feed-forward network [2048].
  transformer_layer_options& dim_feedforward(index_t v) {
    dim_feedforward_ = v;
    return *this;
  }
  /// Dropout on the attention weights, inside the FFN and on both residual branches [0.1].
  transformer_layer_options& dropout(double p) {
    dropout_ = p;
    return *this;
  }
  transformer_layer_options& activation(ffn_activation a) {
    activation_ = a;
    return *this;
  }
  /// Layer norm ε [1e-5].
  transformer_layer_options& layer_norm_eps(double v) {
    eps_ = v;
    return *this;
  }
  /// Block order [post_ln].
  transformer_layer_options& order(block_order o) {
    order_ = o;
    return *this;
  }
  /// Causal self attention in every call [false].
  transformer_layer_options& causal(bool on) {
    causal_ = on;
    return *this;
  }
  /// Biases of the linear maps [true].
  transformer_layer_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  /// Attention policies passed to self_attn: entropy-invariant scale, pattern, rotary positions.
  transformer_layer_options& entropy_invariant(index_t min_keys = 16) {
    entropy_ = true;
    min_keys_ = min_keys;
    return *this;
  }
  transformer_layer_options& pattern(attention_pattern p, index_t k = 0) {
    pattern_ = p;
    pattern_size_ = k;
    return *this;
  }
  transformer_layer_options& rotary(bool on) {
    rotary_ = on;
    return *this;
  }

  index_t d_model() const { return d_model_; }
  index_t nhead() const { return nhead_; }
  index_t dim_feedforward() const { return dim_feedforward_; }
  double dropout() const { return dropout_; }
  ffn_activation activation() const { return activation_; }
  double layer_norm_eps() const { return eps_; }
  block_order order() const { return order_; }
  bool causal() const { return causal_; }
  bool bias() const { return bias_; }

  /// The options of the self attention these settings make.
  multi_head_attention_options attention_options() const {
    multi_head_attention_options o(d_model_, nhead_);
    o.bias(bias_).dropout(dropout_).pattern(pattern_, pattern_size_).rotary(rotary_);
    if (entropy_) o.entropy_invariant(min_keys_);
    return o;
  }

 private:
  index_t d_model_, nhead_;
  index_t dim_feedforward_ = 2048;
  double dropout_ = 0.1;
  ffn_activation activation_ = ffn_activation::relu;
  double eps_ = 1e-5;
  block_order order_ = block_order::post_ln;
  bool causal_ = false;
  bool bias_ = true;
  bool entropy_ = false;
  index_t min_keys_ = 16;
  attention_pattern pattern_ = attention_pattern::dense;
  index_t pattern_size_ = 0;
  bool rotary_ = false;
};

/// @brief One transformer block on [B, N, d_model] → [B, N, d_model], in the order chosen by the options
/// (post-LN = torch.nn.TransformerEncoderLayer(batch_first=True, norm_first=False); pre-LN = norm_first=True).
/// Children, named as PyTorch's: self_attn (multi_head_attention), linear1 [d_model → dim_feedforward],
/// dropout, linear2 [dim_feedforward → d_model], norm1, norm2 (layer_norm, ε layer_norm_eps), dropout1,
/// dropout2; initialised as PyTorch's layers. FFN(z) = linear2(dropout(act(linear1(z)))); the residual
/// branches pass through dropout1 (attention) and dropout2 (FFN). Dropout acts in training mode only.
/// Per call: key padding and attention masks (multi_head_attention_call, true = masked out) and causal,
/// which is also on whenever options().causal().
/// @throws shape_error "transformer_layer(d_model=8, nhead=2, ...): expected input [B, N, 8], got [2, 3, 6]".
template <class T = float>
class transformer_layer : public cloneable<transformer_layer<T>, T> {
 public:
  explicit transformer_layer(const transformer_layer_options& options, generator& gen = default_generator())
      : options_(options) {
    reset(gen);
  }

  void reset(generator& gen) override {
    const index_t d = options_.d_model(), ff = options_.dim_feedforward();
    self_attn = this->register_module("self_attn",
                                      std::make_shared<multi_head_attention<T>>(options_.attention_options(), gen));
    linear1 =
        this->register_module("linear1", std::make_shared<linear<T>>(linear_options(d, ff).bias(options_.bias()), gen));
    dropout = this->register_module("dropout", std::make_shared<nn::dropout<T>>(options_.dropout(), gen));
    linear2 =
        this->register_module("linear2", std::make_shared<linear<T>>(linear_options(ff, d).bias(options_.bias()), gen));
    const auto ln = layer_norm_options(shape{d}).eps(options_.layer_norm_eps());
    norm1 = this->register_module("norm1", std::make_shared<layer_norm<T>>(ln, gen));
    norm2 = this->register_module("norm2", std::make_shared<layer_norm<T>>(ln, gen));
    dropout1 = this->register_module("dropout1", std::make_shared<nn::dropout<T>>(options_.dropout(), gen));
    dropout2 = this->register_module("dropout2", std::make_shared<nn::dropout<T>>(options_.dropout(), gen));
  }

  tensor<T> forward(const tensor<T>& x, const multi_head_attention_call<T>& call = {}) const {
    KEXUE_CHECK(x.rank() == 3 && x.size(2) == options_.d_model(), shape_error,
                "transformer_layer(" + extra_repr() + ")", "expected input [B, N, ", options_.d_model(), "], got ",
                format_shape(x.shape()));
    multi_head_attention_call<T> c = call;
    c.need_weights = false;
    c.causal = call.causal || options_.causal();
    auto attend = [&](const tensor<T>& z) { return (*dropout1)(self_attn->forward(z, c)); };
    auto feed_forward = [&](const tensor<T>& z) {
      return (*dropout2)((*linear2)((*dropout)(activate((*linear1)(z)))));
    };
    switch (options_.order()) {
      case block_order::pre_ln: {
        const tensor<T> h = x + attend((*norm1)(x));
        return h + feed_forward((*norm2)(h));
      }
      case block_order::gpt2ml: {
        const tensor<T> h = x + attend(x);
        return (*norm2)(h + feed_forward((*norm1)(h)));
      }
      default: {
        const tensor<T> h = (*norm1)(x + attend(x));
        return (*norm2)(h + feed_forward(h));
      }
    }
  }

  const transformer_layer_options& options() const { return options_; }
  std::string type_name() const override { return "transformer_layer"; }
  std::string extra_repr() const override {
    static const char* orders[] = {"post_ln", "pre_ln", "gpt2ml"};
    static const char* activations[] = {"relu", "gelu", "gelu_tanh"};
    std::ostringstream s;
    s << "d_model=" << options_.d_model() << ", nhead=" << options_.nhead()
      << ", dim_feedforward=" << options_.dim_feedforward() << ", order=" << orders[int(options_.order())]
      << ", activation=" << activations[int(options_.activation())]
      << ", causal=" << (options_.causal() ? "true" : "false");
    return s.str();
  }

  std::shared_ptr<multi_head_attention<T>> self_attn;
  std::shared_ptr<linear<T>> linear1, linear2;
  std::shared_ptr<layer_norm<T>> norm1, norm2;
  std::shared_ptr<nn::dropout<T>> dropout, dropout1, dropout2;

 private:
  tensor<T> activate(const tensor<T>& z) const {
    switch (options_.activation()) {
      case ffn_activation::gelu:
        return gelu(z);
      case ffn_activation::gelu_tanh:
        return gelu(z, gelu_approximation::tanh);
      default:
        return relu(z);
    }
  }
  transformer_layer_options options_;
};

/// torch.nn.TransformerEncoderLayer's name for the block (post-LN by default; order(pre_ln) is norm_first).
template <class T = float>
using transformer_encoder_layer = transformer_layer<T>;

}  // namespace kexue::nn
