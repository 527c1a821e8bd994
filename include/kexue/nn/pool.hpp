// SPDX-License-Identifier: MIT
// Pooling and upsampling layers: max/avg pooling (1-D, 2-D), masked global pooling over the length, nearest upsampling.
#pragma once

#include <string>

#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/pool.hpp>

namespace kexue::nn {

/// Options of the 1-D pooling layers. Defaults: stride = kernel_size (0 means that), padding 0; for average
/// pooling count_include_pad true (PyTorch's default).
struct pool1d_options {
  explicit pool1d_options(index_t kernel_size) : kernel_(kernel_size) {}
  pool1d_options& stride(index_t v) {
    stride_ = v;
    return *this;
  }
  pool1d_options& padding(index_t v) {
    padding_ = v;
    return *this;
  }
  pool1d_options& count_include_pad(bool on) {
    count_include_pad_ = on;
    return *this;
  }
  index_t kernel_size() const { return kernel_; }
  index_t stride() const { return stride_ == 0 ? kernel_ : stride_; }
  index_t padding() const { return padding_; }
  bool count_include_pad() const { return count_include_pad_; }

 private:
  index_t kernel_, stride_ = 0, padding_ = 0;
  bool count_include_pad_ = true;
};

/// Options of the 2-D pooling layers; defaults as pool1d_options.
struct pool2d_options {
  explicit pool2d_options(conv_size2d kernel_size) : kernel_(kernel_size) {}
  pool2d_options& stride(conv_size2d v) {
    stride_ = v;
    return *this;
  }
  pool2d_options& padding(conv_size2d v) {
    padding_ = v;
    return *this;
  }
  pool2d_options& count_include_pad(bool on) {
    count_include_pad_ = on;
    return *this;
  }
  conv_size2d kernel_size() const { return kernel_; }
  conv_size2d stride() const {
    return {stride_.h == 0 ? kernel_.h : stride_.h, stride_.w == 0 ? kernel_.w : stride_.w};
  }
  conv_size2d padding() const { return padding_; }
  bool count_include_pad() const { return count_include_pad_; }

 private:
  conv_size2d kernel_, stride_ = 0, padding_ = 0;
  bool count_include_pad_ = true;
};

namespace detail {
inline std::string pool1d_repr(const pool1d_options& o, bool average) {
  std::string s = "kernel_size=" + std::to_string(o.kernel_size()) + ", stride=" + std::to_string(o.stride()) +
                  ", padding=" + std::to_string(o.padding());
  if (average && !o.count_include_pad()) s += ", count_include_pad=false";
  return s;
}
inline std::string pool2d_repr(const pool2d_options& o, bool average) {
  auto pair = [](conv_size2d v) { return "(" + std::to_string(v.h) + ", " + std::to_string(v.w) + ")"; };
  std::string s =
      "kernel_size=" + pair(o.kernel_size()) + ", stride=" + pair(o.stride()) + ", padding=" + pair(o.padding());
  if (average && !o.count_include_pad()) s += ", count_include_pad=false";
  return s;
}
}  // namespace detail

/// @brief Max pooling over the length, as torch.nn.MaxPool1d: [B, C, L] → [B, C, (L + 2·padding − K) / stride + 1].
/// No parameters. Errors as kexue::max_pool1d (value_error for bad options, shape_error for a bad input).
template <class T = float>
class max_pool1d : public cloneable<max_pool1d<T>, T> {
 public:
  explicit max_pool1d(const pool1d_options& options) : options_(options) {}
  explicit max_pool1d(index_t kernel_size) : options_(kernel_size) {}
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const {
    return kexue::max_pool1d(x, options_.kernel_size(), options_.stride(), options_.padding());
  }
  const pool1d_options& options() const { return options_; }
  std::string type_name() const override { return "max_pool1d"; }
  std::string extra_repr() const override { return detail::pool1d_repr(options_, false); }

 private:
  pool1d_options options_;
};

/// @brief Average pooling over the length, as torch.nn.AvgPool1d. No parameters.
template <class T = float>
class avg_pool1d : public cloneable<avg_pool1d<T>, T> {
 public:
  explicit avg_pool1d(const pool1d_options& options) : options_(options) {}
  explicit avg_pool1d(index_t kernel_size) : options_(kernel_size) {}
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const {
    return kexue::avg_pool1d(x, options_.kernel_size(), options_.stride(), options_.padding(),
                             options_.count_include_pad());
  }
  const pool1d_options& options() const { return options_; }
  std::string type_name() const override { return "avg_pool1d"; }
  std::string extra_repr() const override { return detail::pool1d_repr(options_, true); }

 private:
  pool1d_options options_;
};

/// @brief 2-D max pooling, as torch.nn.MaxPool2d: [B, C, H, W] → [B, C, H_out, W_out]. No parameters.
template <class T = float>
class max_pool2d : public cloneable<max_pool2d<T>, T> {
 public:
  explicit max_pool2d(const pool2d_options& options) : options_(options) {}
  explicit max_pool2d(conv_size2d kernel_size) : options_(kernel_size) {}
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const {
    return kexue::max_pool2d(x, options_.kernel_size(), options_.stride(), options_.padding());
  }
  const pool2d_options& options() const { return options_; }
  std::string type_name() const override { return "max_pool2d"; }
  std::string extra_repr() const override { return detail::pool2d_repr(options_, false); }

 private:
  pool2d_options options_;
};

/// @brief 2-D average pooling, as torch.nn.AvgPool2d. No parameters.
template <class T = float>
class avg_pool2d : public cloneable<avg_pool2d<T>, T> {
 public:
  explicit avg_pool2d(const pool2d_options& options) : options_(options) {}
  explicit avg_pool2d(conv_size2d kernel_size) : options_(kernel_size) {}
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const {
    return kexue::avg_pool2d(x, options_.kernel_size(), options_.stride(), options_.padding(),
                             options_.count_include_pad());
  }
  const pool2d_options& options() const { return options_; }
  std::string type_name() const override { return "avg_pool2d"; }
  std::string extra_repr() const override { return detail::pool2d_repr(options_, true); }

 private:
  pool2d_options options_;
};

/// @brief Global max pooling over the length (Keras GlobalMaxPool1D, channels first): [B, C, L] → [B, C].
/// forward(x, mask) ignores positions where mask [B, L] is false (bool, or 0/1 values); a row without any
/// real position gives 0. No parameters.
template <class T = float>
class global_max_pool1d : public cloneable<global_max_pool1d<T>, T> {
 public:
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const { return kexue::global_max_pool1d(x); }
  tensor<T> forward(const tensor<T>& x, const tensor<bool>& mask) const { return kexue::global_max_pool1d(x, mask); }
  tensor<T> forward(const tensor<T>& x, const tensor<T>& mask) const {
    return kexue::global_max_pool1d(x, not_equal(mask, T(0)));
  }
  std::string type_name() const override { return "global_max_pool1d"; }
};

/// @brief Global average pooling over the length: [B, C, L] → [B, C]; with a mask [B, L], the masked mean
/// over the real positions (0 for a row without any). No parameters.
template <class T = float>
class global_avg_pool1d : public cloneable<global_avg_pool1d<T>, T> {
 public:
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const { return kexue::global_avg_pool1d(x); }
  tensor<T> forward(const tensor<T>& x, const tensor<bool>& mask) const { return kexue::global_avg_pool1d(x, mask); }
  tensor<T> forward(const tensor<T>& x, const tensor<T>& mask) const {
    return kexue::global_avg_pool1d(x, not_equal(mask, T(0)));
  }
  std::string type_name() const override { return "global_avg_pool1d"; }
};

/// @brief Nearest-neighbour upsampling by integer factors, as torch.nn.Upsample(scale_factor, mode="nearest"):
/// [B, C, L] → [B, C, L·scale_w] (rank 3, uses scale.w) or [B, C, H, W] → [B, C, H·scale_h, W·scale_w]. No
/// parameters. @throws shape_error for another rank; value_error for a scale below 1.
template <class T = float>
class upsample : public cloneable<upsample<T>, T> {
 public:
  explicit upsample(conv_size2d scale) : scale_(scale) {
    KEXUE_CHECK(scale.h >= 1 && scale.w >= 1, value_error, "upsample", "scale must be at least 1, got (", scale.h, ", ",
                scale.w, ")");
  }
  void reset(generator&) override {}
  tensor<T> forward(const tensor<T>& x) const {
    KEXUE_CHECK(x.rank() == 3 || x.rank() == 4, shape_error, "upsample(" + extra_repr() + ")",
                "expected input [batch, channels, length] or [batch, channels, height, width], got ",
                format_shape(x.shape()));
    return x.rank() == 3 ? kexue::upsample_nearest1d(x, scale_.w) : kexue::upsample_nearest2d(x, scale_);
  }
  std::string type_name() const override { return "upsample"; }
  std::string extra_repr() const override {
    return "scale_factor=(" + std::to_string(scale_.h) + ", " + std::to_string(scale_.w) + "), mode=nearest";
  }

 private:
  conv_size2d scale_;
};

}  // namespace kexue::nn
