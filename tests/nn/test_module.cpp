// SPDX-License-Identifier: MIT
// The module system: registration order and paths, sharing, modes, freezing, state save/load, clone, printing.
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/nn/linear.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;
using kx::tensor;

namespace {

/// A two-layer perceptron with a buffer and a raw parameter: the model users write.
template <class T>
class mlp : public kx::nn::cloneable<mlp<T>, T> {
 public:
  explicit mlp(index_t in, index_t hidden, index_t out, kx::generator& gen = kx::default_generator())
      : in_(in), hidden_(hidden), out_(out) {
    reset(gen);
  }
  void reset(kx::generator& gen) override {
    scale = this->register_parameter("scale", kx::ones<T>({out_}));
    fc1 = this->register_module("fc1", std::make_shared<kx::nn::linear<T>>(in_, hidden_, gen));
    fc2 = this->register_module("fc2", std::make_shared<kx::nn::linear<T>>(hidden_, out_, gen));
    calls = this->register_buffer("calls", kx::zeros<T>({1}));
  }
  tensor<T> forward(const tensor<T>& x) const { return (*fc2)(kx::relu((*fc1)(x))) * scale; }

  tensor<T> scale, calls;
  std::shared_ptr<kx::nn::linear<T>> fc1, fc2;

 private:
  index_t in_, hidden_, out_;
};

/// A module that is not cloneable.
class plain : public kx::nn::module<float> {
 public:
  plain() { register_parameter("w", kx::zeros<float>({2})); }
};

}  // namespace

TEST_SUITE("nn.module") {
  TEST_CASE("parameters, buffers and children keep registration order under dotted paths") {
    mlp<float> m(3, 4, 2);
    std::vector<std::string> names;
    for (const auto& [name, p] : m.named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
    CHECK(m.parameters().size() == 5);
    CHECK(m.parameters(false).size() == 1);
    CHECK(m.named_buffers().at(0).first == "calls");
    CHECK(m.children().size() == 2);
    CHECK(m.state_dict().keys() ==
          std::vector<std::string>{"scale", "calls", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
    CHECK(m.num_parameters() == 2 + (3 * 4 + 4) + (4 * 2 + 2));
    CHECK(m.find("fc2") == m.fc2);
    CHECK(m.find("fc3") == nullptr);
    for (const auto& p : m.parameters()) CHECK(p.requires_grad());
  }

  TEST_CASE("a weight registered twice is one parameter and is updated once") {
    kx::nn::module<float> root;
    auto shared = std::make_shared<kx::nn::linear<float>>(2, 2);
    root.register_module("a", shared);
    root.register_module("b", shared);  // the same sub-model reused (A27)
    root.register_parameter("tied", shared->weight);
    CHECK(root.parameters().size() == 2);  // weight and bias, once each
    CHECK(root.named_parameters()[0].first == "tied");
    CHECK(root.state_dict().size() == 5);  // every path, as PyTorch
    CHECK(root.num_parameters() == 6);
    // Loading through either path writes the one tensor.
    auto state = root.state_dict();
    kx::state_dict fresh;
    for (const auto& [name, value] : state) fresh.insert(name, std::get<tensor<float>>(value).copy());
    fresh.get<float>("b.bias").data()[0] = 42;
    fresh.get<float>("a.bias").data()[0] = 42;
    root.load_state_dict(fresh);
    CHECK(shared->bias.data()[0] == 42);
  }

  TEST_CASE("train and eval reach every descendant; apply visits children first") {
    mlp<float> m(2, 2, 2);
    CHECK(m.is_training());
    m.eval();
    CHECK(!m.is_training());
    CHECK(!m.fc1->is_training());
    m.train();
    CHECK(m.fc2->is_training());
    std::vector<std::string> order;
    m.apply([&](kx::nn::module<float>& mod) { order.push_back(mod.type_name()); });
    CHECK(order == std::vector<std::string>{"linear", "linear", "(anonymous namespace)::mlp<float>"});
  }

  TEST_CASE("frozen parameters get no gradient and count as non-trainable") {
    mlp<double> m(2, 3, 1);
    m.fc1->freeze();
    CHECK(m.num_parameters(true) == m.num_parameters() - (2 * 3 + 3));
    auto x = kx::randn<double>({4, 2}, 1);
    kx::sum(m(x)).backward();
    CHECK(!m.fc1->weight.grad().defined());
    CHECK(m.fc2->weight.grad().defined());
    m.zero_grad();
    CHECK(!m.fc2->weight.grad().defined());
  }

  TEST_CASE("state_dict round trip restores outputs exactly, float and double interchangeable") {
    kx::generator g1(1), g2(2);
    mlp<float> a(3, 5, 2, g1), b(3, 5, 2, g2);
    auto x = kx::randn<float>({4, 3}, 3);
    CHECK(a(x).to_vector() != b(x).to_vector());
    b.load_state_dict(a.state_dict());
    CHECK(a(x).to_vector() == b(x).to_vector());
    mlp<double> d(3, 5, 2);
    d.load_state_dict(a.state_dict());  // float32 values converted to float64
    CHECK(d.fc1->weight.data()[3] == static_cast<double>(a.fc1->weight.data()[3]));
  }

  TEST_CASE("a failed load names every problem and leaves the model untouched") {
    mlp<float> m(3, 4, 2), other(3, 5, 2);
    const auto before = m.fc1->weight.to_vector();
    auto s = other.state_dict();
    CHECK_THROWS_WITH_AS(m.load_state_dict(s),
                         "load_state_dict: shape mismatch for 'fc1.weight': model has [4, 3], state_dict has [5, 3]; "
                         "shape mismatch for 'fc1.bias': model has [4], state_dict has [5]; shape mismatch for "
                         "'fc2.weight': model has [2, 4], state_dict has [2, 5]",
                         kx::value_error);
    CHECK(m.fc1->weight.to_vector() == before);
    kx::state_dict partial;
    partial.insert("scale", kx::ones<float>({2}));
    partial.insert("extra", kx::ones<float>({2}));
    partial.insert("calls", kx::zeros<index_t>({1}));
    CHECK_THROWS_WITH_AS(m.load_state_dict(partial),
                         "load_state_dict: 'calls' holds int64, expected float32; missing 'fc1.weight'; missing "
                         "'fc1.bias'; missing 'fc2.weight'; missing 'fc2.bias'; unexpected 'extra'",
                         kx::value_error);
    kx::state_dict only_scale;
    only_scale.insert("scale", kx::full<float>({2}, 7.f));
    only_scale.insert("unused", kx::ones<float>({1}));
    m.load_state_dict(only_scale, /*strict=*/false);
    CHECK(m.scale.data()[1] == 7.f);
  }

  TEST_CASE("clone is a deep copy with the same values, flags and mode") {
    mlp<float> m(3, 4, 2);
    m.fc1->freeze();
    m.eval();
    auto copy = m.clone_as();
    auto x = kx::randn<float>({2, 3}, 5);
    CHECK(copy->forward(x).to_vector() == m.forward(x).to_vector());
    CHECK(!copy->fc1->weight.shares_storage_with(m.fc1->weight));
    CHECK(!copy->fc1->weight.requires_grad());
    CHECK(copy->fc2->weight.requires_grad());
    CHECK(!copy->is_training());
    CHECK(!copy->fc2->is_training());
    copy->fc2->bias.data()[0] += 1;
    CHECK(copy->forward(x).to_vector() != m.forward(x).to_vector());
    plain p;
    CHECK_THROWS_WITH_AS(p.clone(),
                         "clone: (anonymous namespace)::plain does not support clone(): derive it from "
                         "nn::cloneable<Derived, T> and implement reset()",
                         kx::value_error);
  }

  TEST_CASE("forward hooks see intermediate outputs") {
    mlp<float> m(3, 4, 2);
    tensor<float> hidden;
    const int id = m.fc1->register_forward_hook([&](const auto&, const tensor<float>& y) { hidden = y; });
    auto x = kx::randn<float>({2, 3}, 6);
    m(x);
    REQUIRE(hidden.defined());
    CHECK(hidden.shape() == kx::shape{2, 4});
    kexue::testing::check_close(hidden, m.fc1->forward(x));
    m.fc1->remove_forward_hook(id);
    hidden = tensor<float>();
    m(x);
    CHECK(!hidden.defined());
  }

  TEST_CASE("registration errors name the entry") {
    kx::nn::module<float> m;
    m.register_parameter("w", kx::zeros<float>({1}));
    CHECK_THROWS_WITH_AS(m.register_buffer("w", kx::zeros<float>({1})),
                         "register_buffer: name 'w' is already registered in module<float>", kx::value_error);
    CHECK_THROWS_WITH_AS(m.register_parameter("a.b", kx::zeros<float>({1})),
                         "register_parameter: name 'a.b' must not contain '.' (it separates the components of "
                         "dotted paths)",
                         kx::value_error);
    auto w = kx::zeros<float>({1}).requires_grad(true);
    CHECK_THROWS_WITH_AS(m.register_parameter("v", w * 2.f),
                         "register_parameter: parameter 'v' must be a leaf tensor (detach() it)", kx::value_error);
  }

  TEST_CASE("printing shows the tree and a summary with totals") {
    mlp<float> m(3, 4, 2);
    m.fc1->freeze();
    CHECK(m.to_string() ==
          "(anonymous namespace)::mlp<float>(\n"
          "  (fc1): linear(in_features=3, out_features=4, bias=true)\n"
          "  (fc2): linear(in_features=4, out_features=2, bias=true)\n"
          ")");
    const std::string s = m.summary();
    CHECK(s.find("fc1     linear") != std::string::npos);
    CHECK(s.find("Total params: 28 (trainable 12, non-trainable 16)") != std::string::npos);
  }
}
