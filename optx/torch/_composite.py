"""``SequentialLR`` and ``ChainedScheduler``: PyTorch's schedulers composed as PyTorch composes them.

PyTorch composes schedulers through the optimizer's rate, which each
``step()`` rewrites: most of them multiply it, some set it from their base
rate. These replay that, in closed form, from what each optx scheduler says
its ``step()`` does (:class:`~optx.torch._schedulers.Scheduler`).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optx._src import validation as v
from optx.torch import _twofloat as two
from optx.torch._cosine import CosineAnnealingLR
from optx.torch._cyclic import CyclicLR
from optx.torch._onecycle import OneCycleLR
from optx.torch._plateau import ReduceLROnPlateau
from optx.torch._schedulers import Multiplicative
from optx.torch._schedulers import Scheduler
from optx.torch._schedulers import check_steps
from optx.torch._schedulers import epoch

_INT32_MAX = 2**31 - 1


def _check_schedulers(call: str, schedulers: Any) -> list[Scheduler]:
  if isinstance(schedulers, (str, bytes)) or not isinstance(schedulers, Sequence):
    raise TypeError(
      f"optx.{call}(schedulers=...) must be a sequence of optx.torch schedulers,"
      f" got {schedulers!r}"
    )
  if len(schedulers) < 1:
    raise ValueError(f"optx.{call}(schedulers=...) needs at least one scheduler")
  for i, s in enumerate(schedulers):
    if isinstance(s, ReduceLROnPlateau):
      raise ValueError(
        f"optx.{call}(schedulers=...): schedulers[{i}] is a ReduceLROnPlateau, which"
        " needs a metric (PyTorch refuses it too); pass it as the optimizer's plateau="
      )
    if not isinstance(s, Scheduler):
      raise TypeError(
        f"optx.{call}(schedulers=...): schedulers[{i}] must be an optx.torch"
        f" scheduler, got {s!r}"
      )
    if isinstance(s, SequentialLR) or (
      isinstance(s, ChainedScheduler) and call == "torch.SequentialLR"
    ):
      raise ValueError(
        f"optx.{call}(schedulers=...): schedulers[{i}] is a {type(s).__name__}, which"
        " PyTorch cannot compose here (it has no get_lr() to enter at a milestone,"
        " and its step() steps every scheduler it holds)"
      )
  return list(schedulers)


def _built(call: str, schedulers: list[Scheduler]) -> tuple[list[Any], Any]:
  """PyTorch's base rate of each scheduler, and the optimizer's initial_lr after all.

  PyTorch's schedulers share one optimizer, built in the order given: the
  first records its rate as ``initial_lr`` (a CyclicLR its ``base_lr``, which
  it has just set), a OneCycleLR overwrites it with ``max_lr/div_factor``,
  and each takes ``initial_lr`` as its base rate when it is built. The
  schedulers' own ``lr`` must therefore agree: it is the optimizer's.
  """
  rates = [getattr(s, "lr") for s in schedulers if hasattr(s, "lr")]  # noqa: B009
  concrete = {x for x in map(v.concrete, rates) if x is not None}
  if len(concrete) > 1:
    raise ValueError(
      f"optx.{call}(schedulers=...) must share one lr (PyTorch's optimizer rate),"
      f" got {sorted(concrete)}"
    )
  initial, bases = None, []
  for s in schedulers:
    if isinstance(s, OneCycleLR):
      initial = _quotient(s.max_lr, s.div_factor)
    elif initial is None:
      initial = s.base_lr if isinstance(s, CyclicLR) else getattr(s, "lr")  # noqa: B009
    bases.append(initial)
  return bases, initial


def _quotient(a: Any, b: Any) -> Any:
  x, y = v.concrete(a), v.concrete(b)
  if x is not None and y is not None:
    return x / y
  return jnp.asarray(a, jnp.float32) / jnp.asarray(b, jnp.float32)


def _with_lr(s: Scheduler, lr: Any) -> Scheduler:
  """``s`` with the base rate ``lr``, if it has one."""
  if not hasattr(s, "lr") or getattr(s, "lr") is lr:  # noqa: B009
    return s
  s = copy.copy(s)
  setattr(s, "lr", lr)  # noqa: B010
  return s


class SequentialLR(Scheduler):
  r"""``torch.optim.lr_scheduler.SequentialLR``: one scheduler after another, at milestones.

  .. math::
    \eta(t) = \eta_i(t - m_i) \quad \text{for } m_i \le t < m_{i+1}

  where :math:`\eta_i` is ``schedulers[i]`` and :math:`m_i` is
  ``milestones[i - 1]`` (:math:`m_0 = 0`): at step == milestone the next
  scheduler starts, from its own step 0. This is what PyTorch's ``step()``
  does, which enters a scheduler at its milestone with its closed form at
  step 0 (or ``get_lr()`` where it has none), then steps it. For most
  schedulers that is their own value at the local step, with these
  exceptions, reproduced: a ``MultiplicativeLR`` multiplies the rate it finds
  (the previous scheduler's last) by ``lr_lambda(0)``, then goes on; a
  ``ConstantLR(total_iters=0)`` gives ``lr`` (its closed form), not
  ``lr·factor``; a ``LinearLR`` or ``PolynomialLR`` with ``total_iters=0``
  raises here (PyTorch divides by zero at the milestone). A milestone 0 makes
  the next scheduler the first.

  The schedulers share PyTorch's optimizer, so their ``lr`` must agree. As in
  PyTorch, built in the order given, each takes the optimizer's
  ``initial_lr`` as its base rate: that is ``lr``, unless a ``CyclicLR`` came
  first (its ``base_lr``) or a ``OneCycleLR`` came before (its
  ``max_lr/div_factor``); the first scheduler starts from the last
  ``initial_lr``. The momentum that a ``CyclicLR`` or ``OneCycleLR`` cycles
  is theirs while they run, and stays where they left it after (before, at
  their step-0 value, which PyTorch writes when it builds them).

  Args:
    schedulers: optx.torch schedulers (not composites, not ReduceLROnPlateau).
    milestones: ``len(schedulers) - 1`` non-decreasing steps (>= 0).

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> warmup = optx.torch.LinearLR(0.1, start_factor=0.1, total_iters=2)
    >>> cosine = optx.torch.CosineAnnealingLR(0.1, T_max=4)
    >>> schedule = optx.torch.SequentialLR([warmup, cosine], milestones=[2])
    >>> print([f"{schedule(t):.4f}" for t in range(7)])
    ['0.0100', '0.0550', '0.1000', '0.0854', '0.0500', '0.0146', '0.0000']
  """

  def __init__(self, schedulers: Sequence[Scheduler], milestones: Sequence[int]):
    call = "torch.SequentialLR"
    schedulers = _check_schedulers(call, schedulers)
    check_steps(call, "milestones", milestones)
    if len(milestones) != len(schedulers) - 1:
      raise ValueError(
        f"optx.{call}(milestones=...) must have one milestone fewer than the"
        f" {len(schedulers)} schedulers, got {list(milestones)!r}"
      )
    milestones = [int(m) for m in milestones]
    if milestones != sorted(milestones):
      raise ValueError(
        f"optx.{call}(milestones=...) must be non-decreasing, got {milestones!r}"
      )
    self.schedulers, self.milestones = schedulers, milestones
    self._first = bisect.bisect_right(milestones, 0)  # the scheduler at step 0
    bases, initial = _built(call, schedulers)
    self._based = [_with_lr(s, b) for s, b in zip(schedulers, bases, strict=True)]
    self._initial = initial  # the rate PyTorch resets before the first step
    for i in range(self._first + 1, len(schedulers)):
      reason = schedulers[i]._milestone_error()
      if reason is not None:
        raise ValueError(
          f"optx.{call}(schedulers=...): schedulers[{i}] = {schedulers[i]!r} cannot"
          f" start at milestone {milestones[i - 1]}: {reason}"
        )

  def _start(self, i: int) -> int:
    return 0 if i <= self._first else self.milestones[i - 1]

  def _switch(self, t: jax.Array, branch: Callable[[int, jax.Array], Any]) -> Any:
    """``branch(i, t - start of i)`` for the scheduler ``i`` running at step ``t``."""
    branches = [
      lambda t, i=i: branch(i, jnp.maximum(t - self._start(i), 0))
      for i in range(len(self.schedulers))
    ]
    if len(branches) == 1:
      return branches[0](t)
    bounds = jnp.asarray(self.milestones, jnp.int32)
    index = jnp.searchsorted(bounds, t, side="right").astype(jnp.int32)
    return jax.lax.switch(index, branches, t)

  def _segment_rate(self, i: int, local: jax.Array) -> two.Pair:
    s = self._based[i]
    if i <= self._first:
      # The first one's first step finds initial_lr, which a OneCycleLR built
      # after it may have changed.
      start = two.pair(self._initial)
      if isinstance(s, CosineAnnealingLR):
        return s._rate_from(local, start)
      if isinstance(s, Multiplicative):
        return two.mul(start, s._multiplier(local))
      return s._rate(local)
    # The rate PyTorch finds at the milestone: the last one before it, which
    # an earlier scheduler set (a step known now, so no recursion into i).
    before = self.milestones[i - 1] - 1
    j = bisect.bisect_right(self.milestones, before)
    local_before = jnp.asarray(before - self._start(j), jnp.int32)
    previous = lambda: self._segment_rate(j, local_before)  # noqa: E731
    return s._entry_rate(local, previous)

  def _rate(self, t):
    return self._switch(t, self._segment_rate)

  def _cycled_momentum(self):
    cycled = [s._cycled_momentum() for s in self.schedulers]
    built = [m for m in cycled if m is not None]
    if not built:
      return None
    # Where the momentum stands while scheduler i runs, if i does not cycle
    # it: where the last one that ran and cycled left it, else where the last
    # one built put it.
    ends = [*self.milestones[self._first :], None]
    held = {}
    for i in range(len(self.schedulers)):
      held[i] = (built[-1], 0)
      for j in range(self._first, i):
        end = ends[j - self._first]
        if cycled[j] is not None and end is not None and end > self._start(j):
          held[i] = (cycled[j], end - 1 - self._start(j))

    def momentum(count):
      def branch(i, local):
        schedule, step = (cycled[i], local) if cycled[i] is not None else held[i]
        return jnp.asarray(schedule(jnp.asarray(step, jnp.int32)), jnp.float32)

      return self._switch(epoch(count), branch)

    return momentum


class ChainedScheduler(Scheduler):
  r"""``torch.optim.lr_scheduler.ChainedScheduler``: every scheduler stepped, in turn, every step.

  PyTorch's ``step()`` calls each scheduler's ``step()`` in the order given,
  each rewriting the optimizer's rate. For schedulers that multiply it
  (``ExponentialLR``, ``StepLR``, ``MultiStepLR``, ``ConstantLR``,
  ``LinearLR``, ``PolynomialLR``, ``MultiplicativeLR``) the rate is the
  product of their factors:

  .. math::
    \eta(t) = \eta_0 \prod_i \frac{\eta_i(t)}{\eta_0}

  where :math:`\eta_0` is the schedulers' common ``lr`` and :math:`\eta_i` is
  ``schedulers[i]``. A scheduler that sets the rate from its base rate
  (``LambdaLR``, ``CyclicLR``, ``OneCycleLR``,
  ``CosineAnnealingWarmRestarts``) erases what came before it in the list at
  every step: the rate is the last such one's, times the one-step factors of
  those after it. A ``CosineAnnealingLR`` multiplies the distance to
  ``eta_min`` by the ratio of consecutive :math:`1 + \cos`, and restarts from
  its base rate after each minimum; among others that multiply, it must be
  the only one and have ``eta_min=0``, else PyTorch's recursion has no closed
  form (it has one after a scheduler that sets the rate). Base rates follow
  PyTorch's construction, as in :class:`SequentialLR`: ``lr``, unless a
  ``CyclicLR`` is first or a ``OneCycleLR`` comes before; a ``CyclicLR``
  that is not first takes its first step from that base rate, not from its
  ``base_lr``, as PyTorch's does. A nested ``ChainedScheduler`` is its
  schedulers in place; the momentum is the last cycling scheduler's
  (``CyclicLR``, ``OneCycleLR``).

  Args:
    schedulers: optx.torch schedulers sharing one ``lr``.

  Returns:
    A step schedule.

  Examples:
    >>> import optx
    >>> constant = optx.torch.ConstantLR(0.05, factor=0.1, total_iters=2)
    >>> exponential = optx.torch.ExponentialLR(0.05, gamma=0.9)
    >>> schedule = optx.torch.ChainedScheduler([constant, exponential])
    >>> print([f"{schedule(t):.5f}" for t in range(4)])
    ['0.00500', '0.00450', '0.04050', '0.03645']
  """

  def __init__(self, schedulers: Sequence[Scheduler]):
    call = "torch.ChainedScheduler"
    self.schedulers = _check_schedulers(call, schedulers)
    flat: list[Scheduler] = []
    for s in self.schedulers:
      flat.extend(s._given if isinstance(s, ChainedScheduler) else [s])
    self._given = flat
    bases, self._lr = _built(call, flat)
    self._flat = [_with_lr(s, b) for s, b in zip(flat, bases, strict=True)]
    setting = [i for i, s in enumerate(flat) if not _multiplies(s)]
    self._setting = setting[-1] if setting else None
    cosines = [s for s in self._flat if isinstance(s, CosineAnnealingLR)]
    if self._setting is None and len(flat) > 1 and cosines:
      if len(cosines) > 1 or v.concrete(cosines[0].eta_min) != 0.0:
        raise ValueError(
          f"optx.{call}(schedulers=...): a CosineAnnealingLR chained with schedulers"
          " that multiply the rate must be the only one and have eta_min=0; PyTorch's"
          " recursion then has no closed form"
        )

  def _rate(self, t):
    flat = self._flat
    if self._setting is not None:
      setting = flat[self._setting]
      rate = setting._rate(t)
      if isinstance(setting, CyclicLR) and self._setting > 0:
        # PyTorch's CyclicLR takes its first step from initial_lr, before it
        # stores its own base_lr.
        initial = two.pair(_built("", self._given[: self._setting + 1])[1])
        rate = two.where(t == 0, initial, rate)
      for s in flat[self._setting + 1 :]:
        rate = s._step(t, rate)
      return rate
    if len(flat) == 1:
      return flat[0]._rate(t)
    cosine = next((s for s in flat if isinstance(s, CosineAnnealingLR)), None)
    if cosine is None:
      rate = two.pair(self._lr)
      for s in flat:
        rate = two.mul(rate, _multiplier(s, t))
      return rate
    return self._cosine_chain(t, flat.index(cosine), cosine)

  def _cosine_chain(self, t, c: int, cosine: CosineAnnealingLR) -> two.Pair:
    # Until T, the product of every multiplier. At each step R just after a
    # minimum (where the rate is exactly 0), the cosine sets it from its lr
    # and the others' factors start again: those before it from R + 1, those
    # after it from R.
    flat, period, first = self._flat, 2 * cosine.T_max, cosine.T_max + 1
    rate = two.pair(self._lr)
    for s in flat:
      rate = two.mul(rate, _multiplier(s, t))
    if first > _INT32_MAX:
      return rate
    if period <= _INT32_MAX:
      restart = first + (jnp.maximum(t - first, 0) // period) * period
    else:
      restart = jnp.asarray(first, jnp.int32)
    restarted = two.mul(two.pair(cosine.lr), cosine.weight(t))
    for i, s in enumerate(flat):
      if i != c:
        assert isinstance(s, Multiplicative)
        since = restart if i < c else restart - 1
        restarted = two.mul(restarted, s._product(since, t))
    return two.where(t >= first, restarted, rate)

  def _cycled_momentum(self):
    cycled = [m for m in (s._cycled_momentum() for s in self._flat) if m is not None]
    return cycled[-1] if cycled else None


def _multiplies(s: Scheduler) -> bool:
  return isinstance(s, (Multiplicative, CosineAnnealingLR))


def _multiplier(s: Scheduler, t: jax.Array) -> two.Pair:
  if isinstance(s, CosineAnnealingLR):
    return s.weight(t)
  assert isinstance(s, Multiplicative)
  return s._multiplier(t)
