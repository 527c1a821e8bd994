// SPDX-License-Identifier: MIT
// nn::vector_quantizer: VQ-VAE's codebook (A29): nearest code, straight-through gradient, codebook and
// commitment losses, optional EMA codebook updates, code-usage statistics.
#pragma once

#include <cmath>    // std::exp, std::log, std::pow
#include <limits>   // std::numeric_limits
#include <sstream>  // extra_repr
#include <string>
#include <vector>

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/embedding.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/stop_gradient.hpp>

namespace kexue::nn {

/// Options of nn::vector_quantizer. Defaults follow the article's reference code (A29): codebook init
/// U(−0.05, 0.05), loss weights 1 (codebook term) and 0.25 (commitment term: the VQ-VAE paper's β), no EMA.
struct vector_quantizer_options {
  vector_quantizer_options(index_t num_codes, index_t code_dim) : num_codes_(num_codes), code_dim_(code_dim) {}
  /// Weight of ‖sg[z] − z_q‖² (moves codes toward encodings; the article's β).
  vector_quantizer_options& codebook_weight(double w) {
    codebook_weight_ = w;
    return *this;
  }
  /// Weight of ‖z − sg[z_q]‖² (commits encodings to their codes; the article's γ, the paper's β = 0.25).
  vector_quantizer_options& commitment_weight(double w) {
    commitment_weight_ = w;
    return *this;
  }
  /// EMA codebook updates with this decay λ (e.g. 0.99); 0 turns them off (codes trained by the codebook loss).
  vector_quantizer_options& ema_decay(double d) {
    ema_decay_ = d;
    return *this;
  }
  /// Laplace smoothing of the EMA counts, so a code that is never chosen does not divide by zero.
  vector_quantizer_options& ema_epsilon(double e) {
    ema_epsilon_ = e;
    return *this;
  }
  /// Half-width of the uniform codebook initialisation.
  vector_quantizer_options& init_range(double r) {
    init_range_ = r;
    return *this;
  }

  index_t num_codes() const { return num_codes_; }
  index_t code_dim() const { return code_dim_; }
  double codebook_weight() const { return codebook_weight_; }
  double commitment_weight() const { return commitment_weight_; }
  double ema_decay() const { return ema_decay_; }
  double ema_epsilon() const { return ema_epsilon_; }
  double init_range() const { return init_range_; }

 private:
  index_t num_codes_, code_dim_;
  double codebook_weight_ = 1.0, commitment_weight_ = 0.25, ema_decay_ = 0.0, ema_epsilon_ = 1e-5, init_range_ = 0.05;
};

/// What vector_quantizer::forward returns.
template <class T>
struct vq_output {
  tensor<T> quantized;        ///< z + sg[z_q − z]: z_q's values, the identity gradient to z  `[..., d]`
  tensor<index_t> codes;      ///< k* = argmin_j ‖z − e_j‖ per vector                          `[...]`
  tensor<T> codebook_loss;    ///< mean of (sg[z] − z_q)² (gradient to the codebook only)       scalar
  tensor<T> commitment_loss;  ///< mean of (z − sg[z_q])² (gradient to z only)                  scalar
  tensor<T> loss;             ///< codebook_weight·codebook_loss + commitment_weight·commitment_loss
};

/// @brief The quantiser of VQ-VAE (A29). For each vector z (last axis of size d) of the input:
/// k* = argmin_j ‖z − e_j‖₂ over the codebook E `[K, d]` (distances ‖z‖² + ‖e‖² − 2 z·e through one GEMM; ties
/// go to the lowest index), z_q = e_{k*}, and the output z + sg[z_q − z] has z_q's values with the gradient
/// of z (straight-through, written with stop_gradient exactly as the article does). Add `out.loss` to the
/// reconstruction loss.
///
/// With `ema_decay(λ)` > 0 the codebook is a buffer updated in training mode after each forward, as in the
/// VQ-VAE paper (the article only mentions it; formulas unverified there): N_k ← λN_k + (1−λ)n_k,
/// m_k ← λm_k + (1−λ)Σ_{z→k} z from N = m = 0, bias-corrected after t updates (N̂ = N/(1−λᵗ), m̂ = m/(1−λᵗ),
/// so the first update sets each used code to the mean of its vectors), then e_k = m̂_k / Ñ_k with
/// Laplace-smoothed counts Ñ_k = (N̂_k + ε)/(Σ N̂ + Kε)·Σ N̂. Our choice where the paper is silent: a code
/// never chosen since construction (N_k = 0) keeps its initial value instead of collapsing to zero. The
/// codebook loss is still reported but has no gradient to follow.
///
/// Usage statistics: `usage()` counts how often each code was chosen in training since construction or
/// `reset_usage()`; `perplexity()` is exp(H) of the last batch's code distribution (K when uniform, 1 when
/// collapsed), `dead_codes()` the number of codes never chosen since the last reset.
/// @throws shape_error when the input's last axis is not d, naming the configuration and the shape.
template <class T = float>
class vector_quantizer : public cloneable<vector_quantizer<T>, T> {
 public:
  explicit vector_quantizer(const vector_quantizer_options& options, generator& gen = default_generator())
      : options_(options) {
    KEXUE_CHECK(options.num_codes() > 0 && options.code_dim() > 0, value_error, "vector_quantizer",
                "num_codes and code_dim must be positive, got ", options.num_codes(), " and ", options.code_dim());
    KEXUE_CHECK(options.ema_decay() >= 0 && options.ema_decay() < 1, value_error, "vector_quantizer",
                "ema_decay must be in [0, 1), got ", options.ema_decay());
    reset(gen);
  }

  void reset(generator& gen) override {
    const index_t k = options_.num_codes(), d = options_.code_dim();
    const T r = static_cast<T>(options_.init_range());
    auto init = rand<T>({k, d}, gen, -r, r);
    if (ema()) {
      codebook = this->register_buffer("codebook", init);
      ema_count = this->register_buffer("ema_count", zeros<T>({k}));
      ema_sum = this->register_buffer("ema_sum", zeros<T>({k, d}));
      ema_steps = this->register_buffer("ema_steps", zeros<T>({1}));
    } else {
      codebook = this->register_parameter("codebook", init);
    }
    usage_counts = this->register_buffer("usage", zeros<T>({k}));
  }

  /// z `[..., d]` -> vq_output (quantized `[..., d]`, codes `[...]`, scalar losses).
  vq_output<T> forward(const tensor<T>& z) const {
    const index_t d = options_.code_dim(), k = options_.num_codes();
    KEXUE_CHECK(z.rank() >= 1 && z.size(-1) == d, shape_error, describe(), "expected input [..., ", d, "], got ",
                format_shape(z.shape()));
    const index_t n = z.numel() / d;
    shape code_shape(z.shape().begin(), z.shape().end() - 1);
    auto codes = tensor<index_t>::empty(code_shape);
    nearest_codes(z.data(), n, codes.data());

    vq_output<T> out;
    out.codes = codes;
    const tensor<T> z_q = kexue::embedding(codes, codebook);  // [..., d], gradient to the codebook rows
    out.quantized = add(z, stop_gradient(sub(z_q, z)));
    out.codebook_loss = mean(square(sub(stop_gradient(z), z_q)));
    out.commitment_loss = mean(square(sub(z, stop_gradient(z_q))));
    out.loss = add(mul_scalar(out.codebook_loss, static_cast<T>(options_.codebook_weight())),
                   mul_scalar(out.commitment_loss, static_cast<T>(options_.commitment_weight())));

    // Statistics, and the EMA update, in training mode only (they change buffers, not the graph).
    std::vector<double> counts(static_cast<std::size_t>(k), 0.0);
    for (index_t i = 0; i < n; ++i) counts[static_cast<std::size_t>(codes.data()[i])] += 1;
    last_perplexity_ = perplexity_of(counts, n);
    if (this->is_training()) {
      T* usage = usage_counts.data();
      for (index_t j = 0; j < k; ++j) usage[j] += static_cast<T>(counts[static_cast<std::size_t>(j)]);
      usage_counts.bump_version();
      if (ema()) ema_update(z, codes, counts, n);
    }
    return out;
  }

  /// exp of the entropy of the last forward's code distribution.
  double perplexity() const { return last_perplexity_; }
  /// Per-code selection counts in training since construction or reset_usage().
  tensor<T> usage() const { return usage_counts; }
  /// Codes never chosen since construction or reset_usage().
  index_t dead_codes() const {
    index_t dead = 0;
    for (index_t j = 0; j < options_.num_codes(); ++j) dead += usage_counts.data()[j] == T(0);
    return dead;
  }
  void reset_usage() {
    for (index_t j = 0; j < options_.num_codes(); ++j) usage_counts.data()[j] = T(0);
    usage_counts.bump_version();
  }

  const vector_quantizer_options& options() const { return options_; }
  std::string type_name() const override { return "vector_quantizer"; }
  std::string extra_repr() const override {
    std::ostringstream s;
    s << "num_codes=" << options_.num_codes() << ", code_dim=" << options_.code_dim()
      << ", codebook_weight=" << options_.codebook_weight() << ", commitment_weight=" << options_.commitment_weight();
    if (ema()) s << ", ema_decay=" << options_.ema_decay();
    return s.str();
  }

  tensor<T> codebook;      ///< E `[K, d]`: a parameter, or a buffer with EMA updates
  tensor<T> ema_count;     ///< N `[K]` (EMA only)
  tensor<T> ema_sum;       ///< m `[K, d]` (EMA only)
  tensor<T> ema_steps;     ///< t, the number of EMA updates `[1]` (EMA only)
  tensor<T> usage_counts;  ///< `[K]`

 private:
  bool ema() const { return options_.ema_decay() > 0; }
  std::string describe() const { return "vector_quantizer(" + extra_repr() + ")"; }

  static double perplexity_of(const std::vector<double>& counts, index_t n) {
    if (n == 0) return 0;
    double h = 0;
    for (double c : counts) {
      if (c > 0) h -= (c / n) * std::log(c / n);
    }
    return std::exp(h);
  }

  /// codes[i] = argmin_j ‖z_i − e_j‖² = argmin_j (‖e_j‖² − 2 z_i·e_j): one GEMM for the products.
  void nearest_codes(const T* z, index_t n, index_t* codes) const {
    const index_t d = options_.code_dim(), k = options_.num_codes();
    const T* e = codebook.data();
    std::vector<T> norms(static_cast<std::size_t>(k));
    for (index_t j = 0; j < k; ++j) {
      T s = 0;
      for (index_t c = 0; c < d; ++c) s += e[j * d + c] * e[j * d + c];
      norms[static_cast<std::size_t>(j)] = s;
    }
    std::vector<T> dots(static_cast<std::size_t>(n * k));
    kernels::gemm<T>(false, true, n, k, d, T(1), z, d, e, d, T(0), dots.data(), k);
    for (index_t i = 0; i < n; ++i) {
      const T* row = dots.data() + i * k;
      index_t best = 0;
      T best_value = std::numeric_limits<T>::infinity();
      for (index_t j = 0; j < k; ++j) {
        const T v = norms[static_cast<std::size_t>(j)] - 2 * row[j];
        if (v < best_value) {
          best_value = v;
          best = j;
        }
      }
      codes[i] = best;  // a NaN vector maps to code 0
    }
  }

  void ema_update(const tensor<T>& z, const tensor<index_t>& codes, const std::vector<double>& counts,
                  index_t n) const {
    const index_t d = options_.code_dim(), k = options_.num_codes();
    const T decay = static_cast<T>(options_.ema_decay());
    T* count = ema_count.data();
    T* sum = ema_sum.data();
    for (index_t j = 0; j < k; ++j)
      count[j] = decay * count[j] + (1 - decay) * static_cast<T>(counts[static_cast<std::size_t>(j)]);
    std::vector<T> batch_sum(static_cast<std::size_t>(k * d), T(0));
    for (index_t i = 0; i < n; ++i) {
      const index_t j = codes.data()[i];
      for (index_t c = 0; c < d; ++c) batch_sum[static_cast<std::size_t>(j * d + c)] += z.data()[i * d + c];
    }
    for (index_t i = 0; i < k * d; ++i) sum[i] = decay * sum[i] + (1 - decay) * batch_sum[static_cast<std::size_t>(i)];
    const T steps = ema_steps.data()[0] += T(1);
    const T debias = T(1) - static_cast<T>(std::pow(static_cast<double>(decay), static_cast<double>(steps)));
    T total = 0;
    for (index_t j = 0; j < k; ++j) total += count[j] / debias;
    const T eps = static_cast<T>(options_.ema_epsilon());
    T* e = codebook.data();
    for (index_t j = 0; j < k; ++j) {
      if (count[j] == T(0)) continue;  // never chosen: keeps its initial value
      const T smoothed = (count[j] / debias + eps) / (total + static_cast<T>(k) * eps) * total;
      for (index_t c = 0; c < d; ++c) e[j * d + c] = sum[j * d + c] / debias / smoothed;
    }
    ema_count.bump_version();
    ema_sum.bump_version();
    ema_steps.bump_version();
    codebook.bump_version();
  }

  vector_quantizer_options options_;
  mutable double last_perplexity_ = 0;
};

}  // namespace kexue::nn
