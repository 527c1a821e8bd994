// SPDX-License-Identifier: MIT
// conv1d, conv2d, conv_transpose2d, pooling and upsampling against PyTorch 1.13: values, gradients and
// second-order gradients in float64 (data: tests/reference/make_reference_conv.py).
#include <string>
#include <vector>

#include "reference/reference_check.hpp"
#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/ops/conv.hpp>
#include <kexue/ops/pool.hpp>

namespace kx = kexue;
using kx::testing::check_case;
using kx::testing::reference_file;
using kx::testing::tensors;

TEST_SUITE("ops.conv") {
  TEST_CASE("conv1d matches PyTorch for valid, same and causal padding, dilation, stride and groups") {
    const reference_file file("conv");
    struct config {
      const char* name;
      kx::index_t stride, left, right, dilation, groups;
      bool bias;
    };
    const std::vector<config> cases = {
        {"conv1d_valid_d1", 1, 0, 0, 1, 1, true},  {"conv1d_same_d1", 1, 1, 1, 1, 1, true},
        {"conv1d_causal_d1", 1, 2, 0, 1, 1, true}, {"conv1d_valid_d2", 1, 0, 0, 2, 1, true},
        {"conv1d_same_d2", 1, 2, 2, 2, 1, true},   {"conv1d_causal_d2", 1, 4, 0, 2, 1, true},
        {"conv1d_valid_d4", 1, 0, 0, 4, 1, true},  {"conv1d_same_d4", 1, 4, 4, 4, 1, true},
        {"conv1d_causal_d4", 1, 8, 0, 4, 1, true}, {"conv1d_same_even_kernel", 1, 1, 2, 1, 1, true},
        {"conv1d_stride2", 2, 1, 1, 1, 1, true},   {"conv1d_groups2", 1, 2, 2, 2, 2, false},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      const std::vector<std::string> inputs =
          c.bias ? std::vector<std::string>{"x", "w", "b"} : std::vector<std::string>{"x", "w"};
      check_case(file, c.name, inputs, [c](const tensors& v) {
        return tensors{kx::conv1d(v[0], v[1], c.bias ? v[2] : kx::tensor<double>(), c.stride, {c.left, c.right},
                                  c.dilation, c.groups)};
      });
    }
  }

  TEST_CASE("conv2d (explicit and same padding) and conv_transpose2d match PyTorch") {
    const reference_file file("conv");
    check_case(file, "conv2d", {"x", "w", "b"}, [](const tensors& v) {
      return tensors{kx::conv2d(v[0], v[1], v[2], {2, 1}, {1, 1}, {1, 2}, 2)};
    });
    check_case(file, "conv2d_plain", {"x", "w", "b"},
               [](const tensors& v) { return tensors{kx::conv2d(v[0], v[1], v[2])}; });
    check_case(file, "conv2d_same", {"x", "w", "b"},
               [](const tensors& v) { return tensors{kx::conv2d(v[0], v[1], v[2], 1, kx::padding_mode::same, 1, 2)}; });
    check_case(file, "conv2d_same_dilated", {"x", "w"}, [](const tensors& v) {
      return tensors{kx::conv2d(v[0], v[1], {}, 1, kx::padding_mode::same, {2, 3})};
    });
    check_case(file, "conv_transpose2d", {"x", "w", "b"},
               [](const tensors& v) { return tensors{kx::conv_transpose2d(v[0], v[1], v[2], 2, 1)}; });
    check_case(file, "conv_transpose2d_output_padding", {"x", "w", "b"},
               [](const tensors& v) { return tensors{kx::conv_transpose2d(v[0], v[1], v[2], 2, 1, 1, 2)}; });
  }

  TEST_CASE("pooling and upsampling match PyTorch") {
    const reference_file file("conv");
    check_case(file, "max_pool1d", {"x"}, [](const tensors& v) { return tensors{kx::max_pool1d(v[0], 3, 2, 1)}; });
    check_case(file, "avg_pool1d", {"x"}, [](const tensors& v) { return tensors{kx::avg_pool1d(v[0], 3, 2, 1)}; });
    check_case(file, "avg_pool1d_exclude_pad", {"x"},
               [](const tensors& v) { return tensors{kx::avg_pool1d(v[0], 3, 2, 1, false)}; });
    check_case(file, "max_pool2d", {"x"}, [](const tensors& v) {
      return tensors{kx::max_pool2d(v[0], {2, 3}, {2, 1}, {1, 1})};
    });
    check_case(file, "avg_pool2d", {"x"}, [](const tensors& v) { return tensors{kx::avg_pool2d(v[0], 2)}; });
    check_case(file, "upsample_nearest2d", {"x"}, [](const tensors& v) {
      return tensors{kx::upsample_nearest2d(v[0], {2, 3})};
    });
  }
}
