// SPDX-License-Identifier: MIT
// The one place that includes xsimd. Kernels include this header and use xsimd names only inside
// `#if KEXUE_USE_XSIMD` blocks, each with a scalar path beside it.
#pragma once

#include <cstddef>  // std::size_t

#include <kexue/config.hpp>

#if KEXUE_USE_XSIMD
#include <xsimd/xsimd.hpp>
#endif

namespace kexue::simd {

#if KEXUE_USE_XSIMD
/// The instruction set the translation unit was compiled for (best available with -march flags).
using default_arch = xsimd::default_arch;
/// A register of T for the default architecture.
template <class T>
using batch = xsimd::batch<T, default_arch>;
/// Number of T in one register of the default architecture.
template <class T>
inline constexpr std::size_t width = batch<T>::size;
/// Name of the instruction set in use, for benchmark reports.
inline const char* arch_name() { return default_arch::name(); }
#else
template <class T>
inline constexpr std::size_t width = 1;
inline const char* arch_name() { return "scalar"; }
#endif

}  // namespace kexue::simd
