// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <cmath>

#include <kexue/core/creation.hpp>
#include <kexue/ops/math.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_gradients;
using kx::testing::check_second_order;
using kx::testing::check_values;
using V = std::vector<kx::tensor<double>>;

TEST_SUITE("ops.math") {
  TEST_CASE_TEMPLATE("unary functions match the standard library", T, float, double) {
    kx::tensor<T> x = {0.25, 1, 2.5};
    auto ref = [&](double (*f)(double)) {
      std::vector<double> out;
      for (T v : x) out.push_back(f(static_cast<double>(v)));
      return out;
    };
    check_values(kx::exp(x), {3}, ref([](double v) { return std::exp(v); }));
    check_values(kx::log(x), {3}, ref([](double v) { return std::log(v); }));
    check_values(kx::log1p(x), {3}, ref([](double v) { return std::log1p(v); }));
    check_values(kx::expm1(x), {3}, ref([](double v) { return std::expm1(v); }));
    check_values(kx::sqrt(x), {3}, ref([](double v) { return std::sqrt(v); }));
    check_values(kx::rsqrt(x), {3}, ref([](double v) { return 1 / std::sqrt(v); }));
    check_values(kx::sin(x), {3}, ref([](double v) { return std::sin(v); }));
    check_values(kx::cos(x), {3}, ref([](double v) { return std::cos(v); }));
    check_values(kx::erf(x), {3}, ref([](double v) { return std::erf(v); }));
    check_values(kx::square(x), {3}, {0.0625, 1, 6.25});
  }

  TEST_CASE_TEMPLATE("abs and sign", T, float, double) {
    kx::tensor<T> x = {-2, 0, 3};
    check_values(kx::abs(x), {3}, {2, 0, 3});
    check_values(kx::sign(x), {3}, {-1, 0, 1});
  }

  TEST_CASE("domain edges give IEEE results") {
    kx::tensor<double> x = {0, -1};
    auto l = kx::log(x);
    CHECK(l(0) == -INFINITY);
    CHECK(std::isnan(l(1)));
    CHECK(std::isnan(kx::sqrt(x)(1)));
    CHECK(kx::exp(kx::tensor<double>{1000})(0) == INFINITY);
  }

  TEST_CASE("gradients and second-order gradients of unary functions") {
    kx::generator gen(9);
    auto x = kx::rand<double>({5}, gen, 0.3, 2.0).requires_grad(true);
    const std::vector<std::pair<const char*, kx::testing::double_fn>> cases = {
        {"exp", [](const V& v) { return kx::exp(v[0]); }},
        {"log", [](const V& v) { return kx::log(v[0]); }},
        {"log1p", [](const V& v) { return kx::log1p(v[0]); }},
        {"expm1", [](const V& v) { return kx::expm1(v[0]); }},
        {"sqrt", [](const V& v) { return kx::sqrt(v[0]); }},
        {"rsqrt", [](const V& v) { return kx::rsqrt(v[0]); }},
        {"square", [](const V& v) { return kx::square(v[0]); }},
        {"abs", [](const V& v) { return kx::abs(v[0]); }},
        {"sin", [](const V& v) { return kx::sin(v[0]); }},
        {"cos", [](const V& v) { return kx::cos(v[0]); }},
        {"erf", [](const V& v) { return kx::erf(v[0]); }},
    };
    for (const auto& [name, fn] : cases) {
      CAPTURE(name);
      check_gradients(fn, {x});
      check_second_order(fn, {x});
    }
  }

  TEST_CASE("sign has a zero gradient") {
    auto x = kx::tensor<double>{-1, 2}.requires_grad(true);
    kx::sum(kx::sign(x) * x).backward();
    check_values(x.grad(), {2}, {-1, 1});  // only the x factor contributes
  }
}
