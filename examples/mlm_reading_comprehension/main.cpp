// SPDX-License-Identifier: MIT
// A26 example: non-autoregressive (MLM) extractive reading comprehension, with constrained greedy decoding and
// the vote across passages (spec A26.2, “非自回归”也不差：基于MLM的阅读理解问答, https://kexue.fm/archives/7148).
//
// What the article shows: when the answer is short and essentially unique, p(y|x) = Π_t p(y_t|x) (all answer
// tokens predicted in parallel by an MLM) is enough. Input [CLS] [MASK]×l_max [SEP] question [SEP] passage
// [SEP]; the MLM outputs at positions 1..l_max predict the answer tokens followed by [SEP]; the remaining slots
// are padding (id 0) and are left out of the loss (masked mean of sparse cross-entropy). Decoding, per passage,
// from ONE forward pass: greedy over positions, the candidates restricted to the tokens that extend the current
// prefix to an n-gram of the passage (plus [SEP]); stop at [SEP]; score = mean of the chosen probabilities. The
// answers of several passages are combined by s_a = Σ s² / (1 + Σ s) (A02's vote, algo::vote_answers).
//
// Data (synthetic, generated here): a passage is 3–4 facts "K是V" joined by "，" and ended by "。", keys K one of
// 10 key tokens (甲 … 癸), values V 1–4 letters (alphabet of 20), keys of a passage distinct. Question "K是什么".
// In training, 3 questions in 4 ask a key of the passage (answer V), the others a key that is not there (empty
// answer: the target is [SEP] at slot 1), as the reference code trains on passages without the answer. Test:
// 300 questions, each with 3 passages: two state the fact (with different other facts), one does not.
// Model (from scratch: no pre-training, Adam lr 3e-3 instead of the article's 1e-5): tiny BERT
// (examples/common/triple_mlm_tiny_bert.hpp: width 32, 2 heads, FFN 64, 2 post-LN blocks) and BERT's MLM head
// (Dense + gelu + LN, output projection tied to the token embedding (nn::embedding::project) plus a bias);
// l_max = 5. loss::cross_entropy with ignore_index = 0 over the l_max slots. Batch 32 fresh examples a step.
//
// Claims (smoke: 600 steps; seeds 1-6, measured ranges in brackets):
//   masked_ce_formula_max_abs_diff ≤ 1e-5: the loss equals the mean of −log softmax over the non-padding slots,
//     computed by hand in double [5e-9, 7e-7]
//   masked_ce_padding_grad_max_abs ≤ 0: padding slots get exactly zero gradient [0]
//   tied_table_listed_once = 1: the token table, used as input embedding and output projection, is one
//     parameter (the optimizer updates it once) [1]
//   voted_em_constrained_minus_free ≥ 0: constraining the greedy decoder to passage n-grams does not lose exact
//     matches against unconstrained argmax decoding [+0.010, +0.030]; a weak claim, the only training outcome
//     that held on every seed
// NOT reproduced, printed only: the article's accuracy. Trained from scratch, this tiny model learns the
// key-lookup-and-copy task slowly: voted exact match 0.05–0.19 after 600 steps (seeds 1-6), 0.18 after 3000
// (seed 1); width 64, rotary positions, 3 blocks or 2-fact passages gave 0.08–0.20 after 1000 steps. The
// article's model starts from pre-trained BERT. No pointer-network baseline is trained (spec (d) asks for one).
// --full: 3000 steps, same claims (seed 1: constrained 0.180, unconstrained 0.087 voted exact match).
// Expected output: the loss every 100 steps, one decoded test question, the exact-match table, the claim lines.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../common/example_support.hpp"
#include "../common/triple_mlm_tiny_bert.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;
using itensor = kx::tensor<kx::index_t>;
using tokens_t = std::vector<kx::index_t>;
using kexue_examples::claim;

namespace {

// ~~~ Vocabulary and data ~~~

constexpr kx::index_t pad_id = 0, cls_id = 1, sep_id = 2, mask_id = 3, shi_id = 4, what_id = 5, comma_id = 6,
                      stop_id = 7, first_key = 8, keys = 10, first_letter = first_key + keys, letters = 20,
                      vocab = first_letter + letters;
constexpr kx::index_t answer_slots = 5, max_length = 64;  // l_max: answers of ≤ 4 tokens, then [SEP]

std::string text(const tokens_t& t) {
  static const char* const specials[] = {"",   "[CLS]", "[SEP]", "[MASK]", "是", "什么", "，", "。", "甲",
                                         "乙", "丙",    "丁",    "戊",     "己", "庚",   "辛", "壬", "癸"};
  std::string out;
  for (auto id : t)
    out += id < first_letter ? specials[id] : std::string(1, static_cast<char>('a' + id - first_letter));
  return out;
}

tokens_t random_letters(std::size_t n, kx::generator& gen) {
  tokens_t out(n);
  for (auto& c : out) c = first_letter + static_cast<kx::index_t>(gen.below(letters));
  return out;
}

tokens_t random_key(kx::generator& gen) { return {first_key + static_cast<kx::index_t>(gen.below(keys))}; }

struct fact {
  tokens_t key, value;
};

/// A passage "K是V，K是V，…。" of the given facts.
tokens_t render_passage(const std::vector<fact>& facts) {
  tokens_t p;
  for (std::size_t i = 0; i < facts.size(); ++i) {
    if (i > 0) p.push_back(comma_id);
    p.insert(p.end(), facts[i].key.begin(), facts[i].key.end());
    p.push_back(shi_id);
    p.insert(p.end(), facts[i].value.begin(), facts[i].value.end());
  }
  p.push_back(stop_id);
  return p;
}

/// 2–3 random facts whose keys differ from each other and from `avoid`.
std::vector<fact> other_facts(std::size_t n, const tokens_t& avoid, kx::generator& gen) {
  std::vector<fact> facts;
  while (facts.size() < n) {
    fact f{random_key(gen), random_letters(1 + gen.below(4), gen)};
    bool clash = f.key == avoid;
    for (const auto& g : facts) clash = clash || g.key == f.key;
    if (!clash) facts.push_back(f);
  }
  return facts;
}

/// A passage for a question about `asked`: with the fact placed at a random position, or (with = false) without it.
tokens_t make_passage(const fact& asked, bool with, kx::generator& gen) {
  std::vector<fact> facts = other_facts(with ? 2 + gen.below(2) : 3 + gen.below(2), asked.key, gen);
  if (with) facts.insert(facts.begin() + static_cast<std::ptrdiff_t>(gen.below(facts.size() + 1)), asked);
  return render_passage(facts);
}

tokens_t question_of(const fact& f) {
  tokens_t q = f.key;
  q.push_back(shi_id);
  q.push_back(what_id);
  return q;
}

/// [CLS] [MASK]×l_max [SEP] question [SEP] passage [SEP].
tokens_t mlm_input(const tokens_t& question, const tokens_t& passage) {
  tokens_t x{cls_id};
  x.insert(x.end(), answer_slots, mask_id);
  x.push_back(sep_id);
  x.insert(x.end(), question.begin(), question.end());
  x.push_back(sep_id);
  x.insert(x.end(), passage.begin(), passage.end());
  x.push_back(sep_id);
  return x;
}

/// The l_max slot targets: the answer, [SEP], then padding (0).
tokens_t slot_targets(const tokens_t& answer) {
  tokens_t y = answer;
  y.push_back(sep_id);
  y.resize(answer_slots, pad_id);
  return y;
}

struct example {
  tokens_t question, passage, answer;  // answer empty when the passage does not state it
};

example make_training_example(kx::generator& gen) {
  const fact asked{random_key(gen), random_letters(1 + gen.below(4), gen)};
  const bool with = gen.below(4) != 0;
  return {question_of(asked), make_passage(asked, with, gen), with ? asked.value : tokens_t{}};
}

struct test_question {
  tokens_t question, answer;
  std::vector<tokens_t> passages;  // two with the fact, one without, shuffled
  std::vector<bool> answerable;
};

test_question make_test_question(kx::generator& gen) {
  const fact asked{random_key(gen), random_letters(1 + gen.below(4), gen)};
  test_question q{question_of(asked), asked.value, {}, {}};
  const auto without = gen.below(3);
  for (std::uint64_t i = 0; i < 3; ++i) {
    q.passages.push_back(make_passage(asked, i != without, gen));
    q.answerable.push_back(i != without);
  }
  return q;
}

// ~~~ Model and loss ~~~

struct mlm_reader : kx::nn::module<float> {
  std::shared_ptr<kexue_examples::tiny_bert> encoder;
  std::shared_ptr<kexue_examples::tiny_mlm_head> head;

  explicit mlm_reader(kx::generator& gen) {
    kexue_examples::tiny_bert_config config;
    config.vocab = vocab;
    config.max_length = max_length;
    encoder = register_module("encoder", std::make_shared<kexue_examples::tiny_bert>(config, gen));
    head = register_module("head", std::make_shared<kexue_examples::tiny_mlm_head>(encoder->token, gen));
  }
  /// Logits of the answer slots [B, l_max, vocab].
  tensor forward(const itensor& tokens, const kx::tensor<bool>& padding) const {
    return head->forward(kx::narrow(encoder->forward(tokens, padding).hidden, 1, 1, answer_slots));
  }
};

/// Sparse cross-entropy over the slots, padding targets (0) left out: the masked mean.
tensor slot_loss(const tensor& logits, const itensor& targets) {
  return kx::loss::cross_entropy(logits, targets, kx::loss::cross_entropy_options().ignore_index(pad_id));
}

// ~~~ Decoding ~~~

struct decoded {
  tokens_t answer;
  double score = 0;
};

/// Greedy decoding of one passage's slot probabilities [l_max, vocab] (rows of `probs` at `row`). constrained:
/// the candidates extend the prefix to an n-gram of the passage, plus [SEP]; otherwise every token.
decoded decode(const tensor& probs, kx::index_t row, const tokens_t& passage, bool constrained) {
  decoded d;
  double total = 0;
  for (kx::index_t i = 0; i < answer_slots; ++i) {
    std::vector<bool> allowed(static_cast<std::size_t>(vocab), !constrained);
    allowed[sep_id] = true;
    const std::size_t n = d.answer.size();
    for (std::size_t j = 0; constrained && j + n < passage.size(); ++j)
      if (std::equal(d.answer.begin(), d.answer.end(), passage.begin() + static_cast<std::ptrdiff_t>(j)))
        allowed[static_cast<std::size_t>(passage[j + n])] = true;
    kx::index_t best = sep_id;
    for (kx::index_t v = 0; v < vocab; ++v)
      if (allowed[static_cast<std::size_t>(v)] && probs(row, i, v) > probs(row, i, best)) best = v;
    total += probs(row, i, best);
    if (best == sep_id) {
      d.score = total / static_cast<double>(i + 1);
      return d;
    }
    d.answer.push_back(best);
  }
  d.score = total / static_cast<double>(answer_slots);
  return d;
}

struct scores {
  double voted = 0, answerable = 0, unanswerable = 0;  // exact-match rates
};

/// Exact match: of the voted answer (empty answers are not voted for; none left = "no answer"), per answerable
/// passage, and "no answer" found on the passages without the fact.
scores evaluate(const mlm_reader& model, const std::vector<test_question>& test, bool constrained, bool show) {
  kx::no_grad_guard no_grad;
  std::vector<tokens_t> inputs;
  for (const auto& q : test)
    for (const auto& p : q.passages) inputs.push_back(mlm_input(q.question, p));
  const auto [tokens, padding] = kexue_examples::pack_sequences(inputs, pad_id);
  const tensor probs = kx::softmax(model.forward(tokens, padding), -1);  // one forward pass per passage
  scores s;
  double answerable = 0, unanswerable = 0;
  kx::index_t row = 0;
  for (const auto& q : test) {
    std::vector<std::pair<std::string, double>> votes;
    for (std::size_t k = 0; k < q.passages.size(); ++k, ++row) {
      const decoded d = decode(probs, row, q.passages[k], constrained);
      if (q.answerable[k]) {
        s.answerable += d.answer == q.answer;
        answerable += 1;
      } else {
        s.unanswerable += d.answer.empty();
        unanswerable += 1;
      }
      if (!d.answer.empty()) votes.emplace_back(text(d.answer), d.score);
      if (show && &q == &test.front())
        std::printf("  passage %s -> \"%s\" (score %.3f)\n", text(q.passages[k]).c_str(), text(d.answer).c_str(),
                    d.score);
    }
    const auto ranked = kx::algo::vote_answers(votes);
    const std::string voted = ranked.empty() ? "" : ranked.front().first;
    if (show && &q == &test.front())
      std::printf("  question %s: voted \"%s\", truth \"%s\"\n", text(q.question).c_str(), voted.c_str(),
                  text(q.answer).c_str());
    s.voted += voted == text(q.answer);
  }
  s.voted /= static_cast<double>(test.size());
  s.answerable /= answerable;
  s.unanswerable /= unanswerable;
  return s;
}

// ~~~ Exact checks ~~~

/// The masked slot loss against −log softmax averaged over the non-padding slots in double, and the largest
/// gradient at a padding slot.
std::pair<double, double> check_slot_loss(kx::generator& gen) {
  const kx::index_t b = 4;
  const tensor logits = kx::mul_scalar(kx::randn<float>({b, answer_slots, vocab}, gen), 3.0f).requires_grad(true);
  auto targets = itensor::empty({b, answer_slots});
  for (kx::index_t i = 0; i < b; ++i) {
    const tokens_t y = slot_targets(random_letters(gen.below(answer_slots), gen));
    for (kx::index_t j = 0; j < answer_slots; ++j) targets(i, j) = y[static_cast<std::size_t>(j)];
  }
  const tensor loss = slot_loss(logits, targets);
  loss.backward();
  double want = 0, count = 0, pad_grad = 0;
  for (kx::index_t i = 0; i < b; ++i)
    for (kx::index_t j = 0; j < answer_slots; ++j) {
      if (targets(i, j) == pad_id) {
        for (kx::index_t v = 0; v < vocab; ++v)
          pad_grad = std::max(pad_grad, double(std::fabs(logits.grad()(i, j, v))));
        continue;
      }
      double m = -1e300, z = 0;
      for (kx::index_t v = 0; v < vocab; ++v) m = std::max(m, double(logits(i, j, v)));
      for (kx::index_t v = 0; v < vocab; ++v) z += std::exp(double(logits(i, j, v)) - m);
      want += m + std::log(z) - logits(i, j, targets(i, j));
      count += 1;
    }
  return {std::fabs(want / count - loss.item()), pad_grad};
}

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  options.seed = 1;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  // Many small ops on tiny tensors: a second OpenMP thread only spin-waits on a loaded 2-core machine.
  kx::set_num_threads(1);
  const int steps = options.full ? 3000 : 600;
  kx::generator gen(options.seed + 7148), init(options.seed), data(options.seed + 100);
  std::vector<test_question> test;
  for (int i = 0; i < 300; ++i) test.push_back(make_test_question(gen));
  const example shown = make_training_example(gen);
  std::printf(
      "mlm_reading_comprehension: tiny BERT (2 blocks, width 32) + tied MLM head, l_max = %lld, %d Adam "
      "steps of 32 fresh examples, 300 test questions x 3 passages, seed %llu\n  input: %s  target: %s\n",
      static_cast<long long>(answer_slots), steps, static_cast<unsigned long long>(options.seed),
      text(mlm_input(shown.question, shown.passage)).c_str(), text(slot_targets(shown.answer)).c_str());

  // 1. Exact checks: the masked loss, and the tied table.
  const auto [ce_diff, pad_grad] = check_slot_loss(gen);
  mlm_reader model(init);
  double listed = 0;
  for (const auto& p : model.parameters()) listed += p.data() == model.encoder->token->weight.data();

  // 2. Training.
  kx::optim::adam<float> opt(model.parameters(), kx::optim::adam_options().lr(3e-3));
  double running = 0;
  for (int step = 1; step <= steps; ++step) {
    std::vector<tokens_t> inputs;
    auto targets = itensor::empty({32, answer_slots});
    for (kx::index_t i = 0; i < 32; ++i) {
      const example e = make_training_example(data);
      inputs.push_back(mlm_input(e.question, e.passage));
      const tokens_t y = slot_targets(e.answer);
      for (kx::index_t j = 0; j < answer_slots; ++j) targets(i, j) = y[static_cast<std::size_t>(j)];
    }
    const auto [tokens, padding] = kexue_examples::pack_sequences(inputs, pad_id);
    const tensor loss = slot_loss(model.forward(tokens, padding), targets);
    opt.zero_grad();
    loss.backward();
    opt.step();
    running += loss.item();
    if (step % 100 == 0) {
      std::printf("  step %4d  loss %.4f\n", step, running / 100);
      running = 0;
    }
  }

  // 3. Test: one forward pass per passage, constrained (and, for comparison, unconstrained) greedy decoding.
  const scores constrained = evaluate(model, test, true, true);
  const scores free = evaluate(model, test, false, false);
  std::printf("exact match            voted  answerable passage  no-answer passage\n");
  std::printf("  constrained greedy   %5.3f  %18.3f  %17.3f\n", constrained.voted, constrained.answerable,
              constrained.unanswerable);
  std::printf("  unconstrained greedy %5.3f  %18.3f  %17.3f\n", free.voted, free.answerable, free.unanswerable);

  bool pass = true;
  pass &= claim("masked_ce_formula_max_abs_diff", ce_diff, "<= 1e-5", ce_diff <= 1e-5);
  pass &= claim("masked_ce_padding_grad_max_abs", pad_grad, "<= 0", pad_grad <= 0);
  pass &= claim("tied_table_listed_once", listed, "== 1", listed == 1);
  const double gain = constrained.voted - free.voted;
  pass &= claim("voted_em_constrained_minus_free", gain, ">= 0", gain >= 0);
  std::printf(
      "note: voted exact match %.3f (the article's ~0.73 accuracy, with pre-trained BERT, is not reproduced "
      "by this tiny model trained from scratch)\n",
      constrained.voted);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
