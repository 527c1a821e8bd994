// SPDX-License-Identifier: MIT
// kexue version numbers; CMake parses the three macros below.
#pragma once

#define KEXUE_VERSION_MAJOR 0
#define KEXUE_VERSION_MINOR 1
#define KEXUE_VERSION_PATCH 0

namespace kexue {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace kexue
