// SPDX-License-Identifier: MIT
// Normalisation ops: fused layer_norm and rms_norm over trailing axes, batch_norm (training and evaluation).
#pragma once

#include <algorithm>  // std::max, std::min, std::copy
#include <cmath>      // std::sqrt
#include <string>     // messages
#include <utility>    // std::move
#include <vector>     // per-chunk partial sums

#include <Eigen/Core>

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>

namespace kexue {

/// @brief Layer normalisation over the trailing axes `normalized_shape` (as torch.nn.functional.layer_norm):
///
///     y = (x − μ) / √(σ² + ε) · weight + bias,   μ, σ² = mean and biased variance over the normalized axes
///
/// x [..., *normalized_shape] (the leading axes may be absent); weight and bias are optional (undefined = 1 and 0)
/// and otherwise of shape normalized_shape. Returns x's shape. Default ε = 1e-5 (PyTorch, GPT-2, BERT uses 1e-12).
/// Fused: one pass per row for μ and σ² (shifted by the row's first value, so large offsets do not cancel), one
/// for y; rows split over threads. Gradient (fused, x̂ = (x − μ)/√(σ² + ε), ĝ = g·weight):
///     dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) / √(σ² + ε),  dweight = Σ_rows g·x̂,  dbias = Σ_rows g
/// (the per-parameter sums are deterministic whatever the thread count). Second order through the same formulas
/// written with differentiable ops.
/// @throws shape_error "layer_norm: expected input [..., 8] for normalized_shape [8], got [4, 6]", "layer_norm:
///         weight shape [7] differs from normalized_shape [8]" (likewise bias); value_error for eps < 0.
template <class T>
tensor<T> layer_norm(const tensor<T>& x, const shape& normalized_shape, const tensor<T>& weight = {},
                     const tensor<T>& bias = {}, T eps = T(1e-5));

/// @brief RMS normalisation over the trailing axes `normalized_shape` (T5, LLaMA; torch.nn.functional.rms_norm):
///
///     y = x / √(mean(x²) + ε) · weight
///
/// ε is inside the square root, as T5 and LLaMA. Default ε = 1e-6 (T5 and LLaMA's value). weight optional
/// (undefined = 1), otherwise of shape normalized_shape; no bias, no centring. Fused forward and backward as
/// layer_norm (with r = 1/√(mean(x²) + ε), x̂ = x·r, ĝ = g·weight): dx = r·(ĝ − x̂·mean(ĝ·x̂)),
/// dweight = Σ_rows g·x̂. Second order through composition. Errors as layer_norm, naming rms_norm.
template <class T>
tensor<T> rms_norm(const tensor<T>& x, const shape& normalized_shape, const tensor<T>& weight = {}, T eps = T(1e-6));

/// @brief Batch normalisation over the channel axis 1 of x [N, C], [N, C, L] or [N, C, H, W] (any rank ≥ 2),
///        as torch.nn.functional.batch_norm:
///
///     y = (x − μ_c) / √(σ²_c + ε) · weight_c + bias_c
///
/// training = true: μ_c and σ²_c are the batch mean and the biased batch variance over every axis but 1, and the
/// running statistics (when defined, shape [C]) are updated in place, without gradient, with momentum m:
///     running_mean ← (1 − m)·running_mean + m·μ,  running_var ← (1 − m)·running_var + m·σ²·n/(n − 1)
/// (the unbiased variance, n = N·L·H·W values per channel), as PyTorch (m = 0.1 by default).
/// training = false: μ and σ² are running_mean and running_var (required; their values at the call are used).
/// weight, bias optional ([C]). Fused: one sweep per channel for μ and σ², one for y; channels and blocks split
/// over threads. Gradients (fused; x̂ = (x − μ)/√(σ² + ε), ĝ = g·weight, means over the N·L·H·W values of a
/// channel): dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/√(σ² + ε) in training, ĝ/√(σ² + ε) in evaluation (the running
/// statistics are constants); dweight = Σ g·x̂, dbias = Σ g. Second order through the same formulas written with
/// differentiable ops. The running statistics never get a gradient.
/// @throws shape_error "batch_norm: expected input [N, C, ...], got [4]", "batch_norm: running_mean shape [3]
///         differs from [C] = [4]" (likewise running_var, weight, bias); value_error "batch_norm: expected more
///         than 1 value per channel when training, got input [1, 4]", "batch_norm: running_mean and running_var
///         are required in evaluation", eps < 0.
template <class T>
tensor<T> batch_norm(const tensor<T>& x, const tensor<T>& running_mean, const tensor<T>& running_var,
                     const tensor<T>& weight = {}, const tensor<T>& bias = {}, bool training = false,
                     T momentum = T(0.1), T eps = T(1e-5));

// ~~~ Implementation ~~~

namespace detail {

/// True when s's last axes are ns.
inline bool ends_with(const shape& s, const shape& ns) {
  bool ok = s.rank() >= ns.rank();
  for (int i = 0; ok && i < ns.rank(); ++i) ok = s[s.rank() - ns.rank() + i] == ns[i];
  return ok;
}

/// "[..., 2, 8]": a shape ending with ns, for messages.
inline std::string format_trailing(const shape& ns) {
  std::string out = "[...";
  for (int i = 0; i < ns.rank(); ++i) out += ", " + std::to_string(ns[i]);
  return out + "]";
}

/// Checks x against normalized_shape, weight and bias; returns the row length D (product of normalized_shape).
template <class T>
index_t check_norm_operands(const char* op, const tensor<T>& x, const shape& ns, const tensor<T>& weight,
                            const tensor<T>& bias, T eps) {
  KEXUE_CHECK(ends_with(x.shape(), ns), shape_error, op, "expected input ", format_trailing(ns),
              " for normalized_shape ", format_shape(ns), ", got ", format_shape(x.shape()));
  KEXUE_CHECK(!weight.defined() || weight.shape() == ns, shape_error, op, "weight shape ", format_shape(weight.shape()),
              " differs from normalized_shape ", format_shape(ns));
  KEXUE_CHECK(!bias.defined() || bias.shape() == ns, shape_error, op, "bias shape ", format_shape(bias.shape()),
              " differs from normalized_shape ", format_shape(ns));
  KEXUE_CHECK(eps >= T(0), value_error, op, "eps must be non-negative, got ", eps);
  return ns.numel();
}

/// A row as an Eigen array (the reductions below are Eigen's, vectorised with several accumulators).
template <class T>
using row_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

/// Σ (x − k) and Σ (x − k)² over a row (two vectorised sweeps over a row that stays in L1).
template <class T>
void row_shifted_sums(const T* x, index_t n, T k, T& s1, T& s2) {
  const row_map<T> v(x, n);
  s1 = (v - k).sum();
  s2 = (v - k).square().sum();
}

/// Σ u and Σ u·(x − m)·r over a row, with u = g·w (w may be null: 1).
template <class T>
void row_backward_sums(const T* g, const T* w, const T* x, index_t n, T m, T r, T& s1, T& s2) {
  const row_map<T> gv(g, n), xv(x, n);
  if (w != nullptr) {
    const row_map<T> wv(w, n);
    s1 = (gv * wv).sum();
    s2 = (gv * wv * (xv - m)).sum() * r;
  } else {
    s1 = gv.sum();
    s2 = (gv * (xv - m)).sum() * r;
  }
}

/// Rows per chunk of the row loops (about 16K elements), fixed by the sizes alone so that per-chunk partial
/// sums, added in chunk order, give the same result whatever the thread count.
inline index_t norm_chunk_rows(index_t n) { return std::max<index_t>(1, index_t(1 << 14) / std::max<index_t>(n, 1)); }

/// The fused forward of layer_norm (Center) and rms_norm: y, and per row the mean (0 for rms) and r.
template <bool Center, class T>
void norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, index_t rows, index_t n, T eps) {
  const index_t chunk = norm_chunk_rows(n);
  parallel_for(0, rows, chunk, [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      T s1, s2;
      const T k = Center && n > 0 ? xr[0] : T(0);
      row_shifted_sums(xr, n, k, s1, s2);
      const T inv_n = n > 0 ? T(1) / static_cast<T>(n) : T(0);
      T m = T(0), var;
      if constexpr (Center) {
        const T d = s1 * inv_n;  // mean − k
        m = k + d;
        var = std::max(T(0), s2 * inv_n - d * d);
      } else {
        var = s2 * inv_n;  // mean of x²
      }
      const T rs = T(1) / std::sqrt(var + eps);
      mean[r] = m;
      rstd[r] = rs;
      if (w != nullptr && b != nullptr) {
        for (index_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs * w[i] + b[i];
      } else if (w != nullptr) {
        for (index_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs * w[i];
      } else if (b != nullptr) {
        for (index_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs + b[i];
      } else {
        for (index_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs;
      }
    }
  });
}

/// The fused backward: dx (if wanted) and dw, db (if wanted, summed over rows in chunk order).
template <bool Center, class T>
void norm_backward(const T* x, const T* w, const T* g, const T* mean, const T* rstd, T* dx, T* dw, T* db, index_t rows,
                   index_t n) {
  // At most 32 chunks of partial weight and bias sums.
  const index_t chunk = std::max(norm_chunk_rows(n), (rows + 31) / 32);
  const index_t chunks = (rows + chunk - 1) / chunk;
  const bool params = dw != nullptr || db != nullptr;
  std::vector<T> partial(params ? static_cast<std::size_t>(chunks * 2 * n) : 0, T(0));
  parallel_for(0, chunks, 1, [&](index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c) {
      T* pw = params ? partial.data() + c * 2 * n : nullptr;
      T* pb = params ? pw + n : nullptr;
      for (index_t r = c * chunk, end = std::min(rows, (c + 1) * chunk); r < end; ++r) {
        const T* xr = x + r * n;
        const T* gr = g + r * n;
        const T m = mean[r], rs = rstd[r];
        if (dx != nullptr) {
          T s1, s2;
          row_backward_sums(gr, w, xr, n, m, rs, s1, s2);
          const T inv_n = n > 0 ? T(1) / static_cast<T>(n) : T(0);
          const T a = Center ? s1 * inv_n : T(0), c2 = s2 * inv_n;
          using out_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
          out_map d(dx + r * n, n);
          const row_map<T> gv(gr, n), xv(xr, n);
          if (w != nullptr) {
            d = rs * (gv * row_map<T>(w, n) - a - (xv - m) * (rs * c2));
          } else {
            d = rs * (gv - a - (xv - m) * (rs * c2));
          }
        }
        if (params) {
          using acc_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
          const row_map<T> gv(gr, n), xv(xr, n);
          acc_map(pw, n) += gv * ((xv - m) * rs);
          acc_map(pb, n) += gv;
        }
      }
    }
  });
  if (!params) return;
  for (index_t i = 0; i < n; ++i) {
    if (dw != nullptr) dw[i] = T(0);
    if (db != nullptr) db[i] = T(0);
  }
  for (index_t c = 0; c < chunks; ++c) {
    const T* pw = partial.data() + c * 2 * n;
    for (index_t i = 0; i < n; ++i) {
      if (dw != nullptr) dw[i] += pw[i];
      if (db != nullptr) db[i] += pw[n + i];
    }
  }
}

/// The trailing axes of a tensor of rank `rank` normalised over `k` of them: {rank − k, ..., rank − 1}.
inline axes_t trailing_axes(int rank, int k) {
  axes_t a;
  for (int i = rank - k; i < rank; ++i) a.push_back(i);
  return a;
}

/// layer_norm / rms_norm: the fused forward, recorded with a backward that is fused, or composed (create_graph).
template <bool Center, class T>
tensor<T> fused_norm(const char* op, const tensor<T>& x, const shape& ns, const tensor<T>& weight,
                     const tensor<T>& bias, T eps) {
  const index_t n = check_norm_operands(op, x, ns, weight, bias, eps);
  const index_t rows = n > 0 ? x.numel() / n : 0;
  auto y = tensor<T>::empty(x.shape());
  auto mean = tensor<T>::empty({rows});
  auto rstd = tensor<T>::empty({rows});
  norm_forward<Center>(x.data(), weight.defined() ? weight.data() : nullptr, bias.defined() ? bias.data() : nullptr,
                       y.data(), mean.data(), rstd.data(), rows, n, eps);
  const int k = ns.rank();
  return autograd::record<T>(op, std::move(y), {x, weight, bias}, [x, weight, bias, mean, rstd, eps, k](auto) {
    return [x, weight, bias, mean, rstd, eps, k](const tensor<T>& g) {
      const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
                 gb = bias.defined() && bias.requires_grad();
      tensor<T> dx, dw, db;
      if (is_grad_enabled()) {
        // Composed, for second order: the statistics recomputed with differentiable ops ([..., D] throughout,
        // statistics [..., 1...] with keepdim).
        const axes_t ax = trailing_axes(x.rank(), k);
        const tensor<T> xc = Center ? sub(x, kexue::mean(x, ax, true)) : x;
        const tensor<T> r = rsqrt(add_scalar(kexue::mean(square(xc), ax, true), eps));
        const tensor<T> xhat = mul(xc, r);
        if (gx) {
          const tensor<T> u = weight.defined() ? mul(g, weight) : g;
          tensor<T> inner = sub(u, mul(xhat, kexue::mean(mul(u, xhat), ax, true)));
          if (Center) inner = sub(inner, kexue::mean(u, ax, true));
          dx = mul(r, inner);
        }
        if (gw) dw = sum_to(mul(g, xhat), weight.shape());
        if (gb) db = sum_to(g, bias.shape());
        return std::vector<tensor<T>>{dx, dw, db};
      }
      const index_t rows = mean.numel(), n = rows > 0 ? x.numel() / rows : 0;
      if (gx) dx = tensor<T>::empty(x.shape());
      if (gw) dw = tensor<T>::empty(weight.shape());
      if (gb) db = tensor<T>::empty(bias.shape());
      norm_backward<Center>(x.data(), weight.defined() ? weight.data() : nullptr, g.data(), mean.data(), rstd.data(),
                            gx ? dx.data() : nullptr, gw ? dw.data() : nullptr, gb ? db.data() : nullptr, rows, n);
      return std::vector<tensor<T>>{dx, dw, db};
    };
  });
}

}  // namespace detail

template <class T>
tensor<T> layer_norm(const tensor<T>& x, const shape& normalized_shape, const tensor<T>& weight, const tensor<T>& bias,
                     T eps) {
  return detail::fused_norm<true>("layer_norm", x, normalized_shape, weight, bias, eps);
}

template <class T>
tensor<T> rms_norm(const tensor<T>& x, const shape& normalized_shape, const tensor<T>& weight, T eps) {
  return detail::fused_norm<false>("rms_norm", x, normalized_shape, weight, tensor<T>(), eps);
}

namespace detail {

/// Per-channel statistics of x viewed as [N, C, S]: mean and biased variance over the N·S values of each
/// channel (shifted by the channel's first value, one Eigen sweep per contiguous block), channels over threads.
template <class T>
void channel_moments(const T* x, index_t n, index_t c, index_t s, T* mean, T* var) {
  parallel_for(0, c, std::max<index_t>(1, index_t(1 << 15) / std::max<index_t>(n * s, 1)), [&](index_t c0, index_t c1) {
    for (index_t ch = c0; ch < c1; ++ch) {
      const T k = x[ch * s];
      T s1 = T(0), s2 = T(0);
      for (index_t i = 0; i < n; ++i) {
        T a, b;
        row_shifted_sums(x + (i * c + ch) * s, s, k, a, b);
        s1 += a;
        s2 += b;
      }
      const T inv = T(1) / static_cast<T>(n * s), d = s1 * inv;
      mean[ch] = k + d;
      var[ch] = std::max(T(0), s2 * inv - d * d);
    }
  });
}

/// y = x·a_c + b_c over x [N, C, S] (a, b per channel).
template <class T>
void channel_affine(const T* x, T* y, index_t n, index_t c, index_t s, const T* a, const T* b) {
  using out_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
  parallel_for(0, n * c, std::max<index_t>(1, index_t(1 << 15) / std::max<index_t>(s, 1)), [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) out_map(y + r * s, s) = row_map<T>(x + r * s, s) * a[r % c] + b[r % c];
  });
}

/// The fused backward of batch_norm over x [N, C, S] with per-channel mean m and r = 1/√(σ² + ε): per channel
/// s1 = Σ g and s2 = Σ g·(x − m), then dx = r·w·(g − s1/M − (x − m)·r²·s2/M) in training (M = N·S values) or
/// dx = r·w·g in evaluation; dweight = r·s2, dbias = s1. Null outputs are skipped.
template <class T>
void batch_norm_backward(const T* x, const T* g, const T* w, const T* m, const T* r, T* dx, T* dw, T* db, index_t n,
                         index_t c, index_t s, bool training) {
  std::vector<T> s1(static_cast<std::size_t>(c)), s2(static_cast<std::size_t>(c));
  parallel_for(0, c, std::max<index_t>(1, index_t(1 << 15) / std::max<index_t>(n * s, 1)), [&](index_t c0, index_t c1) {
    for (index_t ch = c0; ch < c1; ++ch) {
      T a = T(0), b = T(0);
      for (index_t i = 0; i < n; ++i) {
        const row_map<T> gv(g + (i * c + ch) * s, s), xv(x + (i * c + ch) * s, s);
        a += gv.sum();
        b += (gv * (xv - m[ch])).sum();
      }
      s1[ch] = a;
      s2[ch] = b;
    }
  });
  for (index_t ch = 0; ch < c; ++ch) {
    if (dw != nullptr) dw[ch] = r[ch] * s2[ch];
    if (db != nullptr) db[ch] = s1[ch];
  }
  if (dx == nullptr) return;
  using out_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
  const T inv = T(1) / static_cast<T>(std::max<index_t>(n * s, 1));
  parallel_for(0, n * c, std::max<index_t>(1, index_t(1 << 15) / std::max<index_t>(s, 1)), [&](index_t r0, index_t r1) {
    for (index_t row = r0; row < r1; ++row) {
      const index_t ch = row % c;
      const T f = r[ch] * (w != nullptr ? w[ch] : T(1));
      const row_map<T> gv(g + row * s, s), xv(x + row * s, s);
      out_map d(dx + row * s, s);
      if (training) {
        d = f * (gv - s1[ch] * inv - (xv - m[ch]) * (r[ch] * r[ch] * s2[ch] * inv));
      } else {
        d = f * gv;
      }
    }
  });
}

}  // namespace detail

template <class T>
tensor<T> batch_norm(const tensor<T>& x, const tensor<T>& running_mean, const tensor<T>& running_var,
                     const tensor<T>& weight, const tensor<T>& bias, bool training, T momentum, T eps) {
  const char* op = "batch_norm";
  KEXUE_CHECK(x.rank() >= 2, shape_error, op, "expected input [N, C, ...], got ", format_shape(x.shape()));
  const index_t c = x.size(1), n = x.size(0), s = c > 0 && n > 0 ? x.numel() / (n * c) : 0;
  const shape cs{c};
  const auto check_channel = [&](const tensor<T>& t, const char* name) {
    KEXUE_CHECK(!t.defined() || t.shape() == cs, shape_error, op, name, " shape ", format_shape(t.shape()),
                " differs from [C] = [", c, "]");
  };
  check_channel(running_mean, "running_mean");
  check_channel(running_var, "running_var");
  check_channel(weight, "weight");
  check_channel(bias, "bias");
  KEXUE_CHECK(eps >= T(0), value_error, op, "eps must be non-negative, got ", eps);
  auto mean = tensor<T>::empty(cs), rstd = tensor<T>::empty(cs);  // the statistics used, then 1/√(σ² + ε)
  if (training) {
    const index_t count = n * s;
    KEXUE_CHECK(count > 1, value_error, op, "expected more than 1 value per channel when training, got input ",
                format_shape(x.shape()));
    detail::channel_moments(x.data(), n, c, s, mean.data(), rstd.data());
    const T unbias = static_cast<T>(count) / static_cast<T>(count - 1);
    for (index_t i = 0; i < c; ++i) {
      if (running_mean.defined())
        running_mean.data()[i] = (T(1) - momentum) * running_mean.data()[i] + momentum * mean.data()[i];
      if (running_var.defined())
        running_var.data()[i] = (T(1) - momentum) * running_var.data()[i] + momentum * rstd.data()[i] * unbias;
    }
    if (running_mean.defined()) running_mean.bump_version();
    if (running_var.defined()) running_var.bump_version();
  } else {
    KEXUE_CHECK(running_mean.defined() && running_var.defined(), value_error, op,
                "running_mean and running_var are required in evaluation");
    std::copy(running_mean.data(), running_mean.data() + c, mean.data());
    std::copy(running_var.data(), running_var.data() + c, rstd.data());
  }
  // y = x·a + b per channel with a = r·w, b = bias − μ·a.
  std::vector<T> a(static_cast<std::size_t>(c)), b(static_cast<std::size_t>(c));
  for (index_t i = 0; i < c; ++i) {
    rstd.data()[i] = T(1) / std::sqrt(rstd.data()[i] + eps);
    a[i] = rstd.data()[i] * (weight.defined() ? weight.data()[i] : T(1));
    b[i] = (bias.defined() ? bias.data()[i] : T(0)) - mean.data()[i] * a[i];
  }
  auto y = tensor<T>::empty(x.shape());
  detail::channel_affine(x.data(), y.data(), n, c, s, a.data(), b.data());
  return autograd::record<T>(op, std::move(y), {x, weight, bias}, [x, weight, bias, mean, rstd, training, eps](auto) {
    return [x, weight, bias, mean, rstd, training, eps](const tensor<T>& g) {
      const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
                 gb = bias.defined() && bias.requires_grad();
      const index_t c = x.size(1), n = x.size(0), s = c > 0 && n > 0 ? x.numel() / (n * c) : 0;
      tensor<T> dx, dw, db;
      if (is_grad_enabled()) {
        // Composed, for second order ([N, C, ...] throughout; statistics and parameters [1, C, 1, ...]).
        std::vector<index_t> bs(static_cast<std::size_t>(x.rank()), 1);
        bs[1] = c;
        const shape bshape(bs);
        axes_t ax{0};
        for (int i = 2; i < x.rank(); ++i) ax.push_back(i);
        tensor<T> xhat, r;
        if (training) {
          const tensor<T> xc = sub(x, kexue::mean(x, ax, true));
          r = rsqrt(add_scalar(kexue::mean(square(xc), ax, true), eps));
          xhat = mul(xc, r);
        } else {
          r = reshape(rstd, bshape);  // constants: the running statistics get no gradient
          xhat = mul(sub(x, reshape(mean, bshape)), r);
        }
        if (gx) {
          const tensor<T> u = weight.defined() ? mul(g, reshape(weight, bshape)) : g;
          dx = training ? mul(r, sub(sub(u, kexue::mean(u, ax, true)), mul(xhat, kexue::mean(mul(u, xhat), ax, true))))
                        : mul(u, r);
        }
        if (gw) dw = sum(mul(g, xhat), ax);
        if (gb) db = sum(g, ax);
        return std::vector<tensor<T>>{dx, dw, db};
      }
      if (gx) dx = tensor<T>::empty(x.shape());
      if (gw) dw = tensor<T>::empty({c});
      if (gb) db = tensor<T>::empty({c});
      detail::batch_norm_backward(x.data(), g.data(), weight.defined() ? weight.data() : nullptr, mean.data(),
                                  rstd.data(), gx ? dx.data() : nullptr, gw ? dw.data() : nullptr,
                                  gb ? db.data() : nullptr, n, c, s, training);
      return std::vector<tensor<T>>{dx, dw, db};
    };
  });
}

}  // namespace kexue
