// SPDX-License-Identifier: MIT
// A30 example: a couplet "robot" as sequence labeling with a stack of gated residual convolutions
// (spec A30, kexue.fm/archives/6270).
//
// What the article shows: the second line of a Chinese couplet has the first line's length and each of its
// characters answers the character at the same position, so generating it is per-position classification
// over the vocabulary (sequence labeling), not seq2seq. Model: Embedding(V+1, d) → Dropout(0.25) → 6 gated
// residual conv blocks y = x⊙σ(g) + h⊙σ(−g), [g, h] = split(Conv1D(2d, 3, same)(x)) → Dense(V+1) per position,
// sparse categorical cross-entropy, Adam. Batches hold lines of one length (length drawn ∝ its frequency), so
// there is no padding and no mask. Decoding: per-position argmax with the first line's character at that
// position (and the unknown id 0) forbidden.
//
// Data (synthetic, generated here): V characters (ids 1..V; 0 = unknown, never in the data), first lines of
// length 5..11 (5 and 7 most frequent, as in real couplets), i.i.d. uniform characters. The second line is
// y_i = π_{s_i}(x_i) with s_i = par(x_{i−2}) + 2·par(x_{i+2}) (par = id parity, 0 outside the line) and
// π_0..π_3 four fixed random derangements of the vocabulary: a character-to-character correspondence that
// depends on a context window of ±2 positions, and y_i ≠ x_i always (as in real couplets).
// Model here: nn::embedding → nn::dropout(0.25) → N × nn::gated_conv1d(d, kernel 3, same, residual) →
// nn::linear(d, V+1). The library's block is Y = X⊙(1 − σ(G)) + H⊙σ(G), which is the article's form with
// g = −G (checked below). d = 64, V = 40, Adam 2e-3, batch 32 (the article: d = 128, V ≈ 9000, Adam 1e-3,
// batch 64).
//
// Claims (measured on seeds 1-6 at smoke size; ranges in README):
//   block_equals_article_form: nn::gated_conv1d's output equals x⊙σ(g) + h⊙σ(−g) with [h, −g] the halves of
//     its own convolution, max |diff| ≤ 1e-5
//   accuracy_6_blocks ≥ 0.90 per character on 500 test couplets (receptive field 13 covers the ±2 rule)
//   accuracy_1_block ≤ accuracy_6_blocks − 0.3 (receptive field 3 cannot see x_{i±2}: at most ~1/4 + edges)
//   constraint_violations == 0 (no output character equals the first line's at its position, nor id 0) and
//   constrained accuracy ≥ unconstrained argmax accuracy (the truth is never the forbidden character)
// Expected output: the sizes, losses every 100 steps for each depth, three example couplets, the claim lines.
// --full: 3× the steps and a 10 000-line training pool (see README). --seed N: data and initialisation seed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;
using index_tensor = kx::tensor<kx::index_t>;

namespace {

constexpr kx::index_t vocab = 40;  // characters 1..V; id 0 = unknown
constexpr kx::index_t width = 64;
constexpr kx::index_t min_length = 5, max_length = 11;
// Relative frequency of each line length 5..11 (five- and seven-character lines dominate real couplets).
constexpr double length_weight[] = {4, 1, 4, 1, 1, 1, 1};

using line = std::vector<kx::index_t>;

struct couplet_rule {
  std::vector<line> perm;  // π_0..π_3, each a derangement of 1..V (index 0 unused)

  explicit couplet_rule(kx::generator& gen) {
    for (int s = 0; s < 4; ++s) {
      line p;
      bool fixed_point = true;
      while (fixed_point) {  // rejection sampling of a derangement
        p.assign(static_cast<std::size_t>(vocab + 1), 0);
        for (kx::index_t c = 1; c <= vocab; ++c) p[static_cast<std::size_t>(c)] = c;
        for (kx::index_t i = vocab; i > 1; --i) {
          std::swap(p[static_cast<std::size_t>(i)], p[1 + gen.below(static_cast<std::uint64_t>(i))]);
        }
        fixed_point = false;
        for (kx::index_t c = 1; c <= vocab; ++c) fixed_point |= p[static_cast<std::size_t>(c)] == c;
      }
      perm.push_back(p);
    }
  }
  line answer(const line& x) const {
    const auto n = static_cast<std::ptrdiff_t>(x.size());
    const auto parity = [&](std::ptrdiff_t j) { return j >= 0 && j < n ? x[static_cast<std::size_t>(j)] % 2 : 0; };
    line y(x.size());
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const auto s = static_cast<std::size_t>(parity(i - 2) + 2 * parity(i + 2));
      y[static_cast<std::size_t>(i)] = perm[s][static_cast<std::size_t>(x[static_cast<std::size_t>(i)])];
    }
    return y;
  }
};

/// Couplets grouped by length (index length − min_length): the length-bucketed pool.
struct couplet_set {
  std::vector<std::vector<std::pair<line, line>>> by_length;
  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& b : by_length) n += b.size();
    return n;
  }
};

kx::index_t draw_length(kx::generator& gen) {
  double total = 0;
  for (double w : length_weight) total += w;
  double u = gen.uniform() * total;
  for (kx::index_t k = 0; k <= max_length - min_length; ++k) {
    u -= length_weight[k];
    if (u < 0) return min_length + k;
  }
  return max_length;
}

couplet_set make_couplets(std::size_t n, const couplet_rule& rule, kx::generator& gen) {
  couplet_set s;
  s.by_length.resize(static_cast<std::size_t>(max_length - min_length + 1));
  for (std::size_t i = 0; i < n; ++i) {
    line x(static_cast<std::size_t>(draw_length(gen)));
    for (auto& c : x) c = 1 + static_cast<kx::index_t>(gen.below(vocab));
    s.by_length[x.size() - static_cast<std::size_t>(min_length)].emplace_back(x, rule.answer(x));
  }
  return s;
}

/// The reference code's sampler: a length with probability ∝ its number of lines, then up to `batch` lines
/// of that length (with replacement), as [B, L] first and second lines.
std::pair<index_tensor, index_tensor> sample_batch(const couplet_set& pool, kx::index_t batch, kx::generator& gen) {
  auto pick = static_cast<std::size_t>(gen.below(pool.size()));
  std::size_t bucket = 0;
  while (pick >= pool.by_length[bucket].size()) pick -= pool.by_length[bucket++].size();
  const auto& lines = pool.by_length[bucket];
  const auto length = static_cast<kx::index_t>(lines.front().first.size());
  index_tensor x = index_tensor::empty({batch, length}), y = index_tensor::empty({batch, length});
  for (kx::index_t b = 0; b < batch; ++b) {
    const auto& pair = lines[gen.below(lines.size())];
    std::copy(pair.first.begin(), pair.first.end(), x.data() + b * length);
    std::copy(pair.second.begin(), pair.second.end(), y.data() + b * length);
  }
  return {x, y};
}

struct couplet_model : kx::nn::module<float> {
  std::shared_ptr<kx::nn::embedding<float>> embed;
  std::shared_ptr<kx::nn::dropout<float>> drop;
  std::vector<std::shared_ptr<kx::nn::gated_conv1d<float>>> blocks;
  std::shared_ptr<kx::nn::linear<float>> out;

  couplet_model(int depth, kx::generator& gen) {
    embed = register_module("embed", std::make_shared<kx::nn::embedding<float>>(vocab + 1, width, gen));
    drop = register_module("dropout", std::make_shared<kx::nn::dropout<float>>(0.25, gen));
    for (int b = 0; b < depth; ++b) {
      blocks.push_back(register_module(
          "block" + std::to_string(b),
          std::make_shared<kx::nn::gated_conv1d<float>>(kx::nn::gated_conv1d_options(width).kernel_size(3), gen)));
    }
    out = register_module("out", std::make_shared<kx::nn::linear<float>>(width, vocab + 1, gen));
  }
  /// first lines [B, L] → logits [B, L, V+1].
  tensor forward(const index_tensor& x) const {
    tensor h = kx::transpose(drop->forward(embed->forward(x)), 1, 2);  // [B, d, L]
    for (const auto& b : blocks) h = b->forward(h);
    return out->forward(kx::transpose(h, 1, 2));
  }
};

/// Per-position argmax of logits [L, V+1] (one line), with the first line's character and id 0 forbidden
/// when `constrained`.
line decode(const float* logits, const line& first, bool constrained) {
  line y(first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    const float* row = logits + i * static_cast<std::size_t>(vocab + 1);
    kx::index_t best = -1;
    for (kx::index_t c = 0; c <= vocab; ++c) {
      if (constrained && (c == 0 || c == first[i])) continue;
      if (best < 0 || row[c] > row[best]) best = c;
    }
    y[i] = best;
  }
  return y;
}

struct test_result {
  double accuracy = 0, raw_accuracy = 0;
  std::size_t violations = 0, raw_same = 0;
};

test_result evaluate(couplet_model& model, const couplet_set& test, bool show) {
  kx::no_grad_guard no_grad;
  model.eval();
  test_result r;
  double chars = 0, hits = 0, raw_hits = 0;
  int shown = 0;
  for (const auto& bucket : test.by_length) {
    if (bucket.empty()) continue;
    const auto n = static_cast<kx::index_t>(bucket.size()), length = static_cast<kx::index_t>(bucket[0].first.size());
    index_tensor x = index_tensor::empty({n, length});
    for (kx::index_t b = 0; b < n; ++b)
      std::copy(bucket[b].first.begin(), bucket[b].first.end(), x.data() + b * length);
    const tensor logits = model.forward(x);
    for (kx::index_t b = 0; b < n; ++b) {
      const auto& [first, truth] = bucket[static_cast<std::size_t>(b)];
      const float* l = logits.data() + b * length * (vocab + 1);
      const line y = decode(l, first, true), raw = decode(l, first, false);
      for (std::size_t i = 0; i < first.size(); ++i) {
        chars += 1;
        hits += y[i] == truth[i];
        raw_hits += raw[i] == truth[i];
        r.violations += y[i] == first[i] || y[i] == 0;
        r.raw_same += raw[i] == first[i];
      }
      if (show && shown < 3 && length == 7) {
        ++shown;
        std::printf("  first ");
        for (auto c : first) std::printf("%3lld", static_cast<long long>(c));
        std::printf("  | output ");
        for (auto c : y) std::printf("%3lld", static_cast<long long>(c));
        std::printf("  | truth ");
        for (auto c : truth) std::printf("%3lld", static_cast<long long>(c));
        std::printf("\n");
      }
    }
  }
  model.train();
  r.accuracy = hits / chars;
  r.raw_accuracy = raw_hits / chars;
  return r;
}

test_result train_and_test(int depth, const couplet_set& train, const couplet_set& test, int steps,
                           std::uint64_t seed) {
  kx::generator init(seed + 100), batches(seed + 200);
  couplet_model model(depth, init);
  kx::optim::adam<float> opt(model.parameters(), kx::optim::adam_options().lr(2e-3));
  double loss_sum = 0;
  for (int step = 1; step <= steps; ++step) {
    const auto [x, y] = sample_batch(train, 32, batches);
    const tensor loss = kx::loss::cross_entropy(model.forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    loss_sum += loss.item();
    if (step % 100 == 0) {
      std::printf("  %d block%s, step %4d: mean loss %.4f\n", depth, depth > 1 ? "s" : "", step, loss_sum / 100);
      loss_sum = 0;
    }
  }
  const test_result r = evaluate(model, test, depth > 1);
  std::printf(
      "  %d block%s: per-character accuracy %.4f (argmax without the constraint %.4f; %zu raw outputs "
      "copied the first line's character)\n",
      depth, depth > 1 ? "s" : "", r.accuracy, r.raw_accuracy, r.raw_same);
  return r;
}

/// max |gated_conv1d(x) − (x⊙σ(g) + h⊙σ(−g))| where [h, G] are the halves of the layer's own convolution and
/// g = −G: the library's X(1 − σ(G)) + Hσ(G) is the article's block up to the sign of the gate weights.
double block_form_error(kx::generator& gen) {
  kx::nn::gated_conv1d<float> block(kx::nn::gated_conv1d_options(8).kernel_size(3), gen);
  const tensor x = kx::randn<float>({2, 8, 11}, gen);
  kx::no_grad_guard no_grad;
  const tensor y = block.forward(x);
  const tensor hg = block.conv->forward(x);
  const tensor h = kx::narrow(hg, 1, 0, 8), g = kx::neg(kx::narrow(hg, 1, 8, 8));
  const tensor article = kx::add(kx::mul(x, kx::sigmoid(g)), kx::mul(h, kx::sigmoid(kx::neg(g))));
  return static_cast<double>(kx::max(kx::abs(kx::sub(y, article))).item());
}

using kexue_examples::claim;

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  // Small tensors ([32, 64, ≤ 11]): one thread avoids two OpenMP threads spin-waiting on a loaded 2-core machine.
  kx::set_num_threads(1);
  const bool full = options.full;
  const int steps = full ? 1500 : 500;
  kx::generator gen(options.seed);
  const couplet_rule rule(gen);
  const couplet_set train = make_couplets(full ? 10000 : 4000, rule, gen);
  const couplet_set test = make_couplets(500, rule, gen);
  std::printf(
      "couplet_sequence_labeling: V = %lld characters, lines of %lld..%lld, %zu train / %zu test couplets, "
      "width %lld, %d Adam steps of 32 lines, seed %llu\n",
      static_cast<long long>(vocab), static_cast<long long>(min_length), static_cast<long long>(max_length),
      train.size(), test.size(), static_cast<long long>(width), steps, static_cast<unsigned long long>(options.seed));

  const test_result deep = train_and_test(6, train, test, steps, options.seed);
  const test_result shallow = train_and_test(1, train, test, steps, options.seed);

  kx::generator check_gen(options.seed + 300);
  bool ok = true;
  const double form = block_form_error(check_gen);
  ok &= claim("block_equals_article_form_max_abs_diff", form, "<= 1e-5", form <= 1e-5);
  ok &= claim("accuracy_6_blocks", deep.accuracy, ">= 0.90", deep.accuracy >= 0.90);
  ok &= claim("accuracy_6_minus_1_block", deep.accuracy - shallow.accuracy, ">= 0.3",
              deep.accuracy - shallow.accuracy >= 0.3);
  ok &= claim("constraint_violations", static_cast<double>(deep.violations + shallow.violations), "== 0",
              deep.violations + shallow.violations == 0);
  const double gain = std::min(deep.accuracy - deep.raw_accuracy, shallow.accuracy - shallow.raw_accuracy);
  ok &= claim("constrained_minus_raw_accuracy_min", gain, ">= 0", gain >= 0);
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "couplet_sequence_labeling: %s\n", e.what());
  return 1;
}
