// SPDX-License-Identifier: MIT
// Tests of core/allocator.hpp: alignment, size classes, reuse, statistics, release, cache limit, threads.
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uintptr_t, std::uint64_t
#include <cstring>  // std::memset
#include <random>   // std::mt19937_64 for the thread hammer
#include <thread>
#include <utility>  // std::pair
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/allocator.hpp>

#include "support/seed.hpp"

namespace {

bool is_aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kexue::storage_alignment == 0; }

/// Restores the cache limit after a test that changes it.
struct cache_limit_guard {
  cache_limit_guard() : saved_(kexue::allocator_cache_limit()) {}
  ~cache_limit_guard() { kexue::set_allocator_cache_limit(saved_); }
  cache_limit_guard(const cache_limit_guard&) = delete;
  cache_limit_guard& operator=(const cache_limit_guard&) = delete;

 private:
  std::size_t saved_;
};

/// Frees its block during static destruction, after main returns, as a tensor with static storage duration
/// would: the allocator must still be usable then (a crash, or an AddressSanitizer report, fails the run).
struct freed_at_exit {
  void* block = nullptr;
  ~freed_at_exit() { kexue::deallocate_bytes(block, 1000); }
};
freed_at_exit late_free;

}  // namespace

TEST_SUITE("core.allocator") {
  TEST_CASE("blocks can be freed during static destruction") {
    late_free.block = kexue::allocate_bytes(1000);  // freed by ~freed_at_exit after main
    CHECK(late_free.block != nullptr);
  }

  TEST_CASE("blocks are aligned to storage_alignment and writable over their whole size") {
    for (std::size_t bytes : {std::size_t(0), std::size_t(1), std::size_t(63), std::size_t(64), std::size_t(65),
                              std::size_t(4096), std::size_t(4097), std::size_t(100000), std::size_t(3) << 20}) {
      CAPTURE(bytes);
      void* p = kexue::allocate_bytes(bytes);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p));
      std::memset(p, 0xab, bytes);
      kexue::deallocate_bytes(p, bytes);
    }
    kexue::deallocate_bytes(nullptr, 16);  // ignored
  }

  TEST_CASE("size classes are multiples of 64 up to 4 KiB and quarter powers of two above") {
    CHECK(kexue::allocator_block_size(0) == 64);
    CHECK(kexue::allocator_block_size(1) == 64);
    CHECK(kexue::allocator_block_size(64) == 64);
    CHECK(kexue::allocator_block_size(65) == 128);
    CHECK(kexue::allocator_block_size(4096) == 4096);
    CHECK(kexue::allocator_block_size(4097) == 5120);
    CHECK(kexue::allocator_block_size(6000) == 6144);
    CHECK(kexue::allocator_block_size(8192) == 8192);
    CHECK(kexue::allocator_block_size(8193) == 10240);
    CHECK(kexue::allocator_block_size(std::size_t(1) << 30) == std::size_t(1) << 30);
    CHECK(kexue::allocator_block_size((std::size_t(1) << 30) + 1) == (std::size_t(5) << 28));
    // Every request fits its class, classes grow with the request, and slack stays under 25% above 4 KiB.
    std::size_t previous = 0;
    for (std::size_t bytes = 1; bytes < (std::size_t(1) << 24); bytes = bytes * 9 / 8 + 1) {
      const std::size_t size = kexue::allocator_block_size(bytes);
      CAPTURE(bytes);
      REQUIRE(size >= bytes);
      REQUIRE(size >= previous);
      REQUIRE(size % 64 == 0);
      if (bytes > 4096) REQUIRE(double(size) <= 1.25 * double(bytes));
      previous = size;
    }
  }

  TEST_CASE("a freed block is reused by the next allocation of its size class") {
    kexue::release_cached_memory();
    const kexue::allocator_stats before = kexue::allocator_statistics();
    void* p = kexue::allocate_bytes(1000);
    kexue::deallocate_bytes(p, 1000);
    void* q = kexue::allocate_bytes(1010);  // same 1024-byte class
    CHECK(q == p);
    void* r = kexue::allocate_bytes(1000);  // the cached block is taken: a new one
    CHECK(r != q);
    const kexue::allocator_stats after = kexue::allocator_statistics();
    CHECK(after.hits == before.hits + 1);
    CHECK(after.misses == before.misses + 2);
    kexue::deallocate_bytes(q, 1010);
    kexue::deallocate_bytes(r, 1000);

    // Large blocks, where the system would otherwise unmap and fault in fresh pages.
    const std::size_t big = std::size_t(48) << 20;
    void* b1 = kexue::allocate_bytes(big);
    kexue::deallocate_bytes(b1, big);
    void* b2 = kexue::allocate_bytes(big - 1000);
    CHECK(b2 == b1);
    kexue::deallocate_bytes(b2, big - 1000);
    kexue::release_cached_memory();
  }

  TEST_CASE("statistics count bytes in use, cached bytes, hits and misses") {
    kexue::release_cached_memory();
    const kexue::allocator_stats s0 = kexue::allocator_statistics();
    CHECK(s0.bytes_cached == 0);
    void* p = kexue::allocate_bytes(5500);  // 6144-byte class
    const kexue::allocator_stats s1 = kexue::allocator_statistics();
    CHECK(s1.bytes_in_use == s0.bytes_in_use + 6144);
    CHECK(s1.peak_bytes_in_use >= s1.bytes_in_use);
    CHECK(s1.misses == s0.misses + 1);
    kexue::deallocate_bytes(p, 5500);
    const kexue::allocator_stats s2 = kexue::allocator_statistics();
    CHECK(s2.bytes_in_use == s0.bytes_in_use);
    CHECK(s2.bytes_cached == 6144);
    kexue::release_cached_memory();
    CHECK(kexue::allocator_statistics().bytes_cached == 0);
  }

  TEST_CASE("release_cached_memory and the cache limit give blocks back to the system") {
    cache_limit_guard guard;
    kexue::release_cached_memory();
    std::vector<void*> blocks;
    for (int i = 0; i < 8; ++i) blocks.push_back(kexue::allocate_bytes(std::size_t(1) << 16));
    for (void* p : blocks) kexue::deallocate_bytes(p, std::size_t(1) << 16);
    CHECK(kexue::allocator_statistics().bytes_cached == 8u << 16);

    kexue::set_allocator_cache_limit(std::size_t(3) << 16);  // trims at once
    CHECK(kexue::allocator_cache_limit() == std::size_t(3) << 16);
    CHECK(kexue::allocator_statistics().bytes_cached <= std::size_t(3) << 16);

    kexue::set_allocator_cache_limit(0);  // caching off: every free goes to the system
    CHECK(kexue::allocator_statistics().bytes_cached == 0);
    void* p = kexue::allocate_bytes(100);
    kexue::deallocate_bytes(p, 100);
    CHECK(kexue::allocator_statistics().bytes_cached == 0);
  }

  TEST_CASE("threads allocating and freeing at once keep every block intact") {
    kexue::release_cached_memory();
    const kexue::allocator_stats before = kexue::allocator_statistics();
    constexpr int threads = 4;
    constexpr int rounds = 3000;
    std::vector<std::thread> workers;
    std::vector<int> corrupted(threads, 0);
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([t, &corrupted] {
        std::mt19937_64 gen(kexue_test_seed() + static_cast<std::uint64_t>(t));
        std::vector<std::pair<unsigned char*, std::size_t>> live;
        for (int round = 0; round < rounds; ++round) {
          if (live.size() < 16 && (live.empty() || gen() % 2 == 0)) {
            const std::size_t bytes = 1 + gen() % 20000;
            auto* p = static_cast<unsigned char*>(kexue::allocate_bytes(bytes));
            std::memset(p, t + 1, bytes);  // this thread's mark over the whole block
            live.emplace_back(p, bytes);
          } else {
            const std::size_t i = gen() % live.size();
            auto [p, bytes] = live[i];
            for (std::size_t j = 0; j < bytes; j += 97) corrupted[t] += p[j] != t + 1;
            corrupted[t] += p[bytes - 1] != t + 1;
            kexue::deallocate_bytes(p, bytes);
            live[i] = live.back();
            live.pop_back();
          }
        }
        for (auto [p, bytes] : live) kexue::deallocate_bytes(p, bytes);
      });
    }
    for (auto& worker : workers) worker.join();
    for (int t = 0; t < threads; ++t) CHECK(corrupted[t] == 0);
    const kexue::allocator_stats after = kexue::allocator_statistics();
    CHECK(after.bytes_in_use == before.bytes_in_use);
    CHECK(after.hits > before.hits);  // blocks did get reused across rounds
    kexue::release_cached_memory();
  }
}
