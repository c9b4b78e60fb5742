"""What a comparison trains: its configuration and one :class:`Run` per line.

Every optimizer of the book's chapter 11 at the book's common learning rate,
and every schedule of the chapter on top of momentum optimization: 1cycle
with its maximum rate from the learning-rate finder, performance scheduling
paired with early stopping, as the book pairs them.
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

OPTIMIZERS = (
  "sgd",
  "momentum",
  "nesterov",
  "adagrad",
  "rmsprop",
  "adam",
  "adamax",
  "nadam",
  "adamw",
)
SCHEDULES = ("power", "exponential", "piecewise", "performance", "onecycle")
# Runs that are optx.momentum with some learning rate and momentum: one
# program can train them side by side (``Config.shared``), under jax.vmap.
MOMENTUM_FAMILY = ("sgd", "momentum", *SCHEDULES)


class UsageError(ValueError):
  """A configuration that cannot run; ``main`` reports it as a usage error."""


@dataclasses.dataclass(frozen=True)
class Config:
  """What one comparison run trains, and for how long.

  Attributes:
    epochs: passes over the training set (ignored when ``steps`` is set).
    steps: total optimizer steps; the last epoch may be partial.
    batch_size: images per minibatch (the remainder of an epoch is dropped).
    hidden: widths of the hidden layers.
    learning_rate: the optimizers' common learning rate (the book's 0.001).
    schedule_learning_rate: the initial rate of the power, exponential and
      piecewise schedules (the book's 0.01).
    performance_learning_rate: performance scheduling's initial rate, high
      enough that the validation loss stops improving and the plateau acts.
    plateau_factor: the book's ``ReduceLROnPlateau(factor=0.5, ...)``.
    plateau_patience: the book's ``ReduceLROnPlateau(..., patience=5)``.
    early_stopping_patience: the book's ``EarlyStopping(patience=10,
      restore_best_weights=True)``, paired with performance scheduling.
    finder_min: the learning-rate finder's first rate (the book's 1e-4).
    finder_max: the rate the finder grows towards (the book's 1).
    onecycle_max: the peak of 1cycle; None takes the finder's suggestion.
    seed: initial weights and minibatch order (same for every run).
    optimizers: names from :data:`OPTIMIZERS`.
    schedules: names from :data:`SCHEDULES`.
    shared: train the runs of :data:`MOMENTUM_FAMILY` as one vmapped
      program (``--quick``) instead of one program each.
  """

  epochs: int = 30
  steps: int | None = None
  batch_size: int = 32
  hidden: tuple[int, ...] = (100, 50)
  learning_rate: float = 1e-3
  schedule_learning_rate: float = 1e-2
  performance_learning_rate: float = 5e-2
  plateau_factor: float = 0.5
  plateau_patience: int = 5
  early_stopping_patience: int = 10
  finder_min: float = 1e-4
  finder_max: float = 1.0
  onecycle_max: float | None = None
  seed: int = 0
  optimizers: tuple[str, ...] = OPTIMIZERS
  schedules: tuple[str, ...] = SCHEDULES
  shared: bool = False


class Run(NamedTuple):
  """One line of the comparison: a name, an optimizer and its learning rate.

  ``learning_rate`` and ``momentum`` are the schedules the optimizer applies
  (before any plateau reduction), recorded at every step; ``rate`` is how the
  legend and the table introduce the rate (``"η=0.001"``).
  """

  name: str
  kind: str  # "optimizer" or "schedule"
  description: str
  optimizer: optax.GradientTransformation
  learning_rate: Callable[[jax.Array], jax.Array]
  rate: str = ""
  momentum: Callable[[Any], Any] | None = None
  plateau: Any = None  # the reduce_on_plateau transform, if any
  early_stopping: optx.EarlyStopping | None = None
  # 1cycle's learning rate as a function of its peak, so that a shared
  # program can take the peak as an argument (and compile before the finder).
  of_peak: Callable[[Any], Any] | None = None


def _constant(value: float) -> Callable[[jax.Array], jax.Array]:
  return lambda count: jnp.asarray(value, jnp.float32)


def build_runs(
  config: Config, total_steps: int, onecycle_max: float | None = None
) -> list[Run]:
  """The runs that ``config`` selects, optimizers first, each with its settings.

  Optimizers use the book's hyperparameters at ``config.learning_rate``. Every
  schedule drives momentum optimization (:math:`\\beta = 0.9`), scaled to the
  run's length the way the book's 25-epoch examples are: power
  :math:`s = T/4` and exponential :math:`s = 0.8\\,T` (the book's 20 of 25
  epochs) from ``config.schedule_learning_rate``, piecewise constant
  boundaries at 20% and 60% of the steps (epochs 5 and 15 of 25);
  performance ``reduce_on_plateau(0.5, 5)`` on the validation loss each epoch
  from ``config.performance_learning_rate``, with early stopping
  (patience 10, best parameters restored); 1cycle over all :math:`T` steps up
  to ``onecycle_max`` (the finder's suggestion), momentum cycled 0.95 -> 0.85
  -> 0.95.
  """
  lr, lr0, total = config.learning_rate, config.schedule_learning_rate, total_steps
  optimizers = {
    "sgd": (f"optx.sgd({lr:g})", lambda: optx.sgd(lr), 0.0),
    "momentum": (f"optx.momentum({lr:g}, 0.9)", lambda: optx.momentum(lr, 0.9), 0.9),
    "nesterov": (f"optx.nesterov({lr:g}, 0.9)", lambda: optx.nesterov(lr, 0.9), 0.9),
    "adagrad": (f"optx.adagrad({lr:g})", lambda: optx.adagrad(lr), None),
    "rmsprop": (f"optx.rmsprop({lr:g}, 0.9)", lambda: optx.rmsprop(lr, 0.9), None),
    "adam": (f"optx.adam({lr:g}, 0.9, 0.999)", lambda: optx.adam(lr, 0.9, 0.999), None),
    "adamax": (f"optx.adamax({lr:g}, 0.9, 0.999)", lambda: optx.adamax(lr), None),
    "nadam": (f"optx.nadam({lr:g}, 0.9, 0.999)", lambda: optx.nadam(lr), None),
    "adamw": (
      f"optx.adamw({lr:g}, weight_decay=0.004)",
      lambda: optx.adamw(lr, weight_decay=0.004),
      None,
    ),
  }
  runs = []
  for name in config.optimizers:
    description, make, beta = optimizers[name]
    momentum = None if beta is None else _constant(beta)
    runs.append(
      Run(
        name,
        "optimizer",
        description,
        make(),
        _constant(lr),
        rate=f"η={lr:g}",
        momentum=momentum,
      )
    )

  peak = config.onecycle_max if onecycle_max is None else onecycle_max
  if peak is None and "onecycle" in config.schedules:
    raise ValueError("1cycle needs its maximum rate: run the finder or pass one")
  peak = 0.0 if peak is None else peak
  power_steps = max(total / 4, 1.0)
  exponential_steps = max(0.8 * total, 1.0)
  b1, b2 = int(0.2 * total), int(0.6 * total)
  boundaries = [b1, b2] if b1 < b2 else [b2]
  values = [lr0, lr0 / 2, lr0 / 10] if b1 < b2 else [lr0, lr0 / 10]
  lr_p = config.performance_learning_rate
  factor, patience = config.plateau_factor, config.plateau_patience
  stop_patience = config.early_stopping_patience
  schedules: dict[str, Callable[[], tuple[str, str, Any, Any, Any, Any]]] = {
    "power": lambda: (
      f"power_schedule({lr0:g}, s={power_steps:g})",
      f"η0={lr0:g}",
      optx.power_schedule(lr0, power_steps),
      0.9,
      None,
      None,
    ),
    "exponential": lambda: (
      f"exponential_schedule({lr0:g}, s={exponential_steps:g})",
      f"η0={lr0:g}",
      optx.exponential_schedule(lr0, exponential_steps),
      0.9,
      None,
      None,
    ),
    "piecewise": lambda: (
      f"piecewise_constant_schedule({boundaries}, [{', '.join(f'{x:g}' for x in values)}])",
      f"η={'/'.join(f'{x:g}' for x in values)}",
      optx.piecewise_constant_schedule(boundaries, values),
      0.9,
      None,
      None,
    ),
    "performance": lambda: (
      f"reduce_on_plateau({factor:g}, {patience}) from {lr_p:g} on the val loss"
      f" every epoch, early_stopping({stop_patience}) restoring the best",
      f"η0={lr_p:g}",
      _constant(lr_p),
      0.9,
      optx.reduce_on_plateau(factor, patience),
      optx.early_stopping(stop_patience, restore_best_params=True),
    ),
    "onecycle": lambda: (
      f"onecycle_schedule({total}, {peak:.3g}) + momentum",
      f"η max={peak:.2g}",
      optx.onecycle_schedule(total, peak),
      optx.onecycle_momentum_schedule(total),
      None,
      None,
    ),
  }
  for name in config.schedules:
    description, rate, learning_rate, momentum, plateau, stopper = schedules[name]()
    of_peak = None
    if name == "onecycle":
      of_peak = lambda peak: optx.onecycle_schedule(total, peak)  # noqa: E731
    tx = optx.momentum(learning_rate, momentum, plateau=plateau)
    runs.append(
      Run(
        name,
        "schedule",
        f"optx.momentum: {description}",
        tx,
        learning_rate,
        rate=rate,
        momentum=momentum if callable(momentum) else _constant(momentum),
        plateau=plateau,
        early_stopping=stopper,
        of_peak=of_peak,
      )
    )
  return runs
