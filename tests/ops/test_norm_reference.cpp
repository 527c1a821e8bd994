// SPDX-License-Identifier: MIT
// layer_norm, rms_norm, batch_norm and softmax_cross_entropy against PyTorch 1.13 (tests/reference/data/norm.txt,
// written by tests/reference/make_reference_norm.py): values, first-order gradients through the fused backward
// ("_fused" cases) and through the composed one with second order (the others).
#include <string>
#include <vector>

#include "reference/reference_check.hpp"
#include <doctest/doctest.h>

#include <kexue/ops/cross_entropy.hpp>
#include <kexue/ops/norm.hpp>

using kexue::tensor;
using kexue::testing::check_case;
using kexue::testing::reference_file;
using kexue::testing::tensors;

TEST_SUITE("ops.norm") {
  TEST_CASE("layer_norm and rms_norm equal PyTorch, values and gradients of both orders") {
    const reference_file file("norm");
    for (const std::string tag : {"", "_fused"}) {
      check_case(file, "layer_norm_affine" + tag, {"x", "w", "b"},
                 [](const tensors& v) { return tensors{kexue::layer_norm(v[0], {5}, v[1], v[2], 1e-5)}; });
      check_case(file, "rms_norm" + tag, {"x", "w"},
                 [](const tensors& v) { return tensors{kexue::rms_norm(v[0], {6}, v[1], 1e-6)}; });
    }
    check_case(file, "layer_norm_two_axes_plain_fused", {"x"}, [](const tensors& v) {
      return tensors{kexue::layer_norm(v[0], {3, 4}, {}, {}, 1e-3)};
    });
  }

  TEST_CASE("batch_norm equals PyTorch in training and evaluation, running statistics included") {
    const reference_file file("norm");
    for (const auto& [name, training] : std::vector<std::pair<std::string, bool>>{
             {"batch_norm_train_2d", true}, {"batch_norm_train_4d", true}, {"batch_norm_eval_3d", false}}) {
      check_case(file, name, {"x", "rm", "rv", "w", "b"},
                 [training = training](const tensors& v) {
                   const tensor<double> y = kexue::batch_norm(v[0], v[1], v[2], v[3], v[4], training, 0.1, 1e-5);
                   return tensors{y, v[1], v[2]};
                 },
                 {"out.y", "out.running_mean", "out.running_var"});
    }
  }

  TEST_CASE("softmax_cross_entropy equals PyTorch's F.cross_entropy with ignore_index, smoothing and weights") {
    const reference_file file("norm");
    using options = kexue::softmax_cross_entropy_options<double>;
    for (const std::string tag : {"", "_fused"}) {
      const auto t = file.indices("ce_plain" + tag + ".t");
      check_case(file, "ce_plain" + tag, {"x"},
                 [t](const tensors& v) { return tensors{kexue::softmax_cross_entropy(v[0], t)}; });
      const auto t2 = file.indices("ce_smooth_weight" + tag + ".t");
      check_case(file, "ce_smooth_weight" + tag, {"x", "w"}, [t2](const tensors& v) {
        return tensors{kexue::softmax_cross_entropy(v[0], t2, options().weight(v[1]).label_smoothing(0.2))};
      });
      check_case(file, "ce_probs" + tag, {"x", "q", "w"}, [](const tensors& v) {
        return tensors{kexue::softmax_cross_entropy(v[0], v[1], options().weight(v[2]).label_smoothing(0.15))};
      });
    }
    const auto t = file.indices("ce_ignore_7_smooth.t");
    check_case(file, "ce_ignore_7_smooth", {"x"}, [t](const tensors& v) {
      return tensors{kexue::softmax_cross_entropy(v[0], t, options().ignore_index(7).label_smoothing(0.3))};
    });
  }
}
