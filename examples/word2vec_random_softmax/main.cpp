// SPDX-License-Identifier: MIT
// A10 example: CBOW word2vec trained with the article's "random softmax" loss, against sampled softmax and NCE with
// the same number of negatives, on a synthetic topic-model corpus whose true word clusters are known.
//
// What the article says (spec A10): the full softmax gradient −∇z_t + E_{i~p}[∇z_i] can be estimated by sampling;
// the "random softmax loss" draws k label ids uniformly from [0, V) per example (target and padding id may be
// drawn, no correction) and takes softmax cross-entropy over [t, n_1 … n_k] with the target first. With the
// softmax matrix shared with the input embeddings (no bias) it behaves like negative-sampling word2vec but keeps a
// softmax meaning. Article (real corpus): random softmax with 16 negatives gives sensible neighbours, comparable to
// TF's sampled_softmax_loss with 1000 negatives; TF's nce_loss with the same settings gives garbage.
//
// Corpus: 20 topics × 50 words (ids 21..1020) plus 20 stop words (ids 1..20), id 0 = padding. A sentence picks a
// topic, has 12-20 tokens, each a stop word (probability 0.25, uniform) or a word of its topic drawn with Zipf
// probabilities ∝ 1/rank. 3000 sentences (--full 20 000). CBOW with window 3: the input is the **sum** of the 6
// context embeddings (missing slots are the padding id, a normal trainable row), the target the centre word.
// Embeddings U(−0.05, 0.05), d = 64, Adam lr 0.005, batch 256, 2 epochs (the article's 1-2), k = 16 negatives.
// Losses, each with a separate [V, d] softmax matrix U(−0.05, 0.05) and a zero bias (the article's comparison
// used this unshared softmax), then again with the softmax matrix shared with the embeddings (no bias):
//   random_softmax   loss::random_softmax_loss (uniform negatives per example, no correction)
//   sampled_softmax  loss::sampled_softmax_loss with a unigram alias_sampler and the log-Q correction
//   nce              TF's nce_loss: k negatives shared by the batch from the unigram distribution, scores
//                    h·w + b − log(k·Q), loss::nce_loss with the negatives summed, γ = 0
// Quality: for each of the 1000 topic words, the share of its 10 nearest neighbours (cosine of the input
// embeddings, over all 1020 real words) that are in its topic (chance ≈ 0.05). Also: the full-softmax cross-entropy
// of the centre word on ~2400 held-out CBOW examples (the softmax meaning the article keeps; uniform = 6.93 nats).
//
// Claims (thresholds from seeds 1-8 smoke and 1-5 --full; measured ranges smoke / --full in brackets):
//   same_topic_random_softmax        ≥ 0.95    [0.997, 0.9995] / [0.9999, 1]
//   same_topic_random_minus_sampled  ≥ −0.02   [−0.0017, −0.0003] / [0, 0.0002]   (random ≈ sampled softmax)
//   same_topic_random_shared         ≥ 0.95    [0.999, 1] / [1, 1]   (shared and unshared both train)
//   heldout_ce_nce_minus_random      ≥ 0.5     [10.0, 10.8] / [0.86, 7.6]   (NCE scores lose the softmax meaning)
//   same_topic_random_minus_nce      ≥ 0.1     [0.23, 0.33], smoke only: at --full (6.7× the steps) NCE's
//                                              neighbours catch up (1.000), so the article's "NCE gives garbage"
//                                              is a budget effect here; printed, not claimed, at --full.
// Printed only: the shared-matrix NCE stays near chance (0.06 smoke, 0.10 --full) at both sizes.
// --full: 20 000 sentences. --seed N: another corpus and initialisation seed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/loss/classification.hpp>
#include <kexue/loss/sampled_softmax.hpp>
#include <kexue/ops/index.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/normalize.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/optim/adam.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;
using ids = kx::tensor<kx::index_t>;
using kexue_examples::claim;

namespace {

constexpr kx::index_t topics = 20, per_topic = 50, stop_words = 20, window = 3, dim = 64, negatives = 16;
constexpr kx::index_t vocab = 1 + stop_words + topics * per_topic;  // 1021 with the padding id 0

/// Topic of a word id, −1 for padding and stop words.
kx::index_t topic_of(kx::index_t w) { return w <= stop_words ? -1 : (w - 1 - stop_words) / per_topic; }

/// CBOW examples: context [N, 2·window] (padding id 0 outside the sentence) and centre word [N].
struct cbow_data {
  std::vector<kx::index_t> context, centre;
  std::vector<double> counts = std::vector<double>(static_cast<std::size_t>(vocab), 0.0);
  kx::index_t size() const { return static_cast<kx::index_t>(centre.size()); }
};

cbow_data make_corpus(kx::index_t sentences, kx::generator& gen) {
  std::vector<double> zipf(static_cast<std::size_t>(per_topic));
  for (kx::index_t r = 0; r < per_topic; ++r) zipf[static_cast<std::size_t>(r)] = 1.0 / static_cast<double>(r + 1);
  const kx::loss::alias_sampler rank(zipf);
  cbow_data d;
  std::vector<kx::index_t> s;
  for (kx::index_t n = 0; n < sentences; ++n) {
    const auto topic = static_cast<kx::index_t>(gen.below(topics));
    s.assign(static_cast<std::size_t>(12 + gen.below(9)), 0);
    for (auto& w : s) {
      w = gen.uniform() < 0.25 ? 1 + static_cast<kx::index_t>(gen.below(stop_words))
                               : 1 + stop_words + topic * per_topic + rank.sample(gen);
      d.counts[static_cast<std::size_t>(w)] += 1;
    }
    const auto len = static_cast<kx::index_t>(s.size());
    for (kx::index_t i = 0; i < len; ++i) {
      for (kx::index_t o = -window; o <= window; ++o) {
        if (o == 0) continue;
        const kx::index_t j = i + o;
        d.context.push_back(j >= 0 && j < len ? s[static_cast<std::size_t>(j)] : 0);
      }
      d.centre.push_back(s[static_cast<std::size_t>(i)]);
    }
  }
  return d;
}

/// Context ids [B, 2w] and centre ids [B] of the examples `rows`.
std::pair<ids, ids> batch_of(const cbow_data& d, const std::vector<kx::index_t>& rows) {
  const auto b = static_cast<kx::index_t>(rows.size());
  ids ctx = ids::empty({b, 2 * window}), tgt = ids::empty({b});
  for (kx::index_t i = 0; i < b; ++i) {
    const auto r = static_cast<std::size_t>(rows[static_cast<std::size_t>(i)]);
    for (kx::index_t j = 0; j < 2 * window; ++j) ctx(i, j) = d.context[r * 2 * window + static_cast<std::size_t>(j)];
    tgt.data()[i] = d.centre[r];
  }
  return {ctx, tgt};
}

/// CBOW input: the sum of the context embeddings [B, d].
tensor cbow_hidden(const tensor& embed, const ids& ctx) {
  const kx::index_t b = ctx.size(0);
  return kx::sum(kx::reshape(kx::index_select(embed, 0, kx::reshape(ctx, {b * 2 * window})), {b, 2 * window, dim}),
                 {1});
}

enum class method { random_softmax, sampled_softmax, nce };

struct result {
  double same_topic;  // mean share of same-topic words among the 10 nearest neighbours
  double heldout_ce;  // full-softmax cross-entropy on held-out examples
};

result evaluate(const tensor& embed, const tensor& out_w, const tensor& out_b, const cbow_data& heldout) {
  kx::no_grad_guard no_grad;
  // neighbours among the real words 1..V−1
  const tensor words = kx::l2_normalize(kx::narrow(embed, 0, 1, vocab - 1), -1);
  const tensor cos = kx::matmul(words, words, false, true);  // [V−1, V−1], row r = word r + 1
  result r{};
  std::vector<kx::index_t> order(static_cast<std::size_t>(vocab - 1));
  for (kx::index_t w = stop_words + 1; w < vocab; ++w) {
    std::iota(order.begin(), order.end(), kx::index_t(1));
    std::swap(order[static_cast<std::size_t>(w - 1)], order.back());
    std::partial_sort(order.begin(), order.begin() + 10, order.end() - 1,
                      [&](kx::index_t a, kx::index_t b) { return cos(w - 1, a - 1) > cos(w - 1, b - 1); });
    int same = 0;
    for (int k = 0; k < 10; ++k) same += topic_of(order[static_cast<std::size_t>(k)]) == topic_of(w);
    r.same_topic += same / 10.0;
  }
  r.same_topic /= static_cast<double>(topics * per_topic);
  std::vector<kx::index_t> rows(static_cast<std::size_t>(heldout.size()));
  std::iota(rows.begin(), rows.end(), kx::index_t(0));
  const auto [ctx, tgt] = batch_of(heldout, rows);
  tensor logits = kx::matmul(cbow_hidden(embed, ctx), out_w, false, true);  // [N, V]
  if (out_b.defined()) logits = kx::add(logits, out_b);
  r.heldout_ce = kx::loss::cross_entropy(logits, tgt).item();
  return r;
}

/// Trains CBOW with loss `m`; `shared`: the softmax matrix is the embedding table (no bias), otherwise a separate
/// [V, d] matrix U(−0.05, 0.05) and a zero bias.
result train(const char* name, method m, bool shared, const cbow_data& data, const cbow_data& heldout, int epochs,
             std::uint64_t seed) {
  kx::generator gen(seed);
  tensor embed = kx::rand<float>({vocab, dim}, gen, -0.05f, 0.05f).requires_grad(true);
  tensor out_w = embed, out_b;
  std::vector<tensor> params{embed};
  if (!shared) {
    out_w = kx::rand<float>({vocab, dim}, gen, -0.05f, 0.05f).requires_grad(true);
    out_b = kx::zeros<float>({vocab}).requires_grad(true);
    params.push_back(out_w);
    params.push_back(out_b);
  }
  kx::optim::adam<float> opt(params, kx::optim::adam_options().lr(0.005));
  const kx::loss::alias_sampler unigram(data.counts);
  const tensor log_kq = kx::add_scalar(unigram.log_probabilities<float>(), std::log(static_cast<float>(negatives)));
  const kx::index_t batch = 256, n = data.size();
  std::vector<kx::index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), kx::index_t(0));
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (kx::index_t i = n - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)], order[gen.below(static_cast<std::uint64_t>(i + 1))]);
    for (kx::index_t start = 0; start + batch <= n; start += batch) {
      const auto [ctx, tgt] = batch_of(data, {order.begin() + start, order.begin() + start + batch});
      const tensor h = cbow_hidden(embed, ctx);
      tensor l;
      if (m == method::random_softmax) {
        l = kx::loss::random_softmax_loss(h, out_w, out_b, tgt, gen,
                                          kx::loss::random_softmax_options().num_negatives(negatives));
      } else if (m == method::sampled_softmax) {
        l = kx::loss::sampled_softmax_loss(h, out_w, out_b, tgt, unigram, gen,
                                           kx::loss::sampled_softmax_options().num_negatives(negatives));
      } else {  // TF-style NCE: one set of k negatives for the whole batch
        const ids neg = unigram.sample(kx::shape{negatives}, gen);
        tensor pos = kx::sub(kx::sum(kx::mul(h, kx::index_select(out_w, 0, tgt)), {1}),
                             kx::index_select(log_kq, 0, tgt));  // [B]
        tensor negs = kx::sub(kx::matmul(h, kx::index_select(out_w, 0, neg), false, true),
                              kx::index_select(log_kq, 0, neg));  // [B, k]
        if (out_b.defined()) {
          pos = kx::add(pos, kx::index_select(out_b, 0, tgt));
          negs = kx::add(negs, kx::index_select(out_b, 0, neg));
        }
        l = kx::loss::nce_loss(pos, negs, tensor(), kx::loss::nce_options().sum_negatives(true));
      }
      opt.zero_grad();
      l.backward();
      opt.step();
    }
  }
  const result r = evaluate(embed, out_w, out_b, heldout);
  std::printf("%-16s same-topic share of 10 nearest neighbours %.4f   held-out full-softmax CE %.3f\n", name,
              r.same_topic, r.heldout_ce);
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  kx::set_num_threads(1);  // small tensors: one thread is faster on a loaded 2-core machine
  const kx::index_t sentences = options.full ? 20000 : 3000;
  const int epochs = 2;
  kx::generator gen(options.seed);
  const cbow_data data = make_corpus(sentences, gen);
  cbow_data heldout = make_corpus(150, gen);
  std::printf(
      "word2vec_random_softmax: %lld topics x %lld words + %lld stop words, %lld CBOW examples (window %lld), "
      "d = %lld, k = %lld negatives, %d epochs\n",
      static_cast<long long>(topics), static_cast<long long>(per_topic), static_cast<long long>(stop_words),
      static_cast<long long>(data.size()), static_cast<long long>(window), static_cast<long long>(dim),
      static_cast<long long>(negatives), epochs);
  const std::uint64_t init = gen.next_u64();
  const result rs = train("random_softmax", method::random_softmax, false, data, heldout, epochs, init);
  const result ss = train("sampled_softmax", method::sampled_softmax, false, data, heldout, epochs, init);
  const result nce = train("nce", method::nce, false, data, heldout, epochs, init);
  const result rsh = train("random_shared", method::random_softmax, true, data, heldout, epochs, init);
  const result ssh = train("sampled_shared", method::sampled_softmax, true, data, heldout, epochs, init);
  const result nsh = train("nce_shared", method::nce, true, data, heldout, epochs, init);

  bool pass = true;
  pass &= claim("same_topic_random_softmax", rs.same_topic, ">= 0.95", rs.same_topic >= 0.95);
  pass &= claim("same_topic_random_minus_sampled", rs.same_topic - ss.same_topic, ">= -0.02",
                rs.same_topic - ss.same_topic >= -0.02);
  pass &= claim("same_topic_random_shared", rsh.same_topic, ">= 0.95", rsh.same_topic >= 0.95);
  pass &= claim("heldout_ce_nce_minus_random", nce.heldout_ce - rs.heldout_ce, ">= 0.5",
                nce.heldout_ce - rs.heldout_ce >= 0.5);
  if (!options.full) {  // at --full, 6.7x the steps, NCE's neighbours catch up: printed only
    pass &= claim("same_topic_random_minus_nce", rs.same_topic - nce.same_topic, ">= 0.1",
                  rs.same_topic - nce.same_topic >= 0.1);
  } else {
    std::printf("not claimed at --full: same_topic_random_minus_nce=%.4f (NCE catches up with more steps)\n",
                rs.same_topic - nce.same_topic);
  }
  std::printf("not claimed: sampled_shared %.4f, nce_shared %.4f (NCE with the shared matrix stays near chance)\n",
              ssh.same_topic, nsh.same_topic);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
