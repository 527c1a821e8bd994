// SPDX-License-Identifier: MIT
// nn::conv1d, nn::conv2d, nn::conv_transpose2d: convolution layers with PyTorch's layout and initialisation.
#pragma once

#include <cmath>  // std::sqrt
#include <string>
#include <type_traits>  // std::is_same_v: the padding text of conv2d_options

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/conv.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue::nn {

/// How nn::conv1d and nn::conv2d pad their input (valid, same, causal): kexue::padding_mode (ops/conv.hpp).
using kexue::padding_mode;

/// Options of nn::conv1d. Defaults: stride 1, dilation 1, groups 1, bias on, padding valid.
struct conv1d_options {
  conv1d_options(index_t in_channels, index_t out_channels, index_t kernel_size)
      : in_(in_channels), out_(out_channels), kernel_(kernel_size) {}
  conv1d_options& stride(index_t v) {
    stride_ = v;
    return *this;
  }
  conv1d_options& dilation(index_t v) {
    dilation_ = v;
    return *this;
  }
  conv1d_options& groups(index_t v) {
    groups_ = v;
    return *this;
  }
  conv1d_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  conv1d_options& padding(padding_mode m) {
    padding_ = m;
    return *this;
  }
  index_t in_channels() const { return in_; }
  index_t out_channels() const { return out_; }
  index_t kernel_size() const { return kernel_; }
  index_t stride() const { return stride_; }
  index_t dilation() const { return dilation_; }
  index_t groups() const { return groups_; }
  bool bias() const { return bias_; }
  padding_mode padding() const { return padding_; }

 private:
  index_t in_, out_, kernel_;
  index_t stride_ = 1, dilation_ = 1, groups_ = 1;
  bool bias_ = true;
  padding_mode padding_ = padding_mode::valid;
};

namespace detail {
/// Registers `weight` (shape w) and, when `with_bias`, `bias [bias_size]` on m, both drawn from
/// U(−1/√fan_in, 1/√fan_in): PyTorch's kaiming_uniform(a = √5) for the weight and its bias rule.
template <class T>
void conv_register_parameters(module<T>& m, const shape& w, index_t fan_in, index_t bias_size, bool with_bias,
                              generator& gen, tensor<T>& weight, tensor<T>& bias) {
  const T bound = static_cast<T>(1.0 / std::sqrt(static_cast<double>(fan_in)));
  weight = m.register_parameter("weight", rand<T>(w, gen, -bound, bound));
  bias = with_bias ? m.register_parameter("bias", rand<T>({bias_size}, gen, -bound, bound)) : tensor<T>();
}
}  // namespace detail

/// The name of a padding mode ("valid", "same", "causal").
inline const char* to_string(padding_mode m) {
  return m == padding_mode::same ? "same" : m == padding_mode::causal ? "causal" : "valid";
}

/// @brief 1-D convolution layer, as torch.nn.Conv1d with Keras's padding modes and masking:
///        x [B, in, L] → [B, out, L_out] (see padding_mode for L_out).
/// Parameters: `weight [out, in / groups, K]`, `bias [out]` (when enabled). Initialisation as PyTorch:
/// U(−1/√fan_in, 1/√fan_in) with fan_in = in / groups · K, for both.
/// forward(x, mask): mask [B, L] (bool, or 0/1 values) marks the real positions of padded sequences; the
/// input is zeroed at padded positions before the convolution (so padding cannot leak into real outputs)
/// and, when the output has the input's length (stride 1 with same or causal padding), so is the output,
/// as the masked convolutions of A01/A02 do.
/// @throws value_error for bad options (sizes below 1, channels that groups does not divide); shape_error
///         naming the layer's configuration and the received shape for a wrong input or mask.
template <class T = float>
class conv1d : public cloneable<conv1d<T>, T> {
 public:
  explicit conv1d(const conv1d_options& options, generator& gen = default_generator()) : options_(options) {
    const auto& o = options;
    KEXUE_CHECK(o.in_channels() >= 1 && o.out_channels() >= 1 && o.kernel_size() >= 1 && o.stride() >= 1 &&
                    o.dilation() >= 1 && o.groups() >= 1,
                value_error, "conv1d", "channels, kernel_size, stride, dilation and groups must be at least 1, got ",
                extra_repr());
    KEXUE_CHECK(o.in_channels() % o.groups() == 0 && o.out_channels() % o.groups() == 0, value_error, "conv1d",
                "groups must divide in_channels and out_channels, got ", extra_repr());
    reset(gen);
  }
  conv1d(index_t in_channels, index_t out_channels, index_t kernel_size, generator& gen = default_generator())
      : conv1d(conv1d_options(in_channels, out_channels, kernel_size), gen) {}

  void reset(generator& gen) override {
    const auto& o = options_;
    detail::conv_register_parameters(*this, {o.out_channels(), o.in_channels() / o.groups(), o.kernel_size()},
                                     o.in_channels() / o.groups() * o.kernel_size(), o.out_channels(), o.bias(), gen,
                                     weight, bias);
  }

  /// x [B, in, L] → [B, out, L_out].
  tensor<T> forward(const tensor<T>& x) const {
    check_input(x);
    return kexue::conv1d(x, weight, bias, options_.stride(), padding_for(x.size(2)), options_.dilation(),
                         options_.groups());
  }

  /// As forward(x) with the input (and, at the input's length, the output) zeroed where mask [B, L] is false.
  tensor<T> forward(const tensor<T>& x, const tensor<bool>& mask) const {
    check_input(x);
    check_mask(x, mask.shape());
    return forward_masked(x, reshape(mask.template to<T>(), {x.size(0), 1, x.size(2)}));
  }
  /// As above with a 0/1 mask of the input's element type.
  tensor<T> forward(const tensor<T>& x, const tensor<T>& mask) const {
    check_input(x);
    check_mask(x, mask.shape());
    return forward_masked(x, reshape(mask.detach(), {x.size(0), 1, x.size(2)}));
  }

  /// The (left, right) padding used for an input of length L.
  conv_padding1d padding_for(index_t length) const {
    const index_t span = options_.dilation() * (options_.kernel_size() - 1);
    switch (options_.padding()) {
      case padding_mode::causal:
        return {span, 0};
      case padding_mode::same: {
        const index_t out = (length + options_.stride() - 1) / options_.stride();
        const index_t total = std::max<index_t>(0, (out - 1) * options_.stride() + span + 1 - length);
        return {total / 2, total - total / 2};
      }
      default:
        return {0, 0};
    }
  }

  const conv1d_options& options() const { return options_; }
  std::string type_name() const override { return "conv1d"; }
  std::string extra_repr() const override {
    const auto& o = options_;
    std::string s = "in_channels=" + std::to_string(o.in_channels()) +
                    ", out_channels=" + std::to_string(o.out_channels()) +
                    ", kernel_size=" + std::to_string(o.kernel_size());
    if (o.stride() != 1) s += ", stride=" + std::to_string(o.stride());
    if (o.dilation() != 1) s += ", dilation=" + std::to_string(o.dilation());
    if (o.groups() != 1) s += ", groups=" + std::to_string(o.groups());
    s += std::string(", padding=") + to_string(o.padding()) + ", bias=" + (o.bias() ? "true" : "false");
    return s;
  }

  tensor<T> weight;  ///< `[out, in / groups, K]`
  tensor<T> bias;    ///< `[out]`, undefined without bias

 private:
  std::string describe() const { return "conv1d(" + extra_repr() + ")"; }

  void check_input(const tensor<T>& x) const {
    KEXUE_CHECK(x.rank() == 3 && x.size(1) == options_.in_channels(), shape_error, describe(),
                "expected input [batch, ", options_.in_channels(), ", length], got ", format_shape(x.shape()));
    const conv_padding1d pad = padding_for(x.size(2));
    const index_t span = options_.dilation() * (options_.kernel_size() - 1) + 1;
    KEXUE_CHECK(x.size(2) + pad.left + pad.right >= span, shape_error, describe(), "input length ", x.size(2),
                " is shorter than the dilated kernel ", span, " (input ", format_shape(x.shape()), ")");
  }

  void check_mask(const tensor<T>& x, const shape& m) const {
    KEXUE_CHECK(m.rank() == 2 && m[0] == x.size(0) && m[1] == x.size(2), shape_error, describe(), "expected mask [",
                x.size(0), ", ", x.size(2), "] for input ", format_shape(x.shape()), ", got ", format_shape(m));
  }

  tensor<T> forward_masked(const tensor<T>& x, const tensor<T>& m) const {
    auto y = kexue::conv1d(mul(x, m), weight, bias, options_.stride(), padding_for(x.size(2)), options_.dilation(),
                           options_.groups());
    return y.size(2) == x.size(2) ? mul(y, m) : y;
  }

  conv1d_options options_;
};

/// Options of nn::conv2d. Defaults: stride 1, padding 0, dilation 1, groups 1, bias on. Padding is either
/// explicit sizes (symmetric per axis, as PyTorch's padding=(h, w)) or a mode: padding_mode::same (PyTorch's
/// padding='same': output size = input size, dilation·(kernel − 1) zeros per axis with the odd one at the
/// bottom/right; stride 1 only) or padding_mode::valid (= 0). The last call of padding(...) wins.
struct conv2d_options {
  conv2d_options(index_t in_channels, index_t out_channels, conv_size2d kernel_size)
      : in_(in_channels), out_(out_channels), kernel_(kernel_size) {}
  conv2d_options& stride(conv_size2d v) {
    stride_ = v;
    return *this;
  }
  conv2d_options& padding(conv_size2d v) {
    padding_ = v;
    mode_ = padding_mode::valid;
    return *this;
  }
  conv2d_options& padding(padding_mode m) {
    padding_ = 0;
    mode_ = m;
    return *this;
  }
  conv2d_options& dilation(conv_size2d v) {
    dilation_ = v;
    return *this;
  }
  conv2d_options& groups(index_t v) {
    groups_ = v;
    return *this;
  }
  conv2d_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  index_t in_channels() const { return in_; }
  index_t out_channels() const { return out_; }
  conv_size2d kernel_size() const { return kernel_; }
  conv_size2d stride() const { return stride_; }
  conv_size2d padding() const { return padding_; }  ///< the explicit sizes ((0, 0) under a mode)
  bool padding_same() const { return mode_ == padding_mode::same; }
  padding_mode padding_by_mode() const { return mode_; }  ///< valid unless padding(padding_mode) chose another
  conv_size2d dilation() const { return dilation_; }
  index_t groups() const { return groups_; }
  bool bias() const { return bias_; }

 private:
  index_t in_, out_;
  conv_size2d kernel_, stride_ = 1, padding_ = 0, dilation_ = 1;
  padding_mode mode_ = padding_mode::valid;
  index_t groups_ = 1;
  bool bias_ = true;
};

namespace detail {
inline std::string format_size2d(conv_size2d s) { return "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")"; }

/// "in_channels=3, out_channels=8, kernel_size=(3, 3), stride=(1, 1), ..." for the 2-D layers.
template <class Options>
std::string conv2d_repr(const Options& o) {
  std::string s =
      "in_channels=" + std::to_string(o.in_channels()) + ", out_channels=" + std::to_string(o.out_channels()) +
      ", kernel_size=" + format_size2d(o.kernel_size()) + ", stride=" + format_size2d(o.stride()) + ", padding=";
  if constexpr (std::is_same_v<Options, conv2d_options>) {
    s += o.padding_by_mode() == padding_mode::valid ? format_size2d(o.padding()) : to_string(o.padding_by_mode());
  } else {
    s += format_size2d(o.padding());
  }
  if (o.dilation().h != 1 || o.dilation().w != 1) s += ", dilation=" + format_size2d(o.dilation());
  if (o.groups() != 1) s += ", groups=" + std::to_string(o.groups());
  return s + ", bias=" + (o.bias() ? "true" : "false");
}

template <class Options>
void conv2d_check_options(const char* layer, const Options& o, const std::string& repr) {
  KEXUE_CHECK(o.in_channels() >= 1 && o.out_channels() >= 1 && o.kernel_size().h >= 1 && o.kernel_size().w >= 1 &&
                  o.stride().h >= 1 && o.stride().w >= 1 && o.dilation().h >= 1 && o.dilation().w >= 1 &&
                  o.groups() >= 1 && o.padding().h >= 0 && o.padding().w >= 0,
              value_error, layer, "sizes must be at least 1 (padding at least 0), got ", repr);
  KEXUE_CHECK(o.in_channels() % o.groups() == 0 && o.out_channels() % o.groups() == 0, value_error, layer,
              "groups must divide in_channels and out_channels, got ", repr);
  if constexpr (std::is_same_v<Options, conv2d_options>) {
    KEXUE_CHECK(o.padding_by_mode() != padding_mode::causal, value_error, layer,
                "padding causal is defined for conv1d only, got ", repr);
    KEXUE_CHECK(!o.padding_same() || (o.stride().h == 1 && o.stride().w == 1), value_error, layer,
                "padding same needs stride 1, got ", repr);
  }
}
}  // namespace detail

/// @brief 2-D convolution layer, as torch.nn.Conv2d: x [B, in, H, W] → [B, out, H_out, W_out].
/// Parameters: `weight [out, in / groups, KH, KW]`, `bias [out]`. Initialisation as PyTorch:
/// U(±1/√fan_in), fan_in = in / groups · KH · KW, for both. With `.padding(padding_mode::same)` H_out = H
/// and W_out = W (PyTorch's padding='same'; stride 1 only).
/// @throws value_error for bad options (same padding with a stride, causal padding); shape_error naming the
///         configuration and the input shape.
template <class T = float>
class conv2d : public cloneable<conv2d<T>, T> {
 public:
  explicit conv2d(const conv2d_options& options, generator& gen = default_generator()) : options_(options) {
    detail::conv2d_check_options("conv2d", options, extra_repr());
    reset(gen);
  }

  void reset(generator& gen) override {
    const auto& o = options_;
    const conv_size2d k = o.kernel_size();
    detail::conv_register_parameters(*this, {o.out_channels(), o.in_channels() / o.groups(), k.h, k.w},
                                     o.in_channels() / o.groups() * k.h * k.w, o.out_channels(), o.bias(), gen, weight,
                                     bias);
  }

  /// x [B, in, H, W] → [B, out, H_out, W_out].
  tensor<T> forward(const tensor<T>& x) const {
    KEXUE_CHECK(x.rank() == 4 && x.size(1) == options_.in_channels(), shape_error, describe(),
                "expected input [batch, ", options_.in_channels(), ", height, width], got ", format_shape(x.shape()));
    if (options_.padding_same()) {
      return kexue::conv2d(x, weight, bias, options_.stride(), padding_mode::same, options_.dilation(),
                           options_.groups());
    }
    return kexue::conv2d(x, weight, bias, options_.stride(), options_.padding(), options_.dilation(),
                         options_.groups());
  }

  const conv2d_options& options() const { return options_; }
  std::string type_name() const override { return "conv2d"; }
  std::string extra_repr() const override { return detail::conv2d_repr(options_); }

  tensor<T> weight;  ///< `[out, in / groups, KH, KW]`
  tensor<T> bias;    ///< `[out]`, undefined without bias

 private:
  std::string describe() const { return "conv2d(" + extra_repr() + ")"; }
  conv2d_options options_;
};

/// Options of nn::conv_transpose2d. Defaults: stride 1, padding 0, output_padding 0, dilation 1, groups 1,
/// bias on.
struct conv_transpose2d_options {
  conv_transpose2d_options(index_t in_channels, index_t out_channels, conv_size2d kernel_size)
      : in_(in_channels), out_(out_channels), kernel_(kernel_size) {}
  conv_transpose2d_options& stride(conv_size2d v) {
    stride_ = v;
    return *this;
  }
  conv_transpose2d_options& padding(conv_size2d v) {
    padding_ = v;
    return *this;
  }
  conv_transpose2d_options& output_padding(conv_size2d v) {
    output_padding_ = v;
    return *this;
  }
  conv_transpose2d_options& dilation(conv_size2d v) {
    dilation_ = v;
    return *this;
  }
  conv_transpose2d_options& groups(index_t v) {
    groups_ = v;
    return *this;
  }
  conv_transpose2d_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  index_t in_channels() const { return in_; }
  index_t out_channels() const { return out_; }
  conv_size2d kernel_size() const { return kernel_; }
  conv_size2d stride() const { return stride_; }
  conv_size2d padding() const { return padding_; }
  conv_size2d output_padding() const { return output_padding_; }
  conv_size2d dilation() const { return dilation_; }
  index_t groups() const { return groups_; }
  bool bias() const { return bias_; }

 private:
  index_t in_, out_;
  conv_size2d kernel_, stride_ = 1, padding_ = 0, output_padding_ = 0, dilation_ = 1;
  index_t groups_ = 1;
  bool bias_ = true;
};

/// @brief 2-D transposed convolution layer, as torch.nn.ConvTranspose2d: x [B, in, H, W] → [B, out, H_out,
/// W_out] with H_out = (H − 1)·stride − 2·padding + dilation·(KH − 1) + output_padding + 1 (kernel 4, stride 2,
/// padding 1 doubles the size: the DCGAN / VQ-VAE decoder step).
/// Parameters: `weight [in, out / groups, KH, KW]` (PyTorch's layout), `bias [out]`. Initialisation as
/// PyTorch: U(±1/√fan_in) with fan_in = out / groups · KH · KW (PyTorch computes it from weight.size(1)).
/// @throws value_error for bad options (output_padding must be below the stride); shape_error for a wrong input.
template <class T = float>
class conv_transpose2d : public cloneable<conv_transpose2d<T>, T> {
 public:
  explicit conv_transpose2d(const conv_transpose2d_options& options, generator& gen = default_generator())
      : options_(options) {
    detail::conv2d_check_options("conv_transpose2d", options, extra_repr());
    KEXUE_CHECK(options.output_padding().h >= 0 && options.output_padding().w >= 0 &&
                    options.output_padding().h < options.stride().h && options.output_padding().w < options.stride().w,
                value_error, "conv_transpose2d", "output_padding must be non-negative and below the stride, got ",
                extra_repr());
    reset(gen);
  }

  void reset(generator& gen) override {
    const auto& o = options_;
    const conv_size2d k = o.kernel_size();
    detail::conv_register_parameters(*this, {o.in_channels(), o.out_channels() / o.groups(), k.h, k.w},
                                     o.out_channels() / o.groups() * k.h * k.w, o.out_channels(), o.bias(), gen, weight,
                                     bias);
  }

  /// x [B, in, H, W] → [B, out, H_out, W_out].
  tensor<T> forward(const tensor<T>& x) const {
    KEXUE_CHECK(x.rank() == 4 && x.size(1) == options_.in_channels(), shape_error, describe(),
                "expected input [batch, ", options_.in_channels(), ", height, width], got ", format_shape(x.shape()));
    return kexue::conv_transpose2d(x, weight, bias, options_.stride(), options_.padding(), options_.output_padding(),
                                   options_.groups(), options_.dilation());
  }

  const conv_transpose2d_options& options() const { return options_; }
  std::string type_name() const override { return "conv_transpose2d"; }
  std::string extra_repr() const override {
    std::string s = detail::conv2d_repr(options_);
    if (options_.output_padding().h != 0 || options_.output_padding().w != 0) {
      s += ", output_padding=" + detail::format_size2d(options_.output_padding());
    }
    return s;
  }

  tensor<T> weight;  ///< `[in, out / groups, KH, KW]`
  tensor<T> bias;    ///< `[out]`, undefined without bias

 private:
  std::string describe() const { return "conv_transpose2d(" + extra_repr() + ")"; }
  conv_transpose2d_options options_;
};

}  // namespace kexue::nn
