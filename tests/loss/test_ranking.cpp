// SPDX-License-Identifier: MIT
// Tests of loss/ranking.hpp: triplet_margin, multi_margin, hinge_embedding, margin_ranking, spherical_hinge.
#include <cmath>  // std::isfinite

#include "loss/loss_other_reference.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/loss/ranking.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kl = kexue::loss;
using kexue::index_t;
using kexue::tensor;
using kexue::testing::check_values;
using tensors = std::vector<tensor<double>>;

TEST_SUITE("loss.ranking") {
  TEST_CASE_TEMPLATE("triplet_margin matches hand-computed distances, with and without swap", T, float, double) {
    const tensor<T> a = {{0, 0}, {0, 0}, {0, 0}};
    const tensor<T> p = {{3, 4}, {1, 0}, {2, 0}};
    const tensor<T> n = {{1, 0}, {0, 3}, {3, 0}};
    auto o = kl::triplet_margin_options().eps(0).reduction(kl::reduction::none);
    // d(a, p) = 5, 1, 2; d(a, n) = 1, 3, 3 → max(0, 1 + d_p − d_n) = 5, 0 (−1), 0 (0).
    check_values(kl::triplet_margin(a, p, n, o), {3}, {5, 0, 0});
    // swap: d(p, n) = √20, √10, 1 → d_n = min(·) = 1, 3, 1 → 5, 0, 2.
    check_values(kl::triplet_margin(a, p, n, o.swap(true)), {3}, {5, 0, 2});
    // p = 1: d(a, p) = 7, 1, 2; d(a, n) = 1, 3, 3 → 7, 0, 0; mean 7/3.
    check_values(kl::triplet_margin(a, p, n, kl::triplet_margin_options().eps(0).p(1)), {}, {7.0 / 3});
  }

  TEST_CASE_TEMPLATE("multi_margin matches PyTorch's documented example", T, float, double) {
    const tensor<T> x = {{0.1, 0.2, 0.4, 0.8}, {0.1, 0.2, 0.4, 0.8}};
    const tensor<index_t> y = {3, 0};
    auto o = kl::multi_margin_options().reduction(kl::reduction::none);
    // Sample 0 (target 3): (1 − 0.8 + 0.1) + (1 − 0.8 + 0.2) + (1 − 0.8 + 0.4) = 0.3 + 0.4 + 0.6 = 1.3, /4 = 0.325.
    // Sample 1 (target 0): (1 − 0.1 + 0.2) + (1 − 0.1 + 0.4) + (1 − 0.1 + 0.8) = 1.1 + 1.3 + 1.7 = 4.1, /4 = 1.025.
    check_values(kl::multi_margin(x, y, o), {2}, {0.325, 1.025});
    // p = 2: (0.09 + 0.16 + 0.36)/4 = 0.1525; (1.21 + 1.69 + 2.89)/4 = 1.4475.
    check_values(kl::multi_margin(x, y, kl::multi_margin_options(o).p(2)), {2}, {0.1525, 1.4475});
    // class_weight scales by w[target]: 2·0.325 = 0.65 and 0.5·1.025 = 0.5125.
    check_values(kl::multi_margin(x, y, kl::multi_margin_options(o).class_weight({0.5, 1, 1, 2})), {2}, {0.65, 0.5125});
  }

  TEST_CASE_TEMPLATE("hinge_embedding and margin_ranking match hand-computed values", T, float, double) {
    // hinge_embedding, margin 1: label 1 → x (0.3); label −1 → max(0, 1 − x): 0 for x = 2, 0.5 for x = 0.5.
    check_values(kl::hinge_embedding(tensor<T>{0.3, 2, 0.5}, tensor<T>{1, -1, -1},
                                     kl::hinge_embedding_options().reduction(kl::reduction::none)),
                 {3}, {0.3, 0, 0.5});
    // margin_ranking, margin 0.5: max(0, 0.5 − 1·(1 − 2)) = 1.5; max(0, 0.5 − 1·(2 − 1)) = 0;
    // max(0, 0.5 − (−1)·(2 − 1)) = 1.5. Sum 3.
    check_values(kl::margin_ranking(tensor<T>{1, 2, 2}, tensor<T>{2, 1, 1}, tensor<T>{1, 1, -1},
                                    kl::margin_ranking_options().margin(0.5).reduction(kl::reduction::sum)),
                 {}, {3});
  }

  TEST_CASE_TEMPLATE("spherical_hinge is JoSE's hinge on dot products, one or several negatives", T, float, double) {
    const tensor<T> u = {{1, 0}, {1, 0}};
    const tensor<T> v = {{1, 0}, {1, 0}};
    const tensor<T> d = {{0, 1}, {1, 0}};
    const tensor<T> u1 = {{0, 1}, {0, 1}};
    const auto none = kl::spherical_hinge_options().reduction(kl::reduction::none);
    // Sample 0: 0.15 − ⟨u,v⟩ 1 − ⟨u,d⟩ 0 + ⟨u′,v⟩ 0 + ⟨u′,d⟩ 1 = 0.15. Sample 1: 0.15 − 1 − 1 + 0 + 0 < 0 → 0.
    check_values(kl::spherical_hinge(u, v, d, u1, none), {2}, {0.15, 0});
    // Two negatives per sample, [B, K, D]: the second negative [1, 0] adds 0.15 − 1 + 1 + 0 = 0.15 for sample 0
    // and 0.15 − 2 + 1 + 1 = 0.15 for sample 1.
    const tensor<T> u2 = {{{0, 1}, {1, 0}}, {{0, 1}, {1, 0}}};
    check_values(kl::spherical_hinge(u, v, d, u2, none), {2}, {0.3, 0.15});
    // Off the sphere the dot products scale with the norms; normalize(true) uses cosines and recovers 0.15.
    const tensor<T> u_long = {{2, 0}, {3, 0}};
    check_values(kl::spherical_hinge(u_long, v, d, u1, none), {2}, {0, 0});  // 0.15 − 2 + 1 < 0
    check_values(kl::spherical_hinge(u_long, v, d, u1, kl::spherical_hinge_options(none).normalize(true)), {2},
                 {0.15, 0});
  }

  TEST_CASE("spherical_hinge gradients are ±(v + d) and u′ − u on an active hinge") {
    tensor<double> u = tensor<double>{{1, 0}}.requires_grad(true);
    tensor<double> v = tensor<double>{{1, 0}}.requires_grad(true);
    tensor<double> d = tensor<double>{{0, 1}}.requires_grad(true);
    tensor<double> un = tensor<double>{{0, 1}}.requires_grad(true);
    const auto g = kexue::grad({kl::spherical_hinge(u, v, d, un)}, {u, v, d, un});
    check_values(g[0], {1, 2}, {-1, -1});  // −(v + d)
    check_values(g[1], {1, 2}, {-1, 1});   // u′ − u
    check_values(g[2], {1, 2}, {-1, 1});   // u′ − u
    check_values(g[3], {1, 2}, {1, 1});    // v + d
  }

  TEST_CASE("degenerate inputs give finite losses and gradients") {
    // Identical anchor, positive and negative: eps keeps every distance at ‖eps·1‖ > 0, so the norm's gradient
    // is finite; loss = margin 1 (both distances equal).
    const tensor<double> a = tensor<double>{{0.5, -1, 2}}.requires_grad(true);
    const tensor<double> t = kl::triplet_margin(a, a, a, kl::triplet_margin_options().swap(true));
    check_values(t, {}, {1});
    const tensor<double> ga = kexue::grad({t}, {a})[0];
    for (double g : ga) CHECK(std::isfinite(g));
    // Zero vectors with normalize(true): cosine_similarity's eps keeps the cosines and gradients at 0, finite.
    const tensor<double> zero = kexue::zeros<double>({1, 3}).requires_grad(true);
    const tensor<double> j = kl::spherical_hinge(zero, zero, zero, zero, kl::spherical_hinge_options().normalize(true));
    check_values(j, {}, {0.15});
    const tensor<double> gz = kexue::grad({j}, {zero})[0];
    for (double g : gz) CHECK(std::isfinite(g));
  }

  TEST_CASE("gradients and second-order gradients pass the finite-difference check") {
    kexue::generator gen(kexue_test_seed());
    const auto leaf = [&](kexue::shape s) { return kexue::randn<double>(s, gen).requires_grad(true); };
    const tensors triplet = {leaf({4, 3}), leaf({4, 3}), leaf({4, 3})};
    for (const bool swap : {false, true}) {
      const kexue::testing::double_fn fn = [swap](const tensors& v) {
        return kl::triplet_margin(v[0], v[1], v[2], kl::triplet_margin_options().margin(2).swap(swap));
      };
      kexue::testing::check_gradients(fn, triplet);
      kexue::testing::check_second_order(fn, triplet);
    }
    const tensor<index_t> target = {2, 0, 3};
    for (const int p : {1, 2}) {
      const kexue::testing::double_fn fn = [p, &target](const tensors& v) {
        return kl::multi_margin(v[0], target, kl::multi_margin_options().p(p).reduction(kl::reduction::sum));
      };
      kexue::testing::check_gradients(fn, {leaf({3, 4})});
      kexue::testing::check_second_order(fn, {leaf({3, 4})});
    }
    // hinge_embedding and margin_ranking (labels constant, values away from the kinks).
    const tensor<double> labels = {{1, -1, -1}, {-1, 1, -1}};
    const kexue::testing::double_fn embedding = [&labels](const tensors& v) {
      return kl::hinge_embedding(v[0], labels, kl::hinge_embedding_options().margin(5));
    };
    kexue::testing::check_gradients(embedding, {leaf({2, 3})});
    kexue::testing::check_second_order(embedding, {leaf({2, 3})});
    const kexue::testing::double_fn ranking = [&labels](const tensors& v) {
      return kl::margin_ranking(v[0], v[1], labels, kl::margin_ranking_options().margin(6));
    };
    kexue::testing::check_gradients(ranking, {leaf({2, 3}), leaf({2, 3})});
    kexue::testing::check_second_order(ranking, {leaf({2, 3}), leaf({2, 3})});
    const kexue::testing::double_fn jose = [](const tensors& v) {
      return kl::spherical_hinge(v[0], v[1], v[2], v[3], kl::spherical_hinge_options().margin(3).normalize(true));
    };
    const tensors jose_inputs = {leaf({2, 3}), leaf({2, 3}), leaf({2, 3}), leaf({2, 2, 3})};
    kexue::testing::check_gradients(jose, jose_inputs);
    kexue::testing::check_second_order(jose, jose_inputs);
  }

  TEST_CASE("shape and value errors name the loss, the shapes and the value") {
    const auto z = [](kexue::shape s) { return kexue::zeros<double>(s); };
    CHECK_THROWS_WITH_AS(kl::triplet_margin(z({4, 3}), z({4, 3}), z({5, 3})),
                         "triplet_margin: anchor [4, 3], positive [4, 3] and negative [5, 3] must have one shape of "
                         "rank at least 1",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::triplet_margin(z({2}), z({2}), z({2}), kl::triplet_margin_options().p(0)),
                         "triplet_margin: p must be positive (got 0)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kl::multi_margin(z({4, 5}), tensor<index_t>{0, 1, 2}),
                         "multi_margin: expected input [B, C] and target [B] (got input [4, 5], target [3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::multi_margin(z({1, 5}), tensor<index_t>{7}),
                         "multi_margin: target 7 of sample 0 is outside [0, 5)", kexue::index_error);
    CHECK_THROWS_WITH_AS(kl::multi_margin(z({1, 5}), tensor<index_t>{1}, kl::multi_margin_options().p(3)),
                         "multi_margin: p must be 1 or 2 (got 3)", kexue::value_error);
    CHECK_THROWS_WITH_AS(
        kl::multi_margin(z({1, 5}), tensor<index_t>{1}, kl::multi_margin_options().class_weight({1, 2})),
        "multi_margin: class_weight has 2 entries for 5 classes", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::hinge_embedding(z({3}), tensor<double>{1, -1, 0.5}),
                         "hinge_embedding: labels must be 1 or -1 (got 0.5 at flat index 2)", kexue::value_error);
    CHECK_THROWS_WITH_AS(kl::hinge_embedding(z({3}), z({4})),
                         "hinge_embedding: input shape [3] differs from label shape [4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::margin_ranking(z({3}), z({3}), z({4})),
                         "margin_ranking: input1 [3], input2 [3] and label [4] must have one shape",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::spherical_hinge(z({2, 3}), z({2, 3}), z({2, 4}), z({2, 3})),
                         "spherical_hinge: expected u, v, d [B, D] and u_neg [B, D] or [B, K, D] (got u [2, 3], v [2, "
                         "3], d [2, 4], u_neg [2, 3])",
                         kexue::shape_error);
  }

  TEST_CASE("values and gradients equal PyTorch's triplet, multi-margin, hinge-embedding and margin-ranking losses") {
    using kexue::testing::check_loss_reference;
    const auto& file = kexue::testing::loss_other_reference();
    const std::vector<std::string> abc = {"anchor", "positive", "negative"};
    for (const bool swap : {false, true}) {
      for (const auto red : {kl::reduction::none, kl::reduction::mean}) {
        const std::string name = std::string("triplet_p2_swap") + (swap ? "1_" : "0_") + kl::reduction_name(red);
        check_loss_reference(name, abc, [swap, red](const tensors& v) {
          return kl::triplet_margin(v[0], v[1], v[2], kl::triplet_margin_options().swap(swap).reduction(red));
        });
      }
    }
    check_loss_reference("triplet_p1_margin0.5_sum", abc, [](const tensors& v) {
      return kl::triplet_margin(v[0], v[1], v[2],
                                kl::triplet_margin_options().p(1).margin(0.5).reduction(kl::reduction::sum));
    });
    for (const int p : {1, 2}) {
      for (const auto red : {kl::reduction::none, kl::reduction::mean}) {
        const std::string name = "multi_margin_p" + std::to_string(p) + "_" + kl::reduction_name(red);
        const tensor<index_t> target = file.indices(name + ".target");
        check_loss_reference(name, {"input"}, [p, red, target](const tensors& v) {
          return kl::multi_margin(v[0], target, kl::multi_margin_options().p(p).reduction(red));
        });
      }
    }
    {
      const std::string name = "multi_margin_weight_margin0.6";
      const tensor<index_t> target = file.indices(name + ".target");
      const tensor<double> w = file.get(name + ".weight");
      const std::vector<double> weight(w.data(), w.data() + w.numel());
      check_loss_reference(name, {"input"}, [target, weight](const tensors& v) {
        return kl::multi_margin(
            v[0], target, kl::multi_margin_options().margin(0.6).class_weight(weight).reduction(kl::reduction::sum));
      });
    }
    for (const auto red : {kl::reduction::none, kl::reduction::mean}) {
      check_loss_reference(
          std::string("hinge_embedding_") + kl::reduction_name(red), {"input", "label"}, [red](const tensors& v) {
            return kl::hinge_embedding(v[0], v[1], kl::hinge_embedding_options().margin(1.5).reduction(red));
          });
    }
    check_loss_reference("margin_ranking_mean", {"input1", "input2", "label"}, [](const tensors& v) {
      return kl::margin_ranking(v[0], v[1], v[2], kl::margin_ranking_options().margin(0.3));
    });
  }
}
