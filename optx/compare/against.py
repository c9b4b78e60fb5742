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
import pathlib
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

import optx
from optx.compare.data import batch_order
from optx.compare.data import epoch_plan
from optx.compare.data import load_digits
from optx.compare.extras import require
from optx.compare.frameworks import RUNS
from optx.compare.frameworks import keras_run
from optx.compare.frameworks import keras_sides
from optx.compare.frameworks import require_framework
from optx.compare.frameworks import torch_run
from optx.compare.frameworks import torch_sides
from optx.compare.model import init_mlp
from optx.compare.runs import Config
from optx.compare.runs import Run
from optx.compare.runs import UsageError
from optx.compare.train import train_one


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
  sides = (keras_sides if framework == "keras" else torch_sides)(config, module)
  names = [n for n in RUNS if n in config.optimizers or n in config.schedules]
  if not names:
    raise UsageError(f"--against runs {', '.join(RUNS)}: none selected")
  flavor = f"optx.{framework}"
  echo(
    f"optx {optx.__version__} against {framework} {module.__version__}: the same"
    f" MLP, initial weights and minibatches ({full_epochs} epochs of"
    f" {steps_per_epoch} steps), {framework} vs {flavor}"
  )
  train = keras_run if framework == "keras" else torch_run
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
