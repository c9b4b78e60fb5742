"""1cycle's maximum rate, picked the book's way: :func:`optx.find_learning_rate`.

One epoch of the run's own minibatches (the first epoch's, in order), from
the run's initial weights, with momentum optimization (:math:`\\beta = 0.9`,
the middle of 1cycle's momentum cycle) and the rate growing exponentially
from ``Config.finder_min`` to ``Config.finder_max``. The suggestion, ten
times below the turning point of the loss curve, becomes 1cycle's peak.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optx
from optx.compare.data import Dataset
from optx.compare.model import cross_entropy
from optx.compare.model import init_mlp
from optx.compare.model import mlp_apply
from optx.compare.runs import Config

MOMENTUM = 0.9


def _loss(params, batch):
  x, y = batch
  return cross_entropy(mlp_apply(params, x), y)


def _momentum(learning_rate) -> optax.GradientTransformation:
  return optx.momentum(learning_rate, MOMENTUM)


def run_finder(
  config: Config,
  data: Dataset,
  full: jax.Array,
  compiler_options: dict[str, str | bool] | None = None,
) -> dict[str, Any]:
  """Runs the finder on the first epoch of ``full`` (batch indices); plain Python values.

  The finder is called inside a ``jit`` of this module's own, so that
  ``compiler_options`` (``--quick``'s) reach its compile.
  """
  n_features = data.x_train.shape[1]
  sizes = [n_features, *config.hidden, int(data.y_train.max()) + 1]
  params = init_mlp(config.seed, sizes)
  order = np.asarray(full[0])
  batches = (jnp.asarray(data.x_train[order]), jnp.asarray(data.y_train[order]))

  def find(params, batches):
    return optx.find_learning_rate(
      _loss,
      params,
      _momentum,
      batches,
      min_learning_rate=config.finder_min,
      max_learning_rate=config.finder_max,
    )

  start = time.perf_counter()
  compiled = jax.jit(find).lower(params, batches).compile(compiler_options)
  result = jax.block_until_ready(compiled(params, batches))
  seconds = time.perf_counter() - start
  return {
    "optimizer": f"optx.momentum(η, {MOMENTUM})",
    "steps": int(order.shape[0]),
    "min_learning_rate": config.finder_min,
    "max_learning_rate": config.finder_max,
    "learning_rates": np.asarray(result.learning_rates).tolist(),
    "losses": np.asarray(result.losses).tolist(),
    "turning_point": float(result.turning_point),
    "suggestion": float(result.suggestion),
    "seconds": seconds,
  }
