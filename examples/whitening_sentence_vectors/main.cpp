// SPDX-License-Identifier: MIT
// A15 example: BERT-whitening. Whitening anisotropic sentence vectors (zero mean, identity covariance) makes
// their cosine similarity track the true similarity; keeping only the k leading directions does at least as well.
//
// What the article says (spec A15, https://kexue.fm/archives/8069): cosine similarity presumes an orthonormal
// basis, i.e. isotropic vectors; BERT's sentence vectors are not. With μ the mean, Σ = U Λ Uᵀ the covariance of
// the centred vectors (Λ descending) and W = U Λ^{−1/2}, the vectors x̃ = (x − μ)W have mean 0 and covariance I;
// W_k = U[:, :k] Λ_k^{−1/2} also reduces the dimension. On STS-B whitening matched BERT-flow (Spearman 59 → 71)
// and whitening-256 did slightly better. Statistics can be accumulated in a stream:
//   μ_{n+m} = (n μ_n + m μ_b)/(n + m),  Σ_{n+m} = (n(Σ_n + μ_nᵀμ_n) + m E_b[xᵀx])/(n + m) − μ_{n+m}ᵀμ_{n+m}
// (the library applies it in the equivalent centred form, which does not cancel under a large mean).
// 1/N or 1/(N − 1) in Σ only rescales W, which no cosine sees.
//
// Synthetic data (the spec's (d)): N pairs of latent "meanings" s, s' ∈ R³² (isotropic, N(0, I)) with a chosen
// similarity ρ ~ U(0, 1): s' = ρ s + √(1 − ρ²) ε. Model 1 (the spec's): "sentence vectors" x = A s + b + e in R²⁵⁶
// with A = Q diag(σ) Rᵀ (Q 256 × 32 orthonormal, R a 32 × 32 rotation, σ log-spaced from 1 to 10⁻³: three orders
// of magnitude), a common offset b of norm 5 and isotropic noise e ~ N(0, (10⁻⁴)² I). Model 2: model 1 plus
// 3·P z, P 256 × 8 orthonormal and z ~ N(0, I₈) drawn independently per sentence: dominant directions that
// carry no meaning (as BERT's frequency/length directions are said to). Ground truth: ρ. Score: Spearman
// correlation of cos(x, x') with ρ over the N pairs. Statistics from the evaluation vectors themselves (the
// article's "target" setting). All in double; kx::algo::whitening (algo/whitening.hpp: fit, partial_fit,
// transform with truncation to k, rotate; Eigen's symmetric eigensolver in double) does the statistics.
//
// Claims (thresholds from seeds 1-8 smoke and 1-3 --full; measured ranges in README.md):
//   model1_whitening32_minus_raw     Spearman(whitening-32) − Spearman(raw) ≥ 0.1      [0.156 … 0.193]
//   model1_whitening32_minus_full    Spearman(whitening-32) − Spearman(full) ≥ 0       [0.42 … 0.46]
//   model2_whitening_full_minus_raw  Spearman(full whitening) − Spearman(raw) ≥ 0.1    [0.436 … 0.482]
//   model2_whitening40_minus_full    Spearman(whitening-40) − Spearman(full) ≥ 0       [0.365 … 0.409]
//   whitened_mean / whitened_cov     max |mean of x̃| ≤ 1e-8, max |cov(x̃) − I| ≤ 1e-6  [2e-12, 2e-9]
//   streaming_fit_rel_err            max |Σ_stream − Σ_batch| / max |Σ_batch| ≤ 1e-10 (batches of 100) [1e-15]
//   n_minus_1_cosine_diff            max |cos(1/N) − cos(1/(N−1))| ≤ 1e-6 (k = 32 and 256) [8e-10: Σ has
//                                    condition number ~10⁸, so the eigenvectors carry ~1e-8 relative error]
// Not reproduced, printed: in model 1 full whitening is WORSE than the raw cosine (0.46 against 0.77): the 224
// pure-noise directions become unit-variance and drown the 32 meaningful ones; only truncation helps there.
// Also printed: centring only, the rotation-only U variant (covariance Λ; the same cosine as centring), k from
// 16 to 128, and the Spearman of the latent cosine itself (the ceiling).
// --full: N = 10 000 pairs instead of 2 000. --seed N: another seed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using dtensor = kx::tensor<double>;
using kexue_examples::claim;

namespace {

constexpr kx::index_t latent_dim = 32, dim = 256;

/// Ranks (1-based, ties averaged).
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (std::size_t t = i; t <= j; ++t) r[order[t]] = 0.5 * static_cast<double>(i + j) + 1;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size()), mean = (n + 1) / 2;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  return sab / std::sqrt(saa * sbb);
}

/// cos(row i, row i + pairs) of v [2·pairs, d] for every pair i.
std::vector<double> pair_cosines(const dtensor& v, kx::index_t pairs) {
  const kx::index_t d = v.size(1);
  std::vector<double> c(static_cast<std::size_t>(pairs));
  for (kx::index_t i = 0; i < pairs; ++i) {
    const double *a = v.data() + i * d, *b = v.data() + (i + pairs) * d;
    double ab = 0, aa = 0, bb = 0;
    for (kx::index_t k = 0; k < d; ++k) {
      ab += a[k] * b[k];
      aa += a[k] * a[k];
      bb += b[k] * b[k];
    }
    c[static_cast<std::size_t>(i)] = ab / std::sqrt(aa * bb);
  }
  return c;
}

/// Q [rows, cols] with orthonormal columns (Gram-Schmidt on a Gaussian matrix, twice for accuracy).
dtensor orthonormal(kx::index_t rows, kx::index_t cols, kx::generator& gen) {
  dtensor q = kx::randn<double>({rows, cols}, gen);
  for (int pass = 0; pass < 2; ++pass)
    for (kx::index_t j = 0; j < cols; ++j) {
      for (kx::index_t p = 0; p < j; ++p) {
        double dot = 0;
        for (kx::index_t i = 0; i < rows; ++i) dot += q(i, j) * q(i, p);
        for (kx::index_t i = 0; i < rows; ++i) q(i, j) -= dot * q(i, p);
      }
      double norm = 0;
      for (kx::index_t i = 0; i < rows; ++i) norm += q(i, j) * q(i, j);
      for (kx::index_t i = 0; i < rows; ++i) q(i, j) /= std::sqrt(norm);
    }
  return q;
}

using whitening = kx::algo::whitening<double>;

double max_abs(const dtensor& t) {
  double r = 0;
  for (kx::index_t i = 0; i < t.numel(); ++i) r = std::max(r, std::fabs(t.data()[i]));
  return r;
}

/// One synthetic corpus: `pairs` pairs with similarity rho, latent s [2·pairs, 32] and observed x [2·pairs, 256].
struct corpus {
  std::vector<double> rho;
  dtensor s, x;
};

/// x = A s + b + e (the spec's model), plus, when nuisance > 0, B z with z ~ N(0, I₈) drawn independently for
/// every sentence and B = nuisance · (256 × 8 orthonormal): dominant directions that carry no meaning.
corpus make_corpus(kx::index_t pairs, double nuisance, kx::generator& gen) {
  corpus c;
  c.rho.resize(static_cast<std::size_t>(pairs));
  c.s = kx::randn<double>({2 * pairs, latent_dim}, gen);
  for (kx::index_t i = 0; i < pairs; ++i) {
    const double r = gen.uniform(), q = std::sqrt(1 - r * r);
    c.rho[static_cast<std::size_t>(i)] = r;
    for (kx::index_t k = 0; k < latent_dim; ++k) c.s(i + pairs, k) = r * c.s(i, k) + q * c.s(i + pairs, k);
  }
  dtensor sigma = dtensor::empty({latent_dim});
  for (kx::index_t k = 0; k < latent_dim; ++k)
    sigma(k) = std::pow(10.0, -3.0 * static_cast<double>(k) / static_cast<double>(latent_dim - 1));
  const dtensor a = kx::matmul(kx::mul(orthonormal(dim, latent_dim, gen), sigma),
                               orthonormal(latent_dim, latent_dim, gen), false, true);  // Q diag(σ) Rᵀ
  dtensor offset = kx::randn<double>({1, dim}, gen);
  offset = kx::mul_scalar(offset, 5.0 / std::sqrt(kx::sum(kx::square(offset)).item()));
  c.x = kx::add(kx::add(kx::matmul(c.s, a, false, true), offset), kx::randn<double>({2 * pairs, dim}, gen, 0.0, 1e-4));
  if (nuisance > 0) {
    const dtensor b = kx::mul_scalar(orthonormal(dim, 8, gen), nuisance);
    c.x = kx::add(c.x, kx::matmul(kx::randn<double>({2 * pairs, 8}, gen), b, false, true));
  }
  return c;
}

struct scores {
  double raw = 0, full = 0, best_k = 0, k32 = 0, k40 = 0;
  dtensor whitened;
  whitening fitted;
};

scores evaluate(const corpus& c, kx::index_t pairs) {
  scores r;
  const double ceiling = spearman(pair_cosines(c.s, pairs), c.rho);
  r.raw = spearman(pair_cosines(c.x, pairs), c.rho);
  const whitening& m = r.fitted.fit(c.x);
  const double centred = spearman(pair_cosines(kx::sub(c.x, m.mean()), pairs), c.rho);
  const double rotated = spearman(pair_cosines(m.rotate(c.x), pairs), c.rho);
  r.whitened = m.transform(c.x);
  r.full = spearman(pair_cosines(r.whitened, pairs), c.rho);
  std::printf(
      "  Spearman(cos, rho): latent cosine (ceiling) %.4f | raw %.4f | centred %.4f | rotation U only %.4f | "
      "whitened (k = 256) %.4f\n  whitening-k:",
      ceiling, r.raw, centred, rotated, r.full);
  for (kx::index_t k : {16, 24, 32, 40, 48, 64, 128}) {
    const double v = spearman(pair_cosines(m.transform(c.x, k), pairs), c.rho);
    if (k == 32) r.k32 = v;
    if (k == 40) r.k40 = v;
    r.best_k = std::max(r.best_k, v);
    std::printf("  k=%lld %.4f", static_cast<long long>(k), v);
  }
  std::printf("\n");
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  options.seed = 8069;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  const kx::index_t pairs = options.full ? 10000 : 2000;
  kx::generator gen(options.seed);
  std::printf(
      "whitening_sentence_vectors: %lld pairs, latent 32-D -> observed 256-D (singular values 1 .. 1e-3, "
      "offset norm 5, noise 1e-4), seed %llu\n",
      static_cast<long long>(pairs), static_cast<unsigned long long>(options.seed));

  std::printf("(1) the spec's model x = A s + b + e:\n");
  const corpus plain = make_corpus(pairs, 0.0, gen);
  const scores p = evaluate(plain, pairs);
  std::printf("(2) the same plus 8 meaningless dominant directions of scale 3 (independent per sentence):\n");
  const corpus noisy = make_corpus(pairs, 3.0, gen);
  const scores q = evaluate(noisy, pairs);

  // Whitened statistics, the streaming fit, 1/N against 1/(N − 1) (on model 1).
  const whitening& m = p.fitted;
  whitening after;
  after.fit(p.whitened);
  const double mean_err = max_abs(after.mean()), cov_err = max_abs(kx::sub(after.covariance(), kx::eye<double>(dim)));
  whitening stream;  // partial_fit, batches of 100 rows
  for (kx::index_t start = 0; start < plain.x.size(0); start += 100)
    stream.partial_fit(kx::narrow(plain.x, 0, start, std::min<kx::index_t>(100, plain.x.size(0) - start)));
  const dtensor cov = m.covariance();
  const double stream_err = max_abs(kx::sub(stream.covariance(), cov)) / max_abs(cov);
  const double stream_mean_err = max_abs(kx::sub(stream.mean(), m.mean()));
  whitening unbiased(kx::algo::whitening_options().unbiased(true));
  unbiased.fit(plain.x);
  double n1_err = 0;
  for (kx::index_t k : {kx::index_t{32}, dim}) {
    const std::vector<double> a = pair_cosines(m.transform(plain.x, k), pairs),
                              b = pair_cosines(unbiased.transform(plain.x, k), pairs);
    for (std::size_t i = 0; i < a.size(); ++i) n1_err = std::max(n1_err, std::fabs(a[i] - b[i]));
  }
  std::printf(
      "whitened: max |mean| %.2e, max |cov - I| %.2e; streaming fit (batches of 100): cov rel err %.2e, "
      "mean err %.2e; 1/N vs 1/(N-1) cosines (k = 32, 256) differ by %.2e\n",
      mean_err, cov_err, stream_err, stream_mean_err, n1_err);

  bool pass = true;
  pass &= claim("model1_whitening32_minus_raw", p.k32 - p.raw, ">= 0.1", p.k32 - p.raw >= 0.1);
  pass &= claim("model1_whitening32_minus_full", p.k32 - p.full, ">= 0", p.k32 - p.full >= 0);
  pass &= claim("model2_whitening_full_minus_raw", q.full - q.raw, ">= 0.1", q.full - q.raw >= 0.1);
  pass &= claim("model2_whitening40_minus_full", q.k40 - q.full, ">= 0", q.k40 - q.full >= 0);
  pass &= claim("whitened_max_abs_mean", mean_err, "<= 1e-8", mean_err <= 1e-8);
  pass &= claim("whitened_max_abs_cov_minus_identity", cov_err, "<= 1e-6", cov_err <= 1e-6);
  pass &= claim("streaming_fit_rel_err", stream_err, "<= 1e-10", stream_err <= 1e-10);
  pass &= claim("n_minus_1_cosine_diff", n1_err, "<= 1e-6", n1_err <= 1e-6);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
