"""The divergence table (docs/differences.md), one test per row.

Each test runs the real libraries where they are installed (Keras 3 on JAX,
PyTorch on CPU, Optax) and optx, and asserts the documented difference: what
agrees, what does not, and which optx line reproduces which framework.
Legacy tf.keras (Keras 2) is not installed: its rules are modelled in NumPy
from the documented formula and checked against the optx block (epsilon
placement) or ``optx.keras``'s legacy ``decay=`` spelling that reproduces them.
"""

from __future__ import annotations

import inspect
import types

import jax
import jax.numpy as jnp
import keras
import numpy as np
import optax
import oracles
import pytest
import torch

import optx

# Keras 3.15's variables convert to NumPy through an ``__array__`` that NumPy 2
# flags as deprecated; the warning is Keras's, not optx's.
pytestmark = pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

W0 = np.asarray([1.0, -0.5, 2.0], np.float32)
GRADS = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32) + 0.3


def keras_run(optimizer, grads=GRADS, w0=W0):
  """Keras 3's stateful ``optimizer.apply``, one update at a time."""
  variable = keras.Variable(w0)
  optimizer.build([variable])
  out = []
  for g in grads:
    optimizer.apply([jnp.asarray(g)], [variable])
    out.append(np.asarray(variable.value))
  return np.stack(out)


def torch_run(make_opt, grads=GRADS, w0=W0, make_sched=None):
  """PyTorch: set ``p.grad``, ``opt.step()``, then ``sched.step()``."""
  p = torch.tensor(w0)
  opt = make_opt([p])
  sched = None if make_sched is None else make_sched(opt)
  out = []
  for g in grads:
    p.grad = torch.tensor(g)
    opt.step()
    if sched is not None:
      sched.step()
    out.append(p.detach().numpy().copy())
  return np.stack(out)


def optax_run(tx, grads=GRADS, w0=W0):
  """Any optax transformation (optx's included), eagerly, in strict promotion."""
  params = jnp.asarray(w0)
  state = tx.init(params)
  out = []
  for g in grads:
    updates, state = tx.update(jnp.asarray(g), state, params)
    params = optax.apply_updates(params, updates)
    out.append(np.asarray(params))
  return np.stack(out)


def optax_lib_run(tx, grads=GRADS, w0=W0):
  """optax's own optimizers: some (adam's ``decay**count``) need standard promotion."""
  with jax.numpy_dtype_promotion("standard"):
    return optax_run(tx, grads, w0)


def close(a, b, rtol=1e-5):
  return np.allclose(a, b, rtol=rtol, atol=rtol * float(np.max(np.abs(b))))


def differ(a, b, by=1e-3):
  return float(np.max(np.abs(a - b))) > by * float(np.max(np.abs(b)))


def default(fn, name):
  return inspect.signature(fn).parameters[name].default


# ----------------------------------------------------------------------------
# Adam's variants and Adadelta.


def test_row_29_adamax_epsilon_inside_or_outside_the_maximum():
  assert (
    default(keras.optimizers.Adamax, "epsilon"),
    default(torch.optim.Adamax, "eps"),
  ) == (1e-7, 1e-8)
  assert (
    default(keras.optimizers.Adamax, "learning_rate"),
    default(torch.optim.Adamax, "lr"),
  ) == (0.001, 2e-3)
  # A large ε and a short β2 show where ε goes: u + ε (Keras) or
  # max(β2u, |g| + ε), where the decayed branch carries β2ε (PyTorch, Optax).
  keras_out = keras_run(keras.optimizers.Adamax(0.1, beta_2=0.5, epsilon=0.5))
  torch_out = torch_run(
    lambda p: torch.optim.Adamax(p, lr=0.1, betas=(0.9, 0.5), eps=0.5)
  )
  optax_out = optax_lib_run(optax.adamax(0.1, b2=0.5, eps=0.5))
  assert differ(keras_out, torch_out)
  assert close(optax_out, torch_out)
  kwargs = dict(lr=0.1, b1=0.9, b2=0.5, eps=0.5)
  assert close(
    keras_out, oracles.trajectory(oracles.adamax, W0, GRADS, 0.0, 0.0, **kwargs)
  )
  assert close(
    torch_out,
    oracles.trajectory(oracles.adamax, W0, GRADS, 0.0, 0.0, placement="max", **kwargs),
  )
  assert close(optax_run(optx.adamax(0.1, b2=0.5, eps=0.5)), keras_out)
  assert close(optax_run(optx.keras.Adamax(0.1, beta_2=0.5, epsilon=0.5)), keras_out)
  assert close(optax_run(optx.torch.Adamax(0.1, betas=(0.9, 0.5), eps=0.5)), torch_out)


def test_row_30_nadam_momentum_schedules_end_far_apart():
  assert default(torch.optim.NAdam, "momentum_decay") == 4e-3
  grads = np.random.default_rng(1).normal(size=(300, 3)).astype(np.float32) + 0.3
  keras_out = keras_run(keras.optimizers.Nadam(0.01, epsilon=1e-8), grads)
  torch_out = torch_run(lambda p: torch.optim.NAdam(p, lr=0.01), grads)
  optax_out = optax_lib_run(optax.nadam(0.01, eps=1e-8), grads)
  # Far apart: along 300 updates (the weights travel about 1) they differ by
  # more than 1% of the weights (measured: 1.6%, 2.6%, 4.1%).
  for a, b in [(keras_out, torch_out), (keras_out, optax_out), (torch_out, optax_out)]:
    assert differ(a, b, by=1e-2)
  # Each is Dozat's Nadam with its own momentum schedule μ_t = β1(1 − ½·0.96^(ψt)):
  # ψ = 1 (Keras), ψ = 0.004 (PyTorch), or a constant β1 (Optax).
  kwargs = dict(lr=0.01, b1=0.9, b2=0.999, eps=1e-8, placement="outside")
  for out, psi in [(keras_out, 1.0), (torch_out, 4e-3), (optax_out, None)]:
    expected = oracles.trajectory(
      oracles.nadam, W0, grads, 0.0, 0.0, momentum_decay=psi, **kwargs
    )
    assert close(out, expected, rtol=1e-4)
  assert close(optax_run(optx.keras.Nadam(0.01, epsilon=1e-8), grads), keras_out)
  assert close(optax_run(optx.torch.NAdam(0.01), grads), torch_out)
  # optx.nadam is Optax's constant β1, with ε inside the root of ŝ.
  ours = optax_run(optx.nadam(0.01, eps=1e-8), grads)
  theirs = optax_lib_run(optax.nadam(0.01, eps=0.0, eps_root=1e-8), grads)
  assert close(ours, theirs, rtol=1e-4)


def test_row_31_adamw_decoupled_forms_agree_defaults_differ():
  assert default(keras.optimizers.AdamW, "weight_decay") == 0.004
  assert default(torch.optim.AdamW, "weight_decay") == 0.01
  assert default(optax.adamw, "weight_decay") == 1e-4
  assert default(optx.adamw, "weight_decay") == 0.004
  w0 = np.full(3, 2.0, np.float32)
  keras_out = keras_run(
    keras.optimizers.AdamW(0.1, weight_decay=0.5, epsilon=1e-12), GRADS, w0
  )
  torch_out = torch_run(
    lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.5, eps=1e-12), GRADS, w0
  )
  optax_out = optax_lib_run(optax.adamw(0.1, eps=1e-12, weight_decay=0.5), GRADS, w0)
  # w − wλη, w(1 − ηλ) and −η(… + λw): one decay, rounded three ways.
  assert close(keras_out, torch_out, rtol=1e-4)
  assert close(optax_out, torch_out, rtol=1e-4)
  assert close(
    optax_run(optx.adamw(0.1, eps=0.0, weight_decay=0.5), GRADS, w0),
    torch_out,
    rtol=1e-4,
  )
  assert close(
    optax_run(optx.keras.AdamW(0.1, weight_decay=0.5, epsilon=1e-12), GRADS, w0),
    keras_out,
  )
  # Their defaults differ: the same run at each default decay ends apart.
  defaults = [
    keras_run(keras.optimizers.AdamW(0.1), GRADS, w0),
    torch_run(lambda p: torch.optim.AdamW(p, lr=0.1), GRADS, w0),
    optax_lib_run(optax.adamw(0.1), GRADS, w0),
  ]
  assert differ(defaults[0], defaults[1], by=1e-4)
  assert differ(defaults[1], defaults[2], by=1e-4)


def test_row_32_adadelta_same_rule_different_defaults():
  keras_defaults = [
    default(keras.optimizers.Adadelta, n) for n in ("learning_rate", "rho", "epsilon")
  ]
  torch_defaults = [default(torch.optim.Adadelta, n) for n in ("lr", "rho", "eps")]
  assert keras_defaults == [0.001, 0.95, 1e-7]
  assert torch_defaults == [1.0, 0.9, 1e-6]
  # With the same hyperparameters, the same rule.
  keras_out = keras_run(keras.optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-6))
  torch_out = torch_run(lambda p: torch.optim.Adadelta(p))
  optax_out = optax_lib_run(optax.adadelta(1.0))
  assert close(keras_out, torch_out)
  assert close(optax_out, torch_out)
  expected = oracles.trajectory(
    oracles.adadelta, W0, GRADS, 0.0, 0.0, lr=1.0, rho=0.9, eps=1e-6
  )
  assert close(torch_out, expected)
  # At their defaults, Keras moves about a thousand times less.
  keras_default = keras_run(keras.optimizers.Adadelta())
  assert differ(keras_default, torch_out)
  keras_step = np.max(np.abs(keras_default[-1] - W0))
  torch_step = np.max(np.abs(torch_out[-1] - W0))
  assert keras_step < 1e-2 * torch_step
  assert close(optax_run(optx.keras.Adadelta()), keras_default)
  assert close(optax_run(optx.torch.Adadelta()), torch_out)


# ----------------------------------------------------------------------------
# Optimizers.


def test_row_01_default_learning_rates():
  assert [
    float(keras.optimizers.get(name).learning_rate)
    for name in ("sgd", "adagrad", "rmsprop", "adam")
  ] == pytest.approx([0.01, 0.001, 0.001, 0.001])
  torch_defaults = [
    default(cls, "lr")
    for cls in (
      torch.optim.SGD,
      torch.optim.Adagrad,
      torch.optim.RMSprop,
      torch.optim.Adam,
    )
  ]
  assert torch_defaults == [1e-3, 1e-2, 1e-2, 1e-3]
  for fn in (optax.sgd, optax.adagrad, optax.rmsprop, optax.adam):
    assert default(fn, "learning_rate") is inspect.Parameter.empty
  for fn in (optx.sgd, optx.adagrad, optx.rmsprop, optx.adam):
    assert default(fn, "learning_rate") is inspect.Parameter.empty
  ours = [
    default(fn, "lr")
    for fn in (optx.torch.SGD, optx.torch.Adagrad, optx.torch.RMSprop, optx.torch.Adam)
  ]
  assert ours == torch_defaults


def test_row_02_momentum_buffer_holds_lr_inside_keras_outside_torch():
  g = np.asarray([[1.0, 2.0, -1.0]], np.float32)
  optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
  keras_run(optimizer, g)
  keras_buffer = np.asarray(optimizer.momentums[0].value)
  np.testing.assert_allclose(keras_buffer, -0.1 * g[0], rtol=1e-6)  # m = -lr g

  p = torch.tensor(W0)
  opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
  p.grad = torch.tensor(g[0])
  opt.step()
  np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), g[0])  # b = g

  def trace_of(tx):
    state = tx.update(jnp.asarray(g[0]), tx.init(jnp.asarray(W0)), jnp.asarray(W0))[1]
    is_trace = lambda s: isinstance(s, (optx.TraceState, optax.TraceState))
    return next(
      s.trace for s in jax.tree.leaves(state, is_leaf=is_trace) if is_trace(s)
    )

  np.testing.assert_allclose(trace_of(optx.momentum(0.1, 0.9)), keras_buffer, rtol=1e-6)
  torch_like = optx.torch.SGD(0.1, momentum=0.9)
  torch_state = torch_like.update(
    jnp.asarray(g[0]), torch_like.init(jnp.asarray(W0)), jnp.asarray(W0)
  )[1]
  np.testing.assert_allclose(torch_state.momentum_buffer, g[0])
  np.testing.assert_allclose(trace_of(optax.sgd(0.1, momentum=0.9)), g[0])


def test_row_03_first_momentum_step_is_the_gradient_in_torch():
  g = GRADS[:2]
  p = torch.tensor(W0)
  opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
  buffers = []
  for step in g:
    p.grad = torch.tensor(step)
    opt.step()
    buffers.append(opt.state[p]["momentum_buffer"].numpy().copy())
  np.testing.assert_allclose(buffers[0], g[0])  # b1 = g, no (1 - dampening)
  np.testing.assert_allclose(buffers[1], 0.9 * g[0] + 0.5 * g[1], rtol=1e-6)
  tx = optx.trace(0.9, dampening=0.5)
  state = tx.init(jnp.asarray(W0))
  ours = []
  for step in g:
    _, state = tx.update(jnp.asarray(step), state)
    ours.append(np.asarray(state.trace))
  np.testing.assert_allclose(ours, buffers, rtol=1e-6)
  # Keras and optax start from zeros without dampening: t1 = g as well.
  np.testing.assert_allclose(trace_first(optax.trace(0.9), g[0]), g[0])


def trace_first(tx, g):
  return np.asarray(tx.update(jnp.asarray(g), tx.init(jnp.asarray(W0)))[1].trace)


def _exponential_momentum_runs(nesterov):
  """SGD(momentum=0.9) under an exponentially decaying lr, in every library."""
  lr0, gamma = 0.1, 0.7
  keras_lr = keras.optimizers.schedules.ExponentialDecay(
    lr0, decay_steps=1, decay_rate=gamma
  )
  runs = {
    "keras": keras_run(keras.optimizers.SGD(keras_lr, momentum=0.9, nesterov=nesterov)),
    "torch": torch_run(
      lambda p: torch.optim.SGD(p, lr=lr0, momentum=0.9, nesterov=nesterov),
      make_sched=lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma),
    ),
    "optax": optax_lib_run(
      optax.sgd(optax.exponential_decay(lr0, 1, gamma), momentum=0.9, nesterov=nesterov)
    ),
    "optx": optax_run(
      optx.sgd(
        optx.exponential_schedule(lr0, 1, gamma), momentum=0.9, nesterov=nesterov
      )
    ),
    "optx.torch": optax_run(
      optx.torch.SGD(
        optx.torch.ExponentialLR(lr0, gamma), momentum=0.9, nesterov=nesterov
      )
    ),
  }
  constant = {
    "keras": keras_run(keras.optimizers.SGD(lr0, momentum=0.9, nesterov=nesterov)),
    "torch": torch_run(
      lambda p: torch.optim.SGD(p, lr=lr0, momentum=0.9, nesterov=nesterov)
    ),
    "optax": optax_lib_run(optax.sgd(lr0, momentum=0.9, nesterov=nesterov)),
    "optx": optax_run(optx.sgd(lr0, momentum=0.9, nesterov=nesterov)),
  }
  return runs, constant


@pytest.mark.parametrize(
  "nesterov", [False, True], ids=["row_04_momentum", "row_05_nesterov"]
)
def test_rows_04_05_momentum_under_a_changing_lr(nesterov):
  runs, constant = _exponential_momentum_runs(nesterov)
  assert close(runs["optx"], runs["keras"])  # past rates stay in the velocity
  assert close(runs["optax"], runs["torch"])  # current rate times the whole buffer
  assert close(runs["optx.torch"], runs["torch"])
  assert differ(runs["keras"], runs["torch"])
  for name in ("torch", "optax", "optx"):  # a constant rate: all the same
    assert close(constant[name], constant["keras"])


def test_row_06_dampening_is_torch_only():
  damped = torch_run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5))
  plain = torch_run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
  assert differ(damped, plain)
  assert close(optax_run(optx.torch.SGD(0.1, momentum=0.9, dampening=0.5)), damped)
  for fn in (keras.optimizers.SGD, optax.sgd, optx.sgd):
    assert "dampening" not in inspect.signature(fn).parameters


def test_row_07_adagrad_initial_accumulator():
  assert keras.optimizers.Adagrad().initial_accumulator_value == pytest.approx(0.1)
  assert default(torch.optim.Adagrad, "initial_accumulator_value") == 0
  assert default(optax.adagrad, "initial_accumulator_value") == 0.1
  assert default(optx.adagrad, "initial_accumulator_value") == 0.1
  assert default(optx.torch.Adagrad, "initial_accumulator_value") == 0
  g = GRADS[:1]
  keras_step = keras_run(keras.optimizers.Adagrad(0.1, epsilon=0.0), g) - W0
  torch_step = torch_run(lambda p: torch.optim.Adagrad(p, lr=0.1, eps=0.0), g) - W0
  np.testing.assert_allclose(keras_step, -0.1 * g / np.sqrt(0.1 + g * g), rtol=1e-5)
  np.testing.assert_allclose(torch_step, -0.1 * np.sign(g), rtol=1e-5)  # g / sqrt(g^2)


def _adagrad_numpy(g_seq, lr, acc0, eps, inside, decay=0.0):
  placement = "inside" if inside else "outside"
  return oracles.trajectory(
    oracles.adagrad,
    W0,
    g_seq,
    acc0,
    lr=lr,
    eps=eps,
    placement=placement,
    lr_decay=decay,
  )


def test_row_08_adagrad_epsilon_placement():
  eps = 0.5  # large, so that inside and outside differ visibly
  inside = _adagrad_numpy(GRADS, 0.1, 0.1, eps, inside=True)
  outside = _adagrad_numpy(GRADS, 0.1, 0.1, eps, inside=False)
  assert differ(inside, outside)
  assert close(keras_run(keras.optimizers.Adagrad(0.1, epsilon=eps)), inside)
  assert close(optax_lib_run(optax.adagrad(0.1, eps=eps)), inside)
  assert close(optax_run(optx.adagrad(0.1, eps=eps)), inside)
  torch_out = torch_run(
    lambda p: torch.optim.Adagrad(p, lr=0.1, eps=eps, initial_accumulator_value=0.1)
  )
  assert close(torch_out, outside)
  assert close(
    optax_run(optx.torch.Adagrad(0.1, eps=eps, initial_accumulator_value=0.1)), outside
  )
  # Legacy tf.keras (outside, acc from 0.1): the optx block with eps outside.
  legacy = optax.chain(
    optx.scale_by_rss(0.1, eps, eps_placement="outside"),
    optx.scale_by_learning_rate(0.1),
  )
  assert close(optax_run(legacy), outside)


def test_row_09_adagrad_lr_decay_is_inverse_time_in_torch_and_legacy_keras():
  decay = 0.3
  model = _adagrad_numpy(
    GRADS, 0.1, 0.1, 1e-7, inside=False, decay=decay
  )  # legacy rule
  torch_out = torch_run(
    lambda p: torch.optim.Adagrad(
      p, lr=0.1, lr_decay=decay, initial_accumulator_value=0.1, eps=1e-7
    )
  )
  assert close(torch_out, model)  # torch's lr_decay has legacy decay's form
  no_decay = _adagrad_numpy(GRADS, 0.1, 0.1, 1e-7, inside=False)
  assert differ(model, no_decay)
  ours = optx.torch.Adagrad(
    0.1, lr_decay=decay, initial_accumulator_value=0.1, eps=1e-7
  )
  assert close(optax_run(ours), model)
  # The seed's legacy spelling in optx.keras: lr / (1 + decay * k), k = t - 1.
  legacy = optx.keras.Adagrad(lr=0.1, decay=decay)
  assert close(optax_run(legacy), model, rtol=1e-4)  # eps 1e-7 inside vs outside
  # Keras 3 and optx: the same factor through a schedule, t - 1 = the step count.
  keras_lr = keras.optimizers.schedules.InverseTimeDecay(
    0.1, decay_steps=1, decay_rate=decay
  )
  seed = optx.power_schedule(0.1, steps=1 / decay)
  for k in range(5):
    assert float(seed(k)) == pytest.approx(0.1 / (1 + decay * k), rel=1e-6)
    assert float(keras_lr(k)) == pytest.approx(0.1 / (1 + decay * k), rel=1e-6)


def test_row_10_rmsprop_decay_default():
  assert keras.optimizers.RMSprop().rho == pytest.approx(0.9)
  assert default(torch.optim.RMSprop, "alpha") == 0.99
  assert default(optax.rmsprop, "decay") == 0.9
  assert default(optx.rmsprop, "decay") == 0.9
  assert default(optx.torch.RMSprop, "alpha") == 0.99


def _rmsprop_numpy(g_seq, lr, rho, eps, inside, centered=False):
  placement = "inside" if inside else "outside"
  return oracles.trajectory(
    oracles.rmsprop,
    W0,
    g_seq,
    0.0,
    0.0,
    0.0,
    lr=lr,
    rho=rho,
    eps=eps,
    centered=centered,
    placement=placement,
  )


@pytest.mark.parametrize(
  "centered", [False, True], ids=["row_11_epsilon", "row_13_centered"]
)
def test_rows_11_13_rmsprop_epsilon_placement(centered):
  eps = 0.1
  inside = _rmsprop_numpy(GRADS, 0.01, 0.9, eps, True, centered)
  outside = _rmsprop_numpy(GRADS, 0.01, 0.9, eps, False, centered)
  assert differ(inside, outside)
  assert close(
    keras_run(keras.optimizers.RMSprop(0.01, epsilon=eps, centered=centered)), inside
  )
  assert close(optax_lib_run(optax.rmsprop(0.01, eps=eps, centered=centered)), inside)
  assert close(optax_run(optx.rmsprop(0.01, eps=eps, centered=centered)), inside)
  torch_out = torch_run(
    lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=eps, centered=centered)
  )
  assert close(torch_out, outside)
  assert close(
    optax_run(optx.torch.RMSprop(0.01, alpha=0.9, eps=eps, centered=centered)), outside
  )
  # Legacy tf.keras without momentum: outside (the optx block with eps outside).
  scale = optx.scale_by_stddev if centered else optx.scale_by_rms
  legacy = optax.chain(
    scale(0.9, eps, eps_placement="outside"), optx.scale_by_learning_rate(0.01)
  )
  assert close(optax_run(legacy), outside)


def test_row_12_rmsprop_momentum_lr_inside_keras_and_optax():
  lr0, gamma = 0.01, 0.8
  keras_lr = keras.optimizers.schedules.ExponentialDecay(lr0, 1, gamma)
  runs = {
    "keras": keras_run(keras.optimizers.RMSprop(keras_lr, momentum=0.9)),
    "optax": optax_run(
      optax.rmsprop(optax.exponential_decay(lr0, 1, gamma), eps=1e-7, momentum=0.9)
    ),
    "optx": optax_run(
      optx.rmsprop(optx.exponential_schedule(lr0, 1, gamma), momentum=0.9)
    ),
    "torch": torch_run(
      lambda p: torch.optim.RMSprop(p, lr=lr0, alpha=0.9, eps=1e-7, momentum=0.9),
      make_sched=lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma),
    ),
    "optx.torch": optax_run(
      optx.torch.RMSprop(
        optx.torch.ExponentialLR(lr0, gamma), alpha=0.9, eps=1e-7, momentum=0.9
      )
    ),
  }
  assert close(runs["optax"], runs["keras"])
  assert close(runs["optx"], runs["keras"])
  assert close(runs["optx.torch"], runs["torch"])
  assert differ(runs["keras"], runs["torch"])


# The semantics' example: lr=0.1, eps=0.01, w0=1, g=[1, -0.5, 2, 0.3].
ADAM_G = np.asarray([[1.0], [-0.5], [2.0], [0.3]], np.float32)
ADAM_W0 = np.asarray([1.0], np.float32)


def test_row_14_adam_epsilon_hat_vs_outside():
  keras_out = keras_run(keras.optimizers.Adam(0.1, epsilon=0.01), ADAM_G, ADAM_W0)
  np.testing.assert_allclose(
    keras_out[:, 0], [0.92402583, 0.90326643, 0.84543824, 0.79178488], rtol=1e-6
  )
  optax_out = optax_lib_run(optax.adam(0.1, eps=0.01), ADAM_G, ADAM_W0)
  np.testing.assert_allclose(
    optax_out[:, 0], [0.90099072, 0.87469000, 0.80937266, 0.74889535], rtol=1e-6
  )
  torch_out = torch_run(
    lambda p: torch.optim.Adam(p, lr=0.1, eps=0.01), ADAM_G, ADAM_W0
  )
  assert close(torch_out, optax_out)
  assert close(optax_run(optx.torch.Adam(0.1, eps=0.01), ADAM_G, ADAM_W0), torch_out)
  hat = optax.chain(
    optx.scale_by_adam(eps=0.01, eps_placement="hat"), optx.scale_by_learning_rate(0.1)
  )
  assert close(optax_run(hat, ADAM_G, ADAM_W0), keras_out)
  seed = optax_run(
    optx.adam(0.1, eps=0.01), ADAM_G, ADAM_W0
  )  # eps inside the root of s-hat
  assert differ(seed, keras_out) and differ(seed, torch_out)
  np.testing.assert_allclose(
    seed,
    optax_lib_run(optax.adam(0.1, eps=0.0, eps_root=0.01), ADAM_G, ADAM_W0),
    rtol=1e-5,
  )


def test_row_15_amsgrad_max_over_raw_or_corrected_v():
  g = np.concatenate([np.full((1, 3), 5.0), np.full((11, 3), 0.1)]).astype(np.float32)
  torch_out = torch_run(lambda p: torch.optim.Adam(p, lr=0.1, amsgrad=True), g)
  assert close(optax_run(optx.torch.Adam(0.1, amsgrad=True), g), torch_out)
  assert differ(
    optax_lib_run(optax.amsgrad(0.1, eps=1e-8), g), torch_out
  )  # max over v-hat
  keras_out = keras_run(keras.optimizers.Adam(0.1, amsgrad=True), g)
  hat = optax.chain(
    optx.scale_by_adam(eps=1e-7, eps_placement="hat", amsgrad=True),
    optx.scale_by_learning_rate(0.1),
  )
  assert close(optax_run(hat, g), keras_out)


def _bias_correction_from_one_update(update, s):
  """1 − β₂ᵗ read back from an Adam update with β₁ = 0, ε = 0, g = 1 from zero
  moments: the step is 1 / √(s / (1 − β₂ᵗ)) with s = (1 − β₂)·g², so
  (1 − β₂ᵗ) = u² s, to a few float32 roundings (2e-7 relative)."""
  return float(update) ** 2 * float(s)


def _optx_bias_corrections(tx, second_moment, t):
  """``tx``'s 1 − β₂ᵗ at the updates ``t``: its step count set to t − 1."""
  out = []
  for k in t:
    state = optax.tree_utils.tree_set(tx.init(jnp.ones(1)), count=jnp.int32(k - 1))
    update, state = tx.update(jnp.ones(1), state, jnp.ones(1))
    s = optax.tree_utils.tree_get(state, second_moment)[0]
    out.append(_bias_correction_from_one_update(update[0], s))
  return np.asarray(out)


def test_row_16_bias_correction_power_precision():
  t = np.arange(1, 6)
  float64 = 1 - 0.999**t  # PyTorch's Python floats
  float32 = 1 - np.float32(0.999) ** t.astype(np.float32)  # Keras's, optx's
  relative = np.abs(float32 - float64) / float64
  assert relative.max() > 1e-6  # float32 rounding of beta2 shows in 1 - beta2^t
  assert relative.max() < 1e-4  # ...and stays far inside the trajectories' tolerance
  torch_bc = []
  for k in t:
    p = torch.zeros(1)
    opt = torch.optim.Adam([p], lr=1.0, betas=(0.0, 0.999), eps=0.0)
    opt.state[p] = {
      "step": torch.tensor(float(k - 1)),
      "exp_avg": torch.zeros(1),
      "exp_avg_sq": torch.zeros(1),
    }
    p.grad = torch.ones(1)
    opt.step()
    s = opt.state[p]["exp_avg_sq"][0]
    torch_bc.append(_bias_correction_from_one_update(-p[0], s))
  np.testing.assert_allclose(torch_bc, float64, rtol=1e-6)
  # optx's seed block and Keras flavor compute it in float32, as Keras does.
  for tx, second_moment in (
    (optx.scale_by_adam(b1=0.0, eps=0.0, eps_placement="outside"), "nu"),
    (optx.keras.Adam(1.0, beta_1=0.0, epsilon=0.0), "velocity"),
  ):
    ours = _optx_bias_corrections(tx, second_moment, t)
    np.testing.assert_allclose(ours, float32, rtol=1e-6)
    assert np.max(np.abs(ours - torch_bc) / float64) > 1e-6  # not PyTorch's
  # The PyTorch flavor computes it in PyTorch's double precision.
  tx = optx.torch.Adam(1.0, betas=(0.0, 0.999), eps=0.0)
  ours = _optx_bias_corrections(tx, "exp_avg_sq", t)
  np.testing.assert_allclose(ours, torch_bc, rtol=1e-6)
  assert np.max(np.abs(ours - float32) / float64) > 1e-6  # not float32's


def test_row_17_moment_update_forms_round_differently():
  rng = np.random.default_rng(1)
  m = rng.normal(size=10_000).astype(np.float32)
  g = rng.normal(size=10_000).astype(np.float32)
  b = np.float32(0.9)
  weighted = b * m + (np.float32(1) - b) * g  # the seed's, Optax's
  interpolated = m + (g - m) * (np.float32(1) - b)  # PyTorch's lerp (weight < 1/2)
  keras_form = m + (g - m) * np.float32(1 - 0.9)  # Keras: 1 - beta in float64
  # From a non-zero moment the forms round differently (from zero all give
  # (1 - b) g), in the last bits only.
  for a, b_ in ((weighted, interpolated), (weighted, keras_form)):
    assert np.mean(a != b_) > 0.1
    np.testing.assert_allclose(a, b_, rtol=1e-5, atol=1e-6)

  def first_moment(tx, field):
    # Eagerly, op by op: under jit XLA may fuse a multiply-add and round once.
    state = optax.tree_utils.tree_set(
      tx.init(jnp.asarray(m)), **{field: jnp.asarray(m)}
    )
    _, state = tx.update(jnp.asarray(g), state, jnp.asarray(m))
    return np.asarray(optax.tree_utils.tree_get(state, field))

  forms = {
    "weighted": weighted,
    "interpolated": interpolated,
    "torch": interpolated,
  }
  for form, expected in forms.items():
    tx = optx.scale_by_adam(b1=0.9, moment_form=form)
    np.testing.assert_array_equal(first_moment(tx, "mu"), expected, err_msg=form)
  # The seed's weighted average by default; each flavor its framework's form.
  np.testing.assert_array_equal(
    first_moment(optx.scale_by_adam(b1=0.9), "mu"), weighted
  )
  np.testing.assert_array_equal(first_moment(optx.adam(0.1), "mu"), weighted)
  keras_m = first_moment(optx.keras.Adam(0.1), "momentum")
  np.testing.assert_array_equal(keras_m, keras_form)
  # PyTorch's lerp weight is Python's 1 - beta1 too, rounded once (eagerly, the
  # kernel's fused multiply-add is two roundings here).
  torch_m = first_moment(optx.torch.Adam(0.1), "exp_avg")
  np.testing.assert_array_equal(torch_m, keras_form)


def test_row_18_weight_decay_decoupled_or_coupled():
  w0 = np.full(3, 2.0, np.float32)
  g = GRADS[:5]
  keras_out = keras_run(
    keras.optimizers.Adam(0.1, weight_decay=0.5, epsilon=1e-12), g, w0
  )
  torch_decoupled = torch_run(
    lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.5, eps=1e-12), g, w0
  )
  torch_coupled = torch_run(
    lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.5, eps=1e-12), g, w0
  )
  optax_out = optax_lib_run(optax.adamw(0.1, eps=1e-12, weight_decay=0.5), g, w0)
  assert close(keras_out, torch_decoupled, rtol=1e-4)
  assert close(optax_out, torch_decoupled)
  assert differ(torch_coupled, torch_decoupled)
  assert close(
    optax_run(optx.torch.Adam(0.1, eps=1e-12, weight_decay=0.5), g, w0), torch_coupled
  )
  assert close(
    optax_run(optx.torch.AdamW(0.1, eps=1e-12, weight_decay=0.5), g, w0),
    torch_decoupled,
  )
  ours = optax.chain(
    optx.scale_by_adam(eps=1e-12, eps_placement="outside"),
    optx.scale_by_learning_rate(0.1),
    optx.add_decoupled_weight_decay(0.5, 0.1),
  )
  assert close(optax_run(ours, g, w0), torch_decoupled)
  # Keras decays every optimizer: SGD(0.1, weight_decay=0.5), g = 0 gives 0.95.
  keras_sgd = keras_run(
    keras.optimizers.SGD(0.1, weight_decay=0.5),
    np.zeros((1, 3), np.float32),
    np.ones(3, np.float32),
  )
  np.testing.assert_allclose(keras_sgd[0], 0.95, rtol=1e-6)


def test_row_19_clipnorm_per_variable_or_global():
  g1, g2 = (
    np.asarray([3.0, 4.0], np.float32),
    np.asarray([0.0, 1.0], np.float32),
  )  # norms 5, 1
  a, b = (
    keras.Variable(np.zeros(2, np.float32)),
    keras.Variable(np.zeros(2, np.float32)),
  )
  keras.optimizers.SGD(1.0, clipnorm=1.0).apply(
    [jnp.asarray(g1), jnp.asarray(g2)], [a, b]
  )
  np.testing.assert_allclose(
    -np.asarray(a.value), g1 / 5, rtol=1e-6
  )  # each variable alone
  np.testing.assert_allclose(-np.asarray(b.value), g2, rtol=1e-6)
  total = np.sqrt(26.0)
  pa, pb = torch.zeros(2), torch.zeros(2)
  pa.grad, pb.grad = torch.tensor(g1), torch.tensor(g2)
  torch.nn.utils.clip_grad_norm_([pa, pb], max_norm=1.0)
  np.testing.assert_allclose(
    pb.grad.numpy(), g2 / (total + 1e-6), rtol=1e-6
  )  # global, +1e-6
  clipped, _ = optax.clip_by_global_norm(1.0).update(
    [jnp.asarray(g1), jnp.asarray(g2)], None
  )
  np.testing.assert_allclose(
    np.asarray(clipped[1]), g2 / total, rtol=1e-6
  )  # global, no 1e-6


def test_row_20_schedules_see_step_zero_on_the_first_update():
  seen = []

  class Recorder(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
      seen.append(int(step))
      return 0.1

  keras_run(keras.optimizers.SGD(Recorder()), GRADS[:4])
  assert seen[:4] == [0, 1, 2, 3]
  torch_seen = []
  torch_run(
    lambda p: torch.optim.SGD(p, lr=0.1),
    GRADS[:4],
    make_sched=lambda o: torch.optim.lr_scheduler.LambdaLR(
      o, lambda e: torch_seen.append(e) or 1.0
    ),
  )
  assert torch_seen[:4] == [0, 1, 2, 3]  # lambda(0) at construction = update 1's lr
  ramp = lambda count: jnp.asarray(count, jnp.float32) + 1.0  # lr = step + 1
  for tx in (optax.sgd(ramp), optx.sgd(ramp), optx.torch.SGD(ramp)):
    out = optax_run(tx, np.ones((3, 3), np.float32), np.zeros(3, np.float32))
    np.testing.assert_allclose(out[:, 0], [-1.0, -3.0, -6.0])  # lrs 1, 2, 3
  # Legacy tf.keras's decay reads the same count (0 on the first update).
  legacy = optx.keras.SGD(lr=1.0, decay=1.0)
  out = optax_run(legacy, np.ones((3, 3), np.float32), np.zeros(3, np.float32))
  np.testing.assert_allclose(out[:, 0], -np.cumsum([1.0, 1 / 2, 1 / 3]), rtol=1e-6)


def test_row_21_piecewise_boundary_left_or_right():
  keras_schedule = keras.optimizers.schedules.PiecewiseConstantDecay([5], [1.0, 0.5])
  assert float(keras_schedule(5)) == 1.0 and float(keras_schedule(6)) == 0.5  # left
  p = torch.zeros(1)
  opt = torch.optim.SGD([p], lr=1.0)
  sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5], gamma=0.5)
  torch_lrs = []
  for _ in range(7):
    torch_lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
  assert torch_lrs[4:6] == [1.0, 0.5]  # right: epoch == milestone is decayed
  assert float(optax.piecewise_constant_schedule(1.0, {5: 0.5})(5)) == 0.5
  assert float(optx.piecewise_constant_schedule([5], [1.0, 0.5])(5)) == 0.5
  assert float(optx.torch.MultiStepLR(1.0, [5], 0.5)(5)) == 0.5


def test_row_22_exponential_decay_closed_form_or_recursive():
  steps = np.arange(40)
  keras_values = [
    float(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)(s)) for s in steps
  ]
  optax_values = np.asarray(jax.vmap(optax.exponential_decay(0.1, 10, 0.5))(steps))
  optx_values = np.asarray(jax.vmap(optx.exponential_schedule(0.1, 10, 0.5))(steps))
  np.testing.assert_allclose(optax_values, keras_values, rtol=1e-6)
  np.testing.assert_allclose(optx_values, keras_values, rtol=1e-6)
  p = torch.zeros(1)
  opt = torch.optim.SGD([p], lr=0.1)
  sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5 ** (1 / 10))
  torch_values = []
  for _ in steps:
    torch_values.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
  np.testing.assert_allclose(
    torch_values, keras_values, rtol=1e-6
  )  # recursive, same values
  ours = np.asarray(jax.vmap(optx.torch.ExponentialLR(0.1, 0.5 ** (1 / 10)))(steps))
  np.testing.assert_allclose(ours, torch_values, rtol=1e-5)


# ----------------------------------------------------------------------------
# Performance scheduling: Keras's callback, PyTorch's scheduler, optax.contrib.


def keras_plateau_lrs(values, **kwargs):
  optimizer = keras.optimizers.SGD(learning_rate=1.0)
  callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **kwargs)
  callback.set_model(types.SimpleNamespace(optimizer=optimizer))
  callback.on_train_begin()
  lrs = []
  for epoch, value in enumerate(values):
    callback.on_epoch_end(epoch, {"val_loss": float(value)})
    lrs.append(float(optimizer.learning_rate))
  return np.asarray(lrs), callback


def torch_plateau_lrs(values, lr=1.0, **kwargs):
  opt = torch.optim.SGD([torch.zeros(1)], lr=lr)
  sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
  lrs = []
  for value in values:
    sched.step(float(value))
    lrs.append(opt.param_groups[0]["lr"])
  return np.asarray(lrs), sched


def optax_plateau_scales(values, **kwargs):
  tx = optax.contrib.reduce_on_plateau(**kwargs)
  scales = []
  with jax.numpy_dtype_promotion("standard"):  # optax.contrib mixes dtypes
    state = tx.init(jnp.zeros(1))
    for value in values:
      _, state = tx.update(jnp.zeros(1), state, value=jnp.float32(value))
      scales.append(float(state.scale))
  return np.asarray(scales)


def optx_plateau_states(values, **kwargs):
  state = optx.reduce_on_plateau(**kwargs).init(None)
  states = []
  for value in values:
    state = optx.observe(state, value)
    states.append(state)
  return np.asarray([float(s.scale) for s in states]), states


def reductions(scales):
  scales = np.concatenate([[1.0], scales])
  return [i for i in range(1, len(scales)) if scales[i] < scales[i - 1]]


def index_of_reductions(scales):
  return [i - 1 for i in reductions(scales)]


FLAT = np.ones(13)


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_row_23_patience_first_reduction_at_p_or_p_plus_one(patience):
  keras_lrs, _ = keras_plateau_lrs(FLAT, factor=0.5, patience=patience)
  torch_lrs, _ = torch_plateau_lrs(FLAT, factor=0.5, patience=patience)
  assert index_of_reductions(keras_lrs)[0] == patience
  assert index_of_reductions(torch_lrs)[0] == patience + 1
  optax_scales = optax_plateau_scales(FLAT, factor=0.5, patience=patience)
  assert index_of_reductions(optax_scales)[0] == patience  # like Keras
  keras_rule, _ = optx_plateau_states(FLAT, factor=0.5, patience=patience)
  torch_rule, _ = optx_plateau_states(FLAT, factor=0.5, patience=patience, rule="torch")
  assert index_of_reductions(keras_rule) == index_of_reductions(keras_lrs)
  assert index_of_reductions(torch_rule) == index_of_reductions(torch_lrs)


def test_row_24_threshold_absolute_or_relative():
  values = [
    100.0,
    99.995,
    99.99,
    99.985,
  ]  # steps of 0.005: > 1e-4 absolute, < 1e-4 relative
  keras_lrs, _ = keras_plateau_lrs(values, factor=0.5, patience=1, min_delta=1e-4)
  torch_lrs, _ = torch_plateau_lrs(values, factor=0.5, patience=0, threshold=1e-4)
  assert reductions(keras_lrs) == []  # every step improves by more than 1e-4
  assert reductions(torch_lrs) != []  # 0.005 / 100 < 1e-4: no improvement
  torch_abs, _ = torch_plateau_lrs(
    values, factor=0.5, patience=0, threshold=1e-4, threshold_mode="abs"
  )
  assert reductions(torch_abs) == []
  assert (
    reductions(optax_plateau_scales(values, factor=0.5, patience=1, rtol=1e-4)) != []
  )
  assert (
    reductions(
      optax_plateau_scales(values, factor=0.5, patience=1, rtol=0.0, atol=1e-4)
    )
    == []
  )
  keras_rule, _ = optx_plateau_states(values, factor=0.5, patience=1, min_delta=1e-4)
  torch_rule, _ = optx_plateau_states(
    values, factor=0.5, patience=0, min_delta=1e-4, threshold_mode="rel", rule="torch"
  )
  assert reductions(keras_rule) == reductions(keras_lrs)
  assert reductions(torch_rule) == reductions(torch_lrs)


def test_row_25_cooldown_counting():
  flat = np.ones(16)
  keras_c0, _ = keras_plateau_lrs(flat, factor=0.5, patience=2, cooldown=0)
  keras_c1, _ = keras_plateau_lrs(flat, factor=0.5, patience=2, cooldown=1)
  assert index_of_reductions(keras_c1) == index_of_reductions(
    keras_c0
  )  # c=1 does nothing
  keras_c2, _ = keras_plateau_lrs(flat, factor=0.5, patience=2, cooldown=2)
  assert np.diff(index_of_reductions(keras_c2))[0] == 2 + 2 - 1  # c - 1 ignored epochs
  for cooldown, expected in [(0, [3, 6, 9]), (1, [3, 7, 11]), (2, [3, 8, 13])]:
    torch_lrs, _ = torch_plateau_lrs(flat, factor=0.5, patience=2, cooldown=cooldown)
    assert index_of_reductions(torch_lrs)[:3] == expected  # c ignored epochs
    ours, _ = optx_plateau_states(
      flat, factor=0.5, patience=2, cooldown=cooldown, rule="torch"
    )
    assert index_of_reductions(ours) == index_of_reductions(torch_lrs)
  for keras_lrs, cooldown in [(keras_c1, 1), (keras_c2, 2)]:
    ours, _ = optx_plateau_states(flat, factor=0.5, patience=2, cooldown=cooldown)
    assert index_of_reductions(ours) == index_of_reductions(keras_lrs)
  optax_c2 = optax_plateau_scales(flat, factor=0.5, patience=2, cooldown=2)
  assert np.diff(index_of_reductions(optax_c2))[0] == 2 + 2  # c evaluations ignored


def test_row_26_floor_and_counters():
  flat = np.ones(12)
  keras_lrs, callback = keras_plateau_lrs(flat, factor=0.5, patience=1, min_lr=0.25)
  assert (
    keras_lrs.min() == pytest.approx(0.25) and callback.wait > 1
  )  # wait keeps growing
  torch_lrs, sched = torch_plateau_lrs(flat, factor=0.5, patience=1, min_lr=0.25)
  assert (
    torch_lrs.min() == pytest.approx(0.25) and sched.num_bad_epochs <= 1
  )  # reset anyway
  tiny, _ = torch_plateau_lrs(flat, lr=1e-8, factor=0.5, patience=1)
  assert np.all(tiny == 1e-8)  # a change below eps=1e-8 is not applied
  _, keras_states = optx_plateau_states(flat, factor=0.5, patience=1, min_scale=0.25)
  _, torch_states = optx_plateau_states(
    flat, factor=0.5, patience=1, min_scale=0.25, rule="torch"
  )
  assert int(keras_states[-1].wait) == callback.wait
  assert int(torch_states[-1].wait) == sched.num_bad_epochs
  optax_scales = optax_plateau_scales(flat, factor=0.5, patience=1, min_scale=0.25)
  assert optax_scales.min() == pytest.approx(0.25)


def test_row_27_onecycle_shapes():
  p = torch.zeros(1)
  opt = torch.optim.SGD([p], lr=1.0, momentum=0.9)
  sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
  torch_lrs, torch_momenta = [], []
  for _ in range(10):
    torch_lrs.append(opt.param_groups[0]["lr"])
    torch_momenta.append(opt.param_groups[0]["momentum"])
    opt.step()
    sched.step()
  np.testing.assert_allclose(
    torch_lrs[:3], [0.04, 0.52, 1.0], rtol=1e-6
  )  # peak at pct*T - 1
  assert np.argmax(torch_lrs) == 2 and torch_momenta[0] == pytest.approx(0.95)
  with jax.numpy_dtype_promotion("standard"):  # optax's schedule mixes dtypes
    optax_lrs = np.asarray(
      jax.vmap(optax.cosine_onecycle_schedule(10, 1.0))(jnp.arange(10))
    )
  np.testing.assert_allclose(
    optax_lrs[:4], [0.04, 0.28, 0.76, 1.0], rtol=1e-5
  )  # peak at int(pct*T)
  ours = optx.torch.OneCycleLR(1.0, total_steps=10)
  np.testing.assert_allclose(
    np.asarray(jax.vmap(ours)(jnp.arange(10))), torch_lrs, rtol=1e-5, atol=1e-7
  )
  np.testing.assert_allclose(
    np.asarray(jax.vmap(ours.momentum)(jnp.arange(10))), torch_momenta, rtol=1e-6
  )
  seed = np.asarray(
    jax.vmap(optx.onecycle_schedule(10, 1.0))(jnp.arange(10))
  )  # Géron's, lr only
  np.testing.assert_allclose(
    seed, [0.1, 0.325, 0.55, 0.775, 1.0, 0.775, 0.55, 0.325, 0.1, 0.05005], rtol=1e-5
  )


def test_row_28_lr_by_epoch_callback():
  def fn(epoch, lr):  # the seed's two-argument form, 0-based epoch
    return 0.01 * 0.1 ** (epoch / 20)

  optimizer = keras.optimizers.SGD(learning_rate=1.0)
  callback = keras.callbacks.LearningRateScheduler(fn)
  callback.set_model(types.SimpleNamespace(optimizer=optimizer))
  keras_lrs = []
  for epoch in range(5):
    callback.on_epoch_begin(epoch)
    keras_lrs.append(float(optimizer.learning_rate))
  expected = [fn(e, None) for e in range(5)]
  np.testing.assert_allclose(keras_lrs, expected, rtol=1e-6)
  p = torch.zeros(1)
  opt = torch.optim.SGD([p], lr=0.01)
  sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: fn(e, None) / 0.01)
  torch_lrs = []
  for _ in range(5):
    torch_lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
  np.testing.assert_allclose(torch_lrs, expected, rtol=1e-6)
  schedule = optx.epoch_schedule(lambda epoch: fn(epoch, None), steps_per_epoch=3)
  ours = np.asarray(jax.vmap(schedule)(jnp.arange(15)))
  np.testing.assert_allclose(ours, np.repeat(expected, 3), rtol=1e-6)
  optax_tx = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)
  state = optax_tx.init(jnp.zeros(1))
  state.hyperparams["learning_rate"] = jnp.float32(
    expected[2]
  )  # a manual epoch counter
  updates, _ = optax_tx.update(jnp.ones(1), state)
  assert float(updates[0]) == pytest.approx(-expected[2], rel=1e-6)
