// SPDX-License-Identifier: MIT
// The per-tap kernels of stride-1 conv1d (forward, input gradient, weight gradient) against a plain loop, at
// sizes with partial register tiles in every dimension, several batch chunks and paddings that empty taps.
#include <algorithm>  // std::equal
#include <cmath>      // std::abs
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/ops/conv.hpp>

#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::index_t;

namespace {

struct taps_case {
  index_t batch, channels, out_channels, length, kernel, left, right, dilation, groups;
};

/// y, dx, dw, db of conv1d by the definition, in double: y[b, o, j] = bias[o] + Σ_{c, t} w[o, c, t] ·
/// x[b, g·cg + c, j + t·d − left] (0 outside x), and the gradients for the output gradient gy.
struct naive_result {
  std::vector<double> y, dx, dw, db;
};

template <class T>
naive_result naive_conv1d(const taps_case& p, const kx::tensor<T>& x, const kx::tensor<T>& w, const kx::tensor<T>& b,
                          const kx::tensor<T>& gy) {
  const index_t cg = p.channels / p.groups, og = p.out_channels / p.groups;
  const index_t lo = p.length + p.left + p.right - p.dilation * (p.kernel - 1);
  naive_result r{std::vector<double>(p.batch * p.out_channels * lo), std::vector<double>(x.numel()),
                 std::vector<double>(w.numel()), std::vector<double>(p.out_channels)};
  for (index_t n = 0; n < p.batch; ++n)
    for (index_t o = 0; o < p.out_channels; ++o)
      for (index_t j = 0; j < lo; ++j) {
        const index_t yi = (n * p.out_channels + o) * lo + j;
        const double g = gy.data()[yi];
        double sum = b.data()[o];
        r.db[o] += g;
        for (index_t c = 0; c < cg; ++c)
          for (index_t t = 0; t < p.kernel; ++t) {
            const index_t i = j + t * p.dilation - p.left;
            if (i < 0 || i >= p.length) continue;
            const index_t xi = (n * p.channels + o / og * cg + c) * p.length + i, wi = (o * cg + c) * p.kernel + t;
            sum += double(w.data()[wi]) * double(x.data()[xi]);
            r.dx[xi] += double(w.data()[wi]) * g;
            r.dw[wi] += double(x.data()[xi]) * g;
          }
        r.y[yi] = sum;
      }
  return r;
}

template <class T>
void check_against(const kx::tensor<T>& actual, const std::vector<double>& expected, double tol) {
  REQUIRE(actual.numel() == static_cast<index_t>(expected.size()));
  index_t worst = 0;
  double worst_error = 0;  // |actual − expected| / (1 + |expected|)
  for (index_t i = 0; i < actual.numel(); ++i) {
    const double error = std::abs(double(actual.data()[i]) - expected[i]) / (1 + std::abs(expected[i]));
    if (error > worst_error) worst_error = error, worst = i;
  }
  CAPTURE(worst);
  CHECK(worst_error <= tol);
}

}  // namespace

TEST_SUITE("ops.conv") {
  TEST_CASE_TEMPLATE("stride-1 conv1d and its gradients equal the definition at uneven tile sizes", T, float, double) {
    const double tol = sizeof(T) == 4 ? 1e-4 : 1e-12;
    const std::vector<taps_case> cases = {
        {5, 19, 26, 70, 3, 2, 2, 2, 1},  // "same" at dilation 2; 26 rows = two register tiles and a part
        {3, 13, 29, 67, 3, 6, 0, 3, 1},  // causal
        {2, 17, 14, 40, 3, 0, 0, 1, 1},  // valid
        {4, 20, 26, 33, 3, 4, 4, 4, 2},  // groups 2
        {2, 6, 5, 9, 2, 7, 5, 1, 1},     // more padding than the kernel spans: leading and trailing zeros
        {3, 4, 3, 3, 5, 20, 0, 5, 1},    // the first taps never meet the input (empty weight-gradient depths)
        {2, 7, 9, 35, 1, 0, 0, 1, 1},    // kernel 1
        {2, 6, 5, 9, 3, 5, 4, 1, 1},     // kernel 3 padded beyond its span (the input gradient crops gy)
        {2, 5, 7, 20, 3, 8, 8, 8, 1},    // dilation 8: half a Winograd block of 2d = 16 outputs past the end
    };
    for (const auto& p : cases) {
      CAPTURE(p.channels);
      CAPTURE(p.length);
      kx::generator gen(7);
      auto x = kx::randn<T>({p.batch, p.channels, p.length}, gen).requires_grad(true);
      auto w = kx::randn<T>({p.out_channels, p.channels / p.groups, p.kernel}, gen).requires_grad(true);
      auto b = kx::randn<T>({p.out_channels}, gen).requires_grad(true);
      const index_t lo = p.length + p.left + p.right - p.dilation * (p.kernel - 1);
      auto gy = kx::randn<T>({p.batch, p.out_channels, lo}, gen);
      const naive_result want = naive_conv1d(p, x, w, b, gy);
      auto y = kx::conv1d(x, w, b, 1, {p.left, p.right}, p.dilation, p.groups);
      auto g = kx::grad<T>({y}, {x, w, b}, kx::grad_options(), {gy});
      check_against(y, want.y, tol);
      check_against(g[0], want.dx, tol);
      check_against(g[1], want.dw, tol);
      check_against(g[2], want.db, tol);
    }
  }

  TEST_CASE("stride-1 conv1d gradients do not depend on the thread count") {
    kx::generator gen(11);
    auto x = kx::randn<float>({7, 24, 50}, gen).requires_grad(true);
    auto w = kx::randn<float>({30, 24, 3}, gen).requires_grad(true);
    auto gy = kx::randn<float>({7, 30, 50}, gen);
    const int saved = kx::get_num_threads();
    auto run = [&](int threads) {
      kx::set_num_threads(threads);
      auto g = kx::grad<float>({kx::conv1d(x, w, {}, 1, 2, 2)}, {x, w}, kx::grad_options(), {gy});
      kx::set_num_threads(saved);
      return g;
    };
    const auto one = run(1), two = run(2);
    for (int i = 0; i < 2; ++i) {
      CHECK(std::equal(one[i].data(), one[i].data() + one[i].numel(), two[i].data()));
    }
  }
}
