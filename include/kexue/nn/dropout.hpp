// SPDX-License-Identifier: MIT
// nn::dropout: inverted dropout in training mode, with Keras's noise_shape and its own random stream.
#pragma once

#include <sstream>  // extra_repr
#include <string>
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/dropout.hpp>

namespace kexue::nn {

/// Options of nn::dropout. Defaults: p = 0.5, one draw per element.
struct dropout_options {
  explicit dropout_options(double p = 0.5) : p_(p) {}
  dropout_options& p(double v) {
    p_ = v;
    return *this;
  }
  /// The mask's shape, as Keras's noise_shape, with −1 for "the input's size on this axis": `{-1, -1, 1}`
  /// for x `[B, T, D]` drops whole time steps. Empty: the input's shape.
  dropout_options& noise_shape(std::vector<index_t> s) {
    noise_ = std::move(s);
    return *this;
  }
  double p() const { return p_; }
  const std::vector<index_t>& noise_shape() const { return noise_; }

 private:
  double p_;
  std::vector<index_t> noise_;
};

/// @brief Inverted dropout, active in training mode only (eval returns the input itself), as torch.nn.Dropout
/// with Keras's noise_shape. The layer owns its random stream, seeded from the generator given at
/// construction, so a run is reproducible and a clone continues the same stream independently.
/// @throws value_error for p outside [0, 1]; shape_error when noise_shape's rank differs from the input's.
template <class T = float>
class dropout : public cloneable<dropout<T>, T> {
 public:
  explicit dropout(const dropout_options& options = dropout_options(), generator& gen = default_generator())
      : options_(options), gen_(gen.next_u64()) {
    KEXUE_CHECK(options.p() >= 0 && options.p() <= 1, value_error, "dropout", "p must be in [0, 1], got ", options.p());
  }
  explicit dropout(double p, generator& gen = default_generator()) : dropout(dropout_options(p), gen) {}

  void reset(generator&) override {}

  /// x `[...]` -> x's shape.
  tensor<T> forward(const tensor<T>& x) const {
    if (!this->is_training() || options_.p() == 0) return x;
    shape noise;
    if (!options_.noise_shape().empty()) {
      const auto& ns = options_.noise_shape();
      KEXUE_CHECK(static_cast<int>(ns.size()) == x.rank(), shape_error, describe(), "noise_shape has ", ns.size(),
                  " axes, the input ", format_shape(x.shape()), " has ", x.rank());
      for (int i = 0; i < x.rank(); ++i) noise.push_back(ns[static_cast<std::size_t>(i)] < 0 ? x.size(i) : ns[i]);
    }
    return kexue::dropout(x, options_.p(), true, gen_, noise);
  }

  const dropout_options& options() const { return options_; }
  std::string type_name() const override { return "dropout"; }
  std::string extra_repr() const override {
    std::ostringstream s;
    s << "p=" << options_.p();
    if (!options_.noise_shape().empty()) {
      s << ", noise_shape=[";
      for (std::size_t i = 0; i < options_.noise_shape().size(); ++i) s << (i ? ", " : "") << options_.noise_shape()[i];
      s << "]";
    }
    return s.str();
  }

 private:
  std::string describe() const { return "dropout(" + extra_repr() + ")"; }
  dropout_options options_;
  mutable generator gen_;
};

}  // namespace kexue::nn
