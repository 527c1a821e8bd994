// SPDX-License-Identifier: MIT
// nn::sequential, nn::module_list, nn::embedding, nn::dropout, nn::flatten.
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/dropout.hpp>
#include <kexue/nn/embedding.hpp>
#include <kexue/nn/flatten.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/module_list.hpp>
#include <kexue/nn/sequential.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;
using kx::testing::tensors;

namespace {
kx::nn::sequential<double> small_mlp(kx::generator& gen) {
  kx::nn::sequential<double> mlp;
  mlp.push_back(std::make_shared<kx::nn::linear<double>>(3, 4, gen))
      .push_back("tanh", [](const tensor<double>& x) { return kx::tanh(x); })
      .push_back("out", std::make_shared<kx::nn::linear<double>>(4, 2, gen));
  return mlp;
}
}  // namespace

TEST_SUITE("nn.sequential") {
  TEST_CASE("steps run in order, are named by position or name, and expose intermediate outputs") {
    kx::generator gen(1);
    auto mlp = small_mlp(gen);
    CHECK(mlp.size() == 3);
    CHECK(mlp.state_dict().keys() == std::vector<std::string>{"0.weight", "0.bias", "out.weight", "out.bias"});
    const auto x = kx::randn<double>({5, 3}, 2);
    const auto fc1 = mlp.at<kx::nn::linear<double>>(0);
    const auto fc2 = mlp.at<kx::nn::linear<double>>(2);
    const auto expected = fc2->forward(kx::tanh(fc1->forward(x)));
    kx::testing::check_close(mlp(x), expected);
    const auto all = mlp.forward_all(x);
    REQUIRE(all.size() == 3);
    kx::testing::check_close(all[1], kx::tanh(fc1->forward(x)));
    kx::testing::check_close(mlp.forward_until("tanh", x), all[1]);
    CHECK_THROWS_WITH_AS(mlp.forward_until("relu", x), "sequential: no step named 'relu' (steps: 0, tanh, out)",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(mlp.at<kx::nn::linear<double>>(1), "sequential: step 1 is a lambda", kx::value_error);
    CHECK(mlp.to_string() ==
          "sequential(\n  (0): linear(in_features=3, out_features=4, bias=true)\n  (tanh): lambda(tanh)\n"
          "  (out): linear(in_features=4, out_features=2, bias=true)\n)");
  }

  TEST_CASE("gradients flow through every step and match finite differences") {
    kx::generator gen(3);
    auto mlp = small_mlp(gen);
    auto params = mlp.parameters();
    tensors inputs{kx::randn<double>({2, 3}, 4).requires_grad(true)};
    inputs.insert(inputs.end(), params.begin(), params.end());
    kx::testing::check_gradients([&](const tensors& v) { return mlp(v[0]); }, inputs);
  }

  TEST_CASE("hooks on a step fire when the sequential runs it; a clone shares nothing but keeps sharing") {
    kx::generator gen(5);
    auto shared = std::make_shared<kx::nn::linear<double>>(2, 2, gen);
    kx::nn::sequential<double> twice;
    twice.push_back(shared).push_back(shared);  // one layer used twice (A27)
    CHECK(twice.parameters().size() == 2);
    int calls = 0;
    shared->register_forward_hook([&](const auto&, const auto&) { ++calls; });
    const auto x = kx::randn<double>({1, 2}, 6);
    const auto y = twice(x);
    CHECK(calls == 2);
    auto copy = std::static_pointer_cast<kx::nn::sequential<double>>(twice.clone());
    CHECK(copy->parameters().size() == 2);
    CHECK(!copy->parameters()[0].shares_storage_with(shared->weight));
    kx::testing::check_close(copy->forward(x), y);
    CHECK(calls == 2);  // clones do not inherit hooks
  }

  TEST_CASE("module_list registers by index and gives typed access") {
    kx::nn::module_list<float> blocks;
    blocks.push_back(std::make_shared<kx::nn::linear<float>>(2, 3))
        .push_back(std::make_shared<kx::nn::flatten<float>>());
    CHECK(blocks.size() == 2);
    CHECK(blocks.state_dict().keys() == std::vector<std::string>{"0.weight", "0.bias"});
    CHECK(blocks.at<kx::nn::linear<float>>(0)->options().out_features() == 3);
    CHECK_THROWS_WITH_AS(blocks[2], "module_list: index 2 out of range for 2 modules", kx::index_error);
    auto copy = std::static_pointer_cast<kx::nn::module_list<float>>(blocks.clone());
    CHECK(copy->at<kx::nn::linear<float>>(0)->weight.to_vector() ==
          blocks.at<kx::nn::linear<float>>(0)->weight.to_vector());
  }
}

TEST_SUITE("nn.embedding") {
  TEST_CASE("lookup, zero padding row without gradient, tied projection, touched rows") {
    kx::generator gen(7);
    kx::nn::embedding<double> emb(kx::nn::embedding_options(5, 3).padding_idx(0), gen);
    CHECK(emb.weight.shape() == kx::shape{5, 3});
    for (index_t j = 0; j < 3; ++j) CHECK(emb.weight(0, j) == 0.0);
    const tensor<index_t> ids = {{1, 0, 4}, {4, 4, 2}};
    const auto out = emb(ids);
    CHECK(out.shape() == kx::shape{2, 3, 3});
    CHECK(out(1, 2, 1) == emb.weight(2, 1));
    kx::sum(out).backward();
    const auto g = emb.weight.grad();
    CHECK(g(0, 0) == 0.0);  // padding row
    CHECK(g(4, 2) == 3.0);  // looked up three times
    CHECK(g(3, 1) == 0.0);  // never looked up
    CHECK(emb.touched_rows(ids) == std::vector<index_t>{1, 2, 4});
    // Tied projection: logits = h·Wᵀ, gradients through both uses reach the one table.
    const auto h = kx::randn<double>({2, 3}, 8).requires_grad(true);
    kx::testing::check_close(emb.project(h).detach(), kx::matmul(h, emb.weight, false, true).detach());
    kx::testing::check_gradients([&](const tensors& v) { return kx::mul(emb.project(v[0]), emb.project(v[0])); },
                                 {h, emb.weight});
    CHECK(emb.to_string() == "embedding(num_embeddings=5, embedding_dim=3, padding_idx=0)");
  }

  TEST_CASE("errors name the configuration") {
    kx::nn::embedding<float> emb(4, 2);
    CHECK_THROWS_AS(emb(tensor<index_t>{0, 4}), kx::index_error);
    CHECK_THROWS_WITH_AS(
        emb.project(kx::zeros<float>({3, 5})),
        "embedding(num_embeddings=4, embedding_dim=2).project: expected hidden states [..., 2], got [3, 5]",
        kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::nn::embedding<float>(kx::nn::embedding_options(4, 2).padding_idx(4)),
                         "embedding: padding_idx 4 is outside [-1, 4)", kx::value_error);
  }
}

TEST_SUITE("nn.dropout") {
  TEST_CASE("active in training only; noise_shape with -1 follows the input; reproducible from the seed") {
    kx::generator g1(11), g2(11);
    kx::nn::dropout<float> a(kx::nn::dropout_options(0.5).noise_shape({-1, -1, 1}), g1);
    kx::nn::dropout<float> b(kx::nn::dropout_options(0.5).noise_shape({-1, -1, 1}), g2);
    const auto x = kx::ones<float>({4, 6, 8});
    const auto y = a(x);
    CHECK(y.to_vector() == b(x).to_vector());
    for (index_t i = 0; i < 4; ++i) {
      for (index_t t = 0; t < 6; ++t) {
        const float first = y(i, t, 0);
        CHECK((first == 0.f || first == 2.f));
        for (index_t d = 1; d < 8; ++d) CHECK(y(i, t, d) == first);  // whole time steps dropped
      }
    }
    a.eval();
    CHECK(a(x).shares_storage_with(x));
    CHECK_THROWS_WITH_AS(kx::nn::dropout<float>(1.5), "dropout: p must be in [0, 1], got 1.5", kx::value_error);
    a.train();
    CHECK_THROWS_WITH_AS(a(kx::ones<float>({2, 2})),
                         "dropout(p=0.5, noise_shape=[-1, -1, 1]): noise_shape has 3 axes, the input [2, 2] has 2",
                         kx::shape_error);
  }
}

TEST_SUITE("nn.flatten") {
  TEST_CASE("flatten keeps the batch axis and shares storage") {
    kx::nn::flatten<float> f;
    const auto x = kx::arange<float>(24);
    const auto x4 = kx::reshape(x, {2, 3, 2, 2});
    const auto y = f(x4);
    CHECK(y.shape() == kx::shape{2, 12});
    CHECK(y.shares_storage_with(x4));
  }
}
