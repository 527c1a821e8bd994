// SPDX-License-Identifier: MIT
// One check against tests/reference/data/loss_other.txt (written by tests/reference/make_reference_loss_other.py):
// value, gradient and second-order gradient of a one-output loss in float64.
#pragma once

#include <functional>  // the loss under test
#include <string>
#include <vector>

#include "reference/reference_check.hpp"
#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kexue::testing {

/// The data file of these tests, read once per process.
inline const reference_file& loss_other_reference() {
  static const reference_file file("loss_other");
  return file;
}

/// Compares `loss(inputs)` with case `name` of the file through the shared check_case (forward, gradient
/// seeded with `grad_out`, second order when the file has `dir.<input>` lines; see reference_check.hpp).
inline void check_loss_reference(const std::string& name, const std::vector<std::string>& inputs,
                                 const std::function<tensor<double>(const std::vector<tensor<double>>&)>& loss,
                                 double tol = 1e-10) {
  check_case(
      loss_other_reference(), name, inputs, [&loss](const tensors& v) { return tensors{loss(v)}; }, {"out"}, tol);
}

}  // namespace kexue::testing
