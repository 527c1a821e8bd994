// SPDX-License-Identifier: MIT
// A28 example: six derived optimizers as composable wrappers around any base optimizer, checked in closed form.
//
// What the article shows (spec A28, https://kexue.fm/archives/7094): from a base update θ_{t+1} = θ_t − γ h_t,
// derived optimizers rewrite the update and stack like building blocks: decoupled weight decay (−γλθ_t, θ_t taken
// before the update), layer adaptation (update rescaled by ‖θ_t‖/‖h_t‖ per tensor, LAMB), a piecewise-linear
// learning-rate multiplier (warm-up from 0), gradient accumulation (one update with the mean of k gradients, state
// frozen in between), Lookahead (slow weights Θ ← Θ + α(θ − Θ) every k updates, Θ₀ = θ₀) and lazy updates (rows
// with an all-zero gradient untouched); also the EMA of the weights with zero initialisation and bias correction
// (spec Appendix C 9, 10).
//
// Data and models: part 1 uses small random double tensors [4, 3] with hand-set gradients (no model); part 2 a
// stack over two tensors driven by a deterministic parameter-dependent gradient; part 3 a synthetic text
// classification task: vocabulary 100, sentences of 12 tokens, 3 classes, each sentence = noise tokens
// (15 ... 99) with 2 keyword tokens of its class (class c owns tokens 5c ... 5c+4); model = embedding [100, 16]
// (N(0, 0.1²)) mean-pooled over the sentence → linear 16 → 3; cross-entropy; 600 training and 600 test
// sentences, batch 32.
//
// Claims (part 1 and 2 are exact formulas: thresholds are rounding, ≤ 1e-14 in double, or 0 where the wrapper
// copies values; part 3 thresholds from seeds 1-5, measured values in README.md):
//   weight_decay_err          weight_decay(sgd(γ = 0.1), λ = 0.3), one step: |θ₁ − (θ₀ − γg − γλθ₀)| ≤ 1e-14
//   weight_decay_vs_adamw     weight_decay(adam, 0.3) vs adamw(weight_decay 0.3), 3 steps: max diff ≤ 1e-14
//   layer_adaptation_err      layer_adaptation(sgd(0.1)): |θ₁ − (θ₀ − γg‖θ₀‖/‖g‖)| ≤ 1e-14
//   piecewise_lr_err          piecewise_linear_lr(sgd(1), {(4, 1)}), g = 1: the displacements of updates 1..6 are
//                             0, 0.25, 0.5, 0.75, 1, 1 (warm-up from 0, then the last value held): max err ≤ 1e-14
//   accumulation_frozen_diff  gradient_accumulation(adam, 4): after micro-steps 1-3 (and 5-7) the parameters and
//                             Adam's moments are bit-identical to before: max diff == 0, and step() returned false
//   accumulation_mean_err     after micro-step 4 the parameters equal a fresh adam's single update with the mean of
//                             the 4 gradients: max diff ≤ 1e-14
//   lookahead_err             lookahead(sgd(0.1), k = 3, α = 0.5), constant g: slow weights start at θ₀ (diff 0),
//                             θ after 2, 3, 6 updates = θ₀ − 0.2g, θ₀ − 0.15g, θ₀ − 0.3g: max err ≤ 1e-14
//   lazy_untouched_diff       lazy(adam) on an embedding [5, 3], rows 1, 3 with gradient then row 1 only: every row
//                             without gradient at a step keeps its values bit for bit (max diff == 0) while
//   lazy_plain_moves          plain adam moves row 3 at the second step by ≥ 1e-3 (momentum), and
//   lazy_touched_diff         the touched rows equal plain adam's (max diff == 0)
//   ema_debias_err            ema(sgd, decay 0.9, zero_debias) after 3 updates: averages() = Σ 0.1·0.9^{3−s}θ_s /
//                             (1 − 0.9³) by hand: max err ≤ 1e-14
//   stack_resume_diff         lookahead(gradient_accumulation(adam, 4), k = 2): 10 micro-steps, save_state, 10 more;
//                             a new stack over copies of the step-10 weights with load_state continues to the same
//                             weights: max diff == 0, while
//   stack_fresh_gap           a new stack without load_state ends elsewhere: max diff ≥ 1e-4 (the state matters)
//   classifier_test_acc       part 3 trained with ema(lookahead(gradient_accumulation(piecewise_linear_lr(
//                             weight_decay(lazy(adam(1e-2), {embedding}), 0.01, {bias}), {(20, 1), (150, 0.3)}), 2)))
//                             for 600 micro-steps: test accuracy ≥ 0.9 (chance 0.33), and
//   classifier_ema_test_acc   the EMA weights (decay 0.9) applied: test accuracy ≥ 0.9
// Not tested: exclude_from_* name matching (kexue excludes tensors, not names); large-batch benefits of layer
// adaptation; whether any of these improves training (the author saw no noticeable change for Lookahead).
// Expected output: one line per check, the classifier's progress, then the "claim: ... PASS" lines.
// --seed N: another seed (parts 1-3); --full: the classifier for 3000 micro-steps.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
namespace opt = kexue::optim;
using dt = kx::tensor<double>;

namespace {

double max_abs_diff(const dt& a, const dt& b) {
  double m = 0;
  for (kx::index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.data()[i] - b.data()[i]));
  return m;
}

double max_abs_diff(const std::vector<dt>& a, const std::vector<dt>& b) {
  double m = 0;
  for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, max_abs_diff(a[k], b[k]));
  return m;
}

double norm(const dt& a) {
  double s = 0;
  for (kx::index_t i = 0; i < a.numel(); ++i) s += a.data()[i] * a.data()[i];
  return std::sqrt(s);
}

dt leaf(const dt& values) { return values.copy().requires_grad(true); }

using kexue_examples::claim;

// ~~~ Part 1: closed forms ~~~

struct closed_forms {
  double weight_decay = 0, weight_decay_vs_adamw = 0, layer_adaptation = 0, piecewise = 0;
  double accumulation_frozen = 0, accumulation_mean = 0, lookahead = 0;
  bool accumulation_returns = true;
  double lazy_untouched = 0, lazy_plain_moves = 0, lazy_touched = 0, ema = 0;
};

closed_forms check_closed_forms(kx::generator& gen) {
  closed_forms r;
  const dt theta0 = kx::randn<double>({4, 3}, gen), g = kx::randn<double>({4, 3}, gen);
  {  // weight decay: θ₁ = θ₀ − γg − γλθ₀ with θ₀ before the update
    dt p = leaf(theta0);
    opt::weight_decay wd(opt::sgd<double>({p}, opt::sgd_options().lr(0.1)), 0.3);
    p.set_grad(g);
    wd.step();
    r.weight_decay = max_abs_diff(p, theta0 - g * 0.1 - theta0 * 0.03);
    dt a = leaf(theta0), b = leaf(theta0);
    opt::weight_decay wa(opt::adam<double>({a}, opt::adam_options().lr(0.05)), 0.3);
    opt::adamw<double> wb({b}, opt::adamw_options().lr(0.05).weight_decay(0.3));
    for (int s = 0; s < 3; ++s) {
      const dt gs = g * static_cast<double>(s + 1);
      a.set_grad(gs);
      b.set_grad(gs);
      wa.step();
      wb.step();
    }
    r.weight_decay_vs_adamw = max_abs_diff(a, b);
  }
  {  // layer adaptation: h = Δ/γ = −g, ratio ‖θ₀‖/‖g‖
    dt p = leaf(theta0);
    opt::layer_adaptation la(opt::sgd<double>({p}, opt::sgd_options().lr(0.1)));
    p.set_grad(g);
    la.step();
    r.layer_adaptation = max_abs_diff(p, theta0 - g * (0.1 * norm(theta0) / norm(g)));
  }
  {  // piecewise-linear multiplier {(4, 1)} → (0, 0) prepended: 0, 0.25, 0.5, 0.75, 1, 1
    dt p = leaf(theta0);
    opt::piecewise_linear_lr pw(opt::sgd<double>({p}, opt::sgd_options().lr(1.0)), {{4, 1.0}});
    const double expected[] = {0, 0.25, 0.5, 0.75, 1, 1};
    for (double e : expected) {
      const dt before = p.copy();
      p.set_grad(kx::ones_like(theta0));
      pw.step();
      r.piecewise = std::max(r.piecewise, max_abs_diff(before - p, kx::full<double>({4, 3}, e)));
    }
  }
  {  // gradient accumulation around adam, k = 4
    dt p = leaf(theta0), q = leaf(theta0);
    opt::gradient_accumulation acc(opt::adam<double>({p}, opt::adam_options().lr(0.05)), 4);
    std::vector<dt> gs;
    for (int s = 0; s < 4; ++s) gs.push_back(kx::randn<double>({4, 3}, gen));
    for (int s = 0; s < 3; ++s) {
      p.set_grad(gs[static_cast<std::size_t>(s)]);
      r.accumulation_returns &= !acc.step();
      r.accumulation_frozen = std::max(r.accumulation_frozen, max_abs_diff(p, theta0));
    }
    p.set_grad(gs[3]);
    r.accumulation_returns &= acc.step();
    opt::adam<double> ref({q}, opt::adam_options().lr(0.05));
    q.set_grad((gs[0] + gs[1] + gs[2] + gs[3]) * 0.25);
    ref.step();
    r.accumulation_mean = max_abs_diff(p, q);
    const dt after = p.copy();
    const std::vector<dt> moments = [&] {
      std::vector<dt> out;
      for (const auto& t : acc.parameter_state(0)) out.push_back(t.copy());
      return out;
    }();
    for (int s = 0; s < 3; ++s) {  // micro-steps 5-7: frozen again, moments included
      p.set_grad(kx::randn<double>({4, 3}, gen));
      r.accumulation_returns &= !acc.step();
      r.accumulation_frozen = std::max(r.accumulation_frozen, max_abs_diff(p, after));
      r.accumulation_frozen = std::max(r.accumulation_frozen, max_abs_diff(acc.parameter_state(0), moments));
    }
  }
  {  // lookahead k = 3, α = 0.5, constant gradient
    dt p = leaf(theta0);
    opt::lookahead la(opt::sgd<double>({p}, opt::sgd_options().lr(0.1)), opt::lookahead_options().k(3).alpha(0.5));
    r.lookahead = max_abs_diff(la.slow_weights()[0], theta0);
    const double expected[] = {0.1, 0.2, 0.15, 0.25, 0.35, 0.3};  // θ₀ − c·g after updates 1..6
    for (double c : expected) {
      p.set_grad(g);
      la.step();
      r.lookahead = std::max(r.lookahead, max_abs_diff(p, theta0 - g * c));
    }
  }
  {  // lazy rows: embedding [5, 3]; step 1 gradient on rows 1 and 3, step 2 on row 1 only
    const dt e0 = kx::randn<double>({5, 3}, gen);
    dt lazy_p = leaf(e0), plain_p = leaf(e0);
    opt::lazy lz(opt::adam<double>({lazy_p}, opt::adam_options().lr(0.1)));
    opt::adam<double> plain({plain_p}, opt::adam_options().lr(0.1));
    const auto rows_grad = [&](std::initializer_list<kx::index_t> rows) {
      dt gr = kx::zeros<double>({5, 3});
      for (kx::index_t row : rows) {
        for (kx::index_t j = 0; j < 3; ++j) gr(row, j) = gen.normal();
      }
      return gr;
    };
    const auto row_diff = [](const dt& a, const dt& b, kx::index_t row) {
      double m = 0;
      for (kx::index_t j = 0; j < 3; ++j) m = std::max(m, std::fabs(a(row, j) - b(row, j)));
      return m;
    };
    const std::vector<std::vector<kx::index_t>> touched{{1, 3}, {1}};
    for (std::size_t s = 0; s < touched.size(); ++s) {
      const dt gr = s == 0 ? rows_grad({1, 3}) : rows_grad({1});
      const dt lazy_before = lazy_p.copy(), plain_before = plain_p.copy();
      lazy_p.set_grad(gr);
      plain_p.set_grad(gr);
      lz.step();
      plain.step();
      for (kx::index_t row = 0; row < 5; ++row) {
        const bool t = std::find(touched[s].begin(), touched[s].end(), row) != touched[s].end();
        if (t) {
          r.lazy_touched = std::max(r.lazy_touched, row_diff(lazy_p, plain_p, row));
        } else {
          r.lazy_untouched = std::max(r.lazy_untouched, row_diff(lazy_p, lazy_before, row));
        }
      }
      if (s == 1) r.lazy_plain_moves = row_diff(plain_p, plain_before, 3);
    }
  }
  {  // EMA, zero initialisation with bias correction, α = 0.9
    dt p = leaf(theta0);
    opt::ema em(opt::sgd<double>({p}, opt::sgd_options().lr(0.1)),
                opt::ema_options().decay(0.9).init(opt::ema_init::zero_debias));
    dt sum = kx::zeros<double>({4, 3});
    for (int s = 1; s <= 3; ++s) {
      p.set_grad(kx::randn<double>({4, 3}, gen));
      em.step();
      sum = sum * 0.9 + p * 0.1;  // Θ_s = αΘ_{s−1} + (1 − α)θ_s, Θ₀ = 0
    }
    r.ema = max_abs_diff(em.averages()[0], sum * (1.0 / (1.0 - 0.9 * 0.9 * 0.9)));
  }
  return r;
}

// ~~~ Part 2: a composed stack saves, restores and continues identically ~~~

using stack_t = opt::lookahead<double>;

stack_t make_stack(const std::vector<dt>& params) {
  return opt::lookahead(opt::gradient_accumulation(opt::adam<double>(params, opt::adam_options().lr(0.01)), 4),
                        opt::lookahead_options().k(2).alpha(0.5));
}

/// A deterministic gradient that depends on the parameters and the step: g = θ − sin(step + j).
void run_steps(stack_t& o, const std::vector<dt>& params, int from, int to) {
  for (int s = from; s < to; ++s) {
    for (dt p : params) {  // a handle: set_grad is not const
      dt g = p.detach().copy();
      for (kx::index_t j = 0; j < g.numel(); ++j) g.data()[j] -= std::sin(s + 0.37 * static_cast<double>(j));
      p.set_grad(g);
    }
    o.step();
  }
}

struct resume_result {
  double resumed = 0, fresh = 0;
};

resume_result check_resume(kx::generator& gen) {
  const std::vector<dt> init{kx::randn<double>({6, 4}, gen), kx::randn<double>({4}, gen)};
  std::vector<dt> a{leaf(init[0]), leaf(init[1])};
  auto stack_a = make_stack(a);
  run_steps(stack_a, a, 0, 10);
  const kx::state_dict saved = stack_a.save_state();
  const std::vector<dt> at10{a[0].detach().copy(), a[1].detach().copy()};
  run_steps(stack_a, a, 10, 20);

  std::vector<dt> b{leaf(at10[0]), leaf(at10[1])}, c{leaf(at10[0]), leaf(at10[1])};
  auto stack_b = make_stack(b), stack_c = make_stack(c);
  stack_b.load_state(saved);
  run_steps(stack_b, b, 10, 20);
  run_steps(stack_c, c, 10, 20);
  return {max_abs_diff(a, b), max_abs_diff(a, c)};
}

// ~~~ Part 3: a small text classifier trained with a stack ~~~

constexpr kx::index_t vocab = 100, length = 12, classes = 3, dim = 16, keywords_per_class = 5;

struct text_data {
  kx::tensor<kx::index_t> tokens, labels;
};

text_data make_sentences(kx::index_t n, kx::generator& gen) {
  text_data d{kx::tensor<kx::index_t>::empty({n, length}), kx::tensor<kx::index_t>::empty({n})};
  const kx::index_t first_noise = classes * keywords_per_class;
  for (kx::index_t i = 0; i < n; ++i) {
    const auto c = static_cast<kx::index_t>(gen.below(classes));
    d.labels(i) = c;
    for (kx::index_t t = 0; t < length; ++t) {
      d.tokens(i, t) = first_noise + static_cast<kx::index_t>(gen.below(vocab - first_noise));
    }
    for (int k = 0; k < 2; ++k) {
      d.tokens(i, static_cast<kx::index_t>(gen.below(length))) =
          c * keywords_per_class + static_cast<kx::index_t>(gen.below(keywords_per_class));
    }
  }
  return d;
}

struct classifier {
  kx::tensor<float> embedding, weight, bias;
  kx::tensor<float> logits(const kx::tensor<kx::index_t>& tokens) const {
    const auto h = kx::mean(kx::embedding(tokens, embedding), {1});  // [B, dim]
    return kx::matmul(h, weight, false, true) + bias;                // [B, classes]
  }
};

double accuracy(const classifier& m, const text_data& d) {
  kx::no_grad_guard no_grad;
  const auto pred = kx::argmax(m.logits(d.tokens), 1);
  kx::index_t right = 0;
  for (kx::index_t i = 0; i < pred.numel(); ++i) right += pred.data()[i] == d.labels.data()[i];
  return static_cast<double>(right) / static_cast<double>(pred.numel());
}

/// The rows [from, from + n) of `d`.
text_data batch_of(const text_data& d, kx::index_t from, kx::index_t n) {
  text_data b{kx::tensor<kx::index_t>::empty({n, length}), kx::tensor<kx::index_t>::empty({n})};
  std::copy(d.tokens.data() + from * length, d.tokens.data() + (from + n) * length, b.tokens.data());
  std::copy(d.labels.data() + from, d.labels.data() + from + n, b.labels.data());
  return b;
}

struct classifier_result {
  double test_acc = 0, ema_test_acc = 0;
};

classifier_result train_classifier(std::uint64_t seed, int micro_steps) {
  kx::generator gen(seed);
  const text_data train = make_sentences(600, gen), test = make_sentences(600, gen);
  classifier m;
  m.embedding = kx::randn<float>({vocab, dim}, gen, 0.0f, 0.1f).requires_grad(true);
  const float bound = 1.0f / std::sqrt(static_cast<float>(dim));
  m.weight = kx::rand<float>({classes, dim}, gen, -bound, bound).requires_grad(true);
  m.bias = kx::zeros<float>({classes}).requires_grad(true);
  const std::vector<kx::tensor<float>> params{m.embedding, m.weight, m.bias};
  auto stack = opt::ema(
      opt::lookahead(opt::gradient_accumulation(
          opt::piecewise_linear_lr(
              opt::weight_decay(opt::lazy(opt::adam<float>(params, opt::adam_options().lr(1e-2)), {m.embedding}), 0.01,
                                {m.bias}),
              {{20, 1.0}, {150, 0.3}}),
          2)),
      opt::ema_options().decay(0.9));
  const kx::index_t batch = 32, batches = train.labels.numel() / batch;
  for (int s = 0; s < micro_steps; ++s) {
    const text_data b = batch_of(train, (s % batches) * batch, batch);
    const auto loss = kx::loss::cross_entropy(m.logits(b.tokens), b.labels);
    stack.zero_grad();
    loss.backward();
    stack.step();
    if ((s + 1) % (micro_steps / 4) == 0) {
      std::printf("  classifier micro-step %4d  loss %.4f  test accuracy %.3f\n", s + 1, loss.item(),
                  accuracy(m, test));
    }
  }
  classifier_result r;
  r.test_acc = accuracy(m, test);
  {
    auto guard = stack.scoped_apply();
    r.ema_test_acc = accuracy(m, test);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  options.seed = 1;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  bool full = options.full;
  std::uint64_t seed = options.seed;
  kx::set_num_threads(1);  // tiny tensors
  std::printf(
      "derived_optimizers: closed-form checks of the A28 wrappers, a saved/restored stack, a classifier; "
      "seed %llu\n",
      static_cast<unsigned long long>(seed));
  kx::generator gen(seed);
  const closed_forms r = check_closed_forms(gen);
  std::printf(
      "weight decay %.3g (vs adamw %.3g), layer adaptation %.3g, piecewise lr %.3g, accumulation frozen %.3g "
      "mean %.3g, lookahead %.3g, lazy untouched %.3g touched %.3g (plain adam moves %.3g), ema %.3g\n",
      r.weight_decay, r.weight_decay_vs_adamw, r.layer_adaptation, r.piecewise, r.accumulation_frozen,
      r.accumulation_mean, r.lookahead, r.lazy_untouched, r.lazy_touched, r.lazy_plain_moves, r.ema);
  const resume_result resume = check_resume(gen);
  std::printf("stack lookahead(gradient_accumulation(adam, 4)): resumed vs uninterrupted %.3g, fresh state %.3g\n",
              resume.resumed, resume.fresh);
  const classifier_result cls = train_classifier(seed, full ? 3000 : 600);
  std::printf("classifier: test accuracy %.3f, with the EMA weights %.3f\n", cls.test_acc, cls.ema_test_acc);

  bool pass = true;
  pass &= claim("weight_decay_err", r.weight_decay, "<= 1e-14", r.weight_decay <= 1e-14);
  pass &= claim("weight_decay_vs_adamw", r.weight_decay_vs_adamw, "<= 1e-14", r.weight_decay_vs_adamw <= 1e-14);
  pass &= claim("layer_adaptation_err", r.layer_adaptation, "<= 1e-14", r.layer_adaptation <= 1e-14);
  pass &= claim("piecewise_lr_err", r.piecewise, "<= 1e-14", r.piecewise <= 1e-14);
  pass &= claim("accumulation_frozen_diff", r.accumulation_frozen, "== 0 and step() false between updates",
                r.accumulation_frozen == 0 && r.accumulation_returns);
  pass &= claim("accumulation_mean_err", r.accumulation_mean, "<= 1e-14", r.accumulation_mean <= 1e-14);
  pass &= claim("lookahead_err", r.lookahead, "<= 1e-14", r.lookahead <= 1e-14);
  pass &= claim("lazy_untouched_diff", r.lazy_untouched, "== 0", r.lazy_untouched == 0);
  pass &= claim("lazy_plain_moves", r.lazy_plain_moves, ">= 1e-3", r.lazy_plain_moves >= 1e-3);
  pass &= claim("lazy_touched_diff", r.lazy_touched, "== 0", r.lazy_touched == 0);
  pass &= claim("ema_debias_err", r.ema, "<= 1e-14", r.ema <= 1e-14);
  pass &= claim("stack_resume_diff", resume.resumed, "== 0", resume.resumed == 0);
  pass &= claim("stack_fresh_gap", resume.fresh, ">= 1e-4", resume.fresh >= 1e-4);
  pass &= claim("classifier_test_acc", cls.test_acc, ">= 0.9", cls.test_acc >= 0.9);
  pass &= claim("classifier_ema_test_acc", cls.ema_test_acc, ">= 0.9", cls.ema_test_acc >= 0.9);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
