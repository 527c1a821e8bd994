// SPDX-License-Identifier: MIT
// General matrix product C = alpha op(A) op(B) + beta C: packed, cache-blocked, SIMD, multi-threaded.
#pragma once

#include <algorithm>  // std::min, std::max
#include <cstddef>    // std::size_t
#include <memory>     // std::shared_ptr: the storage of packed_b
#include <new>        // aligned operator new for the packing buffers

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // sysconf: cache sizes
#endif

#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>  // index_t
#include <kexue/kernels/gemm_microkernel.hpp>
#include <kexue/kernels/gemm_pack.hpp>
#include <kexue/kernels/parallel.hpp>

namespace kexue::kernels {

/// @brief Row-major GEMM: C = act(alpha op(A) op(B) + beta C + bias), for T in {float, double}.
/// @param trans_a  op(A) = A^T: A is stored k x m (row stride lda >= m); otherwise m x k (lda >= k)
/// @param trans_b  op(B) = B^T: B is stored n x k (row stride ldb >= k); otherwise k x n (ldb >= n)
/// @param m, n, k  op(A) is m x k, op(B) is k x n, C is m x n (row stride ldc >= n); each >= 0
/// @param alpha, beta scalars. As in BLAS, beta == 0 ignores C's old contents (NaN or Inf in C does not
///                 propagate) and alpha == 0 (or k == 0) skips the product, so A and B are not read.
/// @param epilogue optional bias and activation fused into the write-back (see gemm_epilogue).
/// @details No alignment is required of a, b, c or the strides. C must not overlap A or B. Runs on up to
///          get_num_threads() threads (inline inside a parallel region); problems too small to gain from
///          threads run on the calling thread. Results do not depend on the thread count: every element
///          of C is summed in the same order. Throws shape_error for negative sizes or short strides.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue = {});

/// @brief The scalar twin of gemm: the plain triple loop, same arguments and contracts, for tests and
///        benchmarks. Sums over k in order, in T.
template <class T>
void gemm_reference(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                    const T* b, index_t ldb, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue = {});

/// @brief `batch` independent products C_i = act(alpha op(A_i) op(B_i) + beta C_i + bias), i < batch,
///        with A_i = a + i * stride_a, B_i = b + i * stride_b, C_i = c + i * stride_c (strides in elements).
/// @details Same per-matrix contracts as gemm. stride_a or stride_b may be 0 to share one matrix across the
///          batch; the C_i must not overlap (stride_c >= (m - 1) * ldc + n when batch > 1). Parallel over the
///          batch when it has enough items for the threads, otherwise each product is threaded itself.
template <class T>
void gemm_batched(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                  const T* b, index_t ldb, T beta, T* c, index_t ldc, index_t batch, index_t stride_a, index_t stride_b,
                  index_t stride_c, const gemm_epilogue<T>& epilogue = {});

/// @brief op(B) packed once, in the layout gemm's micro-kernel reads, for products that reuse the same B
///        many times (the hidden-to-hidden weights of a recurrent layer at every time step, a frozen layer's
///        weights): gemm_packed then skips the packing gemm does on every call.
/// @details Built from the same arguments as gemm's B: op(B) is k x n; with trans_b, B is stored n x k (row
///          stride ldb >= k), otherwise k x n (ldb >= n). The packed copy holds round_up(n, nr) x k values
///          (zero-padded columns), is independent of B afterwards (B may change or be freed), and is
///          immutable: copies share it, and any number of threads may multiply by it at once. The layout
///          depends on the build (tile) and on the machine's cache sizes (depth blocking), so a packed_b is
///          not meant to be stored or sent elsewhere. Throws shape_error for negative sizes or a short ldb.
template <class T>
class packed_b {
 public:
  /// An empty operand (k = n = 0).
  packed_b() = default;
  packed_b(bool trans_b, index_t k, index_t n, const T* b, index_t ldb);

  /// Rows of op(B) (the depth of the product).
  index_t k() const noexcept { return k_; }
  /// Columns of op(B) (and of C).
  index_t n() const noexcept { return n_; }

  /// Implementation: the packed blocks. Depth block q (rows q * block_depth() .. of op(B)) starts at
  /// data() + q * block_stride() and holds ceil(n / nr) panels of d x nr values (d its depth), as
  /// detail::gemm_pack_b writes them.
  const T* data() const noexcept { return data_.get(); }
  index_t block_depth() const noexcept { return block_depth_; }
  index_t block_stride() const noexcept { return block_stride_; }

 private:
  std::shared_ptr<T> data_;
  index_t k_ = 0, n_ = 0, block_depth_ = 0, block_stride_ = 0;
};

/// @brief C = act(alpha op(A) B + beta C + bias) with B packed beforehand: the same result as
///        gemm(trans_a, trans_b, m, b.n(), b.k(), alpha, a, lda, <the B b was packed from>, ldb, beta, c, ldc,
///        epilogue), bit for bit, without packing B again.
/// @param trans_a  op(A) = A^T: A is stored k x m (row stride lda >= m); otherwise m x k (lda >= k), k = b.k()
/// @param m        rows of op(A) and C (>= 0); C is m x b.n() with row stride ldc >= b.n()
/// @details Same contracts as gemm for alpha, beta (beta == 0 ignores C), the epilogue, threads (results do
///          not depend on the thread count) and alignment. Throws shape_error for a negative m or short
///          strides.
template <class T>
void gemm_packed(bool trans_a, index_t m, T alpha, const T* a, index_t lda, const packed_b<T>& b, T beta, T* c,
                 index_t ldc, const gemm_epilogue<T>& epilogue = {});

/// @brief Cache blocking of the packed GEMM: op(A) is packed in panels of mc x kc, op(B) in blocks of kc x nc.
struct gemm_blocking {
  index_t mc;
  index_t kc;
  index_t nc;
};

/// @brief The blocking used for T, derived once from the cache sizes the OS reports (L1 holds an mr x kc
///        micro-panel of A and a kc x nr one of B, L2 a kc x nc block of B, L3 an mc x kc panel of A) and
///        rounded to the register tile.
template <class T>
const gemm_blocking& gemm_blocking_for() noexcept;

// ~~~ implementation: checks and reference ~~~

namespace detail {

inline void gemm_check_arguments(const char* op, bool trans_a, bool trans_b, index_t m, index_t n, index_t k,
                                 index_t lda, index_t ldb, index_t ldc) {
  KEXUE_CHECK(m >= 0 && n >= 0 && k >= 0, shape_error, op, "negative size (m ", m, ", n ", n, ", k ", k, ")");
  const index_t a_row = trans_a ? m : k;
  const index_t b_row = trans_b ? k : n;
  KEXUE_CHECK(lda >= std::max<index_t>(1, a_row), shape_error, op, "lda ", lda, " is smaller than the row length ",
              a_row, " of A (m ", m, ", k ", k, ", trans_a ", trans_a ? "true" : "false", ")");
  KEXUE_CHECK(ldb >= std::max<index_t>(1, b_row), shape_error, op, "ldb ", ldb, " is smaller than the row length ",
              b_row, " of B (k ", k, ", n ", n, ", trans_b ", trans_b ? "true" : "false", ")");
  KEXUE_CHECK(ldc >= std::max<index_t>(1, n), shape_error, op, "ldc ", ldc, " is smaller than the row length ", n,
              " of C (m ", m, ", n ", n, ")");
}

template <class T>
T gemm_apply_activation(T x, gemm_activation activation) noexcept {
  return activation == gemm_activation::relu && x < T(0) ? T(0) : x;
}

template <class T>
void gemm_apply_custom(const gemm_epilogue<T>& epilogue, T* c, index_t ldc, index_t rows, index_t cols) {
  if (epilogue.activation != gemm_activation::custom || !epilogue.custom || cols == 0) return;
  for (index_t i = 0; i < rows; ++i) epilogue.custom(c + i * ldc, cols);
}

/// C = act(beta C + bias): the whole of gemm when the product vanishes (alpha == 0 or k == 0).
template <class T>
void gemm_scale_only(index_t m, index_t n, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue) {
  for (index_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    for (index_t j = 0; j < n; ++j) {
      T v = beta == T(0) ? T(0) : beta * row[j];
      if (epilogue.bias) v += epilogue.bias[j];
      row[j] = gemm_apply_activation(v, epilogue.activation);
    }
  }
  gemm_apply_custom(epilogue, c, ldc, m, n);
}

}  // namespace detail

template <class T>
void gemm_reference(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                    const T* b, index_t ldb, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue) {
  detail::gemm_check_arguments("gemm_reference", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (alpha == T(0) || k == 0) {
    detail::gemm_scale_only(m, n, beta, c, ldc, epilogue);
    return;
  }
  for (index_t i = 0; i < m; ++i) {
    for (index_t j = 0; j < n; ++j) {
      T sum = T(0);
      for (index_t p = 0; p < k; ++p) {
        const T x = trans_a ? a[p * lda + i] : a[i * lda + p];
        const T y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += x * y;
      }
      T v = alpha * sum;
      if (beta != T(0)) v += beta * c[i * ldc + j];
      if (epilogue.bias) v += epilogue.bias[j];
      c[i * ldc + j] = detail::gemm_apply_activation(v, epilogue.activation);
    }
  }
  detail::gemm_apply_custom(epilogue, c, ldc, m, n);
}

// ~~~ implementation: blocking and packing buffers ~~~

namespace detail {

/// Size of the level-1 (data), 2 or 3 cache as the OS reports it, with a fallback. Slow (a system call or
/// CPUID): call once.
inline index_t query_cache_bytes(int level) noexcept {
  long bytes = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  bytes = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
#endif
  if (bytes > 0) return bytes;
  return level == 1 ? (32 << 10) : level == 2 ? (512 << 10) : (8 << 20);  // a common desktop core
}

/// Cached query_cache_bytes.
inline index_t gemm_cache_bytes(int level) noexcept {
  static const index_t sizes[3] = {query_cache_bytes(1), query_cache_bytes(2), query_cache_bytes(3)};
  return sizes[level - 1];
}

inline index_t round_down_to(index_t x, index_t multiple) noexcept {
  return std::max(multiple, x / multiple * multiple);
}
inline index_t round_up_to(index_t x, index_t multiple) noexcept { return (x + multiple - 1) / multiple * multiple; }
inline index_t ceil_div(index_t x, index_t y) noexcept { return (x + y - 1) / y; }

/// Block size that splits `total` into equal blocks of at most `limit`, rounded up to `multiple` (no
/// division in the common case of a single block).
inline index_t even_block(index_t total, index_t limit, index_t multiple) noexcept {
  if (total <= limit) return round_up_to(total, multiple);
  return round_up_to(ceil_div(total, ceil_div(total, limit)), multiple);
}

template <class T>
gemm_blocking compute_gemm_blocking() noexcept {
  using config = gemm_config<T>;
  const index_t l1 = std::clamp<index_t>(gemm_cache_bytes(1), 16 << 10, 1 << 20);
  const index_t l2 = std::clamp<index_t>(gemm_cache_bytes(2), 128 << 10, 16 << 20);
  const index_t l3 = std::clamp<index_t>(gemm_cache_bytes(3), 1 << 20, 64 << 20);
  gemm_blocking blocking{};
  // One kernel call reads an mr x kc micro-panel of A (kept in L1 across the row of tiles) and streams a
  // kc x nr micro-panel of B through L1: together about one L1 (measured best on a 48 KiB L1: kc 256 over
  // 208 at 3/4 of L1; larger kc also means fewer passes over C).
  blocking.kc = std::clamp<index_t>(round_down_to(l1 / ((config::mr + config::nr) * index_t(sizeof(T))), 64), 64, 1024);
  // The kc x nc block of B is re-read from L2 by every micro-panel of A: a quarter of L2, which leaves room
  // for the A panel, the C tiles and the next block's source rows as the packing routine reads them.
  blocking.nc =
      std::clamp<index_t>(round_down_to(l2 / 4 / (blocking.kc * index_t(sizeof(T))), config::nr), config::nr, 8192);
  // The mc x kc panel of A is read once per block of B, from L3.
  blocking.mc =
      std::clamp<index_t>(round_down_to(l3 / 8 / (blocking.kc * index_t(sizeof(T))), config::mr), config::mr, 4096);
  return blocking;
}

/// Per-thread packing buffers, grown on demand and kept for the thread's lifetime (no malloc per call).
template <class T>
struct gemm_workspace {
  T* a = nullptr;
  std::size_t a_size = 0;
  T* b = nullptr;
  std::size_t b_size = 0;

  static T* grow(T*& p, std::size_t& size, std::size_t wanted) {
    if (wanted > size) {
      release(p);
      p = static_cast<T*>(::operator new(wanted * sizeof(T), std::align_val_t(64)));
      size = wanted;
    }
    return p;
  }
  static void release(T*& p) noexcept {
    if (p) ::operator delete(p, std::align_val_t(64));
    p = nullptr;
  }
  gemm_workspace() = default;
  gemm_workspace(const gemm_workspace&) = delete;
  gemm_workspace& operator=(const gemm_workspace&) = delete;
  ~gemm_workspace() {
    release(a);
    release(b);
  }
};

template <class T>
gemm_workspace<T>& thread_gemm_workspace() noexcept {
  static thread_local gemm_workspace<T> workspace;
  return workspace;
}

}  // namespace detail

template <class T>
const gemm_blocking& gemm_blocking_for() noexcept {
  static const gemm_blocking blocking = detail::compute_gemm_blocking<T>();
  return blocking;
}

// ~~~ implementation: the blocked product on one thread ~~~

namespace detail {

/// @brief Spreads software prefetches of a 2-D strided region (the next block of A or B to be packed, or the
///        rows of A the next micro-panel reads in place) over the kernel calls of the current block, so that
///        reading it from L3 or memory overlaps with arithmetic instead of stalling the packing routine. Lines
///        go to L2; with `for_write`, in the exclusive state (a region about to be overwritten: its stores then
///        do not wait for the line).
struct gemm_prefetcher {
  const char* row = nullptr;
  bool for_write = false;
  index_t stride = 0;     // bytes between rows
  index_t row_bytes = 0;  // bytes per row
  index_t rows = 0;       // rows left
  index_t offset = 0;     // next byte within the row
  index_t per_call = 0;

  /// Sets the region and the lines per call, so that every line is requested within `calls` calls of step().
  /// Does nothing if that would take more than `max_per_call` lines per call.
  void plan(const void* base, index_t stride_bytes, index_t bytes_per_row, index_t row_count, index_t calls,
            index_t max_per_call = index_t(1) << 40) noexcept {
    if (row_count <= 0 || bytes_per_row <= 0) return;
    const index_t lines = ceil_div(row_count * ceil_div(bytes_per_row, 64), std::max<index_t>(calls, 1));
    if (lines > max_per_call) return;
    row = static_cast<const char*>(base);
    stride = stride_bytes;
    row_bytes = bytes_per_row;
    rows = row_count;
    per_call = lines;
  }
  void step() noexcept {
    for (index_t i = 0; i < per_call && rows > 0; ++i) {
      if (for_write) {
        __builtin_prefetch(row + offset, 1, 2);
      } else {
        __builtin_prefetch(row + offset, 0, 2);
      }
      offset += 64;
      if (offset >= row_bytes) {
        offset = 0;
        row += stride;
        --rows;
      }
    }
  }
};

/// Where gemm_serial finds op(B) already packed (see packed_b): depth block q at data + q * block_stride,
/// the panels of the serial call's first column `col0` columns (a multiple of nr) into each block.
template <class T>
struct gemm_prepacked {
  const T* data;
  index_t block_stride;
  index_t block_depth;
  index_t col0;
};

/// Operands up to this size are read in place rather than packed (they stay in L1/L2 as they are).
inline constexpr index_t gemm_direct_bytes = 64 << 10;

/// Products up to this many multiply-adds may take gemm_tiny (below ~1 microsecond, where the setup of the
/// blocked path would be a large fraction of the time).
inline constexpr index_t gemm_tiny_fma = 32 * 32 * 32;

/// C (m x n) = epilogue(alpha op(A) op(B) + beta C) on the calling thread. Loop order (BLIS's, transposed
/// for row-major C, whose vectorised dimension is n):
///   ic: mc rows of op(A)        pc: kc depth, pack the mc x kc panel of A (L3)
///   jc: nc columns of op(B)     pack the kc x nc block of B (L2)
///   ir: mr rows                 the mr x kc micro-panel of A stays in L1
///   jr: nr columns              kc x nr micro-panels of B stream from L2; the C tile walks along its rows
///   (with `pre`, op(B) comes packed already and b, ldb, trans_b are not used)
template <class T>
void gemm_serial(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                 const T* b, index_t ldb, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue,
                 const gemm_prepacked<T>* pre = nullptr) {
  using config = gemm_config<T>;
  constexpr int mr = config::mr;
  constexpr int nr = config::nr;
  constexpr int w = config::width;
  const gemm_blocking& blocking = gemm_blocking_for<T>();

  // Split each dimension into equal blocks no larger than the blocking, so a dimension just above a block
  // size does not leave a sliver block. Columns up to 1.5 blocks (3/8 of L2) stay one block: splitting them
  // makes every micro-panel of A be read twice per depth block, from L3 when A is large ((4096, 768, 768)
  // ran 1.11-1.20x faster as one block of 768 than as two of 384; a block of half of L2 was slower: AVX2
  // 512^3 0.93x).
  const index_t kc_max = pre ? pre->block_depth : even_block(k, blocking.kc, 1);
  const index_t mc_max = even_block(m, blocking.mc, mr);
  const index_t nc_max = n <= blocking.nc + blocking.nc / 2 ? round_up_to(n, nr) : even_block(n, blocking.nc, nr);

  // Packing pays for itself by being reused: a panel of A by every column tile, a block of B by every row
  // panel. op(A) is read in place whenever it is not transposed: its micro-panel is mr rows of kc
  // contiguous values, which broadcasts read as well from mr rows as from a packed panel, and the rows
  // stay in L1 across the column tiles -- unless the row stride is a multiple of 4 KiB, which would put all
  // mr rows in the same L1 set. op(B) is read in place when it is small enough to stay in L1/L2 as it is, or
  // when too few row panels would reuse a packed copy; otherwise its kc rows at stride ldb would cost a
  // TLB miss each per tile.
  const bool a_direct = !trans_a && (lda * index_t(sizeof(T))) % 4096 != 0;
  const bool b_direct = !pre && !trans_b && (m <= 2 * mr || k * ldb * index_t(sizeof(T)) <= gemm_direct_bytes);

  // Sources too large for L2 are prefetched one block (packed) or one micro-panel (in place) ahead -- the next
  // B block only if that takes at most 24 lines per kernel call: larger bursts (47 per call with the AVX-512
  // tile on (128, 3072, 768)) queue up behind the L1 fill buffers and stall the kernel's own loads, and that
  // product ran 3-5% faster without them (session 4); below the cap the prefetch is neutral or helps (AVX2).
  const index_t l2_bytes = gemm_cache_bytes(2);
  const bool prefetch_a_rows = a_direct && m * lda * index_t(sizeof(T)) > l2_bytes / 2;
  const bool prefetch_a = !a_direct && (trans_a ? k : m) * lda * index_t(sizeof(T)) > l2_bytes / 2;
  const bool prefetch_b = !pre && !b_direct && (trans_b ? n : k) * ldb * index_t(sizeof(T)) > l2_bytes / 2;
  constexpr index_t prefetch_b_max_per_call = 24;
  const index_t tsize = index_t(sizeof(T));
  auto plan_a = [&](gemm_prefetcher& pf, index_t i0, index_t p0, index_t calls) {
    const index_t rows = std::min(mc_max, m - i0), depth = std::min(kc_max, k - p0);
    if (trans_a) {
      pf.plan(a + p0 * lda + i0, lda * tsize, rows * tsize, depth, calls);
    } else {
      pf.plan(a + i0 * lda + p0, lda * tsize, depth * tsize, rows, calls);
    }
  };

  gemm_workspace<T>& workspace = thread_gemm_workspace<T>();
  T* packed_a =
      a_direct ? nullptr : gemm_workspace<T>::grow(workspace.a, workspace.a_size, std::size_t(mc_max * kc_max));
  T* packed_b =
      pre ? nullptr
          : gemm_workspace<T>::grow(workspace.b, workspace.b_size, std::size_t((b_direct ? nr : nc_max) * kc_max));

  const bool relu = epilogue.activation == gemm_activation::relu;
  for (index_t ic = 0; ic < m; ic += mc_max) {
    const index_t mc = std::min(mc_max, m - ic);
    for (index_t pc = 0; pc < k; pc += kc_max) {
      const index_t kc = std::min(kc_max, k - pc);
      const bool first = pc == 0;
      const bool last = pc + kc == k;
      if (!a_direct) gemm_pack_a(trans_a, trans_a ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc, packed_a);

      gemm_tile_args<T> args{};
      args.alpha = alpha;
      args.beta = first ? beta : T(1);
      args.beta_zero = first && beta == T(0);
      args.relu = last && relu;

      for (index_t jc = 0; jc < n; jc += nc_max) {
        const index_t nc = std::min(nc_max, n - jc);
        // Column tiles: all full but possibly the last, whose kernel has fewer registers. The last one is
        // read from a zero-padded packed panel, unless B is read in place and the tail is whole registers.
        const index_t full_cols = nc / nr * nr;
        const index_t tail_cols = nc - full_cols;
        const int tail_vecs = static_cast<int>(ceil_div(tail_cols, w));
        const T* b_block = pre ? pre->data + pc / kc_max * pre->block_stride + (pre->col0 + jc) * kc
                               : packed_b;  // the first full tile's panel
        index_t b_stride = nr, b_tile_step = nr * kc;
        const T* b_tail = b_block + full_cols * kc;
        index_t b_tail_stride = nr;
        if (pre) {
          // packed already
        } else if (b_direct) {
          b_block = b + pc * ldb + jc;
          b_stride = ldb;
          b_tile_step = nr;
          if (tail_cols % w == 0) {
            b_tail = b_block + full_cols;
            b_tail_stride = ldb;
          } else {
            gemm_pack_b(false, b_block + full_cols, ldb, kc, tail_cols, packed_b);
            b_tail = packed_b;
          }
        } else {
          gemm_pack_b(trans_b, trans_b ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, packed_b);
        }
        // What gets packed after this block: the next B block, or (during the last B block of this A panel) the
        // next A panel, or if A is not packed, the first B block after it.
        gemm_prefetcher prefetch;
        const index_t calls = ceil_div(mc, mr) * ceil_div(nc, nr);
        auto plan_b = [&](index_t p0, index_t j0) {
          const index_t cols = std::min(nc_max, n - j0), depth = std::min(kc_max, k - p0);
          if (trans_b) {
            prefetch.plan(b + j0 * ldb + p0, ldb * tsize, depth * tsize, cols, calls, prefetch_b_max_per_call);
          } else {
            prefetch.plan(b + p0 * ldb + j0, ldb * tsize, cols * tsize, depth, calls, prefetch_b_max_per_call);
          }
        };
        if (jc + nc_max < n) {
          if (prefetch_b) plan_b(pc, jc + nc_max);
        } else if (pc + kc_max < k || ic + mc_max < m) {
          const index_t next_i = pc + kc_max < k ? ic : ic + mc_max;
          const index_t next_p = pc + kc_max < k ? pc + kc_max : 0;
          if (prefetch_a) {
            plan_a(prefetch, next_i, next_p, calls);
          } else if (prefetch_b) {
            plan_b(next_p, 0);
          }
        }
        for (index_t ir = 0; ir < mc; ir += mr) {
          const int rows = static_cast<int>(std::min<index_t>(mr, mc - ir));
          const gemm_kernel_fn<T> kernel = gemm_kernel_for<T>(a_direct, rows, config::nv);
          const T* panel_a = a_direct ? a + (ic + ir) * lda + pc : packed_a + ir * kc;
          gemm_prefetcher next_rows;  // the rows of A the next ir reads in place
          if (prefetch_a_rows && ir + mr < mc) {
            next_rows.plan(panel_a + mr * lda, lda * tsize, kc * tsize, std::min<index_t>(mr, mc - ir - mr),
                           ceil_div(nc, nr));
          }
          T* c_row = c + (ic + ir) * ldc + jc;
          const T* bias = last && epilogue.bias ? epilogue.bias + jc : nullptr;
          const T* panel_b = b_block;
          for (index_t jr = 0; jr < full_cols; jr += nr, panel_b += b_tile_step) {
            args.bias = bias ? bias + jr : nullptr;
            kernel(kc, panel_a, lda, panel_b, b_stride, c_row + jr, ldc, nr, args);
            prefetch.step();
            next_rows.step();
          }
          if (tail_cols > 0) {
            args.bias = bias ? bias + full_cols : nullptr;
            gemm_kernel_for<T>(a_direct, rows, tail_vecs)(kc, panel_a, lda, b_tail, b_tail_stride, c_row + full_cols,
                                                          ldc, tail_cols, args);
            prefetch.step();
            next_rows.step();
          }
          if (last) gemm_apply_custom(epilogue, c_row, ldc, rows, nc);
        }
      }
    }
  }
}

/// @brief The whole product as one block of kernel calls, for problems small enough to skip the blocking
///        decisions and prefetching of gemm_serial: op(A) read in place when not transposed (else packed),
///        op(B) read in place when not transposed and made of whole registers of columns (else packed, or
///        taken from `pre` when it holds op(B) in one K block). Returns false, doing nothing, when the problem
///        is not tiny.
template <class T>
bool gemm_tiny(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
               const T* b, index_t ldb, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue,
               const gemm_prepacked<T>* pre = nullptr) {
  using config = gemm_config<T>;
  constexpr int mr = config::mr;
  constexpr int nr = config::nr;
  constexpr int w = config::width;
  if (m * n * k > gemm_tiny_fma || k > (pre ? pre->block_depth : gemm_blocking_for<T>().kc)) return false;
  const bool a_direct = !trans_a && (lda * index_t(sizeof(T))) % 4096 != 0;
  const bool b_direct = !pre && !trans_b && n % w == 0;
  const T* pa = a;
  const T* pb = b;
  index_t a_stride = lda, b_stride = ldb, b_step = nr;
  if (pre) {  // one K block: its panels as gemm_pack_b would write them below
    pb = pre->data + pre->col0 * k;
    b_stride = nr;
    b_step = nr * k;
  }
  if (!a_direct || (!b_direct && !pre)) {
    gemm_workspace<T>& workspace = thread_gemm_workspace<T>();
    if (!a_direct) {
      T* packed = gemm_workspace<T>::grow(workspace.a, workspace.a_size, std::size_t(round_up_to(m, mr) * k));
      gemm_pack_a(trans_a, a, lda, m, k, packed);
      pa = packed;
    }
    if (!b_direct && !pre) {
      T* packed = gemm_workspace<T>::grow(workspace.b, workspace.b_size, std::size_t(round_up_to(n, nr) * k));
      gemm_pack_b(trans_b, b, ldb, k, n, packed);
      pb = packed;
      b_stride = nr;
      b_step = nr * k;
    }
  }
  gemm_tile_args<T> args{};
  args.alpha = alpha;
  args.beta = beta;
  args.beta_zero = beta == T(0);
  args.relu = epilogue.activation == gemm_activation::relu;
  for (index_t ir = 0; ir < m; ir += mr) {
    const int rows = static_cast<int>(std::min<index_t>(mr, m - ir));
    const T* panel_a = a_direct ? pa + ir * lda : pa + ir * k;
    const T* panel_b = pb;
    for (index_t jr = 0; jr < n; jr += nr, panel_b += b_step) {
      const index_t cols = std::min<index_t>(nr, n - jr);
      args.bias = epilogue.bias ? epilogue.bias + jr : nullptr;
      gemm_kernel_for<T>(a_direct, rows, static_cast<int>(ceil_div(cols, w)))(k, panel_a, a_stride, panel_b, b_stride,
                                                                              c + ir * ldc + jr, ldc, cols, args);
    }
  }
  gemm_apply_custom(epilogue, c, ldc, m, n);
  return true;
}

// ~~~ implementation: splitting across threads ~~~

/// Below this many multiply-adds per thread (~5 microseconds of work), starting and joining a thread
/// (1-2 microseconds on an idle machine, far more on a busy one) costs more than it saves.
inline constexpr index_t gemm_min_fma_per_thread = index_t(1) << 19;

/// A grid of tasks over C: rows split in `row_parts`, columns in `col_parts`, in units of whole tiles.
struct gemm_split {
  index_t row_parts;
  index_t col_parts;
};

/// @brief Chooses how `threads` threads share an m x n x k product: the factorisation of the thread count
///        into a row-by-column grid that minimises the slowest thread's time, modelled as its tile-rounded
///        multiply-adds plus the packing of its own A rows and B columns.
template <class T>
gemm_split choose_gemm_split(index_t m, index_t n, index_t k, int threads) noexcept {
  using config = gemm_config<T>;
  const index_t row_tiles = ceil_div(m, config::mr);
  const index_t col_tiles = ceil_div(n, config::nr);
  gemm_split best{1, 1};
  double best_cost = -1;
  for (index_t rows = 1; rows <= threads; ++rows) {
    if (threads % rows != 0) continue;
    const index_t cols = threads / rows;
    if (rows > row_tiles || cols > col_tiles) continue;
    const double tile_m = double(ceil_div(row_tiles, rows) * config::mr);
    const double tile_n = double(ceil_div(col_tiles, cols) * config::nr);
    // Per unit of depth: an FMA unit does 2 * width multiply-adds per cycle; packing costs ~1 cycle per value.
    const double cost = tile_m * tile_n / (2.0 * config::width) + (tile_m + tile_n);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best = gemm_split{rows, cols};
    }
  }
  (void)k;
  return best;
}

/// How many threads a product of this size should use.
inline int gemm_thread_count(index_t m, index_t n, index_t k) noexcept {
  const double fma = double(m) * double(n) * double(k);
  if (fma < double(2 * gemm_min_fma_per_thread) || in_parallel_region()) return 1;
  const double useful = fma / double(gemm_min_fma_per_thread);
  const int threads = get_num_threads();
  return useful < threads ? std::max(1, static_cast<int>(useful)) : threads;
}

template <class T>
void gemm_dispatch(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                   const T* b, index_t ldb, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue, int threads,
                   const gemm_prepacked<T>* pre = nullptr) {
  if (m == 0 || n == 0) return;
  if (alpha == T(0) || k == 0) {
    gemm_scale_only(m, n, beta, c, ldc, epilogue);
    return;
  }
  if (threads <= 1) {
    if (!gemm_tiny(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue, pre)) {
      gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue, pre);
    }
    return;
  }
  using config = gemm_config<T>;
  const gemm_split split = choose_gemm_split<T>(m, n, k, threads);
  const index_t row_tiles = ceil_div(m, config::mr);
  const index_t col_tiles = ceil_div(n, config::nr);
  parallel_for(0, split.row_parts * split.col_parts, 1, [&](index_t task_begin, index_t task_end) {
    for (index_t task = task_begin; task < task_end; ++task) {
      const index_t r = task / split.col_parts;
      const index_t s = task % split.col_parts;
      const index_t m0 = std::min(m, row_tiles * r / split.row_parts * config::mr);
      const index_t m1 = std::min(m, row_tiles * (r + 1) / split.row_parts * config::mr);
      const index_t n0 = std::min(n, col_tiles * s / split.col_parts * config::nr);
      const index_t n1 = std::min(n, col_tiles * (s + 1) / split.col_parts * config::nr);
      if (m0 >= m1 || n0 >= n1) continue;
      gemm_epilogue<T> part = epilogue;
      if (part.bias) part.bias += n0;
      const T* part_b = nullptr;
      gemm_prepacked<T> part_pre{};
      if (pre) {
        part_pre = *pre;
        part_pre.col0 += n0;
      } else {
        part_b = trans_b ? b + n0 * ldb : b + n0;
      }
      gemm_serial(trans_a, trans_b, m1 - m0, n1 - n0, k, alpha, trans_a ? a + m0 : a + m0 * lda, lda, part_b, ldb, beta,
                  c + m0 * ldc + n0, ldc, part, pre ? &part_pre : nullptr);
    }
  });
}

}  // namespace detail

// ~~~ implementation: public entries ~~~

template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc, const gemm_epilogue<T>& epilogue) {
  detail::gemm_check_arguments("gemm", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  detail::gemm_dispatch(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue,
                        detail::gemm_thread_count(m, n, k));
}

template <class T>
packed_b<T>::packed_b(bool trans_b, index_t k, index_t n, const T* b, index_t ldb) {
  KEXUE_CHECK(k >= 0 && n >= 0, shape_error, "packed_b", "negative size (k ", k, ", n ", n, ")");
  const index_t b_row = trans_b ? k : n;
  KEXUE_CHECK(ldb >= std::max<index_t>(1, b_row), shape_error, "packed_b", "ldb ", ldb,
              " is smaller than the row length ", b_row, " of B (k ", k, ", n ", n, ", trans_b ",
              trans_b ? "true" : "false", ")");
  constexpr int nr = detail::gemm_config<T>::nr;
  k_ = k;
  n_ = n;
  if (k == 0 || n == 0) return;
  // The depth blocks gemm_serial would use for this k, so that gemm_packed walks the same blocks.
  block_depth_ = detail::even_block(k, gemm_blocking_for<T>().kc, 1);
  block_stride_ = detail::round_up_to(n, nr) * block_depth_;
  const index_t blocks = detail::ceil_div(k, block_depth_);
  const std::size_t count = static_cast<std::size_t>(blocks * block_stride_);
  data_ = std::shared_ptr<T>(static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t(64))),
                             [](T* p) { ::operator delete(p, std::align_val_t(64)); });
  for (index_t q = 0; q < blocks; ++q) {
    const index_t p0 = q * block_depth_;
    const index_t depth = std::min(block_depth_, k - p0);
    detail::gemm_pack_b(trans_b, trans_b ? b + p0 : b + p0 * ldb, ldb, depth, n, data_.get() + q * block_stride_);
  }
}

template <class T>
void gemm_packed(bool trans_a, index_t m, T alpha, const T* a, index_t lda, const packed_b<T>& b, T beta, T* c,
                 index_t ldc, const gemm_epilogue<T>& epilogue) {
  const index_t n = b.n(), k = b.k();
  detail::gemm_check_arguments("gemm_packed", trans_a, false, m, n, k, lda, std::max<index_t>(1, n), ldc);
  const detail::gemm_prepacked<T> pre{b.data(), b.block_stride(), b.block_depth(), 0};
  detail::gemm_dispatch(trans_a, false, m, n, k, alpha, a, lda, static_cast<const T*>(nullptr), std::max<index_t>(1, n),
                        beta, c, ldc, epilogue, detail::gemm_thread_count(m, n, k), &pre);
}

template <class T>
void gemm_batched(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                  const T* b, index_t ldb, T beta, T* c, index_t ldc, index_t batch, index_t stride_a, index_t stride_b,
                  index_t stride_c, const gemm_epilogue<T>& epilogue) {
  detail::gemm_check_arguments("gemm_batched", trans_a, trans_b, m, n, k, lda, ldb, ldc);
  KEXUE_CHECK(batch >= 0, shape_error, "gemm_batched", "negative batch ", batch);
  KEXUE_CHECK(stride_a >= 0 && stride_b >= 0, shape_error, "gemm_batched", "negative stride (stride_a ", stride_a,
              ", stride_b ", stride_b, ")");
  KEXUE_CHECK(batch <= 1 || m == 0 || n == 0 || stride_c >= (m - 1) * ldc + n, shape_error, "gemm_batched", "stride_c ",
              stride_c, " makes the C matrices overlap (m ", m, ", n ", n, ", ldc ", ldc, ")");
  if (batch == 0 || m == 0 || n == 0) return;

  const int threads = in_parallel_region() ? 1 : get_num_threads();
  const double fma = double(m) * double(n) * double(k);
  const bool item_worth_threads = fma >= double(detail::gemm_min_fma_per_thread) * threads;
  const bool batch_splits_evenly = batch % threads == 0 || batch >= 4 * threads;
  if (threads > 1 && item_worth_threads && !batch_splits_evenly) {
    for (index_t i = 0; i < batch; ++i) {
      detail::gemm_dispatch(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
                            c + i * stride_c, ldc, epilogue, threads);
    }
    return;
  }
  // Enough items per thread chunk to be worth starting it.
  const index_t grain =
      std::max<index_t>(1, static_cast<index_t>(double(detail::gemm_min_fma_per_thread) / std::max(fma, 1.0)));
  parallel_for(0, batch, grain, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      detail::gemm_dispatch(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
                            c + i * stride_c, ldc, epilogue, 1);
    }
  });
}

}  // namespace kexue::kernels
