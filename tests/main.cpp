// SPDX-License-Identifier: MIT
// The one doctest main, compiled once (OBJECT library kexue_test_main) and linked into every test_<subdir>.
// A listener prints the random seed (tests/support/seed.hpp) when a run starts; it stays silent for
// queries such as --list-test-cases, whose output CTest parses to discover the cases.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <iostream>  // std::cout

#include <doctest/doctest.h>

#include "support/seed.hpp"

namespace {

struct seed_listener : doctest::IReporter {
  explicit seed_listener(const doctest::ContextOptions& /*options*/) {}

  void test_run_start() override {
    std::cout << "[kexue] test seed " << kexue_test_seed() << " (set KEXUE_TEST_SEED to change it)" << std::endl;
  }
  void report_query(const doctest::QueryData& /*data*/) override {}
  void test_run_end(const doctest::TestRunStats& /*stats*/) override {}
  void test_case_start(const doctest::TestCaseData& /*data*/) override {}
  void test_case_reenter(const doctest::TestCaseData& /*data*/) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& /*stats*/) override {}
  void test_case_exception(const doctest::TestCaseException& /*exception*/) override {}
  void subcase_start(const doctest::SubcaseSignature& /*signature*/) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& /*data*/) override {}
  void log_message(const doctest::MessageData& /*data*/) override {}
  void test_case_skipped(const doctest::TestCaseData& /*data*/) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("kexue_seed", 0, seed_listener);
