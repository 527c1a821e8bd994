// SPDX-License-Identifier: MIT
// A08 example: plain BCE vs focal loss vs the author's softened (and hard-truncated) loss on 1:100 imbalanced data.
//
// What the article shows (spec A08): starting from the hard-truncated cross-entropy (only misclassified examples
// count), smoothing its 0/1 weight θ(t) into σ(Kt) gives the "softened" loss −σ(−Kx) log σ(x) (y = 1),
// −σ(Kx) log σ(−x) (y = 0), which for K = γ = 1 is exactly focal loss −(1−p)^γ log p / −p^γ log(1−p). Such losses
// down-weight the easy examples, and with class imbalance the easy ones are mostly the majority class, so the
// minority class gets a larger share of the gradient.
//
// Data: binary, 1 positive per 100 negatives, in d = 8 dimensions: two overlapping Gaussians, negatives ~ N(0, I),
// positives ~ N(μ, I), μ = (2, 2, 0, ..., 0) (|μ| ≈ 2.8, so a Bayes classifier at p = 0.5 still misses most
// positives: the classes overlap). Train and test sets (10 100 samples each) are drawn from a fixed seed.
// Model: logistic regression, nn::linear 8 → 1 (logit), PyTorch initialisation, the same seed for every loss.
// Losses, each with the same budget (300 full-batch Adam steps, lr 0.05):
//   bce         loss::binary_cross_entropy_with_logits
//   focal       loss::sigmoid_focal_loss, γ = 2, α = 0.5 (the author's advice when there is no budget to tune α)
//   focal_a.25  the paper's α = 0.25, γ = 2 (printed only: α = 0.25 down-weights the positive class, which here is
//               the minority, and its F1 is below BCE's; the paper's α is tuned for detection)
//   softened    loss::softened_bce_with_logits, K = 2
//   hard        loss::hard_truncated_bce_with_logits (only misclassified examples contribute; printed only)
// Metrics on the test set: minority-class recall, precision and F1 at p = 0.5, and average precision (AP).
//
// Claims (thresholds from runs with seeds 1-5 and 2017: F1 gains focal 0.20-0.33, softened 0.13-0.31; AP
// differences within ±0.005):
//   identity:  max |softened(K=1) − focal(γ=1, no α)| over 1000 random logits and 0/1 targets ≤ 1e-6 (float)
//   f1:        F1(focal) − F1(bce) ≥ 0.08 and F1(softened) − F1(bce) ≥ 0.08: at the same budget the reweighted
//              losses find more of the minority class at p = 0.5; BCE, whose gradient is dominated by the many
//              easy negatives, predicts it only where it is nearly certain
//   ap:        AP(focal) ≥ AP(bce) − 0.02 and AP(softened) ≥ AP(bce) − 0.02: the ranking is not worse. The
//              article claims "better F1 / AP"; with a linear model every loss finds about the same direction,
//              so AP does not improve here and only "not worse" is tested.
// Not tested: the article's "hard truncation reaches similar quality but needs more iterations". Here hard
// truncation has the best F1 at this budget (0.53-0.60), because it ignores every correctly classified negative.
// Expected output: one line per loss (final train loss, recall, precision, F1, AP), then
//   claim: softened_k1_equals_focal_g1_max_abs_diff=3e-08 (expect <= 1e-06) PASS
//   claim: f1_focal_minus_bce=0.22 (expect >= 0.08) PASS   ... five claim lines in all.
// The advantage is one of training budget: with 900 steps on the --full data BCE closes most of the gap (F1 gains
// measured 0.076 focal, 0.057 softened), as the article's "at the same training budget" implies.
// --full: ten times the data (101 000 train and test samples, 1 000 positives each), same 300 steps, same claims
// (measured: F1 gains 0.26 focal, 0.20 softened). --seed N: another data seed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;

namespace {

constexpr kx::index_t dims = 8;

struct dataset {
  tensor x;  // [N, d]
  tensor y;  // [N] 0/1
  kx::index_t positives = 0;
};

/// `negatives` samples ~ N(0, I) and negatives/100 ~ N((2, 2, 0, ...), I), shuffled.
dataset make_data(kx::index_t negatives, kx::generator& gen) {
  const kx::index_t positives = negatives / 100;
  const kx::index_t n = negatives + positives;
  std::vector<kx::index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), kx::index_t(0));
  for (kx::index_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<std::uint64_t>(i + 1))]);
  dataset d{tensor::empty({n, dims}), tensor::empty({n}), positives};
  for (kx::index_t i = 0; i < n; ++i) {
    const kx::index_t row = order[static_cast<std::size_t>(i)];
    const bool pos = i < positives;
    for (kx::index_t c = 0; c < dims; ++c) d.x(row, c) = static_cast<float>(gen.normal());
    if (pos) {
      d.x(row, 0) += 2.0f;
      d.x(row, 1) += 2.0f;
    }
    d.y(row) = pos ? 1.0f : 0.0f;
  }
  return d;
}

struct scores {
  double recall, precision, f1, ap;
};

/// Minority-class recall/precision/F1 at p = 0.5 (logit 0) and average precision of the ranking by logit.
scores evaluate(const tensor& logits, const tensor& y) {
  const kx::index_t n = y.numel();
  double tp = 0, fp = 0, fn = 0;
  for (kx::index_t i = 0; i < n; ++i) {
    const bool pred = logits.data()[i] > 0, truth = y.data()[i] > 0.5f;
    tp += pred && truth;
    fp += pred && !truth;
    fn += !pred && truth;
  }
  scores s{};
  s.recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  s.precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  s.f1 = 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0;
  // AP = mean over positives of the precision at that positive's rank (descending logits).
  std::vector<kx::index_t> idx(static_cast<std::size_t>(n));
  std::iota(idx.begin(), idx.end(), kx::index_t(0));
  std::stable_sort(idx.begin(), idx.end(),
                   [&](kx::index_t a, kx::index_t b) { return logits.data()[a] > logits.data()[b]; });
  double hits = 0, sum = 0;
  for (kx::index_t r = 0; r < n; ++r) {
    if (y.data()[idx[static_cast<std::size_t>(r)]] > 0.5f) {
      hits += 1;
      sum += hits / static_cast<double>(r + 1);
    }
  }
  s.ap = hits > 0 ? sum / hits : 0;
  return s;
}

using loss_fn = std::function<tensor(const tensor&, const tensor&)>;

/// Trains a fresh logistic regression (same initialisation each time) with `loss` for `steps` full-batch Adam steps;
/// returns test scores.
scores train_and_test(const std::string& name, const loss_fn& loss, const dataset& train, const dataset& test,
                      int steps) {
  kx::generator init(7);
  kx::nn::linear<float> model(dims, 1, init);
  kx::optim::adam<float> opt(model.parameters(), kx::optim::adam_options().lr(0.05));
  float last = 0;
  for (int step = 1; step <= steps; ++step) {
    const tensor logits = kx::reshape(model(train.x), {train.x.size(0)});
    const tensor l = loss(logits, train.y);
    opt.zero_grad();
    l.backward();
    opt.step();
    last = l.item();
  }
  kx::no_grad_guard no_grad;
  const scores s = evaluate(kx::reshape(model(test.x), {test.x.size(0)}), test.y);
  std::printf("%-10s  final train loss %.5f  recall %.3f  precision %.3f  F1 %.3f  AP %.3f\n", name.c_str(), last,
              s.recall, s.precision, s.f1, s.ap);
  return s;
}

using kexue_examples::claim;

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  options.seed = 2017;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  bool full = options.full;
  std::uint64_t seed = options.seed;
  const kx::index_t negatives = full ? 100000 : 10000;
  const int steps = 300;

  kx::generator gen(seed);
  const dataset train = make_data(negatives, gen);
  const dataset test = make_data(negatives, gen);
  std::printf(
      "focal_loss_imbalanced: %lld train / %lld test samples, %lld / %lld positives (1:100), d = %lld, "
      "logistic regression, %d full-batch Adam steps per loss\n",
      static_cast<long long>(train.x.size(0)), static_cast<long long>(test.x.size(0)),
      static_cast<long long>(train.positives), static_cast<long long>(test.positives), static_cast<long long>(dims),
      steps);

  // 1. The article's identity: the softened loss with K = 1 is focal loss with γ = 1 and no α.
  const tensor z = kx::mul_scalar(kx::randn<float>({1000}, gen), 4.0f);
  const tensor t = kx::bernoulli<float>({1000}, 0.5, gen);
  namespace L = kx::loss;
  const tensor soft1 = L::softened_bce_with_logits(z, t, L::softened_options().k(1).reduction(L::reduction::none));
  const tensor focal1 =
      L::sigmoid_focal_loss(z, t, L::sigmoid_focal_options().gamma(1).alpha(-1).reduction(L::reduction::none));
  double max_diff = 0;
  for (kx::index_t i = 0; i < z.numel(); ++i)
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(soft1.data()[i] - focal1.data()[i])));

  // 2. The four losses, same model initialisation, same budget.
  const scores bce = train_and_test(
      "bce", [](const tensor& x, const tensor& y) { return L::binary_cross_entropy_with_logits(x, y); }, train, test,
      steps);
  const scores focal = train_and_test(
      "focal",
      [](const tensor& x, const tensor& y) {
        return L::sigmoid_focal_loss(x, y, L::sigmoid_focal_options().alpha(0.5).gamma(2));
      },
      train, test, steps);
  train_and_test(
      "focal_a.25", [](const tensor& x, const tensor& y) { return L::sigmoid_focal_loss(x, y); }, train, test,
      steps);  // α = 0.25, γ = 2: printed only
  const scores softened = train_and_test(
      "softened",
      [](const tensor& x, const tensor& y) { return L::softened_bce_with_logits(x, y, L::softened_options().k(2)); },
      train, test, steps);
  train_and_test(
      "hard", [](const tensor& x, const tensor& y) { return L::hard_truncated_bce_with_logits(x, y); }, train, test,
      steps);
  // (hard truncation is printed for comparison; the article's "needs more iterations" is not tested)

  bool pass = true;
  pass &= claim("softened_k1_equals_focal_g1_max_abs_diff", max_diff, "<= 1e-6", max_diff <= 1e-6);
  pass &= claim("f1_focal_minus_bce", focal.f1 - bce.f1, ">= 0.08", focal.f1 - bce.f1 >= 0.08);
  pass &= claim("f1_softened_minus_bce", softened.f1 - bce.f1, ">= 0.08", softened.f1 - bce.f1 >= 0.08);
  pass &= claim("ap_focal_minus_bce", focal.ap - bce.ap, ">= -0.02", focal.ap >= bce.ap - 0.02);
  pass &= claim("ap_softened_minus_bce", softened.ap - bce.ap, ">= -0.02", softened.ap >= bce.ap - 0.02);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
