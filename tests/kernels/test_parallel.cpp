// SPDX-License-Identifier: MIT
// Tests of kernels/parallel.hpp: the thread-count setting and parallel_for's chunking, nesting and errors.
#include <atomic>     // per-index visit counters
#include <stdexcept>  // std::runtime_error
#include <vector>

#include <doctest/doctest.h>

#include <kexue/kernels/parallel.hpp>

namespace {

/// Sets the thread count for one test and restores the previous value.
struct thread_count_guard {
  explicit thread_count_guard(int n) : saved_(kexue::get_num_threads()) { kexue::set_num_threads(n); }
  ~thread_count_guard() { kexue::set_num_threads(saved_); }
  thread_count_guard(const thread_count_guard&) = delete;
  thread_count_guard& operator=(const thread_count_guard&) = delete;

 private:
  int saved_;
};

/// Runs parallel_for over [begin, end) and checks every index is visited exactly once, by chunks that are
/// contiguous, non-empty and inside the range. Returns the number of chunks.
int count_chunks(kexue::index_t begin, kexue::index_t end, kexue::index_t grain) {
  const kexue::index_t length = end > begin ? end - begin : 0;
  std::vector<std::atomic<int>> visits(static_cast<std::size_t>(length));
  std::atomic<int> chunks{0};
  std::atomic<bool> bad_chunk{false};
  kexue::parallel_for(begin, end, grain, [&](kexue::index_t b, kexue::index_t e) {
    if (b >= e || b < begin || e > end) bad_chunk = true;
    ++chunks;
    for (kexue::index_t i = b; i < e; ++i) ++visits[static_cast<std::size_t>(i - begin)];
  });
  CHECK_FALSE(bad_chunk.load());
  for (kexue::index_t i = 0; i < length; ++i) {
    CAPTURE(i);
    REQUIRE(visits[static_cast<std::size_t>(i)].load() == 1);
  }
  return chunks.load();
}

}  // namespace

TEST_SUITE("kernels.parallel") {
  TEST_CASE("the thread count defaults to at least one and can be set") {
    CHECK(kexue::get_num_threads() >= 1);
    {
      thread_count_guard guard(3);
      CHECK(kexue::get_num_threads() == 3);
    }
    CHECK_THROWS_AS(kexue::set_num_threads(0), kexue::value_error);
    CHECK_THROWS_WITH(kexue::set_num_threads(-2), "set_num_threads: the number of threads must be at least 1, got -2");
  }

  TEST_CASE("parallel_for visits every index exactly once") {
    for (int threads : {1, 2, 3}) {
      thread_count_guard guard(threads);
      CAPTURE(threads);
      CHECK(count_chunks(0, 0, 1) == 0);
      CHECK(count_chunks(5, 3, 1) == 0);
      CHECK(count_chunks(0, 1, 1) == 1);
      CHECK(count_chunks(-7, 100, 1) <= threads);
      CHECK(count_chunks(10, 1000, 16) <= threads);
      CHECK(count_chunks(0, 12345, 1000) <= threads);
    }
  }

  TEST_CASE("parallel_for runs one chunk when the range is within one grain or with one thread") {
    {
      thread_count_guard guard(2);
      CHECK(count_chunks(0, 10, 10) == 1);
      CHECK(count_chunks(0, 10, 100) == 1);
      CHECK(count_chunks(0, 10, 0) <= 2);  // grain below 1 is taken as 1
    }
    thread_count_guard guard(1);
    CHECK(count_chunks(0, 1000, 1) == 1);
  }

#ifdef _OPENMP
  TEST_CASE("parallel_for uses the threads it is given") {
    thread_count_guard guard(2);
    CHECK(count_chunks(0, 1000, 1) == 2);
    CHECK(count_chunks(0, 3, 2) == 2);  // ceil(3 / 2) chunks
  }
#endif

  TEST_CASE("nested parallel_for calls run inline on the calling thread") {
    thread_count_guard guard(2);
    std::atomic<int> inner_chunks{0};
    std::atomic<int> inner_sum{0};
    kexue::parallel_for(0, 2, 1, [&](kexue::index_t b, kexue::index_t e) {
      for (kexue::index_t i = b; i < e; ++i) {
        kexue::parallel_for(0, 100, 1, [&](kexue::index_t ib, kexue::index_t ie) {
          ++inner_chunks;
          for (kexue::index_t j = ib; j < ie; ++j) inner_sum += 1;
        });
      }
    });
    CHECK(inner_sum.load() == 200);
#ifdef _OPENMP
    CHECK(inner_chunks.load() == 2);  // one inline call per outer index
#endif
  }

  TEST_CASE("an exception thrown in a chunk reaches the caller") {
    for (int threads : {1, 2}) {
      thread_count_guard guard(threads);
      CHECK_THROWS_WITH_AS(kexue::parallel_for(0, 100, 1,
                                               [](kexue::index_t b, kexue::index_t e) {
                                                 if (b <= 99 && 99 < e) throw std::runtime_error("chunk failed");
                                               }),
                           "chunk failed", std::runtime_error);
    }
  }
}
