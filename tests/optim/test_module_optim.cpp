// SPDX-License-Identifier: MIT
// Optimizers over nn modules: module.parameters(), tied weights once, frozen layers skipped, name filters
// for wrappers, lazy Adam on an embedding table (A28 §6).
#include <algorithm>  // std::find, std::copy
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/embedding.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/optim/adam.hpp>
#include <kexue/optim/lazy.hpp>
#include <kexue/optim/sgd.hpp>
#include <kexue/optim/weight_decay.hpp>

#include "support/tensor_checks.hpp"

using namespace kexue;
using kexue::testing::check_values;

TEST_SUITE("optim.module") {
  TEST_CASE("an adam built from module.parameters() trains a linear layer") {
    generator gen(3);
    nn::linear<float> layer(nn::linear_options(4, 2), gen);
    optim::adam adam(layer.parameters(), optim::adam_options().lr(1e-2));  // adam<float> deduced
    const auto x = randn<float>({8, 4}, gen), y = randn<float>({8, 2}, gen);
    float first = 0, last = 0;
    for (int s = 0; s < 50; ++s) {
      adam.zero_grad();
      auto loss = mean(square(layer(x) - y));
      loss.backward();
      adam.step();
      last = loss.item();
      if (s == 0) first = last;
    }
    CHECK(last < 0.8f * first);
  }

  TEST_CASE("a tied parameter is updated once and a frozen layer not at all") {
    struct tied : nn::module<double> {
      tensor<double> w;
      tied() {
        w = register_parameter("a", ones<double>({2}));
        register_parameter("b", w);
      }
    };
    tied m;
    optim::sgd<double> opt(m.parameters(), optim::sgd_options().lr(0.5));
    m.w.set_grad(ones<double>({2}));
    opt.step();
    check_values(m.w, {2}, {0.5, 0.5});  // 1 − 0.5·1, once

    generator gen(5);
    nn::linear<double> frozen(nn::linear_options(2, 2), gen), live(nn::linear_options(2, 1), gen);
    frozen.freeze();
    auto params = frozen.parameters();
    for (const auto& p : live.parameters()) params.push_back(p);
    optim::sgd<double> sgd(params, optim::sgd_options().lr(0.1));
    const auto frozen_weight = frozen.weight.detach().copy(), live_weight = live.weight.detach().copy();
    sum(live(frozen(ones<double>({1, 2})))).backward();
    sgd.step();
    CHECK(frozen.weight.to_vector() == frozen_weight.to_vector());
    CHECK(live.weight.to_vector() != live_weight.to_vector());
  }

  TEST_CASE("parameters_matching selects by name, e.g. biases excluded from weight decay") {
    generator gen(7);
    nn::linear<double> layer(nn::linear_options(3, 2), gen);
    const auto excluded = optim::parameters_matching(layer.named_parameters(), {"bias", "norm"});
    REQUIRE(excluded.size() == 1);
    CHECK(excluded[0].impl() == layer.bias.impl());
    auto opt = optim::weight_decay(optim::sgd<double>(layer.parameters(), optim::sgd_options().lr(0.1)), 0.5, excluded);
    const auto w = layer.weight.detach().copy(), b = layer.bias.detach().copy();
    layer.weight.set_grad(zeros<double>({2, 3}));
    layer.bias.set_grad(zeros<double>({2}));
    opt.step();
    for (index_t i = 0; i < 6; ++i) CHECK(layer.weight.data()[i] == doctest::Approx(0.95 * w.data()[i]));
    CHECK(layer.bias.to_vector() == b.to_vector());
  }

  TEST_CASE("lazy adam leaves the embedding rows absent from the batch bit-identical; plain adam moves them") {
    generator gen(11);
    nn::embedding<double> lazy_table(nn::embedding_options(6, 3), gen);
    nn::embedding<double> plain_table(nn::embedding_options(6, 3), gen);
    std::copy(lazy_table.weight.begin(), lazy_table.weight.end(), plain_table.weight.begin());
    auto lazy = optim::lazy(optim::adam<double>(lazy_table.parameters(), optim::adam_options().lr(0.1)));
    optim::adam<double> plain(plain_table.parameters(), optim::adam_options().lr(0.1));
    const tensor<index_t> batches[] = {tensor<index_t>{0, 1, 2}, tensor<index_t>{0, 2, 2}, tensor<index_t>{2, 0}};
    for (const auto& ids : batches) {
      const auto before = lazy_table.weight.detach().copy();
      for (auto* table : {&lazy_table, &plain_table}) {
        table->zero_grad();
        sum(square(table->forward(ids))).backward();
      }
      lazy.step();
      plain.step();
      for (index_t row = 0; row < 6; ++row) {
        const bool in_batch = std::find(ids.begin(), ids.end(), row) != ids.end();
        for (index_t j = 0; j < 3; ++j) {
          if (!in_batch) CHECK(lazy_table.weight(row, j) == before(row, j));
          if (in_batch) CHECK(lazy_table.weight(row, j) != before(row, j));
        }
      }
    }
    // Row 1 was in the first batch only: plain Adam kept moving it by momentum, lazy Adam did not.
    CHECK(plain_table.weight(1, 0) != lazy_table.weight(1, 0));
    CHECK(plain_table.weight(3, 0) == lazy_table.weight(3, 0));  // never in a batch: both untouched
  }
}
