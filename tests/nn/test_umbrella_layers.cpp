// SPDX-License-Identifier: MIT
// Every nn layer, instantiated and run forward and backward in float through the umbrella header alone, the way
// a user includes kexue. Templates are only checked when instantiated, and the umbrella puts every name in view
// at once: an unqualified call inside a layer can then find a same-named class instead of the op (nn::gru once
// called `dropout(...)` and found nn::dropout, which no per-header test saw). This file is compiled on its own,
// outside the unity batches (tests/CMakeLists.txt), so no other test file's includes come first.
#include <doctest/doctest.h>

#include <kexue/kexue.hpp>

namespace kx = kexue;
using kx::index_t;

namespace {

using ft = kx::tensor<float>;

ft input(const kx::shape& s, std::uint64_t seed) { return kx::randn<float>(s, seed).requires_grad(true); }

/// Runs backward from the sum of y and checks that x received a finite gradient of x's shape.
void check_backward(const ft& y, const ft& x) {
  kx::sum(y).backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().shape() == x.shape());
  CHECK(std::isfinite(kx::sum(kx::abs(x.grad())).item()));
}

}  // namespace

TEST_SUITE("nn.umbrella") {
  TEST_CASE("dense, embedding, dropout and normalisation layers run through the umbrella header") {
    kx::generator gen(1);
    const ft x = input({4, 6}, 2);
    kx::nn::sequential<float> model;
    model.push_back(std::make_shared<kx::nn::linear<float>>(6, 8, gen))
        .push_back(std::make_shared<kx::nn::layer_norm<float>>(kx::nn::layer_norm_options({8}), gen))
        .push_back(std::make_shared<kx::nn::rms_norm<float>>(kx::nn::rms_norm_options({8}), gen))
        .push_back(std::make_shared<kx::nn::batch_norm1d<float>>(kx::nn::batch_norm_options(8), gen))
        .push_back(std::make_shared<kx::nn::dropout<float>>(0.25, gen))
        .push_back(std::make_shared<kx::nn::flatten<float>>());
    const ft y = model(x);
    CHECK(y.shape() == kx::shape{4, 8});
    check_backward(y, x);

    kx::nn::embedding<float> emb(10, 6, gen);
    const ft e = emb(kx::tensor<index_t>{{1, 2, 3}});
    CHECK(e.shape() == kx::shape{1, 3, 6});

    const ft c = input({4, 3}, 3);
    kx::nn::conditional_layer_norm<float> cln(kx::nn::conditional_layer_norm_options(6, 3), gen);
    CHECK(cln.forward(x, c).shape() == x.shape());
    const ft img = input({4, 2, 3, 3}, 4);
    kx::nn::conditional_batch_norm<float> cbn(kx::nn::conditional_batch_norm_options(2, 5), gen);
    CHECK(cbn.forward(img, kx::tensor<index_t>{0, 1, 2, 3}).shape() == img.shape());
    kx::nn::self_modulated_batch_norm<float> smbn(kx::nn::self_modulated_batch_norm_options(2, 3), gen);
    CHECK(smbn.forward(img, c).shape() == img.shape());
  }

  TEST_CASE("convolution, pooling and gated convolution layers run through the umbrella header") {
    kx::generator gen(5);
    const ft x = input({2, 4, 9}, 6);
    kx::nn::conv1d<float> conv(4, 4, 3, gen);
    kx::nn::gated_conv1d<float> gated(kx::nn::gated_conv1d_options(4).dilation(2), gen);
    kx::nn::max_pool1d<float> max_pool(2);
    kx::nn::avg_pool1d<float> avg_pool(2);
    const ft h = gated(conv(x));  // valid padding: [2, 4, 7]; the gated block keeps the length
    CHECK(max_pool(h).shape() == kx::shape{2, 4, 3});
    CHECK(avg_pool(h).shape() == kx::shape{2, 4, 3});
    CHECK(kx::nn::global_max_pool1d<float>()(h).shape() == kx::shape{2, 4});
    check_backward(kx::nn::global_avg_pool1d<float>()(h), x);

    const ft img = input({2, 3, 6, 6}, 7);
    kx::nn::conv2d<float> conv2(kx::nn::conv2d_options(3, 4, 3), gen);
    kx::nn::conv_transpose2d<float> deconv(kx::nn::conv_transpose2d_options(4, 3, 2).stride(2), gen);
    const ft down = kx::nn::max_pool2d<float>(2)(conv2(img));  // [2, 4, 2, 2]
    const ft up = deconv(kx::nn::upsample<float>(2)(down));    // [2, 3, 8, 8]
    CHECK(up.shape() == kx::shape{2, 3, 8, 8});
    check_backward(kx::nn::avg_pool2d<float>(2)(up), img);
  }

  TEST_CASE("recurrent layers run through the umbrella header, dropout between layers included") {
    kx::generator gen(8);
    const ft x = input({2, 5, 3}, 9);  // [B, T, in]
    kx::nn::gru<float> gru(kx::nn::gru_options(3, 4).num_layers(2).dropout(0.5).bidirectional(true), gen);
    kx::nn::lstm<float> lstm(kx::nn::lstm_options(8, 4).num_layers(2).dropout(0.5), gen);
    const ft h = gru(x).output;  // [2, 5, 8]
    const auto out = lstm(h);
    CHECK(out.output.shape() == kx::shape{2, 5, 4});
    CHECK(out.c_n.shape() == kx::shape{2, 2, 4});
    check_backward(out.output, x);

    kx::nn::gru_cell<float> gcell(kx::nn::gru_cell_options(3, 4), gen);
    kx::nn::lstm_cell<float> lcell(kx::nn::lstm_cell_options(3, 4), gen);
    const ft step = kx::select(x, 1, 0);  // [2, 3]
    CHECK(gcell(step).shape() == kx::shape{2, 4});
    CHECK(lcell(step).first.shape() == kx::shape{2, 4});
  }

  TEST_CASE("attention, positional, transformer, quantizer and head layers run through the umbrella header") {
    kx::generator gen(10);
    const ft x = input({2, 6, 8}, 11);  // [B, T, d]
    kx::nn::multi_head_attention<float> mha(kx::nn::multi_head_attention_options(8, 2).dropout(0.1), gen);
    kx::nn::transformer_layer<float> block(kx::nn::transformer_layer_options(8, 2).dim_feedforward(16), gen);
    kx::nn::learned_positional_embedding<float> learned(kx::nn::learned_positional_embedding_options(16, 8), gen);
    kx::nn::sinusoidal_positional_encoding<float> sinusoidal(8);
    kx::nn::rotary_embedding<float> rotary(kx::nn::rotary_embedding_options(8));
    const ft h = block(mha(rotary(sinusoidal(learned(x)))));
    CHECK(h.shape() == x.shape());

    kx::nn::vector_quantizer<float> vq(kx::nn::vector_quantizer_options(5, 8), gen);
    const auto q = vq(h);
    CHECK(q.codes.shape() == kx::shape{2, 6});

    kx::nn::attention_pooling<float> pool(kx::nn::attention_pooling_options(8), gen);
    kx::nn::pointer_head<float> pointer(kx::nn::pointer_head_options(8), gen);
    CHECK(pool(q.quantized).shape() == kx::shape{2, 8});
    const auto spans = pointer(q.quantized);
    CHECK(spans.start.shape() == kx::shape{2, 6, 1});  // [B, T, span types]
    check_backward(spans.start_logits + q.loss, x);
  }
}
