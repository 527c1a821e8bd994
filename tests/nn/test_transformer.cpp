// SPDX-License-Identifier: MIT
// nn::transformer_layer: PyTorch data (TransformerEncoderLayer post-LN relu/gelu, pre-LN causal), the GPT2_ML
// order against its formula, causality, gradients, state_dict, errors.
#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/transformer.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::nn::block_order;
using kx::nn::ffn_activation;
using kx::nn::transformer_layer;
using kx::nn::transformer_layer_options;
using kx::testing::tensors;

namespace {

const std::vector<std::string> layer_inputs{"x",    "in_w", "in_b", "out_w", "out_b", "l1_w", "l1_b",
                                            "l2_w", "l2_b", "n1_w", "n1_b",  "n2_w",  "n2_b"};

/// The layer with the case's parameters (v[1..12] in layer_inputs order) in place of its own.
transformer_layer<double> with_parameters(const transformer_layer_options& o, const tensors& v) {
  transformer_layer<double> layer(o);
  layer.self_attn->in_proj_weight = v[1];
  layer.self_attn->in_proj_bias = v[2];
  layer.self_attn->out_proj->weight = v[3];
  layer.self_attn->out_proj->bias = v[4];
  layer.linear1->weight = v[5];
  layer.linear1->bias = v[6];
  layer.linear2->weight = v[7];
  layer.linear2->bias = v[8];
  layer.norm1->weight = v[9];
  layer.norm1->bias = v[10];
  layer.norm2->weight = v[11];
  layer.norm2->bias = v[12];
  return layer;
}

}  // namespace

TEST_SUITE("nn.transformer") {
  TEST_CASE("post-LN and pre-LN layers equal torch.nn.TransformerEncoderLayer, values and gradients") {
    const kx::testing::reference_file file("attention");
    const auto base = transformer_layer_options(8, 2).dim_feedforward(16).dropout(0);
    const tensor<bool> pad = file.mask("encoder_post_ln_relu.pad");
    kx::testing::check_case(file, "encoder_post_ln_relu", layer_inputs, [&](const tensors& v) {
      return tensors{with_parameters(base, v).forward(
          v[0], kx::nn::multi_head_attention_call<double>().with_key_padding_mask(pad))};
    });
    kx::testing::check_case(file, "encoder_post_ln_gelu", layer_inputs, [&](const tensors& v) {
      return tensors{
          with_parameters(transformer_layer_options(base).activation(ffn_activation::gelu), v).forward(v[0])};
    });
    kx::testing::check_case(file, "encoder_pre_ln_gelu_causal", layer_inputs, [&](const tensors& v) {
      auto o = transformer_layer_options(base).activation(ffn_activation::gelu).order(block_order::pre_ln).causal(true);
      return tensors{with_parameters(o, v).forward(v[0])};
    });
  }

  TEST_CASE("the GPT2_ML block is x + Attn(x), then LN2(h + FFN(LN1(h)))") {
    kx::generator gen(11);
    transformer_layer<double> layer(transformer_layer_options::gpt2ml(8, 2, 16).dropout(0), gen);
    const auto x = kx::randn<double>({2, 5, 8}, gen);
    const auto call = kx::nn::multi_head_attention_call<double>().with_causal();
    const tensor<double> h = x + layer.self_attn->forward(x, call);
    const tensor<double> ffn =
        layer.linear2->forward(kx::gelu(layer.linear1->forward(layer.norm1->forward(h)), kx::gelu_approximation::tanh));
    kx::testing::check_close(layer.forward(x), layer.norm2->forward(h + ffn));
    CHECK(layer.to_string().rfind(
              "transformer_layer(d_model=8, nhead=2, dim_feedforward=16, order=gpt2ml, activation=gelu_tanh, "
              "causal=true",
              0) == 0);
  }

  TEST_CASE("causal blocks: outputs up to t do not depend on tokens after t") {
    kx::generator gen(12);
    for (const auto& o : {transformer_layer_options::gpt2(8, 2, 16), transformer_layer_options::gpt2ml(8, 2, 16)}) {
      transformer_layer<float> layer(transformer_layer_options(o).dropout(0), gen);
      auto x = kx::randn<float>({1, 6, 8}, gen);
      const auto before = layer.forward(x);
      auto y = x.copy();
      for (index_t i = 4 * 8; i < 6 * 8; ++i) y.data()[i] += 1.0f;  // perturb tokens 4 and 5
      const auto after = layer.forward(y);
      for (index_t i = 0; i < 4 * 8; ++i) CHECK(after.data()[i] == before.data()[i]);
      bool changed = false;
      for (index_t i = 4 * 8; i < 6 * 8; ++i) changed = changed || after.data()[i] != before.data()[i];
      CHECK(changed);
    }
  }

  TEST_CASE("gradients of the input and parameters pass the finite-difference check") {
    kx::generator gen(13);
    transformer_layer<double> layer(transformer_layer_options::gpt2ml(4, 2, 6).dropout(0).rotary(true), gen);
    const auto x = kx::randn<double>({1, 3, 4}, gen).requires_grad(true);
    kx::testing::check_gradients(
        [&](const tensors& v) { return layer.forward(v[0]); },
        {x, layer.self_attn->in_proj_weight, layer.linear1->weight, layer.norm1->weight, layer.norm2->bias});
  }

  TEST_CASE("state_dict round trip, PyTorch's parameter names, dropout in training only") {
    kx::generator gen(14);
    transformer_layer<float> a(transformer_layer_options::bert(8, 2, 16), gen);
    transformer_layer<float> b(transformer_layer_options::bert(8, 2, 16), gen);
    std::vector<std::string> names;
    for (const auto& [name, p] : a.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                            "self_attn.out_proj.weight", "self_attn.out_proj.bias", "linear1.weight",
                                            "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight",
                                            "norm1.bias", "norm2.weight", "norm2.bias"});
    const auto x = kx::randn<float>({2, 4, 8}, gen);
    a.eval();
    b.eval();
    b.load_state_dict(a.state_dict());
    kx::testing::check_close(b.forward(x), a.forward(x), 0, 0);
    a.train();
    const auto noisy = a.forward(x), clean = b.forward(x);
    bool differs = false;
    for (index_t i = 0; i < x.numel(); ++i) differs = differs || noisy.data()[i] != clean.data()[i];
    CHECK(differs);
  }

  TEST_CASE("wrong shapes name the layer's configuration") {
    transformer_layer<float> layer(transformer_layer_options(8, 2).dim_feedforward(16));
    CHECK_THROWS_WITH_AS(layer.forward(kx::zeros<float>({2, 3, 6})),
                         "transformer_layer(d_model=8, nhead=2, dim_feedforward=16, order=post_ln, activation=relu, "
                         "causal=false): expected input [B, N, 8], got [2, 3, 6]",
                         kx::shape_error);
  }
}
