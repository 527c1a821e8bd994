// SPDX-License-Identifier: MIT
// Tests of ops/norm.hpp, layer_norm and rms_norm: hand values, large offsets, fused against composed gradients,
// gradient and second-order checks, errors.
#include <cmath>  // std::sqrt
#include <vector>

#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/ops/norm.hpp>

#include "support/tensor_checks.hpp"

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
using kexue::testing::check_close;
using kexue::testing::check_gradients;
using kexue::testing::check_second_order;
using kexue::testing::check_values;
using tensors = std::vector<tensor<double>>;

namespace {

template <class T>
tensor<T> values(const shape& s, std::uint64_t seed = 7) {
  return kexue::rand<T>(s, seed) * T(4) - T(2);
}

/// The gradients of sum(w ⊙ f(inputs)) by the fused backward (plain) and by the composed one (create_graph).
std::vector<std::vector<tensor<double>>> both_gradients(const std::function<tensor<double>(const tensors&)>& f,
                                                        const tensors& in, const tensor<double>& w) {
  std::vector<std::vector<tensor<double>>> out;
  for (bool create : {false, true}) {
    const auto y = kexue::sum(kexue::mul(f(in), w));
    out.push_back(kexue::grad({y}, in, kexue::grad_options().create_graph(create)));
  }
  return out;
}

}  // namespace

TEST_SUITE("ops.norm") {
  TEST_CASE_TEMPLATE("layer_norm and rms_norm of [1, 2, 3, 4] by hand", T, float, double) {
    const tensor<T> x = {{1, 2, 3, 4}};
    // μ = 2.5, σ² = (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25, 1/√1.25 = 0.894427191: y = [−1.5, −0.5, 0.5, 1.5]·0.8944
    check_values(kexue::layer_norm(x, {4}, {}, {}, T(0)), {1, 4},
                 {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738});
    // weight [1, 2, 1, 2], bias [0, 0, 1, 1]: [−1.3416, −0.8944, 1.4472, 3.6833]
    check_values(kexue::layer_norm(x, {4}, tensor<T>{1, 2, 1, 2}, tensor<T>{0, 0, 1, 1}, T(0)), {1, 4},
                 {-1.3416407864998738, -0.8944271909999159, 1.4472135954999579, 3.6832815729997477});
    // ε = 1: 1/√2.25 = 2/3: y = [−1, −1/3, 1/3, 1]
    check_values(kexue::layer_norm(x, {4}, {}, {}, T(1)), {1, 4}, {-1, -1.0 / 3, 1.0 / 3, 1});
    // rms: mean(x²) = 30/4 = 7.5, 1/√7.5 = 0.3651483717: y = x·0.36515 (ε = 0)
    check_values(kexue::rms_norm(x, {4}, {}, T(0)), {1, 4},
                 {0.3651483716701107, 0.7302967433402214, 1.0954451150103321, 1.4605934866804429});
    check_values(kexue::rms_norm(x, {4}, tensor<T>{2, 1, 1, 0}, T(0)), {1, 4},
                 {0.7302967433402214, 0.7302967433402214, 1.0954451150103321, 0});
    // Two trailing axes: normalising [2, 2] = the same four values.
    check_values(kexue::layer_norm(kexue::reshape(x, {1, 2, 2}), {2, 2}, {}, {}, T(0)), {1, 2, 2},
                 {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738});
  }

  TEST_CASE_TEMPLATE("a large common offset does not cancel the variance", T, float, double) {
    // 1e4 + [1, 2, 3, 4] is exact in float; the one-pass sums are shifted by the row's first value.
    const tensor<T> x = {{10001, 10002, 10003, 10004}};
    check_values(kexue::layer_norm(x, {4}, {}, {}, T(0)), {1, 4},
                 {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738});
  }

  TEST_CASE("the fused backward equals the composed one, over several row chunks") {
    // D = 1024: 16 rows a chunk, 40 rows = 3 chunks of partial weight and bias sums.
    for (const shape& s : {shape{40, 1024}, shape{3, 5, 7}}) {
      CAPTURE(s);
      const shape ns{s[s.rank() - 1]};
      const auto x = values<double>(s).requires_grad(true);
      const auto w = values<double>(ns, 3).requires_grad(true);
      const auto b = values<double>(ns, 4).requires_grad(true);
      const auto up = values<double>(s, 5);
      const auto ln =
          both_gradients([ns](const tensors& v) { return kexue::layer_norm(v[0], ns, v[1], v[2]); }, {x, w, b}, up);
      for (int i = 0; i < 3; ++i) check_close(ln[0][i], ln[1][i], 1e-10, 1e-10);
      const auto rms = both_gradients([ns](const tensors& v) { return kexue::rms_norm(v[0], ns, v[1]); }, {x, w}, up);
      for (int i = 0; i < 2; ++i) check_close(rms[0][i], rms[1][i], 1e-10, 1e-10);
    }
  }

  TEST_CASE("layer_norm and rms_norm pass gradient and second-order checks") {
    const auto x = values<double>({3, 2, 4}).requires_grad(true);
    const auto w = values<double>({2, 4}, 3).requires_grad(true);
    const auto b = values<double>({2, 4}, 4).requires_grad(true);
    const auto ln = [](const tensors& v) { return kexue::layer_norm(v[0], {2, 4}, v[1], v[2], 1e-3); };
    const auto ln_plain = [](const tensors& v) { return kexue::layer_norm(v[0], {4}); };
    const auto rms = [](const tensors& v) { return kexue::rms_norm(v[0], {4}, v[1], 1e-3); };
    const auto w4 = values<double>({4}, 6).requires_grad(true);
    check_gradients(ln, {x, w, b});
    check_second_order(ln, {x, w, b});
    check_gradients(ln_plain, {x});
    check_second_order(ln_plain, {x});
    check_gradients(rms, {x, w4});
    check_second_order(rms, {x, w4});
  }

  TEST_CASE("results are the same bit for bit on 1 and 2 threads") {
    // [300, 256]: 64 rows a chunk, 5 chunks of partial weight and bias sums split over the threads.
    const auto x = values<float>({300, 256}).requires_grad(true);
    const auto w = values<float>({256}, 3).requires_grad(true);
    const auto b = values<float>({256}, 4).requires_grad(true);
    const auto up = values<float>({300, 256}, 5);
    const int before = kexue::get_num_threads();
    std::vector<std::vector<tensor<float>>> runs;
    for (int threads : {1, 2}) {
      kexue::set_num_threads(threads);
      const auto y = kexue::layer_norm(x, {256}, w, b);
      auto g = kexue::grad({kexue::sum(kexue::mul(y, up))}, {x, w, b});
      g.push_back(y.detach());
      runs.push_back(g);
    }
    kexue::set_num_threads(before);
    for (std::size_t i = 0; i < runs[0].size(); ++i) check_close(runs[0][i], runs[1][i], 0, 0);
  }

  TEST_CASE("bad shapes and eps are reported") {
    const auto x = kexue::zeros<float>({4, 6});
    CHECK_THROWS_WITH_AS(kexue::layer_norm(x, {8}),
                         "layer_norm: expected input [..., 8] for normalized_shape [8], got [4, 6]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::rms_norm(x, {2, 4, 6}),
                         "rms_norm: expected input [..., 2, 4, 6] for normalized_shape [2, 4, 6], got [4, 6]",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::layer_norm(x, {6}, kexue::ones<float>({7})),
                         "layer_norm: weight shape [7] differs from normalized_shape [6]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::layer_norm(x, {6}, {}, kexue::ones<float>({1, 6})),
                         "layer_norm: bias shape [1, 6] differs from normalized_shape [6]", kexue::shape_error);
    CHECK_THROWS_WITH_AS(kexue::layer_norm(x, {6}, {}, {}, -1.0f), "layer_norm: eps must be non-negative, got -1",
                         kexue::value_error);
  }

  TEST_CASE("empty inputs pass through") {
    CHECK(kexue::layer_norm(kexue::zeros<float>({0, 5}), {5}).shape() == shape{0, 5});
    CHECK(kexue::rms_norm(kexue::zeros<float>({3, 0}), {0}).shape() == shape{3, 0});
  }
}
