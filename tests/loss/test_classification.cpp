// SPDX-License-Identifier: MIT
// Tests of loss/classification.hpp: hand-computed values, reductions with weights and masks, errors, NaN,
// gradients to second order (PyTorch equality is in test_classification_reference.cpp).
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/classification.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace kl = kexue::loss;
using kx::index_t;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("loss.classification") {
  TEST_CASE_TEMPLATE("cross_entropy by hand: plain, class weights, label smoothing, ignore_index", T, float, double) {
    const double l3 = std::log(3.0), l43 = std::log(4.0 / 3), l2 = std::log(2.0), l4 = std::log(4.0);
    // row 0: softmax([0, ln 3]) = [1/4, 3/4], target 1: −ln(3/4) = ln(4/3); row 1: [1/2, 1/2]: ln 2
    kx::tensor<T> x = {{0, T(l3)}, {0, 0}};
    kx::tensor<index_t> t = {1, 0};
    check_values(kl::cross_entropy(x, t, kl::cross_entropy_options().reduction(kl::reduction::none)), {2}, {l43, l2});
    check_values(kl::cross_entropy(x, t), {}, {(l43 + l2) / 2});
    // class weights [1, 3]: w_t = [3, 1]; mean = (3·ln(4/3) + ln 2) / (3 + 1)
    check_values(kl::cross_entropy(x, t, kl::cross_entropy_options().weight({1, 3})), {}, {(3 * l43 + l2) / 4});
    // ε = 0.5, C = 2, row 0: 0.5·ln(4/3) + 0.25·(ln 4 + ln(4/3)); row 1: 0.5·ln 2 + 0.25·2 ln 2 = ln 2
    check_values(
        kl::cross_entropy(x, t, kl::cross_entropy_options().label_smoothing(0.5).reduction(kl::reduction::none)), {2},
        {0.75 * l43 + 0.25 * l4, l2});
    // ignore_index drops row 1 entirely: the mean is row 0 alone; none gives 0 there
    kx::tensor<index_t> ti = {1, -100};
    check_values(kl::cross_entropy(x, ti), {}, {l43});
    check_values(kl::cross_entropy(x, ti, kl::cross_entropy_options().reduction(kl::reduction::none)), {2}, {l43, 0});
    check_values(kl::cross_entropy(x, kx::tensor<index_t>{1, 1}, kl::cross_entropy_options().ignore_index(1)), {}, {0});
    // probabilities [0, 1] and [1, 0] give the same as indices [1, 0]
    kx::tensor<T> p = {{0, 1}, {1, 0}};
    check_values(kl::cross_entropy(x, p), {}, {(l43 + l2) / 2});
  }

  TEST_CASE_TEMPLATE("binary_cross_entropy_with_logits and nll_loss by hand", T, float, double) {
    // x = 0, y = 1: ln 2; x = ln 3 (σ = 3/4), y = 0: −ln(1/4) = ln 4; y = 1/2 at x = 0: ln 2
    kx::tensor<T> x = {0, T(std::log(3.0)), 0};
    kx::tensor<T> y = {1, 0, 0.5};
    const double l2 = std::log(2.0), l4 = std::log(4.0);
    check_values(kl::binary_cross_entropy_with_logits(x, y, kl::bce_options().reduction(kl::reduction::none)), {3},
                 {l2, l4, l2});
    // pos_weight 2 doubles the positive term: 2 ln 2; the y = 1/2 entry: 2·0.5·ln 2 + 0.5·ln 2
    check_values(
        kl::binary_cross_entropy_with_logits(x, y, kl::bce_options().pos_weight({2}).reduction(kl::reduction::none)),
        {3}, {2 * l2, l4, 1.5 * l2});
    // sample weights [1, 2, 1]: weighted mean (ln 2 + 2 ln 4 + ln 2) / 4
    kx::tensor<T> w = {1, 2, 1};
    check_values(kl::binary_cross_entropy_with_logits(x, y, {}, w), {}, {(2 * l2 + 2 * l4) / 4});
    // nll_loss picks −log_probs[i, t_i], weighted
    kx::tensor<T> lp = {{-1, -2}, {-3, -4}};
    check_values(kl::nll_loss(lp, kx::tensor<index_t>{1, 0}), {}, {2.5});  // (2 + 3)/2
    check_values(kl::nll_loss(lp, kx::tensor<index_t>{1, 0}, kl::nll_options().weight({1, 4})), {},
                 {2.2});  // w_t = [4, 1]: (4·2 + 1·3)/(4 + 1)
  }

  TEST_CASE("sample weights and masks combine with ignore_index and class weights") {
    kx::tensor<double> x = {{0, std::log(3.0)}, {0, 0}, {1, 2}};
    kx::tensor<index_t> t = {1, 0, -100};
    kx::tensor<double> sw = {2, 1, 5};
    kx::tensor<bool> keep = {true, false, true};
    const double l43 = std::log(4.0 / 3);
    // kept: row 0 only (row 1 masked, row 2 ignored): mean = 2·3·ln(4/3) / (2·3)
    auto o = kl::cross_entropy_options().weight({1, 3});
    CHECK(kl::cross_entropy(x, t, o, {sw, keep}).item() == doctest::Approx(l43).epsilon(1e-12));
    CHECK(kl::cross_entropy(x, t, o.reduction(kl::reduction::sum), {sw, keep}).item() ==
          doctest::Approx(6 * l43).epsilon(1e-12));
    auto none = kl::cross_entropy(x, t, o.reduction(kl::reduction::none), {sw, keep});
    check_values(none, {3}, {6 * l43, 0, 0});
    // everything masked or ignored: 0, not NaN
    kx::tensor<bool> drop = {false, false, false};
    CHECK(kl::cross_entropy(x, t, {}, drop).item() == 0.0);
  }

  TEST_CASE("a NaN logit gives a NaN loss for its sample only") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    kx::tensor<double> x = {{0, nan}, {0, 0}};
    kx::tensor<index_t> t = {0, 0};
    auto none = kl::cross_entropy(x, t, kl::cross_entropy_options().reduction(kl::reduction::none));
    CHECK(std::isnan(none.data()[0]));
    CHECK(none.data()[1] == doctest::Approx(std::log(2.0)));
    CHECK(std::isnan(kl::cross_entropy(x, t).item()));
    CHECK(std::isnan(kl::binary_cross_entropy_with_logits(x, kx::zeros<double>({2, 2})).item()));
  }

  TEST_CASE("errors name the label, the class count and both shapes") {
    auto x = kx::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(kl::cross_entropy(x, kx::tensor<index_t>{0, 3}),
                         "cross_entropy: label 3 is out of range for 3 classes", kx::index_error);
    CHECK_THROWS_WITH_AS(kl::nll_loss(x, kx::tensor<index_t>{-2, 0}),
                         "nll_loss: label -2 is out of range for 3 classes", kx::index_error);
    CHECK_THROWS_WITH_AS(kl::cross_entropy(x, kx::tensor<index_t>{0, 1, 2}),
                         "cross_entropy: target shape [3] does not match logits shape [2, 3] (expected [2])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::cross_entropy(x, kx::zeros<double>({2, 4})),
                         "cross_entropy: target shape [2, 4] differs from logits shape [2, 3]", kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::cross_entropy(x, kx::tensor<index_t>{0, 1}, kl::cross_entropy_options().weight({1, 2})),
                         "cross_entropy: weight has 2 entries, expected one per class (3)", kx::shape_error);
    CHECK_THROWS_WITH_AS(
        kl::cross_entropy(x, kx::tensor<index_t>{0, 1}, kl::cross_entropy_options().label_smoothing(1.5)),
        "cross_entropy: label_smoothing must be in [0, 1] (got 1.5)", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::binary_cross_entropy_with_logits(x, kx::zeros<double>({2})),
                         "binary_cross_entropy_with_logits: target shape [2] differs from logits shape [2, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::binary_cross_entropy_with_logits(x, x, kl::bce_options().pos_weight({1, 2})),
                         "binary_cross_entropy_with_logits: pos_weight has 2 entries, expected 1 or the last axis "
                         "size (3)",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::cross_entropy(x, kx::tensor<index_t>{0, 1}, {}, kx::tensor<bool>{true}),
                         "cross_entropy: mask shape [1] differs from the per-sample loss shape [2]", kx::shape_error);
  }

  TEST_CASE("gradients to second order") {
    kx::generator gen(11);
    auto x = kx::randn<double>({4, 3}, gen).requires_grad(true);
    kx::tensor<index_t> t = {2, -100, 0, 1};
    auto o = kl::cross_entropy_options().weight({0.5, 2, 1}).label_smoothing(0.2);
    auto ce = [t, o](const V& v) { return kl::cross_entropy(v[0], t, o); };
    check_gradients(ce, {x});
    check_second_order(ce, {x});
    auto q = kx::rand<double>({4, 3}, gen).requires_grad(true);
    auto cep = [](const V& v) {
      return kl::cross_entropy(v[0], v[1], kl::cross_entropy_options().label_smoothing(0.1));
    };
    check_gradients(cep, {x, q});
    check_second_order(cep, {x, q});
    auto sw = kx::rand<double>({4, 1}, gen, 0.5, 1.5).requires_grad(true);
    auto bce = [](const V& v) {
      return kl::binary_cross_entropy_with_logits(v[0], v[1], kl::bce_options().pos_weight({1.5, 0.5, 2}), v[2]);
    };
    check_gradients(bce, {x, q, sw});
    check_second_order(bce, {x, q, sw});
  }
}
