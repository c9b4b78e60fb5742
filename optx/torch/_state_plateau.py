"""ReduceLROnPlateau between PyTorch and optx: PyTorch's lowered rate <-> optx's scale.

PyTorch keeps the lowered rate itself; optx keeps a scale of the rate. The two
are matched by the number of reductions, each rounded as its own side rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from optx._src import base
from optx._src import plateau as plateau_lib
from optx.torch._state_format import MAX_REDUCTIONS

# ----------------------------------------------------------------------------
# ReduceLROnPlateau: PyTorch's lowered rate <-> optx's scale, by the number of reductions.


def torch_rates(lr: float, factor: float, min_lr: float, eps: float) -> list[float]:
  """PyTorch's rate after 0, 1, 2, ... reductions (``_reduce_lr``), while it changes."""
  rates = [lr]
  while len(rates) < MAX_REDUCTIONS:
    new = max(rates[-1] * factor, min_lr)
    if not rates[-1] - new > eps:
      break
    rates.append(new)
  return rates


def optx_scales(config: plateau_lib.PlateauConfig) -> list[np.float32]:
  """optx's scale after 0, 1, 2, ... reductions (its ``rule="torch"``), in float32."""
  factor, floor, eps = (
    np.float32(config.factor),
    np.float32(config.min_scale),
    np.float32(config.eps),
  )
  scales = [np.float32(1.0)]
  while len(scales) < MAX_REDUCTIONS:
    reduced = np.maximum(scales[-1] * factor, floor)
    if not scales[-1] - reduced > eps:
      break
    scales.append(reduced)
  return scales


def reductions(call: str, sequence: Sequence[Any], value: float, what: str) -> int:
  """The number of reductions after which ``sequence`` reaches ``value``."""
  if value <= 0 or sequence[0] <= 0:
    return 0
  logs = np.log(np.asarray(sequence, np.float64))
  k = int(np.argmin(np.abs(logs - math.log(value))))
  if abs(float(sequence[k]) / value - 1) > 1e-4:
    raise ValueError(
      f"optx.{call}: {what} is {value!r}, which is no whole number of"
      f" ReduceLROnPlateau reductions of {float(sequence[0])!r} (the nearest is"
      f" {float(sequence[k])!r}, after {k})"
    )
  return k


def check_plateau(
  call: str, config: plateau_lib.PlateauConfig, theirs: Mapping
) -> None:
  """PyTorch's scheduler and the optx plateau decide alike."""
  pairs = [
    ("mode", theirs.get("mode"), config.mode),
    ("threshold_mode", theirs.get("threshold_mode"), config.threshold_mode),
    ("patience", theirs.get("patience"), int(config.patience)),
    ("cooldown", theirs.get("cooldown"), int(config.cooldown)),
    ("factor", np.float32(theirs.get("factor")), np.float32(config.factor)),
    ("threshold", np.float32(theirs.get("threshold")), np.float32(config.min_delta)),
  ]
  if config.rule != "torch":
    raise ValueError(
      f"optx.{call}: the optx plateau follows Keras's rule; a PyTorch"
      " ReduceLROnPlateau needs optx.torch.ReduceLROnPlateau(...) as plateau="
    )
  for key, their, our in pairs:
    if their != our:
      raise ValueError(
        f"optx.{call}: the PyTorch ReduceLROnPlateau has {key}={their!r}, the optx"
        f" plateau {our!r}: build optx.torch.ReduceLROnPlateau with the same"
        " arguments"
      )
  min_lrs = {float(x) for x in theirs.get("min_lrs", [0.0])}
  if len(min_lrs) > 1:
    raise ValueError(
      f"optx.{call}: the PyTorch ReduceLROnPlateau has one min_lr per group"
      f" ({sorted(min_lrs)}); optx's has one"
    )


def base_lr(
  call: str, config: plateau_lib.PlateauConfig, theirs: Mapping, lr: Any
) -> float:
  """The optimizer's ``lr`` before any reduction.

  PyTorch keeps only the lowered rate; optx's plateau keeps ``eps`` and
  ``min_lr`` divided by the optimizer's ``lr``, from which it follows.
  """
  if lr is not None:
    if base.is_schedule(lr):
      raise ValueError(
        f"optx.{call}(lr=...) must be a number with a ReduceLROnPlateau (a rate"
        " it lowers), got a schedule"
      )
    return float(lr)
  if float(config.eps) > 0:
    return float(theirs["eps"]) / float(config.eps)
  if 0 < float(config.min_scale) < 1:
    return float(theirs["min_lrs"][0]) / float(config.min_scale)
  raise ValueError(
    f"optx.{call}: with eps=0 and min_lr=0 the optx plateau does not know the"
    " optimizer's lr: pass lr= (the lr both optimizers were built with)"
  )


def plateau_in(
  call: str, plateau: Any, theirs: Mapping, current_lr: float, lr: Any
) -> Any:
  """The optx plateau state of PyTorch's scheduler and lowered rate."""
  config = plateau.config
  check_plateau(call, config, theirs)
  lr0 = base_lr(call, config, theirs, lr)
  rates = torch_rates(
    lr0, float(theirs["factor"]), float(theirs["min_lrs"][0]), float(theirs["eps"])
  )
  k = reductions(call, rates, current_lr, "PyTorch's current lr")
  scales = optx_scales(config)
  return plateau._replace(
    scale=base.fresh(scales[min(k, len(scales) - 1)], jnp.float32),
    best=base.fresh(float(theirs["best"]), jnp.float32),
    wait=base.fresh(int(theirs["num_bad_epochs"]), jnp.int32),
    cooldown_counter=base.fresh(int(theirs["cooldown_counter"]), jnp.int32),
  )


def lowered(call: str, plateau: Any, lr: float, min_lr: float, eps: float) -> float:
  """PyTorch's rate after the plateau's reductions so far, from ``lr``."""
  scales = optx_scales(plateau.config)
  k = reductions(call, scales, float(plateau.scale), "the plateau's scale")
  rates = torch_rates(lr, float(plateau.config.factor), min_lr, eps)
  return rates[min(k, len(rates) - 1)]
