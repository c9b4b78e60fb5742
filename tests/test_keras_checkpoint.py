"""optx.keras.load_variables and variable_values against the real Keras 3 (JAX backend).

Each case trains N updates with Keras's ``optimizer.apply``, loads the values
of the optimizer's variables (plain arrays) into optx, and continues M updates
in both with the same gradients; then writes optx's state into a fresh Keras
optimizer's variables and continues K updates there, next to the Keras run
that never stopped. Every parameter of every continued update is compared:
max |optx - keras| / max |keras param| <= 1e-6. Run with ``-s`` to print the
worst figure of every case.
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import pytest

import optx

# Keras 3.15's variables convert to NumPy through an ``__array__`` that NumPy 2
# flags as deprecated; the warning is Keras's, not optx's.
pytestmark = pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

N, M, K = 30, 20, 20
STEPS = N + M + K
EPOCH = 8  # steps per epoch of the LearningRateScheduler: N falls inside an epoch
TOLERANCE = 1e-6
SHAPES = {"bias": (5,), "conv": (2, 2, 3), "kernel": (3, 4)}
NAMES = sorted(SHAPES)  # the order of jax.tree.leaves on the dict


def _problem():
  rng = np.random.default_rng(16)
  params = [rng.normal(size=SHAPES[n]).astype(np.float32) for n in NAMES]
  grads = [
    (0.5 * rng.normal(size=SHAPES[n]) + rng.normal(size=(STEPS, *SHAPES[n]))).astype(
      np.float32
    )
    for n in NAMES
  ]
  return params, grads


PARAMS, GRADS = _problem()


def halve_every_other_epoch(epoch, lr):  # Keras's two-argument form
  return lr * 0.5 if epoch % 2 == 1 else lr


class KerasRun:
  """Keras's loop from ``start`` to ``stop``; the LearningRateScheduler's
  ``on_epoch_begin`` runs at each epoch's first update (by the global step)."""

  def __init__(self, case, params):
    self.variables = [
      keras.Variable(np.array(p), name=n) for n, p in zip(NAMES, params, strict=True)
    ]
    self.opt = case.make_opt()
    self.opt.build(self.variables)
    self.callback = None
    if case.scheduler:
      self.callback = keras.callbacks.LearningRateScheduler(halve_every_other_epoch)
      self.callback.set_model(types.SimpleNamespace(optimizer=self.opt))

  def run(self, start, stop):
    trajectory = []
    for t in range(start, stop):
      if self.callback is not None and t % EPOCH == 0:
        self.callback.on_epoch_begin(t // EPOCH)
      self.opt.apply([jnp.asarray(g[t]) for g in GRADS], self.variables)
      trajectory.append([np.asarray(v.value) for v in self.variables])
    return trajectory

  def values(self):
    return [v.value for v in self.opt.variables]  # plain (immutable) arrays


def optx_run(tx, params, state, start, stop):
  update = jax.jit(tx.update)
  trajectory = []
  for t in range(start, stop):
    grads = dict(zip(NAMES, [jnp.asarray(g[t]) for g in GRADS], strict=True))
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
    trajectory.append([np.asarray(params[n]) for n in NAMES])
  return trajectory, params, state


def relative_error(ours, theirs):
  diff = max(
    float(np.max(np.abs(a - b)))
    for step_a, step_b in zip(ours, theirs, strict=True)
    for a, b in zip(step_a, step_b, strict=True)
  )
  size = max(float(np.max(np.abs(b))) for step in theirs for b in step)
  return diff / size


class Case:
  def __init__(self, name, make_opt, tx, *, scheduler=False):
    self.name, self.make_opt, self.tx, self.scheduler = name, make_opt, tx, scheduler


def _cases():
  Keras, X = keras.optimizers, optx.keras
  decay = dict(initial_learning_rate=0.05, decay_steps=10, decay_rate=0.5)
  scheduler = X.LearningRateScheduler(halve_every_other_epoch, steps_per_epoch=EPOCH)
  return [
    Case("SGD", lambda: Keras.SGD(0.05), lambda: X.SGD(0.05)),
    Case(
      "SGD momentum",
      lambda: Keras.SGD(0.05, momentum=0.9),
      lambda: X.SGD(0.05, momentum=0.9),
    ),
    Case(
      "SGD Nesterov",
      lambda: Keras.SGD(0.05, momentum=0.9, nesterov=True),
      lambda: X.SGD(0.05, momentum=0.9, nesterov=True),
    ),
    Case("Adagrad", lambda: Keras.Adagrad(0.1), lambda: X.Adagrad(0.1)),
    Case("RMSprop", lambda: Keras.RMSprop(0.01), lambda: X.RMSprop(0.01)),
    Case(
      "RMSprop centered",
      lambda: Keras.RMSprop(0.01, centered=True),
      lambda: X.RMSprop(0.01, centered=True),
    ),
    Case(
      "RMSprop momentum",
      lambda: Keras.RMSprop(0.01, momentum=0.8),
      lambda: X.RMSprop(0.01, momentum=0.8),
    ),
    Case("Adam", lambda: Keras.Adam(0.01), lambda: X.Adam(0.01)),
    Case(
      "AMSGrad",
      lambda: Keras.Adam(0.01, amsgrad=True),
      lambda: X.Adam(0.01, amsgrad=True),
    ),
    Case(
      "AdamW",
      lambda: Keras.AdamW(0.01, weight_decay=0.1),
      lambda: X.Adam(0.01, weight_decay=0.1),
    ),
    Case("Adamax", lambda: Keras.Adamax(0.01), lambda: X.Adamax(0.01)),
    Case("Nadam", lambda: Keras.Nadam(0.01), lambda: X.Nadam(0.01)),
    Case("Adadelta", lambda: Keras.Adadelta(2.0), lambda: X.Adadelta(2.0)),
    Case(
      "AdamW (optx.keras.AdamW)",
      lambda: Keras.AdamW(0.01),
      lambda: X.AdamW(0.01),
    ),
    Case(
      "Adam clipnorm",
      lambda: Keras.Adam(0.01, clipnorm=1.0),
      lambda: X.Adam(0.01, clipnorm=1.0),
    ),
    Case(
      "SGD momentum + ExponentialDecay",
      lambda: Keras.SGD(Keras.schedules.ExponentialDecay(**decay), momentum=0.9),
      lambda: X.SGD(X.schedules.ExponentialDecay(**decay), momentum=0.9),
    ),
    Case(
      "SGD momentum + LearningRateScheduler",
      lambda: Keras.SGD(0.05, momentum=0.9),
      lambda: X.SGD(0.05, momentum=0.9, callbacks=[scheduler]),
      scheduler=True,
    ),
    Case(
      "Adam + LearningRateScheduler",
      lambda: Keras.Adam(0.05),
      lambda: X.Adam(0.05, callbacks=[scheduler]),
      scheduler=True,
    ),
  ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_keras_run_continues_in_optx_and_back(case):
  reference = KerasRun(case, PARAMS)
  reference.run(0, N)
  saved = reference.values()
  at_n = [np.asarray(v.value) for v in reference.variables]
  theirs = reference.run(N, STEPS)

  tx = case.tx()
  params = dict(zip(NAMES, map(jnp.asarray, at_n), strict=True))
  state = optx.keras.load_variables(
    tx, reference.opt, params, values=saved, steps_per_epoch=EPOCH
  )
  ours, params, state = optx_run(tx, params, state, N, N + M)
  loaded = relative_error(ours, theirs[:M])

  resumed = KerasRun(case, [params[n] for n in NAMES])
  values = optx.keras.variable_values(state, resumed.opt)
  assert all(isinstance(x, np.ndarray) for x in values)
  for variable, value in zip(resumed.opt.variables, values, strict=True):
    variable.assign(value)
  exported = relative_error(resumed.run(N + M, STEPS), theirs[M:])
  print(
    f"\n[keras checkpoint] {case.name}: loaded {loaded:.2e}, exported {exported:.2e}"
  )
  assert loaded <= TOLERANCE and exported <= TOLERANCE, (loaded, exported)
  travel = max(
    float(np.max(np.abs(a - b))) for a, b in zip(theirs[-1], at_n, strict=True)
  )
  assert travel > 0.05, f"the parameters barely moved ({travel})"


def test_the_scheduler_state_is_the_epoch_keras_is_in():
  case = CASES[-2]
  reference = KerasRun(case, PARAMS)
  reference.run(0, N)
  params = dict(
    zip(NAMES, [jnp.asarray(v.value) for v in reference.variables], strict=True)
  )
  state = optx.keras.load_variables(
    case.tx(), reference.opt, params, steps_per_epoch=EPOCH
  )
  scheduler = state.scheduler
  assert (int(scheduler.count), int(scheduler.epoch)) == (N, N // EPOCH)
  # Epochs 1 and 3 halved the rate: the callback's value at the start of epoch 3.
  assert float(scheduler.learning_rate) == np.float32(0.05 * 0.25)
  assert float(scheduler.learning_rate) == float(reference.opt.learning_rate)


def test_live_variables_and_stateless_apply():
  # Without values=, the optimizer's own variables are read; the exported
  # values are what stateless_apply takes as its optimizer variables.
  case = CASES[7]  # Adam
  reference = KerasRun(case, PARAMS)
  reference.run(0, N)
  params = dict(
    zip(NAMES, [jnp.asarray(v.value) for v in reference.variables], strict=True)
  )
  tx = case.tx()
  live = optx.keras.load_variables(tx, reference.opt, params)
  plain = optx.keras.load_variables(
    tx, reference.opt, params, values=reference.values()
  )
  jax.tree.map(np.testing.assert_array_equal, live, plain)
  assert int(live[0].count) == N
  values = optx.keras.variable_values(live, reference.opt)
  grads = [jnp.asarray(g[N]) for g in GRADS]
  ours, _ = reference.opt.stateless_apply(values, grads, [params[n] for n in NAMES])
  theirs, _ = reference.opt.stateless_apply(
    reference.values(), grads, [params[n] for n in NAMES]
  )
  for a, b in zip(ours, theirs, strict=True):
    np.testing.assert_array_equal(a, b)


def test_order_by_position_or_path():
  kernel, bias = (
    keras.Variable(np.ones((3, 4), np.float32), name="kernel"),
    keras.Variable(np.ones(4, np.float32), name="bias"),
  )
  opt = keras.optimizers.Adam(0.01)
  opt.build([kernel, bias])  # Keras's order: kernel, then bias
  for _ in range(3):
    opt.apply([jnp.full((3, 4), 0.5), jnp.full(4, -1.0)], [kernel, bias])
  params = {"bias": jnp.asarray(bias.value), "kernel": jnp.asarray(kernel.value)}
  tx = optx.keras.Adam(0.01)
  with pytest.raises(
    ValueError,
    match=r"optx\.keras\.load_variables: the Keras variable 'adam\w*/kernel_momentum' \(the 'momentum' of the Keras variable 'kernel', trainable variable 0\) has shape \(3, 4\), and the params leaf \['bias'\] \(4,\)",
  ):
    optx.keras.load_variables(tx, opt, params)
  by_position = optx.keras.load_variables(tx, opt, params, order=[1, 0])
  by_path = optx.keras.load_variables(
    tx, opt, params, order={"bias": "bias", "kernel": "kernel"}
  )
  jax.tree.map(np.testing.assert_array_equal, by_position, by_path)
  np.testing.assert_array_equal(by_path[0].momentum["kernel"], opt._momentums[0].value)
  values = optx.keras.variable_values(by_path, opt, order=["bias", "kernel"])
  for variable, value in zip(opt.variables, values, strict=True):
    np.testing.assert_array_equal(value, variable.value)


# ----------------------------------------------------------------------------
# Errors, named.


def _built(optimizer, shapes=((2,),)):
  variables = [keras.Variable(np.zeros(s, np.float32)) for s in shapes]
  optimizer.build(variables)
  return optimizer


P = jnp.zeros(2)


@pytest.mark.parametrize(
  "make, tx, error, match",
  [
    (
      lambda: keras.optimizers.Adam(),
      optx.keras.SGD(),
      ValueError,
      r"the optimizer is a Keras Adam, and the optx state is an optx\.keras\.SGD's",
    ),
    (
      lambda: keras.optimizers.AdamW(),
      optx.keras.RMSprop(),
      ValueError,
      r"a Keras AdamW, and the optx state is an optx\.keras\.RMSprop's",
    ),
    (
      lambda: keras.optimizers.Lion(),
      optx.keras.Adam(),
      TypeError,
      r"must be a Keras 3 optimizer .* got Lion",
    ),
    (
      lambda: types.SimpleNamespace(),
      optx.keras.Adam(),
      TypeError,
      r"must be a Keras 3 optimizer .* got SimpleNamespace",
    ),
    (
      lambda: keras.optimizers.SGD(momentum=0.9),
      optx.keras.SGD(),
      ValueError,
      r"SGD has momentum=0\.9, which keeps 'momentum' variables, and the optx state keeps no 'momentum' buffer",
    ),
    (
      lambda: keras.optimizers.SGD(),
      optx.keras.SGD(momentum=0.9),
      ValueError,
      r"SGD has momentum=0\.0, which keeps no 'momentum' variables, and the optx state keeps 'momentum' buffer",
    ),
    (
      lambda: keras.optimizers.RMSprop(centered=True),
      optx.keras.RMSprop(),
      ValueError,
      r"RMSprop has centered=True, which keeps 'average_gradient' variables",
    ),
    (
      lambda: keras.optimizers.RMSprop(),
      optx.keras.RMSprop(momentum=0.5),
      ValueError,
      r"RMSprop has momentum=0\.0, which keeps no 'momentum' variables",
    ),
    (
      lambda: keras.optimizers.Adam(amsgrad=True),
      optx.keras.Adam(),
      ValueError,
      r"Adam has amsgrad=True, which keeps 'velocity_hat' variables",
    ),
    (
      lambda: keras.optimizers.Adam(use_ema=True),
      optx.keras.Adam(),
      ValueError,
      r"has use_ema=True, which keeps variables",
    ),
  ],
)
def test_another_optimizer_or_options_are_refused(make, tx, error, match):
  optimizer = make()
  if hasattr(optimizer, "build"):
    _built(optimizer)
  with pytest.raises(error, match=r"optx\.keras\.load_variables.*" + match):
    optx.keras.load_variables(tx, optimizer, P)
  with pytest.raises(error, match=r"optx\.keras\.variable_values.*" + match):
    optx.keras.variable_values(tx.init(P), optimizer)


def test_errors_name_the_variable_and_the_leaf():
  tx = optx.keras.Adam()
  with pytest.raises(
    ValueError, match=r"the Keras optimizer is not built, .* optimizer\.build"
  ):
    optx.keras.load_variables(tx, keras.optimizers.Adam(), P)
  opt = _built(keras.optimizers.Adam(), [(2,), (3,)])
  with pytest.raises(
    ValueError,
    match=r"params has 1 leaves and the Keras optimizer was built with 2 trainable variables",
  ):
    optx.keras.load_variables(tx, opt, P)
  with pytest.raises(
    ValueError, match=r"has shape \(3,\), and the params leaf \[1\] \(2,\)"
  ):
    optx.keras.load_variables(tx, opt, [P, P])
  with pytest.raises(
    ValueError,
    match=r"values=\.\.\.\) must hold one array per optimizer\.variables entry \(6\), got 2",
  ):
    optx.keras.load_variables(tx, opt, [P, jnp.zeros(3)], values=[0, 1])
  with pytest.raises(TypeError, match=r"values=\.\.\.\) must be a list of arrays"):
    optx.keras.load_variables(tx, opt, [P, jnp.zeros(3)], values="values")
  with pytest.raises(
    ValueError,
    match=r"order=\.\.\.\) must name each Keras variable once; the positions \[0\]",
  ):
    optx.keras.load_variables(tx, opt, [P, jnp.zeros(3)], order=[0, 0])
  with pytest.raises(
    ValueError,
    match=r"order=\.\.\.\) names 'dense/kernel' for the leaf \[0\], and the Keras variables are",
  ):
    optx.keras.load_variables(tx, opt, [P, jnp.zeros(3)], order=["dense/kernel", 1])
  with pytest.raises(TypeError, match=r"order=\.\.\.\) must hold ints .* got 1\.5"):
    optx.keras.load_variables(tx, opt, [P, jnp.zeros(3)], order=[1.5, 1])
  with pytest.raises(
    TypeError, match=r"load_variables\(tx=\.\.\.\) must be an optx\.keras optimizer"
  ):
    optx.keras.load_variables(optax.adam(0.1), opt, [P, jnp.zeros(3)])
  with pytest.raises(
    TypeError, match=r"variable_values\(state=\.\.\.\) must be an optx\.keras optimizer"
  ):
    optx.keras.variable_values(optx.torch.Adam().init(P), opt)


def test_scheduler_and_plateau_errors():
  scheduler = optx.keras.LearningRateScheduler(
    halve_every_other_epoch, steps_per_epoch=EPOCH
  )
  tx = optx.keras.SGD(0.05, callbacks=[scheduler])
  with pytest.raises(
    ValueError, match=r"steps_per_epoch=\.\.\.\) is needed with a LearningRateScheduler"
  ):
    optx.keras.load_variables(tx, _built(keras.optimizers.SGD(0.05)), P)
  with pytest.raises(
    ValueError, match=r"optx\.keras\.load_variables\(steps_per_epoch=\.\.\.\) must be"
  ):
    optx.keras.load_variables(
      tx, _built(keras.optimizers.SGD(0.05)), P, steps_per_epoch=0
    )
  scheduled = _built(
    keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
  )
  with pytest.raises(
    ValueError, match=r"learning_rate is a schedule, not a variable the callback sets"
  ):
    optx.keras.load_variables(tx, scheduled, P, steps_per_epoch=EPOCH)
  with pytest.raises(
    ValueError, match=r"learning_rate is a schedule, not a variable to set"
  ):
    optx.keras.variable_values(tx.init(P), scheduled)
  plateau = optx.keras.SGD(0.05, callbacks=[optx.keras.ReduceLROnPlateau()])
  with pytest.raises(
    ValueError,
    match=r"has a ReduceLROnPlateau: Keras keeps that callback's best, wait and cooldown in the callback",
  ):
    optx.keras.load_variables(plateau, _built(keras.optimizers.SGD(0.05)), P)
