// SPDX-License-Identifier: MIT
// nn::gru and nn::gru_cell: PyTorch data (packed sequences, 2 layers, bidirectional), gradients of every
// parameter and input, state_dict, options and errors.
#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/recurrent.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/permute.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/module_checks.hpp"
#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::tensor;
using kx::testing::tensors;

namespace {

using kexue::testing::parameter_names;

/// Points the layer's per-layer/direction handles at v[first...] (in registration order).
void use_parameters(kx::nn::gru<double>& layer, const tensors& v, std::size_t first) {
  const std::size_t n = layer.weight_ih.size();
  const bool bias = layer.options().bias();
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t at = first + k * (bias ? 4 : 2);
    layer.weight_ih[k] = v[at];
    layer.weight_hh[k] = v[at + 1];
    if (bias) {
      layer.bias_ih[k] = v[at + 2];
      layer.bias_hh[k] = v[at + 3];
    }
  }
}

}  // namespace

TEST_SUITE("nn.recurrent") {
  TEST_CASE("gru equals torch.nn.GRU on packed sequences, 2 layers, bidirectional: outputs, h_n, gradients") {
    const kx::testing::reference_file file("recurrent");
    const std::string name = "gru_packed_2layer_bi";
    kx::nn::gru<double> layer(kx::nn::gru_options(2, 3).num_layers(2).bidirectional(true));
    const auto mask = file.mask(name + ".mask");
    std::vector<std::string> inputs{"x", "h0"};
    for (const auto& p : parameter_names(layer)) inputs.push_back(p);
    kx::testing::check_case(file, name, inputs,
                            [&](const tensors& v) {
                              use_parameters(layer, v, 2);
                              auto r = layer(v[0], v[1], mask);
                              return tensors{r.output, r.h_n};
                            },
                            {"out.0", "out.1"});
  }

  TEST_CASE("gru without bias or initial state equals torch.nn.GRU") {
    const kx::testing::reference_file file("recurrent");
    kx::nn::gru<double> layer(kx::nn::gru_options(2, 3).bias(false));
    CHECK(parameter_names(layer) == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0"});
    kx::testing::check_case(file, "gru_1layer_nobias", {"x", "weight_ih_l0", "weight_hh_l0"},
                            [&](const tensors& v) {
                              use_parameters(layer, v, 1);
                              auto r = layer(v[0]);
                              return tensors{r.output, r.h_n};
                            },
                            {"out.0", "out.1"});
  }

  TEST_CASE("gru gradients of every parameter and input pass the finite-difference check") {
    // B = 2, T = 3, input 2, H = 3, 2 layers, bidirectional, row 1 of length 2.
    kx::generator gen(kexue_test_seed());
    kx::nn::gru<double> layer(kx::nn::gru_options(2, 3).num_layers(2).bidirectional(true), gen);
    const auto mask = kx::lengths_to_mask({3, 2}, 3);
    tensors v{kx::randn<double>({2, 3, 2}, gen).requires_grad(true),
              kx::randn<double>({4, 2, 3}, gen).requires_grad(true)};
    for (const auto& p : layer.parameters()) v.push_back(p);
    kx::testing::check_gradients(
        [&](const tensors& a) {
          use_parameters(layer, a, 2);
          auto r = layer(a[0], a[1], mask);
          return kx::concat({kx::reshape(r.output, {-1}), kx::reshape(r.h_n, {-1})});
        },
        v);
  }

  TEST_CASE("gru has PyTorch's parameter names, shapes and initialisation bound, and prints its options") {
    kx::nn::gru<float> layer(kx::nn::gru_options(5, 4).num_layers(2).bidirectional(true));
    const auto named = layer.named_parameters();
    REQUIRE(named.size() == 16);
    CHECK(named[0].first == "weight_ih_l0");
    CHECK(named[0].second.shape() == kx::shape{12, 5});
    CHECK(named[1].first == "weight_hh_l0");
    CHECK(named[1].second.shape() == kx::shape{12, 4});
    CHECK(named[2].first == "bias_ih_l0");
    CHECK(named[4].first == "weight_ih_l0_reverse");
    CHECK(named[8].first == "weight_ih_l1");
    CHECK(named[8].second.shape() == kx::shape{12, 8});  // input of layer 1: D·H = 8
    CHECK(named[15].first == "bias_hh_l1_reverse");
    for (const auto& p : named) {
      for (float v : p.second.to_vector()) CHECK(std::abs(v) <= 0.5f);  // 1/√4
    }
    CHECK(layer.to_string() ==
          "gru(input_size=5, hidden_size=4, num_layers=2, bias=true, batch_first=true, bidirectional=true, "
          "dropout=0)");
  }

  TEST_CASE("gru's state_dict round trip and clone reproduce the outputs") {
    kx::generator g1(1), g2(2);
    kx::nn::gru<double> a(kx::nn::gru_options(3, 4).bidirectional(true), g1);
    kx::nn::gru<double> b(kx::nn::gru_options(3, 4).bidirectional(true), g2);
    const auto x = kx::randn<double>({2, 5, 3}, 3);
    b.load_state_dict(a.state_dict());
    kx::testing::check_close(b(x).output, a(x).output);
    kx::testing::check_close(b(x).h_n, a(x).h_n);
    // clone(): same outputs, own storage.
    auto c = a.clone_as();
    REQUIRE(c->weight_ih.size() == 2);
    kx::testing::check_close((*c)(x).output, a(x).output);
    CHECK(c->weight_ih[1].data() != a.weight_ih[1].data());
    CHECK(c->parameters().size() == 8);
  }

  TEST_CASE("gru with batch_first false takes and returns time-major tensors") {
    kx::generator g1(4), g2(4);
    kx::nn::gru<double> bf(kx::nn::gru_options(3, 2).num_layers(2), g1);
    kx::nn::gru<double> tf(kx::nn::gru_options(3, 2).num_layers(2).batch_first(false), g2);
    const auto x = kx::randn<double>({2, 4, 3}, 5);
    auto r1 = bf(x);
    auto r2 = tf(kx::transpose(x, 0, 1));
    kx::testing::check_close(kx::transpose(r2.output, 0, 1), r1.output);
    kx::testing::check_close(r2.h_n, r1.h_n);
  }

  TEST_CASE("gru applies dropout between layers only in training mode") {
    kx::generator gen(6);
    kx::nn::gru<double> layer(kx::nn::gru_options(3, 4).num_layers(2).dropout(0.5), gen);
    const auto x = kx::randn<double>({2, 5, 3}, 7);
    layer.eval();
    const auto e1 = layer(x).output;
    kx::testing::check_close(layer(x).output, e1);
    layer.train();
    kx::manual_seed(8);
    const auto t1 = layer(x).output;
    double diff = 0;
    for (kx::index_t i = 0; i < t1.numel(); ++i) diff += std::abs(t1.data()[i] - e1.data()[i]);
    CHECK(diff > 1e-3);
  }

  TEST_CASE("gru_cell equals one step of gru") {
    kx::generator g1(9), g2(9);
    kx::nn::gru<double> seq(kx::nn::gru_options(3, 4), g1);
    kx::nn::gru_cell<double> cell(kx::nn::gru_cell_options(3, 4), g2);
    const auto x = kx::randn<double>({2, 1, 3}, 10);
    const auto h0 = kx::randn<double>({2, 4}, 11);
    auto r = seq(x, kx::reshape(h0, {1, 2, 4}));
    kx::testing::check_close(cell(kx::select(x, 1, 0), h0), kx::select(r.h_n, 0, 0));
    CHECK(cell.to_string() == "gru_cell(input_size=3, hidden_size=4, bias=true)");
  }

  TEST_CASE("gru errors name the layer configuration and the shape received") {
    kx::nn::gru<double> layer(kx::nn::gru_options(2, 3));
    const std::string config =
        "gru(input_size=2, hidden_size=3, num_layers=1, bias=true, batch_first=true, bidirectional=false, "
        "dropout=0): ";
    CHECK_THROWS_WITH_AS(layer(kx::zeros<double>({2, 3, 5})),
                         (config + "expected input [batch, time >= 1, 2], got [2, 3, 5]").c_str(), kx::shape_error);
    CHECK_THROWS_WITH_AS(
        layer(kx::zeros<double>({2, 3, 2}), kx::zeros<double>({2, 3})),
        (config + "expected h0 [1, 2, 3] (num_layers * directions, batch, hidden_size), got [2, 3]").c_str(),
        kx::shape_error);
    CHECK_THROWS_WITH_AS(layer(kx::zeros<double>({2, 3, 2}), tensor<double>(), kx::lengths_to_mask({1, 2}, 2)),
                         (config + "expected mask [2, 3] (batch, time), got [2, 2]").c_str(), kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::nn::gru<double>(kx::nn::gru_options(2, 3).dropout(1.0)),
                         "gru: dropout must be in [0, 1), got 1", kx::value_error);
    kx::nn::gru_cell<double> cell(kx::nn::gru_cell_options(2, 3));
    CHECK_THROWS_WITH_AS(cell(kx::zeros<double>({2, 4})),
                         "gru_cell(input_size=2, hidden_size=3, bias=true): expected input [batch, 2], got [2, 4]",
                         kx::shape_error);
  }
}
