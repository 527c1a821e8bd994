// SPDX-License-Identifier: MIT
// nn::multi_head_attention: PyTorch data (MultiheadAttention, batch_first; the attention weights and their
// gradients included), layout and initialisation, masks, gradients of a loss on output and weights,
// state_dict, dropout, rotary, errors; the op's own PyTorch cases.
#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/attention.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/attention.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::testing::tensors;

namespace {

/// The layer with its parameters replaced by the case's tensors (so that gradients reach them).
kx::nn::multi_head_attention<double> with_parameters(const kx::nn::multi_head_attention_options& o, const tensors& p) {
  kx::nn::multi_head_attention<double> layer(o);
  if (p.size() == 4) {
    layer.in_proj_weight = p[0];
    layer.in_proj_bias = p[1];
    layer.out_proj->weight = p[2];
    layer.out_proj->bias = p[3];
  } else {
    layer.q_proj_weight = p[0];
    layer.k_proj_weight = p[1];
    layer.v_proj_weight = p[2];
    layer.in_proj_bias = p[3];
    layer.out_proj->weight = p[4];
    layer.out_proj->bias = p[5];
  }
  return layer;
}

/// sum(out ⊙ c1) + sum(weights ⊙ c2) with fixed random c1, c2.
tensor<double> mixed_loss(const tensor<double>& out, const tensor<double>& weights) {
  kx::generator gen(11);
  const auto c1 = kx::randn<double>(out.shape(), gen);
  const auto c2 = kx::randn<double>(weights.shape(), gen);
  return kx::sum(out * c1) + kx::sum(weights * c2);
}

}  // namespace

TEST_SUITE("nn.attention") {
  TEST_CASE("scaled_dot_product_attention equals PyTorch's composition, gradients of both orders") {
    const kx::testing::reference_file file("attention");
    const tensor<bool> pad = file.mask("sdpa_padding.pad");
    kx::testing::check_case(file, "sdpa_padding", {"q", "k", "v"}, [&](const tensors& v) {
      return tensors{
          kx::scaled_dot_product_attention(v[0], v[1], v[2], kx::attention_options<double>().key_padding_mask(pad))};
    });
    const tensor<double> mask = file.get("sdpa_causal_additive.mask") * 0.5;
    kx::testing::check_case(file, "sdpa_causal_additive", {"q", "k", "v"}, [&](const tensors& v) {
      return tensors{kx::scaled_dot_product_attention(
          v[0], v[1], v[2], kx::attention_options<double>().attn_mask(mask).causal(true).scale(0.7))};
    });
  }

  TEST_CASE("multi_head_attention equals torch.nn.MultiheadAttention with its weights copied in") {
    const kx::testing::reference_file file("attention");
    const std::vector<std::string> outputs{"out.output", "out.weights"};
    const tensor<bool> pad = file.mask("mha_self_padding.pad");
    kx::testing::check_case(
        file, "mha_self_padding", {"x", "in_w", "in_b", "out_w", "out_b"},
        [&](const tensors& v) {
          const auto layer = with_parameters(kx::nn::multi_head_attention_options(6, 2), {v[1], v[2], v[3], v[4]});
          const auto r = layer.forward(
              v[0], v[0], v[0], kx::nn::multi_head_attention_call<double>().with_key_padding_mask(pad).with_weights());
          return tensors{r.output, r.weights};
        },
        outputs);
    kx::testing::check_case(
        file, "mha_causal", {"x", "in_w", "in_b", "out_w", "out_b"},
        [&](const tensors& v) {
          const auto layer = with_parameters(kx::nn::multi_head_attention_options(6, 3), {v[1], v[2], v[3], v[4]});
          const auto r =
              layer.forward(v[0], v[0], v[0], kx::nn::multi_head_attention_call<double>().with_causal().with_weights());
          return tensors{r.output, r.weights};
        },
        outputs);
    const tensor<bool> cross_pad = file.mask("mha_cross_kdim_vdim.pad");
    kx::testing::check_case(
        file, "mha_cross_kdim_vdim", {"query", "key", "value", "q_w", "k_w", "v_w", "in_b", "out_w", "out_b"},
        [&](const tensors& v) {
          const auto layer = with_parameters(kx::nn::multi_head_attention_options(4, 2).kdim(6).vdim(5),
                                             {v[3], v[4], v[5], v[6], v[7], v[8]});
          const auto r = layer.forward(
              v[0], v[1], v[2],
              kx::nn::multi_head_attention_call<double>().with_key_padding_mask(cross_pad).with_weights());
          return tensors{r.output, r.weights};
        },
        outputs);
  }

  TEST_CASE("the layer has PyTorch's parameter names, shapes and initialisation") {
    kx::generator gen(3);
    kx::nn::multi_head_attention<float> layer(kx::nn::multi_head_attention_options(8, 2), gen);
    std::vector<std::string> names;
    for (const auto& [name, p] : layer.named_parameters()) names.push_back(name + kx::format_shape(p.shape()));
    CHECK(names == std::vector<std::string>{"in_proj_weight[24, 8]", "in_proj_bias[24]", "out_proj.weight[8, 8]",
                                            "out_proj.bias[8]"});
    const double bound = std::sqrt(6.0 / 32.0);  // xavier_uniform of [24, 8]
    for (float w : layer.in_proj_weight.to_vector()) CHECK(std::abs(w) <= bound);
    for (float b : layer.in_proj_bias.to_vector()) CHECK(b == 0);
    for (float b : layer.out_proj->bias.to_vector()) CHECK(b == 0);
    kx::nn::multi_head_attention<float> cross(kx::nn::multi_head_attention_options(4, 2).kdim(6).vdim(5).bias(false));
    names.clear();
    for (const auto& [name, p] : cross.named_parameters()) names.push_back(name + kx::format_shape(p.shape()));
    CHECK(names == std::vector<std::string>{"q_proj_weight[4, 4]", "k_proj_weight[4, 6]", "v_proj_weight[4, 5]",
                                            "out_proj.weight[4, 4]"});
    CHECK(cross.to_string() ==
          "multi_head_attention(embed_dim=4, num_heads=2, kdim=6, vdim=5, bias=false\n"
          "  (out_proj): linear(in_features=4, out_features=4, bias=false)\n)");
  }

  TEST_CASE("gradients of the input and every parameter pass the finite-difference check") {
    kx::generator gen(5);
    kx::nn::multi_head_attention<double> layer(kx::nn::multi_head_attention_options(4, 2).rotary(true), gen);
    const auto x = kx::randn<double>({2, 3, 4}, gen).requires_grad(true);
    tensor<bool> pad = kx::zeros<bool>({2, 3});
    pad.data()[5] = true;
    const auto call = kx::nn::multi_head_attention_call<double>().with_key_padding_mask(pad).with_causal();
    kx::testing::check_gradients(
        [&](const tensors& v) { return layer.forward(v[0], call); },
        {x, layer.in_proj_weight, layer.in_proj_bias, layer.out_proj->weight, layer.out_proj->bias});
  }

  TEST_CASE("state_dict round trip reproduces the outputs") {
    kx::generator gen(6);
    kx::nn::multi_head_attention<float> a(kx::nn::multi_head_attention_options(8, 4), gen);
    kx::nn::multi_head_attention<float> b(kx::nn::multi_head_attention_options(8, 4), gen);
    const auto x = kx::randn<float>({2, 5, 8}, gen);
    b.load_state_dict(a.state_dict());
    kx::testing::check_close(b.forward(x), a.forward(x), 0, 0);
    const auto copy = a.clone_as();
    kx::testing::check_close(copy->forward(x), a.forward(x), 0, 0);
  }

  TEST_CASE("dropout acts in training mode only; policies pass through to the op") {
    kx::generator gen(8);
    kx::nn::multi_head_attention<double> layer(kx::nn::multi_head_attention_options(4, 2).dropout(0.5), gen);
    const auto x = kx::randn<double>({1, 6, 4}, gen);
    const auto call = kx::nn::multi_head_attention_call<double>().with_weights(true, false);
    layer.eval();
    const auto plain = layer.forward(x, x, x, call);
    layer.train();
    const auto dropped = layer.forward(x, x, x, call);
    index_t zeros = 0;
    for (double w : dropped.weights.to_vector()) zeros += w == 0 ? 1 : 0;
    CHECK(zeros > 0);
    CHECK(plain.weights.shape() == kx::shape{1, 2, 6, 6});
    // A local pattern with window 0: each query sees only itself, so the weights are the identity.
    kx::nn::multi_head_attention<double> local(
        kx::nn::multi_head_attention_options(4, 2).pattern(kx::attention_pattern::local, 0), gen);
    const auto w = local.forward(x, x, x, kx::nn::multi_head_attention_call<double>().with_weights()).weights;
    kx::testing::check_close(w, kx::reshape(kx::eye<double>(6), {1, 6, 6}));
  }

  TEST_CASE("wrong shapes name the layer's configuration and the shapes received") {
    kx::nn::multi_head_attention<float> layer(kx::nn::multi_head_attention_options(8, 2));
    CHECK_THROWS_WITH_AS(layer.forward(kx::zeros<float>({2, 3, 6})),
                         "multi_head_attention(embed_dim=8, num_heads=2, bias=true): expected query [B, Nq, 8], key "
                         "[B, Nk, 8], value [B, Nk, 8], got query [2, 3, 6], key [2, 3, 6], value [2, 3, 6]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::nn::multi_head_attention<float>(kx::nn::multi_head_attention_options(6, 4)),
                         "multi_head_attention: embed_dim must be a positive multiple of num_heads, got embed_dim=6, "
                         "num_heads=4",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(
        layer.forward(kx::zeros<float>({2, 3, 8}),
                      kx::nn::multi_head_attention_call<float>().with_attn_mask(kx::zeros<bool>({3, 3, 3}))),
        "multi_head_attention(embed_dim=8, num_heads=2, bias=true): a 3-D attn_mask must be [B·num_heads, Nq, Nk] "
        "with B·num_heads = 4, got [3, 3, 3]",
        kx::shape_error);
  }

  TEST_CASE("the op's weights and their gradients equal PyTorch's softmax weights") {
    const kx::testing::reference_file file("attention");
    const tensor<bool> pad = file.mask("sdpa_weights_causal_padding.pad");
    kx::testing::check_case(file, "sdpa_weights_causal_padding", {"q", "k", "v"},
                            [&](const tensors& v) {
                              const auto r = kx::scaled_dot_product_attention_with_weights(
                                  v[0], v[1], v[2], kx::attention_options<double>().key_padding_mask(pad).causal(true));
                              return tensors{r.output, r.weights};
                            },
                            {"out.output", "out.weights"});
  }

  TEST_CASE("multi_head_attention weights carry PyTorch's gradients to the input and in_proj") {
    const kx::testing::reference_file file("attention");
    const tensor<bool> pad = file.mask("mha_weights_per_head.pad");
    kx::testing::check_case(
        file, "mha_weights_per_head", {"x", "in_w", "in_b", "out_w", "out_b"},
        [&](const tensors& v) {
          const auto layer = with_parameters(kx::nn::multi_head_attention_options(6, 2), {v[1], v[2], v[3], v[4]});
          const auto r = layer.forward(
              v[0], v[0], v[0],
              kx::nn::multi_head_attention_call<double>().with_key_padding_mask(pad).with_causal().with_weights(true,
                                                                                                                false));
          return tensors{r.output, r.weights};
        },
        {"out.output", "out.weights"});
    // The averaged weights alone: their gradient reaches query, key/value input, in_proj_weight and in_proj_bias
    // (out_proj gets none).
    const tensor<bool> cross_pad = file.mask("mha_weights_only.pad");
    kx::testing::check_case(
        file, "mha_weights_only", {"query", "kv", "in_w", "in_b", "out_w", "out_b"},
        [&](const tensors& v) {
          const auto layer = with_parameters(kx::nn::multi_head_attention_options(6, 3), {v[2], v[3], v[4], v[5]});
          return tensors{
              layer
                  .forward(v[0], v[1], v[1],
                           kx::nn::multi_head_attention_call<double>().with_key_padding_mask(cross_pad).with_weights())
                  .weights};
        },
        {"out.weights"});
  }

  TEST_CASE("a loss on output and weights passes the finite-difference check for the input and every parameter") {
    kx::generator gen(12);
    tensor<bool> pad = kx::zeros<bool>({2, 4});
    pad.data()[4 + 3] = true;  // item 1: key 3 is padding
    for (const bool average : {true, false}) {
      for (const bool causal : {false, true}) {
        CAPTURE(average);
        CAPTURE(causal);
        kx::nn::multi_head_attention<double> layer(kx::nn::multi_head_attention_options(4, 2), gen);
        for (auto& b : {layer.in_proj_bias, layer.out_proj->bias}) {
          for (index_t i = 0; i < b.numel(); ++i) b.data()[i] = 0.1 * double(i % 3) - 0.1;  // nonzero biases
        }
        const auto x = kx::randn<double>({2, 4, 4}, gen).requires_grad(true);
        const auto call =
            kx::nn::multi_head_attention_call<double>().with_key_padding_mask(pad).with_causal(causal).with_weights(
                true, average);
        const auto fn = [&](const tensors& v) {
          const auto r = layer.forward(v[0], v[0], v[0], call);
          return mixed_loss(r.output, r.weights);
        };
        const tensors params{x, layer.in_proj_weight, layer.in_proj_bias, layer.out_proj->weight, layer.out_proj->bias};
        kx::testing::check_gradients(fn, params);
        if (average && causal) kx::testing::check_second_order(fn, params);
      }
    }
  }

  TEST_CASE("weights of entropy-invariant and sparse layers with rotary positions pass the gradient check") {
    kx::generator gen(13);
    kx::nn::multi_head_attention<double> layer(kx::nn::multi_head_attention_options(4, 2)
                                                   .entropy_invariant(2)
                                                   .pattern(kx::attention_pattern::sparse, 2)
                                                   .rotary(true),
                                               gen);
    const auto x = kx::randn<double>({1, 6, 4}, gen).requires_grad(true);
    const auto call = kx::nn::multi_head_attention_call<double>().with_weights();
    const auto fn = [&](const tensors& v) {
      const auto r = layer.forward(v[0], v[0], v[0], call);
      return mixed_loss(r.output, r.weights);
    };
    kx::testing::check_gradients(fn, {x, layer.in_proj_weight, layer.in_proj_bias});
  }
}
