// SPDX-License-Identifier: MIT
// Mitchell's approximate float multiplication and division by integer addition of bit patterns (A14).
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::ldexp, std::isnan, std::isinf, std::signbit, std::fabs
#include <cstdint>    // bit patterns
#include <cstring>    // std::memcpy (no type punning)
#include <limits>     // infinity, quiet_NaN

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::algo {

// J. N. Mitchell (1962): write a positive float p = 2ⁿ(1 + x), x ∈ [0, 1); then log₂ p ≈ n + x, and the bit
// pattern of a normal float32 is exactly (n + 127)·2²³ + x·2²³, i.e. a scaled, biased n + x. So
//   bits(a·b) ≈ bits(a) + bits(b) − 0x3F800000      (0x3F800000 = 127·2²³ = bits(1.0f) removes one bias)
//   bits(a/b) ≈ bits(a) − bits(b) + 0x3F800000
// (a carry out of the mantissa sum x₁ + x₂ ≥ 1 increments the exponent, which is Mitchell's second branch).
// Error bounds, exact (the only rounding is in the final float when the result is subnormal):
//   product:  m(a, b)/(ab) = (1 + x₁ + x₂)/((1 + x₁)(1 + x₂)) or 2(x₁ + x₂)/((1 + x₁)(1 + x₂)) ∈ [8/9, 1]:
//             never too large, relative error ≤ 1/9, attained at x₁ = x₂ = ½ (1.5·1.5 = 2.25 → 2).
//   quotient: m(a, b)/(a/b) ∈ [1, 9/8]: never too small, relative error ≤ 1/8 (1/1.5 → 0.75, not 0.667).
// Both are exact (error 0) when a mantissa is 0 (a power of two times the other operand). A numerical study
// tool (spec A14, "Deep Neural Network Training without Multiplications"), not a speed feature.

namespace detail {

constexpr std::int64_t mitchell_one_bits = 0x3F800000;    // bits of 1.0f = 127·2²³, the exponent bias
constexpr std::int64_t mitchell_exponent_unit = 1 << 23;  // one unit of exponent in the bit pattern

inline std::uint32_t mitchell_bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float mitchell_float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// The bit pattern of a positive finite magnitude read as a normal number: a subnormal is scaled by 2²⁴
/// (exact) and the scaling subtracted, so the result may be below 2²³ (its exponent field ≤ 0).
inline std::int64_t mitchell_normal_bits(float magnitude) {
  const std::uint32_t u = mitchell_bits_of(magnitude);
  if (u >= static_cast<std::uint32_t>(mitchell_exponent_unit)) return static_cast<std::int64_t>(u);
  return static_cast<std::int64_t>(mitchell_bits_of(std::ldexp(magnitude, 24))) - 24 * mitchell_exponent_unit;
}

/// The float whose would-be bit pattern is s (any int64), with the sign: ±inf above the largest exponent, a
/// correctly rounded subnormal or zero below the smallest.
inline float mitchell_from_bits(std::int64_t s, bool negative) {
  float magnitude;
  if (s >= 0x7F800000) {
    magnitude = std::numeric_limits<float>::infinity();
  } else if (s >= mitchell_exponent_unit) {
    magnitude = mitchell_float_of(static_cast<std::uint32_t>(s));
  } else {  // exponent field E ≤ 0: the value 2^(E−127)·(1 + m/2²³), E by floor division
    const std::int64_t u = mitchell_exponent_unit;
    const std::int64_t e = s >= 0 ? s / u : -((-s + u - 1) / u);
    const std::int64_t m = s - e * u;
    magnitude = static_cast<float>(std::ldexp(1.0 + static_cast<double>(m) / static_cast<double>(u),
                                              static_cast<int>(std::max<std::int64_t>(e, -400) - 127)));
  }
  return negative ? -magnitude : magnitude;
}

}  // namespace detail

/// @brief Mitchell's approximate product of two floats: bits(|a|) + bits(|b|) − 0x3F800000, the sign by XOR of
/// the sign bits. For finite nonzero a, b: ab·(1 − 1/9) ≤ |m| ≤ |ab| in magnitude (never too large; equal when
/// either mantissa is 0). Special values as IEEE multiplication: ±0 for a zero operand, ±inf for an infinite
/// one, NaN for NaN or inf·0; subnormal inputs are handled exactly (renormalised); exponent overflow gives ±inf,
/// underflow a correctly rounded subnormal or ±0. Example: mitchell_mul(12.3f, 4.56f) = 53.68 (exact 56.088).
inline float mitchell_mul(float a, float b) {
  const bool negative = std::signbit(a) != std::signbit(b);
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<float>::quiet_NaN();
  if (std::isinf(a) || std::isinf(b)) {
    if (a == 0 || b == 0) return std::numeric_limits<float>::quiet_NaN();
    return negative ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  }
  if (a == 0 || b == 0) return negative ? -0.0f : 0.0f;
  const std::int64_t s = detail::mitchell_normal_bits(std::fabs(a)) + detail::mitchell_normal_bits(std::fabs(b)) -
                         detail::mitchell_one_bits;
  return detail::mitchell_from_bits(s, negative);
}

/// @brief Mitchell's approximate quotient a/b: bits(|a|) − bits(|b|) + 0x3F800000, the sign by XOR. For finite
/// nonzero a, b: |a/b| ≤ |m| ≤ (1 + 1/8)|a/b| (never too small; equal when b's mantissa is 0 or equals a's).
/// Special values as IEEE division: NaN for NaN, 0/0 and inf/inf; ±inf for x/0 and inf/x; ±0 for 0/x and
/// x/inf; subnormal inputs exact; overflow ±inf, underflow a rounded subnormal or ±0.
inline float mitchell_div(float a, float b) {
  const bool negative = std::signbit(a) != std::signbit(b);
  const float inf = std::numeric_limits<float>::infinity();
  if (std::isnan(a) || std::isnan(b) || (a == 0 && b == 0) || (std::isinf(a) && std::isinf(b)))
    return std::numeric_limits<float>::quiet_NaN();
  if (std::isinf(a) || b == 0) return negative ? -inf : inf;
  if (std::isinf(b) || a == 0) return negative ? -0.0f : 0.0f;
  const std::int64_t s = detail::mitchell_normal_bits(std::fabs(a)) - detail::mitchell_normal_bits(std::fabs(b)) +
                         detail::mitchell_one_bits;
  return detail::mitchell_from_bits(s, negative);
}

/// @brief Element-wise mitchell_mul of two float tensors of the same shape (no broadcasting), no gradient.
/// @throws shape_error "mitchell_mul: shapes [2, 3] and [3] differ".
inline tensor<float> mitchell_mul(const tensor<float>& a, const tensor<float>& b) {
  KEXUE_CHECK(a.shape() == b.shape(), shape_error, "mitchell_mul", "shapes ", format_shape(a.shape()), " and ",
              format_shape(b.shape()), " differ");
  auto out = tensor<float>::empty(a.shape());
  const float *pa = a.data(), *pb = b.data();
  float* po = out.data();
  for (index_t i = 0, n = a.numel(); i < n; ++i) po[i] = mitchell_mul(pa[i], pb[i]);
  return out;
}

/// @brief Element-wise mitchell_div of two float tensors of the same shape (no broadcasting), no gradient.
/// @throws shape_error "mitchell_div: shapes [2, 3] and [3] differ".
inline tensor<float> mitchell_div(const tensor<float>& a, const tensor<float>& b) {
  KEXUE_CHECK(a.shape() == b.shape(), shape_error, "mitchell_div", "shapes ", format_shape(a.shape()), " and ",
              format_shape(b.shape()), " differ");
  auto out = tensor<float>::empty(a.shape());
  const float *pa = a.data(), *pb = b.data();
  float* po = out.data();
  for (index_t i = 0, n = a.numel(); i < n; ++i) po[i] = mitchell_div(pa[i], pb[i]);
  return out;
}

/// @brief Reference "Mitchell GEMM" (spec A14 (c)): c[i, j] = Σ_k mitchell_mul(a[i, k], b[k, j]) for a [n, k],
/// b [k, m] (or b [m, k] with transpose_b, as a linear layer's weight), the products approximate, the sums
/// exact float additions in order k = 0, 1, ... A plain triple loop for numerical studies, no gradient.
/// @throws shape_error "mitchell_matmul: expected a [n, k] and b [k, m], got [2, 3] and [4, 5]" (with
/// transpose_b: "b [m, k]").
inline tensor<float> mitchell_matmul(const tensor<float>& a, const tensor<float>& b, bool transpose_b = false) {
  const bool ok = a.rank() == 2 && b.rank() == 2 && a.size(1) == (transpose_b ? b.size(1) : b.size(0));
  KEXUE_CHECK(ok, shape_error, "mitchell_matmul", "expected a [n, k] and b ", transpose_b ? "[m, k]" : "[k, m]",
              ", got ", format_shape(a.shape()), " and ", format_shape(b.shape()));
  const index_t n = a.size(0), k = a.size(1), m = transpose_b ? b.size(0) : b.size(1);
  auto out = tensor<float>::empty({n, m});
  const float *pa = a.data(), *pb = b.data();
  float* po = out.data();
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < m; ++j) {
      float acc = 0;
      for (index_t t = 0; t < k; ++t) acc += mitchell_mul(pa[i * k + t], transpose_b ? pb[j * k + t] : pb[t * m + j]);
      po[i * m + j] = acc;
    }
  return out;
}

}  // namespace kexue::algo
