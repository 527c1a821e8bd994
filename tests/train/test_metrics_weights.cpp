// SPDX-License-Identifier: MIT
// Per-sample weights in train/metrics.hpp: hand-computed weighted values, the equivalence of an integer weight
// k with the sample repeated k times (and of weight 0 with the sample left out), and the errors.
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/train/metrics.hpp>

using kexue::index_t;
using kexue::tensor;
namespace train = kexue::train;

namespace {

/// Scores [6, 3], class targets [6] and integer weights [6] (one 0), and the same batch with each sample
/// repeated by its weight.
struct weighted_batch {
  tensor<double> scores{{0.1, 0.7, 0.2}, {0.6, 0.3, 0.1}, {0.2, 0.2, 0.6},
                        {0.5, 0.4, 0.1}, {0.3, 0.3, 0.4}, {0.1, 0.1, 0.8}};
  tensor<index_t> targets{1, 1, 2, 0, 0, 2};
  tensor<double> weights{2, 1, 0, 3, 1, 2};

  template <class X>
  tensor<X> repeated(const tensor<X>& t) const {
    const index_t width = t.numel() / t.size(0);
    std::vector<X> out;
    for (index_t i = 0; i < t.size(0); ++i) {
      for (int r = 0; r < static_cast<int>(weights.data()[i]); ++r) {
        out.insert(out.end(), t.data() + i * width, t.data() + (i + 1) * width);
      }
    }
    std::vector<index_t> dims = t.shape().to_vector();
    dims[0] = static_cast<index_t>(out.size()) / width;
    return kexue::from_vector<X>(out, kexue::shape(dims));
  }
};

}  // namespace

TEST_SUITE("train.metrics") {
  TEST_CASE("weighted accuracy divides the weight of the hits by the total weight") {
    train::accuracy acc;
    // Hits: rows 0 (w 2) and 5 (w 2) and 3 (w 3); misses: 1 (w 1), 4 (w 1, class 2 scores highest); row 2 has
    // weight 0. (2 + 3 + 2) / (2 + 1 + 3 + 1 + 2) = 7/9.
    const weighted_batch b;
    acc.update(b.scores, b.targets, b.weights);
    CHECK(acc.result() == doctest::Approx(7.0 / 9));
  }

  TEST_CASE("an integer weight k counts as the sample repeated k times, for every weighted metric") {
    const weighted_batch b;
    const auto scores = b.repeated(b.scores);
    const auto targets = b.repeated(b.targets);
    REQUIRE(scores.size(0) == 9);
    std::vector<std::pair<train::confusion_metric, train::confusion_metric>> confusion{
        {train::macro_f1(3), train::macro_f1(3)},
        {train::precision(3, train::average::micro), train::precision(3, train::average::micro)},
        {train::recall(3, train::average::macro), train::recall(3, train::average::macro)}};
    for (auto& [weighted, repeated] : confusion) {
      weighted.update(b.scores, b.targets, b.weights);
      repeated.update(scores, targets);
      CHECK(weighted.matrix() == repeated.matrix());
      CHECK(weighted.result() == doctest::Approx(repeated.result()));
    }
    train::accuracy top2_w(2), top2_r(2);
    top2_w.update(b.scores, b.targets, b.weights);
    top2_r.update(scores, targets);
    CHECK(top2_w.result() == doctest::Approx(top2_r.result()));

    // Binary: the score of class 1 against target == 1.
    const tensor<double> p{0.9, 0.4, 0.4, 0.2, 0.7, 0.4};
    const tensor<double> y{1, 0, 1, 0, 0, 1};
    train::binary_accuracy ba_w, ba_r;
    ba_w.update(p, y, b.weights);
    ba_r.update(b.repeated(p), b.repeated(y));
    CHECK(ba_w.result() == doctest::Approx(ba_r.result()));
    train::auc auc_w, auc_r;
    auc_w.update(p, y, b.weights);
    auc_r.update(b.repeated(p), b.repeated(y));
    CHECK(auc_w.result() == doctest::Approx(auc_r.result()));
  }

  TEST_CASE("weighted AUC gives the hand-computed value, ties counting one half") {
    // Negatives 0.1 (w 1) and 0.4 (w 3); positives 0.4 (w 2) and 0.8 (w 1). W+ = 3, W- = 4.
    // Credit: 0.4 (w 2): negatives below 1, tied 3 -> 2·(1 + 1.5) = 5; 0.8 (w 1): all 4 below -> 4. 9 / 12.
    train::auc a;
    a.update(tensor<double>{0.1, 0.4, 0.4, 0.8}, tensor<double>{0, 1, 0, 1}, tensor<double>{1, 2, 3, 1});
    CHECK(a.result() == doctest::Approx(0.75));
    // The accumulators carry the weights: a restored copy continues identically.
    train::auc b;
    b.set_accumulators(a.accumulators());
    a.update(tensor<double>{0.3}, tensor<double>{1}, tensor<double>{4});
    b.update(tensor<double>{0.3}, tensor<double>{1}, tensor<double>{4});
    CHECK(b.result() == a.result());
  }

  TEST_CASE("bad sample weights are named in the error") {
    train::accuracy acc;
    const tensor<double> p{{0.2, 0.8}, {0.6, 0.4}};
    const tensor<index_t> y{1, 0};
    CHECK_THROWS_WITH_AS(acc.update(p, y, tensor<double>{1, 2, 3}),
                         "accuracy: sample_weights [3] must have the targets' shape [2]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(acc.update(p, y, tensor<double>{1, -2}),
                         "accuracy: sample weight -2 of sample 1 is not a finite non-negative number",
                         kexue::value_error);
    train::auc a;
    CHECK_THROWS_WITH_AS(a.update(tensor<double>{0.1, 0.2}, tensor<double>{0, 1}, tensor<double>{1, NAN}),
                         "auc: sample weight nan of sample 1 is not a finite non-negative number", kexue::value_error);
    // All the weight on one class: AUC is undefined.
    a.update(tensor<double>{0.1, 0.2}, tensor<double>{0, 1}, tensor<double>{1, 0});
    CHECK_THROWS_WITH_AS(a.result(), "auc: needs positive and negative targets (got 0 positives, 1 negatives)",
                         kexue::value_error);
  }
}
