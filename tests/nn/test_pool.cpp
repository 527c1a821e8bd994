// SPDX-License-Identifier: MIT
// nn pooling and upsampling layers: values, masks, options, printing, errors.
#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/nn/pool.hpp>
#include <kexue/ops/math.hpp>
#include <kexue/ops/reshape.hpp>

#include "support/seed.hpp"
#include "support/tensor_checks.hpp"

namespace kx = kexue;
namespace nn = kexue::nn;
using kx::testing::check_values;

TEST_SUITE("nn.pool") {
  TEST_CASE_TEMPLATE("pool layers forward to the pooling ops with their options", T, float, double) {
    auto x = kx::tensor<T>{{{1, 5, 2, 4, 3, 0}}};
    check_values(nn::max_pool1d<T>(2)(x), {1, 1, 3}, {5, 4, 3});
    check_values(nn::max_pool1d<T>(nn::pool1d_options(3).stride(2).padding(1))(x), {1, 1, 3}, {5, 5, 4});
    check_values(nn::avg_pool1d<T>(nn::pool1d_options(3).stride(2).padding(1).count_include_pad(false))(x), {1, 1, 3},
                 {3, 11.0 / 3, 7.0 / 3});
    auto img = kx::reshape(kx::arange<T>(1, 9), {1, 1, 2, 4});
    check_values(nn::max_pool2d<T>(2)(img), {1, 1, 1, 2}, {6, 8});
    check_values(nn::avg_pool2d<T>(nn::pool2d_options({2, 2}))(img), {1, 1, 1, 2}, {3.5, 5.5});
    check_values(nn::upsample<T>(2)(kx::tensor<T>{{{1, 2}}}), {1, 1, 4}, {1, 1, 2, 2});
    CHECK(nn::upsample<T>({2, 3})(img).shape() == kx::shape{1, 1, 4, 12});
  }

  TEST_CASE_TEMPLATE("global pool layers take bool or 0/1 masks", T, float, double) {
    auto x = kx::tensor<T>{{{1, 9, 2}}, {{4, -1, 6}}};
    auto mask = kx::tensor<bool>{{true, false, true}, {true, true, false}};
    nn::global_max_pool1d<T> gmax;
    nn::global_avg_pool1d<T> gavg;
    check_values(gmax(x, mask), {2, 1}, {2, 4});
    check_values(gmax(x, mask.template to<T>()), {2, 1}, {2, 4});
    check_values(gavg(x, mask), {2, 1}, {1.5, 1.5});
    check_values(gavg(x, mask.template to<T>()), {2, 1}, {1.5, 1.5});
    check_values(gmax(x), {2, 1}, {9, 6});
  }

  TEST_CASE("pool layers pass gradient checks of first and second order") {
    kx::generator gen(kexue_test_seed());
    auto x = kx::randn<double>({2, 2, 6}, gen).requires_grad(true);
    auto mask = kx::tensor<double>{{1, 1, 1, 1, 0, 0}, {1, 0, 1, 1, 1, 1}};
    nn::max_pool1d<double> maxp(nn::pool1d_options(3).stride(2).padding(1));
    nn::avg_pool1d<double> avgp(2);
    nn::global_max_pool1d<double> gmax;
    nn::global_avg_pool1d<double> gavg;
    nn::upsample<double> up(3);
    std::vector<kx::testing::double_fn> fns = {
        [&](const std::vector<kx::tensor<double>>& v) { return kx::square(maxp(v[0])); },
        [&](const std::vector<kx::tensor<double>>& v) { return kx::square(avgp(v[0])); },
        [&](const std::vector<kx::tensor<double>>& v) { return kx::square(gmax(v[0], mask)); },
        [&](const std::vector<kx::tensor<double>>& v) { return kx::square(gavg(v[0], mask)); },
        [&](const std::vector<kx::tensor<double>>& v) { return kx::square(up(v[0])); },
    };
    for (const auto& fn : fns) {
      kx::testing::check_gradients(fn, {x});
      kx::testing::check_second_order(fn, {x});
    }
  }

  TEST_CASE("pool layers print their options and reject bad inputs") {
    CHECK(nn::max_pool1d<float>(nn::pool1d_options(3).padding(1)).extra_repr() == "kernel_size=3, stride=3, padding=1");
    CHECK(nn::avg_pool2d<float>(nn::pool2d_options({2, 3}).count_include_pad(false)).extra_repr() ==
          "kernel_size=(2, 3), stride=(2, 3), padding=(0, 0), count_include_pad=false");
    CHECK(nn::upsample<float>(2).extra_repr() == "scale_factor=(2, 2), mode=nearest");
    CHECK_THROWS_WITH_AS(nn::upsample<float>(2)(kx::zeros<float>({2, 3})),
                         "upsample(scale_factor=(2, 2), mode=nearest): expected input [batch, channels, length] or "
                         "[batch, channels, height, width], got [2, 3]",
                         kx::shape_error);
    CHECK_THROWS_WITH_AS(nn::upsample<float>(0), "upsample: scale must be at least 1, got (0, 0)", kx::value_error);
    CHECK_THROWS_AS(nn::max_pool1d<float>(4)(kx::zeros<float>({1, 1, 3})), kx::shape_error);
  }
}
