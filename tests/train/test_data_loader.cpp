// SPDX-License-Identifier: MIT
// Tests of train/dataset.hpp and train/data_loader.hpp: batching, seeded shuffling, worker threads
// (each sample exactly once per epoch, same order for any worker count), early exit, errors.
#include <algorithm>  // std::sort
#include <atomic>     // counting get() calls across threads
#include <chrono>     // uneven work per sample
#include <stdexcept>  // std::runtime_error
#include <thread>     // std::this_thread::sleep_for
#include <utility>    // std::pair
#include <vector>

#include <doctest/doctest.h>

#include <kexue/core/creation.hpp>
#include <kexue/train/data_loader.hpp>
#include <kexue/train/dataset.hpp>

using kexue::index_t;
using kexue::shape;
using kexue::tensor;
namespace train = kexue::train;

namespace {

/// Sample i is (a [2] tensor {i, -i}, the label i); samples with i % 3 == 0 take longer, so workers finish
/// out of order. `calls` counts get() calls; `fail_at` makes get(fail_at) throw.
struct counting_dataset {
  index_t n = 0;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  index_t fail_at = -1;
  index_t size() const { return n; }
  std::pair<tensor<double>, index_t> get(index_t i) const {
    ++*calls;
    if (i == fail_at) throw std::runtime_error("sample " + std::to_string(i) + " is broken");
    if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    return {tensor<double>{static_cast<double>(i), static_cast<double>(-i)}, i};
  }
};

/// The labels of every batch of one epoch, in the order the consumer received them.
template <class Loader>
std::vector<index_t> labels_of_epoch(const Loader& loader, index_t epoch) {
  std::vector<index_t> out;
  for (auto& [x, y] : loader.epoch(epoch)) {
    REQUIRE(x.shape() == shape{y.size(0), 2});
    for (index_t k = 0; k < y.size(0); ++k) {
      CHECK(x(k, 0) == static_cast<double>(y(k)));  // fields of one sample stay together
      out.push_back(y(k));
    }
  }
  return out;
}

}  // namespace

TEST_SUITE("train.data_loader") {
  TEST_CASE("every sample comes exactly once per epoch, in the same order for 0, 1, 2 and 4 workers") {
    const index_t n = 37;
    std::vector<std::vector<index_t>> reference;  // per epoch, from 0 workers
    for (int workers : {0, 1, 2, 4}) {
      CAPTURE(workers);
      train::data_loader loader(counting_dataset{n},
                                train::data_loader_options().batch_size(5).shuffle(true).seed(11).num_workers(workers));
      CHECK(loader.size() == 8);  // ceil(37 / 5)
      for (index_t epoch = 0; epoch < 3; ++epoch) {
        auto labels = labels_of_epoch(loader, epoch);
        if (workers == 0) {
          reference.push_back(labels);
        } else {
          CHECK(labels == reference[static_cast<std::size_t>(epoch)]);
        }
        CHECK(labels == loader.order(epoch));
        std::sort(labels.begin(), labels.end());
        for (index_t i = 0; i < n; ++i) CHECK(labels[static_cast<std::size_t>(i)] == i);
      }
    }
    CHECK(reference[0] != reference[1]);  // each epoch has its own permutation
  }

  TEST_CASE("an epoch's order depends only on the seed and the epoch") {
    auto opts = train::data_loader_options().batch_size(4).shuffle(true);
    train::data_loader a(counting_dataset{20}, opts.seed(3)), b(counting_dataset{20}, opts.seed(3)),
        c(counting_dataset{20}, opts.seed(4));
    CHECK(a.order(5) == b.order(5));
    CHECK(a.order(5) != c.order(5));
    train::data_loader plain(counting_dataset{6}, train::data_loader_options().batch_size(4));
    CHECK(plain.order(2) == std::vector<index_t>{0, 1, 2, 3, 4, 5});
  }

  TEST_CASE("drop_last drops the short final batch and first_batch resumes mid-epoch") {
    train::data_loader keep(counting_dataset{10}, train::data_loader_options().batch_size(4).num_workers(2));
    train::data_loader drop(counting_dataset{10}, train::data_loader_options().batch_size(4).drop_last(true));
    CHECK(keep.size() == 3);
    CHECK(drop.size() == 2);
    CHECK(labels_of_epoch(drop, 0) == std::vector<index_t>{0, 1, 2, 3, 4, 5, 6, 7});
    std::vector<index_t> sizes;
    for (auto& [x, y] : keep.epoch(0)) sizes.push_back(y.size(0));
    CHECK(sizes == std::vector<index_t>{4, 4, 2});
    auto rest = keep.epoch(0, 2);
    CHECK(rest.position() == 2);
    auto last = rest.next();
    REQUIRE(last.has_value());
    CHECK(last->second(0) == 8);
    CHECK_FALSE(rest.next().has_value());
  }

  TEST_CASE("a consumer that stops early or throws shuts the workers down") {
    counting_dataset ds{200};
    train::data_loader loader(ds, train::data_loader_options().batch_size(2).num_workers(4).prefetch_factor(1));
    int seen = 0;
    for (auto& batch : loader.epoch(0)) {
      (void)batch;
      if (++seen == 3) break;
    }
    // 4 workers, 1 batch each in flight: at most 3 consumed + 4 prefetched + 4 being built... far fewer
    // than all 200 samples were read.
    CHECK(*ds.calls <= 2 * (3 + 4 + 4));
    CHECK_THROWS_AS(
        [&] {
          for (auto& batch : loader.epoch(1)) {
            (void)batch;
            throw std::runtime_error("consumer gave up");
          }
        }(),
        std::runtime_error);
  }

  TEST_CASE("an error while building a batch reaches the consumer at that batch") {
    for (int workers : {0, 2}) {
      counting_dataset ds{12};
      ds.fail_at = 5;
      train::data_loader loader(ds, train::data_loader_options().batch_size(4).num_workers(workers));
      auto epoch = loader.epoch(0);
      CHECK(epoch.next().has_value());  // batch 0: samples 0..3
      CHECK_THROWS_WITH_AS(epoch.next(), "sample 5 is broken", std::runtime_error);
    }
  }

  TEST_CASE("tensor_dataset gathers rows and checks its tensors") {
    auto x = kexue::arange<double>(12).copy();
    auto ds = train::make_tensor_dataset(tensor<double>{{0, 1}, {2, 3}, {4, 5}}, tensor<index_t>{7, 8, 9});
    auto [row, label] = ds.get(1);
    CHECK(row.to_vector() == std::vector<double>{2, 3});
    CHECK(label.rank() == 0);
    CHECK(label.item() == 8);
    auto [rows, labels] = ds.get_batch({2, 0});
    CHECK(rows.shape() == shape{2, 2});
    CHECK(rows.to_vector() == std::vector<double>{4, 5, 0, 1});
    CHECK(labels.to_vector() == std::vector<index_t>{9, 7});
    CHECK_THROWS_WITH_AS(ds.get(3), "tensor_dataset: index 3 out of range for 3 samples", kexue::index_error);
    CHECK_THROWS_WITH_AS(train::make_tensor_dataset(tensor<double>{{0, 1}, {2, 3}}, tensor<index_t>{1, 2, 3}),
                         "tensor_dataset: tensors differ in their first dimension (tensor 0 [2, 2], tensor 1 [3])",
                         kexue::shape_error);
    CHECK_THROWS_WITH_AS(train::make_tensor_dataset(x, kexue::scalar<double>(1.0)),
                         "tensor_dataset: tensor 1 has rank 0, expected a first (sample) axis", kexue::shape_error);
  }

  TEST_CASE("default_collate stacks tensors, scalars, tuples and pairs and rejects ragged samples") {
    using sample = std::tuple<tensor<float>, int, std::pair<double, bool>>;
    std::vector<sample> samples = {{tensor<float>{1, 2}, 3, {0.5, true}}, {tensor<float>{4, 5}, 6, {1.5, false}}};
    auto [x, i, p] = train::default_collate{}(samples);
    CHECK(x.shape() == shape{2, 2});
    CHECK(x.to_vector() == std::vector<float>{1, 2, 4, 5});
    static_assert(std::is_same_v<decltype(i), tensor<index_t>>);
    CHECK(i.to_vector() == std::vector<index_t>{3, 6});
    CHECK(p.first.to_vector() == std::vector<double>{0.5, 1.5});
    CHECK(p.second.to_vector() == std::vector<bool>{true, false});
    std::vector<tensor<double>> ragged = {tensor<double>{1, 2}, tensor<double>{3, 4}, tensor<double>{5, 6, 7}};
    CHECK_THROWS_WITH_AS(train::default_collate{}(ragged),
                         "collate: samples differ in shape (sample 0 [2], sample 2 [3])", kexue::shape_error);
  }

  TEST_CASE("bad loader configurations are rejected with the value named") {
    auto opts = train::data_loader_options().batch_size(32);
    CHECK_THROWS_WITH_AS(train::data_loader(counting_dataset{0}, opts), "data_loader: the dataset is empty",
                         kexue::value_error);
    CHECK_THROWS_WITH_AS(train::data_loader(counting_dataset{10}, opts.drop_last(true)),
                         "data_loader: drop_last leaves no batch (10 samples, batch_size 32)", kexue::value_error);
    CHECK_THROWS_WITH_AS(train::data_loader(counting_dataset{10}, train::data_loader_options().batch_size(0)),
                         "data_loader: batch_size must be positive (got 0)", kexue::value_error);
    CHECK_THROWS_WITH_AS(train::data_loader(counting_dataset{10}, train::data_loader_options().num_workers(-1)),
                         "data_loader: num_workers must be non-negative (got -1)", kexue::value_error);
  }

  TEST_CASE("a batch-indexed dataset (A13) with passthrough_collate yields each prepared batch once") {
    // 5 batches, batch i holds the rows {3i, 3i+1, 3i+2}; 4 workers, shuffled batch order.
    struct batches {
      index_t size() const { return 5; }
      tensor<index_t> get(index_t i) const { return tensor<index_t>{3 * i, 3 * i + 1, 3 * i + 2}; }
    };
    train::data_loader loader(batches{},
                              train::data_loader_options().batch_size(1).shuffle(true).seed(2).num_workers(4),
                              train::passthrough_collate{});
    std::vector<index_t> rows;
    for (auto& b : loader.epoch(0)) {
      CHECK(b.shape() == shape{3});
      for (index_t r : b.to_vector()) rows.push_back(r);
    }
    std::sort(rows.begin(), rows.end());
    for (index_t r = 0; r < 15; ++r) CHECK(rows[static_cast<std::size_t>(r)] == r);
    train::data_loader wrong(batches{}, train::data_loader_options().batch_size(2), train::passthrough_collate{});
    CHECK_THROWS_WITH_AS(wrong.batch(0, 0), "passthrough_collate: expected batches of one sample (batch_size 1), got 2",
                         kexue::value_error);
  }
}
