// SPDX-License-Identifier: MIT
// A01 example: a residual dilated Conv1D classifier of 1-D "spectra", trained with cross-entropy and then
// fine-tuned with the soft macro-F1 loss (spec A01, kexue.fm/archives/5505).
//
// What the article shows: a plain CNN (ReLU only, max pooling only) classifies long spectra into 4 imbalanced
// classes (star / unknown / galaxy / qso). Each block is three dilated convolutions (rates 1, 2, 4) whose 2f
// ReLU outputs are folded to f channels by summing the two halves, plus a residual (1×1 projection when the
// channel count changes); a max pooling by 2 follows every block but the last; then dropout of whole time
// steps (Keras noise_shape [B, T, 1]), global max pooling, dense 128 ReLU, dense 4. Batches are class-
// stratified (fractions 0.8 / 0.1 / 0.05 / 0.05, sampled with replacement per class). Training has two
// stages: cross-entropy (Adam 1e-3) keeping the best weights by validation macro-F1, then from those weights
// the soft macro-F1 loss −log(mean_c F1_c + ε) (loss::soft_macro_f1_loss, sums over the batch) with Adam 1e-4.
// The author reports that soft-F1 training from scratch does not converge.
//
// Data (synthetic, generated here): spectra of length L = 100 × smooth random continuum (slope + one
// low-frequency wave) × (1 + class lines at class-dependent fractions of L, jittered ±1.5 %, random amplitude
// ×0.6-1.4 and width) + 2 weak distractor lines at random places + white noise; the network's input is the
// spectrum / 100, as in the article. star: two absorption doublets; unknown: one absorption and one emission
// line, weaker; galaxy: three narrow emission lines; qso: two broad emission lines. Class shares 80/10/5/5 %
// in the training pool (2000) and the validation set (600).
// Model: the article's network (nn::conv1d with same padding and dilation, kx::max_pool1d, nn::dropout with
// noise_shape, kx::global_max_pool1d, nn::linear) with Keras-style Glorot initialisation (the article used
// Keras; PyTorch's default left most runs on the class-prior plateau). Smoke size: widths / 4 (blocks
// 4,4,8,8,16,16,32,32, dense 32), L = 256, pooling after the first 4 blocks only (so 16 time steps reach the
// time-step dropout, as ~20 do in the article's 2600 / 2^7), batch 40 = 32/4/2/2, Adam 2e-3 (the article's
// 1e-3 leaves the plateau too late for this budget) for 5 rounds × 50 steps, then soft-F1 with Adam 2e-4 for
// 2 × 50 steps. --full: widths / 2, L = 512, 5 poolings, batch 80 = 64/8/4/4, 8 + 4 rounds, plus the
// soft-F1-from-scratch run.
//
// Claims (seeds 1-8 at smoke size; measured range in brackets):
//   soft_f1_equals_macro_f1: on one-hot predictions (5 draws of 200 samples, 4 classes, some with an absent
//     class) exp(−soft_macro_f1_loss) equals the exact macro-F1 from TP/FP/FN counts, ≤ 1e-5 [1.3e-7 - 1.7e-7]
//   dropout_mixed_time_steps == 0: in training mode the noise_shape [B, 1, T] dropout (channels-first layout)
//     zeros or keeps (×2) every time step for all channels together
//   stage1_macro_f1 ≥ 0.80: best validation macro-F1 of the cross-entropy stage [0.952 - 1.000]
//   stage2_minus_stage1 ≥ −0.03: soft-F1 fine-tuning does not lower it (last round) [−0.006 - +0.041]
// Printed, not claimed: the soft-F1-from-scratch run (--full only). The article says it does not converge;
// here it stayed on the prior plateau (0.22) for seed 2 but reached 1.0 for seed 1 (see README).
// Expected output: sizes, one line per round (mean loss, validation macro-F1), a note, four claim lines.
// --seed N: data, initialisation and batch seed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
using tensor = kx::tensor<float>;
using index_tensor = kx::tensor<kx::index_t>;

namespace {

constexpr int classes = 4;
constexpr double pi = 3.14159265358979323846;
const char* const class_names[classes] = {"star", "unknown", "galaxy", "qso"};

struct line_template {
  double centre;     // fraction of L
  double amplitude;  // fraction of the continuum; < 0 = absorption
  double width;      // σ as a fraction of L
};

/// The lines of each class (see the header comment).
std::vector<line_template> class_lines(int c) {
  switch (c) {
    case 0:  // star: two absorption doublets
      return {{0.20, -0.35, 0.005}, {0.22, -0.35, 0.005}, {0.60, -0.35, 0.005}, {0.62, -0.35, 0.005}};
    case 1:  // unknown: one absorption and one emission line, weaker
      return {{0.40, -0.25, 0.005}, {0.70, 0.25, 0.005}};
    case 2:  // galaxy: three narrow emission lines
      return {{0.25, 0.40, 0.005}, {0.50, 0.40, 0.005}, {0.75, 0.40, 0.005}};
    default:  // qso: two broad emission lines
      return {{0.35, 0.40, 0.03}, {0.75, 0.40, 0.03}};
  }
}

struct spectra {
  tensor x;        // [N, 1, L], already divided by 100
  index_tensor y;  // [N]
  std::vector<std::vector<kx::index_t>> by_class;
};

/// n spectra of length L with class shares 80/10/5/5 (exact counts, then shuffled).
spectra make_spectra(kx::index_t n, kx::index_t length, kx::generator& gen) {
  const double shares[classes] = {0.8, 0.1, 0.05, 0.05};
  std::vector<int> labels;
  for (int c = 1; c < classes; ++c) labels.insert(labels.end(), static_cast<std::size_t>(n * shares[c]), c);
  labels.insert(labels.begin(), static_cast<std::size_t>(n) - labels.size(), 0);
  for (std::size_t i = labels.size() - 1; i > 0; --i) std::swap(labels[i], labels[gen.below(i + 1)]);
  spectra s{tensor::empty({n, 1, length}), index_tensor::empty({n}), std::vector<std::vector<kx::index_t>>(classes)};
  const double len = static_cast<double>(length);
  for (kx::index_t i = 0; i < n; ++i) {
    const int c = labels[static_cast<std::size_t>(i)];
    s.y.data()[i] = c;
    s.by_class[static_cast<std::size_t>(c)].push_back(i);
    const double slope = gen.uniform(-0.3, 0.3), wave = gen.uniform(0.0, 0.15), freq = gen.uniform(0.5, 2.0),
                 phase = gen.uniform(0.0, 2 * pi);
    std::vector<line_template> lines = class_lines(c);
    for (auto& l : lines) {
      l.centre += gen.uniform(-0.015, 0.015);
      l.amplitude *= gen.uniform(0.6, 1.4);
      l.width *= gen.uniform(0.7, 1.3);
    }
    for (int d = 0; d < 2; ++d) {  // distractors
      lines.push_back({gen.uniform(0.05, 0.95), (gen.below(2) ? 1 : -1) * gen.uniform(0.05, 0.15), 0.005});
    }
    float* row = s.x.data() + i * length;
    for (kx::index_t t = 0; t < length; ++t) {
      const double u = static_cast<double>(t) / len;
      const double continuum = 1 + slope * (u - 0.5) + wave * std::sin(2 * pi * freq * u + phase);
      double v = continuum;
      for (const auto& l : lines) {
        const double z = (u - l.centre) / l.width;
        v += continuum * l.amplitude * std::exp(-0.5 * z * z);
      }
      v += 0.04 * gen.normal();
      const double raw = 100 * v;              // a raw spectrum of the article's magnitude
      row[t] = static_cast<float>(raw / 100);  // the network's input: divided by 100, as in the article
    }
  }
  return s;
}

/// One residual block of the article: three (conv 2f, ReLU, sum of halves) at dilation 1, 2, 4, plus the
/// input (through a linear 1×1 conv when its channel count is not f).
struct spectra_block : kx::nn::module<float> {
  kx::index_t f;
  std::shared_ptr<kx::nn::conv1d<float>> conv[3], proj;

  spectra_block(kx::index_t in, kx::index_t out, kx::generator& gen) : f(out) {
    for (int k = 0; k < 3; ++k) {
      conv[k] = register_module("conv" + std::to_string(k),
                                std::make_shared<kx::nn::conv1d<float>>(kx::nn::conv1d_options(k ? f : in, 2 * f, 3)
                                                                            .dilation(kx::index_t(1) << k)
                                                                            .padding(kx::padding_mode::same),
                                                                        gen));
    }
    if (in != f) proj = register_module("proj", std::make_shared<kx::nn::conv1d<float>>(in, f, 1, gen));
  }
  tensor forward(const tensor& x) const {
    tensor h = x;
    for (const auto& c : conv) {
      const tensor r = kx::relu(c->forward(h));                     // [B, 2f, L]
      h = kx::add(kx::narrow(r, 1, 0, f), kx::narrow(r, 1, f, f));  // sum of the two halves: [B, f, L]
    }
    return kx::add(proj ? proj->forward(x) : x, h);
  }
};

struct spectra_net : kx::nn::module<float> {
  std::vector<std::shared_ptr<spectra_block>> blocks;
  std::shared_ptr<kx::nn::dropout<float>> drop;
  std::shared_ptr<kx::nn::linear<float>> dense, out;

  int pools;
  spectra_net(kx::index_t base, int pools_, kx::generator& gen) : pools(pools_) {
    kx::index_t in = 1;
    for (int b = 0; b < 8; ++b) {
      const kx::index_t f = base << (b / 2);
      blocks.push_back(register_module("block" + std::to_string(b), std::make_shared<spectra_block>(in, f, gen)));
      in = f;
    }
    // Keras noise_shape [B, T, 1] in channels-last = [B, 1, T] here (channels first): whole time steps.
    drop = register_module("dropout", std::make_shared<kx::nn::dropout<float>>(
                                          kx::nn::dropout_options(0.5).noise_shape({-1, 1, -1}), gen));
    dense = register_module("dense", std::make_shared<kx::nn::linear<float>>(in, 8 * base, gen));
    out = register_module("out", std::make_shared<kx::nn::linear<float>>(8 * base, classes, gen));
  }
  /// x [B, 1, L] → logits [B, 4].
  tensor forward(const tensor& x) const {
    tensor h = x;
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      h = blocks[b]->forward(h);
      if (static_cast<int>(b) < pools) h = kx::max_pool1d(h, 2);
    }
    h = kx::global_max_pool1d(drop->forward(h));
    return out->forward(kx::relu(dense->forward(h)));
  }
};

/// Keras's default initialisation, which the article's script used: Glorot-uniform weights U(±√(6 / (fan_in +
/// fan_out))), fan = channels × kernel width, and zero biases. (kexue's layers start as PyTorch's, whose
/// U(±1/√fan_in) weights shrink the signal through these 24 ReLU convolutions and leave the network on the
/// class-prior plateau for most of a short run.)
void keras_init(kx::nn::module<float>& model, kx::generator& gen) {
  kx::no_grad_guard no_grad;
  for (auto& [name, p] : model.named_parameters()) {
    float* v = p.data();
    if (p.rank() == 1) {
      std::fill_n(v, p.numel(), 0.0f);
      continue;
    }
    const kx::index_t receptive = p.rank() == 3 ? p.size(2) : 1;
    const double limit = std::sqrt(6.0 / static_cast<double>((p.size(0) + p.size(1)) * receptive));
    for (kx::index_t i = 0; i < p.numel(); ++i) v[i] = static_cast<float>(gen.uniform(-limit, limit));
  }
}

/// Exact macro-F1 of hard predictions: mean over classes of 2TP / (2TP + FP + FN) (0 when a class has none).
double macro_f1(const std::vector<int>& truth, const std::vector<int>& pred) {
  double sum = 0;
  for (int c = 0; c < classes; ++c) {
    double tp = 0, fp = 0, fn = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) {
      tp += truth[i] == c && pred[i] == c;
      fp += truth[i] != c && pred[i] == c;
      fn += truth[i] == c && pred[i] != c;
    }
    sum += 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0;
  }
  return sum / classes;
}

/// Validation macro-F1 (eval mode, batches of 100).
double evaluate(spectra_net& model, const spectra& val) {
  kx::no_grad_guard no_grad;
  model.eval();
  std::vector<int> truth, pred;
  const kx::index_t n = val.y.numel();
  for (kx::index_t start = 0; start < n; start += 100) {
    const kx::index_t count = std::min<kx::index_t>(100, n - start);
    const index_tensor p = kx::argmax(model.forward(kx::narrow(val.x, 0, start, count)), 1);
    for (kx::index_t i = 0; i < count; ++i) {
      pred.push_back(static_cast<int>(p.data()[i]));
      truth.push_back(static_cast<int>(val.y.data()[start + i]));
    }
  }
  model.train();
  return macro_f1(truth, pred);
}

/// A stratified batch: per class round(fraction × size) rows drawn with replacement (class 0 gets the rest).
std::pair<tensor, index_tensor> stratified_batch(const spectra& pool, kx::index_t size, kx::generator& gen) {
  const double fractions[classes] = {0.8, 0.1, 0.05, 0.05};
  std::vector<kx::index_t> rows;
  kx::index_t counts[classes];
  counts[0] = size;
  for (int c = 1; c < classes; ++c) {
    counts[c] = static_cast<kx::index_t>(std::lround(fractions[c] * static_cast<double>(size)));
    counts[0] -= counts[c];
  }
  for (int c = 0; c < classes; ++c) {
    const auto& members = pool.by_class[static_cast<std::size_t>(c)];
    for (kx::index_t k = 0; k < counts[c]; ++k) rows.push_back(members[gen.below(members.size())]);
  }
  const kx::index_t length = pool.x.size(2);
  tensor x = tensor::empty({size, 1, length});
  index_tensor y = index_tensor::empty({size});
  for (kx::index_t i = 0; i < size; ++i) {
    const kx::index_t r = rows[static_cast<std::size_t>(i)];
    std::copy_n(pool.x.data() + r * length, length, x.data() + i * length);
    y.data()[i] = pool.y.data()[r];
  }
  return {x, y};
}

/// A copy of every parameter's values (the "keep best" snapshot) and its restoration.
std::vector<tensor> snapshot(const spectra_net& model) {
  std::vector<tensor> out;
  for (const auto& p : model.parameters()) out.push_back(p.detach().copy());
  return out;
}
void restore(spectra_net& model, const std::vector<tensor>& saved) {
  const auto params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::copy_n(saved[i].data(), saved[i].numel(), params[i].data());
  }
}

struct stage_result {
  double best_f1 = 0, last_f1 = 0;
};

/// `evals` rounds of `steps` Adam steps with `loss_of(logits, labels)`, evaluating after each round; keeps
/// (restores at the end) the weights with the best validation macro-F1.
template <class Loss>
stage_result run_stage(const char* name, spectra_net& model, const spectra& train, const spectra& val, double lr,
                       int evals, int steps, kx::index_t batch, kx::generator& gen, const Loss& loss_of) {
  kx::optim::adam<float> opt(model.parameters(), kx::optim::adam_options().lr(lr));
  stage_result r;
  r.best_f1 = -1;
  std::vector<tensor> best;
  for (int e = 0; e < evals; ++e) {
    double loss_sum = 0;
    for (int s = 0; s < steps; ++s) {
      const auto [x, y] = stratified_batch(train, batch, gen);
      const tensor loss = loss_of(model.forward(x), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item();
    }
    r.last_f1 = evaluate(model, val);
    std::printf("  %-8s round %2d: mean loss %.4f  validation macro-F1 %.4f\n", name, e + 1, loss_sum / steps,
                r.last_f1);
    if (r.last_f1 > r.best_f1) {
      r.best_f1 = r.last_f1;
      best = snapshot(model);
    }
  }
  restore(model, best);
  return r;
}

using kexue_examples::claim;

/// Soft macro-F1 on one-hot predictions versus the exact metric; returns the largest |difference| over
/// several random draws (class 3 rare, so some draws have classes with few members).
double soft_f1_identity_error(kx::generator& gen) {
  double worst = 0;
  for (int trial = 0; trial < 5; ++trial) {
    const kx::index_t n = 200;
    std::vector<int> truth(n), pred(n);
    tensor y = kx::zeros<float>({n, classes}), p = kx::zeros<float>({n, classes});
    for (kx::index_t i = 0; i < n; ++i) {
      truth[static_cast<std::size_t>(i)] = static_cast<int>(gen.below(trial < 2 ? 4 : 3));
      pred[static_cast<std::size_t>(i)] =
          gen.uniform() < 0.6 ? truth[static_cast<std::size_t>(i)] : static_cast<int>(gen.below(4));
      y(i, truth[static_cast<std::size_t>(i)]) = 1;
      p(i, pred[static_cast<std::size_t>(i)]) = 1;
    }
    const double soft = std::exp(-static_cast<double>(
        kx::loss::soft_macro_f1_loss(p, y, kx::loss::soft_f1_options().from_logits(false)).item()));
    worst = std::max(worst, std::fabs(soft - macro_f1(truth, pred)));
  }
  return worst;
}

/// Counts (time step) columns of a training-mode dropout output that are neither all zero nor all 2·x.
std::pair<kx::index_t, double> dropout_column_check(kx::generator& gen) {
  kx::nn::dropout<float> drop(kx::nn::dropout_options(0.5).noise_shape({-1, 1, -1}), gen);
  drop.train();
  const tensor x = kx::rand<float>({4, 8, 500}, gen, 0.5f, 1.5f);
  const tensor y = drop.forward(x);
  kx::index_t mixed = 0, dropped = 0, columns = 0;
  for (kx::index_t b = 0; b < 4; ++b) {
    for (kx::index_t t = 0; t < 500; ++t) {
      int zeros = 0, doubled = 0;
      for (kx::index_t c = 0; c < 8; ++c) {
        const float v = y(b, c, t), in = x(b, c, t);
        zeros += v == 0.0f;
        doubled += v == 2.0f * in;
      }
      mixed += !(zeros == 8 || doubled == 8);
      dropped += zeros == 8;
      ++columns;
    }
  }
  return {mixed, static_cast<double>(dropped) / static_cast<double>(columns)};
}

}  // namespace

int main(int argc, char** argv) try {
  kexue_examples::example_options options;
  if (!kexue_examples::parse_options(argc, argv, options)) return 2;
  // Many small ops per step: one thread avoids two OpenMP threads spin-waiting on a loaded 2-core machine.
  kx::set_num_threads(1);
  const bool full = options.full;
  // Smoke: the article's widths / 4 (4..32), L = 256, pooling after the first 4 blocks (16 time steps reach
  // the dropout and the global pooling, as ~20 do in the article's 2600 / 2^7). --full: widths / 2, L = 512.
  const kx::index_t length = full ? 512 : 256, base = full ? 8 : 4, batch = full ? 80 : 40;
  const int pools = full ? 5 : 4, evals = full ? 8 : 5, evals2 = full ? 4 : 2, steps = 50;
  const double lr = 2e-3;  // the article's 1e-3 leaves the prior plateau too late for a 250-step budget
  kx::generator gen(options.seed);
  const spectra train = make_spectra(full ? 8000 : 2000, length, gen);
  const spectra val = make_spectra(full ? 2000 : 600, length, gen);
  std::printf(
      "spectra_conv1d_classifier: L = %lld, %lld train / %lld validation spectra (80/10/5/5 %% %s/%s/%s/%s), "
      "block widths %lld..%lld, batch %lld, seed %llu\n",
      static_cast<long long>(length), static_cast<long long>(train.y.numel()), static_cast<long long>(val.y.numel()),
      class_names[0], class_names[1], class_names[2], class_names[3], static_cast<long long>(base),
      static_cast<long long>(8 * base), static_cast<long long>(batch), static_cast<unsigned long long>(options.seed));

  const auto ce = [](const tensor& logits, const index_tensor& y) { return kx::loss::cross_entropy(logits, y); };
  const auto soft_f1 = [](const tensor& logits, const index_tensor& y) {
    return kx::loss::soft_macro_f1_loss(logits, y);
  };

  kx::generator init(options.seed + 100), batches(options.seed + 200);
  spectra_net model(base, pools, init);
  keras_init(model, init);
  std::printf("stage 1: cross-entropy, Adam %g, %d rounds x %d steps, keep the best\n", lr, evals, steps);
  run_stage("ce", model, train, val, lr, evals, steps, batch, batches, ce);
  const double stage1 = evaluate(model, val);  // the restored best
  std::printf("stage 2: soft macro-F1 from the best stage-1 weights, Adam %g, %d rounds x %d steps\n", lr / 10, evals2,
              steps);
  const stage_result s2 = run_stage("soft-f1", model, train, val, lr / 10, evals2, steps, batch, batches, soft_f1);
  const double stage2 = s2.last_f1;  // the last round, not the best: no selection in stage 2's favour
  std::printf("note: validation macro-F1 best of stage 1 %.4f, last round of stage 2 %.4f\n", stage1, stage2);
  if (full) {
    std::printf("soft macro-F1 from scratch (same initialisation, batches and budget as stage 1), printed only:\n");
    kx::generator init2(options.seed + 100), batches2(options.seed + 200);
    spectra_net scratch(base, pools, init2);
    keras_init(scratch, init2);
    const stage_result s0 = run_stage("scratch", scratch, train, val, lr, evals, steps, batch, batches2, soft_f1);
    std::printf("note: soft-F1 from scratch: best macro-F1 %.4f, last %.4f (stage 1 with cross-entropy: %.4f)\n",
                s0.best_f1, s0.last_f1, stage1);
  }

  kx::generator check_gen(options.seed + 300);
  bool ok = true;
  const double identity_error = soft_f1_identity_error(check_gen);
  ok &= claim("soft_f1_equals_macro_f1_max_abs_diff", identity_error, "<= 1e-5", identity_error <= 1e-5);
  const auto [mixed, dropped] = dropout_column_check(check_gen);
  ok &= claim("dropout_mixed_time_steps", static_cast<double>(mixed), "== 0", mixed == 0);
  std::printf("  (fraction of time steps dropped %.3f, rate 0.5)\n", dropped);
  ok &= claim("stage1_macro_f1", stage1, ">= 0.80", stage1 >= 0.80);
  ok &= claim("stage2_minus_stage1", stage2 - stage1, ">= -0.03", stage2 - stage1 >= -0.03);
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "spectra_conv1d_classifier: %s\n", e.what());
  return 1;
}
