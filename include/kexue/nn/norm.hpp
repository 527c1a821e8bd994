// SPDX-License-Identifier: MIT
// Normalisation layers: layer_norm, rms_norm, batch_norm1d/2d, conditional_layer_norm (A26), conditional and
// self-modulated batch norm (A20).
#pragma once

#include <algorithm>  // std::fill
#include <memory>     // std::shared_ptr children
#include <optional>   // momentum (none = cumulative average)
#include <sstream>    // numbers in descriptions
#include <string>
#include <utility>  // std::move
#include <vector>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/embedding.hpp>
#include <kexue/ops/norm.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue::nn {

// ~~~ Helpers ~~~

namespace detail {

/// A number as PyTorch prints it in a layer's description (1e-05, 0.1).
inline std::string format_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

/// Sets every element of a parameter to v (initialisation; not recorded).
template <class T>
void fill_with(const tensor<T>& t, T v) {
  std::fill(t.data(), t.data() + t.numel(), v);
  t.bump_version();
}

/// Checks that x ends with normalized_shape; the message starts with the layer's description.
template <class T>
void check_trailing(const tensor<T>& x, const shape& ns, const std::string& who) {
  KEXUE_CHECK(kexue::detail::ends_with(x.shape(), ns), shape_error, who, "expected input ",
              kexue::detail::format_trailing(ns), ", got ", format_shape(x.shape()));
}

/// Registers running_mean (0), running_var (1) and num_batches_tracked (0) buffers of C channels on m.
template <class T>
void register_running_stats(module<T>& m, index_t c, tensor<T>& mean, tensor<T>& var, tensor<T>& count) {
  mean = m.register_buffer("running_mean", zeros<T>({c}));
  var = m.register_buffer("running_var", ones<T>({c}));
  count = m.register_buffer("num_batches_tracked", scalar<T>(T(0)));
}

/// Batch norm of x without affine as a layer runs it: batch statistics in training or without tracking; with
/// tracking, training updates the running statistics (momentum, or 1/num_batches_tracked when none) and counts
/// the batch, evaluation uses them.
template <class T>
tensor<T> batch_norm_step(const tensor<T>& x, bool training, bool track, std::optional<double> momentum, double eps,
                          const tensor<T>& mean, const tensor<T>& var, const tensor<T>& count,
                          const tensor<T>& weight = {}, const tensor<T>& bias = {}) {
  double m = momentum.value_or(0.0);
  if (training && track) {
    count.data()[0] += T(1);
    count.bump_version();
    if (!momentum) m = 1.0 / static_cast<double>(count.data()[0]);
  }
  return kexue::batch_norm(x, track ? mean : tensor<T>(), track ? var : tensor<T>(), weight, bias, training || !track,
                           static_cast<T>(m), static_cast<T>(eps));
}

/// "[N, C, 1, ...]": a per-sample, per-channel tensor [N, C] shaped to broadcast over x's spatial axes.
template <class T>
tensor<T> per_channel(const tensor<T>& v, int rank) {
  std::vector<index_t> s(static_cast<std::size_t>(rank), 1);
  s[0] = v.size(0);
  s[1] = v.size(1);
  return kexue::reshape(v, shape(s));
}

}  // namespace detail

// ~~~ Options ~~~

/// Options of nn::layer_norm (defaults in brackets).
struct layer_norm_options {
  /// The trailing axes normalised over, e.g. {768}.
  explicit layer_norm_options(shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  /// ε added to the variance [1e-5, PyTorch; BERT uses 1e-12].
  layer_norm_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  /// Learnable weight (init 1) and bias (init 0) of shape normalized_shape [true].
  layer_norm_options& elementwise_affine(bool on) {
    affine_ = on;
    return *this;
  }
  /// With elementwise_affine, whether there is a bias [true] (PyTorch ≥ 2.1's `bias`).
  layer_norm_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  const shape& normalized_shape() const { return normalized_shape_; }
  double eps() const { return eps_; }
  bool elementwise_affine() const { return affine_; }
  bool bias() const { return bias_; }

 private:
  shape normalized_shape_;
  double eps_ = 1e-5;
  bool affine_ = true, bias_ = true;
};

/// Options of nn::rms_norm (defaults in brackets).
struct rms_norm_options {
  explicit rms_norm_options(shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}
  /// ε inside the square root, as T5 and LLaMA [1e-6, their value; PyTorch's RMSNorm defaults to the
  /// machine epsilon].
  rms_norm_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  /// A learnable weight of shape normalized_shape, init 1 [true].
  rms_norm_options& elementwise_affine(bool on) {
    affine_ = on;
    return *this;
  }
  const shape& normalized_shape() const { return normalized_shape_; }
  double eps() const { return eps_; }
  bool elementwise_affine() const { return affine_; }

 private:
  shape normalized_shape_;
  double eps_ = 1e-6;
  bool affine_ = true;
};

/// Options of nn::batch_norm1d and nn::batch_norm2d (defaults in brackets, PyTorch's).
struct batch_norm_options {
  explicit batch_norm_options(index_t num_features) : num_features_(num_features) {}
  /// ε added to the variance [1e-5].
  batch_norm_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  /// Running-statistics momentum m: running ← (1 − m)·running + m·batch [0.1]; std::nullopt gives the
  /// cumulative average (m = 1/num_batches_tracked), as PyTorch's momentum=None.
  batch_norm_options& momentum(std::optional<double> v) {
    momentum_ = v;
    return *this;
  }
  /// Learnable per-channel weight (init 1) and bias (init 0) [true].
  batch_norm_options& affine(bool on) {
    affine_ = on;
    return *this;
  }
  /// Keep running_mean (init 0), running_var (init 1) and num_batches_tracked buffers and use them in evaluation
  /// [true]; without them, batch statistics are used in both modes.
  batch_norm_options& track_running_stats(bool on) {
    track_ = on;
    return *this;
  }
  index_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_; }

 private:
  index_t num_features_;
  double eps_ = 1e-5;
  std::optional<double> momentum_ = 0.1;
  bool affine_ = true, track_ = true;
};

// ~~~ Layers ~~~

/// @brief Layer normalisation over the trailing axes normalized_shape, as torch.nn.LayerNorm (ops layer_norm,
/// fused): `[..., *normalized_shape] -> same shape`. Parameters `weight`, `bias` of shape normalized_shape,
/// initialised to 1 and 0 (when elementwise_affine).
/// @throws shape_error "layer_norm(normalized_shape=[8], eps=1e-05): expected input [..., 8], got [4, 6]".
template <class T = float>
class layer_norm : public cloneable<layer_norm<T>, T> {
 public:
  explicit layer_norm(const layer_norm_options& options, generator& gen = default_generator()) : options_(options) {
    reset(gen);
  }
  void reset(generator&) override {
    const shape& ns = options_.normalized_shape();
    weight = options_.elementwise_affine() ? this->register_parameter("weight", ones<T>(ns)) : tensor<T>();
    bias =
        options_.elementwise_affine() && options_.bias() ? this->register_parameter("bias", zeros<T>(ns)) : tensor<T>();
  }
  tensor<T> forward(const tensor<T>& x) const;
  const layer_norm_options& options() const { return options_; }
  std::string type_name() const override { return "layer_norm"; }
  std::string extra_repr() const override;

  tensor<T> weight;  ///< normalized_shape, undefined without elementwise_affine
  tensor<T> bias;    ///< normalized_shape, undefined without elementwise_affine or bias

 private:
  layer_norm_options options_;
};

/// @brief RMS normalisation, y = x / √(mean(x²) + ε) · weight over the trailing axes normalized_shape (ε inside
/// the square root, as T5 and LLaMA; torch.nn.RMSNorm). Parameter `weight` (init 1) when elementwise_affine.
/// @throws shape_error "rms_norm(normalized_shape=[8], eps=1e-06): expected input [..., 8], got [4, 6]".
template <class T = float>
class rms_norm : public cloneable<rms_norm<T>, T> {
 public:
  explicit rms_norm(const rms_norm_options& options, generator& gen = default_generator()) : options_(options) {
    reset(gen);
  }
  void reset(generator&) override {
    weight = options_.elementwise_affine() ? this->register_parameter("weight", ones<T>(options_.normalized_shape()))
                                           : tensor<T>();
  }
  tensor<T> forward(const tensor<T>& x) const;
  const rms_norm_options& options() const { return options_; }
  std::string type_name() const override { return "rms_norm"; }
  std::string extra_repr() const override;

  tensor<T> weight;  ///< normalized_shape, undefined without elementwise_affine

 private:
  rms_norm_options options_;
};

/// @brief Shared body of batch_norm1d and batch_norm2d (as torch.nn.BatchNorm1d/2d): channel axis 1; in training
/// (is_training()) batch statistics normalise and, with track_running_stats, update running_mean / running_var
/// (unbiased variance) with the momentum and count num_batches_tracked; in evaluation the running statistics are
/// used. Parameters `weight` [C] (init 1), `bias` [C] (init 0) when affine; buffers `running_mean` [C] (0),
/// `running_var` [C] (1), `num_batches_tracked` [] (0) when track_running_stats.
template <class Derived, class T>
class batch_norm_base : public cloneable<Derived, T> {
 public:
  void reset(generator&) override {
    const index_t c = options_.num_features();
    weight = options_.affine() ? this->register_parameter("weight", ones<T>({c})) : tensor<T>();
    bias = options_.affine() ? this->register_parameter("bias", zeros<T>({c})) : tensor<T>();
    running_mean = running_var = num_batches_tracked = tensor<T>();
    if (options_.track_running_stats())
      detail::register_running_stats<T>(*this, c, running_mean, running_var, num_batches_tracked);
  }
  tensor<T> forward(const tensor<T>& x) const;
  const batch_norm_options& options() const { return options_; }
  std::string extra_repr() const override;

  tensor<T> weight, bias;                                    ///< [C], undefined without affine
  tensor<T> running_mean, running_var, num_batches_tracked;  ///< buffers, undefined without tracking

 protected:
  explicit batch_norm_base(const batch_norm_options& options) : options_(options) {
    KEXUE_CHECK(options.num_features() >= 0, value_error, "batch_norm", "num_features must be non-negative, got ",
                options.num_features());
  }

 private:
  batch_norm_options options_;
};

/// @brief Batch normalisation of x [N, C] or [N, C, L] over the channel axis 1, as torch.nn.BatchNorm1d (see
/// batch_norm_base). @throws shape_error "batch_norm1d(num_features=4, eps=1e-05, momentum=0.1, affine=true,
/// track_running_stats=true): expected input [N, 4] or [N, 4, L], got [2, 3]"; value_error from ops batch_norm
/// for one value per channel in training.
template <class T = float>
class batch_norm1d : public batch_norm_base<batch_norm1d<T>, T> {
 public:
  explicit batch_norm1d(const batch_norm_options& options, generator& gen = default_generator())
      : batch_norm_base<batch_norm1d<T>, T>(options) {
    this->reset(gen);
  }
  std::string type_name() const override { return "batch_norm1d"; }
  static bool accepts(int rank) { return rank == 2 || rank == 3; }
  static std::string expected(index_t c) {
    return "[N, " + std::to_string(c) + "] or [N, " + std::to_string(c) + ", L]";
  }
};

/// @brief Batch normalisation of x [N, C, H, W] over the channel axis 1, as torch.nn.BatchNorm2d (see
/// batch_norm_base). @throws shape_error "batch_norm2d(...): expected input [N, 4, H, W], got [2, 4, 3]".
template <class T = float>
class batch_norm2d : public batch_norm_base<batch_norm2d<T>, T> {
 public:
  explicit batch_norm2d(const batch_norm_options& options, generator& gen = default_generator())
      : batch_norm_base<batch_norm2d<T>, T>(options) {
    this->reset(gen);
  }
  std::string type_name() const override { return "batch_norm2d"; }
  static bool accepts(int rank) { return rank == 4; }
  static std::string expected(index_t c) { return "[N, " + std::to_string(c) + ", H, W]"; }
};

/// Options of nn::conditional_layer_norm (defaults in brackets).
struct conditional_layer_norm_options {
  /// normalized_size D: the last axis of the input; condition_size K: the last axis of the condition.
  conditional_layer_norm_options(index_t normalized_size, index_t condition_size)
      : size_(normalized_size), condition_size_(condition_size) {}
  /// ε added to the variance [1e-5; BERT, and the article's bert4keras code, use 1e-12].
  conditional_layer_norm_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  /// Learnable shift β + W_β·c [true] (Keras' `center`).
  conditional_layer_norm_options& center(bool on) {
    center_ = on;
    return *this;
  }
  /// Learnable scale γ + W_γ·c [true] (Keras' `scale`).
  conditional_layer_norm_options& scale(bool on) {
    scale_ = on;
    return *this;
  }
  index_t normalized_size() const { return size_; }
  index_t condition_size() const { return condition_size_; }
  double eps() const { return eps_; }
  bool center() const { return center_; }
  bool scale() const { return scale_; }

 private:
  index_t size_, condition_size_;
  double eps_ = 1e-5;
  bool center_ = true, scale_ = true;
};

/// @brief Conditional layer normalisation (A26, the triple-extraction head of bert4keras):
///
///     LN_c(x) = (γ + W_γ c) ⊙ (x − mean(x)) / √(var(x) + ε) + (β + W_β c)
///
/// over x's last axis D. Parameters `weight` γ [D] (init 1) and `bias` β [D] (init 0); children `gamma_dense` and
/// `beta_dense`, nn::linear(K → D) without bias, **zero-initialised**, so the layer starts as a plain layer norm.
/// forward(x [..., D], c [..., K]): as bert4keras, a condition of lower rank gets size-1 axes inserted after its
/// first one until its rank is x's ([B, K] for x [B, T, D] becomes [B, 1, K]: one condition per sequence); its
/// leading sizes must then be 1 or x's. Gradients reach x, c, γ, β, W_γ, W_β.
/// @throws shape_error "conditional_layer_norm(normalized_size=8, condition_size=4, eps=1e-05): expected input
///         [..., 8] and condition [..., 4] whose leading axes broadcast to the input's, got [2, 5, 8] and [3, 4]".
template <class T = float>
class conditional_layer_norm : public cloneable<conditional_layer_norm<T>, T> {
 public:
  explicit conditional_layer_norm(const conditional_layer_norm_options& options, generator& gen = default_generator())
      : options_(options) {
    reset(gen);
  }
  void reset(generator& gen) override;
  tensor<T> forward(const tensor<T>& x, const tensor<T>& condition) const;
  const conditional_layer_norm_options& options() const { return options_; }
  std::string type_name() const override { return "conditional_layer_norm"; }
  std::string extra_repr() const override;

  tensor<T> weight, bias;                              ///< γ, β [D]; undefined without scale / center
  std::shared_ptr<linear<T>> gamma_dense, beta_dense;  ///< W_γ, W_β: [D, K] weights, no bias

 private:
  conditional_layer_norm_options options_;
};

/// Options of nn::conditional_batch_norm (defaults in brackets; the statistics as batch_norm_options).
struct conditional_batch_norm_options {
  conditional_batch_norm_options(index_t num_features, index_t num_classes)
      : num_features_(num_features), num_classes_(num_classes) {}
  conditional_batch_norm_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  conditional_batch_norm_options& momentum(std::optional<double> v) {
    momentum_ = v;
    return *this;
  }
  conditional_batch_norm_options& track_running_stats(bool on) {
    track_ = on;
    return *this;
  }
  index_t num_features() const { return num_features_; }
  index_t num_classes() const { return num_classes_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  bool track_running_stats() const { return track_; }

 private:
  index_t num_features_, num_classes_;
  double eps_ = 1e-5;
  std::optional<double> momentum_ = 0.1;
  bool track_ = true;
};

/// @brief Class-conditional batch normalisation (A20, cGANs): batch norm without its own affine (Keras'
/// center=False, scale=False), then y = BN(x)·γ(label) + β(label), γ and β per channel broadcast over the
/// spatial axes. Parameters `gamma` [num_classes, C] (init 1) and `beta` [num_classes, C] (init 0), embedding
/// tables indexed by the label, so the layer starts as plain batch norm. Buffers as batch_norm1d.
/// forward(x [N, C, ...] (rank ≥ 2), labels [N] in [0, num_classes)).
/// @throws shape_error "conditional_batch_norm(num_features=4, num_classes=10): expected input [N, 4, ...] and
///         labels [N], got [2, 4, 5] and [3]"; index_error for a label out of range (from ops embedding).
template <class T = float>
class conditional_batch_norm : public cloneable<conditional_batch_norm<T>, T> {
 public:
  explicit conditional_batch_norm(const conditional_batch_norm_options& options, generator& gen = default_generator())
      : options_(options) {
    reset(gen);
  }
  void reset(generator& gen) override;
  tensor<T> forward(const tensor<T>& x, const tensor<index_t>& labels) const;
  const conditional_batch_norm_options& options() const { return options_; }
  std::string type_name() const override { return "conditional_batch_norm"; }
  std::string extra_repr() const override;

  tensor<T> gamma, beta;                                     ///< [num_classes, C]
  tensor<T> running_mean, running_var, num_batches_tracked;  ///< buffers, undefined without tracking

 private:
  conditional_batch_norm_options options_;
};

/// Options of nn::self_modulated_batch_norm (defaults in brackets; the statistics as batch_norm_options).
struct self_modulated_batch_norm_options {
  /// num_features C of the input; z_dim: the size of the latent z.
  self_modulated_batch_norm_options(index_t num_features, index_t z_dim) : num_features_(num_features), z_dim_(z_dim) {}
  /// Hidden width of the γ and β MLPs [32, the SELF-MOD paper's code; the article's author uses z_dim].
  self_modulated_batch_norm_options& hidden(index_t v) {
    hidden_ = v;
    return *this;
  }
  /// y = BN(x)·(1 + γ(z)) + β(z) [true, the author's form], else BN(x)·γ(z) + β(z).
  self_modulated_batch_norm_options& one_plus_gamma(bool on) {
    one_plus_gamma_ = on;
    return *this;
  }
  /// Conditional SELF-MOD: with K > 0 classes, z' = z + E(c) + E'(c) ⊙ z feeds the MLPs [0: none].
  self_modulated_batch_norm_options& num_classes(index_t v) {
    num_classes_ = v;
    return *this;
  }
  self_modulated_batch_norm_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  self_modulated_batch_norm_options& momentum(std::optional<double> v) {
    momentum_ = v;
    return *this;
  }
  self_modulated_batch_norm_options& track_running_stats(bool on) {
    track_ = on;
    return *this;
  }
  index_t num_features() const { return num_features_; }
  index_t z_dim() const { return z_dim_; }
  index_t hidden() const { return hidden_; }
  bool one_plus_gamma() const { return one_plus_gamma_; }
  index_t num_classes() const { return num_classes_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  bool track_running_stats() const { return track_; }

 private:
  index_t num_features_, z_dim_, hidden_ = 32, num_classes_ = 0;
  bool one_plus_gamma_ = true;
  double eps_ = 1e-5;
  std::optional<double> momentum_ = 0.1;
  bool track_ = true;
};

/// @brief Self-modulated batch normalisation (SELF-MOD, A20): batch norm without its own affine, modulated by
/// the generator's latent z:
///
///     y = BN(x) ⊙ (1 + γ(z)) + β(z),   γ(z) = W⁽²⁾ relu(W⁽¹⁾ z + b⁽¹⁾) + b⁽²⁾,  β(z) likewise (own weights)
///
/// (or BN(x) ⊙ γ(z) + β(z) without one_plus_gamma), γ, β [N, C] broadcast over the spatial axes. Children
/// `gamma_hidden`, `gamma_out`, `beta_hidden`, `beta_out` (nn::linear); the hidden layers take PyTorch's linear
/// initialisation, the output layers are zero-initialised (bias 1 for gamma_out without one_plus_gamma), so the
/// layer starts as plain batch norm. Conditional form (num_classes > 0): parameters `class_shift` E and
/// `class_scale` E' [num_classes, z_dim], zero-initialised (our choice: z' = z at the start), and
/// forward(x, z, labels) uses z' = z + E(c) + E'(c) ⊙ z. Buffers as batch_norm1d.
/// forward(x [N, C, ...] (rank ≥ 2), z [N, z_dim]).
/// @throws shape_error "self_modulated_batch_norm(num_features=4, z_dim=8, hidden=32): expected input
///         [N, 4, ...] and z [N, 8], got [2, 4, 5] and [2, 7]"; value_error for labels without num_classes or
///         the reverse.
template <class T = float>
class self_modulated_batch_norm : public cloneable<self_modulated_batch_norm<T>, T> {
 public:
  explicit self_modulated_batch_norm(const self_modulated_batch_norm_options& options,
                                     generator& gen = default_generator())
      : options_(options) {
    reset(gen);
  }
  void reset(generator& gen) override;
  tensor<T> forward(const tensor<T>& x, const tensor<T>& z) const { return modulate(x, z, tensor<index_t>()); }
  tensor<T> forward(const tensor<T>& x, const tensor<T>& z, const tensor<index_t>& labels) const {
    KEXUE_CHECK(labels.defined(), value_error, describe(), "labels are undefined");
    return modulate(x, z, labels);
  }
  const self_modulated_batch_norm_options& options() const { return options_; }
  std::string type_name() const override { return "self_modulated_batch_norm"; }
  std::string extra_repr() const override;

  std::shared_ptr<linear<T>> gamma_hidden, gamma_out, beta_hidden, beta_out;
  tensor<T> class_shift, class_scale;                        ///< E, E' [num_classes, z_dim] (conditional form)
  tensor<T> running_mean, running_var, num_batches_tracked;  ///< buffers, undefined without tracking

 private:
  std::string describe() const;
  tensor<T> modulate(const tensor<T>& x, const tensor<T>& z, const tensor<index_t>& labels) const;
  self_modulated_batch_norm_options options_;
};

// ~~~ Implementation ~~~

template <class T>
tensor<T> layer_norm<T>::forward(const tensor<T>& x) const {
  detail::check_trailing(x, options_.normalized_shape(),
                         "layer_norm(normalized_shape=" + format_shape(options_.normalized_shape()) +
                             ", eps=" + detail::format_number(options_.eps()) + ")");
  return kexue::layer_norm(x, options_.normalized_shape(), weight, bias, static_cast<T>(options_.eps()));
}

template <class T>
std::string layer_norm<T>::extra_repr() const {
  return "normalized_shape=" + format_shape(options_.normalized_shape()) +
         ", eps=" + detail::format_number(options_.eps()) +
         ", elementwise_affine=" + (options_.elementwise_affine() ? "true" : "false") +
         (options_.elementwise_affine() && !options_.bias() ? ", bias=false" : "");
}

template <class T>
tensor<T> rms_norm<T>::forward(const tensor<T>& x) const {
  detail::check_trailing(x, options_.normalized_shape(),
                         "rms_norm(normalized_shape=" + format_shape(options_.normalized_shape()) +
                             ", eps=" + detail::format_number(options_.eps()) + ")");
  return kexue::rms_norm(x, options_.normalized_shape(), weight, static_cast<T>(options_.eps()));
}

template <class T>
std::string rms_norm<T>::extra_repr() const {
  return "normalized_shape=" + format_shape(options_.normalized_shape()) +
         ", eps=" + detail::format_number(options_.eps()) +
         ", elementwise_affine=" + (options_.elementwise_affine() ? "true" : "false");
}

template <class Derived, class T>
tensor<T> batch_norm_base<Derived, T>::forward(const tensor<T>& x) const {
  const index_t c = options_.num_features();
  KEXUE_CHECK(Derived::accepts(x.rank()) && x.size(1) == c, shape_error,
              static_cast<const Derived&>(*this).type_name() + "(" + extra_repr() + ")", "expected input ",
              Derived::expected(c), ", got ", format_shape(x.shape()));
  return detail::batch_norm_step(x, this->is_training(), options_.track_running_stats(), options_.momentum(),
                                 options_.eps(), running_mean, running_var, num_batches_tracked, weight, bias);
}

template <class Derived, class T>
std::string batch_norm_base<Derived, T>::extra_repr() const {
  return "num_features=" + std::to_string(options_.num_features()) + ", eps=" + detail::format_number(options_.eps()) +
         ", momentum=" + (options_.momentum() ? detail::format_number(*options_.momentum()) : "none") +
         ", affine=" + (options_.affine() ? "true" : "false") +
         ", track_running_stats=" + (options_.track_running_stats() ? "true" : "false");
}

template <class T>
void conditional_layer_norm<T>::reset(generator& gen) {
  const index_t d = options_.normalized_size(), k = options_.condition_size();
  weight = tensor<T>();
  bias = tensor<T>();
  gamma_dense = nullptr;
  beta_dense = nullptr;
  if (options_.scale()) {
    weight = this->register_parameter("weight", ones<T>({d}));
    gamma_dense =
        this->register_module("gamma_dense", std::make_shared<linear<T>>(linear_options(k, d).bias(false), gen));
    detail::fill_with(gamma_dense->weight, T(0));
  }
  if (options_.center()) {
    bias = this->register_parameter("bias", zeros<T>({d}));
    beta_dense =
        this->register_module("beta_dense", std::make_shared<linear<T>>(linear_options(k, d).bias(false), gen));
    detail::fill_with(beta_dense->weight, T(0));
  }
}

template <class T>
tensor<T> conditional_layer_norm<T>::forward(const tensor<T>& x, const tensor<T>& condition) const {
  const index_t d = options_.normalized_size(), k = options_.condition_size();
  // bert4keras: insert size-1 axes after the condition's first axis until the ranks agree.
  tensor<T> c = condition;
  bool ok = x.rank() >= 1 && x.size(-1) == d && c.rank() >= 1 && c.rank() <= x.rank() && c.size(-1) == k;
  if (ok) {
    std::vector<index_t> s(c.shape().begin(), c.shape().end());
    while (static_cast<int>(s.size()) < x.rank()) s.insert(s.begin() + 1, 1);
    for (int i = 0; ok && i + 1 < x.rank(); ++i) ok = s[i] == 1 || s[i] == x.size(i);
    if (ok) c = kexue::reshape(c, shape(s));
  }
  KEXUE_CHECK(ok, shape_error, "conditional_layer_norm(" + extra_repr() + ")", "expected input [..., ", d,
              "] and condition [..., ", k, "] whose leading axes broadcast to the input's, got ",
              format_shape(x.shape()), " and ", format_shape(condition.shape()));
  tensor<T> y = kexue::layer_norm(x, {d}, tensor<T>(), tensor<T>(), static_cast<T>(options_.eps()));
  if (options_.scale()) y = kexue::mul(y, kexue::add(weight, (*gamma_dense)(c)));  // (γ + W_γ c), [..., D]
  if (options_.center()) y = kexue::add(y, kexue::add(bias, (*beta_dense)(c)));    // (β + W_β c)
  return y;
}

template <class T>
std::string conditional_layer_norm<T>::extra_repr() const {
  return "normalized_size=" + std::to_string(options_.normalized_size()) +
         ", condition_size=" + std::to_string(options_.condition_size()) +
         ", eps=" + detail::format_number(options_.eps()) + (options_.center() ? "" : ", center=false") +
         (options_.scale() ? "" : ", scale=false");
}

template <class T>
void conditional_batch_norm<T>::reset(generator&) {
  const index_t c = options_.num_features(), k = options_.num_classes();
  gamma = this->register_parameter("gamma", ones<T>({k, c}));
  beta = this->register_parameter("beta", zeros<T>({k, c}));
  running_mean = running_var = num_batches_tracked = tensor<T>();
  if (options_.track_running_stats())
    detail::register_running_stats(*this, c, running_mean, running_var, num_batches_tracked);
}

template <class T>
tensor<T> conditional_batch_norm<T>::forward(const tensor<T>& x, const tensor<index_t>& labels) const {
  const index_t c = options_.num_features();
  KEXUE_CHECK(x.rank() >= 2 && x.size(1) == c && labels.rank() == 1 && labels.size(0) == x.size(0), shape_error,
              "conditional_batch_norm(" + extra_repr() + ")", "expected input [N, ", c, ", ...] and labels [N], got ",
              format_shape(x.shape()), " and ", format_shape(labels.shape()));
  const tensor<T> xn =
      detail::batch_norm_step(x, this->is_training(), options_.track_running_stats(), options_.momentum(),
                              options_.eps(), running_mean, running_var, num_batches_tracked);
  const tensor<T> g = detail::per_channel(kexue::embedding(labels, gamma), x.rank());  // [N, C, 1, ...]
  const tensor<T> b = detail::per_channel(kexue::embedding(labels, beta), x.rank());
  return kexue::add(kexue::mul(xn, g), b);
}

template <class T>
std::string conditional_batch_norm<T>::extra_repr() const {
  return "num_features=" + std::to_string(options_.num_features()) +
         ", num_classes=" + std::to_string(options_.num_classes());
}

template <class T>
void self_modulated_batch_norm<T>::reset(generator& gen) {
  const index_t c = options_.num_features(), z = options_.z_dim(), h = options_.hidden();
  gamma_hidden = this->register_module("gamma_hidden", std::make_shared<linear<T>>(linear_options(z, h), gen));
  gamma_out = this->register_module("gamma_out", std::make_shared<linear<T>>(linear_options(h, c), gen));
  beta_hidden = this->register_module("beta_hidden", std::make_shared<linear<T>>(linear_options(z, h), gen));
  beta_out = this->register_module("beta_out", std::make_shared<linear<T>>(linear_options(h, c), gen));
  for (const auto& l : {gamma_out, beta_out}) {
    detail::fill_with(l->weight, T(0));
    detail::fill_with(l->bias, T(0));
  }
  if (!options_.one_plus_gamma()) detail::fill_with(gamma_out->bias, T(1));
  class_shift = class_scale = tensor<T>();
  if (options_.num_classes() > 0) {
    class_shift = this->register_parameter("class_shift", zeros<T>({options_.num_classes(), z}));
    class_scale = this->register_parameter("class_scale", zeros<T>({options_.num_classes(), z}));
  }
  running_mean = running_var = num_batches_tracked = tensor<T>();
  if (options_.track_running_stats())
    detail::register_running_stats(*this, c, running_mean, running_var, num_batches_tracked);
}

template <class T>
std::string self_modulated_batch_norm<T>::describe() const {
  return "self_modulated_batch_norm(" + extra_repr() + ")";
}

template <class T>
tensor<T> self_modulated_batch_norm<T>::modulate(const tensor<T>& x, const tensor<T>& z,
                                                 const tensor<index_t>& labels) const {
  const index_t c = options_.num_features(), zd = options_.z_dim();
  KEXUE_CHECK(x.rank() >= 2 && x.size(1) == c && z.rank() == 2 && z.size(0) == x.size(0) && z.size(1) == zd,
              shape_error, describe(), "expected input [N, ", c, ", ...] and z [N, ", zd, "], got ",
              format_shape(x.shape()), " and ", format_shape(z.shape()));
  KEXUE_CHECK(labels.defined() == (options_.num_classes() > 0), value_error, describe(),
              labels.defined() ? "labels given but num_classes is 0" : "labels are required when num_classes > 0");
  tensor<T> zz = z;
  if (labels.defined()) {
    KEXUE_CHECK(labels.rank() == 1 && labels.size(0) == x.size(0), shape_error, describe(), "expected labels [",
                x.size(0), "], got ", format_shape(labels.shape()));
    // z' = z + E(c) + E'(c) ⊙ z   [N, z_dim]
    zz = kexue::add(kexue::add(z, kexue::embedding(labels, class_shift)),
                    kexue::mul(kexue::embedding(labels, class_scale), z));
  }
  const tensor<T> xn =
      detail::batch_norm_step(x, this->is_training(), options_.track_running_stats(), options_.momentum(),
                              options_.eps(), running_mean, running_var, num_batches_tracked);
  tensor<T> g = (*gamma_out)(kexue::relu((*gamma_hidden)(zz)));  // [N, C]
  if (options_.one_plus_gamma()) g = kexue::add_scalar(g, T(1));
  const tensor<T> b = (*beta_out)(kexue::relu((*beta_hidden)(zz)));
  return kexue::add(kexue::mul(xn, detail::per_channel(g, x.rank())), detail::per_channel(b, x.rank()));
}

template <class T>
std::string self_modulated_batch_norm<T>::extra_repr() const {
  return "num_features=" + std::to_string(options_.num_features()) + ", z_dim=" + std::to_string(options_.z_dim()) +
         ", hidden=" + std::to_string(options_.hidden()) + (options_.one_plus_gamma() ? "" : ", one_plus_gamma=false") +
         (options_.num_classes() > 0 ? ", num_classes=" + std::to_string(options_.num_classes()) : "");
}

}  // namespace kexue::nn
