// SPDX-License-Identifier: MIT
// Tests of ops/linalg.hpp: trace, det, slogdet, logdet, inverse, svd, eigh, matrix_exp.
#include <cmath>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/linalg.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using vec = std::vector<tensor<double>>;

namespace {

/// randn + shift·I (batched): well conditioned, positive determinant for shift ≥ ~3.
tensor<double> well_conditioned(const kexue::shape& s, std::uint64_t seed, double shift = 3) {
  auto x = kexue::randn<double>(s, seed);
  const kexue::index_t n = s[s.rank() - 1];
  auto out = kexue::add(x, kexue::mul_scalar(kexue::eye<double>(n), shift));
  return out.requires_grad(true);
}

/// (x + xᵀ)/2 over the last two axes, recorded.
tensor<double> symmetrise(const tensor<double>& x) {
  return kexue::mul_scalar(kexue::add(x, kexue::transpose(x, -2, -1)), 0.5);
}

/// U · diag(S) · Vh, recorded.
template <class T>
tensor<T> reconstruct(const kexue::svd_result<T>& r) {
  return kexue::matmul(kexue::mul(r.U, kexue::unsqueeze(r.S, -2)), r.Vh);
}

template <class T>
tensor<T> identity_batch(const kexue::shape& batch, kexue::index_t n) {
  kexue::shape s = batch;
  s.push_back(n);
  s.push_back(n);
  return kexue::expand(kexue::eye<T>(n), s);
}

}  // namespace

TEST_SUITE("ops.linalg") {
  TEST_CASE_TEMPLATE("trace sums the diagonal, also of a non-square matrix", T, float, double) {
    check_values(kexue::trace(tensor<T>{{1, 2}, {3, 4}}), {}, {5});
    check_values(kexue::trace(tensor<T>{{1, 2, 3}, {4, 5, 6}}), {}, {6});  // 1 + 5
  }

  TEST_CASE("the gradient of trace is the identity") {
    auto x = tensor<double>{{1, 2, 3}, {4, 5, 6}}.requires_grad(true);
    kexue::trace(x).backward();
    check_values(x.grad(), {2, 3}, {1, 0, 0, 0, 1, 0});
    check_second_order([](const vec& v) { return kexue::trace(kexue::mul(v[0], v[0])); }, {x});
  }

  TEST_CASE_TEMPLATE("det, slogdet and logdet of hand-computed matrices", T, float, double) {
    const tensor<T> a = {{1, 2}, {3, 4}};  // 1·4 − 2·3 = −2
    check_values(kexue::det(a), {}, {-2});
    const auto [sign, logabsdet] = kexue::slogdet(a);
    check_values(sign, {}, {-1});
    check_values(logabsdet, {}, {std::log(2.0)});
    CHECK(std::isnan(kexue::logdet(a).item()));
    // 2(3·2 − 2·1) − 0 + 1(1·1 − 3·1) = 8 − 2 = 6.
    const tensor<T> b = {{2, 0, 1}, {1, 3, 2}, {1, 1, 2}};
    check_values(kexue::det(b), {}, {6});
    check_values(kexue::logdet(b), {}, {std::log(6.0)});
    // Batched [2, 2, 2]: diag(2, 3) and a.
    const tensor<T> batch = {{{2, 0}, {0, 3}}, {{1, 2}, {3, 4}}};
    check_values(kexue::det(batch), {2}, {6, -2});
    check_values(kexue::slogdet(batch).sign, {2}, {1, -1});
    // Singular: sign 0, log|det| −inf; 0×0 matrices have det 1.
    const tensor<T> s = {{1, 2}, {2, 4}};
    check_values(kexue::det(s), {}, {0});
    check_values(kexue::slogdet(s).sign, {}, {0});
    check_values(kexue::logdet(s), {}, {-INFINITY});
    check_values(kexue::det(kexue::zeros<T>({0, 0})), {}, {1});
  }

  TEST_CASE("det, slogdet and logdet pass the gradient checks, to second order") {
    const auto x = well_conditioned({3, 3}, 11);
    const auto xb = well_conditioned({2, 3, 3}, 12);
    check_gradients([](const vec& v) { return kexue::det(v[0]); }, {x});
    check_gradients([](const vec& v) { return kexue::det(v[0]); }, {xb});
    check_gradients([](const vec& v) { return kexue::slogdet(v[0]).logabsdet; }, {xb});
    check_gradients([](const vec& v) { return kexue::logdet(v[0]); }, {xb});
    check_second_order([](const vec& v) { return kexue::det(v[0]); }, {xb});
    check_second_order([](const vec& v) { return kexue::slogdet(v[0]).logabsdet; }, {x});
    check_second_order([](const vec& v) { return kexue::logdet(v[0]); }, {x});
    // A negative determinant: logabsdet is smooth there.
    const auto n = tensor<double>{{0.5, 2.0}, {1.5, -0.3}}.requires_grad(true);
    check_gradients([](const vec& v) { return kexue::slogdet(v[0]).logabsdet; }, {n});
  }

  TEST_CASE("the gradient of det at a singular matrix is the cofactor matrix") {
    // d det/dA = adj(A)ᵀ = [[d, −c], [−b, a]] = [[4, −2], [−2, 1]] (PyTorch 1.13 returns 0 here).
    auto a = tensor<double>{{1, 2}, {2, 4}}.requires_grad(true);
    kexue::det(a).backward();
    check_values(a.grad(), {2, 2}, {4, -2, -2, 1});
    // Rank 1 of 3: every 2×2 minor vanishes, so the gradient is 0.
    auto ones = kexue::ones<double>({3, 3}).requires_grad(true);
    kexue::det(ones).backward();
    check_values(ones.grad(), {3, 3}, std::vector<double>(9, 0.0), 0, 1e-12);
    // Rank 2 of 3 (rows 0 and 1 parallel; LU meets an exact zero pivot): the cofactors are
    // C00 = 4·1 − 6·0 = 4, C01 = −(2·1 − 6·1) = 4, C02 = 2·0 − 4·1 = −4, C10 = −(2·1 − 3·0) = −2,
    // C11 = 1·1 − 3·1 = −2, C12 = −(1·0 − 2·1) = 2, and row 2 of C is 0 (det is 0 whatever row 2 is).
    auto r = tensor<double>{{1, 2, 3}, {2, 4, 6}, {1, 0, 1}}.requires_grad(true);
    REQUIRE(kexue::det(r.detach()).item() == 0);
    kexue::det(r).backward();
    check_values(r.grad(), {3, 3}, {4, 4, -4, -2, -2, 2, 0, 0, 0}, 1e-9, 1e-9);
    auto b = tensor<double>{{1, 2}, {2, 4}}.requires_grad(true);
    CHECK_THROWS_WITH_AS(kexue::grad<double>({kexue::det(b)}, {b}, kexue::grad_options().create_graph(true)),
                         "det: second-order gradients at a singular matrix are not implemented (create_graph)",
                         kexue::value_error);
  }

  TEST_CASE("logdet has a zero gradient where det < 0, as PyTorch") {
    auto a = tensor<double>{{0, 1}, {1, 0}}.requires_grad(true);
    kexue::logdet(a).backward();
    check_values(a.grad(), {2, 2}, {0, 0, 0, 0});
  }

  TEST_CASE_TEMPLATE("inverse of hand-computed and random matrices", T, float, double) {
    // [[1, 2], [3, 4]]⁻¹ = 1/(−2) · [[4, −2], [−3, 1]].
    check_values(kexue::inverse(tensor<T>{{1, 2}, {3, 4}}), {2, 2}, {-2, 1, 1.5, -0.5});
    const auto a = well_conditioned({2, 3, 3}, 21).detach().template to<T>();
    check_close(kexue::matmul(a, kexue::inverse(a)), identity_batch<T>({2}, 3), 1e-4, 1e-5);
    CHECK(kexue::inverse(kexue::zeros<T>({0, 0})).shape() == kexue::shape{0, 0});
  }

  TEST_CASE("inverse passes the gradient checks, to second order") {
    const auto x = well_conditioned({2, 3, 3}, 22);
    check_gradients([](const vec& v) { return kexue::inverse(v[0]); }, {x});
    check_second_order([](const vec& v) { return kexue::inverse(v[0]); }, {x});
  }

  TEST_CASE_TEMPLATE("svd reconstructs the matrix with orthonormal factors", T, float, double) {
    // diag(3, −2): singular values 3, 2 (descending, non-negative).
    check_values(kexue::svd(tensor<T>{{3, 0}, {0, -2}}).S, {2}, {3, 2});
    for (const kexue::shape& s : {kexue::shape{2, 4, 3}, kexue::shape{3, 5}, kexue::shape{3, 3}}) {
      CAPTURE(s);
      const auto a = kexue::randn<double>(s, 31).template to<T>();
      const auto r = kexue::svd(a);
      const kexue::index_t m = s[s.rank() - 2], n = s[s.rank() - 1], k = std::min(m, n);
      CHECK(r.U.shape()[r.U.rank() - 1] == k);
      CHECK(r.Vh.shape()[r.Vh.rank() - 2] == k);
      check_close(reconstruct(r), a, 1e-4, 1e-5);
      const kexue::shape batch(s.begin(), s.end() - 2);
      check_close(kexue::matmul(r.U, r.U, true, false), identity_batch<T>(batch, k), 1e-4, 1e-5);
      check_close(kexue::matmul(r.Vh, r.Vh, false, true), identity_batch<T>(batch, k), 1e-4, 1e-5);
      const T* sv = r.S.data();
      for (kexue::index_t i = 0; i + 1 < r.S.numel(); ++i) {
        if ((i + 1) % k != 0) CHECK(sv[i] >= sv[i + 1]);
      }
    }
  }

  TEST_CASE("svd gradients through S, U and Vh pass the gradient check") {
    for (const kexue::shape& s : {kexue::shape{3, 3}, kexue::shape{4, 3}, kexue::shape{2, 2, 4}}) {
      CAPTURE(s);
      const auto x = kexue::randn<double>(s, 32).requires_grad(true);
      check_gradients([](const vec& v) { return kexue::svd(v[0]).S; }, {x});
      check_gradients([](const vec& v) { return reconstruct(kexue::svd(v[0])); }, {x});
      // Squares of the entries do not depend on the signs of the singular vectors.
      check_gradients([](const vec& v) { return kexue::square(kexue::svd(v[0]).U); }, {x});
      check_gradients([](const vec& v) { return kexue::square(kexue::svd(v[0]).Vh); }, {x});
    }
    const auto x = kexue::randn<double>({3, 3}, 33).requires_grad(true);
    check_second_order([](const vec& v) { return kexue::svd(v[0]).S; }, {x});
    CHECK_THROWS_WITH_AS(kexue::grad<double>({kexue::sum(kexue::square(kexue::svd(x).U))}, {x},
                                             kexue::grad_options().create_graph(true)),
                         "svd: second-order gradients through U or Vh are not implemented (create_graph)",
                         kexue::value_error);
  }

  TEST_CASE_TEMPLATE("eigh returns ascending eigenvalues and orthonormal eigenvectors", T, float, double) {
    // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors ±(1, −1)/√2 and ±(1, 1)/√2.
    const auto r = kexue::eigh(tensor<T>{{2, 1}, {1, 2}});
    check_values(r.eigenvalues, {2}, {1, 3});
    check_values(kexue::abs(r.eigenvectors), {2, 2}, {std::sqrt(0.5), std::sqrt(0.5), std::sqrt(0.5), std::sqrt(0.5)});
    // Only the lower triangle is read: the upper 100 is ignored.
    check_values(kexue::eigh(tensor<T>{{2, 100}, {1, 2}}).eigenvalues, {2}, {1, 3});
    // A V = V diag(λ) and VᵀV = I for a random symmetric batch.
    const auto a = symmetrise(kexue::randn<double>({2, 4, 4}, 41)).detach().template to<T>();
    const auto e = kexue::eigh(a);
    check_close(kexue::matmul(a, e.eigenvectors), kexue::mul(e.eigenvectors, kexue::unsqueeze(e.eigenvalues, -2)), 1e-4,
                1e-5);
    check_close(kexue::matmul(e.eigenvectors, e.eigenvectors, true, false), identity_batch<T>({2}, 4), 1e-4, 1e-5);
  }

  TEST_CASE("eigh gradients through a symmetrised input pass the gradient check") {
    const auto x = kexue::randn<double>({2, 3, 3}, 42).requires_grad(true);
    check_gradients([](const vec& v) { return kexue::eigh(symmetrise(v[0])).eigenvalues; }, {x});
    check_gradients([](const vec& v) { return kexue::square(kexue::eigh(symmetrise(v[0])).eigenvectors); }, {x});
    check_gradients(
        [](const vec& v) {
          const auto e = kexue::eigh(symmetrise(v[0]));  // V diag(λ³) Vᵀ
          return kexue::matmul(kexue::mul(e.eigenvectors, kexue::unsqueeze(kexue::pow(e.eigenvalues, 3.0), -2)),
                               e.eigenvectors, false, true);
        },
        {x});
    check_second_order([](const vec& v) { return kexue::eigh(symmetrise(v[0])).eigenvalues; }, {x});
    CHECK_THROWS_WITH_AS(kexue::grad<double>({kexue::sum(kexue::square(kexue::eigh(x).eigenvectors))}, {x},
                                             kexue::grad_options().create_graph(true)),
                         "eigh: second-order gradients through the eigenvectors are not implemented (create_graph)",
                         kexue::value_error);
  }

  TEST_CASE_TEMPLATE("matrix_exp of diagonal, nilpotent and rotation generators", T, float, double) {
    const double e = std::exp(1.0);
    check_values(kexue::matrix_exp(tensor<T>{{1, 0}, {0, 2}}), {2, 2}, {e, 0, 0, e * e});
    check_values(kexue::matrix_exp(tensor<T>{{0, 1}, {0, 0}}), {2, 2}, {1, 1, 0, 1});  // I + N
    // exp([[0, −t], [t, 0]]) is the rotation by t; batched with the zero matrix (exp 0 = I).
    const double t = 0.7;
    const tensor<T> gen = {{{0, T(-t)}, {T(t), 0}}, {{0, 0}, {0, 0}}};
    check_values(kexue::matrix_exp(gen), {2, 2, 2}, {std::cos(t), -std::sin(t), std::sin(t), std::cos(t), 1, 0, 0, 1});
  }

  TEST_CASE("matrix_exp passes the gradient checks, to second order") {
    const auto x = kexue::mul_scalar(kexue::randn<double>({2, 3, 3}, 51), 0.5).requires_grad(true);
    check_gradients([](const vec& v) { return kexue::matrix_exp(v[0]); }, {x});
    check_second_order([](const vec& v) { return kexue::matrix_exp(v[0]); }, {x});
  }

  TEST_CASE("linalg ops reject bad shapes and singular matrices with exact messages") {
    const auto v = kexue::zeros<double>({3});
    const auto r = kexue::zeros<double>({2, 3});
    CHECK_THROWS_WITH_AS(kexue::trace(kexue::zeros<double>({2, 2, 2})),
                         "trace: expected a matrix (rank 2), got shape [2, 2, 2]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::det(v), "det: expected a tensor of rank >= 2 (got shape [3])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::det(r), "det: expected square matrices in the last two axes (got shape [2, 3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::slogdet(r), "slogdet: expected square matrices in the last two axes (got shape [2, 3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::logdet(v), "logdet: expected a tensor of rank >= 2 (got shape [3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::inverse(r), "inverse: expected square matrices in the last two axes (got shape [2, 3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::svd(v), "svd: expected a tensor of rank >= 2 (got shape [3])", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::eigh(r), "eigh: expected square matrices in the last two axes (got shape [2, 3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::matrix_exp(v), "matrix_exp: expected a tensor of rank >= 2 (got shape [3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::inverse(tensor<double>{{1, 2}, {2, 4}}),
                         "inverse: the matrix is singular (shape [2, 2])", kexue::value_error);
    CHECK_THROWS_WITH_AS(kexue::inverse(tensor<double>{{{1, 0}, {0, 1}}, {{0, 0}, {0, 1}}}),
                         "inverse: matrix 1 of the batch is singular (shape [2, 2, 2])", kexue::value_error);
  }
}
