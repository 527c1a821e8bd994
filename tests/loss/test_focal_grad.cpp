// SPDX-License-Identifier: MIT
// loss/focal.hpp: gradients to second order, reductions with weights and masks, and torchvision's
// sigmoid_focal_loss formula from tests/reference/data/loss_classification.txt.
#include <string>
#include <vector>

#include "reference/reference_check.hpp"
#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/focal.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace kl = kexue::loss;
using kx::index_t;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using kx::testing::tensors;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("loss.focal") {
  TEST_CASE("sigmoid_focal_loss equals torchvision's formula, values and gradients to second order") {
    const kx::testing::reference_file file("loss_classification");
    const std::vector<std::pair<std::string, kl::sigmoid_focal_options>> cases = {
        {"sigmoid_focal_none", kl::sigmoid_focal_options().reduction(kl::reduction::none)},
        {"sigmoid_focal_mean", kl::sigmoid_focal_options()},
        {"sigmoid_focal_sum", kl::sigmoid_focal_options().reduction(kl::reduction::sum)},
        {"sigmoid_focal_soft_targets", kl::sigmoid_focal_options().alpha(0.5).gamma(1.5)},
        {"sigmoid_focal_no_alpha", kl::sigmoid_focal_options().alpha(-1).gamma(3)},
    };
    for (const auto& [name, o] : cases) {
      kx::testing::check_case(file, name, {"logits", "target"},
                              [o = o](const tensors& v) { return tensors{kl::sigmoid_focal_loss(v[0], v[1], o)}; });
    }
  }

  TEST_CASE("binary losses: gradients to logits, targets and weights, to second order") {
    kx::generator gen(21);
    auto x = kx::randn<double>({3, 4}, gen).requires_grad(true);
    auto y = kx::rand<double>({3, 4}, gen).requires_grad(true);
    auto w = kx::rand<double>({3, 1}, gen, 0.5, 1.5).requires_grad(true);
    const kx::testing::double_fn fns[] = {
        [](const V& v) { return kl::sigmoid_focal_loss(v[0], v[1], kl::sigmoid_focal_options(), v[2]); },
        [](const V& v) { return kl::softened_bce_with_logits(v[0], v[1], kl::softened_options().k(2), v[2]); },
        [](const V& v) { return kl::power_bce_with_logits(v[0], v[1], kl::power_bce_options().n(4), v[2]); },
        [](const V& v) { return kl::margin_truncated_bce_with_logits(v[0], v[1], {}, v[2]); },
    };
    for (const auto& fn : fns) {
      check_gradients(fn, {x, y, w});
      check_second_order(fn, {x, y, w});
    }
    // the probability form, away from 0 and 1
    auto p = kx::rand<double>({3, 4}, gen, 0.1, 0.9).requires_grad(true);
    auto trunc = [](const V& v) { return kl::margin_truncated_bce(v[0], v[1]); };
    check_gradients(trunc, {p, y});
    check_second_order(trunc, {p, y});
    // the pⁿ trick on both sides of its branch point a = −ln 2 (σ(x)⁴ = 1/2 at x ≈ 1.68)
    kx::tensor<double> around = {1.5, 1.6, 1.75, 1.9, -3, 4};
    around.requires_grad(true);
    auto pw = [](const V& v) {
      return kl::power_bce_with_logits(v[0], kx::zeros<double>({6}), kl::power_bce_options().n(4));
    };
    check_gradients(pw, {around});
    check_second_order(pw, {around});
  }

  TEST_CASE("multi-class losses: gradients to second order, weights and masks") {
    kx::generator gen(22);
    auto x = kx::randn<double>({4, 3}, gen).requires_grad(true);
    kx::tensor<index_t> t = {2, -100, 0, 1};
    kx::tensor<bool> keep = {true, true, false, true};
    auto w = kx::rand<double>({4}, gen, 0.5, 1.5).requires_grad(true);
    auto focal = [t, keep](const V& v) {
      return kl::softmax_focal_loss(v[0], t, kl::softmax_focal_options().alpha({0.5, 1, 2}), {v[1], keep});
    };
    auto soft = [t, keep](const V& v) {
      return kl::softened_cross_entropy(v[0], t, kl::softened_options().k(1.5), {v[1], keep});
    };
    auto trunc = [t, keep](const V& v) {
      return kl::margin_truncated_cross_entropy(v[0], t, kl::margin_truncated_options().margin(0.9), {v[1], keep});
    };
    for (const auto& fn :
         {kx::testing::double_fn(focal), kx::testing::double_fn(soft), kx::testing::double_fn(trunc)}) {
      check_gradients(fn, {x, w});
      check_second_order(fn, {x, w});
    }
    // kept rows are 0 and 3 (1 ignored, 2 masked): the weighted mean divides by w0 + w3 (not by α)
    auto none = kl::softmax_focal_loss(x.detach(), t, kl::softmax_focal_options().reduction(kl::reduction::none),
                                       {w.detach(), keep});
    const double* n = none.data();
    CHECK(n[1] == 0.0);
    CHECK(n[2] == 0.0);
    const double expected = (n[0] + n[3]) / (w.data()[0] + w.data()[3]);
    check_values(kl::softmax_focal_loss(x.detach(), t, {}, {w.detach(), keep}), {}, {expected});
  }
}
