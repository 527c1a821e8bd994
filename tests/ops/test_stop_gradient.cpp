// SPDX-License-Identifier: MIT
#include <cstring>  // std::memcmp

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reduce.hpp>
#include <kexue/ops/stop_gradient.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
using kx::testing::check_values;

namespace {
kx::grad_options with_graph() { return kx::grad_options().create_graph(true); }
}  // namespace

TEST_SUITE("ops.stop_gradient") {
  TEST_CASE_TEMPLATE("stop_gradient is the identity forward and shares storage", T, float, double) {
    auto x = kx::tensor<T>{1, -2, 3}.requires_grad(true);
    auto y = kx::stop_gradient(x * T(2));
    check_values(y, {3}, {2, -4, 6});
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    auto z = kx::stop_gradient(x);
    CHECK(z.shares_storage_with(x));
    CHECK_FALSE(z.requires_grad());
  }

  TEST_CASE("stop_gradient blocks the gradient and, with create_graph, the second derivative") {
    // L = sum(x² · sg[x]). dL/dx = 2x·sg[x] (the sg factor is a constant): at x = (1, 2, -3) that is
    // 2x² = (2, 8, 18). Differentiating sum(dL/dx) again: d/dx Σ 2x·sg[x] = 2·sg[x] = (2, 4, -6)
    // (without the stop it would be 6x = (6, 12, -18)).
    auto x = kx::tensor<double>{1, 2, -3}.requires_grad(true);
    auto loss = kx::sum(kx::square(x) * kx::stop_gradient(x));
    auto g = kx::grad({loss}, {x}, with_graph());
    check_values(g[0], {3}, {2, 8, 18});
    auto gg = kx::grad({kx::sum(g[0])}, {x});
    check_values(gg[0], {3}, {2, 4, -6});
  }

  TEST_CASE("a loss that only reads stop_gradient does not depend on x") {
    auto x = kx::tensor<double>{1, 2}.requires_grad(true);
    auto y = kx::tensor<double>{3, 4}.requires_grad(true);
    auto loss = kx::sum(kx::stop_gradient(x) * y);
    auto g = kx::grad({loss}, {x, y}, kx::grad_options().allow_unused(true));
    CHECK_FALSE(g[0].defined());
    check_values(g[1], {2}, {1, 2});
  }

  TEST_CASE_TEMPLATE("straight_through has exactly the value of y", T, float, double) {
    // x + (y − x) is not y in floating point here: with x = 1e8, y = 0.1 the sum loses y's low bits.
    auto x = kx::tensor<T>{T(1e8), T(-3e7), T(0.5)}.requires_grad(true);
    auto y = kx::tensor<T>{T(0.1), T(1) / T(3), T(-2.7)};
    auto out = kx::straight_through(x, y);
    REQUIRE(out.shape() == y.shape());
    CHECK(std::memcmp(out.data(), y.data(), sizeof(T) * 3) == 0);
    CHECK_FALSE(out.shares_storage_with(y));
    CHECK(out.requires_grad());
    CHECK(std::string(out.grad_fn()->name) == "straight_through");
    auto naive = (x + kx::stop_gradient(y - x)).detach();
    CHECK(std::memcmp(naive.data(), y.data(), sizeof(T) * 3) != 0);  // why the op copies y instead
  }

  TEST_CASE("straight_through passes the gradient to x unchanged and none to y") {
    // L = sum(w · st(x, y)) with w = (1, 2, 3): dL/dx = w, y gets nothing even though it requires a gradient.
    auto x = kx::tensor<double>{0.3, -1.2, 2.0}.requires_grad(true);
    auto y = kx::tensor<double>{1, 0, 4}.requires_grad(true);
    auto w = kx::tensor<double>{1, 2, 3};
    auto loss = kx::sum(w * kx::straight_through(x, y));
    CHECK(loss.item() == doctest::Approx(1 * 1 + 0 * 2 + 4 * 3));
    auto g = kx::grad({loss}, {x, y}, kx::grad_options().allow_unused(true));
    check_values(g[0], {3}, {1, 2, 3});
    CHECK_FALSE(g[1].defined());
    // Without a gradient on x the result carries none, whatever y requires.
    CHECK_FALSE(kx::straight_through(x.detach(), y).requires_grad());
  }

  TEST_CASE("straight_through broadcasts as x + sg[y - x] does") {
    // x [2, 1] and y [2, 3]: the value is y; x's gradient sums g over the broadcast axis: (1+1+1, 1+1+1).
    auto x = kx::from_vector<double>({1, 2}, {2, 1}).requires_grad(true);
    auto y = kx::tensor<double>{{1, 2, 3}, {4, 5, 6}};
    auto out = kx::straight_through(x, y);
    check_values(out, {2, 3}, {1, 2, 3, 4, 5, 6});
    auto g = kx::grad({kx::sum(out)}, {x});
    check_values(g[0], {2, 1}, {3, 3});
    // x [2, 3] and y [3]: y is repeated over the rows.
    auto x2 = kx::zeros<double>({2, 3}).requires_grad(true);
    check_values(kx::straight_through(x2, kx::tensor<double>{7, 8, 9}), {2, 3}, {7, 8, 9, 7, 8, 9});
    CHECK_THROWS_WITH_AS(kx::straight_through(x2, kx::zeros<double>({4})),
                         "straight_through: shapes cannot be broadcast (lhs [2, 3], rhs [4])", kx::shape_error);
  }

  TEST_CASE("straight_through gives the same first and second derivatives as x + sg[y - x]") {
    // f(x) = sum(z · x · x · c) with z = st(x, y): the straight-through surrogate treats dz/dx as I.
    // By hand, per element: df/dx = c·x² (through z) + 2·c·z·x; and the derivative of sum(df/dx) is
    // 2cx + 2cz + 2cx (the second term's z again routes to x) = c·(4x + 2y).
    kx::generator gen(kexue_test_seed());
    auto x = kx::randn<double>({4}, gen).requires_grad(true);
    auto y = kx::randn<double>({4}, gen);
    auto c = kx::randn<double>({4}, gen);
    auto f = [&](const kx::tensor<double>& z) { return kx::sum(z * x * x * c); };
    auto g_st = kx::grad({f(kx::straight_through(x, y))}, {x}, with_graph());
    auto g_ref = kx::grad({f(x + kx::stop_gradient(y - x))}, {x}, with_graph());
    kx::testing::check_close(g_st[0], g_ref[0]);
    auto gg_st = kx::grad({kx::sum(g_st[0])}, {x});
    auto gg_ref = kx::grad({kx::sum(g_ref[0])}, {x});
    kx::testing::check_close(gg_st[0], gg_ref[0]);
    for (int i = 0; i < 4; ++i) {
      const double xi = x.data()[i], yi = y.data()[i], ci = c.data()[i];
      CHECK(g_st[0].data()[i] == doctest::Approx(ci * xi * xi + 2 * ci * yi * xi));
      CHECK(gg_st[0].data()[i] == doctest::Approx(ci * (4 * xi + 2 * yi)));
    }
  }

  TEST_CASE("VQ-VAE straight-through: d loss / d encoder output equals d loss / d decoder input (A29)") {
    // z [N, d] encoder outputs, codebook E [K, d]; z_q = nearest code of each row (argmin by hand below);
    // linear decoder D(u) = u·W; L = ‖x − D(z + sg[z_q − z])‖² + β‖sg[z] − z_q‖² + γ‖z − sg[z_q]‖².
    kx::generator gen(kexue_test_seed() + 1);
    const kx::index_t n = 5, d = 3, k = 4;
    auto enc_w = kx::randn<double>({d, d}, gen).requires_grad(true);
    auto inputs = kx::randn<double>({n, d}, gen);
    auto codebook = kx::randn<double>({k, d}, gen).requires_grad(true);
    auto dec_w = kx::randn<double>({d, d}, gen).requires_grad(true);
    auto z = kx::matmul(inputs, enc_w);
    // Nearest code per row (codes carry no gradient: the selection is an integer choice).
    auto z_q_rows = kx::tensor<double>::empty({n, d});
    std::vector<kx::index_t> nearest(n);
    for (kx::index_t i = 0; i < n; ++i) {
      double best = 1e300;
      for (kx::index_t j = 0; j < k; ++j) {
        double dist = 0;
        for (kx::index_t c = 0; c < d; ++c) {
          const double diff = z.data()[i * d + c] - codebook.data()[j * d + c];
          dist += diff * diff;
        }
        if (dist < best) best = dist, nearest[i] = j;
      }
    }
    // z_q gathered from the codebook with a one-hot matmul, so the codebook gets its β-term gradient.
    auto select = kx::zeros<double>({n, k});
    for (kx::index_t i = 0; i < n; ++i) select.data()[i * k + nearest[i]] = 1;
    auto z_q = kx::matmul(select, codebook);
    auto decoder_input = kx::straight_through(z, z_q);
    CHECK(std::memcmp(decoder_input.data(), z_q.data(), sizeof(double) * n * d) == 0);
    auto recon = kx::matmul(decoder_input, dec_w);
    const double beta = 1.0, gamma = 0.25;
    auto loss = kx::sum(kx::square(inputs - recon)) + beta * kx::sum(kx::square(kx::stop_gradient(z) - z_q)) +
                gamma * kx::sum(kx::square(z - kx::stop_gradient(z_q)));
    auto grads = kx::grad({loss}, {decoder_input, z, codebook}, kx::grad_options().retain_graph(true));
    // d loss / d z = (reconstruction gradient at the decoder input) + 2γ(z − z_q).
    auto expected_dz = grads[0] + kx::mul_scalar(z.detach() - z_q.detach(), 2 * gamma);
    kx::testing::check_close(grads[1], expected_dz);
    // The codebook receives only the β term: 2β·selectᵀ(z_q − z), nothing from the reconstruction.
    auto expected_de = kx::mul_scalar(kx::matmul(select, z_q.detach() - z.detach(), true, false), 2 * beta);
    kx::testing::check_close(grads[2], expected_de);
    // Without the commitment term the two gradients coincide exactly: the claim of A29.
    auto u = kx::straight_through(z, z_q);
    auto recon_loss = kx::sum(kx::square(inputs - kx::matmul(u, dec_w)));
    auto pair = kx::grad({recon_loss}, {u, z});
    CHECK(std::memcmp(pair[0].data(), pair[1].data(), sizeof(double) * n * d) == 0);
  }

  TEST_CASE("single-loss GAN: each network gets only its own gradient (A18)") {
    // G(z) = z·Wg, D(x) = sum(sin(x·Wd)) per row. L = mean D(x_real) − mean D(sg[G]) + λ·mean(D(G) − D(sg[G])).
    // Its gradient w.r.t. Wd equals that of the D-loss alone; w.r.t. Wg it equals λ·(G-loss gradient).
    kx::generator gen(kexue_test_seed() + 2);
    auto wg = kx::randn<double>({2, 3}, gen).requires_grad(true);
    auto wd = kx::randn<double>({3, 1}, gen).requires_grad(true);
    auto noise = kx::randn<double>({4, 2}, gen);
    auto real = kx::randn<double>({4, 3}, gen);
    auto disc = [&](const kx::tensor<double>& v) { return kx::mean(kx::sin(kx::matmul(v, wd))); };
    const double lambda = 0.7;
    auto fake = kx::matmul(noise, wg);
    auto fake_ng = kx::stop_gradient(fake);
    auto loss = disc(real) - disc(fake_ng) + lambda * (disc(fake) - disc(fake_ng));
    CHECK(std::abs(loss.item() - (disc(real) - disc(fake_ng)).item()) < 1e-15);
    auto g = kx::grad({loss}, {wd, wg}, kx::grad_options().retain_graph(true));
    auto g_d = kx::grad({disc(real) - disc(fake_ng)}, {wd});
    auto g_g = kx::grad({disc(fake)}, {wg});
    kx::testing::check_close(g[0], g_d[0]);
    kx::testing::check_close(g[1], kx::mul_scalar(g_g[0], lambda));
  }

  TEST_CASE_TEMPLATE("clone copies the values into new storage", T, float, double) {
    auto x = kx::tensor<T>{{1, 2}, {3, 4}};
    auto y = kx::clone(x);
    check_values(y, {2, 2}, {1, 2, 3, 4});
    CHECK_FALSE(y.shares_storage_with(x));
    y(0, 0) = 9;
    CHECK(x(0, 0) == T(1));
    auto labels = kx::tensor<kx::index_t>{1, 2};
    CHECK(kx::clone(labels).to_vector() == std::vector<kx::index_t>{1, 2});
  }

  TEST_CASE("clone passes gradients of every order") {
    kx::generator gen(kexue_test_seed() + 3);
    auto x = kx::randn<double>({2, 3}, gen).requires_grad(true);
    auto fn = [](const std::vector<kx::tensor<double>>& v) {
      auto c = kx::clone(v[0]);
      return kx::sin(c) * kx::clone(c) * v[0];
    };
    kx::testing::check_gradients(fn, {x});
    kx::testing::check_second_order(fn, {x});
    auto y = kx::clone(x);
    CHECK(std::string(y.grad_fn()->name) == "clone");
  }
}
