"""The frameworks of ``python -m optx --against``: Keras's ``fit`` and PyTorch's loop.

Each framework trains the comparison's network (64-100-50-10, ReLU) from the
given initial weights on the given minibatches, with its own optimizer and
callbacks or schedulers, beside the matching optx flavor: a :class:`Side` per
run names both. Importing a framework that is not installed raises
:class:`MissingFramework`, a one-line message naming the extra to install.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import jax
import numpy as np

import optx
from optx.compare.data import Dataset
from optx.compare.runs import Config

FRAMEWORKS = ("keras", "torch")
INSTALL = {
  "keras": "pip install keras  (Keras 3; python -m optx runs it on the JAX backend)",
  "torch": "pip install torch",
}
RUNS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "performance")


class Side(NamedTuple):
  """One run in both worlds: the framework's optimizer and callbacks, optx's flavor."""

  name: str
  framework: str  # how the framework's optimizer is written, for the table
  flavor: str  # how optx's is written
  make_framework: Callable[..., Any]
  optimizer: Any  # the optx flavor's transformation
  learning_rate: float
  plateau: tuple[float, int] | None  # ReduceLROnPlateau's factor and patience
  early_stopping: int | None


class MissingFramework(SystemExit):
  """Raised, with a one-line message, when the framework cannot be imported."""


def require_framework(name: str) -> Any:
  """Imports Keras (on the JAX backend) or PyTorch, or exits naming what to install."""
  if name == "keras":
    os.environ.setdefault("KERAS_BACKEND", "jax")
  try:
    module = importlib.import_module(name)
  except ImportError as error:
    raise MissingFramework(
      f"python -m optx --against {name} needs"
      f" {'Keras 3' if name == 'keras' else 'PyTorch'}, which is not installed:"
      f" {INSTALL[name]}"
    ) from error
  if name == "keras":
    backend = module.backend.backend()
    if backend != "jax" or not module.__version__.startswith("3"):
      raise MissingFramework(
        f"python -m optx --against keras needs Keras 3 on the JAX backend, got"
        f" Keras {module.__version__} on {backend}: set KERAS_BACKEND=jax before"
        f" Python starts ({INSTALL['keras']})"
      )
  return module


def _same(framework: Any, flavors: Any, name: str, *args: Any, **kwargs: Any):
  """One optimizer called the same in both: how it is written, the framework's, optx's."""
  written = [_written(a) for a in args]
  written += [f"{key}={_written(a)}" for key, a in kwargs.items()]
  return (
    f"{name}({', '.join(written)})",
    lambda *params: getattr(framework, name)(*params, *args, **kwargs),
    getattr(flavors, name)(*args, **kwargs),
  )


def _written(value: Any) -> str:
  if isinstance(value, tuple):
    return f"({', '.join(map(_written, value))})"
  return f"{value:g}" if isinstance(value, float) else repr(value)


def _sides(
  config: Config,
  sides: dict[str, tuple[str, Callable[..., Any], Any]],
  framework: str,
  flavor: str,
  early_stopping: int | None,
) -> dict[str, Side]:
  """A :class:`Side` per run; performance scheduling has its rate, plateau and stopping."""
  lr, lr_p = config.learning_rate, config.performance_learning_rate
  plateau = (config.plateau_factor, config.plateau_patience)
  return {
    name: Side(
      name,
      framework + text,
      flavor + text,
      make,
      optimizer,
      lr_p if name == "performance" else lr,
      plateau if name == "performance" else None,
      early_stopping if name == "performance" else None,
    )
    for name, (text, make, optimizer) in sides.items()
  }


def keras_sides(config: Config, keras: Any) -> dict[str, Side]:
  lr, lr_p = config.learning_rate, config.performance_learning_rate
  factor, patience = config.plateau_factor, config.plateau_patience
  same = functools.partial(_same, keras.optimizers, optx.keras)
  sides = {
    "sgd": same("SGD", lr),
    "momentum": same("SGD", lr, momentum=0.9),
    "nesterov": same("SGD", lr, momentum=0.9, nesterov=True),
    "adagrad": same("Adagrad", lr),
    "rmsprop": same("RMSprop", lr, rho=0.9),
    "adam": same("Adam", lr, beta_1=0.9, beta_2=0.999),
    "performance": (
      f"SGD({lr_p:g}, momentum=0.9) + ReduceLROnPlateau({factor:g}, {patience})"
      f" + EarlyStopping({config.early_stopping_patience}, restore_best_weights=True)",
      lambda: keras.optimizers.SGD(lr_p, momentum=0.9),
      optx.keras.SGD(
        lr_p,
        momentum=0.9,
        callbacks=[optx.keras.ReduceLROnPlateau(factor=factor, patience=patience)],
      ),
    ),
  }
  stopping = config.early_stopping_patience
  return _sides(config, sides, "keras.optimizers.", "optx.keras.", stopping)


def torch_sides(config: Config, torch: Any) -> dict[str, Side]:
  lr, lr_p = config.learning_rate, config.performance_learning_rate
  factor, patience = config.plateau_factor, config.plateau_patience
  same = functools.partial(_same, torch.optim, optx.torch)
  sides = {
    "sgd": same("SGD", lr=lr),
    "momentum": same("SGD", lr=lr, momentum=0.9),
    "nesterov": same("SGD", lr=lr, momentum=0.9, nesterov=True),
    "adagrad": same("Adagrad", lr=lr),
    "rmsprop": same("RMSprop", lr=lr, alpha=0.9),
    "adam": same("Adam", lr=lr, betas=(0.9, 0.999)),
    "performance": (
      f"SGD(lr={lr_p:g}, momentum=0.9) + ReduceLROnPlateau(factor={factor:g},"
      f" patience={patience})",
      lambda p: torch.optim.SGD(p, lr=lr_p, momentum=0.9),
      optx.torch.SGD(
        lr=lr_p,
        momentum=0.9,
        plateau=optx.torch.ReduceLROnPlateau(factor=factor, patience=patience),
      ),
    ),
  }
  # PyTorch has no early stopping of its own
  return _sides(config, sides, "torch.optim.", "optx.torch.", None)


def keras_run(
  keras: Any, side: Side, params, data: Dataset, full, epochs: int
) -> dict[str, Any]:
  """``model.fit`` over the comparison's minibatches, with Keras's own callbacks.

  Under JAX's default promotion rules: Keras is not written for the strict
  ones a test suite (or a user) may have switched on.
  """
  with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
    return _keras_fit(keras, side, params, data, full, epochs)


def _keras_fit(keras, side, params, data, full, epochs) -> dict[str, Any]:
  layers = [keras.Input((data.x_train.shape[1],))]
  for n, layer in enumerate(params):
    activation = "relu" if n < len(params) - 1 else None
    layers.append(keras.layers.Dense(layer["w"].shape[1], activation=activation))
  model = keras.Sequential(layers)
  model.set_weights(
    [np.asarray(a) for layer in params for a in (layer["w"], layer["b"])]
  )
  model.compile(
    optimizer=side.make_framework(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
  )
  order = np.asarray(full)

  def batches():
    for epoch in order:
      for batch in epoch:
        yield data.x_train[batch], data.y_train[batch]

  callbacks = []
  if side.plateau is not None:
    factor, patience = side.plateau
    callbacks.append(
      keras.callbacks.ReduceLROnPlateau(factor=factor, patience=patience)
    )
  if side.early_stopping is not None:
    callbacks.append(
      keras.callbacks.EarlyStopping(
        patience=side.early_stopping, restore_best_weights=True
      )
    )
  history = model.fit(
    batches(),
    epochs=epochs,
    steps_per_epoch=order.shape[1],
    shuffle=False,  # the generator yields the comparison's own order
    validation_data=(data.x_val, data.y_val),
    callbacks=callbacks,
    verbose=0,
  )
  weights = model.get_weights()
  return {
    "val_loss": [float(x) for x in history.history["val_loss"]],
    "weights": [np.asarray(w, np.float32) for w in weights],
  }


def torch_run(
  torch: Any, side: Side, params, data: Dataset, full, epochs: int
) -> dict[str, Any]:
  """PyTorch's loop: ``step()`` per minibatch, ``scheduler.step(val_loss)`` per epoch."""
  modules = []
  for n, layer in enumerate(params):
    linear = torch.nn.Linear(*layer["w"].shape)
    with torch.no_grad():
      linear.weight.copy_(torch.from_numpy(np.asarray(layer["w"]).T.copy()))
      linear.bias.copy_(torch.from_numpy(np.asarray(layer["b"]).copy()))
    modules.append(linear)
    if n < len(params) - 1:
      modules.append(torch.nn.ReLU())
  model = torch.nn.Sequential(*modules)
  # One thread: for a network this small, PyTorch's intra-op threads only
  # contend with each other (tens of times slower on 2 cores).
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  try:
    return _torch_loop(torch, side, model, modules, data, full, epochs)
  finally:
    torch.set_num_threads(threads)


def _torch_loop(torch, side, model, modules, data, full, epochs) -> dict[str, Any]:
  optimizer = side.make_framework(model.parameters())
  scheduler = None
  if side.plateau is not None:
    factor, patience = side.plateau
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
      optimizer, factor=factor, patience=patience
    )
  loss_fn = torch.nn.CrossEntropyLoss()
  x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
  x_val, y_val = (
    torch.from_numpy(data.x_val),
    torch.from_numpy(data.y_val.astype(np.int64)),
  )
  val_losses = []
  for epoch in np.asarray(full)[:epochs]:
    for batch in epoch:
      index = torch.from_numpy(batch.astype(np.int64))
      loss = loss_fn(model(x_train[index]), y_train[index].long())
      optimizer.zero_grad()
      loss.backward()
      optimizer.step()
    with torch.no_grad():
      val_loss = float(loss_fn(model(x_val), y_val))
    val_losses.append(val_loss)
    if scheduler is not None:
      scheduler.step(val_loss)
  weights = []
  for module in modules:
    if isinstance(module, torch.nn.Linear):
      weights += [module.weight.detach().numpy().T, module.bias.detach().numpy()]
  return {
    "val_loss": val_losses,
    "weights": [np.asarray(w, np.float32) for w in weights],
  }
