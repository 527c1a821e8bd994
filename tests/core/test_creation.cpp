// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include <cmath>

#include <kexue/core/creation.hpp>

namespace kx = kexue;

TEST_SUITE("core.creation") {
  TEST_CASE_TEMPLATE("constant factories", T, float, double) {
    CHECK(kx::zeros<T>({2, 2}).to_vector() == std::vector<T>(4, T(0)));
    CHECK(kx::ones<T>({3}).to_vector() == std::vector<T>(3, T(1)));
    CHECK(kx::full<T>({2}, T(7)).to_vector() == std::vector<T>{7, 7});
    CHECK(kx::scalar<T>(T(3)).rank() == 0);
    CHECK(kx::eye<T>(2, 3).to_vector() == std::vector<T>{1, 0, 0, 0, 1, 0});
  }

  TEST_CASE_TEMPLATE("ranges", T, float, double) {
    CHECK(kx::arange<T>(T(4)).to_vector() == std::vector<T>{0, 1, 2, 3});
    CHECK(kx::arange<T>(T(1), T(2), T(0.25)).to_vector() == std::vector<T>{1, 1.25, 1.5, 1.75});
    CHECK(kx::arange<T>(T(3), T(0), T(-1)).to_vector() == std::vector<T>{3, 2, 1});
    CHECK(kx::arange<T>(T(2), T(1)).numel() == 0);
    CHECK(kx::linspace<T>(T(0), T(1), 5).to_vector() == std::vector<T>{0, 0.25, 0.5, 0.75, 1});
    CHECK_THROWS_WITH_AS(kx::arange<T>(T(0), T(1), T(0)), "arange: step must not be zero", kx::value_error);
  }

  TEST_CASE("from_vector checks the element count") {
    CHECK(kx::from_vector<float>({1, 2, 3, 4}, {2, 2})(1, 0) == 3);
    CHECK_THROWS_WITH_AS(kx::from_vector<float>({1, 2, 3}, {2, 2}),
                         "from_vector: 3 values do not fill shape [2, 2] (4 elements)", kx::shape_error);
  }

  TEST_CASE("random draws are reproducible from the seed and differ between seeds") {
    auto a = kx::randn<float>({100}, 7);
    auto b = kx::randn<float>({100}, 7);
    auto c = kx::randn<float>({100}, 8);
    CHECK(a.to_vector() == b.to_vector());
    CHECK(a.to_vector() != c.to_vector());
  }

  TEST_CASE("random draws have the requested distribution") {
    kx::generator gen(11);
    const kx::index_t n = 200000;
    // Standard errors for n = 2e5: mean of N(0,1) 0.0022, of U(0,1) 0.00065; bounds are ~5 standard errors.
    auto z = kx::randn<double>({n}, gen);
    double mean = 0, sq = 0;
    for (double v : z) {
      mean += v;
      sq += v * v;
    }
    mean /= n;
    CHECK(std::abs(mean) < 0.011);
    CHECK(std::abs(sq / n - 1.0) < 0.02);
    auto u = kx::rand<double>({n}, gen, 2.0, 4.0);
    double umin = 10, umax = -10, umean = 0;
    for (double v : u) {
      umin = std::min(umin, v);
      umax = std::max(umax, v);
      umean += v;
    }
    CHECK(umin >= 2.0);
    CHECK(umax < 4.0);
    CHECK(std::abs(umean / n - 3.0) < 0.0065);
    auto k = kx::randint(-2, 3, {n}, gen);
    std::vector<int> counts(5, 0);
    int out_of_range = 0;
    for (auto v : k) {
      if (v < -2 || v >= 3) {
        ++out_of_range;
      } else {
        ++counts[static_cast<std::size_t>(v + 2)];
      }
    }
    CHECK(out_of_range == 0);
    for (int c : counts) CHECK(std::abs(c - n / 5) < 1000);  // binomial sd ≈ 179
    auto m = kx::bernoulli<float>({n}, 0.3, gen);
    double ones = 0;
    for (float v : m) ones += v;
    CHECK(std::abs(ones / n - 0.3) < 0.005);  // sd ≈ 0.001
  }

  TEST_CASE("the generator's stream is pinned bit for bit") {
    // Expected values computed independently with a Python transcription of xoshiro256** seeded through
    // splitmix64 (see core/random.hpp): any change to the stream would break every seeded experiment.
    kx::generator gen(42);
    CHECK(gen.next_u64() == 0x15780b2e0c2ec716ull);
    CHECK(gen.next_u64() == 0x6104d9866d113a7eull);
    CHECK(gen.next_u64() == 0xae17533239e499a1ull);
  }

  TEST_CASE("invalid random parameters are rejected") {
    kx::generator gen;
    CHECK_THROWS_WITH_AS(kx::randint(3, 3, {2}, gen), "randint: high must exceed low (got low 3, high 3)",
                         kx::value_error);
    CHECK_THROWS_WITH_AS(kx::bernoulli<float>({2}, 1.5, gen), "bernoulli: probability must lie in [0, 1] (got 1.5)",
                         kx::value_error);
  }
}
