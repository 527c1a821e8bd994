// SPDX-License-Identifier: MIT
// Helpers for tests of nn modules, shared by several test files (see support/fixtures.hpp for why).
#pragma once

#include <string>  // parameter names
#include <vector>  // the list of names

#include <kexue/nn/module.hpp>

namespace kexue::testing {

/// The dotted names of m's parameters in registration order (PyTorch's order for its layers).
template <class T>
std::vector<std::string> parameter_names(const nn::module<T>& m) {
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) names.push_back(p.first);
  return names;
}

}  // namespace kexue::testing
