// SPDX-License-Identifier: MIT
// Streaming metrics: accuracy (top-k, binary), precision / recall / F1 (binary, micro, macro), AUC, perplexity, mean.
#pragma once

#include <algorithm>  // std::sort, std::count_if
#include <cmath>      // std::exp, std::isnan, std::isfinite
#include <cstdint>    // std::int64_t
#include <memory>     // std::shared_ptr
#include <string>
#include <utility>  // std::move
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::train {

namespace detail {
/// Checks the size of a metric's saved accumulators.
inline void check_accumulators(const std::string& metric, const std::vector<double>& v, std::size_t expected) {
  KEXUE_CHECK(v.size() == expected, value_error, metric, "expected ", expected, " saved accumulators (got ", v.size(),
              ")");
}
}  // namespace detail

/// What a metric sees of one batch: the model's predictions and the targets (converted to double, cut from
/// the graph), the batch's mean loss and its weight (number of samples, or of tokens for perplexity), and
/// optional per-sample weights (Keras' sample_weight; undefined: every sample weighs 1).
struct metric_batch {
  tensor<double> predictions;
  tensor<double> targets;
  double loss = 0;
  double count = 0;
  /// One non-negative, finite weight per sample, with the targets' shape; accuracy, binary_accuracy, the
  /// confusion metrics and auc count each sample with its weight (a weight of 0 leaves it out).
  tensor<double> sample_weights;
};

/// @brief Base of streaming metrics: update() once per batch, result() for everything since reset().
///
/// Metrics are not thread-safe; a fit loop updates them from its own thread. result() before any update
/// throws value_error "<name>: no data since the last reset".
class metric {
 public:
  virtual ~metric() = default;
  /// The name used as the key in logs ("accuracy", "macro_f1", ...); `val_` is prefixed for validation.
  virtual std::string name() const = 0;
  /// Adds one batch.
  void update(const metric_batch& batch) { do_update(batch); }
  /// Adds one batch of predictions and targets of any element type (converted to double).
  template <class P, class Y>
  void update(const tensor<P>& predictions, const tensor<Y>& targets) {
    metric_batch b;
    b.predictions = as_double(predictions);
    b.targets = as_double(targets);
    b.count = predictions.rank() > 0 ? static_cast<double>(predictions.size(0)) : 1.0;
    do_update(b);
  }
  /// As above, each sample counted with its weight: sample_weights has the targets' shape, with non-negative
  /// finite values (Keras' update_state(y_true, y_pred, sample_weight)).
  template <class P, class Y, class W>
  void update(const tensor<P>& predictions, const tensor<Y>& targets, const tensor<W>& sample_weights) {
    metric_batch b;
    b.predictions = as_double(predictions);
    b.targets = as_double(targets);
    b.sample_weights = as_double(sample_weights);
    b.count = predictions.rank() > 0 ? static_cast<double>(predictions.size(0)) : 1.0;
    do_update(b);
  }
  /// The value over every batch since the last reset.
  virtual double result() const = 0;
  /// Forgets every batch.
  virtual void reset() = 0;
  /// The running accumulators as plain numbers, so a checkpoint taken mid-epoch can carry them (empty for
  /// a metric that does not support it; its value after a mid-epoch resume then covers the later batches).
  virtual std::vector<double> accumulators() const { return {}; }
  /// Restores what accumulators() returned. @throws value_error for a vector of the wrong size.
  virtual void set_accumulators(const std::vector<double>& values) { (void)values; }

  /// A detached double copy (or view) of a tensor of any element type.
  template <class X>
  static tensor<double> as_double(const tensor<X>& t) {
    if (!t.defined()) return tensor<double>();
    if constexpr (std::is_same_v<X, double>) {
      return t.detach();
    } else if constexpr (tensor<X>::is_differentiable) {
      return t.detach().template to<double>();
    } else {
      return t.template to<double>();
    }
  }

 protected:
  virtual void do_update(const metric_batch& batch) = 0;
};

/// @brief Fraction of samples whose target class is among the k highest scores (top-1 by default).
///
/// predictions [B, C] (scores, logits or probabilities), targets [B] class indices in [0, C). A sample
/// counts as correct when fewer than k classes rank before its target class, where class c ranks before
/// class t if it scores higher, or equally and c < t (a stable descending sort, so top-1 is the first
/// arg-max and constant predictions do not count as hits). Name "accuracy" for k = 1, "top<k>_accuracy" otherwise.
/// Errors: k < 1 (value_error); predictions not of rank 2 or batch sizes differing (shape_error
/// "accuracy: expected predictions [B, C] and targets [B] (got [4, 3] and [5])"); a target that is not a
/// class index (index_error "accuracy: target 7 of sample 2 out of range for 3 classes"); NaN scores
/// (value_error "accuracy: NaN score in sample 1").
class accuracy : public metric {
 public:
  explicit accuracy(index_t k = 1) : k_(k) {
    KEXUE_CHECK(k >= 1, value_error, "accuracy", "k must be at least 1 (got ", k, ")");
  }
  std::string name() const override { return k_ == 1 ? "accuracy" : "top" + std::to_string(k_) + "_accuracy"; }
  double result() const override;
  void reset() override { correct_ = total_ = 0; }
  std::vector<double> accumulators() const override { return {correct_, total_}; }
  void set_accumulators(const std::vector<double>& v) override {
    detail::check_accumulators(name(), v, 2);
    correct_ = v[0];
    total_ = v[1];
  }

 protected:
  void do_update(const metric_batch& batch) override;

 private:
  index_t k_;
  double correct_ = 0, total_ = 0;
};

/// @brief Fraction of elements with (prediction ≥ threshold) == target, for binary problems.
///
/// predictions and targets of the same shape; targets 0 or 1; threshold 0.5 by default (use 0 for logits).
/// Name "binary_accuracy". Errors: shapes differing (shape_error "binary_accuracy: predictions [4] and
/// targets [5] differ in shape"), a target other than 0 or 1 (value_error).
class binary_accuracy : public metric {
 public:
  explicit binary_accuracy(double threshold = 0.5) : threshold_(threshold) {}
  std::string name() const override { return "binary_accuracy"; }
  double result() const override;
  void reset() override { correct_ = total_ = 0; }
  std::vector<double> accumulators() const override { return {correct_, total_}; }
  void set_accumulators(const std::vector<double>& v) override {
    detail::check_accumulators(name(), v, 2);
    correct_ = v[0];
    total_ = v[1];
  }

 protected:
  void do_update(const metric_batch& batch) override;

 private:
  double threshold_;
  double correct_ = 0, total_ = 0;
};

/// How per-class precision, recall and F1 combine into one number.
enum class average {
  binary,  ///< the value of class 1 (two classes)
  micro,   ///< from the totals of true positives, false positives and false negatives over every class
  macro,   ///< unweighted mean of the per-class values (macro-F1 is the mean of per-class F1 scores)
};

/// Which of precision, recall and F1 a confusion_metric reports.
enum class confusion_score { precision, recall, f1 };

/// @brief Precision, recall or F1 of a classifier, from a streaming confusion matrix.
///
/// predictions [B, C] scores (the predicted class is the first arg-max; C = num_classes) or, for
/// num_classes = 2, predictions [B] probabilities of class 1 (predicted 1 when ≥ threshold, default 0.5);
/// targets [B] class indices. Per class c: precision = TP/(TP+FP), recall = TP/(TP+FN),
/// F1 = 2·TP/(2·TP+FP+FN); a zero denominator gives 0 (scikit-learn's zero_division=0). per_class() gives the
/// C values; result() combines them by `avg`. Names: "precision", "recall", "f1" with the average as a
/// prefix for micro and macro ("macro_f1", "micro_precision").
/// Errors: num_classes < 2, average::binary with num_classes ≠ 2 (value_error); shapes (shape_error
/// "f1: expected predictions [B, 3] or [B] and targets [B] (got [4, 2] and [4])"); a target out of
/// range (index_error "f1: target 3 of sample 0 out of range for 3 classes").
class confusion_metric : public metric {
 public:
  confusion_metric(confusion_score score, index_t num_classes, train::average avg, double threshold = 0.5);
  std::string name() const override;
  double result() const override;
  void reset() override { matrix_.assign(matrix_.size(), 0.0); }
  std::vector<double> accumulators() const override { return matrix_; }
  void set_accumulators(const std::vector<double>& v) override {
    detail::check_accumulators(name(), v, matrix_.size());
    matrix_ = v;
  }
  /// The score of every class.
  std::vector<double> per_class() const;
  /// The confusion matrix, row = target class, column = predicted class, row-major [C, C].
  const std::vector<double>& matrix() const { return matrix_; }

 protected:
  void do_update(const metric_batch& batch) override;

 private:
  double score_of(double tp, double fp, double fn) const;
  confusion_score score_;
  index_t classes_;
  train::average avg_;
  double threshold_;
  std::vector<double> matrix_;
};

/// Precision (see confusion_metric).
inline confusion_metric precision(index_t num_classes = 2, average avg = average::binary, double threshold = 0.5) {
  return confusion_metric(confusion_score::precision, num_classes, avg, threshold);
}
/// Recall (see confusion_metric).
inline confusion_metric recall(index_t num_classes = 2, average avg = average::binary, double threshold = 0.5) {
  return confusion_metric(confusion_score::recall, num_classes, avg, threshold);
}
/// F1 (see confusion_metric).
inline confusion_metric f1_score(index_t num_classes = 2, average avg = average::binary, double threshold = 0.5) {
  return confusion_metric(confusion_score::f1, num_classes, avg, threshold);
}
/// Macro-F1: the mean over classes of the per-class F1 (name "macro_f1").
inline confusion_metric macro_f1(index_t num_classes) {
  return confusion_metric(confusion_score::f1, num_classes, average::macro);
}

/// @brief Area under the ROC curve, exact, with ties counted as one half.
///
/// predictions [B] (or [B, 1]) scores, targets of the same number of elements, each 0 or 1, and optional
/// sample weights. Keeps every (score, target, weight); result() is the Mann–Whitney statistic, the probability
/// that a random positive scores above a random negative, a tie counting ½:
/// AUC = Σ_{positive i} w_i·(Σ_{negative j, s_j < s_i} w_j + ½·Σ_{negative j, s_j = s_i} w_j) / (W₊·W₋), with
/// W₊, W₋ the total weights of the positives and negatives (all weights 1: (Σ rank(positives) − P(P+1)/2)/(P·N)
/// from mid-ranks; with weights, scikit-learn's roc_auc_score(sample_weight=w)). Name "auc". Errors: a target
/// other than 0 or 1 (value_error "auc: target 2 of sample 4 is not 0 or 1"), a NaN score (value_error), sizes
/// differing (shape_error), result() without both classes (value_error "auc: needs positive and negative targets
/// (got 3 positives, 0 negatives)").
class auc : public metric {
 public:
  std::string name() const override { return "auc"; }
  double result() const override;
  void reset() override { samples_.clear(); }
  /// (score, target, weight) triples, flattened.
  std::vector<double> accumulators() const override {
    std::vector<double> out;
    for (const auto& s : samples_) {
      out.push_back(s.score);
      out.push_back(s.positive ? 1.0 : 0.0);
      out.push_back(s.weight);
    }
    return out;
  }
  void set_accumulators(const std::vector<double>& v) override {
    detail::check_accumulators("auc", v, v.size() - v.size() % 3);
    samples_.clear();
    for (std::size_t i = 0; i < v.size(); i += 3) samples_.push_back({v[i], v[i + 1] != 0, v[i + 2]});
  }

 protected:
  void do_update(const metric_batch& batch) override;

 private:
  struct sample {
    double score;
    bool positive;
    double weight;
  };
  std::vector<sample> samples_;
};

/// @brief Perplexity exp(mean NLL), the mean weighted by each batch's count of tokens.
///
/// update_nll(mean_nll, count) adds a batch whose mean negative log-likelihood (natural log) over `count`
/// tokens is mean_nll; from a fit loop it uses the batch loss and its count. Name "perplexity".
/// Errors: count ≤ 0 or a NaN NLL (value_error).
class perplexity : public metric {
 public:
  std::string name() const override { return "perplexity"; }
  void update_nll(double mean_nll, double count = 1);
  double result() const override;
  void reset() override { sum_ = count_ = 0; }
  std::vector<double> accumulators() const override { return {sum_, count_}; }
  void set_accumulators(const std::vector<double>& v) override {
    detail::check_accumulators("perplexity", v, 2);
    sum_ = v[0];
    count_ = v[1];
  }

 protected:
  void do_update(const metric_batch& batch) override { update_nll(batch.loss, batch.count); }

 private:
  double sum_ = 0, count_ = 0;
};

/// @brief Weighted mean of a scalar (the loss by default when used in a fit loop).
///
/// add(value, weight) adds one observation; from a fit loop it adds the batch loss with the batch count.
class mean_metric : public metric {
 public:
  explicit mean_metric(std::string name = "loss") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void add(double value, double weight = 1) {
    KEXUE_CHECK(weight >= 0, value_error, name_, "weight must be non-negative (got ", weight, ")");
    sum_ += value * weight;
    weight_ += weight;
  }
  double result() const override {
    KEXUE_CHECK(weight_ > 0, value_error, name_, "no data since the last reset");
    return sum_ / weight_;
  }
  void reset() override { sum_ = weight_ = 0; }
  std::vector<double> accumulators() const override { return {sum_, weight_}; }
  void set_accumulators(const std::vector<double>& v) override {
    detail::check_accumulators(name_, v, 2);
    sum_ = v[0];
    weight_ = v[1];
  }

 protected:
  void do_update(const metric_batch& batch) override { add(batch.loss, batch.count); }

 private:
  std::string name_;
  double sum_ = 0, weight_ = 0;
};

// ~~~ Implementation ~~~

namespace detail {

/// The class index held by a double target, or index_error naming the op, sample and class count.
inline index_t class_target(const char* op, double y, index_t sample, index_t classes) {
  const bool ok = y >= 0 && y < static_cast<double>(classes) && y == std::floor(y);
  if (!ok) {
    KEXUE_THROW(index_error, op, "target ", y, " of sample ", sample, " out of range for ", classes, " classes");
  }
  return static_cast<index_t>(y);
}

/// The per-sample weights of a batch, checked against its targets (shape, finite, non-negative): a pointer to
/// them, or null when the batch has none (every sample weighs 1).
inline const double* sample_weights(const char* op, const metric_batch& batch) {
  const auto& w = batch.sample_weights;
  if (!w.defined()) return nullptr;
  KEXUE_CHECK(w.shape() == batch.targets.shape(), shape_error, op, "sample_weights ", format_shape(w.shape()),
              " must have the targets' shape ", format_shape(batch.targets.shape()));
  for (index_t i = 0; i < w.numel(); ++i) {
    KEXUE_CHECK(std::isfinite(w.data()[i]) && w.data()[i] >= 0, value_error, op, "sample weight ", w.data()[i],
                " of sample ", i, " is not a finite non-negative number");
  }
  return w.data();
}

/// Checks a 0/1 target.
inline bool binary_target(const char* op, double y, index_t sample) {
  KEXUE_CHECK(y == 0 || y == 1, value_error, op, "target ", y, " of sample ", sample, " is not 0 or 1");
  return y == 1;
}

}  // namespace detail

inline void accuracy::do_update(const metric_batch& batch) {
  const auto& p = batch.predictions;
  const auto& y = batch.targets;
  const std::string op = name();
  KEXUE_CHECK(p.rank() == 2 && y.rank() == 1 && y.size(0) == p.size(0), shape_error, op,
              "expected predictions [B, C] and targets [B] (got ", format_shape(p.shape()), " and ",
              format_shape(y.shape()), ")");
  const index_t rows = p.size(0), classes = p.size(1);
  const double* w = detail::sample_weights(op.c_str(), batch);
  for (index_t i = 0; i < rows; ++i) {
    const index_t target = detail::class_target(op.c_str(), y.data()[i], i, classes);
    const double weight = w ? w[i] : 1.0;
    const double* row = p.data() + i * classes;
    const double score = row[target];
    index_t higher = 0;
    for (index_t c = 0; c < classes; ++c) {
      KEXUE_CHECK(!std::isnan(row[c]), value_error, op, "NaN score in sample ", i);
      higher += (row[c] > score || (row[c] == score && c < target)) ? 1 : 0;
    }
    correct_ += higher < k_ ? weight : 0;
    total_ += weight;
  }
}

inline double accuracy::result() const {
  KEXUE_CHECK(total_ > 0, value_error, name(), "no data since the last reset");
  return correct_ / total_;
}

inline void binary_accuracy::do_update(const metric_batch& batch) {
  const auto& p = batch.predictions;
  const auto& y = batch.targets;
  KEXUE_CHECK(p.shape() == y.shape(), shape_error, "binary_accuracy", "predictions ", format_shape(p.shape()),
              " and targets ", format_shape(y.shape()), " differ in shape");
  const index_t n = p.numel();
  const double* w = detail::sample_weights("binary_accuracy", batch);
  for (index_t i = 0; i < n; ++i) {
    const bool target = detail::binary_target("binary_accuracy", y.data()[i], i);
    const double weight = w ? w[i] : 1.0;
    correct_ += ((p.data()[i] >= threshold_) == target) ? weight : 0;
    total_ += weight;
  }
}

inline double binary_accuracy::result() const {
  KEXUE_CHECK(total_ > 0, value_error, "binary_accuracy", "no data since the last reset");
  return correct_ / total_;
}

inline confusion_metric::confusion_metric(confusion_score score, index_t num_classes, train::average avg,
                                          double threshold)
    : score_(score), classes_(num_classes), avg_(avg), threshold_(threshold) {
  const std::string op = name();
  KEXUE_CHECK(num_classes >= 2, value_error, op, "num_classes must be at least 2 (got ", num_classes, ")");
  KEXUE_CHECK(avg != train::average::binary || num_classes == 2, value_error, op,
              "the binary average needs num_classes 2 (got ", num_classes, "); use average::micro or macro");
  matrix_.assign(static_cast<std::size_t>(num_classes * num_classes), 0.0);
}

inline std::string confusion_metric::name() const {
  const char* base = score_ == confusion_score::precision ? "precision"
                     : score_ == confusion_score::recall  ? "recall"
                                                          : "f1";
  if (avg_ == train::average::micro) return std::string("micro_") + base;
  if (avg_ == train::average::macro) return std::string("macro_") + base;
  return base;
}

inline void confusion_metric::do_update(const metric_batch& batch) {
  const auto& p = batch.predictions;
  const auto& y = batch.targets;
  const std::string op = name();
  const bool scores = p.rank() == 2 && p.size(1) == classes_;
  const bool probabilities = p.rank() == 1 && classes_ == 2;
  KEXUE_CHECK((scores || probabilities) && y.rank() == 1 && y.size(0) == p.size(0), shape_error, op,
              "expected predictions [B, ", classes_, "]", classes_ == 2 ? " or [B]" : "", " and targets [B] (got ",
              format_shape(p.shape()), " and ", format_shape(y.shape()), ")");
  const index_t rows = p.size(0);
  const double* w = detail::sample_weights(op.c_str(), batch);
  for (index_t i = 0; i < rows; ++i) {
    const index_t target = detail::class_target(op.c_str(), y.data()[i], i, classes_);
    index_t predicted = 0;
    if (scores) {
      const double* row = p.data() + i * classes_;
      for (index_t c = 1; c < classes_; ++c) {
        if (row[c] > row[predicted]) predicted = c;
      }
    } else {
      predicted = p.data()[i] >= threshold_ ? 1 : 0;
    }
    matrix_[static_cast<std::size_t>(target * classes_ + predicted)] += w ? w[i] : 1.0;
  }
}

inline double confusion_metric::score_of(double tp, double fp, double fn) const {
  double num = tp, den = 0;
  switch (score_) {
    case confusion_score::precision:
      den = tp + fp;
      break;
    case confusion_score::recall:
      den = tp + fn;
      break;
    case confusion_score::f1:
      num = 2 * tp;
      den = 2 * tp + fp + fn;
      break;
  }
  return den > 0 ? num / den : 0.0;
}

inline std::vector<double> confusion_metric::per_class() const {
  std::vector<double> out;
  for (index_t c = 0; c < classes_; ++c) {
    double tp = 0, fp = 0, fn = 0;
    for (index_t o = 0; o < classes_; ++o) {
      const double v = matrix_[static_cast<std::size_t>(c * classes_ + o)];
      if (o == c)
        tp = v;
      else
        fn += v;
      if (o != c) fp += matrix_[static_cast<std::size_t>(o * classes_ + c)];
    }
    out.push_back(score_of(tp, fp, fn));
  }
  return out;
}

inline double confusion_metric::result() const {
  double total = 0, tp = 0;
  for (index_t c = 0; c < classes_; ++c) {
    for (index_t o = 0; o < classes_; ++o) total += matrix_[static_cast<std::size_t>(c * classes_ + o)];
    tp += matrix_[static_cast<std::size_t>(c * classes_ + c)];
  }
  KEXUE_CHECK(total > 0, value_error, name(), "no data since the last reset");
  const auto values = per_class();
  switch (avg_) {
    case train::average::binary:
      return values[1];
    case train::average::micro:
      return score_of(tp, total - tp, total - tp);  // single-label: FP total = FN total
    case train::average::macro:
      break;
  }
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(classes_);
}

inline void auc::do_update(const metric_batch& batch) {
  const auto& p = batch.predictions;
  const auto& y = batch.targets;
  KEXUE_CHECK(p.numel() == y.numel() && (p.rank() == 1 || (p.rank() == 2 && p.size(1) == 1)), shape_error, "auc",
              "expected predictions [B] or [B, 1] and B targets (got ", format_shape(p.shape()), " and ",
              format_shape(y.shape()), ")");
  const index_t n = p.numel();
  const double* w = detail::sample_weights("auc", batch);
  for (index_t i = 0; i < n; ++i) {
    const bool target = detail::binary_target("auc", y.data()[i], i);
    KEXUE_CHECK(!std::isnan(p.data()[i]), value_error, "auc", "NaN score in sample ", i);
    samples_.push_back({p.data()[i], target, w ? w[i] : 1.0});
  }
}

inline double auc::result() const {
  auto sorted = samples_;
  std::sort(sorted.begin(), sorted.end(), [](const sample& a, const sample& b) { return a.score < b.score; });
  // Σ over positives of w_i·(weight of the negatives below + ½ the weight of the negatives tied with it).
  double positives = 0, negatives = 0, credit = 0;
  const std::size_t n = sorted.size();
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    double tied_positives = 0, tied_negatives = 0;
    for (; j < n && sorted[j].score == sorted[i].score; ++j) {
      (sorted[j].positive ? tied_positives : tied_negatives) += sorted[j].weight;
    }
    credit += tied_positives * (negatives + 0.5 * tied_negatives);
    positives += tied_positives;
    negatives += tied_negatives;
    i = j;
  }
  KEXUE_CHECK(positives > 0 && negatives > 0, value_error, "auc", "needs positive and negative targets (got ",
              positives, " positives, ", negatives, " negatives)");
  return credit / (positives * negatives);
}

inline void perplexity::update_nll(double mean_nll, double count) {
  KEXUE_CHECK(count > 0, value_error, "perplexity", "count must be positive (got ", count, ")");
  KEXUE_CHECK(!std::isnan(mean_nll), value_error, "perplexity", "NaN negative log-likelihood");
  sum_ += mean_nll * count;
  count_ += count;
}

inline double perplexity::result() const {
  KEXUE_CHECK(count_ > 0, value_error, "perplexity", "no data since the last reset");
  return std::exp(sum_ / count_);
}

}  // namespace kexue::train
