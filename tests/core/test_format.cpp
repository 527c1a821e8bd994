// SPDX-License-Identifier: MIT
// Expected strings are PyTorch 1.13's str(tensor) for the same values, with kexue's spellings: dtype=float64
// (not dtype=torch.float64), true/false, requires_grad=true, size=[0, 3], grad_fn=<kexue op name>.
#include <cmath>    // NAN, INFINITY
#include <sstream>  // std::ostringstream

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/core/format.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/reshape.hpp>

namespace kx = kexue;

namespace {
/// Restores the default print options when a test case ends, even if it fails.
struct default_options_guard {
  default_options_guard() { kx::set_print_options({}); }
  ~default_options_guard() { kx::set_print_options({}); }
};

/// arange(n) / divisor in float, reshaped.
kx::tensor<float> ramp(kx::index_t n, float divisor, const kx::shape& s) {
  return kx::reshape(kx::arange<float>(static_cast<float>(n)) / divisor, s);
}
}  // namespace

TEST_SUITE("core.format") {
  TEST_CASE("integer-valued floats print as '1.' and rows align under the bracket") {
    default_options_guard guard;
    CHECK(kx::to_string(kx::tensor<float>{{1, 2}, {3, 4}}) == "tensor([[1., 2.],\n        [3., 4.]])");
    CHECK(kx::to_string(kx::tensor<float>{0, 0}) == "tensor([0., 0.])");
    CHECK(kx::to_string(kx::tensor<float>{-1, 0, NAN}) == "tensor([-1.,  0., nan])");
    CHECK(kx::to_string(kx::tensor<float>{1, NAN, INFINITY, -INFINITY}) == "tensor([1., nan, inf, -inf])");
    CHECK(kx::to_string(kx::reshape(kx::arange<float>(24), {2, 3, 4})) ==
          "tensor([[[ 0.,  1.,  2.,  3.],\n"
          "         [ 4.,  5.,  6.,  7.],\n"
          "         [ 8.,  9., 10., 11.]],\n"
          "\n"
          "        [[12., 13., 14., 15.],\n"
          "         [16., 17., 18., 19.],\n"
          "         [20., 21., 22., 23.]]])");
  }

  TEST_CASE("other floats print with four decimals") {
    default_options_guard guard;
    CHECK(kx::to_string(kx::tensor<float>{{1.5, 2.25}, {3, 4}}) ==
          "tensor([[1.5000, 2.2500],\n        [3.0000, 4.0000]])");
    CHECK(kx::to_string(kx::tensor<float>{-0.0f, 1.5f}) == "tensor([-0.0000, 1.5000])");
    CHECK(kx::to_string(kx::scalar<float>(1.5f)) == "tensor(1.5000)");
    CHECK(kx::to_string(kx::scalar<float>(2.0f)) == "tensor(2.)");
    CHECK(kx::to_string(kx::scalar<float>(NAN)) == "tensor(nan)");
  }

  TEST_CASE("a wide range of magnitudes switches to scientific notation") {
    default_options_guard guard;
    CHECK(kx::to_string(kx::tensor<double>{1e-5, 1.0, 123.456}) ==
          "tensor([1.0000e-05, 1.0000e+00, 1.2346e+02], dtype=float64)");
    CHECK(kx::to_string(kx::tensor<float>{1e10f, 1.0f}) == "tensor([1.0000e+10, 1.0000e+00])");
    CHECK(kx::to_string(kx::tensor<float>{{1e-5f, -2.5e3f}, {0, 3}}) ==
          "tensor([[ 1.0000e-05, -2.5000e+03],\n        [ 0.0000e+00,  3.0000e+00]])");
    CHECK(kx::to_string(kx::tensor<float>{1e-5f, NAN, -2.0f}) == "tensor([ 1.0000e-05,         nan, -2.0000e+00])");
  }

  TEST_CASE("long rows wrap at the line width") {
    default_options_guard guard;
    CHECK(kx::to_string(kx::arange<float>(30.0f) / 7.0f) ==
          "tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,\n"
          "        1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,\n"
          "        2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,\n"
          "        3.8571, 4.0000, 4.1429])");
    // A suffix that does not fit on the last line goes on its own line.
    auto wide = kx::reshape(kx::arange<double>(14) / 3.0 + 100.0, {2, 7});
    CHECK(kx::to_string(wide) ==
          "tensor([[100.0000, 100.3333, 100.6667, 101.0000, 101.3333, 101.6667, 102.0000],\n"
          "        [102.3333, 102.6667, 103.0000, 103.3333, 103.6667, 104.0000, 104.3333]],\n"
          "       dtype=float64)");
  }

  TEST_CASE("tensors over the threshold are summarised with three edge items") {
    default_options_guard guard;
    CHECK(kx::to_string(ramp(1200, 3, {40, 30})) ==
          "tensor([[0.0000e+00, 3.3333e-01, 6.6667e-01,  ..., 9.0000e+00, 9.3333e+00,\n"
          "         9.6667e+00],\n"
          "        [1.0000e+01, 1.0333e+01, 1.0667e+01,  ..., 1.9000e+01, 1.9333e+01,\n"
          "         1.9667e+01],\n"
          "        [2.0000e+01, 2.0333e+01, 2.0667e+01,  ..., 2.9000e+01, 2.9333e+01,\n"
          "         2.9667e+01],\n"
          "        ...,\n"
          "        [3.7000e+02, 3.7033e+02, 3.7067e+02,  ..., 3.7900e+02, 3.7933e+02,\n"
          "         3.7967e+02],\n"
          "        [3.8000e+02, 3.8033e+02, 3.8067e+02,  ..., 3.8900e+02, 3.8933e+02,\n"
          "         3.8967e+02],\n"
          "        [3.9000e+02, 3.9033e+02, 3.9067e+02,  ..., 3.9900e+02, 3.9933e+02,\n"
          "         3.9967e+02]])");
    auto ids = kx::reshape(kx::arange<kx::index_t>(2000), {2, 1000}).copy();
    for (auto& v : ids) v -= 5;
    CHECK(kx::to_string(ids) ==
          "tensor([[  -5,   -4,   -3,  ...,  992,  993,  994],\n"
          "        [ 995,  996,  997,  ..., 1992, 1993, 1994]])");
    // Rank 3: the summarised middle block is "...," between blank lines.
    const std::string cube = kx::to_string(ramp(1386, 1, {7, 11, 18}));
    CHECK(cube.find("         [1.8000e+02, 1.8100e+02, 1.8200e+02,  ..., 1.9500e+02,\n"
                    "          1.9600e+02, 1.9700e+02]],\n"
                    "\n"
                    "        [[1.9800e+02,") != std::string::npos);
    CHECK(cube.find("5.9300e+02]],\n\n        ...,\n\n        [[7.9200e+02,") != std::string::npos);
    CHECK(cube.substr(cube.size() - 28) == "  1.3840e+03, 1.3850e+03]]])");
  }

  TEST_CASE("int64 and bool tensors print their values") {
    default_options_guard guard;
    CHECK(kx::to_string(kx::arange<kx::index_t>(10)) == "tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])");
    CHECK(kx::to_string(kx::tensor<bool>{true, false, true}) == "tensor([ true, false,  true])");
  }

  TEST_CASE("empty tensors print their size and any type but float") {
    default_options_guard guard;
    CHECK(kx::to_string(kx::zeros<float>({0})) == "tensor([])");
    CHECK(kx::to_string(kx::zeros<float>({0, 3})) == "tensor([], size=[0, 3])");
    CHECK(kx::to_string(kx::zeros<double>({0})) == "tensor([], dtype=float64)");
    CHECK(kx::to_string(kx::zeros<kx::index_t>({0})) == "tensor([], dtype=int64)");
    CHECK(kx::to_string(kx::zeros<bool>({2, 0, 3})) == "tensor([], size=[2, 0, 3], dtype=bool)");
    CHECK(kx::to_string(kx::tensor<float>()) == "tensor(undefined)");
  }

  TEST_CASE("autograd state is shown as requires_grad or grad_fn") {
    default_options_guard guard;
    auto x = kx::tensor<float>{1, 2}.requires_grad(true);
    CHECK(kx::to_string(x) == "tensor([1., 2.], requires_grad=true)");
    CHECK(kx::to_string(x * 2) == "tensor([2., 4.], grad_fn=<mul_scalar>)");
    auto y = kx::full<double>({2, 8}, 0.5).requires_grad(true) * 3;
    CHECK(kx::to_string(y) ==
          "tensor([[1.5000, 1.5000, 1.5000, 1.5000, 1.5000, 1.5000, 1.5000, 1.5000],\n"
          "        [1.5000, 1.5000, 1.5000, 1.5000, 1.5000, 1.5000, 1.5000, 1.5000]],\n"
          "       dtype=float64, grad_fn=<mul_scalar>)");
  }

  TEST_CASE("print options change precision, notation, summarising and line width") {
    default_options_guard guard;
    kx::set_print_options(kx::print_options().with_precision(2));
    CHECK(kx::to_string(kx::tensor<float>{{1.5, 2.25}, {3, 4}}) == "tensor([[1.50, 2.25],\n        [3.00, 4.00]])");
    kx::set_print_options(kx::print_options().with_sci_mode(true));
    CHECK(kx::to_string(kx::tensor<float>{1.5, 2}) == "tensor([1.5000e+00, 2.0000e+00])");
    kx::set_print_options(kx::print_options().with_sci_mode(false));
    CHECK(kx::to_string(kx::tensor<float>{1e-5f, 1.0f, 123.456f}) == "tensor([    0.0000,     1.0000,   123.4560])");
    kx::set_print_options(kx::print_options().with_threshold(5).with_edgeitems(2));
    CHECK(kx::to_string(kx::arange<float>(10)) == "tensor([0., 1.,  ..., 8., 9.])");
    CHECK(kx::to_string(kx::reshape(kx::arange<kx::index_t>(12), {4, 3})) ==
          "tensor([[ 0,  1,  2],\n        [ 3,  4,  5],\n        [ 6,  7,  8],\n        [ 9, 10, 11]])");
    kx::set_print_options(kx::print_options().with_linewidth(30));
    CHECK(kx::to_string(kx::arange<float>(12) / 7.0f) ==
          "tensor([0.0000, 0.1429,\n        0.2857, 0.4286,\n        0.5714, 0.7143,\n        0.8571, 1.0000,\n"
          "        1.1429, 1.2857,\n        1.4286, 1.5714])");
    CHECK(kx::get_print_options().linewidth == 30);
    // Explicit options leave the global ones alone.
    CHECK(kx::to_string(kx::tensor<float>{1.5}, kx::print_options().with_precision(1)) == "tensor([1.5])");
    CHECK(kx::get_print_options().precision == 4);
  }

  TEST_CASE("operator<< writes to_string") {
    default_options_guard guard;
    std::ostringstream out;
    out << kx::tensor<double>{0.25, 1};
    CHECK(out.str() == "tensor([0.2500, 1.0000], dtype=float64)");
  }

  TEST_CASE("set_print_options rejects out-of-range values") {
    default_options_guard guard;
    CHECK_THROWS_WITH_AS(kx::set_print_options(kx::print_options().with_precision(-1)),
                         "set_print_options: precision must be non-negative (got -1)", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::set_print_options(kx::print_options().with_linewidth(0)),
                         "set_print_options: linewidth must be positive (got 0)", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::set_print_options(kx::print_options().with_edgeitems(-2)),
                         "set_print_options: edgeitems must be non-negative (got -2)", kx::value_error);
    CHECK_THROWS_WITH_AS(kx::set_print_options(kx::print_options().with_threshold(-1)),
                         "set_print_options: threshold must be non-negative (got -1)", kx::value_error);
  }
}
