"""The data: scikit-learn's handwritten digits, split once, and each epoch's batches."""

from __future__ import annotations

import importlib.util
import pathlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optx.compare.extras import require
from optx.compare.runs import Config


class Dataset(NamedTuple):
  """A train/validation split: float32 images in [0, 1], int32 labels."""

  x_train: np.ndarray
  y_train: np.ndarray
  x_val: np.ndarray
  y_val: np.ndarray


def load_digits(validation_fraction: float = 0.2, split_seed: int = 0) -> Dataset:
  """scikit-learn's 8x8 digits, flattened to 64 features in [0, 1], split once.

  The split depends on ``split_seed`` only, never on the run's ``--seed``, so
  every run and every seed is scored on the same validation images.
  """
  x, y = _digits()
  x = (np.asarray(x, np.float32) / np.float32(16.0)).astype(np.float32)
  y = np.asarray(y, np.int32)
  order = np.random.default_rng(split_seed).permutation(len(x))
  n_val = int(round(len(x) * validation_fraction))
  val, train = order[:n_val], order[n_val:]
  return Dataset(x[train], y[train], x[val], y[val])


def _digits() -> tuple[np.ndarray, np.ndarray]:
  """``sklearn.datasets.load_digits(return_X_y=True)``, without importing scikit-learn.

  The images ship with scikit-learn as ``datasets/data/digits.csv.gz`` (64
  pixels and the label per row), which ``load_digits`` reads with
  ``np.loadtxt``; reading it here saves the second or so that importing
  scikit-learn (and SciPy) costs. Falls back to ``load_digits`` itself.
  """
  spec = importlib.util.find_spec("sklearn")
  if spec is None:
    require("sklearn")  # exits naming the extra
  locations = [] if spec is None else list(spec.submodule_search_locations or [])
  for location in locations:
    path = pathlib.Path(location) / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
      table = np.loadtxt(path, delimiter=",")
      return table[:, :-1], table[:, -1].astype(int)
  return require("sklearn.datasets").load_digits(return_X_y=True)


def epoch_plan(config: Config, n_train: int) -> tuple[int, int, int]:
  """Returns ``(steps_per_epoch, full_epochs, remainder_steps)``."""
  steps_per_epoch = n_train // config.batch_size
  if steps_per_epoch < 1:
    raise ValueError(f"--batch-size must be <= {n_train}, got {config.batch_size}")
  if config.steps is None:
    return steps_per_epoch, config.epochs, 0
  return (
    steps_per_epoch,
    config.steps // steps_per_epoch,
    config.steps % steps_per_epoch,
  )


def batch_order(config: Config, n_train: int) -> tuple[jax.Array, jax.Array]:
  """The minibatches of every epoch, the same for every run of a seed.

  Returns ``(full, last)``: indices into the training set of shape
  ``(full_epochs, steps_per_epoch, batch_size)`` and, for a partial last
  epoch, ``(remainder_steps, batch_size)`` (zero rows when there is none).
  Each epoch is a fresh permutation; the images left over by the batch size
  are skipped for that epoch.
  """
  steps_per_epoch, full_epochs, remainder = epoch_plan(config, n_train)
  # NumPy's generator: shuffling is data preparation, and a jax.random
  # permutation would cost a compile of its own.
  rng = np.random.default_rng([config.seed, 1])
  orders = np.stack([rng.permutation(n_train) for _ in range(full_epochs + 1)])
  size = config.batch_size
  full = orders[:full_epochs, : steps_per_epoch * size].reshape(
    full_epochs, steps_per_epoch, size
  )
  last = orders[full_epochs, : remainder * size].reshape(remainder, size)
  return jnp.asarray(full, jnp.int32), jnp.asarray(last, jnp.int32)
