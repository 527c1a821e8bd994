// SPDX-License-Identifier: MIT
// Tests of fit with nn modules, losses and optim wrappers: model_step + cross-entropy + metrics on a
// classifier, EMA evaluation through optim::ema (A13), schedules and reduce-on-plateau as callbacks, and a
// bit-for-bit resume of a module trained by ema(sgd) with a cosine schedule.
#include <filesystem>  // temporary checkpoint
#include <memory>      // std::make_shared
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/loss/classification.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/optim/ema.hpp>
#include <kexue/optim/schedule.hpp>
#include <kexue/optim/sgd.hpp>
#include <kexue/train/callbacks.hpp>
#include <kexue/train/fit.hpp>
#include <kexue/train/metrics.hpp>
#include <kexue/train/schedules.hpp>

using kexue::index_t;
using kexue::tensor;
namespace train = kexue::train;
namespace optim = kexue::optim;
namespace nn = kexue::nn;

namespace {

/// 3 well-separated 2-D clusters (centres (4,0), (0,4), (-4,-4)), 30 points, labels 0..2; batch 8.
auto cluster_loader(std::uint64_t seed) {
  auto noise = kexue::randn<float>({30, 2}, seed);
  auto labels = tensor<index_t>::empty({30});
  const float centres[3][2] = {{4, 0}, {0, 4}, {-4, -4}};
  for (index_t i = 0; i < 30; ++i) {
    labels(i) = i % 3;
    noise(i, 0) += centres[i % 3][0];
    noise(i, 1) += centres[i % 3][1];
  }
  return train::data_loader(train::make_tensor_dataset(noise, labels),
                            train::data_loader_options().batch_size(8).shuffle(true).seed(seed).num_workers(1));
}

auto ce = [](const tensor<float>& logits, const tensor<index_t>& y) { return kexue::loss::cross_entropy(logits, y); };

}  // namespace

TEST_SUITE("train.fit") {
  TEST_CASE("a linear classifier learns three clusters; metrics and val_ metrics are logged") {
    kexue::generator gen(3);
    nn::linear<float> model(2, 3, gen);
    optim::sgd<float> opt(model.parameters(), optim::sgd_options().lr(0.1));
    auto loader = cluster_loader(1);
    auto acc = std::make_shared<train::accuracy>();
    auto f1 = std::make_shared<train::confusion_metric>(train::macro_f1(3));
    auto hist = train::fit(train::model_step(model, ce), opt, loader, loader,
                           train::fit_options().epochs(8).verbose(0).model(model).metrics({acc, f1}));
    CHECK(hist.keys() ==
          std::vector<std::string>{"loss", "accuracy", "macro_f1", "val_loss", "val_accuracy", "val_macro_f1", "lr"});
    CHECK(hist.values("val_accuracy").back() == 1.0);
    CHECK(hist.values("val_macro_f1").back() == 1.0);
    CHECK(hist.values("loss").back() < hist.values("loss").front());
    CHECK_FALSE(model.is_training());  // the last step run was validation
  }

  TEST_CASE("EMA evaluation validates with the averaged weights and trains with the raw ones") {
    kexue::generator gen(4);
    nn::linear<float> model(2, 3, gen);
    optim::ema<float> opt(optim::sgd<float>(model.parameters(), optim::sgd_options().lr(0.2)),
                          optim::ema_options().decay(0.9));
    auto loader = cluster_loader(2);
    int validated = 0;
    auto inner = train::model_step(model, ce);
    auto step = [&](std::tuple<tensor<float>, tensor<index_t>>& batch, train::step_context& ctx) {
      if (!ctx.training) {
        CHECK(opt.applied());
        const auto avg = opt.averages();
        CHECK(model.weight.to_vector() == avg[0].to_vector());
        ++validated;
      } else {
        CHECK_FALSE(opt.applied());
      }
      return inner(batch, ctx);
    };
    train::fit(step, opt, loader, loader,
               train::fit_options().epochs(2).verbose(0).callbacks({train::ema_evaluation::of(opt)}));
    CHECK(validated == 2 * 4);  // 4 validation batches per epoch
    CHECK_FALSE(opt.applied());
  }

  TEST_CASE("reduce_lr_on_plateau lowers the learning rate when the monitored value stalls") {
    kexue::generator gen(5);
    nn::linear<float> model(2, 3, gen);
    optim::sgd<float> opt(model.parameters(), optim::sgd_options().lr(0.1));
    auto loader = cluster_loader(3);
    // A constant loss never improves after epoch 0: patience 1 -> the lr drops after epoch 2 (bad steps 2 > 1).
    auto step = [&](std::tuple<tensor<float>, tensor<index_t>>& batch) {
      return kexue::sum(model(std::get<0>(batch))) * 0.0f + 1.0f;
    };
    auto plateau =
        std::make_shared<optim::reduce_on_plateau<float>>(opt, optim::plateau_options().patience(1).factor(0.5));
    auto hist = train::fit(step, opt, loader,
                           train::fit_options().epochs(5).verbose(0).callbacks(
                               {std::make_shared<train::reduce_lr_on_plateau<float>>(plateau, "loss")}));
    CHECK(hist.values("lr") == std::vector<double>{0.1, 0.1, 0.1, 0.05, 0.05});
  }

  TEST_CASE("a module trained by ema(sgd) with a cosine schedule resumes bit for bit") {
    const auto ckpt = (std::filesystem::temp_directory_path() / "kexue_train_module.ckpt").string();
    auto run = [&](index_t epochs, std::uint64_t init, bool resume) {
      kexue::generator gen(init);
      auto model = std::make_shared<nn::linear<float>>(2, 3, gen);
      auto opt = std::make_shared<optim::ema<float>>(
          optim::sgd<float>(model->parameters(), optim::sgd_options().lr(0.3).momentum(0.9)),
          optim::ema_options().decay(0.8));
      auto cosine = std::make_shared<optim::cosine_schedule<float>>(
          *opt, optim::cosine_options().warmup_steps(4).total_steps(16));
      auto loader = cluster_loader(7);
      train::fit(
          train::model_step(*model, ce), *opt, loader,
          train::fit_options().epochs(epochs).verbose(0).model(*model).checkpoint_path(ckpt).resume(resume).callbacks(
              {train::schedule_callback<float>::per_batch(cosine)}));
      return std::make_pair(model->weight.to_vector(), opt->averages()[0].to_vector());
    };
    std::filesystem::remove(ckpt);
    const auto full = run(4, 1, false);
    std::filesystem::remove(ckpt);
    run(2, 1, false);
    const auto resumed = run(4, 99, true);  // other initial weights: the checkpoint overwrites them
    CHECK(resumed.first == full.first);
    CHECK(resumed.second == full.second);
    const auto c = train::load_checkpoint(ckpt);
    CHECK(c.model.keys() == std::vector<std::string>{"weight", "bias"});
    CHECK(c.epoch == 4);
    std::filesystem::remove(ckpt);
  }
}
