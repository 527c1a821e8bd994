// SPDX-License-Identifier: MIT
// ODR test, translation unit 1 of 2 (with main). Both units include the umbrella; if any function or
// variable defined in a header is not inline, constexpr or a template, linking fails with a duplicate
// symbol. Both units must also agree on the values they compute.
#include <iostream>  // std::cout
#include <string>

#include <kexue/kexue.hpp>

std::string kexue_odr_b();  // odr_b.cpp

static std::string kexue_odr_a() {
  return std::string(kexue::version_string) + " " + kexue::format_shape(kexue::shape{2, 3});
}

int main() {
  const std::string a = kexue_odr_a();
  const std::string b = kexue_odr_b();
  std::cout << "odr: a=\"" << a << "\" b=\"" << b << "\"\n";
  return a == b ? 0 : 1;
}
