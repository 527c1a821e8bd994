// SPDX-License-Identifier: MIT
// ODR test, translation unit 2 of 2: the same header set as odr_a.cpp, the same computation.
#include <string>

#include <kexue/kexue.hpp>

std::string kexue_odr_b() { return std::string(kexue::version_string) + " " + kexue::format_shape(kexue::shape{2, 3}); }
