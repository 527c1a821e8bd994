// SPDX-License-Identifier: MIT
// The random seed of the test suites. Every test that draws random numbers seeds its generator with
// kexue_test_seed(): 20261120 by default, or the value of the environment variable KEXUE_TEST_SEED.
// tests/main.cpp prints the seed in use at the start of each run, so a failure can be replayed:
//   KEXUE_TEST_SEED=12345 ./build/tests/test_ops
#pragma once

#include <cstdint>  // std::uint64_t
#include <cstdio>   // std::fprintf
#include <cstdlib>  // std::getenv, std::strtoull, std::abort

inline constexpr std::uint64_t kexue_default_test_seed = 20261120;

/// The seed for this test run (read once; a malformed KEXUE_TEST_SEED aborts with a message).
inline std::uint64_t kexue_test_seed() {
  static const std::uint64_t seed = [] {
    const char* env = std::getenv("KEXUE_TEST_SEED");
    if (env == nullptr || *env == '\0') return kexue_default_test_seed;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(env, &end, 10);
    if (*end != '\0') {
      std::fprintf(stderr, "KEXUE_TEST_SEED must be a non-negative integer (got \"%s\")\n", env);
      std::abort();
    }
    return static_cast<std::uint64_t>(value);
  }();
  return seed;
}
