// SPDX-License-Identifier: MIT
// Tests of train/metrics.hpp against hand-computed values (accuracy, precision/recall/F1, AUC with ties,
// perplexity, mean) and their error messages.
#include <cmath>  // std::exp, std::log
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/tensor.hpp>
#include <kexue/train/metrics.hpp>

using kexue::index_t;
using kexue::tensor;
namespace train = kexue::train;

TEST_SUITE("train.metrics") {
  TEST_CASE("accuracy counts top-k hits with ties broken by class index, streaming over batches") {
    train::accuracy top1, top2(2);
    // Row 0: target 1 scores highest -> hit for k=1 and 2. Row 1: scores tie at 0.5 for classes 1 and 2,
    // target 2 ranks after class 1 -> miss for k=1, hit for k=2. Row 2: target 0 ranks third -> miss both.
    tensor<float> p = {{0.1f, 0.7f, 0.2f}, {0.0f, 0.5f, 0.5f}, {0.1f, 0.5f, 0.5f}};
    tensor<index_t> y = {1, 2, 0};
    top1.update(p, y);
    top2.update(p, y);
    // Second batch: one sample, all scores equal, target 0 ranks first -> hit for both.
    top1.update(tensor<double>{{1.0, 1.0, 1.0}}, tensor<index_t>{0});
    top2.update(tensor<double>{{1.0, 1.0, 1.0}}, tensor<index_t>{0});
    CHECK(top1.result() == doctest::Approx(2.0 / 4));
    CHECK(top2.result() == doctest::Approx(3.0 / 4));
    CHECK(top1.name() == "accuracy");
    CHECK(top2.name() == "top2_accuracy");
    top1.reset();
    CHECK_THROWS_WITH_AS(top1.result(), "accuracy: no data since the last reset", kexue::value_error);
    CHECK_THROWS_WITH_AS(top1.update(p, tensor<index_t>{1, 2}),
                         "accuracy: expected predictions [B, C] and targets [B] (got [3, 3] and [2])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(top1.update(p, tensor<index_t>{1, 2, 3}),
                         "accuracy: target 3 of sample 2 out of range for 3 classes", kexue::index_error);
  }

  TEST_CASE("binary_accuracy thresholds the predictions") {
    train::binary_accuracy acc;
    acc.update(tensor<double>{0.9, 0.4, 0.5, 0.2}, tensor<double>{1, 1, 1, 0});  // hits: 0.9, 0.5, 0.2
    CHECK(acc.result() == doctest::Approx(0.75));
    CHECK_THROWS_WITH_AS(acc.update(tensor<double>{0.9}, tensor<double>{2}),
                         "binary_accuracy: target 2 of sample 0 is not 0 or 1", kexue::value_error);
  }

  TEST_CASE("precision, recall and F1 per class, micro and macro match the hand-computed values") {
    // targets 0 0 1 1 2 2, predicted (arg-max) 0 1 1 1 2 0.
    // class 0: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 2/4 = 0.5
    // class 1: TP 2, FP 1, FN 0 -> P 2/3, R 1,   F1 4/5 = 0.8
    // class 2: TP 1, FP 0, FN 1 -> P 1,   R 1/2, F1 2/3
    tensor<double> p = {{5, 1, 0}, {0, 2, 1}, {0, 3, 1}, {1, 4, 0}, {0, 0, 9}, {7, 0, 6}};
    tensor<index_t> y = {0, 0, 1, 1, 2, 2};
    auto f1 = train::macro_f1(3);
    auto prec = train::precision(3, train::average::macro);
    auto rec = train::recall(3, train::average::micro);
    // Two batches: streaming must equal one pass.
    f1.update(tensor<double>{{5, 1, 0}, {0, 2, 1}}, tensor<index_t>{0, 0});
    f1.update(tensor<double>{{0, 3, 1}, {1, 4, 0}, {0, 0, 9}, {7, 0, 6}}, tensor<index_t>{1, 1, 2, 2});
    prec.update(p, y);
    rec.update(p, y);
    const auto per_class_f1 = f1.per_class();
    REQUIRE(per_class_f1.size() == 3);
    CHECK(per_class_f1[0] == doctest::Approx(0.5));
    CHECK(per_class_f1[1] == doctest::Approx(0.8));
    CHECK(per_class_f1[2] == doctest::Approx(2.0 / 3));
    CHECK(f1.result() == doctest::Approx((0.5 + 0.8 + 2.0 / 3) / 3));  // 0.655556
    CHECK(f1.name() == "macro_f1");
    CHECK(prec.result() == doctest::Approx((0.5 + 2.0 / 3 + 1.0) / 3));
    CHECK(rec.result() == doctest::Approx(4.0 / 6));  // micro recall of a single-label problem = accuracy
    CHECK(rec.name() == "micro_recall");
    CHECK(f1.matrix() == std::vector<double>{1, 1, 0, 0, 2, 0, 1, 0, 1});
  }

  TEST_CASE("binary precision, recall and F1 from probabilities of class 1") {
    // predicted (>= 0.5): 1 1 0 1 0; targets 1 0 1 1 0 -> TP 2, FP 1, FN 1 -> P 2/3, R 2/3, F1 4/6.
    tensor<float> p = {0.9f, 0.6f, 0.2f, 0.5f, 0.1f};
    tensor<index_t> y = {1, 0, 1, 1, 0};
    auto prec = train::precision();
    auto rec = train::recall();
    auto f1 = train::f1_score();
    prec.update(p, y);
    rec.update(p, y);
    f1.update(p, y);
    CHECK(prec.result() == doctest::Approx(2.0 / 3));
    CHECK(rec.result() == doctest::Approx(2.0 / 3));
    CHECK(f1.result() == doctest::Approx(4.0 / 6));
    // A class never predicted and never present has P = R = F1 = 0 (zero_division = 0).
    auto p2 = train::precision();
    p2.update(tensor<double>{0.1, 0.2}, tensor<index_t>{0, 0});
    CHECK(p2.result() == 0.0);
    CHECK_THROWS_WITH_AS(train::f1_score(3, train::average::binary),
                         "f1: the binary average needs num_classes 2 (got 3); use average::micro or macro",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(f1.update(tensor<double>{{0.1, 0.2, 0.7}}, tensor<index_t>{0}),
                         "f1: expected predictions [B, 2] or [B] and targets [B] (got [1, 3] and [1])",
                         kexue::shape_error);
  }

  TEST_CASE("AUC is exact with tied scores counted as one half") {
    // positives score 0.35, 0.8, 0.4; negatives 0.1, 0.4. Pairs (pos > neg): 0.35: 1 + 0; 0.8: 1 + 1;
    // 0.4: 1 + 1/2 (tie) -> 4.5 of 6 pairs = 0.75 (scikit-learn's roc_auc_score gives 0.75 too).
    train::auc a;
    a.update(tensor<double>{0.1, 0.4}, tensor<double>{0, 0});
    a.update(tensor<double>{0.35, 0.8, 0.4}, tensor<double>{1, 1, 1});
    CHECK(a.result() == doctest::Approx(0.75));
    train::auc all_tied;
    all_tied.update(tensor<float>{0.5f, 0.5f, 0.5f}, tensor<index_t>{1, 0, 1});
    CHECK(all_tied.result() == doctest::Approx(0.5));
    train::auc one_class;
    one_class.update(tensor<double>{0.2, 0.3, 0.9}, tensor<double>{1, 1, 1});
    CHECK_THROWS_WITH_AS(one_class.result(), "auc: needs positive and negative targets (got 3 positives, 0 negatives)",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(one_class.update(tensor<double>{0.2, 0.3}, tensor<double>{1, 2}),
                         "auc: target 2 of sample 1 is not 0 or 1", kexue::value_error);
  }

  TEST_CASE("perplexity is exp of the token-weighted mean NLL and mean_metric weights its values") {
    train::perplexity ppl;
    ppl.update_nll(2.0, 10);  // 10 tokens at mean NLL 2
    ppl.update_nll(1.0, 30);  // 30 tokens at mean NLL 1 -> mean (20 + 30) / 40 = 1.25
    CHECK(ppl.result() == doctest::Approx(std::exp(1.25)));
    CHECK_THROWS_WITH_AS(ppl.update_nll(1.0, 0), "perplexity: count must be positive (got 0)", kexue::value_error);
    train::mean_metric m("grad_norm");
    m.add(1.0, 1);
    m.add(4.0, 2);  // (1 + 8) / 3 = 3
    CHECK(m.result() == doctest::Approx(3.0));
    train::metric_batch b;
    b.loss = 6.0;
    b.count = 3;
    m.update(b);  // (9 + 18) / 6 = 4.5
    CHECK(m.result() == doctest::Approx(4.5));
  }

  TEST_CASE("accumulators round-trip, so a metric restored mid-epoch continues exactly") {
    train::auc a, b;
    a.update(tensor<double>{0.1, 0.4, 0.35}, tensor<double>{0, 0, 1});
    b.set_accumulators(a.accumulators());
    a.update(tensor<double>{0.8, 0.4}, tensor<double>{1, 1});
    b.update(tensor<double>{0.8, 0.4}, tensor<double>{1, 1});
    CHECK(b.result() == a.result());  // 0.75, as in the AUC case above
    auto f = train::macro_f1(3);
    CHECK_THROWS_WITH_AS(f.set_accumulators({1, 2}), "macro_f1: expected 9 saved accumulators (got 2)",
                         kexue::value_error);
  }
}
