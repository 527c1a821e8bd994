// SPDX-License-Identifier: MIT
// Tests of train/checkpoint.hpp, train/csv_logger.hpp, train/progress.hpp and model_checkpoint through fit:
// resume after an interrupt equals an uninterrupted run bit for bit; CSV content and append on resume;
// progress output; checkpoint mismatch errors.
#include <cstdio>      // std::remove
#include <filesystem>  // temporary directory
#include <fstream>     // reading the CSV back
#include <memory>      // std::make_shared
#include <sstream>     // progress output
#include <stdexcept>   // a simulated crash
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/io/serialize.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/train/callbacks.hpp>
#include <kexue/train/checkpoint.hpp>
#include <kexue/train/csv_logger.hpp>
#include <kexue/train/fit.hpp>
#include <kexue/train/progress.hpp>

using kexue::index_t;
using kexue::tensor;
namespace train = kexue::train;
namespace optim = kexue::optim;

namespace {

/// A fresh path in the temporary directory (removed first).
std::string temp_path(const std::string& name) {
  const auto p = std::filesystem::temp_directory_path() / ("kexue_train_" + name);
  std::filesystem::remove(p);
  return p.string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A shuffled loader (2 workers) over a small regression problem: 10 samples, batch 3 (4 batches).
auto shuffled_loader(std::uint64_t seed = 5) {
  auto x = kexue::randn<float>({10, 3}, 11);
  auto y = kexue::randn<float>({10, 1}, 12);
  return train::data_loader(train::make_tensor_dataset(x, y),
                            train::data_loader_options().batch_size(3).shuffle(true).seed(seed).num_workers(2));
}

/// A two-layer model from plain tensors, trained with Adam; the step uses the per-step generator (noise
/// on the inputs, as dropout would), so the resume must also reproduce the random draws.
struct tiny_model {
  tensor<float> w1, w2;
  explicit tiny_model(std::uint64_t init) {
    w1 = kexue::randn<float>({3, 4}, init).requires_grad(true);
    w2 = kexue::randn<float>({4, 1}, init + 1).requires_grad(true);
  }
  auto step() {
    return [this](std::tuple<tensor<float>, tensor<float>>& batch, train::step_context& ctx) {
      auto& [x, y] = batch;
      auto noisy = ctx.training ? x + kexue::randn<float>(x.shape(), *ctx.rng, 0.0f, 0.1f) : x;
      auto h = kexue::tanh(kexue::matmul(noisy, w1));
      return kexue::mean(kexue::square(kexue::matmul(h, w2) - y));
    };
  }
};

}  // namespace

TEST_SUITE("train.fit") {
  TEST_CASE("resuming after an interrupt gives the uninterrupted run bit for bit") {
    const std::string full_ckpt = temp_path("full.ckpt"), part_ckpt = temp_path("part.ckpt");
    auto loader = shuffled_loader();
    // Uninterrupted: 5 epochs.
    tiny_model a(1);
    optim::adam<float> opt_a({a.w1, a.w2}, optim::adam_options().lr(0.05));
    auto stop_a = std::make_shared<train::early_stopping>(train::early_stopping_options().monitor("loss").patience(10));
    auto hist_a =
        train::fit(a.step(), opt_a, loader,
                   train::fit_options().epochs(5).verbose(0).seed(9).checkpoint_path(full_ckpt).callbacks({stop_a}));
    // Interrupted after 2 epochs, then a new process (new model with other values, new optimizer) resumes.
    {
      tiny_model b(1);
      optim::adam<float> opt_b({b.w1, b.w2}, optim::adam_options().lr(0.05));
      auto stop_b =
          std::make_shared<train::early_stopping>(train::early_stopping_options().monitor("loss").patience(10));
      train::fit(b.step(), opt_b, loader,
                 train::fit_options().epochs(2).verbose(0).seed(9).checkpoint_path(part_ckpt).callbacks({stop_b}));
    }
    tiny_model c(77);
    optim::adam<float> opt_c({c.w1, c.w2}, optim::adam_options().lr(0.05));
    auto stop_c = std::make_shared<train::early_stopping>(train::early_stopping_options().monitor("loss").patience(10));
    std::vector<index_t> epochs_run;
    auto spy = std::make_shared<train::lambda_callback>();
    spy->epoch_begin([&](train::training_state& s, train::logs&) { epochs_run.push_back(s.epoch); });
    auto hist_c =
        train::fit(c.step(), opt_c, loader,
                   train::fit_options().epochs(5).verbose(0).seed(9).checkpoint_path(part_ckpt).resume(true).callbacks(
                       {stop_c, spy}));
    CHECK(epochs_run == std::vector<index_t>{2, 3, 4});
    CHECK(c.w1.to_vector() == a.w1.to_vector());  // exact equality of every float
    CHECK(c.w2.to_vector() == a.w2.to_vector());
    CHECK(hist_c.epochs() == hist_a.epochs());
    CHECK(hist_c.values("loss") == hist_a.values("loss"));
    CHECK(stop_c->best() == stop_a->best());
    CHECK(stop_c->best_epoch() == stop_a->best_epoch());
    // Both checkpoints now hold the same state.
    const auto ca = train::load_checkpoint(full_ckpt), cc = train::load_checkpoint(part_ckpt);
    CHECK(ca.epoch == 5);
    CHECK(cc.global_step == 20);
    CHECK(ca.optimizer.keys() == cc.optimizer.keys());
    // A checkpoint written with another loader seed is refused.
    auto other = shuffled_loader(6);
    CHECK_THROWS_WITH_AS(
        train::fit(c.step(), opt_c, other,
                   train::fit_options().epochs(6).verbose(0).seed(9).checkpoint_path(part_ckpt).resume(true)),
        ("fit: checkpoint '" + part_ckpt + "' was written with loader seed 5, the loader has seed 6").c_str(),
        kexue::value_error);
    std::filesystem::remove(full_ckpt);
    std::filesystem::remove(part_ckpt);
  }

  TEST_CASE("a crash mid-epoch resumes from the last batch checkpoint with exact weights and logs") {
    const std::string full_ckpt = temp_path("mid_full.ckpt"), crash_ckpt = temp_path("mid_crash.ckpt");
    auto loader = shuffled_loader();  // 4 batches per epoch
    auto make_step = [](tiny_model& m) {
      return [inner = m.step()](std::tuple<tensor<float>, tensor<float>>& batch, train::step_context& ctx) mutable {
        train::step_output<float> out(inner(batch, ctx));
        out.values.set("half_loss", 0.5 * static_cast<double>(out.loss.item()));
        return out;
      };
    };
    auto run = [&](tiny_model& m, const std::string& ckpt, std::vector<std::shared_ptr<train::callback>> extra) {
      optim::adam<float> opt({m.w1, m.w2}, optim::adam_options().lr(0.05));
      return train::fit(make_step(m), opt, loader,
                        train::fit_options()
                            .epochs(3)
                            .verbose(0)
                            .seed(4)
                            .metrics({std::make_shared<train::perplexity>()})
                            .checkpoint_path(ckpt)
                            .checkpoint_every(1)
                            .resume(true)
                            .callbacks(std::move(extra)));
    };
    tiny_model a(1);
    auto hist_a = run(a, full_ckpt, {});
    tiny_model b(1);
    auto crash = std::make_shared<train::lambda_callback>();
    crash->batch_end([](train::training_state& s, train::logs&) {
      if (s.global_step == 7) throw std::runtime_error("power cut");
    });
    CHECK_THROWS_WITH_AS(run(b, crash_ckpt, {crash}), "power cut", std::runtime_error);
    const auto mid = train::load_checkpoint(crash_ckpt);
    CHECK(mid.epoch == 1);
    CHECK(mid.batch == 2);
    CHECK(mid.global_step == 6);
    tiny_model c(55);
    std::vector<index_t> first_steps;
    auto spy = std::make_shared<train::lambda_callback>();
    spy->batch_begin([&](train::training_state& s, train::logs&) { first_steps.push_back(s.step); });
    auto hist_c = run(c, crash_ckpt, {spy});
    CHECK(first_steps == std::vector<index_t>{2, 3, 0, 1, 2, 3});
    CHECK(c.w1.to_vector() == a.w1.to_vector());
    CHECK(c.w2.to_vector() == a.w2.to_vector());
    CHECK(hist_c.values("loss") == hist_a.values("loss"));
    CHECK(hist_c.values("perplexity") == hist_a.values("perplexity"));
    CHECK(hist_c.values("half_loss") == hist_a.values("half_loss"));
    std::filesystem::remove(full_ckpt);
    std::filesystem::remove(crash_ckpt);
  }

  TEST_CASE("csv_logger writes a header and one row per epoch, and appends when resumed") {
    const std::string csv = temp_path("log.csv"), ckpt = temp_path("csv.ckpt");
    auto loader = shuffled_loader();
    auto w = kexue::ones<float>({1}).requires_grad(true);
    optim::adam<float> opt({w}, optim::adam_options().lr(0.25));
    // Loss = 0·w + 0.5 / 2^epoch: epoch means 0.5, 0.25, 0.125, exactly representable.
    auto step = [&](std::tuple<tensor<float>, tensor<float>>&, train::step_context& ctx) {
      return kexue::sum(w) * 0.0f + 0.5f / static_cast<float>(1 << ctx.epoch);
    };
    auto options = train::fit_options().verbose(0).checkpoint_path(ckpt).resume(true);
    train::fit(step, opt, loader,
               train::fit_options(options).epochs(2).callbacks({std::make_shared<train::csv_logger>(csv)}));
    CHECK(read_file(csv) == "epoch,loss,lr\n0,0.5,0.25\n1,0.25,0.25\n");
    train::fit(step, opt, loader,
               train::fit_options(options).epochs(3).callbacks({std::make_shared<train::csv_logger>(csv)}));
    CHECK(read_file(csv) == "epoch,loss,lr\n0,0.5,0.25\n1,0.25,0.25\n2,0.125,0.25\n");
    // A fresh run (no resume) truncates.
    std::filesystem::remove(ckpt);
    train::fit(step, opt, loader,
               train::fit_options(options).epochs(1).callbacks({std::make_shared<train::csv_logger>(csv)}));
    CHECK(read_file(csv) == "epoch,loss,lr\n0,0.5,0.25\n");
    std::filesystem::remove(csv);
    std::filesystem::remove(ckpt);
  }

  TEST_CASE("model_checkpoint saves the best weights through io, with {epoch} in the path") {
    auto loader = shuffled_loader();
    tiny_model m(3);
    optim::adam<float> opt({m.w1, m.w2}, optim::adam_options().lr(0.05));
    const std::string pattern = temp_path("best-{epoch}.kx");
    auto saver = std::make_shared<train::model_checkpoint>(
        pattern, train::model_checkpoint_options().monitor("loss").save_best_only(true));
    train::fit(m.step(), opt, loader, train::fit_options().epochs(3).verbose(0).callbacks({saver}));
    REQUIRE_FALSE(saver->last_path().empty());
    CHECK(saver->last_path().find("best-") != std::string::npos);
    const auto saved = kexue::io::load(saver->last_path());
    CHECK(saved.keys() == std::vector<std::string>{"params.0", "params.1"});
    for (index_t e = 1; e <= 3; ++e) std::filesystem::remove(saver->path_for(e - 1));
  }

  TEST_CASE("progress prints one line per epoch off a terminal and a Keras bar on one") {
    auto loader = shuffled_loader();
    auto w = kexue::ones<float>({1}).requires_grad(true);
    optim::adam<float> opt({w}, optim::adam_options().lr(0.5));
    auto step = [&](std::tuple<tensor<float>, tensor<float>>&) { return kexue::sum(w) * 0.0f + 0.25f; };
    std::ostringstream lines, bar;
    auto as_lines = std::make_shared<train::progress_bar>(lines);  // automatic: not a terminal
    CHECK_FALSE(as_lines->draws_bar());
    train::fit(step, opt, loader, train::fit_options().epochs(2).verbose(0).callbacks({as_lines}));
    CHECK(lines.str() ==
          "Epoch 1/2 - 4/4 - 0s - loss: 0.2500 - lr: 0.5000\nEpoch 2/2 - 4/4 - 0s - loss: 0.2500 - lr: 0.5000\n");
    auto as_bar = std::make_shared<train::progress_bar>(bar, train::progress_display::bar);
    train::fit(step, opt, loader, train::fit_options().epochs(1).verbose(0).callbacks({as_bar}));
    const std::string out = bar.str();

    CHECK(out.rfind("Epoch 1/1\n\r1/4 [======>.......................] - ETA: ", 0) == 0);
    CHECK(out.find("\r4/4 [==============================] - 0s ") != std::string::npos);
    CHECK(out.find(" - loss: 0.2500 - lr: 0.5000\033[K\n") != std::string::npos);
    CHECK(train::progress_bar::format_value(1.2e-5) == "1.2000e-05");
    CHECK(train::progress_bar::format_duration(3725) == "1:02:05");
  }
}
