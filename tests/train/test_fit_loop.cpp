// SPDX-License-Identifier: MIT
// Tests of train/fit.hpp and train/callbacks.hpp: callback order, history, evaluate/predict, learning-rate
// schedules (A07's warm-up), early stopping with restored weights, EMA evaluation swaps, NaN loss errors.
#include <limits>  // quiet_NaN
#include <memory>  // std::make_shared
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/optim/sgd.hpp>
#include <kexue/train/callbacks.hpp>
#include <kexue/train/fit.hpp>

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
namespace train = kexue::train;
namespace optim = kexue::optim;

namespace {

/// y = x·[1, -2, 0.5] + 0.3 on 12 samples; a loader of batch 4 (3 batches per epoch).
auto regression_loader(int workers = 0, bool shuffle = false, std::uint64_t seed = 0) {
  auto x = kexue::randn<double>({12, 3}, 7);
  auto w = tensor<double>{{1.0}, {-2.0}, {0.5}};
  auto y = kexue::matmul(x, w) + 0.3;
  return train::data_loader(
      train::make_tensor_dataset(x, y),
      train::data_loader_options().batch_size(4).num_workers(workers).shuffle(shuffle).seed(seed));
}

/// A linear model held as two plain tensors, and its mean squared error step.
struct linear_model {
  tensor<double> w = kexue::zeros<double>({3, 1}).requires_grad(true);
  tensor<double> b = kexue::zeros<double>({1}).requires_grad(true);
  auto step() {
    return [this](std::tuple<tensor<double>, tensor<double>>& batch) {
      auto& [x, y] = batch;
      return kexue::mean(kexue::square(kexue::matmul(x, w) + b - y));
    };
  }
  /// The same step, with a NaN loss at global step `bad`.
  auto step_with_nan_at(index_t bad) {
    return [inner = step(), bad](std::tuple<tensor<double>, tensor<double>>& batch, train::step_context& ctx) {
      auto loss = inner(batch);
      return ctx.global_step == bad ? loss * std::numeric_limits<double>::quiet_NaN() : loss;
    };
  }
};

/// Records every hook as a short word.
struct recorder : train::callback {
  std::vector<std::string> events;
  void on_train_begin(train::training_state&, train::logs&) override { events.push_back("train_begin"); }
  void on_train_end(train::training_state&, train::logs&) override { events.push_back("train_end"); }
  void on_epoch_begin(train::training_state& s, train::logs&) override {
    events.push_back("epoch_begin " + std::to_string(s.epoch));
  }
  void on_epoch_end(train::training_state& s, train::logs& l) override {
    events.push_back("epoch_end " + std::to_string(s.epoch) + " " + l.describe());
  }
  void on_batch_begin(train::training_state& s, train::logs&) override {
    events.push_back("batch_begin " + std::to_string(s.step));
  }
  void on_batch_end(train::training_state& s, train::logs&) override {
    events.push_back("batch_end " + std::to_string(s.step));
  }
  void on_validation_begin(train::training_state&, train::logs&) override { events.push_back("val_begin"); }
  void on_validation_end(train::training_state&, train::logs&) override { events.push_back("val_end"); }
};

}  // namespace

TEST_SUITE("train.fit") {
  TEST_CASE("callbacks are called in Keras order with validation between the batches and epoch end") {
    auto loader = regression_loader();
    linear_model m;
    optim::sgd<double> opt({m.w, m.b}, optim::sgd_options().lr(0.1));
    auto rec = std::make_shared<recorder>();
    train::fit(m.step(), opt, loader, loader, train::fit_options().epochs(2).verbose(0).callbacks({rec}));
    std::vector<std::string> expected{"train_begin"};
    for (int e = 0; e < 2; ++e) {
      expected.push_back("epoch_begin " + std::to_string(e));
      for (int k = 0; k < 3; ++k) {
        expected.push_back("batch_begin " + std::to_string(k));
        expected.push_back("batch_end " + std::to_string(k));
      }
      expected.push_back("val_begin");
      expected.push_back("val_end");
      expected.push_back("epoch_end " + std::to_string(e) + " entries: loss, val_loss, lr");
    }
    expected.push_back("train_end");
    CHECK(rec->events == expected);
  }

  TEST_CASE("fit reduces the loss, the history records every epoch, evaluate and predict agree") {
    auto loader = regression_loader(2);
    linear_model m;
    optim::sgd<double> opt({m.w, m.b}, optim::sgd_options().lr(0.1));
    const double before = train::evaluate(m.step(), loader).get("loss");
    auto hist = train::fit(m.step(), opt, loader, train::fit_options().epochs(5).verbose(0));
    CHECK(hist.epochs() == std::vector<index_t>{0, 1, 2, 3, 4});
    CHECK(hist.keys() == std::vector<std::string>{"loss", "lr"});
    const auto losses = hist.values("loss");
    CHECK(losses.back() < losses.front());
    const double after = train::evaluate(m.step(), loader).get("loss");
    CHECK(after < before / 4);
    auto pred = train::predict([&](auto& batch) { return kexue::matmul(std::get<0>(batch), m.w) + m.b; }, loader);
    CHECK(pred.shape() == shape{12, 1});
    CHECK_FALSE(pred.requires_grad());
    // predict's rows follow the loader's order: row 5 is sample 5.
    auto x5 = std::get<0>(loader.dataset().get(5));
    CHECK(pred(5, 0) == doctest::Approx(kexue::sum(x5 * kexue::reshape(m.w, {3})).item() + m.b(0)));
  }

  TEST_CASE("a NaN loss stops training with an error naming the epoch, the batch and the global step") {
    auto loader = regression_loader();
    linear_model m;
    optim::sgd<double> opt({m.w, m.b}, optim::sgd_options().lr(0.1));
    auto step = m.step_with_nan_at(4);
    CHECK_THROWS_WITH_AS(train::fit(step, opt, loader, train::fit_options().epochs(3).verbose(0)),
                         "fit: loss is nan at epoch 1, batch 1 (global step 4)", kexue::value_error);
    auto not_scalar = [&](std::tuple<tensor<double>, tensor<double>>& batch) { return std::get<1>(batch); };
    CHECK_THROWS_WITH_AS(train::fit(not_scalar, opt, loader, train::fit_options().verbose(0)),
                         "fit: the step returned a loss of shape [4, 1], expected a single value", kexue::shape_error);
  }

  TEST_CASE("an epoch schedule and A07's per-batch linear warm-up set the learning rate exactly") {
    auto loader = regression_loader();  // 3 steps per epoch
    linear_model m;
    optim::sgd<double> opt({m.w, m.b}, optim::sgd_options().lr(0.5));
    std::vector<double> seen;
    auto spy = std::make_shared<train::lambda_callback>();
    spy->batch_end([&](train::training_state&, train::logs& l) { seen.push_back(l.get("lr")); });
    // warm-up over 2 epochs: lr = 0.001 · (step + 1) / (3 · 2), then 0.001.
    auto warmup = std::make_shared<train::lr_scheduler>(train::lr_scheduler::per_batch(
        [](index_t step, double) { return step < 6 ? 0.001 * static_cast<double>(step + 1) / 6.0 : 0.001; }));
    train::fit(m.step(), opt, loader, train::fit_options().epochs(3).verbose(0).callbacks({warmup, spy}));
    REQUIRE(seen.size() == 9);
    for (std::size_t i = 0; i < 9; ++i) CHECK(seen[i] == (i < 6 ? 0.001 * static_cast<double>(i + 1) / 6.0 : 0.001));
    // Per epoch (A07: 1e-2 before epoch 2, then 1e-3), visible in the epoch logs.
    auto by_epoch = std::make_shared<train::lr_scheduler>(
        train::lr_scheduler::per_epoch([](index_t epoch, double) { return epoch < 2 ? 1e-2 : 1e-3; }));
    auto hist = train::fit(m.step(), opt, loader, train::fit_options().epochs(3).verbose(0).callbacks({by_epoch}));
    CHECK(hist.values("lr") == std::vector<double>{1e-2, 1e-2, 1e-3});
    auto bad =
        std::make_shared<train::lr_scheduler>(train::lr_scheduler::per_epoch([](index_t, double) { return -0.1; }));
    CHECK_THROWS_WITH_AS(train::fit(m.step(), opt, loader, train::fit_options().verbose(0).callbacks({bad})),
                         "lr_scheduler: schedule returned -0.1 at epoch 0", kexue::value_error);
  }

  TEST_CASE("early stopping waits `patience` epochs, stops, and restores the best weights") {
    auto loader = regression_loader();
    auto w = kexue::ones<double>({2}).requires_grad(true);
    optim::sgd<double> opt({w}, optim::sgd_options().lr(0.1));
    // Epoch losses 5, 4, 4.05, 4.2, 3: with min_delta 0.1 epoch 2 does not improve on 4 (wait 1), epoch 3
    // neither (wait 2 > patience 1): stop after epoch 3; epoch 4 never runs.
    std::vector<std::vector<double>> weights_at_end;
    auto spy = std::make_shared<train::lambda_callback>();
    spy->epoch_end([&](train::training_state&, train::logs&) { weights_at_end.push_back(w.to_vector()); });
    auto stopper = std::make_shared<train::early_stopping>(
        train::early_stopping_options().monitor("loss").patience(1).min_delta(0.1).restore_best_weights(true));
    // The gradient of 0·Σw is 0, so give w a real update to see the restore: a step that also adds Σw·0.01.
    auto step = [&](std::tuple<tensor<double>, tensor<double>>&, train::step_context& ctx) {
      const double script[] = {5, 4, 4.05, 4.2, 3};
      return kexue::sum(w) * 0.01 + (script[ctx.epoch] - 0.01 * kexue::sum(w).item());
    };
    auto hist = train::fit(step, opt, loader, train::fit_options().epochs(5).verbose(0).callbacks({spy, stopper}));
    CHECK(hist.epochs() == std::vector<index_t>{0, 1, 2, 3});
    CHECK(stopper->best_epoch() == 1);
    CHECK(stopper->stopped_epoch() == 3);
    CHECK(stopper->best() == doctest::Approx(4.0));
    REQUIRE(weights_at_end.size() == 4);
    CHECK(w.to_vector() == weights_at_end[1]);
    CHECK(weights_at_end[3] != weights_at_end[1]);
    auto missing = std::make_shared<train::early_stopping>();
    CHECK_THROWS_WITH_AS(train::fit(step, opt, loader, train::fit_options().verbose(0).callbacks({missing})),
                         "early_stopping: monitored value 'val_loss' is not in the logs (entries: loss, lr)",
                         kexue::value_error);
  }

  TEST_CASE("EMA evaluation swaps weights in for validation only, and back even when validation throws") {
    auto loader = regression_loader();
    linear_model m;
    optim::sgd<double> opt({m.w, m.b}, optim::sgd_options().lr(0.1));
    std::vector<std::string> calls;
    bool swapped = false;
    auto ema = std::make_shared<train::ema_evaluation>([&] { calls.push_back("apply"), swapped = true; },
                                                       [&] { calls.push_back("restore"), swapped = false; });
    auto inner = m.step();
    bool fail = false;
    auto step = [&](std::tuple<tensor<double>, tensor<double>>& batch, train::step_context& ctx) {
      CHECK(swapped == !ctx.training);  // training never sees the averaged weights
      if (fail && !ctx.training) throw std::runtime_error("validation failed");
      return inner(batch);
    };
    train::fit(step, opt, loader, loader, train::fit_options().epochs(2).verbose(0).callbacks({ema}));
    CHECK(calls == std::vector<std::string>{"apply", "restore", "apply", "restore"});
    fail = true;
    CHECK_THROWS_WITH_AS(train::fit(step, opt, loader, loader, train::fit_options().verbose(0).callbacks({ema})),
                         "validation failed", std::runtime_error);
    CHECK_FALSE(swapped);
  }

  TEST_CASE("terminate_on_nan ends training after the NaN batch instead of throwing") {
    auto loader = regression_loader();
    linear_model m;
    optim::sgd<double> opt({m.w, m.b}, optim::sgd_options().lr(0.1));
    auto step = m.step_with_nan_at(4);
    auto nan_stop = std::make_shared<train::terminate_on_nan>();
    auto hist = train::fit(step, opt, loader,
                           train::fit_options().epochs(5).verbose(0).check_finite(false).callbacks({nan_stop}));
    CHECK(nan_stop->nan_step() == 4);
    CHECK(hist.epochs() == std::vector<index_t>{0, 1});  // epoch 1 ends early and is the last
  }

  TEST_CASE("a loss coefficient held by the step can be changed from a callback (A07)") {
    auto loader = regression_loader();
    linear_model m;
    optim::sgd<double> opt({m.w, m.b}, optim::sgd_options().lr(0.0));  // lr 0: the data term stays fixed
    double coefficient = 0.1;
    std::vector<double> seen;
    auto step = [&](std::tuple<tensor<double>, tensor<double>>&) {
      seen.push_back(coefficient);
      return kexue::sum(m.w) * 0.0 + coefficient;
    };
    auto switcher = std::make_shared<train::lambda_callback>();
    switcher->epoch_begin([&](train::training_state& s, train::logs&) {
      if (s.epoch >= 1) coefficient = 0.01;  // A07 sets e = 0.01 after epoch 100; here after epoch 0
    });
    auto hist = train::fit(step, opt, loader, train::fit_options().epochs(2).verbose(0).callbacks({switcher}));
    CHECK(seen == std::vector<double>{0.1, 0.1, 0.1, 0.01, 0.01, 0.01});
    CHECK(hist.values("loss")[0] == doctest::Approx(0.1));  // weighted batch mean: rounding, not exact
    CHECK(hist.values("loss")[1] == doctest::Approx(0.01));
  }

  TEST_CASE("evaluate prefixes its logs and predict rejects results that differ beyond the first axis") {
    auto loader = regression_loader();  // batches of 4, 4, 4
    linear_model m;
    auto mse_step = [&](std::tuple<tensor<double>, tensor<double>>& batch) {
      auto& [x, y] = batch;
      auto pred = kexue::matmul(x, m.w) + m.b;
      return train::step_output<double>(kexue::mean(kexue::square(pred - y)), pred, y);
    };
    const auto l = train::evaluate(mse_step, loader, train::fit_options(), "test_");
    CHECK(l.describe() == "entries: test_loss");
    // With w = 0 and b = 0 the loss is the mean of y²: equal to the full-data mean since batches are equal.
    const auto& y_all = std::get<1>(loader.dataset().tensors());
    CHECK(l.get("test_loss") == doctest::Approx(kexue::mean(kexue::square(y_all)).item()));
    auto ragged = [](std::tuple<tensor<double>, tensor<double>>&, train::step_context& ctx) {
      return kexue::zeros<double>({2, ctx.step == 2 ? index_t{5} : index_t{4}});
    };
    CHECK_THROWS_WITH_AS(train::predict(ragged, loader), "predict: batch 2 gave shape [2, 5], batch 0 gave [2, 4]",
                         kexue::shape_error);
  }
}
