// SPDX-License-Identifier: MIT
// Tests of loss/divergence.hpp: gaussian_kl_standard, gaussian_kl, kl_div, reparameterize, vib.
#include <cmath>  // std::log

#include "loss/loss_other_reference.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/loss/divergence.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kl = kexue::loss;
using kexue::tensor;
using kexue::testing::check_values;
using tensors = std::vector<tensor<double>>;

TEST_SUITE("loss.divergence") {
  TEST_CASE_TEMPLATE("Gaussian KL divergences match the closed forms by hand", T, float, double) {
    const T ln2 = static_cast<T>(std::log(2.0));
    const tensor<T> mu = {{1, 0}, {0, 0}};
    const tensor<T> logvar = {{0, ln2}, {0, 0}};
    // Row 0: ½[(1 + e⁰ − 1 − 0) + (0 + 2 − 1 − ln 2)] = 1 − ½ln 2 = 0.65342640972; row 1: N(0, I) itself, 0.
    const double kl0 = 1 - 0.5 * std::log(2.0);
    check_values(kl::gaussian_kl_standard(mu, logvar, kl::gaussian_kl_options().reduction(kl::reduction::none)), {2},
                 {kl0, 0});
    check_values(kl::gaussian_kl_standard(mu, logvar), {}, {kl0 / 2});
    // KL(N(1, 1) ‖ N(0, 4)) = ln(σp/σq) + (σq² + Δμ²)/(2σp²) − ½ = ln 2 + 2/8 − ½ = 0.44314718056.
    const T ln4 = static_cast<T>(std::log(4.0));
    check_values(kl::gaussian_kl(tensor<T>{{1}}, tensor<T>{{0}}, tensor<T>{{0}}, tensor<T>{{ln4}}), {},
                 {std::log(2.0) - 0.25});
    // With p = N(0, I) it is gaussian_kl_standard.
    const auto zero = kexue::zeros<T>({2, 2});
    check_values(kl::gaussian_kl(mu, logvar, zero, zero), {}, {kl0 / 2});
  }

  TEST_CASE_TEMPLATE("kl_div takes 0 log 0 as 0 and handles log targets", T, float, double) {
    const T half = static_cast<T>(std::log(0.5));
    const tensor<T> input = {{half, half}};
    // Σ t (log t − x) = 1·(0 − ln ½) + 0 = ln 2.
    const auto x = tensor<T>{{half, half}}.requires_grad(true);
    const tensor<T> kl_value = kl::kl_div(x, tensor<T>{{1, 0}});
    check_values(kl_value, {}, {std::log(2.0)});
    // Gradient −t = [−1, 0]: finite where the target is 0.
    check_values(kexue::grad({kl_value}, {x})[0], {1, 2}, {-1, 0});
    // log target [ln ¼, ln ¾]: ¼(ln ¼ − ln ½) + ¾(ln ¾ − ln ½) = ¼ ln ½ + ¾ ln 1.5 = 0.13081203594.
    const tensor<T> log_t = {{static_cast<T>(std::log(0.25)), static_cast<T>(std::log(0.75))}};
    check_values(kl::kl_div(input, log_t, kl::kl_div_options().log_target(true)), {},
                 {0.25 * std::log(0.5) + 0.75 * std::log(1.5)});
  }

  TEST_CASE("the Gaussian KL keeps its accuracy near the prior in float (expm1 form)") {
    // logvar = 1e-4: KL = ½(e^v − 1 − v) = ½(v²/2 + v³/6) = 2.50001667e-9 per dimension. In float, e^v − 1 − v
    // computed naively loses everything (e^v rounds to a multiple of 6e-8); expm1(v) − v keeps ~3 digits.
    const tensor<float> mu = kexue::zeros<float>({1, 4});
    const tensor<float> logvar = kexue::full<float>({1, 4}, 1e-4f);
    const double expected = 4 * 0.5 * (1e-8 / 2 + 1e-12 / 6);
    CHECK(kl::gaussian_kl_standard(mu, logvar).item() == doctest::Approx(expected).epsilon(1e-2));
    CHECK(kl::gaussian_kl(mu, logvar, mu, kexue::zeros<float>({1, 4})).item() ==
          doctest::Approx(expected).epsilon(1e-2));
  }

  TEST_CASE("reparameterize draws mu + exp(logvar/2) * eps from the given generator") {
    const tensor<double> mu = tensor<double>{{1, -2, 0.5}}.requires_grad(true);
    const tensor<double> logvar = tensor<double>{{0, std::log(4.0), -1}}.requires_grad(true);
    kexue::generator gen(kexue_test_seed()), same(kexue_test_seed());
    const tensor<double> z = kl::reparameterize(mu, logvar, gen);
    const tensor<double> eps = kexue::randn<double>({1, 3}, same);  // the same draws
    const double sd[] = {1, 2, std::exp(-0.5)};
    for (int k = 0; k < 3; ++k) CHECK(z(0, k) == doctest::Approx(mu(0, k) + sd[k] * eps(0, k)).epsilon(1e-14));
    // dz/dmu = 1, dz/dlogvar = ½·σ·ε.
    const auto g = kexue::grad({kexue::sum(z)}, {mu, logvar});
    check_values(g[0], {1, 3}, {1, 1, 1});
    check_values(g[1], {1, 3}, {0.5 * sd[0] * eps(0, 0), 0.5 * sd[1] * eps(0, 1), 0.5 * sd[2] * eps(0, 2)});
    // Sample statistics of 20000 draws of N(1, 4): mean within 5 standard errors (5·2/√20000 ≈ 0.071),
    // variance within 0.2 (its standard error is 4·√(2/20000) = 0.04).
    const tensor<double> many =
        kl::reparameterize(kexue::full<double>({20000}, 1.0), kexue::full<double>({20000}, std::log(4.0)), gen);
    double s = 0, s2 = 0;
    for (double v : many) s += v, s2 += v * v;
    const double m = s / 20000, var = s2 / 20000 - m * m;
    CHECK(std::abs(m - 1) < 0.071);
    CHECK(std::abs(var - 4) < 0.2);
  }

  TEST_CASE("vib adds the weighted KL to each sample's negative log-likelihood") {
    const tensor<double> nll = {0.5, 1.0};
    const tensor<double> mu = {{1, 0}, {0, 0}};
    const tensor<double> logvar = {{0, std::log(2.0)}, {0, 0}};
    // Per sample nll + 0.1·KL = 0.5 + 0.1·0.65342640972, 1 + 0 → mean 0.78267132049.
    check_values(kl::vib(nll, mu, logvar, kl::vib_options().kl_weight(0.1)), {},
                 {(1.5 + 0.1 * (1 - 0.5 * std::log(2.0))) / 2});
    check_values(kl::vib(nll, mu, logvar, kl::vib_options().reduction(kl::reduction::none)), {2},
                 {0.5 + 1 - 0.5 * std::log(2.0), 1});
  }

  TEST_CASE("gradients and second-order gradients pass the finite-difference check") {
    kexue::generator gen(kexue_test_seed());
    const auto leaf = [&](kexue::shape s) { return kexue::randn<double>(s, gen).requires_grad(true); };
    const tensors four = {leaf({2, 3}), leaf({2, 3}), leaf({2, 3}), leaf({2, 3})};
    const kexue::testing::double_fn fns[] = {
        [](const tensors& v) { return kl::gaussian_kl_standard(v[0], v[1]); },
        [](const tensors& v) { return kl::gaussian_kl(v[0], v[1], v[2], v[3]); },
        // kl_div from log-probabilities; the target's own gradient is checked too.
        [](const tensors& v) { return kl::kl_div(v[0], kexue::exp(v[1])); },
        [](const tensors& v) { return kl::kl_div(v[0], v[1], kl::kl_div_options().log_target(true)); },
        [](const tensors& v) { return kl::vib(kexue::sum(kexue::square(v[2]), {1}), v[0], v[1]); },
        [](const tensors& v) {
          kexue::generator g(7);  // the same ε at every evaluation
          return kl::reparameterize(v[0], v[1], g);
        },
    };
    for (const auto& fn : fns) {
      kexue::testing::check_gradients(fn, four);
      kexue::testing::check_second_order(fn, four);
    }
  }

  TEST_CASE("shape and value errors name the loss and the shapes") {
    const auto z = [](kexue::shape s) { return kexue::zeros<double>(s); };
    CHECK_THROWS_WITH_AS(kl::gaussian_kl_standard(z({2, 3}), z({2, 4})),
                         "gaussian_kl_standard: mu shape [2, 3] differs from logvar shape [2, 4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::gaussian_kl_standard(z({}), z({})),
                         "gaussian_kl_standard: expected mu and logvar of rank at least 1 (the last axis is summed "
                         "over), got shape []",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::gaussian_kl(z({2, 3}), z({2, 3}), z({2, 3}), z({3})),
                         "gaussian_kl: mu_q [2, 3], logvar_q [2, 3], mu_p [2, 3] and logvar_p [3] must have one shape "
                         "of rank at least 1",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::kl_div(z({2, 3}), z({2, 4})),
                         "kl_div: input shape [2, 3] differs from target shape [2, 4]", kexue::shape_error);
    kexue::generator gen(1);
    CHECK_THROWS_WITH_AS(kl::reparameterize(z({2, 3}), z({2, 4}), gen),
                         "reparameterize: mu shape [2, 3] differs from logvar shape [2, 4]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::vib(z({3}), z({4, 8}), z({4, 8})),
                         "vib: nll shape [3] differs from the per-sample shape [4] of mu [4, 8]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kl::vib(z({4}), z({4, 8}), z({4, 8}), kl::vib_options().kl_weight(-1)),
                         "vib: kl_weight must be non-negative (got -1)", kexue::value_error);
  }

  TEST_CASE("values and gradients equal PyTorch's kl_div and torch.distributions.kl_divergence") {
    using kexue::testing::check_loss_reference;
    for (const bool log_target : {false, true}) {
      const auto o = kl::kl_div_options().log_target(log_target);
      const std::string tag = std::string("kl_div_log_target") + (log_target ? "1" : "0");
      check_loss_reference(tag + "_none", {"input", "target"}, [o](const tensors& v) {
        return kl::kl_div(v[0], v[1], kl::kl_div_options(o).reduction(kl::reduction::none));
      });
      check_loss_reference(tag + "_batchmean", {"input", "target"},
                           [o](const tensors& v) { return kl::kl_div(v[0], v[1], o); });
    }
    check_loss_reference("gaussian_kl_standard_none", {"mu", "logvar"}, [](const tensors& v) {
      return kl::gaussian_kl_standard(v[0], v[1], kl::gaussian_kl_options().reduction(kl::reduction::none));
    });
    const std::vector<std::string> four = {"mu_q", "logvar_q", "mu_p", "logvar_p"};
    check_loss_reference("gaussian_kl_none", four, [](const tensors& v) {
      return kl::gaussian_kl(v[0], v[1], v[2], v[3], kl::gaussian_kl_options().reduction(kl::reduction::none));
    });
    check_loss_reference("gaussian_kl_mean", four,
                         [](const tensors& v) { return kl::gaussian_kl(v[0], v[1], v[2], v[3]); });
  }
}
