"""What every ``optx.torch`` optimizer shares: PyTorch's gradient prelude and plateau."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import validation as v
from optx.torch._plateau import ReduceLROnPlateau

Optimizer = optax.GradientTransformationExtraArgs


def gradient(g: jax.Array, p: jax.Array | None, lam: Any, maximize: bool) -> jax.Array:
  """PyTorch's first lines: negate for ``maximize``, then add ``λθ`` (coupled L2)."""
  g = -g if maximize else g
  return g if p is None else g + lam * p


def with_plateau(
  call: str,
  build: Callable[[base.ScalarOrSchedule], optax.GradientTransformation],
  lr: base.ScalarOrSchedule,
  plateau: Any,
) -> Optimizer:
  """``build(lr)``, its ``lr`` lowered by ``plateau`` if one is given."""
  if plateau is None:
    return optax.with_extra_args_support(build(lr))
  if isinstance(plateau, ReduceLROnPlateau):
    plateau = plateau.transform(lr)
  if not isinstance(plateau, plateau_lib.ReduceOnPlateau):
    raise TypeError(
      f"optx.{call}(plateau=...) must be an optx.torch.ReduceLROnPlateau(...) or an"
      f" optx.reduce_on_plateau(...) transform, got {plateau!r}"
    )
  return plateau_lib.with_plateau(build, lr, plateau)


def check_common(call: str, lr: Any, weight_decay: Any, maximize: bool) -> None:
  v.check_number(call, "lr", lr, lower=0)
  v.check_number(call, "weight_decay", weight_decay, lower=0)
  v.check_bool(call, "maximize", maximize)
