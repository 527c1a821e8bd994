// SPDX-License-Identifier: MIT
// nn::lstm and nn::lstm_cell: PyTorch data (packed sequences, 2 layers, bidirectional), gradients of every
// parameter and input, errors.
#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/recurrent.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/module_checks.hpp"
#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::tensor;
using kx::testing::tensors;

namespace {

using kexue::testing::parameter_names;

/// Points the layer's per-layer/direction handles at v[first...] (registration order, with biases).
void use_parameters(kx::nn::lstm<double>& layer, const tensors& v, std::size_t first) {
  for (std::size_t k = 0; k < layer.weight_ih.size(); ++k) {
    layer.weight_ih[k] = v[first + 4 * k];
    layer.weight_hh[k] = v[first + 4 * k + 1];
    layer.bias_ih[k] = v[first + 4 * k + 2];
    layer.bias_hh[k] = v[first + 4 * k + 3];
  }
}

}  // namespace

TEST_SUITE("nn.recurrent") {
  TEST_CASE("lstm equals torch.nn.LSTM on packed sequences, 2 layers, bidirectional: outputs, h_n, c_n, gradients") {
    const kx::testing::reference_file file("recurrent");
    const std::string name = "lstm_packed_2layer_bi";
    kx::nn::lstm<double> layer(kx::nn::lstm_options(2, 3).num_layers(2).bidirectional(true));
    const auto mask = file.mask(name + ".mask");
    std::vector<std::string> inputs{"x", "h0", "c0"};
    for (const auto& p : parameter_names(layer)) inputs.push_back(p);
    kx::testing::check_case(file, name, inputs,
                            [&](const tensors& v) {
                              use_parameters(layer, v, 3);
                              auto r = layer(v[0], v[1], v[2], mask);
                              return tensors{r.output, r.h_n, r.c_n};
                            },
                            {"out.0", "out.1", "out.2"});
  }

  TEST_CASE("lstm with one layer equals torch.nn.LSTM") {
    const kx::testing::reference_file file("recurrent");
    kx::nn::lstm<double> layer(kx::nn::lstm_options(3, 2));
    std::vector<std::string> inputs{"x", "h0", "c0"};
    for (const auto& p : parameter_names(layer)) inputs.push_back(p);
    kx::testing::check_case(file, "lstm_1layer", inputs,
                            [&](const tensors& v) {
                              use_parameters(layer, v, 3);
                              auto r = layer(v[0], v[1], v[2]);
                              return tensors{r.output, r.h_n, r.c_n};
                            },
                            {"out.0", "out.1", "out.2"});
  }

  TEST_CASE("lstm gradients of every parameter and input pass the finite-difference check") {
    // B = 2, T = 3, input 2, H = 3, bidirectional, row 1 of length 2.
    kx::generator gen(kexue_test_seed() + 1);
    kx::nn::lstm<double> layer(kx::nn::lstm_options(2, 3).bidirectional(true), gen);
    const auto mask = kx::lengths_to_mask({3, 2}, 3);
    tensors v{kx::randn<double>({2, 3, 2}, gen).requires_grad(true),
              kx::randn<double>({2, 2, 3}, gen).requires_grad(true),
              kx::randn<double>({2, 2, 3}, gen).requires_grad(true)};
    for (const auto& p : layer.parameters()) v.push_back(p);
    kx::testing::check_gradients(
        [&](const tensors& a) {
          use_parameters(layer, a, 3);
          auto r = layer(a[0], a[1], a[2], mask);
          return kx::concat({kx::reshape(r.output, {-1}), kx::reshape(r.h_n, {-1}), kx::reshape(r.c_n, {-1})});
        },
        v);
  }

  TEST_CASE("lstm_cell equals one step of lstm") {
    kx::generator g1(9), g2(9);
    kx::nn::lstm<double> seq(kx::nn::lstm_options(3, 4), g1);
    kx::nn::lstm_cell<double> cell(kx::nn::lstm_cell_options(3, 4), g2);
    const auto x = kx::randn<double>({2, 1, 3}, 10);
    auto r = seq(x);
    auto [h, c] = cell(kx::select(x, 1, 0));
    kx::testing::check_close(h, kx::select(r.h_n, 0, 0));
    kx::testing::check_close(c, kx::select(r.c_n, 0, 0));
  }

  TEST_CASE("lstm errors name the layer configuration and the shape received") {
    kx::nn::lstm<double> layer(kx::nn::lstm_options(2, 3).bidirectional(true));
    const std::string config =
        "lstm(input_size=2, hidden_size=3, num_layers=1, bias=true, batch_first=true, bidirectional=true, "
        "dropout=0): ";
    CHECK_THROWS_WITH_AS(layer(kx::zeros<double>({2, 0, 2})),
                         (config + "expected input [batch, time >= 1, 2], got [2, 0, 2]").c_str(), kx::shape_error);
    CHECK_THROWS_WITH_AS(
        layer(kx::zeros<double>({2, 3, 2}), tensor<double>(), kx::zeros<double>({1, 2, 3})),
        (config + "expected c0 [2, 2, 3] (num_layers * directions, batch, hidden_size), got [1, 2, 3]").c_str(),
        kx::shape_error);
  }
}
