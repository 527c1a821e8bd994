// SPDX-License-Identifier: MIT
// Tests of kernels/softmax.hpp: SIMD kernels against their scalar twins over tail-heavy sizes and every
// option, a double reference at 1e-6 for float rows up to 32000 long, special rows (masked, NaN, +inf, huge),
// backward passes against twins and finite differences, cross-entropy, unaligned pointers, threads.
#include <cmath>    // std::isnan, std::exp, std::log
#include <cstdint>  // std::uint8_t, std::int64_t
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/softmax.hpp>

#include "support/seed.hpp"

namespace {

using kexue::index_t;

/// Deterministic normal and uniform draws (splitmix64 + Box-Muller), seeded from the test seed.
struct rng {
  std::uint64_t state;
  explicit rng(std::uint64_t salt) : state(kexue_test_seed() * 0x9E3779B97F4A7C15ull + salt) {}
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double normal() {
    const double u = uniform() + 0x1.0p-60, v = uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  template <class T>
  std::vector<T> normals(std::size_t n, double sigma) {
    std::vector<T> out(n);
    for (auto& v : out) v = T(sigma * normal());
    return out;
  }
};

/// a and b agree: both NaN, equal infinities, or |a - b| <= abs + rel |b|.
template <class T>
bool close(T a, T b, double rel, double abs) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(double(a) - double(b)) <= abs + rel * std::fabs(double(b));
}

/// Kernel-vs-twin tolerance: both compute z in T; they differ by the sum's order and exp's few ulp.
template <class T>
constexpr double twin_rel = std::is_same_v<T, float> ? 2e-6 : 5e-14;
/// For softmax outputs: each of kernel and twin rounds z - max to T, which costs |z - max| eps relative in
/// e^(z - max), about |ln y| eps, and the same on average again in the row sum (measured against long
/// double: both sit near 35 eps on rows of spread 40).
template <class T>
bool close_probability(T a, T b) {
  constexpr double eps = std::numeric_limits<T>::epsilon() / 2;
  const double rel = eps * (32 + 2 * (b > 0 ? std::fabs(std::log(double(b))) : 0.0));
  return close(a, b, rel, std::is_same_v<T, float> ? 1e-36 : 1e-305);
}
/// Absolute slack for terms the kernels flush to zero (below the smallest normal times the row sum).
template <class T>
constexpr double twin_abs = std::is_same_v<T, float> ? 1e-36 : 1e-305;

template <class T>
void require_close(const std::vector<T>& got, const std::vector<T>& expected, double rel, double abs,
                   const std::string& what) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!close(got[i], expected[i], rel, abs)) {
      INFO(what << ": element " << i << " got " << double(got[i]) << " expected " << double(expected[i]));
      REQUIRE(close(got[i], expected[i], rel, abs));
    }
  }
}

const std::vector<index_t>& tail_sizes() {
  static const std::vector<index_t> sizes = [] {
    std::vector<index_t> s;
    for (index_t c = 1; c <= 17; ++c) s.push_back(c);
    for (index_t c : {31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 32000}) s.push_back(c);
    return s;
  }();
  return sizes;
}

/// One configuration of softmax_options with the buffers it points into.
template <class T>
struct option_case {
  std::string name;
  kexue::softmax_options<T> opt;
  std::vector<T> add_mask;
  std::vector<std::uint8_t> keep;
};

/// Every option kind, for `rows` x `cols` (masks sized for it).
template <class T>
std::vector<option_case<T>> option_cases(index_t rows, index_t cols, rng& g) {
  std::vector<option_case<T>> cases;
  const T ninf = -std::numeric_limits<T>::infinity();
  cases.push_back({"plain", {}, {}, {}});
  {
    option_case<T> c{"scale", {}, {}, {}};
    c.opt.scale = T(0.125);
    cases.push_back(c);
  }
  {
    option_case<T> c{"negative scale", {}, {}, {}};
    c.opt.scale = T(-2.5);
    cases.push_back(c);
  }
  {  // one additive row broadcast to all rows, with some -inf
    option_case<T> c{"add mask broadcast", {}, g.normals<T>(cols, 1.0), {}};
    for (index_t j = 0; j < cols; j += 3) c.add_mask[j] = ninf;
    cases.push_back(c);
  }
  {  // periodic [2, cols] mask with a padded stride, as [n_q, n_k] over batch x heads
    const index_t stride = cols + 3;
    option_case<T> c{"add mask periodic", {}, g.normals<T>(2 * stride, 2.0), {}};
    for (index_t j = 0; j < cols; j += 2) c.add_mask[stride + j] = ninf;
    c.opt.add_mask_row_stride = stride;
    c.opt.add_mask_rows = 2;
    cases.push_back(c);
  }
  {  // boolean mask, one row per input row, row 1 fully masked
    option_case<T> c{"keep per row", {}, {}, std::vector<std::uint8_t>(rows * cols)};
    for (auto& k : c.keep) k = static_cast<std::uint8_t>(g.next() % 3 == 0 ? 0 : 1 + g.next() % 200);
    if (rows > 1) std::fill(c.keep.begin() + cols, c.keep.begin() + 2 * cols, std::uint8_t(0));
    c.opt.keep_row_stride = cols;
    c.opt.keep_rows = rows;
    cases.push_back(c);
  }
  {  // boolean mask broadcast, combined with an additive mask and a scale
    option_case<T> c{"keep broadcast + add mask + scale", {}, g.normals<T>(cols, 1.0), std::vector<std::uint8_t>(cols)};
    for (auto& k : c.keep) k = static_cast<std::uint8_t>(g.next() % 4 != 0);
    c.opt.scale = T(0.3);
    cases.push_back(c);
  }
  {
    option_case<T> c{"causal square", {}, {}, {}};
    c.opt.causal = true;  // causal_rows = 0 means cols
    cases.push_back(c);
  }
  {  // 3 queries per block over cols keys, bottom-right aligned
    option_case<T> c{"causal non-square bottom-right", {}, {}, {}};
    c.opt.causal = true;
    c.opt.causal_rows = 3;
    cases.push_back(c);
  }
  {  // more queries than keys, top-left: the first rows see one key each
    option_case<T> c{"causal non-square top-left", {}, {}, {}};
    c.opt.causal = true;
    c.opt.causal_rows = cols + 2;
    c.opt.causal_offset = 0;
    cases.push_back(c);
  }
  {  // more queries than keys, bottom-right: the first rows see nothing
    option_case<T> c{"causal, queries > keys", {}, {}, {}};
    c.opt.causal = true;
    c.opt.causal_rows = cols + 2;
    cases.push_back(c);
  }
  {
    option_case<T> c{"causal + keep + add mask", {}, g.normals<T>(cols, 1.0), std::vector<std::uint8_t>(cols, 1)};
    for (index_t j = 1; j < cols; j += 4) c.keep[j] = 0;
    c.opt.causal = true;
    c.opt.causal_rows = 2;
    c.opt.scale = T(2);
    cases.push_back(c);
  }
  for (auto& c : cases) {  // point into the owned buffers
    if (!c.add_mask.empty()) c.opt.add_mask = c.add_mask.data();
    if (!c.keep.empty()) c.opt.keep = c.keep.data();
  }
  return cases;
}

/// Rows for the size sweep: few rows for long ones, so the sweep stays fast.
index_t rows_for(index_t cols) { return cols >= 1000 ? 3 : 5; }

}  // namespace

TEST_SUITE("kernels.softmax") {
  TEST_CASE_TEMPLATE("softmax, log_softmax and logsumexp match their twins over every size and option", T, float,
                     double) {
    rng g(1);
    for (index_t cols : tail_sizes()) {
      const index_t rows = rows_for(cols);
      // Offset by one element: unaligned rows (and masks, which start at arbitrary vector elements).
      std::vector<T> storage = g.normals<T>(rows * cols + 1, 3.0);
      const T* x = storage.data() + 1;
      for (auto& c : option_cases<T>(rows, cols, g)) {
        // Long rows: a few cases are enough to cover the long-row paths, and the long double twins are slow.
        if (cols >= 1000 && c.name != "plain" && c.name != "keep per row" &&
            c.name != "causal non-square bottom-right" && c.name != "keep broadcast + add mask + scale") {
          continue;
        }
        CAPTURE(cols);
        CAPTURE(c.name);
        std::vector<T> got(rows * cols + 1), want(rows * cols);
        kexue::softmax_rows(x, got.data() + 1, rows, cols, c.opt);
        kexue::softmax_rows_reference(x, want.data(), rows, cols, c.opt);
        for (index_t i = 0; i < rows * cols; ++i) {
          if (!close_probability(got[i + 1], want[i])) {
            INFO("softmax element " << i << " got " << double(got[i + 1]) << " expected " << double(want[i]));
            REQUIRE(close_probability(got[i + 1], want[i]));
          }
        }

        kexue::log_softmax_rows(x, got.data() + 1, rows, cols, c.opt);
        kexue::log_softmax_rows_reference(x, want.data(), rows, cols, c.opt);
        // log_softmax: absolute error grows with |z - max|, relative to 1 + |y|.
        for (index_t i = 0; i < rows * cols; ++i) {
          const T a = got[i + 1], b = want[i];
          if (!close(a, b, twin_rel<T>, twin_rel<T>)) {
            INFO("log_softmax element " << i << " got " << double(a) << " expected " << double(b));
            REQUIRE(close(a, b, twin_rel<T>, twin_rel<T>));
          }
        }

        std::vector<T> lse(rows), lse_want(rows);
        kexue::logsumexp_rows(x, lse.data(), rows, cols, c.opt);
        kexue::logsumexp_rows_reference(x, lse_want.data(), rows, cols, c.opt);
        require_close(lse, lse_want, twin_rel<T>, twin_rel<T>, "logsumexp");
      }
    }
  }

  TEST_CASE("float softmax is within 1e-6 of a double reference on rows up to 32000 long") {
    // Every float implementation rounds z - max to float, which costs |z - max| 2^-24 relative in that
    // term alone (2^-21 = 4.8e-7 once |z - max| reaches 8): the bound is 1e-6 on top of that rounding.
    // What remains is exp (about 1 ulp), 1 / sum and the float sum over up to 32000 terms.
    rng g(2);
    double worst_all = 0;
    for (index_t cols : {1, 7, 100, 1000, 4096, 32000}) {
      CAPTURE(cols);
      const index_t rows = 4;
      for (double sigma : {1.0, 2.0, 4.0}) {
        CAPTURE(sigma);
        std::vector<float> x = g.normals<float>(rows * cols, sigma);
        std::vector<double> xd(x.begin(), x.end());
        std::vector<float> y(rows * cols);
        std::vector<double> yd(rows * cols);
        kexue::softmax_rows(x.data(), y.data(), rows, cols);
        kexue::softmax_rows_reference(xd.data(), yd.data(), rows, cols);
        for (index_t r = 0; r < rows; ++r) {
          double max = -1e300, sum = 0;
          for (index_t j = 0; j < cols; ++j) max = std::max(max, xd[r * cols + j]);
          for (index_t j = 0; j < cols; ++j) sum += double(y[r * cols + j]);
          CHECK(std::fabs(sum - 1) <= 1e-6);
          for (index_t j = 0; j < cols; ++j) {
            const index_t i = r * cols + j;
            const double rounding = std::fabs(xd[i] - max) * 0x1.0p-24;
            const double excess = std::fabs(double(y[i]) - yd[i]) / yd[i] - rounding;  // relative, beyond it
            if (yd[i] >= 1e-30) worst_all = std::max(worst_all, excess);
            if (!(std::fabs(double(y[i]) - yd[i]) <= (1e-6 + rounding) * yd[i] + 1e-37)) {
              CAPTURE(j);
              REQUIRE(std::fabs(double(y[i]) - yd[i]) <= (1e-6 + rounding) * yd[i] + 1e-37);
            }
          }
        }
        std::vector<float> lse(rows);
        std::vector<double> lse_d(rows);
        kexue::logsumexp_rows(x.data(), lse.data(), rows, cols);
        kexue::logsumexp_rows_reference(xd.data(), lse_d.data(), rows, cols);
        for (index_t r = 0; r < rows; ++r) CHECK(std::fabs(lse[r] - lse_d[r]) <= 1e-6 * std::fabs(lse_d[r]) + 1e-6);
      }
    }
    MESSAGE("largest relative error beyond the rounding of z - max: " << worst_all);
  }

  TEST_CASE_TEMPLATE("rows with no visible key give zeros, -inf and -inf, never NaN", T, float, double) {
    const T ninf = -std::numeric_limits<T>::infinity();
    for (index_t cols : {1, 5, 16, 33, 300}) {
      CAPTURE(cols);
      const index_t rows = 3;
      std::vector<T> x(rows * cols, T(1.5));
      x[cols] = std::numeric_limits<T>::quiet_NaN();  // a hidden NaN is ignored
      std::vector<std::uint8_t> keep(cols, 0);
      std::vector<T> mask(cols, ninf);
      kexue::softmax_options<T> by_keep, by_mask, by_causal;
      by_keep.keep = keep.data();
      by_mask.add_mask = mask.data();
      by_causal.causal = true;
      by_causal.causal_rows = rows;
      by_causal.causal_offset = -rows;  // every query sees nothing
      for (const auto* opt : {&by_keep, &by_mask, &by_causal}) {
        std::vector<T> y(rows * cols, T(7)), ly(rows * cols, T(7)), lse(rows, T(7));
        kexue::softmax_rows(x.data(), y.data(), rows, cols, *opt);
        kexue::log_softmax_rows(x.data(), ly.data(), rows, cols, *opt);
        kexue::logsumexp_rows(x.data(), lse.data(), rows, cols, *opt);
        if (opt == &by_mask) {
          // x + (-inf) is NaN only where x is NaN (as PyTorch): that row is NaN, the others masked.
          for (index_t j = 0; j < cols; ++j) CHECK(std::isnan(y[cols + j]));
          std::fill(y.begin() + cols, y.begin() + 2 * cols, T(0));
          std::fill(ly.begin() + cols, ly.begin() + 2 * cols, ninf);
          lse[1] = ninf;
        }
        for (T v : y) CHECK(v == T(0));
        for (T v : ly) CHECK(v == ninf);
        for (T v : lse) CHECK(v == ninf);
        // The twins agree.
        std::vector<T> yr(rows * cols);
        kexue::softmax_rows_reference(x.data(), yr.data(), rows, cols, *opt);
        if (opt != &by_mask) {
          for (T v : yr) CHECK(v == T(0));
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("NaN makes its row NaN and leaves the other rows alone", T, float, double) {
    rng g(3);
    for (index_t cols : {1, 9, 64, 100}) {
      CAPTURE(cols);
      const index_t rows = 3;
      std::vector<T> x = g.normals<T>(rows * cols, 1.0);
      x[cols + cols / 2] = std::numeric_limits<T>::quiet_NaN();
      std::vector<T> y(rows * cols), ly(rows * cols), lse(rows);
      kexue::softmax_rows(x.data(), y.data(), rows, cols);
      kexue::log_softmax_rows(x.data(), ly.data(), rows, cols);
      kexue::logsumexp_rows(x.data(), lse.data(), rows, cols);
      for (index_t j = 0; j < cols; ++j) {
        CHECK(std::isnan(y[cols + j]));
        CHECK(std::isnan(ly[cols + j]));
        CHECK(!std::isnan(y[j]));
        CHECK(!std::isnan(y[2 * cols + j]));
      }
      CHECK(std::isnan(lse[1]));
      CHECK(!std::isnan(lse[0]));
      CHECK(!std::isnan(lse[2]));
      // NaN next to +inf and next to -inf rows is still NaN.
      std::vector<T> special(2 * cols, -std::numeric_limits<T>::infinity());
      special[0] = std::numeric_limits<T>::quiet_NaN();
      special[cols] = std::numeric_limits<T>::infinity();
      special[2 * cols - 1] = std::numeric_limits<T>::quiet_NaN();
      std::vector<T> ys(2 * cols);
      kexue::softmax_rows(special.data(), ys.data(), 2, cols);
      for (T v : ys) CHECK(std::isnan(v));
    }
  }

  TEST_CASE_TEMPLATE("+inf logits share the probability: the limit of growing logits", T, float, double) {
    const T inf = std::numeric_limits<T>::infinity();
    for (index_t cols : {4, 20, 50}) {
      CAPTURE(cols);
      std::vector<T> x(cols, T(3));
      x[1] = inf;
      x[cols - 1] = inf;
      x[2] = -inf;
      std::vector<T> y(cols), ly(cols), lse(1), yr(cols), lyr(cols);
      kexue::softmax_rows(x.data(), y.data(), 1, cols);
      kexue::log_softmax_rows(x.data(), ly.data(), 1, cols);
      kexue::logsumexp_rows(x.data(), lse.data(), 1, cols);
      kexue::softmax_rows_reference(x.data(), yr.data(), 1, cols);
      kexue::log_softmax_rows_reference(x.data(), lyr.data(), 1, cols);
      for (index_t j = 0; j < cols; ++j) {
        const bool top = j == 1 || j == cols - 1;
        CHECK(y[j] == (top ? T(0.5) : T(0)));
        CHECK(ly[j] == (top ? -std::log(T(2)) : -inf));
        CHECK(yr[j] == y[j]);
        CHECK(lyr[j] == ly[j]);
      }
      CHECK(lse[0] == inf);
    }
  }

  TEST_CASE_TEMPLATE("huge logits are stable", T, float, double) {
    rng g(4);
    for (index_t cols : {3, 16, 100, 1000}) {
      CAPTURE(cols);
      std::vector<T> x = g.normals<T>(cols, 2.0), shifted(cols);
      for (T big : {T(1e4), T(-1e4), T(3e30)}) {
        CAPTURE(double(big));
        // Adding a constant changes nothing; with 3e30 every logit rounds to the same value.
        for (index_t j = 0; j < cols; ++j) shifted[j] = x[j] + big;
        std::vector<T> y(cols), want(cols), lse(1);
        kexue::softmax_rows(shifted.data(), y.data(), 1, cols);
        kexue::softmax_rows_reference(shifted.data(), want.data(), 1, cols);
        require_close(y, want, twin_rel<T>, twin_abs<T>, "softmax of shifted logits");
        double sum = 0;
        for (T v : y) sum += v;
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
        kexue::logsumexp_rows(shifted.data(), lse.data(), 1, cols);
        CHECK(std::isfinite(lse[0]));
      }
    }
  }

  TEST_CASE("a small softmax by hand") {
    // x = [0, ln 2, ln 5]: e^x = [1, 2, 5], sum 8 -> [0.125, 0.25, 0.625]; logsumexp = ln 8.
    const double x[] = {0.0, std::log(2.0), std::log(5.0)};
    double y[3], lse[1];
    kexue::softmax_rows(x, y, 1, 3);
    CHECK(y[0] == doctest::Approx(0.125).epsilon(1e-15));
    CHECK(y[1] == doctest::Approx(0.25).epsilon(1e-15));
    CHECK(y[2] == doctest::Approx(0.625).epsilon(1e-15));
    kexue::logsumexp_rows(x, lse, 1, 3);
    CHECK(lse[0] == doctest::Approx(std::log(8.0)).epsilon(1e-15));
    // Causal, 3 queries over 3 keys: row i sees keys 0..i.
    const double xs[] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    double ys[9];
    kexue::softmax_options<double> causal;
    causal.causal = true;
    kexue::softmax_rows(xs, ys, 3, 3, causal);
    const double expected[] = {1, 0, 0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3};
    for (int i = 0; i < 9; ++i) CHECK(ys[i] == doctest::Approx(expected[i]).epsilon(1e-15));
    // 2 queries over 4 keys, bottom-right: query 0 sees keys 0..2, query 1 sees all.
    double y2[8];
    kexue::softmax_options<double> br;
    br.causal = true;
    br.causal_rows = 2;
    kexue::softmax_rows(xs, y2, 2, 4, br);
    const double expected2[] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0.25, 0.25, 0.25, 0.25};
    for (int i = 0; i < 8; ++i) CHECK(y2[i] == doctest::Approx(expected2[i]).epsilon(1e-15));
  }

  TEST_CASE_TEMPLATE("backward kernels match their twins, with and without accumulate", T, float, double) {
    rng g(5);
    for (index_t cols : tail_sizes()) {
      const index_t rows = rows_for(cols);
      CAPTURE(cols);
      std::vector<T> x = g.normals<T>(rows * cols, 2.0), y(rows * cols + 1), ly(rows * cols + 1);
      std::vector<T> dy = g.normals<T>(rows * cols + 1, 1.0);
      kexue::softmax_rows(x.data(), y.data() + 1, rows, cols);
      kexue::log_softmax_rows(x.data(), ly.data() + 1, rows, cols);
      for (bool accumulate : {false, true}) {
        CAPTURE(accumulate);
        const std::vector<T> init = g.normals<T>(rows * cols + 1, 1.0);
        std::vector<T> got = init, want(init.begin() + 1, init.end());
        kexue::softmax_backward_rows(y.data() + 1, dy.data() + 1, got.data() + 1, rows, cols, accumulate);
        kexue::softmax_backward_rows_reference(y.data() + 1, dy.data() + 1, want.data(), rows, cols, accumulate);
        // Cancellation in dy - dot: compare against the scale of the terms, not of the result.
        require_close(std::vector<T>(got.begin() + 1, got.end()), want, 0.0, twin_rel<T> * 8, "softmax backward");
        got = init;
        want.assign(init.begin() + 1, init.end());
        kexue::log_softmax_backward_rows(ly.data() + 1, dy.data() + 1, got.data() + 1, rows, cols, accumulate);
        kexue::log_softmax_backward_rows_reference(ly.data() + 1, dy.data() + 1, want.data(), rows, cols, accumulate);
        const double scale = std::sqrt(double(cols));  // |sum dy| grows like sqrt(cols)
        require_close(std::vector<T>(got.begin() + 1, got.end()), want, 0.0, twin_rel<T> * 8 * scale,
                      "log_softmax backward");
      }
    }
  }

  TEST_CASE("backward kernels agree with finite differences") {
    rng g(6);
    for (index_t cols : {1, 5, 17, 40}) {
      CAPTURE(cols);
      const index_t rows = 2;
      std::vector<double> x = g.normals<double>(rows * cols, 1.5), w = g.normals<double>(rows * cols, 1.0);
      kexue::softmax_options<double> opt;
      opt.scale = 0.7;
      opt.causal = true;
      opt.causal_rows = 2;
      for (bool log_form : {false, true}) {
        CAPTURE(log_form);
        // L(x) = sum w * f(x), f = softmax or log_softmax with options; dL/dz from the backward, times scale.
        auto loss = [&](const std::vector<double>& in) {
          std::vector<double> out(rows * cols);
          if (log_form) {
            kexue::log_softmax_rows(in.data(), out.data(), rows, cols, opt);
          } else {
            kexue::softmax_rows(in.data(), out.data(), rows, cols, opt);
          }
          double l = 0;
          for (index_t i = 0; i < rows * cols; ++i) {
            if (std::isfinite(out[i])) l += w[i] * out[i];
          }
          return l;
        };
        std::vector<double> y(rows * cols), dx(rows * cols), dy = w;
        if (log_form) {
          kexue::log_softmax_rows(x.data(), y.data(), rows, cols, opt);
          for (index_t i = 0; i < rows * cols; ++i) {
            if (!std::isfinite(y[i])) dy[i] = 0;  // hidden keys carry no gradient into L
          }
          kexue::log_softmax_backward_rows(y.data(), dy.data(), dx.data(), rows, cols);
        } else {
          kexue::softmax_rows(x.data(), y.data(), rows, cols, opt);
          kexue::softmax_backward_rows(y.data(), dy.data(), dx.data(), rows, cols);
        }
        const double h = 1e-6;
        for (index_t i = 0; i < rows * cols; ++i) {
          std::vector<double> xp = x, xm = x;
          xp[i] += h;
          xm[i] -= h;
          const double numeric = (loss(xp) - loss(xm)) / (2 * h);
          const double analytic = std::isfinite(y[i]) && (log_form || y[i] != 0) ? dx[i] * opt.scale : 0.0;
          CAPTURE(i);
          CHECK(analytic == doctest::Approx(numeric).epsilon(1e-6).scale(1.0));
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("cross-entropy from logits matches its twin and the composition", T, float, double) {
    rng g(7);
    for (index_t cols : {1, 2, 7, 16, 33, 100, 1000, 32000}) {
      const index_t rows = cols >= 1000 ? 3 : 6;
      CAPTURE(cols);
      std::vector<T> x = g.normals<T>(rows * cols, 3.0);
      std::vector<std::int64_t> target(rows);
      for (auto& t : target) t = static_cast<std::int64_t>(g.next() % static_cast<std::uint64_t>(cols));
      target[1] = -100;  // ignored
      std::vector<T> row_scale(rows);
      for (auto& s : row_scale) s = T(0.5 + g.uniform());
      for (bool accumulate : {false, true}) {
        for (bool per_row : {false, true}) {
          CAPTURE(accumulate);
          CAPTURE(per_row);
          kexue::cross_entropy_options<T> opt;
          opt.grad_scale = T(1) / T(rows);
          opt.grad_row_scale = per_row ? row_scale.data() : nullptr;
          opt.accumulate = accumulate;
          const std::vector<T> init = g.normals<T>(rows * cols, 1.0);
          std::vector<T> loss(rows), loss_want(rows), grad = init, grad_want = init;
          const index_t n =
              kexue::cross_entropy_rows(x.data(), target.data(), loss.data(), grad.data(), rows, cols, opt);
          const index_t n_want = kexue::cross_entropy_rows_reference(x.data(), target.data(), loss_want.data(),
                                                                     grad_want.data(), rows, cols, opt);
          CHECK(n == rows - 1);
          CHECK(n_want == n);
          require_close(loss, loss_want, twin_rel<T>, twin_rel<T>, "loss");
          require_close(grad, grad_want, twin_rel<T>, twin_abs<T> + twin_rel<T> * 4, "gradient");
          if (!accumulate) {
            for (index_t j = 0; j < cols; ++j) CHECK(grad[cols + j] == T(0));  // the ignored row
          }
          // loss = logsumexp - x[t]; the loss alone (no gradient) gives the same values.
          std::vector<T> lse(rows), loss_only(rows);
          kexue::logsumexp_rows(x.data(), lse.data(), rows, cols);
          kexue::cross_entropy_rows(x.data(), target.data(), loss_only.data(), static_cast<T*>(nullptr), rows, cols,
                                    opt);
          for (index_t r = 0; r < rows; ++r) {
            const T expected = target[r] == -100 ? T(0) : lse[r] - x[r * cols + target[r]];
            CHECK(close(loss[r], expected, twin_rel<T>, twin_rel<T>));
            CHECK(loss_only[r] == loss[r]);
          }
        }
      }
    }
  }

  TEST_CASE("cross-entropy gradient agrees with finite differences") {
    rng g(8);
    const index_t rows = 3, cols = 11;
    std::vector<double> x = g.normals<double>(rows * cols, 2.0);
    const std::vector<std::int64_t> target = {4, 0, 10};
    kexue::cross_entropy_options<double> opt;
    opt.grad_scale = 0.25;
    std::vector<double> loss(rows), grad(rows * cols);
    kexue::cross_entropy_rows(x.data(), target.data(), loss.data(), grad.data(), rows, cols, opt);
    auto total = [&](const std::vector<double>& in) {
      std::vector<double> l(rows);
      kexue::cross_entropy_rows(in.data(), target.data(), l.data(), static_cast<double*>(nullptr), rows, cols, opt);
      return 0.25 * (l[0] + l[1] + l[2]);
    };
    for (index_t i = 0; i < rows * cols; ++i) {
      std::vector<double> xp = x, xm = x;
      xp[i] += 1e-6;
      xm[i] -= 1e-6;
      CAPTURE(i);
      CHECK(grad[i] == doctest::Approx((total(xp) - total(xm)) / 2e-6).epsilon(1e-6).scale(1.0));
    }
  }

  TEST_CASE_TEMPLATE("cross-entropy special rows follow the twin", T, float, double) {
    const T inf = std::numeric_limits<T>::infinity();
    const index_t cols = 20;
    std::vector<T> x(3 * cols, T(1));
    x[2] = inf;  // row 0: +inf logit at the target -> loss 0 (log 1), gradient 0 there
    x[cols + 5] = std::numeric_limits<T>::quiet_NaN();  // row 1: NaN row
    std::fill(x.begin() + 2 * cols, x.end(), -inf);     // row 2: every logit -inf -> loss +inf
    const std::vector<std::int64_t> target = {2, 3, 7};
    std::vector<T> loss(3), loss_want(3), grad(3 * cols), grad_want(3 * cols);
    kexue::cross_entropy_rows(x.data(), target.data(), loss.data(), grad.data(), 3, cols);
    kexue::cross_entropy_rows_reference(x.data(), target.data(), loss_want.data(), grad_want.data(), 3, cols);
    CHECK(loss[0] == T(0));
    CHECK(std::isnan(loss[1]));
    CHECK(loss[2] == inf);
    require_close(loss, loss_want, 0.0, 0.0, "special loss");
    require_close(grad, grad_want, 0.0, 0.0, "special gradient");
  }

  TEST_CASE_TEMPLATE("large outputs (non-temporal stores) equal the row-by-row results", T, float, double) {
    // Outputs of 16 MiB and more are streamed; the threshold is lowered here to keep the test small. An odd
    // row length and y offset by one element make every row start at a different alignment, so the partial
    // register before the first aligned one varies.
    rng g(10);
    const std::size_t saved = kexue::detail::softmax::stream_min_bytes;
    kexue::detail::softmax::stream_min_bytes = 64 << 10;
    const index_t cols = 1001, rows = 37;
    const std::size_t n = static_cast<std::size_t>(rows * cols);
    std::vector<T> x = g.normals<T>(n, 2.0), dy = g.normals<T>(n, 1.0), y(n + 1), row(cols);
    std::vector<std::int64_t> target(rows);
    for (auto& t : target) t = static_cast<std::int64_t>(g.next() % cols);
    auto same_rows = [&](const T* got, auto one_row) {
      for (index_t r = 0; r < rows; ++r) {
        one_row(r, row.data());  // rows = 1: below the threshold
        for (index_t j = 0; j < cols; ++j) {
          if (!(got[r * cols + j] == row[j] || (std::isnan(got[r * cols + j]) && std::isnan(row[j])))) {
            CAPTURE(r);
            CAPTURE(j);
            REQUIRE(got[r * cols + j] == row[j]);
          }
        }
      }
    };
    T* yo = y.data() + 1;
    kexue::softmax_rows(x.data(), yo, rows, cols);
    same_rows(yo, [&](index_t r, T* out) { kexue::softmax_rows(x.data() + r * cols, out, 1, cols); });
    {  // causal rows of 101..137 visible keys (short register rows and long ones mixed), and special rows
      std::vector<T> xs = x;
      xs[5 * cols + 7] = std::numeric_limits<T>::quiet_NaN();
      std::fill(xs.begin() + 6 * cols, xs.begin() + 7 * cols, -std::numeric_limits<T>::infinity());
      xs[8 * cols + 3] = std::numeric_limits<T>::infinity();
      kexue::softmax_options<T> causal;
      causal.causal = true;
      causal.causal_rows = rows;
      causal.causal_offset = 100;
      kexue::softmax_rows(xs.data(), yo, rows, cols, causal);
      same_rows(yo, [&](index_t r, T* out) {
        kexue::softmax_options<T> one = causal;
        one.causal_rows = 1;
        one.causal_offset = r + 100;
        kexue::softmax_rows(xs.data() + r * cols, out, 1, cols, one);
      });
    }
    kexue::log_softmax_rows(x.data(), yo, rows, cols);
    same_rows(yo, [&](index_t r, T* out) { kexue::log_softmax_rows(x.data() + r * cols, out, 1, cols); });
    std::vector<T> p(n);
    kexue::softmax_rows(x.data(), p.data(), rows, cols);
    kexue::softmax_backward_rows(p.data(), dy.data(), yo, rows, cols);
    same_rows(yo, [&](index_t r, T* out) {
      kexue::softmax_backward_rows(p.data() + r * cols, dy.data() + r * cols, out, 1, cols);
    });
    kexue::log_softmax_rows(x.data(), p.data(), rows, cols);
    kexue::log_softmax_backward_rows(p.data(), dy.data(), yo, rows, cols);
    same_rows(yo, [&](index_t r, T* out) {
      kexue::log_softmax_backward_rows(p.data() + r * cols, dy.data() + r * cols, out, 1, cols);
    });
    std::vector<T> loss(rows), loss_row(1);
    kexue::cross_entropy_rows(x.data(), target.data(), loss.data(), yo, rows, cols);
    same_rows(yo, [&](index_t r, T* out) {
      kexue::cross_entropy_rows(x.data() + r * cols, &target[r], loss_row.data(), out, 1, cols);
      CHECK(loss_row[0] == loss[r]);
    });
    kexue::detail::softmax::stream_min_bytes = saved;
  }

  TEST_CASE_TEMPLATE("results do not depend on the thread count", T, float, double) {
    rng g(9);
    const index_t rows = 300, cols = 700;  // 210K elements: split over threads when OpenMP is on
    std::vector<T> x = g.normals<T>(rows * cols, 2.0), dy = g.normals<T>(rows * cols, 1.0);
    kexue::softmax_options<T> opt;
    opt.causal = true;
    opt.causal_rows = 100;
    const int saved = kexue::get_num_threads();
    std::vector<T> y1(rows * cols), y2(rows * cols), d1(rows * cols), d2(rows * cols);
    kexue::set_num_threads(1);
    kexue::softmax_rows(x.data(), y1.data(), rows, cols, opt);
    kexue::softmax_backward_rows(y1.data(), dy.data(), d1.data(), rows, cols);
    kexue::set_num_threads(2);
    kexue::softmax_rows(x.data(), y2.data(), rows, cols, opt);
    kexue::softmax_backward_rows(y2.data(), dy.data(), d2.data(), rows, cols);
    kexue::set_num_threads(saved);
    CHECK(y1 == y2);
    CHECK(d1 == d2);
  }

  TEST_CASE("softmax kernels reject bad sizes and mask layouts with a message") {
    std::vector<float> x(4), y(4);
    CHECK_THROWS_WITH_AS(kexue::softmax_rows(x.data(), y.data(), -1, 4),
                         "softmax_rows: sizes must be non-negative (rows -1, cols 4)", kexue::value_error);
    kexue::softmax_options<float> opt;
    opt.add_mask = x.data();
    opt.add_mask_rows = 0;
    CHECK_THROWS_WITH_AS(kexue::log_softmax_rows(x.data(), y.data(), 1, 4, opt),
                         "log_softmax_rows: add_mask_rows must be >= 1 and add_mask_row_stride >= 0 (got 0 and 0)",
                         kexue::value_error);
    kexue::softmax_options<float> causal;
    causal.causal = true;
    causal.causal_rows = -2;
    CHECK_THROWS_WITH_AS(kexue::logsumexp_rows(x.data(), y.data(), 1, 4, causal),
                         "logsumexp_rows: causal_rows must be >= 0 (got -2)", kexue::value_error);
    // Empty arrays are fine.
    kexue::softmax_rows(x.data(), y.data(), 0, 4);
    kexue::softmax_rows(x.data(), y.data(), 4, 0);
  }

}  // TEST_SUITE
