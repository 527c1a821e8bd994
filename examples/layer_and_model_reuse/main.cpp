// SPDX-License-Identifier: MIT
// A27 example: layer and model reuse with kexue's modules: shared layers, tied weights, cut models, clones.
//
// What the article shows (spec A27, https://kexue.fm/archives/6985): a layer object applied several times shares
// its weights (its gradient is the sum of the gradients of every application, its parameters are counted once);
// a layer can use another layer's weight (the BERT MLM head logits = h·Eᵀ + b with E the embedding matrix), so
// training through one changes the other; intermediate outputs can be read out and a model can be cut at an
// intermediate tensor (e.g. a residual "add" node) and the rest re-run from there with the same weights; a clone
// copies the architecture into an independent model.
//
// Data: random inputs from a fixed seed, all in double. Models:
//   shared     one linear 4 → 4 pushed three times into an nn::sequential with tanh in between, input [5, 4],
//              loss sum(y²)
//   tied       embedding [V = 10, D = 6] whose weight is also registered as the output projection of an MLM
//              head (logits = h·Eᵀ + b), cross-entropy on random h [8, 6] and targets, one SGD step (lr 0.5)
//   residual   sequential "in" linear 3 → 8, "act" relu, "block1" and "block2" residual blocks x + relu(W x + b),
//              "out" linear 8 → 2, input [7, 3]
// Claims (exact identities: thresholds are rounding in double, or 0 where the same numbers are recomputed):
//   shared_param_count        the shared model lists 2 parameter tensors and 20 elements (counted once) (== 20)
//   shared_grad_vs_sum        its gradient equals the sum of the gradients of three independent copies, one per
//                             application: max diff ≤ 1e-12
//   shared_grad_vs_fd         and central finite differences (h = 1e-6) on every weight and bias: rel err ≤ 1e-6
//   tied_param_count          the tied model lists E once: V·D + V = 70 elements
//   tied_lookup_change        one SGD step through the head alone moves the embedding lookups: max change ≥ 1e-3,
//   tied_update_err           by exactly −lr·∇_E (the head's gradient, through the shared tensor): ≤ 1e-14
//   cut_model_diff            the residual model cut at block1's output (forward_until) and continued with a tail
//                             sequential of the same block2 and out modules equals the full model: max diff == 0
//   hook_vs_forward_until     a forward hook on block1 captures the same tensor as forward_until: max diff == 0
//   clone_initial_diff        a clone computes the same outputs: max diff == 0, and after 5 SGD steps on the clone
//   clone_original_unchanged  the original's parameters are bit-identical to before (max diff == 0) while
//   clone_moved               the clone's outputs moved: max change ≥ 1e-3
// Not tested: Keras' clone-with-fresh-weights (kexue's clone copies values; call reset(gen) for fresh ones), cutting
// graphs that are not sequential (a functional-graph rebuild), sub-models with several outputs beyond forward_all.
// Expected output: the measured values, then the "claim: ... PASS" lines. --seed N: another seed. No --full mode.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../common/example_support.hpp"

#include <kexue/kexue.hpp>

namespace kx = kexue;
namespace nn = kexue::nn;
using dt = kx::tensor<double>;

namespace {

double max_abs_diff(const dt& a, const dt& b) {
  double m = 0;
  for (kx::index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.data()[i] - b.data()[i]));
  return m;
}

using kexue_examples::claim;

/// x + relu(W x + b): the add is the node the model is cut at.
class residual_block : public nn::cloneable<residual_block, double> {
 public:
  explicit residual_block(kx::index_t width, kx::generator& gen) : width_(width) { reset(gen); }
  void reset(kx::generator& gen) override {
    fc = this->register_module("fc", std::make_shared<nn::linear<double>>(width_, width_, gen));
  }
  dt forward(const dt& x) const { return x + kx::relu((*fc)(x)); }
  std::shared_ptr<nn::linear<double>> fc;

 private:
  kx::index_t width_;
};

/// An embedding whose matrix E is also the MLM head's output projection: logits = h·Eᵀ + b.
class tied_lm : public nn::cloneable<tied_lm, double> {
 public:
  tied_lm(kx::index_t vocab, kx::index_t dim, kx::generator& gen) : vocab_(vocab), dim_(dim) { reset(gen); }
  void reset(kx::generator& gen) override {
    embedding = this->register_module("embedding", std::make_shared<nn::embedding<double>>(vocab_, dim_, gen));
    output_weight = this->register_parameter("output_weight", embedding->weight);  // the same tensor
    output_bias = this->register_parameter("output_bias", kx::zeros<double>({vocab_}));
  }
  /// The head: h [B, D] → logits [B, V].
  dt forward(const dt& h) const { return kx::matmul(h, output_weight, false, true) + output_bias; }
  std::shared_ptr<nn::embedding<double>> embedding;
  dt output_weight, output_bias;

 private:
  kx::index_t vocab_, dim_;
};

// ~~~ Shared layer ~~~

struct shared_result {
  double count = 0, tensors = 0, vs_sum = 0, vs_fd = 0;
};

shared_result check_shared(kx::generator& gen) {
  shared_result r;
  auto layer = std::make_shared<nn::linear<double>>(4, 4, gen);
  nn::sequential<double> model;
  const auto act = [](const dt& h) { return kx::tanh(h); };
  model.push_back(layer).push_back("t1", act).push_back(layer).push_back("t2", act).push_back(layer);
  r.tensors = static_cast<double>(model.parameters().size());
  r.count = static_cast<double>(model.num_parameters());
  const dt x = kx::randn<double>({5, 4}, gen);
  const auto loss_of = [&](const nn::sequential<double>& m) { return kx::sum(kx::square(m(x))); };
  const auto shared = kx::grad({loss_of(model)}, {layer->weight, layer->bias});

  // Three independent copies, one per application.
  std::vector<std::shared_ptr<nn::linear<double>>> copies;
  for (int k = 0; k < 3; ++k) copies.push_back(layer->clone_as());
  const dt y = (*copies[2])(kx::tanh((*copies[1])(kx::tanh((*copies[0])(x)))));
  std::vector<dt> wrt;
  for (const auto& c : copies) wrt.insert(wrt.end(), {c->weight, c->bias});
  const auto per_use = kx::grad({kx::sum(kx::square(y))}, wrt);
  for (std::size_t p = 0; p < 2; ++p) {
    r.vs_sum = std::max(r.vs_sum, max_abs_diff(shared[p], per_use[p] + per_use[p + 2] + per_use[p + 4]));
  }

  // Central finite differences on every element of the shared weight and bias.
  const double h = 1e-6;
  for (std::size_t p = 0; p < 2; ++p) {
    dt t = p == 0 ? layer->weight : layer->bias;
    for (kx::index_t i = 0; i < t.numel(); ++i) {
      kx::no_grad_guard no_grad;
      const double saved = t.data()[i];
      t.data()[i] = saved + h;
      t.bump_version();
      const double up = loss_of(model).item();
      t.data()[i] = saved - h;
      t.bump_version();
      const double down = loss_of(model).item();
      t.data()[i] = saved;
      t.bump_version();
      const double fd = (up - down) / (2 * h), an = shared[p].data()[i];
      r.vs_fd = std::max(r.vs_fd, std::fabs(fd - an) / std::max(1.0, std::fabs(an)));
    }
  }
  return r;
}

// ~~~ Tied weights ~~~

struct tied_result {
  double count = 0, lookup_change = 0, update_err = 0;
};

tied_result check_tied(kx::generator& gen) {
  tied_result r;
  tied_lm model(10, 6, gen);
  r.count = static_cast<double>(model.num_parameters());
  const auto ids = kx::arange<kx::index_t>(0, 10);
  const dt lookup_before = (*model.embedding)(ids).detach().copy();
  const dt h = kx::randn<double>({8, 6}, gen);
  auto target = kx::tensor<kx::index_t>::empty({8});
  for (kx::index_t i = 0; i < 8; ++i) target(i) = static_cast<kx::index_t>(gen.below(10));
  const double lr = 0.5;
  kx::optim::sgd<double> sgd(model.parameters(), kx::optim::sgd_options().lr(lr));
  const dt loss = kx::loss::cross_entropy(model(h), target);  // the head only: no lookup in the graph
  const dt grad_e = kx::grad({loss}, {model.embedding->weight}, kx::grad_options().retain_graph(true))[0];
  sgd.zero_grad();
  loss.backward();
  sgd.step();
  const dt lookup_after = (*model.embedding)(ids);
  r.lookup_change = max_abs_diff(lookup_after, lookup_before);
  r.update_err = max_abs_diff(lookup_after, lookup_before - grad_e * lr);
  return r;
}

// ~~~ Cut model, hooks, clones ~~~

std::shared_ptr<nn::sequential<double>> residual_model(kx::generator& gen) {
  auto m = std::make_shared<nn::sequential<double>>();
  m->push_back("in", std::make_shared<nn::linear<double>>(3, 8, gen))
      .push_back("act", [](const dt& x) { return kx::relu(x); })
      .push_back("block1", std::make_shared<residual_block>(8, gen))
      .push_back("block2", std::make_shared<residual_block>(8, gen))
      .push_back("out", std::make_shared<nn::linear<double>>(8, 2, gen));
  return m;
}

struct cut_result {
  double cut = 0, hook = 0, clone_initial = 0, original_unchanged = 0, clone_moved = 0;
};

cut_result check_cut_and_clone(kx::generator& gen) {
  cut_result r;
  auto model = residual_model(gen);
  const dt x = kx::randn<double>({7, 3}, gen);
  const dt full = (*model)(x);

  const dt at_add = model->forward_until("block1", x);  // [7, 8], block1's residual sum
  nn::sequential<double> tail;                          // the same modules: shared weights
  tail.push_back("block2", model->at<residual_block>(3)).push_back("out", model->at<nn::linear<double>>(4));
  r.cut = max_abs_diff(tail(at_add), full);

  dt captured;
  const int id = model->at<residual_block>(2)->register_forward_hook(
      [&](const nn::module<double>&, const dt& out) { captured = out.detach(); });
  (void)(*model)(x);
  model->at<residual_block>(2)->remove_forward_hook(id);
  r.hook = captured.defined() ? max_abs_diff(captured, at_add) : 1e30;

  auto clone = std::dynamic_pointer_cast<nn::sequential<double>>(model->clone());
  r.clone_initial = max_abs_diff((*clone)(x), full);
  std::vector<dt> before;
  for (const auto& p : model->parameters()) before.push_back(p.detach().copy());
  kx::optim::sgd<double> sgd(clone->parameters(), kx::optim::sgd_options().lr(0.1));
  const dt target = kx::randn<double>({7, 2}, gen);
  for (int s = 0; s < 5; ++s) {
    const dt loss = kx::mean(kx::square((*clone)(x)-target));
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  }
  const auto after = model->parameters();
  for (std::size_t i = 0; i < after.size(); ++i) {
    r.original_unchanged = std::max(r.original_unchanged, max_abs_diff(after[i], before[i]));
  }
  r.clone_moved = max_abs_diff((*clone)(x), full);
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  std::uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--seed N]\n", argv[0]);
      return 2;
    }
  }
  std::printf("layer_and_model_reuse: shared layers, tied weights, cut models and clones; seed %llu\n",
              static_cast<unsigned long long>(seed));
  kx::generator gen(seed);
  const shared_result s = check_shared(gen);
  std::printf("shared linear x3: %g tensors, %g elements; gradient vs sum of uses %.3g, vs finite differences %.3g\n",
              s.tensors, s.count, s.vs_sum, s.vs_fd);
  const tied_result t = check_tied(gen);
  std::printf("tied MLM head: %g elements; lookup change after one head step %.3g, vs -lr*grad %.3g\n", t.count,
              t.lookup_change, t.update_err);
  const cut_result c = check_cut_and_clone(gen);
  std::printf(
      "residual model: cut at block1 %.3g, hook %.3g; clone: initial %.3g, original after training the clone "
      "%.3g, clone moved %.3g\n",
      c.cut, c.hook, c.clone_initial, c.original_unchanged, c.clone_moved);

  bool pass = true;
  pass &= claim("shared_param_count", s.count, "== 20 in 2 tensors", s.count == 20 && s.tensors == 2);
  pass &= claim("shared_grad_vs_sum", s.vs_sum, "<= 1e-12", s.vs_sum <= 1e-12);
  pass &= claim("shared_grad_vs_fd", s.vs_fd, "<= 1e-6", s.vs_fd <= 1e-6);
  pass &= claim("tied_param_count", t.count, "== 70", t.count == 70);
  pass &= claim("tied_lookup_change", t.lookup_change, ">= 1e-3", t.lookup_change >= 1e-3);
  pass &= claim("tied_update_err", t.update_err, "<= 1e-14", t.update_err <= 1e-14);
  pass &= claim("cut_model_diff", c.cut, "== 0", c.cut == 0);
  pass &= claim("hook_vs_forward_until", c.hook, "== 0", c.hook == 0);
  pass &= claim("clone_initial_diff", c.clone_initial, "== 0", c.clone_initial == 0);
  pass &= claim("clone_original_unchanged", c.original_unchanged, "== 0", c.original_unchanged == 0);
  pass &= claim("clone_moved", c.clone_moved, ">= 1e-3", c.clone_moved >= 1e-3);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
