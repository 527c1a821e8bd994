// SPDX-License-Identifier: MIT
// Training checkpoints: model, optimizer stack, epoch, loader position and callback state in one atomic file.
#pragma once

#include <cstdint>  // std::uint64_t
#include <string>

#include <kexue/core/creation.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/state_dict.hpp>
#include <kexue/io/serialize.hpp>

namespace kexue::train {

/// @brief Everything a training run needs to continue exactly where it stopped.
///
/// Stored as one state_dict (io/serialize.hpp format, written atomically by io::save: a crash mid-save
/// leaves the previous checkpoint intact) with the entries
///
///     model.<name>          the model's parameters and buffers (or the optimizer's parameters,
///                           params.<i>, when the loop was given no model)
///     optimizer.<name>      the whole optimizer stack (optimizer::save_state)
///     callbacks.<i>.<name>  each callback's state(), by position in the callback list
///     history.<name>        the history callback's state
///     meter.<name>          the epoch's running loss, extra values and metric accumulators (mid-epoch only)
///     train.epoch           epochs completed (the next epoch to run)
///     train.batch           batches completed within that epoch (0 for epoch-end checkpoints)
///     train.global_step     batches trained since the run began
///     train.loader_seed     the data_loader's shuffle seed (its position is (seed, epoch, batch))
///     train.seed            the fit seed of the per-step generators
///     train.steps_per_epoch batches per epoch, checked on resume
struct training_checkpoint {
  kexue::state_dict model;
  kexue::state_dict optimizer;
  kexue::state_dict callbacks;
  kexue::state_dict history;
  kexue::state_dict meter;
  index_t epoch = 0;
  index_t batch = 0;
  index_t global_step = 0;
  std::uint64_t loader_seed = 0;
  std::uint64_t seed = 0;
  index_t steps_per_epoch = 0;

  /// The flat state_dict written to the file.
  kexue::state_dict to_state_dict() const {
    kexue::state_dict s;
    s.merge("model", model);
    s.merge("optimizer", optimizer);
    s.merge("callbacks", callbacks);
    s.merge("history", history);
    s.merge("meter", meter);
    s.insert("train.epoch", kexue::scalar<index_t>(epoch));
    s.insert("train.batch", kexue::scalar<index_t>(batch));
    s.insert("train.global_step", kexue::scalar<index_t>(global_step));
    s.insert("train.loader_seed", kexue::scalar<index_t>(static_cast<index_t>(loader_seed)));
    s.insert("train.seed", kexue::scalar<index_t>(static_cast<index_t>(seed)));
    s.insert("train.steps_per_epoch", kexue::scalar<index_t>(steps_per_epoch));
    return s;
  }

  /// Parses what to_state_dict() produced. @throws value_error naming the missing entry.
  static training_checkpoint from_state_dict(const kexue::state_dict& s) {
    training_checkpoint c;
    c.model = s.sub("model");
    c.optimizer = s.sub("optimizer");
    c.callbacks = s.sub("callbacks");
    c.history = s.sub("history");
    c.meter = s.sub("meter");
    c.epoch = s.get<index_t>("train.epoch").item();
    c.batch = s.get<index_t>("train.batch").item();
    c.global_step = s.get<index_t>("train.global_step").item();
    c.loader_seed = static_cast<std::uint64_t>(s.get<index_t>("train.loader_seed").item());
    c.seed = static_cast<std::uint64_t>(s.get<index_t>("train.seed").item());
    c.steps_per_epoch = s.get<index_t>("train.steps_per_epoch").item();
    return c;
  }
};

/// Writes a training checkpoint to `path` atomically. @throws io_error naming the file.
inline void save_checkpoint(const training_checkpoint& checkpoint, const std::string& path) {
  io::save(checkpoint.to_state_dict(), path);
}

/// Reads a training checkpoint. @throws io_error for an unreadable or damaged file, value_error for a file
/// that is a state_dict but not a training checkpoint.
inline training_checkpoint load_checkpoint(const std::string& path) {
  return training_checkpoint::from_state_dict(io::load(path));
}

}  // namespace kexue::train
