// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <string>

#include <kexue/autograd/gradcheck.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>

namespace kx = kexue;
using V = std::vector<kx::tensor<double>>;

namespace {
/// exp with a deliberately wrong gradient (off by a factor 1.01), to prove the checker can fail.
kx::tensor<double> wrong_exp(const kx::tensor<double>& x) {
  auto out = kx::tensor<double>::empty(x.shape());
  for (kx::index_t i = 0; i < x.numel(); ++i) out.data()[i] = std::exp(x.data()[i]);
  return kx::autograd::record<double>("wrong_exp", out, {x}, [x](auto) {
    return [x](const kx::tensor<double>& g) { return std::vector<kx::tensor<double>>{g * kx::exp(x) * 1.01}; };
  });
}

/// exp whose first derivative is right but whose second derivative is 1% off: its backward multiplies by
/// wrong_exp(x), which has the right value and a wrong gradient.
kx::tensor<double> wrong_second_exp(const kx::tensor<double>& x) {
  auto out = kx::tensor<double>::empty(x.shape());
  for (kx::index_t i = 0; i < x.numel(); ++i) out.data()[i] = std::exp(x.data()[i]);
  return kx::autograd::record<double>("wrong_second_exp", out, {x}, [x](auto) {
    return [x](const kx::tensor<double>& g) { return std::vector<kx::tensor<double>>{g * wrong_exp(x)}; };
  });
}
}  // namespace

TEST_SUITE("autograd.gradcheck") {
  TEST_CASE("gradcheck passes a correct gradient") {
    auto x = kx::randn<double>({3, 2}, 1).requires_grad(true);
    auto r = kx::gradcheck<double>([](const V& v) { return kx::exp(v[0]) * v[0]; }, {x});
    CHECK_MESSAGE(r.passed, r.log);
    CHECK(r.worst_error < 1e-3);
  }

  TEST_CASE("gradcheck catches a wrong gradient and names the worst element") {
    auto x = kx::randn<double>({3}, 2).requires_grad(true);
    auto r = kx::gradcheck<double>([](const V& v) { return wrong_exp(v[0]); }, {x});
    CHECK_FALSE(r.passed);
    CHECK(r.log.find("gradcheck FAILED; worst element: input 0 (shape [3])") == 0);
  }

  TEST_CASE("gradgradcheck catches a wrong second-order gradient") {
    // gradgradcheck compares the second derivative with finite differences of autograd's first derivative,
    // so it catches a wrong double backward even when the first order is right.
    auto x = kx::randn<double>({2}, 3).requires_grad(true);
    CHECK(kx::gradcheck<double>([](const V& v) { return wrong_second_exp(v[0]); }, {x}).passed);
    CHECK_FALSE(kx::gradgradcheck<double>([](const V& v) { return wrong_second_exp(v[0]); }, {x}).passed);
    CHECK(kx::gradgradcheck<double>([](const V& v) { return kx::exp(v[0]) * kx::sin(v[0]); }, {x}).passed);
  }

  TEST_CASE("large outputs are checked through random projections, and four-point differences work") {
    auto x = kx::randn<double>({50}, 4).requires_grad(true);
    kx::gradcheck_options opt;
    opt.four_point = true;
    opt.max_elements = 10;
    auto r = kx::gradcheck<double>([](const V& v) { return kx::sin(v[0]) * 3.0; }, {x}, opt);
    CHECK_MESSAGE(r.passed, r.log);
  }
}
