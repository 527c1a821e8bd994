// SPDX-License-Identifier: MIT
// A26 example (1 of 3, article 6736 "BERT in Keras"): a tiny BERT-style (post-LN) encoder pre-trained by masked-
// language modelling on synthetic sentences, then fine-tuned with the article's minimal heads: a [CLS] sentence
// classifier (Dense(1, sigmoid)), and pointer heads over the tokens — a softmax pointer (Dense(1, no bias), padding
// masked with a large negative, softmax over positions: exactly one answer, the article's event-subject
// extraction with the query concatenated in front, "___<type>___<text>") and a half-pointer-half-tagging head (two
// independent sigmoids per token, start and end: zero, one or several answers).
//
// What the article says (spec A26.1): keep a 1:1 alignment between characters and tokens (each character maps to
// itself if in the vocabulary, whitespace to [unused1], anything else to [UNK]; [CLS] … [SEP] around), add as few
// layers as possible on top of BERT, prefer one concatenated input over siamese double encoding; on real data
// [CLS] + Dense(1, sigmoid) gives 95.5% sentiment accuracy and the softmax pointers ≈ 89% on event subjects. We have
// no pretrained weights (spec A26 (d)): a 2-block encoder is pre-trained by MLM on the synthetic language first.
//
// Data (generated per seed): every character is a "word piece" with a meaning, as a Chinese character is: fillers
// a-t; sentiment u, v, w (positive) or x, y, z (negative); entity triggers 1 (person), 2 (place), 3 (time), each
// followed by a name of 2-4 filler characters, 10% of them '#' or '@' (not in the vocabulary: [UNK]). A sentence
// has 2-4 filler words of 1-3 characters, one sentiment word and 1-2 entity phrases in random order, words
// separated by spaces ([unused1]). Tasks:
//   classification: [CLS] text [SEP] → the sentiment;
//   pointer:        [CLS] ___<P|L|T>___<text> [SEP] → the token span of the name of that type (one answer);
//   tagging:        the same input → start/end tags of every name in the text (all types; A26's subject head).
// Model: token embedding N(0, 0.02²) + learned positions → LN → 2 × nn::transformer_layer (post-LN, gelu: BERT,
// LN ε 1e-12), width 64, 4 heads, FFN 128, dropout 0; MLM head Dense + gelu + LN + tied output (+ bias); no segment
// embedding (one segment, as the article's concatenated input). Pre-training: 15% of the tokens chosen (80%
// [MASK], 10% random, 10% kept), Adam 2e-3, batch 32, 100 steps. Fine-tuning (every layer trainable, Adam 2e-3 with
// a 20-step warm-up, batch 32), a copy of the pre-trained encoder per task: the [CLS] head with
// loss::binary_cross_entropy_with_logits (100 steps); the two pointer heads (nn::pointer_head, softmax mode
// without bias, and tagging mode) jointly (200 steps): cross-entropy over positions for start and end plus the
// masked per-token BCE of the tags. Decoding: algo::decode_spans (best p_start·p_end, span ≤ 12) for the softmax
// pointer; algo::pair_nearest_ends (A26's thresholds 0.6, 0.5) for the tags; answers are sliced from the original
// string through the 1:1 alignment. Scores on 512 fresh sentences.
//
// Claims (seeds 1-6 smoke, 1-3 --full; measured ranges in brackets, see README.md):
//   tokenizer_alignment_mismatches = 0: token i + 1 decodes to character i ([unused1] for whitespace, [UNK] for
//       characters outside the vocabulary), and slicing the original string at a target span gives the entity,
//       [UNK] characters included (id decoding would lose them) [0]
//   padding_invariance_max_abs_diff ≤ 1e-5: appending 9 padding tokens (key_padding_mask) changes neither the
//       [CLS] logit nor any pointer logit at a real position [0, 3.8e-6]
//   pointer_masked_probability = 0 and pointer_sum_minus_one ≤ 1e-5: the softmax pointer puts exactly zero
//       probability on padding and sums to 1 over the real positions [0; ≤ 1.7e-7]
//   cls_accuracy ≥ 0.9 [1.000]
//   --full only (600 pre-training steps, 200 + 1000 fine-tuning steps): tagging_f1 ≥ 0.9 [0.963, 0.978]; at smoke
//       size the heads are still learning (printed as a note: tagging F1 0.00-0.25 after 200 steps).
// Not claimed: the softmax pointer's exact match [smoke 0.17-0.51, --full 0.69-0.73]: it finds the names but has not
// learnt to pick the queried type (P/L/T → trigger 1/2/3) by 1000 steps: a pointer that ignores the query would
// score about 0.75 (half the sentences have two names); pre-training does not change it (from scratch 0.73), nor does
// writing the query as the trigger character itself (0.725-0.748, tried).
// Printed only: MLM masked-token accuracy, decoded examples, and with --full the same fine-tuning from a randomly
// initialised encoder (the effect of pre-training).
// Expected output: the checks, the scores, decoded examples, then five claim lines (six with --full).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;
using ids = kx::tensor<kx::index_t>;
using mask_t = kx::tensor<bool>;
using kexue_examples::claim;

namespace {

// ~~~ The tokenizer of A26.1: one token per character ~~~

// Vocabulary: 6 special tokens, then the printable ASCII characters '!' … '~' except '#' and '@' (which stand for
// the characters a real vocabulary lacks).
constexpr kx::index_t pad_id = 0, unk_id = 1, cls_id = 2, sep_id = 3, mask_id = 4, unused1_id = 5;
constexpr kx::index_t vocab = 6 + 94 - 2;

bool in_vocabulary(char ch) { return ch > ' ' && ch <= '~' && ch != '#' && ch != '@'; }

/// A character → its id: itself when in the vocabulary, whitespace → [unused1], anything else → [UNK].
kx::index_t char_id(char ch) {
  if (in_vocabulary(ch)) return 6 + (ch - '!') - (ch > '#') - (ch > '@');
  if (ch == ' ' || ch == '\t' || ch == '\n') return unused1_id;
  return unk_id;
}

/// [CLS] c_0 … c_{n−1} [SEP]: character i is token i + 1.
std::vector<kx::index_t> tokenize(const std::string& s) {
  std::vector<kx::index_t> t{cls_id};
  for (char ch : s) t.push_back(char_id(ch));
  t.push_back(sep_id);
  return t;
}

/// An id → its text ("[UNK]" and the other special tokens by name, [unused1] as a space).
std::string id_text(kx::index_t id) {
  static const char* names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", " "};
  if (id < 6) return names[id];
  for (char ch = '!'; ch <= '~'; ++ch)
    if (in_vocabulary(ch) && char_id(ch) == id) return std::string(1, ch);
  return "?";
}

// ~~~ The synthetic language ~~~
// Every character is a "word piece" with a meaning, as Chinese characters are: fillers a-t; sentiment u, v, w
// (positive) and x, y, z (negative); triggers 1 (person), 2 (place), 3 (time),
// each followed by a name of 2-4 filler characters (10% of them '#' or '@': out of the vocabulary). Words are
// separated by spaces. The query names the type by P, L or T.

const char type_query[] = {'P', 'L', 'T'};

struct sentence {
  std::string text;
  bool positive = false;
  std::vector<std::pair<int, std::pair<std::size_t, std::size_t>>> entities;  // type, [begin, end) in text
};

struct language {
  sentence make(kx::generator& gen) const {
    struct phrase {
      std::string word;
      int type = -1;  // entity type, or -1
    };
    auto filler = [&](std::uint64_t lo, std::uint64_t hi) {
      std::string w(lo + gen.below(hi - lo + 1), 'a');
      for (auto& ch : w) ch = static_cast<char>('a' + gen.below(20));
      return w;
    };
    std::vector<phrase> ps;
    const auto n_fill = 2 + gen.below(3);
    for (std::uint64_t i = 0; i < n_fill; ++i) ps.push_back({filler(1, 3)});
    sentence s;
    s.positive = gen.below(2) == 1;
    ps.push_back({std::string(1, static_cast<char>((s.positive ? 'u' : 'x') + gen.below(3)))});
    std::vector<int> types{0, 1, 2};
    for (int i = 2; i > 0; --i)
      std::swap(types[static_cast<std::size_t>(i)], types[gen.below(static_cast<std::uint64_t>(i + 1))]);
    const auto n_ent = 1 + gen.below(2);
    for (std::uint64_t i = 0; i < n_ent; ++i) ps.push_back({"", types[i]});
    for (std::size_t i = ps.size() - 1; i > 0; --i) std::swap(ps[i], ps[gen.below(i + 1)]);
    for (const auto& p : ps) {
      if (!s.text.empty()) s.text += ' ';
      if (p.type < 0) {
        s.text += p.word;
        continue;
      }
      s.text += static_cast<char>('1' + p.type);
      s.text += ' ';
      std::string name = filler(2, 4);
      for (auto& ch : name)
        if (gen.uniform() < 0.1) ch = gen.below(2) ? '#' : '@';
      s.entities.push_back({p.type, {s.text.size(), s.text.size() + name.size()}});
      s.text += name;
    }
    return s;
  }
};

/// One pointer example: the query-prefixed string, its tokens, the answer span in tokens, all name spans (tags).
struct pointer_example {
  std::string input;
  std::vector<kx::index_t> tokens;
  kx::index_t start = 0, end = 0;
  std::string answer;
  std::vector<std::pair<kx::index_t, kx::index_t>> names;
  bool positive = false;  // the sentence's sentiment (the [CLS] label)
};

pointer_example make_pointer_example(const sentence& s, kx::generator& gen) {
  pointer_example e;
  const auto& target = s.entities[gen.below(s.entities.size())];
  const std::string prefix = std::string("___") + type_query[target.first] + "___";
  e.input = prefix + s.text;
  e.tokens = tokenize(e.input);
  e.positive = s.positive;
  const auto offset = static_cast<kx::index_t>(1 + prefix.size());  // [CLS] + the query
  e.start = offset + static_cast<kx::index_t>(target.second.first);
  e.end = offset + static_cast<kx::index_t>(target.second.second) - 1;
  e.answer = s.text.substr(target.second.first, target.second.second - target.second.first);
  for (const auto& ent : s.entities)
    e.names.push_back({offset + static_cast<kx::index_t>(ent.second.first),
                       offset + static_cast<kx::index_t>(ent.second.second) - 1});
  return e;
}

/// Token rows padded with [PAD] to the longest (+ extra) and the real-token mask.
std::pair<ids, mask_t> pad_batch(const std::vector<std::vector<kx::index_t>>& rows, kx::index_t extra = 0) {
  std::size_t t = 0;
  for (const auto& r : rows) t = std::max(t, r.size());
  const auto b = static_cast<kx::index_t>(rows.size()), n = static_cast<kx::index_t>(t) + extra;
  ids x = ids::empty({b, n});
  mask_t m = mask_t::empty({b, n});
  for (kx::index_t i = 0; i < b; ++i)
    for (kx::index_t j = 0; j < n; ++j) {
      const auto& r = rows[static_cast<std::size_t>(i)];
      const bool real = static_cast<std::size_t>(j) < r.size();
      x(i, j) = real ? r[static_cast<std::size_t>(j)] : pad_id;
      m(i, j) = real;
    }
  return {x, m};
}

// ~~~ The model ~~~

struct bert_config {
  kx::index_t width = 64, heads = 4, ffn = 128, layers = 2, max_length = 96;
};

/// Token embedding + learned positions → LN → post-LN blocks (BERT). forward(tokens [B, T], real [B, T]) → [B, T, d].
struct tiny_bert : kx::nn::module<float> {
  bert_config config;
  std::shared_ptr<kx::nn::embedding<float>> tok;
  std::shared_ptr<kx::nn::learned_positional_embedding<float>> pos;
  std::shared_ptr<kx::nn::layer_norm<float>> norm;
  std::shared_ptr<kx::nn::module_list<float>> blocks;
  // MLM head: Dense + gelu + LN + tied output with bias
  std::shared_ptr<kx::nn::linear<float>> mlm_dense;
  std::shared_ptr<kx::nn::layer_norm<float>> mlm_norm;
  tensor mlm_bias;

  tiny_bert(const bert_config& c, kx::generator& gen) : config(c) {
    tok = register_module("tok", std::make_shared<kx::nn::embedding<float>>(vocab, c.width, gen));
    for (float& w : tok->weight) w *= 0.02f;  // BERT's N(0, 0.02²) (PyTorch's embedding draws N(0, 1))
    pos = register_module("pos", std::make_shared<kx::nn::learned_positional_embedding<float>>(
                                     kx::nn::learned_positional_embedding_options(c.max_length, c.width), gen));
    const auto ln = kx::nn::layer_norm_options(kx::shape{c.width}).eps(1e-12);  // BERT's ε
    norm = register_module("norm", std::make_shared<kx::nn::layer_norm<float>>(ln, gen));
    blocks = register_module("blocks", std::make_shared<kx::nn::module_list<float>>());
    for (kx::index_t l = 0; l < c.layers; ++l)
      blocks->push_back(std::make_shared<kx::nn::transformer_layer<float>>(
          kx::nn::transformer_layer_options::bert(c.width, c.heads, c.ffn).dropout(0.0).layer_norm_eps(1e-12), gen));
    mlm_dense = register_module("mlm_dense", std::make_shared<kx::nn::linear<float>>(c.width, c.width, gen));
    mlm_norm = register_module("mlm_norm", std::make_shared<kx::nn::layer_norm<float>>(ln, gen));
    mlm_bias = register_parameter("mlm_bias", kx::zeros<float>({vocab}));
  }

  tensor forward(const ids& tokens, const mask_t& real) const {
    tensor h = norm->forward(pos->forward(tok->forward(tokens)));
    kx::nn::multi_head_attention_call<float> call;
    call.key_padding_mask = kx::logical_not(real);
    for (kx::index_t l = 0; l < config.layers; ++l)
      h = blocks->at<kx::nn::transformer_layer<float>>(static_cast<std::size_t>(l))->forward(h, call);
    return h;
  }
  /// MLM logits [B, T, V]: LN(gelu(Dense h))·E_tokᵀ + b.
  tensor mlm_logits(const tensor& h) const {
    return tok->project(mlm_norm->forward(kx::gelu(mlm_dense->forward(h))), mlm_bias);
  }
};

/// A fine-tuning model: a copy of the encoder plus the task heads.
struct finetune_model : kx::nn::module<float> {
  std::shared_ptr<tiny_bert> encoder;
  std::shared_ptr<kx::nn::linear<float>> cls_head;               // [CLS] → 1 logit
  std::shared_ptr<kx::nn::pointer_head<float>> pointer, tagger;  // softmax (no bias) and tagging

  finetune_model(const bert_config& c, const tiny_bert* pretrained, kx::generator& gen) {
    encoder = register_module("encoder", std::make_shared<tiny_bert>(c, gen));
    if (pretrained) encoder->load_state_dict(pretrained->state_dict());
    cls_head = register_module("cls_head", std::make_shared<kx::nn::linear<float>>(c.width, 1, gen));
    pointer = register_module(
        "pointer", std::make_shared<kx::nn::pointer_head<float>>(
                       kx::nn::pointer_head_options(c.width).mode(kx::nn::pointer_mode::softmax).bias(false), gen));
    tagger = register_module("tagger",
                             std::make_shared<kx::nn::pointer_head<float>>(kx::nn::pointer_head_options(c.width), gen));
  }
  /// [CLS] logit [B].
  tensor cls_logit(const tensor& h) const {
    const ids zero = kx::zeros<kx::index_t>({h.size(0)});
    return kx::reshape(cls_head->forward(kx::nn::gather_positions(h, zero)), {h.size(0)});
  }
};

// ~~~ Batches ~~~

struct cls_batch {
  ids tokens;
  mask_t real;
  tensor label;
};

cls_batch make_cls_batch(const language& lang, kx::index_t b, kx::generator& gen) {
  std::vector<std::vector<kx::index_t>> rows;
  tensor label = tensor::empty({b});
  for (kx::index_t i = 0; i < b; ++i) {
    const sentence s = lang.make(gen);
    rows.push_back(tokenize(s.text));
    label.data()[i] = s.positive ? 1.0f : 0.0f;
  }
  auto [x, m] = pad_batch(rows);
  return {x, m, label};
}

struct pointer_batch {
  std::vector<pointer_example> examples;
  ids tokens;
  mask_t real;
  ids start, end;
  tensor label;                 // [B] sentiment
  tensor start_tags, end_tags;  // [B, T, 1]
};

pointer_batch make_pointer_batch(const language& lang, kx::index_t b, kx::generator& gen, kx::index_t extra = 0) {
  pointer_batch pb;
  std::vector<std::vector<kx::index_t>> rows;
  for (kx::index_t i = 0; i < b; ++i) {
    pb.examples.push_back(make_pointer_example(lang.make(gen), gen));
    rows.push_back(pb.examples.back().tokens);
  }
  std::tie(pb.tokens, pb.real) = pad_batch(rows, extra);
  const kx::index_t t = pb.tokens.size(1);
  pb.start = ids::empty({b});
  pb.end = ids::empty({b});
  pb.label = tensor::empty({b});
  pb.start_tags = kx::zeros<float>({b, t, 1});
  pb.end_tags = kx::zeros<float>({b, t, 1});
  for (kx::index_t i = 0; i < b; ++i) {
    const auto& e = pb.examples[static_cast<std::size_t>(i)];
    pb.start.data()[i] = e.start;
    pb.end.data()[i] = e.end;
    pb.label.data()[i] = e.positive ? 1.0f : 0.0f;
    for (const auto& [s, en] : e.names) {
      pb.start_tags(i, s, 0) = 1.0f;
      pb.end_tags(i, en, 0) = 1.0f;
    }
  }
  return pb;
}

// ~~~ Training ~~~

void warmup_lr(kx::optim::adam<float>& opt, double lr, int step, int warmup) {
  opt.set_lr(lr * std::min(1.0, (step + 1.0) / warmup));
}

/// MLM pre-training; returns the masked-token accuracy on fresh sentences.
double pretrain_mlm(tiny_bert& bert, const language& lang, int steps, std::uint64_t seed) {
  kx::generator gen(seed + 30);
  kx::optim::adam<float> opt(bert.parameters(), kx::optim::adam_options().lr(2e-3));
  auto masked_batch = [&](kx::index_t b) {
    const cls_batch cb = make_cls_batch(lang, b, gen);
    ids input = cb.tokens.copy(), target = ids::empty(cb.tokens.shape());
    for (kx::index_t i = 0; i < input.numel(); ++i) {
      const kx::index_t id = input.data()[i];
      target.data()[i] = -100;  // ignored
      if (id == pad_id || id == cls_id || id == sep_id || gen.uniform() >= 0.15) continue;
      target.data()[i] = id;
      const double u = gen.uniform();
      input.data()[i] = u < 0.8 ? mask_id : u < 0.9 ? 6 + static_cast<kx::index_t>(gen.below(vocab - 6)) : id;
    }
    return std::make_tuple(input, cb.real, target);
  };
  for (int step = 0; step < steps; ++step) {
    warmup_lr(opt, 2e-3, step, 20);
    const auto [input, real, target] = masked_batch(32);
    const tensor loss = kx::loss::cross_entropy(bert.mlm_logits(bert.forward(input, real)), target);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  kx::no_grad_guard no_grad;
  double hit = 0, count = 0;
  for (int r = 0; r < 8; ++r) {
    const auto [input, real, target] = masked_batch(64);
    const ids guess = kx::argmax(bert.mlm_logits(bert.forward(input, real)), -1);
    for (kx::index_t i = 0; i < target.numel(); ++i)
      if (target.data()[i] >= 0) {
        hit += guess.data()[i] == target.data()[i];
        count += 1;
      }
  }
  return hit / count;
}

struct head_scores {
  double cls_accuracy = 0, exact_match = 0, tagging_f1 = 0;
  std::vector<std::string> shown;
};

/// Fine-tunes the encoder and the three heads jointly (one batch, the three losses summed); test scores on 512
/// fresh examples.
head_scores train_heads(finetune_model& m, const language& lang, int steps, std::uint64_t seed, bool classify,
                        double lr) {
  kx::generator gen(seed + 50), test(seed + 51);
  kx::optim::adam<float> opt(m.parameters(), kx::optim::adam_options().lr(lr));
  for (int step = 0; step < steps; ++step) {
    warmup_lr(opt, lr, step, 20);
    const pointer_batch b = make_pointer_batch(lang, 32, gen);
    const kx::index_t n = b.tokens.size(0), t = b.tokens.size(1);
    const tensor h = m.encoder->forward(b.tokens, b.real);
    const auto p = m.pointer->forward(h, b.real);
    const auto g = m.tagger->forward(h, b.real);
    const mask_t keep = kx::unsqueeze(b.real, -1);
    const tensor cls_loss = kx::loss::binary_cross_entropy_with_logits(m.cls_logit(h), b.label);
    const tensor ptr_loss = kx::loss::cross_entropy(kx::reshape(p.start_logits, {n, t}), b.start) +
                            kx::loss::cross_entropy(kx::reshape(p.end_logits, {n, t}), b.end) +
                            kx::loss::binary_cross_entropy_with_logits(g.start_logits, b.start_tags, {}, keep) +
                            kx::loss::binary_cross_entropy_with_logits(g.end_logits, b.end_tags, {}, keep);
    const tensor loss = classify ? cls_loss : ptr_loss;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  kx::no_grad_guard no_grad;
  head_scores s;
  double cls_hit = 0, hit = 0, count = 0, tp = 0, predicted = 0, gold = 0;
  for (int r = 0; r < 8; ++r) {
    const pointer_batch b = make_pointer_batch(lang, 64, test);
    const kx::index_t t = b.tokens.size(1);
    const tensor h = m.encoder->forward(b.tokens, b.real);
    const auto p = m.pointer->forward(h, b.real);
    const auto g = m.tagger->forward(h, b.real);
    const tensor logit = m.cls_logit(h);
    for (kx::index_t i = 0; i < 64; ++i) {
      const auto& e = b.examples[static_cast<std::size_t>(i)];
      cls_hit += (logit.data()[i] > 0) == e.positive;
      auto row = [&](const tensor& x) { return kx::reshape(kx::select(x, 0, i), {t}).copy(); };
      const auto spans = kx::algo::decode_spans(row(p.start), row(p.end), 12);
      const bool match = !spans.empty() && spans[0].start == e.start && spans[0].end == e.end;
      hit += match;
      count += 1;
      const auto tags = kx::algo::pair_nearest_ends(row(g.start), row(g.end), 0.6, 0.5);
      std::set<std::pair<kx::index_t, kx::index_t>> pred, ref(e.names.begin(), e.names.end());
      for (const auto& sp : tags) pred.insert({sp.start, sp.end});
      for (const auto& sp : pred) tp += ref.count(sp);
      predicted += static_cast<double>(pred.size());
      gold += static_cast<double>(ref.size());
      if (r == 0 && i < 3 && !spans.empty() && spans[0].start >= 1 &&
          spans[0].end <= static_cast<kx::index_t>(e.input.size())) {
        // slice the original string through the 1:1 alignment (character = token − 1)
        const auto a = static_cast<std::size_t>(spans[0].start - 1), z = static_cast<std::size_t>(spans[0].end);
        std::string ids_decoded;
        for (kx::index_t k = spans[0].start; k <= spans[0].end; ++k)
          ids_decoded += id_text(e.tokens[static_cast<std::size_t>(k)]);
        s.shown.push_back("  \"" + e.input + "\" → \"" + e.input.substr(a, z - a) + "\" (ids decode to \"" +
                          ids_decoded + "\", gold \"" + e.answer + "\")");
      }
    }
  }
  s.cls_accuracy = cls_hit / count;
  s.exact_match = hit / count;
  s.tagging_f1 = 2 * tp / std::max(1.0, predicted + gold);
  return s;
}

// ~~~ Exact checks ~~~

/// Alignment mismatches over `n` pointer examples: token ids of every character, and the answer sliced back.
int alignment_mismatches(const language& lang, int n, kx::generator& gen) {
  int bad = 0;
  for (int k = 0; k < n; ++k) {
    const pointer_example e = make_pointer_example(lang.make(gen), gen);
    bad += e.tokens.size() != e.input.size() + 2 || e.tokens.front() != cls_id || e.tokens.back() != sep_id;
    for (std::size_t i = 0; i < e.input.size(); ++i) {
      const char ch = e.input[i];
      // the token decodes back to its character, except the out-of-vocabulary ones, which are [UNK]
      const std::string expect = (ch == '#' || ch == '@') ? "[UNK]" : std::string(1, ch);
      bad += id_text(e.tokens[i + 1]) != expect;
    }
    bad += e.input.substr(static_cast<std::size_t>(e.start - 1), static_cast<std::size_t>(e.end - e.start + 1)) !=
           e.answer;
  }
  return bad;
}

struct padding_result {
  double max_diff = 0, masked_probability = 0, sum_error = 0;
};

padding_result check_padding(const finetune_model& m, const language& lang, std::uint64_t seed) {
  kx::no_grad_guard no_grad;
  kx::generator g1(seed + 60), g2(seed + 60);
  const pointer_batch tight = make_pointer_batch(lang, 4, g1), padded = make_pointer_batch(lang, 4, g2, 9);
  const tensor h1 = m.encoder->forward(tight.tokens, tight.real), h2 = m.encoder->forward(padded.tokens, padded.real);
  const tensor c1 = m.cls_logit(h1), c2 = m.cls_logit(h2);
  const auto p1 = m.pointer->forward(h1, tight.real), p2 = m.pointer->forward(h2, padded.real);
  padding_result r;
  for (kx::index_t i = 0; i < 4; ++i) {
    r.max_diff = std::max(r.max_diff, std::fabs(double(c1.data()[i]) - double(c2.data()[i])));
    double sum = 0;
    for (kx::index_t j = 0; j < padded.tokens.size(1); ++j) {
      if (padded.real(i, j)) {
        r.max_diff =
            std::max(r.max_diff, std::fabs(double(p1.start_logits(i, j, 0)) - double(p2.start_logits(i, j, 0))));
        r.max_diff = std::max(r.max_diff, std::fabs(double(p1.end_logits(i, j, 0)) - double(p2.end_logits(i, j, 0))));
      } else {
        r.masked_probability = std::max(r.masked_probability, double(p2.start(i, j, 0)) + double(p2.end(i, j, 0)));
      }
      sum += p2.start(i, j, 0);
    }
    r.sum_error = std::max(r.sum_error, std::fabs(sum - 1));
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  // Many small ops on a shared 2-core machine: one thread avoids OpenMP spin-waiting.
  kx::set_num_threads(1);
  kexue_examples::example_options options;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  const std::uint64_t seed = options.seed;
  bool ok = true;

  kx::generator check_gen(seed + 1);
  const language lang;
  {
    kx::generator show(seed + 2);
    const sentence s = lang.make(show);
    std::printf("a sentence: \"%s\" (%s)\n", s.text.c_str(), s.positive ? "positive" : "negative");
  }
  const int bad_alignment = alignment_mismatches(lang, 500, check_gen);

  bert_config config;
  const int pre_steps = options.full ? 600 : 100, cls_steps = options.full ? 200 : 100,
            ptr_steps = options.full ? 1000 : 200;
  const double lr = 2e-3;
  kx::generator init(seed + 3);
  tiny_bert bert(config, init);
  const double mlm_acc = pretrain_mlm(bert, lang, pre_steps, seed);
  std::printf("MLM pre-training: %d steps, masked-token accuracy %.3f\n", pre_steps, mlm_acc);

  kx::generator head_init(seed + 4);
  finetune_model cls_model(config, &bert, head_init), ptr_model(config, &bert, head_init);
  const head_scores cs = train_heads(cls_model, lang, cls_steps, seed, true, lr);
  const head_scores hs = train_heads(ptr_model, lang, ptr_steps, seed, false, lr);
  std::printf("fine-tuned [CLS] head, %d steps: accuracy %.3f\n", cls_steps, cs.cls_accuracy);
  std::printf("fine-tuned pointer heads, %d steps: softmax pointer exact match %.3f, tagging F1 %.3f; decoded:\n",
              ptr_steps, hs.exact_match, hs.tagging_f1);
  for (const auto& line : hs.shown) std::printf("%s\n", line.c_str());
  const padding_result pr = check_padding(ptr_model, lang, seed);
  std::printf(
      "padding (+9 [PAD], key_padding_mask): max |Δ logit| %.2e; pointer probability on padding %.3g, "
      "|Σp − 1| %.2e\n",
      pr.max_diff, pr.masked_probability, pr.sum_error);

  if (options.full) {
    kx::generator scratch_init(seed + 4);
    finetune_model cls_scratch(config, nullptr, scratch_init), ptr_scratch(config, nullptr, scratch_init);
    const head_scores c0 = train_heads(cls_scratch, lang, cls_steps, seed, true, lr);
    const head_scores h0 = train_heads(ptr_scratch, lang, ptr_steps, seed, false, lr);
    std::printf(
        "note: the same fine-tuning from a random encoder (no MLM): [CLS] %.3f, exact match %.3f, tagging "
        "F1 %.3f\n",
        c0.cls_accuracy, h0.exact_match, h0.tagging_f1);
  }

  std::printf("\n");
  ok &= claim("tokenizer_alignment_mismatches", bad_alignment, "== 0", bad_alignment == 0);
  ok &= claim("padding_invariance_max_abs_diff", pr.max_diff, "<= 1e-5", pr.max_diff <= 1e-5);
  ok &= claim("pointer_masked_probability", pr.masked_probability, "== 0", pr.masked_probability == 0.0);
  ok &= claim("pointer_sum_minus_one", pr.sum_error, "<= 1e-5", pr.sum_error <= 1e-5);
  ok &= claim("cls_accuracy", cs.cls_accuracy, ">= 0.9", cs.cls_accuracy >= 0.9);
  // Half the sentences have two names: a pointer that finds names but ignores the query scores ≈ 0.75.
  std::printf(
      "note: softmax pointer exact match %.3f after %d steps, not claimed (finding a name and ignoring the "
      "query would score about 0.75)\n",
      hs.exact_match, ptr_steps);
  if (options.full) {
    ok &= claim("tagging_f1", hs.tagging_f1, ">= 0.9", hs.tagging_f1 >= 0.9);
  } else {
    std::printf("note: tagging F1 %.3f after %d steps: still learning at smoke size (claimed with --full)\n",
                hs.tagging_f1, ptr_steps);
  }
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
