// SPDX-License-Identifier: MIT
// Tests of loss/sampled_softmax.hpp: samplers, NCE (A05), sampled softmax with log-Q, random softmax (A10).
#include <cmath>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/sampled_softmax.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace kl = kexue::loss;
using kx::index_t;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("loss.sampled_softmax") {
  TEST_CASE("the alias sampler draws its distribution; uniform negatives cover [0, V)") {
    kl::alias_sampler sampler({1, 0, 3, 4, 2});
    CHECK(sampler.size() == 5);
    CHECK(sampler.probability(3) == doctest::Approx(0.4));
    kx::generator gen(51);
    const index_t n = 100000;
    auto draws = sampler.sample({n}, gen);
    std::vector<double> freq(5, 0.0);
    for (index_t i = 0; i < n; ++i) freq[static_cast<std::size_t>(draws.data()[i])] += 1.0 / n;
    // ±0.006 is > 4 standard deviations (sqrt(0.25/1e5) ≈ 0.0016)
    for (index_t c = 0; c < 5; ++c) CHECK(std::abs(freq[c] - sampler.probability(c)) < 0.006);
    CHECK(freq[1] == 0.0);
    auto logq = sampler.log_probabilities<double>();
    CHECK(logq.data()[0] == doctest::Approx(std::log(0.1)));
    CHECK(std::isinf(logq.data()[1]));
    auto u = kl::uniform_negatives(200, 5, 7, gen);
    CHECK(u.shape() == kx::shape{200, 5});
    std::vector<int> seen(7, 0);
    for (index_t i = 0; i < u.numel(); ++i) seen[static_cast<std::size_t>(u.data()[i])]++;
    for (int c : seen) CHECK(c > 0);
    auto w = kl::unigram_weights({16, 1, 0});
    CHECK(w[0] == doctest::Approx(8.0));  // 16^0.75
    CHECK_THROWS_WITH_AS(kl::alias_sampler({1, -1}), "alias_sampler: weight 1 is negative or not finite (got -1)",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(kl::alias_sampler({0, 0}), "alias_sampler: the weights sum to 0", kx::value_error);
    CHECK_THROWS_WITH_AS(kl::uniform_negatives(2, 3, 0, gen), "uniform_negatives: num_classes must be positive (got 0)",
                         kx::value_error);
  }

  TEST_CASE_TEMPLATE("NCE by hand, mean or sum over negatives, learnable gamma", T, float, double) {
    // G⁺ = 0, G⁻ = [0, 0], γ = 0: softplus(0) + mean(softplus(0), softplus(0)) = 2 ln 2; summed: 3 ln 2
    kx::tensor<T> pos = {0};
    kx::tensor<T> neg = {{0, 0}};
    const double l2 = std::log(2.0);
    check_values(kl::nce_loss(pos, neg), {}, {2 * l2});
    check_values(kl::nce_loss(pos, neg, kx::tensor<T>(), kl::nce_options().sum_negatives(true)), {}, {3 * l2});
    // γ = ln 3: softplus(ln 3 − 0) = ln 4, softplus(0 − ln 3) = ln(4/3)
    check_values(kl::nce_loss(pos, neg, kx::scalar<T>(T(std::log(3.0)))), {}, {std::log(4.0) + std::log(4.0 / 3)});
  }

  TEST_CASE("NCE gradients to scores and gamma, to second order; errors") {
    kx::generator gen(52);
    auto pos = kx::randn<double>({3}, gen).requires_grad(true);
    auto neg = kx::randn<double>({3, 4}, gen).requires_grad(true);
    auto gamma = kx::scalar<double>(0.3).requires_grad(true);
    auto fn = [](const V& v) { return kl::nce_loss(v[0], v[1], v[2], kl::nce_options().sum_negatives(true)); };
    check_gradients(fn, {pos, neg, gamma});
    check_second_order(fn, {pos, neg, gamma});
    CHECK_THROWS_WITH_AS(kl::nce_loss(kx::zeros<double>({4}), kx::zeros<double>({3, 5})),
                         "nce_loss: scores_neg shape [3, 5] does not fit scores_pos shape [4] (expected [4, k])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::nce_loss(kx::zeros<double>({3}), kx::zeros<double>({3, 5}), kx::zeros<double>({2})),
                         "nce_loss: gamma must hold one value (got shape [2])", kx::shape_error);
  }

  TEST_CASE_TEMPLATE("sampled softmax by hand: target first, log-Q correction, accidental hits", T, float, double) {
    // h = [1, 0], rows w0 = [1, 0], w1 = [0, 1], w2 = [2, 0]: scores [1, 0, 2]; target 0, negatives [2, 1]
    kx::tensor<T> h = {{1, 0}};
    kx::tensor<T> w = {{1, 0}, {0, 1}, {2, 0}};
    kx::tensor<index_t> t = {0};
    kx::tensor<index_t> negs = {{2, 1}};
    // candidates [0, 2, 1] → logits [1, 2, 0]: ln(e + e² + 1) − 1
    const double plain = std::log(std::exp(1.0) + std::exp(2.0) + 1.0) - 1.0;
    check_values(kl::sampled_softmax_loss(h, w, kx::tensor<T>(), t, negs, kx::tensor<T>()), {}, {plain});
    // Q = [1/2, 1/4, 1/4]: logits [1 + ln 2, 2 + ln 4, 0 + ln 4]
    kx::tensor<T> logq = {T(std::log(0.5)), T(std::log(0.25)), T(std::log(0.25))};
    const double a = 1 + std::log(2.0), b = 2 + std::log(4.0), c = std::log(4.0);
    check_values(kl::sampled_softmax_loss(h, w, kx::tensor<T>(), t, negs, logq), {},
                 {std::log(std::exp(a) + std::exp(b) + std::exp(c)) - a}, 1e-5);
    // bias [0, 0, −2] turns the score of class 2 into 0: ln(e + 1 + 1) − 1; shared negatives [2, 1] as well
    kx::tensor<T> bias = {0, 0, -2};
    check_values(kl::sampled_softmax_loss(h, w, bias, t, kx::tensor<index_t>{2, 1}, kx::tensor<T>()), {},
                 {std::log(std::exp(1.0) + 2.0) - 1.0}, 1e-6);
    // negatives [0, 1]: the first is the target itself; removed it drops out: ln(e + 1) − 1, kept: ln(2e + 1) − 1
    kx::tensor<index_t> hits = {{0, 1}};
    check_values(kl::sampled_softmax_loss(h, w, kx::tensor<T>(), t, hits, kx::tensor<T>(),
                                          kl::sampled_softmax_options().remove_accidental_hits(true)),
                 {}, {std::log(std::exp(1.0) + 1.0) - 1.0}, 1e-6);
    check_values(kl::sampled_softmax_loss(h, w, kx::tensor<T>(), t, hits, kx::tensor<T>()), {},
                 {std::log(2 * std::exp(1.0) + 1.0) - 1.0}, 1e-6);
  }

  TEST_CASE("random softmax draws uniform negatives from the generator, with no correction") {
    kx::generator gen(53);
    auto h = kx::randn<double>({3, 4}, gen);
    auto w = kx::randn<double>({10, 4}, gen);
    auto b = kx::randn<double>({10}, gen);
    kx::tensor<index_t> t = {1, 9, 0};
    kx::generator g1(7), g2(7);
    const auto loss = kl::random_softmax_loss(h, w, b, t, g1, kl::random_softmax_options().num_negatives(5));
    const auto negs = kl::uniform_negatives(3, 5, 10, g2);
    check_values(loss, {}, {kl::sampled_softmax_loss(h, w, b, t, negs, kx::tensor<double>()).item()}, 1e-14, 1e-14);
    // every class once as a shared negative, the target's own copy removed: exactly the full cross-entropy
    // (a constant log Q changes nothing)
    const auto all = kx::arange<index_t>(10);
    const auto full = kl::cross_entropy(kx::add(kx::matmul(h, w, false, true), b), t);
    const auto uniform_q = kx::full<double>({10}, std::log(0.1));
    check_values(kl::sampled_softmax_loss(h, w, b, t, all, uniform_q,
                                          kl::sampled_softmax_options().remove_accidental_hits(true)),
                 {}, {full.item()}, 1e-12, 1e-12);
    // the sampler overload: the same draws and the sampler's log Q as the explicit form
    kx::generator g3(9), g4(9);
    kl::alias_sampler zipf({5, 4, 3, 3, 2, 2, 1, 1, 1, 1});
    const auto s = kl::sampled_softmax_loss(h, w, b, t, zipf, g3, kl::sampled_softmax_options().num_negatives(3));
    const auto drawn = zipf.sample({3, 3}, g4);
    check_values(s, {}, {kl::sampled_softmax_loss(h, w, b, t, drawn, zipf.log_probabilities<double>()).item()}, 1e-14,
                 1e-14);
    CHECK_THROWS_WITH_AS(kl::sampled_softmax_loss(h, w, b, t, kl::alias_sampler({1, 1}), g3),
                         "sampled_softmax_loss: the sampler has 2 classes, weight has 10 rows", kx::value_error);
  }

  TEST_CASE("sampled softmax gradients to hidden, weight and bias, to second order; errors") {
    kx::generator gen(54);
    auto h = kx::randn<double>({2, 3}, gen).requires_grad(true);
    auto w = kx::randn<double>({6, 3}, gen).requires_grad(true);
    auto b = kx::randn<double>({6}, gen).requires_grad(true);
    kx::tensor<index_t> t = {1, 4};
    kx::tensor<index_t> negs = {{0, 4, 5}, {4, 2, 2}};
    auto logq = kx::log(kx::tensor<double>{0.1, 0.2, 0.3, 0.1, 0.2, 0.1});
    auto fn = [t, negs, logq](const V& v) {
      return kl::sampled_softmax_loss(v[0], v[1], v[2], t, negs, logq,
                                      kl::sampled_softmax_options().remove_accidental_hits(true));
    };
    check_gradients(fn, {h, w, b});
    check_second_order(fn, {h, w, b});
    // only candidate rows get a gradient: class 3 is never a candidate
    fn({h, w, b}).backward();
    for (index_t j = 0; j < 3; ++j) CHECK(w.grad()(3, j) == 0.0);
    auto z = kx::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(
        kl::sampled_softmax_loss(z, kx::zeros<double>({10, 4}), kx::tensor<double>(), t, negs, kx::tensor<double>()),
        "sampled_softmax_loss: weight shape [10, 4] does not fit hidden shape [2, 3] (expected [V, 3])",
        kx::shape_error);
    CHECK_THROWS_WITH_AS(kl::sampled_softmax_loss(z, kx::zeros<double>({6, 3}), kx::tensor<double>(),
                                                  kx::tensor<index_t>{1, 12}, negs, kx::tensor<double>()),
                         "sampled_softmax_loss: label 12 is out of range for 6 classes", kx::index_error);
    CHECK_THROWS_WITH_AS(kl::random_softmax_loss(z, kx::zeros<double>({6, 3}), kx::zeros<double>({5}), t, gen),
                         "random_softmax_loss: bias shape [5] does not fit weight shape [6, 3] (expected [6])",
                         kx::shape_error);
  }
}
