// SPDX-License-Identifier: MIT
// Tests of kernels/conv1d.hpp (forward, input gradient, weight gradient) against the scalar twins run in double:
// lengths and channel counts that hit every register and Winograd tile tail, dilations 1-4, paddings, groups,
// and 1 vs 2 threads (bitwise equal).
#include <algorithm>  // std::max
#include <cmath>      // std::abs
#include <cstdint>    // std::uint32_t
#include <random>     // std::mt19937
#include <string>
#include <vector>

#include "kernels/test_gemm_support.hpp"  // thread_count_guard
#include <doctest/doctest.h>

#include <kexue/kernels/conv1d.hpp>

namespace {

using kexue::index_t;
namespace kk = kexue::kernels;

using kexue_gemm_test::thread_count_guard;

template <class T>
std::vector<T> draw(index_t n, std::mt19937& gen) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = T(2) * T(gen() >> 8) * T(1.0 / 16777216.0) - T(1);  // [-1, 1)
  return v;
}

template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

template <class T>
std::vector<double> magnitudes(const std::vector<T>& v) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::abs(static_cast<double>(v[i]));
  return out;
}

/// Checks |got − want| <= tol · (bound + max bound) elementwise, where bound is the twin run on |operands| (the
/// sum of the magnitudes of the terms; Winograd's transforms mix the terms of neighbouring outputs, so an
/// entry whose own terms are all 0 can carry rounding of the size of the others); returns the largest ratio
/// |got − want| / (bound + max bound) seen.
template <class T>
double check_against(const std::vector<T>& got, const std::vector<double>& want, const std::vector<double>& bound,
                     double tol, const std::string& what) {
  double worst = 0, scale = 0;
  for (double b : bound) scale = std::max(scale, b);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]);
    const double b = bound[i] + scale + 1e-300;
    worst = std::max(worst, err / b);
    if (!(err <= tol * b)) {
      FAIL_CHECK(what << "[" << i << "]: got " << static_cast<double>(got[i]) << ", want " << want[i] << " (bound "
                      << bound[i] << ", max bound " << scale << ")");
      return worst;
    }
  }
  return worst;
}

/// Error tolerance relative to the sum of the terms' magnitudes: F(4, 3)'s transforms scale terms by up to
/// ~10 before they cancel (fp32: max seen ~1e-6 · bound, see bench/README.md), the direct sums by 1.
template <class T>
constexpr double tolerance() {
  return sizeof(T) == 4 ? 2e-5 : 1e-13;
}

/// Runs the three kernels on one shape with T and compares them with the double twins; returns the worst
/// error ratio.
template <class T>
double check_shape(const kk::conv1d_shape& s, std::uint32_t seed, bool with_bias = true) {
  const index_t lo = s.out_length();
  INFO("B=" << s.batch << " C=" << s.in_channels << " O=" << s.out_channels << " L=" << s.length << " K=" << s.kernel
            << " d=" << s.dilation << " pad=(" << s.pad_left << ", " << s.pad_right << ") groups=" << s.groups);
  REQUIRE(lo >= 1);
  std::mt19937 gen(seed);
  const auto x = draw<T>(s.batch * s.in_channels * s.length, gen);
  const auto w = draw<T>(s.out_channels * s.group_in() * s.kernel, gen);
  const auto bias = draw<T>(s.out_channels, gen);
  const auto gy = draw<T>(s.batch * s.out_channels * lo, gen);
  const T* b = with_bias ? bias.data() : nullptr;

  std::vector<T> y(gy.size()), dx(x.size()), dw(w.size());
  kk::conv1d_forward(s, x.data(), w.data(), b, y.data());
  kk::conv1d_input_grad(s, gy.data(), w.data(), dx.data());
  kk::conv1d_weight_grad(s, x.data(), gy.data(), dw.data());

  const auto xd = widen(x), wd = widen(w), bd = widen(bias), gd = widen(gy);
  const auto xa = magnitudes(x), wa = magnitudes(w), ba = magnitudes(bias), ga = magnitudes(gy);
  std::vector<double> want_y(y.size()), bound_y(y.size()), want_dx(x.size()), bound_dx(x.size()), want_dw(w.size()),
      bound_dw(w.size());
  kk::conv1d_forward_reference(s, xd.data(), wd.data(), with_bias ? bd.data() : nullptr, want_y.data());
  kk::conv1d_forward_reference(s, xa.data(), wa.data(), with_bias ? ba.data() : nullptr, bound_y.data());
  kk::conv1d_input_grad_reference(s, gd.data(), wd.data(), want_dx.data());
  kk::conv1d_input_grad_reference(s, ga.data(), wa.data(), bound_dx.data());
  kk::conv1d_weight_grad_reference(s, xd.data(), gd.data(), want_dw.data());
  kk::conv1d_weight_grad_reference(s, xa.data(), ga.data(), bound_dw.data());

  const double tol = tolerance<T>();
  double worst = check_against(y, want_y, bound_y, tol, "y");
  worst = std::max(worst, check_against(dx, want_dx, bound_dx, tol, "dx"));
  worst = std::max(worst, check_against(dw, want_dw, bound_dw, tol, "dw"));
  return worst;
}

/// A kernel-3 shape with "same" padding (d on both sides).
kk::conv1d_shape same3(index_t batch, index_t channels, index_t out_channels, index_t length, index_t d) {
  kk::conv1d_shape s;
  s.batch = batch;
  s.in_channels = channels;
  s.out_channels = out_channels;
  s.length = length;
  s.kernel = 3;
  s.dilation = d;
  s.pad_left = d;
  s.pad_right = d;
  return s;
}

/// The sizes that hit the tails: 1..17 and 31..33.
std::vector<index_t> tail_sizes() {
  std::vector<index_t> v;
  for (index_t i = 1; i <= 17; ++i) v.push_back(i);
  for (index_t i = 31; i <= 33; ++i) v.push_back(i);
  return v;
}

/// Kernel 3 (float: the Winograd path; double: the direct sums) at dilation d over every tail length, with "same",
/// valid, causal and asymmetric paddings, the channel counts cycling through the tail sizes.
template <class T>
void check_kernel3_lengths(index_t d) {
  const auto sizes = tail_sizes();
  std::size_t turn = 0;
  for (index_t length : sizes) {
    const index_t pads[4][2] = {{d, d}, {0, 0}, {2 * d, 0}, {1, 3}};
    for (const auto& pad : pads) {
      kk::conv1d_shape s;
      s.batch = 2;
      s.in_channels = sizes[turn % sizes.size()];
      s.out_channels = sizes[(turn * 7 + 3) % sizes.size()];
      s.length = length;
      s.kernel = 3;
      s.dilation = d;
      s.pad_left = pad[0];
      s.pad_right = pad[1];
      ++turn;
      if (s.out_length() < 1) continue;
      check_shape<T>(s, static_cast<std::uint32_t>(1000 * d + turn));
    }
  }
}

}  // namespace

TEST_SUITE("kernels.conv1d") {
  TEST_CASE_TEMPLATE("kernel 3 matches the twin over every tail length at dilation 1", T, float, double) {
    check_kernel3_lengths<T>(1);
  }
  TEST_CASE_TEMPLATE("kernel 3 matches the twin over every tail length at dilation 2", T, float, double) {
    check_kernel3_lengths<T>(2);
  }
  TEST_CASE_TEMPLATE("kernel 3 matches the twin over every tail length at dilation 3", T, float, double) {
    check_kernel3_lengths<T>(3);
  }
  TEST_CASE_TEMPLATE("kernel 3 matches the twin over every tail length at dilation 4", T, float, double) {
    check_kernel3_lengths<T>(4);
  }

  TEST_CASE_TEMPLATE("every input and output channel count from 1 to 17 and 31 to 33 matches the twin", T, float,
                     double) {
    const auto sizes = tail_sizes();
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      for (index_t kernel : {3, 2}) {
        kk::conv1d_shape s;
        s.batch = 3;
        s.in_channels = sizes[i];
        s.out_channels = sizes[sizes.size() - 1 - i];
        s.length = 19;
        s.kernel = kernel;
        s.dilation = 1 + static_cast<index_t>(i % 3);
        s.pad_left = s.dilation * (kernel - 1) / 2;
        s.pad_right = s.dilation * (kernel - 1) - s.pad_left;
        check_shape<T>(s, static_cast<std::uint32_t>(77 + i * 2 + kernel), i % 2 == 0);
      }
    }
  }

  TEST_CASE_TEMPLATE("other kernel sizes, groups and large paddings match the twin", T, float, double) {
    std::uint32_t seed = 500;
    for (index_t kernel : {1, 2, 3, 4, 5}) {
      for (index_t groups : {1, 2, 3}) {
        for (index_t d : {1, 2, 4}) {
          kk::conv1d_shape s;
          s.batch = 2;
          s.in_channels = 6 * groups;
          s.out_channels = 4 * groups + groups;
          s.length = 13 + kernel;
          s.kernel = kernel;
          s.dilation = d;
          s.pad_left = kernel + d;  // more than the kernel's span: some taps read only padding
          s.pad_right = 2 * d;
          s.groups = groups;
          check_shape<T>(s, ++seed);
        }
      }
    }
  }

  TEST_CASE("a long sequence at dilations 1 to 8 keeps float close to the double twin") {
    for (index_t d = 1; d <= 8; ++d) {
      check_shape<float>(same3(2, 40, 36, 100, d), static_cast<std::uint32_t>(900 + d));
    }
  }

#ifdef KEXUE_CONV1D_WINO_ROWS
  TEST_CASE("float kernel 3 on lengths that fill blocks of 16 tiles (the row path) matches the twin") {
    // The row path takes dilations 1, 2, 4, 8 where whole blocks of 16 tiles (64d outputs) waste at most 1/8:
    // lengths 64d, just below it, 60d + 1 (15 tiles of 16) and two blocks minus a few; channel counts that
    // hit the 12-row panels' tails; "same", valid, causal and asymmetric paddings; groups.
    std::uint32_t seed = 7000;
    for (index_t d : {1, 2, 4, 8}) {
      for (index_t n : {64 * d, 64 * d - 1, 60 * d + 1, 128 * d - 5}) {
        const index_t pads[4][2] = {{d, d}, {0, 0}, {2 * d, 0}, {d + 1, d - 1}};
        for (const auto& pad : pads) {
          for (index_t groups : {1, 2}) {
            kk::conv1d_shape s;
            s.batch = 2;
            s.in_channels = groups == 1 ? 5 : 6;
            s.out_channels = groups == 1 ? 25 : 26;
            s.kernel = 3;
            s.dilation = d;
            s.pad_left = pad[0];
            s.pad_right = pad[1];
            s.groups = groups;
            s.length = n + 2 * d - pad[0] - pad[1];  // out_length() == n
            REQUIRE(s.out_length() == n);
            CHECK(kk::detail::conv1d_wino_rows_fit(n, d));  // the forward takes the row path
            check_shape<float>(s, ++seed, groups == 1);
          }
        }
      }
    }
  }
#endif

  TEST_CASE_TEMPLATE("results are bitwise the same on one and two threads", T, float, double) {
    const kk::conv1d_shape s = same3(7, 20, 18, 64, 2);  // float: the row path where AVX-512 has it
    std::mt19937 gen(4242);
    const auto x = draw<T>(s.batch * s.in_channels * s.length, gen);
    const auto w = draw<T>(s.out_channels * s.in_channels * 3, gen);
    const auto b = draw<T>(s.out_channels, gen);
    const auto gy = draw<T>(s.batch * s.out_channels * s.out_length(), gen);
    std::vector<T> y[2], dx[2], dw[2];
    for (int threads : {1, 2}) {
      thread_count_guard guard(threads);
      auto& yy = y[threads - 1];
      auto& xx = dx[threads - 1];
      auto& ww = dw[threads - 1];
      yy.resize(gy.size());
      xx.resize(x.size());
      ww.resize(w.size());
      kk::conv1d_forward(s, x.data(), w.data(), b.data(), yy.data());
      kk::conv1d_input_grad(s, gy.data(), w.data(), xx.data());
      kk::conv1d_weight_grad(s, x.data(), gy.data(), ww.data());
    }
    CHECK(y[0] == y[1]);
    CHECK(dx[0] == dx[1]);
    CHECK(dw[0] == dw[1]);
  }

  TEST_CASE("the twin computes a hand-worked case") {
    // x = [1, 2, 3, 4], w = [1, 0, -1], bias 0.5, d = 1, padding (1, 1):
    // y[0] = 0·1 + 1·0 + 2·(−1) + 0.5 = −1.5, y[1] = 1 − 3 + 0.5 = −1.5, y[2] = 2 − 4 + 0.5 = −1.5,
    // y[3] = 3 − 0 + 0.5 = 3.5.
    kk::conv1d_shape s;
    s.length = 4;
    s.kernel = 3;
    s.pad_left = 1;
    s.pad_right = 1;
    const double x[4] = {1, 2, 3, 4}, w[3] = {1, 0, -1}, bias[1] = {0.5};
    double y[4], yk[4];
    kk::conv1d_forward_reference(s, x, w, bias, y);
    kk::conv1d_forward(s, x, w, bias, yk);
    for (int j = 0; j < 4; ++j) {
      CHECK(y[j] == (j == 3 ? 3.5 : -1.5));
      CHECK(yk[j] == doctest::Approx(y[j]).epsilon(1e-14));
    }
  }
}
