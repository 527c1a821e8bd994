// SPDX-License-Identifier: MIT
// Convolutions in PyTorch's layout: conv1d, conv2d, conv_transpose1d/2d through per-tap or im2col GEMMs.
#pragma once

#include <algorithm>  // std::min, std::max, std::fill
#include <cstring>    // std::memcpy
#include <string>     // std::to_string, for messages
#include <vector>     // the backward functions' gradient lists

#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/conv1d.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// Padding of a 1-D convolution: `left` zeros before the sequence and `right` after it. Converts from one
/// integer (the same on both sides, PyTorch's `padding=p`) or from `{left, right}` (asymmetric, as the
/// causal or even-kernel "same" paddings need).
struct conv_padding1d {
  index_t left = 0;
  index_t right = 0;
  conv_padding1d(index_t both = 0) : left(both), right(both) {}  // NOLINT: implicit on purpose
  conv_padding1d(index_t l, index_t r) : left(l), right(r) {}
};

/// A pair of sizes (height, width) for the 2-D ops: one integer means the same for both axes
/// (`stride = 2`), `{2, 1}` gives them separately.
struct conv_size2d {
  index_t h = 0;
  index_t w = 0;
  conv_size2d(index_t both = 0) : h(both), w(both) {}  // NOLINT: implicit on purpose
  conv_size2d(index_t height, index_t width) : h(height), w(width) {}
};

/// @brief 1-D convolution (cross-correlation, as torch.nn.functional.conv1d):
///        out[b, o, t] = bias[o] + Σ_{c, k} w[o, c, k] · xp[b, g·C/groups + c, t·stride + k·dilation]
///        for o in group g, where xp is x with `padding.left` zeros before and `padding.right` after it.
/// @param x      [B, C_in, L]
/// @param weight [C_out, C_in / groups, K]
/// @param bias   [C_out], or an undefined tensor for none
/// @return [B, C_out, L_out], L_out = (L + left + right − dilation·(K − 1) − 1) / stride + 1 (floor)
/// @details Gradients, each itself a differentiable op (second order works): x gets the transposed
///          convolution of g with w, w the correlation of x with g, bias Σ_{b,t} g. Stride 1 goes through
///          kernels/conv1d.hpp (kernel 3 in float: Winograd F(4, 3), half the multiply-adds of the direct sum,
///          in all three passes; double and other kernels: the GEMM micro-kernel summing the taps over the
///          input read in place);
///          otherwise one GEMM per item and group over im2col columns. Parallel over the batch (the weight
///          gradient over fixed chunks of it, added in order); results do not depend on the thread count.
///          Errors: shape_error for wrong ranks, channel counts that do not match or do not divide by
///          groups, a bias that is not [C_out], or an output length below 1; value_error for a stride,
///          dilation or groups below 1 or a negative padding.
template <class T>
tensor<T> conv1d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias = {}, index_t stride = 1,
                 conv_padding1d padding = {}, index_t dilation = 1, index_t groups = 1);

/// How a convolution pads its input, where a mode is accepted instead of explicit sizes (nn::conv1d,
/// conv2d, nn::conv2d; also reachable as nn::padding_mode).
enum class padding_mode {
  valid,   ///< no padding: L_out = (L − dilation·(K − 1) − 1) / stride + 1
  same,    ///< L_out = ceil(L / stride) (= L at stride 1, any dilation): total padding max(0, (L_out − 1)·stride +
           ///< dilation·(K − 1) + 1 − L), the smaller half on the left/top (Keras and PyTorch's padding='same')
  causal,  ///< dilation·(K − 1) zeros on the left only: out[t] sees inputs up to t (WaveNet, Keras "causal"; 1-D)
};

/// @brief 2-D convolution on NCHW tensors (torch.nn.functional.conv2d): as conv1d on both spatial axes.
/// @param x      [B, C_in, H, W]
/// @param weight [C_out, C_in / groups, KH, KW]
/// @param bias   [C_out] or undefined
/// @param padding zeros added on both sides of each axis (symmetric, as PyTorch)
/// @return [B, C_out, H_out, W_out], H_out = (H + 2·pad_h − dil_h·(KH − 1) − 1) / stride_h + 1, same for W
/// @details Gradients and errors as conv1d.
template <class T>
tensor<T> conv2d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias = {}, conv_size2d stride = 1,
                 conv_size2d padding = 0, conv_size2d dilation = 1, index_t groups = 1);

/// @brief conv2d with a padding mode instead of explicit sizes: padding_mode::valid (none) or
///        padding_mode::same, PyTorch's padding='same': along each axis dilation·(kernel − 1) zeros in total,
///        the smaller half (floor) at the top/left and the rest at the bottom/right, so H_out = H and
///        W_out = W. Stride 1 only, as in PyTorch.
/// @details Errors: value_error for same with a stride other than 1 ("conv2d: padding same needs stride 1,
///          got (2, 1)") and for padding_mode::causal (1-D only); the rest as conv2d.
template <class T>
tensor<T> conv2d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias, conv_size2d stride,
                 padding_mode padding, conv_size2d dilation = 1, index_t groups = 1);

/// @brief 2-D transposed convolution (torch.nn.functional.conv_transpose2d): the gradient of conv2d with
///        respect to its input, used as an upsampling layer (kernel 4, stride 2, padding 1 doubles H and W).
/// @param x      [B, C_in, H, W]
/// @param weight [C_in, C_out / groups, KH, KW] (PyTorch's layout for transposed convolutions)
/// @param bias   [C_out] or undefined
/// @return [B, C_out, H_out, W_out], H_out = (H − 1)·stride_h − 2·pad_h + dil_h·(KH − 1) + output_padding_h + 1
/// @details output_padding adds rows/columns at the bottom/right to pick among the input sizes a strided
///          conv2d maps to the same size; it must be smaller than the stride (value_error otherwise;
///          PyTorch also accepts values below the dilation). Gradients as conv1d (x gets conv2d(g, w)).
template <class T>
tensor<T> conv_transpose2d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias = {},
                           conv_size2d stride = 1, conv_size2d padding = 0, conv_size2d output_padding = 0,
                           index_t groups = 1, conv_size2d dilation = 1);

/// @brief 1-D transposed convolution (torch.nn.functional.conv_transpose1d): conv_transpose2d on [B, C, 1, L].
/// @param x [B, C_in, L], weight [C_in, C_out / groups, K], bias [C_out] or undefined
/// @return [B, C_out, (L − 1)·stride − 2·padding + dilation·(K − 1) + output_padding + 1]
template <class T>
tensor<T> conv_transpose1d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias = {}, index_t stride = 1,
                           index_t padding = 0, index_t output_padding = 0, index_t groups = 1, index_t dilation = 1);

// ~~~ implementation: geometry, im2col and col2im ~~~

namespace detail {

/// Hyper-parameters of a 2-D convolution (a 1-D one has height 1, no vertical padding).
struct conv_params {
  index_t stride_h = 1, stride_w = 1;
  index_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  index_t dilation_h = 1, dilation_w = 1;
  index_t groups = 1;
};

/// Sizes of a convolution x [B, C, H, W] * w [O, C/groups, KH, KW] → y [B, O, HO, WO].
struct conv_geometry {
  index_t batch, channels, height, width;
  index_t out_channels, kernel_h, kernel_w, out_h, out_w;
  conv_params p;

  index_t group_channels() const { return channels / p.groups; }
  index_t group_out_channels() const { return out_channels / p.groups; }
  index_t patch() const { return group_channels() * kernel_h * kernel_w; }  // GEMM depth per group
  index_t positions() const { return out_h * out_w; }                       // output positions per image
  index_t columns() const { return batch * positions(); }                   // im2col columns
};

/// Output length of a convolution along one axis (may be < 1 for a too-short input: callers check).
inline index_t conv_out_size(index_t in, index_t pad_before, index_t pad_after, index_t kernel, index_t dilation,
                             index_t stride) {
  const index_t span = in + pad_before + pad_after - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

inline conv_geometry conv_make_geometry(const shape& x, const shape& w, const conv_params& p) {
  conv_geometry geo{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, p};
  geo.out_h = conv_out_size(x[2], p.pad_top, p.pad_bottom, w[2], p.dilation_h, p.stride_h);
  geo.out_w = conv_out_size(x[3], p.pad_left, p.pad_right, w[3], p.dilation_w, p.stride_w);
  return geo;
}

/// Range [lo, hi) of output positions o whose input position o·stride + offset lies in [0, size).
inline void conv_valid_range(index_t offset, index_t stride, index_t size, index_t out, index_t& lo, index_t& hi) {
  // o·stride + offset >= 0  ⇔  o >= ceil(−offset / stride);  o·stride + offset < size  ⇔  o < ceil((size − offset) /
  // stride)
  auto ceil_div = [](index_t a, index_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  lo = std::min(out, std::max<index_t>(0, ceil_div(-offset, stride)));
  hi = std::max(lo, std::min(out, ceil_div(size - offset, stride)));
}

/// Rows of work per parallel chunk such that each chunk touches at least ~16K elements.
inline index_t conv_grain(index_t elements_per_row) {
  return std::max<index_t>(1, (index_t(1) << 14) / std::max<index_t>(1, elements_per_row));
}

/// cols[(c, i, j), (b, oh, ow)] = x[b, c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] (0 outside x), cols row-major
/// [C·KH·KW, B·HO·WO]. Parallel over the rows.
template <class T>
void conv_im2col(const T* x, const conv_geometry& g, T* cols) {
  const index_t rows = g.channels * g.kernel_h * g.kernel_w, n = g.columns(), p = g.positions();
  const auto& q = g.p;
  parallel_for(0, rows, conv_grain(n), [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      const index_t c = r / (g.kernel_h * g.kernel_w), i = (r / g.kernel_w) % g.kernel_h, j = r % g.kernel_w;
      index_t w_lo, w_hi;
      const index_t w_off = j * q.dilation_w - q.pad_left;
      conv_valid_range(w_off, q.stride_w, g.width, g.out_w, w_lo, w_hi);
      for (index_t b = 0; b < g.batch; ++b) {
        const T* image = x + (b * g.channels + c) * g.height * g.width;
        T* dst_image = cols + r * n + b * p;
        for (index_t oh = 0; oh < g.out_h; ++oh) {
          T* dst = dst_image + oh * g.out_w;
          const index_t ih = oh * q.stride_h - q.pad_top + i * q.dilation_h;
          if (ih < 0 || ih >= g.height) {
            std::fill(dst, dst + g.out_w, T(0));
            continue;
          }
          const T* src = image + ih * g.width + w_off;
          std::fill(dst, dst + w_lo, T(0));
          if (q.stride_w == 1) {
            if (w_hi > w_lo) std::memcpy(dst + w_lo, src + w_lo, sizeof(T) * static_cast<std::size_t>(w_hi - w_lo));
          } else {
            for (index_t ow = w_lo; ow < w_hi; ++ow) dst[ow] = src[ow * q.stride_w];
          }
          std::fill(dst + w_hi, dst + g.out_w, T(0));
        }
      }
    }
  });
}

/// The adjoint of conv_im2col: dx[b, c, ih, iw] = Σ of the cols entries that read it. dx is overwritten.
/// Parallel over the channels (each owns its rows of dx, so the sums run in a fixed order).
template <class T>
void conv_col2im(const T* cols, const conv_geometry& g, T* dx) {
  const index_t n = g.columns(), p = g.positions(), plane = g.height * g.width;
  const auto& q = g.p;
  parallel_for(0, g.channels, conv_grain(n * g.kernel_h * g.kernel_w), [&](index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c) {
      for (index_t b = 0; b < g.batch; ++b)
        std::fill(dx + (b * g.channels + c) * plane, dx + (b * g.channels + c + 1) * plane, T(0));
      for (index_t i = 0; i < g.kernel_h; ++i) {
        for (index_t j = 0; j < g.kernel_w; ++j) {
          const T* row = cols + ((c * g.kernel_h + i) * g.kernel_w + j) * n;
          index_t w_lo, w_hi;
          const index_t w_off = j * q.dilation_w - q.pad_left;
          conv_valid_range(w_off, q.stride_w, g.width, g.out_w, w_lo, w_hi);
          for (index_t b = 0; b < g.batch; ++b) {
            T* image = dx + (b * g.channels + c) * plane;
            for (index_t oh = 0; oh < g.out_h; ++oh) {
              const index_t ih = oh * q.stride_h - q.pad_top + i * q.dilation_h;
              if (ih < 0 || ih >= g.height) continue;
              const T* src = row + b * p + oh * g.out_w;
              T* dst = image + ih * g.width + w_off;
              for (index_t ow = w_lo; ow < w_hi; ++ow) dst[ow * q.stride_w] += src[ow];
            }
          }
        }
      }
    }
  });
}

// ~~~ implementation: stride-1 1-D convolutions through kernels/conv1d.hpp ~~~

/// An uninitialised work buffer of n elements from the tensor allocator's cache (no page faults once warm).
template <class T>
tensor<T> conv_scratch(index_t n) {
  return tensor<T>::empty({n});
}

/// True for the geometries kernels::conv1d_* handle: height 1, kernel height 1, stride 1.
inline bool conv_use_taps(const conv_geometry& g) {
  return g.height == 1 && g.kernel_h == 1 && g.p.stride_h == 1 && g.p.stride_w == 1 && g.p.pad_top == 0 &&
         g.p.pad_bottom == 0 && g.p.dilation_h == 1;
}

/// The kernels' description of a geometry for which conv_use_taps holds.
inline kernels::conv1d_shape conv_taps_shape(const conv_geometry& g) {
  kernels::conv1d_shape s;
  s.batch = g.batch;
  s.in_channels = g.channels;
  s.out_channels = g.out_channels;
  s.length = g.width;
  s.kernel = g.kernel_w;
  s.dilation = g.p.dilation_w;
  s.pad_left = g.p.pad_left;
  s.pad_right = g.out_w + g.p.dilation_w * (g.kernel_w - 1) - g.width - g.p.pad_left;  // L_out as given
  s.groups = g.p.groups;
  return s;
}

// ~~~ implementation: the three convolution kernels (forward, input gradient, weight gradient) ~~~

/// y [B, O, HO, WO] = conv(x, w) (+ bias[o]): the per-tap kernel where it applies, otherwise one GEMM per
/// image and group over im2col columns: y[b, g] = w_g · cols[g, b].
template <class T>
void conv_forward_kernel(const T* x, const T* w, const T* bias, const conv_geometry& g, T* y) {
  if (conv_use_taps(g)) return kernels::conv1d_forward(conv_taps_shape(g), x, w, bias, y);
  const index_t n = g.columns(), p = g.positions(), k = g.patch(), og = g.group_out_channels();
  auto cols = conv_scratch<T>(g.channels * g.kernel_h * g.kernel_w * n);
  conv_im2col(x, g, cols.data());
  parallel_for(0, g.batch, 1, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b) {
      T* yb = y + b * g.out_channels * p;
      if (bias != nullptr) {
        for (index_t o = 0; o < g.out_channels; ++o) std::fill(yb + o * p, yb + (o + 1) * p, bias[o]);
      }
      for (index_t grp = 0; grp < g.p.groups; ++grp) {
        kernels::gemm<T>(false, false, og, p, k, T(1), w + grp * og * k, k, cols.data() + grp * k * n + b * p, n,
                         bias != nullptr ? T(1) : T(0), yb + grp * og * p, p);
      }
    }
  });
}

/// dx [B, C, H, W] = convᵀ(gy, w): cols[g, b] = w_gᵀ · gy[b, g], then col2im.
template <class T>
void conv_input_grad_kernel(const T* gy, const T* w, const conv_geometry& g, T* dx) {
  if (conv_use_taps(g)) return kernels::conv1d_input_grad(conv_taps_shape(g), gy, w, dx);
  const index_t n = g.columns(), p = g.positions(), k = g.patch(), og = g.group_out_channels();
  auto cols = conv_scratch<T>(g.channels * g.kernel_h * g.kernel_w * n);
  parallel_for(0, g.batch, 1, [&](index_t b0, index_t b1) {
    for (index_t b = b0; b < b1; ++b) {
      for (index_t grp = 0; grp < g.p.groups; ++grp) {
        kernels::gemm<T>(true, false, k, p, og, T(1), w + grp * og * k, k, gy + (b * g.out_channels + grp * og) * p, p,
                         T(0), cols.data() + grp * k * n + b * p, n);
      }
    }
  });
  conv_col2im(cols.data(), g, dx);
}

/// dw [O, C/groups, KH, KW] = Σ_b gy[b, g] · cols[g, b]ᵀ, as one GEMM per group of depth B·HO·WO over gy
/// regrouped to [O, B·HO·WO].
template <class T>
void conv_weight_grad_kernel(const T* x, const T* gy, const conv_geometry& g, T* dw) {
  if (conv_use_taps(g)) return kernels::conv1d_weight_grad(conv_taps_shape(g), x, gy, dw);
  const index_t n = g.columns(), p = g.positions(), k = g.patch(), og = g.group_out_channels();
  auto cols = conv_scratch<T>(g.channels * g.kernel_h * g.kernel_w * n);
  conv_im2col(x, g, cols.data());
  auto gt = conv_scratch<T>(g.out_channels * n);  // gy as [O, B, HO·WO]
  parallel_for(0, g.out_channels, conv_grain(n), [&](index_t o0, index_t o1) {
    for (index_t o = o0; o < o1; ++o) {
      for (index_t b = 0; b < g.batch; ++b) {
        std::memcpy(gt.data() + o * n + b * p, gy + (b * g.out_channels + o) * p,
                    sizeof(T) * static_cast<std::size_t>(p));
      }
    }
  });
  for (index_t grp = 0; grp < g.p.groups; ++grp) {
    kernels::gemm<T>(false, true, og, k, n, T(1), gt.data() + grp * og * n, n, cols.data() + grp * k * n, n, T(0),
                     dw + grp * og * k, k);
  }
}

// ~~~ implementation: the recorded ops, each differentiating into the others ~~~
//
// The three maps are one trilinear form ⟨conv(x, w), g⟩ = ⟨x, convᵀ(g, w)⟩ = ⟨w, corr(x, g)⟩, so the
// gradient of each is made of the other two and every order of differentiation stays in this family.

template <class T>
tensor<T> conv_input_grad_op(const tensor<T>& gy, const tensor<T>& w, const shape& x_shape, const conv_params& p);
template <class T>
tensor<T> conv_weight_grad_op(const tensor<T>& x, const tensor<T>& gy, const shape& w_shape, const conv_params& p);

/// conv(x, w) + bias on 4-D tensors; the arguments are validated by the caller.
template <class T>
tensor<T> conv_forward_op(const tensor<T>& x, const tensor<T>& w, const tensor<T>& bias, const conv_params& p) {
  const conv_geometry g = conv_make_geometry(x.shape(), w.shape(), p);
  auto y = tensor<T>::empty({g.batch, g.out_channels, g.out_h, g.out_w});
  conv_forward_kernel(x.data(), w.data(), bias.defined() ? bias.data() : nullptr, g, y.data());
  return autograd::record<T>("convolution", y, {x, w, bias}, [x, w, bias, p](auto) {
    return [x, w, bias, p](const tensor<T>& gy) {
      tensor<T> gx, gw, gb;
      if (x.requires_grad()) gx = conv_input_grad_op(gy, w, x.shape(), p);
      if (w.requires_grad()) gw = conv_weight_grad_op(x, gy, w.shape(), p);
      if (bias.defined() && bias.requires_grad()) gb = sum(gy, {0, 2, 3});
      return std::vector<tensor<T>>{gx, gw, gb};
    };
  });
}

/// convᵀ(gy, w): the x-shaped adjoint of conv(·, w) applied to gy.
template <class T>
tensor<T> conv_input_grad_op(const tensor<T>& gy, const tensor<T>& w, const shape& x_shape, const conv_params& p) {
  const conv_geometry g = conv_make_geometry(x_shape, w.shape(), p);
  KEXUE_ASSERT(gy.shape() == shape({g.batch, g.out_channels, g.out_h, g.out_w}));
  auto dx = tensor<T>::empty(x_shape);
  conv_input_grad_kernel(gy.data(), w.data(), g, dx.data());
  return autograd::record<T>("conv_transpose", dx, {gy, w}, [gy, w, p](auto) {
    return [gy, w, p](const tensor<T>& u) {  // u: x-shaped
      tensor<T> ggy, gw;
      if (gy.requires_grad()) ggy = conv_forward_op(u, w, tensor<T>(), p);
      if (w.requires_grad()) gw = conv_weight_grad_op(u, gy, w.shape(), p);
      return std::vector<tensor<T>>{ggy, gw};
    };
  });
}

/// corr(x, gy): the w-shaped adjoint of conv(x, ·) applied to gy.
template <class T>
tensor<T> conv_weight_grad_op(const tensor<T>& x, const tensor<T>& gy, const shape& w_shape, const conv_params& p) {
  const conv_geometry g = conv_make_geometry(x.shape(), w_shape, p);
  KEXUE_ASSERT(gy.shape() == shape({g.batch, g.out_channels, g.out_h, g.out_w}));
  auto dw = tensor<T>::empty(w_shape);
  conv_weight_grad_kernel(x.data(), gy.data(), g, dw.data());
  return autograd::record<T>("conv_weight_grad", dw, {x, gy}, [x, gy, p](auto) {
    return [x, gy, p](const tensor<T>& u) {  // u: w-shaped
      tensor<T> gx, ggy;
      if (x.requires_grad()) gx = conv_input_grad_op(gy, u, x.shape(), p);
      if (gy.requires_grad()) ggy = conv_forward_op(x, u, tensor<T>(), p);
      return std::vector<tensor<T>>{gx, ggy};
    };
  });
}

// ~~~ implementation: argument checks ~~~

inline void conv_check_hyper(const char* op, index_t stride_h, index_t stride_w, index_t dil_h, index_t dil_w,
                             index_t groups, index_t pad_a, index_t pad_b, index_t pad_c, index_t pad_d) {
  KEXUE_CHECK(
      stride_h >= 1 && stride_w >= 1, value_error, op, "stride must be at least 1, got ",
      stride_h == stride_w ? std::to_string(stride_h) : std::to_string(stride_h) + "x" + std::to_string(stride_w));
  KEXUE_CHECK(dil_h >= 1 && dil_w >= 1, value_error, op, "dilation must be at least 1, got ",
              dil_h == dil_w ? std::to_string(dil_h) : std::to_string(dil_h) + "x" + std::to_string(dil_w));
  KEXUE_CHECK(groups >= 1, value_error, op, "groups must be at least 1, got ", groups);
  KEXUE_CHECK(pad_a >= 0 && pad_b >= 0 && pad_c >= 0 && pad_d >= 0, value_error, op,
              "padding must be non-negative, got ",
              pad_a < 0   ? pad_a
              : pad_b < 0 ? pad_b
              : pad_c < 0 ? pad_c
                          : pad_d);
}

/// Checks x [B, C, (H,) W], w [O, C/groups, (KH,) K], bias [O] for a convolution of `rank` spatial axes.
template <class T>
void conv_check_tensors(const char* op, int spatial, const tensor<T>& x, const tensor<T>& w, const tensor<T>& bias,
                        index_t groups) {
  const int rank = spatial + 2;
  const char* x_layout = spatial == 1 ? "[batch, channels, length]" : "[batch, channels, height, width]";
  const char* w_layout = spatial == 1 ? "[out_channels, in_channels / groups, kernel]"
                                      : "[out_channels, in_channels / groups, kernel_h, kernel_w]";
  KEXUE_CHECK(x.rank() == rank, shape_error, op, "expected input ", x_layout, ", got ", format_shape(x.shape()));
  KEXUE_CHECK(w.rank() == rank, shape_error, op, "expected weight ", w_layout, ", got ", format_shape(w.shape()));
  KEXUE_CHECK(x.size(1) % groups == 0 && w.size(0) % groups == 0, shape_error, op, "groups ", groups,
              " must divide the input channels and the output channels (input ", format_shape(x.shape()), ", weight ",
              format_shape(w.shape()), ")");
  KEXUE_CHECK(w.size(1) * groups == x.size(1), shape_error, op, "weight ", format_shape(w.shape()), " with groups ",
              groups, " expects ", w.size(1) * groups, " input channels, got input ", format_shape(x.shape()));
  for (int d = 2; d < rank; ++d) {
    KEXUE_CHECK(w.size(d) >= 1, shape_error, op, "kernel size must be at least 1, got weight ",
                format_shape(w.shape()));
  }
  if (bias.defined()) {
    KEXUE_CHECK(bias.rank() == 1 && bias.size(0) == w.size(0), shape_error, op, "expected bias [", w.size(0), "], got ",
                format_shape(bias.shape()));
  }
}

}  // namespace detail

// ~~~ implementation: public functions ~~~

template <class T>
tensor<T> conv1d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias, index_t stride,
                 conv_padding1d padding, index_t dilation, index_t groups) {
  detail::conv_check_hyper("conv1d", stride, stride, dilation, dilation, groups, padding.left, padding.right, 0, 0);
  detail::conv_check_tensors("conv1d", 1, x, weight, bias, groups);
  detail::conv_params p;
  p.stride_w = stride;
  p.pad_left = padding.left;
  p.pad_right = padding.right;
  p.dilation_w = dilation;
  p.groups = groups;
  const index_t out = detail::conv_out_size(x.size(2), padding.left, padding.right, weight.size(2), dilation, stride);
  KEXUE_CHECK(out >= 1, shape_error, "conv1d", "input length ", x.size(2), " with padding (", padding.left, ", ",
              padding.right, ") is shorter than the dilated kernel ", dilation * (weight.size(2) - 1) + 1, " (input ",
              format_shape(x.shape()), ", weight ", format_shape(weight.shape()), ")");
  auto y = detail::conv_forward_op(unsqueeze(x, 2), unsqueeze(weight, 2), bias, p);
  return squeeze(y, 2);
}

template <class T>
tensor<T> conv2d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias, conv_size2d stride,
                 conv_size2d padding, conv_size2d dilation, index_t groups) {
  detail::conv_check_hyper("conv2d", stride.h, stride.w, dilation.h, dilation.w, groups, padding.h, padding.w, 0, 0);
  detail::conv_check_tensors("conv2d", 2, x, weight, bias, groups);
  detail::conv_params p{stride.h, stride.w, padding.h, padding.h, padding.w, padding.w, dilation.h, dilation.w, groups};
  const detail::conv_geometry g = detail::conv_make_geometry(x.shape(), weight.shape(), p);
  KEXUE_CHECK(g.out_h >= 1 && g.out_w >= 1, shape_error, "conv2d", "input ", format_shape(x.shape()), " with padding (",
              padding.h, ", ", padding.w, ") is smaller than the dilated kernel (weight ", format_shape(weight.shape()),
              ", dilation (", dilation.h, ", ", dilation.w, "))");
  return detail::conv_forward_op(x, weight, bias, p);
}

template <class T>
tensor<T> conv2d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias, conv_size2d stride,
                 padding_mode padding, conv_size2d dilation, index_t groups) {
  KEXUE_CHECK(padding != padding_mode::causal, value_error, "conv2d",
              "padding causal is defined for conv1d only; use valid, same or explicit sizes");
  if (padding == padding_mode::valid) return conv2d(x, weight, bias, stride, conv_size2d(0), dilation, groups);
  KEXUE_CHECK(stride.h == 1 && stride.w == 1, value_error, "conv2d", "padding same needs stride 1, got (", stride.h,
              ", ", stride.w, ")");
  detail::conv_check_hyper("conv2d", 1, 1, dilation.h, dilation.w, groups, 0, 0, 0, 0);
  detail::conv_check_tensors("conv2d", 2, x, weight, bias, groups);
  const index_t total_h = dilation.h * (weight.size(2) - 1), total_w = dilation.w * (weight.size(3) - 1);
  detail::conv_params p{1,          1,          total_h / 2, total_h - total_h / 2, total_w / 2, total_w - total_w / 2,
                        dilation.h, dilation.w, groups};
  return detail::conv_forward_op(x, weight, bias, p);
}

namespace detail {

/// conv_transpose on 4-D x and weight, validated with messages naming `op` and the caller's shapes
/// (`x_shown`, `w_shown`: the 3-D ones for conv_transpose1d).
template <class T>
tensor<T> conv_transpose_checked(const char* op, const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias,
                                 conv_size2d stride, conv_size2d padding, conv_size2d output_padding, index_t groups,
                                 conv_size2d dilation, const shape& x_shown, const shape& w_shown) {
  const bool one = x_shown.rank() == 3;
  auto pair = [one](conv_size2d v) {
    return one ? std::to_string(v.w) : "(" + std::to_string(v.h) + ", " + std::to_string(v.w) + ")";
  };
  KEXUE_CHECK(weight.size(0) == x.size(1), shape_error, op, "weight ", format_shape(w_shown), " expects ",
              weight.size(0), " input channels, got input ", format_shape(x_shown));
  KEXUE_CHECK(x.size(1) % groups == 0, shape_error, op, "groups ", groups, " must divide the input channels (input ",
              format_shape(x_shown), ")");
  KEXUE_CHECK(output_padding.h < stride.h && output_padding.w < stride.w, value_error, op, "output_padding ",
              pair(output_padding), " must be smaller than the stride ", pair(stride));
  const index_t out_channels = weight.size(1) * groups;
  if (bias.defined()) {
    KEXUE_CHECK(bias.rank() == 1 && bias.size(0) == out_channels, shape_error, op, "expected bias [", out_channels,
                "], got ", format_shape(bias.shape()));
  }
  const index_t oh =
      (x.size(2) - 1) * stride.h - 2 * padding.h + dilation.h * (weight.size(2) - 1) + output_padding.h + 1;
  const index_t ow =
      (x.size(3) - 1) * stride.w - 2 * padding.w + dilation.w * (weight.size(3) - 1) + output_padding.w + 1;
  KEXUE_CHECK(oh >= 1 && ow >= 1 && x.size(2) >= 1 && x.size(3) >= 1, shape_error, op, "output size ",
              pair(conv_size2d(oh, ow)), " is below 1 (input ", format_shape(x_shown), ", weight ",
              format_shape(w_shown), ", padding ", pair(padding), ")");
  conv_params p{stride.h, stride.w, padding.h, padding.h, padding.w, padding.w, dilation.h, dilation.w, groups};
  auto y = conv_input_grad_op(x, weight, shape{x.size(0), out_channels, oh, ow}, p);
  if (bias.defined()) y = add(y, reshape(bias, {1, out_channels, 1, 1}));
  return y;
}

}  // namespace detail

template <class T>
tensor<T> conv_transpose2d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias, conv_size2d stride,
                           conv_size2d padding, conv_size2d output_padding, index_t groups, conv_size2d dilation) {
  const char* op = "conv_transpose2d";
  detail::conv_check_hyper(op, stride.h, stride.w, dilation.h, dilation.w, groups, padding.h, padding.w,
                           output_padding.h, output_padding.w);
  KEXUE_CHECK(x.rank() == 4, shape_error, op, "expected input [batch, channels, height, width], got ",
              format_shape(x.shape()));
  KEXUE_CHECK(weight.rank() == 4, shape_error, op,
              "expected weight [in_channels, out_channels / groups, kernel_h, kernel_w], got ",
              format_shape(weight.shape()));
  return detail::conv_transpose_checked(op, x, weight, bias, stride, padding, output_padding, groups, dilation,
                                        x.shape(), weight.shape());
}

template <class T>
tensor<T> conv_transpose1d(const tensor<T>& x, const tensor<T>& weight, const tensor<T>& bias, index_t stride,
                           index_t padding, index_t output_padding, index_t groups, index_t dilation) {
  const char* op = "conv_transpose1d";
  detail::conv_check_hyper(op, stride, stride, dilation, dilation, groups, padding, output_padding, 0, 0);
  KEXUE_CHECK(x.rank() == 3, shape_error, op, "expected input [batch, channels, length], got ",
              format_shape(x.shape()));
  KEXUE_CHECK(weight.rank() == 3, shape_error, op, "expected weight [in_channels, out_channels / groups, kernel], got ",
              format_shape(weight.shape()));
  auto y = detail::conv_transpose_checked(op, unsqueeze(x, 2), unsqueeze(weight, 2), bias, conv_size2d(1, stride),
                                          conv_size2d(0, padding), conv_size2d(0, output_padding), groups,
                                          conv_size2d(1, dilation), x.shape(), weight.shape());
  return squeeze(y, 2);
}

}  // namespace kexue
