"""Pairs of float32 that carry about 44 bits, for PyTorch's float64 scheduler arithmetic.

PyTorch's schedulers compute in Python floats (float64), recursively:
``ExponentialLR`` multiplies the rate by γ at every step, so after ``t`` steps
its value is ``lr·γᵗ`` to float64 rounding. In float32, ``γᵗ`` with γ rounded
to float32 is off by ``t`` times γ's rounding (3e-6 relative at ``t = 100``),
and a chain of factors adds a rounding per factor. Here a value is a pair
``(hi, lo)`` of float32 whose sum carries about 44 bits (Dekker's double-float
arithmetic): factors are multiplied in pairs and the result is rounded to
float32 once, which gives PyTorch's float64 value to float32 rounding.

XLA compiles float32 arithmetic with two liberties that these error-free
transformations cannot take: its algebraic simplifier reassociates sums with
constants, and its CPU and GPU backends fuse a product into the sum that uses
it (one rounding instead of two, differently in each fused kernel that
recomputes it). So every rounded result goes through an optimization barrier,
and every product here is exact: numbers are split into halves of 12 bits
by masking their bits, not by Veltkamp's multiplication, and a fused
multiply-add of an exact product rounds as the sum does. Only values above about 1e-30 keep the full precision, since
``lo`` is about 2**-24 times smaller than ``hi`` and float32 stops near 1e-38.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from typing import TypeAlias

import jax
import jax.numpy as jnp
import numpy as np

from optx._src import validation as v

Pair: TypeAlias = tuple[jax.Array, jax.Array]

_F32 = jnp.float32


def _exact(x: jax.Array) -> jax.Array:
  # XLA's algebraic simplifier reassociates sums with constants ((a + c) - c
  # becomes a), which erases the rounding errors these functions compute;
  # the barrier keeps each rounded result as it is.
  return jax.lax.optimization_barrier(x)


def _split(a: jax.Array) -> Pair:
  # hi keeps the top 12 of a's 24 significant bits, lo = a - hi (exact) the
  # others, so that the product of two halves is exact.
  bits = jax.lax.bitcast_convert_type(a, jnp.uint32) & np.uint32(0xFFFFF000)
  hi = jax.lax.bitcast_convert_type(bits, _F32)
  return hi, _exact(a - hi)


def _two_sum(a: jax.Array, b: jax.Array) -> Pair:
  # Knuth: s + e == a + b exactly, whatever the magnitudes.
  s = _exact(a + b)
  c = _exact(s - a)
  return s, (a - _exact(s - c)) + (b - c)


def _fast_two_sum(a: jax.Array, b: jax.Array) -> Pair:
  # Exact for |a| >= |b|: s + e == a + b. An infinite a or s keeps e = 0, so
  # that an overflow gives inf, not NaN.
  zero = np.float32(0.0)
  b = jnp.where(jnp.isfinite(a), b, zero)
  s = _exact(a + b)
  e = b - _exact(s - a)
  return s, jnp.where(jnp.isfinite(s), e, zero)


def split64(number: float) -> tuple[np.float32, np.float32]:
  """A float64 as the float32 nearest it and the float32 nearest the rest."""
  with np.errstate(over="ignore"):  # beyond float32: inf, as PyTorch's float32 cast
    hi = np.float32(number)
  lo = np.float32(number - float(hi)) if math.isfinite(hi) else np.float32(0.0)
  return hi, lo


def pair(value: Any) -> Pair:
  """A number as a pair: a Python float to 44 bits; a traced value as float32."""
  number = v.concrete(value)
  if number is None:
    return jnp.asarray(value, _F32), jnp.zeros((), _F32)
  hi, lo = split64(number)
  return jnp.asarray(hi), jnp.asarray(lo)


def of(fn: Callable[..., Any], *values: Any) -> Pair:
  """``fn(*values)`` in float64 when the values are concrete, else in float32."""
  numbers = [v.concrete(x) for x in values]
  if all(n is not None for n in numbers):
    return pair(fn(*numbers))
  return pair(fn(*(jnp.asarray(x, _F32) for x in values)))


ONE: Pair = (np.float32(1.0), np.float32(0.0))  # pyright: ignore[reportAssignmentType]


def integer(n: jax.Array) -> Pair:
  """An int32 exactly, as the float32 of its top 23 bits plus its low 8."""
  n = jnp.asarray(n, jnp.int32)
  top = (n >> 8) << 8
  return _fast_two_sum(top.astype(_F32), (n - top).astype(_F32))


def mul(x: Pair, y: Pair) -> Pair:
  """x·y."""
  (ah, al), (bh, bl) = _split(x[0]), _split(y[0])
  # x0·y0 = ah·bh + (ah·bl + al·bh) + al·bl, each product exact.
  s, e1 = _two_sum(ah * bh, ah * bl)
  s, e2 = _two_sum(s, al * bh)
  low = (e1 + e2) + al * bl + (x[0] * y[1] + x[1] * y[0])
  # An overflow is inf, not NaN. Below 2**-100 the cross products are
  # subnormal, which XLA flushes to zero: the plain float32 product is better.
  plain = x[0] * y[0]
  precise = jnp.isfinite(s) & (jnp.abs(plain) >= np.float32(2.0**-100))
  s = jnp.where(precise, s, plain)
  return _fast_two_sum(s, jnp.where(precise, low, np.float32(0.0)))


def add(x: Pair, y: Pair) -> Pair:
  """x + y."""
  s, e = _two_sum(x[0], y[0])
  return _fast_two_sum(s, e + x[1] + y[1])


def negative(x: Pair) -> Pair:
  """-x."""
  return -x[0], -x[1]


def div(x: Pair, y: Pair) -> Pair:
  """x / y."""
  q = _exact(x[0] / y[0])
  r = add(x, negative(mul((q, jnp.zeros_like(q)), y)))
  return _fast_two_sum(q, r[0] / y[0])


def where(condition: jax.Array, x: Pair, y: Pair) -> Pair:
  """x where ``condition``, else y."""
  return jnp.where(condition, x[0], y[0]), jnp.where(condition, x[1], y[1])


def power(base: Any, k: jax.Array) -> Pair:
  """``base**k`` for an int32 ``k >= 0``, to 44 bits when ``base`` is a Python number.

  The product of the float64 powers ``base**(2**i)`` for the bits of ``k``:
  about 31 roundings of 2**-46, where squaring a float32 ``base`` would
  multiply its rounding by ``k``. A traced ``base`` is float32, and so is its
  power.
  """
  k = jnp.asarray(k, jnp.int32)
  number = v.concrete(base)
  if number is None:
    b = jnp.asarray(base, _F32)
    return b ** k.astype(_F32), jnp.zeros((), _F32)
  # A loop over the 31 bits, not 31 unrolled products: one small program,
  # compiled once (eagerly too), where the unrolled one took seconds to compile.
  start = (jnp.float32(1.0), jnp.float32(0.0))
  (result, _), _ = jax.lax.scan(_times_if_bit, (start, k), _bit_powers(number))
  return result


def _bit_powers(number: float) -> tuple[np.ndarray, ...]:
  # base**(2**i) for i < 31 as pairs, whether bit i multiplies by it (not by
  # 1), and whether it is 0 (then so are the higher ones: k >= 2**i gives 0).
  entries = []
  for i in range(31):
    try:
      entries.append(number ** (2**i))
    except OverflowError:
      entries.append(math.inf)
  first_zero = next((i for i, x in enumerate(entries) if x == 0.0), 31)
  his, los = zip(*map(split64, entries), strict=True)
  index = np.arange(31, dtype=np.int32)
  zero = index >= first_zero
  multiplies = ~zero & (np.asarray(entries) != 1.0)
  return np.asarray(his), np.asarray(los), index, multiplies, zero


def _times_if_bit(carry: tuple[Pair, jax.Array], entry: Any) -> Any:
  result, k = carry
  hi, lo, i, multiplies, zero = entry
  result = where(multiplies & (((k >> i) & 1) == 1), mul(result, (hi, lo)), result)
  result = where(zero & (k >= (1 << i)), pair(0.0), result)
  return (result, k), None


def real_power(x: Pair, exponent: Any) -> Pair:
  """``x**exponent`` for ``x >= 0`` and a real ``exponent >= 0``.

  XLA's float32 ``pow`` is correctly rounded on a CPU; the low parts of x and
  of a Python ``exponent`` enter to first order:
  :math:`x^p \\approx x_0^{p_0}(1 + p_0 x_1/x_0 + p_1 \\ln x_0)`.
  """
  p = pair(exponent)
  main = x[0] ** p[0]
  positive = x[0] > 0
  safe = jnp.where(positive, x[0], np.float32(1.0))
  first_order = p[0] * (x[1] / safe) + p[1] * jnp.log(safe)
  result = mul(
    (main, jnp.zeros_like(main)), add(ONE, (first_order, jnp.zeros_like(main)))
  )
  return where(positive, result, (main, jnp.zeros_like(main)))


def sqrt(x: Pair) -> Pair:
  """√x for x >= 0: float32's root of the high part and one Newton correction."""
  root = jnp.sqrt(x[0])
  zero = jnp.zeros_like(root)
  residual = add(x, negative(mul((root, zero), (root, zero))))  # x − root²
  safe = jnp.where(root > 0, root, np.float32(1.0))
  correction = jnp.where(root > 0, residual[0] / (np.float32(2.0) * safe), zero)
  return _fast_two_sum(root, correction)


def number(value: Any, evaluated: jax.Array) -> Pair:
  """A hyperparameter as a pair: its Python number to 44 bits, else ``evaluated``
  (its float32 value at this step)."""
  return pair(value) if v.concrete(value) is not None else pair(evaluated)


def scalar(value: Any, evaluated: jax.Array) -> Any:
  """A hyperparameter for :func:`power`'s base: the Python number itself (so its
  powers are taken in float64), else ``evaluated``."""
  return value if v.concrete(value) is not None else evaluated


def value(x: Pair) -> jax.Array:
  """The float32 nearest x."""
  return x[0] + x[1]
