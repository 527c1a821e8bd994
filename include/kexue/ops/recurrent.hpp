// SPDX-License-Identifier: MIT
// Recurrent cells and sequences: fused GRU and LSTM over a whole sequence (one recorded op, GEMM-based
// backward through time), their composed per-step twins, and gru_cell / lstm_cell.
#pragma once

#include <algorithm>  // std::copy_n, std::fill_n
#include <utility>    // std::pair
#include <vector>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/kernels/gemm.hpp>
#include <kexue/kernels/parallel.hpp>
#include <kexue/kernels/vector_math.hpp>
#include <kexue/ops/activation.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue {

// Conventions (PyTorch's torch.nn.GRU / LSTM, one layer, one direction):
//   x [B, T, I] (batch first), weight_ih [G·H, I], weight_hh [G·H, H], bias_ih / bias_hh [G·H] (either may
//   be an undefined tensor: no bias), with G = 3 gates r, z, n for the GRU and G = 4 gates i, f, g, o for
//   the LSTM, stacked in that order along the first axis. An undefined initial state means zeros.
//   GRU:  r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz),
//         n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h.
//   LSTM: i, f, o = σ(W_i* x + b_i* + W_h* h + b_h*),  g = tanh(W_ig x + b_ig + W_hg h + b_hg),
//         c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c').
// Masks (Keras semantics): `mask` [B, T] (bool, or undefined = every step valid). At a step with
// mask[b, t] false row b's state is carried unchanged (h' = h, c' = c), so the state after the last step
// is the state after the last valid one. With `reverse` the steps run t = T−1 … 0; for a length mask
// (valid steps 0 … L_b−1 then padding) that is the sequence reversed within its own length, the padding
// (visited first) leaving h0 untouched — PyTorch's packed-sequence reverse direction.
// The sequence ops return every state, masked steps included (carried values, not zeros): the nn layers
// zero the padded outputs and pick the final states from this.

/// @brief Fused GRU over a whole sequence: the states after every step.
/// @param x [B, T, I]; h0 [B, H] or undefined (zeros); weight_ih [3H, I]; weight_hh [3H, H];
///        bias_ih, bias_hh [3H] or undefined; mask [B, T] or undefined; reverse runs t = T−1 … 0.
/// @return [B, T, H]: out[b, t] = the state after step t (= the previous state where mask[b, t] is false).
/// @details One GEMM projects the input of every step ([B·T, I]·[I, 3H] + bias_ih); each step is one GEMM
///          [B, H]·[H, 3H] + bias_hh and one fused gate pass (vectorised sigmoid and tanh). Backward through
///          time runs one GEMM per step for dL/dh; dx, dW_ih, dW_hh and the biases are one GEMM (or column
///          sum) each over all steps at the end. Gradients flow to x, h0, the weights and the biases.
///          Second order: under create_graph the backward recomputes the sequence with the composed
///          gru_sequence_reference (differentiable ops) and differentiates that, so the gradients it
///          returns are differentiable again (slower than the fused first-order path, same values).
/// @throws shape_error naming the expected and received shapes (see the checks below).
template <class T>
tensor<T> gru_sequence(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& weight_ih, const tensor<T>& weight_hh,
                       const tensor<T>& bias_ih = {}, const tensor<T>& bias_hh = {}, const tensor<bool>& mask = {},
                       bool reverse = false);

/// @brief Fused LSTM over a whole sequence: the (h, c) states after every step.
/// @param x [B, T, I]; h0, c0 [B, H] or undefined (zeros); weight_ih [4H, I]; weight_hh [4H, H];
///        bias_ih, bias_hh [4H] or undefined; mask [B, T] or undefined; reverse runs t = T−1 … 0.
/// @return [B, T, 2, H]: out[b, t, 0] = h after step t, out[b, t, 1] = c after step t (carried where
///         mask[b, t] is false).
/// @details As gru_sequence (one input GEMM, one GEMM and one gate pass per step, backward through GEMMs,
///          second order through lstm_sequence_reference under create_graph).
template <class T>
tensor<T> lstm_sequence(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& c0, const tensor<T>& weight_ih,
                        const tensor<T>& weight_hh, const tensor<T>& bias_ih = {}, const tensor<T>& bias_hh = {},
                        const tensor<bool>& mask = {}, bool reverse = false);

/// @brief One GRU step composed of differentiable ops (matmul, sigmoid, tanh), PyTorch's GRUCell.
/// @param x [B, I]; h [B, H]; weight_ih [3H, I]; weight_hh [3H, H]; biases [3H] or undefined.
/// @return h' [B, H]. Gradients (any order) through the composed ops.
template <class T>
tensor<T> gru_cell(const tensor<T>& x, const tensor<T>& h, const tensor<T>& weight_ih, const tensor<T>& weight_hh,
                   const tensor<T>& bias_ih = {}, const tensor<T>& bias_hh = {});

/// @brief One LSTM step composed of differentiable ops, PyTorch's LSTMCell.
/// @param x [B, I]; h, c [B, H]; weight_ih [4H, I]; weight_hh [4H, H]; biases [4H] or undefined.
/// @return (h', c'), each [B, H].
template <class T>
std::pair<tensor<T>, tensor<T>> lstm_cell(const tensor<T>& x, const tensor<T>& h, const tensor<T>& c,
                                          const tensor<T>& weight_ih, const tensor<T>& weight_hh,
                                          const tensor<T>& bias_ih = {}, const tensor<T>& bias_hh = {});

/// @brief The composed twin of gru_sequence: gru_cell per step, `where` for the mask, `stack` of the
///        states. Same arguments, result and checks; every order of gradient; slower (one graph node per
///        op per step). Used by gru_sequence's double backward and as the tests' independent reference.
template <class T>
tensor<T> gru_sequence_reference(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& weight_ih,
                                 const tensor<T>& weight_hh, const tensor<T>& bias_ih = {},
                                 const tensor<T>& bias_hh = {}, const tensor<bool>& mask = {}, bool reverse = false);

/// @brief The composed twin of lstm_sequence (lstm_cell per step), as gru_sequence_reference.
template <class T>
tensor<T> lstm_sequence_reference(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& c0,
                                  const tensor<T>& weight_ih, const tensor<T>& weight_hh, const tensor<T>& bias_ih = {},
                                  const tensor<T>& bias_hh = {}, const tensor<bool>& mask = {}, bool reverse = false);

/// @brief A boolean mask [B, T] from sequence lengths: mask[b, t] = t < lengths[b] (PyTorch's packed
///        sequences, Keras's masking). @throws value_error for a length outside [0, time].
inline tensor<bool> lengths_to_mask(const std::vector<index_t>& lengths, index_t time) {
  auto m = tensor<bool>::empty({static_cast<index_t>(lengths.size()), time});
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    KEXUE_CHECK(lengths[b] >= 0 && lengths[b] <= time, value_error, "lengths_to_mask", "length ", lengths[b],
                " of row ", b, " is outside [0, ", time, "]");
    for (index_t t = 0; t < time; ++t) m.data()[static_cast<index_t>(b) * time + t] = t < lengths[b];
  }
  return m;
}

// ~~~ implementation: shape checks ~~~

namespace detail {

/// Sizes of a recurrent call, after its checks.
struct recurrent_sizes {
  index_t batch, time, input, hidden;
};

/// Checks x [B, T, I] (or [B, I] when `cell`), the weights, biases, initial states and mask of a
/// recurrent op with `gates` gates, and returns the sizes.
template <class T>
recurrent_sizes recurrent_check(const char* op, int gates, bool cell, const tensor<T>& x,
                                const std::vector<const tensor<T>*>& states, const tensor<T>& weight_ih,
                                const tensor<T>& weight_hh, const tensor<T>& bias_ih, const tensor<T>& bias_hh,
                                const tensor<bool>& mask) {
  const int rank = cell ? 2 : 3;
  KEXUE_CHECK(x.defined() && x.rank() == rank, shape_error, op, "x must be ",
              cell ? "[batch, input_size]" : "[batch, time, input_size]", ", got ",
              x.defined() ? format_shape(x.shape()) : std::string("an undefined tensor"));
  KEXUE_CHECK(weight_hh.defined() && weight_hh.rank() == 2 && weight_hh.size(0) == gates * weight_hh.size(1),
              shape_error, op, "weight_hh must be [", gates, " * hidden_size, hidden_size], got ",
              weight_hh.defined() ? format_shape(weight_hh.shape()) : std::string("an undefined tensor"));
  recurrent_sizes s{x.size(0), cell ? 1 : x.size(1), x.size(rank - 1), weight_hh.size(1)};
  const index_t g = gates * s.hidden;
  KEXUE_CHECK((weight_ih.defined() && weight_ih.shape() == shape{g, s.input}), shape_error, op, "weight_ih must be [",
              g, ", ", s.input, "] (", gates, " * hidden_size ", s.hidden, ", input_size of x ",
              format_shape(x.shape()), "), got ",
              weight_ih.defined() ? format_shape(weight_ih.shape()) : std::string("an undefined tensor"));
  KEXUE_CHECK(!bias_ih.defined() || bias_ih.shape() == shape{g}, shape_error, op, "bias_ih must be [", g, "], got ",
              format_shape(bias_ih.shape()));
  KEXUE_CHECK(!bias_hh.defined() || bias_hh.shape() == shape{g}, shape_error, op, "bias_hh must be [", g, "], got ",
              format_shape(bias_hh.shape()));
  static const char* const names[] = {"h0", "c0"};
  for (std::size_t i = 0; i < states.size(); ++i) {
    const tensor<T>& st = *states[i];
    const char* name = cell ? (i == 0 ? "h" : "c") : names[i];
    KEXUE_CHECK((!st.defined() || st.shape() == shape{s.batch, s.hidden}), shape_error, op, name, " must be [", s.batch,
                ", ", s.hidden, "] (batch of x ", format_shape(x.shape()), ", hidden_size ", s.hidden, "), got ",
                format_shape(st.shape()));
  }
  KEXUE_CHECK((!mask.defined() || mask.shape() == shape{s.batch, s.time}), shape_error, op, "mask must be [", s.batch,
              ", ", s.time, "] (batch and time of x ", format_shape(x.shape()), "), got ", format_shape(mask.shape()));
  return s;
}

// ~~~ implementation: fused kernels ~~~

// A cell policy describes one recurrent cell to the shared sequence driver:
//   gates     G: the projections have G·H columns
//   states    S: values per step kept in the output (1: h; 2: h, c), each H wide, h first
//   saved     width (in H) of the per-step values the backward reads, stored at ws[b, t]
//   split_dgh whether dL/d(W_hh h) differs from dL/d(W_ih x) (GRU: the n gate is scaled by r)
//   forward(gi, gh, prev, next, saved, H):  prev/next: the S states (rows of H) before/after the step
//   backward(saved, prev, ds, dgi, dgh, H):  ds (S rows of H) holds dL/d(states after the step) and is
//            overwritten with the direct part of dL/d(states before) (the h part gets W_hh's product later)
// The element loops take every array as its own __restrict parameter (the arrays never overlap), so the
// compiler vectorizes them without run-time alias checks (GCC honours restrict on parameters, not locals).

/// GRU: saved = r, z, n, (W_hn h + b_hn).
template <class T>
struct gru_kernel {
  static constexpr int gates = 3, states = 1, saved = 4;
  static constexpr bool split_dgh = true;

  static void forward(const T* gi, const T* gh, const T* const* prev, T* const* next, T* s, index_t H) {
    {
      T* __restrict rz = s;
      T* __restrict n = s + 2 * H;
      T* __restrict hn = s + 3 * H;
      const T* __restrict a = gi;
      const T* __restrict b = gh;
      for (index_t j = 0; j < 2 * H; ++j) rz[j] = a[j] + b[j];
      vsigmoid(rz, rz, 2 * H);
      for (index_t j = 0; j < H; ++j) {
        hn[j] = b[2 * H + j];
        n[j] = a[2 * H + j] + rz[j] * b[2 * H + j];
      }
      vtanh(n, n, H);
    }
    const T* __restrict z = s + H;
    const T* __restrict n = s + 2 * H;
    const T* __restrict h = prev[0];
    T* __restrict out = next[0];
    for (index_t j = 0; j < H; ++j) out[j] = n[j] + z[j] * (h[j] - n[j]);
  }

  // h' = n + z (h − n):  dn = dh' (1 − z), dz = dh' (h − n), dh (direct) = dh' z;
  // n = tanh(a_n): da_n = dn (1 − n²); a_n = gi_n + r hn: dgi_n = da_n, dhn = da_n r, dr = da_n hn;
  // r = σ(a_r), z = σ(a_z): da_r = dr r (1 − r), da_z = dz z (1 − z), shared by gi and gh.
  static void backward(const T* s, const T* const* prev, T* ds, T* dgi, T* dgh, index_t H) {
    backward_loop(s, s + H, s + 2 * H, s + 3 * H, prev[0], ds, dgi, dgi + H, dgi + 2 * H, dgh, dgh + H, dgh + 2 * H, H);
  }
  static void backward_loop(const T* __restrict r, const T* __restrict z, const T* __restrict n, const T* __restrict hn,
                            const T* __restrict h, T* __restrict dh, T* __restrict gi_r, T* __restrict gi_z,
                            T* __restrict gi_n, T* __restrict gh_r, T* __restrict gh_z, T* __restrict gh_n, index_t H) {
    for (index_t j = 0; j < H; ++j) {
      const T d = dh[j];
      const T dan = d * (T(1) - z[j]) * (T(1) - n[j] * n[j]);
      const T dar = dan * hn[j] * r[j] * (T(1) - r[j]);
      const T daz = d * (h[j] - n[j]) * z[j] * (T(1) - z[j]);
      gi_r[j] = dar;
      gi_z[j] = daz;
      gi_n[j] = dan;
      gh_r[j] = dar;
      gh_z[j] = daz;
      gh_n[j] = dan * r[j];
      dh[j] = d * z[j];
    }
  }
};

/// LSTM: saved = i, f, g, o, tanh(c').
template <class T>
struct lstm_kernel {
  static constexpr int gates = 4, states = 2, saved = 5;
  static constexpr bool split_dgh = false;

  static void forward(const T* gi, const T* gh, const T* const* prev, T* const* next, T* s, index_t H) {
    {
      T* __restrict a = s;
      const T* __restrict x = gi;
      const T* __restrict y = gh;
      for (index_t j = 0; j < 4 * H; ++j) a[j] = x[j] + y[j];
    }
    vsigmoid(s, s, 2 * H);              // i, f
    vtanh(s + 2 * H, s + 2 * H, H);     // g
    vsigmoid(s + 3 * H, s + 3 * H, H);  // o
    const T* __restrict i = s;
    const T* __restrict f = s + H;
    const T* __restrict g = s + 2 * H;
    const T* __restrict o = s + 3 * H;
    T* __restrict tc = s + 4 * H;
    const T* __restrict c = prev[1];
    T* __restrict h_out = next[0];
    T* __restrict c_out = next[1];
    for (index_t j = 0; j < H; ++j) c_out[j] = f[j] * c[j] + i[j] * g[j];
    vtanh(c_out, tc, H);
    for (index_t j = 0; j < H; ++j) h_out[j] = o[j] * tc[j];
  }

  // h' = o tanh(c'): do = dh' tc, dc'_total = dc' + dh' o (1 − tc²);  c' = f c + i g: df = dc'_total c,
  // di = dc'_total g, dg = dc'_total i, dc (direct) = dc'_total f; then through σ and tanh to the
  // pre-activations, which gi and gh share. The h part of ds becomes 0 (all of it is W_hh's product).
  static void backward(const T* s, const T* const* prev, T* ds, T* dgi, T*, index_t H) {
    backward_loop(s, s + H, s + 2 * H, s + 3 * H, s + 4 * H, prev[1], ds, ds + H, dgi, dgi + H, dgi + 2 * H,
                  dgi + 3 * H, H);
  }
  static void backward_loop(const T* __restrict i, const T* __restrict f, const T* __restrict g, const T* __restrict o,
                            const T* __restrict tc, const T* __restrict c, T* __restrict dh, T* __restrict dc,
                            T* __restrict di, T* __restrict df, T* __restrict dg, T* __restrict d_o, index_t H) {
    for (index_t j = 0; j < H; ++j) {
      const T dct = dc[j] + dh[j] * o[j] * (T(1) - tc[j] * tc[j]);
      di[j] = dct * g[j] * i[j] * (T(1) - i[j]);
      df[j] = dct * c[j] * f[j] * (T(1) - f[j]);
      dg[j] = dct * i[j] * (T(1) - g[j] * g[j]);
      d_o[j] = dh[j] * tc[j] * o[j] * (T(1) - o[j]);
      dc[j] = dct * f[j];
      dh[j] = T(0);
    }
  }
};

/// Everything the fused backward reads, shared by the forward's record call.
template <class T>
struct recurrent_saved {
  tensor<T> saved;                 // [B, T, saved·H] per-step values of the cell
  std::vector<tensor<T>> initial;  // the S initial states, [B, H] each (zeros where none was given)
};

/// Row pointers of the states before step t of batch row b: the initial states at the first step in
/// processing order, the previous step's output otherwise.
template <class T, int S>
void recurrent_prev_rows(const T* out, const std::vector<tensor<T>>& initial, index_t b, index_t t, bool first,
                         bool reverse, index_t time, index_t H, const T* (&prev)[S]) {
  if (first) {
    for (int k = 0; k < S; ++k) prev[k] = initial[k].data() + b * H;
  } else {
    const T* row = out + (b * time + (reverse ? t + 1 : t - 1)) * S * H;
    for (int k = 0; k < S; ++k) prev[k] = row + k * H;
  }
}

/// The fused forward: fills out [B, T, S·H] and, when `saved` is not null, saved [B, T, saved·H].
template <class Cell, class T>
void recurrent_forward(const recurrent_sizes& sz, const T* x, const std::vector<tensor<T>>& initial, const T* w_ih,
                       const T* w_hh, const T* b_ih, const T* b_hh, const bool* mask, bool reverse, T* out, T* saved) {
  constexpr int G = Cell::gates, S = Cell::states, W = Cell::saved;
  const index_t B = sz.batch, TT = sz.time, H = sz.hidden, GH = G * H;
  if (B == 0 || TT == 0) return;
  // All input projections at once: gi[b·T + t] = x[b, t] W_ihᵀ + b_ih.
  auto gi = tensor<T>::empty({B * TT, GH});
  kernels::gemm<T>(false, true, B * TT, GH, sz.input, T(1), x, sz.input, w_ih, sz.input, T(0), gi.data(), GH, {b_ih});
  auto gh = tensor<T>::empty({B, GH});
  // Without a saved buffer the per-step values go to a scratch row per batch row.
  tensor<T> scratch;
  if (!saved) scratch = tensor<T>::empty({B, W * H});
  const index_t grain = std::max<index_t>(1, 8192 / std::max<index_t>(1, H));
  // W_hhᵀ is packed once for all steps (each step is only B rows deep, too few to amortise a packing).
  const kernels::packed_b<T> w_hh_t(true, H, GH, w_hh, H);
  for (index_t step = 0; step < TT; ++step) {
    const index_t t = reverse ? TT - 1 - step : step;
    // gh = h W_hhᵀ + b_hh, h read with its row stride (the initial state, or last step's output rows).
    const T* h = step == 0 ? initial[0].data() : out + (reverse ? t + 1 : t - 1) * S * H;
    const index_t ldh = step == 0 ? H : TT * S * H;
    kernels::gemm_packed<T>(false, B, T(1), h, ldh, w_hh_t, T(0), gh.data(), GH, {b_hh});
    parallel_for(index_t(0), B, grain, [&](index_t b0, index_t b1) {
      for (index_t b = b0; b < b1; ++b) {
        const T* prev[S];
        recurrent_prev_rows<T, S>(out, initial, b, t, step == 0, reverse, TT, H, prev);
        T* row = out + (b * TT + t) * S * H;
        if (mask && !mask[b * TT + t]) {
          for (int k = 0; k < S; ++k) std::copy_n(prev[k], H, row + k * H);
          continue;
        }
        T* next[S];
        for (int k = 0; k < S; ++k) next[k] = row + k * H;
        T* s = saved ? saved + (b * TT + t) * W * H : scratch.data() + b * W * H;
        Cell::forward(gi.data() + (b * TT + t) * GH, gh.data() + b * GH, prev, next, s, H);
      }
    });
  }
}

/// Column sums of a [rows, cols] matrix into dst[cols].
template <class T>
void recurrent_column_sums(const T* a, index_t rows, index_t cols, T* dst) {
  std::fill_n(dst, cols, T(0));
  for (index_t i = 0; i < rows; ++i) {
    const T* row = a + i * cols;
    for (index_t j = 0; j < cols; ++j) dst[j] += row[j];
  }
}

/// The fused first-order backward. `grad` [B, T, S·H] is dL/d(out). Returns gradients for
/// {x, initial states..., w_ih, w_hh, b_ih, b_hh}, each computed only if `need` says so.
template <class Cell, class T>
std::vector<tensor<T>> recurrent_backward(const recurrent_sizes& sz, const tensor<T>& grad, const tensor<T>& x,
                                          const recurrent_saved<T>& sv, const tensor<T>& out, const tensor<T>& w_ih,
                                          const tensor<T>& w_hh, const bool* mask, bool reverse,
                                          const std::vector<bool>& need) {
  constexpr int G = Cell::gates, S = Cell::states, W = Cell::saved;
  const index_t B = sz.batch, TT = sz.time, H = sz.hidden, I = sz.input, GH = G * H;
  const index_t rows = B * TT;
  // dgi[b·T + t] = dL/d(pre-activation) through W_ih x; dgh the same through W_hh h (GRU only differs).
  auto dgi = tensor<T>::empty({rows, GH});
  tensor<T> dgh = Cell::split_dgh ? tensor<T>::empty({rows, GH}) : dgi;
  // dstate: dL/d(states before the current step), S rows of H per batch row; starts at zero after the end.
  auto dstate = zeros<T>({B, S * H});
  const T* o = out.data();
  const T* gd = grad.data();
  const index_t grain = std::max<index_t>(1, 8192 / std::max<index_t>(1, H));
  const kernels::packed_b<T> w_hh_packed(false, GH, H, w_hh.data(), H);  // reused by every step
  for (index_t step = TT - 1; step >= 0; --step) {
    const index_t t = reverse ? TT - 1 - step : step;
    parallel_for(index_t(0), B, grain, [&](index_t b0, index_t b1) {
      for (index_t b = b0; b < b1; ++b) {
        T* ds = dstate.data() + b * S * H;
        const T* g = gd + (b * TT + t) * S * H;
        for (index_t j = 0; j < S * H; ++j) ds[j] += g[j];  // dL/d(states after step t)
        T* dgi_row = dgi.data() + (b * TT + t) * GH;
        T* dgh_row = dgh.data() + (b * TT + t) * GH;
        if (mask && !mask[b * TT + t]) {  // carried state: the gradient passes through unchanged
          std::fill_n(dgi_row, GH, T(0));
          if (Cell::split_dgh) std::fill_n(dgh_row, GH, T(0));
          continue;
        }
        const T* prev[S];
        recurrent_prev_rows<T, S>(o, sv.initial, b, t, step == 0, reverse, TT, H, prev);
        Cell::backward(sv.saved.data() + (b * TT + t) * W * H, prev, ds, dgi_row, dgh_row, H);
      }
    });
    // dL/dh_prev += dgh_t W_hh  ([B, GH] rows at stride T·GH, times [GH, H]).
    kernels::gemm_packed<T>(false, B, T(1), dgh.data() + t * GH, TT * GH, w_hh_packed, T(1), dstate.data(), S * H);
  }
  std::vector<tensor<T>> grads(1 + S + 4);
  if (need[0]) {  // dx = dgi W_ih: [B·T, GH]·[GH, I]
    grads[0] = tensor<T>::empty(x.shape());
    kernels::gemm<T>(false, false, rows, I, GH, T(1), dgi.data(), GH, w_ih.data(), I, T(0), grads[0].data(), I);
  }
  for (int k = 0; k < S; ++k) {
    if (!need[1 + k]) continue;
    grads[1 + k] = tensor<T>::empty({B, H});
    for (index_t b = 0; b < B; ++b) std::copy_n(dstate.data() + b * S * H + k * H, H, grads[1 + k].data() + b * H);
  }
  if (need[1 + S]) {  // dW_ih = dgiᵀ x: [GH, B·T]·[B·T, I]
    grads[1 + S] = tensor<T>::empty({GH, I});
    kernels::gemm<T>(true, false, GH, I, rows, T(1), dgi.data(), GH, x.data(), I, T(0), grads[1 + S].data(), I);
  }
  if (need[2 + S]) {  // dW_hh = dghᵀ h_prev: the states before each step stacked as [B·T, H]
    auto hprev = tensor<T>::empty({rows, H});
    for (index_t b = 0; b < B; ++b) {
      for (index_t step = 0; step < TT; ++step) {
        const index_t t = reverse ? TT - 1 - step : step;
        const T* prev[S];
        recurrent_prev_rows<T, S>(o, sv.initial, b, t, step == 0, reverse, TT, H, prev);
        std::copy_n(prev[0], H, hprev.data() + (b * TT + t) * H);
      }
    }
    grads[2 + S] = tensor<T>::empty({GH, H});
    kernels::gemm<T>(true, false, GH, H, rows, T(1), dgh.data(), GH, hprev.data(), H, T(0), grads[2 + S].data(), H);
  }
  if (need[3 + S]) {
    grads[3 + S] = tensor<T>::empty({GH});
    recurrent_column_sums(dgi.data(), rows, GH, grads[3 + S].data());
  }
  if (need[4 + S]) {
    grads[4 + S] = tensor<T>::empty({GH});
    recurrent_column_sums(dgh.data(), rows, GH, grads[4 + S].data());
  }
  return grads;
}

/// Identity with its own graph node: lets the double backward ask kexue::grad for the gradient of a
/// fresh tensor instead of the op's inputs (which may depend on each other upstream).
template <class T>
tensor<T> recurrent_alias(const tensor<T>& t) {
  return t.defined() && t.requires_grad() ? reshape(t, t.shape()) : t;
}

/// The whole fused op: checks, forward, and the record call with both backward paths. `inputs` is
/// {x, initial states..., w_ih, w_hh, b_ih, b_hh}; `composed` recomputes the op from such a list with
/// differentiable ops (for create_graph).
template <class Cell, class T, class Composed>
tensor<T> recurrent_fused(const char* op, const std::vector<tensor<T>>& inputs, const tensor<bool>& mask, bool reverse,
                          Composed composed) {
  constexpr int S = Cell::states;
  const tensor<T>& x = inputs[0];
  std::vector<const tensor<T>*> states;
  for (int k = 0; k < S; ++k) states.push_back(&inputs[1 + k]);
  const tensor<T>& w_ih = inputs[1 + S];
  const tensor<T>& w_hh = inputs[2 + S];
  const tensor<T>& b_ih = inputs[3 + S];
  const tensor<T>& b_hh = inputs[4 + S];
  const recurrent_sizes sz = recurrent_check<T>(op, Cell::gates, false, x, states, w_ih, w_hh, b_ih, b_hh, mask);
  const index_t H = sz.hidden;
  recurrent_saved<T> sv;
  for (int k = 0; k < S; ++k) sv.initial.push_back(states[k]->defined() ? *states[k] : zeros<T>({sz.batch, H}));
  bool recording = false;
  for (const auto& t : inputs) recording = recording || (t.defined() && t.requires_grad());
  recording = recording && is_grad_enabled();
  if (recording) sv.saved = tensor<T>::empty({sz.batch, sz.time, Cell::saved * H});
  shape out_shape = S == 1 ? shape{sz.batch, sz.time, H} : shape{sz.batch, sz.time, S, H};
  auto out = tensor<T>::empty(out_shape);
  recurrent_forward<Cell>(sz, x.data(), sv.initial, w_ih.data(), w_hh.data(), b_ih.defined() ? b_ih.data() : nullptr,
                          b_hh.defined() ? b_hh.data() : nullptr, mask.defined() ? mask.data() : nullptr, reverse,
                          out.data(), recording ? sv.saved.data() : nullptr);
  return autograd::record<T>(op, out, inputs, [=](auto self) {
    return [=](const tensor<T>& g) {
      if (is_grad_enabled()) {
        // create_graph: differentiate the composed twin, built on aliases of the inputs.
        std::vector<tensor<T>> aliases, wrt;
        std::vector<int> where_from;
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          aliases.push_back(recurrent_alias(inputs[i]));
          if (inputs[i].defined() && inputs[i].requires_grad()) {
            wrt.push_back(aliases.back());
            where_from.push_back(static_cast<int>(i));
          }
        }
        tensor<T> again = composed(aliases, mask, reverse);
        auto d = grad<T>({again}, wrt, grad_options().create_graph(true).allow_unused(true), {g});
        std::vector<tensor<T>> grads(inputs.size());
        for (std::size_t k = 0; k < wrt.size(); ++k) grads[where_from[k]] = d[k];
        return grads;
      }
      std::vector<bool> need;
      for (const auto& t : inputs) need.push_back(t.defined() && t.requires_grad());
      const tensor<T> y = autograd::saved_output<T>(self);
      return recurrent_backward<Cell>(sz, g, x, sv, y, w_ih, w_hh, mask.defined() ? mask.data() : nullptr, reverse,
                                      need);
    };
  });
}

/// x W_ihᵀ + b_ih and h W_hhᵀ + b_hh for the composed cells (the bias is optional).
template <class T>
tensor<T> recurrent_projection(const tensor<T>& x, const tensor<T>& w, const tensor<T>& b) {
  tensor<T> p = matmul(x, w, false, true);
  return b.defined() ? p + b : p;
}

template <class T>
tensor<T> gru_cell_unchecked(const tensor<T>& x, const tensor<T>& h, const tensor<T>& w_ih, const tensor<T>& w_hh,
                             const tensor<T>& b_ih, const tensor<T>& b_hh) {
  const index_t H = w_hh.size(1);
  const tensor<T> gi = recurrent_projection(x, w_ih, b_ih);
  const tensor<T> gh = recurrent_projection(h, w_hh, b_hh);
  const tensor<T> r = sigmoid(narrow(gi, 1, 0, H) + narrow(gh, 1, 0, H));
  const tensor<T> z = sigmoid(narrow(gi, 1, H, H) + narrow(gh, 1, H, H));
  const tensor<T> n = tanh(narrow(gi, 1, 2 * H, H) + r * narrow(gh, 1, 2 * H, H));
  return (T(1) - z) * n + z * h;
}

template <class T>
std::pair<tensor<T>, tensor<T>> lstm_cell_unchecked(const tensor<T>& x, const tensor<T>& h, const tensor<T>& c,
                                                    const tensor<T>& w_ih, const tensor<T>& w_hh, const tensor<T>& b_ih,
                                                    const tensor<T>& b_hh) {
  const index_t H = w_hh.size(1);
  const tensor<T> a = recurrent_projection(x, w_ih, b_ih) + recurrent_projection(h, w_hh, b_hh);
  const tensor<T> i = sigmoid(narrow(a, 1, 0, H));
  const tensor<T> f = sigmoid(narrow(a, 1, H, H));
  const tensor<T> g = tanh(narrow(a, 1, 2 * H, H));
  const tensor<T> o = sigmoid(narrow(a, 1, 3 * H, H));
  tensor<T> c2 = f * c + i * g;
  tensor<T> h2 = o * tanh(c2);
  return {h2, c2};
}

/// The composed sequence driver: `step(x_t, states)` returns the next states; masked rows keep theirs.
/// Returns the stacked states [B, T, H] (one state) or [B, T, S, H].
template <class T, class Step>
tensor<T> recurrent_sequence_composed(const recurrent_sizes& sz, const tensor<T>& x, std::vector<tensor<T>> st,
                                      const tensor<bool>& mask, bool reverse, Step step) {
  const index_t B = sz.batch, TT = sz.time, H = sz.hidden;
  for (auto& s : st) {
    if (!s.defined()) s = zeros<T>({B, H});
  }
  std::vector<tensor<T>> outs(static_cast<std::size_t>(TT));
  for (index_t k = 0; k < TT; ++k) {
    const index_t t = reverse ? TT - 1 - k : k;
    std::vector<tensor<T>> next = step(select(x, 1, t), st);
    if (mask.defined()) {
      const tensor<bool> keep = reshape(select(mask, 1, t), {B, 1});
      for (std::size_t i = 0; i < st.size(); ++i) next[i] = where(keep, next[i], st[i]);
    }
    st = next;
    outs[static_cast<std::size_t>(t)] = st.size() == 1 ? st[0] : stack(st, 1);
  }
  if (TT == 0) {
    return zeros<T>(st.size() == 1 ? shape{B, 0, H} : shape{B, 0, static_cast<index_t>(st.size()), H});
  }
  return stack(outs, 1);
}

}  // namespace detail

// ~~~ implementation: public functions ~~~

template <class T>
tensor<T> gru_cell(const tensor<T>& x, const tensor<T>& h, const tensor<T>& weight_ih, const tensor<T>& weight_hh,
                   const tensor<T>& bias_ih, const tensor<T>& bias_hh) {
  KEXUE_CHECK(h.defined(), value_error, "gru_cell", "h must be defined");
  detail::recurrent_check<T>("gru_cell", 3, true, x, {&h}, weight_ih, weight_hh, bias_ih, bias_hh, {});
  return detail::gru_cell_unchecked(x, h, weight_ih, weight_hh, bias_ih, bias_hh);
}

template <class T>
std::pair<tensor<T>, tensor<T>> lstm_cell(const tensor<T>& x, const tensor<T>& h, const tensor<T>& c,
                                          const tensor<T>& weight_ih, const tensor<T>& weight_hh,
                                          const tensor<T>& bias_ih, const tensor<T>& bias_hh) {
  KEXUE_CHECK(h.defined() && c.defined(), value_error, "lstm_cell", "h and c must be defined");
  detail::recurrent_check<T>("lstm_cell", 4, true, x, {&h, &c}, weight_ih, weight_hh, bias_ih, bias_hh, {});
  return detail::lstm_cell_unchecked(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh);
}

template <class T>
tensor<T> gru_sequence_reference(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& weight_ih,
                                 const tensor<T>& weight_hh, const tensor<T>& bias_ih, const tensor<T>& bias_hh,
                                 const tensor<bool>& mask, bool reverse) {
  const auto sz = detail::recurrent_check<T>("gru_sequence_reference", 3, false, x, {&h0}, weight_ih, weight_hh,
                                             bias_ih, bias_hh, mask);
  return detail::recurrent_sequence_composed<T>(
      sz, x, {h0}, mask, reverse, [&](const tensor<T>& xt, const std::vector<tensor<T>>& st) {
        return std::vector<tensor<T>>{detail::gru_cell_unchecked(xt, st[0], weight_ih, weight_hh, bias_ih, bias_hh)};
      });
}

template <class T>
tensor<T> lstm_sequence_reference(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& c0,
                                  const tensor<T>& weight_ih, const tensor<T>& weight_hh, const tensor<T>& bias_ih,
                                  const tensor<T>& bias_hh, const tensor<bool>& mask, bool reverse) {
  const auto sz = detail::recurrent_check<T>("lstm_sequence_reference", 4, false, x, {&h0, &c0}, weight_ih, weight_hh,
                                             bias_ih, bias_hh, mask);
  return detail::recurrent_sequence_composed<T>(
      sz, x, {h0, c0}, mask, reverse, [&](const tensor<T>& xt, const std::vector<tensor<T>>& st) {
        auto [h, c] = detail::lstm_cell_unchecked(xt, st[0], st[1], weight_ih, weight_hh, bias_ih, bias_hh);
        return std::vector<tensor<T>>{h, c};
      });
}

template <class T>
tensor<T> gru_sequence(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& weight_ih, const tensor<T>& weight_hh,
                       const tensor<T>& bias_ih, const tensor<T>& bias_hh, const tensor<bool>& mask, bool reverse) {
  return detail::recurrent_fused<detail::gru_kernel<T>, T>(
      "gru_sequence", {x, h0, weight_ih, weight_hh, bias_ih, bias_hh}, mask, reverse,
      [](const std::vector<tensor<T>>& v, const tensor<bool>& m, bool rev) {
        return gru_sequence_reference(v[0], v[1], v[2], v[3], v[4], v[5], m, rev);
      });
}

template <class T>
tensor<T> lstm_sequence(const tensor<T>& x, const tensor<T>& h0, const tensor<T>& c0, const tensor<T>& weight_ih,
                        const tensor<T>& weight_hh, const tensor<T>& bias_ih, const tensor<T>& bias_hh,
                        const tensor<bool>& mask, bool reverse) {
  return detail::recurrent_fused<detail::lstm_kernel<T>, T>(
      "lstm_sequence", {x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh}, mask, reverse,
      [](const std::vector<tensor<T>>& v, const tensor<bool>& m, bool rev) {
        return lstm_sequence_reference(v[0], v[1], v[2], v[3], v[4], v[5], v[6], m, rev);
      });
}

}  // namespace kexue
