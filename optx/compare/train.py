"""The training: each run is one ``jit``-compiled function, timed apart from its compile.

Epochs are an outer ``lax.scan``, the minibatch steps of an epoch an inner
one, and the end of every epoch measures the validation loss, which
:func:`optx.observe` feeds to performance scheduling and
:func:`optx.early_stopping` to early stopping inside the same scan.

With ``Config.shared`` (``--quick``), the runs that are momentum optimization
with some learning rate and momentum (:data:`~optx.compare.runs.MOMENTUM_FAMILY`:
SGD is momentum 0) train side by side in one program, ``jax.vmap`` over the
run: each run's learning rate and momentum are tables of its schedules'
values per step, and every run carries a plateau and an early stopping whose
patience outlasts the run unless it is the performance run's, so the maths
of each run is its own. One compile instead of seven.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optx
from optx.compare.data import Dataset
from optx.compare.model import accuracy
from optx.compare.model import cross_entropy
from optx.compare.model import init_mlp
from optx.compare.model import mlp_apply
from optx.compare.runs import MOMENTUM_FAMILY
from optx.compare.runs import OPTIMIZERS
from optx.compare.runs import SCHEDULES
from optx.compare.runs import Config
from optx.compare.runs import Run
from optx.compare.runs import build_runs

TIMING_KEYS = ("compile_s", "wall_s", "steps_per_s")
QUICK_COMPILE: dict[str, str | bool] = {"xla_backend_optimization_level": "0"}
"""XLA's options under ``Config.shared`` (``--quick``): LLVM's quickest code
generation halves the compile for a program that runs a little slower; its
numbers agree with an optimized compile's to float32 rounding (about 1e-7),
not bit for bit."""


class Parts(NamedTuple):
  """What one training needs, possibly built from traced values (a vmapped run)."""

  optimizer: optax.GradientTransformation
  learning_rate: Callable[[jax.Array], jax.Array]
  early_stopping: optx.EarlyStopping | None
  restore: jax.Array | bool  # use the early stopping's best parameters at the end


def _parts(run: Run) -> Parts:
  return Parts(run.optimizer, run.learning_rate, run.early_stopping, True)


def _training(parts: Callable[[], Parts]) -> Callable[..., Any]:
  def train(params, full, last, x_train, y_train, x_val, y_val):
    tx, learning_rate, stopper, restore = parts()

    def loss_fn(p, x, y):
      return cross_entropy(mlp_apply(p, x), y)

    def step(carry, batch):
      params, opt_state, count = carry
      loss, grads = jax.value_and_grad(loss_fn)(params, x_train[batch], y_train[batch])
      rate = learning_rate(count) * optx.plateau_scale(opt_state)
      updates, opt_state = tx.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      return (params, opt_state, count + 1), (loss, rate)

    def epoch(carry, batches):
      state, stop_state = carry
      new_state, per_step = jax.lax.scan(step, state, batches)
      params, opt_state, count = new_state
      val_logits = mlp_apply(params, x_val)  # pyright: ignore[reportArgumentType]
      val_loss = cross_entropy(val_logits, y_val)
      # Performance scheduling: one measurement per epoch, inside the scan.
      if optx.has_plateau(opt_state):
        opt_state = optx.observe(opt_state, val_loss)
      metrics = {
        # Keras's "loss": the mean minibatch loss of the epoch.
        "train_loss": jnp.mean(per_step[0]),
        "val_loss": val_loss,
        "val_accuracy": accuracy(val_logits, y_val),
        "plateau_scale": optx.plateau_scale(opt_state),
      }
      new_state = (params, opt_state, count)
      if stopper is not None:
        # The same measurement ends training; a stopped run trains no epoch more.
        trained = ~stop_state.stop
        new_state = jax.tree.map(
          lambda new, old: jnp.where(trained, new, old), new_state, state
        )
        stop_state = stopper.update(stop_state, val_loss, params)
        metrics["trained"] = trained
        metrics["best_epoch"] = stop_state.best_count
      return (new_state, stop_state), (metrics, per_step)

    stop_state = None if stopper is None else stopper.init(params)
    carry = ((params, tx.init(params), jnp.zeros([], jnp.int32)), stop_state)
    carry, (metrics, per_step) = jax.lax.scan(epoch, carry, full)
    per_step = jax.tree.map(lambda a: a.reshape(-1), per_step)
    if last.shape[0]:
      carry, (last_metrics, last_steps) = epoch(carry, last)
      metrics = jax.tree.map(
        lambda a, b: jnp.concatenate([a, b[None]]), metrics, last_metrics
      )
      per_step = jax.tree.map(
        lambda a, b: jnp.concatenate([a, b]), per_step, last_steps
      )
    (final, _, _), stop_state = carry
    if stop_state is not None and stop_state.best_params is not None:
      # Keras's restore_best_weights=True: the best epoch's weights at the end.
      final = jax.tree.map(
        lambda best, p: jnp.where(restore, best, p), stop_state.best_params, final
      )
    # The table's training loss: the whole training set, at the end.
    metrics["final_train_loss"] = loss_fn(final, x_train, y_train)
    batch_loss, rate = per_step
    return final, metrics, {"batch_loss": batch_loss, "learning_rate": rate}

  return train


def make_train(run: Run) -> Callable[..., Any]:
  """The whole training of ``run`` as one function, to ``jit``.

  ``train(params, full, last, x_train, y_train, x_val, y_val)``, with the
  minibatches of :func:`~optx.compare.data.batch_order`, returns the final
  parameters (the best epoch's with early stopping), per-epoch metrics
  (``train_loss``, the mean minibatch loss of the epoch as Keras reports it,
  ``val_loss``, ``val_accuracy``, ``plateau_scale``; with early stopping also
  ``trained``, False for the epochs after the stop, and ``best_epoch``; and
  ``final_train_loss``, a scalar: the loss of the final parameters on the
  whole training set) and, per step, the minibatch loss and the learning rate
  applied (the schedule's value times the plateau scale).
  """
  return _training(lambda: _parts(run))


def make_shared_train(config: Config, total_steps: int) -> Any:
  """The runs of :data:`~optx.compare.runs.MOMENTUM_FAMILY` as one function, vmapped over the run.

  Always all of them, built from ``config`` whatever it selects, so that a
  run's numbers do not depend on which others were selected: the same
  program, the same slot, the same bits. ``train(peak, params, full, last,
  x_train, y_train, x_val, y_val)`` is :func:`make_train`'s function with
  1cycle's peak rate in front; every output has a leading axis, one slot per
  name of ``MOMENTUM_FAMILY`` in its order.
  """
  everything = dataclasses.replace(
    config,
    optimizers=tuple(n for n in MOMENTUM_FAMILY if n in OPTIMIZERS),
    schedules=SCHEDULES,
  )
  members = build_runs(everything, total_steps, onecycle_max=1.0)
  assert [run.name for run in members] == list(MOMENTUM_FAMILY)
  steps = max(total_steps, 1)
  never = np.iinfo(np.int32).max // 2  # a patience no run outlasts
  (plateau,) = {run.plateau for run in members if run.plateau is not None} or {None}
  plateau_config = None if plateau is None else plateau.init({}).config
  factor = 0.5 if plateau_config is None else float(plateau_config.factor)
  plateau_patience = jnp.asarray(
    [
      int(plateau_config.patience) if run.plateau and plateau_config else never
      for run in members
    ],
    jnp.int32,
  )
  stoppers = {run.early_stopping for run in members if run.early_stopping}
  (stopper,) = stoppers or {None}
  stop_config = None if stopper is None else stopper.init({}).config
  stop_patience = jnp.asarray(
    [
      int(stop_config.patience) if run.early_stopping and stop_config else never
      for run in members
    ],
    jnp.int32,
  )
  restore = jnp.asarray([run.early_stopping is not None for run in members])

  def parts(index: jax.Array, rates: jax.Array, momenta: jax.Array) -> Parts:
    def learning_rate(count):
      return rates[index, jnp.minimum(count, steps - 1)]

    def momentum(count):
      return momenta[index, jnp.minimum(count, steps - 1)]

    reduce = optx.reduce_on_plateau(factor, plateau_patience[index])  # pyright: ignore[reportArgumentType]
    tx = optx.momentum(learning_rate, momentum, plateau=reduce)
    stop = optx.early_stopping(stop_patience[index])  # pyright: ignore[reportArgumentType]
    return Parts(tx, learning_rate, stop, restore[index])

  def member(index, rates, momenta, *args):
    return _training(lambda: parts(index, rates, momenta))(*args)

  def train(peak, *args):
    # Each run's schedules as tables of their values per step, in the program;
    # 1cycle's from ``peak``, an argument.
    count = jnp.arange(steps, dtype=jnp.int32)
    schedules = [
      run.learning_rate if run.of_peak is None else run.of_peak(peak) for run in members
    ]
    rates = jnp.stack([jax.vmap(schedule)(count) for schedule in schedules])
    momenta = jnp.stack([jax.vmap(_momentum(run))(count) for run in members])
    index = jnp.arange(len(MOMENTUM_FAMILY))
    in_axes = (0, None, None, *([None] * len(args)))
    return jax.vmap(member, in_axes=in_axes)(index, rates, momenta, *args)

  return train


def _momentum(run: Run) -> Callable[[jax.Array], jax.Array]:
  if run.momentum is None:
    raise ValueError(f"run {run.name!r} is not momentum optimization")
  return run.momentum


def _arguments(config: Config, data: Dataset, batches) -> tuple[Any, ...]:
  n_features = data.x_train.shape[1]
  sizes = [n_features, *config.hidden, int(data.y_train.max()) + 1]
  params = init_mlp(config.seed, sizes)
  return (params, *batches, *(jnp.asarray(a) for a in data))


def _timed(function, args, options=None) -> tuple[Any, float, float]:
  start = time.perf_counter()
  compiled = jax.jit(function).lower(*args).compile(compiler_options=options)
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  outputs = jax.block_until_ready(compiled(*args))
  return outputs, compile_s, time.perf_counter() - start


def train_one(
  run: Run, config: Config, data: Dataset, batches
) -> tuple[Any, dict[str, Any]]:
  """Compiles and runs one training; returns its final parameters and its numbers."""
  args = _arguments(config, data, batches)
  options = QUICK_COMPILE if config.shared else None
  (final, metrics, per_step), compile_s, wall_s = _timed(make_train(run), args, options)
  return final, _result(run, metrics, per_step, compile_s, wall_s, run.name)


def run_one(run: Run, config: Config, data: Dataset, batches) -> dict[str, Any]:
  """Compiles and runs one training; returns its numbers (plain Python values)."""
  return train_one(run, config, data, batches)[1]


class SharedProgram(NamedTuple):
  """A shared program on its way: compiling (in a thread) while the finder runs."""

  args: tuple[Any, ...]
  compiled: concurrent.futures.Future  # of (compiled program, compile seconds)


def start_shared(
  config: Config,
  data: Dataset,
  batches,
  total_steps: int,
  pool: concurrent.futures.Executor,
) -> SharedProgram:
  """Traces and compiles the shared program on ``pool``.

  XLA compiles without Python's lock, so the learning-rate finder can run
  meanwhile: 1cycle's peak is an argument, needed only to run the program.
  The compile time reported is the trace and the compile's.
  """
  train = make_shared_train(config, total_steps)
  args = _arguments(config, data, batches)

  def compile_timed():
    start = time.perf_counter()
    lowered = jax.jit(train).lower(jnp.float32(1), *args)
    compiled = lowered.compile(compiler_options=QUICK_COMPILE)
    return compiled, time.perf_counter() - start

  return SharedProgram(args, pool.submit(compile_timed))


def finish_shared(
  program: SharedProgram, runs: Sequence[Run], peak: float
) -> list[dict[str, Any]]:
  """Runs a compiled shared program; the results of ``runs``, from their slots."""
  compiled, compile_s = program.compiled.result()
  start = time.perf_counter()
  outputs = jax.block_until_ready(compiled(jnp.float32(peak), *program.args))
  wall_s = time.perf_counter() - start
  _, metrics, per_step = outputs
  label = f"trains {', '.join(r.name for r in runs)} side by side (jax.vmap)"
  return [
    _result(
      run,
      jax.tree.map(lambda a, k=k: a[k], metrics),
      jax.tree.map(lambda a, k=k: a[k], per_step),
      compile_s,
      wall_s,
      label,
    )
    for run in runs
    for k in [MOMENTUM_FAMILY.index(run.name)]
  ]


def run_shared(
  runs: Sequence[Run],
  config: Config,
  data: Dataset,
  batches,
  total_steps: int,
  peak: float = 0.0,
) -> list[dict[str, Any]]:
  """Compiles and runs ``runs`` as one vmapped program; one result per run."""
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    program = start_shared(config, data, batches, total_steps, pool)
    return finish_shared(program, runs, peak)


def _result(
  run: Run,
  metrics: dict[str, Any],
  per_step: dict[str, Any],
  compile_s: float,
  wall_s: float,
  program: str,
) -> dict[str, Any]:
  metrics = {k: np.asarray(v) for k, v in metrics.items()}
  per_step = {k: np.asarray(v) for k, v in per_step.items()}
  early_stopping = run.early_stopping is not None
  final_train_loss = float(metrics.pop("final_train_loss"))
  trained = metrics.pop("trained", np.ones_like(metrics["val_loss"], bool))
  best_epochs = metrics.pop("best_epoch", None)
  epochs = int(trained.sum())  # trained epochs come first
  steps_per_epoch = -(-len(per_step["batch_loss"]) // len(trained))
  steps = min(len(per_step["batch_loss"]), epochs * steps_per_epoch)
  history = {k: v[:epochs].tolist() for k, v in metrics.items()}
  per_step = {k: v[:steps].tolist() for k, v in per_step.items()}
  stopped = early_stopping and epochs < len(trained)
  final = epochs - 1
  restored = None
  if early_stopping and best_epochs is not None:
    final = restored = int(best_epochs[epochs - 1])
  scales = history["plateau_scale"]
  return {
    "name": run.name,
    "kind": run.kind,
    "optimizer": run.description,
    "rate": run.rate,
    "learning_rate": rate_summary(per_step["learning_rate"]),
    "final_train_loss": final_train_loss,
    "final_val_loss": history["val_loss"][final],
    "val_accuracy": history["val_accuracy"][final],
    "steps": steps,
    "epochs": epochs,
    "plateau_reductions": [
      e + 1 for e in range(len(scales)) if scales[e] < (scales[e - 1] if e else 1.0)
    ],
    "stopped_epoch": epochs if stopped else None,
    "restored_epoch": None if restored is None else restored + 1,
    "program": program,
    "compile_s": compile_s,
    "wall_s": wall_s,
    "steps_per_s": steps / wall_s,
    "history": history,
    "per_step": per_step,
  }


def rate_summary(rates: Sequence[float]) -> str:
  """The learning rate a run applied, in a few characters: ``0.01 -> 0.0024``.

  A constant rate is one number; a rate that rises and falls again (1cycle)
  shows its first, highest and last values.
  """
  first, last, peak = rates[0], rates[-1], max(rates)
  if first == last == peak and min(rates) == first:
    return f"{first:.3g}"
  if first < peak > last:
    return f"{first:.2g} -> {peak:.3g} -> {last:.2g}"
  return f"{first:.3g} -> {last:.2g}"
