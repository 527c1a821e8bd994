// SPDX-License-Identifier: MIT
// Feature switches. Define them before including kexue, or through the CMake options.
#pragma once

// KEXUE_USE_XSIMD (default 1): SIMD kernels through xsimd. 0 selects the scalar reference kernels.
#ifndef KEXUE_USE_XSIMD
#define KEXUE_USE_XSIMD 1
#endif

// KEXUE_NO_EXCEPTIONS: errors print their message to stderr and abort instead of throwing.
// KEXUE_ENABLE_ASSERT: turns on KEXUE_ASSERT (inner-loop checks) in release builds too.
#if !defined(NDEBUG) && !defined(KEXUE_ENABLE_ASSERT)
#define KEXUE_ENABLE_ASSERT 1
#endif
