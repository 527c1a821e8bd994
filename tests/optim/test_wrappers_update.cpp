// SPDX-License-Identifier: MIT
// Wrappers that rewrite each update: weight decay, layer adaptation, piecewise-linear lr, lazy rows (A28).
#include <cmath>
#include <memory>
#include <vector>

#include "optim/problem.hpp"
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/optim/gradient_accumulation.hpp>
#include <kexue/optim/gradient_clipping.hpp>
#include <kexue/optim/layer_adaptation.hpp>
#include <kexue/optim/lazy.hpp>
#include <kexue/optim/piecewise_linear_lr.hpp>
#include <kexue/optim/sgd.hpp>
#include <kexue/optim/weight_decay.hpp>

#include "support/fixtures.hpp"
#include "support/tensor_checks.hpp"

using namespace kexue;
using kexue::testing::check_values;

namespace {
using kexue::testing::leaf;
double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}
using params_t = std::vector<tensor<double>>;
}  // namespace

TEST_SUITE("optim.wrappers") {
  TEST_CASE("weight decay with zero gradient shrinks by (1 - lr*rate)^T") {
    auto w = leaf({1, -2});
    auto opt = optim::weight_decay(optim::sgd<double>({w}, optim::sgd_options().lr(0.1)), 0.5);
    for (int t = 0; t < 3; ++t) {
      w.set_grad(zeros<double>({2}));
      opt.step();
    }
    // (1 − 0.1·0.5)³ = 0.95³ = 0.857375
    check_values(w, {2}, {0.857375, -1.71475});
    CHECK(opt.name() == "weight_decay");
    CHECK(opt.rate() == 0.5);
  }

  TEST_CASE("weight decay uses the weights before the update and skips excluded parameters") {
    auto w = leaf({2}), bias = leaf({2});
    auto opt = optim::weight_decay(optim::sgd<double>({w, bias}, optim::sgd_options().lr(0.1)), 0.1, {bias});
    w.set_grad(from_vector<double>({1}));
    bias.set_grad(from_vector<double>({1}));
    opt.step();
    // w: SGD gives 2 − 0.1 = 1.9; decay −0.1·0.1·2 (θ before) = −0.02 → 1.88 (θ after would give 1.881)
    check_values(w, {1}, {1.88});
    check_values(bias, {1}, {1.9});
    CHECK_THROWS_WITH_AS(optim::weight_decay(optim::sgd<double>({w}), -0.1),
                         "weight_decay: rate must be >= 0 (got -0.1)", value_error);
    CHECK_THROWS_WITH_AS(optim::weight_decay(optim::sgd<double>({w}), 0.1, {leaf({1, 2})}),
                         "weight_decay: a tensor of shape [2] is not among the optimizer's parameters", value_error);
  }

  TEST_CASE("weight decay around adam follows PyTorch's AdamW trajectory") {
    const testing::reference_file f("optim");
    const auto problem = testing::optim_problem<double>::load();
    auto p = problem.parameters();
    auto opt = optim::weight_decay(optim::adam<double>(p, optim::adam_options().lr(0.05)), 0.01);
    for (int s = 0; s < 20; ++s) problem.step(opt, p);
    const auto ws = f.get("adamw.w"), bs = f.get("adamw.b");
    for (index_t i = 0; i < 12; ++i) CHECK(p[0].data()[i] == doctest::Approx(ws.data()[19 * 12 + i]).epsilon(1e-10));
    for (index_t i = 0; i < 3; ++i) CHECK(p[1].data()[i] == doctest::Approx(bs.data()[19 * 3 + i]).epsilon(1e-10));
  }

  TEST_CASE("layer adaptation rescales each update to lr times the parameter norm") {
    auto w = leaf({3, 4}), zero = leaf({0, 0});
    auto opt = optim::layer_adaptation(optim::sgd<double>({w, zero}, optim::sgd_options().lr(0.1)));
    w.set_grad(from_vector<double>({1, 0}));
    zero.set_grad(from_vector<double>({1, 0}));
    opt.step();
    // Δ = [−0.1, 0], h = Δ/0.1 = [−1, 0], ratio = ‖θ‖/‖h‖ = 5/1 → θ + 5Δ = [2.5, 4]; ‖θ‖ = 0 keeps ratio 1.
    check_values(w, {2}, {2.5, 4});
    check_values(zero, {2}, {-0.1, 0});

    // With Adam on the problem: ‖θ_{t+1} − θ_t‖ = lr·‖θ_t‖ for every parameter at every step.
    const auto problem = testing::optim_problem<double>::load();
    auto p = problem.parameters();
    auto lamb = optim::layer_adaptation(optim::adam<double>(p, optim::adam_options().lr(0.01)));
    for (int s = 0; s < 5; ++s) {
      const auto before = std::vector<std::vector<double>>{p[0].to_vector(), p[1].to_vector()};
      problem.step(lamb, p);
      for (std::size_t i = 0; i < 2; ++i) {
        std::vector<double> d(before[i].size());
        const auto now = p[i].to_vector();
        for (std::size_t j = 0; j < d.size(); ++j) d[j] = now[j] - before[i][j];
        CHECK(norm(d) == doctest::Approx(0.01 * norm(before[i])).epsilon(1e-12));
      }
    }
  }

  TEST_CASE("piecewise linear multiplier: warm-up from 0, interpolation, last value held") {
    const auto points = optim::normalized_points("test", {{1000, 1.0}, {2000, 0.1}});
    CHECK(points.size() == 3);
    const index_t ts[] = {0, 500, 1000, 1500, 2000, 3000};
    const double expected[] = {0, 0.5, 1, 0.55, 0.1, 0.1};
    for (int k = 0; k < 6; ++k)
      CHECK(optim::piecewise_linear(points, ts[k]) == doctest::Approx(expected[k]).epsilon(1e-15));
    CHECK_THROWS_WITH_AS(optim::normalized_points("piecewise_linear_lr", {{10, 1.0}, {5, 0.5}}),
                         "piecewise_linear_lr: schedule steps must be strictly increasing (10 then 5)", value_error);
    CHECK_THROWS_WITH_AS(optim::normalized_points("piecewise_linear_lr", {}),
                         "piecewise_linear_lr: the schedule needs at least one (step, multiplier) point", value_error);
  }

  TEST_CASE("the piecewise linear lr wrapper scales each update by the multiplier of its update count") {
    auto w = leaf({0});
    auto opt = optim::piecewise_linear_lr(optim::sgd<double>({w}, optim::sgd_options().lr(1)), {{4, 1.0}});
    for (int t = 0; t < 6; ++t) {
      w.set_grad(from_vector<double>({1}));
      opt.step();
    }
    // multipliers 0, 0.25, 0.5, 0.75, 1, 1 of a step of −1: −3.5
    check_values(w, {1}, {-3.5});
    CHECK(opt.updates() == 6);
    CHECK(opt.multiplier() == 1.0);
  }

  TEST_CASE_TEMPLATE("lazy rows: rows with a zero gradient keep their values and moments bit for bit", T, float,
                     double) {
    auto table = tensor<T>{{1, 2}, {3, 4}, {5, 6}}.requires_grad(true);
    auto opt = optim::lazy(optim::adam<T>({table}, optim::adam_options().lr(0.1)));
    table.set_grad(tensor<T>{{1, 1}, {0, 0}, {0.5, 0}});  // row 1 not in the batch
    opt.step();
    // First Adam step moves by lr·sign(g) per element (0 where g = 0 but the row is touched).
    check_values(table, {3, 2}, {0.9, 1.9, 3, 4, 4.9, 6}, 1e-5, 1e-5);
    const auto state = opt.parameter_state(0);
    REQUIRE(state.size() == 2);
    const auto m_after_first = state[0].copy();
    CHECK(state[0](1, 0) == T(0));

    table.set_grad(tensor<T>{{0, 0}, {2, 0}, {0, 0}});  // only row 1 now
    const auto before = table.detach().copy();
    opt.step();
    for (index_t j = 0; j < 2; ++j) {
      CHECK(table(0, j) == before(0, j));
      CHECK(table(2, j) == before(2, j));
      CHECK(state[0](0, j) == m_after_first(0, j));  // frozen moment
      CHECK(state[0](2, j) == m_after_first(2, j));
    }
    CHECK(table(1, 0) != before(1, 0));

    // freeze_state(false): the rows keep their values, the moments decay as the reference does.
    auto t2 = tensor<T>{{1, 2}, {3, 4}}.requires_grad(true);
    auto opt2 = optim::lazy(optim::adam<T>({t2}, optim::adam_options().lr(0.1)), {t2},
                            optim::lazy_options().freeze_state(false));
    t2.set_grad(tensor<T>{{1, 1}, {1, 1}});
    opt2.step();
    const auto kept = t2.detach().copy();
    t2.set_grad(tensor<T>{{0, 0}, {1, 1}});
    opt2.step();
    CHECK(t2(0, 0) == kept(0, 0));
    // m = 0.9·(0.1·1) = 0.09 for the untouched row
    CHECK(opt2.parameter_state(0)[0](0, 0) == doctest::Approx(0.09).epsilon(1e-6));
  }

  TEST_CASE("lazy updates only the listed parameters lazily") {
    auto table = leaf({1, 2}), dense = leaf({1, 2});
    auto opt = optim::lazy(optim::sgd<double>({table, dense}, optim::sgd_options().lr(1).momentum(0.5)), {table});
    table.set_grad(from_vector<double>({1, 1}));
    dense.set_grad(from_vector<double>({1, 1}));
    opt.step();
    table.set_grad(from_vector<double>({0, 0}));
    dense.set_grad(from_vector<double>({0, 0}));
    opt.step();
    // table keeps [0, 1] (whole rank-1 tensor is one row); dense follows momentum: 0 − 0.5 = −0.5, 1 − 0.5 = 0.5
    check_values(table, {2}, {0, 1});
    check_values(dense, {2}, {-0.5, 0.5});
  }

  TEST_CASE("gradient clipping clips what the wrapped optimizer sees and gives the gradients back") {
    auto w = leaf({3, 0}), b = leaf({4});
    auto opt = optim::gradient_clipping(optim::sgd<double>({w, b}, optim::sgd_options().lr(1)),
                                        optim::gradient_clipping_options().max_norm(1.0));
    w.set_grad(from_vector<double>({3, 0}));
    b.set_grad(from_vector<double>({4}));
    opt.step();
    // ‖(3, 0, 4)‖ = 5: steps g/(5 + 1e-6)
    check_values(w, {2}, {3 - 3 / (5 + 1e-6), 0});
    check_values(b, {1}, {4 - 4 / (5 + 1e-6)});
    CHECK(opt.last_norm() == doctest::Approx(5));
    check_values(w.grad(), {2}, {3, 0});

    auto v = leaf({0, 0});
    auto by_value = optim::gradient_clipping(optim::sgd<double>({v}, optim::sgd_options().lr(1)),
                                             optim::gradient_clipping_options().max_value(1));
    v.set_grad(from_vector<double>({3, -0.5}));
    by_value.step();
    check_values(v, {2}, {-1, 0.5});

    // Inside accumulation it clips the mean: micro-gradients 4 and 2, mean 3, clipped to 3/(3 + 1e-6).
    auto u = leaf({0});
    auto acc =
        optim::gradient_accumulation(optim::gradient_clipping(optim::sgd<double>({u}, optim::sgd_options().lr(1)),
                                                              optim::gradient_clipping_options().max_norm(1)),
                                     2);
    u.set_grad(from_vector<double>({4}));
    acc.step();
    u.set_grad(from_vector<double>({2}));
    acc.step();
    check_values(u, {1}, {-3 / (3 + 1e-6)});
    CHECK_THROWS_WITH_AS(
        optim::gradient_clipping(optim::sgd<double>({u}), optim::gradient_clipping_options().max_norm(-1)),
        "gradient_clipping: max_norm must be >= 0 (got -1)", value_error);
  }

  TEST_CASE("update wrappers save, load and resume identically") {
    testing::check_save_restore<double>([](const params_t& p) {
      return std::make_unique<optim::layer_adaptation<double>>(
          optim::weight_decay(optim::gradient_clipping(optim::adam<double>(p, optim::adam_options().lr(0.02)),
                                                       optim::gradient_clipping_options().max_norm(0.1)),
                              0.05));
    });
    testing::check_save_restore<double>([](const params_t& p) {
      return std::make_unique<optim::piecewise_linear_lr<double>>(
          optim::lazy(optim::sgd<double>(p, optim::sgd_options().lr(0.1).momentum(0.9))),
          optim::schedule_points{{5, 1.0}, {15, 0.2}});
    });
  }
}
