// SPDX-License-Identifier: MIT
// Tests of loss/margin_softmax.hpp: AM-softmax (A06, Appendix C 1) and the simpler A-softmax.
#include <cmath>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/margin_softmax.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace kl = kexue::loss;
using kx::index_t;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("loss.margin_softmax") {
  TEST_CASE_TEMPLATE("AM-softmax by hand: margin on the target cosine only, then scale everything", T, float, double) {
    // cos = [0.5, 0.2], t = 0, s = 30, m = 0.35: logits [30·0.15, 30·0.2] = [4.5, 6]: −4.5 + ln(e^4.5 + e^6) = ln(1 +
    // e^1.5)
    kx::tensor<T> c = {{0.5, 0.2}};
    kx::tensor<index_t> t = {0};
    check_values(kl::am_softmax_loss(c, t), {}, {std::log1p(std::exp(1.5))});
    // t = 1: logits [15, 30·(−0.15)] = [15, −4.5]: ln(1 + e^19.5)
    check_values(kl::am_softmax_loss(c, kx::tensor<index_t>{1}), {}, {std::log1p(std::exp(19.5))}, 1e-6);
  }

  TEST_CASE("with m = 0 AM-softmax is cross-entropy on s·cos (A06 (d))") {
    kx::generator gen(41);
    auto f = kx::randn<double>({4, 5}, gen);
    auto w = kx::randn<double>({3, 5}, gen);
    kx::tensor<index_t> t = {0, 2, 1, 2};
    auto cos = kl::cosine_logits(f, w);
    kx::testing::check_close(kl::am_softmax_loss(f, w, t, kl::am_softmax_options().m(0).s(10)),
                             kl::cross_entropy(cos * 10.0, t));
    // cosines are cosines: within [−1, 1], 1 for a class vector parallel to a feature
    auto same = kl::cosine_logits(kx::tensor<double>{{3, 4}}, kx::tensor<double>{{0.6, 0.8}, {-4, 3}});
    check_values(same, {1, 2}, {1, 0});
    // ignore_index, weights and masks behave as in cross_entropy
    kx::tensor<index_t> ti = {0, -100, 1, 2};
    kx::tensor<double> sw = {1, 1, 2, 1};
    kx::tensor<bool> keep = {true, true, true, false};
    const auto none = kl::am_softmax_loss(cos, ti, kl::am_softmax_options().reduction(kl::reduction::none), {sw, keep});
    const double* n = none.data();
    CHECK(n[1] == 0.0);
    CHECK(n[3] == 0.0);
    CHECK(kl::am_softmax_loss(cos, ti, {}, {sw, keep}).item() == doctest::Approx((n[0] + n[2]) / 3));
  }

  TEST_CASE("simpler A-softmax by hand: psi = min(cos 4θ, cos θ) on the target") {
    // c_t = 0.9: T_4(0.9) = 8·0.6561 − 8·0.81 + 1 = −0.2312 < 0.9; other cosine 0.2; s = 30:
    // logits [−6.936, 6]: ln(1 + e^{12.936})
    kx::tensor<double> c = {{0.9, 0.2}};
    check_values(kl::simple_a_softmax_loss(c, kx::tensor<index_t>{0}), {}, {std::log1p(std::exp(12.936))}, 1e-12);
    // m = 1 is plain cross-entropy on s·cos
    check_values(kl::simple_a_softmax_loss(c, kx::tensor<index_t>{0}, kl::simple_a_softmax_options().m(1)), {},
                 {std::log1p(std::exp(30 * (0.2 - 0.9)))}, 1e-12);
  }

  TEST_CASE("gradients to features and class vectors, to second order") {
    kx::generator gen(42);
    auto f = kx::randn<double>({3, 4}, gen).requires_grad(true);
    auto w = kx::randn<double>({5, 4}, gen).requires_grad(true);
    kx::tensor<index_t> t = {4, 0, 2};
    auto am = [t](const V& v) { return kl::am_softmax_loss(v[0], v[1], t, kl::am_softmax_options().s(8)); };
    check_gradients(am, {f, w});
    check_second_order(am, {f, w});
    auto sa = [t](const V& v) {
      return kl::simple_a_softmax_loss(kl::cosine_logits(v[0], v[1]), t, kl::simple_a_softmax_options().s(8));
    };
    check_gradients(sa, {f, w});
    check_second_order(sa, {f, w});
  }

  TEST_CASE("errors name the loss, the label and the shapes") {
    auto c = kx::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(kl::am_softmax_loss(c, kx::tensor<index_t>{0, 3}),
                         "am_softmax_loss: label 3 is out of range for 3 classes", kx::index_error);
    CHECK_THROWS_WITH_AS(kl::am_softmax_loss(c, kx::tensor<index_t>{0}),
                         "am_softmax_loss: target shape [1] does not match cosines shape [2, 3] (expected [2])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::am_softmax_loss(c, kx::tensor<index_t>{0, 1}, kl::am_softmax_options().s(0)),
                         "am_softmax_loss: s must be positive (got 0)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::am_softmax_loss(c, kx::tensor<index_t>{0, 1}, kl::am_softmax_options().m(-0.1)),
                         "am_softmax_loss: m must be ≥ 0 (got -0.1)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::simple_a_softmax_loss(c, kx::tensor<index_t>{0, 1}, kl::simple_a_softmax_options().m(0)),
                         "simple_a_softmax_loss: m must be ≥ 1 (got 0)", kx::value_error);
    CHECK_THROWS_WITH_AS(
        kl::cosine_logits(kx::zeros<double>({4, 16}), kx::zeros<double>({5, 8})),
        "cosine_logits: class_weight shape [5, 8] does not fit features shape [4, 16] (expected [C, 16])",
        kx::shape_error);
  }
}
