// SPDX-License-Identifier: MIT
// A09 example: plain BCE vs the margin-truncated cross-entropy (m = 0.6) on a noisy synthetic text task.
//
// What the article shows (spec A09, https://kexue.fm/archives/4293): training maximises the mean log-likelihood
// while evaluation counts correct answers, so stop updating examples that are already confidently right: with
// m = 0.6, λ = 1 − θ(y − m)θ(ŷ − m) − θ(1 − m − y)θ(1 − m − ŷ) and L = λ·BCE, positives with ŷ > 0.6 and negatives
// with ŷ < 0.4 contribute zero loss and zero gradient. Claimed on IMDB: a smaller train–test gap (99.01/82.26 vs
// 99.56/81.02 for an LSTM), ≈ +0.5-1% test accuracy, and steadier test accuracy across epochs (CNN).
//
// Data: synthetic "documents" of 24 tokens over a vocabulary of 200; with probability 0.5 a token is one of 40
// sentiment words (weights ±(0.5..1.5)), otherwise a neutral word; the label is the sign of the summed weights,
// then 10% of labels are flipped (train and test alike). Input: the bag-of-words frequencies [N, 200].
// Train 300 / test 1000 documents (--full: 2000 / 10000, 60 epochs).
// Model: MLP 200 → 32 → ReLU → 1 (nn::linear, PyTorch initialisation, the same seed for both losses), 30 epochs
// of batch-32 Adam (lr 3e-3), the same batches for both losses:
//   bce     loss::binary_cross_entropy_with_logits
//   margin  loss::margin_truncated_bce_with_logits, m = 0.6
// Claims (thresholds from seeds 1-5 and 2017):
//   beyond_margin_max_abs_grad     for 1000 random logits (N(0, 9)) and 0/1 targets, the gradient of the margin
//                                  loss is exactly 0 for every example beyond the margin (≈ 480 of them)
//   inside_margin_max_rel_grad_diff_vs_bce   and equal to BCE's gradient for the others (≤ 1e-5 relative;
//                                  measured 0)
//   train_abs_logit_margin_over_bce  mean |logit| on the training set after training, margin / bce ≤ 0.5
//                                  (measured 0.30-0.36; --full 0.29): the mechanism, confident examples stop being
//                                  pushed
//   test_acc_margin_minus_bce      test accuracy averaged over the second half of training, margin − bce
//                                  ≥ −0.03 (measured −0.010 … +0.011; --full −0.027): not clearly worse
// Not reproduced, so printed and not claimed: the smaller train–test gap and the steadier test accuracy. Here the
// gap is larger with the margin loss (second-half gap 0.18-0.23 vs 0.14-0.21 for BCE; --full 0.16 vs 0.08) and the test
// accuracy spread is the same or larger: with label noise the margin loss spends its whole gradient on the
// misclassified examples, many of which are the flipped ones, and memorises them; it ties BCE in accuracy.
// The same held with 0%, 5% and 20% noise and other data sizes. IMDB and the article's LSTM/CNN are not used.
// Expected output: accuracies every 5 epochs, the second-half summary, four "claim: ... PASS" lines.
// --seed N: another data seed.
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

constexpr kx::index_t vocab = 200;           // token ids 0..199
constexpr kx::index_t doc_len = 24;          // tokens per document
constexpr kx::index_t sentiment_words = 40;  // ids 0..39 carry a weight, the rest are neutral
constexpr kx::index_t hidden = 32;
constexpr double sent_p = 0.5;  // probability that a token is a sentiment word

struct dataset {
  tensor x;  // [N, vocab] token counts / doc_len
  tensor y;  // [N] 0/1 (possibly flipped)
};

/// Documents of doc_len tokens (sentiment words with probability sent_p); the clean label is the sign of the summed
/// word weights (weights ±(0.5..1.5)); a fraction `flip` of the labels is flipped.
dataset make_data(kx::index_t n, double flip, const std::vector<double>& weight, kx::generator& gen) {
  dataset d{kx::zeros<float>({n, vocab}), tensor::empty({n})};
  for (kx::index_t i = 0; i < n; ++i) {
    double score = 0;
    for (kx::index_t t = 0; t < doc_len; ++t) {
      const kx::index_t w = gen.uniform() < sent_p
                                ? static_cast<kx::index_t>(gen.below(sentiment_words))
                                : sentiment_words + static_cast<kx::index_t>(gen.below(vocab - sentiment_words));
      score += weight[static_cast<std::size_t>(w)];
      d.x(i, w) += 1.0f / doc_len;
    }
    if (score == 0) score = gen.uniform() < 0.5 ? 1 : -1;
    bool label = score > 0;
    if (gen.uniform() < flip) label = !label;
    d.y(i) = label ? 1.0f : 0.0f;
  }
  return d;
}

double accuracy(const tensor& logits, const tensor& y) {
  double hits = 0;
  for (kx::index_t i = 0; i < y.numel(); ++i) hits += (logits.data()[i] > 0) == (y.data()[i] > 0.5f);
  return hits / static_cast<double>(y.numel());
}

struct history {
  std::vector<double> train_acc, test_acc;
  double train_abs_logit = 0;  // mean |logit| on the training set after the last epoch
};

using loss_fn = std::function<tensor(const tensor&, const tensor&)>;

/// Trains a fresh MLP vocab → hidden → 1 (the same initialisation for every loss) with minibatch Adam;
/// records train and test accuracy after every epoch.
history train(const loss_fn& loss, const dataset& tr, const dataset& te, int epochs, std::uint64_t seed) {
  kx::generator init(seed);
  kx::nn::linear<float> l1(vocab, hidden, init), l2(hidden, 1, init);
  std::vector<tensor> params = l1.parameters();
  for (const auto& p : l2.parameters()) params.push_back(p);
  kx::optim::adam<float> opt(params, kx::optim::adam_options().lr(3e-3));
  const auto forward = [&](const tensor& x) { return kx::reshape(l2(kx::relu(l1(x))), {x.size(0)}); };
  const kx::index_t n = tr.x.size(0), batch = 32;
  std::vector<kx::index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), kx::index_t(0));
  kx::generator shuffle(seed + 1);
  history h;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (kx::index_t i = n - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)], order[shuffle.below(static_cast<std::uint64_t>(i + 1))]);
    for (kx::index_t start = 0; start < n; start += batch) {
      const kx::index_t b = std::min(batch, n - start);
      auto idx = kx::tensor<kx::index_t>::empty({b});
      for (kx::index_t j = 0; j < b; ++j) idx(j) = order[static_cast<std::size_t>(start + j)];
      const tensor l = loss(forward(kx::index_select(tr.x, 0, idx)), kx::index_select(tr.y, 0, idx));
      opt.zero_grad();
      l.backward();
      opt.step();
    }
    kx::no_grad_guard no_grad;
    h.train_acc.push_back(accuracy(forward(tr.x), tr.y));
    h.test_acc.push_back(accuracy(forward(te.x), te.y));
  }
  kx::no_grad_guard no_grad;
  const tensor logits = forward(tr.x);
  for (kx::index_t i = 0; i < n; ++i) h.train_abs_logit += std::fabs(logits.data()[i]) / static_cast<double>(n);
  return h;
}

double mean_of(const std::vector<double>& v, std::size_t from) {
  double s = 0;
  for (std::size_t i = from; i < v.size(); ++i) s += v[i];
  return s / static_cast<double>(v.size() - from);
}

double stddev_of(const std::vector<double>& v, std::size_t from) {
  const double m = mean_of(v, from);
  double s = 0;
  for (std::size_t i = from; i < v.size(); ++i) s += (v[i] - m) * (v[i] - m);
  return std::sqrt(s / static_cast<double>(v.size() - from));
}

using kexue_examples::claim;

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  options.seed = 2017;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  bool full = options.full;
  std::uint64_t seed = options.seed;
  const kx::index_t n_train = full ? 2000 : 300, n_test = full ? 10000 : 1000;
  const int epochs = full ? 60 : 30;
  const double flip = 0.1;
  namespace L = kx::loss;

  kx::generator gen(seed);
  std::vector<double> weight(static_cast<std::size_t>(vocab), 0.0);
  for (kx::index_t w = 0; w < sentiment_words; ++w)
    weight[static_cast<std::size_t>(w)] = (w % 2 == 0 ? 1 : -1) * (0.5 + gen.uniform());
  const dataset tr = make_data(n_train, flip, weight, gen);
  const dataset te = make_data(n_test, flip, weight, gen);
  std::printf(
      "margin_truncated_bce: %lld train / %lld test documents (%lld tokens, vocab %lld), %.0f%% labels "
      "flipped in both, MLP %lld-%lld-1, %d epochs of batch-32 Adam\n",
      static_cast<long long>(n_train), static_cast<long long>(n_test), static_cast<long long>(doc_len),
      static_cast<long long>(vocab), flip * 100, static_cast<long long>(vocab), static_cast<long long>(hidden), epochs);

  // 1. The exact property: examples beyond the margin get zero gradient, the others BCE's gradient.
  const kx::index_t n_check = 1000;
  tensor z = kx::mul_scalar(kx::randn<float>({n_check}, gen), 3.0f).detach();
  const tensor t = kx::bernoulli<float>({n_check}, 0.5, gen);
  z.requires_grad(true);
  L::margin_truncated_bce_with_logits(z, t, L::margin_truncated_options().margin(0.6)).backward();
  const tensor g_mt = z.grad().copy();
  z.zero_grad();
  L::binary_cross_entropy_with_logits(z, t).backward();
  const tensor g_bce = z.grad().copy();
  double beyond_max = 0, inside_err = 0;
  kx::index_t beyond = 0;
  for (kx::index_t i = 0; i < n_check; ++i) {
    const double p = 1 / (1 + std::exp(-static_cast<double>(z.data()[i])));
    const bool pos = t.data()[i] > 0.5f;
    if ((pos && p > 0.6) || (!pos && p < 0.4)) {
      ++beyond;
      beyond_max = std::max(beyond_max, static_cast<double>(std::fabs(g_mt.data()[i])));
    } else {
      inside_err = std::max(inside_err, static_cast<double>(std::fabs(g_mt.data()[i] - g_bce.data()[i])) /
                                            std::max(1e-30, static_cast<double>(std::fabs(g_bce.data()[i]))));
    }
  }
  std::printf("gradient check: %lld of %lld examples beyond the margin\n", static_cast<long long>(beyond),
              static_cast<long long>(n_check));

  // 2. BCE vs margin-truncated BCE, same model, same initialisation, same batches.
  const history bce = train([](const tensor& x, const tensor& y) { return L::binary_cross_entropy_with_logits(x, y); },
                            tr, te, epochs, seed + 10);
  const history mt = train(
      [](const tensor& x, const tensor& y) {
        return L::margin_truncated_bce_with_logits(x, y, L::margin_truncated_options().margin(0.6));
      },
      tr, te, epochs, seed + 10);
  std::printf("epoch  bce train/test   margin train/test\n");
  for (int e = 0; e < epochs; ++e)
    if (e % 5 == 4 || e == 0)
      std::printf("%5d  %.3f / %.3f    %.3f / %.3f\n", e + 1, bce.train_acc[e], bce.test_acc[e], mt.train_acc[e],
                  mt.test_acc[e]);
  const std::size_t half = static_cast<std::size_t>(epochs / 2);
  const double gap_bce = mean_of(bce.train_acc, half) - mean_of(bce.test_acc, half);
  const double gap_mt = mean_of(mt.train_acc, half) - mean_of(mt.test_acc, half);
  const double sd_bce = stddev_of(bce.test_acc, half), sd_mt = stddev_of(mt.test_acc, half);
  const double test_bce = mean_of(bce.test_acc, half), test_mt = mean_of(mt.test_acc, half);
  std::printf("mean |logit| on the training set after training: bce %.3f margin %.3f\n", bce.train_abs_logit,
              mt.train_abs_logit);
  std::printf(
      "second half of training: gap bce %.4f margin %.4f; test acc bce %.4f margin %.4f; test sd bce %.4f "
      "margin %.4f\n",
      gap_bce, gap_mt, test_bce, test_mt, sd_bce, sd_mt);

  bool pass = true;
  pass &= claim("beyond_margin_max_abs_grad", beyond_max, "== 0", beyond_max == 0 && beyond > 0);
  pass &= claim("inside_margin_max_rel_grad_diff_vs_bce", inside_err, "<= 1e-5", inside_err <= 1e-5);
  const double ratio = mt.train_abs_logit / bce.train_abs_logit;
  pass &= claim("train_abs_logit_margin_over_bce", ratio, "<= 0.5", ratio <= 0.5);
  pass &= claim("test_acc_margin_minus_bce", test_mt - test_bce, ">= -0.03", test_mt - test_bce >= -0.03);
  // Printed, not claimed (not reproduced here, see the header): the gap and the test-accuracy spread.
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
