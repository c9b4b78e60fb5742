"""The bad-input catalogue: every public factory, every kind of bad argument.

One table drives one test. Each factory lists a valid call and, per argument,
the constraint it must enforce (a real number in a range, an integer, a bool,
a choice, a dtype, a transform, a callable); the kinds below turn each
constraint into its bad values: negative, zero where forbidden, out of range,
NaN, ±inf, beyond float32 or int32, a string, None, a list or a vector where a
scalar belongs, a bool, a complex number, a schedule where only a number
works. Cross-argument rules (lengths, sorted boundaries, incompatible options)
are listed by hand. Every case must raise the stated ``ValueError`` or
``TypeError`` at construction, with a message naming the call (``optx.<call>``,
e.g. ``optx.keras.SGD(momentum=...)``) and the argument.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optx
import optx.keras
import optx.torch

NAN, INF = math.nan, math.inf


def _schedule(t):
  return 0.5


# ----------------------------------------------------------------------------
# Kinds of argument and their bad values: (label, value, expected error).


@dataclasses.dataclass(frozen=True)
class Real:
  """A real number, optionally bounded; a schedule where ``schedule_ok``."""

  lower: float | None = None
  upper: float | None = None
  lower_open: bool = False
  upper_open: bool = False
  schedule_ok: bool = True
  optional: bool = False

  def bad(self):
    yield "nan", NAN, ValueError
    yield "nan array", np.float32(NAN), ValueError
    yield "+inf", INF, ValueError
    yield "-inf", -INF, ValueError
    yield "beyond float64", 10**400, ValueError
    if self.upper is None:
      yield "beyond float32", 1e39, ValueError
    elif self.lower is None:
      yield "beyond float32", -1e39, ValueError
    yield "str", "0.5", TypeError
    yield "list", [0.5], TypeError
    yield "vector", np.array([0.5, 0.5]), ValueError
    yield "bool", True, TypeError
    yield "complex", 0.5j, TypeError
    if not self.optional:
      yield "None", None, TypeError
    if not self.schedule_ok:
      yield "schedule", _schedule, TypeError
    if self.lower is not None:
      below = self.lower - max(abs(self.lower) / 2, 0.25)
      yield "negative" if self.lower == 0 else "below range", below, ValueError
      if self.lower_open:
        yield "zero" if self.lower == 0 else "at open bound", self.lower, ValueError
        # Above the bound, but not in float32, where the maths runs.
        nudge = 1e-50 if self.lower == 0 else abs(self.lower) * 1e-9
        yield "open bound in float32", self.lower + nudge, ValueError
    if self.upper is not None:
      yield "above range", self.upper + 0.25, ValueError
      if self.upper_open:
        yield "at open bound", self.upper, ValueError
        yield (
          "open bound in float32",
          self.upper - max(abs(self.upper), 1) * 1e-9,
          ValueError,
        )


@dataclasses.dataclass(frozen=True)
class Int:
  """An integer (not a bool) >= ``lower`` that fits in int32."""

  lower: int | None = None
  optional: bool = False

  def bad(self):
    if self.lower is not None:
      yield "negative" if self.lower <= 0 else "below range", self.lower - 1, ValueError
    yield "beyond int32", 2**31, ValueError
    yield "float", 7.5, TypeError
    yield "integral float", 7.0, TypeError
    yield "nan", NAN, TypeError
    yield "str", "7", TypeError
    yield "list", [7], TypeError
    yield "bool", True, TypeError
    if not self.optional:
      yield "None", None, TypeError


@dataclasses.dataclass(frozen=True)
class Bool:
  def bad(self):
    yield "str", "yes", TypeError
    yield "int", 1, TypeError
    yield "float", 1.0, TypeError
    yield "None", None, TypeError


@dataclasses.dataclass(frozen=True)
class Choice:
  options: tuple[str, ...]

  def bad(self):
    yield "unknown", "bogus", ValueError
    yield "wrong case", self.options[0].upper(), ValueError
    yield "None", None, ValueError
    yield "int", 1, ValueError


@dataclasses.dataclass(frozen=True)
class Dtype:
  """None or a floating dtype, for a state buffer."""

  def bad(self):
    yield "unknown name", "float33", TypeError
    yield "integer dtype", jnp.int32, ValueError
    yield "number", 1.5, TypeError


@dataclasses.dataclass(frozen=True)
class Function:
  def bad(self):
    yield "number", 0.5, TypeError
    yield "str", "fn", TypeError
    yield "None", None, TypeError


@dataclasses.dataclass(frozen=True)
class Transform:
  """A transformation; with ``plateau_only``, an optimizer's ``plateau=``."""

  plateau_only: bool = True

  def bad(self):
    yield "str", "plateau", TypeError
    yield "number", 0.5, TypeError
    yield "function", _schedule, TypeError
    if self.plateau_only:
      # Any other transformation would, e.g., apply the learning rate twice.
      yield "another transformation", optax.sgd(0.1), TypeError


@dataclasses.dataclass(frozen=True)
class Factory:
  call: str  # as the messages spell it: "adam", "keras.SGD", "torch.StepLR"
  make: Callable[..., Any]
  valid: dict[str, Any]
  args: dict[str, Any]


UNIT = Real(lower=0, upper=1)  # momentum, decay, rho, ...
BETA = Real(lower=0, upper=1, upper_open=True)
RATE = Real(lower=0)  # a learning rate: >= 0, or a schedule
NONNEGATIVE = Real(lower=0, schedule_ok=False)
POSITIVE = Real(lower=0, lower_open=True, schedule_ok=False)
FACTOR = Real(lower=0, upper=1, lower_open=True, upper_open=True, schedule_ok=False)
EPS = ("inside", "outside")


def _core() -> list[Factory]:
  plateau = {"plateau": Transform()}
  return [
    Factory(
      "sgd",
      optx.sgd,
      {"learning_rate": 0.1},
      {
        "learning_rate": RATE,
        "momentum": Real(lower=0, upper=1, optional=True),
        "nesterov": Bool(),
        "accumulator_dtype": Dtype(),
        **plateau,
      },
    ),
    Factory(
      "momentum",
      optx.momentum,
      {"learning_rate": 0.1},
      {
        "learning_rate": RATE,
        "momentum": UNIT,
        "nesterov": Bool(),
        "accumulator_dtype": Dtype(),
        **plateau,
      },
    ),
    Factory(
      "nesterov",
      optx.nesterov,
      {"learning_rate": 0.1},
      {
        "learning_rate": RATE,
        "momentum": UNIT,
        "accumulator_dtype": Dtype(),
        **plateau,
      },
    ),
    Factory(
      "adagrad",
      optx.adagrad,
      {"learning_rate": 0.1},
      {
        "learning_rate": RATE,
        "initial_accumulator_value": NONNEGATIVE,
        "eps": RATE,
        **plateau,
      },
    ),
    Factory(
      "rmsprop",
      optx.rmsprop,
      {"learning_rate": 0.1},
      {
        "learning_rate": RATE,
        "decay": UNIT,
        "eps": RATE,
        "initial_scale": NONNEGATIVE,
        "centered": Bool(),
        "momentum": Real(lower=0, upper=1, optional=True),
        "nesterov": Bool(),
        **plateau,
      },
    ),
    Factory(
      "adam",
      optx.adam,
      {"learning_rate": 0.1},
      {
        "learning_rate": RATE,
        "b1": BETA,
        "b2": BETA,
        "eps": RATE,
        "amsgrad": Bool(),
        "mu_dtype": Dtype(),
        "nu_dtype": Dtype(),
        **plateau,
      },
    ),
    Factory(
      "scale_by_learning_rate",
      optx.scale_by_learning_rate,
      {"learning_rate": 0.1},
      {"learning_rate": RATE, "flip_sign": Bool()},
    ),
    Factory(
      "trace",
      optx.trace,
      {"decay": 0.9},
      {
        "decay": UNIT,
        "nesterov": Bool(),
        "dampening": UNIT,
        "accumulator_dtype": Dtype(),
      },
    ),
    Factory(
      "scale_by_rss",
      optx.scale_by_rss,
      {},
      {
        "initial_accumulator_value": NONNEGATIVE,
        "eps": RATE,
        "eps_placement": Choice(EPS),
      },
    ),
    Factory(
      "scale_by_rms",
      optx.scale_by_rms,
      {},
      {
        "decay": UNIT,
        "eps": RATE,
        "initial_scale": NONNEGATIVE,
        "eps_placement": Choice(EPS),
      },
    ),
    Factory(
      "scale_by_stddev",
      optx.scale_by_stddev,
      {},
      {
        "decay": UNIT,
        "eps": RATE,
        "initial_scale": NONNEGATIVE,
        "eps_placement": Choice(EPS),
      },
    ),
    Factory(
      "scale_by_adam",
      optx.scale_by_adam,
      {},
      {
        "b1": BETA,
        "b2": BETA,
        "eps": RATE,
        "eps_placement": Choice(("inside", "outside", "hat")),
        "moment_form": Choice(("weighted", "interpolated", "torch")),
        "amsgrad": Bool(),
        "mu_dtype": Dtype(),
        "nu_dtype": Dtype(),
      },
    ),
    Factory(
      "scale_by_adamax",
      optx.scale_by_adamax,
      {},
      {"b1": BETA, "b2": BETA, "eps": RATE, "mu_dtype": Dtype(), "nu_dtype": Dtype()},
    ),
    Factory(
      "scale_by_nadam",
      optx.scale_by_nadam,
      {},
      {"b1": BETA, "b2": BETA, "eps": RATE, "mu_dtype": Dtype(), "nu_dtype": Dtype()},
    ),
    *(
      Factory(
        name,
        getattr(optx, name),
        {"learning_rate": 0.1},
        {
          "learning_rate": RATE,
          "b1": BETA,
          "b2": BETA,
          "eps": RATE,
          "mu_dtype": Dtype(),
          "nu_dtype": Dtype(),
          **plateau,
          **({"weight_decay": RATE, "amsgrad": Bool()} if name == "adamw" else {}),
        },
      )
      for name in ("adamax", "nadam", "adamw")
    ),
    Factory(
      "add_decoupled_weight_decay",
      optx.add_decoupled_weight_decay,
      {"weight_decay": 0.01, "learning_rate": 0.1},
      {"weight_decay": RATE, "learning_rate": RATE},
    ),
    Factory(
      "reduce_on_plateau",
      optx.reduce_on_plateau,
      {},
      {
        "factor": FACTOR,
        "patience": Int(lower=0),
        "min_delta": NONNEGATIVE,
        "mode": Choice(("min", "max")),
        "cooldown": Int(lower=0),
        "min_scale": Real(lower=0, upper=1, schedule_ok=False),
        "threshold_mode": Choice(("abs", "rel")),
        "rule": Choice(("keras", "torch")),
        "eps": NONNEGATIVE,
      },
    ),
    Factory(
      "power_schedule",
      optx.power_schedule,
      {"init_value": 0.1, "steps": 100},
      {
        "init_value": NONNEGATIVE,
        "steps": POSITIVE,
        "power": NONNEGATIVE,
        "staircase": Bool(),
      },
    ),
    Factory(
      "exponential_schedule",
      optx.exponential_schedule,
      {"init_value": 0.1, "steps": 100},
      {
        "init_value": NONNEGATIVE,
        "steps": POSITIVE,
        "decay_rate": POSITIVE,
        "staircase": Bool(),
      },
    ),
    Factory(
      "piecewise_constant_schedule",
      optx.piecewise_constant_schedule,
      {"boundaries": [5, 15], "values": [0.01, 0.005, 0.001]},
      {},
    ),
    Factory(
      "onecycle_schedule",
      optx.onecycle_schedule,
      {"total_steps": 100, "max_value": 0.1},
      {
        "total_steps": Int(lower=3),
        "max_value": NONNEGATIVE,
        "start_value": Real(lower=0, schedule_ok=False, optional=True),
        "end_value": Real(lower=0, schedule_ok=False, optional=True),
        "final_steps": Int(lower=1, optional=True),
      },
    ),
    Factory(
      "onecycle_momentum_schedule",
      optx.onecycle_momentum_schedule,
      {"total_steps": 100},
      {
        "total_steps": Int(lower=3),
        "max_value": Real(lower=0, upper=1, schedule_ok=False),
        "min_value": Real(lower=0, upper=1, schedule_ok=False),
        "final_steps": Int(lower=1, optional=True),
      },
    ),
    Factory(
      "epoch_schedule",
      optx.epoch_schedule,
      {"fn": _schedule, "steps_per_epoch": 10},
      {"fn": Function(), "steps_per_epoch": Int(lower=1)},
    ),
    Factory(
      "flatten",
      optx.flatten,
      {"inner": optx.sgd(0.1)},
      {"inner": Transform(plateau_only=False), "max_leaf_size": Int(lower=0)},
    ),
    Factory(
      "sweep",
      lambda factory, **hyperparameters: optx.sweep(factory, **hyperparameters),
      {"factory": optx.sgd, "learning_rate": np.array([0.1, 0.01])},
      {"factory": Function()},
    ),
    Factory(
      "chain",
      lambda transforms: optx.chain(optx.scale_by_adam(), transforms),
      {"transforms": optx.scale_by_learning_rate(0.1)},
      {"transforms": Transform(plateau_only=False)},
    ),
    Factory(
      "find_learning_rate",
      optx.find_learning_rate,
      {
        "loss_fn": lambda p, batch: jnp.sum((p - batch) ** 2),
        "params": jnp.zeros(2),
        "optimizer": optx.sgd,
        "batches": jnp.ones((3, 2)),
      },
      {
        "loss_fn": Function(),
        "optimizer": Function(),
        "min_learning_rate": POSITIVE,
        "max_learning_rate": POSITIVE,
        "divisor": POSITIVE,
      },
    ),
    Factory(
      "early_stopping",
      optx.early_stopping,
      {"patience": 3},
      {
        "patience": Int(lower=0),
        "min_delta": NONNEGATIVE,
        "mode": Choice(("min", "max")),
        "restore_best_params": Bool(),
      },
    ),
  ]


# Rules between arguments, and sequences: (call, kwargs, argument, error).
_OMIT = object()  # in a rule's kwargs: leave this argument out of the valid call

# Rules between arguments, and sequences: (call, kwargs, argument, error), or
# with a fifth entry, the call the message must name when it is not ``call``.
CORE_EXTRA = [
  ("flatten", {"inner": None}, "inner", TypeError),
  # Not elementwise: a per-variable norm, a global norm, a mask on the leaves.
  ("flatten", {"inner": optx.keras.SGD(1.0, clipnorm=1.0)}, "inner", TypeError),
  ("flatten", {"inner": optx.keras.Adam(global_clipnorm=1.0)}, "inner", TypeError),
  (
    "flatten",
    {"inner": optx.add_decoupled_weight_decay(0.1, 0.1, mask=lambda p: p)},
    "inner",
    TypeError,
  ),
  ("flatten", {"inner": optax.adamw(1e-3, mask=lambda p: p)}, "inner", TypeError),
  (
    "flatten",
    {"inner": optax.adam},
    "inner",
    TypeError,
  ),  # the factory, not a transform
  ("sweep", {"learning_rate": _OMIT}, "hyperparameter", ValueError),  # none given
  ("sweep", {"learning_rate": np.array(0.1)}, "learning_rate", ValueError),  # not 1-D
  ("sweep", {"learning_rate": np.zeros((2, 2))}, "learning_rate", ValueError),
  ("sweep", {"learning_rate": np.array([])}, "learning_rate", ValueError),  # empty
  ("sweep", {"momentum": np.array([0.9, 0.5, 0.1])}, "momentum", ValueError),  # lengths
  # Every entry is checked by a concrete call of the factory, which names itself.
  (
    "sweep",
    {"learning_rate": np.array([0.1, -0.1])},
    "learning_rate",
    ValueError,
    "sgd",
  ),
  (
    "sweep",
    {"learning_rate": np.array([0.1, np.nan])},
    "learning_rate",
    ValueError,
    "sgd",
  ),
  ("sgd", {"learning_rate": 0.1, "nesterov": True}, "nesterov", ValueError),
  ("rmsprop", {"learning_rate": 0.1, "nesterov": True}, "nesterov", ValueError),
  (
    "onecycle_schedule",
    {"total_steps": 10, "max_value": 0.1, "final_steps": 9},
    "final_steps",
    ValueError,
  ),
  (
    "onecycle_schedule",
    {"total_steps": 10, "max_value": 0.1, "final_steps": 10},
    "final_steps",
    ValueError,
  ),
  (
    "onecycle_momentum_schedule",
    {"total_steps": 10, "final_steps": 9},
    "final_steps",
    ValueError,
  ),
  *[
    ("piecewise_constant_schedule", {"boundaries": b, "values": v}, arg, error)
    for b, v, arg, error in [
      ([5, 15], [0.1, 0.01], "values", ValueError),  # one value short
      ([5, 15], [0.1, 0.01, 0.001, 1e-4], "values", ValueError),  # one too many
      ([], [], "values", ValueError),
      ([15, 5], [0.1, 0.01, 0.001], "boundaries", ValueError),  # unsorted
      ([5, 5], [0.1, 0.01, 0.001], "boundaries", ValueError),  # repeated
      ([-5, 15], [0.1, 0.01, 0.001], "boundaries", ValueError),  # negative
      ([5, 2**31], [0.1, 0.01, 0.001], "boundaries", ValueError),  # beyond int32
      ([5.5, 15], [0.1, 0.01, 0.001], "boundaries", TypeError),  # not a step
      ([5, NAN], [0.1, 0.01, 0.001], "boundaries", TypeError),
      ([5, None], [0.1, 0.01, 0.001], "boundaries", TypeError),
      ([5, "15"], [0.1, 0.01, 0.001], "boundaries", TypeError),
      ([True, 15], [0.1, 0.01, 0.001], "boundaries", TypeError),
      ([5, 15], [0.1, NAN, 0.001], "values", ValueError),
      ([5, 15], [0.1, INF, 0.001], "values", ValueError),
      ([5, 15], [0.1, "0.01", 0.001], "values", TypeError),
      ([5, 15], [0.1, None, 0.001], "values", TypeError),
      ([5, 15], [0.1, [0.01], 0.001], "values", TypeError),
      ([5, 15], [0.1, _schedule, 0.001], "values", TypeError),
      ("5, 15", [0.1, 0.01, 0.001], "boundaries", TypeError),
      (None, [0.1], "boundaries", TypeError),
      (5, [0.1, 0.01], "boundaries", TypeError),
      ([5, 15], None, "values", TypeError),
      ([5, 15], 0.1, "values", TypeError),
    ]
  ],
  # The finder's range must grow, and its batches share a leading axis.
  *[
    ("find_learning_rate", kwargs, arg, ValueError)
    for kwargs, arg in [
      ({"min_learning_rate": 1.0, "max_learning_rate": 0.5}, "max_learning_rate"),
      ({"min_learning_rate": 0.1, "max_learning_rate": 0.1}, "max_learning_rate"),
      ({"batches": ()}, "batches"),
      ({"batches": jnp.ones(())}, "batches"),
      ({"batches": jnp.ones((0, 2))}, "batches"),
      ({"batches": (jnp.ones((3, 2)), jnp.ones((4, 2)))}, "batches"),
    ]
  ],
]


def _keras() -> list[Factory]:
  keras = optx.keras
  common = {
    "learning_rate": RATE,
    "weight_decay": Real(lower=0, optional=True),
    "clipnorm": Real(lower=0, lower_open=True, schedule_ok=False, optional=True),
    "clipvalue": Real(lower=0, lower_open=True, schedule_ok=False, optional=True),
    "global_clipnorm": Real(lower=0, lower_open=True, schedule_ok=False, optional=True),
    "lr": Real(lower=0, optional=True),
    "decay": Real(lower=0, schedule_ok=False, optional=True),
  }
  sched = "keras.schedules."
  decay_common = {
    "initial_learning_rate": Real(schedule_ok=False),
    "decay_steps": POSITIVE,
  }
  return [
    Factory(
      "keras.SGD", keras.SGD, {}, {**common, "momentum": UNIT, "nesterov": Bool()}
    ),
    Factory(
      "keras.Adagrad",
      keras.Adagrad,
      {},
      {**common, "initial_accumulator_value": NONNEGATIVE, "epsilon": RATE},
    ),
    Factory(
      "keras.RMSprop",
      keras.RMSprop,
      {},
      {**common, "rho": UNIT, "momentum": UNIT, "epsilon": RATE, "centered": Bool()},
    ),
    Factory(
      "keras.Adam",
      keras.Adam,
      {},
      {**common, "beta_1": BETA, "beta_2": BETA, "epsilon": RATE, "amsgrad": Bool()},
    ),
    *(
      Factory(
        f"keras.{name}",
        getattr(keras, name),
        {},
        {**common, "beta_1": BETA, "beta_2": BETA, "epsilon": RATE},
      )
      for name in ("Adamax", "Nadam")
    ),
    Factory(
      "keras.AdamW",
      keras.AdamW,
      {},
      {
        **common,
        "weight_decay": RATE,
        "beta_1": BETA,
        "beta_2": BETA,
        "epsilon": RATE,
        "amsgrad": Bool(),
      },
    ),
    Factory(
      "keras.Adadelta",
      keras.Adadelta,
      {},
      {**common, "rho": UNIT, "epsilon": RATE},
    ),
    Factory(
      "keras.LossScaleOptimizer",
      keras.LossScaleOptimizer,
      {"inner_optimizer": keras.SGD()},
      {"initial_scale": POSITIVE, "dynamic_growth_steps": Int(lower=1)},
    ),
    Factory(
      sched + "CosineDecayRestarts",
      keras.schedules.CosineDecayRestarts,
      {"initial_learning_rate": 0.1, "first_decay_steps": 100},
      {
        "initial_learning_rate": Real(schedule_ok=False),
        "first_decay_steps": POSITIVE,
        "t_mul": NONNEGATIVE,
        "m_mul": NONNEGATIVE,
        "alpha": Real(schedule_ok=False),
      },
    ),
    Factory(
      "keras.ReduceLROnPlateau",
      keras.ReduceLROnPlateau,
      {},
      {
        "factor": FACTOR,
        "patience": Int(lower=0),
        "mode": Choice(("auto", "min", "max")),
        "min_delta": Real(schedule_ok=False),
        "cooldown": Int(lower=0),
        "min_lr": NONNEGATIVE,
      },
    ),
    Factory(
      "keras.LearningRateScheduler",
      keras.LearningRateScheduler,
      {"schedule": lambda epoch: 0.1},
      {"schedule": Function(), "steps_per_epoch": Int(lower=1, optional=True)},
    ),
    Factory(
      sched + "ExponentialDecay",
      keras.schedules.ExponentialDecay,
      {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.9},
      {**decay_common, "decay_rate": POSITIVE, "staircase": Bool()},
    ),
    Factory(
      sched + "InverseTimeDecay",
      keras.schedules.InverseTimeDecay,
      {"initial_learning_rate": 0.1, "decay_steps": 100, "decay_rate": 0.5},
      {**decay_common, "decay_rate": NONNEGATIVE, "staircase": Bool()},
    ),
    Factory(
      sched + "PolynomialDecay",
      keras.schedules.PolynomialDecay,
      {"initial_learning_rate": 0.1, "decay_steps": 100},
      {
        **decay_common,
        "end_learning_rate": Real(schedule_ok=False),
        "power": Real(schedule_ok=False),
        "cycle": Bool(),
      },
    ),
    Factory(
      sched + "CosineDecay",
      keras.schedules.CosineDecay,
      {"initial_learning_rate": 0.1, "decay_steps": 100},
      {
        **decay_common,
        "alpha": Real(schedule_ok=False),
        "warmup_target": Real(schedule_ok=False, optional=True),
        "warmup_steps": NONNEGATIVE,
      },
    ),
    Factory(
      sched + "PiecewiseConstantDecay",
      keras.schedules.PiecewiseConstantDecay,
      {"boundaries": [5, 15], "values": [0.01, 0.005, 0.001]},
      {},
    ),
  ]


def _keras_extra():
  keras = optx.keras
  plateau, scheduler = (
    keras.ReduceLROnPlateau(),
    keras.LearningRateScheduler(lambda e: 0.1, steps_per_epoch=10),
  )
  pcd = "keras.schedules.PiecewiseConstantDecay"
  return [
    ("keras.SGD", {"clipnorm": 1.0, "clipvalue": 1.0}, "clipnorm", ValueError),
    ("keras.Adam", {"global_clipnorm": 1.0, "clipvalue": 1.0}, "clipvalue", ValueError),
    ("keras.Adam", {"learning_rate": 0.01, "lr": 0.01}, "lr", ValueError),
    ("keras.SGD", {"callbacks": [plateau, plateau]}, "callbacks", ValueError),
    ("keras.SGD", {"callbacks": [plateau, scheduler]}, "callbacks", ValueError),
    ("keras.SGD", {"callbacks": ["ReduceLROnPlateau"]}, "callbacks", TypeError),
    ("keras.SGD", {"callbacks": 0.5}, "callbacks", TypeError),
    (
      "keras.SGD",
      {"callbacks": [scheduler], "learning_rate": _schedule},
      "callbacks",
      ValueError,
    ),
    ("keras.ReduceLROnPlateau", {"monitor": 3}, "monitor", TypeError),
    ("keras.ReduceLROnPlateau", {"monitor": "val_accuracy"}, "mode", ValueError),
    ("keras.LearningRateScheduler", {"schedule": lambda: 0.1}, "schedule", TypeError),
    *[
      (pcd, {"boundaries": b, "values": v}, arg, error)
      for b, v, arg, error in [
        ([5, 15], [0.1, 0.01], "values", ValueError),
        ([15, 5], [0.1, 0.01, 0.001], "boundaries", ValueError),
        ([5, 5], [0.1, 0.01, 0.001], "boundaries", ValueError),
        ([-5, 15], [0.1, 0.01, 0.001], "boundaries", ValueError),
        ([5, NAN], [0.1, 0.01, 0.001], "boundaries", ValueError),
        ([5, "15"], [0.1, 0.01, 0.001], "boundaries", TypeError),
        ([5, 2**31], [0.1, 0.01, 0.001], "boundaries", ValueError),
        ([5, 15], [0.1, NAN, 0.001], "values", ValueError),
        ([5, 15], [0.1, "0.01", 0.001], "values", TypeError),
        ("5, 15", [0.1, 0.01, 0.001], "boundaries", TypeError),
        ([5, 15], None, "values", TypeError),
      ]
    ],
  ]


def _torch() -> list[Factory]:
  torch = optx.torch
  optimizer = {
    "weight_decay": Real(lower=0),
    "maximize": Bool(),
    "plateau": Transform(),
  }
  return [
    Factory(
      "torch.SGD",
      torch.SGD,
      {},
      {
        "lr": RATE,
        "momentum": UNIT,
        "dampening": UNIT,
        "nesterov": Bool(),
        **optimizer,
      },
    ),
    Factory(
      "torch.Adagrad",
      torch.Adagrad,
      {},
      {
        "lr": RATE,
        "lr_decay": NONNEGATIVE,
        "initial_accumulator_value": NONNEGATIVE,
        "eps": RATE,
        **optimizer,
      },
    ),
    Factory(
      "torch.RMSprop",
      torch.RMSprop,
      {},
      {
        "lr": RATE,
        "alpha": UNIT,
        "eps": RATE,
        "momentum": UNIT,
        "centered": Bool(),
        **optimizer,
      },
    ),
    Factory(
      "torch.Adam",
      torch.Adam,
      {},
      {
        "lr": RATE,
        "eps": RATE,
        "amsgrad": Bool(),
        "decoupled_weight_decay": Bool(),
        **optimizer,
      },
    ),
    Factory(
      "torch.AdamW",
      torch.AdamW,
      {},
      {"lr": RATE, "eps": RATE, "amsgrad": Bool(), **optimizer},
    ),
    Factory(
      "torch.Adamax",
      torch.Adamax,
      {},
      {"lr": RATE, "eps": RATE, **optimizer},
    ),
    Factory(
      "torch.NAdam",
      torch.NAdam,
      {},
      {
        "lr": RATE,
        "eps": RATE,
        "momentum_decay": NONNEGATIVE,
        "decoupled_weight_decay": Bool(),
        **optimizer,
      },
    ),
    Factory(
      "torch.Adadelta",
      torch.Adadelta,
      {},
      {"lr": RATE, "rho": UNIT, "eps": RATE, **optimizer},
    ),
    Factory(
      "torch.ExponentialLR",
      torch.ExponentialLR,
      {"lr": 0.1, "gamma": 0.9},
      {"lr": NONNEGATIVE, "gamma": NONNEGATIVE},
    ),
    Factory(
      "torch.StepLR",
      torch.StepLR,
      {"lr": 0.1, "step_size": 10},
      {"lr": NONNEGATIVE, "step_size": Int(lower=1), "gamma": NONNEGATIVE},
    ),
    Factory(
      "torch.MultiStepLR",
      torch.MultiStepLR,
      {"lr": 0.1, "milestones": [10, 20]},
      {"lr": NONNEGATIVE, "gamma": NONNEGATIVE},
    ),
    Factory(
      "torch.LambdaLR",
      torch.LambdaLR,
      {"lr": 0.1, "lr_lambda": _schedule},
      {"lr": NONNEGATIVE, "lr_lambda": Function()},
    ),
    Factory(
      "torch.OneCycleLR",
      torch.OneCycleLR,
      {"max_lr": 0.1, "total_steps": 100},
      {
        "max_lr": NONNEGATIVE,
        "total_steps": Int(lower=1, optional=True),
        "pct_start": Real(lower=0, upper=1, schedule_ok=False),
        "anneal_strategy": Choice(("cos", "linear")),
        "cycle_momentum": Bool(),
        "base_momentum": Real(lower=0, upper=1, schedule_ok=False),
        "max_momentum": Real(lower=0, upper=1, schedule_ok=False),
        "div_factor": POSITIVE,
        "final_div_factor": POSITIVE,
        "three_phase": Bool(),
      },
    ),
    Factory(
      "torch.ReduceLROnPlateau",
      torch.ReduceLROnPlateau,
      {},
      {
        "mode": Choice(("min", "max")),
        "factor": FACTOR,
        "patience": Int(lower=0),
        "threshold": NONNEGATIVE,
        "threshold_mode": Choice(("rel", "abs")),
        "cooldown": Int(lower=0),
        "min_lr": NONNEGATIVE,
        "eps": NONNEGATIVE,
      },
    ),
    Factory(
      "torch.ConstantLR",
      torch.ConstantLR,
      {"lr": 0.1},
      {
        "lr": NONNEGATIVE,
        "factor": Real(lower=0, upper=1, lower_open=True, schedule_ok=False),
        "total_iters": Int(lower=0),
      },
    ),
    Factory(
      "torch.LinearLR",
      torch.LinearLR,
      {"lr": 0.1},
      {
        "lr": NONNEGATIVE,
        "start_factor": Real(lower=0, upper=1, lower_open=True, schedule_ok=False),
        "end_factor": Real(lower=0, upper=1, schedule_ok=False),
        "total_iters": Int(lower=0),
      },
    ),
    Factory(
      "torch.PolynomialLR",
      torch.PolynomialLR,
      {"lr": 0.1},
      {"lr": NONNEGATIVE, "total_iters": Int(lower=0), "power": NONNEGATIVE},
    ),
    Factory(
      "torch.CosineAnnealingLR",
      torch.CosineAnnealingLR,
      {"lr": 0.1, "T_max": 10},
      {"lr": NONNEGATIVE, "T_max": Int(lower=1), "eta_min": NONNEGATIVE},
    ),
    Factory(
      "torch.CosineAnnealingWarmRestarts",
      torch.CosineAnnealingWarmRestarts,
      {"lr": 0.1, "T_0": 10},
      {
        "lr": NONNEGATIVE,
        "T_0": Int(lower=1),
        "T_mult": Int(lower=1),
        "eta_min": NONNEGATIVE,
      },
    ),
    Factory(
      "torch.CyclicLR",
      torch.CyclicLR,
      {"base_lr": 0.01, "max_lr": 0.1},
      {
        "base_lr": NONNEGATIVE,
        "max_lr": NONNEGATIVE,
        "step_size_up": Int(lower=1),
        "step_size_down": Int(lower=0, optional=True),
        "mode": Choice(("triangular", "triangular2", "exp_range")),
        "gamma": NONNEGATIVE,
        "scale_mode": Choice(("cycle", "iterations")),
        "cycle_momentum": Bool(),
        "base_momentum": Real(lower=0, upper=1, schedule_ok=False),
        "max_momentum": Real(lower=0, upper=1, schedule_ok=False),
      },
    ),
    Factory(
      "torch.MultiplicativeLR",
      torch.MultiplicativeLR,
      {"lr": 0.1, "lr_lambda": _schedule},
      {"lr": NONNEGATIVE, "lr_lambda": Function()},
    ),
    Factory(
      "torch.SequentialLR",
      torch.SequentialLR,
      {"schedulers": [torch.StepLR(0.1, 2), torch.StepLR(0.1, 3)], "milestones": [5]},
      {},
    ),
    Factory(
      "torch.ChainedScheduler",
      torch.ChainedScheduler,
      {"schedulers": [torch.ConstantLR(0.1), torch.ExponentialLR(0.1, 0.9)]},
      {},
    ),
    Factory(
      "torch.param_groups",
      torch.param_groups,
      {"optimizer": torch.SGD, "labels": {"w": "a"}, "groups": {"a": {}}},
      {"optimizer": Function()},
    ),
  ]


def _torch_extra():
  cases = [
    ("torch.SGD", {"nesterov": True}, "nesterov", ValueError),  # needs momentum
    (
      "torch.SGD",
      {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
      "nesterov",
      ValueError,
    ),
    (
      "torch.OneCycleLR",
      {"total_steps": None},
      "total_steps",
      ValueError,
    ),  # no length at all
    (
      "torch.OneCycleLR",
      {"total_steps": None, "epochs": 0, "steps_per_epoch": 10},
      "epochs",
      ValueError,
    ),
    (
      "torch.OneCycleLR",
      {"total_steps": None, "epochs": 2, "steps_per_epoch": 1.5},
      "steps_per_epoch",
      TypeError,
    ),
    ("torch.OneCycleLR", {"total_steps": None, "epochs": 2}, "total_steps", ValueError),
    (
      "torch.OneCycleLR",
      {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.1},
      "pct_start",
      ValueError,
    ),
    (
      "torch.Adagrad",
      {"lr": optx.torch.OneCycleLR(0.1, total_steps=100)},
      "lr",
      ValueError,
    ),
  ]
  for call in ("torch.Adam", "torch.AdamW"):
    for betas, arg, error in [
      ((0.9,), "betas", TypeError),  # wrong length
      ((0.9, 0.999, 0.9), "betas", TypeError),
      (0.9, "betas", TypeError),
      ("0.9, 0.999", "betas", TypeError),
      (None, "betas", TypeError),
      ((1.0, 0.999), "betas", ValueError),
      ((0.9, -0.1), "betas", ValueError),
      ((NAN, 0.999), "betas", ValueError),
      ((0.9, "0.999"), "betas", TypeError),
    ]:
      cases.append((call, {"betas": betas}, arg, error))
  for milestones, arg, error in [
    ([10, -20], "milestones", ValueError),
    ([10, 20.5], "milestones", TypeError),
    ([10, 2**31], "milestones", ValueError),
    ("10, 20", "milestones", TypeError),
    (None, "milestones", TypeError),
    (10, "milestones", TypeError),
  ]:
    cases.append(
      ("torch.MultiStepLR", {"lr": 0.1, "milestones": milestones}, arg, error)
    )
  step, plateau = optx.torch.StepLR(0.1, 2), optx.torch.ReduceLROnPlateau()
  nested = optx.torch.SequentialLR([step], [])
  cases += [
    ("torch.CyclicLR", {"scale_fn": 0.5}, "scale_fn", TypeError),
    ("torch.CyclicLR", {"scale_fn": "fn"}, "scale_fn", TypeError),
    ("torch.CyclicLR", {"scale_fn": lambda: 0.5}, "scale_fn", TypeError),
    ("torch.LambdaLR", {"lr_lambda": lambda: 0.5}, "lr_lambda", TypeError),
    (  # the cycle must fit in int32
      "torch.CyclicLR",
      {"step_size_up": 2**30, "step_size_down": 2**30},
      "step_size_down",
      ValueError,
    ),
    (  # no momentum to cycle (PyTorch raises too)
      "torch.Adagrad",
      {"lr": optx.torch.CyclicLR(0.01, 0.1)},
      "lr",
      ValueError,
    ),
    ("torch.MultiplicativeLR", {"lr_lambda": lambda: 0.5}, "lr_lambda", TypeError),
  ]
  for call in ("torch.SequentialLR", "torch.ChainedScheduler"):
    more = {"milestones": []} if call == "torch.SequentialLR" else {}
    for schedulers, error in [
      ([], ValueError),
      (None, TypeError),
      ("StepLR", TypeError),
      (step, TypeError),
      ([0.5], TypeError),
      ([_schedule], TypeError),
      ([plateau], ValueError),  # needs a metric (PyTorch refuses it too)
      ([nested], ValueError),  # PyTorch cannot compose a SequentialLR
      ([step, optx.torch.StepLR(0.2, 2)], ValueError),  # one optimizer, one lr
    ]:
      if call == "torch.SequentialLR" and isinstance(schedulers, list):
        more = {"milestones": [5] * max(len(schedulers) - 1, 0)}
      cases.append((call, {"schedulers": schedulers, **more}, "schedulers", error))
  sequential = "torch.SequentialLR"
  for milestones, error in [
    ([], ValueError),  # one fewer than the schedulers
    ([5, 6], ValueError),
    ([-5], ValueError),
    ([5.5], TypeError),
    ([2**31], ValueError),
    ("5", TypeError),
    (5, TypeError),
    (None, TypeError),
  ]:
    cases.append((sequential, {"milestones": milestones}, "milestones", error))
  cases += [
    (
      sequential,
      {"schedulers": [step, step, step], "milestones": [5, 3]},  # decreasing
      "milestones",
      ValueError,
    ),
    (  # PyTorch's closed form divides by total_iters=0 at the milestone
      sequential,
      {"schedulers": [step, optx.torch.LinearLR(0.1, total_iters=0)]},
      "schedulers",
      ValueError,
    ),
    (
      sequential,
      {"schedulers": [step, optx.torch.ChainedScheduler([step])]},
      "schedulers",
      ValueError,
    ),
    (  # PyTorch's recursion has no closed form
      "torch.ChainedScheduler",
      {"schedulers": [step, optx.torch.CosineAnnealingLR(0.1, 10, eta_min=0.01)]},
      "schedulers",
      ValueError,
    ),
    (
      "torch.ChainedScheduler",
      {"schedulers": [step, optx.torch.CosineAnnealingLR(0.1, 10)] * 2},
      "schedulers",
      ValueError,
    ),
  ]
  groups = "torch.param_groups"
  for kwargs, argument, error in [
    ({"groups": {}}, "groups", TypeError),
    ({"groups": ["a"]}, "groups", TypeError),
    ({"groups": {"a": 0.1}}, "groups", TypeError),
    ({"groups": {"a": {"betas": (0.9, 0.99)}}}, "betas", TypeError),  # not SGD's
    ({"betas": (0.9, 0.99)}, "betas", TypeError),
    ({"groups": {"a": {"momentum": 2.0}}}, "momentum", ValueError),
    ({"weight_decay": -1.0}, "weight_decay", ValueError),
    ({"groups": {"a": {"plateau": plateau}}}, "plateau", ValueError),  # shared
    ({"scheduler": 0.5}, "scheduler", TypeError),
    ({"scheduler": step}, "scheduler", TypeError),  # a function of the lr
    (
      {"groups": {"a": {"lr": step}}, "scheduler": lambda lr: step},
      "scheduler",
      ValueError,
    ),
    (
      {"plateau": optx.torch.ReduceLROnPlateau(min_lr={"b": 0.0})},  # no group b
      "min_lr",
      ValueError,
    ),
  ]:
    cases.append((groups, kwargs, argument, error))
  cases.append(
    ("torch.ReduceLROnPlateau", {"min_lr": {"a": -1.0}}, "min_lr", ValueError)
  )
  return cases


# ----------------------------------------------------------------------------
# Gaps this catalogue finds are marked here, strict, keyed (call, argument) or
# (call, argument, label): each flips to a failure once fixed, so that the mark
# goes with the fix. None are open.

KNOWN_GAPS: dict[tuple[str, ...], str] = {}


# ----------------------------------------------------------------------------
# The table.


@dataclasses.dataclass(frozen=True)
class Case:
  call: str
  make: Callable[..., Any]
  kwargs: dict[str, Any]
  argument: str
  error: type[Exception]
  label: str
  named: str | None = None  # the call the message names, when not ``call``

  @property
  def id(self) -> str:
    return f"{self.call}-{self.argument}-{self.label}"


def _factories() -> list[Factory]:
  return [*_core(), *_keras(), *_torch()]


def _cases() -> list[Case]:
  factories = {f.call: f for f in _factories()}
  cases = []
  for factory in factories.values():
    for argument, kind in factory.args.items():
      for label, value, error in kind.bad():
        kwargs = {**factory.valid, argument: value}
        cases.append(Case(factory.call, factory.make, kwargs, argument, error, label))
  for call, kwargs, argument, error, *named in [
    *CORE_EXTRA,
    *_keras_extra(),
    *_torch_extra(),
  ]:
    factory = factories[call]
    label = "rule: " + ", ".join(
      f"{k}={'omitted' if v is _OMIT else _stable_repr(v)}" for k, v in kwargs.items()
    )
    kwargs = {k: v for k, v in {**factory.valid, **kwargs}.items() if v is not _OMIT}
    cases.append(Case(call, factory.make, kwargs, argument, error, label, *named))
  return cases


def _stable_repr(value: object) -> str:
  """repr without memory addresses, so that test ids agree across pytest-xdist workers."""
  return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


CASES = _cases()


def _params():
  for case in CASES:
    reason = KNOWN_GAPS.get((case.call, case.argument, case.label)) or KNOWN_GAPS.get(
      (case.call, case.argument)
    )
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    yield pytest.param(case, id=case.id, marks=marks)


def _names(message: str, call: str, argument: str) -> bool:
  names_call = re.search(rf"optx\.{re.escape(call)}(?![\w.])", message) is not None
  names_argument = (
    re.search(rf"(?<!\w){re.escape(argument)}(?!\w)", message) is not None
  )
  return names_call and names_argument


@pytest.mark.parametrize("case", list(_params()))
def test_bad_argument_raises_a_named_error(case):
  with pytest.raises((ValueError, TypeError)) as info:
    case.make(**case.kwargs)
  message = str(info.value)
  assert type(info.value) is case.error, f"{type(info.value).__name__}: {message}"
  assert _names(message, case.named or case.call, case.argument), message


@pytest.mark.parametrize("factory", _factories(), ids=lambda f: f.call)
def test_valid_calls_in_the_table_are_valid(factory):
  """Each case differs from an accepted call by the bad argument alone."""
  factory.make(**factory.valid)


def _public_factories(module, prefix="", seen=None):
  """The public factories of ``module`` and its namespaces, each under one name.

  ``optx.torch.SGD`` is also ``optx.torch.optim.SGD``: a factory reached
  through several namespaces counts once, under its first (shortest) name.
  """
  seen = {} if seen is None else seen
  for name in module.__all__:
    obj = getattr(module, name)
    if inspect.ismodule(obj):
      if obj.__name__.startswith(module.__name__ + "."):
        _public_factories(obj, f"{prefix}{name}.", seen)
      continue
    if isinstance(obj, type) and (
      issubclass(obj, tuple) or dataclasses.is_dataclass(obj)
    ):
      continue  # states and configs
    if inspect.isfunction(obj) or inspect.isclass(obj):
      name = prefix + name
      if id(obj) not in seen or len(name) < len(seen[id(obj)]):
        seen[id(obj)] = name
  return set(seen.values())


# Public callables that build nothing from hyperparameters.
NOT_FACTORIES = {
  "observe",
  "plateau_scale",
  "has_plateau",
  "torch.load_state_dict",
  "torch.state_dict",
  "torch.scheduler_state_dict",
  "keras.load_variables",
  "keras.variable_values",
  # Readers of a state, and the options' type.
  "keras.Options",
  "keras.ema_params",
  "keras.finalize_variable_values",
  "keras.loss_scale",
  "keras.scale_loss",
}


def test_every_public_factory_is_in_the_catalogue():
  public = (
    (
      _public_factories(optx)
      | _public_factories(optx.keras, "keras.")
      | _public_factories(optx.torch, "torch.")
    )
    - NOT_FACTORIES
    - {"keras", "torch"}
  )
  covered = {f.call for f in _factories()}
  assert public - covered == set(), "factories missing from the catalogue"
  print(f"\nbad-input catalogue: {len(CASES)} cases over {len(covered)} factories")
  assert len(CASES) >= 800


def test_check_dtype_is_ready_for_the_dtype_arguments():
  """The helper the *_dtype gaps above need: floating dtypes pass, others fail named."""
  from optx._src import validation

  for good in (None, jnp.float32, "bfloat16", np.float16, jnp.dtype("float64")):
    validation.check_dtype("adam", "mu_dtype", good)
  for _, bad, error in Dtype().bad():
    with pytest.raises(error, match=r"optx\.adam\(mu_dtype=\.\.\.\)"):
      validation.check_dtype("adam", "mu_dtype", bad)
