// SPDX-License-Identifier: MIT
// A03 example: the GPT2_ML (Grover-style) transformer block against BERT's post-LN and GPT-2's pre-LN blocks, as a
// small character-level causal language model with a tied output projection and top-k sampling.
//
// What the article shows (spec A03, https://kexue.fm/archives/7292): GPT2_ML's block is neither OpenAI GPT-2's nor
// BERT's. With LN = layer norm, Attn = causal self attention, FFN = feed-forward (gelu, tanh form):
//   BERT (post-LN):  h = LN₁(x + Attn(x));  y = LN₂(h + FFN(h));       embeddings tok + pos, then LN
//   GPT-2 (pre-LN):  h = x + Attn(LN₁(x));  y = h + FFN(LN₂(h));       embeddings tok + pos, one final LN
//   GPT2_ML:         h = x + Attn(x);       y = LN₁(h + FFN(LN₀(h)));  embeddings tok + pos, then LN, no final
//                                                                       LN (every block already ends with one)
// The FFN's residual is taken from h, before LN₀. Output logits y·E_tokᵀ (tied, no bias); the article samples with
// top-k (k = 5). The library has the three orders as nn::block_order of nn::transformer_layer.
//
// Data (default): synthetic text of a word-level Markov chain: 24 pseudo-words of 2-6 letters; each word has three
// successors with probabilities 0.6, 0.3, 0.1; sentences of 4-9 words end with ".\n". 40 000 training characters,
// 4 000 validation characters (the same chain, another stream). --corpus FILE: any UTF-8 text, tokenised by
// Unicode code point (ANSI colour escapes, as in the fortune files, are removed), split 90/10 into train and
// validation, e.g. /usr/share/games/fortunes/tang300.u8 (Tang poems; 2585 distinct code points).
// Model: token embedding N(0, 0.02²) tied with the output, learned positions (context 32), 2 blocks of width 64,
// 4 heads, FFN 128, gelu (tanh form), dropout 0, LN ε 1e-5. Adam lr 3e-3 (linear warm-up over 30 steps), batch 16,
// 200 steps per model.
//
// Claims (seeds 1-6 smoke, seed 1 --full and tang300; measured ranges in brackets, see README.md):
//   block_formula_max_abs_diff ≤ 1e-5: each library block equals its formula above written with the block's own
//       children (eval mode) [0]; block_orders_min_pairwise_diff ≥ 1e-2: the same weights in the three orders give
//       different outputs (they are different functions) [0.28, 0.38]
//   gpt2ml_block_output_moments ≤ 1e-3: every row of a GPT2_ML block output has mean 0 and variance 1 (it ends with
//       LN, γ = 1, β = 0 at initialisation; max |mean| + |var − 1|) — why no final LN is needed [3.4e-6, 4.7e-6]
//   causality_max_abs_diff = 0: changing the tokens after position t changes no logit at positions ≤ t, for all
//       three orders (exact) [0]
//   tied_gradient_rel_diff ≤ 1e-5: the gradient of the tied E_tok equals the gradient through the lookup alone
//       plus the gradient through the output projection alone (each with the other use under stop_gradient)
//       [2.6e-8, 2.9e-8]
//   val_ce_over_unigram_<order> ≤ 0.3 for each of the three orders: all three train [0.142, 0.160; --full
//       0.099-0.101]; with --corpus the bound is 0.92 [tang300: 0.83-0.86]
//   topk1_vs_greedy_mismatches = 0: top-k sampling with k = 1 under two different generators gives the greedy
//       (argmax) continuation, token for token [0]
// Printed only: the validation cross-entropies (nats per character) and perplexities, a k = 5 sample, and with
// --full the comparison at lr 1e-2 (spec: "pre-LN typically the most stable at higher lr — unverified").
// Expected output: the structure checks, the training table, samples, then nine claim lines.
// --full: 3 blocks, width 96, FFN 384, context 64, dropout 0.1, 1000 steps, plus the lr 1e-2 comparison (~6 min).
#include <algorithm>
#include <array>
#include <cctype>  // std::isalpha
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;
using ids = kx::tensor<kx::index_t>;
using kexue_examples::claim;

namespace {

// ~~~ Text and vocabulary ~~~

/// UTF-8 → code points (invalid bytes become U+FFFD).
std::vector<char32_t> decode_utf8(const std::string& s) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + static_cast<std::size_t>(len) > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3F);
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

std::string encode_utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

/// Removes ANSI escape sequences ESC [ ... letter (the fortune files colour their titles).
std::string strip_ansi(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

struct corpus {
  std::vector<char32_t> symbols;               // id → code point
  std::vector<kx::index_t> train, validation;  // token ids
  kx::index_t vocab() const { return static_cast<kx::index_t>(symbols.size()); }
  std::string text(const std::vector<kx::index_t>& t) const {
    std::string s;
    for (kx::index_t i : t) s += encode_utf8(symbols[static_cast<std::size_t>(i)]);
    return s;
  }
};

/// Vocabulary = the sorted distinct code points of train + validation (a closed vocabulary: the model is scored on
/// the held-out part only).
corpus make_corpus(const std::vector<char32_t>& train, const std::vector<char32_t>& validation) {
  corpus c;
  std::map<char32_t, kx::index_t> index;
  for (char32_t cp : train) index[cp] = 0;
  for (char32_t cp : validation) index[cp] = 0;
  for (auto& [cp, id] : index) {
    id = static_cast<kx::index_t>(c.symbols.size());
    c.symbols.push_back(cp);
  }
  for (char32_t cp : train) c.train.push_back(index[cp]);
  for (char32_t cp : validation) c.validation.push_back(index[cp]);
  return c;
}

/// The synthetic language: a Markov chain over 24 pseudo-words (see the header).
struct markov_language {
  std::vector<std::string> words;
  std::vector<std::array<int, 3>> next;
  explicit markov_language(kx::generator& gen) {
    while (words.size() < 24) {
      std::string w(2 + gen.below(5), 'a');
      for (auto& ch : w) ch = static_cast<char>('a' + gen.below(26));
      if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
      std::array<int, 3> n{};
      for (auto& v : n) v = static_cast<int>(gen.below(words.size()));
      next.push_back(n);
    }
  }
  std::string generate(std::size_t chars, kx::generator& gen) const {
    std::string s;
    while (s.size() < chars) {
      int w = static_cast<int>(gen.below(words.size()));
      const auto len = 4 + gen.below(6);
      for (std::uint64_t k = 0; k < len; ++k) {
        s += words[static_cast<std::size_t>(w)];
        s += k + 1 < len ? " " : ".\n";
        const double u = gen.uniform();
        w = next[static_cast<std::size_t>(w)][u < 0.6 ? 0 : u < 0.9 ? 1 : 2];
      }
    }
    return s.substr(0, chars);
  }
};

// ~~~ The model ~~~

struct lm_config {
  kx::index_t vocab = 0, context = 32, width = 64, heads = 4, ffn = 128, layers = 2;
  double dropout = 0.0;
  kx::nn::block_order order = kx::nn::block_order::gpt2ml;
};

const char* order_name(kx::nn::block_order o) {
  switch (o) {
    case kx::nn::block_order::post_ln:
      return "post_ln (BERT)";
    case kx::nn::block_order::pre_ln:
      return "pre_ln (GPT-2)";
    default:
      return "gpt2ml";
  }
}

/// Which uses of the tied table E_tok pass gradient (for the tied-gradient check).
enum class tie_gradient { both, lookup_only, output_only };

/// Causal character LM: tok + learned pos → [LN: post_ln, gpt2ml] → blocks → [final LN: pre_ln] → y·E_tokᵀ.
struct char_lm : kx::nn::module<float> {
  lm_config config;
  std::shared_ptr<kx::nn::embedding<float>> tok;
  std::shared_ptr<kx::nn::learned_positional_embedding<float>> pos;
  std::shared_ptr<kx::nn::layer_norm<float>> norm;  // after the embeddings (post_ln, gpt2ml) or final (pre_ln)
  std::shared_ptr<kx::nn::module_list<float>> blocks;

  char_lm(const lm_config& c, kx::generator& gen) : config(c) {
    tok = register_module("tok", std::make_shared<kx::nn::embedding<float>>(c.vocab, c.width, gen));
    for (float& w : tok->weight) w *= 0.02f;  // N(0, 0.02²) as GPT-2 (PyTorch's embedding draws N(0, 1))
    pos = register_module("pos", std::make_shared<kx::nn::learned_positional_embedding<float>>(
                                     kx::nn::learned_positional_embedding_options(c.context, c.width), gen));
    norm = register_module("norm", std::make_shared<kx::nn::layer_norm<float>>(
                                       kx::nn::layer_norm_options(kx::shape{c.width}).eps(1e-5), gen));
    blocks = register_module("blocks", std::make_shared<kx::nn::module_list<float>>());
    for (kx::index_t l = 0; l < c.layers; ++l) {
      const auto o =
          kx::nn::transformer_layer_options::gpt2ml(c.width, c.heads, c.ffn).order(c.order).dropout(c.dropout);
      blocks->push_back(std::make_shared<kx::nn::transformer_layer<float>>(o, gen));
    }
  }

  kx::nn::transformer_layer<float>& block(kx::index_t l) const {
    return *blocks->at<kx::nn::transformer_layer<float>>(static_cast<std::size_t>(l));
  }

  /// tokens [B, N] (N ≤ context) → logits [B, N, V].
  tensor forward(const ids& tokens, tie_gradient tie = tie_gradient::both) const {
    const tensor& e = tok->weight;
    tensor h = kx::embedding(tokens, tie == tie_gradient::output_only ? kx::stop_gradient(e) : e);
    h = pos->forward(h);
    if (config.order != kx::nn::block_order::pre_ln) h = norm->forward(h);
    for (kx::index_t l = 0; l < config.layers; ++l) h = block(l).forward(h);
    if (config.order == kx::nn::block_order::pre_ln) h = norm->forward(h);
    return kx::linear(h, tie == tie_gradient::lookup_only ? kx::stop_gradient(e) : e);  // y·E_tokᵀ, no bias
  }
};

// ~~~ Block structure checks ~~~

/// The block's formula (header) written with its own children, eval mode, causal.
tensor block_formula(const kx::nn::transformer_layer<float>& b, const tensor& x) {
  kx::nn::multi_head_attention_call<float> call;
  call.causal = true;
  auto attn = [&](const tensor& z) { return b.self_attn->forward(z, call); };
  auto ffn = [&](const tensor& z) {
    return b.linear2->forward(kx::gelu(b.linear1->forward(z), kx::gelu_approximation::tanh));
  };
  switch (b.options().order()) {
    case kx::nn::block_order::post_ln: {
      const tensor h = b.norm1->forward(x + attn(x));
      return b.norm2->forward(h + ffn(h));
    }
    case kx::nn::block_order::pre_ln: {
      const tensor h = x + attn(b.norm1->forward(x));
      return h + ffn(b.norm2->forward(h));
    }
    default: {
      const tensor h = x + attn(x);
      return b.norm2->forward(h + ffn(b.norm1->forward(h)));  // residual from h, not from LN₀(h)
    }
  }
}

double max_abs_diff(const tensor& a, const tensor& b) {
  double m = 0;
  for (kx::index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data()[i]) - double(b.data()[i])));
  return m;
}

struct structure_result {
  double formula_diff = 0, min_pairwise = 1e30, moments = 0;
};

structure_result check_block_structure(std::uint64_t seed) {
  kx::no_grad_guard no_grad;
  const kx::index_t width = 32;
  kx::generator data(seed + 11);
  const tensor x = kx::randn<float>({2, 7, width}, data) * 2.0f + 0.5f;
  const kx::nn::block_order orders[] = {kx::nn::block_order::post_ln, kx::nn::block_order::pre_ln,
                                        kx::nn::block_order::gpt2ml};
  std::vector<tensor> outputs;
  structure_result r;
  for (auto order : orders) {
    kx::generator init(seed + 12);  // the same weights in the three orders
    kx::nn::transformer_layer<float> b(kx::nn::transformer_layer_options::gpt2ml(width, 4, 64).order(order), init);
    b.eval();
    const tensor y = b.forward(x);
    r.formula_diff = std::max(r.formula_diff, max_abs_diff(y, block_formula(b, x)));
    outputs.push_back(y);
  }
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = i + 1; j < 3; ++j)
      r.min_pairwise = std::min(r.min_pairwise, max_abs_diff(outputs[i], outputs[j]));
  const tensor& y = outputs[2];
  for (kx::index_t row = 0; row < y.numel() / width; ++row) {
    double m = 0, v = 0;
    for (kx::index_t c = 0; c < width; ++c) m += y.data()[row * width + c];
    m /= width;
    for (kx::index_t c = 0; c < width; ++c) v += std::pow(y.data()[row * width + c] - m, 2);
    v /= width;
    r.moments = std::max(r.moments, std::fabs(m) + std::fabs(v - 1));
  }
  std::printf(
      "block structure (width %lld, eval): max |library − formula| %.2e over the three orders; smallest "
      "max difference between two orders %.3f; GPT2_ML output rows: max |mean| + |var − 1| = %.2e\n",
      static_cast<long long>(width), r.formula_diff, r.min_pairwise, r.moments);
  return r;
}

/// Max |Δ logit| at positions ≤ t after replacing the tokens after t (eval mode).
double causality_diff(const char_lm& model, kx::generator& gen) {
  kx::no_grad_guard no_grad;
  const kx::index_t n = model.config.context, t = n / 2, v = model.config.vocab;
  ids a = ids::empty({2, n});
  for (kx::index_t i = 0; i < a.numel(); ++i) a.data()[i] = static_cast<kx::index_t>(gen.below(v));
  ids b = a.copy();
  for (kx::index_t r = 0; r < 2; ++r)
    for (kx::index_t i = t + 1; i < n; ++i) b(r, i) = (a(r, i) + 1 + static_cast<kx::index_t>(gen.below(v - 1))) % v;
  const tensor la = model.forward(a), lb = model.forward(b);
  double m = 0;
  for (kx::index_t r = 0; r < 2; ++r)
    for (kx::index_t i = 0; i <= t; ++i)
      for (kx::index_t k = 0; k < v; ++k) m = std::max(m, std::fabs(double(la(r, i, k)) - double(lb(r, i, k))));
  return m;
}

// ~~~ Training ~~~

struct batch {
  ids input, target;
};

batch sample_batch(const std::vector<kx::index_t>& text, kx::index_t b, kx::index_t n, kx::generator& gen) {
  batch out{ids::empty({b, n}), ids::empty({b, n})};
  for (kx::index_t r = 0; r < b; ++r) {
    const auto s = static_cast<kx::index_t>(gen.below(text.size() - static_cast<std::size_t>(n) - 1));
    for (kx::index_t i = 0; i < n; ++i) {
      out.input(r, i) = text[static_cast<std::size_t>(s + i)];
      out.target(r, i) = text[static_cast<std::size_t>(s + i + 1)];
    }
  }
  return out;
}

/// Mean cross-entropy (nats per token) over consecutive windows of the validation text, each position
/// predicted once (with the context inside its window).
double validation_ce(const char_lm& model, const std::vector<kx::index_t>& text) {
  kx::no_grad_guard no_grad;
  const kx::index_t n = model.config.context;
  const auto windows = static_cast<kx::index_t>((text.size() - 1) / static_cast<std::size_t>(n));
  double total = 0;
  for (kx::index_t w0 = 0; w0 < windows; w0 += 32) {
    const kx::index_t b = std::min<kx::index_t>(32, windows - w0);
    batch bt{ids::empty({b, n}), ids::empty({b, n})};
    for (kx::index_t r = 0; r < b; ++r)
      for (kx::index_t i = 0; i < n; ++i) {
        const auto p = static_cast<std::size_t>((w0 + r) * n + i);
        bt.input(r, i) = text[p];
        bt.target(r, i) = text[p + 1];
      }
    total += kx::loss::cross_entropy(model.forward(bt.input), bt.target).item() * static_cast<double>(b * n);
  }
  return total / static_cast<double>(windows * n);
}

/// Cross-entropy of the validation text under the add-one smoothed unigram of the training text.
double unigram_ce(const corpus& c) {
  std::vector<double> count(static_cast<std::size_t>(c.vocab()), 1.0);
  for (kx::index_t t : c.train) count[static_cast<std::size_t>(t)] += 1;
  const double total = static_cast<double>(c.train.size() + static_cast<std::size_t>(c.vocab()));
  double ce = 0;
  for (kx::index_t t : c.validation) ce -= std::log(count[static_cast<std::size_t>(t)] / total);
  return ce / static_cast<double>(c.validation.size());
}

double train(char_lm& model, const corpus& c, int steps, double lr, std::uint64_t seed) {
  kx::generator data(seed + 3);
  kx::optim::adam<float> opt(model.parameters(), kx::optim::adam_options().lr(lr));
  model.train();
  const int warmup = std::max(1, steps / 7);
  for (int step = 0; step < steps; ++step) {
    opt.set_lr(lr * std::min(1.0, (step + 1.0) / warmup));
    const batch b = sample_batch(c.train, 16, model.config.context, data);
    const tensor loss = kx::loss::cross_entropy(model.forward(b.input), b.target);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  model.eval();
  return validation_ce(model, c.validation);
}

// ~~~ Sampling ~~~

/// Library gap (see README): top-k sampling. Keeps the k largest logits of `logits` [V], renormalises them with a
/// softmax and draws one; ties keep the lower id (topk's rule), so k = 1 is the argmax.
kx::index_t sample_top_k(const tensor& logits, kx::index_t k, kx::generator& gen) {
  const auto top = kx::topk(logits, k);
  const tensor p = kx::softmax(top.values, 0);
  double u = gen.uniform(), acc = 0;
  for (kx::index_t i = 0; i < k; ++i) {
    acc += p.data()[i];
    if (u < acc) return top.indices.data()[i];
  }
  return top.indices.data()[k - 1];
}

/// Continues `prompt` by `length` tokens: top-k sampling (k > 0) or greedy argmax (k = 0); the context is the
/// last `context` tokens, recomputed each step (no K/V cache).
std::vector<kx::index_t> generate(const char_lm& model, std::vector<kx::index_t> tokens, kx::index_t length,
                                  kx::index_t k, kx::generator& gen) {
  kx::no_grad_guard no_grad;
  const std::size_t prompt = tokens.size();
  for (kx::index_t s = 0; s < length; ++s) {
    const auto n =
        static_cast<kx::index_t>(std::min<std::size_t>(tokens.size(), static_cast<std::size_t>(model.config.context)));
    ids in = ids::empty({1, n});
    for (kx::index_t i = 0; i < n; ++i) in.data()[i] = tokens[tokens.size() - static_cast<std::size_t>(n - i)];
    const tensor last = kx::reshape(kx::narrow(model.forward(in), 1, n - 1, 1), {model.config.vocab}).copy();
    tokens.push_back(k > 0 ? sample_top_k(last, k, gen) : kx::argmax(last).item());
  }
  return std::vector<kx::index_t>(tokens.begin() + static_cast<std::ptrdiff_t>(prompt), tokens.end());
}

std::string printable(std::string s) {
  for (auto& ch : s)
    if (ch == '\n') ch = '/';
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  // Many small ops on a shared 2-core machine: one thread avoids OpenMP spin-waiting.
  kx::set_num_threads(1);
  std::string corpus_path;
  kexue_examples::example_options options;
  if (!kexue_examples::parse_options(
          argc, argv, options,
          {{"--corpus", &corpus_path, "FILE (UTF-8 text, e.g. /usr/share/games/fortunes/tang300.u8)"}}))
    return 2;
  const std::uint64_t seed = options.seed;
  bool ok = true;

  // 1. Block structure.
  const structure_result st = check_block_structure(seed);

  // 2. Data.
  corpus c;
  if (corpus_path.empty()) {
    kx::generator lang_gen(seed), text_gen(seed + 1);
    const markov_language lang(lang_gen);
    const auto train_text = decode_utf8(lang.generate(options.full ? 200000 : 40000, text_gen));
    const auto val_text = decode_utf8(lang.generate(options.full ? 10000 : 4000, text_gen));
    c = make_corpus(train_text, val_text);
    std::printf("synthetic Markov-chain text: %zu train / %zu validation characters, vocabulary %lld\n", c.train.size(),
                c.validation.size(), static_cast<long long>(c.vocab()));
  } else {
    std::ifstream in(corpus_path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", corpus_path.c_str());
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const auto all = decode_utf8(strip_ansi(ss.str()));
    const std::size_t cut = all.size() * 9 / 10;
    c = make_corpus(std::vector<char32_t>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(cut)),
                    std::vector<char32_t>(all.begin() + static_cast<std::ptrdiff_t>(cut), all.end()));
    std::printf("%s: %zu train / %zu validation code points, vocabulary %lld\n", corpus_path.c_str(), c.train.size(),
                c.validation.size(), static_cast<long long>(c.vocab()));
  }
  const double unigram = unigram_ce(c);

  lm_config config;
  config.vocab = c.vocab();
  if (options.full) {
    config.context = 64;
    config.width = 96;
    config.ffn = 384;
    config.layers = 3;
    config.dropout = 0.1;
  }
  const int steps = options.full ? 1000 : 200;
  const double lr = 3e-3;

  // 3. Causality and the tied gradient, on an untrained GPT2_ML model.
  double causality = 0;
  for (auto order : {kx::nn::block_order::post_ln, kx::nn::block_order::pre_ln, kx::nn::block_order::gpt2ml}) {
    lm_config cc = config;
    cc.order = order;
    kx::generator init(seed + 5), data(seed + 6);
    char_lm m(cc, init);
    m.eval();
    causality = std::max(causality, causality_diff(m, data));
  }
  double tied_rel = 0, lookup_norm = 0, output_norm = 0;
  {
    kx::generator init(seed + 5), data(seed + 7);
    char_lm m(config, init);
    m.eval();
    const batch b = sample_batch(c.train, 4, config.context, data);
    std::vector<tensor> g;
    for (auto tie : {tie_gradient::both, tie_gradient::lookup_only, tie_gradient::output_only}) {
      m.zero_grad();
      kx::loss::cross_entropy(m.forward(b.input, tie), b.target).backward();
      g.push_back(m.tok->weight.grad().copy());
    }
    double num = 0, den = 0;
    for (kx::index_t i = 0; i < g[0].numel(); ++i) {
      const double s = double(g[1].data()[i]) + double(g[2].data()[i]);
      num += std::pow(double(g[0].data()[i]) - s, 2);
      den += std::pow(double(g[0].data()[i]), 2);
      lookup_norm += std::pow(double(g[1].data()[i]), 2);
      output_norm += std::pow(double(g[2].data()[i]), 2);
    }
    tied_rel = std::sqrt(num / den);
    std::printf(
        "tied E_tok gradient: |g_lookup| %.3e, |g_output| %.3e, |g_both − (g_lookup + g_output)|/|g_both| "
        "%.2e\ncausality: max |Δ logit| at positions <= t after changing tokens > t: %.3g\n",
        std::sqrt(lookup_norm), std::sqrt(output_norm), tied_rel, causality);
  }

  // 4. Training the three orders.
  std::printf(
      "\n%d steps, lr %.0e, %lld blocks, width %lld, context %lld, dropout %.1f; unigram validation CE %.3f "
      "nats (perplexity %.1f)\n",
      steps, lr, static_cast<long long>(config.layers), static_cast<long long>(config.width),
      static_cast<long long>(config.context), config.dropout, unigram, std::exp(unigram));
  std::printf("  %-16s %10s %10s %10s\n", "block order", "val CE", "perplexity", "CE/unigram");
  std::vector<std::pair<std::string, double>> ratios;
  std::shared_ptr<char_lm> gpt2ml;
  for (auto order : {kx::nn::block_order::post_ln, kx::nn::block_order::pre_ln, kx::nn::block_order::gpt2ml}) {
    lm_config cc = config;
    cc.order = order;
    kx::generator init(seed + 8);
    auto m = std::make_shared<char_lm>(cc, init);
    const double ce = train(*m, c, steps, lr, seed);
    std::printf("  %-16s %10.3f %10.2f %10.3f\n", order_name(order), ce, std::exp(ce), ce / unigram);
    ratios.emplace_back(order == kx::nn::block_order::post_ln  ? "post_ln"
                        : order == kx::nn::block_order::pre_ln ? "pre_ln"
                                                               : "gpt2ml",
                        ce / unigram);
    if (order == kx::nn::block_order::gpt2ml) gpt2ml = m;
  }
  if (options.full) {
    std::printf("note: the three orders at lr 1e-2 (spec: pre-LN most stable at higher lr, unverified):");
    for (auto order : {kx::nn::block_order::post_ln, kx::nn::block_order::pre_ln, kx::nn::block_order::gpt2ml}) {
      lm_config cc = config;
      cc.order = order;
      kx::generator init(seed + 8);
      char_lm m(cc, init);
      std::printf(" %s %.3f", order_name(order), train(m, c, steps, 1e-2, seed));
    }
    std::printf(" (val CE)\n");
  }

  // 5. Sampling.
  std::vector<kx::index_t> prompt(c.validation.begin(), c.validation.begin() + 8);
  kx::generator g1(seed + 20), g2(seed + 21), g3(seed + 22);
  const auto greedy = generate(*gpt2ml, prompt, 48, 0, g1);
  const auto top1_a = generate(*gpt2ml, prompt, 48, 1, g1);
  const auto top1_b = generate(*gpt2ml, prompt, 48, 1, g2);
  const auto top5 = generate(*gpt2ml, prompt, 48, 5, g3);
  int mismatches = 0;
  for (std::size_t i = 0; i < greedy.size(); ++i) mismatches += (top1_a[i] != greedy[i]) + (top1_b[i] != greedy[i]);
  std::printf("\nprompt   \"%s\"\ngreedy   \"%s\"\ntop-k 1  \"%s\"\ntop-k 5  \"%s\"\n",
              printable(c.text(prompt)).c_str(), printable(c.text(greedy)).c_str(), printable(c.text(top1_b)).c_str(),
              printable(c.text(top5)).c_str());

  std::printf("\n");
  ok &= claim("block_formula_max_abs_diff", st.formula_diff, "<= 1e-5", st.formula_diff <= 1e-5);
  ok &= claim("block_orders_min_pairwise_diff", st.min_pairwise, ">= 1e-2", st.min_pairwise >= 1e-2);
  ok &= claim("gpt2ml_block_output_moments", st.moments, "<= 1e-3", st.moments <= 1e-3);
  ok &= claim("causality_max_abs_diff", causality, "== 0", causality == 0.0);
  ok &= claim("tied_gradient_rel_diff", tied_rel, "<= 1e-5", tied_rel <= 1e-5);
  // synthetic text: 0.14-0.16 (smoke, seeds 1-6); tang300 (2580 code points, 200 steps): 0.83-0.86
  const double bound = corpus_path.empty() ? 0.3 : 0.92;
  for (const auto& [name, r] : ratios)
    ok &= claim("val_ce_over_unigram_" + name, r, corpus_path.empty() ? "<= 0.3" : "<= 0.92", r <= bound);
  ok &= claim("topk1_vs_greedy_mismatches", mismatches, "== 0", mismatches == 0);
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
