// SPDX-License-Identifier: MIT
// scaled_dot_product_attention: masks, causal, standard / entropy-invariant / fixed scale, dense / local /
// atrous / sparse patterns, dropout; fused GEMM + softmax-kernel forward and backward (spec A03, A16, A17).
#pragma once

#include <algorithm>  // std::min, std::max, std::fill
#include <cmath>      // std::log, std::sqrt, std::isfinite, std::isnan
#include <cstdint>    // std::uint8_t
#include <limits>     // infinity
#include <memory>     // std::shared_ptr
#include <utility>    // std::move
#include <vector>     // task lists, scratch buffers

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/softmax.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/dropout.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/softmax.hpp>

namespace kexue {

/// @brief Which (query i, key j) pairs may interact (spec A17; positions 0-based, k = pattern_size):
///  - dense:  every pair;
///  - local:  |i − j| ≤ k (a window of 2k + 1 keys), k ≥ 0;
///  - atrous: (i − j) mod k == 0 (relative distances 0, ±k, ±2k, ...), k ≥ 1;
///  - sparse: the union of local and atrous with the same k (each key counted once), k ≥ 1.
/// The patterns are non-causal; combine them with `causal` for generation. Local, atrous and sparse never
/// form the [Nq, Nk] score matrix: the queries are split into tasks (local: blocks of consecutive queries
/// with the keys of their joint window; atrous: one residue class mod k of queries with the same class of
/// keys; sparse: the local tasks for the keys with |i − j| ≤ k plus the atrous tasks for the strided keys
/// with |i − j| > k, the two softmax parts of each row merged through their logsumexps), and only the
/// task's scores are computed, through the GEMM and the softmax kernel.
enum class attention_pattern { dense, local, atrous, sparse };

/// @brief How the logits q·k are scaled (spec A16):
///  - standard: λ = 1/√d;
///  - entropy_invariant: λ_i = log_512(n_i)/√d = ln(n_i)/(ln 512 · √d) per query row i, where n_i is the
///    number of keys query i can actually see (after the key padding mask, a boolean attention mask, −inf
///    entries of an additive mask, causal and the pattern), clamped below at `min_keys` (default 16, as
///    bert4keras's reference code: very short rows are not rescaled down). Equals the standard scale
///    at n = 512. n_i is an integer, so λ carries no gradient;
///  - fixed: λ = a value given by the user (any finite number).
enum class attention_scale { standard, entropy_invariant, fixed };

/// @brief Options of scaled_dot_product_attention, with chained setters (defaults: no masks, not causal,
/// standard scale, dense pattern, no dropout).
///
/// Mask conventions are torch.nn.MultiheadAttention's: **true means masked out** in both boolean masks
/// (the opposite of torch.nn.functional.scaled_dot_product_attention's boolean attn_mask and of the keep
/// masks of kexue::softmax).
///  - key_padding_mask `[B, Nk]` bool: true marks a padding key, hidden from every query of batch item b.
///  - attn_mask, boolean: broadcastable to `[B, H, Nq, Nk]` (e.g. `[Nq, Nk]`, `[B, 1, Nq, Nk]`); true hides
///    the pair. Additive (tensor<T>): broadcastable likewise, added to the scaled logits (−inf hides the
///    pair, a finite value only down-weights it). The mask is a constant: an additive mask that requires a
///    gradient is rejected (value_error).
///  - causal(on, offset): query i sees keys j ≤ i + offset, computed on the fly (no mask tensor). offset 0
///    is PyTorch's is_causal (top-left aligned, the A03 "LM" mask); offset Nk − Nq aligns the last query with
///    the last key (decoding with cached keys).
/// A query row that sees no key gives an output row of zeros (and zero gradients), never NaN.
template <class T>
class attention_options {
 public:
  attention_options& key_padding_mask(const tensor<bool>& m) {
    key_padding_mask_ = m;
    return *this;
  }
  attention_options& attn_mask(const tensor<bool>& m) {
    bool_mask_ = m;
    additive_mask_ = tensor<T>();
    return *this;
  }
  attention_options& attn_mask(const tensor<T>& additive) {
    additive_mask_ = additive;
    bool_mask_ = tensor<bool>();
    return *this;
  }
  attention_options& causal(bool on, index_t offset = 0) {
    causal_ = on;
    causal_offset_ = offset;
    return *this;
  }
  /// Standard 1/√d (the default).
  attention_options& standard_scale() {
    scale_ = attention_scale::standard;
    return *this;
  }
  /// A fixed scale λ (finite).
  attention_options& scale(double value) {
    scale_ = attention_scale::fixed;
    scale_value_ = value;
    return *this;
  }
  /// Entropy-invariant log_512(n_i)/√d with n_i clamped below at min_keys (≥ 1; 16 as bert4keras).
  attention_options& entropy_invariant(index_t min_keys = 16) {
    scale_ = attention_scale::entropy_invariant;
    min_keys_ = min_keys;
    return *this;
  }
  /// Pattern and its size k (window for local, rate for atrous and sparse; ignored for dense).
  attention_options& pattern(attention_pattern p, index_t k = 0) {
    pattern_ = p;
    pattern_size_ = k;
    return *this;
  }
  /// Inverted dropout on the attention weights with probability p in [0, 1): one uniform draw of `gen` per
  /// computed weight (dense: row-major over [B, H, Nq, Nk]). The generator must outlive the call.
  attention_options& dropout(double p, generator& gen) {
    dropout_ = p;
    gen_ = &gen;
    return *this;
  }

  const tensor<bool>& key_padding_mask() const { return key_padding_mask_; }
  const tensor<bool>& bool_mask() const { return bool_mask_; }
  const tensor<T>& additive_mask() const { return additive_mask_; }
  bool causal() const { return causal_; }
  index_t causal_offset() const { return causal_offset_; }
  attention_scale scale_policy() const { return scale_; }
  double scale_value() const { return scale_value_; }
  index_t min_keys() const { return min_keys_; }
  attention_pattern pattern() const { return pattern_; }
  index_t pattern_size() const { return pattern_size_; }
  double dropout() const { return dropout_; }
  generator* dropout_generator() const { return gen_; }

 private:
  tensor<bool> key_padding_mask_;
  tensor<bool> bool_mask_;
  tensor<T> additive_mask_;
  bool causal_ = false;
  index_t causal_offset_ = 0;
  attention_scale scale_ = attention_scale::standard;
  double scale_value_ = 1.0;
  index_t min_keys_ = 16;
  attention_pattern pattern_ = attention_pattern::dense;
  index_t pattern_size_ = 0;
  double dropout_ = 0.0;
  generator* gen_ = nullptr;
};

/// @brief Output and attention weights of scaled_dot_product_attention_with_weights.
template <class T>
struct attention_result {
  tensor<T> output;   ///< [B, H, Nq, dv], differentiable w.r.t. q, k and v
  tensor<T> weights;  ///< [B, H, Nq, Nk], after dropout, zero at hidden pairs; differentiable w.r.t. q and k
};

/// @brief Attention(Q, K, V) = softmax(λ Q Kᵀ + mask) V per batch item and head.
/// @param q `[B, H, Nq, d]`, k `[B, H, Nk, d]`, v `[B, H, Nk, dv]` (d ≥ 1).
/// @param options masks, causal, scale policy, pattern, dropout (see attention_options).
/// @return `[B, H, Nq, dv]`; rows of queries that see no key are 0.
/// @details Dense: in tiles of up to 64 query rows of one head (in parallel over the tiles), QKᵀ through
/// kernels::gemm (with causal, the tile's hidden key columns are skipped), then softmax_rows in place with the
/// scale, masks and causal rule fused into the softmax pass, then the weights times V through the GEMM while
/// the tile is still in cache. Backward (hand-written): dV = Pᵀ G, dP = G Vᵀ,
/// dZ = softmax_backward_rows(P, dP), dQ = λ dZ K, dK = λ dZᵀ Q, all through the same kernels; under
/// create_graph the backward is composed of differentiable ops (a dense recomputation with the equivalent
/// explicit mask), so second order works for every option. Gradients reach q, k and v only.
/// @throws shape_error for ranks or sizes that do not fit, or masks that do not broadcast; value_error for a
/// bad pattern size, min_keys < 1, a non-finite fixed scale, dropout p outside [0, 1) or without generator,
/// or an additive mask that requires a gradient.
template <class T>
tensor<T> scaled_dot_product_attention(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v,
                                       const attention_options<T>& options = {});

/// @brief As scaled_dot_product_attention, also returning the weights W `[B, H, Nq, Nk]` (after dropout, as
/// torch.nn.MultiheadAttention's attn_output_weights). The output still takes the fused path; when grad mode
/// is on and q or k requires a gradient, W is recorded as its own op of q and k (masks, λ and dropout factors
/// constant): dZ = softmax_backward(P, G_W ⊙ drop), dQ = (λ ⊙ dZ) K, dK = (λ ⊙ dZ)ᵀ Q, through the GEMM; under
/// create_graph P is recomputed densely from q and k, so second order works. Every scale policy, pattern,
/// mask and dropout is supported. W is dense (the pattern engines scatter their weights into it).
template <class T>
attention_result<T> scaled_dot_product_attention_with_weights(const tensor<T>& q, const tensor<T>& k,
                                                              const tensor<T>& v,
                                                              const attention_options<T>& options = {});

/// @brief The boolean "may attend" mask `[Nq, Nk]` of a pattern (and causal rule): true where query i may
/// attend key j (note: a keep mask, the opposite of attn_mask's convention; pass `logical_not` of it, or
/// use it with kexue::softmax). For tests and for masked-dense reference computations.
inline tensor<bool> attention_pattern_mask(index_t nq, index_t nk, attention_pattern p, index_t k, bool causal = false,
                                           index_t causal_offset = 0);

// ~~~ Implementation ~~~

namespace detail::attention {

inline constexpr const char* op_name = "scaled_dot_product_attention";

/// Sizes, pattern and causal rule: everything that decides visibility from positions alone.
struct geometry {
  index_t batch = 0, heads = 0, nq = 0, nk = 0, d = 0, dv = 0;
  attention_pattern pattern = attention_pattern::dense;
  index_t k = 0;
  bool causal = false;
  index_t offset = 0;

  /// Keys [0, causal_end(i)) pass the causal rule.
  index_t causal_end(index_t i) const {
    if (!causal) return nk;
    return std::max<index_t>(0, std::min<index_t>(nk, i + offset + 1));
  }
  bool pattern_allows(index_t i, index_t j) const {
    const index_t dist = i - j;
    switch (pattern) {
      case attention_pattern::local:
        return dist <= k && dist >= -k;
      case attention_pattern::atrous:
        return dist % k == 0;
      case attention_pattern::sparse:
        return (dist <= k && dist >= -k) || dist % k == 0;
      default:
        return true;
    }
  }
  bool visible(index_t i, index_t j) const { return j < causal_end(i) && pattern_allows(i, j); }
};

/// Which of a query's visible keys a task owns: all of them (local, atrous), or, for sparse, the near
/// part |i − j| ≤ k or the far (strided) part |i − j| > k, so that each visible key is in exactly one task.
enum class task_part { all, near, far };

/// A unit of the pattern engine: some queries and the sorted union of the keys any of them may see; the
/// task's weights are a dense [queries, keys] block at `offset` of the per-head weight buffer.
struct task {
  std::vector<index_t> queries;
  std::vector<index_t> keys;
  index_t offset = 0;
  task_part part = task_part::all;
};

/// True if the pair (i, j) belongs to task t (visibility aside).
inline bool owns(const task& t, const geometry& g, index_t i, index_t j) {
  if (t.part == task_part::all) return true;
  const bool near = i - j <= g.k && j - i <= g.k;
  return t.part == task_part::near ? near : !near;
}

/// The tasks of a pattern. Local: blocks of max(8, k) consecutive queries with their joint window (block + 2k
/// keys for 2k + 1 visible). Atrous: one residue class r = i mod k of queries with the same class of keys.
/// Sparse: both sets of tasks, the local ones (part near) first, then the strided ones restricted to
/// |i − j| > k (part far), so every task is a tall GEMM and no key is counted twice; the forward merges the
/// two softmax parts of a row by their logsumexps.
inline std::vector<task> make_tasks(const geometry& g, index_t& per_head) {
  std::vector<task> tasks;
  auto local_tasks = [&](task_part part) {
    const index_t block = std::max<index_t>(8, g.k);
    for (index_t i0 = 0; i0 < g.nq; i0 += block) {
      task t;
      t.part = part;
      const index_t i1 = std::min(g.nq, i0 + block);
      for (index_t i = i0; i < i1; ++i) t.queries.push_back(i);
      const index_t lo = std::max<index_t>(0, i0 - g.k);
      const index_t hi = std::min<index_t>(g.causal_end(i1 - 1), i1 + g.k);
      for (index_t j = lo; j < hi; ++j) t.keys.push_back(j);
      tasks.push_back(std::move(t));
    }
  };
  auto strided_tasks = [&](task_part part) {
    for (index_t r = 0; r < std::min(g.k, g.nq); ++r) {
      task t;
      t.part = part;
      for (index_t i = r; i < g.nq; i += g.k) t.queries.push_back(i);
      for (index_t j = r; j < g.causal_end(t.queries.back()); j += g.k) t.keys.push_back(j);
      tasks.push_back(std::move(t));
    }
  };
  if (g.pattern == attention_pattern::local) {
    local_tasks(task_part::all);
  } else if (g.pattern == attention_pattern::atrous) {
    strided_tasks(task_part::all);
  } else {
    local_tasks(task_part::near);
    strided_tasks(task_part::far);
  }
  per_head = 0;
  for (auto& t : tasks) {
    t.offset = per_head;
    per_head += static_cast<index_t>(t.queries.size() * t.keys.size());
  }
  return tasks;
}

/// The masks in the form the kernels read: key padding as a keep row per batch item, and the attention
/// mask (boolean converted to 0 / −inf) materialised as [bm, hm, Nq, Nk] with bm ∈ {1, B}, hm ∈ {1, H}.
template <class T>
struct prepared_masks {
  std::vector<std::uint8_t> keep_keys;  // [B, Nk], 1 = real key; empty when there is no padding mask
  tensor<T> additive;                   // [bm, hm, Nq, Nk] or undefined
  index_t bm = 1, hm = 1;

  const std::uint8_t* keep_row(index_t b, index_t nk) const {
    return keep_keys.empty() ? nullptr : keep_keys.data() + b * nk;
  }
  /// Additive mask row of (b, h, i), or null.
  const T* add_row(const geometry& g, index_t b, index_t h, index_t i) const {
    if (!additive.defined()) return nullptr;
    return additive.data() + (((bm == 1 ? 0 : b) * hm + (hm == 1 ? 0 : h)) * g.nq + i) * g.nk;
  }
};

/// Materialises a mask broadcastable to [B, H, Nq, Nk] as [bm, hm, Nq, Nk] in T (value(m) converts).
template <class T, class M, class Convert>
tensor<T> materialise_mask(const tensor<M>& m, const geometry& g, index_t& bm, index_t& hm, const char* name,
                           Convert value) {
  const shape full{g.batch, g.heads, g.nq, g.nk};
  const shape& s = m.shape();
  bool ok = s.rank() <= 4;
  shape dims{1, 1, 1, 1};
  for (int a = 0; ok && a < s.rank(); ++a) {
    const int target = 4 - s.rank() + a;
    ok = s[a] == 1 || s[a] == full[target];
    dims[target] = s[a];
  }
  KEXUE_CHECK(ok, shape_error, op_name, name, " shape ", format_shape(s),
              " does not broadcast to [B, H, Nq, Nk] = ", format_shape(full));
  bm = dims[0];
  hm = dims[1];
  auto out = tensor<T>::empty({bm, hm, g.nq, g.nk});
  const M* src = m.data();
  T* dst = out.data();
  for (index_t b = 0; b < bm; ++b) {
    for (index_t h = 0; h < hm; ++h) {
      for (index_t i = 0; i < g.nq; ++i) {
        for (index_t j = 0; j < g.nk; ++j) {
          const index_t si = ((b * dims[1] + h) * dims[2] + (dims[2] == 1 ? 0 : i)) * dims[3] + (dims[3] == 1 ? 0 : j);
          *dst++ = value(src[si]);
        }
      }
    }
  }
  return out;
}

template <class T>
prepared_masks<T> prepare_masks(const attention_options<T>& o, const geometry& g) {
  prepared_masks<T> pm;
  if (o.key_padding_mask().defined()) {
    const tensor<bool>& kp = o.key_padding_mask();
    KEXUE_CHECK(kp.shape() == shape({g.batch, g.nk}), shape_error, op_name,
                "key_padding_mask must be [B, Nk] = ", format_shape(shape{g.batch, g.nk}), ", got ",
                format_shape(kp.shape()));
    pm.keep_keys.resize(static_cast<std::size_t>(g.batch * g.nk));
    for (index_t i = 0; i < g.batch * g.nk; ++i) pm.keep_keys[i] = kp.data()[i] ? 0 : 1;
  }
  if (o.bool_mask().defined()) {
    pm.additive = materialise_mask<T>(o.bool_mask(), g, pm.bm, pm.hm, "attn_mask",
                                      [](bool hide) { return hide ? -std::numeric_limits<T>::infinity() : T(0); });
  } else if (o.additive_mask().defined()) {
    KEXUE_CHECK(!o.additive_mask().requires_grad(), value_error, op_name,
                "the additive attn_mask requires a gradient, which is not supported (the mask is a constant; "
                "detach it)");
    pm.additive = materialise_mask<T>(o.additive_mask(), g, pm.bm, pm.hm, "attn_mask", [](T x) { return x; });
  }
  return pm;
}

/// Everything the backward needs, shared by the backward closure.
template <class T>
struct saved_state {
  geometry geo;
  prepared_masks<T> masks;
  std::vector<task> tasks;  // pattern engine only
  index_t per_head = 0;     // pattern engine: weights per (b, h)
  tensor<T> p;              // softmax weights before dropout: dense [B, H, Nq, Nk]; pattern [B·H, per_head]
  tensor<T> drop;           // dropout factors (0 or 1/(1 − p)) in p's layout, or undefined
  bool per_row = false;     // λ differs between rows (entropy-invariant, or any pattern engine call)
  T scale = T(1);           // the uniform λ when !per_row
  std::vector<T> lam;       // λ per (b, h, i) when per_row
  tensor<T> q_scaled;       // dense with per_row: λ_i q_i
  double dropout = 0;
};

/// λ for a row that sees n keys.
template <class T>
T entropy_scale(index_t n, index_t min_keys, index_t d) {
  const double nn = static_cast<double>(std::max(n, min_keys));
  return static_cast<T>(std::log(nn) / std::log(512.0) / std::sqrt(static_cast<double>(d)));
}

/// Number of keys row (b, h, i) sees in the dense layout.
template <class T>
index_t count_visible(const geometry& g, const prepared_masks<T>& m, index_t b, index_t h, index_t i) {
  const index_t end = g.causal_end(i);
  const std::uint8_t* keep = m.keep_row(b, g.nk);
  const T* add = m.add_row(g, b, h, i);
  index_t n = 0;
  for (index_t j = 0; j < end; ++j) {
    const bool ok = g.pattern_allows(i, j) && (keep == nullptr || keep[j] != 0) &&
                    (add == nullptr || add[j] != -std::numeric_limits<T>::infinity());
    n += ok ? 1 : 0;
  }
  return n;
}

/// Query rows per tile of the dense engine: a tile's scores (rows x Nk) stay in L2 (~128 KiB of floats at
/// Nk = 512) between the QKᵀ product, the softmax and the product with V.
inline index_t dense_tile_rows(index_t nk) {
  return std::max<index_t>(8, std::min<index_t>(64, (index_t(1) << 15) / std::max<index_t>(nk, 1)));
}

/// The tile of rows [i0, i1) of one head: its first row and the keys [0, cols) it may see (causal).
struct dense_tile {
  index_t head, b, h, i0, i1, cols;
};

inline index_t tiles_per_head(const geometry& g) {
  const index_t rows = dense_tile_rows(g.nk);
  return (g.nq + rows - 1) / rows;
}

/// Tile number `index` (head-major) of the heads' row tiles.
inline dense_tile tile_at(const geometry& g, index_t index) {
  const index_t rows = dense_tile_rows(g.nk), per_head = tiles_per_head(g);
  const index_t head = index / per_head, i0 = index % per_head * rows, i1 = std::min(g.nq, i0 + rows);
  return dense_tile{head, head / g.heads, head % g.heads, i0, i1, g.causal_end(i1 - 1)};
}

/// Calls f(tile) for the tiles of heads [head0, head1), in order.
template <class F>
void for_tiles(const geometry& g, index_t head0, index_t head1, F&& f) {
  const index_t per_head = tiles_per_head(g);
  for (index_t i = head0 * per_head; i < head1 * per_head; ++i) f(tile_at(g, i));
}

/// Softmax options of a tile: the scale, key padding of item b, the additive mask rows of (b, h, i0..i1),
/// and the causal rule shifted to the tile's first row.
template <class T>
softmax_options<T> tile_softmax_options(const saved_state<T>& s, const dense_tile& t) {
  softmax_options<T> o;
  o.scale = s.per_row ? T(1) : s.scale;
  if (const std::uint8_t* keep = s.masks.keep_row(t.b, s.geo.nk)) {
    o.keep = keep;
    o.keep_row_stride = 0;
    o.keep_rows = 1;
  }
  if (s.masks.additive.defined()) {
    o.add_mask = s.masks.add_row(s.geo, t.b, t.h, t.i0);
    o.add_mask_row_stride = s.geo.nk;
    o.add_mask_rows = t.i1 - t.i0;
  }
  o.causal = s.geo.causal;
  o.causal_rows = t.i1 - t.i0;
  o.causal_offset = t.i0 + s.geo.offset;
  return o;
}

/// Heads per parallel chunk: enough work (~2^20 multiply-adds) to be worth a thread.
inline index_t heads_grain(const geometry& g) {
  const double work = double(g.nq) * double(g.nk) * double(g.d + g.dv);
  return std::max<index_t>(1, static_cast<index_t>(double(1 << 20) / std::max(work, 1.0)));
}

// ~~~ dense engine ~~~
// Tiled by rows of queries: for each tile, S = Q Kᵀ (GEMM) into the saved weights, the softmax kernel in
// place (scale, masks, causal fused), then O = P V (GEMM) while the tile is still in cache. The backward
// walks the same tiles: dP = G Vᵀ, dZ = softmax_backward(P, dP) in a per-thread scratch tile, dQ = λ dZ K,
// and dK += λ dZᵀ Q, dV += Pᵀ G accumulated over the tiles of a head (heads run in parallel).

template <class T>
tensor<T> dense_forward(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, saved_state<T>& s) {
  const geometry& g = s.geo;
  const index_t bh = g.batch * g.heads, nq = g.nq, nk = g.nk, d = g.d, dv = g.dv;
  const T* qp = q.data();
  if (s.per_row) {
    s.q_scaled = tensor<T>::empty(q.shape());
    T* qs = s.q_scaled.data();
    for (index_t r = 0; r < bh * nq; ++r) {
      for (index_t c = 0; c < d; ++c) qs[r * d + c] = s.lam[r] * qp[r * d + c];
    }
    qp = qs;
  }
  s.p = tensor<T>::empty({g.batch, g.heads, nq, nk});
  auto out = tensor<T>::empty({g.batch, g.heads, nq, dv});
  const index_t ld = std::max<index_t>(nk, 1);
  // Tiles are independent in the forward: parallel over all of them (a single long head splits too).
  const index_t per_head = tiles_per_head(g);
  const double tile_work = double(dense_tile_rows(nk)) * double(nk) * double(d + dv);
  const index_t grain = std::max<index_t>(1, static_cast<index_t>(double(1 << 20) / std::max(tile_work, 1.0)));
  parallel_for(0, bh * per_head, grain, [&](index_t t0, index_t t1) {
    std::vector<T> dropped;
    for (index_t tile = t0; tile < t1; ++tile) {
      const dense_tile t = tile_at(g, tile);
      const index_t rows = t.i1 - t.i0;
      T* p = s.p.data() + (t.head * nq + t.i0) * nk;
      kernels::gemm<T>(false, true, rows, t.cols, d, T(1), qp + (t.head * nq + t.i0) * d, d, k.data() + t.head * nk * d,
                       d, T(0), p, ld);
      softmax_rows<T>(p, p, rows, nk, tile_softmax_options(s, t));
      const T* pd = p;
      if (s.dropout > 0) {
        dropped.resize(static_cast<std::size_t>(rows * nk));
        const T* f = s.drop.data() + (t.head * nq + t.i0) * nk;
        for (index_t e = 0; e < rows * nk; ++e) dropped[e] = p[e] * f[e];
        pd = dropped.data();
      }
      kernels::gemm<T>(false, false, rows, dv, t.cols, T(1), pd, ld, v.data() + t.head * nk * dv, dv, T(0),
                       out.data() + (t.head * nq + t.i0) * dv, dv);
    }
  });
  return out;
}

/// Fused backward of the dense engine (recording off): returns {dq, dk, dv} (undefined where not needed).
template <class T>
std::vector<tensor<T>> dense_backward(const saved_state<T>& s, const tensor<T>& q, const tensor<T>& k,
                                      const tensor<T>& v, const tensor<T>& grad) {
  const geometry& g = s.geo;
  const index_t bh = g.batch * g.heads, nq = g.nq, nk = g.nk, d = g.d, dv = g.dv;
  const bool want_q = q.requires_grad(), want_k = k.requires_grad(), want_v = v.requires_grad();
  tensor<T> gq = want_q ? tensor<T>::empty(q.shape()) : tensor<T>();
  tensor<T> gk = want_k ? zeros<T>(k.shape()) : tensor<T>();
  tensor<T> gv = want_v ? zeros<T>(v.shape()) : tensor<T>();
  const T alpha = s.per_row ? T(1) : s.scale;
  const T* qp = s.per_row ? s.q_scaled.data() : q.data();
  const index_t ld = std::max<index_t>(nk, 1);
  parallel_for(0, bh, heads_grain(g), [&](index_t head0, index_t head1) {
    std::vector<T> dropped, dz;
    for_tiles(g, head0, head1, [&](const dense_tile& t) {
      const index_t rows = t.i1 - t.i0, cols = t.cols;
      const T* p = s.p.data() + (t.head * nq + t.i0) * nk;
      const T* f = s.dropout > 0 ? s.drop.data() + (t.head * nq + t.i0) * nk : nullptr;
      const T* go = grad.data() + (t.head * nq + t.i0) * dv;
      if (want_v) {
        const T* pd = p;
        if (f != nullptr) {
          dropped.resize(static_cast<std::size_t>(rows * nk));
          for (index_t e = 0; e < rows * nk; ++e) dropped[e] = p[e] * f[e];
          pd = dropped.data();
        }
        kernels::gemm<T>(true, false, cols, dv, rows, T(1), pd, ld, go, dv, T(1), gv.data() + t.head * nk * dv, dv);
      }
      if (!want_q && !want_k) return;
      // dZ over the visible columns [0, cols); the softmax backward reads whole rows, so the rest is 0.
      dz.resize(static_cast<std::size_t>(rows * ld));
      kernels::gemm<T>(false, true, rows, cols, dv, T(1), go, dv, v.data() + t.head * nk * dv, dv, T(0), dz.data(), ld);
      for (index_t i = 0; i < rows; ++i) {
        std::fill(dz.data() + i * nk + cols, dz.data() + (i + 1) * nk, T(0));
        if (f != nullptr) {
          for (index_t j = 0; j < cols; ++j) dz[i * nk + j] *= f[i * nk + j];
        }
      }
      softmax_backward_rows<T>(p, dz.data(), dz.data(), rows, nk);
      if (want_q) {
        T* gqt = gq.data() + (t.head * nq + t.i0) * d;
        kernels::gemm<T>(false, false, rows, d, cols, alpha, dz.data(), ld, k.data() + t.head * nk * d, d, T(0), gqt,
                         d);
        if (s.per_row) {
          for (index_t i = 0; i < rows; ++i) {
            for (index_t c = 0; c < d; ++c) gqt[i * d + c] *= s.lam[t.head * nq + t.i0 + i];
          }
        }
      }
      if (want_k) {
        kernels::gemm<T>(true, false, cols, d, rows, alpha, dz.data(), ld, qp + (t.head * nq + t.i0) * d, d, T(1),
                         gk.data() + t.head * nk * d, d);
      }
    });
  });
  return {gq, gk, gv};
}

// ~~~ pattern engine ~~~

/// Per-thread buffers of one task.
template <class T>
struct task_scratch {
  std::vector<T> qt, kt, vt, gt, ot, add, dz;
  std::vector<std::uint8_t> keep;
};

/// keep[ii, jj] (and the additive values) of a task for head (b, h); returns the row counts via `count`.
template <class T>
void task_masks(const saved_state<T>& s, const task& t, index_t b, index_t h, task_scratch<T>& w,
                std::vector<index_t>& count) {
  const geometry& g = s.geo;
  const index_t rows = static_cast<index_t>(t.queries.size()), cols = static_cast<index_t>(t.keys.size());
  w.keep.assign(static_cast<std::size_t>(rows * cols), 0);
  if (s.masks.additive.defined()) w.add.assign(static_cast<std::size_t>(rows * cols), T(0));
  count.assign(static_cast<std::size_t>(rows), 0);
  const std::uint8_t* keep_keys = s.masks.keep_row(b, g.nk);
  for (index_t ii = 0; ii < rows; ++ii) {
    const index_t i = t.queries[ii];
    const T* add = s.masks.add_row(g, b, h, i);
    for (index_t jj = 0; jj < cols; ++jj) {
      const index_t j = t.keys[jj];
      bool ok = g.visible(i, j) && owns(t, g, i, j) && (keep_keys == nullptr || keep_keys[j] != 0);
      if (add != nullptr) {
        w.add[ii * cols + jj] = add[j];
        ok = ok && add[j] != -std::numeric_limits<T>::infinity();
      }
      w.keep[ii * cols + jj] = ok ? 1 : 0;
      count[ii] += ok ? 1 : 0;
    }
  }
}

template <class T>
softmax_options<T> task_softmax_options(const task_scratch<T>& w, index_t rows, index_t cols) {
  softmax_options<T> o;
  o.keep = w.keep.data();
  o.keep_row_stride = cols;
  o.keep_rows = std::max<index_t>(rows, 1);
  if (!w.add.empty()) {
    o.add_mask = w.add.data();
    o.add_mask_row_stride = cols;
    o.add_mask_rows = std::max<index_t>(rows, 1);
  }
  return o;
}

/// Copies rows `idx` of src (row length n) into dst, each times factor(r) (r = position in idx).
template <class T, class F>
void gather_rows(const T* src, index_t n, const std::vector<index_t>& idx, std::vector<T>& dst, F factor) {
  dst.resize(idx.size() * static_cast<std::size_t>(n));
  for (std::size_t r = 0; r < idx.size(); ++r) {
    const T f = factor(static_cast<index_t>(r));
    const T* row = src + idx[r] * n;
    for (index_t c = 0; c < n; ++c) dst[r * n + c] = f * row[c];
  }
}

/// The scale of one row given its visible-key count.
template <class T>
T row_scale(const saved_state<T>& s, const attention_options<T>& o, index_t n) {
  return o.scale_policy() == attention_scale::entropy_invariant ? entropy_scale<T>(n, o.min_keys(), s.geo.d) : s.scale;
}

/// Sparse forward, second part of a row: merges the far part (normalised weights `pf` of length cols, output
/// `of`, logsumexp `lf`) into the near part already in `out` (logsumexp `ln`): with l = log(e^ln + e^lf), the
/// near weights are to be multiplied by e^(ln − l) (returned), the far ones are multiplied here by e^(lf − l),
/// and out = e^(ln − l)·out + e^(lf − l)·of. Rows that see no key in either part stay 0.
template <class T>
T merge_parts(T ln, T lf, T* pf, index_t cols, const T* of, T* out, index_t dv) {
  const T m = std::max(ln, lf);
  T wn = T(0), wf = T(0);
  if (m != -std::numeric_limits<T>::infinity()) {
    const T en = std::exp(ln - m), ef = std::exp(lf - m), total = en + ef;
    wn = en / total;
    wf = ef / total;
  }
  for (index_t jj = 0; jj < cols; ++jj) pf[jj] *= wf;
  for (index_t c = 0; c < dv; ++c) out[c] = wn * out[c] + wf * of[c];
  return wn;
}

template <class T>
tensor<T> pattern_forward(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, saved_state<T>& s,
                          const attention_options<T>& o) {
  const geometry& g = s.geo;
  const index_t bh = g.batch * g.heads, nq = g.nq, nk = g.nk, d = g.d, dv = g.dv;
  const bool split = g.pattern == attention_pattern::sparse;
  const bool entropy = o.scale_policy() == attention_scale::entropy_invariant;
  s.p = tensor<T>::empty({bh, s.per_head});
  s.lam.assign(static_cast<std::size_t>(bh * nq), s.scale);
  auto out = tensor<T>::empty({g.batch, g.heads, nq, dv});
  parallel_for(0, bh, 1, [&](index_t h0, index_t h1) {
    task_scratch<T> w;
    std::vector<index_t> count, total;
    std::vector<T> lse, lse_near, w_near;
    for (index_t head = h0; head < h1; ++head) {
      const index_t b = head / g.heads, h = head % g.heads;
      const T* qh = q.data() + head * nq * d;
      const T* kh = k.data() + head * nk * d;
      const T* vh = v.data() + head * nk * dv;
      T* oh = out.data() + head * nq * dv;
      T* lam = s.lam.data() + head * nq;
      if (split && entropy) {
        // λ_i needs the keys of both parts of row i before either part is computed.
        total.assign(static_cast<std::size_t>(nq), 0);
        for (const task& t : s.tasks) {
          task_masks(s, t, b, h, w, count);
          for (std::size_t ii = 0; ii < t.queries.size(); ++ii) total[t.queries[ii]] += count[ii];
        }
        for (index_t i = 0; i < nq; ++i) lam[i] = row_scale(s, o, total[i]);
      }
      if (split) {
        lse_near.assign(static_cast<std::size_t>(nq), -std::numeric_limits<T>::infinity());
        w_near.assign(static_cast<std::size_t>(nq), T(0));
      }
      for (const task& t : s.tasks) {
        const index_t rows = static_cast<index_t>(t.queries.size()), cols = static_cast<index_t>(t.keys.size());
        const index_t ld = std::max<index_t>(cols, 1);
        task_masks(s, t, b, h, w, count);
        if (!split && entropy) {
          for (index_t ii = 0; ii < rows; ++ii) lam[t.queries[ii]] = row_scale(s, o, count[ii]);
        }
        gather_rows(qh, d, t.queries, w.qt, [&](index_t ii) { return lam[t.queries[ii]]; });
        gather_rows(kh, d, t.keys, w.kt, [](index_t) { return T(1); });
        gather_rows(vh, dv, t.keys, w.vt, [](index_t) { return T(1); });
        T* pt = s.p.data() + head * s.per_head + t.offset;
        kernels::gemm<T>(false, true, rows, cols, d, T(1), w.qt.data(), d, w.kt.data(), d, T(0), pt, ld);
        const softmax_options<T> so = task_softmax_options(w, rows, cols);
        if (split) {
          lse.resize(static_cast<std::size_t>(rows));
          logsumexp_rows<T>(pt, lse.data(), rows, cols, so);
        }
        softmax_rows<T>(pt, pt, rows, cols, so);
        const T* pd = pt;
        if (s.dropout > 0) {
          w.dz.resize(static_cast<std::size_t>(rows * cols));
          const T* f = s.drop.data() + head * s.per_head + t.offset;
          for (index_t e = 0; e < rows * cols; ++e) w.dz[e] = pt[e] * f[e];
          pd = w.dz.data();
        }
        w.ot.resize(static_cast<std::size_t>(rows * dv));
        kernels::gemm<T>(false, false, rows, dv, cols, T(1), pd, ld, w.vt.data(), dv, T(0), w.ot.data(), dv);
        for (index_t ii = 0; ii < rows; ++ii) {
          const index_t i = t.queries[ii];
          if (t.part == task_part::far) {
            w_near[i] = merge_parts(lse_near[i], lse[ii], pt + ii * cols, cols, w.ot.data() + ii * dv, oh + i * dv, dv);
          } else {
            std::copy(w.ot.begin() + ii * dv, w.ot.begin() + (ii + 1) * dv, oh + i * dv);
            if (split) lse_near[i] = lse[ii];
          }
        }
      }
      if (!split) continue;
      for (const task& t : s.tasks) {  // the near weights get their share of the row's total
        if (t.part != task_part::near) continue;
        const index_t cols = static_cast<index_t>(t.keys.size());
        T* pt = s.p.data() + head * s.per_head + t.offset;
        for (std::size_t ii = 0; ii < t.queries.size(); ++ii) {
          const T f = w_near[t.queries[ii]];
          for (index_t jj = 0; jj < cols; ++jj) pt[ii * cols + jj] *= f;
        }
      }
    }
  });
  return out;
}

/// Fused backward of the pattern engine (recording off): returns {dq, dk, dv}. `out` is the forward's output:
/// for sparse, the two parts of a row share the softmax backward's row term Σ_j p_ij dP_ij = g_i · o_i.
template <class T>
std::vector<tensor<T>> pattern_backward(const saved_state<T>& s, const tensor<T>& q, const tensor<T>& k,
                                        const tensor<T>& v, const tensor<T>& grad, const tensor<T>& out) {
  const geometry& g = s.geo;
  const index_t bh = g.batch * g.heads, nq = g.nq, nk = g.nk, d = g.d, dv = g.dv;
  const bool split = g.pattern == attention_pattern::sparse;
  const tensor<T>& go = grad;
  const bool want_q = q.requires_grad(), want_k = k.requires_grad(), want_v = v.requires_grad();
  tensor<T> gq = want_q ? zeros<T>(q.shape()) : tensor<T>();
  tensor<T> gk = want_k ? zeros<T>(k.shape()) : tensor<T>();
  tensor<T> gv = want_v ? zeros<T>(v.shape()) : tensor<T>();
  parallel_for(0, bh, 1, [&](index_t h0, index_t h1) {
    task_scratch<T> w;
    std::vector<T> pd, tmp, row_term;
    for (index_t head = h0; head < h1; ++head) {
      const T* qh = q.data() + head * nq * d;
      const T* kh = k.data() + head * nk * d;
      const T* vh = v.data() + head * nk * dv;
      const T* gh = go.data() + head * nq * dv;
      if (split && (want_q || want_k)) {
        row_term.assign(static_cast<std::size_t>(nq), T(0));
        const T* oh = out.data() + head * nq * dv;
        for (index_t i = 0; i < nq; ++i) {
          for (index_t c = 0; c < dv; ++c) row_term[i] += gh[i * dv + c] * oh[i * dv + c];
        }
      }
      for (const task& t : s.tasks) {
        const index_t rows = static_cast<index_t>(t.queries.size()), cols = static_cast<index_t>(t.keys.size());
        const index_t ld = std::max<index_t>(cols, 1);
        const T* pt = s.p.data() + head * s.per_head + t.offset;
        pd.assign(pt, pt + rows * cols);
        if (s.dropout > 0) {
          const T* f = s.drop.data() + head * s.per_head + t.offset;
          for (index_t e = 0; e < rows * cols; ++e) pd[e] *= f[e];
        }
        gather_rows(gh, dv, t.queries, w.gt, [](index_t) { return T(1); });
        if (want_v) {
          tmp.resize(static_cast<std::size_t>(cols * dv));
          kernels::gemm<T>(true, false, cols, dv, rows, T(1), pd.data(), ld, w.gt.data(), dv, T(0), tmp.data(), dv);
          T* gvh = gv.data() + head * nk * dv;
          for (index_t jj = 0; jj < cols; ++jj) {
            for (index_t c = 0; c < dv; ++c) gvh[t.keys[jj] * dv + c] += tmp[jj * dv + c];
          }
        }
        if (!want_q && !want_k) continue;
        gather_rows(vh, dv, t.keys, w.vt, [](index_t) { return T(1); });
        w.dz.resize(static_cast<std::size_t>(rows * cols));
        kernels::gemm<T>(false, true, rows, cols, dv, T(1), w.gt.data(), dv, w.vt.data(), dv, T(0), w.dz.data(), ld);
        if (s.dropout > 0) {
          const T* f = s.drop.data() + head * s.per_head + t.offset;
          for (index_t e = 0; e < rows * cols; ++e) w.dz[e] *= f[e];
        }
        if (split) {  // dZ = P ⊙ (dP − g_i · o_i); hidden keys have P = 0
          for (index_t ii = 0; ii < rows; ++ii) {
            const T r = row_term[t.queries[ii]];
            for (index_t jj = 0; jj < cols; ++jj)
              w.dz[ii * cols + jj] = pt[ii * cols + jj] * (w.dz[ii * cols + jj] - r);
          }
        } else {
          softmax_backward_rows<T>(pt, w.dz.data(), w.dz.data(), rows, cols);
        }
        if (want_q) {
          gather_rows(kh, d, t.keys, w.kt, [](index_t) { return T(1); });
          tmp.resize(static_cast<std::size_t>(rows * d));
          kernels::gemm<T>(false, false, rows, d, cols, T(1), w.dz.data(), ld, w.kt.data(), d, T(0), tmp.data(), d);
          T* gqh = gq.data() + head * nq * d;
          for (index_t ii = 0; ii < rows; ++ii) {
            const T lam = s.lam[head * nq + t.queries[ii]];
            for (index_t c = 0; c < d; ++c) gqh[t.queries[ii] * d + c] += lam * tmp[ii * d + c];
          }
        }
        if (want_k) {
          gather_rows(qh, d, t.queries, w.qt, [&](index_t ii) { return s.lam[head * nq + t.queries[ii]]; });
          tmp.resize(static_cast<std::size_t>(cols * d));
          kernels::gemm<T>(true, false, cols, d, rows, T(1), w.dz.data(), ld, w.qt.data(), d, T(0), tmp.data(), d);
          T* gkh = gk.data() + head * nk * d;
          for (index_t jj = 0; jj < cols; ++jj) {
            for (index_t c = 0; c < d; ++c) gkh[t.keys[jj] * d + c] += tmp[jj * d + c];
          }
        }
      }
    }
  });
  return {gq, gk, gv};
}

/// A tensor in the pattern engine's task layout [B·H, per_head] scattered to dense [B, H, Nq, Nk] (zeros
/// elsewhere).
template <class T>
tensor<T> tasks_to_dense(const saved_state<T>& s, const tensor<T>& x) {
  const geometry& g = s.geo;
  auto out = zeros<T>({g.batch, g.heads, g.nq, g.nk});
  for (index_t head = 0; head < g.batch * g.heads; ++head) {
    for (const task& t : s.tasks) {
      const T* src = x.data() + head * s.per_head + t.offset;
      for (std::size_t ii = 0; ii < t.queries.size(); ++ii) {
        T* row = out.data() + (head * g.nq + t.queries[ii]) * g.nk;
        for (std::size_t jj = 0; jj < t.keys.size(); ++jj) {
          if (owns(t, g, t.queries[ii], t.keys[jj])) row[t.keys[jj]] = src[ii * t.keys.size() + jj];
        }
      }
    }
  }
  return out;
}

/// The dense keep mask [B, H, Nq, Nk] of positions (pattern, causal) and key padding; the attention mask
/// stays in the additive tensor.
template <class T>
tensor<bool> dense_keep(const saved_state<T>& s) {
  const geometry& g = s.geo;
  auto keep = tensor<bool>::empty({g.batch, g.heads, g.nq, g.nk});
  bool* out = keep.data();
  for (index_t b = 0; b < g.batch; ++b) {
    const std::uint8_t* kk = s.masks.keep_row(b, g.nk);
    for (index_t h = 0; h < g.heads; ++h) {
      for (index_t i = 0; i < g.nq; ++i) {
        for (index_t j = 0; j < g.nk; ++j) *out++ = g.visible(i, j) && (kk == nullptr || kk[j] != 0);
      }
    }
  }
  return keep;
}

/// λ as a constant tensor broadcastable to [B, H, Nq, Nk]: [B, H, Nq, 1] per row, or [1].
template <class T>
tensor<T> scale_tensor(const saved_state<T>& s) {
  if (!s.per_row) return full<T>({1}, s.scale);
  auto lam = tensor<T>::empty({s.geo.batch, s.geo.heads, s.geo.nq, 1});
  std::copy(s.lam.begin(), s.lam.end(), lam.data());
  return lam;
}

/// The softmax weights (before dropout) recomputed densely from q and k with differentiable ops and the
/// equivalent explicit mask, for second order.
template <class T>
tensor<T> composed_weights(const saved_state<T>& s, const tensor<T>& q, const tensor<T>& k, const tensor<T>& lam) {
  tensor<T> z = matmul(q, k, false, true) * lam;
  if (s.masks.additive.defined()) z = z + s.masks.additive;
  return kexue::softmax(z, dense_keep(s), -1);
}

/// The backward composed of differentiable ops (create_graph): a dense recomputation of the weights from q
/// and k with the equivalent explicit mask, then dV = Pᵀ G, dZ = softmax_backward(P, (G Vᵀ) ⊙ drop),
/// dQ = (λ ⊙ dZ) K, dK = (λ ⊙ dZ)ᵀ Q. The masks, λ and the dropout factors are constants.
template <class T>
std::vector<tensor<T>> composed_backward(const saved_state<T>& s, bool pattern_engine, const tensor<T>& q,
                                         const tensor<T>& k, const tensor<T>& v, const tensor<T>& grad) {
  if (q.numel() == 0 || k.numel() == 0) {  // no query or no key: zero gradients (and no empty GEMM)
    auto zero = [](const tensor<T>& x) { return x.requires_grad() ? zeros<T>(x.shape()) : tensor<T>(); };
    return {zero(q), zero(k), zero(v)};
  }
  const tensor<T> lam = scale_tensor(s);
  const tensor<T> p = composed_weights(s, q, k, lam);
  tensor<T> drop;
  if (s.dropout > 0) drop = pattern_engine ? tasks_to_dense(s, s.drop) : s.drop;
  const tensor<T> pd = s.dropout > 0 ? p * drop : p;
  tensor<T> gq, gk, gv;
  if (v.requires_grad()) gv = matmul(pd, grad, true, false);
  if (q.requires_grad() || k.requires_grad()) {
    tensor<T> dp = matmul(grad, v, false, true);
    if (s.dropout > 0) dp = dp * drop;
    const tensor<T> ds = kexue::softmax_backward(p, dp, -1) * lam;
    if (q.requires_grad()) gq = matmul(ds, k);
    if (k.requires_grad()) gk = matmul(ds, q, true, false);
  }
  return {gq, gk, gv};
}

/// The dense weights W = P ⊙ drop [B, H, Nq, Nk] of a forward, recorded as an op of q and k. Backward:
/// dZ = softmax_backward(P, G ⊙ drop), dQ = (λ ⊙ dZ) K, dK = (λ ⊙ dZ)ᵀ Q with the forward's P as a constant;
/// under create_graph P is recomputed from q and k (composed_weights), so second order works.
template <class T>
tensor<T> weights(const std::shared_ptr<saved_state<T>>& s, bool pattern_engine, const tensor<T>& q,
                  const tensor<T>& k) {
  // The dense engine's P stays in the saved state; the pattern engine's dense P is the output itself
  // (read back through saved_output) unless dropout makes them differ.
  const tensor<T> p = pattern_engine ? tasks_to_dense(*s, s->p) : s->p.copy();
  tensor<T> drop;
  if (s->dropout > 0) drop = pattern_engine ? tasks_to_dense(*s, s->drop) : s->drop;
  const tensor<T> w = s->dropout > 0 ? tensor<T>(p * drop) : p;
  return autograd::record<T>("scaled_dot_product_attention_weights", w, {q, k}, [&](auto self) {
    const tensor<T> saved_p = pattern_engine && s->dropout > 0 ? p : tensor<T>();
    return [s, q, k, drop, saved_p, pattern_engine, self](const tensor<T>& grad) {
      if (q.numel() == 0 || k.numel() == 0) {  // no query or no key: zero gradients (and no empty GEMM)
        auto zero = [](const tensor<T>& x) { return x.requires_grad() ? zeros<T>(x.shape()) : tensor<T>(); };
        return std::vector<tensor<T>>{zero(q), zero(k)};
      }
      const tensor<T> lam = scale_tensor(*s);
      tensor<T> p_used;
      if (is_grad_enabled()) {
        p_used = composed_weights(*s, q, k, lam);
      } else {
        p_used = !pattern_engine ? s->p : saved_p.defined() ? saved_p : autograd::saved_output<T>(self);
      }
      const tensor<T> ds = kexue::softmax_backward(p_used, drop.defined() ? grad * drop : grad, -1) * lam;
      return std::vector<tensor<T>>{q.requires_grad() ? matmul(ds, k) : tensor<T>(),
                                    k.requires_grad() ? matmul(ds, q, true, false) : tensor<T>()};
    };
  });
}

template <class T>
void check_arguments(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, const attention_options<T>& o,
                     geometry& g) {
  const bool ranks = q.rank() == 4 && k.rank() == 4 && v.rank() == 4;
  const bool fit = ranks && k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(1) == q.size(1) &&
                   v.size(1) == q.size(1) && k.size(3) == q.size(3) && v.size(2) == k.size(2) && q.size(3) >= 1;
  KEXUE_CHECK(fit, shape_error, op_name,
              "expected q [B, H, Nq, d], k [B, H, Nk, d], v [B, H, Nk, dv] with d >= 1, got q ",
              format_shape(q.shape()), ", k ", format_shape(k.shape()), ", v ", format_shape(v.shape()));
  g.batch = q.size(0);
  g.heads = q.size(1);
  g.nq = q.size(2);
  g.d = q.size(3);
  g.nk = k.size(2);
  g.dv = v.size(3);
  g.pattern = o.pattern();
  g.k = o.pattern_size();
  g.causal = o.causal();
  g.offset = o.causal_offset();
  if (g.pattern == attention_pattern::local) {
    KEXUE_CHECK(g.k >= 0, value_error, op_name, "the local window k must be >= 0 (got ", g.k, ")");
  } else if (g.pattern != attention_pattern::dense) {
    KEXUE_CHECK(g.k >= 1, value_error, op_name, "the ", g.pattern == attention_pattern::atrous ? "atrous" : "sparse",
                " rate k must be >= 1 (got ", g.k, ")");
  }
  if (o.scale_policy() == attention_scale::fixed) {
    KEXUE_CHECK(std::isfinite(o.scale_value()), value_error, op_name, "the scale must be finite (got ", o.scale_value(),
                ")");
  }
  if (o.scale_policy() == attention_scale::entropy_invariant) {
    KEXUE_CHECK(o.min_keys() >= 1, value_error, op_name, "min_keys must be >= 1 (got ", o.min_keys(), ")");
  }
  if (o.dropout() != 0.0) {
    KEXUE_CHECK(!std::isnan(o.dropout()) && o.dropout() >= 0.0 && o.dropout() < 1.0, value_error, op_name,
                "dropout p must lie in [0, 1) (got ", o.dropout(), ")");
    KEXUE_CHECK(o.dropout_generator() != nullptr, value_error, op_name, "dropout needs a generator");
  }
}

template <class T>
attention_result<T> run(const tensor<T>& q_in, const tensor<T>& k_in, const tensor<T>& v_in,
                        const attention_options<T>& o, bool want_weights) {
  auto s = std::make_shared<saved_state<T>>();
  check_arguments(q_in, k_in, v_in, o, s->geo);
  const geometry& g = s->geo;
  s->masks = prepare_masks(o, g);
  s->dropout = o.dropout();
  const T standard = static_cast<T>(1.0 / std::sqrt(static_cast<double>(g.d)));
  s->scale = o.scale_policy() == attention_scale::fixed ? static_cast<T>(o.scale_value()) : standard;
  const bool pattern_engine = g.pattern != attention_pattern::dense;
  s->per_row = pattern_engine || o.scale_policy() == attention_scale::entropy_invariant;
  // The tensors as given may be views; the kernels read dense buffers from data().
  const tensor<T> q = q_in, k = k_in, v = v_in;
  tensor<T> out;
  if (pattern_engine) {
    s->tasks = make_tasks(g, s->per_head);
    if (s->dropout > 0) s->drop = dropout_mask<T>({g.batch * g.heads, s->per_head}, s->dropout, *o.dropout_generator());
    out = pattern_forward(q, k, v, *s, o);
  } else {
    if (s->per_row) {
      s->lam.resize(static_cast<std::size_t>(g.batch * g.heads * g.nq));
      for (index_t b = 0; b < g.batch; ++b) {
        for (index_t h = 0; h < g.heads; ++h) {
          for (index_t i = 0; i < g.nq; ++i) {
            s->lam[(b * g.heads + h) * g.nq + i] =
                entropy_scale<T>(count_visible(g, s->masks, b, h, i), o.min_keys(), g.d);
          }
        }
      }
    }
    if (s->dropout > 0) s->drop = dropout_mask<T>({g.batch, g.heads, g.nq, g.nk}, s->dropout, *o.dropout_generator());
    out = dense_forward(q, k, v, *s);
  }
  attention_result<T> r;
  if (want_weights) r.weights = weights(s, pattern_engine, q, k);
  r.output = autograd::record<T>(op_name, std::move(out), {q, k, v}, [s, q, k, v, pattern_engine](auto self) {
    return [s, q, k, v, pattern_engine, self](const tensor<T>& grad) {
      if (is_grad_enabled()) return composed_backward(*s, pattern_engine, q, k, v, grad);
      if (!pattern_engine) return dense_backward(*s, q, k, v, grad);
      return pattern_backward(*s, q, k, v, grad, autograd::saved_output<T>(self));
    };
  });
  return r;
}

}  // namespace detail::attention

template <class T>
tensor<T> scaled_dot_product_attention(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v,
                                       const attention_options<T>& options) {
  return detail::attention::run(q, k, v, options, false).output;
}

template <class T>
attention_result<T> scaled_dot_product_attention_with_weights(const tensor<T>& q, const tensor<T>& k,
                                                              const tensor<T>& v, const attention_options<T>& options) {
  return detail::attention::run(q, k, v, options, true);
}

inline tensor<bool> attention_pattern_mask(index_t nq, index_t nk, attention_pattern p, index_t k, bool causal,
                                           index_t causal_offset) {
  detail::attention::geometry g;
  g.nq = nq;
  g.nk = nk;
  g.pattern = p;
  g.k = k;
  g.causal = causal;
  g.offset = causal_offset;
  KEXUE_CHECK(nq >= 0 && nk >= 0, value_error, "attention_pattern_mask", "sizes must be >= 0 (got ", nq, " and ", nk,
              ")");
  KEXUE_CHECK(p == attention_pattern::dense || k >= (p == attention_pattern::local ? 0 : 1), value_error,
              "attention_pattern_mask", "pattern size k must be >= ", p == attention_pattern::local ? 0 : 1, " (got ",
              k, ")");
  auto m = tensor<bool>::empty({nq, nk});
  for (index_t i = 0; i < nq; ++i) {
    for (index_t j = 0; j < nk; ++j) m.data()[i * nk + j] = g.visible(i, j);
  }
  return m;
}

}  // namespace kexue
