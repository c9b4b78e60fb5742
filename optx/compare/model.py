"""The model: a small multilayer perceptron in plain JAX, its loss and accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def init_mlp(seed: int, sizes: Sequence[int]) -> list[dict[str, jax.Array]]:
  """He-normal weights and zero biases for layers ``sizes[0] -> ... -> sizes[-1]``.

  Drawn with NumPy's generator seeded by ``seed`` (eager ``jax.random`` calls
  would each cost a compile), as float32 JAX arrays.

  Examples:
    >>> from optx.compare import model
    >>> params = model.init_mlp(0, [64, 100, 10])
    >>> print([p["w"].shape for p in params])
    [(64, 100), (100, 10)]
  """
  rng = np.random.default_rng([seed, 0])
  return [
    {
      "w": jnp.asarray(
        rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in), jnp.float32
      ),
      "b": jnp.asarray(np.zeros(n_out), jnp.float32),
    }
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
  ]


def mlp_apply(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
  """The logits: ReLU hidden layers, a linear output layer."""
  for layer in params[:-1]:
    x = jax.nn.relu(x @ layer["w"] + layer["b"][None, :])
  return x @ params[-1]["w"] + params[-1]["b"][None, :]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  r"""Mean softmax cross-entropy, :math:`-\frac{1}{n}\sum_i \log p_{i, y_i}`.

  Examples:
    >>> import jax.numpy as jnp
    >>> from optx.compare import model
    >>> logits = jnp.zeros((2, 10))
    >>> print(f"{model.cross_entropy(logits, jnp.array([3, 7])):.4f}")
    2.3026
  """
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """The fraction of rows whose largest logit is the label."""
  return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
