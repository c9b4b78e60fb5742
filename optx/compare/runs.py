"""What a comparison trains: its configuration and one :class:`Run` per line.

Every optimizer of the book's chapter 11 at a common learning rate, and every
schedule of the chapter on top of momentum optimization.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import optx

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
SCHEDULES = ("power", "exponential", "piecewise", "performance", "onecycle")


@dataclasses.dataclass(frozen=True)
class Config:
  """What one comparison run trains, and for how long.

  Attributes:
    epochs: passes over the training set (ignored when ``steps`` is set).
    steps: total optimizer steps; the last epoch may be partial.
    batch_size: images per minibatch (the remainder of an epoch is dropped).
    hidden: widths of the hidden layers.
    learning_rate: the optimizers' common learning rate (the book's 0.001).
    schedule_learning_rate: the schedules' initial rate (the book's 0.01).
    onecycle_max: the peak of 1cycle.
    seed: initial weights and minibatch order (same for every run).
    optimizers: names from :data:`OPTIMIZERS`.
    schedules: names from :data:`SCHEDULES`.
  """

  epochs: int = 30
  steps: int | None = None
  batch_size: int = 32
  hidden: tuple[int, ...] = (100, 50)
  learning_rate: float = 1e-3
  schedule_learning_rate: float = 1e-2
  onecycle_max: float = 5e-2
  seed: int = 0
  optimizers: tuple[str, ...] = OPTIMIZERS
  schedules: tuple[str, ...] = SCHEDULES


class Run(NamedTuple):
  """One line of the comparison: a name, an optimizer and its learning rate."""

  name: str
  kind: str  # "optimizer" or "schedule"
  description: str
  optimizer: optax.GradientTransformation
  learning_rate: Callable[[jax.Array], jax.Array]


def _constant(value: float) -> Callable[[jax.Array], jax.Array]:
  return lambda count: jnp.asarray(value, jnp.float32)


def build_runs(config: Config, total_steps: int) -> list[Run]:
  """The runs that ``config`` selects, optimizers first, each with its settings.

  Optimizers use the book's hyperparameters at ``config.learning_rate``. Every
  schedule drives momentum optimization (:math:`\\beta = 0.9`) from
  ``config.schedule_learning_rate``, scaled to the run's length the way the
  seed's 25-epoch examples are: power :math:`s = T/4`, exponential
  :math:`s = 0.8\\,T` (the book's 20 of 25 epochs), piecewise constant
  boundaries at 20% and 60% of the steps (epochs 5 and 15 of 25),
  performance ``reduce_on_plateau(0.5, 5)`` on the validation loss each epoch,
  1cycle over all :math:`T` steps with momentum cycled 0.95 -> 0.85 -> 0.95.
  """
  lr, lr0, total = config.learning_rate, config.schedule_learning_rate, total_steps
  optimizers = {
    "sgd": (f"optx.sgd({lr:g})", lambda: optx.sgd(lr)),
    "momentum": (f"optx.momentum({lr:g}, 0.9)", lambda: optx.momentum(lr, 0.9)),
    "nesterov": (f"optx.nesterov({lr:g}, 0.9)", lambda: optx.nesterov(lr, 0.9)),
    "adagrad": (f"optx.adagrad({lr:g})", lambda: optx.adagrad(lr)),
    "rmsprop": (f"optx.rmsprop({lr:g}, 0.9)", lambda: optx.rmsprop(lr, 0.9)),
    "adam": (f"optx.adam({lr:g}, 0.9, 0.999)", lambda: optx.adam(lr, 0.9, 0.999)),
  }
  runs = []
  for name in config.optimizers:
    description, make = optimizers[name]
    runs.append(Run(name, "optimizer", description, make(), _constant(lr)))

  power_steps = max(total / 4, 1.0)
  exponential_steps = max(0.8 * total, 1.0)
  b1, b2 = int(0.2 * total), int(0.6 * total)
  boundaries = [b1, b2] if b1 < b2 else [b2]
  values = [lr0, lr0 / 2, lr0 / 10] if b1 < b2 else [lr0, lr0 / 10]
  schedules: dict[str, tuple[str, Callable[[], tuple[Any, Any, Any]]]] = {
    "power": (
      f"power_schedule({lr0:g}, s={power_steps:g})",
      lambda: (optx.power_schedule(lr0, power_steps), 0.9, None),
    ),
    "exponential": (
      f"exponential_schedule({lr0:g}, s={exponential_steps:g})",
      lambda: (optx.exponential_schedule(lr0, exponential_steps), 0.9, None),
    ),
    "piecewise": (
      f"piecewise_constant_schedule({boundaries}, [{', '.join(f'{x:g}' for x in values)}])",
      lambda: (optx.piecewise_constant_schedule(boundaries, values), 0.9, None),
    ),
    "performance": (
      f"reduce_on_plateau(0.5, 5) from {lr0:g}, val loss every epoch",
      lambda: (_constant(lr0), 0.9, optx.reduce_on_plateau(0.5, 5)),
    ),
    "onecycle": (
      f"onecycle_schedule({total}, {config.onecycle_max:g}) + momentum",
      lambda: (
        optx.onecycle_schedule(total, config.onecycle_max),
        optx.onecycle_momentum_schedule(total),
        None,
      ),
    ),
  }
  for name in config.schedules:
    description, make = schedules[name]
    learning_rate, momentum, plateau = make()
    tx = optx.momentum(learning_rate, momentum, plateau=plateau)
    runs.append(
      Run(name, "schedule", f"optx.momentum: {description}", tx, learning_rate)
    )
  return runs
