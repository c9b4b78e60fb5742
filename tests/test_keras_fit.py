"""optx.keras against Keras 3's own ``model.fit`` (JAX backend), closed loop.

Each side trains the book's chapter-11 network (three ``Dense(100, relu,
he_normal)`` layers and a softmax, sparse categorical cross-entropy, batch 32)
from the same initial weights on the same batches of scikit-learn's digits,
and each computes its own gradients from its own parameters: Keras in
``fit``, optx with the same model's ``compute_loss_and_updates`` (the
function ``fit`` differentiates) and an ``optx.keras`` optimizer, every step
one jitted function. Any last-bit difference in the optimizer would grow
step after step; so the figure, max |Δparams| / max |params| after 315
updates, is 0 (bitwise) for every optimizer, schedule and callback but these,
bounded with the reason:

- ``weight_decay``: Keras assigns the weights twice (``w - w·λ·η``, then the
  step); an Optax update is added once. optx's update is ``w' - w``, exact
  whenever the new weight is within a factor of 2 of the old one (Sterbenz),
  and one rounding off where a weight crosses zero.
- ``Adadelta`` at a learning rate of exactly 1: optx's rule is Keras's
  operation for operation (its eager steps are bitwise, tested in
  ``test_keras.py``), but XLA folds optx's product by the constant 1.0 away
  (Keras's rate is a variable) and fuses the two jitted steps differently,
  so a step can differ by a rounding (at a rate of 0.5 it is bitwise).
- ``ReduceLROnPlateau`` with a factor other than a power of 2: Keras lowers
  the rate in Python's double precision (``float(lr) * factor``, rounded once
  to float32); optx multiplies a float32 scale by the factor, so the rate can
  differ by a rounding after each reduction (the book's factor 0.5 is exact).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402

import optx  # noqa: E402

# Keras 3.15's variables convert to NumPy through an ``__array__`` that NumPy 2
# flags as deprecated; the warning is Keras's, not optx's.
pytestmark = pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def keras_numerics():
  """Keras's layers broadcast the bias over the batch (rank promotion), which
  the suite's strict mode refuses; the optimizers are held to strict mode
  everywhere else."""
  with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
    yield


EPOCHS = 7
BATCH = 32
STEPS_PER_EPOCH = 45  # 1440 training images


def _data():
  from sklearn.datasets import load_digits

  digits = load_digits()
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  return x[:1440], y[:1440], x[1440:], y[1440:]


X, Y, X_VAL, Y_VAL = _data()


def _model():
  keras.utils.set_random_seed(0)
  hidden = [
    keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal")
    for _ in range(3)
  ]
  model = keras.Sequential(
    [keras.Input((64,)), *hidden, keras.layers.Dense(10, activation="softmax")]
  )
  model.compile(loss="sparse_categorical_crossentropy")
  return model


def keras_fit(optimizer, callbacks=()):
  model = _model()
  model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
  validation = (X_VAL, Y_VAL) if callbacks else None
  model.fit(
    X,
    Y,
    batch_size=BATCH,
    epochs=EPOCHS,
    shuffle=False,
    verbose=0,
    callbacks=list(callbacks),
    validation_data=validation,
  )
  return model.get_weights()


def optx_fit(tx, *, keras_options=False):
  """optx's loop over fit's batches; with ``keras_options``, it also scales the
  loss (optx.keras.scale_loss) and ends with optx.keras.finalize_variable_values,
  as fit does with the optimizer's."""
  model = _model()
  params = [v.value for v in model.trainable_variables]
  fixed = [v.value for v in model.non_trainable_variables]
  metrics = [v.value for v in model.metrics_variables]

  def loss(params, state, x, y):
    out = model.compute_loss_and_updates(params, fixed, metrics, x, y, None)
    return optx.keras.scale_loss(state, out[0]) if keras_options else out[0]

  @jax.jit
  def step(params, state, x, y):
    updates, state = tx.update(jax.grad(loss)(params, state, x, y), state, params)
    return optax.apply_updates(params, updates), state

  state = tx.init(params)
  for _ in range(EPOCHS):
    for start in range(0, len(X), BATCH):
      params, state = step(
        params, state, X[start : start + BATCH], Y[start : start + BATCH]
      )
    if optx.has_plateau(state):
      # Keras's own evaluation of the validation loss, as fit's callbacks see it.
      model.set_weights([np.asarray(p) for p in params])
      state = optx.observe(state, model.evaluate(X_VAL, Y_VAL, verbose=0))
  if keras_options:
    params = optx.keras.finalize_variable_values(state, params)
  return [np.asarray(p) for p in params]


def divergence(ours, theirs):
  largest = max(float(np.max(np.abs(t))) for t in theirs)
  return (
    max(float(np.max(np.abs(o - t))) for o, t in zip(ours, theirs, strict=True))
    / largest
  )


S = keras.optimizers.schedules
SCHEDULES = optx.keras.schedules
CASES = {
  "SGD": lambda k: k.SGD(0.01),
  "SGD(momentum)": lambda k: k.SGD(0.01, momentum=0.9),
  "SGD(nesterov)": lambda k: k.SGD(0.01, momentum=0.9, nesterov=True),
  "Adagrad": lambda k: k.Adagrad(0.01),
  "RMSprop": lambda k: k.RMSprop(0.001),
  "RMSprop(centered, momentum)": lambda k: k.RMSprop(
    0.001, momentum=0.9, centered=True
  ),
  "Adam": lambda k: k.Adam(0.001),
  "Adam(amsgrad)": lambda k: k.Adam(0.001, amsgrad=True),
  "Adamax": lambda k: k.Adamax(0.002),
  "Nadam": lambda k: k.Nadam(0.001),
  "Adadelta": lambda k: k.Adadelta(0.5),
  "SGD(clipnorm)": lambda k: k.SGD(0.05, clipnorm=1.0),
  "SGD(global_clipnorm)": lambda k: k.SGD(0.05, global_clipnorm=1.0),
  "SGD(clipvalue)": lambda k: k.SGD(0.05, clipvalue=0.1),
}
SCHEDULE_CASES = {
  "ExponentialDecay": lambda s: s.ExponentialDecay(0.05, 100, 0.5),
  "InverseTimeDecay": lambda s: s.InverseTimeDecay(0.05, 100, 1.0),
  "PiecewiseConstantDecay": lambda s: s.PiecewiseConstantDecay(
    [100, 200], [0.05, 0.02, 0.01]
  ),
  "PolynomialDecay": lambda s: s.PolynomialDecay(0.05, 250, 0.001, power=2.0),
  "CosineDecay(warmup)": lambda s: s.CosineDecay(
    0.0, 250, warmup_target=0.05, warmup_steps=40
  ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_optimizers_train_as_keras_fit_bitwise(name):
  theirs = keras_fit(CASES[name](keras.optimizers))
  ours = optx_fit(CASES[name](optx.keras))
  error = divergence(ours, theirs)
  print(f"\n[keras fit] {name}: {error:.2e}")
  assert error == 0.0


@pytest.mark.parametrize("name", list(SCHEDULE_CASES))
def test_schedules_train_as_keras_fit_bitwise(name):
  theirs = keras_fit(keras.optimizers.SGD(SCHEDULE_CASES[name](S), momentum=0.9))
  ours = optx_fit(optx.keras.SGD(SCHEDULE_CASES[name](SCHEDULES), momentum=0.9))
  error = divergence(ours, theirs)
  print(f"\n[keras fit] {name}: {error:.2e}")
  assert error == 0.0


def _exponential_decay_fn(epoch):  # the book's
  return 0.01 * 0.1 ** (epoch / 20)


def _piecewise_constant_fn(epoch):  # the book's
  if epoch < 2:
    return 0.01
  elif epoch < 4:
    return 0.005
  else:
    return 0.001


@pytest.mark.parametrize(
  "fn", [_exponential_decay_fn, _piecewise_constant_fn, lambda epoch, lr: lr * 0.8]
)
def test_learning_rate_scheduler_trains_as_keras_fit_bitwise(fn):
  callback = keras.callbacks.LearningRateScheduler(fn)
  theirs = keras_fit(keras.optimizers.SGD(0.01, momentum=0.9), [callback])
  scheduler = optx.keras.LearningRateScheduler(fn, STEPS_PER_EPOCH)
  ours = optx_fit(optx.keras.SGD(0.01, momentum=0.9, callbacks=[scheduler]))
  assert divergence(ours, theirs) == 0.0


@pytest.mark.parametrize("factor", [0.5, 0.1])
def test_reduce_lr_on_plateau_trains_as_keras_fit(factor):
  kwargs = dict(factor=factor, patience=1, min_delta=0.02)
  theirs = keras_fit(
    keras.optimizers.Adam(0.002), [keras.callbacks.ReduceLROnPlateau(**kwargs)]
  )
  plateau = optx.keras.ReduceLROnPlateau(**kwargs)
  ours = optx_fit(optx.keras.Adam(0.002, callbacks=[plateau]))
  error = divergence(ours, theirs)
  print(f"\n[keras fit] ReduceLROnPlateau(factor={factor}): {error:.2e}")
  # A power of 2 scales exactly; 0.1 rounds once per reduction (module docstring).
  assert error == 0.0 if factor == 0.5 else error <= 1e-6


@pytest.mark.parametrize("name", ["SGD(momentum)", "Adam", "AdamW"])
def test_weight_decay_trains_as_keras_fit_to_a_rounding(name):
  make = {
    "SGD(momentum)": lambda k: k.SGD(0.01, momentum=0.9, weight_decay=0.01),
    "Adam": lambda k: k.Adam(0.001, weight_decay=0.01),
    "AdamW": lambda k: k.AdamW(0.001),  # Keras's default weight_decay, 0.004
  }[name]
  error = divergence(optx_fit(make(optx.keras)), keras_fit(make(keras.optimizers)))
  print(f"\n[keras fit] {name}(weight_decay): {error:.2e}")
  assert error <= 1e-6  # two assignments in Keras, one update here (docstring)


# Keras's other base-optimizer options (tests/test_keras_options.py runs them
# open loop). fit scales the loss by optimizer.scale_loss and ends with
# optimizer.finalize_variable_values; optx_fit(..., keras_options=True) does
# the same with optx.keras.scale_loss and optx.keras.finalize_variable_values.


def _bias_mask():
  return [v.name == "bias" for v in _model().trainable_variables]


# The bound of each case: 0 (bitwise), or 1e-6 where an update rounds once
# apart. Overwriting the parameters with their average is an update a - w,
# which w + (a - w) gives back exactly only when a and w are within a factor of
# 2; Adam under accumulation computes its step inside a select, which XLA fuses
# otherwise than Keras's.
OPTION_CASES = {
  "Adam(use_ema)": (lambda k: k.Adam(0.001, use_ema=True), 0.0),
  "SGD(momentum, use_ema, ema_overwrite_frequency=20)": (
    lambda k: k.SGD(
      0.01, momentum=0.9, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=20
    ),
    1e-6,
  ),
  "SGD(momentum, gradient_accumulation_steps=4, ExponentialDecay)": (
    lambda k: k.SGD(
      (S if k is keras.optimizers else SCHEDULES).ExponentialDecay(0.05, 100, 0.5),
      momentum=0.9,
      gradient_accumulation_steps=4,
    ),
    0.0,
  ),
  "Adam(gradient_accumulation_steps=3)": (
    lambda k: k.Adam(0.002, gradient_accumulation_steps=3),
    1e-6,
  ),
  "RMSprop(loss_scale_factor=128)": (
    lambda k: k.RMSprop(0.001, loss_scale_factor=128.0),
    0.0,
  ),
  "LossScaleOptimizer(SGD(momentum), dynamic_growth_steps=50)": (
    lambda k: k.LossScaleOptimizer(k.SGD(0.01, momentum=0.9), dynamic_growth_steps=50),
    0.0,
  ),
}


@pytest.mark.parametrize("name", list(OPTION_CASES))
def test_keras_options_train_as_keras_fit(name):
  make, bound = OPTION_CASES[name]
  theirs = keras_fit(make(keras.optimizers))
  ours = optx_fit(make(optx.keras), keras_options=True)
  error = divergence(ours, theirs)
  print(f"\n[keras fit] {name}: {error:.2e}")
  assert error <= bound


def test_exclude_from_weight_decay_trains_as_keras_fit():
  optimizer = keras.optimizers.Adam(0.001, weight_decay=0.05)
  optimizer.exclude_from_weight_decay(var_names=["bias"])
  theirs = keras_fit(optimizer)
  # The parameters are a list here: a mask of the bias leaves.
  tx = optx.keras.Adam(0.001, weight_decay=0.05, exclude_from_weight_decay=_bias_mask())
  error = divergence(optx_fit(tx, keras_options=True), theirs)
  print(f"\n[keras fit] Adam(weight_decay, excluding the biases): {error:.2e}")
  assert error <= 1e-6  # two assignments in Keras, one update here (docstring)


def test_adadelta_at_a_rate_of_1_trains_as_keras_fit_to_a_rounding():
  make = lambda k: k.Adadelta(1.0)  # noqa: E731
  error = divergence(optx_fit(make(optx.keras)), keras_fit(make(keras.optimizers)))
  print(f"\n[keras fit] Adadelta(learning_rate=1): {error:.2e}")
  assert error <= 1e-6  # eager steps bitwise; XLA's fusion differs (docstring)
