// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/state_dict.hpp>

using kexue::index_t;
using kexue::state_dict;
using kexue::tensor;

TEST_SUITE("core.state_dict") {
  TEST_CASE("entries keep insertion order and share data with the inserted tensors") {
    state_dict s;
    tensor<float> w = {1, 2, 3};
    s.insert("layer.weight", w);
    s.insert("layer.bias", tensor<double>{4});
    s.insert("step", kexue::scalar<index_t>(7));
    CHECK(s.size() == 3);
    CHECK(s.keys() == std::vector<std::string>{"layer.weight", "layer.bias", "step"});
    auto back = s.get<float>("layer.weight");
    CHECK(back.shares_storage_with(w));
    CHECK(s.get<index_t>("step").item() == 7);
    CHECK(std::string(kexue::dtype_name(s.at("layer.bias"))) == "float64");
    CHECK(kexue::shape_of(s.at("layer.weight")) == kexue::shape{3});
  }

  TEST_CASE("sub strips a prefix and merge adds one") {
    state_dict s;
    s.insert("enc.0.weight", tensor<float>{1});
    s.insert("enc.0.bias", tensor<float>{2});
    s.insert("encoder.x", tensor<float>{3});  // shares the text "enc" but not the "enc." prefix
    s.insert("dec.weight", tensor<float>{4});
    const auto enc = s.sub("enc");
    CHECK(enc.keys() == std::vector<std::string>{"0.weight", "0.bias"});
    state_dict t;
    t.merge("model", enc);
    CHECK(t.keys() == std::vector<std::string>{"model.0.weight", "model.0.bias"});
    CHECK(t.get<float>("model.0.bias").item() == 2);
  }

  TEST_CASE("set replaces in place and keeps the position") {
    state_dict s;
    s.insert("a", tensor<float>{1});
    s.insert("b", tensor<float>{2});
    s.set("a", tensor<double>{5});
    s.set("c", tensor<float>{6});
    CHECK(s.keys() == std::vector<std::string>{"a", "b", "c"});
    CHECK(s.get<double>("a").item() == 5);
  }

  TEST_CASE("errors name the key, the keys present and the dtypes") {
    state_dict s;
    CHECK_THROWS_WITH_AS(s.at("x"), "state_dict: no entry 'x' (the state_dict is empty)", kexue::value_error);
    s.insert("w", tensor<float>{1});
    CHECK_THROWS_WITH_AS(s.insert("w", tensor<float>{1}), "state_dict::insert: duplicate entry 'w'",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(s.insert("", tensor<float>{1}), "state_dict::insert: entry names must not be empty",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(s.insert("u", tensor<float>()), "state_dict::insert: entry 'u' is an undefined tensor",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(s.get<double>("w"), "state_dict::get: entry 'w' holds float32, requested float64",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(s.get<float>("v"), "state_dict: no entry 'v' (entries: w)", kexue::value_error);
  }
}

TEST_SUITE("core.random") {
  TEST_CASE("manual_seed restarts the process-wide generator") {
    kexue::manual_seed(3);
    const double a = kexue::default_generator().uniform();
    kexue::manual_seed(3);
    CHECK(kexue::default_generator().uniform() == a);
    kexue::generator g(3);
    CHECK(g.uniform() == a);
  }
}

TEST_SUITE("core.random") {
  TEST_CASE("a generator's saved state resumes the stream exactly, cached normal included") {
    kexue::generator g(9);
    g.normal();  // leaves the second Box–Muller value cached
    const auto saved = g.state();
    const double n1 = g.normal(), u1 = g.uniform(), n2 = g.normal();
    kexue::generator h(1);
    h.set_state(saved);
    CHECK(h.normal() == n1);
    CHECK(h.uniform() == u1);
    CHECK(h.normal() == n2);
    CHECK_THROWS_WITH_AS(h.set_state({0, 0, 0, 0, 0, 0}),
                         "generator::set_state: the xoshiro256** state must not be all zeros", kexue::value_error);
  }
}
