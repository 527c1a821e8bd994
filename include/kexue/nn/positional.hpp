// SPDX-License-Identifier: MIT
// Position encodings: learned (trained table), sinusoidal (fixed), rotary (RoPE, RoFormer's interleaved pairs
// or GPT-NeoX's half split), applied to [..., N, D] sequences.
#pragma once

#include <cmath>    // std::sin, std::cos, std::pow
#include <sstream>  // extra_repr
#include <string>
#include <utility>  // std::move
#include <vector>

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue {

/// @brief The pair rotation of rotary embeddings, y = R x with R the block-diagonal 90° rotation of the
/// feature pairs along the last axis: interleaved pairs (x[2i], x[2i+1]) → (−x[2i+1], x[2i]) (RoFormer), or
/// half-split pairs (x[i], x[i + D/2]) → (−x[i + D/2], x[i]) (GPT-NeoX). x `[..., D]` with D even.
/// Gradient: Rᵀ g = −R g, i.e. −rotate_pairs(g), so every order of derivative works.
/// @throws shape_error "rotate_pairs: the last axis must have even length, got [2, 3]".
template <class T>
tensor<T> rotate_pairs(const tensor<T>& x, bool interleaved);

namespace nn {

/// Options of nn::learned_positional_embedding (defaults in brackets).
struct learned_positional_embedding_options {
  learned_positional_embedding_options(index_t max_length, index_t dim) : max_length_(max_length), dim_(dim) {}
  /// Standard deviation of the normal initialisation [0.02, as BERT and GPT-2].
  learned_positional_embedding_options& init_std(double v) {
    init_std_ = v;
    return *this;
  }
  index_t max_length() const { return max_length_; }
  index_t dim() const { return dim_; }
  double init_std() const { return init_std_; }

 private:
  index_t max_length_, dim_;
  double init_std_ = 0.02;
};

/// @brief Learned absolute positions (BERT, GPT-2, GPT2_ML): y = x + P[offset : offset + N].
/// Parameter `weight [max_length, dim]`, initialised N(0, init_std²) (PyTorch has no such layer; BERT's
/// and GPT-2's initialisation). x `[..., N, dim]` (rank ≥ 2) → x's shape.
/// @throws shape_error "learned_positional_embedding(max_length=8, dim=4): expected input [..., N <= 8, 4]
/// (offset 0), got [2, 9, 4]".
template <class T = float>
class learned_positional_embedding : public cloneable<learned_positional_embedding<T>, T> {
 public:
  explicit learned_positional_embedding(const learned_positional_embedding_options& options,
                                        generator& gen = default_generator())
      : options_(options) {
    KEXUE_CHECK(options.max_length() >= 0 && options.dim() >= 0, value_error, "learned_positional_embedding",
                "sizes must be non-negative, got max_length=", options.max_length(), ", dim=", options.dim());
    reset(gen);
  }
  void reset(generator& gen) override {
    weight = this->register_parameter(
        "weight", randn<T>({options_.max_length(), options_.dim()}, gen) * static_cast<T>(options_.init_std()));
  }
  /// x `[..., N, dim]`; positions offset .. offset + N − 1 (offset: tokens already decoded).
  tensor<T> forward(const tensor<T>& x, index_t offset = 0) const {
    KEXUE_CHECK(
        x.rank() >= 2 && x.size(-1) == options_.dim() && offset >= 0 && offset + x.size(-2) <= options_.max_length(),
        shape_error, "learned_positional_embedding(" + extra_repr() + ")",
        "expected input [..., N <= ", options_.max_length() - offset, ", ", options_.dim(), "] (offset ", offset,
        "), got ", format_shape(x.shape()));
    return x + narrow(weight, 0, offset, x.size(-2));
  }
  const learned_positional_embedding_options& options() const { return options_; }
  std::string type_name() const override { return "learned_positional_embedding"; }
  std::string extra_repr() const override {
    return "max_length=" + std::to_string(options_.max_length()) + ", dim=" + std::to_string(options_.dim());
  }
  tensor<T> weight;  ///< `[max_length, dim]`

 private:
  learned_positional_embedding_options options_;
};

/// @brief Fixed sinusoidal positions (Vaswani et al. 2017): y = x + PE[offset : offset + N] with, for
/// position m and pair i (interleaved), PE[m, 2i] = sin(m / base^(2i/dim)), PE[m, 2i+1] = cos(m / base^(2i/dim))
/// (base 10000). No parameter and no buffer (the table is a function of the sizes). x `[..., N, dim]`.
/// @throws shape_error "sinusoidal_positional_encoding(dim=4, base=10000): expected input [..., N, 4], got
/// [2, 3, 5]".
template <class T = float>
class sinusoidal_positional_encoding : public cloneable<sinusoidal_positional_encoding<T>, T> {
 public:
  explicit sinusoidal_positional_encoding(index_t dim, double base = 10000.0) : dim_(dim), base_(base) {
    KEXUE_CHECK(dim >= 0 && base > 0, value_error, "sinusoidal_positional_encoding",
                "dim must be >= 0 and base > 0, got dim=", dim, ", base=", base);
  }
  void reset(generator&) override {}
  /// The table PE `[n, dim]` for positions offset .. offset + n − 1.
  tensor<T> table(index_t n, index_t offset = 0) const {
    auto pe = tensor<T>::empty({n, dim_});
    for (index_t m = 0; m < n; ++m) {
      for (index_t c = 0; c < dim_; ++c) {
        const double angle = double(m + offset) / std::pow(base_, double(c - c % 2) / double(dim_));
        pe.data()[m * dim_ + c] = static_cast<T>(c % 2 == 0 ? std::sin(angle) : std::cos(angle));
      }
    }
    return pe;
  }
  tensor<T> forward(const tensor<T>& x, index_t offset = 0) const {
    KEXUE_CHECK(x.rank() >= 2 && x.size(-1) == dim_ && offset >= 0, shape_error,
                "sinusoidal_positional_encoding(" + extra_repr() + ")", "expected input [..., N, ", dim_, "], got ",
                format_shape(x.shape()));
    return x + table(x.size(-2), offset);
  }
  std::string type_name() const override { return "sinusoidal_positional_encoding"; }
  std::string extra_repr() const override {
    std::ostringstream s;
    s << "dim=" << dim_ << ", base=" << base_;
    return s.str();
  }

 private:
  index_t dim_;
  double base_;
};

/// Options of nn::rotary_embedding (defaults in brackets).
struct rotary_embedding_options {
  explicit rotary_embedding_options(index_t dim) : dim_(dim) {}
  /// Base of the frequencies θ_i = base^(−2i/dim) [10000].
  rotary_embedding_options& base(double v) {
    base_ = v;
    return *this;
  }
  /// Pairing: true = (x[2i], x[2i+1]) as RoFormer (Su et al.) and GPT-J; false = (x[i], x[i + dim/2]) as
  /// GPT-NeoX and LLaMA's Hugging Face port [true].
  rotary_embedding_options& interleaved(bool on) {
    interleaved_ = on;
    return *this;
  }
  index_t dim() const { return dim_; }
  double base() const { return base_; }
  bool interleaved() const { return interleaved_; }

 private:
  index_t dim_;
  double base_ = 10000.0;
  bool interleaved_ = true;
};

/// @brief Rotary position embedding (RoPE, RoFormer): each feature pair i of the vector at position m is
/// rotated by the angle m·θ_i, θ_i = base^(−2i/dim): y = x ⊙ cos + rotate_pairs(x) ⊙ sin. Applied to the
/// queries and keys of every head (x `[..., N, dim]`, e.g. [B, H, N, head_dim]), it makes q_m·k_n a function
/// of m − n. The default pairing is RoFormer's interleaved one (see rotary_embedding_options::interleaved).
/// No parameters. Gradient composed of mul, add and rotate_pairs.
/// @throws value_error for an odd dim; shape_error "rotary_embedding(dim=4, base=10000, interleaved=true):
/// expected input [..., N, 4], got [2, 3, 6]".
template <class T = float>
class rotary_embedding : public cloneable<rotary_embedding<T>, T> {
 public:
  explicit rotary_embedding(const rotary_embedding_options& options) : options_(options) {
    KEXUE_CHECK(options.dim() >= 0 && options.dim() % 2 == 0 && options.base() > 0, value_error, "rotary_embedding",
                "dim must be even and >= 0 and base > 0, got dim=", options.dim(), ", base=", options.base());
  }
  void reset(generator&) override {}
  /// cos and sin tables `[n, dim]` for positions offset .. offset + n − 1 (each angle repeated on both members
  /// of its pair).
  std::pair<tensor<T>, tensor<T>> tables(index_t n, index_t offset = 0) const {
    const index_t dim = options_.dim(), half = dim / 2;
    auto c = tensor<T>::empty({n, dim}), s = tensor<T>::empty({n, dim});
    for (index_t m = 0; m < n; ++m) {
      for (index_t f = 0; f < dim; ++f) {
        const index_t pair = options_.interleaved() ? f / 2 : f % half;
        const double angle = double(m + offset) * std::pow(options_.base(), -2.0 * double(pair) / double(dim));
        c.data()[m * dim + f] = static_cast<T>(std::cos(angle));
        s.data()[m * dim + f] = static_cast<T>(std::sin(angle));
      }
    }
    return {c, s};
  }
  tensor<T> forward(const tensor<T>& x, index_t offset = 0) const {
    KEXUE_CHECK(x.rank() >= 2 && x.size(-1) == options_.dim() && offset >= 0, shape_error,
                "rotary_embedding(" + extra_repr() + ")", "expected input [..., N, ", options_.dim(), "], got ",
                format_shape(x.shape()));
    const auto [c, s] = tables(x.size(-2), offset);
    return x * c + rotate_pairs(x, options_.interleaved()) * s;
  }
  const rotary_embedding_options& options() const { return options_; }
  std::string type_name() const override { return "rotary_embedding"; }
  std::string extra_repr() const override {
    std::ostringstream s;
    s << "dim=" << options_.dim() << ", base=" << options_.base()
      << ", interleaved=" << (options_.interleaved() ? "true" : "false");
    return s.str();
  }

 private:
  rotary_embedding_options options_;
};

}  // namespace nn

// ~~~ Implementation: rotate_pairs ~~~

template <class T>
tensor<T> rotate_pairs(const tensor<T>& x, bool interleaved) {
  KEXUE_CHECK(x.rank() >= 1 && x.size(-1) % 2 == 0, shape_error, "rotate_pairs",
              "the last axis must have even length, got ", format_shape(x.shape()));
  auto out = tensor<T>::empty(x.shape());
  const index_t dim = x.rank() >= 1 ? x.size(-1) : 0, half = dim / 2;
  const index_t rows = dim == 0 ? 0 : x.numel() / dim;
  const T* in = x.data();
  T* o = out.data();
  for (index_t r = 0; r < rows; ++r) {
    const T* a = in + r * dim;
    T* b = o + r * dim;
    for (index_t i = 0; i < half; ++i) {
      const index_t first = interleaved ? 2 * i : i, second = interleaved ? 2 * i + 1 : i + half;
      b[first] = -a[second];
      b[second] = a[first];
    }
  }
  return autograd::record<T>("rotate_pairs", std::move(out), {x}, [interleaved](auto) {
    return [interleaved](const tensor<T>& g) { return std::vector<tensor<T>>{-rotate_pairs(g, interleaved)}; };
  });
}

}  // namespace kexue
