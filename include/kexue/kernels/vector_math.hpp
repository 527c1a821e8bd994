// SPDX-License-Identifier: MIT
// Vectorised elementwise math (exp, expm1, log, log1p, tanh, sigmoid, erf, erfc, gelu, softplus): register
// functions for other kernels, array kernels, and their scalar std:: twins.
#pragma once

#include <cmath>        // std:: twins
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t, std::uint64_t, std::int64_t
#include <limits>       // infinities, NaN, denormal limits
#include <type_traits>  // std::is_same

#include <kexue/config.hpp>
#include <kexue/core/shape.hpp>  // index_t
#include <kexue/kernels/simd.hpp>

namespace kexue {

// Every function below is elementwise over `n` contiguous values: `y[i] = f(x[i])` for i in [0, n), T float
// or double. `x` and `y` may be the same array (in place) but must not otherwise overlap; no alignment is
// required. `n <= 0` does nothing. With KEXUE_USE_XSIMD=0 each array kernel is its `_reference` twin.
//
// Accuracy, measured by tests/kernels/test_vector_math.cpp against std:: functions of a wider type and
// asserted at these bounds, in ulp of T. In brackets the measured maxima: float over EVERY float of each
// range (KEXUE_TEST_EXHAUSTIVE=1; the default test visits every 257th), double over 2^18 sampled values:
//   vexp 1.5 [1.08 / 1.00]    vexpm1 2.5 [1.58 / 1.96]   vlog 1 [0.86 / 0.72]   vlog1p 1.5 [0.86 / 0.75]
//   vtanh 3 [2.46 / 2.24]     vsigmoid 2.5 [2.40 / 1.86] verf 2 [1.48 / 1.43]   verfc 6.5 [5.66 / 4.84]
//   vgelu 7 [6.44 / 5.79] for x >= -6                    vsoftplus 2 [1.65 / 1.34]
//   vgelu_tanh 4 + 3|w| with w = 2u its sigmoid argument, for x >= -6: rounding the argument costs |w| eps
//   relative in e^w, which no evaluation in T avoids (x + 0.044715 x^3 is not exact); measured 4 + 2.2|w|.
// Ranges: exp, softplus and sigmoid over their whole non-saturated range, log over every positive value and
// log1p over (-1, max] (denormals included), tanh [-20, 20], erf [-7, 7], erfc [-7, 11] (double 28), GELUs
// [-6, 20].
// Without FMA hardware (plain SSE2) the same bounds hold (sampled erfc 5.6), and at -O1 (the compiler
// contracts a * b + c into FMAs differently) expm1<double> reaches 2.01.
// Beyond x = -6 both GELUs keep the sign and a relative error below 2^-10 down to underflow (the erf form
// stays within about 12 ulp until its result turns denormal).
// Special values follow C: NaN in gives NaN out; exp overflows to +inf and underflows through the
// denormals to +0; log(0) = -inf, log(x < 0) = NaN, log(+inf) = +inf (log1p likewise at -1);
// tanh, sigmoid, erf and erfc saturate exactly (tanh(+-inf) = +-1, sigmoid(-inf) = 0, erf(inf) = 1,
// erfc(-inf) = 2); gelu(-inf) = -0, gelu(+inf) = +inf; softplus(-inf) = 0, softplus(+inf) = +inf.

/// @brief y = e^x. Overflow gives +inf, underflow gives denormals then +0.
template <class T>
void vexp(const T* x, T* y, index_t n) noexcept;
/// @brief y = e^x - 1, accurate for small |x|.
template <class T>
void vexpm1(const T* x, T* y, index_t n) noexcept;
/// @brief y = ln x (x = 0 gives -inf, x < 0 gives NaN; denormal x are exact inputs).
template <class T>
void vlog(const T* x, T* y, index_t n) noexcept;
/// @brief y = ln(1 + x), accurate for small |x| (x = -1 gives -inf, x < -1 gives NaN).
template <class T>
void vlog1p(const T* x, T* y, index_t n) noexcept;
/// @brief y = tanh x.
template <class T>
void vtanh(const T* x, T* y, index_t n) noexcept;
/// @brief y = 1 / (1 + e^-x), computed without overflow on either side.
template <class T>
void vsigmoid(const T* x, T* y, index_t n) noexcept;
/// @brief y = erf x.
template <class T>
void verf(const T* x, T* y, index_t n) noexcept;
/// @brief y = erfc x = 1 - erf x, accurate in relative terms deep into the right tail.
template <class T>
void verfc(const T* x, T* y, index_t n) noexcept;
/// @brief GELU, erf form: y = x Phi(x) = x/2 erfc(-x/sqrt 2) (accurate in the negative tail too).
template <class T>
void vgelu(const T* x, T* y, index_t n) noexcept;
/// @brief GELU, tanh form: y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed as x sigmoid(2u).
template <class T>
void vgelu_tanh(const T* x, T* y, index_t n) noexcept;
/// @brief softplus: y = ln(1 + e^x), as max(x, 0) + log1p(e^-|x|) (no overflow, exact tails).
template <class T>
void vsoftplus(const T* x, T* y, index_t n) noexcept;

/// @brief Scalar twins: the same contracts, computed with std:: functions one element at a time.
template <class T>
void vexp_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vexpm1_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vlog_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vlog1p_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vtanh_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vsigmoid_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void verf_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void verfc_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vgelu_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vgelu_tanh_reference(const T* x, T* y, index_t n) noexcept;
template <class T>
void vsoftplus_reference(const T* x, T* y, index_t n) noexcept;

/// @brief Scalar functions behind the `_reference` twins (and the scalar build), usable one value at a time.
template <class T>
T sigmoid_reference(T x) noexcept;
template <class T>
T gelu_reference(T x) noexcept;
template <class T>
T gelu_tanh_reference(T x) noexcept;
template <class T>
T softplus_reference(T x) noexcept;

#if KEXUE_USE_XSIMD
namespace simd {

// Register functions for use inside other kernels: the same functions and bounds as the array kernels
// above, one register at a time, for any xsimd architecture A and T float or double.

template <class T, class A>
xsimd::batch<T, A> exp(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> expm1(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> log(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> log1p(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> tanh(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> sigmoid(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> erf(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> erfc(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> gelu(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> gelu_tanh(const xsimd::batch<T, A>& x) noexcept;
template <class T, class A>
xsimd::batch<T, A> softplus(const xsimd::batch<T, A>& x) noexcept;

/// @brief e^x for x <= 0 (or NaN), flushing results below the smallest normal number (about 1e-38 for
///        float, 2e-308 for double) to +0. About 30% cheaper than exp(); the softmax family uses it, where
///        such values are negligible against the row's largest term, which is 1. Same accuracy otherwise.
///        Positive x give wrong results.
template <class T, class A>
xsimd::batch<T, A> exp_nonpositive_ftz(const xsimd::batch<T, A>& x) noexcept;

}  // namespace simd
#endif

// ~~~ vector math: constants ~~~
//
// Polynomial coefficients are minimax (Remez, relative error) fits made for this library with
// tools/fit_vector_math.py, lowest degree first; each comment gives the fitted function and interval.

namespace detail::vmath {

template <class T>
struct constants;

template <>
struct constants<float> {
  using int_type = std::uint32_t;  // bit manipulation only: unsigned shifts are logical
  static constexpr int_type exponent_mask = 0xff;
  static constexpr int mantissa_bits = 23;
  static constexpr int exponent_bias = 127;
  static constexpr float shifter = 12582912.0f;               // 1.5 * 2^23: adding it rounds to an integer
  static constexpr float shifter_biased = 12582912.0f + 127;  // ... whose low bits are the biased exponent
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f;     // 9 significant bits: n * ln2_hi is exact for |n| < 2^15
  static constexpr float ln2_lo = -2.12194440e-4f;  // ln 2 - ln2_hi
  static constexpr float ln2 = 0.693147180559945309f;
  static constexpr float exp_hi = 89.0f;           // e^89 overflows float
  static constexpr float exp_lo = -104.0f;         // e^-104 rounds to +0
  static constexpr float expm1_lo = -18.0f;        // e^x - 1 rounds to -1 below about -17.3
  static constexpr float ftz_lo = -88.0f;          // exp_nonpositive_ftz: n = -127, i.e. 2^n -> +0 (not -128)
  static constexpr float tanh_hi = 9.5f;           // tanh rounds to 1 above about 9.01
  static constexpr float erf_hi = 4.0f;            // erf rounds to 1 above about 3.92
  static constexpr float erfc_hi = 10.5f;          // erfc underflows to +0 above about 10.06
  static constexpr float gelu_lo = -15.0f;         // gelu and its Phi underflow to -0 / +0 below this
  static constexpr float gelu_tanh_range = 25.0f;  // sigmoid(2u) is exactly 0 or 1 beyond +-this
  // Q(r) = (e^r - 1 - r) / r^2 on [-0.3476, 0.3476], degree 4, relative error 1.3e-7 (e^r error 8e-9).
  static constexpr float exp_q[] = {4.99999995e-1f, 1.66665763e-1f, 4.16668555e-2f, 8.36331274e-3f, 1.39013563e-3f};
  // P(z) with 2 atanh(s) = 2s + s z P(z), z = s^2 in [0, 0.02973], degree 2, relative error 2.9e-7.
  static constexpr float log_p[] = {6.66666857e-1f, 3.99885340e-1f, 2.95908913e-1f};
  // E(u) = erf(sqrt u) / sqrt u on u in [0, 0.84375^2], degree 5, relative error 5.6e-9; stored as E - 1.
  static constexpr float erf_e_minus_1[] = {1.28379161e-1f,  -3.76125764e-1f, 1.12827756e-1f,
                                            -2.68051042e-2f, 5.05562273e-3f,  -6.34292129e-4f};
  // G(v) = erfc(z) e^(z^2) / t with t = 1 / (1 + z/2) = v + erfc_c, z in [0.84375, 10.5], degree 8,
  // relative error 4.2e-9.
  static constexpr float erfc_c = 0.431648352f;
  static constexpr float erfc_g[] = {4.66384005e-1f,  6.13001956e-1f, 5.24590646e-1f, 1.87380703e-1f, -1.30404064e-1f,
                                     -1.36973292e-1f, 6.13821587e-2f, 8.55021995e-2f, -4.58276822e-2f};
};

template <>
struct constants<double> {
  using int_type = std::uint64_t;
  static constexpr int_type exponent_mask = 0x7ff;
  static constexpr int mantissa_bits = 52;
  static constexpr int exponent_bias = 1023;
  static constexpr double shifter = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double shifter_biased = 6755399441055744.0 + 1023;
  static constexpr double log2e = 1.4426950408889634074;
  static constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 significant bits
  static constexpr double ln2_lo = 1.90821492927058770002e-10;
  static constexpr double ln2 = 0.69314718055994530942;
  static constexpr double exp_hi = 710.0;
  static constexpr double exp_lo = -746.0;
  static constexpr double expm1_lo = -40.0;
  static constexpr double ftz_lo = -709.0;  // n = -1023 (-709.5 would round to -1024)
  static constexpr double tanh_hi = 19.5;
  static constexpr double erf_hi = 6.0;
  static constexpr double erfc_hi = 27.5;
  static constexpr double gelu_lo = -40.0;
  static constexpr double gelu_tanh_range = 25.0;
  // Q(r) = (e^r - 1 - r) / r^2 on [-0.3476, 0.3476], degree 9, relative error 2.1e-16.
  static constexpr double exp_q[] = {5.0000000000000010e-1, 1.6666666666666643e-1, 4.1666666666623356e-2,
                                     8.3333333333567118e-3, 1.3888888917613613e-3, 1.9841269783719725e-4,
                                     2.4801520659036476e-5, 2.7557355907837839e-6, 2.7620396710892398e-7,
                                     2.5068260076713019e-8};
  // P(z), 2 atanh(s) = 2s + s z P(z), z in [0, 0.02973], degree 6, relative error 4.9e-16.
  static constexpr double log_p[] = {6.6666666666666699e-1, 3.9999999999892869e-1, 2.8571428628949857e-1,
                                     2.2222210654281781e-1, 1.8182923809488332e-1, 1.5330578526234564e-1,
                                     1.4630466465957973e-1};
  // E(u) = erf(sqrt u) / sqrt u, u in [0, 0.84375^2], degree 10, relative error 1.0e-17; stored as E - 1.
  static constexpr double erf_e_minus_1[] = {1.2837916709551256e-1,  -3.7612638903183376e-1, 1.1283791670934192e-1,
                                             -2.6866170640580815e-2, 5.2239775745775426e-3,  -8.5483236975078265e-4,
                                             1.2055196972024698e-4,  -1.4922063260186065e-5, 1.6400937114936654e-6,
                                             -1.5709904204757841e-7, 1.0713824548124622e-8};
  // G(v) = erfc(z) e^(z^2) / t, t = 1 / (1 + z/2) = v + erfc_c, z in [0.84375, 27.5], degree 20,
  // relative error 2.1e-17.
  static constexpr double erfc_c = 0.38554665673309741;
  static constexpr double erfc_g[] = {4.3921960487553471e-1,  5.6587558842902732e-1,  4.9714907887959303e-1,
                                      2.0841748304001940e-1,  -9.7099635078881407e-2, -1.5029714027601804e-1,
                                      2.8806533932157115e-2,  1.1280180596560819e-1,  -2.8939187749843942e-2,
                                      -9.6382853225527175e-2, 5.4263391936240506e-2,  7.9742351128222023e-2,
                                      -9.6586093176225248e-2, -3.9757246539606857e-2, 1.4280010589817940e-1,
                                      -4.5853937899285266e-2, -1.5744500518569144e-1, 1.6200857735019077e-1,
                                      9.8340188985686045e-2,  -1.8260968548319103e-1, -4.4716078543592957e-3};
};

/// erf splits at this |x|: a polynomial below, erfc through exp(-x^2) G(t) above.
inline constexpr double erf_split = 0.84375;

}  // namespace detail::vmath

// ~~~ vector math: scalar twins ~~~

template <class T>
T sigmoid_reference(T x) noexcept {
  // Two branches so that neither e^-x nor e^x can overflow.
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

namespace detail::vmath {
/// The GELU twins evaluate in a wider type (float -> double, double -> long double): rounding x / sqrt 2
/// in T would cost about x^2 eps relative in the negative tail.
template <class T>
using wider_t = std::conditional_t<std::is_same_v<T, float>, double, long double>;
}  // namespace detail::vmath

template <class T>
T gelu_reference(T x) noexcept {
  using W = detail::vmath::wider_t<T>;
  if (std::isinf(x)) return x > 0 ? x : T(-0.0);
  const W w = W(x);
  return T(W(0.5) * w * std::erfc(-w * W(0.707106781186547524400844362104849039L)));
}

template <class T>
T gelu_tanh_reference(T x) noexcept {
  using W = detail::vmath::wider_t<T>;
  if (std::isinf(x)) return x > 0 ? x : T(-0.0);
  const W w = W(x);
  const W u = W(0.797884560802865355879892119868763737L) * (w + W(0.044715) * w * w * w);
  return T(w * sigmoid_reference(W(2) * u));  // (1 + tanh u) / 2 = sigmoid(2u)
}

template <class T>
T softplus_reference(T x) noexcept {
  return std::fmax(x, T(0)) + std::log1p(std::exp(-std::fabs(x)));
}

namespace detail::vmath {
template <class T, class F>
void map_reference(const T* x, T* y, index_t n, F f) noexcept {
  for (index_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
}  // namespace detail::vmath

template <class T>
void vexp_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return std::exp(v); });
}
template <class T>
void vexpm1_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return std::expm1(v); });
}
template <class T>
void vlog_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return std::log(v); });
}
template <class T>
void vlog1p_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return std::log1p(v); });
}
template <class T>
void vtanh_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return std::tanh(v); });
}
template <class T>
void vsigmoid_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return sigmoid_reference(v); });
}
template <class T>
void verf_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return std::erf(v); });
}
template <class T>
void verfc_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return std::erfc(v); });
}
template <class T>
void vgelu_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return gelu_reference(v); });
}
template <class T>
void vgelu_tanh_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return gelu_tanh_reference(v); });
}
template <class T>
void vsoftplus_reference(const T* x, T* y, index_t n) noexcept {
  detail::vmath::map_reference(x, y, n, [](T v) { return softplus_reference(v); });
}

// ~~~ vector math: register functions ~~~

#if KEXUE_USE_XSIMD
namespace detail::vmath {

template <class T, class A>
using int_batch = xsimd::batch<typename constants<T>::int_type, A>;

/// Whether A has fused multiply-add instructions.
template <class A>
inline constexpr bool has_fma =
    std::is_base_of_v<xsimd::fma3<xsimd::sse4_2>, A> || std::is_base_of_v<xsimd::fma3<xsimd::avx>, A> ||
    std::is_base_of_v<xsimd::fma3<xsimd::avx2>, A>
#if XSIMD_WITH_AVX512F
    || std::is_base_of_v<xsimd::avx512f, A>
#endif
#if XSIMD_WITH_NEON64
    || std::is_base_of_v<xsimd::neon64, A>
#endif
    ;

// x y + z, -(x y) + z and x y - z with one rounding wherever the hardware has FMA. xsimd 8.1 implements
// fma/fnma/fms for AVX-512 generically as x * y + z (no vfmadd, and unfused unless the compiler contracts
// it), so that case calls the intrinsics. Without FMA hardware these round twice; the kernels below stay
// within their bounds except where noted (square_exact switches to Dekker's product).
template <class T, class A>
inline xsimd::batch<T, A> fmadd(const xsimd::batch<T, A>& x, const xsimd::batch<T, A>& y,
                                const xsimd::batch<T, A>& z) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_fmadd_ps(x, y, z);
    } else {
      return _mm512_fmadd_pd(x, y, z);
    }
  } else
#endif
  {
    return xsimd::fma(x, y, z);
  }
}
template <class T, class A>
inline xsimd::batch<T, A> fnmadd(const xsimd::batch<T, A>& x, const xsimd::batch<T, A>& y,
                                 const xsimd::batch<T, A>& z) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_fnmadd_ps(x, y, z);
    } else {
      return _mm512_fnmadd_pd(x, y, z);
    }
  } else
#endif
  {
    return xsimd::fnma(x, y, z);
  }
}
template <class T, class A>
inline xsimd::batch<T, A> fmsub(const xsimd::batch<T, A>& x, const xsimd::batch<T, A>& y,
                                const xsimd::batch<T, A>& z) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_fmsub_ps(x, y, z);
    } else {
      return _mm512_fmsub_pd(x, y, z);
    }
  } else
#endif
  {
    return xsimd::fms(x, y, z);
  }
}

/// c[0] + c[1] x + ... + c[N-1] x^(N-1), Horner's scheme with FMAs.
template <class T, class A, std::size_t N>
inline xsimd::batch<T, A> horner(const xsimd::batch<T, A>& x, const T (&c)[N]) noexcept {
  xsimd::batch<T, A> p(c[N - 1]);
  for (std::size_t k = N - 1; k-- > 0;) p = fmadd(p, x, xsimd::batch<T, A>(c[k]));
  return p;
}

/// max(lo, min(hi, x)) keeping NaN: x86 min/max return their second operand when either is NaN (and NEON's
/// propagate NaN), so x goes second.
template <class T, class A>
inline xsimd::batch<T, A> clamp_keep_nan(const xsimd::batch<T, A>& x, T lo, T hi) noexcept {
  using B = xsimd::batch<T, A>;
  return xsimd::max(B(lo), xsimd::min(B(hi), x));
}

/// 2^k for integral-valued k with k + shifter_biased's low bits forming a valid biased exponent
/// (|k| up to about the exponent bias): shifts the integer into the exponent field.
template <class T, class A>
inline xsimd::batch<T, A> pow2_from_shifted(const xsimd::batch<T, A>& shifted) noexcept {
  using C = constants<T>;
  return xsimd::bitwise_cast<xsimd::batch<T, A>>(xsimd::bitwise_cast<int_batch<T, A>>(shifted) << C::mantissa_bits);
}

/// Cody-Waite reduction: x = n ln2 + r with n integral (as T), |r| <= ln2/2 (+ rounding); returns n + the
/// biased shifter (whose bits give 2^(n) via pow2_from_shifted), and r. Needs |x| < 2^22 / log2e.
template <class T, class A>
inline void reduce_ln2(const xsimd::batch<T, A>& x, xsimd::batch<T, A>& shifted, xsimd::batch<T, A>& n,
                       xsimd::batch<T, A>& r) noexcept {
  using B = xsimd::batch<T, A>;
  using C = constants<T>;
  shifted = fmadd(x, B(C::log2e), B(C::shifter_biased));
  n = shifted - B(C::shifter_biased);
  r = fnmadd(n, B(C::ln2_hi), x);  // exact (n ln2_hi has few bits; FMA)
  r = fnmadd(n, B(C::ln2_lo), r);
}

/// e^r - 1 = r + r^2 Q(r) for |r| <= ln2/2, accurate relative to the result.
template <class T, class A>
inline xsimd::batch<T, A> expm1_reduced(const xsimd::batch<T, A>& r) noexcept {
  return fmadd(r * r, horner(r, constants<T>::exp_q), r);
}

/// e^x for x already clamped into [exp_lo, exp_hi] (or NaN). Two-step scaling 2^n = 2^n1 2^n2 keeps both
/// factors normal, so overflow gives inf and the denormal range rounds correctly in the last product.
template <class T, class A>
inline xsimd::batch<T, A> exp_clamped(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = constants<T>;
  B shifted, n, r;
  reduce_ln2(x, shifted, n, r);
  const B pm1 = expm1_reduced(r);
  const B half_shifted = fmadd(n, B(T(0.5)), B(C::shifter_biased));  // n1 = round(n / 2)
  const B n2 = n - (half_shifted - B(C::shifter_biased));
  const B s1 = pow2_from_shifted(half_shifted);
  const B s2 = pow2_from_shifted(n2 + B(C::shifter_biased));
  return fmadd(pm1, s1, s1) * s2;  // (1 + pm1) 2^n1 2^n2, one rounding before the final scaling
}

/// Splits a^2 = hi + lo exactly: with FMA, lo = fma(a, a, -hi); without, Dekker's splitting of a.
template <class T, class A>
inline void square_exact(const xsimd::batch<T, A>& a, xsimd::batch<T, A>& hi, xsimd::batch<T, A>& lo) noexcept {
  using B = xsimd::batch<T, A>;
  hi = a * a;
  if constexpr (has_fma<A>) {
    lo = fmsub(a, a, hi);
  } else {
    constexpr T split = std::is_same_v<T, float> ? T(4097) : T(134217729);  // 2^ceil(p/2) + 1
    const B c = B(split) * a;
    const B a_hi = c - (c - a);
    const B a_lo = a - a_hi;
    lo = ((a_hi * a_hi - hi) + B(T(2)) * a_hi * a_lo) + a_lo * a_lo;
  }
}

/// x itself where |x| is so small that f(x) rounds to x (f = expm1, log1p): keeps -0 and denormals exact.
template <class T, class A>
inline xsimd::batch<T, A> keep_tiny(const xsimd::batch<T, A>& x, const xsimd::batch<T, A>& y) noexcept {
  using B = xsimd::batch<T, A>;
  constexpr T tiny = T(1) / T(std::uint64_t(1) << (constants<T>::mantissa_bits + 3));
  return xsimd::select(xsimd::abs(x) < B(tiny), x, y);
}

/// erfc(a) for a >= erf_split (a may exceed erfc_hi, then the result underflows to +0): e^-(a^2) t G(t),
/// with a^2 given exactly as hi + lo so that e^-(a^2) keeps full relative accuracy deep in the tail.
template <class T, class A>
inline xsimd::batch<T, A> erfc_large(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& a2_hi,
                                     const xsimd::batch<T, A>& a2_lo) noexcept {
  using B = xsimd::batch<T, A>;
  using C = constants<T>;
  const B ac = xsimd::min(a, B(C::erfc_hi));
  const B t = B(T(1)) / fmadd(ac, B(T(0.5)), B(T(1)));
  const B g = horner(t - B(C::erfc_c), C::erfc_g);
  // e^-(hi + lo) = e^-hi (1 - lo) to second order; |lo| <= ulp(hi) / 2.
  const B e0 = exp_clamped(xsimd::max(-a2_hi, B(C::exp_lo)));
  const B e = fnmadd(e0, a2_lo, e0);
  return e * (t * g);
}

/// For |a| < erf_split: r with erf(a) = a + r, r = a (E(a^2) - 1). The polynomial is evaluated for E - 1
/// (constant term shifted), whose magnitude is below 0.13, so its rounding errors stay small against erf.
template <class T, class A>
inline xsimd::batch<T, A> erf_small_r(const xsimd::batch<T, A>& a) noexcept {
  return a * horner(a * a, constants<T>::erf_e_minus_1);
}

/// erfc(z) given a = |z|, a^2 = a2_hi + a2_lo exactly, and whether z < 0. Relative accuracy everywhere:
/// for a < 1/4, 1 - erf; for 1/4 <= a < erf_split, 1/2 - ((a - 1/2) + r) (a - 1/2 is exact); beyond, the
/// erfc_large form; for negative z, 2 - erfc(a) = 1 + erf(a) (no cancellation).
template <class T, class A>
inline xsimd::batch<T, A> erfc_core(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& a2_hi,
                                    const xsimd::batch<T, A>& a2_lo, const xsimd::batch_bool<T, A>& negative) noexcept {
  using B = xsimd::batch<T, A>;
  const xsimd::batch_bool<T, A> small = a < B(T(erf_split));
  B result(T(0));
  if (xsimd::any(small)) {
    const B r = erf_small_r(a);
    const B one_minus = xsimd::select(a < B(T(0.25)), B(T(1)) - (a + r), B(T(0.5)) - ((a - B(T(0.5))) + r));
    result = xsimd::select(negative, B(T(1)) + (a + r), one_minus);
  }
  if (!xsimd::all(small)) {  // also taken for NaN
    const B ec = erfc_large(a, a2_hi, a2_lo);
    result = xsimd::select(small, result, xsimd::select(negative, B(T(2)) - ec, ec));
  }
  return result;
}

/// ln(m 2^e) with m in [sqrt(1/2), sqrt 2) given as f = m - 1 (exact) and e as T, plus a correction c
/// added to ln(1 + f) (log1p's rounding term). fdlibm's arrangement: with s = f / (2 + f),
/// ln(1 + f) = f - (f^2/2 - s (f^2/2 + R)), R = s^2 P(s^2), which keeps the leading f exact.
template <class T, class A>
inline xsimd::batch<T, A> log_reduced(const xsimd::batch<T, A>& f, const xsimd::batch<T, A>& e,
                                      const xsimd::batch<T, A>& c) noexcept {
  using B = xsimd::batch<T, A>;
  using C = constants<T>;
  const B s = f / (B(T(2)) + f);
  const B z = s * s;
  const B r = z * horner(z, C::log_p);
  const B hfsq = B(T(0.5)) * f * f;
  const B low = fmadd(e, B(C::ln2_lo), c);
  return fmadd(e, B(C::ln2_hi), f - (hfsq - fmadd(s, hfsq + r, low)));
}

/// Splits positive normal x into m 2^e with m in [sqrt(1/2), sqrt 2); returns f = m - 1 and e (as T).
template <class T, class A>
inline void split_log(const xsimd::batch<T, A>& x, xsimd::batch<T, A>& f, xsimd::batch<T, A>& e) noexcept {
  using B = xsimd::batch<T, A>;
  using C = constants<T>;
  using I = int_batch<T, A>;
  using int_type = typename C::int_type;
  constexpr int_type mantissa_mask = (int_type(1) << C::mantissa_bits) - 1;
  const I bits = xsimd::bitwise_cast<I>(x);
  B m = xsimd::bitwise_cast<B>((bits & I(mantissa_mask)) | xsimd::bitwise_cast<I>(B(T(1))));  // [1, 2)
  // Biased exponent as T without an int -> float conversion (which AVX2 lacks for int64): put it in the
  // mantissa of 2^mantissa_bits and subtract.
  const B two_m = B(T(int_type(1) << C::mantissa_bits));
  const B e_biased =
      xsimd::bitwise_cast<B>(((bits >> C::mantissa_bits) & I(C::exponent_mask)) | xsimd::bitwise_cast<I>(two_m)) -
      two_m;
  const xsimd::batch_bool<T, A> big = m > B(T(1.41421356237309504880));
  m = xsimd::select(big, m * B(T(0.5)), m);
  e = e_biased - B(T(C::exponent_bias)) + xsimd::select(big, B(T(1)), B(T(0)));
  f = m - B(T(1));
}

/// Lanes [0, rest) set, for 0 <= rest <= register size.
template <class T, class A>
inline xsimd::batch_bool<T, A> first_lanes(index_t rest) noexcept {
  using B = xsimd::batch<T, A>;
  alignas(64) static constexpr T iota[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  static_assert(B::size <= 16, "first_lanes: registers of more than 16 lanes");
  return B::load_aligned(iota) < B(T(rest));
}

/// The first `rest` (< register size) values at p, the other lanes `fill`; never reads past p + rest.
/// Masked loads on AVX-512 and AVX2 (which do not fault on masked lanes), a copy elsewhere.
template <class T, class A>
inline xsimd::batch<T, A> load_partial(const T* p, index_t rest, T fill) noexcept {
  using B = xsimd::batch<T, A>;
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    const auto mask = static_cast<unsigned>((1u << rest) - 1u);
    if constexpr (std::is_same_v<T, float>) {
      return _mm512_mask_loadu_ps(B(fill), static_cast<__mmask16>(mask), p);
    } else {
      return _mm512_mask_loadu_pd(B(fill), static_cast<__mmask8>(mask), p);
    }
  } else
#endif
#if XSIMD_WITH_AVX2
      if constexpr (std::is_base_of_v<xsimd::avx2, A>) {
    const auto lanes = first_lanes<T, A>(rest);
    if constexpr (std::is_same_v<T, float>) {
      const B v = _mm256_maskload_ps(p, _mm256_castps_si256(lanes));
      return xsimd::select(lanes, v, B(fill));
    } else {
      const B v = _mm256_maskload_pd(p, _mm256_castpd_si256(lanes));
      return xsimd::select(lanes, v, B(fill));
    }
  } else
#endif
  {
    alignas(64) T buffer[B::size];
    for (index_t k = 0; k < static_cast<index_t>(B::size); ++k) buffer[k] = k < rest ? p[k] : fill;
    return B::load_aligned(buffer);
  }
}

/// Stores the first `rest` (< register size) lanes of v at p; writes nothing else.
template <class T, class A>
inline void store_partial(T* p, const xsimd::batch<T, A>& v, index_t rest) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    const auto mask = static_cast<unsigned>((1u << rest) - 1u);
    if constexpr (std::is_same_v<T, float>) {
      _mm512_mask_storeu_ps(p, static_cast<__mmask16>(mask), v);
    } else {
      _mm512_mask_storeu_pd(p, static_cast<__mmask8>(mask), v);
    }
  } else
#endif
#if XSIMD_WITH_AVX2
      if constexpr (std::is_base_of_v<xsimd::avx2, A>) {
    const auto lanes = first_lanes<T, A>(rest);
    if constexpr (std::is_same_v<T, float>) {
      _mm256_maskstore_ps(p, _mm256_castps_si256(lanes), v);
    } else {
      _mm256_maskstore_pd(p, _mm256_castpd_si256(lanes), v);
    }
  } else
#endif
  {
    alignas(64) T buffer[xsimd::batch<T, A>::size];
    v.store_aligned(buffer);
    for (index_t k = 0; k < rest; ++k) p[k] = buffer[k];
  }
}

/// y = f(x) over n values: two registers per iteration, then one, then a partial register (padded with 0).
template <class T, class A, class F>
inline void map_simd(const T* x, T* y, index_t n, F f) noexcept {
  using B = xsimd::batch<T, A>;
  constexpr index_t w = static_cast<index_t>(B::size);
  index_t i = 0;
  for (; i + 2 * w <= n; i += 2 * w) {
    const B a = f(B::load_unaligned(x + i));
    const B b = f(B::load_unaligned(x + i + w));
    a.store_unaligned(y + i);
    b.store_unaligned(y + i + w);
  }
  for (; i + w <= n; i += w) f(B::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) store_partial<T, A>(y + i, f(load_partial<T, A>(x + i, n - i, T(0))), n - i);
}

}  // namespace detail::vmath

namespace simd {

template <class T, class A>
xsimd::batch<T, A> exp(const xsimd::batch<T, A>& x) noexcept {
  using C = detail::vmath::constants<T>;
  return detail::vmath::exp_clamped(detail::vmath::clamp_keep_nan(x, C::exp_lo, C::exp_hi));
}

template <class T, class A>
xsimd::batch<T, A> exp_nonpositive_ftz(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = detail::vmath::constants<T>;
  B shifted, n, r;
  // n >= -(bias) after the clamp; 2^-bias has an all-zero exponent field, i.e. it is +0.
  detail::vmath::reduce_ln2(xsimd::max(B(C::ftz_lo), x), shifted, n, r);
  const B s = detail::vmath::pow2_from_shifted(shifted);
  return detail::vmath::fmadd(detail::vmath::expm1_reduced(r), s, s);
}

template <class T, class A>
xsimd::batch<T, A> expm1(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = detail::vmath::constants<T>;
  B shifted, n, r;
  detail::vmath::reduce_ln2(detail::vmath::clamp_keep_nan(x, C::expm1_lo, C::exp_hi), shifted, n, r);
  const B pm1 = detail::vmath::expm1_reduced(r);
  // e^x - 1 = 2 (h pm1 + (h - 1/2)) with h = 2^(n-1): h stays finite up to n = 128 (1024 for double), and
  // h - 1/2 is exact for the n where it matters.
  const B h = detail::vmath::pow2_from_shifted(shifted - B(T(1)));
  const B y = detail::vmath::fmadd(h, pm1, h - B(T(0.5)));
  return detail::vmath::keep_tiny(x, y + y);
}

template <class T, class A>
xsimd::batch<T, A> log(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  B f, e;
  const xsimd::batch_bool<T, A> normal =
      (x >= B(std::numeric_limits<T>::min())) & (x <= B(std::numeric_limits<T>::max()));
  if (xsimd::all(normal)) {
    detail::vmath::split_log(x, f, e);
    return detail::vmath::log_reduced(f, e, B(T(0)));
  }
  // Denormals: scale up by 2^(mantissa_bits + 2) first. Then the special values.
  constexpr int k = detail::vmath::constants<T>::mantissa_bits + 2;
  const xsimd::batch_bool<T, A> tiny = x < B(std::numeric_limits<T>::min());
  const B scale = B(T(std::int64_t(1) << k));
  detail::vmath::split_log(xsimd::select(tiny, x * scale, x), f, e);
  B y = detail::vmath::log_reduced(f, e - xsimd::select(tiny, B(T(k)), B(T(0))), B(T(0)));
  y = xsimd::select(x < B(T(0)), B(std::numeric_limits<T>::quiet_NaN()), y);
  y = xsimd::select(x == B(T(0)), B(-std::numeric_limits<T>::infinity()), y);
  y = xsimd::select(x == B(std::numeric_limits<T>::infinity()), x, y);
  return xsimd::select(xsimd::isnan(x), x, y);
}

template <class T, class A>
xsimd::batch<T, A> log1p(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  // u = 1 + x rounded; c = (x - (u - 1)) / u is the rounding error carried to first order
  // (u - 1 is exact whenever c matters). u >= 2^-mantissa_bits for x > -1, so u is normal.
  const B u = B(T(1)) + x;
  const B c = (x - (u - B(T(1)))) / u;
  B f, e;
  detail::vmath::split_log(u, f, e);
  B y = detail::vmath::log_reduced(f, e, c);
  const xsimd::batch_bool<T, A> ordinary = (x > B(T(-1))) & (x <= B(std::numeric_limits<T>::max()));
  if (!xsimd::all(ordinary)) {
    y = xsimd::select(x < B(T(-1)), B(std::numeric_limits<T>::quiet_NaN()), y);
    y = xsimd::select(x == B(T(-1)), B(-std::numeric_limits<T>::infinity()), y);
    y = xsimd::select(x == B(std::numeric_limits<T>::infinity()), x, y);
    y = xsimd::select(xsimd::isnan(x), x, y);
  }
  return detail::vmath::keep_tiny(x, y);
}

template <class T, class A>
xsimd::batch<T, A> tanh(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = detail::vmath::constants<T>;
  // tanh|x| = e / (e + 2) with e = expm1(2|x|); exact near 0, rounds to 1 at the clamp.
  const B sign = x & B(T(-0.0));
  const B a = xsimd::min(B(C::tanh_hi), xsimd::abs(x));  // NaN stays NaN (second operand)
  const B e = simd::expm1(a + a);
  return (e / (e + B(T(2)))) | sign;
}

template <class T, class A>
xsimd::batch<T, A> sigmoid(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  // e = e^-|x| <= 1: sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0; no overflow, and the
  // left tail keeps full relative accuracy down to the denormals.
  const B e = simd::exp(-xsimd::abs(x));
  return xsimd::select(x < B(T(0)), e, B(T(1))) / (B(T(1)) + e);
}

template <class T, class A>
xsimd::batch<T, A> erf(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = detail::vmath::constants<T>;
  const B a = xsimd::abs(x);
  const xsimd::batch_bool<T, A> small = a < B(T(detail::vmath::erf_split));
  B y(T(0));
  if (xsimd::any(small)) y = x + detail::vmath::erf_small_r(x);
  if (!xsimd::all(small)) {
    const B ac = xsimd::min(B(C::erf_hi), a);  // erf is 1 beyond; NaN stays
    B hi, lo;
    detail::vmath::square_exact(ac, hi, lo);
    const B big = (B(T(1)) - detail::vmath::erfc_large(ac, hi, lo)) | (x & B(T(-0.0)));
    y = xsimd::select(small, y, big);
  }
  return y;
}

template <class T, class A>
xsimd::batch<T, A> erfc(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = detail::vmath::constants<T>;
  const B a = xsimd::min(B(C::erfc_hi + 1), xsimd::abs(x));  // beyond: 0 or 2 exactly; NaN stays
  B hi, lo;
  detail::vmath::square_exact(a, hi, lo);
  return detail::vmath::erfc_core(a, hi, lo, x < B(T(0)));
}

template <class T, class A>
xsimd::batch<T, A> gelu(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = detail::vmath::constants<T>;
  // Phi(x) = erfc(z) / 2 with z = -x / sqrt 2. z^2 = x^2 / 2 is formed exactly from x so that the negative
  // tail, where erfc(z) ~ e^-(z^2), keeps its relative accuracy; only t = 1 / (1 + |z|/2) sees the
  // rounded |z|, and G(t) is flat.
  const B xc = detail::vmath::clamp_keep_nan(x, C::gelu_lo, -C::gelu_lo);
  B hi, lo;
  detail::vmath::square_exact(xc, hi, lo);
  const B a = xsimd::abs(xc) * B(T(0.70710678118654752440));
  const B phi2 = detail::vmath::erfc_core(a, hi * B(T(0.5)), lo * B(T(0.5)), xc > B(T(0)));
  // x = -inf meets Phi = 0: multiply by the lowest finite value instead, giving -0 (NaN stays NaN).
  return xsimd::max(B(std::numeric_limits<T>::lowest()), x) * (phi2 * B(T(0.5)));
}

template <class T, class A>
xsimd::batch<T, A> gelu_tanh(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  using C = detail::vmath::constants<T>;
  // (1 + tanh u) / 2 = sigmoid(2u), 2u = x (k0 + k1 x^2), k0 = 2 sqrt(2/pi), k1 = 0.044715 k0.
  const B xc = detail::vmath::clamp_keep_nan(x, -C::gelu_tanh_range, C::gelu_tanh_range);
  const B w = xc * detail::vmath::fmadd(B(T(0.071354816272600248776)), xc * xc, B(T(1.5957691216057307118)));
  return xsimd::max(B(std::numeric_limits<T>::lowest()), x) * simd::sigmoid(w);  // as in gelu
}

template <class T, class A>
xsimd::batch<T, A> softplus(const xsimd::batch<T, A>& x) noexcept {
  using B = xsimd::batch<T, A>;
  return xsimd::max(B(T(0)), x) + simd::log1p(simd::exp(-xsimd::abs(x)));
}

}  // namespace simd
#endif  // KEXUE_USE_XSIMD

// ~~~ vector math: array kernels ~~~

#if KEXUE_USE_XSIMD
#define KEXUE_VMATH_ARRAY(name, fn)                                                         \
  template <class T>                                                                        \
  void name(const T* x, T* y, index_t n) noexcept {                                         \
    detail::vmath::map_simd<T, simd::default_arch>(                                         \
        x, y, n, [](const xsimd::batch<T, simd::default_arch>& v) { return simd::fn(v); }); \
  }
#else
#define KEXUE_VMATH_ARRAY(name, fn)                 \
  template <class T>                                \
  void name(const T* x, T* y, index_t n) noexcept { \
    name##_reference(x, y, n);                      \
  }
#endif

KEXUE_VMATH_ARRAY(vexp, exp)
KEXUE_VMATH_ARRAY(vexpm1, expm1)
KEXUE_VMATH_ARRAY(vlog, log)
KEXUE_VMATH_ARRAY(vlog1p, log1p)
KEXUE_VMATH_ARRAY(vtanh, tanh)
KEXUE_VMATH_ARRAY(vsigmoid, sigmoid)
KEXUE_VMATH_ARRAY(verf, erf)
KEXUE_VMATH_ARRAY(verfc, erfc)
KEXUE_VMATH_ARRAY(vgelu, gelu)
KEXUE_VMATH_ARRAY(vgelu_tanh, gelu_tanh)
KEXUE_VMATH_ARRAY(vsoftplus, softplus)

#undef KEXUE_VMATH_ARRAY

}  // namespace kexue
