"""What every ``optx.torch`` optimizer shares: its checks, PyTorch's gradient prelude and plateau."""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ParamSpec
from typing import TypeVar

import jax
import optax

from optx._src import base
from optx._src import plateau as plateau_lib
from optx._src import validation as v
from optx.torch._onecycle import cycled_momentum
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


def optimizer(
  call: str,
  rule: Callable[..., Any],
  lr: base.ScalarOrSchedule,
  hyperparameters: Mapping[str, Any],
  *,
  plateau: Any,
  scalars: Callable[..., Mapping[str, Any]] | None = None,
  needs_params: bool | None = None,
  **options: Any,
) -> Optimizer:
  """A ``torch.optim`` optimizer: :func:`base.leafwise` of its per-leaf ``rule``.

  The rule gets ``hyperparameters`` and the rate, as ``lr``; complex leaves as
  (real, imaginary) pairs, as PyTorch's ``view_as_real``; and the parameters
  unless its weight decay ``lam`` is the number 0 (or as ``needs_params``
  says). Where ``scalars`` turn the step's hyperparameters into the rule's
  (they read the step: the state keeps a count), they get the rate at the
  step as ``lr_t``, and the rate itself as ``lr`` for its Python number
  (:func:`optx.torch._twofloat.number`). A ``plateau`` lowers the rate;
  ``options`` are :func:`base.leafwise`'s.
  """
  if needs_params is None:
    needs_params = not base.is_literal_zero(hyperparameters["lam"])

  def build(rate: base.ScalarOrSchedule) -> optax.GradientTransformation:
    step = None if scalars is None else functools.partial(scalars, lr=rate)
    named = dict(lr=rate) if scalars is None else dict(lr_t=rate)
    return base.leafwise(
      call,
      rule,
      {**named, **hyperparameters},
      scalars=step,
      needs_count=scalars is not None,
      needs_params=needs_params,
      complex_as_pairs=True,
      **options,
    )

  return with_plateau(call, build, lr, plateau)


def checked(call: str, lr: Any, weight_decay: Any, maximize: bool) -> str:
  """``call``, once the arguments every ``torch.optim`` optimizer takes are checked."""
  v.check_number(call, "lr", lr, lower=0)
  v.check_number(call, "weight_decay", weight_decay, lower=0)
  v.check_bool(call, "maximize", maximize)
  return call


def betas(call: str, lr: Any, betas: Any) -> tuple[Any, Any]:
  """PyTorch's ``betas``, checked: ``(beta1, beta2)``, ``beta1`` replaced by the
  momentum a :class:`OneCycleLR` ``lr`` cycles."""
  if (
    isinstance(betas, (str, bytes))
    or not isinstance(betas, Sequence)
    or len(betas) != 2
  ):
    raise TypeError(
      f"optx.{call}(betas=...) must be a pair (beta1, beta2), got {betas!r}"
    )
  v.check_betas(call, **{f"betas[{i}]": beta for i, beta in enumerate(betas)})
  return cycled_momentum(lr) or betas[0], betas[1]


def moment_rates(beta1: Any, beta2: Any) -> dict[str, Any]:
  """The rules' names for the moments' rates: β1, 1 − β1, β2 and 1 − β2."""
  return dict(b1=beta1, w1=base.one_minus(beta1), b2=beta2, w2=base.one_minus(beta2))


def check_no_cycled_momentum(call: str, lr: Any) -> None:
  """Refuses a :class:`OneCycleLR` ``lr`` that cycles a momentum the optimizer
  lacks, as PyTorch does."""
  if cycled_momentum(lr) is not None:
    raise ValueError(
      f"optx.{call}(lr=OneCycleLR(cycle_momentum=True)): {call.removeprefix('torch.')}"
      " has no momentum to cycle (PyTorch raises too); pass cycle_momentum=False"
    )
