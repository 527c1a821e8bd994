// SPDX-License-Identifier: MIT
// Single-header test: compiled with single_include/ as the only kexue include path, so it proves that
// single_include/kexue/kexue.hpp is complete on its own. Extend it as the umbrella grows.
#include <cstring>   // std::strcmp
#include <iostream>  // std::cout

#include <kexue/kexue.hpp>

#ifndef KEXUE_SINGLE_INCLUDE_HPP
#error "this test must see single_include/kexue/kexue.hpp, not include/kexue/kexue.hpp"
#endif

int main() {
  const kexue::shape s{2, 3, 4};
  std::cout << "kexue " << kexue::version_string << " (single header), shape " << kexue::format_shape(s) << " numel "
            << s.numel() << "\n";
  if (std::strcmp(kexue::version_string, KEXUE_EXPECTED_VERSION) != 0) {
    std::cout << "version mismatch: expected " << KEXUE_EXPECTED_VERSION << "\n";
    return 1;
  }
  return kexue::format_shape(s) == "[2, 3, 4]" && s.numel() == 24 ? 0 : 1;
}
