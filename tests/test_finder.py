"""optx.find_learning_rate against a NumPy replay of the book's ``find_learning_rate``.

The replay is the book's procedure written out: ``factor = (max_rate /
min_rate) ** (1 / iterations)``, the rate multiplied by it after every batch
(the ``ExponentialLearningRate`` callback), each batch's loss recorded before
its update, a softmax regression with hand-written gradients, and the rule
"about ten times lower than the turning point" on the recorded curve.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

N_BATCHES, BATCH, FEATURES, CLASSES = 40, 16, 6, 4


def _data(seed=0):
  rng = np.random.default_rng(seed)
  w_true = rng.normal(size=(FEATURES, CLASSES))
  x = rng.normal(size=(N_BATCHES, BATCH, FEATURES)).astype(np.float32)
  y = np.argmax(x @ w_true + rng.normal(size=(N_BATCHES, BATCH, CLASSES)), -1)
  params = {
    "w": (0.1 * rng.normal(size=(FEATURES, CLASSES))).astype(np.float32),
    "b": np.zeros(CLASSES, np.float32),
  }
  return params, x, y.astype(np.int32)


def loss_fn(params, batch):
  x, y = batch
  logits = x @ params["w"] + params["b"][None, :]
  log_p = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))


def _numpy_loss_and_grads(w, b, x, y):
  logits = x @ w + b
  logits = logits - logits.max(1, keepdims=True)
  p = np.exp(logits)
  p /= p.sum(1, keepdims=True)
  loss = -np.mean(np.log(p[np.arange(len(y)), y]))
  d = p.copy()
  d[np.arange(len(y)), y] -= 1
  d /= len(y)
  return loss, x.T @ d, d.sum(0)


def _book_replay(params, x, y, min_rate, max_rate, update):
  """The book's find_learning_rate + ExponentialLearningRate, in float64."""
  w, b = (np.asarray(params[k], np.float64) for k in ("w", "b"))
  iterations = len(x)  # one epoch: ceil(len(X) / batch_size) batches
  factor = (max_rate / min_rate) ** (1 / iterations)
  rate, rates, losses, buffers = min_rate, [], [], None
  for xb, yb in zip(x.astype(np.float64), y, strict=True):
    loss, gw, gb = _numpy_loss_and_grads(w, b, xb, yb)
    (w, b), buffers = update((w, b), (gw, gb), buffers, rate)
    rates.append(rate)
    losses.append(loss)
    rate = rate * factor  # on_batch_end: lr <- lr * factor
  return np.asarray(rates), np.asarray(losses)


def _keras_momentum(beta):
  """Keras's SGD(momentum=beta): m <- beta m - lr g; w <- w + m (the book's)."""

  def update(params, grads, buffers, rate):
    buffers = buffers or tuple(np.zeros_like(p) for p in params)
    buffers = tuple(beta * m - rate * g for m, g in zip(buffers, grads, strict=True))
    return tuple(p + m for p, m in zip(params, buffers, strict=True)), buffers

  return update


def _trace_outside(beta):
  """optax's trace then -lr: t <- beta t + g; w <- w - lr t (the rate outside)."""

  def update(params, grads, buffers, rate):
    buffers = buffers or tuple(np.zeros_like(p) for p in params)
    buffers = tuple(beta * t + g for t, g in zip(buffers, grads, strict=True))
    return tuple(p - rate * t for p, t in zip(params, buffers, strict=True)), buffers

  return update


def _book_rule(rates, losses, divisor=10.0):
  finite = np.isfinite(losses)
  best = np.argmin(np.where(finite, losses, np.inf))
  runner_up = np.partition(np.where(finite, losses, np.inf), 1)[1]
  assert runner_up - losses[best] > 1e-4, "a tie would make the test meaningless"
  return rates[best], rates[best] / divisor


@pytest.mark.parametrize(
  "name, optimizer, replay, max_rate",
  [
    (
      "optx.momentum factory",
      lambda lr: optx.momentum(lr, 0.9),
      _keras_momentum(0.9),
      30.0,
    ),
    (
      "optx.keras.SGD factory",
      lambda lr: optx.keras.SGD(lr, momentum=0.9),
      _keras_momentum(0.9),
      30.0,
    ),
    ("optx.sgd factory", optx.sgd, _keras_momentum(0.0), 1000.0),
    ("a direction (optx.trace)", optx.trace(0.9), _trace_outside(0.9), 30.0),
  ],
  ids=["momentum", "keras.SGD", "sgd", "trace"],
)
def test_rates_and_losses_follow_the_book(name, optimizer, replay, max_rate):
  params, x, y = _data()
  min_rate = 1e-3
  result = optx.find_learning_rate(
    loss_fn,
    params,
    optimizer,
    (x, y),
    min_learning_rate=min_rate,
    max_learning_rate=max_rate,
  )
  rates, losses = _book_replay(params, x, y, min_rate, max_rate, replay)
  np.testing.assert_allclose(result.learning_rates, rates, rtol=2e-5)
  assert result.learning_rates[-1] < max_rate  # the book never reaches max_rate
  finite = np.isfinite(losses)
  assert finite[:10].all() and losses[finite].max() > 2 * losses[0], (
    "the range must reach the climb for the rule to mean something"
  )
  close = np.isfinite(losses) & (losses < 1e3)
  np.testing.assert_allclose(
    np.asarray(result.losses)[close], losses[close], rtol=2e-4, err_msg=name
  )
  turning_point, suggestion = _book_rule(rates, losses)
  np.testing.assert_allclose(result.turning_point, turning_point, rtol=2e-5)
  np.testing.assert_allclose(result.suggestion, suggestion, rtol=2e-5)


def test_divergence_is_recorded_and_never_suggested():
  """A least-squares loss overflows once gradient descent diverges geometrically."""
  _, x, _ = _data(1)

  def squares(w, x):
    return jnp.mean((x @ w - 1.0) ** 2)

  result = optx.find_learning_rate(
    squares,
    jnp.zeros(FEATURES),
    optx.sgd,
    x,
    min_learning_rate=1e-2,
    max_learning_rate=1e3,
  )
  losses = np.asarray(result.losses)
  assert not np.isfinite(losses[-1])  # the rate blew the weights up
  rates = np.asarray(result.learning_rates)
  turning_point, _ = _book_rule(rates, losses)
  assert result.turning_point == turning_point
  assert np.isfinite(result.suggestion)
  np.testing.assert_allclose(result.suggestion, turning_point / 10, rtol=1e-6)


def test_divisor_and_a_transformation_with_its_own_state():
  """optx.adam as a factory; the divisor scales the suggestion only."""
  params, x, y = _data(2)
  kwargs = dict(min_learning_rate=1e-4, max_learning_rate=10.0)
  a = optx.find_learning_rate(loss_fn, params, optx.adam, (x, y), **kwargs)
  b = optx.find_learning_rate(loss_fn, params, optx.adam, (x, y), divisor=3.0, **kwargs)
  np.testing.assert_array_equal(a.losses, b.losses)
  assert a.turning_point == b.turning_point
  np.testing.assert_allclose(b.suggestion, a.turning_point / 3, rtol=1e-6)


def test_params_are_left_as_they_were_and_the_scan_compiles_once():
  params, x, y = _data()
  before = jax.tree.map(np.array, params)
  traces = []

  def counted_loss(p, batch):
    traces.append(1)
    return loss_fn(p, batch)

  first = optx.find_learning_rate(counted_loss, params, optx.sgd, (x, y))
  second = optx.find_learning_rate(counted_loss, params, optx.sgd, (x, y))
  jax.tree.map(np.testing.assert_array_equal, params, before)
  # Same start, same curve: the finder never trains the caller's parameters.
  np.testing.assert_array_equal(first.losses, second.losses)
  assert len(traces) == 1  # one trace of the scan body, then jit's cache


def test_one_batch_and_a_finder_inside_jit():
  params, x, y = _data()

  @jax.jit
  def find(params, batches):
    return optx.find_learning_rate(loss_fn, params, optx.sgd, batches)

  result = find(params, (x[:1], y[:1]))
  assert result.learning_rates.shape == (1,)
  assert float(result.learning_rates[0]) == pytest.approx(1e-4)
  assert result.turning_point == result.learning_rates[0]
  assert math.isclose(float(result.suggestion), 1e-5, rel_tol=1e-6)


@pytest.mark.parametrize(
  "batches, message",
  [
    ((), "leading"),
    (jnp.zeros(()), "leading"),
    ((jnp.zeros((3, 2)), jnp.zeros((4, 2))), "leading"),
    (jnp.zeros((0, 2)), "leading"),
  ],
)
def test_bad_batches_are_named(batches, message):
  with pytest.raises(ValueError, match=r"optx\.find_learning_rate\(batches=\.\.\.\)"):
    optx.find_learning_rate(loss_fn, {}, optx.sgd, batches)
