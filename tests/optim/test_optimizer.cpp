// SPDX-License-Identifier: MIT
// Optimizer base: hyper-parameter checks, parameter groups, shared and gradient-less parameters, lr access,
// gradient clipping, and saved state (round trip, mismatches).
#include <memory>
#include <vector>

#include "optim/problem.hpp"
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/optim/rmsprop.hpp>
#include <kexue/optim/sgd.hpp>

#include "support/fixtures.hpp"
#include "support/tensor_checks.hpp"

using namespace kexue;
using kexue::testing::check_save_restore;
using kexue::testing::check_values;

namespace {
using kexue::testing::leaf;
}  // namespace

TEST_SUITE("optim.optimizer") {
  TEST_CASE("bad hyper-parameters are rejected with the value in the message") {
    auto w = leaf({1, 2});
    using optim::adam_options;
    CHECK_THROWS_WITH_AS(optim::adam<double>({w}, adam_options().lr(-0.1)),
                         "adam: lr must be >= 0 and finite (got -0.1)", value_error);
    CHECK_THROWS_WITH_AS(optim::adam<double>({w}, adam_options().betas(1.0, 0.999)),
                         "adam: beta1 must be in [0, 1) (got 1)", value_error);
    CHECK_THROWS_WITH_AS(optim::adam<double>({w}, adam_options().betas(0.9, -0.5)),
                         "adam: beta2 must be in [0, 1) (got -0.5)", value_error);
    CHECK_THROWS_WITH_AS(optim::adam<double>({w}, adam_options().eps(-1)), "adam: eps must be >= 0 (got -1)",
                         value_error);
    CHECK_THROWS_WITH_AS(optim::adamw<double>({w}, optim::adamw_options().weight_decay(-1)),
                         "adamw: weight_decay must be >= 0 (got -1)", value_error);
    CHECK_THROWS_WITH_AS(optim::sgd<double>({w}, optim::sgd_options().momentum(-0.9)),
                         "sgd: momentum must be >= 0 (got -0.9)", value_error);
    CHECK_THROWS_WITH_AS(optim::sgd<double>({w}, optim::sgd_options().nesterov(true)),
                         "sgd: nesterov momentum requires momentum > 0 and dampening 0 (got momentum 0, dampening 0)",
                         value_error);
    CHECK_THROWS_WITH_AS(optim::sgd<double>({w}, optim::sgd_options().momentum(0.9).dampening(2)),
                         "sgd: dampening must be in [0, 1] (got 2)", value_error);
    CHECK_THROWS_WITH_AS(optim::rmsprop<double>({w}, optim::rmsprop_options().alpha(1.5)),
                         "rmsprop: alpha must be in [0, 1] (got 1.5)", value_error);
    optim::sgd<double> opt({w});
    CHECK_THROWS_WITH_AS(opt.set_lr(-1), "sgd: lr must be >= 0 and finite (got -1)", value_error);
    CHECK_THROWS_WITH_AS(opt.set_lr(1, 0.1), "sgd: group 1 out of range (1 groups)", index_error);
  }

  TEST_CASE("parameter lists are checked: empty, undefined, non-leaf, in two groups") {
    auto w = leaf({1, 2});
    CHECK_THROWS_WITH_AS(optim::sgd<double>(std::vector<tensor<double>>{}), "sgd: no parameters to optimize",
                         value_error);
    CHECK_THROWS_WITH_AS(optim::sgd<double>({tensor<double>()}), "sgd: parameter group 0 holds an undefined tensor",
                         value_error);
    CHECK_THROWS_WITH_AS(optim::sgd<double>({w * 2.0}),
                         "sgd: cannot optimize a non-leaf tensor (shape [2], produced by an op); pass the leaf "
                         "parameter",
                         value_error);
    using group = optim::param_group<double>;
    CHECK_THROWS_WITH_AS(optim::sgd<double>(std::vector<group>{group({w}), group({w})}, {}),
                         "sgd: a parameter of shape [2] appears in more than one parameter group", value_error);
  }

  TEST_CASE("a parameter listed twice is updated once, one without a gradient is skipped") {
    auto w = leaf({1, 2});
    auto frozen = leaf({5});
    optim::sgd<double> opt({w, w, frozen}, optim::sgd_options().lr(0.5));
    CHECK(opt.parameters().size() == 2);
    w.set_grad(from_vector<double>({1, -2}));
    opt.step();
    // w − 0.5·g = [1 − 0.5, 2 + 1] (once, not twice); frozen has no gradient and keeps its value.
    check_values(w, {2}, {0.5, 3});
    check_values(frozen, {1}, {5});
    CHECK(opt.parameter_steps(0) == 1);
    CHECK(opt.parameter_steps(1) == 0);
    opt.zero_grad();
    CHECK_FALSE(w.grad().defined());
  }

  TEST_CASE("groups take their own lr and weight decay, others from the options; set_lr changes them") {
    auto a = leaf({1}), b = leaf({1});
    using group = optim::param_group<double>;
    optim::sgd<double> opt(std::vector<group>{group({a}), group({b}, 0.5, 0.1)}, optim::sgd_options().lr(0.1));
    CHECK(opt.lr() == 0.1);
    CHECK(*opt.param_groups()[0].weight_decay == 0);
    a.set_grad(from_vector<double>({1}));
    b.set_grad(from_vector<double>({1}));
    opt.step();
    // a: 1 − 0.1·1 = 0.9; b: 1 − 0.5·(1 + 0.1·1) = 0.45
    check_values(a, {1}, {0.9});
    check_values(b, {1}, {0.45});
    opt.set_lr(0.2);
    CHECK(*opt.param_groups()[1].lr == 0.2);
  }

  TEST_CASE("the step updates in place, bumps the version and records no graph") {
    auto w = leaf({1, 2});
    const auto data = w.data();
    const auto version = w.version();
    optim::adam<double> opt({w});
    w.set_grad(from_vector<double>({1, 1}));
    CHECK(opt.step());
    CHECK(w.data() == data);
    CHECK(w.version() > version);
    CHECK(w.is_leaf());
    // First Adam step moves every coordinate by lr·sign(g) (m̂ = g, v̂ = g²): 1 − 0.001, 2 − 0.001.
    check_values(w, {2}, {0.999, 1.999}, 1e-9, 1e-9);
  }

  TEST_CASE("clip_grad_norm scales to the global norm and returns it; clip_grad_value clamps") {
    auto a = leaf({3, 0}), b = leaf({4});
    auto c = leaf({1});  // no gradient: ignored
    a.set_grad(from_vector<double>({3, 0}));
    b.set_grad(from_vector<double>({4}));
    // ‖(3, 0, 4)‖ = 5 > 1: every gradient × 1/(5 + 1e-6)
    CHECK(optim::clip_grad_norm<double>({a, b, c, b}, 1.0) == doctest::Approx(5.0));
    check_values(a.grad(), {2}, {3 / (5 + 1e-6), 0});
    check_values(b.grad(), {1}, {4 / (5 + 1e-6)});
    a.set_grad(from_vector<double>({3, -1}));
    CHECK(optim::clip_grad_norm<double>({a}, 10.0, std::numeric_limits<double>::infinity()) == 3.0);
    check_values(a.grad(), {2}, {3, -1});  // below the bound: unchanged
    optim::clip_grad_value<double>({a}, 2.0);
    check_values(a.grad(), {2}, {2, -1});
    CHECK_THROWS_WITH_AS(optim::clip_grad_norm<double>({a}, -1.0), "clip_grad_norm: max_norm must be >= 0 (got -1)",
                         value_error);
    CHECK_THROWS_WITH_AS(optim::clip_grad_value<double>({a}, -1.0), "clip_grad_value: clip_value must be >= 0 (got -1)",
                         value_error);
  }

  TEST_CASE("save, load and resume gives the identical trajectory for sgd, adam, adamw and rmsprop") {
    using P = std::vector<tensor<double>>;
    check_save_restore<double>([](const P& p) {
      return std::make_unique<optim::sgd<double>>(p, optim::sgd_options().lr(0.05).momentum(0.9).nesterov(true));
    });
    check_save_restore<double>([](const P& p) {
      return std::make_unique<optim::adam<double>>(p, optim::adam_options().lr(0.05).amsgrad(true));
    });
    check_save_restore<double>(
        [](const P& p) { return std::make_unique<optim::adamw<double>>(p, optim::adamw_options().lr(0.05)); });
    check_save_restore<double>([](const P& p) {
      return std::make_unique<optim::rmsprop<double>>(p,
                                                      optim::rmsprop_options().lr(0.01).momentum(0.5).centered(true));
    });
  }

  TEST_CASE("the saved state names its entries and a mismatched state is rejected without changes") {
    const auto problem = testing::optim_problem<double>::load();
    auto p = problem.parameters();
    optim::sgd<double> opt(p, optim::sgd_options().lr(0.05).momentum(0.9));
    for (int s = 0; s < 3; ++s) problem.step(opt, p);
    const auto saved = opt.save_state();
    CHECK(saved.keys() == std::vector<std::string>{"groups", "group.0.lr", "group.0.weight_decay", "param.0.step",
                                                   "param.0.momentum_buffer", "param.1.step",
                                                   "param.1.momentum_buffer"});
    CHECK(saved.get<index_t>("param.1.step").item() == 3);

    auto w_only = problem.parameters();
    optim::sgd<double> one({w_only[0]}, optim::sgd_options().momentum(0.9));
    CHECK_THROWS_WITH_AS(one.load_state(saved),
                         "sgd::load_state: the state has groups of [2] parameters, the optimizer [1]", value_error);

    auto wt = zeros<double>({3, 4}).requires_grad(true);
    optim::sgd<double> other_shape({wt, p[1].detach().copy().requires_grad(true)}, optim::sgd_options().momentum(0.9));
    CHECK_THROWS_WITH_AS(other_shape.load_state(saved),
                         "sgd::load_state: entry 'param.0.momentum_buffer' has shape [4, 3], the parameter has shape "
                         "[3, 4]",
                         shape_error);

    auto q = problem.parameters();
    optim::adam<double> adam(q, optim::adam_options().lr(0.05));
    problem.step(adam, q);
    const auto adam_before = adam.save_state();
    CHECK_THROWS_WITH_AS(adam.load_state(saved),
                         "adam::load_state: entry 'param.0.exp_avg' is missing but parameter 0 has step 3 (state saved "
                         "with other options or by another optimizer?)",
                         value_error);
    // Untouched: same state as before the failed load.
    const auto adam_after = adam.save_state();
    CHECK(adam_after.get<index_t>("param.0.step").item() == 1);
    CHECK(adam_after.get<double>("param.0.exp_avg").to_vector() ==
          adam_before.get<double>("param.0.exp_avg").to_vector());

    optim::sgd<double> no_momentum(problem.parameters());
    CHECK_THROWS_WITH_AS(
        no_momentum.load_state(saved),
        "sgd::load_state: entry 'param.0.momentum_buffer' is present but parameter 0 has step 3 (state "
        "saved with other options or by another optimizer?)",
        value_error);
  }

  TEST_CASE("wrong dtype and unexpected entries are reported") {
    auto w = leaf({1, 2});
    optim::sgd<double> opt({w});
    auto s = opt.save_state();
    s.insert("param.0.exp_avg", zeros<double>({2}));
    CHECK_THROWS_WITH_AS(opt.load_state(s),
                         "sgd::load_state: unexpected entry 'param.0.exp_avg' (state saved by another optimizer?)",
                         value_error);
    auto extra_group = opt.save_state();
    extra_group.insert("group.1.lr", scalar<double>(0.1));
    CHECK_THROWS_WITH_AS(opt.load_state(extra_group),
                         "sgd::load_state: unexpected entry 'group.1.lr' (state saved by another optimizer?)",
                         value_error);
    auto w32 = from_vector<float>({1, 2}).requires_grad(true);
    auto w64 = leaf({1, 2});
    optim::sgd<double> f64({w64}, optim::sgd_options().momentum(0.5));
    w64.set_grad(from_vector<double>({1, 1}));
    f64.step();
    optim::sgd<float> f32m({w32}, optim::sgd_options().momentum(0.5));
    CHECK_THROWS_WITH_AS(f32m.load_state(f64.save_state()),
                         "state_dict::get: entry 'param.0.momentum_buffer' holds float64, requested float32",
                         value_error);
  }
}
