r"""Keras 3's ``use_ema``: a moving average of the variables, kept by the optimizer.

After every call (the update applied, or not when gradients are being
accumulated), Keras 3's JAX backend updates the average of each variable,

.. math::
  \mu_k = \mu [k \ne 0], \qquad a \leftarrow \mu_k a + (1 - \mu_k)\, w

with :math:`w` the variable after the update, :math:`\mu` ``ema_momentum``
and :math:`k` the optimizer's ``iterations`` before the call (the updates
applied, ``_iterations // n`` with gradient accumulation), so the first call
copies the variable. With ``ema_overwrite_frequency`` :math:`f`, every call
where :math:`(k + 1) \bmod f = 0` then writes the average into the variable,
as ``w \leftarrow a \cdot 1 + w \cdot 0`` (and ``a \cdot 0 + w \cdot 1`` on
the others: a non-finite average makes the variable NaN, as in Keras).
:func:`ema_params` reads the average, which Keras's
``finalize_variable_values`` (run by ``model.fit`` at its end) writes into
the variables.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optx._src import base


class ExponentialMovingAverageState(NamedTuple):
  """State of an ``optx.keras`` optimizer with ``use_ema=True``.

  Attributes:
    count: the calls so far (Keras's ``_iterations``; int32, saturating).
    average: the moving average of the parameters, Keras's ``average``
      variables (zeros before the first update).
    inner: the optimizer's state.
  """

  count: jax.Array
  average: optax.Params
  inner: optax.OptState


def ema(
  call: str,
  inner: optax.GradientTransformation,
  momentum: float,
  overwrite_frequency: int | None,
  accumulation_steps: int | None,
) -> optax.GradientTransformationExtraArgs:
  """``inner``, then Keras's moving average of the new parameters (see the module)."""
  elementwise = isinstance(inner, base.Elementwise)
  inner = optax.with_extra_args_support(inner)
  per_update = accumulation_steps or 1

  def init_fn(params):
    params = base.as_leaves(call, params)
    return ExponentialMovingAverageState(
      count=base.zero_count(),
      average=base.full_like(params, 0.0),
      inner=inner.init(params),
    )

  def update_fn(updates, state, params=None, **extra_args):
    if params is None:
      raise ValueError(
        f"optx.{call}(use_ema=True) needs params, to average them: call"
        " update(updates, state, params)"
      )
    params = base.as_leaves(call, params)
    base.check_structure(call, params, state.average)
    updates, inner_state = inner.update(updates, state.inner, params, **extra_args)
    iterations = state.count // per_update
    overwrite = (
      None
      if overwrite_frequency is None
      else (iterations + 1) % overwrite_frequency == 0
    )

    def leaf(p, u, a):
      w = jnp.asarray(p + u).astype(p.dtype)  # the variable after the update
      mu = (iterations != 0).astype(a.dtype) * momentum
      a = mu * a + (1 - mu) * w
      if overwrite is None:
        return u, a
      o = overwrite.astype(a.dtype)
      written = a * o + w * (1 - o)
      return jnp.where(overwrite, _difference(written, p), u + a * 0).astype(u.dtype), a

    pairs = jax.tree.map(leaf, params, updates, state.average)
    treedef = jax.tree.structure(params)
    new_updates, average = (
      (
        treedef.unflatten(column)
        for column in zip(*treedef.flatten_up_to(pairs), strict=True)
      )
      if treedef.num_leaves
      else (updates, state.average)
    )
    return new_updates, ExponentialMovingAverageState(
      count=base.increment(state.count), average=average, inner=inner_state
    )

  made: Any = base.Elementwise if elementwise else optax.GradientTransformationExtraArgs
  return made(init_fn, update_fn)


def _difference(target: jax.Array, p: jax.Array) -> jax.Array:
  """An update ``d`` with ``p + d == target`` where one exists near ``target - p``.

  ``target - p`` rounds once, and ``p`` plus it may round again; one
  correction by the residual makes ``p + d`` land on ``target`` in the cases
  a float ``d`` allows (always when ``p`` and ``target`` are within a factor
  of 2; not when ``|p|`` is far larger than ``|target|``).
  """
  d = target - p
  residual = target - (p + d)
  return jnp.where(residual == 0, d, d + residual)


def _is_ema(x: Any) -> bool:
  return isinstance(x, ExponentialMovingAverageState)


def ema_params(opt_state: optax.OptState) -> optax.Params:
  """The moving average of the parameters in an ``optx.keras`` state with ``use_ema=True``.

  This is what Keras's ``optimizer.finalize_variable_values(variables)``
  writes into the variables (``model.fit`` calls it at the end of training):
  use it as the trained parameters, or for evaluation during training. Before
  the first update it is zeros, as Keras's ``average`` variables are.

  Args:
    opt_state: the state of an ``optx.keras`` optimizer built with
      ``use_ema=True``, or any state holding exactly one.

  Returns:
    The average, a pytree like the parameters.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optx
    >>> tx = optx.keras.SGD(0.1, use_ema=True, ema_momentum=0.5)
    >>> w = jnp.zeros(1)
    >>> state = tx.init(w)
    >>> for _ in range(2):
    ...   u, state = tx.update(jnp.ones(1), state, w)
    ...   w = optax.apply_updates(w, u)
    >>> print(f"{w[0]:.2f} {optx.keras.ema_params(state)[0]:.2f}")
    -0.20 -0.15
  """
  found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_ema) if _is_ema(s)]
  if len(found) != 1:
    raise ValueError(
      "optx.keras.ema_params(opt_state=...) needs the state of an optx.keras"
      f" optimizer built with use_ema=True; this state holds {len(found)}"
      " moving averages"
    )
  return found[0].average


def finalize_variable_values(
  opt_state: optax.OptState, params: optax.Params
) -> optax.Params:
  """Keras's ``optimizer.finalize_variable_values``: the final parameters.

  The moving average (:func:`ema_params`) when the optimizer keeps one
  (``use_ema=True``), else ``params`` unchanged, as Keras's method leaves
  the variables. ``model.fit`` calls it at the end of training.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.keras.Adam()
    >>> w = jnp.ones(2)
    >>> optx.keras.finalize_variable_values(tx.init(w), w) is w
    True
  """
  if not any(map(_is_ema, jax.tree.leaves(opt_state, is_leaf=_is_ema))):
    return params
  return ema_params(opt_state)
