// SPDX-License-Identifier: MIT
// nn::embedding: a lookup table layer with a padding row and a tied output projection.
#pragma once

#include <string>
#include <vector>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/embedding.hpp>
#include <kexue/ops/linear.hpp>

namespace kexue::nn {

/// Options of nn::embedding. Defaults: no padding row.
struct embedding_options {
  embedding_options(index_t num_embeddings, index_t embedding_dim) : num_(num_embeddings), dim_(embedding_dim) {}
  /// A row that is initialised to zeros and receives no gradient (−1: none).
  embedding_options& padding_idx(index_t row) {
    padding_ = row;
    return *this;
  }
  index_t num_embeddings() const { return num_; }
  index_t embedding_dim() const { return dim_; }
  index_t padding_idx() const { return padding_; }

 private:
  index_t num_, dim_;
  index_t padding_ = -1;
};

/// @brief A lookup table of `num_embeddings` vectors, as torch.nn.Embedding: indices `[...]` -> `[..., dim]`.
/// Parameter `weight [num_embeddings, dim]`, initialised N(0, 1) as PyTorch, the padding row set to zeros.
/// Its gradient is dense, with zero rows for indices not looked up: `touched_rows(indices)` lists the rows
/// that change, and the lazy optimizer wrapper (optim) leaves the others, and their moments, untouched.
/// Tied output projection (sharing the table between input and output, as GPT-2 and BERT do):
/// `project(h)` maps hidden states `[..., dim]` to logits `[..., num_embeddings]` with the same weight.
template <class T = float>
class embedding : public cloneable<embedding<T>, T> {
 public:
  explicit embedding(const embedding_options& options, generator& gen = default_generator()) : options_(options) {
    KEXUE_CHECK(options.num_embeddings() >= 0 && options.embedding_dim() >= 0, value_error, "embedding",
                "sizes must be non-negative, got num_embeddings=", options.num_embeddings(),
                ", embedding_dim=", options.embedding_dim());
    KEXUE_CHECK(options.padding_idx() >= -1 && options.padding_idx() < options.num_embeddings(), value_error,
                "embedding", "padding_idx ", options.padding_idx(), " is outside [-1, ", options.num_embeddings(), ")");
    reset(gen);
  }
  embedding(index_t num_embeddings, index_t embedding_dim, generator& gen = default_generator())
      : embedding(embedding_options(num_embeddings, embedding_dim), gen) {}

  void reset(generator& gen) override {
    auto w = randn<T>({options_.num_embeddings(), options_.embedding_dim()}, gen);
    if (options_.padding_idx() >= 0) {
      T* row = w.data() + options_.padding_idx() * options_.embedding_dim();
      for (index_t j = 0; j < options_.embedding_dim(); ++j) row[j] = T(0);
    }
    weight = this->register_parameter("weight", w);
  }

  /// indices `[...]` (values in [0, num_embeddings)) -> `[..., dim]`.
  /// @throws index_error naming the first index out of range and the table size.
  tensor<T> forward(const tensor<index_t>& indices) const {
    return kexue::embedding(indices, weight, options_.padding_idx());
  }

  /// Tied output projection: h `[..., dim]` -> logits `[..., num_embeddings]` = h·Wᵀ (+ bias when given,
  /// `[num_embeddings]`). @throws shape_error naming the layer and the shape received.
  tensor<T> project(const tensor<T>& h, const tensor<T>& bias = tensor<T>()) const {
    KEXUE_CHECK(h.rank() >= 1 && h.size(-1) == options_.embedding_dim(), shape_error, describe() + ".project",
                "expected hidden states [..., ", options_.embedding_dim(), "], got ", format_shape(h.shape()));
    return kexue::linear(h, weight, bias);
  }

  /// The rows of `weight` that a lookup of `indices` changes (sorted, unique, without the padding row).
  std::vector<index_t> touched_rows(const tensor<index_t>& indices) const {
    return embedding_rows_touched(indices, options_.padding_idx());
  }

  const embedding_options& options() const { return options_; }
  std::string type_name() const override { return "embedding"; }
  std::string extra_repr() const override {
    std::string s = "num_embeddings=" + std::to_string(options_.num_embeddings()) +
                    ", embedding_dim=" + std::to_string(options_.embedding_dim());
    if (options_.padding_idx() >= 0) s += ", padding_idx=" + std::to_string(options_.padding_idx());
    return s;
  }

  tensor<T> weight;  ///< `[num_embeddings, dim]`

 private:
  std::string describe() const { return "embedding(" + extra_repr() + ")"; }
  embedding_options options_;
};

}  // namespace kexue::nn
