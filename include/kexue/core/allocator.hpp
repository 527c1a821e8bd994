// SPDX-License-Identifier: MIT
// Aligned storage allocation for tensor buffers.
// (First version: plain aligned operator new. To be replaced by a caching allocator, issue 3.)
#pragma once

#include <cstddef>  // std::size_t
#include <new>      // aligned operator new

namespace kexue {

/// Alignment of every tensor buffer, in bytes (a cache line; enough for AVX-512 loads).
inline constexpr std::size_t storage_alignment = 64;

/// Returns `bytes` of storage aligned to `storage_alignment`. Never returns null (throws std::bad_alloc).
inline void* allocate_bytes(std::size_t bytes) {
  return ::operator new(bytes == 0 ? storage_alignment : bytes, std::align_val_t(storage_alignment));
}

/// Returns a block obtained from allocate_bytes with the same `bytes`.
inline void deallocate_bytes(void* p, std::size_t /*bytes*/) noexcept {
  ::operator delete(p, std::align_val_t(storage_alignment));
}

/// Gives cached blocks back to the system (nothing to do without a cache).
inline void release_cached_memory() noexcept {}

}  // namespace kexue
