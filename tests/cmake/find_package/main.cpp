// SPDX-License-Identifier: MIT
// Consumer program: prints the version and a shape through the public umbrella header.
#include <iostream>  // std::cout

#include <kexue/kexue.hpp>

int main() {
  std::cout << "kexue " << kexue::version_string << " shape " << kexue::format_shape(kexue::shape{2, 3}) << "\n";
  return 0;
}
