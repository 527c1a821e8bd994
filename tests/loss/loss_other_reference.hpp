// SPDX-License-Identifier: MIT
// One check against tests/reference/data/loss_other.txt (written by tests/reference/make_reference_loss_other.py):
// value, gradient and second-order gradient of a one-output loss in float64.
#pragma once

#include <functional>  // the loss under test
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

/// The data file of these tests, read once per process.
inline const reference_file& loss_other_reference() {
  static const reference_file file("loss_other");
  return file;
}

/// Compares `loss(inputs)` with case `name`: `inputs` names the float64 entries passed in order (an entry with a
/// `grad.<input>` line is differentiated; integer targets are read by the caller and captured); then the
/// gradient seeded with `grad_out`, and, when the file has `dir.<input>` lines, the gradient of
/// Σ_i <grad_i, dir_i>. Absent kexue gradients count as zeros. Both sides are float64: 1e-10 (relative and
/// absolute) allows another summation order and libm while catching any wrong formula.
inline void check_loss_reference(const std::string& name, const std::vector<std::string>& inputs,
                                 const std::function<tensor<double>(const std::vector<tensor<double>>&)>& loss,
                                 double tol = 1e-10) {
  const reference_file& file = loss_other_reference();
  INFO("reference case ", name);
  std::vector<tensor<double>> args, leaves;
  std::vector<std::string> leaf_names;
  for (const auto& input : inputs) {
    args.push_back(file.get(name + "." + input));
    if (!file.has(name + ".grad." + input)) continue;
    args.back().requires_grad(true);
    leaves.push_back(args.back());
    leaf_names.push_back(input);
  }
  const tensor<double> out = loss(args);
  check_close(out.detach(), file.get(name + ".out"), tol, tol);
  if (leaves.empty()) return;

  const auto dense = [](const tensor<double>& g, const tensor<double>& like) {
    return g.defined() ? g.detach() : zeros<double>(like.shape());
  };
  const bool second = file.has(name + ".dir." + leaf_names[0]);
  const auto g = grad<double>({out}, leaves, grad_options().create_graph(second).allow_unused(true),
                              {file.get(name + ".grad_out")});
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    INFO("gradient of ", leaf_names[i]);
    check_close(dense(g[i], leaves[i]), file.get(name + ".grad." + leaf_names[i]), tol, tol);
  }
  if (!second) return;

  tensor<double> s = zeros<double>({});
  bool any = false;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    if (!g[i].defined() || !g[i].requires_grad()) continue;
    s = add(s, sum(mul(g[i], file.get(name + ".dir." + leaf_names[i]))));
    any = true;
  }
  std::vector<tensor<double>> gg(leaves.size());
  if (any) gg = grad<double>({s}, leaves, grad_options().allow_unused(true));
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    INFO("second-order gradient of ", leaf_names[i]);
    check_close(dense(gg[i], leaves[i]), file.get(name + ".gradgrad." + leaf_names[i]), tol, tol);
  }
}

}  // namespace kexue::testing
