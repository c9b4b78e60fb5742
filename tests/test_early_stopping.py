"""optx.early_stopping against the real ``keras.callbacks.EarlyStopping``.

Both see the same sequences of validation losses (or accuracies). Keras runs
its own callback on a one-weight model whose weight is set to the epoch
number before each ``on_epoch_end``, so the weight it restores at
``on_train_end`` names the epoch it kept; optx gets the same epoch number as
its parameters. Compared: the epoch at which training stops (or none), the
restored epoch, the best value and ``wait``.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx

keras = pytest.importorskip("keras")

# Keras 3's Variable.numpy() (get_weights) trips NumPy 2's copy-keyword
# deprecation; it is Keras's, not optx's.
pytestmark = pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _keras(values, patience, min_delta, mode):
  model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
  callback = keras.callbacks.EarlyStopping(
    monitor="val_loss",
    patience=patience,
    min_delta=min_delta,
    mode=mode,
    restore_best_weights=True,
  )
  callback.set_model(model)
  model.stop_training = False
  callback.on_train_begin()
  stopped = None
  for epoch, value in enumerate(values):
    model.set_weights([np.full((1, 1), epoch, np.float32)])
    callback.on_epoch_end(epoch, {"val_loss": float(value)})
    if model.stop_training:
      stopped = epoch
      break
  callback.on_train_end()
  restored = int(model.get_weights()[0].item())
  return stopped, restored, callback.best, callback.wait


def _optx(values, patience, min_delta, mode):
  stopper = optx.early_stopping(patience, min_delta=min_delta, mode=mode)
  state = stopper.init(jnp.zeros((1, 1)))
  stopped = None
  for epoch, value in enumerate(values):
    state = stopper.update(state, value, jnp.full((1, 1), epoch, jnp.float32))
    if state.stop:
      stopped = epoch
      break
  return stopped, int(state.best_params.item()), state


def _sequences():
  rng = np.random.default_rng(0)
  # On a grid of 1/8, so that x + min_delta is exact in float32 and float64.
  for n in range(40):
    steps = rng.integers(-3, 4, size=int(rng.integers(2, 25)))
    yield "grid", (2.0 + np.cumsum(steps) / 8.0).astype(np.float32), n
  for n in range(20):
    noisy = np.exp(-np.arange(30) / rng.uniform(3, 15)) + rng.normal(0, 0.05, 30)
    yield "noisy", noisy.astype(np.float32), n
  yield "flat", np.ones(12, np.float32), 0
  yield "improving", np.linspace(3, 1, 12).astype(np.float32), 0
  yield (
    "nan in the middle",
    np.array([3, 2, np.nan, 2.5, 1, np.nan, 1, 1, 1], np.float32),
    0,
  )


CASES = [
  pytest.param(
    values, patience, min_delta, mode, id=f"{kind}{n}-p{patience}-d{min_delta}-{mode}"
  )
  for (kind, values, n), patience, min_delta, mode in itertools.product(
    _sequences(), (0, 1, 3, 5), (0.0, 0.125), ("min", "max")
  )
  if (n % 4 == patience % 4) or kind not in ("grid", "noisy")  # a spread, not all
]


@pytest.mark.parametrize("values, patience, min_delta, mode", CASES)
def test_decisions_match_keras(values, patience, min_delta, mode):
  k_stopped, k_restored, k_best, k_wait = _keras(values, patience, min_delta, mode)
  o_stopped, o_restored, state = _optx(values, patience, min_delta, mode)
  assert o_stopped == k_stopped
  assert o_restored == k_restored
  assert int(state.best_count) == k_restored
  assert int(state.wait) == k_wait
  assert float(state.best) == pytest.approx(float(k_best), abs=0, rel=0)


def test_the_cases_cover_stops_and_full_runs():
  """A test that cannot fail is a defect: the table must hold both outcomes."""
  outcomes = [_keras(*case.values)[0] is None for case in CASES]
  assert 20 < sum(outcomes) < len(outcomes) - 20


def test_inside_a_jitted_scan_it_freezes_after_the_stop():
  """The same decisions from a lax.scan over epochs, the stop freezing the state."""
  values = np.array([1.0, 0.5, 0.75, 0.25, 0.5, 0.5, 0.5, 0.125, 0.0], np.float32)
  stopper = optx.early_stopping(patience=3, min_delta=0.0)

  @jax.jit
  def run(values):
    def epoch(state, xs):
      value, params = xs
      return stopper.update(state, value, params), state.stop

    epochs = jnp.arange(len(values), dtype=jnp.float32)
    return jax.lax.scan(epoch, stopper.init(jnp.float32(-1)), (values, epochs))

  state, stopped_before = run(values)
  k_stopped, k_restored, *_ = _keras(values, 3, 0.0, "min")
  assert k_stopped == 6
  assert bool(state.stop) and int(state.count) == k_stopped + 1
  assert float(state.best_params) == k_restored == 3
  # Epochs after the stop see a stopped state and leave it as it was.
  assert list(np.asarray(stopped_before)) == [False] * 7 + [True] * 2
  assert float(state.best) == 0.25


def test_sweep_of_patience_with_vmap():
  """The rule's numbers live in the state, so vmap over several stoppers works."""
  values = np.array([1.0, 0.9, 0.95, 0.97, 0.99, 0.98, 0.96], np.float32)

  def run(patience):
    stopper = optx.early_stopping(patience, restore_best_params=False)
    state = stopper.init(None)
    for value in values:
      state = stopper.update(state, value)
    return state.stop, state.count

  stops, counts = jax.vmap(run)(jnp.array([1, 3, 9]))
  assert list(np.asarray(stops)) == [True, True, False]
  assert list(np.asarray(counts)) == [3, 5, 7]
  for patience, count in zip((1, 3), (3, 5), strict=True):
    assert _keras(values, patience, 0.0, "min")[0] == count - 1


def test_first_nan_is_no_improvement_and_a_diverged_run_stops():
  """Where optx differs from Keras: a first NaN does not become the best (Keras's would)."""
  stopper = optx.early_stopping(patience=2)
  state = stopper.init(jnp.zeros(()))
  for epoch, value in enumerate([np.nan, 2.0, np.nan, np.nan]):
    state = stopper.update(state, value, jnp.float32(epoch))
  assert bool(state.stop) and float(state.best) == 2.0
  assert float(state.best_params) == 1.0


def test_measurement_is_a_scalar_and_params_are_needed():
  stopper = optx.early_stopping(patience=1)
  state = stopper.init(jnp.zeros(2))
  with pytest.raises(ValueError, match="scalar"):
    stopper.update(state, jnp.ones(2), jnp.zeros(2))
  with pytest.raises(ValueError, match="needs params"):
    stopper.update(state, 1.0)
