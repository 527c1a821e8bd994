// SPDX-License-Identifier: MIT
// What every article example shares: the "[--full] [--seed N]" command line and the "claim: ..." lines that
// CTest reads (a FAIL in any claim line, or a non-zero exit, fails the example's test).
#pragma once

#include <cstdint>  // std::uint64_t seeds
#include <cstdio>   // std::printf, std::fprintf
#include <cstdlib>  // std::strtoull
#include <cstring>  // std::strcmp
#include <initializer_list>
#include <string>

namespace kexue_examples {

/// The common options: --full (the longer run) and --seed N.
struct example_options {
  bool full = false;
  std::uint64_t seed = 1;
};

/// An example's own "--flag VALUE" option: the flag, where its value goes, and a usage hint for the value.
struct string_flag {
  const char* flag;
  std::string* value;
  const char* usage;  ///< e.g. "FILE (UTF-8 text)"
};

/// Parses [--full] [--seed N] and the example's own `extra` flags into `options` (whose seed holds the example's
/// default) and the extra flags' strings. Anything else prints the usage to stderr and returns false: the
/// example then exits with status 2.
inline bool parse_options(int argc, char** argv, example_options& options,
                          std::initializer_list<string_flag> extra = {}) {
  for (int i = 1; i < argc; ++i) {
    const string_flag* matched = nullptr;
    for (const auto& f : extra) {
      if (std::strcmp(argv[i], f.flag) == 0 && i + 1 < argc) matched = &f;
    }
    if (matched != nullptr) {
      *matched->value = argv[++i];
    } else if (std::strcmp(argv[i], "--full") == 0) {
      options.full = true;
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--full] [--seed N]", argv[0]);
      for (const auto& f : extra) std::fprintf(stderr, " [%s %s]", f.flag, f.usage);
      std::fprintf(stderr, "\n");
      return false;
    }
  }
  return true;
}

/// Prints "claim: <what>=<value> (expect <expect>) PASS|FAIL" and returns ok.
inline bool claim(const std::string& what, double value, const char* expect, bool ok) {
  std::printf("claim: %s=%.6g (expect %s) %s\n", what.c_str(), value, expect, ok ? "PASS" : "FAIL");
  return ok;
}

}  // namespace kexue_examples
