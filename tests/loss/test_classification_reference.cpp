// SPDX-License-Identifier: MIT
// loss/classification.hpp against PyTorch 1.13: values, gradients and second-order gradients in float64 from
// tests/reference/data/loss_classification.txt (regenerate with tests/reference/make_reference_loss_classification.py).
#include <string>
#include <vector>

#include "reference/reference_check.hpp"
#include "reference/reference_data.hpp"
#include <doctest/doctest.h>

#include <kexue/loss/classification.hpp>

namespace {

namespace kl = kexue::loss;
using kexue::testing::check_case;
using kexue::testing::reference_file;
using kexue::testing::tensors;

std::vector<double> doubles(const reference_file& file, const std::string& name) {
  const auto t = file.get(name);
  return std::vector<double>(t.data(), t.data() + t.numel());
}

kl::reduction reduction_of(const std::string& name) {
  if (name.size() >= 5 && name.compare(name.size() - 5, 5, "_none") == 0) return kl::reduction::none;
  if (name.size() >= 4 && name.compare(name.size() - 4, 4, "_sum") == 0) return kl::reduction::sum;
  return kl::reduction::mean;
}

}  // namespace

TEST_SUITE("loss.classification") {
  TEST_CASE("cross_entropy with class indices equals PyTorch") {
    const reference_file file("loss_classification");
    for (std::string name :
         {"ce_index_none", "ce_index_mean", "ce_index_sum", "ce_ignore_mean", "ce_large_logits", "ce_sequence_mean"}) {
      const auto target = file.indices(name + ".target");
      const auto o = kl::cross_entropy_options()
                         .reduction(reduction_of(name))
                         .label_smoothing(name == "ce_sequence_mean" ? 0.1 : 0.0);
      check_case(file, name, {"logits"},
                 [target, o](const tensors& v) { return tensors{kl::cross_entropy(v[0], target, o)}; });
    }
    const auto t = file.indices("ce_smoothing_ignore_mean.target");
    check_case(file, "ce_smoothing_ignore_mean", {"logits"}, [t](const tensors& v) {
      return tensors{kl::cross_entropy(v[0], t, kl::cross_entropy_options().label_smoothing(0.3))};
    });
  }

  TEST_CASE("cross_entropy with class weights, ignore_index and label smoothing equals PyTorch") {
    const reference_file file("loss_classification");
    for (std::string name : {"ce_all_none", "ce_all_mean", "ce_all_sum", "ce_weight_mean"}) {
      const auto target = file.indices(name + ".target");
      const auto o = kl::cross_entropy_options()
                         .reduction(reduction_of(name))
                         .weight(doubles(file, name + ".weight"))
                         .label_smoothing(name == "ce_weight_mean" ? 0.0 : 0.2);
      check_case(file, name, {"logits"},
                 [target, o](const tensors& v) { return tensors{kl::cross_entropy(v[0], target, o)}; });
    }
    const auto t = file.indices("nll_weight_ignore_mean.target");
    const auto o = kl::nll_options().weight(doubles(file, "nll_weight_ignore_mean.weight"));
    check_case(file, "nll_weight_ignore_mean", {"log_probs"},
               [t, o](const tensors& v) { return tensors{kl::nll_loss(v[0], t, o)}; });
  }

  TEST_CASE("cross_entropy with class probabilities equals PyTorch") {
    const reference_file file("loss_classification");
    for (std::string name : {"ce_probs_none", "ce_probs_mean"}) {
      const auto o = kl::cross_entropy_options()
                         .reduction(reduction_of(name))
                         .weight(doubles(file, name + ".weight"))
                         .label_smoothing(0.1);
      check_case(file, name, {"logits", "probs"},
                 [o](const tensors& v) { return tensors{kl::cross_entropy(v[0], v[1], o)}; });
    }
    check_case(file, "ce_probs_plain_mean", {"logits", "probs"},
               [](const tensors& v) { return tensors{kl::cross_entropy(v[0], v[1])}; });
  }

  TEST_CASE("binary_cross_entropy_with_logits with and without pos_weight equals PyTorch") {
    const reference_file file("loss_classification");
    for (std::string name : {"bce_none", "bce_mean", "bce_sum", "bce_large_logits"}) {
      const auto o = kl::bce_options().reduction(reduction_of(name));
      check_case(file, name, {"logits", "target"},
                 [o](const tensors& v) { return tensors{kl::binary_cross_entropy_with_logits(v[0], v[1], o)}; });
    }
    for (std::string name : {"bce_pos_weight_none", "bce_pos_weight_mean"}) {
      const auto o = kl::bce_options().reduction(reduction_of(name)).pos_weight(doubles(file, name + ".pos_weight"));
      check_case(file, name, {"logits", "target"},
                 [o](const tensors& v) { return tensors{kl::binary_cross_entropy_with_logits(v[0], v[1], o)}; });
    }
  }
}
