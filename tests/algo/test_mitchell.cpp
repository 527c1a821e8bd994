// SPDX-License-Identifier: MIT
// algo::mitchell_mul, mitchell_div and mitchell_matmul (A14): the exact error bounds 1/9 and 1/8, their
// direction, where they are attained, special values, and the tensor forms.
#include <algorithm>  // std::max
#include <cmath>      // std::ldexp, std::fabs, std::isnan, std::signbit, std::ilogb
#include <limits>
#include <utility>  // std::pair

#include <doctest/doctest.h>

#include <kexue/algo/mitchell.hpp>
#include <kexue/core/random.hpp>

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::algo::mitchell_div;
using kx::algo::mitchell_mul;

namespace test_mitchell {

/// Same value and, for zeros, same sign; NaN matches NaN.
bool same_float(float got, float want) {
  if (std::isnan(want)) return std::isnan(got);
  return got == want && std::signbit(got) == std::signbit(want);
}

}  // namespace test_mitchell

TEST_SUITE("algo.mitchell") {
  TEST_CASE("products are never too large and err by at most 1/9, attained at mantissas 1.5 x 1.5") {
    // Every pair of mantissas 1 + i/512, 1 + j/512, at three exponent pairs; exact products in double.
    const int grid = 512;
    double worst = 0, worst_x1 = -1, worst_x2 = -1;
    int over = 0, formula_mismatch = 0;
    for (const auto& [e1, e2] : {std::pair<int, int>{0, 0}, {5, -9}, {-40, 33}})
      for (int i = 0; i < grid; ++i)
        for (int j = 0; j < grid; ++j) {
          const double x1 = static_cast<double>(i) / grid, x2 = static_cast<double>(j) / grid;
          const float a = std::ldexp(static_cast<float>(1 + x1), e1), b = std::ldexp(static_cast<float>(1 + x2), e2);
          const double exact = static_cast<double>(a) * b, m = mitchell_mul(a, b);
          over += m > exact;
          const double rel = (exact - m) / exact;
          if (rel > worst) worst = rel, worst_x1 = x1, worst_x2 = x2;
          // Mitchell's two branches: ratio (1 + x₁ + x₂)/((1 + x₁)(1 + x₂)), or 2(x₁ + x₂)/(...) on a carry.
          const double ratio = (x1 + x2 < 1 ? 1 + x1 + x2 : 2 * (x1 + x2)) / ((1 + x1) * (1 + x2));
          formula_mismatch += std::fabs(m / exact - ratio) > 1e-15;
        }
    CHECK(over == 0);
    CHECK(formula_mismatch == 0);
    CHECK(worst == doctest::Approx(1.0 / 9).epsilon(1e-15));
    CHECK(worst_x1 == 0.5);
    CHECK(worst_x2 == 0.5);
    // 1.5·1.5 = 2.25 → 2 exactly (x₁ + x₂ = 1: a carry, 2¹·(0.5 + 0.5)); negative operands by sign XOR
    CHECK(mitchell_mul(1.5f, 1.5f) == 2.0f);
    CHECK(mitchell_mul(-1.5f, 1.5f) == -2.0f);
    CHECK(mitchell_mul(-1.5f, -1.5f) == 2.0f);
    CHECK(mitchell_mul(-2.0f, 3.0f) == -6.0f);  // a zero mantissa: exact
    // 12.3 = 2³·1.5375, 4.56 = 2²·1.14: x₁ + x₂ = 0.6775 < 1, so 2⁵·1.6775 = 53.68 (exact 56.088)
    CHECK(mitchell_mul(12.3f, 4.56f) == doctest::Approx(53.68).epsilon(1e-6));
  }

  TEST_CASE("quotients are never too small and err by at most 1/8, attained at 1 / 1.5") {
    const int grid = 512;
    double worst = 0;
    int under = 0;
    for (int i = 0; i < grid; ++i)
      for (int j = 0; j < grid; ++j) {
        const float a = std::ldexp(1.0f + static_cast<float>(i) / grid, 3);
        const float b = std::ldexp(1.0f + static_cast<float>(j) / grid, -7);
        const double exact = static_cast<double>(a) / b, m = mitchell_div(a, b);
        under += m < exact;
        worst = std::max(worst, (m - exact) / exact);
      }
    CHECK(under == 0);
    CHECK(worst <= 0.125 + 1e-15);                          // double rounding of the ratio only
    CHECK(worst == doctest::Approx(0.125).epsilon(1e-15));  // the grid holds x₁ = 0, x₂ = ½
    CHECK(mitchell_div(1.0f, 1.5f) == 0.75f);               // 0.75/0.6667 = 1.125 exactly
    CHECK(mitchell_div(6.0f, -2.0f) == -3.0f);
    CHECK(mitchell_div(3.5f, 1.75f) == 2.0f);  // equal mantissas: exact
  }

  TEST_CASE("random floats and subnormal inputs stay within the bounds") {
    kx::generator gen(7991);
    double mul_worst = 0, div_worst = 0;
    for (int r = 0; r < 20000; ++r) {
      const auto random_float = [&gen](int spread) {
        const float f = std::ldexp(1.0f + static_cast<float>(gen.below(1 << 23)) / (1 << 23),
                                   static_cast<int>(gen.below(2 * spread + 1)) - spread);
        return gen.below(2) ? -f : f;
      };
      const float a = random_float(60), b = random_float(60);
      const double mul_ratio = mitchell_mul(a, b) / (static_cast<double>(a) * b);
      const double div_ratio = mitchell_div(a, b) / (static_cast<double>(a) / b);
      REQUIRE(mul_ratio >= 8.0 / 9 - 1e-12);
      REQUIRE(mul_ratio <= 1);
      REQUIRE(div_ratio >= 1);
      REQUIRE(div_ratio <= 1.125 + 1e-12);
      mul_worst = std::max(mul_worst, 1 - mul_ratio);
      div_worst = std::max(div_worst, div_ratio - 1);
      // a subnormal a (|a| < 2⁻¹²⁶) with a partner that makes the result normal
      const float s = static_cast<float>(gen.below((1 << 23) - 1) + 1) * std::ldexp(1.0f, -149);
      const float big = std::ldexp(std::fabs(b), 100 - static_cast<int>(std::ilogb(b)));
      const double sub_ratio = mitchell_mul(s, big) / (static_cast<double>(s) * big);
      REQUIRE(sub_ratio >= 8.0 / 9 - 1e-12);
      REQUIRE(sub_ratio <= 1);
    }
    CHECK(mul_worst > 0.1);  // the random pairs come close to the bound
    CHECK(div_worst > 0.11);
  }

  TEST_CASE("special values follow IEEE multiplication and division") {
    using test_mitchell::same_float;
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const float tiny = std::numeric_limits<float>::denorm_min();
    CHECK(same_float(mitchell_mul(0.0f, 3.0f), 0.0f));
    CHECK(same_float(mitchell_mul(-0.0f, 3.0f), -0.0f));
    CHECK(same_float(mitchell_mul(inf, -2.0f), -inf));
    CHECK(same_float(mitchell_mul(inf, 0.0f), nan));
    CHECK(same_float(mitchell_mul(nan, 1.0f), nan));
    CHECK(same_float(mitchell_mul(1e30f, 1e30f), inf));  // exponent overflow
    CHECK(same_float(mitchell_mul(-1e30f, 1e30f), -inf));
    CHECK(same_float(mitchell_mul(1e-30f, 1e-30f), 0.0f));  // underflow
    CHECK(same_float(mitchell_mul(tiny, 0.5f), 0.0f));      // 2⁻¹⁵⁰ rounds to even: 0, as IEEE
    CHECK(same_float(mitchell_mul(tiny, 2.0f), 2 * tiny));
    CHECK(same_float(mitchell_mul(std::ldexp(1.0f, -126), 0.5f), std::ldexp(1.0f, -127)));  // subnormal result
    CHECK(same_float(mitchell_div(1.0f, 0.0f), inf));
    CHECK(same_float(mitchell_div(-1.0f, 0.0f), -inf));
    CHECK(same_float(mitchell_div(0.0f, 0.0f), nan));
    CHECK(same_float(mitchell_div(inf, inf), nan));
    CHECK(same_float(mitchell_div(1.0f, inf), 0.0f));
    CHECK(same_float(mitchell_div(-1.0f, inf), -0.0f));
    CHECK(same_float(mitchell_div(1e30f, 1e-30f), inf));
    CHECK(same_float(mitchell_div(1e-30f, 1e30f), 0.0f));
    CHECK(same_float(mitchell_div(tiny, tiny), 1.0f));
  }

  TEST_CASE("the tensor forms apply the scalar ones element-wise and the matmul sums Mitchell products") {
    const tensor<float> a = {{1.5f, -2.0f, 12.3f}, {0.0f, 3.0f, 1.25f}};
    const tensor<float> b = {{1.5f, 3.0f, 4.56f}, {7.0f, -1.5f, 0.75f}};
    const auto p = kx::algo::mitchell_mul(a, b), q = kx::algo::mitchell_div(a, b);
    for (index_t i = 0; i < a.numel(); ++i) {
      CHECK(p.data()[i] == mitchell_mul(a.data()[i], b.data()[i]));
      CHECK(q.data()[i] == mitchell_div(a.data()[i], b.data()[i]));
    }
    // c = a · bᵀ [2, 2]: c[0][0] = m(1.5, 1.5) + m(−2, 3) + m(12.3, 4.56) = 2 − 6 + 53.68
    const auto c = kx::algo::mitchell_matmul(a, b, true);
    REQUIRE(c.shape() == kx::shape{2, 2});
    CHECK(c(0, 0) == doctest::Approx(49.68).epsilon(1e-6));
    const tensor<float> bt = {{1.5f, 7.0f}, {3.0f, -1.5f}, {4.56f, 0.75f}};
    const auto c2 = kx::algo::mitchell_matmul(a, bt);
    for (index_t i = 0; i < 4; ++i) CHECK(c2.data()[i] == c.data()[i]);
    // c[1][1] = m(0, 7) + m(3, −1.5) + m(1.25, 0.75): 3 = 2·1.5, 1.5: x sum 1 → −2²·1 = −4; 1.25·0.75 =
    // 2⁰·1.25 × 2⁻¹·1.5: 0.25 + 0.5 < 1 → 2⁻¹·1.75 = 0.875; total −3.125
    CHECK(c(1, 1) == -3.125f);
  }

  TEST_CASE("the tensor forms reject mismatched shapes") {
    const tensor<float> a = {{1, 2, 3}, {4, 5, 6}};
    const tensor<float> v = {1, 2, 3};
    CHECK_THROWS_WITH_AS(kx::algo::mitchell_mul(a, v), "mitchell_mul: shapes [2, 3] and [3] differ", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::algo::mitchell_div(v, a), "mitchell_div: shapes [3] and [2, 3] differ", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::algo::mitchell_matmul(a, a),
                         "mitchell_matmul: expected a [n, k] and b [k, m], got [2, 3] and [2, 3]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::algo::mitchell_matmul(a, v, true),
                         "mitchell_matmul: expected a [n, k] and b [m, k], got [2, 3] and [3]", kx::shape_error);
  }
}
