// SPDX-License-Identifier: MIT
// Caching, aligned storage allocator for tensor buffers: freed blocks are kept by size class and reused.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <cstdlib>  // std::atexit (sanitizer builds)
#include <mutex>    // the cache lock
#include <new>      // aligned operator new, std::bad_alloc

#if defined(__SANITIZE_ADDRESS__)
#define KEXUE_ALLOCATOR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEXUE_ALLOCATOR_ASAN 1
#endif
#endif
#ifdef KEXUE_ALLOCATOR_ASAN
#include <sanitizer/asan_interface.h>  // cached blocks are poisoned, so use-after-free is still caught
#endif

namespace kexue {

/// Alignment of every tensor buffer, in bytes (a cache line; enough for AVX-512 loads).
inline constexpr std::size_t storage_alignment = 64;

/// @brief Returns storage for `bytes` bytes (any size, 0 included) aligned to `storage_alignment`.
/// @details The block comes from the cache when one of the same size class was freed earlier (a hit),
///          otherwise from the system (a miss). Size classes: multiples of 64 bytes up to 4 KiB, then four
///          classes per power of two (2^e * {1.25, 1.5, 1.75, 2}), so at most 25% of a block is slack.
///          Thread-safe. Never returns null: throws std::bad_alloc if the system has no memory even after
///          the cache was released.
inline void* allocate_bytes(std::size_t bytes);

/// @brief Returns a block obtained from allocate_bytes with the same `bytes` (null is ignored).
/// @details The block goes to the cache for reuse unless that would take the cached bytes above the cache
///          limit, in which case it goes back to the system. Thread-safe; valid at any time, including during
///          static destruction at exit (the cache is never destroyed).
inline void deallocate_bytes(void* p, std::size_t bytes) noexcept;

/// @brief Gives every cached (free) block back to the system. Blocks in use are not affected.
inline void release_cached_memory() noexcept;

/// @brief Sets the most bytes the cache keeps (default 1 GiB); 0 disables caching. Trims the cache at once if
///        it holds more.
inline void set_allocator_cache_limit(std::size_t bytes) noexcept;

/// @brief The current cache limit in bytes.
inline std::size_t allocator_cache_limit() noexcept;

/// Counters of the storage allocator, in bytes of whole size-class blocks.
struct allocator_stats {
  std::size_t bytes_in_use = 0;       ///< handed out and not yet returned
  std::size_t peak_bytes_in_use = 0;  ///< the largest bytes_in_use seen
  std::size_t bytes_cached = 0;       ///< free blocks held for reuse
  std::uint64_t hits = 0;             ///< allocations served from the cache
  std::uint64_t misses = 0;           ///< allocations that went to the system
};

/// @brief A consistent snapshot of the allocator's counters.
inline allocator_stats allocator_statistics() noexcept;

/// @brief The size of the block allocate_bytes(bytes) really reserves (its size class).
inline std::size_t allocator_block_size(std::size_t bytes) noexcept;

// ~~~ implementation ~~~

namespace detail {

inline constexpr std::size_t allocator_small_limit = 4096;  // exact multiples of 64 up to here
inline constexpr int allocator_small_classes = static_cast<int>(allocator_small_limit / 64);
inline constexpr int allocator_min_exponent = 12;  // 2^12 = allocator_small_limit
inline constexpr int allocator_max_exponent = 44;  // blocks above 16 TiB are never cached
inline constexpr int allocator_class_count =
    allocator_small_classes + 4 * (allocator_max_exponent - allocator_min_exponent);

inline int floor_log2(std::size_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return 63 - __builtin_clzll(static_cast<unsigned long long>(x));
#else
  int e = 0;
  while (x >>= 1) ++e;
  return e;
#endif
}

/// Size class of a request: an index in [0, allocator_class_count), or -1 for a block too large to cache.
inline int allocator_class_of(std::size_t bytes) noexcept {
  if (bytes <= allocator_small_limit) return bytes == 0 ? 0 : static_cast<int>((bytes + 63) / 64) - 1;
  // bytes in (2^e, 2^(e+1)]: classes 2^e + q * 2^(e-2), q = 1..4.
  const int e = floor_log2(bytes - 1);
  if (e >= allocator_max_exponent) return -1;
  const std::size_t base = std::size_t(1) << e, quarter = base >> 2;
  const std::size_t q = (bytes - base + quarter - 1) / quarter;
  return allocator_small_classes + 4 * (e - allocator_min_exponent) + static_cast<int>(q) - 1;
}

inline std::size_t allocator_class_size(int index) noexcept {
  if (index < allocator_small_classes) return std::size_t(index + 1) * 64;
  const int e = allocator_min_exponent + (index - allocator_small_classes) / 4;
  const std::size_t q = std::size_t((index - allocator_small_classes) % 4 + 1);
  return (std::size_t(1) << e) + q * (std::size_t(1) << (e - 2));
}

inline void allocator_poison(void* p, std::size_t bytes) noexcept {
#ifdef KEXUE_ALLOCATOR_ASAN
  ASAN_POISON_MEMORY_REGION(p, bytes);
#else
  (void)p;
  (void)bytes;
#endif
}

inline void allocator_unpoison(void* p, std::size_t bytes) noexcept {
#ifdef KEXUE_ALLOCATOR_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, bytes);
#else
  (void)p;
  (void)bytes;
#endif
}

inline void* system_allocate(std::size_t bytes) { return ::operator new(bytes, std::align_val_t(storage_alignment)); }
inline void system_deallocate(void* p) noexcept { ::operator delete(p, std::align_val_t(storage_alignment)); }

/// A cached block stores the link to the next free block of its class in its own first bytes.
struct free_block {
  free_block* next;
};

/// The cache. Created on first use and never destroyed, so frees that happen during static destruction
/// (tensors with static storage duration) still find it; its blocks stay reachable, so leak checkers do
/// not report them.
struct allocator_state {
  std::mutex mutex;
  free_block* heads[allocator_class_count] = {};
  std::size_t cache_limit = std::size_t(1) << 30;
  allocator_stats stats;

  /// Pops a block of class `index`, or returns null. Caller holds the lock.
  void* pop(int index) noexcept {
    free_block* block = heads[index];
    if (!block) return nullptr;
    const std::size_t size = allocator_class_size(index);
    allocator_unpoison(block, size);
    heads[index] = block->next;
    stats.bytes_cached -= size;
    return block;
  }

  /// Frees cached blocks, largest classes first, until at most `target` bytes stay cached. Caller holds the lock.
  void trim(std::size_t target) noexcept {
    for (int index = allocator_class_count - 1; index >= 0 && stats.bytes_cached > target; --index) {
      while (heads[index] && stats.bytes_cached > target) system_deallocate(pop(index));
    }
  }
};

inline allocator_state& allocator_instance() noexcept {
  static allocator_state* const state = [] {
    auto* created = new allocator_state();
#ifdef KEXUE_ALLOCATOR_ASAN
    // Cached blocks are poisoned and chained through their own first bytes, so LeakSanitizer cannot see that
    // the cache still reaches them and would report each as a leak. LeakSanitizer checks in an exit handler
    // registered at start-up; handlers run in reverse order, so this one empties the cache before the check.
    std::atexit([] { release_cached_memory(); });
#endif
    return created;
  }();
  return *state;
}

inline void note_allocation(allocator_stats& stats, std::size_t size) noexcept {
  stats.bytes_in_use += size;
  if (stats.bytes_in_use > stats.peak_bytes_in_use) stats.peak_bytes_in_use = stats.bytes_in_use;
}

}  // namespace detail

inline std::size_t allocator_block_size(std::size_t bytes) noexcept {
  const int index = detail::allocator_class_of(bytes);
  return index < 0 ? bytes : detail::allocator_class_size(index);
}

inline void* allocate_bytes(std::size_t bytes) {
  detail::allocator_state& state = detail::allocator_instance();
  const int index = detail::allocator_class_of(bytes);
  const std::size_t size = index < 0 ? bytes : detail::allocator_class_size(index);
  if (index >= 0) {
    std::lock_guard<std::mutex> lock(state.mutex);
    if (void* p = state.pop(index)) {
      ++state.stats.hits;
      detail::note_allocation(state.stats, size);
      detail::allocator_poison(static_cast<char*>(p) + bytes, size - bytes);  // slack of the class
      return p;
    }
  }
  void* p = nullptr;
  try {
    p = detail::system_allocate(size);
  } catch (const std::bad_alloc&) {
    release_cached_memory();  // the memory may be sitting in other size classes
    p = detail::system_allocate(size);
  }
  detail::allocator_poison(static_cast<char*>(p) + bytes, size - bytes);
  std::lock_guard<std::mutex> lock(state.mutex);
  ++state.stats.misses;
  detail::note_allocation(state.stats, size);
  return p;
}

inline void deallocate_bytes(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  detail::allocator_state& state = detail::allocator_instance();
  const int index = detail::allocator_class_of(bytes);
  const std::size_t size = index < 0 ? bytes : detail::allocator_class_size(index);
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    state.stats.bytes_in_use -= size;
    if (index >= 0 && state.stats.bytes_cached + size <= state.cache_limit) {
      detail::allocator_unpoison(p, sizeof(detail::free_block));
      auto* block = static_cast<detail::free_block*>(p);
      block->next = state.heads[index];
      state.heads[index] = block;
      state.stats.bytes_cached += size;
      detail::allocator_poison(p, size);
      return;
    }
  }
  detail::allocator_unpoison(p, size);  // the class slack was poisoned at allocation
  detail::system_deallocate(p);
}

inline void release_cached_memory() noexcept {
  detail::allocator_state& state = detail::allocator_instance();
  std::lock_guard<std::mutex> lock(state.mutex);
  state.trim(0);
}

inline void set_allocator_cache_limit(std::size_t bytes) noexcept {
  detail::allocator_state& state = detail::allocator_instance();
  std::lock_guard<std::mutex> lock(state.mutex);
  state.cache_limit = bytes;
  state.trim(bytes);
}

inline std::size_t allocator_cache_limit() noexcept {
  detail::allocator_state& state = detail::allocator_instance();
  std::lock_guard<std::mutex> lock(state.mutex);
  return state.cache_limit;
}

inline allocator_stats allocator_statistics() noexcept {
  detail::allocator_state& state = detail::allocator_instance();
  std::lock_guard<std::mutex> lock(state.mutex);
  return state.stats;
}

}  // namespace kexue
