"""``torch.optim.lr_scheduler.MultiplicativeLR``: the rate times a function, step after step."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core
from jax.typing import ArrayLike

from optx._src import schedules as schedules_lib
from optx._src import validation as v
from optx.torch import _twofloat as two
from optx.torch._schedulers import Multiplicative
from optx.torch._schedulers import check_function


def _constant(fn: Callable[[Any], ArrayLike]) -> bool:
  """Whether ``fn`` traces to a value that does not depend on its argument."""
  spec = jax.ShapeDtypeStruct((), jnp.float32)
  jaxpr = jax.make_jaxpr(lambda t: jnp.asarray(fn(t), jnp.float32))(spec).jaxpr
  live = set(jaxpr.invars)
  for eqn in jaxpr.eqns:
    if any(not isinstance(x, core.Literal) and x in live for x in eqn.invars):
      live.update(eqn.outvars)
  return not any(not isinstance(x, core.Literal) and x in live for x in jaxpr.outvars)


class _Products:
  """Products of ``fn(k)`` over runs of steps, in float64 on the host.

  ``cumulative(t)`` is the product over steps 1 to ``t``, kept every
  ``_EVERY`` steps and at the last step asked, so that a training loop asking
  for consecutive steps pays one call of ``fn`` per step.
  """

  _EVERY = 4096

  def __init__(self, fn: Callable[[int], Any]):
    self._fn = fn
    self._kept = [1.0]  # the product up to step i * _EVERY
    self._last = (0, 1.0)
    self._lock = threading.Lock()

  def _run(self, start: int, product: float, stop: int, keep: bool = False) -> float:
    for k in range(start + 1, stop + 1):
      product *= float(np.asarray(self._fn(k)))
      if keep and k % self._EVERY == 0 and k // self._EVERY == len(self._kept):
        self._kept.append(product)
    return product

  def cumulative(self, t: int) -> float:
    with self._lock:
      i = min(t // self._EVERY, len(self._kept) - 1)
      start, product = i * self._EVERY, self._kept[i]
      if start <= self._last[0] <= t:
        start, product = self._last
      product = self._run(start, product, t, keep=True)
      self._last = (t, product)
      return product

  def between(self, a: int, t: int) -> float:
    """The product over steps ``a + 1`` to ``t``."""
    if t - a <= 64:
      with self._lock:
        return self._run(a, 1.0, t) if t > a else 1.0
    before = self.cumulative(a)
    if before != 0.0 and np.isfinite(before):
      return self.cumulative(t) / before
    with self._lock:
      return self._run(a, 1.0, t)

  def __call__(self, a: jax.Array, t: jax.Array) -> two.Pair:
    def host(a, t):
      hi, lo = two.split64(self.between(int(a), int(t)))
      return np.asarray([hi, lo], np.float32)

    out = jax.ShapeDtypeStruct((2,), jnp.float32)
    pair = jax.pure_callback(host, out, a, t, vmap_method="sequential")
    return pair[0], pair[1]


class MultiplicativeLR(Multiplicative):
  r"""``torch.optim.lr_scheduler.MultiplicativeLR``: multiply by a function of the step, every step.

  .. math::
    \eta(t) = \eta_0 \prod_{k=1}^{t} \lambda(k)

  where :math:`\eta_0` is ``lr`` and :math:`\lambda` is ``lr_lambda``, called
  with each step :math:`k \ge 1` as a Python int, as PyTorch calls it (not at
  step 0: PyTorch's first step keeps the rate). PyTorch multiplies the rate
  recursively in float64; the product of float32 factors would drift by a
  rounding per step, so the product is taken in float64 instead. A function
  that returns a constant (``lambda epoch: 0.95``, PyTorch's example) is a
  power, :math:`\eta_0 \lambda^t`, computed in the graph at any step. Any
  other is called on the host with Python ints (a host round trip per update,
  about 0.2 ms on a CPU); the products are kept every 4096 steps and at the
  last step asked, so consecutive steps cost one call each, and the first
  step asked far ahead costs a call per step up to it.

  Args:
    lr: :math:`\eta_0` (>= 0).
    lr_lambda: :math:`\lambda`, a function of the step.

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> schedule = optx.torch.MultiplicativeLR(0.1, lambda epoch: 0.95)
    >>> print([f"{schedule(t):.5f}" for t in range(3)])
    ['0.10000', '0.09500', '0.09025']
    >>> schedule = optx.torch.MultiplicativeLR(1.0, lambda k: k / (k + 1))
    >>> print([f"{schedule(t):.4f}" for t in range(4)])  # 1 / (t + 1)
    ['1.0000', '0.5000', '0.3333', '0.2500']
  """

  def __init__(self, lr: ArrayLike, lr_lambda: Callable[[Any], ArrayLike]):
    call = "torch.MultiplicativeLR"
    v.check_number(call, "lr", lr, lower=0, schedule_ok=False)
    check_function(call, "lr_lambda", lr_lambda)
    self.lr, self.lr_lambda = lr, lr_lambda
    _, traces = schedules_lib.python_function(call, lr_lambda)  # checks the function
    if traces and _constant(lr_lambda):
      self._factor: float | None = float(np.asarray(lr_lambda(1)))
      self._products = None
    else:
      self._factor, self._products = None, _Products(lr_lambda)

  def _product(self, a, t):
    if self._products is None:
      return two.power(self._factor, jnp.maximum(t - a, 0))
    return self._products(jnp.asarray(a, jnp.int32), jnp.asarray(t, jnp.int32))

  def _entry_rate(self, t, previous):
    # PyTorch has no closed form for it: entered at a milestone, get_lr()
    # multiplies the rate it finds by lr_lambda(0).
    first = two.pair(float(np.asarray(self.lr_lambda(0))))
    return two.mul(two.mul(previous(), first), self._product(jnp.zeros_like(t), t))
