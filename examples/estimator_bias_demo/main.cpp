// SPDX-License-Identifier: MIT
// A24 example: Monte Carlo of the biased (1/n) and unbiased (1/(n−1)) variance estimators, and of estimators that
// stay biased because they are nonlinear in the expectation.
//
// What the article shows (spec A24, https://kexue.fm/archives/6747): the sample mean is unbiased, but the variance
// with the sample mean plugged in, σ̂²_b = (1/n) Σ (x_i − x̄)², has E[σ̂²_b] = (n−1)/n · σ²; dividing by n − 1
// instead gives an unbiased σ̂²_u. With n = 1 the biased estimate is always 0; for n = 2 it is exactly (x₁ − x₂)²/4.
// The general principle: an estimator that is nonlinear in the expectation (σ² = E[x²] − E[x]²) is generally biased
// from finite samples, and the n − 1 fix is special to the variance: √σ̂²_u still underestimates σ, and x̄² over-
// estimates μ² by σ²/n.
//
// Data: M batches of n i.i.d. draws from N(μ = 3, σ = 2) (kx::randn with a fixed-seed kx::generator), for
// n ∈ {2, 5, 10}; M = 100 000 per n (--full: 2 000 000). Estimators per batch, all with kexue ops over axis 1 of
// the [M, n] tensor: kx::var(x, {1}, false) (1/n), kx::var(x, {1}, true) (1/(n−1)), kx::stddev(x, {1}, true),
// and kx::square(kx::mean(x, {1})). No model is trained.
//
// Claims, per n. Tolerances are Monte Carlo standard errors, SE = (sample std of the M estimates)/√M, estimated
// from the same run: a correct estimator fails a "within 4 SE" claim with probability 6e-5 (normal
// approximation), so the 10 such claims together fail by chance at most about once in 1 500 seeds; the "≥ 10 SE"
// claims say the bias is far outside the Monte Carlo noise at this M (measured z = 36-226 over seeds 1-5 and
// 6747 at M = 100 000, growing as √M; the "within" claims measured |z| ≤ 2.4).
//   biased_z_n:    |mean σ̂²_b − (n−1)/n σ²| ≤ 4 SE              (E[σ̂²_b] = (n−1)/n σ²)
//   unbiased_z_n:  |mean σ̂²_u − σ²| ≤ 4 SE                      (E[σ̂²_u] = σ²; the same batches, so its z equals
//                                                                the biased one's: it checks var's divisor)
//   biased_below_sigma2_z_n:  (σ² − mean σ̂²_b)/SE ≥ 10          (the 1/n estimator is visibly low)
//   sqrt_unbiased_below_sigma_z_n: (σ − mean √σ̂²_u)/SE ≥ 10      (the sqrt of an unbiased estimate is biased low)
//   sqrt_unbiased_z_n:  |mean √σ̂²_u − c₄(n)σ| ≤ 4 SE, c₄(n) = √(2/(n−1)) Γ(n/2)/Γ((n−1)/2) (0.798, 0.940, 0.973
//                  for n = 2, 5, 10: the exact size of that bias for normal data)
//   mean_sq_z_n2, mean_sq_above_mu2_z_n2: n = 2 only (printed for every n): |mean x̄² − (μ² + σ²/n)| ≤ 4 SE and
//                  (mean x̄² − μ²)/SE ≥ 10 (x̄² is biased high by σ²/n)
// Exact claims: n = 1 gives σ̂²_b = 0 for every batch; for n = 2, max |σ̂²_b − (x₁ − x₂)²/4| ≤ 1e-12 (measured
// ≤ 7.1e-15 for data of size ~3).
// Not tested: the article's remark that a mini-batch gradient is an unbiased estimate of the full gradient, and
// batch norm's running-variance convention (a per-library choice).
// Expected output: a table per n (mean, theory, SE, z), then "claim: ... PASS" lines. --seed N: another seed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using dtensor = kx::tensor<double>;

namespace {

constexpr double mu = 3.0, sigma = 2.0;

/// Mean and Monte Carlo standard error of the entries of a rank-1 tensor of estimates.
struct estimate {
  double mean, se;
};

estimate summarize(const dtensor& values) {
  const double m = kx::mean(values).item();
  const double sd = kx::stddev(values).item();  // over the M batches, 1/(M−1)
  return {m, sd / std::sqrt(static_cast<double>(values.numel()))};
}

/// c₄(n) = E[s]/σ for the unbiased sample variance s² of n normal draws.
double c4(int n) { return std::sqrt(2.0 / (n - 1)) * std::exp(std::lgamma(n / 2.0) - std::lgamma((n - 1) / 2.0)); }

using kexue_examples::claim;

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  options.seed = 6747;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  bool full = options.full;
  std::uint64_t seed = options.seed;
  const kx::index_t batches = full ? 2000000 : 100000;
  kx::generator gen(seed);
  std::printf("estimator_bias_demo: %lld batches of n draws from N(%g, %g^2) per n, seed %llu\n",
              static_cast<long long>(batches), mu, sigma, static_cast<unsigned long long>(seed));
  const double var = sigma * sigma;
  bool pass = true;

  // 1. n = 1: the biased estimate has nothing to spread over and is always 0.
  {
    const dtensor x = kx::randn<double>({1000, 1}, gen, mu, sigma);
    const double max_b = kx::max(kx::abs(kx::var(x, {1}, false))).item();
    std::printf("n = 1: max over 1000 batches of the 1/n variance = %g (the 1/(n-1) one is 0/0)\n", max_b);
    pass &= claim("n1_biased_always_zero", max_b, "== 0", max_b == 0.0);
  }

  // 2. n = 2: the article's worked case, σ̂²_b = ((x₁ − x̄)² + (x₂ − x̄)²)/2 = (x₁ − x₂)²/4 for every batch.
  {
    const dtensor x = kx::randn<double>({1000, 2}, gen, mu, sigma);
    const dtensor diff = kx::sub(kx::narrow(x, 1, 0, 1), kx::narrow(x, 1, 1, 1));
    const dtensor quarter = kx::reshape(kx::mul_scalar(kx::square(diff), 0.25), {1000});
    const double err = kx::max(kx::abs(kx::sub(kx::var(x, {1}, false), quarter))).item();
    pass &= claim("n2_biased_equals_quarter_sq_diff", err, "<= 1e-12", err <= 1e-12);
  }

  // 3. Monte Carlo for n = 2, 5, 10.
  std::printf("%3s  %-22s %10s %10s %9s %8s\n", "n", "estimator", "MC mean", "theory", "SE", "z");
  for (int n : {2, 5, 10}) {
    const dtensor x = kx::randn<double>({batches, n}, gen, mu, sigma);
    const estimate b = summarize(kx::var(x, {1}, false));
    const estimate u = summarize(kx::var(x, {1}, true));
    const estimate s = summarize(kx::stddev(x, {1}, true));
    const estimate m2 = summarize(kx::square(kx::mean(x, {1})));
    const double nn = n;
    const double b_theory = (nn - 1) / nn * var, s_theory = c4(n) * sigma, m2_theory = mu * mu + var / nn;
    auto row = [&](const char* name, const estimate& e, double theory) {
      std::printf("%3d  %-22s %10.5f %10.5f %9.5f %8.2f\n", n, name, e.mean, theory, e.se, (e.mean - theory) / e.se);
    };
    row("var 1/n", b, b_theory);
    row("var 1/(n-1)", u, var);
    row("sqrt(var 1/(n-1))", s, s_theory);
    row("mean^2", m2, m2_theory);
    std::printf(
        "%3d  bias of 1/n var: %.4f (theory %.4f = sigma^2/n), z vs sigma^2 = %.1f; "
        "sqrt(unbiased) below sigma by %.4f, z = %.1f\n",
        n, var - b.mean, var / nn, (var - b.mean) / b.se, sigma - s.mean, (sigma - s.mean) / s.se);

    const std::string suffix = "_n" + std::to_string(n);
    pass &= claim("biased_z" + suffix, (b.mean - b_theory) / b.se, "|z| <= 4 vs (n-1)/n sigma^2",
                  std::fabs(b.mean - b_theory) <= 4 * b.se);
    pass &=
        claim("unbiased_z" + suffix, (u.mean - var) / u.se, "|z| <= 4 vs sigma^2", std::fabs(u.mean - var) <= 4 * u.se);
    pass &= claim("biased_below_sigma2_z" + suffix, (var - b.mean) / b.se, ">= 10", var - b.mean >= 10 * b.se);
    pass &=
        claim("sqrt_unbiased_below_sigma_z" + suffix, (sigma - s.mean) / s.se, ">= 10", sigma - s.mean >= 10 * s.se);
    pass &= claim("sqrt_unbiased_z" + suffix, (s.mean - s_theory) / s.se, "|z| <= 4 vs c4(n) sigma",
                  std::fabs(s.mean - s_theory) <= 4 * s.se);
    if (n == 2) {
      pass &= claim("mean_sq_z" + suffix, (m2.mean - m2_theory) / m2.se, "|z| <= 4 vs mu^2 + sigma^2/n",
                    std::fabs(m2.mean - m2_theory) <= 4 * m2.se);
      pass &=
          claim("mean_sq_above_mu2_z" + suffix, (m2.mean - mu * mu) / m2.se, ">= 10", m2.mean - mu * mu >= 10 * m2.se);
    }
  }
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
