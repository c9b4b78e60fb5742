"""The training: each run is one ``jit``-compiled function, timed apart from its compile.

Epochs are an outer ``lax.scan``, the minibatch steps of an epoch an inner
one, and the end of every epoch measures the validation loss, which
:func:`optx.observe` feeds to performance scheduling inside the same scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optx
from optx.compare.data import Dataset
from optx.compare.data import batch_order
from optx.compare.model import accuracy
from optx.compare.model import cross_entropy
from optx.compare.model import init_mlp
from optx.compare.model import mlp_apply
from optx.compare.runs import Config
from optx.compare.runs import Run

TIMING_KEYS = ("compile_s", "wall_s", "steps_per_s")


def make_train(run: Run) -> Callable[..., Any]:
  """The whole training of ``run`` as one function, to ``jit``.

  ``train(params, full, last, x_train, y_train, x_val, y_val)``, with the
  minibatches of :func:`~optx.compare.data.batch_order`, returns the final
  parameters, per-epoch metrics (``train_loss`` on the full training set,
  ``val_loss``, ``val_accuracy``, ``plateau_scale``) and, per step, the
  minibatch loss and the learning rate applied (the schedule's value times the
  plateau scale).
  """
  tx = run.optimizer

  def train(params, full, last, x_train, y_train, x_val, y_val):
    def loss_fn(p, x, y):
      return cross_entropy(mlp_apply(p, x), y)

    def step(carry, batch):
      params, opt_state, count = carry
      loss, grads = jax.value_and_grad(loss_fn)(params, x_train[batch], y_train[batch])
      learning_rate = run.learning_rate(count) * optx.plateau_scale(opt_state)
      updates, opt_state = tx.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      return (params, opt_state, count + 1), (loss, learning_rate)

    def epoch(carry, batches):
      carry, per_step = jax.lax.scan(step, carry, batches)
      params, opt_state, count = carry
      val_logits = mlp_apply(params, x_val)  # pyright: ignore[reportArgumentType]
      val_loss = cross_entropy(val_logits, y_val)
      # Performance scheduling: one measurement per epoch, inside the scan.
      if optx.has_plateau(opt_state):
        opt_state = optx.observe(opt_state, val_loss)
      metrics = {
        "train_loss": loss_fn(params, x_train, y_train),
        "val_loss": val_loss,
        "val_accuracy": accuracy(val_logits, y_val),
        "plateau_scale": optx.plateau_scale(opt_state),
      }
      return (params, opt_state, count), (metrics, per_step)

    carry = (params, tx.init(params), jnp.zeros([], jnp.int32))
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
    batch_loss, learning_rate = per_step
    return carry[0], metrics, {"batch_loss": batch_loss, "learning_rate": learning_rate}

  return train


def run_one(run: Run, config: Config, data: Dataset) -> dict[str, Any]:
  """Compiles and runs one training; returns its numbers (plain Python values)."""
  n_train, n_features = data.x_train.shape
  sizes = [n_features, *config.hidden, int(data.y_train.max()) + 1]
  params = init_mlp(jax.random.key(config.seed), sizes)
  args = (params, *batch_order(config, n_train), *(jnp.asarray(a) for a in data))
  start = time.perf_counter()
  compiled = jax.jit(make_train(run)).lower(*args).compile()
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  _, metrics, per_step = jax.block_until_ready(compiled(*args))
  wall_s = time.perf_counter() - start
  metrics = {k: np.asarray(v).tolist() for k, v in metrics.items()}
  per_step = {k: np.asarray(v).tolist() for k, v in per_step.items()}
  steps = len(per_step["batch_loss"])
  return {
    "name": run.name,
    "kind": run.kind,
    "optimizer": run.description,
    "final_train_loss": metrics["train_loss"][-1],
    "final_val_loss": metrics["val_loss"][-1],
    "val_accuracy": metrics["val_accuracy"][-1],
    "steps": steps,
    "epochs": len(metrics["val_loss"]),
    "compile_s": compile_s,
    "wall_s": wall_s,
    "steps_per_s": steps / wall_s,
    "history": metrics,
    "per_step": per_step,
  }
