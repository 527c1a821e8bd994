// SPDX-License-Identifier: MIT
// check_case: one PyTorch reference case (forward, gradients, second-order gradients) against kexue.
#pragma once

#include <functional>  // case functions
#include <string>
#include <vector>

#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/autograd/backward.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/reduce.hpp>

#include "support/tensor_checks.hpp"

namespace kexue::testing {

using case_function = std::function<tensors(const tensors&)>;

/// Relative (and absolute) tolerance of every float64 comparison. Both sides compute in double; 1e-10 leaves
/// room for a different summation order or libm, and still catches any wrong formula. An op that needs
/// more says why where it is checked.
inline constexpr double reference_tol = 1e-10;

/// Expected value, or zeros of `like`'s shape when PyTorch had no gradient there (undefined in kexue).
inline tensor<double> or_zeros(const tensor<double>& g, const tensor<double>& like) {
  return g.defined() ? g : kexue::zeros<double>(like.shape());
}

/// Checks one case of `file` against fn(inputs):
///  - `inputs` names the float64 inputs passed to fn, in order (indices and masks are read by the caller and
///    captured by fn); an input with a `grad.<name>` entry is marked requires_grad;
///  - fn returns the outputs named by `outputs` ("out", or "out.values", "out.indices", ...);
///  - forward: every output against `<case>.<output>`;
///  - first order: kexue::grad of the outputs that have a `grad_<output>` entry, seeded with it, against
///    `grad.<input>`;
///  - second order, when the file holds `dir.<input>` entries: the gradient of sum_i <grad_i, dir_i>
///    against `gradgrad.<input>` (an undefined kexue gradient counts as zeros).
inline void check_case(const reference_file& file, const std::string& name, const std::vector<std::string>& inputs,
                       const case_function& fn, const std::vector<std::string>& outputs = {"out"},
                       double tol = reference_tol) {
  INFO("reference case ", name, " (", file.path(), ")");
  tensors x, diff;
  std::vector<std::string> diff_names;
  for (const auto& input : inputs) {
    x.push_back(file.get(name + "." + input));
    if (file.has(name + ".grad." + input)) {
      x.back().requires_grad(true);
      diff.push_back(x.back());
      diff_names.push_back(input);
    }
  }

  const tensors y = fn(x);
  REQUIRE(y.size() == outputs.size());
  tensors seeded, seeds;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    INFO("output ", outputs[k]);
    kexue::testing::check_close(y[k].detach(), file.get(name + "." + outputs[k]), tol, tol);
    // Outputs kexue does not record (slogdet's sign, indices) carry no gradient; a recorded output that
    // should have contributed shows up below as a gradient mismatch.
    if (file.has(name + ".grad_" + outputs[k]) && y[k].requires_grad()) {
      seeded.push_back(y[k]);
      seeds.push_back(file.get(name + ".grad_" + outputs[k]));
    }
  }
  if (diff.empty() || seeded.empty()) return;

  const bool second_order = file.has(name + ".dir." + diff_names[0]);
  const tensors g =
      kexue::grad(seeded, diff, kexue::grad_options().create_graph(second_order).allow_unused(true), seeds);
  for (std::size_t i = 0; i < diff.size(); ++i) {
    INFO("gradient of ", diff_names[i]);
    kexue::testing::check_close(or_zeros(g[i], diff[i]).detach(), file.get(name + ".grad." + diff_names[i]), tol, tol);
  }
  if (!second_order) return;

  tensor<double> s;  // sum_i <g_i, dir_i> over the gradients that still depend on the inputs
  for (std::size_t i = 0; i < diff.size(); ++i) {
    if (!g[i].defined() || !g[i].requires_grad()) continue;
    const tensor<double> term = kexue::sum(kexue::mul(g[i], file.get(name + ".dir." + diff_names[i])));
    s = s.defined() ? kexue::add(s, term) : term;
  }
  tensors gg(diff.size());
  if (s.defined()) gg = kexue::grad({s}, diff, kexue::grad_options().allow_unused(true));
  for (std::size_t i = 0; i < diff.size(); ++i) {
    INFO("second-order gradient of ", diff_names[i]);
    kexue::testing::check_close(or_zeros(gg[i], diff[i]).detach(), file.get(name + ".gradgrad." + diff_names[i]), tol,
                                tol);
  }
}

}  // namespace kexue::testing
