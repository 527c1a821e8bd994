// SPDX-License-Identifier: MIT
// nn::gated_conv1d: the dilated gated residual convolution block of DGCNN (spec A02).
#pragma once

#include <memory>  // std::shared_ptr
#include <string>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/conv.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/dropout.hpp>
#include <kexue/ops/gated.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue::nn {

/// Options of nn::gated_conv1d. Defaults: out_channels = in_channels, kernel 3, dilation 1, padding same,
/// residual on, no gate noise, no gate dropout, bias on.
struct gated_conv1d_options {
  explicit gated_conv1d_options(index_t in_channels) : in_(in_channels), out_(in_channels) {}
  gated_conv1d_options(index_t in_channels, index_t out_channels) : in_(in_channels), out_(out_channels) {}
  gated_conv1d_options& out_channels(index_t v) {
    out_ = v;
    return *this;
  }
  gated_conv1d_options& kernel_size(index_t v) {
    kernel_ = v;
    return *this;
  }
  gated_conv1d_options& dilation(index_t v) {
    dilation_ = v;
    return *this;
  }
  /// same (the sequence keeps its length) or causal; valid is refused (the residual needs the length).
  gated_conv1d_options& padding(padding_mode m) {
    padding_ = m;
    return *this;
  }
  /// Residual form (3) Y = X'⊙(1 − s) + V⊙s (X' = X, or a 1×1 projection of X when the channel counts
  /// differ); off: the plain gated linear unit (1) Y = V⊙s.
  gated_conv1d_options& residual(bool on) {
    residual_ = on;
    return *this;
  }
  /// Training-only multiplicative gate noise (A02 eq. 9): s = σ(G⊙(1 + ε)), ε ~ U[−noise, noise] per element.
  gated_conv1d_options& gate_noise(double v) {
    gate_noise_ = v;
    return *this;
  }
  /// Training-only dropout on the gate pre-activation G (the Keras reference code's variant, rate 0.1 there).
  gated_conv1d_options& gate_dropout(double p) {
    gate_dropout_ = p;
    return *this;
  }
  gated_conv1d_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  index_t in_channels() const { return in_; }
  index_t out_channels() const { return out_; }
  index_t kernel_size() const { return kernel_; }
  index_t dilation() const { return dilation_; }
  padding_mode padding() const { return padding_; }
  bool residual() const { return residual_; }
  double gate_noise() const { return gate_noise_; }
  double gate_dropout() const { return gate_dropout_; }
  bool bias() const { return bias_; }

 private:
  index_t in_, out_;
  index_t kernel_ = 3, dilation_ = 1;
  padding_mode padding_ = padding_mode::same;
  bool residual_ = true;
  double gate_noise_ = 0, gate_dropout_ = 0;
  bool bias_ = true;
};

/// @brief Dilated gated convolution (DGCNN, spec A02): one conv1d with 2·out channels whose first half is
///        the value V and second half the gate pre-activation G (equivalent to two separate convolutions),
///        s = σ(G), and
///
///            Y = X'⊙(1 − s) + V⊙s        (residual, default; X' = X, or proj(X) when in ≠ out)
///            Y = V⊙s                     (residual off)
///
///        x [B, in, L] → [B, out, L] (same or causal padding keep the length).
/// Children: `conv` (nn::conv1d in → 2·out, kernel, dilation, padding; PyTorch init), and `proj` (nn::conv1d
/// in → out, kernel 1) only when residual is on and in ≠ out (the reference code's 1×1 residual projection).
/// Training only: gate noise s = σ(G⊙(1 + ε)), ε ~ U[−gate_noise, gate_noise] elementwise (A02 eq. 9), and/or
/// dropout of G; the layer owns its random stream, seeded from the construction generator.
/// forward(x, mask): mask [B, L] zeroes padded positions of the input before the convolution and of the
/// output after it, as each DGC block of the reference code does.
/// @throws value_error for bad options; shape_error naming the configuration and the received shape.
template <class T = float>
class gated_conv1d : public cloneable<gated_conv1d<T>, T> {
 public:
  explicit gated_conv1d(const gated_conv1d_options& options, generator& gen = default_generator())
      : options_(options), noise_gen_(gen.next_u64()) {
    const auto& o = options;
    KEXUE_CHECK(o.in_channels() >= 1 && o.out_channels() >= 1 && o.kernel_size() >= 1 && o.dilation() >= 1, value_error,
                "gated_conv1d", "channels, kernel_size and dilation must be at least 1, got ", extra_repr());
    KEXUE_CHECK(o.padding() != padding_mode::valid, value_error, "gated_conv1d",
                "padding must be same or causal (the output keeps the input's length), got valid");
    KEXUE_CHECK(o.gate_noise() >= 0 && o.gate_noise() < 1, value_error, "gated_conv1d",
                "gate_noise must be in [0, 1), got ", o.gate_noise());
    KEXUE_CHECK(o.gate_dropout() >= 0 && o.gate_dropout() < 1, value_error, "gated_conv1d",
                "gate_dropout must be in [0, 1), got ", o.gate_dropout());
    reset(gen);
  }

  void reset(generator& gen) override {
    const auto& o = options_;
    conv = this->register_module(
        "conv", std::make_shared<conv1d<T>>(conv1d_options(o.in_channels(), 2 * o.out_channels(), o.kernel_size())
                                                .dilation(o.dilation())
                                                .padding(o.padding())
                                                .bias(o.bias()),
                                            gen));
    proj = nullptr;
    if (o.residual() && o.in_channels() != o.out_channels()) {
      proj = this->register_module(
          "proj",
          std::make_shared<conv1d<T>>(conv1d_options(o.in_channels(), o.out_channels(), 1).bias(o.bias()), gen));
    }
  }

  /// x [B, in, L] → [B, out, L].
  tensor<T> forward(const tensor<T>& x) const {
    check_input(x);
    return block(x, conv->forward(x));
  }

  /// As forward(x), with x zeroed where mask [B, L] is false before the convolution, and the output after.
  tensor<T> forward(const tensor<T>& x, const tensor<bool>& mask) const {
    check_input(x);
    check_mask(x, mask.shape());
    return masked(x, reshape(mask.template to<T>(), {x.size(0), 1, x.size(2)}));
  }
  /// As above with a 0/1 mask of the input's element type.
  tensor<T> forward(const tensor<T>& x, const tensor<T>& mask) const {
    check_input(x);
    check_mask(x, mask.shape());
    return masked(x, reshape(mask.detach(), {x.size(0), 1, x.size(2)}));
  }

  const gated_conv1d_options& options() const { return options_; }
  std::string type_name() const override { return "gated_conv1d"; }
  std::string extra_repr() const override {
    const auto& o = options_;
    std::string s = "in_channels=" + std::to_string(o.in_channels()) +
                    ", out_channels=" + std::to_string(o.out_channels()) +
                    ", kernel_size=" + std::to_string(o.kernel_size()) + ", dilation=" + std::to_string(o.dilation()) +
                    ", padding=" + to_string(o.padding()) + ", residual=" + (o.residual() ? "true" : "false");
    if (o.gate_noise() > 0) s += ", gate_noise=" + std::to_string(o.gate_noise());
    if (o.gate_dropout() > 0) s += ", gate_dropout=" + std::to_string(o.gate_dropout());
    return s;
  }

  std::shared_ptr<conv1d<T>> conv;  ///< in → 2·out: value half, then gate half
  std::shared_ptr<conv1d<T>> proj;  ///< 1×1 residual projection (in ≠ out with residual), else null

 private:
  std::string describe() const { return "gated_conv1d(" + extra_repr() + ")"; }

  void check_input(const tensor<T>& x) const {
    KEXUE_CHECK(x.rank() == 3 && x.size(1) == options_.in_channels(), shape_error, describe(),
                "expected input [batch, ", options_.in_channels(), ", length], got ", format_shape(x.shape()));
  }
  void check_mask(const tensor<T>& x, const shape& m) const {
    KEXUE_CHECK(m.rank() == 2 && m[0] == x.size(0) && m[1] == x.size(2), shape_error, describe(), "expected mask [",
                x.size(0), ", ", x.size(2), "] for input ", format_shape(x.shape()), ", got ", format_shape(m));
  }

  tensor<T> masked(const tensor<T>& x, const tensor<T>& m) const {
    auto xm = mul(x, m);
    return mul(block(xm, conv->forward(xm)), m);
  }

  /// The gate and the residual mix, from the input and the 2·out-channel convolution h, through the fused
  /// ops/gated.hpp passes (one read of h and x, one write of y; the same in the backward).
  tensor<T> block(const tensor<T>& x, tensor<T> h) const {
    const bool noise = this->is_training() && options_.gate_noise() > 0;
    const bool drop = this->is_training() && options_.gate_dropout() > 0;
    if (noise || drop) {  // perturb the gate half of h, then gate as usual
      const index_t out = options_.out_channels();
      auto gate = narrow(h, 1, out, out);
      if (drop) gate = kexue::dropout(gate, options_.gate_dropout(), true, noise_gen_);
      if (noise) {
        const T a = static_cast<T>(options_.gate_noise());
        gate = mul(gate, rand<T>(gate.shape(), noise_gen_, T(1) - a, T(1) + a));
      }
      h = concat({narrow(h, 1, 0, out), gate}, 1);
    }
    if (!options_.residual()) return glu(h, 1);                // V s
    return gated_residual(proj ? proj->forward(x) : x, h, 1);  // X'(1 − s) + V s
  }

  gated_conv1d_options options_;
  mutable generator noise_gen_;
};

}  // namespace kexue::nn
