// SPDX-License-Identifier: MIT
// A14 example: Mitchell's approximation turns a float multiplication into an integer addition of bit patterns,
// with a relative error of at most 1/9 (products, never too large) and 12.5% (quotients, never too small).
//
// What the article says (spec A14, https://kexue.fm/archives/7991): write p = 2ⁿ(1 + x), x ∈ [0, 1); then
// log₂ p ≈ n + x, and the bits of a positive normal float32 are exactly (n + 127)·2²³ + x·2²³, so
// bits(a·b) ≈ bits(a) + bits(b) − 0x3F800000 (the carry out of the mantissa sum is the "x₁ + x₂ ≥ 1" branch) and
// bits(a/b) ≈ bits(a) − bits(b) + 0x3F800000. The product ratio (1+x₁+x₂)/((1+x₁)(1+x₂)) or
// 2(x₁+x₂)/((1+x₁)(1+x₂)) has its minimum 8/9 at x₁ = x₂ = ½ (1.5·1.5 = 2.25 → 2), so the product never
// overestimates and errs by at most 1/9; the quotient errs by at most 12.5% (1/1.5 → 0.75). Worked example:
// 12.3 × 4.56 = 56.088 → 53.68. A network whose multiplications are all replaced loses little accuracy.
//
// What the program does:
//   1. kx::algo::mitchell_mul / mitchell_div (algo/mitchell.hpp): the bit trick on magnitudes (memcpy, no type
//      punning), the sign by XOR, and explicit zeros, infinities, NaN, subnormal inputs (renormalised by a 2²⁴
//      exponent shift), exponent overflow (→ ±inf) and underflow (→ a subnormal or zero, rounded by ldexp).
//   2. A dense mantissa sweep: every pair of mantissas x₁, x₂ on a grid of 2¹¹ (smoke; --full 2¹³) values in [0, 1),
//      at a few exponents; errors measured against the exact product in double (a product of two floats is exact
//      in double). Then 2·10⁵ (--full 4·10⁶) random floats of both signs with exponents in [−60, 60], and random
//      subnormals.
//   3. A 3-layer ReLU MLP (32-64-64-10) trained in float with Adam on 10 noisy Gaussian classes, then evaluated on
//      a held-out set with every multiplication of its three matrix products replaced by mitchell_mul (a reference
//      "Mitchell GEMM": Σ_k mitchell_mul(x_ik, w_jk), the additions exact).
//
// Claims (the bounds are the article's exact values; float rounding only enters through the inputs):
//   mul_max_rel_err         max |ab − m(a,b)|/|ab| over the grid and the random floats within 1e-6 of 1/9
//   mul_argmax              the worst grid pair lies within 2 grid steps of x₁ = x₂ = ½
//   mul_overestimates       products with |m(a,b)| > |ab|: 0
//   div_max_rel_err         max |m(a/b) − a/b|/|a/b| within 1e-6 of 1/8
//   div_underestimates      quotients with |m(a/b)| < |a/b|: 0 (spec: not stated; the ratio is ≥ 1 by algebra)
//   worked_example          |m(12.3, 4.56) − 53.68| ≤ 1e-3
//   special_case_failures   zeros, infinities, NaN, overflow, underflow, subnormal inputs: 0 wrong
//   mlp_accuracy_drop       float accuracy − Mitchell accuracy ≤ 0.02 (measured −0.002 … +0.0025 over seeds 1-8
//                           smoke and 1-3 --full, README.md; a wrong kernel drops to chance, 0.1)
// Expected output: the sweep summary, the MLP accuracies, eight "claim: ... PASS" lines. --seed N: another seed
// (data, random floats, MLP). --full: a 2¹³ × 2¹³ grid, 4·10⁶ random floats, 4× the MLP data, 2× the steps.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;
using kexue_examples::claim;

namespace {

using kx::algo::mitchell_div;
using kx::algo::mitchell_mul;
constexpr std::int64_t mantissa_one = 1 << 23;  // one unit of exponent in a float's bit pattern

struct error_stats {
  double max_rel = 0;  // max |approx − exact| / |exact|
  double worst_x1 = 0, worst_x2 = 0;
  double sum_signed = 0;  // Σ (approx − exact)/exact
  long long count = 0, over = 0, under = 0;

  void add(double approx, double exact, double x1, double x2) {
    const double rel = (approx - exact) / exact;
    if (std::fabs(rel) > max_rel) {
      max_rel = std::fabs(rel);
      worst_x1 = x1;
      worst_x2 = x2;
    }
    sum_signed += rel;
    ++count;
    over += std::fabs(approx) > std::fabs(exact);
    under += std::fabs(approx) < std::fabs(exact);
  }
};

/// A float 2^e·(1 + x) of random sign, e uniform in [−60, 60].
float random_float(kx::generator& gen) {
  const int e = static_cast<int>(gen.below(121)) - 60;
  const float f = std::ldexp(1.0f + static_cast<float>(gen.below(mantissa_one)) / mantissa_one, e);
  return gen.below(2) ? -f : f;
}

/// y [n, out] = x [n, in] · wᵀ + b, every product x_ik·w_jk by mitchell_mul (or exactly, for the check).
tensor mitchell_linear(const tensor& x, const kx::nn::linear<float>& layer, bool mitchell) {
  const kx::index_t n = x.size(0), in = x.size(1), out = layer.weight.size(0);
  tensor y = kx::tensor<float>::empty({n, out});
  const float *xs = x.data(), *w = layer.weight.data(), *b = layer.bias.data();
  for (kx::index_t i = 0; i < n; ++i)
    for (kx::index_t j = 0; j < out; ++j) {
      float acc = b[j];
      for (kx::index_t k = 0; k < in; ++k)
        acc += mitchell ? mitchell_mul(xs[i * in + k], w[j * in + k]) : xs[i * in + k] * w[j * in + k];
      y.data()[i * out + j] = acc;
    }
  return y;
}

struct mlp {
  kx::nn::linear<float> l1, l2, l3;
  explicit mlp(kx::generator& gen) : l1(32, 64, gen), l2(64, 64, gen), l3(64, 10, gen) {}
  tensor forward(const tensor& x) const { return l3(kx::relu(l2(kx::relu(l1(x))))); }
  tensor forward_by_hand(const tensor& x, bool mitchell) const {
    const tensor h1 = kx::relu(mitchell_linear(x, l1, mitchell));
    return mitchell_linear(kx::relu(mitchell_linear(h1, l2, mitchell)), l3, mitchell);
  }
  std::vector<tensor> parameters() const { return {l1.weight, l1.bias, l2.weight, l2.bias, l3.weight, l3.bias}; }
};

/// n samples of 10 classes: prototype c (N(0, 1) in 32-D, shared by train and test) plus N(0, σ²) noise.
void make_data(const tensor& prototypes, kx::index_t n, kx::generator& gen, tensor& x, kx::tensor<kx::index_t>& y) {
  y = kx::randint(0, 10, {n}, gen);
  x = kx::randn<float>({n, 32}, gen, 0.0f, 1.6f);
  for (kx::index_t i = 0; i < n; ++i)
    for (kx::index_t k = 0; k < 32; ++k) x(i, k) += prototypes(y(i), k);
}

double accuracy(const tensor& logits, const kx::tensor<kx::index_t>& y) {
  const kx::tensor<kx::index_t> pred = kx::argmax(logits, 1);
  kx::index_t hits = 0;
  for (kx::index_t i = 0; i < y.numel(); ++i) hits += pred.data()[i] == y.data()[i];
  return static_cast<double>(hits) / static_cast<double>(y.numel());
}

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  options.seed = 7991;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  const bool full = options.full;
  kx::generator gen(options.seed);
  std::printf("mitchell_multiplication: bits(a*b) ~ bits(a) + bits(b) - 0x3F800000, seed %llu\n",
              static_cast<unsigned long long>(options.seed));

  // 1. Dense mantissa grid at a few exponent pairs (the error depends on the mantissas only).
  const int grid = full ? 1 << 13 : 1 << 11;
  error_stats mul, div;
  for (const auto& exps : {std::pair<int, int>{0, 0}, {3, -5}, {-20, 17}}) {
    for (int i = 0; i < grid; ++i) {
      const double x1 = static_cast<double>(i) / grid;
      const float a = std::ldexp(static_cast<float>(1 + x1), exps.first);
      for (int j = 0; j < grid; ++j) {
        const double x2 = static_cast<double>(j) / grid;
        const float b = std::ldexp(static_cast<float>(1 + x2), exps.second);
        mul.add(mitchell_mul(a, b), static_cast<double>(a) * b, x1, x2);
        div.add(mitchell_div(a, b), static_cast<double>(a) / b, x1, x2);
      }
    }
  }
  std::printf(
      "grid %d x %d mantissas x 3 exponent pairs: mul max rel err %.9f at x1=%.4f x2=%.4f (1/9 = %.9f), "
      "mean %.4f\n",
      grid, grid, mul.max_rel, mul.worst_x1, mul.worst_x2, 1.0 / 9, mul.sum_signed / mul.count);
  std::printf("  div max rel err %.9f at x1=%.4f x2=%.4f (1/8 = 0.125), mean %+.4f\n", div.max_rel, div.worst_x1,
              div.worst_x2, div.sum_signed / div.count);
  const double grid_x1 = mul.worst_x1, grid_x2 = mul.worst_x2;

  // 2. Random floats of both signs over a wide exponent range, and subnormal inputs.
  const long long randoms = full ? 4000000 : 200000;
  error_stats mul_random, div_random;
  for (long long r = 0; r < randoms; ++r) {
    const float a = random_float(gen), b = random_float(gen);
    mul_random.add(mitchell_mul(a, b), static_cast<double>(a) * b, 0, 0);
    div_random.add(mitchell_div(a, b), static_cast<double>(a) / b, 0, 0);
  }
  for (int r = 0; r < 10000; ++r) {  // subnormal a (|a| < 2⁻¹²⁶) with b, c chosen for a normal result
    const float a = static_cast<float>(gen.below(mantissa_one - 1) + 1) * std::ldexp(1.0f, -149);
    const float mantissa = 1.0f + static_cast<float>(gen.below(mantissa_one)) / mantissa_one;
    const float b = std::ldexp(mantissa, 100), c = std::ldexp(mantissa, -30);
    mul_random.add(mitchell_mul(a, b), static_cast<double>(a) * b, 0, 0);
    div_random.add(mitchell_div(c, a), static_cast<double>(c) / a, 0, 0);
  }
  std::printf(
      "%lld random floats (+10^4 subnormal inputs): mul max rel err %.9f, div max rel err %.9f, "
      "overestimating products %lld, underestimating quotients %lld\n",
      randoms, mul_random.max_rel, div_random.max_rel, mul_random.over, div_random.under);
  const double mul_max = std::max(mul.max_rel, mul_random.max_rel);
  const double div_max = std::max(div.max_rel, div_random.max_rel);
  const long long mul_over = mul.over + mul_random.over, div_under = div.under + div_random.under;

  // 3. The article's examples and the special cases.
  const float worked = mitchell_mul(12.3f, 4.56f);
  std::printf("12.3 x 4.56 = %.4f exact, Mitchell %.4f (%.2f%% low); 1.5 x 1.5 -> %.4f; 1 / 1.5 -> %.4f\n", 12.3 * 4.56,
              worked, 100 * (1 - worked / (12.3 * 4.56)), mitchell_mul(1.5f, 1.5f), mitchell_div(1.0f, 1.5f));
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float tiny = std::numeric_limits<float>::denorm_min();
  int special_failures = 0;
  auto expect = [&](const char* what, float got, float want) {
    const bool same = (std::isnan(want) && std::isnan(got)) || (got == want && std::signbit(got) == std::signbit(want));
    if (!same) {
      std::printf("  special case %s: got %g, expected %g\n", what, got, want);
      ++special_failures;
    }
  };
  expect("0*3", mitchell_mul(0.0f, 3.0f), 0.0f);
  expect("-0*3", mitchell_mul(-0.0f, 3.0f), -0.0f);
  expect("-2*3 (exact: mantissas 0)", mitchell_mul(-2.0f, 3.0f), -6.0f);
  expect("-1.5*-1.5", mitchell_mul(-1.5f, -1.5f), 2.0f);
  expect("inf*-2", mitchell_mul(inf, -2.0f), -inf);
  expect("inf*0", mitchell_mul(inf, 0.0f), nan);
  expect("nan*1", mitchell_mul(nan, 1.0f), nan);
  expect("1e30*1e30 overflow", mitchell_mul(1e30f, 1e30f), inf);
  expect("-1e30*1e30 overflow", mitchell_mul(-1e30f, 1e30f), -inf);
  expect("1e-30*1e-30 underflow", mitchell_mul(1e-30f, 1e-30f), 0.0f);
  expect("denorm_min*0.5", mitchell_mul(tiny, 0.5f), 0.0f);  // 2⁻¹⁵⁰ rounds to even: 0, as IEEE
  expect("denorm_min*2", mitchell_mul(tiny, 2.0f), 2 * tiny);
  expect("2^-126*0.5 (subnormal result)", mitchell_mul(std::ldexp(1.0f, -126), 0.5f), std::ldexp(1.0f, -127));
  expect("1/1.5", mitchell_div(1.0f, 1.5f), 0.75f);
  expect("6/-2", mitchell_div(6.0f, -2.0f), -3.0f);
  expect("1/0", mitchell_div(1.0f, 0.0f), inf);
  expect("-1/0", mitchell_div(-1.0f, 0.0f), -inf);
  expect("0/0", mitchell_div(0.0f, 0.0f), nan);
  expect("inf/inf", mitchell_div(inf, inf), nan);
  expect("1/inf", mitchell_div(1.0f, inf), 0.0f);
  expect("1e30/1e-30 overflow", mitchell_div(1e30f, 1e-30f), inf);
  expect("1e-30/1e30 underflow", mitchell_div(1e-30f, 1e30f), 0.0f);
  expect("denorm_min/denorm_min", mitchell_div(tiny, tiny), 1.0f);
  std::printf("special cases (zeros, inf, NaN, overflow, underflow, subnormals): %d wrong\n", special_failures);

  // 4. An MLP trained in float, evaluated with Mitchell products in every matrix product.
  const kx::index_t train_n = full ? 8000 : 2000, test_n = full ? 8000 : 2000;
  const int steps = full ? 600 : 300;
  const tensor prototypes = kx::randn<float>({10, 32}, gen);
  tensor x_train, x_test;
  kx::tensor<kx::index_t> y_train, y_test;
  make_data(prototypes, train_n, gen, x_train, y_train);
  make_data(prototypes, test_n, gen, x_test, y_test);
  mlp model(gen);
  kx::optim::adam<float> opt(model.parameters(), kx::optim::adam_options().lr(3e-3));
  for (int step = 0; step < steps; ++step) {
    const kx::tensor<kx::index_t> rows = kx::randint(0, train_n, {256}, gen);
    const tensor loss =
        kx::loss::cross_entropy(model.forward(kx::index_select(x_train, 0, rows)), kx::index_select(y_train, 0, rows));
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  double acc_float = 0, acc_by_hand = 0, acc_mitchell = 0;
  {
    kx::no_grad_guard no_grad;
    acc_float = accuracy(model.forward(x_test), y_test);
    acc_by_hand = accuracy(model.forward_by_hand(x_test, false), y_test);
    acc_mitchell = accuracy(model.forward_by_hand(x_test, true), y_test);
  }
  std::printf(
      "MLP 32-64-64-10, %d Adam steps, %lld test samples: float accuracy %.4f (same loops, exact products "
      "%.4f), Mitchell products %.4f, drop %+.4f\n",
      steps, static_cast<long long>(test_n), acc_float, acc_by_hand, acc_mitchell, acc_float - acc_mitchell);

  bool pass = true;
  pass &= claim("mul_max_rel_err", mul_max, "within 1e-6 of 1/9", std::fabs(mul_max - 1.0 / 9) <= 1e-6);
  const double step = 1.0 / grid;
  const double argmax_dist = std::max(std::fabs(grid_x1 - 0.5), std::fabs(grid_x2 - 0.5));
  pass &= claim("mul_argmax_distance_from_x1_x2_half", argmax_dist, "<= 2 grid steps", argmax_dist <= 2 * step);
  pass &= claim("mul_overestimates", static_cast<double>(mul_over), "0", mul_over == 0);
  pass &= claim("div_max_rel_err", div_max, "within 1e-6 of 1/8", std::fabs(div_max - 0.125) <= 1e-6);
  pass &= claim("div_underestimates", static_cast<double>(div_under), "0", div_under == 0);
  pass &= claim("worked_example_12.3x4.56", worked, "within 1e-3 of 53.68", std::fabs(worked - 53.68) <= 1e-3);
  pass &= claim("special_case_failures", special_failures, "0", special_failures == 0);
  pass &= claim("mlp_accuracy_drop", acc_float - acc_mitchell, "<= 0.02", acc_float - acc_mitchell <= 0.02);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
