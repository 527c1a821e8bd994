# SPDX-License-Identifier: MIT
# Build settings for kexue's OWN targets (tests, examples, benchmarks). Nothing here reaches consumers of
# kexue::kexue, and the global CMAKE_CXX_FLAGS are left alone.
#
#   kexue_dev_target(<target> TEST|EXAMPLE|BENCH)
#
#   role     warnings                         -Werror        sanitizers        -march=native  OpenMP
#   TEST     -Wall -Wextra -Wpedantic          KEXUE_WERROR   KEXUE_SANITIZE    KEXUE_NATIVE   if found
#            and KEXUE_TEST_RELEASE_FLAGS (-O1) in Release trees
#   EXAMPLE  -Wall -Wextra -Wpedantic          no             KEXUE_SANITIZE    KEXUE_NATIVE   if found
#   BENCH    -Wall -Wextra -Wpedantic, -O3     no             never             KEXUE_NATIVE   if found
#            and NDEBUG whatever the build type
#
# Eigen and xsimd arrive through imported targets, whose include directories are SYSTEM, so their own
# warnings do not trip -Werror (checked with Eigen 3.4 products, decompositions, array maths and xsimd
# batches under g++ 12 at -O0/-O2/-O3 -march=native and with sanitizers), except for GCC PR 105593 below.
include_guard(GLOBAL)
include(CheckCXXCompilerFlag)
include(CheckCXXSourceCompiles)

if(MSVC)
  set(KEXUE_WARNING_FLAGS /W4)
  set(KEXUE_WERROR_FLAG /WX)
else()
  set(KEXUE_WARNING_FLAGS -Wall -Wextra -Wpedantic)
  set(KEXUE_WERROR_FLAG -Werror)
endif()

set(KEXUE_NATIVE_FLAG "")
if(KEXUE_NATIVE)
  check_cxx_compiler_flag(-march=native KEXUE_COMPILER_HAS_MARCH_NATIVE)
  if(KEXUE_COMPILER_HAS_MARCH_NATIVE)
    set(KEXUE_NATIVE_FLAG -march=native)
  else()
    message(STATUS "kexue: the compiler does not accept -march=native; KEXUE_NATIVE has no effect")
  endif()
endif()

# GCC before 12.3 warns "'__Y' is used uninitialized" / "may be used uninitialized" inside its own
# avx512fintrin.h (the self-initialised _mm512_undefined_* helpers, GCC PR 105593) wherever AVX-512
# intrinsics are inlined: Eigen's product kernels, xsimd's shifts and min/max, so any kernel built with
# -march=native on an AVX-512 machine. Being middle-end warnings they escape the system-header filter and
# nothing in our code can avoid them, so both are off for those compilers when AVX-512 is enabled.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 12.3)
  set(CMAKE_REQUIRED_FLAGS "${KEXUE_NATIVE_FLAG}")
  unset(KEXUE_TARGET_HAS_AVX512F CACHE)  # re-checked each time: depends on KEXUE_NATIVE and CMAKE_CXX_FLAGS
  check_cxx_source_compiles("#ifndef __AVX512F__\n#error no AVX-512\n#endif\nint main() { return 0; }"
                            KEXUE_TARGET_HAS_AVX512F)
  unset(CMAKE_REQUIRED_FLAGS)
  if(KEXUE_TARGET_HAS_AVX512F)
    list(APPEND KEXUE_WARNING_FLAGS -Wno-uninitialized -Wno-maybe-uninitialized)
  endif()
endif()

set(KEXUE_SANITIZE_FLAGS "")
if(KEXUE_SANITIZE)
  set(_kexue_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  set(CMAKE_REQUIRED_FLAGS "${_kexue_san}")
  string(REPLACE ";" " " CMAKE_REQUIRED_FLAGS "${CMAKE_REQUIRED_FLAGS}")
  set(CMAKE_REQUIRED_LINK_OPTIONS ${_kexue_san})
  check_cxx_source_compiles("int main() { return 0; }" KEXUE_COMPILER_HAS_ASAN_UBSAN)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(NOT KEXUE_COMPILER_HAS_ASAN_UBSAN)
    message(FATAL_ERROR "kexue: KEXUE_SANITIZE=ON but the toolchain cannot build with ${_kexue_san}")
  endif()
  set(KEXUE_SANITIZE_FLAGS ${_kexue_san})
endif()

set(KEXUE_OPENMP_TARGET "")
if(KEXUE_WITH_OPENMP)
  find_package(OpenMP COMPONENTS CXX)
  if(OpenMP_CXX_FOUND)
    set(KEXUE_OPENMP_TARGET OpenMP::OpenMP_CXX)
  else()
    message(STATUS "kexue: OpenMP not found; tests, examples and benchmarks run single-threaded")
  endif()
endif()

# Tests in a Release tree are compiled with -O1 instead of the build type's -O3: measured on an nn test file,
# 10.5 s of compiler CPU time instead of 17.8 s, and the suite has ~90 such files. The optimised kernels
# themselves are still exercised at -O3 by the examples and benchmarks, and at -O0 by the sanitizer build.
set(KEXUE_TEST_RELEASE_FLAGS "-O1" CACHE STRING "Compiler flags appended to test targets in Release builds")

function(kexue_dev_target target role)
  if(NOT role MATCHES "^(TEST|EXAMPLE|BENCH)$")
    message(FATAL_ERROR "kexue_dev_target(${target} ${role}): role must be TEST, EXAMPLE or BENCH")
  endif()
  target_compile_options(${target} PRIVATE ${KEXUE_WARNING_FLAGS} ${KEXUE_NATIVE_FLAG})
  if(role STREQUAL "TEST" AND KEXUE_TEST_RELEASE_FLAGS)
    separate_arguments(_release_flags NATIVE_COMMAND "${KEXUE_TEST_RELEASE_FLAGS}")
    target_compile_options(${target} PRIVATE "$<$<CONFIG:Release>:${_release_flags}>")
  endif()
  if(role STREQUAL "TEST" AND KEXUE_WERROR)
    target_compile_options(${target} PRIVATE ${KEXUE_WERROR_FLAG})
  endif()
  if(KEXUE_SANITIZE_FLAGS AND NOT role STREQUAL "BENCH")
    target_compile_options(${target} PRIVATE ${KEXUE_SANITIZE_FLAGS})
    target_link_options(${target} PRIVATE ${KEXUE_SANITIZE_FLAGS})
  endif()
  if(role STREQUAL "BENCH")
    # Appended after the build type's flags, so -O3 wins even in a Debug tree.
    target_compile_options(${target} PRIVATE $<$<NOT:$<CXX_COMPILER_ID:MSVC>>:-O3>)
    target_compile_definitions(${target} PRIVATE NDEBUG)
  endif()
  if(KEXUE_OPENMP_TARGET)
    target_link_libraries(${target} PRIVATE ${KEXUE_OPENMP_TARGET})
  endif()
endfunction()
