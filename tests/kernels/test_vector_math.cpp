// SPDX-License-Identifier: MIT
// Tests of kernels/vector_math.hpp: ulp error measured against higher-precision std:: functions over dense
// sweeps, special values, and tail / alignment handling of the array kernels.
//
// Float sweeps visit every 257th float of each range (~8.5M values per function, about two seconds in all);
// KEXUE_TEST_EXHAUSTIVE=1 visits every float (about ten minutes). References are the double std:: functions.
// Double sweeps draw 2^18 values per range (uniform and log-uniform in magnitude) and use the long double
// std:: functions as references.
#include <algorithm>  // std::max, std::min
#include <cmath>      // references
#include <cstdint>    // bit patterns
#include <cstdlib>    // std::getenv
#include <cstring>    // std::memcpy
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/kernels/vector_math.hpp>

#include "support/seed.hpp"

namespace {

using kexue::index_t;
using kernel_fn = void (*)(const void*, void*, index_t);

template <class T>
using array_fn = void (*)(const T*, T*, index_t) noexcept;

/// Higher-precision reference type: double for float, long double for double.
template <class T>
using wide_t = std::conditional_t<std::is_same_v<T, float>, double, long double>;

template <class T>
struct ref_fns {
  using W = wide_t<T>;
  static W exp(W x) { return std::exp(x); }
  static W expm1(W x) { return std::expm1(x); }
  static W log(W x) { return std::log(x); }
  static W log1p(W x) { return std::log1p(x); }
  static W tanh(W x) { return std::tanh(x); }
  static W sigmoid(W x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
  static W erf(W x) { return std::erf(x); }
  static W erfc(W x) { return std::erfc(x); }
  static W gelu(W x) { return W(0.5) * x * std::erfc(-x / std::sqrt(W(2))); }
  static W gelu_tanh(W x) {
    const W w = 2 * std::sqrt(W(2) / W(3.14159265358979323846264338327950288L)) * (x + W(0.044715) * x * x * x);
    return x * sigmoid(w);
  }
  static W softplus(W x) { return std::max(x, W(0)) + std::log1p(std::exp(-std::fabs(x))); }
};

/// Error of `got` against the wide reference, in ulp of T at the reference (denormal ulp below the normals).
/// Returns 0 when both are the same special value, and a huge number for a NaN/inf/sign mismatch.
template <class T>
double ulp_error(T got, wide_t<T> ref) {
  using W = wide_t<T>;
  constexpr double mismatch = 1e30;
  if (std::isnan(ref)) return std::isnan(got) ? 0 : mismatch;
  if (std::isnan(got)) return mismatch;
  // Where the reference overflows T (rounds to inf), demand inf.
  const W max_t = W(std::numeric_limits<T>::max());
  const W half_ulp_max = std::ldexp(W(1), std::numeric_limits<T>::max_exponent - std::numeric_limits<T>::digits - 1);
  if (std::fabs(ref) >= max_t + half_ulp_max) {
    return (std::isinf(got) && (got > 0) == (ref > 0)) ? 0 : mismatch;
  }
  if (std::isinf(got)) return mismatch;
  int e = 0;
  std::frexp(ref, &e);                                     // |ref| = m 2^e, m in [0.5, 1)
  const int min_e = std::numeric_limits<T>::min_exponent;  // normals have e >= min_e
  const W ulp = std::ldexp(W(1), std::max(e, min_e) - std::numeric_limits<T>::digits);
  return static_cast<double>(std::fabs(W(got) - ref) / ulp);
}

template <class T>
struct sweep_result {
  double max_ulp = 0;
  T worst_x = 0;
  T worst_got = 0;
  wide_t<T> worst_ref = 0;
  std::uint64_t count = 0;
};

/// Runs the kernel over `xs` in chunks of varying length (to cover every tail), accumulating the worst ulp
/// error divided by allowance(x) (1 for a plain ulp bound).
template <class T, class Ref, class Allowance>
void measure(const std::vector<T>& xs, array_fn<T> kernel, Ref ref, Allowance allowance, sweep_result<T>& result) {
  std::vector<T> ys(xs.size());
  // Chunk lengths cycle through tail-heavy sizes; offsets keep pointers unaligned half of the time.
  static constexpr index_t lengths[] = {4093, 1, 7, 17, 33, 64, 129, 1000};
  index_t done = 0;
  for (int k = 0; done < static_cast<index_t>(xs.size()); ++k) {
    const index_t len = std::min<index_t>(lengths[k % 8], static_cast<index_t>(xs.size()) - done);
    kernel(xs.data() + done, ys.data() + done, len);
    done += len;
  }
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const wide_t<T> r = ref(wide_t<T>(xs[i]));
    const double err = ulp_error<T>(ys[i], r) / allowance(xs[i]);
    if (err > result.max_ulp || (std::isnan(err) && !std::isnan(result.max_ulp))) {
      result.max_ulp = err;
      result.worst_x = xs[i];
      result.worst_got = ys[i];
      result.worst_ref = r;
    }
  }
  result.count += xs.size();
}

bool exhaustive() {
  const char* env = std::getenv("KEXUE_TEST_EXHAUSTIVE");
  return env != nullptr && std::string(env) == "1";
}

/// Sanitizer builds (about 20x slower here) sweep 16x more sparsely: they look for memory errors, and the
/// optimised build measures the accuracy.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

std::uint32_t float_bits(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}
float bits_float(std::uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

/// Every stride-th float in [lo, hi] (both signs walked from zero outwards, including denormals and zeros).
template <class Ref, class Allowance>
sweep_result<float> sweep_float(float lo, float hi, array_fn<float> kernel, Ref ref, Allowance allowance) {
  const std::uint32_t stride = exhaustive() ? 1 : sanitized ? 4099 : 257;
  sweep_result<float> result;
  std::vector<float> xs;
  xs.reserve(1 << 20);
  auto flush = [&] {
    measure(xs, kernel, ref, allowance, result);
    xs.clear();
  };
  auto walk = [&](float end, std::uint32_t sign) {
    if (!(end * (sign ? -1.0f : 1.0f) >= 0)) return;
    const std::uint32_t last = float_bits(std::fabs(end));
    for (std::uint64_t b = 0; b <= last; b += stride) {
      xs.push_back(bits_float(static_cast<std::uint32_t>(b) | sign));
      if (xs.size() == (1u << 20)) flush();
    }
    xs.push_back(bits_float(last | sign));  // the end point itself
  };
  walk(lo, 0x80000000u);
  walk(hi, 0u);
  flush();
  return result;
}

/// 2^18 doubles in [lo, hi]: half uniform, half log-uniform in magnitude (down to 1e-300 and denormals).
template <class Ref, class Allowance>
sweep_result<double> sweep_double(double lo, double hi, array_fn<double> kernel, Ref ref, Allowance allowance) {
  std::uint64_t state = kexue_test_seed() ^ 0x9E3779B97F4A7C15ull;
  auto next = [&] {  // splitmix64
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  auto uniform = [&] { return static_cast<double>(next() >> 11) * 0x1.0p-53; };
  std::vector<double> xs;
  const int n = sanitized ? 1 << 14 : 1 << 18;
  for (int i = 0; i < n / 2; ++i) xs.push_back(lo + (hi - lo) * uniform());
  for (int i = 0; i < n / 2; ++i) {
    const double sign = (next() & 1) ? 1.0 : -1.0;
    const double mag = std::exp2(-1074.0 + 1084.0 * uniform());  // 2^-1074 .. 2^10
    const double v = sign * mag;
    if (v >= lo && v <= hi) xs.push_back(v);
  }
  xs.push_back(lo);
  xs.push_back(hi);
  sweep_result<double> result;
  measure(xs, kernel, ref, allowance, result);
  return result;
}

template <class T, class Ref, class Allowance = double (*)(T)>
sweep_result<T> sweep(
    T lo, T hi, array_fn<T> kernel, Ref ref, Allowance allowance = [](T) { return 1.0; }) {
  if constexpr (std::is_same_v<T, float>) {
    return sweep_float(lo, hi, kernel, ref, allowance);
  } else {
    return sweep_double(lo, hi, kernel, ref, allowance);
  }
}

template <class T>
void report(const char* name, const sweep_result<T>& r, double bound) {
  MESSAGE(std::string(name) << (sizeof(T) == 4 ? std::string("<float>") : std::string("<double>")) << ": max "
                            << r.max_ulp << " ulp over " << r.count << " values (bound " << bound
                            << "), worst at x = " << double(r.worst_x) << " got " << double(r.worst_got) << " ref "
                            << static_cast<long double>(r.worst_ref));
  CHECK(r.max_ulp <= bound);
}

template <class T>
void check_specials(array_fn<T> kernel, std::initializer_list<T> xs, std::initializer_list<T> expected) {
  std::vector<T> in(xs), out(in.size());
  kernel(in.data(), out.data(), static_cast<index_t>(in.size()));
  std::size_t i = 0;
  for (T e : expected) {
    CAPTURE(double(in[i]));
    CAPTURE(double(out[i]));
    CAPTURE(double(e));
    if (std::isnan(e)) {
      CHECK(std::isnan(out[i]));
    } else {
      CHECK(out[i] == e);
      CHECK(std::signbit(out[i]) == std::signbit(e));
    }
    ++i;
  }
}

}  // namespace

TEST_SUITE("kernels.vector_math") {
  // Ulp bounds asserted below are the ones documented in vector_math.hpp. They hold for the scalar build
  // (KEXUE_USE_XSIMD=0, glibc's functions) too.
  TEST_CASE_TEMPLATE("vector math matches higher-precision std:: functions within the stated ulp", T, float, double) {
    using R = ref_fns<T>;
    constexpr bool is_float = std::is_same_v<T, float>;
    const T exp_hi = is_float ? T(89) : T(710);
    const T exp_lo = is_float ? T(-104) : T(-746);
    const T big = std::numeric_limits<T>::max();
    SUBCASE("exp") { report("vexp", sweep<T>(exp_lo, exp_hi, kexue::vexp<T>, R::exp), 1.5); }
    SUBCASE("expm1") { report("vexpm1", sweep<T>(T(-20), exp_hi, kexue::vexpm1<T>, R::expm1), 2.5); }
    SUBCASE("log") { report("vlog", sweep<T>(T(0), big, kexue::vlog<T>, R::log), 1); }
    SUBCASE("log1p") { report("vlog1p", sweep<T>(T(-1), big, kexue::vlog1p<T>, R::log1p), 1.5); }
    SUBCASE("tanh") { report("vtanh", sweep<T>(T(-20), T(20), kexue::vtanh<T>, R::tanh), 3); }
    SUBCASE("sigmoid") { report("vsigmoid", sweep<T>(exp_lo, T(40), kexue::vsigmoid<T>, R::sigmoid), 2.5); }
    SUBCASE("erf") { report("verf", sweep<T>(T(-7), T(7), kexue::verf<T>, R::erf), 2); }
    SUBCASE("erfc") { report("verfc", sweep<T>(T(-7), is_float ? T(11) : T(28), kexue::verfc<T>, R::erfc), 6.5); }
    SUBCASE("gelu") { report("vgelu", sweep<T>(T(-6), T(20), kexue::vgelu<T>, R::gelu), 7); }
    SUBCASE("gelu_tanh") {
      // The sigmoid argument w = 2u is rounded (|w| eps), and e^w carries that into the result: the bound is
      // 4 + 3|w| ulp; reported below as the largest ratio error / (4 + 3|w|).
      auto allowance = [](T x) {
        const double w = 1.5957691216057307 * (double(x) + 0.044715 * double(x) * double(x) * double(x));
        return 4 + 3 * std::fabs(w);
      };
      report("vgelu_tanh / (4 + 3|w|)", sweep<T>(T(-6), T(20), kexue::vgelu_tanh<T>, R::gelu_tanh, allowance), 1);
    }
    SUBCASE("softplus") { report("vsoftplus", sweep<T>(exp_lo, exp_hi, kexue::vsoftplus<T>, R::softplus), 2); }
  }

  TEST_CASE_TEMPLATE("gelu tails keep their sign and relative accuracy far out", T, float, double) {
    using R = ref_fns<T>;
    // Beyond x = -6 the error grows with the condition number (about x^2 of the erf form's e^(-x^2/2), and the
    // tanh form's argument rounding); both stay within 2^-10 relative until they underflow.
    const T lo = std::is_same_v<T, float> ? T(-15) : T(-40);
    for (auto [kernel, ref] : {std::pair{kexue::vgelu<T>, &R::gelu}, std::pair{kexue::vgelu_tanh<T>, &R::gelu_tanh}}) {
      const auto r = sweep<T>(lo, T(-6), kernel, ref);
      MESSAGE("gelu tail: max " << r.max_ulp << " ulp at x = " << double(r.worst_x));
      // 2^-10 relative, expressed in ulp of T at the reference.
      CHECK(r.max_ulp <= std::ldexp(1.0, std::numeric_limits<T>::digits - 10));
    }
  }

  TEST_CASE_TEMPLATE("vector math special values", T, float, double) {
    const T inf = std::numeric_limits<T>::infinity();
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const T dmin = std::numeric_limits<T>::denorm_min();
    const T tmin = std::numeric_limits<T>::min();
    const T big = std::numeric_limits<T>::max();
    SUBCASE("exp") {
      check_specials<T>(kexue::vexp<T>, {T(0), T(-0.0), inf, -inf, nan, big, -big, T(1000), T(-1000)},
                        {T(1), T(1), inf, T(0), nan, inf, T(0), inf, T(0)});
      // The smallest denormal, and the largest finite result.
      const T x_dmin = std::log(dmin);
      T got;
      kexue::vexp<T>(&x_dmin, &got, 1);
      CHECK(got == dmin);
      const T x_max = std::nextafter(std::log(big), T(0));
      kexue::vexp<T>(&x_max, &got, 1);
      CHECK(std::isfinite(got));
      CHECK(got == doctest::Approx(std::exp(x_max)).epsilon(1e-6));
    }
    SUBCASE("expm1") {
      check_specials<T>(kexue::vexpm1<T>, {T(0), T(-0.0), inf, -inf, nan, big, -big, dmin},
                        {T(0), T(-0.0), inf, T(-1), nan, inf, T(-1), dmin});
    }
    SUBCASE("log") {
      check_specials<T>(kexue::vlog<T>, {T(1), T(0), T(-0.0), T(-1), -inf, inf, nan, dmin},
                        {T(0), -inf, -inf, nan, nan, inf, nan, std::log(dmin)});
      check_specials<T>(kexue::vlog<T>, {tmin, big}, {std::log(tmin), std::log(big)});
    }
    SUBCASE("log1p") {
      check_specials<T>(kexue::vlog1p<T>, {T(0), T(-0.0), T(-1), T(-2), -inf, inf, nan, dmin, big},
                        {T(0), T(-0.0), -inf, nan, nan, inf, nan, dmin, std::log1p(big)});
    }
    SUBCASE("tanh") {
      check_specials<T>(kexue::vtanh<T>, {T(0), T(-0.0), inf, -inf, nan, T(50), T(-50), dmin, -dmin},
                        {T(0), T(-0.0), T(1), T(-1), nan, T(1), T(-1), dmin, -dmin});
    }
    SUBCASE("sigmoid") {
      check_specials<T>(kexue::vsigmoid<T>, {T(0), inf, -inf, nan, big, -big, T(-800)},
                        {T(0.5), T(1), T(0), nan, T(1), T(0), T(0)});
    }
    SUBCASE("erf and erfc") {
      check_specials<T>(kexue::verf<T>, {T(0), T(-0.0), inf, -inf, nan, T(10), T(-10), dmin},
                        {T(0), T(-0.0), T(1), T(-1), nan, T(1), T(-1), std::erf(dmin)});
      check_specials<T>(kexue::verfc<T>, {T(0), inf, -inf, nan, T(30), T(-30), big, -big},
                        {T(1), T(0), T(2), nan, T(0), T(2), T(0), T(2)});
    }
    SUBCASE("gelu") {
      check_specials<T>(kexue::vgelu<T>, {T(0), inf, -inf, nan, big, -big, T(-100)},
                        {T(0), inf, T(-0.0), nan, big, T(-0.0), T(-0.0)});
      check_specials<T>(kexue::vgelu_tanh<T>, {T(0), inf, -inf, nan, big, -big, T(-100)},
                        {T(0), inf, T(-0.0), nan, big, T(-0.0), T(-0.0)});
    }
    SUBCASE("softplus") {
      check_specials<T>(kexue::vsoftplus<T>, {T(0), inf, -inf, nan, big, T(-1000)},
                        {std::log(T(2)), inf, T(0), nan, big, T(0)});
    }
  }

  TEST_CASE_TEMPLATE("array kernels treat every tail and alignment alike, in place too", T, float, double) {
    // The value of an element must not depend on where it falls (main loop, second register, padded tail).
    std::vector<T> x(300), expected(300), got(300);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(-3) + T(0.021) * T(i);
    auto same = [](T a, T b) { return a == b || (std::isnan(a) && std::isnan(b)); };  // log1p(x < -1) is NaN
    for (auto kernel : {kexue::vexp<T>, kexue::vlog1p<T>, kexue::vtanh<T>, kexue::vgelu<T>, kexue::verf<T>}) {
      for (std::size_t i = 0; i < x.size(); ++i) kernel(&x[i], &expected[i], 1);
      for (index_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257}) {
        for (index_t offset : {0, 1, 3}) {
          if (offset + n > static_cast<index_t>(x.size())) continue;
          std::fill(got.begin(), got.end(), T(-7));
          kernel(x.data() + offset, got.data() + offset, n);
          for (index_t i = 0; i < static_cast<index_t>(x.size()); ++i) {
            const bool inside = i >= offset && i < offset + n;
            if (inside) {
              CAPTURE(n);
              CAPTURE(offset);
              CAPTURE(double(x[i]));
              REQUIRE(same(got[i], expected[i]));
            } else {
              REQUIRE(got[i] == T(-7));  // nothing written outside [offset, offset + n)
            }
          }
          std::vector<T> inplace(x.begin() + offset, x.begin() + offset + n);
          kernel(inplace.data(), inplace.data(), n);
          for (index_t i = 0; i < n; ++i) REQUIRE(same(inplace[i], expected[offset + i]));
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("scalar twins agree with the kernels", T, float, double) {
    std::vector<T> x(1001), a(1001), b(1001);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(-8) + T(0.016) * T(i);
    const std::pair<array_fn<T>, array_fn<T>> pairs[] = {
        {kexue::vexp<T>, kexue::vexp_reference<T>},           {kexue::vexpm1<T>, kexue::vexpm1_reference<T>},
        {kexue::vtanh<T>, kexue::vtanh_reference<T>},         {kexue::vsigmoid<T>, kexue::vsigmoid_reference<T>},
        {kexue::verf<T>, kexue::verf_reference<T>},           {kexue::verfc<T>, kexue::verfc_reference<T>},
        {kexue::vgelu<T>, kexue::vgelu_reference<T>},         {kexue::vgelu_tanh<T>, kexue::vgelu_tanh_reference<T>},
        {kexue::vsoftplus<T>, kexue::vsoftplus_reference<T>}, {kexue::vlog1p<T>, kexue::vlog1p_reference<T>}};
    for (const auto& [kernel, reference] : pairs) {
      kernel(x.data(), a.data(), static_cast<index_t>(x.size()));
      reference(x.data(), b.data(), static_cast<index_t>(x.size()));
      for (std::size_t i = 0; i < x.size(); ++i) {
        CAPTURE(double(x[i]));
        if (std::isnan(a[i]) || std::isnan(b[i])) {  // log1p below -1
          REQUIRE(std::isnan(a[i]) == std::isnan(b[i]));
          continue;
        }
        // The twins carry their own rounding (float std:: functions, x / sqrt 2 rounded first): compare loosely.
        REQUIRE(double(a[i]) == doctest::Approx(double(b[i])).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12));
      }
    }
  }

}  // TEST_SUITE
