// SPDX-License-Identifier: MIT
// Learning-rate schedules: step decay and reduce-on-plateau against PyTorch, cosine with warm-up and
// piecewise linear by hand, over plain optimizers, groups and wrapper stacks.
#include <cmath>
#include <string>
#include <vector>

#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/optim/gradient_accumulation.hpp>
#include <kexue/optim/lookahead.hpp>
#include <kexue/optim/schedule.hpp>
#include <kexue/optim/sgd.hpp>

using namespace kexue;

namespace {
tensor<double> leaf() { return zeros<double>({1}).requires_grad(true); }

/// Feeds `<name>.metric` to a reduce_on_plateau over SGD(lr=0.1) and compares the lr after each call with
/// PyTorch's `<name>.lr`.
void check_plateau(const std::string& name, const optim::plateau_options& options) {
  CAPTURE(name);
  const testing::reference_file f("optim");
  const auto metric = f.get(name + ".metric"), lr = f.get(name + ".lr");
  auto w = leaf();
  optim::sgd<double> opt({w}, optim::sgd_options().lr(0.1));
  optim::reduce_on_plateau<double> plateau(opt, options);
  CHECK(opt.lr() == lr.data()[0]);
  for (index_t k = 0; k < metric.numel(); ++k) {
    CAPTURE(k);
    plateau.step(metric.data()[k]);
    CHECK(opt.lr() == doctest::Approx(lr.data()[k + 1]).epsilon(1e-15));
  }
}
}  // namespace

TEST_SUITE("optim.schedule") {
  TEST_CASE("step_lr equals PyTorch's StepLR") {
    const testing::reference_file f("optim");
    const auto lr = f.get("step_lr.lr");
    auto w = leaf();
    optim::sgd<double> opt({w}, optim::sgd_options().lr(0.1));
    optim::step_lr<double> schedule(opt, 3, 0.5);
    for (index_t t = 0; t < lr.numel(); ++t) {
      CHECK(opt.lr() == doctest::Approx(lr.data()[t]).epsilon(1e-15));
      opt.step();
      schedule.step();
    }
    CHECK_THROWS_WITH_AS(optim::step_lr<double>(opt, 0), "step_lr: step_size must be >= 1 (got 0)", value_error);
    CHECK_THROWS_WITH_AS(optim::step_lr<double>(opt, 2, 1.5), "step_lr: gamma must be in (0, 1] (got 1.5)",
                         value_error);
  }

  TEST_CASE("reduce_on_plateau equals PyTorch's ReduceLROnPlateau (min/max, rel/abs, cooldown, min_lr)") {
    using P = optim::plateau_options;
    check_plateau("plateau_min_rel", P().factor(0.5).patience(2));
    check_plateau("plateau_min_abs_cooldown",
                  P().factor(0.1).patience(1).threshold(0.05, P::threshold_mode_t::abs).cooldown(2).min_lr(0.0005));
    check_plateau("plateau_max_rel", P().mode(P::mode_t::max).factor(0.3).patience(0).threshold(0.1));
    auto w = leaf();
    optim::sgd<double> opt({w});
    CHECK_THROWS_WITH_AS(optim::reduce_on_plateau<double>(opt, P().factor(1)),
                         "reduce_on_plateau: factor must be in (0, 1) (got 1)", value_error);
    CHECK_THROWS_WITH_AS(optim::reduce_on_plateau<double>(opt, P().patience(-1)),
                         "reduce_on_plateau: patience must be >= 0 (got -1)", value_error);
  }

  TEST_CASE("reduce_on_plateau resumes from its saved state") {
    auto w = leaf();
    optim::sgd<double> a({w}, optim::sgd_options().lr(1)), b({leaf()}, optim::sgd_options().lr(1));
    optim::reduce_on_plateau<double> pa(a, optim::plateau_options().patience(1)),
        pb(b, optim::plateau_options().patience(1));
    const double metrics[] = {1, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
    for (int k = 0; k < 3; ++k) pa.step(metrics[k]);
    pb.load_state(pa.save_state());
    b.set_lr(a.lr());
    for (int k = 3; k < 7; ++k) CHECK(pa.step(metrics[k]) == pb.step(metrics[k]));
    CHECK(a.lr() == b.lr());
    CHECK(pb.best() == 0.5);
  }

  TEST_CASE("cosine schedule: linear warm-up from 0, cosine down to the minimum, then held") {
    auto w = leaf();
    optim::sgd<double> opt({w}, optim::sgd_options().lr(1));
    optim::cosine_schedule<double> schedule(opt,
                                            optim::cosine_options().warmup_steps(2).total_steps(6).min_factor(0.1));
    // t: 0, 1 warm-up (0, 0.5); 2: 1; 3: 0.1 + 0.9·½(1 + cos(π/4)); 4: 0.1 + 0.45 = 0.55; 5: 0.1 + 0.9·½(1 − cos(π/4));
    // 6, 7: 0.1
    const double c = std::cos(3.14159265358979323846 / 4);
    const double expected[] = {0, 0.5, 1, 0.1 + 0.45 * (1 + c), 0.55, 0.1 + 0.45 * (1 - c), 0.1, 0.1};
    for (int t = 0; t < 8; ++t) {
      CAPTURE(t);
      CHECK(opt.lr() == doctest::Approx(expected[t]).epsilon(1e-15));
      schedule.step();
    }
    CHECK_THROWS_WITH_AS(optim::cosine_schedule<double>(opt, optim::cosine_options().warmup_steps(5).total_steps(5)),
                         "cosine_schedule: total_steps must be > warmup_steps (got 5 and 5)", value_error);
  }

  TEST_CASE("piecewise linear schedule scales every group's base lr, through a wrapper stack") {
    auto a = leaf(), b = leaf();
    using group = optim::param_group<double>;
    auto opt = optim::lookahead(optim::gradient_accumulation(
        optim::adam<double>(std::vector<group>{group({a}, 0.1), group({b}, 0.01)}, optim::adam_options()), 2));
    optim::piecewise_linear_schedule<double> schedule(opt, {{2, 1.0}, {4, 0.5}});
    // multipliers 0, 0.5, 1, 0.75, 0.5, 0.5
    const double expected[] = {0, 0.5, 1, 0.75, 0.5, 0.5};
    for (int t = 0; t < 6; ++t) {
      CHECK(*opt.param_groups()[0].lr == doctest::Approx(0.1 * expected[t]).epsilon(1e-15));
      CHECK(*opt.inner().param_groups()[1].lr == doctest::Approx(0.01 * expected[t]).epsilon(1e-15));
      schedule.step();
    }
    CHECK(schedule.base_lrs() == std::vector<double>{0.1, 0.01});
    // Saved state round trip.
    optim::piecewise_linear_schedule<double> other(opt, {{2, 1.0}, {4, 0.5}});
    other.load_state(schedule.save_state());
    CHECK(other.steps() == 6);
    CHECK(other.base_lrs() == schedule.base_lrs());
    CHECK(opt.lr() == doctest::Approx(0.05));
  }
}
