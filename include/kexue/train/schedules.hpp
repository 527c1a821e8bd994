// SPDX-License-Identifier: MIT
// Callbacks that drive optim/ schedules from a fit loop: any lr_schedule per epoch or per update, and
// reduce_on_plateau on a logged value; their state goes into training checkpoints.
#pragma once

#include <memory>  // std::shared_ptr
#include <string>
#include <utility>  // std::move

#include <kexue/core/error.hpp>
#include <kexue/optim/schedule.hpp>
#include <kexue/train/callbacks.hpp>

namespace kexue::train {

/// @brief Steps an optim::lr_schedule (step_lr, cosine_schedule, piecewise_linear_schedule, ...) after
/// every epoch (`per_epoch`, as PyTorch's scheduler.step() at the end of an epoch) or after every batch
/// (`per_batch`, for warm-up measured in updates). The schedule's state (its step count) is saved in
/// training checkpoints, so a resumed run continues the schedule where it was.
template <class T>
class schedule_callback : public callback {
 public:
  static std::shared_ptr<schedule_callback> per_epoch(std::shared_ptr<optim::lr_schedule<T>> s) {
    return std::shared_ptr<schedule_callback>(new schedule_callback(std::move(s), false));
  }
  static std::shared_ptr<schedule_callback> per_batch(std::shared_ptr<optim::lr_schedule<T>> s) {
    return std::shared_ptr<schedule_callback>(new schedule_callback(std::move(s), true));
  }
  void on_batch_end(training_state& /*s*/, logs& /*l*/) override {
    if (per_batch_) schedule_->step();
  }
  void on_epoch_end(training_state& /*s*/, logs& /*l*/) override {
    if (!per_batch_) schedule_->step();
  }
  kexue::state_dict state() const override { return schedule_->save_state(); }
  void load_state(const kexue::state_dict& s) override { schedule_->load_state(s); }

 private:
  schedule_callback(std::shared_ptr<optim::lr_schedule<T>> s, bool per_batch)
      : schedule_(std::move(s)), per_batch_(per_batch) {
    KEXUE_CHECK(schedule_ != nullptr, value_error, "schedule_callback", "no schedule given");
  }
  std::shared_ptr<optim::lr_schedule<T>> schedule_;
  bool per_batch_;
};

/// @brief Calls optim::reduce_on_plateau::step(logs[monitor]) at every epoch end (monitor "val_loss" by
/// default): the learning rate drops by the plateau's factor when the value stops improving. The new rate
/// shows in the next epoch's "lr". Errors: the monitored value absent (value_error
/// "reduce_lr_on_plateau: monitored value 'val_loss' is not in the logs (entries: loss, lr)").
template <class T>
class reduce_lr_on_plateau : public callback {
 public:
  explicit reduce_lr_on_plateau(std::shared_ptr<optim::reduce_on_plateau<T>> plateau, std::string monitor = "val_loss")
      : plateau_(std::move(plateau)), monitor_(std::move(monitor)) {
    KEXUE_CHECK(plateau_ != nullptr, value_error, "reduce_lr_on_plateau", "no reduce_on_plateau given");
  }
  void on_epoch_end(training_state& /*s*/, logs& l) override {
    plateau_->step(detail::monitored("reduce_lr_on_plateau", l, monitor_));
  }
  kexue::state_dict state() const override { return plateau_->save_state(); }
  void load_state(const kexue::state_dict& s) override { plateau_->load_state(s); }

 private:
  std::shared_ptr<optim::reduce_on_plateau<T>> plateau_;
  std::string monitor_;
};

}  // namespace kexue::train
