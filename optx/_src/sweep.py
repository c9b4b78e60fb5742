"""Hyperparameter sweeps: K optimizers as one transformation over K stacked models.

Hyperparameters are traceable arrays, so ``jax.vmap`` over them trains K
models in one compiled program; :func:`sweep` packages that ``vmap`` as an
ordinary transformation, so an existing training loop runs a sweep unchanged
once its params (and loss) carry a leading model axis.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import core
from jax.typing import ArrayLike


def sweep(
  factory: Callable[..., optax.GradientTransformation],
  /,
  **hyperparameters: ArrayLike,
) -> optax.GradientTransformationExtraArgs:
  r"""K optimizers in one: model :math:`k` is trained with the k-th hyperparameters.

  .. math::
    (u_k, s_k) = T(h_k).\mathrm{update}(g_k, s_k, \theta_k), \qquad
    k = 0, \dots, K - 1

  where :math:`T` is ``factory``, :math:`h_k` the k-th entry of every array in
  ``hyperparameters``, and :math:`g_k, s_k, \theta_k` the k-th slices (along
  the leading axis) of the updates, the state and the params. It is
  ``jax.vmap`` over the hyperparameters and the models, so the K models train
  in one compiled program, each equal to its own run of
  ``factory(**h_k)``. Extra arguments such as ``value=`` are sliced too (one
  entry per model); to record one measurement per model into the plateau
  states, use ``jax.vmap(optx.observe)(state, values)``.

  Every value is checked now with a concrete call of ``factory``, so a bad
  entry fails here, loudly, rather than silently under ``vmap``.

  Args:
    factory: a function returning a transformation, e.g. ``optx.adam`` (fix
      other arguments with ``functools.partial`` or a lambda).
    **hyperparameters: keyword arguments of ``factory``, each a 1-D array of
      the K values to try (all of the same length).

  Returns:
    An ``optax.GradientTransformationExtraArgs`` over params, updates and
    state with a leading axis of size K.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.sweep(optx.sgd, learning_rate=jnp.array([0.1, 0.01]))
    >>> params = jnp.zeros((2, 3))  # two models, stacked
    >>> updates, state = tx.update(jnp.ones((2, 3)), tx.init(params), params)
    >>> print([f"{u:.4f}" for u in updates[:, 0]])
    ['-0.1000', '-0.0100']
  """
  if not callable(factory):
    raise TypeError(
      f"optx.sweep(factory) must be a function returning a transformation, got {factory!r}"
    )
  if not hyperparameters:
    raise ValueError("optx.sweep needs at least one hyperparameter array, got none")
  hyperparameters = {name: jnp.asarray(v) for name, v in hyperparameters.items()}
  sizes = {}
  for name, values in hyperparameters.items():
    shape = np.shape(values)
    if len(shape) != 1 or shape[0] == 0:
      raise ValueError(
        f"optx.sweep({name}=...) must be a non-empty 1-D array, got shape {shape}"
      )
    sizes[name] = shape[0]
  if len(set(sizes.values())) > 1:
    raise ValueError(f"optx.sweep: the hyperparameter arrays differ in length: {sizes}")
  if not any(isinstance(v, core.Tracer) for v in hyperparameters.values()):
    for k in range(next(iter(sizes.values()))):
      factory(**{name: np.asarray(v)[k] for name, v in hyperparameters.items()})

  def init_fn(params):
    return jax.vmap(lambda h, p: factory(**h).init(p))(hyperparameters, params)

  def update_fn(updates, state, params=None, **extra_args):
    def one(h, g, s, p, extra):
      return optax.with_extra_args_support(factory(**h)).update(g, s, p, **extra)

    params_axis = None if params is None else 0
    return jax.vmap(one, in_axes=(0, 0, 0, params_axis, 0))(
      hyperparameters, updates, state, params, extra_args
    )

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
