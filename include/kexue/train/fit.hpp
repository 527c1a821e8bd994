// SPDX-License-Identifier: MIT
// The training loop: fit / evaluate / predict with metrics, callbacks, progress display and exact resume.
#pragma once

#include <cmath>       // std::isfinite
#include <cstdint>     // std::uint64_t
#include <cstring>     // std::memcpy
#include <filesystem>  // does the resume checkpoint exist
#include <functional>  // type-erased model access
#include <iostream>    // default progress stream
#include <memory>      // std::shared_ptr
#include <string>
#include <type_traits>  // step signature dispatch
#include <utility>      // std::move
#include <vector>

#include <kexue/autograd/backward.hpp>
#include <kexue/autograd/grad_mode.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/random.hpp>
#include <kexue/core/state_dict.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/optim/optimizer.hpp>
#include <kexue/train/callbacks.hpp>
#include <kexue/train/checkpoint.hpp>
#include <kexue/train/data_loader.hpp>
#include <kexue/train/metrics.hpp>
#include <kexue/train/progress.hpp>

namespace kexue::train {

// ~~~ The step function ~~~
//
// fit trains with a user step function, in the spirit of Keras' train_step / PyTorch Lightning's
// training_step. It is called once per batch as `step(batch, context)` or `step(batch)` and returns either
// the scalar loss tensor or a step_output (loss plus predictions and targets for metrics, extra scalars).
// fit does the rest: zero_grad, the finiteness check, loss.backward(), optimizer.step(), metrics, logs,
// callbacks. For validation, evaluate and predict the same function runs with context.training false and
// gradient recording off (so a step that calls model.train(context.training) gets dropout right).
// model_step(model, loss_fn) builds the usual step for batches (x, y).
//
//     auto step = [&](auto& batch, train::step_context& ctx) {
//       auto& [x, y] = batch;
//       model.train(ctx.training);
//       auto logits = model(x);
//       return train::step_output<float>(loss::cross_entropy(logits, y), logits, y);
//     };
//     optim::adam<float> opt(model.parameters(), optim::adam_options().lr(1e-3));
//     auto hist = train::fit(step, opt, train_loader, val_loader,
//                            train::fit_options().epochs(10).model(model)
//                                .metrics({std::make_shared<train::accuracy>()})
//                                .callbacks({std::make_shared<train::early_stopping>(), ...})
//                                .checkpoint_path("run.ckpt").resume(true));

/// What a step function is told about the batch it runs on.
struct step_context {
  bool training = true;  ///< false in validation, evaluate and predict (recording is off then too)
  index_t epoch = 0;
  index_t step = 0;         ///< batch index within the epoch
  index_t global_step = 0;  ///< batches trained before this one
  /// A generator for this batch's randomness (dropout masks, noise), seeded by epoch_seed(fit seed,
  /// global_step) in training and by epoch_seed(fit seed, ~batch) in evaluation: the same in an
  /// uninterrupted and a resumed run, and independent of the worker count.
  generator* rng = nullptr;
};

/// What a step function may return besides a bare loss.
template <class T>
struct step_output {
  /// The loss to minimise: a tensor with one element.
  tensor<T> loss;
  /// Predictions and targets handed to the metrics (converted to double, detached); may be undefined.
  tensor<double> predictions, targets;
  /// Weight of this batch in the epoch means of the loss, metrics and extra values (0: the batch size).
  double count = 0;
  /// Optional per-sample weights for the metrics, with the targets' shape (see metric_batch).
  tensor<double> sample_weights;
  /// Extra scalars (a gradient norm, the parts of a loss), averaged over the epoch like the loss.
  logs values;

  step_output() = default;
  step_output(tensor<T> loss_) : loss(std::move(loss_)) {}  // NOLINT: a bare loss converts
  template <class P, class Y>
  step_output(tensor<T> loss_, const tensor<P>& predictions_, const tensor<Y>& targets_)
      : loss(std::move(loss_)), predictions(metric::as_double(predictions_)), targets(metric::as_double(targets_)) {}
};

/// Options of fit, evaluate and predict.
struct fit_options {
  /// Epochs to train (default 1; counting the epochs done before a resume).
  fit_options& epochs(index_t v) {
    epochs_ = v;
    return *this;
  }
  /// Metrics updated from each step_output (reset every epoch; for validation they are reset, reused and
  /// logged with the "val_" prefix).
  fit_options& metrics(std::vector<std::shared_ptr<metric>> v) {
    metrics_ = std::move(v);
    return *this;
  }
  /// Callbacks, called in this order (fit adds a history first and, with verbose 1, a progress_bar last).
  fit_options& callbacks(std::vector<std::shared_ptr<callback>> v) {
    callbacks_ = std::move(v);
    return *this;
  }
  /// 0 silent, 1 progress_bar on std::cout (default 1).
  fit_options& verbose(int v) {
    verbose_ = v;
    return *this;
  }
  /// Seed of the per-step generators of step_context (default 0).
  fit_options& seed(std::uint64_t v) {
    seed_ = v;
    return *this;
  }
  /// Check that every training loss is finite (default true; value_error naming epoch and batch otherwise).
  fit_options& check_finite(bool v) {
    check_finite_ = v;
    return *this;
  }
  /// Put running metric values into every batch's logs (default true; the progress bar shows them).
  fit_options& batch_metrics(bool v) {
    batch_metrics_ = v;
    return *this;
  }
  /// Write a training checkpoint (checkpoint.hpp) atomically to this path after every epoch (default "": none).
  fit_options& checkpoint_path(std::string v) {
    checkpoint_path_ = std::move(v);
    return *this;
  }
  /// Also write the training checkpoint every `batches` batches within an epoch (default 0: at epoch ends
  /// only); a resume then starts mid-epoch, at the next batch.
  fit_options& checkpoint_every(index_t batches) {
    checkpoint_every_ = batches;
    return *this;
  }
  /// Continue from checkpoint_path if the file exists (default false).
  fit_options& resume(bool v) {
    resume_ = v;
    return *this;
  }
  /// The model whose weights callbacks save and restore and checkpoints store: an nn::module (or any type
  /// with `state_dict()` and `load_state_dict(const state_dict&)`), held by reference. Without it the
  /// optimizer's parameters stand in for the model (entries params.0, params.1, ...).
  template <class Model>
  fit_options& model(Model& m) {
    Model* p = &m;
    model_state_ = [p] { return p->state_dict(); };
    load_model_ = [p](const kexue::state_dict& s) { p->load_state_dict(s); };
    return *this;
  }

  index_t epochs() const { return epochs_; }
  const std::vector<std::shared_ptr<metric>>& metrics() const { return metrics_; }
  const std::vector<std::shared_ptr<callback>>& callbacks() const { return callbacks_; }
  int verbose() const { return verbose_; }
  std::uint64_t seed() const { return seed_; }
  bool check_finite() const { return check_finite_; }
  bool batch_metrics() const { return batch_metrics_; }
  const std::string& checkpoint_path() const { return checkpoint_path_; }
  bool resume() const { return resume_; }
  index_t checkpoint_every() const { return checkpoint_every_; }
  const std::function<kexue::state_dict()>& model_state() const { return model_state_; }
  const std::function<void(const kexue::state_dict&)>& load_model() const { return load_model_; }

 private:
  index_t epochs_ = 1;
  std::vector<std::shared_ptr<metric>> metrics_;
  std::vector<std::shared_ptr<callback>> callbacks_;
  int verbose_ = 1;
  std::uint64_t seed_ = 0;
  bool check_finite_ = true;
  bool batch_metrics_ = true;
  std::string checkpoint_path_;
  bool resume_ = false;
  index_t checkpoint_every_ = 0;
  std::function<kexue::state_dict()> model_state_;
  std::function<void(const kexue::state_dict&)> load_model_;
};

/// @brief Trains `step` with `opt` over `loader` for options.epochs() epochs (see the step function notes
/// above); returns the history of the epoch logs.
///
/// Per batch: on_batch_begin; opt.zero_grad(); out = step(batch, ctx); loss finiteness check; backward;
/// opt.step(); metrics; on_batch_end. Per epoch: on_epoch_begin, the batches, validation (if val_loader),
/// "lr" logged, on_epoch_end, then the training checkpoint (if checkpoint_path) so it includes the
/// callbacks' state. With resume and an existing checkpoint: model, optimizer stack, callbacks and history
/// are restored and training continues at the next epoch; with the same seeds the run is identical, bit for
/// bit, to one never interrupted (the loader's epoch order depends only on (seed, epoch), the step
/// generators only on (fit seed, global step)). Checkpoints are written at epoch ends and, with
/// checkpoint_every(n), every n batches; a mid-epoch checkpoint also carries the epoch's running loss,
/// extra values and metric accumulators (metric::accumulators), so the resumed epoch's logs are exact too.
///
/// Errors: epochs < 1 (value_error); a loss that is not a single value (shape_error "fit: the step returned
/// a loss of shape [4], expected a single value"); a non-finite loss (value_error "fit: loss is nan at
/// epoch 1, batch 3 (global step 13)", 0-based, before backward, so the weights keep their last finite
/// values); a checkpoint from another loader configuration (value_error naming both values); errors of
/// callbacks, metrics, the loader and io propagate.
template <class Step, class T, class Loader>
history fit(Step&& step, optim::optimizer<T>& opt, const Loader& loader, const fit_options& options = {});

/// fit with validation on `val_loader` at every epoch end ("val_" logs).
template <class Step, class T, class Loader, class ValLoader>
history fit(Step&& step, optim::optimizer<T>& opt, const Loader& loader, const ValLoader& val_loader,
            const fit_options& options = {});

/// @brief Runs `step` over every batch of `loader` (epoch 0) with recording off and context.training false;
/// returns the mean "loss" and the metrics of options.metrics(), names prefixed with `prefix`.
template <class Step, class Loader>
logs evaluate(Step&& step, const Loader& loader, const fit_options& options = {}, const std::string& prefix = "");

/// @brief `fn(batch)` (or `fn(batch, context)`) for every batch of `loader` (epoch 0), with recording off,
/// the results concatenated along axis 0. @throws shape_error if results differ beyond axis 0
/// ("predict: batch 2 gave shape [3, 4], batch 0 gave [8, 5]").
template <class Fn, class Loader>
auto predict(Fn&& fn, const Loader& loader, std::uint64_t seed = 0);

/// @brief The usual step for batches (x, y) (a std::pair or std::tuple): model.train(ctx.training),
/// predictions = model(x), loss = loss_fn(predictions, y); predictions and y go to the metrics. `model` is
/// held by reference and must outlive the step.
template <class Model, class LossFn>
auto model_step(Model& model, LossFn loss_fn);

// ~~~ Implementation ~~~

namespace detail {

template <class X>
struct is_step_output : std::false_type {};
template <class T>
struct is_step_output<step_output<T>> : std::true_type {};

/// Calls `step(batch, ctx)` or `step(batch)`.
template <class Step, class Batch>
decltype(auto) call_step(Step& step, Batch& batch, step_context& ctx) {
  if constexpr (std::is_invocable_v<Step&, Batch&, step_context&>) {
    return step(batch, ctx);
  } else {
    static_assert(std::is_invocable_v<Step&, Batch&>,
                  "fit: the step must be callable as step(batch, step_context&) or step(batch)");
    return step(batch);
  }
}

/// The step's result as a step_output<T>.
template <class T, class R>
step_output<T> as_step_output(R&& r) {
  using result = std::decay_t<R>;
  if constexpr (is_step_output<result>::value) {
    static_assert(std::is_same_v<result, step_output<T>>, "fit: the step's step_output has another element type");
    return std::forward<R>(r);
  } else {
    static_assert(std::is_same_v<result, tensor<T>>,
                  "fit: the step must return tensor<T> (the loss) or step_output<T>, T the optimizer's type");
    return step_output<T>(std::forward<R>(r));
  }
}

/// Number of samples in a batch: the first axis of its first tensor, else 1.
template <class Batch>
double batch_count(const Batch& b) {
  if constexpr (is_tensor<Batch>::value) {
    return b.rank() > 0 ? static_cast<double>(b.size(0)) : 1.0;
  } else if constexpr (is_tuple_like<Batch>::value) {
    return batch_count(std::get<0>(b));
  } else {
    return 1.0;
  }
}

/// Epoch accumulators: the loss mean, the user's metrics and the extra values.
class epoch_meter {
 public:
  explicit epoch_meter(const std::vector<std::shared_ptr<metric>>& metrics) : metrics_(metrics) {}
  void reset() {
    loss_.reset();
    for (auto& m : metrics_) m->reset();
    extras_.clear();
  }
  template <class T>
  void add(const step_output<T>& out, double loss, double count) {
    metric_batch b{out.predictions, out.targets, loss, count, out.sample_weights};
    loss_.update(b);
    for (auto& m : metrics_) m->update(b);
    for (const auto& [name, value] : out.values) {
      mean_metric* meter = nullptr;
      for (auto& e : extras_) {
        if (e.name() == name) meter = &e;
      }
      if (meter == nullptr) meter = &extras_.emplace_back(name);
      meter->add(value, count);
    }
  }
  /// The running accumulators (for mid-epoch checkpoints).
  kexue::state_dict state() const {
    kexue::state_dict s;
    s.insert("loss", from_vector(loss_.accumulators()));
    for (std::size_t i = 0; i < metrics_.size(); ++i) {
      const auto v = metrics_[i]->accumulators();
      if (!v.empty()) s.insert("metrics." + std::to_string(i), from_vector(v));
    }
    for (const auto& e : extras_) s.insert("extras." + e.name(), from_vector(e.accumulators()));
    return s;
  }
  void load_state(const kexue::state_dict& s) {
    reset();
    loss_.set_accumulators(s.get<double>("loss").to_vector());
    for (std::size_t i = 0; i < metrics_.size(); ++i) {
      const std::string key = "metrics." + std::to_string(i);
      if (s.contains(key)) metrics_[i]->set_accumulators(s.get<double>(key).to_vector());
    }
    const auto extras = s.sub("extras");
    for (const auto& name : extras.keys())
      extras_.emplace_back(name).set_accumulators(extras.get<double>(name).to_vector());
  }
  void write(logs& l, const std::string& prefix, bool with_metrics) const {
    l.set(prefix + "loss", loss_.result());
    if (with_metrics) {
      for (const auto& m : metrics_) l.set(prefix + m->name(), m->result());
    }
    for (const auto& e : extras_) l.set(prefix + e.name(), e.result());
  }

 private:
  mean_metric loss_{"loss"};
  std::vector<std::shared_ptr<metric>> metrics_;
  std::vector<mean_metric> extras_;
};

/// The element type T of a step result (tensor<T> or step_output<T>).
template <class R>
struct step_value;
template <class T>
struct step_value<tensor<T>> {
  using type = T;
};
template <class T>
struct step_value<step_output<T>> {
  using type = T;
};

/// Runs every batch of epoch 0 of `loader` through `step` in evaluation mode into `meter`.
template <class Step, class Loader>
void run_evaluation(Step& step, const Loader& loader, epoch_meter& meter, std::uint64_t seed) {
  no_grad_guard no_grad;
  meter.reset();
  index_t k = 0;
  for (auto& batch : loader.epoch(0)) {
    generator rng(epoch_seed(seed, ~static_cast<std::uint64_t>(k)));
    step_context ctx{false, 0, k, 0, &rng};
    using result = std::decay_t<decltype(call_step(step, batch, ctx))>;
    using T = typename step_value<result>::type;
    step_output<T> out = as_step_output<T>(call_step(step, batch, ctx));
    KEXUE_CHECK(
        out.loss.defined() && out.loss.numel() == 1, shape_error, "evaluate", "the step returned a loss of shape ",
        out.loss.defined() ? format_shape(out.loss.shape()) : std::string("(undefined)"), ", expected a single value");
    const double count = out.count > 0 ? out.count : batch_count(batch);
    meter.add(out, static_cast<double>(out.loss.item()), count);
    ++k;
  }
}

/// Copies of every entry (a snapshot that later in-place updates do not change).
inline kexue::state_dict copy_state(const kexue::state_dict& s) {
  kexue::state_dict out;
  for (const auto& [name, value] : s) {
    out.insert_any(name, std::visit([](const auto& t) { return any_tensor(t.copy()); }, value));
  }
  return out;
}

template <class Step, class T, class Loader, class ValLoader>
history fit_impl(Step& step, optim::optimizer<T>& opt, const Loader& loader, const ValLoader* val_loader,
                 const fit_options& options) {
  KEXUE_CHECK(options.epochs() >= 1, value_error, "fit", "epochs must be at least 1 (got ", options.epochs(), ")");
  KEXUE_CHECK(options.checkpoint_every() >= 0, value_error, "fit", "checkpoint_every must be >= 0 (got ",
              options.checkpoint_every(), ")");
  training_state state;
  state.epochs = options.epochs();
  state.steps_per_epoch = loader.size();
  state.get_lr = [&opt] { return opt.lr(); };
  state.put_lr = [&opt](double lr) { opt.set_lr(lr); };
  if (options.model_state() && options.load_model()) {
    const auto save = options.model_state();
    state.model_state = [save] { return copy_state(save()); };
    state.load_model = options.load_model();
  } else {  // the optimizer's parameters stand in for the model
    state.model_state = [&opt] {
      kexue::state_dict s;
      const auto params = opt.parameters();
      for (std::size_t i = 0; i < params.size(); ++i) s.insert("params." + std::to_string(i), params[i].copy());
      return s;
    };
    state.load_model = [&opt](const kexue::state_dict& s) {
      no_grad_guard no_grad;
      const auto params = opt.parameters();
      for (std::size_t i = 0; i < params.size(); ++i) {
        const auto v = s.get<T>("params." + std::to_string(i));
        KEXUE_CHECK(v.shape() == params[i].shape(), shape_error, "fit", "saved parameter ", i, " has shape ",
                    format_shape(v.shape()), ", the parameter has shape ", format_shape(params[i].shape()));
        std::memcpy(params[i].data(), v.data(), static_cast<std::size_t>(v.numel()) * sizeof(T));
        params[i].bump_version();
      }
    };
  }

  auto hist = std::make_shared<history>();
  std::vector<std::shared_ptr<callback>> all{hist};
  for (const auto& c : options.callbacks()) all.push_back(c);
  if (options.verbose() > 0) all.push_back(std::make_shared<progress_bar>());

  const std::uint64_t loader_seed = loader.options().seed();
  const std::string& ckpt = options.checkpoint_path();
  epoch_meter meter(options.metrics());
  index_t first_batch = 0;  // where the first epoch starts (> 0 after a mid-epoch checkpoint)
  kexue::state_dict resumed_meter;
  if (!ckpt.empty() && options.resume() && std::filesystem::exists(ckpt)) {
    const training_checkpoint c = load_checkpoint(ckpt);
    KEXUE_CHECK(c.loader_seed == loader_seed, value_error, "fit", "checkpoint '", ckpt,
                "' was written with loader seed ", c.loader_seed, ", the loader has seed ", loader_seed);
    KEXUE_CHECK(c.seed == options.seed(), value_error, "fit", "checkpoint '", ckpt, "' was written with fit seed ",
                c.seed, ", the options have seed ", options.seed());
    KEXUE_CHECK(c.steps_per_epoch == loader.size(), value_error, "fit", "checkpoint '", ckpt, "' was written with ",
                c.steps_per_epoch, " batches per epoch, the loader has ", loader.size());
    state.load_model(c.model);
    opt.load_state(c.optimizer);
    hist->load_state(c.history);
    for (std::size_t i = 1; i < all.size(); ++i) {
      const auto sub = c.callbacks.sub(std::to_string(i - 1));
      if (!sub.empty()) all[i]->load_state(sub);
    }
    state.initial_epoch = c.epoch;
    state.global_step = c.global_step;
    first_batch = c.batch;
    resumed_meter = c.meter;
  }
  const auto write_checkpoint = [&](index_t epoch, index_t batch) {
    training_checkpoint c;
    c.model = state.model_state();
    c.optimizer = opt.save_state();
    c.history = hist->state();
    for (std::size_t i = 1; i < all.size(); ++i) c.callbacks.merge(std::to_string(i - 1), all[i]->state());
    if (batch > 0) c.meter = meter.state();
    c.epoch = epoch;
    c.batch = batch;
    c.global_step = state.global_step;
    c.loader_seed = loader_seed;
    c.seed = options.seed();
    c.steps_per_epoch = loader.size();
    save_checkpoint(c, ckpt);
  };

  logs train_logs;
  for (auto& c : all) c->on_train_begin(state, train_logs);
  for (state.epoch = state.initial_epoch; state.epoch < state.epochs && !state.stop_training; ++state.epoch) {
    logs epoch_logs;
    for (auto& c : all) c->on_epoch_begin(state, epoch_logs);
    meter.reset();
    state.step = state.epoch == state.initial_epoch ? first_batch : 0;
    if (state.step > 0) meter.load_state(resumed_meter);
    for (auto& batch : loader.epoch(state.epoch, state.step)) {
      logs batch_logs;
      for (auto& c : all) c->on_batch_begin(state, batch_logs);
      opt.zero_grad();
      generator rng(epoch_seed(options.seed(), static_cast<std::uint64_t>(state.global_step)));
      step_context ctx{true, state.epoch, state.step, state.global_step, &rng};
      step_output<T> out = as_step_output<T>(call_step(step, batch, ctx));
      KEXUE_CHECK(out.loss.defined() && out.loss.numel() == 1, shape_error, "fit", "the step returned a loss of shape ",
                  out.loss.defined() ? format_shape(out.loss.shape()) : std::string("(undefined)"),
                  ", expected a single value");
      const double loss = static_cast<double>(out.loss.item());
      if (options.check_finite() && !std::isfinite(loss)) {
        KEXUE_THROW(value_error, "fit", "loss is ", loss, " at epoch ", state.epoch, ", batch ", state.step,
                    " (global step ", state.global_step, ")");
      }
      out.loss.backward();
      opt.step();
      ++state.global_step;
      meter.add(out, loss, out.count > 0 ? out.count : batch_count(batch));
      meter.write(batch_logs, "", options.batch_metrics());
      batch_logs.set("lr", opt.lr());
      for (auto& c : all) c->on_batch_end(state, batch_logs);
      const index_t every = options.checkpoint_every();
      if (!ckpt.empty() && every > 0 && state.global_step % every == 0 && state.step + 1 < state.steps_per_epoch) {
        write_checkpoint(state.epoch, state.step + 1);
      }
      if (state.stop_training) break;
      ++state.step;
    }
    if (state.step == state.steps_per_epoch) --state.step;  // the last batch's index for on_epoch_end
    meter.write(epoch_logs, "", true);
    if (val_loader != nullptr) {
      for (auto& c : all) c->on_validation_begin(state, epoch_logs);
      try {
        run_evaluation(step, *val_loader, meter, options.seed());
      } catch (...) {
        for (auto& c : all) c->on_validation_end(state, epoch_logs);
        throw;
      }
      meter.write(epoch_logs, "val_", true);
      for (auto& c : all) c->on_validation_end(state, epoch_logs);
    }
    epoch_logs.set("lr", opt.lr());
    for (auto& c : all) c->on_epoch_end(state, epoch_logs);
    if (!ckpt.empty()) write_checkpoint(state.epoch + 1, 0);
    train_logs = epoch_logs;
  }
  if (state.epoch > state.initial_epoch) --state.epoch;  // the last epoch run, for on_train_end
  for (auto& c : all) c->on_train_end(state, train_logs);
  return *hist;
}

}  // namespace detail

template <class Step, class T, class Loader>
history fit(Step&& step, optim::optimizer<T>& opt, const Loader& loader, const fit_options& options) {
  return detail::fit_impl(step, opt, loader, static_cast<const Loader*>(nullptr), options);
}

template <class Step, class T, class Loader, class ValLoader>
history fit(Step&& step, optim::optimizer<T>& opt, const Loader& loader, const ValLoader& val_loader,
            const fit_options& options) {
  return detail::fit_impl(step, opt, loader, &val_loader, options);
}

template <class Step, class Loader>
logs evaluate(Step&& step, const Loader& loader, const fit_options& options, const std::string& prefix) {
  detail::epoch_meter meter(options.metrics());
  detail::run_evaluation(step, loader, meter, options.seed());
  logs out;
  meter.write(out, prefix, true);
  return out;
}

template <class Fn, class Loader>
auto predict(Fn&& fn, const Loader& loader, std::uint64_t seed) {
  no_grad_guard no_grad;
  using batch_type = typename Loader::batch_type;
  using result =
      std::decay_t<decltype(detail::call_step(fn, std::declval<batch_type&>(), std::declval<step_context&>()))>;
  static_assert(detail::is_tensor<result>::value, "predict: fn must return a tensor");
  using T = typename result::value_type;
  std::vector<tensor<T>> parts;
  index_t k = 0, rows = 0;
  for (auto& batch : loader.epoch(0)) {
    generator rng(epoch_seed(seed, ~static_cast<std::uint64_t>(k)));
    step_context ctx{false, 0, k, 0, &rng};
    tensor<T> r = detail::call_step(fn, batch, ctx);
    KEXUE_CHECK(r.rank() >= 1, shape_error, "predict", "batch ", k,
                " gave a tensor of rank 0, expected a first (batch) axis");
    if (!parts.empty()) {
      shape a = r.shape(), b = parts.front().shape();
      a[0] = b[0] = 0;
      KEXUE_CHECK(a == b, shape_error, "predict", "batch ", k, " gave shape ", format_shape(r.shape()),
                  ", batch 0 gave ", format_shape(parts.front().shape()));
    }
    rows += r.size(0);
    parts.push_back(r.detach());
    ++k;
  }
  shape s = parts.front().shape();
  s[0] = rows;
  auto out = tensor<T>::empty(s);
  T* dst = out.data();
  for (const auto& p : parts) {
    if (p.numel() > 0) std::memcpy(dst, p.data(), static_cast<std::size_t>(p.numel()) * sizeof(T));
    dst += p.numel();
  }
  return out;
}

template <class Model, class LossFn>
auto model_step(Model& model, LossFn loss_fn) {
  return [&model, loss_fn](auto& batch, step_context& ctx) {
    auto& x = std::get<0>(batch);
    auto& y = std::get<1>(batch);
    model.train(ctx.training);
    auto predictions = model(x);
    auto loss = loss_fn(predictions, y);
    using T = typename decltype(loss)::value_type;
    return step_output<T>(loss, predictions, y);
  };
}

}  // namespace kexue::train
