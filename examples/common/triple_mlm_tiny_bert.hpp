// SPDX-License-Identifier: MIT
// A tiny BERT-style encoder and MLM head shared by the A26 examples triple_extraction_cln and
// mlm_reading_comprehension (spec A26: token + learned position embeddings → LN → L × post-LN blocks
// [MHA → add → LN → FFN(gelu) → add → LN]; MLM head = Dense + gelu + LN + output projection tied to the token
// embedding, plus a bias). One segment only: both examples put everything in one sequence, so the segment
// embedding is left out (with a single segment id it is a constant vector that the first LN's bias absorbs).
#pragma once

#include <algorithm>  // std::max
#include <memory>     // std::shared_ptr of the layers
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <kexue/kexue.hpp>

namespace kexue_examples {

/// Sizes of tiny_bert. Dropout is 0: the models are small and the runs short.
struct tiny_bert_config {
  kexue::index_t vocab = 0, max_length = 0;
  kexue::index_t width = 32, heads = 2, feedforward = 64, layers = 2;
};

/// What tiny_bert::forward returns.
struct tiny_bert_output {
  kexue::tensor<float> hidden;    ///< [B, T, width]: the encoder output (after the last block's final LN)
  kexue::tensor<float> residual;  ///< [B, T, width]: the last block's h + FFN(h), before that final LN (A26.3)
};

/// Token + learned position embeddings → LN → `layers` BERT blocks (nn::transformer_layer, post-LN, gelu).
class tiny_bert : public kexue::nn::module<float> {
 public:
  tiny_bert(const tiny_bert_config& config, kexue::generator& gen) : config_(config) {
    namespace nn = kexue::nn;
    token = register_module("token", std::make_shared<nn::embedding<float>>(config.vocab, config.width, gen));
    position =
        register_module("position", std::make_shared<nn::embedding<float>>(config.max_length, config.width, gen));
    norm = register_module("norm",
                           std::make_shared<nn::layer_norm<float>>(nn::layer_norm_options(kexue::shape{config.width})));
    for (kexue::index_t l = 0; l < config.layers; ++l) {
      const auto o = nn::transformer_layer_options::bert(config.width, config.heads, config.feedforward).dropout(0);
      blocks.push_back(
          register_module("block" + std::to_string(l), std::make_shared<nn::transformer_layer<float>>(o, gen)));
    }
  }

  /// tokens [B, T] (T ≤ max_length), padding [B, T] (true = padding key, may be undefined).
  tiny_bert_output forward(const kexue::tensor<kexue::index_t>& tokens, const kexue::tensor<bool>& padding) const {
    namespace kx = kexue;
    const kx::index_t t = tokens.size(1);
    auto positions = kx::tensor<kx::index_t>::empty({1, t});
    for (kx::index_t i = 0; i < t; ++i) positions(0, i) = i;
    kx::tensor<float> x = (*norm)(kx::add((*token)(tokens), (*position)(positions)));
    kx::nn::multi_head_attention_call<float> call;
    if (padding.defined()) call.with_key_padding_mask(padding);
    for (std::size_t l = 0; l + 1 < blocks.size(); ++l) x = blocks[l]->forward(x, call);
    // The last block written out (post-LN, dropout 0) to expose its residual sum before norm2.
    const auto& b = *blocks.back();
    const kx::tensor<float> h = (*b.norm1)(kx::add(x, b.self_attn->forward(x, call)));
    const kx::tensor<float> r = kx::add(h, (*b.linear2)(kx::gelu((*b.linear1)(h))));
    return {(*b.norm2)(r), r};
  }

  const tiny_bert_config& config() const { return config_; }

  std::shared_ptr<kexue::nn::embedding<float>> token, position;
  std::shared_ptr<kexue::nn::layer_norm<float>> norm;
  std::vector<std::shared_ptr<kexue::nn::transformer_layer<float>>> blocks;

 private:
  tiny_bert_config config_;
};

/// Token sequences padded with `pad` to the longest: tokens [B, T] and the padding mask [B, T] (true = padding).
inline std::pair<kexue::tensor<kexue::index_t>, kexue::tensor<bool>> pack_sequences(
    const std::vector<std::vector<kexue::index_t>>& sequences, kexue::index_t pad) {
  std::size_t t = 0;
  for (const auto& s : sequences) t = std::max(t, s.size());
  const auto b = static_cast<kexue::index_t>(sequences.size()), tt = static_cast<kexue::index_t>(t);
  auto tokens = kexue::tensor<kexue::index_t>::empty({b, tt});
  auto padding = kexue::tensor<bool>::empty({b, tt});
  for (kexue::index_t i = 0; i < b; ++i) {
    const auto& v = sequences[static_cast<std::size_t>(i)];
    for (kexue::index_t j = 0; j < tt; ++j) {
      const bool real = j < static_cast<kexue::index_t>(v.size());
      tokens(i, j) = real ? v[static_cast<std::size_t>(j)] : pad;
      padding(i, j) = !real;
    }
  }
  return {tokens, padding};
}

/// BERT's MLM head: logits = project_E(LN(gelu(Dense(h)))) + bias, the projection tied to the token table E.
class tiny_mlm_head : public kexue::nn::module<float> {
 public:
  tiny_mlm_head(const std::shared_ptr<kexue::nn::embedding<float>>& tied, kexue::generator& gen) : tied_(tied) {
    namespace nn = kexue::nn;
    const kexue::index_t w = tied->options().embedding_dim(), v = tied->options().num_embeddings();
    dense = register_module("dense", std::make_shared<nn::linear<float>>(w, w, gen));
    norm = register_module("norm", std::make_shared<nn::layer_norm<float>>(nn::layer_norm_options(kexue::shape{w})));
    bias = register_parameter("bias", kexue::zeros<float>({v}));
  }
  /// h [..., width] → logits [..., vocab].
  kexue::tensor<float> forward(const kexue::tensor<float>& h) const {
    return tied_->project((*norm)(kexue::gelu((*dense)(h))), bias);
  }

  std::shared_ptr<kexue::nn::linear<float>> dense;
  std::shared_ptr<kexue::nn::layer_norm<float>> norm;
  kexue::tensor<float> bias;

 private:
  std::shared_ptr<kexue::nn::embedding<float>> tied_;
};

}  // namespace kexue_examples
