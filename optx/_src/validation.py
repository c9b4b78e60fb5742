"""Eager argument checks shared by every factory.

Only concrete values are checked: a traced value (under ``jit`` or ``vmap``)
and a schedule pass through untouched, so hyperparameters stay traceable.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import core

# Hyperparameters live in float32 and step counts in int32 (see base.py), so a
# value outside these ranges would become inf or overflow later, far from the
# call that received it.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT32 = np.iinfo(np.int32)


def _is_traced(value: Any) -> bool:
  return isinstance(value, core.Tracer)


def concrete(value: Any) -> float | None:
  """``value`` as a Python float, or None when it is traced, a schedule or not a number."""
  if _is_traced(value) or (callable(value) and not isinstance(value, jax.Array)):
    return None
  try:
    return float(np.asarray(value))
  except (TypeError, ValueError):
    return None


def _concrete_scalar(call: str, name: str, value: Any, what: str) -> float | None:
  """Returns ``value`` as a Python float, or None when it cannot be checked now."""
  if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
    raise TypeError(
      f"optx.{call}({name}=...) must be {what}, got {value!r} ({type(value).__name__})"
    )
  if isinstance(value, numbers.Real):
    try:
      return float(value)
    except OverflowError:  # an int beyond float64, e.g. 10**400
      return math.inf if value > 0 else -math.inf  # pyright: ignore[reportOperatorIssue]
  if _is_traced(value):
    return None
  if isinstance(value, (np.ndarray, np.generic, jax.Array)):
    array = np.asarray(value)
    # jnp.issubdtype also knows the ml_dtypes floats (bfloat16, float8).
    if array.dtype == bool or not (
      jnp.issubdtype(array.dtype, jnp.floating)
      or jnp.issubdtype(array.dtype, jnp.integer)
    ):
      raise TypeError(
        f"optx.{call}({name}=...) must be {what}, got an array of dtype {array.dtype}"
      )
    if array.shape != ():
      raise ValueError(
        f"optx.{call}({name}=...) must be a scalar, got an array of shape {array.shape}"
      )
    return float(array)
  raise TypeError(
    f"optx.{call}({name}=...) must be {what}, got {value!r} ({type(value).__name__})"
  )


def check_number(
  call: str,
  name: str,
  value: Any,
  *,
  lower: float | None = None,
  upper: float | None = None,
  lower_open: bool = False,
  upper_open: bool = False,
  schedule_ok: bool = True,
) -> None:
  """Checks that a concrete ``value`` is a finite real number in a range.

  Args:
    call: the public name of the factory, e.g. ``"adam"``.
    name: the argument's name, e.g. ``"b1"``.
    value: what the user passed.
    lower: smallest allowed value (None: unbounded).
    upper: largest allowed value (None: unbounded).
    lower_open: whether ``lower`` itself is excluded.
    upper_open: whether ``upper`` itself is excluded.
    schedule_ok: whether a callable (a schedule) is accepted.

  Raises:
    TypeError: ``value`` is not a number (or a schedule where one is allowed).
    ValueError: ``value`` is NaN, infinite (in float32) or out of range.
  """
  what = "a float, a scalar array or a schedule" if schedule_ok else "a number"
  if callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
    if schedule_ok:
      return
    raise TypeError(
      f"optx.{call}({name}=...) must be {what}, got the callable {value!r}"
    )
  number = _concrete_scalar(call, name, value, what)
  if number is None:
    return
  if not math.isfinite(number):
    raise ValueError(f"optx.{call}({name}=...) must be finite, got {number}")
  if abs(number) > _FLOAT32_MAX:
    raise ValueError(
      f"optx.{call}({name}=...) must be finite in float32 (|x| <="
      f" {_FLOAT32_MAX:.7g}), got {number}"
    )
  if lower is not None and (number < lower or (lower_open and number == lower)):
    sign = ">" if lower_open else ">="
    raise ValueError(f"optx.{call}({name}=...) must be {sign} {lower}, got {number}")
  if upper is not None and (number > upper or (upper_open and number == upper)):
    sign = "<" if upper_open else "<="
    raise ValueError(f"optx.{call}({name}=...) must be {sign} {upper}, got {number}")
  # Hyperparameters are float32 scalars (base.value_at): an open bound must
  # also hold there, or 1 - 1e-8 becomes 1 and a bias correction divides by 0.
  for bound, is_open, sign in ((lower, lower_open, ">"), (upper, upper_open, "<")):
    if is_open and bound is not None and np.float32(number) == np.float32(bound):
      raise ValueError(
        f"optx.{call}({name}=...) must be {sign} {bound} in float32, where"
        f" {number!r} rounds to {float(np.float32(number))!r}"
      )


def check_constant(
  call: str, name: str, value: Any, *, lower: float | None = None, **bounds: Any
) -> None:
  """:func:`check_number` for a number that may not be a schedule."""
  check_number(call, name, value, lower=lower, schedule_ok=False, **bounds)


def check_betas(call: str, **betas: Any) -> None:
  """Checks that each decay rate (a moment's :math:`\\beta`) is in [0, 1)."""
  for name, beta in betas.items():
    check_number(call, name, beta, lower=0, upper=1, upper_open=True)


def check_moments(
  call: str, b1: Any, b2: Any, eps: Any, mu_dtype: Any, nu_dtype: Any
) -> None:
  """Checks Adam's moment arguments: the betas in [0, 1), ``eps >= 0``, the dtypes."""
  check_betas(call, b1=b1, b2=b2)
  check_number(call, "eps", eps, lower=0)
  check_dtypes(call, mu_dtype=mu_dtype, nu_dtype=nu_dtype)


def check_factor(call: str, name: str, value: Any) -> None:
  """Checks that ``value`` is a number strictly between 0 and 1 (a plateau's factor)."""
  check_constant(call, name, value, lower=0, upper=1, lower_open=True, upper_open=True)


def check_piecewise(call: str, boundaries: Any, values: Any) -> None:
  """Checks that ``boundaries`` and ``values`` are sequences, one value per interval."""
  for name, seq in (("boundaries", boundaries), ("values", values)):
    if isinstance(seq, (str, bytes)) or not isinstance(seq, (Sequence, np.ndarray)):
      raise TypeError(f"optx.{call}({name}=...) must be a sequence, got {seq!r}")
  if len(values) != len(boundaries) + 1:
    raise ValueError(
      f"optx.{call}(values=...) must have len(boundaries) + 1 ="
      f" {len(boundaries) + 1} entries, got {len(values)}"
    )


def check_integer(
  call: str, name: str, value: Any, *, lower: int | None = None
) -> None:
  """Checks that ``value`` is a concrete integer (not a bool) ``>= lower``.

  The integer must also fit in int32, the dtype of every step counter.
  """
  if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
    if _is_traced(value):
      return
    raise TypeError(
      f"optx.{call}({name}=...) must be an integer, got {value!r}"
      f" ({type(value).__name__})"
    )
  if lower is not None and int(value) < lower:
    raise ValueError(f"optx.{call}({name}=...) must be >= {lower}, got {int(value)}")
  if not _INT32.min <= int(value) <= _INT32.max:
    raise ValueError(
      f"optx.{call}({name}=...) must fit in int32 ([{_INT32.min}, {_INT32.max}]),"
      f" got {int(value)}"
    )


def check_choice(call: str, name: str, value: Any, choices: Sequence[Any]) -> None:
  """Checks that ``value`` is one of ``choices``."""
  if value not in choices:
    raise ValueError(
      f"optx.{call}({name}=...) must be one of {list(choices)}, got {value!r}"
    )


def check_bool(call: str, name: str, value: Any) -> None:
  """Checks that ``value`` is a Python bool."""
  if not isinstance(value, bool):
    raise TypeError(
      f"optx.{call}({name}=...) must be a bool, got {value!r} ({type(value).__name__})"
    )


def check_dtypes(call: str, **dtypes: Any) -> None:
  """:func:`check_dtype` for each keyword argument."""
  for name, dtype in dtypes.items():
    check_dtype(call, name, dtype)


def check_dtype(call: str, name: str, value: Any) -> None:
  """Checks that ``value`` is None or names a floating dtype (a state's ``*_dtype``)."""
  if value is None:
    return
  try:
    dtype = jnp.dtype(value)
  except TypeError as error:
    raise TypeError(
      f"optx.{call}({name}=...) must be None or a floating dtype, got {value!r}"
    ) from error
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(
      f"optx.{call}({name}=...) must be None or a floating dtype, got {dtype}"
    )
