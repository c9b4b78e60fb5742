"""What every ``optx.torch`` optimizer shares: PyTorch's gradient prelude and plateau."""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable
from typing import Any
from typing import ParamSpec
from typing import TypeVar

import jax
import optax

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import validation as v
from optx.torch._plateau import ReduceLROnPlateau

Optimizer = optax.GradientTransformationExtraArgs

P = ParamSpec("P")
R = TypeVar("R")


def _parameter_list(value: Any) -> bool:
  """Whether ``value`` looks like PyTorch's ``params``: an iterable that is not
  an array, a schedule or a number (``model.parameters()``, a list of tensors,
  a list of parameter-group dicts)."""
  if isinstance(value, (numbers.Number, str, bytes)) or base.is_schedule(value):
    return False
  return hasattr(value, "__iter__") and not hasattr(value, "dtype")


def takes_no_parameters(optimizer: Callable[P, R]) -> Callable[P, R]:
  """Names the porting slip ``optx.torch.SGD(model.parameters(), lr=0.1)``.

  PyTorch's optimizers take the parameters first; optx's are transformations
  and take them in ``init``. Passed anyway, the list would land on ``lr``
  (or clash with ``lr=``): the error says what to write instead.
  """

  @functools.wraps(optimizer)
  def checked(*args: P.args, **kwargs: P.kwargs) -> R:
    if args and _parameter_list(args[0]):
      name = optimizer.__name__
      raise TypeError(
        f"optx.torch.{name} takes no parameter list: optx optimizers are optax"
        f" transformations. Write tx = optx.torch.{name}(lr=...), then"
        " state = tx.init(params) and updates, state = tx.update(grads, state,"
        f" params); got {type(args[0]).__name__} as its first argument"
      )
    return optimizer(*args, **kwargs)

  checked.__signature__ = inspect.signature(optimizer)  # pyright: ignore[reportAttributeAccessIssue]
  return checked


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
