// SPDX-License-Identifier: MIT
// kexue::train::data_loader: batches of a map-style dataset, seeded shuffling, prefetch in worker threads.
#pragma once

#include <algorithm>           // std::min
#include <condition_variable>  // worker / consumer hand-off
#include <cstdint>             // std::uint64_t
#include <exception>           // std::exception_ptr
#include <iterator>            // std::input_iterator_tag
#include <memory>              // std::shared_ptr, std::unique_ptr
#include <mutex>               // std::mutex
#include <numeric>             // std::iota
#include <optional>            // batches in flight
#include <thread>              // worker threads
#include <type_traits>         // std::invoke_result_t
#include <utility>             // std::move
#include <vector>

#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/train/dataset.hpp>

namespace kexue::train {

/// Options of a data_loader.
struct data_loader_options {
  /// Samples per batch (default 32, must be > 0).
  data_loader_options& batch_size(index_t v) {
    batch_size_ = v;
    return *this;
  }
  /// Shuffle the samples every epoch (default false: the order is 0, 1, ..., N-1).
  data_loader_options& shuffle(bool v) {
    shuffle_ = v;
    return *this;
  }
  /// Seed of the shuffling (default 0). Epoch e is shuffled with a generator seeded by epoch_seed(seed, e),
  /// so an epoch's order depends only on (seed, e): resuming at epoch e reproduces it.
  data_loader_options& seed(std::uint64_t v) {
    seed_ = v;
    return *this;
  }
  /// Drop the last batch if it has fewer than batch_size samples (default false).
  data_loader_options& drop_last(bool v) {
    drop_last_ = v;
    return *this;
  }
  /// Background threads preparing batches (default 0: batches are built in the caller's thread). The
  /// batches, and the samples in them, come in the same order whatever the number of workers.
  data_loader_options& num_workers(int v) {
    num_workers_ = v;
    return *this;
  }
  /// Batches each worker may prepare ahead of the consumer (default 2, must be > 0).
  data_loader_options& prefetch_factor(int v) {
    prefetch_factor_ = v;
    return *this;
  }

  index_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  std::uint64_t seed() const { return seed_; }
  bool drop_last() const { return drop_last_; }
  int num_workers() const { return num_workers_; }
  int prefetch_factor() const { return prefetch_factor_; }

 private:
  index_t batch_size_ = 32;
  bool shuffle_ = false;
  std::uint64_t seed_ = 0;
  bool drop_last_ = false;
  int num_workers_ = 0;
  int prefetch_factor_ = 2;
};

/// The seed of epoch `epoch`'s shuffling generator: a splitmix64 mix of (seed, epoch), so that nearby seeds
/// and epochs give unrelated streams.
inline std::uint64_t epoch_seed(std::uint64_t seed, std::uint64_t epoch) {
  std::uint64_t z = seed ^ (0x9E3779B97F4A7C15ull * (epoch + 1));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace detail {
template <class Dataset, class Collate, class = void>
struct batch_of {
  using sample = std::decay_t<decltype(std::declval<const Dataset&>().get(index_t{}))>;
  using type = std::decay_t<std::invoke_result_t<const Collate&, const std::vector<sample>&>>;
};
template <class Dataset, class Collate>
struct batch_of<Dataset, Collate, std::enable_if_t<has_get_batch<Dataset>::value>> {
  using type =
      std::decay_t<decltype(std::declval<const Dataset&>().get_batch(std::declval<const std::vector<index_t>&>()))>;
};
}  // namespace detail

/// Batches of a map-style dataset (see dataset.hpp for the concept), epoch by epoch.
///
///     train::data_loader loader(make_tensor_dataset(x, y),
///                               train::data_loader_options().batch_size(64).shuffle(true).seed(7).num_workers(2));
///     for (index_t epoch = 0; epoch < 10; ++epoch)
///       for (auto& [xb, yb] : loader.epoch(epoch)) { ... }   // xb [64, D], yb [64]
///
/// Batch k of epoch e holds the samples order(e)[k·B, min((k+1)·B, N)), where order(e) is 0..N-1 or, with
/// shuffle, a Fisher–Yates permutation drawn from generator(epoch_seed(seed, e)). `epoch(e, first_batch)`
/// starts at batch `first_batch` (resuming mid-epoch). With num_workers > 0, worker threads build batches
/// ahead (at most num_workers · prefetch_factor in flight) and the consumer receives them in order k = 0, 1,
/// ...: every sample exactly once per epoch, in the same order for any number of workers (A13). An
/// exception thrown while building batch k (by get, get_batch or collate) is rethrown to the consumer when
/// it asks for batch k. Destroying the epoch object (the consumer stopped early, or threw) stops and joins
/// the workers; a worker finishes the batch it is building first.
///
/// The loader must outlive the epochs it hands out (an epoch object refers to it). The dataset is held by value (share
/// a large dataset through a cheap handle, as tensor_dataset does). Batches are built by `dataset.get_batch(indices)`
/// if the dataset has it, else by `collate(samples)`.
///
/// Errors (value_error): an empty dataset "data_loader: the dataset is empty", batch_size ≤ 0
/// "data_loader: batch_size must be positive (got 0)", num_workers < 0, prefetch_factor ≤ 0, drop_last
/// leaving no batch "data_loader: drop_last leaves no batch (10 samples, batch_size 32)"; an epoch's
/// first_batch out of range (index_error).
template <class Dataset, class Collate = default_collate>
class data_loader {
 public:
  static_assert(is_dataset_v<Dataset>, "data_loader: Dataset needs size() and get(index_t) (see dataset.hpp)");
  using sample_type = std::decay_t<decltype(std::declval<const Dataset&>().get(index_t{}))>;
  /// What one batch is: get_batch's result if the dataset has it, else collate's.
  using batch_type = typename detail::batch_of<Dataset, Collate>::type;

  class epoch_batches;

  explicit data_loader(Dataset dataset, data_loader_options options = {}, Collate collate = {});

  /// Number of batches per epoch.
  index_t size() const { return num_batches_; }
  /// Number of samples in the dataset.
  index_t num_samples() const { return num_samples_; }
  const data_loader_options& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }

  /// The order of the samples in epoch `epoch` (all N indices, before batching and drop_last).
  std::vector<index_t> order(index_t epoch) const;
  /// Sample indices of batch `k` given the epoch's order.
  std::vector<index_t> batch_indices(const std::vector<index_t>& order, index_t k) const;
  /// Builds batch `k` of epoch `epoch` in the calling thread.
  batch_type batch(index_t epoch, index_t k) const { return make_batch(batch_indices(order(epoch), k)); }

  /// The batches of epoch `epoch`, from batch `first_batch` on; starts the workers (if any) at once.
  epoch_batches epoch(index_t epoch, index_t first_batch = 0) const { return epoch_batches(*this, epoch, first_batch); }

 private:
  batch_type make_batch(const std::vector<index_t>& indices) const {
    if constexpr (has_get_batch<Dataset>::value) {
      return dataset_->get_batch(indices);
    } else {
      std::vector<sample_type> samples;
      samples.reserve(indices.size());
      for (index_t i : indices) samples.push_back(dataset_->get(i));
      return collate_(samples);
    }
  }

  std::shared_ptr<const Dataset> dataset_;
  data_loader_options options_;
  Collate collate_;
  index_t num_samples_ = 0;
  index_t num_batches_ = 0;
};

/// One epoch of a data_loader: an input range of batches (each batch is moved out to the consumer).
/// Owns the worker threads; its destructor stops and joins them. Movable, not copyable.
template <class Dataset, class Collate>
class data_loader<Dataset, Collate>::epoch_batches {
 public:
  using value_type = typename data_loader::batch_type;

  epoch_batches(const data_loader& loader, index_t epoch, index_t first_batch);
  epoch_batches(epoch_batches&&) noexcept = default;
  epoch_batches& operator=(epoch_batches&&) noexcept = default;
  ~epoch_batches() {
    if (state_) state_->shutdown();
  }

  /// The next batch, or nothing at the end of the epoch. Rethrows an error from building the batch.
  std::optional<value_type> next() { return state_->next(); }
  /// Index (within the epoch) of the batch next() returns next.
  index_t position() const { return state_->next_consume; }
  /// Number of batches in the epoch (not only the remaining ones).
  index_t size() const { return state_->end; }

  /// Input iterator over the remaining batches.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = typename epoch_batches::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = value_type*;
    using reference = value_type&;

    iterator() = default;
    explicit iterator(epoch_batches* owner) : owner_(owner) { advance(); }
    reference operator*() { return *current_; }
    pointer operator->() { return &*current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    friend bool operator==(const iterator& a, const iterator& b) {
      return a.current_.has_value() == b.current_.has_value();
    }
    friend bool operator!=(const iterator& a, const iterator& b) { return !(a == b); }

   private:
    void advance() { current_ = owner_->next(); }
    epoch_batches* owner_ = nullptr;
    std::optional<value_type> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  struct state {
    const data_loader* loader = nullptr;
    std::vector<index_t> order;
    index_t end = 0;
    index_t next_job = 0;      // next batch a worker takes
    index_t next_consume = 0;  // next batch the consumer takes
    index_t capacity = 1;      // batches in flight at most
    std::vector<std::optional<value_type>> ready;
    std::vector<std::exception_ptr> errors;
    std::vector<char> done;
    bool stop = false;
    std::mutex mutex;
    std::condition_variable batch_ready, space_free;
    std::vector<std::thread> workers;

    void work();
    std::optional<value_type> next();
    void shutdown();
  };
  std::unique_ptr<state> state_;
};

// ~~~ data_loader ~~~

template <class Dataset, class Collate>
data_loader<Dataset, Collate>::data_loader(Dataset dataset, data_loader_options options, Collate collate)
    : dataset_(std::make_shared<const Dataset>(std::move(dataset))), options_(options), collate_(std::move(collate)) {
  const char* op = "data_loader";
  num_samples_ = static_cast<index_t>(dataset_->size());
  KEXUE_CHECK(num_samples_ > 0, value_error, op, "the dataset is empty");
  const index_t b = options_.batch_size();
  KEXUE_CHECK(b > 0, value_error, op, "batch_size must be positive (got ", b, ")");
  KEXUE_CHECK(options_.num_workers() >= 0, value_error, op, "num_workers must be non-negative (got ",
              options_.num_workers(), ")");
  KEXUE_CHECK(options_.prefetch_factor() > 0, value_error, op, "prefetch_factor must be positive (got ",
              options_.prefetch_factor(), ")");
  num_batches_ = options_.drop_last() ? num_samples_ / b : (num_samples_ + b - 1) / b;
  KEXUE_CHECK(num_batches_ > 0, value_error, op, "drop_last leaves no batch (", num_samples_, " samples, batch_size ",
              b, ")");
}

template <class Dataset, class Collate>
std::vector<index_t> data_loader<Dataset, Collate>::order(index_t epoch) const {
  std::vector<index_t> out(static_cast<std::size_t>(num_samples_));
  std::iota(out.begin(), out.end(), index_t{0});
  if (options_.shuffle()) {
    generator gen(epoch_seed(options_.seed(), static_cast<std::uint64_t>(epoch)));
    for (index_t i = num_samples_ - 1; i > 0; --i) {  // Fisher–Yates
      const auto j = static_cast<index_t>(gen.below(static_cast<std::uint64_t>(i + 1)));
      std::swap(out[static_cast<std::size_t>(i)], out[static_cast<std::size_t>(j)]);
    }
  }
  return out;
}

template <class Dataset, class Collate>
std::vector<index_t> data_loader<Dataset, Collate>::batch_indices(const std::vector<index_t>& order, index_t k) const {
  KEXUE_CHECK(k >= 0 && k < num_batches_, index_error, "data_loader", "batch ", k, " out of range for ", num_batches_,
              " batches");
  const index_t b = options_.batch_size();
  const index_t first = k * b, last = std::min(first + b, num_samples_);
  return std::vector<index_t>(order.begin() + first, order.begin() + last);
}

// ~~~ epoch_batches ~~~

template <class Dataset, class Collate>
data_loader<Dataset, Collate>::epoch_batches::epoch_batches(const data_loader& loader, index_t epoch,
                                                            index_t first_batch)
    : state_(std::make_unique<state>()) {
  KEXUE_CHECK(first_batch >= 0 && first_batch <= loader.size(), index_error, "data_loader", "first batch ", first_batch,
              " out of range for ", loader.size(), " batches");
  state& s = *state_;
  s.loader = &loader;
  s.order = loader.order(epoch);
  s.end = loader.size();
  s.next_job = s.next_consume = first_batch;
  const int workers = loader.options().num_workers();
  if (workers == 0) return;
  s.capacity = static_cast<index_t>(workers) * loader.options().prefetch_factor();
  s.ready.resize(static_cast<std::size_t>(s.end));
  s.errors.resize(static_cast<std::size_t>(s.end));
  s.done.assign(static_cast<std::size_t>(s.end), 0);
  try {
    for (int w = 0; w < workers; ++w) s.workers.emplace_back([&s] { s.work(); });
  } catch (...) {
    s.shutdown();
    throw;
  }
}

template <class Dataset, class Collate>
void data_loader<Dataset, Collate>::epoch_batches::state::work() {
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    space_free.wait(lock, [this] { return stop || next_job >= end || next_job < next_consume + capacity; });
    if (stop || next_job >= end) return;
    const index_t k = next_job++;
    lock.unlock();
    std::optional<value_type> batch;
    std::exception_ptr error;
    try {
      batch.emplace(loader->make_batch(loader->batch_indices(order, k)));
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    ready[static_cast<std::size_t>(k)] = std::move(batch);
    errors[static_cast<std::size_t>(k)] = error;
    done[static_cast<std::size_t>(k)] = 1;
    batch_ready.notify_all();
  }
}

template <class Dataset, class Collate>
auto data_loader<Dataset, Collate>::epoch_batches::state::next() -> std::optional<value_type> {
  if (next_consume >= end) return std::nullopt;
  if (workers.empty()) {
    const index_t k = next_consume++;
    return loader->make_batch(loader->batch_indices(order, k));
  }
  std::unique_lock<std::mutex> lock(mutex);
  const auto k = static_cast<std::size_t>(next_consume);
  batch_ready.wait(lock, [&] { return done[k] != 0; });
  ++next_consume;
  std::optional<value_type> out = std::move(ready[k]);
  ready[k].reset();
  const std::exception_ptr error = errors[k];
  errors[k] = nullptr;
  lock.unlock();
  space_free.notify_all();
  if (error) std::rethrow_exception(error);
  return out;
}

template <class Dataset, class Collate>
void data_loader<Dataset, Collate>::epoch_batches::state::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stop = true;
  }
  space_free.notify_all();
  for (auto& t : workers) {
    if (t.joinable()) t.join();
  }
  workers.clear();
}

}  // namespace kexue::train
