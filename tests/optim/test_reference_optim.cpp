// SPDX-License-Identifier: MIT
// SGD, Adam, AdamW and RMSprop: 20-step trajectories against PyTorch (tests/reference/data/optim.txt).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "optim/problem.hpp"
#include <doctest/doctest.h>

#include <kexue/optim/adam.hpp>
#include <kexue/optim/rmsprop.hpp>
#include <kexue/optim/sgd.hpp>

#include "support/tensor_checks.hpp"

using namespace kexue;
using kexue::testing::optim_problem;
using kexue::testing::optimizer_factory;

namespace {

/// Runs 20 steps and compares w and b after every step with the PyTorch trajectory `<name>.w` [20, 4, 3] and
/// `<name>.b` [20, 3], at 1e-10 in double.
void check_trajectory(const std::string& name, const optimizer_factory<double>& make) {
  CAPTURE(name);
  const testing::reference_file f("optim");
  const auto problem = optim_problem<double>::load();
  const auto ws = f.get(name + ".w"), bs = f.get(name + ".b");
  auto p = problem.parameters();
  auto opt = make(p);
  for (int s = 0; s < 20; ++s) {
    CAPTURE(s);
    problem.step(*opt, p);
    for (index_t i = 0; i < 12; ++i) CHECK(p[0].data()[i] == doctest::Approx(ws.data()[s * 12 + i]).epsilon(1e-10));
    for (index_t i = 0; i < 3; ++i) CHECK(p[1].data()[i] == doctest::Approx(bs.data()[s * 3 + i]).epsilon(1e-10));
  }
}

template <class O, class Options>
optimizer_factory<double> make(Options options) {
  return [options](const std::vector<tensor<double>>& p) { return std::make_unique<O>(p, options); };
}

}  // namespace

TEST_SUITE("optim.reference") {
  TEST_CASE("sgd trajectories equal PyTorch's (plain, momentum, nesterov, dampening with weight decay, groups)") {
    using S = optim::sgd<double>;
    check_trajectory("sgd", make<S>(optim::sgd_options().lr(0.1)));
    check_trajectory("sgd_momentum", make<S>(optim::sgd_options().lr(0.05).momentum(0.9)));
    check_trajectory("sgd_nesterov", make<S>(optim::sgd_options().lr(0.05).momentum(0.9).nesterov(true)));
    check_trajectory("sgd_dampening_weight_decay",
                     make<S>(optim::sgd_options().lr(0.05).momentum(0.8).dampening(0.3).weight_decay(0.01)));
    check_trajectory("sgd_groups", [](const std::vector<tensor<double>>& p) {
      return std::make_unique<S>(std::vector<optim::param_group<double>>{{{p[0]}, 0.05}, {{p[1]}, 0.2}},
                                 optim::sgd_options().lr(0.1).momentum(0.9));
    });
  }

  TEST_CASE("adam and adamw trajectories equal PyTorch's (betas, eps, weight decay, amsgrad)") {
    using A = optim::adam<double>;
    using W = optim::adamw<double>;
    check_trajectory("adam", make<A>(optim::adam_options().lr(0.05)));
    check_trajectory("adam_betas_eps", make<A>(optim::adam_options().lr(0.02).betas(0.8, 0.95).eps(1e-6)));
    check_trajectory("adam_weight_decay", make<A>(optim::adam_options().lr(0.05).weight_decay(0.1)));
    check_trajectory("adam_amsgrad", make<A>(optim::adam_options().lr(0.05).amsgrad(true)));
    check_trajectory("adamw", make<W>(optim::adamw_options().lr(0.05)));
    check_trajectory("adamw_strong", make<W>(optim::adamw_options().lr(0.05).weight_decay(0.5).amsgrad(true)));
  }

  TEST_CASE("rmsprop trajectories equal PyTorch's (plain, centered, momentum, both)") {
    using R = optim::rmsprop<double>;
    check_trajectory("rmsprop", make<R>(optim::rmsprop_options().lr(0.01)));
    check_trajectory("rmsprop_centered", make<R>(optim::rmsprop_options().lr(0.01).alpha(0.9).centered(true)));
    check_trajectory("rmsprop_momentum", make<R>(optim::rmsprop_options().lr(0.01).momentum(0.9).weight_decay(0.01)));
    check_trajectory("rmsprop_centered_momentum",
                     make<R>(optim::rmsprop_options().lr(0.005).momentum(0.5).centered(true).eps(1e-4)));
  }

  TEST_CASE_TEMPLATE("adam in float follows the double trajectory", T, float) {
    const testing::reference_file f("optim");
    const auto problem = optim_problem<T>::load();
    auto p = problem.parameters();
    optim::adam<T> opt(p, optim::adam_options().lr(0.05));
    for (int s = 0; s < 20; ++s) problem.step(opt, p);
    const auto ws = f.get("adam.w"), bs = f.get("adam.b");
    for (index_t i = 0; i < 12; ++i) CHECK(p[0].data()[i] == doctest::Approx(ws.data()[19 * 12 + i]).epsilon(1e-4));
    for (index_t i = 0; i < 3; ++i) CHECK(p[1].data()[i] == doctest::Approx(bs.data()[19 * 3 + i]).epsilon(1e-4));
  }
}
