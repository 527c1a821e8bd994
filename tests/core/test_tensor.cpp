// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <cstdint>

#include <kexue/core/creation.hpp>
#include <kexue/core/tensor.hpp>

namespace kx = kexue;

TEST_SUITE("core.tensor") {
  TEST_CASE_TEMPLATE("nested lists give shape and row-major values", T, float, double) {
    kx::tensor<T> x = {{1, 2, 3}, {4, 5, 6}};
    CHECK(x.shape() == kx::shape{2, 3});
    CHECK(x(1, 2) == T(6));
    CHECK(x.at({-1, 0}) == T(4));
    CHECK(x.to_vector() == std::vector<T>{1, 2, 3, 4, 5, 6});
    kx::tensor<T> cube = {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}};
    CHECK(cube.shape() == kx::shape{2, 2, 2});
    CHECK(cube(1, 0, 1) == T(6));
  }

  TEST_CASE("ragged nested lists are rejected") {
    CHECK_THROWS_WITH_AS((kx::tensor<float>{{1, 2}, {3}}),
                         "tensor: nested value lists are ragged (sublist of shape [1] beside one of shape [2])",
                         kx::shape_error);
  }

  TEST_CASE("storage is 64-byte aligned") {
    for (kx::index_t n : {1, 3, 17, 1000}) {
      auto t = kx::zeros<float>({n});
      CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    }
  }

  TEST_CASE("copies of a handle share data; copy() does not") {
    auto a = kx::zeros<float>({3});
    auto b = a;
    b(0) = 5;
    CHECK(a(0) == 5);
    auto c = a.copy();
    c(1) = 7;
    CHECK(a(1) == 0);
    CHECK(a.shares_storage_with(b));
    CHECK_FALSE(a.shares_storage_with(c));
  }

  TEST_CASE("item needs exactly one element") {
    CHECK(kx::scalar<double>(2.5).item() == 2.5);
    CHECK(kx::tensor<float>{3}.item() == 3);
    CHECK_THROWS_WITH_AS(kx::zeros<float>({2, 2}).item(),
                         "tensor::item: tensor of shape [2, 2] has 4 elements, expected exactly one", kx::value_error);
  }

  TEST_CASE("at checks bounds and the number of indices") {
    auto x = kx::zeros<float>({2, 3});
    CHECK_THROWS_WITH_AS(x.at({0, 3}), "tensor::at: index 3 out of range for axis 1 of size 3 (shape [2, 3])",
                         kx::index_error);
    CHECK_THROWS_WITH_AS(x.at({0}), "tensor::at: 1 indices given for a tensor of shape [2, 3]", kx::index_error);
  }

  TEST_CASE("undefined tensors say so") {
    kx::tensor<float> t;
    CHECK_FALSE(t.defined());
    CHECK_THROWS_WITH_AS(t.shape(), "tensor: use of an undefined tensor", kx::value_error);
  }

  TEST_CASE("conversion between element types") {
    kx::tensor<double> d = {1.5, -2.25};
    auto f = d.to<float>();
    CHECK(f(0) == 1.5f);
    CHECK(f(1) == -2.25f);
    auto mask = kx::tensor<bool>{true, false, true}.to<float>();
    CHECK(mask.to_vector() == std::vector<float>{1, 0, 1});
    auto w = kx::ones<float>({2}).requires_grad(true);
    CHECK_THROWS_WITH_AS(w.to<double>(),
                         "tensor::to: conversion between element types is not differentiable; detach() the float32 "
                         "tensor before converting it to float64",
                         kx::value_error);
    CHECK(w.detach().to<double>()(1) == 1.0);
  }

  TEST_CASE("wrap views external memory without copying") {
    float raw[6] = {1, 2, 3, 4, 5, 6};
    auto t = kx::tensor<float>::wrap(raw, {2, 3});
    t(0, 0) = 10;
    CHECK(raw[0] == 10);
    CHECK(t(1, 2) == 6);
  }

  TEST_CASE("requires_grad is a leaf property") {
    auto w = kx::zeros<double>({2});
    CHECK_FALSE(w.requires_grad());
    w.requires_grad(true);
    CHECK(w.requires_grad());
    CHECK(w.is_leaf());
    CHECK_FALSE(w.detach().requires_grad());
    CHECK_FALSE(w.grad().defined());
  }
}
