// SPDX-License-Identifier: MIT
// Tests of loss/f1.hpp: the soft macro-F1 loss of A01 (exact on hard predictions, weights, masks, gradients).
#include <cmath>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/f1.hpp>
#include <kexue/ops/join.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace kl = kexue::loss;
using kx::index_t;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("loss.f1") {
  TEST_CASE_TEMPLATE("on hard one-hot predictions it is -log of the exact macro-F1 (up to eps)", T, float, double) {
    // labels [0, 0, 1, 1], predictions [0, 1, 1, 1]:
    // class 0: TP 1, FP 0, FN 1 → F1 = 2/3 (soft: 2·1 / (2 + 1 + 4ε)); class 1: TP 2, FP 1 → F1 = 4/5 (2·2 / (2 + 3 +
    // 4ε))
    kx::tensor<index_t> labels = {0, 0, 1, 1};
    kx::tensor<T> pred = {{1, 0}, {0, 1}, {0, 1}, {0, 1}};
    const double e = 1e-7;
    const double soft = (2.0 / (3 + 4 * e) + 4.0 / (5 + 4 * e)) / 2;
    check_values(kl::soft_macro_f1_loss(pred, labels, kl::soft_f1_options().from_logits(false)), {},
                 {-std::log(soft + e)});
    CHECK(soft == doctest::Approx(11.0 / 15));
    // one-hot targets give the same as indices; perfect predictions give ≈ 0
    check_values(kl::soft_macro_f1_loss(pred, kx::one_hot<T>(labels, 2), kl::soft_f1_options().from_logits(false)), {},
                 {-std::log(soft + e)});
    CHECK(std::abs(kl::soft_macro_f1_loss(kx::one_hot<T>(labels, 2), labels, kl::soft_f1_options().from_logits(false))
                       .item()) < 1e-5);
  }

  TEST_CASE("a masked sample drops out of both sums; weights scale it") {
    kx::generator gen(31);
    auto x = kx::randn<double>({5, 3}, gen);
    kx::tensor<index_t> t = {0, 2, 1, 1, 0};
    kx::tensor<bool> keep = {true, true, false, true, true};
    kx::tensor<double> x4 = {{x(0, 0), x(0, 1), x(0, 2)},
                             {x(1, 0), x(1, 1), x(1, 2)},
                             {x(3, 0), x(3, 1), x(3, 2)},
                             {x(4, 0), x(4, 1), x(4, 2)}};
    kx::tensor<index_t> t4 = {0, 2, 1, 0};
    check_values(kl::soft_macro_f1_loss(x, t, {}, keep), {}, {kl::soft_macro_f1_loss(x4, t4).item()});
    // weight 2 on a sample = the sample twice
    kx::tensor<double> w = {2, 1, 1, 1, 1};
    auto x6 = kx::concat({x, kx::reshape(kx::tensor<double>{x(0, 0), x(0, 1), x(0, 2)}, {1, 3})}, 0);
    kx::tensor<index_t> t6 = {0, 2, 1, 1, 0, 0};
    check_values(kl::soft_macro_f1_loss(x, t, {}, w), {}, {kl::soft_macro_f1_loss(x6, t6).item()}, 1e-12, 1e-12);
  }

  TEST_CASE("gradients to second order, through logits, soft targets and weights") {
    kx::generator gen(32);
    auto x = kx::randn<double>({4, 3}, gen).requires_grad(true);
    auto y = kx::rand<double>({4, 3}, gen).requires_grad(true);
    auto w = kx::rand<double>({4}, gen, 0.5, 1.5).requires_grad(true);
    kx::tensor<bool> keep = {true, false, true, true};
    auto fn = [keep](const V& v) { return kl::soft_macro_f1_loss(v[0], v[1], {}, {v[2], keep}); };
    check_gradients(fn, {x, y, w});
    check_second_order(fn, {x, y, w});
  }

  TEST_CASE("errors") {
    auto x = kx::zeros<double>({4, 3});
    CHECK_THROWS_WITH_AS(kl::soft_macro_f1_loss(x, kx::zeros<double>({4, 2})),
                         "soft_macro_f1_loss: target shape [4, 2] differs from input shape [4, 3]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::soft_macro_f1_loss(kx::zeros<double>({3}), kx::zeros<double>({3})),
                         "soft_macro_f1_loss: input must have batch axes and a class axis, got shape [3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::soft_macro_f1_loss(x, kx::tensor<index_t>{0, 1, 4, 2}),
                         "soft_macro_f1_loss: label 4 is out of range for 3 classes", kx::index_error);
    CHECK_THROWS_WITH_AS(kl::soft_macro_f1_loss(x, kx::tensor<index_t>{0, 1, 2, 2}, {}, kx::tensor<bool>{true}),
                         "soft_macro_f1_loss: mask shape [1] differs from the per-sample loss shape [4]",
                         kx::shape_error);
  }
}
