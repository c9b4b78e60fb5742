"""Every public optimizer under test, with what the cross-cutting tests need to know.

One :class:`Optimizer` per optimizer and set of options; the cross-cutting
tests (contract, fast paths, state memory, reliability, properties,
ecosystem, scale-out) run every entry, or the entries with a property they
need, never a list of their own. Adding an optimizer is one entry here;
``test_contract.test_every_public_optimizer_is_registered`` fails until every
public optimizer factory of ``optx``, ``optx.keras`` and ``optx.torch`` has
one.

Names: the public call after ``optx.`` (``adam``, ``keras.Adam``,
``torch.AdamW``), then the options the entry sets, joined by ``_``
(``adam_amsgrad``, ``keras.SGD_momentum_nesterov``).

This is a plain module: pytest's default ``prepend`` import mode puts
``tests/`` on ``sys.path`` (in every xdist worker too), and
``scale_out_worker.py``, run as a script, has ``tests/`` as its first path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import jax.numpy as jnp
import optax
import oracles

import optx
import optx.keras
import optx.torch

Factory = Callable[[Any], optax.GradientTransformation]


class Oracle(NamedTuple):
  """A NumPy oracle of an entry: ``step`` of :mod:`oracles`, the starting value
  of each state array, and the hyperparameters other than ``lr``."""

  step: Callable[..., tuple[Any, ...]]
  state: tuple[float, ...]
  hyperparameters: dict[str, Any]


# What one NaN or ±inf gradient coordinate does to that coordinate's update,
# on its own step and on the next (finite) one, reasoned from the update rule:
# "nan"/"inf" non-finite, "zero" exactly 0, "finite" anything else.
STATELESS = {"nan": ("nan", "finite"), "inf": ("inf", "finite")}
"""No buffer: the next step is clean."""
LINEAR = {"nan": ("nan", "nan"), "inf": ("inf", "inf")}
"""A momentum buffer m ← βm − ηg (or PyTorch's b ← μb + g) keeps it forever."""
FREEZES = {"nan": ("nan", "nan"), "inf": ("nan", "zero")}
"""A sum of squares: s + g² = inf, so g/√s = inf/inf = NaN now and g/√inf = 0
afterwards: the coordinate freezes (its state stays inf, it is not reset)."""
POISONED = {"nan": ("nan", "nan"), "inf": ("nan", "nan")}
"""inf − inf = NaN enters a buffer (a centered average, a momentum of the
scaled step, Adam's moments): every later update of the coordinate is NaN."""

PLATEAU = dict(factor=0.5, patience=2)
"""Every entry with a plateau reduces by half after two measurements without
improvement (Keras's rule) or three (PyTorch's)."""


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """An optimizer under test."""

  name: str
  factory: Callable[..., Any]
  """The public factory the entry exercises."""
  make: Factory
  """The transformation, from a learning rate (a number or a schedule)."""
  buffers: int
  """Parameter-sized buffers in its state (momentum 1, Adam 2, AMSGrad 3)."""
  non_finite: dict[str, tuple[str, str]] | None
  """What a NaN or inf gradient coordinate does (above); ``None`` where a
  clipping spreads it over its variable (norms) or makes it finite (values)."""
  counters: int = 0
  """Step counters in its state with a constant learning rate (Adam's bias
  correction, a scheduled hyperparameter, PyTorch's dampening)."""
  needs_params: bool = False
  """``update`` must be given the parameters (weight decay)."""
  rounds_increments: bool = False
  """Its learning rate is a block of its own before its momentum buffer (an
  optx chain), so the buffer adds −ηg already rounded to the gradients' dtype."""
  state_dtype: Any = None
  """The dtype its options give the buffers (``None``: the parameters')."""
  plateau: str | None = None
  """The rule of the plateau it carries (``"keras"``, ``"torch"``), with :data:`PLATEAU`."""
  elementwise: bool = True
  """Each element's update depends on that element alone (no norm over a
  variable or over all of them): ``optx.flatten`` gives the same numbers."""
  rounds_in_leaf_dtype: bool = False
  """Part of its update runs in a 16-bit leaf's own dtype (Keras's
  ``clipnorm``, as Keras computes it), not in float32: under jit XLA may skip
  roundings that eager execution makes (``--xla_allow_excess_precision``)."""
  temporaries: int = 0
  """Parameter-sized temporaries a donated, jitted train step allocates: a
  value the rule computes and uses twice is kept (PyTorch's g + λθ, read by
  the momentum buffer and again by Nesterov's step or the centered average)."""
  exact_under_jit: bool = False
  """Eager and jitted updates agree bitwise: the update is the one rounding of
  −ηg, with nothing XLA may contract into a fused multiply-add."""
  quadratic_lr: float = 0.01
  """A learning rate that reaches 1% of the nested quadratic's loss in 400 steps."""
  rosenbrock_lr: float = 2e-3
  """A learning rate that brings Rosenbrock's function below a quarter in 2000 steps."""
  optax_twin: Factory | None = None
  """The Optax optimizer with the same maths at a constant learning rate."""
  oracle: Oracle | None = None
  """Its equations in NumPy (:mod:`oracles`)."""


def _adam(**kwargs: Any) -> Oracle:
  hyperparameters = dict(b1=0.9, b2=0.999, eps=1e-7) | kwargs
  return Oracle(oracles.adam, (0.0, 0.0, 0.0), hyperparameters)


def _adamax(**kwargs: Any) -> Oracle:
  hyperparameters = dict(b1=0.9, b2=0.999, eps=1e-7) | kwargs
  return Oracle(oracles.adamax, (0.0, 0.0), hyperparameters)


def _nadam(**kwargs: Any) -> Oracle:
  hyperparameters = dict(b1=0.9, b2=0.999, eps=1e-7) | kwargs
  return Oracle(oracles.nadam, (0.0, 0.0), hyperparameters)


def _adadelta(**kwargs: Any) -> Oracle:
  return Oracle(oracles.adadelta, (0.0, 0.0), dict(rho=0.95, eps=1e-7) | kwargs)


def _rmsprop(**kwargs: Any) -> Oracle:
  hyperparameters = dict(rho=0.9, eps=1e-7) | kwargs
  return Oracle(oracles.rmsprop, (0.0, 0.0, 0.0), hyperparameters)


def _momentum(**kwargs: Any) -> Oracle:
  return Oracle(oracles.momentum, (0.0,), dict(beta=0.9) | kwargs)


def _torch_sgd(**kwargs: Any) -> Oracle:
  return Oracle(oracles.torch_sgd, (0.0,), kwargs)


_SGD = Oracle(oracles.sgd, (), {})
_ADAGRAD = Oracle(oracles.adagrad, (0.1,), dict(eps=1e-7))


def _torch_plateau() -> optx.torch.ReduceLROnPlateau:
  return optx.torch.ReduceLROnPlateau(**PLATEAU)


_CORE = [
  Optimizer(
    "sgd",
    optx.sgd,
    lambda lr: optx.sgd(lr),
    buffers=0,
    non_finite=STATELESS,
    exact_under_jit=True,
    rosenbrock_lr=1e-3,
    optax_twin=lambda lr: optax.sgd(lr),
    oracle=_SGD,
  ),
  Optimizer(
    "sgd_momentum",
    optx.sgd,
    lambda lr: optx.sgd(lr, momentum=0.9),
    buffers=1,
    rounds_increments=True,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    optax_twin=lambda lr: optax.sgd(lr, momentum=0.9),
    oracle=_momentum(),
  ),
  Optimizer(
    "momentum",
    optx.momentum,
    lambda lr: optx.momentum(lr, 0.9),
    buffers=1,
    rounds_increments=True,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    optax_twin=lambda lr: optax.sgd(lr, momentum=0.9),
    oracle=_momentum(),
  ),
  Optimizer(
    "momentum_scheduled",
    optx.momentum,
    lambda lr: optx.momentum(lr, optx.onecycle_momentum_schedule(400)),
    buffers=1,
    rounds_increments=True,
    counters=1,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
  ),
  Optimizer(
    "momentum_float32_state",
    optx.momentum,
    lambda lr: optx.momentum(lr, 0.9, accumulator_dtype=jnp.float32),
    buffers=1,
    rounds_increments=True,
    state_dtype=jnp.float32,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    oracle=_momentum(),
  ),
  Optimizer(
    "momentum_weight_decay",
    optx.momentum,
    lambda lr: optx.chain(
      optx.momentum(lr, 0.9), optx.add_decoupled_weight_decay(0.01, lr)
    ),
    buffers=1,
    rounds_increments=True,
    needs_params=True,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
  ),
  Optimizer(
    "nesterov",
    optx.nesterov,
    lambda lr: optx.nesterov(lr, 0.9),
    buffers=1,
    rounds_increments=True,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    optax_twin=lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    oracle=_momentum(nesterov=True),
  ),
  Optimizer(
    "nesterov_plateau",
    optx.nesterov,
    lambda lr: optx.nesterov(lr, 0.9, plateau=optx.reduce_on_plateau(**PLATEAU)),
    buffers=1,
    rounds_increments=True,
    plateau="keras",
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    oracle=_momentum(nesterov=True),
  ),
  Optimizer(
    "adagrad",
    optx.adagrad,
    lambda lr: optx.adagrad(lr),
    buffers=1,
    non_finite=FREEZES,
    quadratic_lr=0.2,
    rosenbrock_lr=0.04,
    optax_twin=lambda lr: optax.adagrad(lr, eps=1e-7),
    oracle=_ADAGRAD,
  ),
  Optimizer(
    "rmsprop",
    optx.rmsprop,
    lambda lr: optx.rmsprop(lr),
    buffers=1,
    non_finite=FREEZES,
    optax_twin=lambda lr: optax.rmsprop(lr, eps=1e-7),
    oracle=_rmsprop(),
  ),
  Optimizer(
    "rmsprop_centered",
    optx.rmsprop,
    lambda lr: optx.rmsprop(lr, centered=True),
    buffers=2,
    non_finite=POISONED,
    optax_twin=lambda lr: optax.rmsprop(lr, eps=1e-7, centered=True),
    oracle=_rmsprop(centered=True),
  ),
  Optimizer(
    "rmsprop_momentum",
    optx.rmsprop,
    lambda lr: optx.rmsprop(lr, momentum=0.9),
    buffers=2,
    rounds_increments=True,
    non_finite=POISONED,
    optax_twin=lambda lr: optax.rmsprop(lr, eps=1e-7, momentum=0.9),
    oracle=_rmsprop(momentum=0.9),
  ),
  Optimizer(
    "rmsprop_centered_momentum",
    optx.rmsprop,
    lambda lr: optx.rmsprop(lr, centered=True, momentum=0.5),
    buffers=3,
    rounds_increments=True,
    non_finite=POISONED,
    optax_twin=lambda lr: optax.rmsprop(lr, eps=1e-7, centered=True, momentum=0.5),
    oracle=_rmsprop(centered=True, momentum=0.5),
  ),
  Optimizer(
    "adam",
    optx.adam,
    lambda lr: optx.adam(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    optax_twin=lambda lr: optax.adam(lr, eps=0.0, eps_root=1e-7),
    oracle=_adam(),
  ),
  Optimizer(
    "adam_amsgrad",
    optx.adam,
    lambda lr: optx.adam(lr, amsgrad=True),
    buffers=3,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(amsgrad=True),
  ),
  Optimizer(
    "adam_plateau_torch",
    optx.adam,
    lambda lr: optx.adam(lr, plateau=optx.reduce_on_plateau(**PLATEAU, rule="torch")),
    buffers=2,
    counters=1,
    plateau="torch",
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(),
  ),
  Optimizer(
    "adam_scheduled",
    optx.adam,
    lambda lr: optx.adam(lr, b1=optx.onecycle_momentum_schedule(100)),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
  ),
  Optimizer(
    "adam_float32_state",
    optx.adam,
    lambda lr: optx.adam(lr, mu_dtype=jnp.float32, nu_dtype=jnp.float32),
    buffers=2,
    state_dtype=jnp.float32,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(),
  ),
  Optimizer(
    "adam_weight_decay",
    optx.adam,
    lambda lr: optx.chain(optx.adam(lr), optx.add_decoupled_weight_decay(0.1, lr)),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(weight_decay=0.1),
  ),
  Optimizer(
    "adamax",
    optx.adamax,
    lambda lr: optx.adamax(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    optax_twin=lambda lr: optax.adamax(lr, eps=1e-7),
    oracle=_adamax(),
  ),
  Optimizer(
    "nadam",
    optx.nadam,
    lambda lr: optx.nadam(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    optax_twin=lambda lr: optax.nadam(lr, eps=0.0, eps_root=1e-7),
    oracle=_nadam(),
  ),
  Optimizer(
    "adamw",
    optx.adamw,
    lambda lr: optx.adamw(lr),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    optax_twin=lambda lr: optax.adamw(lr, eps=0.0, eps_root=1e-7, weight_decay=0.004),
    oracle=_adam(weight_decay=0.004),
  ),
]

_KERAS = [
  Optimizer(
    "keras.SGD",
    optx.keras.SGD,
    lambda lr: optx.keras.SGD(lr),
    buffers=0,
    non_finite=STATELESS,
    exact_under_jit=True,
    rosenbrock_lr=1e-3,
    optax_twin=lambda lr: optax.sgd(lr),
    oracle=_SGD,
  ),
  Optimizer(
    "keras.SGD_momentum_nesterov",
    optx.keras.SGD,
    lambda lr: optx.keras.SGD(lr, momentum=0.9, nesterov=True),
    buffers=1,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    optax_twin=lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    oracle=_momentum(nesterov=True),
  ),
  Optimizer(
    "keras.SGD_momentum_weight_decay_clipnorm",
    optx.keras.SGD,
    lambda lr: optx.keras.SGD(lr, momentum=0.9, weight_decay=1e-4, clipnorm=10.0),
    buffers=1,
    needs_params=True,
    elementwise=False,
    rounds_in_leaf_dtype=True,
    non_finite=None,
    rosenbrock_lr=1e-4,
  ),
  Optimizer(
    "keras.SGD_lr_decay",  # tf.keras 2's legacy spellings
    optx.keras.SGD,
    lambda lr: optx.keras.SGD(lr=lr, decay=1e-4),
    buffers=0,
    counters=1,
    non_finite=STATELESS,
    rosenbrock_lr=1e-3,
  ),
  Optimizer(
    "keras.SGD_momentum_ReduceLROnPlateau",
    optx.keras.SGD,
    lambda lr: optx.keras.SGD(
      lr, momentum=0.9, callbacks=[optx.keras.ReduceLROnPlateau(**PLATEAU)]
    ),
    buffers=1,
    plateau="keras",
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    optax_twin=lambda lr: optax.sgd(lr, momentum=0.9),
    oracle=_momentum(),
  ),
  Optimizer(
    "keras.Adagrad",
    optx.keras.Adagrad,
    lambda lr: optx.keras.Adagrad(lr),
    buffers=1,
    non_finite=FREEZES,
    quadratic_lr=0.2,
    rosenbrock_lr=0.04,
    optax_twin=lambda lr: optax.adagrad(lr, eps=1e-7),
    oracle=_ADAGRAD,
  ),
  Optimizer(
    "keras.Adagrad_clipvalue",
    optx.keras.Adagrad,
    lambda lr: optx.keras.Adagrad(lr, clipvalue=0.5),
    buffers=1,
    non_finite=None,
    quadratic_lr=0.2,
    rosenbrock_lr=0.04,
  ),
  Optimizer(
    "keras.RMSprop",
    optx.keras.RMSprop,
    lambda lr: optx.keras.RMSprop(lr),
    buffers=1,
    non_finite=FREEZES,
    optax_twin=lambda lr: optax.rmsprop(lr, eps=1e-7),
    oracle=_rmsprop(),
  ),
  Optimizer(
    "keras.RMSprop_momentum_centered_clipnorm",
    optx.keras.RMSprop,
    lambda lr: optx.keras.RMSprop(lr, momentum=0.5, centered=True, clipnorm=1.0),
    buffers=3,
    elementwise=False,
    rounds_in_leaf_dtype=True,
    non_finite=None,
  ),
  Optimizer(
    "keras.Adam",
    optx.keras.Adam,
    lambda lr: optx.keras.Adam(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(placement="hat"),
  ),
  Optimizer(
    "keras.Adam_weight_decay",
    optx.keras.Adam,
    lambda lr: optx.keras.Adam(lr, weight_decay=0.01),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(placement="hat", weight_decay=0.01),
  ),
  Optimizer(
    "keras.Adam_amsgrad_global_clipnorm",
    optx.keras.Adam,
    lambda lr: optx.keras.Adam(lr, amsgrad=True, global_clipnorm=10.0),
    buffers=3,
    counters=1,
    elementwise=False,
    non_finite=None,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
  ),
  Optimizer(
    "keras.Adamax",
    optx.keras.Adamax,
    lambda lr: optx.keras.Adamax(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adamax(),
  ),
  Optimizer(
    "keras.Adamax_weight_decay",
    optx.keras.Adamax,
    lambda lr: optx.keras.Adamax(lr, weight_decay=0.01),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
  ),
  Optimizer(
    "keras.Nadam",
    optx.keras.Nadam,
    lambda lr: optx.keras.Nadam(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_nadam(momentum_decay=1.0, placement="outside"),
  ),
  Optimizer(
    "keras.Nadam_clipnorm",
    optx.keras.Nadam,
    lambda lr: optx.keras.Nadam(lr, clipnorm=1.0),
    buffers=2,
    counters=1,
    elementwise=False,
    rounds_in_leaf_dtype=True,
    non_finite=None,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
  ),
  Optimizer(
    "keras.AdamW",
    optx.keras.AdamW,
    lambda lr: optx.keras.AdamW(lr),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(placement="hat", weight_decay=0.004),
  ),
  Optimizer(
    "keras.Adadelta",
    optx.keras.Adadelta,
    lambda lr: optx.keras.Adadelta(lr),
    buffers=2,
    temporaries=2,  # XLA keeps Δ (read by the step and by the average of Δ²) and one more
    non_finite=POISONED,
    quadratic_lr=5.0,
    rosenbrock_lr=1.0,
    oracle=_adadelta(),
  ),
]

_TORCH = [
  Optimizer(
    "torch.SGD",
    optx.torch.SGD,
    lambda lr: optx.torch.SGD(lr),
    buffers=0,
    non_finite=STATELESS,
    exact_under_jit=True,
    rosenbrock_lr=1e-3,
    optax_twin=lambda lr: optax.sgd(lr),
    oracle=_SGD,
  ),
  Optimizer(
    "torch.SGD_momentum_dampening_weight_decay",
    optx.torch.SGD,
    lambda lr: optx.torch.SGD(lr, momentum=0.9, dampening=0.1, weight_decay=1e-4),
    buffers=1,
    counters=1,
    needs_params=True,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    oracle=_torch_sgd(momentum=0.9, dampening=0.1, weight_decay=1e-4),
  ),
  Optimizer(
    "torch.SGD_momentum_nesterov_weight_decay",
    optx.torch.SGD,
    lambda lr: optx.torch.SGD(lr, momentum=0.9, nesterov=True, weight_decay=0.01),
    buffers=1,
    needs_params=True,
    temporaries=1,
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    optax_twin=lambda lr: optax.chain(
      optax.add_decayed_weights(0.01), optax.sgd(lr, momentum=0.9, nesterov=True)
    ),
    oracle=_torch_sgd(momentum=0.9, nesterov=True, weight_decay=0.01),
  ),
  Optimizer(
    "torch.SGD_momentum_ReduceLROnPlateau",
    optx.torch.SGD,
    lambda lr: optx.torch.SGD(lr, momentum=0.9, plateau=_torch_plateau()),
    buffers=1,
    plateau="torch",
    non_finite=LINEAR,
    rosenbrock_lr=1e-4,
    optax_twin=lambda lr: optax.sgd(lr, momentum=0.9),
    oracle=_torch_sgd(momentum=0.9),
  ),
  Optimizer(
    "torch.Adagrad",
    optx.torch.Adagrad,
    lambda lr: optx.torch.Adagrad(lr),
    buffers=1,
    non_finite=FREEZES,
    quadratic_lr=0.2,
    rosenbrock_lr=0.04,
    oracle=Oracle(oracles.adagrad, (0.0,), dict(eps=1e-10, placement="outside")),
  ),
  Optimizer(
    "torch.Adagrad_lr_decay",
    optx.torch.Adagrad,
    lambda lr: optx.torch.Adagrad(lr, lr_decay=1e-3),
    buffers=1,
    counters=1,
    non_finite=FREEZES,
    quadratic_lr=0.2,
    rosenbrock_lr=0.04,
    oracle=Oracle(
      oracles.adagrad, (0.0,), dict(eps=1e-10, placement="outside", lr_decay=1e-3)
    ),
  ),
  Optimizer(
    "torch.RMSprop",
    optx.torch.RMSprop,
    lambda lr: optx.torch.RMSprop(lr),
    buffers=1,
    non_finite=FREEZES,
    optax_twin=lambda lr: optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False),
    oracle=_rmsprop(rho=0.99, eps=1e-8, placement="outside"),
  ),
  Optimizer(
    "torch.RMSprop_momentum_centered_weight_decay",
    optx.torch.RMSprop,
    lambda lr: optx.torch.RMSprop(lr, momentum=0.9, centered=True, weight_decay=0.01),
    buffers=3,
    needs_params=True,
    temporaries=1,
    non_finite=POISONED,
    optax_twin=lambda lr: optax.chain(
      optax.add_decayed_weights(0.01),
      optax.rmsprop(
        lr, decay=0.99, eps=1e-8, eps_in_sqrt=False, centered=True, momentum=0.9
      ),
    ),
  ),
  Optimizer(
    "torch.Adam",
    optx.torch.Adam,
    lambda lr: optx.torch.Adam(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    optax_twin=lambda lr: optax.adam(lr, eps=1e-8),
    oracle=_adam(eps=1e-8, placement="outside"),
  ),
  Optimizer(
    "torch.AdamW",
    optx.torch.AdamW,
    lambda lr: optx.torch.AdamW(lr),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    optax_twin=lambda lr: optax.adamw(lr, eps=1e-8, weight_decay=0.01),
    oracle=_adam(eps=1e-8, placement="outside", weight_decay=0.01),
  ),
  Optimizer(
    "torch.AdamW_amsgrad",
    optx.torch.AdamW,
    lambda lr: optx.torch.AdamW(lr, amsgrad=True),
    buffers=3,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adam(eps=1e-8, placement="outside", weight_decay=0.01, amsgrad=True),
  ),
  Optimizer(
    "torch.Adamax",
    optx.torch.Adamax,
    lambda lr: optx.torch.Adamax(lr),
    buffers=2,
    counters=1,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    optax_twin=lambda lr: optax.adamax(lr, eps=1e-8),
    oracle=_adamax(eps=1e-8, placement="max"),
  ),
  Optimizer(
    "torch.Adamax_weight_decay",
    optx.torch.Adamax,
    lambda lr: optx.torch.Adamax(lr, weight_decay=0.01),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_adamax(eps=1e-8, placement="max", weight_decay=0.01),
  ),
  Optimizer(
    "torch.NAdam",
    optx.torch.NAdam,
    lambda lr: optx.torch.NAdam(lr),
    buffers=2,
    counters=1,
    needs_params=True,
    non_finite=POISONED,
    quadratic_lr=0.05,
    rosenbrock_lr=0.01,
    oracle=_nadam(eps=1e-8, momentum_decay=4e-3, placement="outside"),
  ),
  Optimizer(
    "torch.Adadelta",
    optx.torch.Adadelta,
    lambda lr: optx.torch.Adadelta(lr),
    buffers=2,
    temporaries=2,  # XLA keeps Δ (read by the step and by the average of Δ²) and one more
    non_finite=POISONED,
    quadratic_lr=5.0,
    rosenbrock_lr=1.0,
    oracle=_adadelta(rho=0.9, eps=1e-6),
  ),
  Optimizer(
    "torch.Adadelta_weight_decay",
    optx.torch.Adadelta,
    lambda lr: optx.torch.Adadelta(lr, weight_decay=0.01),
    buffers=2,
    needs_params=True,
    temporaries=3,  # and g + λθ, read by both averages and by Δ
    non_finite=POISONED,
    quadratic_lr=5.0,
    rosenbrock_lr=1.0,
    oracle=_adadelta(rho=0.9, eps=1e-6, weight_decay=0.01),
  ),
]

OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in _CORE + _KERAS + _TORCH}
assert len(OPTIMIZERS) == len(_CORE + _KERAS + _TORCH), "names must be unique"


def names(where: Callable[[Optimizer], Any] = lambda optimizer: True) -> list[str]:
  """The sorted names of the entries with the property ``where``."""
  return sorted(name for name, optimizer in OPTIMIZERS.items() if where(optimizer))
