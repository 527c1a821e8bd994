// SPDX-License-Identifier: MIT
// Row-wise softmax family over dense [rows, cols] arrays: softmax, log_softmax and logsumexp with scale,
// additive / boolean / causal masks; their backward passes; fused cross-entropy from logits; scalar twins.
#pragma once

#include <algorithm>    // std::min, std::max, std::fill
#include <cmath>        // std::exp, std::log, std::isnan, std::fma
#include <cstdint>      // std::uint8_t, std::int64_t, std::uintptr_t
#include <cstring>      // std::memcpy
#include <limits>       // infinities, NaN
#include <type_traits>  // std::integral_constant
#include <vector>       // twins' row buffer, per-thread scratch rows

#include <kexue/config.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>  // index_t
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/simd.hpp>
#include <kexue/kernels/vector_math.hpp>

namespace kexue {

/// @brief What the softmax-family kernels apply to a row before normalising it.
///
/// Row r of x (`x + r * cols`) becomes z_j = scale * x_j + add_mask_j, then z_j = -inf wherever keep_j == 0 or
/// the causal rule hides key j. A mask row is chosen as `mask + (r % mask_rows) * mask_row_stride`, so one
/// [n_q, n_k] mask (stride n_k, rows n_q) repeats over batch x heads, and stride 0 broadcasts one row to all.
/// Mask rows need `cols` readable elements; masks may be unaligned.
///
/// Causal: rows form blocks of `causal_rows` queries (row r is query i = r % causal_rows) and query i sees keys
/// j <= i + causal_offset. The default offset is bottom-right alignment, cols - causal_rows: the last query
/// sees every key, which is what a decoder with a KV cache needs and what FlashAttention (>= 2.1) and
/// torch.nn.attention.bias.causal_lower_right do. PyTorch's scaled_dot_product_attention(is_causal=True) aligns
/// top-left instead (tril of ones(L, S)): set causal_offset = 0 for that. The two agree when
/// causal_rows == cols. causal_rows = 0 means cols (square attention, rows = batch * heads * cols).
/// Hidden keys are never read or computed.
template <class T>
struct softmax_options {
  /// Sentinel for causal_offset: cols - causal_rows.
  static constexpr index_t causal_bottom_right = std::numeric_limits<index_t>::min();

  T scale = T(1);                               ///< applied to x first (attention's 1/sqrt(d))
  const T* add_mask = nullptr;                  ///< additive mask (-inf hides a key), or null
  index_t add_mask_row_stride = 0;              ///< elements between mask rows; 0 broadcasts row 0
  index_t add_mask_rows = 1;                    ///< period of the mask rows (>= 1)
  const std::uint8_t* keep = nullptr;           ///< boolean mask, nonzero keeps the key, or null
  index_t keep_row_stride = 0;                  ///< as add_mask_row_stride
  index_t keep_rows = 1;                        ///< as add_mask_rows
  bool causal = false;                          ///< hide keys after the diagonal (see above)
  index_t causal_rows = 0;                      ///< queries per causal block; 0 means cols
  index_t causal_offset = causal_bottom_right;  ///< query i sees keys j <= i + causal_offset
};

/// @brief Options of cross_entropy_rows.
template <class T>
struct cross_entropy_options {
  std::int64_t ignore_index = -100;   ///< rows whose target equals this get loss 0 and gradient 0
  T grad_scale = T(1);                ///< factor on every gradient row (1/N for a mean)
  const T* grad_row_scale = nullptr;  ///< per-row factors [rows] multiplied in, or null
  bool accumulate = false;            ///< grad += instead of grad =
};

// Numerics of the whole family (every kernel and its _reference twin):
//  - Rows are independent; rows with no visible key (all masked, or causal with i + offset < 0) give
//    softmax 0, log_softmax -inf and logsumexp -inf, never NaN, unless a visible z is NaN.
//  - A NaN among the visible z makes the whole row NaN (softmax, log_softmax, logsumexp). Hidden keys are
//    ignored even when x is NaN there (as masked_fill); an additive -inf mask on x = +-inf gives NaN, as in
//    PyTorch.
//  - +inf among the visible z: the limit of growing logits, i.e. the +inf keys share the mass equally
//    (softmax 1/k on them, 0 elsewhere; log_softmax -log k and -inf; logsumexp +inf). PyTorch returns NaN.
//  - The row maximum is subtracted first, so logits of any magnitude (1e4, 1e30) are stable.
//  - Float rows are summed in float, in 4 register accumulators folded into a running total every 1024
//    elements (relative error ~1e-7 at 32000 columns, tested at 1e-6 against a double reference); the
//    reference twins work in long double.
//  - exp results below the smallest normal number are flushed to 0 (simd::exp_nonpositive_ftz): such terms
//    are below 2^-126 of the row's largest term, which is 1.
// Threading: rows are split over kexue::get_num_threads() threads (parallel_for) when the array is large
// enough; every kernel is deterministic whatever the thread count.

/// @brief Softmax of each row: y_j = e^(z_j - max z) / sum_k e^(z_k - max z).
/// @param x [rows, cols], row-major, contiguous. @param y [rows, cols]; may be x (in place).
/// @param opt scale and masks (see softmax_options). Throws value_error on negative sizes or bad mask rows.
template <class T>
void softmax_rows(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt = {});

/// @brief log_softmax of each row: y_j = z_j - logsumexp(z). Hidden keys give -inf.
/// @param x [rows, cols]. @param y [rows, cols]; may be x.
template <class T>
void log_softmax_rows(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt = {});

/// @brief logsumexp of each row: out_r = log sum_j e^(z_j) (-inf for a row with no visible key).
/// @param x [rows, cols]. @param out [rows].
template <class T>
void logsumexp_rows(const T* x, T* out, index_t rows, index_t cols, const softmax_options<T>& opt = {});

/// @brief Softmax backward: dx = y (dy - sum_j dy_j y_j) per row, or dx += that with `accumulate`.
/// @param y softmax output [rows, cols]. @param dy [rows, cols]. @param dx [rows, cols]; may alias dy when
///        accumulate is false. Masked keys (y = 0) get dx = 0, so the forward options are not needed.
template <class T>
void softmax_backward_rows(const T* y, const T* dy, T* dx, index_t rows, index_t cols, bool accumulate = false);

/// @brief log_softmax backward: dx = dy - e^y sum_j dy_j per row, or dx += that with `accumulate`.
/// @param y log_softmax output [rows, cols] (values <= 0). @param dy [rows, cols]. @param dx [rows, cols];
///        may alias dy when accumulate is false. As PyTorch, hidden keys (y = -inf) get dx = dy there.
template <class T>
void log_softmax_backward_rows(const T* y, const T* dy, T* dx, index_t rows, index_t cols, bool accumulate = false);

/// @brief Cross-entropy from logits with integer targets, fused with its gradient.
///
/// loss_r = logsumexp(x_r) - x_r[target_r]; grad_r = (softmax(x_r) - onehot(target_r)) * grad_scale *
/// grad_row_scale[r] (or += with accumulate). Rows with target == ignore_index get loss 0 and gradient 0.
/// @param logits [rows, cols]. @param target [rows], each in [0, cols) or ignore_index (checked only by
///        KEXUE_ASSERT). @param loss [rows], or null. @param grad [rows, cols], or null for the loss alone.
/// @return the number of rows not ignored (the divisor of a mean).
template <class T>
index_t cross_entropy_rows(const T* logits, const std::int64_t* target, T* loss, T* grad, index_t rows, index_t cols,
                           const cross_entropy_options<T>& opt = {});

/// @brief Scalar twins of the kernels above: same contracts and special-value rules, plain loops,
///        long double arithmetic after z is formed in T, single-threaded.
template <class T>
void softmax_rows_reference(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt = {});
template <class T>
void log_softmax_rows_reference(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt = {});
template <class T>
void logsumexp_rows_reference(const T* x, T* out, index_t rows, index_t cols, const softmax_options<T>& opt = {});
template <class T>
void softmax_backward_rows_reference(const T* y, const T* dy, T* dx, index_t rows, index_t cols,
                                     bool accumulate = false);
template <class T>
void log_softmax_backward_rows_reference(const T* y, const T* dy, T* dx, index_t rows, index_t cols,
                                         bool accumulate = false);
template <class T>
index_t cross_entropy_rows_reference(const T* logits, const std::int64_t* target, T* loss, T* grad, index_t rows,
                                     index_t cols, const cross_entropy_options<T>& opt = {});

// ~~~ softmax: row addressing and checks ~~~

namespace detail::softmax {

template <class T>
inline constexpr T inf = std::numeric_limits<T>::infinity();

/// Where row r's inputs are: x, mask rows, and the number of leading keys that can be visible.
template <class T>
struct row_inputs {
  const T* x;
  const T* mask;
  const std::uint8_t* keep;
  index_t visible;  // keys [visible, cols) are hidden by the causal rule
};

template <class T>
struct row_addressing {
  const T* x;
  index_t cols;
  const softmax_options<T>* opt;
  index_t causal_rows;
  index_t causal_offset;

  row_addressing(const T* x_, index_t cols_, const softmax_options<T>& o) : x(x_), cols(cols_), opt(&o) {
    causal_rows = o.causal_rows > 0 ? o.causal_rows : cols_;
    causal_offset = o.causal_offset == softmax_options<T>::causal_bottom_right ? cols_ - causal_rows : o.causal_offset;
  }

  row_inputs<T> operator()(index_t r) const {
    row_inputs<T> in{x + r * cols, nullptr, nullptr, cols};
    if (opt->add_mask != nullptr) in.mask = opt->add_mask + (r % opt->add_mask_rows) * opt->add_mask_row_stride;
    if (opt->keep != nullptr) in.keep = opt->keep + (r % opt->keep_rows) * opt->keep_row_stride;
    if (opt->causal) {
      const index_t last = r % causal_rows + causal_offset;  // last visible key, may be < 0 or >= cols
      in.visible = last < 0 ? 0 : std::min(cols, last + 1);
    }
    return in;
  }
};

template <class T>
void check_options(const char* op, index_t rows, index_t cols, const softmax_options<T>& opt) {
  KEXUE_CHECK(rows >= 0 && cols >= 0, value_error, op, "sizes must be non-negative (rows ", rows, ", cols ", cols, ")");
  if (opt.add_mask != nullptr) {
    KEXUE_CHECK(opt.add_mask_rows >= 1 && opt.add_mask_row_stride >= 0, value_error, op,
                "add_mask_rows must be >= 1 and add_mask_row_stride >= 0 (got ", opt.add_mask_rows, " and ",
                opt.add_mask_row_stride, ")");
  }
  if (opt.keep != nullptr) {
    KEXUE_CHECK(opt.keep_rows >= 1 && opt.keep_row_stride >= 0, value_error, op,
                "keep_rows must be >= 1 and keep_row_stride >= 0 (got ", opt.keep_rows, " and ", opt.keep_row_stride,
                ")");
  }
  if (opt.causal) {
    KEXUE_CHECK(opt.causal_rows >= 0, value_error, op, "causal_rows must be >= 0 (got ", opt.causal_rows, ")");
  }
}

inline void check_sizes(const char* op, index_t rows, index_t cols) {
  KEXUE_CHECK(rows >= 0 && cols >= 0, value_error, op, "sizes must be non-negative (rows ", rows, ", cols ", cols, ")");
}

/// Outputs at least this large (bytes written by one call) are written with non-temporal stores: they do not
/// stay in cache anyway, and skipping the read-for-ownership of every output line cuts the memory traffic
/// of a DRAM-bound softmax from 12 to 8 bytes per float element.
/// (A variable only so that tests can lower it; not meant to be changed while kernels run.)
inline std::size_t stream_min_bytes = std::size_t(16) << 20;

/// Runs body(row_begin, row_end) over [0, rows), in parallel when there is enough work (~64K elements a chunk).
template <class F>
void for_rows(index_t rows, index_t cols, F&& body) {
  const index_t grain = std::max<index_t>(1, index_t(1 << 16) / std::max<index_t>(cols, 1));
  parallel_for(0, rows, grain, body);
}

}  // namespace detail::softmax

// ~~~ softmax: scalar twins ~~~

namespace detail::softmax {

/// z_j of a row in the twins: scale x_j (+ mask_j), -inf where hidden; computed in T like the kernels.
template <class T>
T z_value(const row_inputs<T>& in, const softmax_options<T>& opt, index_t j) {
  if (j >= in.visible) return -inf<T>;
  if (in.keep != nullptr && in.keep[j] == 0) return -inf<T>;
  if (opt.scale == T(1)) return in.mask != nullptr ? in.x[j] + in.mask[j] : in.x[j];
  return std::fma(opt.scale, in.x[j], in.mask != nullptr ? in.mask[j] : T(0));
}

/// The twins compute in long double (as wide as double or wider), so that they stay a reference for the
/// double kernels too.
using wide_t = long double;

/// The statistics a row reduces to: max, sum of e^(z - max), and the special cases.
struct row_stats {
  wide_t max = -std::numeric_limits<wide_t>::infinity();
  wide_t sum = 0;
  bool nan = false;
  index_t inf_count = 0;  // number of z == +inf (when max is +inf)
};

template <class T>
row_stats reference_stats(const T* z, index_t n) {
  row_stats s;
  for (index_t j = 0; j < n; ++j) {
    if (std::isnan(z[j])) s.nan = true;
    if (z[j] > s.max) s.max = z[j];
    if (z[j] == inf<T>) ++s.inf_count;
  }
  if (!s.nan && std::isfinite(s.max)) {
    for (index_t j = 0; j < n; ++j) s.sum += std::exp(wide_t(z[j]) - s.max);
  }
  return s;
}

}  // namespace detail::softmax

template <class T>
void softmax_rows_reference(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt) {
  using namespace detail::softmax;
  check_options("softmax_rows_reference", rows, cols, opt);
  const row_addressing<T> row(x, cols, opt);
  std::vector<T> z(static_cast<std::size_t>(cols));
  for (index_t r = 0; r < rows; ++r) {
    const row_inputs<T> in = row(r);
    for (index_t j = 0; j < cols; ++j) z[j] = z_value(in, opt, j);
    const row_stats s = reference_stats(z.data(), cols);
    T* yr = y + r * cols;
    for (index_t j = 0; j < cols; ++j) {
      if (s.nan) {
        yr[j] = std::numeric_limits<T>::quiet_NaN();
      } else if (s.max == -inf<wide_t>) {
        yr[j] = T(0);
      } else if (s.max == inf<wide_t>) {
        yr[j] = z[j] == inf<T> ? T(1 / wide_t(s.inf_count)) : T(0);
      } else {
        yr[j] = T(std::exp(wide_t(z[j]) - s.max) / s.sum);
      }
    }
  }
}

template <class T>
void log_softmax_rows_reference(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt) {
  using namespace detail::softmax;
  check_options("log_softmax_rows_reference", rows, cols, opt);
  const row_addressing<T> row(x, cols, opt);
  std::vector<T> z(static_cast<std::size_t>(cols));
  for (index_t r = 0; r < rows; ++r) {
    const row_inputs<T> in = row(r);
    for (index_t j = 0; j < cols; ++j) z[j] = z_value(in, opt, j);
    const row_stats s = reference_stats(z.data(), cols);
    T* yr = y + r * cols;
    for (index_t j = 0; j < cols; ++j) {
      if (s.nan) {
        yr[j] = std::numeric_limits<T>::quiet_NaN();
      } else if (s.max == -inf<wide_t>) {
        yr[j] = -inf<T>;
      } else if (s.max == inf<wide_t>) {
        yr[j] = z[j] == inf<T> ? T(-std::log(wide_t(s.inf_count))) : -inf<T>;
      } else {
        yr[j] = T((wide_t(z[j]) - s.max) - std::log(s.sum));
      }
    }
  }
}

template <class T>
void logsumexp_rows_reference(const T* x, T* out, index_t rows, index_t cols, const softmax_options<T>& opt) {
  using namespace detail::softmax;
  check_options("logsumexp_rows_reference", rows, cols, opt);
  const row_addressing<T> row(x, cols, opt);
  std::vector<T> z(static_cast<std::size_t>(cols));
  for (index_t r = 0; r < rows; ++r) {
    const row_inputs<T> in = row(r);
    for (index_t j = 0; j < cols; ++j) z[j] = z_value(in, opt, j);
    const row_stats s = reference_stats(z.data(), cols);
    if (s.nan) {
      out[r] = std::numeric_limits<T>::quiet_NaN();
    } else if (!std::isfinite(s.max)) {
      out[r] = T(s.max);
    } else {
      out[r] = T(s.max + std::log(s.sum));
    }
  }
}

template <class T>
void softmax_backward_rows_reference(const T* y, const T* dy, T* dx, index_t rows, index_t cols, bool accumulate) {
  detail::softmax::check_sizes("softmax_backward_rows_reference", rows, cols);
  using detail::softmax::wide_t;
  for (index_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    wide_t dot = 0;
    for (index_t j = 0; j < cols; ++j) dot += wide_t(dyr[j]) * wide_t(yr[j]);
    for (index_t j = 0; j < cols; ++j) {
      const T g = T(wide_t(yr[j]) * (wide_t(dyr[j]) - dot));
      dxr[j] = accumulate ? dxr[j] + g : g;
    }
  }
}

template <class T>
void log_softmax_backward_rows_reference(const T* y, const T* dy, T* dx, index_t rows, index_t cols, bool accumulate) {
  detail::softmax::check_sizes("log_softmax_backward_rows_reference", rows, cols);
  using detail::softmax::wide_t;
  for (index_t r = 0; r < rows; ++r) {
    const T* yr = y + r * cols;
    const T* dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    wide_t sum = 0;
    for (index_t j = 0; j < cols; ++j) sum += wide_t(dyr[j]);
    for (index_t j = 0; j < cols; ++j) {
      const T g = T(wide_t(dyr[j]) - std::exp(wide_t(yr[j])) * sum);
      dxr[j] = accumulate ? dxr[j] + g : g;
    }
  }
}

template <class T>
index_t cross_entropy_rows_reference(const T* logits, const std::int64_t* target, T* loss, T* grad, index_t rows,
                                     index_t cols, const cross_entropy_options<T>& opt) {
  using namespace detail::softmax;
  check_sizes("cross_entropy_rows_reference", rows, cols);
  index_t counted = 0;
  for (index_t r = 0; r < rows; ++r) {
    const T* xr = logits + r * cols;
    const std::int64_t t = target[r];
    T* gr = grad != nullptr ? grad + r * cols : nullptr;
    if (t == opt.ignore_index) {
      if (loss != nullptr) loss[r] = T(0);
      if (gr != nullptr && !opt.accumulate) std::fill(gr, gr + cols, T(0));
      continue;
    }
    KEXUE_ASSERT(t >= 0 && t < cols);
    ++counted;
    const row_stats s = reference_stats(xr, cols);
    const wide_t f = wide_t(opt.grad_scale) * (opt.grad_row_scale != nullptr ? wide_t(opt.grad_row_scale[r]) : 1);
    auto p = [&](index_t j) -> wide_t {  // softmax probability, with the NaN, -inf and +inf rules
      if (s.nan) return std::numeric_limits<wide_t>::quiet_NaN();
      if (s.max == -inf<wide_t>) return 0;
      if (s.max == inf<wide_t>) return xr[j] == inf<T> ? 1 / wide_t(s.inf_count) : 0;
      return std::exp(wide_t(xr[j]) - s.max) / s.sum;
    };
    if (loss != nullptr) {
      if (s.nan) {
        loss[r] = std::numeric_limits<T>::quiet_NaN();
      } else if (s.max == inf<wide_t>) {
        loss[r] = xr[t] == inf<T> ? T(std::log(wide_t(s.inf_count))) : inf<T>;
      } else if (s.max == -inf<wide_t>) {
        loss[r] = inf<T>;  // -log 0
      } else {
        loss[r] = T((s.max + std::log(s.sum)) - wide_t(xr[t]));
      }
    }
    if (gr != nullptr) {
      for (index_t j = 0; j < cols; ++j) {
        const T g = T((p(j) - (j == t ? 1 : 0)) * f);
        gr[j] = opt.accumulate ? gr[j] + g : g;
      }
    }
  }
  return counted;
}

// ~~~ softmax: SIMD row passes ~~~

#if KEXUE_USE_XSIMD
namespace detail::softmax {

/// Lanes of `keep` (W bytes) as a batch_bool: nonzero keeps. One widening load on AVX-512 and AVX2 (xsimd
/// 8.1 converts uint8 loads element by element); a byte loop elsewhere.
template <class T, class A>
inline xsimd::batch_bool<T, A> load_keep(const std::uint8_t* p) noexcept {
  using B = xsimd::batch<T, A>;
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>) {
      const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      return xsimd::batch_bool<T, A>(_mm512_test_epi32_mask(v, v));
    } else {
      const __m512i v = _mm512_cvtepu8_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
      return xsimd::batch_bool<T, A>(_mm512_test_epi64_mask(v, v));
    }
  } else
#endif
#if XSIMD_WITH_AVX2
      if constexpr (std::is_base_of_v<xsimd::avx2, A>) {
    if constexpr (std::is_same_v<T, float>) {
      const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
      const __m256i zero = _mm256_cmpeq_epi32(v, _mm256_setzero_si256());
      return xsimd::batch_bool<T, A>(_mm256_castsi256_ps(_mm256_xor_si256(zero, _mm256_set1_epi32(-1))));
    } else {
      std::int32_t word;
      std::memcpy(&word, p, 4);
      const __m256i v = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(word));
      const __m256i zero = _mm256_cmpeq_epi64(v, _mm256_setzero_si256());
      return xsimd::batch_bool<T, A>(_mm256_castsi256_pd(_mm256_xor_si256(zero, _mm256_set1_epi32(-1))));
    }
  } else
#endif
  {
    alignas(64) T flags[B::size];
    for (std::size_t k = 0; k < B::size; ++k) flags[k] = p[k] != 0 ? T(1) : T(0);
    return B::load_aligned(flags) != B(T(0));
  }
}

template <class T, class A>
inline T reduce_max(const xsimd::batch<T, A>& v) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_reduce_max_ps(v);
    } else {
      return _mm512_reduce_max_pd(v);
    }
  } else
#endif
  {
    alignas(64) T lanes[xsimd::batch<T, A>::size];
    v.store_aligned(lanes);
    T m = lanes[0];
    for (std::size_t k = 1; k < xsimd::batch<T, A>::size; ++k) m = lanes[k] > m ? lanes[k] : m;
    return m;
  }
}

/// Produces registers of z = scale x (+ mask), -inf where keep == 0, for one row. Mask, Keep and Scaled
/// (scale != 1) are compile-time so each combination gets its own loops.
///
/// z is always rounded once, by an explicit FMA (or exactly x, x + mask): compilers contract a plain
/// `scale * x - max` into one FMA, which would make the max element's z - max differ from 0 by the
/// product's rounding, and the passes disagree about z.
template <class T, class A, bool Mask, bool Keep, bool Scaled>
struct z_loader {
  using B = xsimd::batch<T, A>;
  static constexpr index_t width = static_cast<index_t>(B::size);
  const T* x;
  const T* mask;
  const std::uint8_t* keep;
  T scale;

  static B combine(const B& v, const B& m, T scale) noexcept {
    if constexpr (Scaled) {
      return vmath::fmadd(B(scale), v, Mask ? m : B(T(0)));
    } else if constexpr (Mask) {
      return v + m;
    } else {
      return v;
    }
  }

  B operator()(index_t j) const noexcept {
    B z = combine(B::load_unaligned(x + j), Mask ? B::load_unaligned(mask + j) : B(T(0)), scale);
    if constexpr (Keep) z = xsimd::select(load_keep<T, A>(keep + j), z, B(-inf<T>));
    return z;
  }

  /// The last `rest` (< width) elements from j, padded with -inf.
  B tail(index_t j, index_t rest) const noexcept {
    B z = combine(vmath::load_partial<T, A>(x + j, rest, T(0)),
                  Mask ? vmath::load_partial<T, A>(mask + j, rest, T(0)) : B(T(0)), scale);
    if constexpr (Keep) {
      alignas(64) std::uint8_t ks[B::size < 16 ? 16 : B::size] = {};
      for (index_t k = 0; k < rest; ++k) ks[k] = keep[j + k];
      z = xsimd::select(load_keep<T, A>(ks), z, B(-inf<T>));
    }
    return xsimd::select(vmath::first_lanes<T, A>(rest), z, B(-inf<T>));
  }

  /// One z in scalar code (special-value paths only); the same rounding as the registers.
  T at(index_t j) const noexcept {
    if (Keep && keep[j] == 0) return -inf<T>;
    return Scaled ? std::fma(scale, x[j], Mask ? mask[j] : T(0)) : (Mask ? x[j] + mask[j] : x[j]);
  }
};

/// Float sums fold their register accumulators into a running total every this many elements.
inline constexpr index_t sum_chunk = 1024;

/// max_j z_j over [0, n).
template <class T, class A, class L>
T row_max(const L& load, index_t n) noexcept {
  using B = xsimd::batch<T, A>;
  constexpr index_t w = L::width;
  B m0(-inf<T>), m1(-inf<T>), m2(-inf<T>), m3(-inf<T>);
  index_t j = 0;
  for (; j + 4 * w <= n; j += 4 * w) {
    m0 = xsimd::max(m0, load(j));
    m1 = xsimd::max(m1, load(j + w));
    m2 = xsimd::max(m2, load(j + 2 * w));
    m3 = xsimd::max(m3, load(j + 3 * w));
  }
  for (; j + w <= n; j += w) m0 = xsimd::max(m0, load(j));
  if (j < n) m1 = xsimd::max(m1, load.tail(j, n - j));
  return reduce_max(xsimd::max(xsimd::max(m0, m1), xsimd::max(m2, m3)));
}

/// Whether some z_j in [0, n) is NaN (rows whose max is +-inf only).
template <class T, class A, class L>
bool row_has_nan(const L& load, index_t n) noexcept {
  constexpr index_t w = L::width;
  index_t j = 0;
  for (; j + w <= n; j += w) {
    if (xsimd::any(xsimd::isnan(load(j)))) return true;
  }
  return j < n && xsimd::any(xsimd::isnan(load.tail(j, n - j)));
}

/// Addresses of the next row, touched (prefetched into L2) while this row computes, so that fetching it
/// overlaps the arithmetic instead of following it. Null members are skipped.
struct next_row {
  const void* read0 = nullptr;
  const void* read1 = nullptr;
  void* write = nullptr;
};

/// Prefetches `bytes` bytes from offset `at` (bytes) of each pointer of `next`.
template <index_t Bytes>
inline void prefetch_next(const next_row& next, std::size_t at) noexcept {
#if defined(__GNUC__)
  for (index_t k = 0; k < Bytes; k += 64) {
    if (next.read0 != nullptr) __builtin_prefetch(static_cast<const char*>(next.read0) + at + k, 0, 2);
    if (next.read1 != nullptr) __builtin_prefetch(static_cast<const char*>(next.read1) + at + k, 0, 2);
    if (next.write != nullptr) __builtin_prefetch(static_cast<char*>(next.write) + at + k, 1, 2);
  }
#else
  (void)next;
  (void)at;
#endif
}

/// Work interleaved with a row pass, one step per register the pass handles (default: none).
struct no_side_work {
  void step() noexcept {}
};

/// sum_j e^(z_j - m) over [0, n); with Store, also writes each term to y. In T, with the chunked fold.
/// side.step() runs once per register (to overlap other stores with this arithmetic).
template <class T, class A, bool Store, class L, class Side = no_side_work>
T row_exp_sum(const L& load, index_t n, T m, T* y, const next_row& next = {}, Side&& side = Side{}) noexcept {
  using B = xsimd::batch<T, A>;
  constexpr index_t w = L::width;
  const B mb(m);
  B total(T(0));
  index_t j = 0;
  while (j + 4 * w <= n) {
    B s0(T(0)), s1(T(0)), s2(T(0)), s3(T(0));
    const index_t stop = std::min(n, j + sum_chunk);
    for (; j + 4 * w <= stop; j += 4 * w) {
      prefetch_next<4 * w * sizeof(T)>(next, static_cast<std::size_t>(j) * sizeof(T));
      const B e0 = simd::exp_nonpositive_ftz(load(j) - mb);
      const B e1 = simd::exp_nonpositive_ftz(load(j + w) - mb);
      const B e2 = simd::exp_nonpositive_ftz(load(j + 2 * w) - mb);
      const B e3 = simd::exp_nonpositive_ftz(load(j + 3 * w) - mb);
      if constexpr (Store) {
        e0.store_unaligned(y + j);
        e1.store_unaligned(y + j + w);
        e2.store_unaligned(y + j + 2 * w);
        e3.store_unaligned(y + j + 3 * w);
      }
      s0 += e0;
      s1 += e1;
      s2 += e2;
      s3 += e3;
      side.step();
      side.step();
      side.step();
      side.step();
    }
    total += (s0 + s1) + (s2 + s3);
  }
  B s(T(0));
  for (; j + w <= n; j += w) {
    const B e = simd::exp_nonpositive_ftz(load(j) - mb);
    if constexpr (Store) e.store_unaligned(y + j);
    s += e;
    side.step();
  }
  if (j < n) {
    const B e = simd::exp_nonpositive_ftz(load.tail(j, n - j) - mb);
    if constexpr (Store) vmath::store_partial<T, A>(y + j, e, n - j);
    s += e;
    side.step();
  }
  return xsimd::hadd(total + s);
}

/// y_j = f * e^(z_j - m) over [0, n), or y_j += that with Accumulate.
template <class T, class A, bool Accumulate, class L>
void row_exp_scale(const L& load, index_t n, T m, T f, T* y) noexcept {
  using B = xsimd::batch<T, A>;
  constexpr index_t w = L::width;
  const B mb(m), fb(f);
  auto put = [&](const B& e, index_t j) {
    if constexpr (Accumulate) {
      vmath::fmadd(e, fb, B::load_unaligned(y + j)).store_unaligned(y + j);
    } else {
      (e * fb).store_unaligned(y + j);
    }
  };
  index_t j = 0;
  for (; j + 2 * w <= n; j += 2 * w) {
    const B e0 = simd::exp_nonpositive_ftz(load(j) - mb);
    const B e1 = simd::exp_nonpositive_ftz(load(j + w) - mb);
    put(e0, j);
    put(e1, j + w);
  }
  for (; j + w <= n; j += w) put(simd::exp_nonpositive_ftz(load(j) - mb), j);
  if (j < n) {
    const B e = simd::exp_nonpositive_ftz(load.tail(j, n - j) - mb);
    const B v = Accumulate ? vmath::fmadd(e, fb, vmath::load_partial<T, A>(y + j, n - j, T(0))) : e * fb;
    vmath::store_partial<T, A>(y + j, v, n - j);
  }
}

/// Non-temporal store of a register to p (aligned to the register size): the line goes to memory without
/// being read first. Plain aligned store where the ISA has none.
template <class T, class A>
inline void stream_store(T* p, const xsimd::batch<T, A>& v) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>) {
      _mm512_stream_ps(p, v);
    } else {
      _mm512_stream_pd(p, v);
    }
    return;
  }
#endif
#if XSIMD_WITH_AVX
  if constexpr (std::is_base_of_v<xsimd::avx, A>) {
    if constexpr (std::is_same_v<T, float>) {
      _mm256_stream_ps(p, v);
    } else {
      _mm256_stream_pd(p, v);
    }
    return;
  }
#endif
#if XSIMD_WITH_SSE2
  if constexpr (std::is_base_of_v<xsimd::sse2, A>) {
    if constexpr (std::is_same_v<T, float>) {
      _mm_stream_ps(p, v);
    } else {
      _mm_stream_pd(p, v);
    }
    return;
  }
#endif
  v.store_aligned(p);
}

/// Orders this thread's non-temporal stores before whatever follows (end of a parallel chunk).
inline void stream_fence() noexcept {
#if XSIMD_WITH_SSE2
  _mm_sfence();
#endif
}

/// Writes y_j for j in [0, n): full registers from vec(j), partial ones (the tail, and with Stream the
/// unaligned head) from part(j, count), which must read at most `count` elements from j. With Stream the
/// body uses non-temporal stores from the first register-aligned y_j on.
template <class T, class A, bool Stream, class V, class P>
inline void write_row(T* y, index_t n, V&& vec, P&& part) noexcept {
  using B = xsimd::batch<T, A>;
  constexpr index_t w = static_cast<index_t>(B::size);
  index_t j = 0;
  if constexpr (Stream) {
    const auto misaligned = reinterpret_cast<std::uintptr_t>(y) % sizeof(B);
    if (misaligned % sizeof(T) == 0 && misaligned != 0) {
      j = std::min(n, static_cast<index_t>((sizeof(B) - misaligned) / sizeof(T)));
      vmath::store_partial<T, A>(y, part(index_t(0), j), j);
    }
    if (reinterpret_cast<std::uintptr_t>(y + j) % sizeof(B) == 0) {
      for (; j + w <= n; j += w) stream_store<T, A>(y + j, vec(j));
    }
  }
  for (; j + 2 * w <= n; j += 2 * w) {
    const B a = vec(j);
    const B b = vec(j + w);
    a.store_unaligned(y + j);
    b.store_unaligned(y + j + w);
  }
  for (; j + w <= n; j += w) vec(j).store_unaligned(y + j);
  if (j < n) vmath::store_partial<T, A>(y + j, part(j, n - j), n - j);
}

/// dst_j = src_j f over [0, n); src may be dst unless Stream.
template <class T, class A, bool Stream>
void row_scale(const T* src, T* dst, index_t n, T f) noexcept {
  using B = xsimd::batch<T, A>;
  const B fb(f);
  write_row<T, A, Stream>(
      dst, n, [&](index_t j) { return B::load_unaligned(src + j) * fb; },
      [&](index_t j, index_t count) { return vmath::load_partial<T, A>(src + j, count, T(0)) * fb; });
}

/// y_j = z_j - c over [0, n).
template <class T, class A, bool Stream, class L>
void row_shift(const L& load, index_t n, T c, T* y) noexcept {
  using B = xsimd::batch<T, A>;
  const B cb(c);
  write_row<T, A, Stream>(
      y, n, [&](index_t j) { return load(j) - cb; },
      [&](index_t j, index_t count) { return load.tail(j, count) - cb; });
}

/// A per-thread buffer of at least n values of T (kept between calls).
template <class T>
T* scratch(index_t n) {
  thread_local std::vector<T> buffer;
  if (static_cast<index_t>(buffer.size()) < n) buffer.resize(static_cast<std::size_t>(n));
  return buffer.data();
}

/// What a row's first pass found, and the row kind it implies.
enum class row_kind { normal, empty, nan, pos_inf };

template <class T, class A, class L>
row_kind classify(const L& load, index_t n, T m) noexcept {
  if (m == -inf<T>) return row_has_nan<T, A>(load, n) ? row_kind::nan : row_kind::empty;
  if (m == inf<T>) return row_has_nan<T, A>(load, n) ? row_kind::nan : row_kind::pos_inf;
  return row_kind::normal;  // a NaN max, or a NaN anywhere, turns the sum into NaN in the normal path
}

template <class T, class L>
index_t count_pos_inf(const L& load, index_t n) noexcept {
  index_t k = 0;
  for (index_t j = 0; j < n; ++j) k += load.at(j) == inf<T> ? 1 : 0;
  return k;
}

/// Rows of at most this many registers are loaded once and kept in registers (one pass over memory).
inline constexpr index_t register_row_max = 8;

/// z of one short row (at most register_row_max registers), the last register padded with -inf.
template <class T, class A>
struct register_row {
  using B = xsimd::batch<T, A>;
  static constexpr index_t w = static_cast<index_t>(B::size);
  B z[register_row_max];
  index_t full, rest;

  template <class L>
  register_row(const L& load, index_t n) noexcept : full(n / w), rest(n % w) {
#pragma GCC unroll 8
    for (index_t k = 0; k < register_row_max; ++k) {
      if (k < full) {
        z[k] = load(k * w);
      } else if (k == full && rest != 0) {
        z[k] = load.tail(k * w, rest);
      }
    }
  }
  index_t count() const noexcept { return full + (rest != 0 ? 1 : 0); }

  T max() const noexcept {
    B m(-inf<T>);
#pragma GCC unroll 8
    for (index_t k = 0; k < register_row_max; ++k) {
      if (k < count()) m = xsimd::max(m, z[k]);
    }
    return reduce_max(m);
  }

  /// sum_k e^(z_k - m); with Keep, replaces z by the exponentials.
  template <bool Keep>
  T exp_sum(T m) noexcept {
    const B mb(m);
    B s(T(0));
#pragma GCC unroll 8
    for (index_t k = 0; k < register_row_max; ++k) {
      if (k < count()) {
        const B e = simd::exp_nonpositive_ftz(z[k] - mb);
        if constexpr (Keep) z[k] = e;
        s += e;
      }
    }
    return xsimd::hadd(s);
  }

  /// y = f(z) register by register.
  template <class F>
  void store(T* y, F&& f) const noexcept {
#pragma GCC unroll 8
    for (index_t k = 0; k < register_row_max; ++k) {
      if (k < full) {
        f(z[k]).store_unaligned(y + k * w);
      } else if (k == full && rest != 0) {
        vmath::store_partial<T, A>(y + k * w, f(z[k]), rest);
      }
    }
  }
};

/// A row that fits register_row, when its max is finite (the other kinds take the general path).
template <class T>
bool finite_max(T m) noexcept {
  return m > -inf<T> && m < inf<T>;
}

/// One softmax row: max, then e^(z - max) stored and summed, then scaled by 1 / sum. With Stream the
/// exponentials go to a per-thread scratch row and the scaled values to y with non-temporal stores.
template <class T, class A, bool Stream, class L>
void softmax_row(const L& load, index_t visible, index_t cols, T* y, const next_row& next = {}) noexcept {
  if (visible <= register_row_max * L::width) {
    register_row<T, A> row(load, visible);
    const T m = row.max();
    if (finite_max(m)) {
      const xsimd::batch<T, A> inv(T(1) / row.template exp_sum<true>(m));
      row.store(y, [&](const auto& e) { return e * inv; });
      std::fill(y + visible, y + cols, T(0));
      return;
    }
  }
  const T m = row_max<T, A>(load, visible);
  switch (classify<T, A>(load, visible, m)) {
    case row_kind::normal: {
      T* e = Stream ? scratch<T>(visible) : y;
      const T s = row_exp_sum<T, A, true>(load, visible, m, e, next);
      row_scale<T, A, Stream>(e, y, visible, T(1) / s);
      break;
    }
    case row_kind::empty:
      std::fill(y, y + visible, T(0));
      break;
    case row_kind::nan:
      std::fill(y, y + visible, std::numeric_limits<T>::quiet_NaN());
      break;
    case row_kind::pos_inf: {
      const T share = T(1) / T(count_pos_inf<T>(load, visible));
      for (index_t j = 0; j < visible; ++j) y[j] = load.at(j) == inf<T> ? share : T(0);
      break;
    }
  }
  std::fill(y + visible, y + cols, T(0));
}

/// One log_softmax row: max, sum of e^(z - max), then z - (max + log sum).
template <class T, class A, bool Stream, class L>
void log_softmax_row(const L& load, index_t visible, index_t cols, T* y, const next_row& next = {}) noexcept {
  if (visible <= register_row_max * L::width) {
    register_row<T, A> row(load, visible);
    const T m = row.max();
    if (finite_max(m)) {
      const xsimd::batch<T, A> c(m + std::log(row.template exp_sum<false>(m)));
      row.store(y, [&](const auto& z) { return z - c; });
      std::fill(y + visible, y + cols, -inf<T>);
      return;
    }
  }
  const T m = row_max<T, A>(load, visible);
  switch (classify<T, A>(load, visible, m)) {
    case row_kind::normal:
      row_shift<T, A, Stream>(load, visible, m + std::log(row_exp_sum<T, A, false>(load, visible, m, nullptr, next)),
                              y);
      break;
    case row_kind::empty:
      std::fill(y, y + visible, -inf<T>);
      break;
    case row_kind::nan:
      std::fill(y, y + visible, std::numeric_limits<T>::quiet_NaN());
      break;
    case row_kind::pos_inf: {
      const T share = -std::log(T(count_pos_inf<T>(load, visible)));
      for (index_t j = 0; j < visible; ++j) y[j] = load.at(j) == inf<T> ? share : -inf<T>;
      break;
    }
  }
  std::fill(y + visible, y + cols, -inf<T>);
}

template <class T, class A, class L>
T logsumexp_row(const L& load, index_t visible, const next_row& next = {}) noexcept {
  if (visible <= register_row_max * L::width) {
    register_row<T, A> row(load, visible);
    const T m = row.max();
    if (finite_max(m)) return m + std::log(row.template exp_sum<false>(m));
  }
  const T m = row_max<T, A>(load, visible);
  switch (classify<T, A>(load, visible, m)) {
    case row_kind::normal:
      return m + std::log(row_exp_sum<T, A, false>(load, visible, m, nullptr, next));
    case row_kind::empty:
      return -inf<T>;
    case row_kind::nan:
      return std::numeric_limits<T>::quiet_NaN();
    case row_kind::pos_inf:
      break;
  }
  return inf<T>;
}

/// The next row's x (and y to be written, unless null) when row r + 1 is in this chunk [.., end).
template <class T>
next_row next_of(index_t r, index_t end, index_t cols, const T* x, T* y) noexcept {
  next_row next;
  if (r + 1 < end) {
    next.read0 = x + (r + 1) * cols;
    if (y != nullptr) next.write = y + (r + 1) * cols;
  }
  return next;
}

/// The next row of y, dy (and dx to be written, unless null) when row r + 1 is in this chunk.
template <class T>
next_row next_backward(index_t r, index_t end, index_t cols, const T* y, const T* dy, T* dx) noexcept {
  next_row next;
  if (r + 1 < end) {
    next.read0 = y + (r + 1) * cols;
    next.read1 = dy + (r + 1) * cols;
    if (dx != nullptr) next.write = dx + (r + 1) * cols;
  }
  return next;
}

template <class T>
bool use_stream(index_t rows, index_t cols) noexcept {
  return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) * sizeof(T) >= stream_min_bytes;
}

/// Calls f(std::integral_constant<bool, stream>) so that callers instantiate both store modes.
template <class F>
void with_stream(bool stream, F&& f) {
  if (stream) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

/// Calls f(loader) with the z_loader matching row `in`'s masks and the scale.
template <class T, class A, bool Scaled, class F>
void with_loader_scaled(const row_inputs<T>& in, T scale, F&& f) {
  if (in.mask != nullptr) {
    if (in.keep != nullptr) {
      f(z_loader<T, A, true, true, Scaled>{in.x, in.mask, in.keep, scale});
    } else {
      f(z_loader<T, A, true, false, Scaled>{in.x, in.mask, in.keep, scale});
    }
  } else if (in.keep != nullptr) {
    f(z_loader<T, A, false, true, Scaled>{in.x, in.mask, in.keep, scale});
  } else {
    f(z_loader<T, A, false, false, Scaled>{in.x, in.mask, in.keep, scale});
  }
}

template <class T, class A, class F>
void with_loader(const row_inputs<T>& in, T scale, F&& f) {
  if (scale == T(1)) {
    with_loader_scaled<T, A, false>(in, scale, f);
  } else {
    with_loader_scaled<T, A, true>(in, scale, f);
  }
}

/// a b + c with one rounding (the accumulating backward passes).
template <class T, class A>
inline xsimd::batch<T, A> fmadd_acc(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b,
                                    const xsimd::batch<T, A>& c) noexcept {
  return vmath::fmadd(a, b, c);
}

/// sum_j a_j b_j (Dot) or sum_j a_j over [0, n), in T with the chunked fold of row_exp_sum.
template <class T, class A, bool Dot, class Side = no_side_work>
T row_sum(const T* a, const T* b, index_t n, const next_row& next = {}, Side&& side = Side{}) noexcept {
  using B = xsimd::batch<T, A>;
  constexpr index_t w = static_cast<index_t>(B::size);
  auto term = [&](const B& acc, index_t j) {
    return Dot ? vmath::fmadd(B::load_unaligned(a + j), B::load_unaligned(b + j), acc) : acc + B::load_unaligned(a + j);
  };
  B total(T(0));
  index_t j = 0;
  while (j + 4 * w <= n) {
    B s0(T(0)), s1(T(0)), s2(T(0)), s3(T(0));
    const index_t stop = std::min(n, j + sum_chunk);
    for (; j + 4 * w <= stop; j += 4 * w) {
      prefetch_next<4 * w * sizeof(T)>(next, static_cast<std::size_t>(j) * sizeof(T));
      s0 = term(s0, j);
      s1 = term(s1, j + w);
      s2 = term(s2, j + 2 * w);
      s3 = term(s3, j + 3 * w);
      side.step();
      side.step();
      side.step();
      side.step();
    }
    total += (s0 + s1) + (s2 + s3);
  }
  for (; j + w <= n; j += w) {
    total = term(total, j);
    side.step();
  }
  T sum = xsimd::hadd(total);
  for (; j < n; ++j) sum = Dot ? std::fma(a[j], b[j], sum) : sum + a[j];
  return sum;
}

/// The backward gradient of one register from y, dy (and dx when accumulating) and the row's reduction c:
/// softmax y (dy - c) with c = sum dy y; log_softmax dy - e^y c with c = sum dy.
template <class T, class A, bool Log, bool Accumulate>
struct backward_formula {
  using B = xsimd::batch<T, A>;
  B c;
  B operator()(const B& y, const B& dy, const B& dx) const noexcept {
    if constexpr (Log) {
      const B g = vmath::fnmadd(simd::exp_nonpositive_ftz(y), c, dy);
      return Accumulate ? g + dx : g;
    } else {
      return Accumulate ? vmath::fmadd(y, dy - c, dx) : y * (dy - c);
    }
  }
  B full(const T* y, const T* dy, const T* dx, index_t j) const noexcept {
    return (*this)(B::load_unaligned(y + j), B::load_unaligned(dy + j),
                   Accumulate ? B::load_unaligned(dx + j) : B(T(0)));
  }
  B part(const T* y, const T* dy, const T* dx, index_t j, index_t count) const noexcept {
    return (*this)(vmath::load_partial<T, A>(y + j, count, T(0)), vmath::load_partial<T, A>(dy + j, count, T(0)),
                   Accumulate ? vmath::load_partial<T, A>(dx + j, count, T(0)) : B(T(0)));
  }
};

/// One backward row: the reduction (dot or sum, chunked), then dx written by write_row.
template <class T, class A, bool Log, bool Stream, bool Accumulate>
void backward_row(const T* y, const T* dy, T* dx, index_t n, const next_row& next = {}) noexcept {
  using B = xsimd::batch<T, A>;
  const backward_formula<T, A, Log, Accumulate> g{B(row_sum<T, A, !Log>(dy, Log ? nullptr : y, n, next))};
  write_row<T, A, Stream>(
      dx, n, [&](index_t j) { return g.full(y, dy, dx, j); },
      [&](index_t j, index_t count) { return g.part(y, dy, dx, j, count); });
}

/// A backward row whose dx is still to be written (non-temporal stores), one register per step(): the
/// streamed backward writes row r - 1 while it reduces row r, so the stores overlap the reads.
template <class T, class A, bool Log>
struct pending_backward {
  using B = xsimd::batch<T, A>;
  static constexpr index_t w = static_cast<index_t>(B::size);
  backward_formula<T, A, Log, false> g{B(T(0))};
  const T* y = nullptr;
  const T* dy = nullptr;
  T* dx = nullptr;
  index_t n = 0;
  index_t done = 0;
  bool stream = false;

  void start(const T* y_row, const T* dy_row, T* dx_row, index_t count, T c) noexcept {
    g.c = B(c);
    y = y_row;
    dy = dy_row;
    dx = dx_row;
    n = count;
    done = 0;
    const auto misaligned = reinterpret_cast<std::uintptr_t>(dx) % sizeof(B);
    stream = misaligned % sizeof(T) == 0;
    if (stream && misaligned != 0) {
      done = std::min(n, static_cast<index_t>((sizeof(B) - misaligned) / sizeof(T)));
      vmath::store_partial<T, A>(dx, g.part(y, dy, nullptr, 0, done), done);
    }
  }
  void step() noexcept {
    if (dx != nullptr && done + w <= n) {
      const B v = g.full(y, dy, nullptr, done);
      if (stream) {
        stream_store<T, A>(dx + done, v);
      } else {
        v.store_unaligned(dx + done);
      }
      done += w;
    }
  }
  void finish() noexcept {
    if (dx == nullptr) return;
    while (done + w <= n) step();
    if (done < n) vmath::store_partial<T, A>(dx + done, g.part(y, dy, nullptr, done, n - done), n - done);
    dx = nullptr;
  }
};

/// Backward of rows [begin, end) with non-temporal stores, row r - 1 written during row r's reduction.
template <class T, class A, bool Log>
void backward_rows_streamed(const T* y, const T* dy, T* dx, index_t begin, index_t end, index_t cols) noexcept {
  pending_backward<T, A, Log> pending;
  for (index_t r = begin; r < end; ++r) {
    const T* yr = y + r * cols;
    const T* dyr = dy + r * cols;
    const T c = row_sum<T, A, !Log>(dyr, Log ? nullptr : yr, cols,
                                    next_backward(r, end, cols, y, dy, static_cast<T*>(nullptr)), pending);
    pending.finish();
    pending.start(yr, dyr, dx + r * cols, cols, c);
  }
  pending.finish();
}

/// Both backward kernels: accumulate reads dx anyway (never streamed); large outputs are streamed with the
/// previous row's stores overlapping the current row's reduction; the rest writes row by row.
template <class T, bool Log>
void backward_rows(const T* y, const T* dy, T* dx, index_t rows, index_t cols, bool accumulate) {
  using A = simd::default_arch;
  if (!accumulate && use_stream<T>(rows, cols)) {
    for_rows(rows, cols, [&](index_t begin, index_t end) {
      backward_rows_streamed<T, A, Log>(y, dy, dx, begin, end, cols);
      stream_fence();
    });
    return;
  }
  auto run = [&](auto acc) {
    for_rows(rows, cols, [&](index_t begin, index_t end) {
      for (index_t r = begin; r < end; ++r) {
        backward_row<T, A, Log, false, decltype(acc)::value>(y + r * cols, dy + r * cols, dx + r * cols, cols,
                                                             next_backward(r, end, cols, y, dy, dx));
      }
    });
  };
  if (accumulate) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
}

/// One cross-entropy row: loss = max + log sum - x_t, gradient (softmax - onehot) f. Stream: the gradient is
/// overwritten (not accumulated) and large, so e^(x - max) goes to scratch and the gradient is streamed.
template <class T, class A, bool Stream>
void cross_entropy_row(const T* xr, std::int64_t t, T* loss, T* gr, index_t cols, T f,
                       const cross_entropy_options<T>& opt, const next_row& next = {}) noexcept {
  if (t == opt.ignore_index) {
    if (loss != nullptr) *loss = T(0);
    if (gr != nullptr && !opt.accumulate) std::fill(gr, gr + cols, T(0));
    return;
  }
  KEXUE_ASSERT(t >= 0 && t < cols);
  const z_loader<T, A, false, false, false> load{xr, nullptr, nullptr, T(1)};
  const T m = row_max<T, A>(load, cols);
  const row_kind kind = classify<T, A>(load, cols, m);
  if (kind == row_kind::normal) {
    T s;
    if (gr != nullptr && !opt.accumulate) {
      T* e = Stream ? scratch<T>(cols) : gr;
      s = row_exp_sum<T, A, true>(load, cols, m, e, next);
      row_scale<T, A, Stream>(e, gr, cols, f / s);
      gr[t] -= f;
    } else {
      s = row_exp_sum<T, A, false>(load, cols, m, nullptr, next);
      if (gr != nullptr) {
        row_exp_scale<T, A, true>(load, cols, m, f / s, gr);
        gr[t] -= f;
      }
    }
    if (loss != nullptr) *loss = (m + std::log(s)) - xr[t];
    return;
  }
  // Special rows (NaN, or +inf logits) follow the twin's rules; an all -inf row has loss +inf.
  const index_t k = kind == row_kind::pos_inf ? count_pos_inf<T>(load, cols) : 0;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  if (loss != nullptr) {
    if (kind == row_kind::nan) {
      *loss = nan;
    } else if (kind == row_kind::pos_inf) {
      *loss = xr[t] == inf<T> ? std::log(T(k)) : inf<T>;
    } else {
      *loss = inf<T>;
    }
  }
  if (gr != nullptr) {
    for (index_t j = 0; j < cols; ++j) {
      T p = T(0);
      if (kind == row_kind::nan) {
        p = nan;
      } else if (kind == row_kind::pos_inf) {
        p = xr[j] == inf<T> ? T(1) / T(k) : T(0);
      }
      const T g = (p - (j == t ? T(1) : T(0))) * f;
      gr[j] = opt.accumulate ? gr[j] + g : g;
    }
  }
}

/// A softmax row whose output dst_j = src_j * f (j < n) is still to be written, with non-temporal stores,
/// one register per step(): the streamed softmax writes row r - 1 while it computes row r's exponentials,
/// so that the stores to memory overlap arithmetic instead of following it.
template <class T, class A>
struct pending_row {
  using B = xsimd::batch<T, A>;
  static constexpr index_t w = static_cast<index_t>(B::size);
  const T* src = nullptr;
  T* dst = nullptr;
  index_t n = 0;
  index_t done = 0;  // dst[0, done) written
  T f = T(0);
  bool stream = false;

  /// Takes a row; writes its unaligned head with a partial store so that dst + done is register-aligned.
  void start(const T* source, T* destination, index_t count, T factor) noexcept {
    src = source;
    dst = destination;
    n = count;
    f = factor;
    done = 0;
    const auto misaligned = reinterpret_cast<std::uintptr_t>(dst) % sizeof(B);
    stream = misaligned % sizeof(T) == 0;
    if (stream && misaligned != 0) {
      done = std::min(n, static_cast<index_t>((sizeof(B) - misaligned) / sizeof(T)));
      vmath::store_partial<T, A>(dst, vmath::load_partial<T, A>(src, done, T(0)) * B(f), done);
    }
  }
  void step() noexcept {
    if (dst != nullptr && done + w <= n) {
      const B v = B::load_unaligned(src + done) * B(f);
      if (stream) {
        stream_store<T, A>(dst + done, v);
      } else {
        v.store_unaligned(dst + done);
      }
      done += w;
    }
  }
  /// Writes what is left; the row is then done.
  void finish() noexcept {
    if (dst == nullptr) return;
    while (done + w <= n) step();
    if (done < n)
      vmath::store_partial<T, A>(dst + done, vmath::load_partial<T, A>(src + done, n - done, T(0)) * B(f), n - done);
    dst = nullptr;
  }
};

/// Softmax of rows [begin, end) into y with non-temporal stores: each long row's exponentials go to one of
/// two per-thread scratch rows while the previous row's output is streamed out (pending_row). Short
/// (register) rows and special rows take softmax_row with plain stores. Same values as softmax_row.
template <class T, class A>
void softmax_rows_streamed(const row_addressing<T>& row, T scale, index_t begin, index_t end, index_t cols,
                           T* y) noexcept {
  T* buffers = scratch<T>(2 * cols);
  T* current = buffers;
  T* other = buffers + cols;
  pending_row<T, A> pending;
  for (index_t r = begin; r < end; ++r) {
    const row_inputs<T> in = row(r);
    T* yr = y + r * cols;
    with_loader<T, A>(in, scale, [&](const auto& load) {
      using L = std::decay_t<decltype(load)>;
      if (in.visible > register_row_max * L::width) {
        const T m = row_max<T, A>(load, in.visible);
        if (classify<T, A>(load, in.visible, m) == row_kind::normal) {
          const T s =
              row_exp_sum<T, A, true>(load, in.visible, m, current, next_of(r, end, cols, row.x, (T*)nullptr), pending);
          pending.finish();
          pending.start(current, yr, in.visible, T(1) / s);
          std::swap(current, other);
          std::fill(yr + in.visible, yr + cols, T(0));
          return;
        }
      }
      pending.finish();
      softmax_row<T, A, false>(load, in.visible, cols, yr);
    });
  }
  pending.finish();
}

}  // namespace detail::softmax
#endif  // KEXUE_USE_XSIMD

// ~~~ softmax: kernels ~~~

template <class T>
void softmax_rows(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt) {
  detail::softmax::check_options("softmax_rows", rows, cols, opt);
#if KEXUE_USE_XSIMD
  using A = simd::default_arch;
  namespace sm = detail::softmax;
  const sm::row_addressing<T> row(x, cols, opt);
  if (sm::use_stream<T>(rows, cols)) {
    sm::for_rows(rows, cols, [&](index_t begin, index_t end) {
      sm::softmax_rows_streamed<T, A>(row, opt.scale, begin, end, cols, y);
      sm::stream_fence();
    });
    return;
  }
  sm::for_rows(rows, cols, [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) {
      const auto in = row(r);
      sm::with_loader<T, A>(in, opt.scale, [&](const auto& load) {
        sm::softmax_row<T, A, false>(load, in.visible, cols, y + r * cols, sm::next_of(r, end, cols, x, y));
      });
    }
  });
#else
  softmax_rows_reference(x, y, rows, cols, opt);
#endif
}

template <class T>
void log_softmax_rows(const T* x, T* y, index_t rows, index_t cols, const softmax_options<T>& opt) {
  detail::softmax::check_options("log_softmax_rows", rows, cols, opt);
#if KEXUE_USE_XSIMD
  using A = simd::default_arch;
  namespace sm = detail::softmax;
  const sm::row_addressing<T> row(x, cols, opt);
  sm::with_stream(sm::use_stream<T>(rows, cols), [&](auto stream) {
    sm::for_rows(rows, cols, [&](index_t begin, index_t end) {
      for (index_t r = begin; r < end; ++r) {
        const auto in = row(r);
        sm::with_loader<T, A>(in, opt.scale, [&](const auto& load) {
          sm::log_softmax_row<T, A, decltype(stream)::value>(load, in.visible, cols, y + r * cols,
                                                             sm::next_of(r, end, cols, x, stream ? nullptr : y));
        });
      }
      if (stream) sm::stream_fence();
    });
  });
#else
  log_softmax_rows_reference(x, y, rows, cols, opt);
#endif
}

template <class T>
void logsumexp_rows(const T* x, T* out, index_t rows, index_t cols, const softmax_options<T>& opt) {
  detail::softmax::check_options("logsumexp_rows", rows, cols, opt);
#if KEXUE_USE_XSIMD
  using A = simd::default_arch;
  const detail::softmax::row_addressing<T> row(x, cols, opt);
  detail::softmax::for_rows(rows, cols, [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) {
      const auto in = row(r);
      detail::softmax::with_loader<T, A>(in, opt.scale, [&](const auto& load) {
        out[r] = detail::softmax::logsumexp_row<T, A>(load, in.visible,
                                                      detail::softmax::next_of<T>(r, end, cols, x, nullptr));
      });
    }
  });
#else
  logsumexp_rows_reference(x, out, rows, cols, opt);
#endif
}

template <class T>
void softmax_backward_rows(const T* y, const T* dy, T* dx, index_t rows, index_t cols, bool accumulate) {
  detail::softmax::check_sizes("softmax_backward_rows", rows, cols);
#if KEXUE_USE_XSIMD
  detail::softmax::backward_rows<T, false>(y, dy, dx, rows, cols, accumulate);
#else
  softmax_backward_rows_reference(y, dy, dx, rows, cols, accumulate);
#endif
}

template <class T>
void log_softmax_backward_rows(const T* y, const T* dy, T* dx, index_t rows, index_t cols, bool accumulate) {
  detail::softmax::check_sizes("log_softmax_backward_rows", rows, cols);
#if KEXUE_USE_XSIMD
  detail::softmax::backward_rows<T, true>(y, dy, dx, rows, cols, accumulate);
#else
  log_softmax_backward_rows_reference(y, dy, dx, rows, cols, accumulate);
#endif
}

template <class T>
index_t cross_entropy_rows(const T* logits, const std::int64_t* target, T* loss, T* grad, index_t rows, index_t cols,
                           const cross_entropy_options<T>& opt) {
  detail::softmax::check_sizes("cross_entropy_rows", rows, cols);
  index_t counted = 0;
  for (index_t r = 0; r < rows; ++r) counted += target[r] != opt.ignore_index ? 1 : 0;
#if KEXUE_USE_XSIMD
  namespace sm = detail::softmax;
  const bool stream = grad != nullptr && !opt.accumulate && sm::use_stream<T>(rows, cols);
  sm::with_stream(stream, [&](auto streaming) {
    sm::for_rows(rows, cols, [&](index_t begin, index_t end) {
      for (index_t r = begin; r < end; ++r) {
        const T f = opt.grad_scale * (opt.grad_row_scale != nullptr ? opt.grad_row_scale[r] : T(1));
        sm::cross_entropy_row<T, simd::default_arch, decltype(streaming)::value>(
            logits + r * cols, target[r], loss != nullptr ? loss + r : nullptr,
            grad != nullptr ? grad + r * cols : nullptr, cols, f, opt,
            sm::next_of(r, end, cols, logits, grad != nullptr && !streaming ? grad : nullptr));
      }
      if (streaming) sm::stream_fence();
    });
  });
  return counted;
#else
  (void)counted;
  return cross_entropy_rows_reference(logits, target, loss, grad, rows, cols, opt);
#endif
}

}  // namespace kexue
