// SPDX-License-Identifier: MIT
// Wrappers that change when updates happen or what is kept: gradient accumulation, lookahead, EMA; composed
// stacks; saving and restoring whole stacks (A28, A13).
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "optim/problem.hpp"
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/optim/ema.hpp>
#include <kexue/optim/gradient_accumulation.hpp>
#include <kexue/optim/lookahead.hpp>
#include <kexue/optim/rmsprop.hpp>
#include <kexue/optim/sgd.hpp>

#include "support/fixtures.hpp"
#include "support/tensor_checks.hpp"

using namespace kexue;
using kexue::testing::check_values;

namespace {
using params_t = std::vector<tensor<double>>;

using kexue::testing::leaf;
/// Sets every parameter's gradient to ones and steps.
bool unit_step(optim::optimizer<double>& opt) {
  for (auto p : opt.parameters()) p.set_grad(ones_like(p.detach()));
  return opt.step();
}
/// Rows [begin, end) of a matrix, as a new tensor.
tensor<double> rows(const tensor<double>& m, index_t begin, index_t end) {
  const index_t d = m.size(1);
  auto out = tensor<double>::empty({end - begin, d});
  std::copy(m.data() + begin * d, m.data() + end * d, out.data());
  return out;
}
double loss_on(const tensor<double>& x, const tensor<double>& y, const params_t& p, optim::optimizer<double>& opt) {
  opt.zero_grad();
  auto l = mean(square(tanh(matmul(x, p[0]) + p[1]) - y));
  l.backward();
  opt.step();
  return l.item();
}

/// Runs `updates` updates of make(p) on the first 4 rows of the problem, as one batch, and of
/// gradient_accumulation(make(q), 2) on rows 0-1 and 2-3 as two micro-batches; checks they agree.
template <class Make>
void check_accumulation_equals_big_batch(Make make, int updates) {
  const auto pr = testing::optim_problem<double>::load();
  const auto x = rows(pr.x, 0, 4), y = rows(pr.y, 0, 4);
  auto p = pr.parameters(), q = pr.parameters();
  auto big = make(p);
  auto acc = optim::gradient_accumulation(make(q), 2);
  for (int u = 0; u < updates; ++u) {
    loss_on(x, y, p, big);
    const auto before = q[0].to_vector();
    loss_on(rows(x, 0, 2), rows(y, 0, 2), q, acc);
    CHECK(q[0].to_vector() == before);  // frozen between updates
    CHECK(acc.micro_steps() == 1);
    loss_on(rows(x, 2, 4), rows(y, 2, 4), q, acc);
  }
  testing::check_close(q[0].detach(), p[0].detach(), 1e-12, 1e-13);
  testing::check_close(q[1].detach(), p[1].detach(), 1e-12, 1e-13);
}
}  // namespace

TEST_SUITE("optim.wrappers") {
  TEST_CASE("gradient accumulation over k micro-batches equals one step on the concatenated batch") {
    check_accumulation_equals_big_batch(
        [](const params_t& p) { return optim::sgd<double>(p, optim::sgd_options().lr(0.1)); }, 3);
    // Adam too, because the wrapped optimizer counts real updates (bias correction uses t = updates).
    check_accumulation_equals_big_batch(
        [](const params_t& p) { return optim::adam<double>(p, optim::adam_options().lr(0.05)); }, 4);
  }

  TEST_CASE("gradient accumulation freezes the wrapped optimizer between updates and restores gradients") {
    auto w = leaf({1});
    auto opt = optim::gradient_accumulation(optim::adam<double>({w}, optim::adam_options().lr(0.1)), 3);
    w.set_grad(from_vector<double>({2}));
    CHECK_FALSE(opt.step());
    CHECK_FALSE(opt.step());
    CHECK(opt.inner_as<optim::adam<double>>().parameter_steps(0) == 0);
    check_values(w, {1}, {1});
    CHECK(opt.step());  // mean of 2, 2, 2 = 2
    CHECK(opt.inner_as<optim::adam<double>>().parameter_steps(0) == 1);
    check_values(w, {1}, {0.9}, 1e-9, 1e-9);
    check_values(w.grad(), {1}, {2});  // the caller's gradient is back
    CHECK_THROWS_WITH_AS(optim::gradient_accumulation(optim::sgd<double>({w}), 0),
                         "gradient_accumulation: steps must be >= 1 (got 0)", value_error);
  }

  TEST_CASE("lookahead interpolates towards slow weights that start at the initial weights") {
    auto w = leaf({0});
    auto opt = optim::lookahead(optim::sgd<double>({w}, optim::sgd_options().lr(1)),
                                optim::lookahead_options().k(2).alpha(0.5));
    // fast −1, −2 → slow 0 + 0.5(−2 − 0) = −1 = θ; fast −2, −3 → slow −1 + 0.5(−3 + 1) = −2 = θ
    unit_step(opt);
    unit_step(opt);
    check_values(w, {1}, {-1});
    unit_step(opt);
    check_values(w, {1}, {-2});
    check_values(opt.slow_weights()[0], {1}, {-1});
    unit_step(opt);
    check_values(w, {1}, {-2});
    check_values(opt.slow_weights()[0], {1}, {-2});
    CHECK_THROWS_WITH_AS(optim::lookahead(optim::sgd<double>({w}), optim::lookahead_options().alpha(1.5)),
                         "lookahead: alpha must be in [0, 1] (got 1.5)", value_error);
    CHECK_THROWS_WITH_AS(optim::lookahead(optim::sgd<double>({w}), optim::lookahead_options().k(0)),
                         "lookahead: k must be >= 1 (got 0)", value_error);
  }

  TEST_CASE("lookahead over gradient accumulation counts real updates only") {
    auto w = leaf({0});
    auto opt = optim::lookahead(optim::gradient_accumulation(optim::sgd<double>({w}, optim::sgd_options().lr(1)), 2),
                                optim::lookahead_options().k(2).alpha(0.5));
    int updates = 0;
    for (int s = 0; s < 8; ++s) updates += unit_step(opt) ? 1 : 0;
    CHECK(updates == 4);
    check_values(w, {1}, {-2});  // the 4-update hand case above
  }

  TEST_CASE("lookahead(gradient_accumulation(adam, 4)) equals adam with hand-written lookahead") {
    const auto pr = testing::optim_problem<double>::load();
    auto p = pr.parameters(), q = pr.parameters();
    auto stack =
        optim::lookahead(optim::gradient_accumulation(optim::adam<double>(p, optim::adam_options().lr(0.05)), 4),
                         optim::lookahead_options().k(3).alpha(0.5));
    optim::adam<double> bare(q, optim::adam_options().lr(0.05));
    std::vector<tensor<double>> slow = {q[0].detach().copy(), q[1].detach().copy()};
    for (int u = 1; u <= 9; ++u) {
      for (int micro = 0; micro < 4; ++micro) pr.step(stack, p);  // same batch 4 times: mean gradient = gradient
      pr.step(bare, q);
      if (u % 3 == 0) {
        for (std::size_t i = 0; i < 2; ++i) {
          for (index_t j = 0; j < q[i].numel(); ++j) {
            slow[i].data()[j] += 0.5 * (q[i].data()[j] - slow[i].data()[j]);
            q[i].data()[j] = slow[i].data()[j];
          }
        }
      }
    }
    testing::check_close(p[0].detach(), q[0].detach(), 1e-11, 1e-12);
    testing::check_close(p[1].detach(), q[1].detach(), 1e-11, 1e-12);
  }

  TEST_CASE("ema averages after each update, with copy or zero-debias initialisation") {
    auto w = leaf({0});
    auto copy_init = optim::ema(optim::sgd<double>({w}, optim::sgd_options().lr(1)), optim::ema_options().decay(0.5));
    unit_step(copy_init);  // θ = −1: Θ = 0.5·0 + 0.5·(−1) = −0.5
    unit_step(copy_init);  // θ = −2: Θ = −0.25 − 1 = −1.25
    check_values(copy_init.averages()[0], {1}, {-1.25});

    auto v = leaf({0});
    auto debias = optim::ema(optim::sgd<double>({v}, optim::sgd_options().lr(1)),
                             optim::ema_options().decay(0.5).init(optim::ema_init::zero_debias));
    check_values(debias.averages()[0], {1}, {0});  // no update yet: the weights themselves
    unit_step(debias);                             // Θ = −0.5, read as −0.5 / (1 − 0.5) = −1
    check_values(debias.averages()[0], {1}, {-1});
    unit_step(debias);  // Θ = −0.25 − 1 = −1.25, read as −1.25 / 0.75
    check_values(debias.averages()[0], {1}, {-1.25 / 0.75});
    CHECK_THROWS_WITH_AS(optim::ema(optim::sgd<double>({v}), optim::ema_options().decay(1)),
                         "ema: decay must be in [0, 1) (got 1)", value_error);
  }

  TEST_CASE("ema swaps the average in and out, exception-safely, and never changes the trajectory") {
    const auto pr = testing::optim_problem<double>::load();
    auto p = pr.parameters(), q = pr.parameters();
    auto extra = from_vector<double>({1, 2});  // a buffer (running statistic) averaged too
    auto opt =
        optim::ema(optim::adam<double>(p, optim::adam_options().lr(0.05)), optim::ema_options().decay(0.9), {extra});
    optim::adam<double> plain(q, optim::adam_options().lr(0.05));
    for (int s = 0; s < 10; ++s) {
      pr.step(opt, p);
      pr.step(plain, q);
    }
    CHECK(p[0].to_vector() == q[0].to_vector());  // bit-identical: the average never feeds back
    const auto weights = p[0].detach().copy();
    const auto avg = opt.averages();
    REQUIRE(avg.size() == 3);
    opt.apply();
    CHECK(p[0].to_vector() == avg[0].to_vector());
    CHECK_THROWS_WITH_AS(opt.apply(), "ema: apply() called twice without restore()", value_error);
    CHECK_THROWS_WITH_AS(opt.step(), "ema: step() while the averaged weights are applied; restore() first",
                         value_error);
    opt.restore();
    CHECK(p[0].to_vector() == weights.to_vector());
    try {
      auto guard = opt.scoped_apply();
      CHECK(p[0].to_vector() == avg[0].to_vector());
      throw std::runtime_error("evaluation failed");
    } catch (const std::runtime_error&) {
    }
    CHECK(p[0].to_vector() == weights.to_vector());
    auto target = zeros<double>({4, 3}), tb = zeros<double>({3}), te = zeros<double>({2});
    opt.apply_to({target, tb, te});
    CHECK(target.to_vector() == avg[0].to_vector());
    CHECK_THROWS_WITH_AS(opt.apply_to({target}), "ema::apply_to: got 1 tensors, the average has 3", value_error);
    CHECK_THROWS_WITH_AS(opt.apply_to({target, te, te}), "ema::apply_to: tensor 1 has shape [2], the average [3]",
                         shape_error);
  }

  TEST_CASE("whole wrapper stacks save, load and resume bit for bit") {
    testing::check_save_restore<double>([](const params_t& p) {
      return std::make_unique<optim::lookahead<double>>(
          optim::gradient_accumulation(optim::adam<double>(p, optim::adam_options().lr(0.05)), 4),
          optim::lookahead_options().k(2));
    });
    testing::check_save_restore<double>([](const params_t& p) {
      return std::make_unique<optim::ema<double>>(
          optim::lookahead(
              optim::gradient_accumulation(optim::rmsprop<double>(p, optim::rmsprop_options().momentum(0.5)), 3)),
          optim::ema_options().decay(0.8).init(optim::ema_init::zero_debias));
    });
    // And the EMA's average itself resumes too.
    const auto pr = testing::optim_problem<double>::load();
    auto p = pr.parameters();
    auto a = optim::ema(optim::sgd<double>(p, optim::sgd_options().lr(0.1)), optim::ema_options().decay(0.7));
    for (int s = 0; s < 3; ++s) pr.step(a, p);
    const auto saved = a.save_state();
    CHECK(saved.keys() == std::vector<std::string>{"updates", "average.0", "average.1", "inner.groups",
                                                   "inner.group.0.lr", "inner.group.0.weight_decay",
                                                   "inner.param.0.step", "inner.param.1.step"});
    auto q = pr.parameters();
    auto b = optim::ema(optim::sgd<double>(q, optim::sgd_options().lr(0.1)), optim::ema_options().decay(0.7));
    b.load_state(saved);
    CHECK(b.averages()[0].to_vector() == a.averages()[0].to_vector());
    CHECK(b.updates() == 3);
  }

  TEST_CASE("float stacks deduce their element type and resume bit for bit") {
    const auto pr = testing::optim_problem<float>::load();
    auto p = pr.parameters();
    optim::adam first(p, optim::adam_options().lr(0.01));  // class template argument deduction: adam<float>
    auto stack = optim::ema(optim::lookahead(optim::gradient_accumulation(std::move(first), 2)));
    static_assert(std::is_same_v<decltype(stack), optim::ema<float>>);
    for (int s = 0; s < 6; ++s) pr.step(stack, p);
    CHECK(stack.updates() == 3);
    testing::check_save_restore<float>([](const std::vector<tensor<float>>& q) {
      return std::make_unique<optim::lookahead<float>>(
          optim::gradient_accumulation(optim::adamw<float>(q, optim::adamw_options().lr(0.01)), 3));
    });
  }

  TEST_CASE("a mismatched stack state is rejected and leaves every level unchanged") {
    const auto pr = testing::optim_problem<double>::load();
    auto p = pr.parameters();
    auto la = optim::lookahead(optim::adam<double>(p, optim::adam_options().lr(0.05)), optim::lookahead_options().k(2));
    for (int s = 0; s < 3; ++s) pr.step(la, p);
    const auto before = la.save_state();

    auto q = pr.parameters();
    auto other =
        optim::lookahead(optim::sgd<double>(q, optim::sgd_options().momentum(0.9)), optim::lookahead_options().k(2));
    for (int s = 0; s < 5; ++s) pr.step(other, q);
    CHECK_THROWS_WITH_AS(la.load_state(other.save_state()),
                         "adam::load_state: entry 'param.0.exp_avg' is missing but parameter 0 has step 5 (state saved "
                         "with other options or by another optimizer?)",
                         value_error);
    const auto after = la.save_state();  // lookahead's own entries were valid but not committed
    CHECK(after.get<index_t>("updates").item() == 3);
    CHECK(after.get<double>("slow.0").to_vector() == before.get<double>("slow.0").to_vector());

    CHECK_THROWS_AS(la.load_state(la.inner().save_state()), value_error);  // no 'updates': a bare adam state
    auto ga = optim::gradient_accumulation(optim::sgd<double>(pr.parameters()), 4);
    auto bad = ga.save_state();
    bad.set("micro_steps", scalar<index_t>(5));
    CHECK_THROWS_WITH_AS(ga.load_state(bad),
                         "gradient_accumulation::load_state: entry 'micro_steps' is 5, expected 0 to 3", value_error);
    auto slow_shape = la.save_state();
    slow_shape.set("slow.1", zeros<double>({4}));
    CHECK_THROWS_WITH_AS(la.load_state(slow_shape),
                         "lookahead::load_state: entry 'slow.1' has shape [4], the parameter has shape [3]",
                         shape_error);
  }
}
