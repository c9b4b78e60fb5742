"""``python -m optx --against keras|torch``: the real framework beside its optx flavor.

The same network (64-100-50-10, ReLU), the same initial weights, the same
minibatches in the same order, the same loss (mean softmax cross-entropy):
once in the framework (Keras 3 on the JAX backend through ``model.fit`` and
its callbacks; PyTorch through its own loop, ``optimizer.step()`` and
``scheduler.step(val_loss)``), once in optx's flavor (``optx.keras``,
``optx.torch``) through the comparison's jitted scan. The curves are drawn on
top of each other and the largest differences printed.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pathlib
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import optx
from optx.compare.data import Dataset
from optx.compare.data import batch_order
from optx.compare.data import epoch_plan
from optx.compare.data import load_digits
from optx.compare.extras import require
from optx.compare.model import init_mlp
from optx.compare.runs import Config
from optx.compare.runs import Run
from optx.compare.runs import UsageError
from optx.compare.train import train_one

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


def _keras_sides(config: Config, keras: Any) -> dict[str, Side]:
  lr, lr_p = config.learning_rate, config.performance_learning_rate
  factor, patience = config.plateau_factor, config.plateau_patience
  o = keras.optimizers
  sides = {
    "sgd": (f"SGD({lr:g})", lambda: o.SGD(lr), optx.keras.SGD(lr)),
    "momentum": (
      f"SGD({lr:g}, momentum=0.9)",
      lambda: o.SGD(lr, momentum=0.9),
      optx.keras.SGD(lr, momentum=0.9),
    ),
    "nesterov": (
      f"SGD({lr:g}, momentum=0.9, nesterov=True)",
      lambda: o.SGD(lr, momentum=0.9, nesterov=True),
      optx.keras.SGD(lr, momentum=0.9, nesterov=True),
    ),
    "adagrad": (f"Adagrad({lr:g})", lambda: o.Adagrad(lr), optx.keras.Adagrad(lr)),
    "rmsprop": (
      f"RMSprop({lr:g}, rho=0.9)",
      lambda: o.RMSprop(lr, rho=0.9),
      optx.keras.RMSprop(lr, rho=0.9),
    ),
    "adam": (
      f"Adam({lr:g}, beta_1=0.9, beta_2=0.999)",
      lambda: o.Adam(lr, beta_1=0.9, beta_2=0.999),
      optx.keras.Adam(lr, beta_1=0.9, beta_2=0.999),
    ),
    "performance": (
      f"SGD({lr_p:g}, momentum=0.9) + ReduceLROnPlateau({factor:g}, {patience})"
      f" + EarlyStopping({config.early_stopping_patience}, restore_best_weights=True)",
      lambda: o.SGD(lr_p, momentum=0.9),
      optx.keras.SGD(
        lr_p,
        momentum=0.9,
        callbacks=[optx.keras.ReduceLROnPlateau(factor=factor, patience=patience)],
      ),
    ),
  }
  return {
    name: Side(
      name,
      "keras.optimizers." + text,
      "optx.keras." + text,
      make,
      flavor,
      lr_p if name == "performance" else lr,
      (factor, patience) if name == "performance" else None,
      config.early_stopping_patience if name == "performance" else None,
    )
    for name, (text, make, flavor) in sides.items()
  }


def _torch_sides(config: Config, torch: Any) -> dict[str, Side]:
  lr, lr_p = config.learning_rate, config.performance_learning_rate
  factor, patience = config.plateau_factor, config.plateau_patience
  o = torch.optim
  sides = {
    "sgd": (f"SGD(lr={lr:g})", lambda p: o.SGD(p, lr=lr), optx.torch.SGD(lr=lr)),
    "momentum": (
      f"SGD(lr={lr:g}, momentum=0.9)",
      lambda p: o.SGD(p, lr=lr, momentum=0.9),
      optx.torch.SGD(lr=lr, momentum=0.9),
    ),
    "nesterov": (
      f"SGD(lr={lr:g}, momentum=0.9, nesterov=True)",
      lambda p: o.SGD(p, lr=lr, momentum=0.9, nesterov=True),
      optx.torch.SGD(lr=lr, momentum=0.9, nesterov=True),
    ),
    "adagrad": (
      f"Adagrad(lr={lr:g})",
      lambda p: o.Adagrad(p, lr=lr),
      optx.torch.Adagrad(lr=lr),
    ),
    "rmsprop": (
      f"RMSprop(lr={lr:g}, alpha=0.9)",
      lambda p: o.RMSprop(p, lr=lr, alpha=0.9),
      optx.torch.RMSprop(lr=lr, alpha=0.9),
    ),
    "adam": (
      f"Adam(lr={lr:g}, betas=(0.9, 0.999))",
      lambda p: o.Adam(p, lr=lr, betas=(0.9, 0.999)),
      optx.torch.Adam(lr=lr, betas=(0.9, 0.999)),
    ),
    "performance": (
      f"SGD(lr={lr_p:g}, momentum=0.9) + ReduceLROnPlateau(factor={factor:g},"
      f" patience={patience})",
      lambda p: o.SGD(p, lr=lr_p, momentum=0.9),
      optx.torch.SGD(
        lr=lr_p,
        momentum=0.9,
        plateau=optx.torch.ReduceLROnPlateau(factor=factor, patience=patience),
      ),
    ),
  }
  return {
    name: Side(
      name,
      "torch.optim." + text,
      "optx.torch." + text,
      make,
      flavor,
      lr_p if name == "performance" else lr,
      (factor, patience) if name == "performance" else None,
      None,  # PyTorch has no early stopping of its own
    )
    for name, (text, make, flavor) in sides.items()
  }


def _keras_run(
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


def _torch_run(
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


def run_against(
  framework: str,
  config: Config,
  out: pathlib.Path | None,
  *,
  echo: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Trains the selected runs in ``framework`` and in its optx flavor; prints and writes the parity."""
  module = require_framework(framework)
  data = load_digits()
  n_train = len(data.x_train)
  steps_per_epoch, full_epochs, remainder = epoch_plan(config, n_train)
  if remainder or not full_epochs:
    raise UsageError("--against trains whole epochs: use --epochs, not --steps")
  full, last = batch_order(config, n_train)
  n_features = data.x_train.shape[1]
  params = init_mlp(
    config.seed, [n_features, *config.hidden, int(data.y_train.max()) + 1]
  )
  sides = (_keras_sides if framework == "keras" else _torch_sides)(config, module)
  names = [n for n in RUNS if n in config.optimizers or n in config.schedules]
  if not names:
    raise UsageError(f"--against runs {', '.join(RUNS)}: none selected")
  flavor = f"optx.{framework}"
  echo(
    f"optx {optx.__version__} against {framework} {module.__version__}: the same"
    f" MLP, initial weights and minibatches ({full_epochs} epochs of"
    f" {steps_per_epoch} steps), {framework} vs {flavor}"
  )
  train = _keras_run if framework == "keras" else _torch_run
  results = []
  for name in names:
    side = sides[name]
    start = time.perf_counter()
    theirs = train(module, side, params, data, full, full_epochs)
    framework_s = time.perf_counter() - start
    stopper = None
    if side.early_stopping is not None:
      stopper = optx.early_stopping(side.early_stopping, restore_best_params=True)
    run = Run(
      name,
      "optimizer",
      side.flavor,
      side.optimizer,
      lambda count, lr=side.learning_rate: jnp.asarray(lr, jnp.float32),
      rate=f"η={side.learning_rate:g}",
      early_stopping=stopper,
    )
    final, ours = train_one(
      run, dataclasses.replace(config, shared=False), data, (full, last)
    )
    ours_val = ours["history"]["val_loss"]
    epochs = min(len(ours_val), len(theirs["val_loss"]))
    val_gap = float(
      np.max(np.abs(np.subtract(ours_val[:epochs], theirs["val_loss"][:epochs])))
    )
    weight_gap = float(
      max(
        np.max(np.abs(np.asarray(a) - b))
        for a, b in zip(_flat(final), theirs["weights"], strict=True)
      )
    )
    results.append(
      {
        "name": name,
        "framework": side.framework,
        "flavor": side.flavor,
        "framework_val_loss": theirs["val_loss"],
        "optx_val_loss": ours_val,
        "framework_epochs": len(theirs["val_loss"]),
        "optx_epochs": len(ours_val),
        "max_val_loss_difference": val_gap,
        "max_weight_difference": weight_gap,
        "framework_s": framework_s,
        "optx_s": ours["compile_s"] + ours["wall_s"],
      }
    )
  echo(format_parity(results, framework))
  largest = max(results, key=lambda r: r["max_val_loss_difference"])
  echo(
    f"largest difference: validation loss {largest['max_val_loss_difference']:.2e}"
    f" ({largest['name']}), final weights"
    f" {max(r['max_weight_difference'] for r in results):.2e}"
  )
  document = {
    "framework": framework,
    "version": module.__version__,
    "config": dataclasses.asdict(config),
    "runs": results,
  }
  if out is not None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"against_{framework}.json").write_text(json.dumps(document) + "\n")
    plot_against(out / f"against_{framework}.png", results, framework)
    echo(f"wrote against_{framework}.json, against_{framework}.png to {out}/")
  return document


def _flat(params) -> list[np.ndarray]:
  return [np.asarray(a) for layer in params for a in (layer["w"], layer["b"])]


def format_parity(results: Sequence[dict[str, Any]], framework: str) -> str:
  header = (
    "run",
    f"{framework} val loss",
    "optx val loss",
    "max |Δ val loss|",
    "max |Δ weight|",
    "epochs",
  )
  rows = [
    (
      r["name"],
      f"{r['framework_val_loss'][-1]:.6f}",
      f"{r['optx_val_loss'][-1]:.6f}",
      f"{r['max_val_loss_difference']:.2e}",
      f"{r['max_weight_difference']:.2e}",
      f"{r['framework_epochs']}/{r['optx_epochs']}",
    )
    for r in results
  ]
  widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
  lines = []
  for n, row in enumerate([header, *rows]):
    lines.append(
      "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(row, widths, strict=True))
      )
    )
    if n == 0:
      lines.append("  ".join("-" * w for w in widths))
  return "\n".join(lines)


def plot_against(
  path: pathlib.Path, results: Sequence[dict[str, Any]], framework: str
) -> None:
  """Validation loss per epoch, the framework's lines under optx's markers; their gaps."""
  figure_module = require("matplotlib.figure")
  cmap = importlib.import_module("matplotlib").colormaps["tab10"]
  fig = figure_module.Figure(figsize=(12, 4.6))
  fig.subplots_adjust(left=0.07, right=0.99, bottom=0.12, top=0.88, wspace=0.2)
  left, right = fig.subplots(1, 2)
  for n, r in enumerate(results):
    color = cmap(n % 10)
    theirs, ours = r["framework_val_loss"], r["optx_val_loss"]
    left.plot(
      np.arange(1, len(theirs) + 1),
      theirs,
      color=color,
      lw=2.2,
      alpha=0.6,
      label=f"{r['name']}: {framework} (line), optx.{framework} (dots)",
    )
    left.plot(np.arange(1, len(ours) + 1), ours, "o", color=color, ms=3.5)
    epochs = min(len(theirs), len(ours))
    gap = np.abs(np.subtract(theirs[:epochs], ours[:epochs]))
    right.plot(
      np.arange(1, epochs + 1),
      np.maximum(gap, 1e-9),
      color=color,
      lw=1.5,
      marker=".",
      label=f"{r['name']}: max {r['max_val_loss_difference']:.1e}",
    )
  left.set_yscale("log")
  left.set_xlabel("epoch")
  left.set_ylabel("validation loss")
  left.set_title(
    f"{framework} and optx.{framework}, same weights and minibatches", fontsize=10
  )
  left.legend(fontsize=7)
  left.grid(True, alpha=0.3)
  right.set_yscale("log")
  right.set_xlabel("epoch")
  right.set_ylabel(f"|{framework} − optx.{framework}| (floor 1e-9)")
  weights = max(r["max_weight_difference"] for r in results)
  right.set_title(
    f"difference in validation loss (final weights: at most {weights:.1e} apart)",
    fontsize=10,
  )
  right.legend(fontsize=7)
  right.grid(True, alpha=0.3)
  fig.savefig(path, dpi=100)
