// SPDX-License-Identifier: MIT
// Tests of ops/cross_entropy.hpp: softmax_cross_entropy with index targets (ignore_index, label smoothing, class
// weights) and probability targets; values, fused gradients, second order, errors.
#include <cmath>  // std::log
#include <vector>

#include <doctest/doctest.h>

#include <kexue/ops/cross_entropy.hpp>

#include "support/fixtures.hpp"
#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::softmax_cross_entropy;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using options = kexue::softmax_cross_entropy_options<double>;
using tensors = std::vector<tensor<double>>;

namespace {

using kexue::testing::logits;

// logsumexp([1, 2, 3]) = 3.4076059644443806, so −log p = [2.4076059644443806, 1.4076059644443806, 0.4076...].
constexpr double nll0 = 2.4076059644443806, nll1 = 1.4076059644443806, nll2 = 0.4076059644443806;

}  // namespace

TEST_SUITE("ops.cross_entropy") {
  TEST_CASE_TEMPLATE("cross-entropy of index targets by hand, with smoothing, weights and an ignored row", T, float,
                     double) {
    const tensor<T> x = {{1, 2, 3}, {1, 2, 3}, {3, 2, 1}};
    const tensor<index_t> t = {2, 0, -100};
    // Plain: −log p_t = [0.4076, 2.4076], the ignored row 0.
    check_values(softmax_cross_entropy(x, t), {3}, {nll2, nll0, 0});
    // ε = 0.3: (1 − ε)·nll_t + ε·mean_c nll_c, mean_c nll_c = lse − mean x = 1.4076:
    // row 0: 0.7·0.4076 + 0.3·1.4076 = 0.7076;  row 1: 0.7·2.4076 + 0.3·1.4076 = 2.1076.
    check_values(softmax_cross_entropy(x, t, kexue::softmax_cross_entropy_options<T>().label_smoothing(T(0.3))), {3},
                 {nll2 + 0.3, 0.7 * nll0 + 0.3 * nll1, 0});
    // w = [1, 2, 0.5]: row 0 0.5·0.4076 = 0.2038, row 1 1·2.4076; with ε = 0.3 also (0.3/3)·Σ_c w_c nll_c:
    // Σ_c w_c nll_c = 2.4076 + 2·1.4076 + 0.5·0.4076 = 5.4266
    const tensor<T> w = {1, 2, 0.5};
    check_values(softmax_cross_entropy(x, t, kexue::softmax_cross_entropy_options<T>().weight(w)), {3},
                 {0.5 * nll2, nll0, 0});
    const double weighted = nll0 + 2 * nll1 + 0.5 * nll2;
    check_values(
        softmax_cross_entropy(x, t, kexue::softmax_cross_entropy_options<T>().weight(w).label_smoothing(T(0.3))), {3},
        {0.7 * 0.5 * nll2 + 0.1 * weighted, 0.7 * nll0 + 0.1 * weighted, 0});
  }

  TEST_CASE("the fused gradient is softmax minus the (smoothed, weighted) target, zero on ignored rows") {
    // p([1, 2, 3]) = [0.0900306, 0.2447285, 0.6652410]; t = 2, ε = 0.3, w = 1: target (1 − ε)·onehot + ε/3 =
    // [0.1, 0.1, 0.8]: dx = [−0.0099694, 0.1447285, −0.1347590]; the ignored row gets 0.
    auto x = tensor<double>{{1, 2, 3}, {3, 2, 1}}.requires_grad(true);
    kexue::sum(softmax_cross_entropy(x, tensor<index_t>{2, 7}, options().label_smoothing(0.3).ignore_index(7)))
        .backward();
    const double p0 = 0.09003057317038046, p1 = 0.24472847105479764, p2 = 0.6652409557748219;
    check_values(x.grad(), {2, 3}, {p0 - 0.1, p1 - 0.1, p2 - 0.8, 0, 0, 0});
    // Weighted, upstream g = 2: dx = g·(a·p − (1 − ε)·w_t·onehot − (ε/C)·w), w = [1, 2, 0.5], t = 1, ε = 0.3:
    // a = 0.7·2 + 0.1·3.5 = 1.75; dx = 2·[1.75 p0 − 0.1, 1.75 p1 − 1.4 − 0.2, 1.75 p2 − 0.05].
    auto y = tensor<double>{{1, 2, 3}}.requires_grad(true);
    softmax_cross_entropy(y, tensor<index_t>{1}, options().label_smoothing(0.3).weight(tensor<double>{1, 2, 0.5}))
        .backward(tensor<double>{2});
    check_values(y.grad(), {1, 3}, {2 * (1.75 * p0 - 0.1), 2 * (1.75 * p1 - 1.6), 2 * (1.75 * p2 - 0.05)});
  }

  TEST_CASE("index-target cross-entropy passes gradient and second-order checks") {
    const auto x = logits<double>({4, 5}).requires_grad(true);
    const tensor<index_t> t = {3, -100, 0, 4};
    for (const options& o : {options(), options().label_smoothing(0.2),
                             options().weight(tensor<double>{0.5, 1, 2, 1.5, 0.25}).label_smoothing(0.1)}) {
      const auto fn = [t, o](const tensors& v) { return softmax_cross_entropy(v[0], t, o); };
      check_gradients(fn, {x});
      check_second_order(fn, {x});
    }
  }

  TEST_CASE_TEMPLATE("probability targets: by hand, equal to index targets for one-hot rows", T, float, double) {
    // q = [0.5, 0.5, 0]: loss = 0.5·2.4076 + 0.5·1.4076 = 1.9076.
    const tensor<T> x = {{1, 2, 3}, {1, 2, 3}};
    const tensor<T> q = {{0.5, 0.5, 0}, {0, 0, 1}};
    check_values(softmax_cross_entropy(x, q), {2}, {0.5 * nll0 + 0.5 * nll1, nll2});
    const auto x2 = logits<T>({4, 6});
    const tensor<index_t> t = {5, 0, 2, 2};
    const auto onehot = kexue::zeros<T>({4, 6});
    for (index_t r = 0; r < 4; ++r) onehot.data()[r * 6 + t.data()[r]] = T(1);
    const auto o6 =
        kexue::softmax_cross_entropy_options<T>().label_smoothing(T(0.3)).weight(tensor<T>{1, 2, 0.5, 1, 3, 0.25});
    check_close(softmax_cross_entropy(x2, onehot, o6), softmax_cross_entropy(x2, t, o6));
  }

  TEST_CASE("probability-target cross-entropy passes gradient and second-order checks in logits and targets") {
    const auto x = logits<double>({3, 4}).requires_grad(true);
    const auto q = kexue::softmax(logits<double>({3, 4}, 5)).detach().requires_grad(true);
    const auto o = options().label_smoothing(0.2).weight(tensor<double>{0.5, 1, 2, 1.5});
    const auto fn = [o](const tensors& v) { return softmax_cross_entropy(v[0], v[1], o); };
    check_gradients(fn, {x, q});
    check_second_order(fn, {x, q});
  }

  TEST_CASE("large logits and wide rows stay finite and match log_softmax") {
    const auto x = kexue::mul_scalar(logits<float>({3, 1000}), 1e4f);
    const tensor<index_t> t = {0, 999, 500};
    const auto ls = kexue::log_softmax(x);
    const auto loss = softmax_cross_entropy(x, t);
    for (index_t r = 0; r < 3; ++r) CHECK(loss(r) == doctest::Approx(-ls(r, t(r))).epsilon(1e-6));
  }

  TEST_CASE("bad shapes, targets and options are reported") {
    const auto x = kexue::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, tensor<index_t>{1, 2, 0}),
                         "softmax_cross_entropy: expected logits [N, C] and target [N], got [2, 3] and [3]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, tensor<index_t>{1, 5}),
                         "softmax_cross_entropy: target 5 out of range for 3 classes (row 1)", kexue::index_error);
    CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, tensor<index_t>{-1, 0}),
                         "softmax_cross_entropy: target -1 out of range for 3 classes (row 0)", kexue::index_error);
    CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, tensor<index_t>{1, 0}, options().weight(kexue::ones<double>({4}))),
                         "softmax_cross_entropy: expected weight [3], got [4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, tensor<index_t>{1, 0}, options().label_smoothing(1.5)),
                         "softmax_cross_entropy: label_smoothing must be in [0, 1], got 1.5", kexue::value_error);
    CHECK_THROWS_WITH_AS(softmax_cross_entropy(x, kexue::zeros<double>({2, 4})),
                         "softmax_cross_entropy: expected logits [N, C] and target probabilities of the same shape, "
                         "got [2, 3] and [2, 4]",
                         kexue::shape_error);
  }
}
