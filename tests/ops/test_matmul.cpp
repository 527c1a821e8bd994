// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("ops.matmul") {
  TEST_CASE_TEMPLATE("matrix, vector and batched products", T, float, double) {
    kx::tensor<T> a = {{1, 2}, {3, 4}};
    kx::tensor<T> b = {{5, 6}, {7, 8}};
    // [[1·5+2·7, 1·6+2·8], [3·5+4·7, 3·6+4·8]]
    check_values(kx::matmul(a, b), {2, 2}, {19, 22, 43, 50});
    check_values(kx::matmul(a, b, true, false), {2, 2}, {26, 30, 38, 44});  // aᵀb
    check_values(kx::matmul(a, b, false, true), {2, 2}, {17, 23, 39, 53});  // abᵀ
    check_values(kx::matmul(a, b, true, true), {2, 2}, {23, 31, 34, 46});   // aᵀbᵀ
    kx::tensor<T> v = {1, 1};
    check_values(kx::matmul(a, v), {2}, {3, 7});
    check_values(kx::matmul(v, a), {2}, {4, 6});
    check_values(kx::matmul(v, v), {}, {2});
    auto batch = kx::expand(kx::reshape(a, {1, 2, 2}), {3, 2, 2});
    auto c = kx::matmul(batch, b);  // [3,2,2]·[2,2] broadcasts b
    CHECK(c.shape() == kx::shape{3, 2, 2});
    check_values(kx::reshape(c, {3, 4}), {3, 4}, {19, 22, 43, 50, 19, 22, 43, 50, 19, 22, 43, 50});
  }

  TEST_CASE("non-square shapes through every transpose combination") {
    kx::generator gen(4);
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        CAPTURE(ta);
        CAPTURE(tb);
        auto a = kx::randn<double>(ta ? kx::shape{4, 3} : kx::shape{3, 4}, gen);
        auto b = kx::randn<double>(tb ? kx::shape{5, 4} : kx::shape{4, 5}, gen);
        auto c = kx::matmul(a, b, ta, tb);
        REQUIRE(c.shape() == kx::shape{3, 5});
        for (int i = 0; i < 3; ++i) {
          for (int j = 0; j < 5; ++j) {
            double ref = 0;
            for (int k = 0; k < 4; ++k) ref += (ta ? a(k, i) : a(i, k)) * (tb ? b(j, k) : b(k, j));
            CHECK(c(i, j) == doctest::Approx(ref).epsilon(1e-12));
          }
        }
      }
    }
  }

  TEST_CASE("gradients through every transpose combination and broadcast batches") {
    kx::generator gen(7);
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        auto a = kx::randn<double>(ta ? kx::shape{2, 1, 4, 3} : kx::shape{2, 1, 3, 4}, gen).requires_grad(true);
        auto b = kx::randn<double>(tb ? kx::shape{3, 5, 4} : kx::shape{3, 4, 5}, gen).requires_grad(true);
        auto fn = [ta, tb](const V& v) { return kx::matmul(v[0], v[1], ta, tb); };
        check_gradients(fn, {a, b});
        check_second_order(fn, {a, b});
      }
    }
    auto m = kx::randn<double>({3, 4}, gen).requires_grad(true);
    auto v = kx::randn<double>({4}, gen).requires_grad(true);
    check_gradients([](const V& x) { return kx::matmul(x[0], x[1]); }, {m, v});
    check_gradients([](const V& x) { return kx::matmul(x[0], x[0]); }, {v});
  }

  TEST_CASE("a shared left operand multiplies every batch of the right one") {
    kx::generator gen(8);
    auto a = kx::randn<double>({3, 4}, gen).requires_grad(true);
    auto b = kx::randn<double>({2, 4, 5}, gen).requires_grad(true);
    auto c = kx::matmul(a, b);
    REQUIRE(c.shape() == kx::shape{2, 3, 5});
    for (int batch = 0; batch < 2; ++batch) {
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 5; ++j) {
          double ref = 0;
          for (int k = 0; k < 4; ++k) ref += a(i, k) * b(batch, k, j);
          CHECK(c(batch, i, j) == doctest::Approx(ref).epsilon(1e-12));
        }
      }
    }
    check_gradients([](const V& v) { return kx::matmul(v[0], v[1]); }, {a, b});
    check_gradients([](const V& v) { return kx::matmul(v[0], v[1], true, false); },
                    {kx::randn<double>({4, 3}, gen).requires_grad(true), b});
  }

  TEST_CASE("an empty inner dimension gives zeros, and empty gradients, as in PyTorch") {
    // torch.matmul(torch.ones(2, 0), torch.ones(0, 3)) is zeros [2, 3]; its gradients are [2, 0] and [0, 3].
    const auto a = kx::ones<double>({2, 0}).requires_grad(true);
    const auto b = kx::ones<double>({0, 3}).requires_grad(true);
    const auto c = kx::matmul(a, b);
    check_values(c, {2, 3}, {0, 0, 0, 0, 0, 0});
    const auto g = kx::grad({kx::sum(c)}, {a, b});
    CHECK(g[0].shape() == kx::shape{2, 0});
    CHECK(g[1].shape() == kx::shape{0, 3});
    // Batched with a transposed left operand: [1, 1, 0, 5]ᵀ · [1, 1, 0, 2] → zeros [1, 1, 5, 2].
    const auto d = kx::matmul(kx::ones<float>({1, 1, 0, 5}), kx::ones<float>({1, 1, 0, 2}), true, false);
    CHECK(d.shape() == kx::shape{1, 1, 5, 2});
    for (kx::index_t i = 0; i < d.numel(); ++i) CHECK(d.data()[i] == 0.0f);
  }

  TEST_CASE("shape errors name both operands") {
    CHECK_THROWS_WITH_AS(kx::matmul(kx::zeros<float>({2, 3}), kx::zeros<float>({4, 5})),
                         "matmul: inner dimensions differ (lhs [2, 3], rhs [4, 5])", kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::matmul(kx::zeros<float>({2, 3}), kx::zeros<float>({2, 5}), true, true),
                         "matmul: inner dimensions differ (lhs [2, 3] transposed, rhs [2, 5] transposed)",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::matmul(kx::zeros<float>({2, 2, 3}), kx::zeros<float>({3, 3, 4})),
                         "matmul: batch dimensions cannot be broadcast (lhs [2, 2, 3], rhs [3, 3, 4])",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(kx::matmul(kx::zeros<float>({}), kx::zeros<float>({3})),
                         "matmul: both arguments need rank >= 1 (lhs [], rhs [3])", kx::shape_error);
  }
}
