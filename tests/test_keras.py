"""optx.keras against the real Keras 3 (JAX backend), update for update.

Both sides get the same gradients, step after step, over a pytree of leaves of
different shapes, for 300 updates; every parameter of every update is
compared: max |optx - keras| / max |keras| <= 1e-4 in float32. Keras runs its
own functional update, ``optimizer.stateless_apply`` (what ``model.fit`` runs
on the JAX backend), inside ``jax.lax.scan``; the callback tests also run the
stateful ``optimizer.apply`` on ``keras.Variable``s, and drive Keras's real
callbacks by hand, epoch by epoch. Run with ``-s`` to print the worst figure
of every case.
"""

import functools
import types

import chex
import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import oracles
import pytest

import optx

# Keras 3.15's variables convert to NumPy through an ``__array__`` that NumPy 2
# flags as deprecated; the warning is Keras's, not optx's.
pytestmark = pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

STEPS = 300
STEPS_PER_EPOCH = 10
TOLERANCE = 1e-4
SHAPES = {"bias": (5,), "conv": (2, 2, 3), "kernel": (3, 4)}
PARAMS, GRADS = oracles.drifting_gradients(SHAPES, STEPS)
NAMES = sorted(SHAPES)


def relative_error(ours, theirs):
  """max |ours - theirs| / max |theirs| over every leaf and every step."""
  diff = max(
    float(np.max(np.abs(np.asarray(ours[n]) - np.asarray(theirs[n])))) for n in NAMES
  )
  size = max(float(np.max(np.abs(np.asarray(theirs[n])))) for n in NAMES)
  return diff / size


def check(case, ours, theirs):
  error = relative_error(ours, theirs)
  print(f"\n[keras parity] {case}: {error:.2e}")
  assert error <= TOLERANCE, f"{case}: relative error {error:.3e}"
  # The parameters did travel: a comparison of two runs that stand still
  # would pass whatever the update rule.
  travel = max(
    float(np.max(np.abs(np.asarray(theirs[n])[-1] - PARAMS[n]))) for n in NAMES
  )
  assert travel > 0.1, f"{case}: the parameters barely moved ({travel})"


# ----------------------------------------------------------------------------
# The two runners.


def optx_run(tx, grads=GRADS, params=PARAMS):
  """The optx trajectory: every update's parameters, stacked (jit + scan)."""

  @jax.jit
  def run(params, grads):
    def body(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
      return (params, state), params

    return jax.lax.scan(body, (params, tx.init(params)), grads)[1]

  return run(jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, grads))


def _keras_variables(optimizer, params):
  variables = [keras.Variable(params[n]) for n in NAMES]
  optimizer.build(variables)
  return variables


def _keras_scan(optimizer):
  @jax.jit
  def run(optimizer_values, values, grads):
    def body(carry, g):
      optimizer_values, values = carry
      values, optimizer_values = optimizer.stateless_apply(
        optimizer_values, list(g), values
      )
      return (optimizer_values, values), values

    (optimizer_values, values), trajectory = jax.lax.scan(
      body, (optimizer_values, values), grads
    )
    return optimizer_values, values, trajectory

  return run


def keras_run(optimizer, grads=GRADS, params=PARAMS):
  """The Keras trajectory, through its functional update under jit + scan."""
  variables = _keras_variables(optimizer, params)
  run = _keras_scan(optimizer)
  _, _, trajectory = run(
    [v.value for v in optimizer.variables],
    [v.value for v in variables],
    [jnp.asarray(grads[n]) for n in NAMES],
  )
  return dict(zip(NAMES, trajectory, strict=True))


def keras_epochs(optimizer, *, on_epoch_begin=None, on_epoch_end=None, eager=False):
  """The Keras trajectory epoch by epoch, with callbacks between epochs.

  ``eager`` runs the stateful ``optimizer.apply`` on the variables, one update
  at a time; otherwise each epoch is one jitted scan of ``stateless_apply``
  and the optimizer's variables are written back before the callbacks run.
  """
  variables = _keras_variables(optimizer, PARAMS)
  run = _keras_scan(optimizer)
  trajectory = {n: [] for n in NAMES}
  for epoch in range(STEPS // STEPS_PER_EPOCH):
    if on_epoch_begin is not None:
      on_epoch_begin(epoch)
    steps = slice(epoch * STEPS_PER_EPOCH, (epoch + 1) * STEPS_PER_EPOCH)
    grads = [jnp.asarray(GRADS[n][steps]) for n in NAMES]
    if eager:
      for i in range(STEPS_PER_EPOCH):
        optimizer.apply([g[i] for g in grads], variables)
        for n, variable in zip(NAMES, variables, strict=True):
          trajectory[n].append(np.asarray(variable.value)[None])
    else:
      optimizer_values, values, epoch_trajectory = run(
        [v.value for v in optimizer.variables], [v.value for v in variables], grads
      )
      for variable, value in zip(optimizer.variables, optimizer_values, strict=True):
        variable.assign(value)
      for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
      for n, leaf in zip(NAMES, epoch_trajectory, strict=True):
        trajectory[n].append(np.asarray(leaf))
    if on_epoch_end is not None:
      on_epoch_end(epoch)
  return {n: np.concatenate(trajectory[n]) for n in NAMES}


def optx_epochs(tx, *, measurements=None):
  """The optx trajectory epoch by epoch, ``optx.observe`` after each epoch."""

  @jax.jit
  def run(params, state, grads):
    def body(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
      return (params, state), params

    return jax.lax.scan(body, (params, state), grads)

  params = jax.tree.map(jnp.asarray, PARAMS)
  state = tx.init(params)
  trajectory, scales = {n: [] for n in NAMES}, []
  for epoch in range(STEPS // STEPS_PER_EPOCH):
    steps = slice(epoch * STEPS_PER_EPOCH, (epoch + 1) * STEPS_PER_EPOCH)
    grads = {n: jnp.asarray(GRADS[n][steps]) for n in NAMES}
    (params, state), epoch_trajectory = run(params, state, grads)
    for n in NAMES:
      trajectory[n].append(np.asarray(epoch_trajectory[n]))
    if measurements is not None:
      state = optx.observe(state, measurements[epoch])
      scales.append(float(optx.plateau_scale(state)))
  return {n: np.concatenate(trajectory[n]) for n in NAMES}, scales


# ----------------------------------------------------------------------------
# Every optimizer option: the same arguments to both libraries.

OPTIMIZER_CASES = {
  # SGD
  "SGD()": ("SGD", {}),
  "SGD(momentum=0.9)": ("SGD", {"learning_rate": 0.02, "momentum": 0.9}),
  "SGD(momentum=0.9, nesterov)": (
    "SGD",
    {"learning_rate": 0.02, "momentum": 0.9, "nesterov": True},
  ),
  "SGD(nesterov, momentum=0)": ("SGD", {"learning_rate": 0.05, "nesterov": True}),
  # Adagrad
  "Adagrad()": ("Adagrad", {"learning_rate": 0.1}),
  "Adagrad(init=0.5, eps=1e-3)": (
    "Adagrad",
    {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-3},
  ),
  # RMSprop
  "RMSprop()": ("RMSprop", {"learning_rate": 0.01}),
  "RMSprop(centered)": ("RMSprop", {"learning_rate": 0.01, "centered": True}),
  "RMSprop(momentum=0.9)": ("RMSprop", {"learning_rate": 0.005, "momentum": 0.9}),
  "RMSprop(centered, momentum=0.5)": (
    "RMSprop",
    {
      "learning_rate": 0.005,
      "rho": 0.8,
      "momentum": 0.5,
      "centered": True,
      "epsilon": 1e-4,
    },
  ),
  # Adam
  "Adam()": ("Adam", {"learning_rate": 0.01}),
  "Adam(betas, eps=1e-2)": (
    "Adam",
    {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-2},
  ),
  "Adam(amsgrad)": ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
  # weight_decay on every optimizer (with the momentum buffers too)
  "SGD(momentum, weight_decay)": (
    "SGD",
    {"learning_rate": 0.02, "momentum": 0.9, "weight_decay": 0.5},
  ),
  "Adagrad(weight_decay)": ("Adagrad", {"learning_rate": 0.1, "weight_decay": 0.5}),
  "RMSprop(momentum, weight_decay)": (
    "RMSprop",
    {"learning_rate": 0.005, "momentum": 0.9, "weight_decay": 0.5},
  ),
  "Adam(weight_decay)": ("Adam", {"learning_rate": 0.01, "weight_decay": 0.5}),
  # each clip kind, alone and with weight decay
  "SGD(momentum, clipnorm)": (
    "SGD",
    {"learning_rate": 0.02, "momentum": 0.9, "clipnorm": 1.0},
  ),
  "Adam(clipnorm, weight_decay)": (
    "Adam",
    {"learning_rate": 0.01, "clipnorm": 0.5, "weight_decay": 0.2},
  ),
  "SGD(clipvalue)": ("SGD", {"learning_rate": 0.05, "clipvalue": 0.5}),
  "RMSprop(clipvalue)": ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.3}),
  "SGD(momentum, global_clipnorm)": (
    "SGD",
    {"learning_rate": 0.02, "momentum": 0.9, "global_clipnorm": 2.0},
  ),
  "Adagrad(global_clipnorm, weight_decay)": (
    "Adagrad",
    {"learning_rate": 0.1, "global_clipnorm": 1.0, "weight_decay": 0.2},
  ),
  # Adamax, Nadam, AdamW, Adadelta, with each option
  "Adamax()": ("Adamax", {"learning_rate": 0.01}),
  "Adamax(betas, eps=1e-2, weight_decay)": (
    "Adamax",
    {
      "learning_rate": 0.01,
      "beta_1": 0.8,
      "beta_2": 0.99,
      "epsilon": 1e-2,
      "weight_decay": 0.5,
    },
  ),
  "Adamax(clipnorm)": ("Adamax", {"learning_rate": 0.01, "clipnorm": 0.5}),
  "Nadam()": ("Nadam", {"learning_rate": 0.01}),
  "Nadam(betas, eps=1e-2, weight_decay)": (
    "Nadam",
    {
      "learning_rate": 0.01,
      "beta_1": 0.8,
      "beta_2": 0.99,
      "epsilon": 1e-2,
      "weight_decay": 0.5,
    },
  ),
  "Nadam(global_clipnorm)": ("Nadam", {"learning_rate": 0.01, "global_clipnorm": 1.0}),
  "AdamW()": ("AdamW", {"learning_rate": 0.01}),
  "AdamW(weight_decay=0.5, amsgrad)": (
    "AdamW",
    {"learning_rate": 0.01, "weight_decay": 0.5, "amsgrad": True},
  ),
  "AdamW(clipvalue)": ("AdamW", {"learning_rate": 0.01, "clipvalue": 0.5}),
  "Adadelta(learning_rate=1)": ("Adadelta", {"learning_rate": 1.0}),
  "Adadelta(rho, eps=1e-4, weight_decay)": (
    "Adadelta",
    {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-4, "weight_decay": 0.05},
  ),
  "Adadelta(clipnorm)": ("Adadelta", {"learning_rate": 0.5, "clipnorm": 0.5}),
}


@pytest.mark.parametrize("case", list(OPTIMIZER_CASES))
def test_optimizer_matches_keras(case):
  name, kwargs = OPTIMIZER_CASES[case]
  ours = optx_run(getattr(optx.keras, name)(**kwargs))
  theirs = keras_run(getattr(keras.optimizers, name)(**kwargs))
  check(case, ours, theirs)


@pytest.mark.parametrize("name", ["Nadam", "Adadelta"])
def test_eager_steps_are_keras_steps_bitwise(name):
  # Op for op, without XLA's fusion (jitted at a rate of exactly 1, Adadelta
  # may differ from Keras's jitted step by a rounding; test_keras_fit.py).
  kwargs = {"learning_rate": 1.0} if name == "Adadelta" else {"learning_rate": 0.01}
  tx = getattr(optx.keras, name)(**kwargs)
  optimizer = getattr(keras.optimizers, name)(**kwargs)
  params = {n: jnp.asarray(PARAMS[n]) for n in NAMES}
  variables = _keras_variables(optimizer, PARAMS)
  values, optimizer_values = [v.value for v in variables], optimizer.variables
  optimizer_values = [v.value for v in optimizer_values]
  state = tx.init(params)
  with jax.disable_jit():
    for t in range(40):
      grads = {n: jnp.asarray(GRADS[n][t]) for n in NAMES}
      updates, state = tx.update(grads, state, params)
      params = optax.apply_updates(params, updates)
      values, optimizer_values = optimizer.stateless_apply(
        optimizer_values, [grads[n] for n in NAMES], values
      )
      for n, value in zip(NAMES, values, strict=True):
        np.testing.assert_array_equal(np.asarray(params[n]), np.asarray(value))


# Gradients whose global norm is not finite: Keras's scale c * min(1/N, 1/c)
# + (N - N) is then NaN, and so is every update (optax's clip_by_global_norm
# would zero the finite entries and skip the update).
NON_FINITE_NORM_GRADIENTS = {
  "the sum of squares overflows float32": [[1e30, 1.0], [0.5, -0.5]],
  "an inf entry": [[np.inf, 1.0], [0.5, -0.5]],
  "a -inf entry": [[1.0, 2.0], [-np.inf, 0.5]],
}


@pytest.mark.parametrize("gradients", list(NON_FINITE_NORM_GRADIENTS))
@pytest.mark.parametrize(
  "name, kwargs",
  [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.1}),
  ],
)
def test_global_clipnorm_of_a_non_finite_norm_matches_keras(name, kwargs, gradients):
  grads = [jnp.asarray(g, jnp.float32) for g in NON_FINITE_NORM_GRADIENTS[gradients]]
  params = [np.ones(2, np.float32), np.full(2, -2.0, np.float32)]
  variables = [keras.Variable(p) for p in params]
  getattr(keras.optimizers, name)(**kwargs, global_clipnorm=1.0).apply(grads, variables)
  theirs = [np.asarray(v.value) for v in variables]
  tx = getattr(optx.keras, name)(**kwargs, global_clipnorm=1.0)
  ours_params = [jnp.asarray(p) for p in params]
  updates, _ = jax.jit(tx.update)(grads, tx.init(ours_params), ours_params)
  ours = optax.apply_updates(ours_params, updates)
  assert np.isnan(theirs).all()  # Keras's rule, run
  np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_global_clipnorm_rounds_as_keras():
  # SGD(1.0) from zero parameters: the new parameters are minus the clipped
  # gradients, bit for bit, in both libraries (eager). optax's clip, which
  # scales by c / N where N > c, differs in the last bit for about half of
  # these draws.
  rng = np.random.default_rng(1)
  for _ in range(20):
    clip = float(rng.choice([0.1, 0.3, 1.0, 2.0, 7.0]))
    grads = [
      jnp.asarray(rng.normal(size=shape) * rng.uniform(0.01, 10), jnp.float32)
      for shape in SHAPES.values()
    ]
    variables = [keras.Variable(np.zeros(g.shape, np.float32)) for g in grads]
    keras.optimizers.SGD(1.0, global_clipnorm=clip).apply(grads, variables)
    tx = optx.keras.SGD(1.0, global_clipnorm=clip)
    params = [jnp.zeros_like(g) for g in grads]
    updates, _ = tx.update(grads, tx.init(params), params)
    for ours, variable in zip(updates, variables, strict=True):
      np.testing.assert_array_equal(np.asarray(ours), np.asarray(variable.value))


# ----------------------------------------------------------------------------
# Every schedule as the learning rate: the same arguments to both libraries.

SCHEDULE_CASES = {
  "ExponentialDecay": (
    "ExponentialDecay",
    {"initial_learning_rate": 0.05, "decay_steps": 60, "decay_rate": 0.3},
  ),
  "ExponentialDecay(staircase)": (
    "ExponentialDecay",
    {
      "initial_learning_rate": 0.05,
      "decay_steps": 60,
      "decay_rate": 0.3,
      "staircase": True,
    },
  ),
  "InverseTimeDecay": (
    "InverseTimeDecay",
    {"initial_learning_rate": 0.05, "decay_steps": 20, "decay_rate": 0.5},
  ),
  "InverseTimeDecay(staircase)": (
    "InverseTimeDecay",
    {
      "initial_learning_rate": 0.05,
      "decay_steps": 20,
      "decay_rate": 0.5,
      "staircase": True,
    },
  ),
  "PiecewiseConstantDecay": (
    "PiecewiseConstantDecay",
    {"boundaries": [100, 200], "values": [0.05, 0.01, 0.002]},
  ),
  "PiecewiseConstantDecay(float boundaries)": (
    "PiecewiseConstantDecay",
    {"boundaries": [0.0, 150.0, 151.0], "values": [0.08, 0.04, 0.02, 0.005]},
  ),
  "PolynomialDecay": (
    "PolynomialDecay",
    {
      "initial_learning_rate": 0.05,
      "decay_steps": 200,
      "end_learning_rate": 0.001,
      "power": 2.0,
    },
  ),
  "PolynomialDecay(cycle)": (
    "PolynomialDecay",
    {
      "initial_learning_rate": 0.05,
      "decay_steps": 70,
      "end_learning_rate": 0.005,
      "power": 0.5,
      "cycle": True,
    },
  ),
  "CosineDecay": (
    "CosineDecay",
    {"initial_learning_rate": 0.05, "decay_steps": 200, "alpha": 0.1},
  ),
  "CosineDecay(warmup)": (
    "CosineDecay",
    {
      "initial_learning_rate": 0.001,
      "decay_steps": 150,
      "warmup_target": 0.05,
      "warmup_steps": 60,
    },
  ),
}


@pytest.mark.parametrize("case", list(SCHEDULE_CASES))
def test_schedule_as_learning_rate_matches_keras(case):
  schedule, kwargs = SCHEDULE_CASES[case]
  # SGD with momentum keeps past rates in its velocity: the case where the
  # step a schedule sees matters most. The variants run on Adam, whose weight
  # decay reads the learning rate too.
  if "(" in case:
    optimizer, extra = "Adam", {"weight_decay": 0.1}
  else:
    optimizer, extra = "SGD", {"momentum": 0.9}
  ours = optx_run(
    getattr(optx.keras, optimizer)(
      getattr(optx.keras.schedules, schedule)(**kwargs), **extra
    )
  )
  theirs = keras_run(
    getattr(keras.optimizers, optimizer)(
      getattr(keras.optimizers.schedules, schedule)(**kwargs), **extra
    )
  )
  check(f"{optimizer}({case})", ours, theirs)


@pytest.mark.parametrize("case", list(SCHEDULE_CASES))
def test_schedule_values_match_keras(case):
  schedule, kwargs = SCHEDULE_CASES[case]
  steps = jnp.arange(-2, 400, dtype=jnp.int32)
  ours = jax.jit(jax.vmap(getattr(optx.keras.schedules, schedule)(**kwargs)))(steps)
  reference = getattr(keras.optimizers.schedules, schedule)(**kwargs)
  theirs = jax.jit(jax.vmap(reference))(steps[2:])
  np.testing.assert_allclose(np.asarray(ours[2:]), theirs, rtol=2e-6, atol=1e-9)
  assert float(ours[0]) == float(ours[2])  # negative steps read as 0


def test_keras_schedule_object_as_learning_rate():
  # A real Keras schedule (its ops are jax.numpy on this backend) is a plain
  # callable of the step for optx.
  make = lambda: keras.optimizers.schedules.ExponentialDecay(0.05, 60, 0.3)
  ours = optx_run(optx.keras.SGD(make(), momentum=0.9))
  theirs = keras_run(keras.optimizers.SGD(make(), momentum=0.9))
  check("SGD(keras.optimizers.schedules.ExponentialDecay)", ours, theirs)


# ----------------------------------------------------------------------------
# The seed's legacy spellings: lr= and tf.keras 2's decay=.


class LegacyDecay(keras.optimizers.schedules.LearningRateSchedule):
  """tf.keras 2's ``_decayed_lr`` (optimizer_v2.py): lr(k) / (1 + decay * k)."""

  def __init__(self, learning_rate, decay):
    self.learning_rate, self.decay = learning_rate, decay

  def __call__(self, step):
    rate = (
      self.learning_rate(step) if callable(self.learning_rate) else self.learning_rate
    )
    k = keras.ops.cast(step, "float32")
    return rate / (1.0 + self.decay * k)


SEED_LINES = {
  # The seed's Keras lines, with the seed's own numbers.
  "SGD(lr=0.001, momentum=0.9)": ("SGD", {"lr": 0.001, "momentum": 0.9}),
  "SGD(lr=0.001, momentum=0.9, nesterov=True)": (
    "SGD",
    {"lr": 0.001, "momentum": 0.9, "nesterov": True},
  ),
  "RMSprop(lr=0.001, rho=0.9)": ("RMSprop", {"lr": 0.001, "rho": 0.9}),
  "Adam(lr=0.001, beta_1=0.9, beta_2=0.999)": (
    "Adam",
    {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999},
  ),
  "SGD(lr=0.01, decay=1e-4)": ("SGD", {"lr": 0.01, "decay": 1e-4}),
  # Legacy decay strong enough to matter within 300 updates, on each optimizer.
  "Adagrad(lr=0.1, decay=1e-2)": ("Adagrad", {"lr": 0.1, "decay": 1e-2}),
  "RMSprop(lr=0.01, momentum=0.5, decay=1e-2)": (
    "RMSprop",
    {"lr": 0.01, "momentum": 0.5, "decay": 1e-2},
  ),
  "Adam(lr=0.02, decay=1e-2, weight_decay=0.2)": (
    "Adam",
    {"lr": 0.02, "decay": 1e-2, "weight_decay": 0.2},
  ),
}


@pytest.mark.parametrize("case", list(SEED_LINES))
def test_legacy_spellings_match_keras(case):
  name, kwargs = SEED_LINES[case]
  ours = optx_run(getattr(optx.keras, name)(**kwargs))
  reference = dict(kwargs)
  rate, decay = reference.pop("lr"), reference.pop("decay", None)
  if decay is not None:  # Keras 3 ignores decay=; tf.keras 2's rule, written here
    rate = LegacyDecay(rate, decay)
  theirs = keras_run(getattr(keras.optimizers, name)(learning_rate=rate, **reference))
  check(case, ours, theirs)


def test_legacy_decay_composes_with_a_schedule():
  schedule = dict(initial_learning_rate=0.05, decay_steps=60, decay_rate=0.3)
  ours = optx_run(
    optx.keras.SGD(
      optx.keras.schedules.ExponentialDecay(**schedule), momentum=0.9, decay=1e-2
    )
  )
  rate = LegacyDecay(keras.optimizers.schedules.ExponentialDecay(**schedule), 1e-2)
  theirs = keras_run(keras.optimizers.SGD(rate, momentum=0.9))
  check("SGD(ExponentialDecay, momentum=0.9, decay=1e-2)", ours, theirs)


# ----------------------------------------------------------------------------
# Keras's callbacks, driven by hand.

# A validation loss that improves, stalls (by less than min_delta, too), and
# improves again: several reductions, cooldowns, and (for SGD) the min_lr floor.
VAL_LOSS = [
  1.0, 0.9, 0.8, 0.8, 0.80005, 0.8, 0.8, 0.7, 0.7, 0.7,
  0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.5,
  0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
]  # fmt: skip

PLATEAU_CASES = {
  "SGD(momentum=0.9, weight_decay=0.1) + ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2, min_lr=0.004)": (
    "SGD",
    {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.1},
    {"factor": 0.5, "patience": 2, "cooldown": 2, "min_lr": 0.004},
    True,
  ),
  "Adam + ReduceLROnPlateau(factor=0.3, patience=3, cooldown=1)": (
    "Adam",
    {"learning_rate": 0.05},
    {"factor": 0.3, "patience": 3, "cooldown": 1},
    False,
  ),
  "RMSprop(momentum=0.9) + ReduceLROnPlateau(factor=0.5, patience=1)": (
    "RMSprop",
    {"learning_rate": 0.01, "momentum": 0.9},
    {"factor": 0.5, "patience": 1},
    False,
  ),
}


@pytest.mark.parametrize("case", list(PLATEAU_CASES))
def test_reduce_lr_on_plateau_matches_keras(case):
  name, kwargs, callback_kwargs, eager = PLATEAU_CASES[case]
  optimizer = getattr(keras.optimizers, name)(**kwargs)
  callback = keras.callbacks.ReduceLROnPlateau(**callback_kwargs)
  callback.set_model(types.SimpleNamespace(optimizer=optimizer))
  callback.on_train_begin()
  keras_rates = []

  def on_epoch_end(epoch):
    callback.on_epoch_end(epoch, {"val_loss": VAL_LOSS[epoch]})
    keras_rates.append(float(np.asarray(optimizer.learning_rate)))

  theirs = keras_epochs(optimizer, on_epoch_end=on_epoch_end, eager=eager)

  tx = getattr(optx.keras, name)(
    **kwargs, callbacks=[optx.keras.ReduceLROnPlateau(**callback_kwargs)]
  )
  ours, scales = optx_epochs(tx, measurements=VAL_LOSS)
  # The same decisions, epoch by epoch (and at least three reductions).
  ours_rates = kwargs["learning_rate"] * np.array(scales)
  np.testing.assert_allclose(ours_rates, keras_rates, rtol=1e-6)
  assert len(set(keras_rates)) >= 4, keras_rates
  check(case, ours, theirs)


def test_reduce_lr_on_plateau_reaches_the_min_lr_floor():
  # The SGD case above ends on the floor: min_lr is absolute, not a scale.
  _, kwargs, callback_kwargs, _ = next(iter(PLATEAU_CASES.values()))
  tx = optx.keras.SGD(
    **kwargs, callbacks=[optx.keras.ReduceLROnPlateau(**callback_kwargs)]
  )
  _, scales = optx_epochs(tx, measurements=VAL_LOSS)
  np.testing.assert_allclose(
    kwargs["learning_rate"] * scales[-1], callback_kwargs["min_lr"], rtol=1e-6
  )


# The book's exponential_decay(lr0, s) factory, and its piecewise function with
# Python branches.
exponential_decay_fn = oracles.exponential_decay(lr0=0.05, s=20)
piecewise_constant_fn = oracles.piecewise_constant_fn


def multiplicative_fn(epoch, lr):  # the two-argument form
  return lr * 0.1 ** (1 / 20)


def keras_docs_fn(epoch, lr):  # Keras's own example: two arguments, a Python branch
  if epoch < 10:
    return lr
  return lr * float(np.exp(-0.1))


LOOKUP_TABLE = {0: 0.05, 1: 0.02}


def table_lookup_fn(epoch):  # hashes the epoch: cannot be traced
  return LOOKUP_TABLE.get(epoch, 0.01)


def set_membership_fn(epoch):  # hashes the epoch too
  return 0.01 if epoch in {5, 10, 11, 12} else 0.03


SCHEDULER_CASES = {
  "SGD(momentum=0.9) + LearningRateScheduler(exponential_decay_fn)": (
    "SGD",
    {"momentum": 0.9},
    exponential_decay_fn,
  ),
  "Adam + LearningRateScheduler(piecewise_constant_fn)": (
    "Adam",
    {},
    piecewise_constant_fn,
  ),
  "SGD(momentum=0.9) + LearningRateScheduler(fn(epoch, lr))": (
    "SGD",
    {"momentum": 0.9},
    multiplicative_fn,
  ),
  "Adam(weight_decay) + LearningRateScheduler(fn(epoch, lr) with a branch)": (
    "Adam",
    {"weight_decay": 0.05},
    keras_docs_fn,
  ),
  "RMSprop(momentum, weight_decay) + LearningRateScheduler(fn(epoch, lr))": (
    "RMSprop",
    {"momentum": 0.5, "weight_decay": 0.02},
    multiplicative_fn,
  ),
  "SGD(momentum=0.9) + LearningRateScheduler(table.get(epoch))": (
    "SGD",
    {"momentum": 0.9},
    table_lookup_fn,
  ),
  "Adam(weight_decay) + LearningRateScheduler(epoch in {...})": (
    "Adam",
    {"weight_decay": 0.05},
    set_membership_fn,
  ),
}


@pytest.mark.parametrize("case", list(SCHEDULER_CASES))
def test_learning_rate_scheduler_matches_keras(case):
  name, kwargs, fn = SCHEDULER_CASES[case]
  optimizer = getattr(keras.optimizers, name)(learning_rate=0.05, **kwargs)
  callback = keras.callbacks.LearningRateScheduler(fn)
  callback.set_model(types.SimpleNamespace(optimizer=optimizer))
  theirs = keras_epochs(optimizer, on_epoch_begin=callback.on_epoch_begin)

  scheduler = optx.keras.LearningRateScheduler(fn)  # the seed's line, unchanged
  scheduler.steps_per_epoch = STEPS_PER_EPOCH
  tx = getattr(optx.keras, name)(learning_rate=0.05, **kwargs, callbacks=[scheduler])
  ours = optx_run(tx)
  check(case, ours, theirs)


@pytest.mark.parametrize("form", ["fn(epoch, lr)", "fn(epoch) with a branch"])
def test_scheduler_calls_its_schedule_once_per_epoch(form):
  # The rate is carried in the state: the schedule runs at the first update of
  # each epoch, not replayed from epoch 0 at every update (two arguments:
  # 1 + 2 + ... + 30 epochs x 10 updates = 4650 calls here) nor called back
  # from the host at every update (one argument with a Python branch: 300).
  calls = []

  def two_arguments(epoch, lr):
    calls.append(epoch)
    return lr * 0.5 if epoch % 2 else lr

  def one_argument(epoch):
    calls.append(epoch)
    return 0.05 if epoch < 10 else 0.01

  fn = two_arguments if form == "fn(epoch, lr)" else one_argument
  scheduler = optx.keras.LearningRateScheduler(fn, steps_per_epoch=STEPS_PER_EPOCH)
  tx = optx.keras.SGD(0.05, weight_decay=0.01, callbacks=[scheduler])
  traced_calls = len(calls)  # the shape probe that tells traced from host
  jax.block_until_ready(optx_run(tx))
  assert calls[traced_calls:] == list(range(STEPS // STEPS_PER_EPOCH))


def test_scheduler_that_hashes_its_epoch_runs_on_the_host():
  # Keras's callback sets the rate of epochs 0, 1, 2 to 0.05, 0.02, 0.01; a
  # schedule that hashes a tracer (unhashable) falls back to the host.
  optimizer = keras.optimizers.SGD(0.05)
  callback = keras.callbacks.LearningRateScheduler(table_lookup_fn)
  callback.set_model(types.SimpleNamespace(optimizer=optimizer))
  theirs = []
  for epoch in range(3):
    callback.on_epoch_begin(epoch)
    theirs.append(float(np.asarray(optimizer.learning_rate)))
  np.testing.assert_allclose(theirs, [0.05, 0.02, 0.01], rtol=1e-6)

  scheduler = optx.keras.LearningRateScheduler(table_lookup_fn, steps_per_epoch=1)
  tx = optx.keras.SGD(0.05, callbacks=[scheduler])
  params = jnp.zeros(1)
  state, update, ours = tx.init(params), jax.jit(tx.update), []
  for _ in range(3):
    updates, state = update(jnp.ones(1), state, params)
    ours.append(-float(updates[0]))
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_scheduler_raises_its_own_type_errors():
  # Only a failure about the tracer sends a schedule to the host; a schedule
  # with a bug of its own still fails when the optimizer is built.
  scheduler = optx.keras.LearningRateScheduler(
    lambda epoch: max(0.01), steps_per_epoch=1
  )
  with pytest.raises(TypeError, match="'float' object is not iterable"):
    optx.keras.SGD(0.05, callbacks=[scheduler])


def test_two_argument_scheduler_state_carries_the_rate():
  scheduler = optx.keras.LearningRateScheduler(multiplicative_fn, steps_per_epoch=3)
  tx = optx.keras.SGD(0.05, callbacks=[scheduler])
  params = jnp.zeros(2)
  state = tx.init(params)
  (initial,) = [
    s for s in state if isinstance(s, optx.keras.LearningRateSchedulerState)
  ]
  assert int(initial.epoch) == -1 and float(initial.learning_rate) == np.float32(0.05)
  update = jax.jit(tx.update)
  rate = 0.05
  for k in range(10):
    updates, state = update(jnp.ones(2), state, params)
    if k % 3 == 0:  # the first update of an epoch
      rate = float(multiplicative_fn(k // 3, np.float32(rate)))
    (carried,) = [
      s for s in state if isinstance(s, optx.keras.LearningRateSchedulerState)
    ]
    assert (int(carried.count), int(carried.epoch)) == (k + 1, k // 3)
    np.testing.assert_allclose(float(carried.learning_rate), rate, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(updates), -rate, rtol=1e-6)
  # The same rates as the pure schedule, which replays the recurrence.
  replayed = scheduler.as_schedule(0.05)
  np.testing.assert_allclose(float(replayed(9)), rate, rtol=1e-6)
  jaxpr = jax.make_jaxpr(tx.update)(jnp.ones(2), tx.init(params), params)
  assert "while" not in str(jaxpr)  # a select per update, no loop


# ----------------------------------------------------------------------------
# Argument handling.


def test_defaults_are_keras_defaults():
  import inspect

  names = ("SGD", "Adagrad", "RMSprop", "Adam", "Adamax", "Nadam", "AdamW", "Adadelta")
  for name in names:
    ours = inspect.signature(getattr(optx.keras, name)).parameters
    theirs = inspect.signature(getattr(keras.optimizers, name)).parameters
    for argument, parameter in ours.items():
      if (
        argument in ("lr", "decay", "callbacks")
        or parameter.kind is parameter.VAR_KEYWORD
      ):
        continue  # **keras_options: tests/test_keras_options.py
      assert parameter.default == theirs[argument].default, (name, argument)
  ours = inspect.signature(optx.keras.ReduceLROnPlateau).parameters
  theirs = inspect.signature(keras.callbacks.ReduceLROnPlateau).parameters
  for argument, parameter in ours.items():
    assert parameter.default == theirs[argument].default, argument


def test_lr_alias_and_learning_rate_together_raise():
  with pytest.raises(
    ValueError,
    match=r"optx.keras.SGD: pass learning_rate=... or its legacy alias lr=...",
  ):
    optx.keras.SGD(learning_rate=0.01, lr=0.02)
  with pytest.raises(ValueError, match=r"not both"):
    optx.keras.Adam(0.001, lr=0.001)  # even when equal to the default


def test_clip_options_are_mutually_exclusive():
  with pytest.raises(
    ValueError, match=r"only one of clipnorm, clipvalue and global_clipnorm"
  ):
    optx.keras.SGD(clipnorm=1.0, clipvalue=0.5)
  with pytest.raises(ValueError, match=r"optx.keras.Adam\(clipnorm=...\) must be > 0"):
    optx.keras.Adam(clipnorm=0.0)


@pytest.mark.parametrize(
  "make, message",
  [
    (
      lambda: optx.keras.SGD(momentum=2.0),
      r"optx.keras.SGD\(momentum=...\) must be <= 1, got 2.0",
    ),
    (lambda: optx.keras.SGD(decay=-1.0), r"optx.keras.SGD\(decay=...\) must be >= 0"),
    (lambda: optx.keras.Adam(beta_1=1.0), r"optx.keras.Adam\(beta_1=...\) must be < 1"),
    (
      lambda: optx.keras.RMSprop(rho=1.5),
      r"optx.keras.RMSprop\(rho=...\) must be <= 1",
    ),
    (
      lambda: optx.keras.Adagrad(weight_decay=-0.1),
      r"optx.keras.Adagrad\(weight_decay=...\) must be >= 0",
    ),
    (
      lambda: optx.keras.schedules.ExponentialDecay(0.1, 0, 0.5),
      r"decay_steps=...\) must be > 0",
    ),
    (
      lambda: optx.keras.schedules.PiecewiseConstantDecay([1], [0.1]),
      r"len\(boundaries\) \+ 1",
    ),
    (
      lambda: optx.keras.ReduceLROnPlateau(factor=1.0),
      r"ReduceLROnPlateau\(factor=...\) must be < 1",
    ),
    (
      lambda: optx.keras.ReduceLROnPlateau(monitor="val_accuracy"),
      r"pass mode='min' or mode='max'",
    ),
    (
      lambda: optx.keras.SGD(
        optx.keras.schedules.ExponentialDecay(0.1, 10, 0.5),
        callbacks=[optx.keras.ReduceLROnPlateau(min_lr=1e-3)],
      ),
      r"min_lr=...\) is an absolute learning rate and needs a constant learning_rate",
    ),
    (
      lambda: optx.keras.SGD(
        callbacks=[optx.keras.LearningRateScheduler(exponential_decay_fn)]
      ),
      r"steps_per_epoch=...\) is needed",
    ),
    (
      lambda: optx.keras.SGD(
        callbacks=[
          optx.keras.ReduceLROnPlateau(),
          optx.keras.LearningRateScheduler(exponential_decay_fn, 10),
        ]
      ),
      r"cannot combine ReduceLROnPlateau with LearningRateScheduler",
    ),
  ],
)
def test_invalid_arguments_raise_and_name_the_call(make, message):
  with pytest.raises(ValueError, match=message):
    make()


@pytest.mark.parametrize(
  "call, argument, make",
  [
    ("SGD", "learning_rate", lambda fn: optx.keras.SGD(fn)),
    ("SGD", "lr", lambda fn: optx.keras.SGD(lr=fn)),
    ("SGD", "momentum", lambda fn: optx.keras.SGD(momentum=fn)),
    ("Adagrad", "epsilon", lambda fn: optx.keras.Adagrad(epsilon=fn)),
    ("RMSprop", "rho", lambda fn: optx.keras.RMSprop(rho=fn)),
    ("Adam", "beta_1", lambda fn: optx.keras.Adam(beta_1=fn)),
    ("Adam", "learning_rate", lambda fn: optx.keras.Adam(fn, weight_decay=0.1)),
    ("Adam", "weight_decay", lambda fn: optx.keras.Adam(weight_decay=fn)),
  ],
)
def test_a_function_of_no_arguments_is_refused(call, argument, make):
  # Keras calls a function of no arguments at every update; under jit it would
  # be frozen at trace time, so optx refuses it when the optimizer is built.
  variable = keras.Variable(np.ones(2, np.float32))
  keras.optimizers.SGD(lambda: 0.05).apply([jnp.ones(2)], [variable])
  np.testing.assert_allclose(np.asarray(variable.value), 0.95, rtol=1e-6)
  with pytest.raises(
    TypeError,
    match=(
      rf"optx.keras.{call}\({argument}=...\) got .*, a function of no arguments:"
      rf".*Pass a value, a schedule of the step .*or call the function yourself"
    ),
  ):
    make(lambda: 0.05)


def test_callable_hyperparameters_must_take_the_step():
  # A schedule of the step, in its several forms; a builtin without a
  # signature cannot be inspected and is trusted.
  schedules = [
    lambda step: 0.05,
    functools.partial(lambda scale, step: scale * 0.05, 1.0),
    keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5),
    optx.keras.schedules.ExponentialDecay(0.05, 10, 0.5),
    lambda *args: 0.05,
  ]
  for schedule in schedules:
    tx = optx.keras.SGD(schedule, momentum=0.9)
    updates, _ = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(float(updates[0]), -0.05, rtol=1e-6)
  optx.keras.SGD(functools.partial(max, 0.05))  # max has no signature
  with pytest.raises(TypeError, match=r"a function of one argument\), got .* \(a, b\)"):
    optx.keras.SGD(lambda a, b: 0.05)


def test_traced_hyperparameters_pass_through_and_vmap():
  # vmap over learning rates and momenta: no Python float baked in.
  def final(rate, momentum):
    tx = optx.keras.SGD(rate, momentum=momentum, weight_decay=0.1, clipnorm=1.0)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    updates, state = tx.update({"w": jnp.full(3, 2.0)}, state, params)
    return updates["w"][0]

  rates = jnp.array([0.1, 0.2], jnp.float32)
  out = jax.jit(jax.vmap(final))(rates, jnp.array([0.0, 0.9], jnp.float32))
  # One update from zero velocity: -(lr * clipped g) - lr * wd * w, g clipped to norm 1.
  expected = -rates / np.sqrt(3.0) - rates * 0.1
  np.testing.assert_allclose(np.asarray(out), np.asarray(expected), rtol=1e-6)


def test_the_comparison_tells_the_update_rules_apart():
  # Negative controls: where Keras's rule differs from optax's or the seed's,
  # the same comparison fails by far more than the tolerance.
  schedule = dict(initial_learning_rate=0.05, decay_steps=60, decay_rate=0.3)
  theirs = keras_run(
    keras.optimizers.SGD(
      keras.optimizers.schedules.ExponentialDecay(**schedule), momentum=0.9
    )
  )
  lr_outside = optx_run(
    optax.sgd(optx.keras.schedules.ExponentialDecay(**schedule), momentum=0.9)
  )
  assert relative_error(lr_outside, theirs) > 100 * TOLERANCE

  kwargs = dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-2)
  theirs = keras_run(keras.optimizers.Adam(**kwargs))
  seed_adam = optx_run(optx.adam(0.01, b1=0.8, b2=0.99, eps=1e-2))
  assert relative_error(seed_adam, theirs) > 10 * TOLERANCE


NUMERICS_CASES = {
  "SGD(nesterov, weight_decay, clipnorm, decay, ReduceLROnPlateau)": lambda: (
    optx.keras.SGD(
      0.1,
      momentum=0.9,
      nesterov=True,
      weight_decay=0.1,
      clipnorm=1.0,
      decay=1e-3,
      callbacks=[optx.keras.ReduceLROnPlateau()],
    )
  ),
  "Adagrad(weight_decay, clipvalue)": lambda: optx.keras.Adagrad(
    weight_decay=0.1, clipvalue=1.0
  ),
  "RMSprop(momentum, centered, global_clipnorm, LearningRateScheduler)": lambda: (
    optx.keras.RMSprop(
      momentum=0.9,
      centered=True,
      global_clipnorm=1.0,
      callbacks=[optx.keras.LearningRateScheduler(exponential_decay_fn, 5)],
    )
  ),
  "Adam(CosineDecay, amsgrad, weight_decay)": lambda: optx.keras.Adam(
    optx.keras.schedules.CosineDecay(0.01, 100, warmup_target=0.1, warmup_steps=10),
    amsgrad=True,
    weight_decay=0.1,
  ),
}


@pytest.mark.parametrize("case", list(NUMERICS_CASES))
def test_updates_keep_the_dtype_and_do_not_retrace(case):
  tx = NUMERICS_CASES[case]()
  params = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones((2, 2), jnp.bfloat16)}
  grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
  chex.clear_trace_counter()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(state, params):
    return tx.update(grads, state, params)

  state = tx.init(params)
  for _ in range(3):
    updates, state = step(state, params)
  assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates))
  assert optax.tree.norm(updates) > 0


def test_value_keyword_reaches_the_plateau_through_weight_decay():
  # optax.chain forwards value= only to real GradientTransformationExtraArgs.
  make = lambda: optx.keras.SGD(
    0.1,
    momentum=0.9,
    weight_decay=0.1,
    callbacks=[optx.keras.ReduceLROnPlateau(factor=0.5, patience=0)],
  )
  params = jnp.ones(2)
  by_keyword, by_observe = make(), make()
  state_k, state_o = by_keyword.init(params), by_observe.init(params)
  for value in [1.0, 1.0]:
    u_k, state_k = by_keyword.update(jnp.ones(2), state_k, params, value=value)
    state_o = optx.observe(state_o, value)
    u_o, state_o = by_observe.update(jnp.ones(2), state_o, params)
    np.testing.assert_allclose(np.asarray(u_k), np.asarray(u_o))
  assert float(optx.plateau_scale(state_k)) == 0.5


def test_scheduler_sees_pythons_arithmetic():
  # Keras calls schedule(epoch) with a Python int: 0.1 * 2 ** -(epoch // 10) is
  # 0.05 from epoch 10 on. Traced with an int32 epoch it was 0.0: training
  # silently stopped.
  def fn(epoch):
    return 0.1 * 2 ** -(epoch // 10)

  optimizer = keras.optimizers.SGD(0.1)
  callback = keras.callbacks.LearningRateScheduler(fn)
  callback.set_model(types.SimpleNamespace(optimizer=optimizer))
  theirs = []
  for epoch in range(25):
    callback.on_epoch_begin(epoch)
    theirs.append(float(np.asarray(optimizer.learning_rate)))
  tx = optx.keras.SGD(0.1, callbacks=[optx.keras.LearningRateScheduler(fn, 1)])
  state, ours = tx.init(jnp.zeros(1)), []
  step = jax.jit(tx.update)
  for _ in range(25):
    u, state = step(jnp.ones(1), state)
    ours.append(-float(u[0]))
  np.testing.assert_array_equal(np.float32(ours), np.float32(theirs))
  assert ours[10] == np.float32(0.05)
