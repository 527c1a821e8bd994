// SPDX-License-Identifier: MIT
// nn::linear: a fully connected layer, y = x·Wᵀ + b, with PyTorch's layout and initialisation.
#pragma once

#include <cmath>  // std::sqrt
#include <string>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/linear.hpp>

namespace kexue::nn {

/// Options of nn::linear. Defaults: bias on.
struct linear_options {
  linear_options(index_t in_features, index_t out_features) : in_features_(in_features), out_features_(out_features) {}
  linear_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  index_t in_features() const { return in_features_; }
  index_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }

 private:
  index_t in_features_, out_features_;
  bool bias_ = true;
};

/// @brief Fully connected layer, as torch.nn.Linear: `[..., in] -> [..., out]`, y = x·Wᵀ + b.
/// Parameters: `weight [out, in]`, `bias [out]` (when enabled). Initialisation as PyTorch:
/// U(−1/√in, 1/√in) for both (kaiming_uniform with a = √5 for the weight); with in = 0, zeros.
/// @throws shape_error naming the layer's configuration and the input shape when the last axis is not `in`.
template <class T = float>
class linear : public cloneable<linear<T>, T> {
 public:
  explicit linear(const linear_options& options, generator& gen = default_generator()) : options_(options) {
    KEXUE_CHECK(options.in_features() >= 0 && options.out_features() >= 0, value_error, "linear",
                "feature counts must be non-negative, got in_features=", options.in_features(),
                ", out_features=", options.out_features());
    reset(gen);
  }
  linear(index_t in_features, index_t out_features, generator& gen = default_generator())
      : linear(linear_options(in_features, out_features), gen) {}

  void reset(generator& gen) override {
    const index_t in = options_.in_features(), out = options_.out_features();
    const T bound = in > 0 ? static_cast<T>(1.0 / std::sqrt(static_cast<double>(in))) : T(0);
    weight = this->register_parameter("weight", rand<T>({out, in}, gen, -bound, bound));
    bias = options_.bias() ? this->register_parameter("bias", rand<T>({out}, gen, -bound, bound)) : tensor<T>();
  }

  /// x `[..., in]` -> `[..., out]`.
  tensor<T> forward(const tensor<T>& x) const {
    KEXUE_CHECK(x.rank() >= 1 && x.size(-1) == options_.in_features(), shape_error, describe(), "expected input [..., ",
                options_.in_features(), "], got ", format_shape(x.shape()));
    return kexue::linear(x, weight, bias);
  }

  const linear_options& options() const { return options_; }
  std::string type_name() const override { return "linear"; }
  std::string extra_repr() const override {
    return "in_features=" + std::to_string(options_.in_features()) +
           ", out_features=" + std::to_string(options_.out_features()) +
           ", bias=" + (options_.bias() ? "true" : "false");
  }

  tensor<T> weight;  ///< `[out, in]`
  tensor<T> bias;    ///< `[out]`, undefined without bias

 private:
  std::string describe() const { return "linear(" + extra_repr() + ")"; }
  linear_options options_;
};

}  // namespace kexue::nn
