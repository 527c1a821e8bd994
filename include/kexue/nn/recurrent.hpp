// SPDX-License-Identifier: MIT
// nn::gru, nn::lstm (stacked, bidirectional, masked) and nn::gru_cell, nn::lstm_cell, as torch.nn's.
#pragma once

#include <cmath>    // std::sqrt
#include <sstream>  // extra_repr
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/nn/module.hpp>
#include <kexue/ops/compare.hpp>
#include <kexue/ops/dropout.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/permute.hpp>
#include <kexue/ops/recurrent.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue::nn {

/// Options of nn::gru and nn::lstm. Defaults: num_layers 1, bias on, batch_first **true** (kexue's sequences
/// are [B, T, D]; PyTorch's default is false), bidirectional off, dropout 0 (applied to the output of every
/// layer but the last, in training mode, as PyTorch).
struct recurrent_options {
  recurrent_options(index_t input_size, index_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  recurrent_options& num_layers(index_t n) {
    num_layers_ = n;
    return *this;
  }
  recurrent_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  recurrent_options& batch_first(bool on) {
    batch_first_ = on;
    return *this;
  }
  recurrent_options& bidirectional(bool on) {
    bidirectional_ = on;
    return *this;
  }
  recurrent_options& dropout(double p) {
    dropout_ = p;
    return *this;
  }
  index_t input_size() const { return input_size_; }
  index_t hidden_size() const { return hidden_size_; }
  index_t num_layers() const { return num_layers_; }
  bool bias() const { return bias_; }
  bool batch_first() const { return batch_first_; }
  bool bidirectional() const { return bidirectional_; }
  double dropout() const { return dropout_; }

 private:
  index_t input_size_, hidden_size_;
  index_t num_layers_ = 1;
  bool bias_ = true;
  bool batch_first_ = true;
  bool bidirectional_ = false;
  double dropout_ = 0.0;
};
using gru_options = recurrent_options;
using lstm_options = recurrent_options;

/// What nn::gru returns: `output` [B, T, D·H] (batch_first; [T, B, D·H] otherwise), zero at masked steps
/// (as PyTorch's pad_packed_sequence), and `h_n` [L·D, B, H], the final state of each layer and direction
/// (index l·D + d; for a masked row, the state after its last valid step, i.e. step 0 for the reverse
/// direction). D = 2 when bidirectional, else 1; L = num_layers.
template <class T>
struct gru_output {
  tensor<T> output, h_n;
};

/// What nn::lstm returns: as gru_output, plus `c_n` [L·D, B, H], the final cell states.
template <class T>
struct lstm_output {
  tensor<T> output, h_n, c_n;
};

namespace detail {

/// The shared body of nn::gru and nn::lstm: options, parameters (PyTorch names, layouts, order and
/// initialisation), checks, and the layer/direction loop. `Gates` = 3 (GRU) or 4 (LSTM).
template <class Derived, class T, int Gates>
class recurrent_layer : public cloneable<Derived, T> {
 public:
  recurrent_layer(const recurrent_options& options, const char* type) : options_(options), type_(type) {
    KEXUE_CHECK(options.input_size() >= 0 && options.hidden_size() >= 1 && options.num_layers() >= 1, value_error, type,
                "expected input_size >= 0, hidden_size >= 1 and num_layers >= 1, got input_size=", options.input_size(),
                ", hidden_size=", options.hidden_size(), ", num_layers=", options.num_layers());
    KEXUE_CHECK(options.dropout() >= 0 && options.dropout() < 1, value_error, type, "dropout must be in [0, 1), got ",
                options.dropout());
  }

  /// Parameters of layer l, direction d (0 forward, 1 reverse), registered as weight_ih_l<l>[_reverse],
  /// weight_hh_l<l>[_reverse], bias_ih_l<l>[_reverse], bias_hh_l<l>[_reverse]: [G·H, in], [G·H, H],
  /// [G·H], [G·H], in = input_size for l = 0 and D·H above; all drawn from U(−1/√H, 1/√H) as PyTorch.
  void reset(generator& gen) override {
    const index_t H = options_.hidden_size(), D = directions();
    const T bound = static_cast<T>(1.0 / std::sqrt(static_cast<double>(H)));
    weight_ih.clear();
    weight_hh.clear();
    bias_ih.clear();
    bias_hh.clear();
    for (index_t l = 0; l < options_.num_layers(); ++l) {
      const index_t in = l == 0 ? options_.input_size() : D * H;
      for (index_t d = 0; d < D; ++d) {
        const std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
        weight_ih.push_back(
            this->register_parameter("weight_ih" + suffix, rand<T>({Gates * H, in}, gen, -bound, bound)));
        weight_hh.push_back(
            this->register_parameter("weight_hh" + suffix, rand<T>({Gates * H, H}, gen, -bound, bound)));
        if (options_.bias()) {
          bias_ih.push_back(this->register_parameter("bias_ih" + suffix, rand<T>({Gates * H}, gen, -bound, bound)));
          bias_hh.push_back(this->register_parameter("bias_hh" + suffix, rand<T>({Gates * H}, gen, -bound, bound)));
        } else {
          bias_ih.emplace_back();
          bias_hh.emplace_back();
        }
      }
    }
  }

  const recurrent_options& options() const { return options_; }
  std::string type_name() const override { return type_; }
  std::string extra_repr() const override {
    std::ostringstream s;
    s << "input_size=" << options_.input_size() << ", hidden_size=" << options_.hidden_size()
      << ", num_layers=" << options_.num_layers() << ", bias=" << (options_.bias() ? "true" : "false")
      << ", batch_first=" << (options_.batch_first() ? "true" : "false")
      << ", bidirectional=" << (options_.bidirectional() ? "true" : "false") << ", dropout=" << options_.dropout();
    return s.str();
  }

  /// Per layer·direction (index l·D + d), as registered; bias entries undefined without bias.
  std::vector<tensor<T>> weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  index_t directions() const { return options_.bidirectional() ? 2 : 1; }
  std::string describe() const { return std::string(type_) + "(" + extra_repr() + ")"; }

  /// Checks x (and converts it to batch first) and the optional initial states [L·D, B, H] and mask [B, T].
  tensor<T> check_input(const tensor<T>& x, const std::vector<const tensor<T>*>& states,
                        const tensor<bool>& mask) const {
    const bool bf = options_.batch_first();
    KEXUE_CHECK(x.defined() && x.rank() == 3 && x.size(2) == options_.input_size() && x.size(bf ? 1 : 0) >= 1,
                shape_error, describe(), "expected input ", bf ? "[batch, time >= 1, " : "[time >= 1, batch, ",
                options_.input_size(), "], got ", x.defined() ? format_shape(x.shape()) : std::string("undefined"));
    const tensor<T> xb = bf ? x : transpose(x, 0, 1);
    const index_t B = xb.size(0), TT = xb.size(1);
    const shape state_shape{options_.num_layers() * directions(), B, options_.hidden_size()};
    static const char* const names[] = {"h0", "c0"};
    for (std::size_t i = 0; i < states.size(); ++i) {
      KEXUE_CHECK(!states[i]->defined() || states[i]->shape() == state_shape, shape_error, describe(), "expected ",
                  names[i], " ", format_shape(state_shape), " (num_layers * directions, batch, hidden_size), got ",
                  format_shape(states[i]->shape()));
    }
    KEXUE_CHECK((!mask.defined() || mask.shape() == shape{B, TT}), shape_error, describe(), "expected mask [", B, ", ",
                TT, "] (batch, time), got ", format_shape(mask.shape()));
    return xb;
  }

  /// Runs every layer and direction. `sequence(x, initial states, k, mask, reverse, last)` runs one
  /// direction's fused op and returns {h sequence [B, T, H], final states [B, H]...} where `last` is the time
  /// index of the final state (T − 1 forward, 0 in reverse). Returns the output [B, T, D·H] (batch first)
  /// and the S final-state tensors [L·D, B, H].
  template <class Sequence>
  std::pair<tensor<T>, std::vector<tensor<T>>> run(const tensor<T>& xb, const std::vector<const tensor<T>*>& states,
                                                   const tensor<bool>& mask, Sequence sequence) const {
    const index_t D = directions(), TT = xb.size(1), L = options_.num_layers();
    const tensor<bool> keep = mask.defined() ? reshape(mask, {mask.size(0), TT, 1}) : tensor<bool>();
    std::vector<std::vector<tensor<T>>> finals(states.size());
    tensor<T> input = xb;
    for (index_t l = 0; l < L; ++l) {
      std::vector<tensor<T>> outs;
      for (index_t d = 0; d < D; ++d) {
        const index_t k = l * D + d;
        std::vector<tensor<T>> init;
        for (const auto* s : states) init.push_back(s->defined() ? select(*s, 0, k) : tensor<T>());
        std::vector<tensor<T>> seq = sequence(input, init, k, mask, d == 1, d == 1 ? 0 : TT - 1);
        for (std::size_t i = 0; i < finals.size(); ++i) finals[i].push_back(seq[1 + i]);
        outs.push_back(keep.defined() ? where(keep, seq[0], T(0)) : seq[0]);
      }
      input = D == 1 ? outs[0] : concat(outs, 2);
      if (l + 1 < L && options_.dropout() > 0 && this->is_training()) {
        input = kexue::dropout(input, options_.dropout(), true, default_generator());
      }
    }
    std::vector<tensor<T>> final_states;
    for (auto& f : finals) final_states.push_back(stack(f, 0));
    return {options_.batch_first() ? input : transpose(input, 0, 1), final_states};
  }

  recurrent_options options_;

 private:
  const char* type_;
};

}  // namespace detail

/// @brief Multi-layer GRU, as torch.nn.GRU (gates r, z, n; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
///        h' = (1 − z) ⊙ n + z ⊙ h) but batch first by default. Each layer and direction is one fused
///        kexue::gru_sequence (one input GEMM, one GEMM per step, GEMM backward through time).
/// @details Parameters and initialisation: see detail::recurrent_layer::reset (PyTorch's names, shapes, order,
///          U(−1/√H, 1/√H)), so a PyTorch state_dict loads as is.
///          forward(x, h0, mask): x [B, T, input_size] ([T, B, input_size] when batch_first is false);
///          h0 [L·D, B, H] or undefined (zeros); mask [B, T] (bool) or undefined: steps where it is false
///          keep the state unchanged (Keras masking); with a length mask (lengths_to_mask) the result equals
///          PyTorch on a pack_padded_sequence: outputs zero at the padding, h_n the state after each row's
///          last valid step, the reverse direction running each sequence reversed within its own length.
///          Returns gru_output {output [B, T, D·H], h_n [L·D, B, H]}.
///
///     nn::gru<float> rnn(nn::gru_options(128, 128).bidirectional(true));
///     auto [out, h_n] = rnn(x, {}, kexue::lengths_to_mask(lengths, x.size(1)));
/// @throws shape_error naming the configuration and the received shape, e.g.
///         "gru(input_size=2, hidden_size=3, ...): expected input [batch, time >= 1, 2], got [2, 3, 5]".
template <class T = float>
class gru : public detail::recurrent_layer<gru<T>, T, 3> {
  using base = detail::recurrent_layer<gru<T>, T, 3>;

 public:
  explicit gru(const gru_options& options, generator& gen = default_generator()) : base(options, "gru") {
    this->reset(gen);
  }
  gru(index_t input_size, index_t hidden_size, generator& gen = default_generator())
      : gru(gru_options(input_size, hidden_size), gen) {}

  gru_output<T> forward(const tensor<T>& x, const tensor<T>& h0 = {}, const tensor<bool>& mask = {}) const {
    const tensor<T> xb = this->check_input(x, {&h0}, mask);
    auto [output, finals] = this->run(xb, {&h0}, mask,
                                      [this](const tensor<T>& in, const std::vector<tensor<T>>& init, index_t k,
                                             const tensor<bool>& m, bool rev, index_t last) {
                                        const tensor<T> s =
                                            gru_sequence(in, init[0], this->weight_ih[k], this->weight_hh[k],
                                                         this->bias_ih[k], this->bias_hh[k], m, rev);
                                        return std::vector<tensor<T>>{s, select(s, 1, last)};
                                      });
    return {output, finals[0]};
  }
};

/// @brief Multi-layer LSTM, as torch.nn.LSTM (gates i, f, g, o; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c')), batch
///        first by default; one fused kexue::lstm_sequence per layer and direction. Parameters, options,
///        masks and errors as nn::gru (G = 4 gates; no proj_size).
/// @details forward(x, h0, c0, mask) returns lstm_output {output [B, T, D·H], h_n, c_n [L·D, B, H]}.
template <class T = float>
class lstm : public detail::recurrent_layer<lstm<T>, T, 4> {
  using base = detail::recurrent_layer<lstm<T>, T, 4>;

 public:
  explicit lstm(const lstm_options& options, generator& gen = default_generator()) : base(options, "lstm") {
    this->reset(gen);
  }
  lstm(index_t input_size, index_t hidden_size, generator& gen = default_generator())
      : lstm(lstm_options(input_size, hidden_size), gen) {}

  lstm_output<T> forward(const tensor<T>& x, const tensor<T>& h0 = {}, const tensor<T>& c0 = {},
                         const tensor<bool>& mask = {}) const {
    const tensor<T> xb = this->check_input(x, {&h0, &c0}, mask);
    auto [output, finals] =
        this->run(xb, {&h0, &c0}, mask,
                  [this](const tensor<T>& in, const std::vector<tensor<T>>& init, index_t k, const tensor<bool>& m,
                         bool rev, index_t last) {
                    // s [B, T, 2, H]: copy out the h sequence only; the final (h, c) is one [B, 2, H] step.
                    const tensor<T> s = lstm_sequence(in, init[0], init[1], this->weight_ih[k], this->weight_hh[k],
                                                      this->bias_ih[k], this->bias_hh[k], m, rev);
                    const tensor<T> final_step = select(s, 1, last);
                    return std::vector<tensor<T>>{select(s, 2, 0), select(final_step, 1, 0), select(final_step, 1, 1)};
                  });
    return {output, finals[0], finals[1]};
  }
};

/// Options of nn::gru_cell and nn::lstm_cell. Default: bias on.
struct recurrent_cell_options {
  recurrent_cell_options(index_t input_size, index_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  recurrent_cell_options& bias(bool on) {
    bias_ = on;
    return *this;
  }
  index_t input_size() const { return input_size_; }
  index_t hidden_size() const { return hidden_size_; }
  bool bias() const { return bias_; }

 private:
  index_t input_size_, hidden_size_;
  bool bias_ = true;
};
using gru_cell_options = recurrent_cell_options;
using lstm_cell_options = recurrent_cell_options;

namespace detail {

/// The shared body of nn::gru_cell and nn::lstm_cell: parameters weight_ih [G·H, in], weight_hh [G·H, H],
/// bias_ih, bias_hh [G·H], U(−1/√H, 1/√H) as PyTorch.
template <class Derived, class T, int Gates>
class recurrent_cell_layer : public cloneable<Derived, T> {
 public:
  recurrent_cell_layer(const recurrent_cell_options& options, const char* type) : options_(options), type_(type) {
    KEXUE_CHECK(options.input_size() >= 0 && options.hidden_size() >= 1, value_error, type,
                "expected input_size >= 0 and hidden_size >= 1, got input_size=", options.input_size(),
                ", hidden_size=", options.hidden_size());
  }
  void reset(generator& gen) override {
    const index_t H = options_.hidden_size();
    const T bound = static_cast<T>(1.0 / std::sqrt(static_cast<double>(H)));
    weight_ih = this->register_parameter("weight_ih", rand<T>({Gates * H, options_.input_size()}, gen, -bound, bound));
    weight_hh = this->register_parameter("weight_hh", rand<T>({Gates * H, H}, gen, -bound, bound));
    bias_ih =
        options_.bias() ? this->register_parameter("bias_ih", rand<T>({Gates * H}, gen, -bound, bound)) : tensor<T>();
    bias_hh =
        options_.bias() ? this->register_parameter("bias_hh", rand<T>({Gates * H}, gen, -bound, bound)) : tensor<T>();
  }
  const recurrent_cell_options& options() const { return options_; }
  std::string type_name() const override { return type_; }
  std::string extra_repr() const override {
    return "input_size=" + std::to_string(options_.input_size()) +
           ", hidden_size=" + std::to_string(options_.hidden_size()) + ", bias=" + (options_.bias() ? "true" : "false");
  }

  tensor<T> weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  /// Checks x [B, input_size] and the states [B, H]; fills undefined states with zeros.
  void check_input(const tensor<T>& x, std::vector<tensor<T>*> states) const {
    const std::string what = std::string(type_) + "(" + extra_repr() + ")";
    KEXUE_CHECK(x.defined() && x.rank() == 2 && x.size(1) == options_.input_size(), shape_error, what,
                "expected input [batch, ", options_.input_size(), "], got ",
                x.defined() ? format_shape(x.shape()) : std::string("undefined"));
    const shape s{x.size(0), options_.hidden_size()};
    for (auto* st : states) {
      KEXUE_CHECK(!st->defined() || st->shape() == s, shape_error, what, "expected state ", format_shape(s), ", got ",
                  format_shape(st->shape()));
      if (!st->defined()) *st = zeros<T>(s);
    }
  }

  recurrent_cell_options options_;

 private:
  const char* type_;
};

}  // namespace detail

/// @brief One GRU step, as torch.nn.GRUCell: forward(x [B, in], h [B, H] or undefined = zeros) -> h' [B, H].
///        Composed of differentiable ops (kexue::gru_cell), so every order of gradient works.
template <class T = float>
class gru_cell : public detail::recurrent_cell_layer<gru_cell<T>, T, 3> {
  using base = detail::recurrent_cell_layer<gru_cell<T>, T, 3>;

 public:
  explicit gru_cell(const gru_cell_options& options, generator& gen = default_generator()) : base(options, "gru_cell") {
    this->reset(gen);
  }
  tensor<T> forward(const tensor<T>& x, tensor<T> h = {}) const {
    this->check_input(x, {&h});
    return kexue::gru_cell(x, h, this->weight_ih, this->weight_hh, this->bias_ih, this->bias_hh);
  }
};

/// @brief One LSTM step, as torch.nn.LSTMCell: forward(x [B, in], h, c [B, H] or undefined = zeros)
///        -> (h', c'). Composed of differentiable ops (kexue::lstm_cell).
template <class T = float>
class lstm_cell : public detail::recurrent_cell_layer<lstm_cell<T>, T, 4> {
  using base = detail::recurrent_cell_layer<lstm_cell<T>, T, 4>;

 public:
  explicit lstm_cell(const lstm_cell_options& options, generator& gen = default_generator())
      : base(options, "lstm_cell") {
    this->reset(gen);
  }
  std::pair<tensor<T>, tensor<T>> forward(const tensor<T>& x, tensor<T> h = {}, tensor<T> c = {}) const {
    this->check_input(x, {&h, &c});
    return kexue::lstm_cell(x, h, c, this->weight_ih, this->weight_hh, this->bias_ih, this->bias_hh);
  }
};

}  // namespace kexue::nn
