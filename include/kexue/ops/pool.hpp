// SPDX-License-Identifier: MIT
// Pooling in PyTorch's layout: max/avg pooling (1-D, 2-D), masked global pooling over the length, nearest upsampling.
#pragma once

#include <algorithm>  // std::min, std::max
#include <cmath>      // std::isnan
#include <limits>     // infinity, for masked positions of global max pooling
#include <string>     // std::to_string, for messages
#include <vector>     // the backward functions' gradient lists

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/conv.hpp>  // conv_size2d
#include <kexue/ops/index.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reduce_minmax.hpp>
#include <kexue/ops/repeat.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// @brief Max pooling over windows of an NCHW tensor (torch.nn.functional.max_pool2d, floor mode).
/// @param x [B, C, H, W]
/// @param kernel window size; `stride` 0 (the default) means stride = kernel, as PyTorch
/// @param padding implicit −∞ on both sides of each axis, at most kernel / 2 (PyTorch's rule)
/// @return [B, C, H_out, W_out], H_out = (H + 2·pad_h − KH) / stride_h + 1
/// @details The first largest element of each window is taken (a NaN wins, as PyTorch). Gradient: g goes to
///          that element only; it is a scatter whose own gradient is a gather, so second order works.
///          Errors: shape_error for a rank other than 4 or an output size below 1; value_error for a kernel
///          or stride below 1 (stride 0 = kernel), a negative padding or one above kernel / 2.
template <class T>
tensor<T> max_pool2d(const tensor<T>& x, conv_size2d kernel, conv_size2d stride = 0, conv_size2d padding = 0);

/// @brief Max pooling over the length of [B, C, L] (torch.nn.functional.max_pool1d): max_pool2d on [B, C, 1, L].
/// @return [B, C, (L + 2·padding − kernel) / stride + 1]; stride 0 means stride = kernel.
template <class T>
tensor<T> max_pool1d(const tensor<T>& x, index_t kernel, index_t stride = 0, index_t padding = 0);

/// @brief Average pooling (torch.nn.functional.avg_pool2d, floor mode): the mean of each window of the
///        zero-padded input. With `count_include_pad` (PyTorch's default) the divisor is always KH·KW;
///        without it, the number of window positions inside the unpadded input.
/// @param x [B, C, H, W]; stride 0 means stride = kernel; padding at most kernel / 2
/// @return [B, C, H_out, W_out] as max_pool2d
/// @details Linear in x. Gradient: the adjoint spreading g / divisor back over each window, itself recorded
///          with the pooling as its gradient (any order). Errors as max_pool2d.
template <class T>
tensor<T> avg_pool2d(const tensor<T>& x, conv_size2d kernel, conv_size2d stride = 0, conv_size2d padding = 0,
                     bool count_include_pad = true);

/// @brief Average pooling over the length of [B, C, L] (torch.nn.functional.avg_pool1d): avg_pool2d on [B, C, 1, L].
template <class T>
tensor<T> avg_pool1d(const tensor<T>& x, index_t kernel, index_t stride = 0, index_t padding = 0,
                     bool count_include_pad = true);

/// @brief Largest value of each channel over the length: x [B, C, L] → [B, C] (Keras GlobalMaxPool1D on a
///        channels-first tensor). With a mask [B, L] (true = real position), padded positions are ignored;
///        a row with no real position gives 0.
/// @details Gradient: g goes to the first largest element of each row (as max_with_indices); second order
///          works. Errors: shape_error for a rank other than 3, an empty length, or a mask that is not [B, L].
template <class T>
tensor<T> global_max_pool1d(const tensor<T>& x, const tensor<bool>& mask = {});

/// @brief Mean of each channel over the length: x [B, C, L] → [B, C]. With a mask [B, L] it is the masked
///        mean Σ_t x·m / Σ_t m over the real positions (a row with none gives 0).
/// @details Composed of differentiable ops (any order). Errors as global_max_pool1d.
template <class T>
tensor<T> global_avg_pool1d(const tensor<T>& x, const tensor<bool>& mask = {});

/// @brief Nearest-neighbour upsampling of [B, C, L] by an integer factor (torch.nn.functional.interpolate
///        with mode "nearest" and an integer scale_factor): out[b, c, t] = x[b, c, t / scale].
/// @details Gradient: the sum of g over each group of copies (repeat_interleave). Errors: shape_error for a
///          rank other than 3; value_error for a scale below 1.
template <class T>
tensor<T> upsample_nearest1d(const tensor<T>& x, index_t scale);

/// @brief Nearest-neighbour upsampling of [B, C, H, W] by integer factors: out[b, c, i, j] =
///        x[b, c, i / scale_h, j / scale_w]. Errors as upsample_nearest1d (rank 4).
template <class T>
tensor<T> upsample_nearest2d(const tensor<T>& x, conv_size2d scale);

// ~~~ implementation: window geometry ~~~

namespace detail {

struct pool_geometry {
  index_t batch, channels, height, width;
  index_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  index_t out_h, out_w;
  index_t planes() const { return batch * channels; }
};

/// Validates a 2-D pooling (op names the public function, `spatial` its number of spatial axes for the
/// messages) and returns its geometry.
inline pool_geometry pool_make_geometry(const char* op, int spatial, const shape& s, conv_size2d kernel,
                                        conv_size2d stride, conv_size2d padding) {
  if (stride.h == 0) stride.h = kernel.h;
  if (stride.w == 0) stride.w = kernel.w;
  const bool one = spatial == 1;
  KEXUE_CHECK(kernel.h >= 1 && kernel.w >= 1, value_error, op, "kernel size must be at least 1, got ",
              one            ? kernel.w
              : kernel.h < 1 ? kernel.h
                             : kernel.w);
  KEXUE_CHECK(stride.h >= 1 && stride.w >= 1, value_error, op,
              "stride must be at least 1 (or 0 for the kernel size), got ",
              one            ? stride.w
              : stride.h < 1 ? stride.h
                             : stride.w);
  KEXUE_CHECK(padding.h >= 0 && padding.w >= 0, value_error, op, "padding must be non-negative, got ",
              one             ? padding.w
              : padding.h < 0 ? padding.h
                              : padding.w);
  KEXUE_CHECK(2 * padding.h <= kernel.h && 2 * padding.w <= kernel.w, value_error, op,
              "padding must be at most half the kernel size, got padding ", one ? padding.w : padding.h,
              one ? "" : ", ", one ? "" : std::to_string(padding.w), " for kernel ", one ? kernel.w : kernel.h,
              one ? "" : ", ", one ? "" : std::to_string(kernel.w));
  pool_geometry g{s[0], s[1], s[2], s[3], kernel.h, kernel.w, stride.h, stride.w, padding.h, padding.w, 0, 0};
  const index_t span_h = s[2] + 2 * padding.h - kernel.h, span_w = s[3] + 2 * padding.w - kernel.w;
  g.out_h = span_h < 0 ? 0 : span_h / stride.h + 1;
  g.out_w = span_w < 0 ? 0 : span_w / stride.w + 1;
  return g;
}

inline void pool_check_output(const char* op, int spatial, const pool_geometry& g, const shape& s) {
  KEXUE_CHECK(g.out_h >= 1 && g.out_w >= 1, shape_error, op, "input ", format_shape(s), " is smaller than the kernel ",
              spatial == 1 ? std::to_string(g.kernel_w) : std::to_string(g.kernel_h) + "x" + std::to_string(g.kernel_w),
              " with padding ",
              spatial == 1 ? std::to_string(g.pad_w) : std::to_string(g.pad_h) + "x" + std::to_string(g.pad_w));
}

/// Divisor of window (oh, ow): KH·KW, or the count of its positions inside the input.
inline index_t pool_divisor(const pool_geometry& g, index_t oh, index_t ow, bool count_include_pad) {
  if (count_include_pad) return g.kernel_h * g.kernel_w;
  const index_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  const index_t rows = std::min(h0 + g.kernel_h, g.height) - std::max<index_t>(h0, 0);
  const index_t cols = std::min(w0 + g.kernel_w, g.width) - std::max<index_t>(w0, 0);
  return std::max<index_t>(rows, 0) * std::max<index_t>(cols, 0);
}

/// Calls f(out, in, divisor) for every (window, input element inside the input) pair of the planes
/// [plane_begin, plane_end), with flat offsets into the output and the input: the loop shared by average
/// pooling and its adjoint.
template <class F>
void pool_for_each_window(const pool_geometry& g, index_t plane_begin, index_t plane_end, bool count_include_pad,
                          F&& f) {
  for (index_t pl = plane_begin; pl < plane_end; ++pl) {
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      const index_t h0 = oh * g.stride_h - g.pad_h;
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const index_t w0 = ow * g.stride_w - g.pad_w;
        const index_t divisor = pool_divisor(g, oh, ow, count_include_pad);
        const index_t out = (pl * g.out_h + oh) * g.out_w + ow;
        for (index_t ih = std::max<index_t>(h0, 0); ih < std::min(h0 + g.kernel_h, g.height); ++ih) {
          for (index_t iw = std::max<index_t>(w0, 0); iw < std::min(w0 + g.kernel_w, g.width); ++iw) {
            f(out, (pl * g.height + ih) * g.width + iw, divisor);
          }
        }
      }
    }
  }
}

template <class T>
tensor<T> avg_pool_adjoint_op(const tensor<T>& g, const shape& x_shape, const pool_geometry& geo,
                              bool count_include_pad);

/// Average pooling of a validated [B, C, H, W] tensor.
template <class T>
tensor<T> avg_pool_op(const tensor<T>& x, const pool_geometry& geo, bool count_include_pad) {
  auto out = zeros<T>({geo.batch, geo.channels, geo.out_h, geo.out_w});
  const T* in = x.data();
  T* o = out.data();
  parallel_for(0, geo.planes(), 16, [&](index_t p0, index_t p1) {
    // Sum each window, then divide (as PyTorch; the divisor is applied once per output).
    pool_for_each_window(geo, p0, p1, count_include_pad, [&](index_t oi, index_t ii, index_t) { o[oi] += in[ii]; });
    for (index_t pl = p0; pl < p1; ++pl) {
      for (index_t oh = 0; oh < geo.out_h; ++oh) {
        for (index_t ow = 0; ow < geo.out_w; ++ow) {
          const index_t divisor = pool_divisor(geo, oh, ow, count_include_pad);
          o[(pl * geo.out_h + oh) * geo.out_w + ow] /= static_cast<T>(divisor);
        }
      }
    }
  });
  const shape x_shape = x.shape();
  return autograd::record<T>("avg_pool", out, {x}, [x_shape, geo, count_include_pad](auto) {
    return [x_shape, geo, count_include_pad](const tensor<T>& g) {
      return std::vector<tensor<T>>{avg_pool_adjoint_op(g, x_shape, geo, count_include_pad)};
    };
  });
}

/// The adjoint of average pooling: every input element receives g / divisor of each window holding it.
template <class T>
tensor<T> avg_pool_adjoint_op(const tensor<T>& g, const shape& x_shape, const pool_geometry& geo,
                              bool count_include_pad) {
  auto dx = zeros<T>(x_shape);
  const T* in = g.data();
  T* o = dx.data();
  parallel_for(0, geo.planes(), 16, [&](index_t p0, index_t p1) {
    pool_for_each_window(geo, p0, p1, count_include_pad,
                         [&](index_t oi, index_t ii, index_t divisor) { o[ii] += in[oi] / static_cast<T>(divisor); });
  });
  return autograd::record<T>("avg_pool_backward", dx, {g}, [geo, count_include_pad](auto) {
    return [geo, count_include_pad](const tensor<T>& u) {
      return std::vector<tensor<T>>{avg_pool_op(u, geo, count_include_pad)};
    };
  });
}

/// Flat position (within its H·W plane) of the maximum of each window, [B, C, HO·WO].
template <class T>
tensor<index_t> max_pool_indices(const tensor<T>& x, const pool_geometry& g) {
  auto idx = tensor<index_t>::empty({g.batch, g.channels, g.out_h * g.out_w});
  const T* in = x.data();
  index_t* out = idx.data();
  parallel_for(0, g.planes(), 16, [&](index_t p0, index_t p1) {
    for (index_t pl = p0; pl < p1; ++pl) {
      const T* plane = in + pl * g.height * g.width;
      for (index_t oh = 0; oh < g.out_h; ++oh) {
        const index_t h0 = oh * g.stride_h - g.pad_h;
        for (index_t ow = 0; ow < g.out_w; ++ow) {
          const index_t w0 = ow * g.stride_w - g.pad_w;
          index_t best = -1;
          T best_value = -std::numeric_limits<T>::infinity();
          for (index_t ih = std::max<index_t>(h0, 0); ih < std::min(h0 + g.kernel_h, g.height); ++ih) {
            for (index_t iw = std::max<index_t>(w0, 0); iw < std::min(w0 + g.kernel_w, g.width); ++iw) {
              const T v = plane[ih * g.width + iw];
              if (best < 0 || v > best_value || (std::isnan(v) && !std::isnan(best_value))) {
                best = ih * g.width + iw;
                best_value = v;
              }
            }
          }
          out[(pl * g.out_h + oh) * g.out_w + ow] = best;
        }
      }
    }
  });
  return idx;
}

/// Checks x [B, C, L] and mask [B, L] for the global poolings; returns the mask as T [B, 1, L] (or undefined).
template <class T>
tensor<T> global_pool_mask(const char* op, const tensor<T>& x, const tensor<bool>& mask) {
  KEXUE_CHECK(x.rank() == 3, shape_error, op, "expected input [batch, channels, length], got ",
              format_shape(x.shape()));
  KEXUE_CHECK(x.size(2) >= 1, shape_error, op, "the length axis is empty (input ", format_shape(x.shape()), ")");
  if (!mask.defined()) return tensor<T>();
  KEXUE_CHECK(mask.rank() == 2 && mask.size(0) == x.size(0) && mask.size(1) == x.size(2), shape_error, op,
              "expected mask [", x.size(0), ", ", x.size(2), "] for input ", format_shape(x.shape()), ", got ",
              format_shape(mask.shape()));
  return reshape(mask.template to<T>(), {x.size(0), 1, x.size(2)});
}

}  // namespace detail

// ~~~ implementation: public functions ~~~

template <class T>
tensor<T> max_pool2d(const tensor<T>& x, conv_size2d kernel, conv_size2d stride, conv_size2d padding) {
  KEXUE_CHECK(x.rank() == 4, shape_error, "max_pool2d", "expected input [batch, channels, height, width], got ",
              format_shape(x.shape()));
  const auto g = detail::pool_make_geometry("max_pool2d", 2, x.shape(), kernel, stride, padding);
  detail::pool_check_output("max_pool2d", 2, g, x.shape());
  const auto idx = detail::max_pool_indices(x, g);
  auto flat = reshape(x, {g.batch, g.channels, g.height * g.width});
  return reshape(gather(flat, 2, idx), {g.batch, g.channels, g.out_h, g.out_w});
}

template <class T>
tensor<T> max_pool1d(const tensor<T>& x, index_t kernel, index_t stride, index_t padding) {
  KEXUE_CHECK(x.rank() == 3, shape_error, "max_pool1d", "expected input [batch, channels, length], got ",
              format_shape(x.shape()));
  auto x4 = unsqueeze(x, 2);
  const auto g = detail::pool_make_geometry("max_pool1d", 1, x4.shape(), {1, kernel}, {1, stride}, {0, padding});
  detail::pool_check_output("max_pool1d", 1, g, x.shape());
  const auto idx = detail::max_pool_indices(x4, g);
  return gather(x, 2, idx);
}

template <class T>
tensor<T> avg_pool2d(const tensor<T>& x, conv_size2d kernel, conv_size2d stride, conv_size2d padding,
                     bool count_include_pad) {
  KEXUE_CHECK(x.rank() == 4, shape_error, "avg_pool2d", "expected input [batch, channels, height, width], got ",
              format_shape(x.shape()));
  const auto g = detail::pool_make_geometry("avg_pool2d", 2, x.shape(), kernel, stride, padding);
  detail::pool_check_output("avg_pool2d", 2, g, x.shape());
  return detail::avg_pool_op(x, g, count_include_pad);
}

template <class T>
tensor<T> avg_pool1d(const tensor<T>& x, index_t kernel, index_t stride, index_t padding, bool count_include_pad) {
  KEXUE_CHECK(x.rank() == 3, shape_error, "avg_pool1d", "expected input [batch, channels, length], got ",
              format_shape(x.shape()));
  auto x4 = unsqueeze(x, 2);
  const auto g = detail::pool_make_geometry("avg_pool1d", 1, x4.shape(), {1, kernel}, {1, stride}, {0, padding});
  detail::pool_check_output("avg_pool1d", 1, g, x.shape());
  return squeeze(detail::avg_pool_op(x4, g, count_include_pad), 2);
}

template <class T>
tensor<T> global_max_pool1d(const tensor<T>& x, const tensor<bool>& mask) {
  const auto m = detail::global_pool_mask("global_max_pool1d", x, mask);
  if (!m.defined()) return max_with_indices(x, 2).values;
  // Padded positions become −∞; a row with no real position has max −∞ and is replaced by 0.
  auto masked = where(unsqueeze(mask, 1), x, -std::numeric_limits<T>::infinity());
  auto best = max_with_indices(masked, 2).values;
  auto any = tensor<bool>::empty({x.size(0), 1});
  for (index_t b = 0; b < x.size(0); ++b) {
    bool seen = false;
    for (index_t t = 0; t < x.size(2); ++t) seen = seen || mask.data()[b * x.size(2) + t];
    any.data()[b] = seen;
  }
  return where(any, best, T(0));
}

template <class T>
tensor<T> global_avg_pool1d(const tensor<T>& x, const tensor<bool>& mask) {
  const auto m = detail::global_pool_mask("global_avg_pool1d", x, mask);
  if (!m.defined()) return mean(x, {2});
  auto count = sum(m, {2});  // [B, 1], constant
  for (index_t b = 0; b < count.numel(); ++b) count.data()[b] = std::max(count.data()[b], T(1));
  return div(sum(mul(x, m), {2}), count);
}

template <class T>
tensor<T> upsample_nearest1d(const tensor<T>& x, index_t scale) {
  KEXUE_CHECK(x.rank() == 3, shape_error, "upsample_nearest1d", "expected input [batch, channels, length], got ",
              format_shape(x.shape()));
  KEXUE_CHECK(scale >= 1, value_error, "upsample_nearest1d", "scale must be at least 1, got ", scale);
  return repeat_interleave(x, scale, 2);
}

template <class T>
tensor<T> upsample_nearest2d(const tensor<T>& x, conv_size2d scale) {
  KEXUE_CHECK(x.rank() == 4, shape_error, "upsample_nearest2d", "expected input [batch, channels, height, width], got ",
              format_shape(x.shape()));
  KEXUE_CHECK(scale.h >= 1 && scale.w >= 1, value_error, "upsample_nearest2d", "scale must be at least 1, got (",
              scale.h, ", ", scale.w, ")");
  return repeat_interleave(repeat_interleave(x, scale.h, 2), scale.w, 3);
}

}  // namespace kexue
