"""Independent NumPy oracles: the book's and the frameworks' equations, in float64.

Nothing here imports optx: each oracle is the equation written out as a NumPy
loop or closed form, from the book (Géron, chapter 11), from the frameworks'
documented update rules, or from the seed notebook's callbacks, so a test that
compares optx with one compares it with the maths, not with itself.

The optimizer steps act on one parameter array (or on arrays of any shape,
elementwise): ``step(theta, g, *state, **hyperparameters)`` returns
``(theta, *state)`` after one update, the state in the order the equation
names it. :func:`trajectory` runs one over a sequence of gradients.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------
# A gradient stream shared by the flavor tests.


def drifting_gradients(shapes, steps, seed=0):
  """Initial parameters and a ``(steps, *shape)`` float32 gradient sequence per leaf.

  The gradients have a drift (so the parameters travel far, even with the
  book's small learning rates) and a per-step scale spanning 0.05..5 (so that
  every clipping option is sometimes active and sometimes not).
  """
  rng = np.random.default_rng(seed)
  scale = np.exp(rng.uniform(np.log(0.05), np.log(5.0), size=steps)).astype(np.float32)
  params, grads = {}, {}
  for name, shape in shapes.items():
    params[name] = rng.normal(size=shape).astype(np.float32)
    drift = rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    noise = rng.normal(size=(steps, *shape)).astype(np.float32)
    grads[name] = (0.5 * drift + noise) * scale.reshape((steps,) + (1,) * len(shape))
  return params, grads


# ----------------------------------------------------------------------------
# Learning-rate schedules.


def onecycle(t, total, start, peak, end, final):
  """1cycle at the steps ``t``: up from ``start`` to ``peak`` over ``h`` steps,
  down again over ``h``, then to ``end`` over the last ``final`` steps, held
  after ``total``; ``h = (total - final) // 2``."""
  h = (total - final) // 2
  return np.where(
    t < h,
    start + (peak - start) * t / h,
    np.where(
      t < 2 * h,
      peak + (start - peak) * (t - h) / h,
      start + (end - start) * np.minimum((t - 2 * h) / (total - 2 * h), 1.0),
    ),
  )


def geron_one_cycle(
  iterations, max_rate, start_rate=None, last_iterations=None, last_rate=None
):
  """The notebook's ``OneCycleScheduler`` callback, replayed batch by batch."""
  start_rate = start_rate or max_rate / 10
  last_iterations = last_iterations or iterations // 10 + 1
  half = (iterations - last_iterations) // 2
  last_rate = last_rate or start_rate / 1000

  def interp(i, i1, i2, r1, r2):
    return (r2 - r1) * (i - i1) / (i2 - i1) + r1

  rates = []
  for i in range(iterations):
    if i < half:
      rates.append(interp(i, 0, half, start_rate, max_rate))
    elif i < 2 * half:
      rates.append(interp(i, half, 2 * half, max_rate, start_rate))
    else:
      rates.append(interp(i, 2 * half, iterations, start_rate, last_rate))
  return np.array(rates)


def exponential_decay(lr0, s):
  """The book's ``exponential_decay(lr0, s)``: a function of the epoch."""

  def exponential_decay_fn(epoch):
    return lr0 * 0.1 ** (epoch / s)

  return exponential_decay_fn


def piecewise_constant_fn(epoch):
  """The book's piecewise constant schedule, with its Python branches."""
  if epoch < 5:
    return 0.01
  elif epoch < 15:
    return 0.005
  else:
    return 0.001


def keras_plateau_scales(values, factor, patience):
  """Keras's ``ReduceLROnPlateau`` (min mode, min_delta=0, cooldown=0): the
  learning-rate multiplier after each measurement."""
  best, wait, scale, scales = float("inf"), 0, 1.0, []
  for x in values:
    if x < best:
      best, wait = x, 0
    else:
      wait += 1
      if wait >= patience:
        scale, wait = scale * factor, 0
    scales.append(scale)
  return scales


# ----------------------------------------------------------------------------
# Optimizer steps.


def root(s, eps, placement="inside"):
  """``√(s + ε)`` (the book's, Keras 3's) or ``√s + ε`` (PyTorch's, Optax's Adam)."""
  return np.sqrt(s + eps) if placement == "inside" else np.sqrt(s) + eps


def sgd(theta, g, *, lr):
  """θ ← θ − η g."""
  return (theta - lr * g,)


def momentum(theta, g, m, *, lr, beta, nesterov=False):
  """The book's momentum, η inside the velocity: m ← βm − ηg; θ ← θ + m.

  Nesterov in its reformulation on the held parameters: θ ← θ + βm − ηg
  (with the new m), which is Keras's.
  """
  m = beta * m - lr * g
  return (theta + beta * m - lr * g if nesterov else theta + m), m


def torch_sgd(
  theta, g, b, *, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False
):
  """``torch.optim.SGD``: g ← g + λθ; b ← μb + (1 − τ)g (b₁ = g);
  θ ← θ − η(g + μb) with Nesterov, θ − ηb otherwise; θ − ηg without momentum."""
  g = g + weight_decay * theta
  if momentum == 0:
    return theta - lr * g, b
  b = g if t == 1 else momentum * b + (1 - dampening) * g
  return theta - lr * (g + momentum * b if nesterov else b), b


def adagrad(theta, g, s, *, t, lr, eps, placement="inside", lr_decay=0.0):
  """AdaGrad: s ← s + g²; θ ← θ − η / (1 + (t − 1)κ) · g / root(s, ε).

  The book's (and Keras 3's) ε goes inside the root; PyTorch's outside, with
  its ``lr_decay`` κ (legacy tf.keras's ``decay`` has the same form).
  """
  s = s + g * g
  return theta - lr / (1 + (t - 1) * lr_decay) * g / root(s, eps, placement), s


def rmsprop(
  theta,
  g,
  s,
  a,
  b,
  *,
  lr,
  rho,
  eps,
  centered=False,
  momentum=None,
  placement="inside",
  lr_inside=True,
):
  """RMSProp: s ← ρs + (1 − ρ)g²; a ← ρa + (1 − ρ)g; d = root(s − a² if
  centered else s, ε); θ ← θ − ηg/d, or with momentum μ: b ← μb + ηg/d,
  θ ← θ − b (η inside the buffer: the book's, Keras's), or b ← μb + g/d,
  θ ← θ − ηb (``lr_inside=False``: PyTorch's)."""
  s = rho * s + (1 - rho) * g * g
  a = rho * a + (1 - rho) * g
  d = root(s - a * a if centered else s, eps, placement)
  if momentum is None:
    return theta - lr * g / d, s, a, b
  if lr_inside:
    b = momentum * b + lr * g / d
    return theta - b, s, a, b
  b = momentum * b + g / d
  return theta - lr * b, s, a, b


def adam(
  theta,
  g,
  m,
  s,
  s_max,
  *,
  t,
  lr,
  b1,
  b2,
  eps,
  amsgrad=False,
  placement="inside",
  weight_decay=0.0,
):
  """Adam, ``t`` from 1: m ← β₁m + (1 − β₁)g; s ← β₂s + (1 − β₂)g²;
  m̂ = m / (1 − β₁ᵗ); ŝ = s / (1 − β₂ᵗ) (of the running maximum of s with
  AMSGrad); θ ← θ − η m̂ / D where D is

  - ``"inside"`` (the book's): √(ŝ + ε);
  - ``"outside"`` (PyTorch's, Optax's): √ŝ + ε;
  - ``"hat"`` (Keras's): √ŝ + ε / √(1 − β₂ᵗ), i.e. Keras's
    η √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√s + ε).

  ``weight_decay`` λ is decoupled (AdamW): θ ← θ(1 − ηλ) before the step.
  """
  theta = theta * (1 - lr * weight_decay)
  m = b1 * m + (1 - b1) * g
  s = b2 * s + (1 - b2) * g * g
  s_max = np.maximum(s_max, s) if amsgrad else s
  m_hat = m / (1 - b1**t)
  s_hat = s_max / (1 - b2**t)
  if placement == "hat":
    denominator = np.sqrt(s_hat) + eps / np.sqrt(1 - b2**t)
  else:
    denominator = root(s_hat, eps, placement)
  return theta - lr * m_hat / denominator, m, s, s_max


def adamax(
  theta, g, m, s, *, t, lr, b1, b2, eps, placement="outside", weight_decay=0.0
):
  """AdaMax (Kingma and Ba, section 7.1), ``t`` from 1: m ← β₁m + (1 − β₁)g;
  s ← max(β₂s, |g|); θ ← θ − η m / (1 − β₁ᵗ) / (s + ε). ``placement="max"``
  puts ε inside the maximum instead, s ← max(β₂s, |g| + ε), θ ← θ − η m̂ / s
  (PyTorch's, Optax's). ``weight_decay`` λ is coupled (PyTorch's): g ← g + λθ.
  """
  g = g + weight_decay * theta
  m = b1 * m + (1 - b1) * g
  if placement == "max":
    s = np.maximum(b2 * s, np.abs(g) + eps)
    return theta - lr * m / (1 - b1**t) / s, m, s
  s = np.maximum(b2 * s, np.abs(g))
  return theta - lr * m / (1 - b1**t) / (s + eps), m, s


def nadam(
  theta,
  g,
  m,
  s,
  *,
  t,
  lr,
  b1,
  b2,
  eps,
  momentum_decay=None,
  placement="inside",
  weight_decay=0.0,
  decoupled=False,
):
  """Nadam (Dozat, 2016), ``t`` from 1, with μₖ = β₁ (constant, the book's
  and Optax's) or, given ``momentum_decay`` ψ, μₖ = β₁(1 − ½·0.96^(ψk))
  (ψ = 1 is Keras's, 0.004 PyTorch's), and Πₖ = μ₁⋯μₖ:
  m ← β₁m + (1 − β₁)g; s ← β₂s + (1 − β₂)g²;
  m̂ = μₜ₊₁ m / (1 − Πₜ₊₁) + (1 − μₜ) g / (1 − Πₜ); ŝ = s / (1 − β₂ᵗ);
  θ ← θ − η m̂ / root(ŝ, ε). ``weight_decay`` λ is coupled (g ← g + λθ) or
  ``decoupled`` (θ ← θ(1 − ηλ) before the step).
  """

  def mu(k):
    if momentum_decay is None:
      return b1
    return b1 * (1 - 0.5 * 0.96 ** (momentum_decay * k))

  product = np.prod([mu(k) for k in range(1, t + 1)])
  if decoupled:
    theta = theta * (1 - lr * weight_decay)
  else:
    g = g + weight_decay * theta
  m = b1 * m + (1 - b1) * g
  s = b2 * s + (1 - b2) * g * g
  m_hat = mu(t + 1) * m / (1 - product * mu(t + 1)) + (1 - mu(t)) * g / (1 - product)
  s_hat = s / (1 - b2**t)
  return theta - lr * m_hat / root(s_hat, eps, placement), m, s


def adadelta(theta, g, s, x, *, lr, rho, eps, weight_decay=0.0):
  """Adadelta (Zeiler, 2012) with a learning rate: g ← g + λθ (PyTorch's
  coupled ``weight_decay``); s ← ρs + (1 − ρ)g²; Δ = √(x + ε) / √(s + ε) · g;
  x ← ρx + (1 − ρ)Δ²; θ ← θ − ηΔ."""
  g = g + weight_decay * theta
  s = rho * s + (1 - rho) * g * g
  delta = np.sqrt(x + eps) / np.sqrt(s + eps) * g
  x = rho * x + (1 - rho) * delta * delta
  return theta - lr * delta, s, x


def _steps(step, theta, grads, state, state_dtype, hyperparameters, hold):
  theta = np.asarray(theta, np.float64)
  state = [np.broadcast_to(np.asarray(x, np.float64), theta.shape) for x in state]
  takes_t = "t" in inspect.signature(step).parameters
  for t, g in enumerate(grads, start=1):
    kwargs = {k: v(t) if callable(v) else v for k, v in hyperparameters.items()}
    if takes_t:
      kwargs["t"] = t
    new_theta, *state = step(theta, np.asarray(g, np.float64), *state, **kwargs)
    if state_dtype is not None:
      state = [np.asarray(x).astype(state_dtype).astype(np.float64) for x in state]
    yield new_theta - theta if hold else new_theta
    theta = theta if hold else new_theta


def trajectory(
  step: Callable[..., tuple[Any, ...]],
  theta: Any,
  grads: Iterable[Any],
  *state: Any,
  state_dtype: Any = None,
  **hyperparameters: Any,
) -> np.ndarray:
  """The parameters after each update of ``step`` fed ``grads`` in turn, in float64.

  ``state`` gives the starting value of each state array (a number fills the
  parameters' shape). A hyperparameter that is a function is called with the
  1-based update number ``t``, and ``step`` gets ``t`` too if it takes it.
  ``state_dtype`` rounds the state to that dtype after every update, as a
  state kept in (say) bfloat16 is.
  """
  return np.stack(
    list(_steps(step, theta, grads, state, state_dtype, hyperparameters, False))
  )


def updates(
  step: Callable[..., tuple[Any, ...]],
  theta: Any,
  grads: Iterable[Any],
  *state: Any,
  state_dtype: Any = None,
  **hyperparameters: Any,
) -> np.ndarray:
  """The update of each step of :func:`trajectory` with the parameters held at
  ``theta`` (a loop that feeds ``update`` the same parameters every time)."""
  return np.stack(
    list(_steps(step, theta, grads, state, state_dtype, hyperparameters, True))
  )
