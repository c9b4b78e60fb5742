"""The comparison run behind ``python -m optx``: every seed optimizer and schedule on real data.

A small multilayer perceptron (plain JAX, no framework) learns scikit-learn's
bundled handwritten digits (1,797 8x8 images, no download) with a fixed
train/validation split. Each run (one optimizer, or one schedule on top of
momentum optimization) is one ``jit``-compiled function: epochs are an outer
``lax.scan``, the minibatch steps of an epoch an inner one, and the end of
every epoch measures the validation loss, which :func:`optx.observe` feeds to
performance scheduling inside the same scan.

matplotlib, scikit-learn and tqdm are the optional ``report`` extra
(``pip install "optx-jax[report]"``); they are imported only when the run
starts, so ``import optx`` never needs them.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import json
import math
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optx

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
SCHEDULES = ("power", "exponential", "piecewise", "performance", "onecycle")
REPORT_EXTRA = 'pip install "optx-jax[report]"'
TIMING_KEYS = ("compile_s", "wall_s", "steps_per_s")


@dataclasses.dataclass(frozen=True)
class Config:
  """What one comparison run trains, and for how long.

  Attributes:
    epochs: passes over the training set (ignored when ``steps`` is set).
    steps: total optimizer steps; the last epoch may be partial.
    batch_size: images per minibatch (the remainder of an epoch is dropped).
    hidden: widths of the hidden layers.
    learning_rate: the optimizers' common learning rate (the seed's 0.001).
    schedule_learning_rate: the schedules' initial rate (the seed's 0.01).
    onecycle_max: the peak of 1cycle.
    seed: initial weights and minibatch order (same for every run).
    optimizers: names from :data:`OPTIMIZERS`.
    schedules: names from :data:`SCHEDULES`.
  """

  epochs: int = 30
  steps: int | None = None
  batch_size: int = 32
  hidden: tuple[int, ...] = (100, 50)
  learning_rate: float = 1e-3
  schedule_learning_rate: float = 1e-2
  onecycle_max: float = 5e-2
  seed: int = 0
  optimizers: tuple[str, ...] = OPTIMIZERS
  schedules: tuple[str, ...] = SCHEDULES


QUICK = {"epochs": 8}
"""What ``--quick`` changes: a smoke test well under a minute on 2 CPU cores."""


class Dataset(NamedTuple):
  """A train/validation split: float32 images in [0, 1], int32 labels."""

  x_train: np.ndarray
  y_train: np.ndarray
  x_val: np.ndarray
  y_val: np.ndarray


def load_digits(validation_fraction: float = 0.2, split_seed: int = 0) -> Dataset:
  """scikit-learn's 8x8 digits, flattened to 64 features in [0, 1], split once.

  The split depends on ``split_seed`` only, never on the run's ``--seed``, so
  every run and every seed is scored on the same validation images.
  """
  datasets = _require("sklearn.datasets")
  x, y = datasets.load_digits(return_X_y=True)
  x = (np.asarray(x, np.float32) / np.float32(16.0)).astype(np.float32)
  y = np.asarray(y, np.int32)
  order = np.random.default_rng(split_seed).permutation(len(x))
  n_val = int(round(len(x) * validation_fraction))
  val, train = order[:n_val], order[n_val:]
  return Dataset(x[train], y[train], x[val], y[val])


def init_mlp(key: jax.Array, sizes: Sequence[int]) -> list[dict[str, jax.Array]]:
  """He-normal weights and zero biases for layers ``sizes[0] -> ... -> sizes[-1]``.

  Examples:
    >>> import jax
    >>> from optx._src import experiment
    >>> params = experiment.init_mlp(jax.random.key(0), [64, 100, 10])
    >>> print([p["w"].shape for p in params])
    [(64, 100), (100, 10)]
  """
  keys = jax.random.split(key, len(sizes) - 1)
  return [
    {
      "w": jax.random.normal(k, (n_in, n_out), jnp.float32)
      * jnp.sqrt(jnp.float32(2.0 / n_in)),
      "b": jnp.zeros((n_out,), jnp.float32),
    }
    for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
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
    >>> from optx._src import experiment
    >>> logits = jnp.zeros((2, 10))
    >>> print(f"{experiment.cross_entropy(logits, jnp.array([3, 7])):.4f}")
    2.3026
  """
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """The fraction of rows whose largest logit is the label."""
  return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


class UsageError(ValueError):
  """A configuration that cannot run; ``main`` reports it as a usage error."""


class Run(NamedTuple):
  """One line of the comparison: a name, an optimizer and its learning rate."""

  name: str
  kind: str  # "optimizer" or "schedule"
  description: str
  optimizer: optax.GradientTransformation
  learning_rate: Callable[[jax.Array], jax.Array]


def _constant(value: float) -> Callable[[jax.Array], jax.Array]:
  return lambda count: jnp.asarray(value, jnp.float32)


def build_runs(config: Config, total_steps: int) -> list[Run]:
  """The runs that ``config`` selects, optimizers first, each with its settings.

  Optimizers use the seed's hyperparameters at ``config.learning_rate``. Every
  schedule drives momentum optimization (:math:`\\beta = 0.9`) from
  ``config.schedule_learning_rate``, scaled to the run's length the way the
  seed's 25-epoch examples are: power :math:`s = T/4`, exponential
  :math:`s = 0.8\\,T` (the seed's 20 of 25 epochs), piecewise constant
  boundaries at 20% and 60% of the steps (epochs 5 and 15 of 25),
  performance ``reduce_on_plateau(0.5, 5)`` on the validation loss each epoch,
  1cycle over all :math:`T` steps with momentum cycled 0.95 -> 0.85 -> 0.95.
  """
  lr, lr0, total = config.learning_rate, config.schedule_learning_rate, total_steps
  optimizers = {
    "sgd": (f"optx.sgd({lr:g})", lambda: optx.sgd(lr)),
    "momentum": (f"optx.momentum({lr:g}, 0.9)", lambda: optx.momentum(lr, 0.9)),
    "nesterov": (f"optx.nesterov({lr:g}, 0.9)", lambda: optx.nesterov(lr, 0.9)),
    "adagrad": (f"optx.adagrad({lr:g})", lambda: optx.adagrad(lr)),
    "rmsprop": (f"optx.rmsprop({lr:g}, 0.9)", lambda: optx.rmsprop(lr, 0.9)),
    "adam": (f"optx.adam({lr:g}, 0.9, 0.999)", lambda: optx.adam(lr, 0.9, 0.999)),
  }
  runs = []
  for name in config.optimizers:
    description, make = optimizers[name]
    runs.append(Run(name, "optimizer", description, make(), _constant(lr)))

  power_steps = max(total / 4, 1.0)
  exponential_steps = max(0.8 * total, 1.0)
  b1, b2 = int(0.2 * total), int(0.6 * total)
  boundaries = [b1, b2] if b1 < b2 else [b2]
  values = [lr0, lr0 / 2, lr0 / 10] if b1 < b2 else [lr0, lr0 / 10]
  schedules: dict[str, tuple[str, Callable[[], tuple[Any, Any, Any]]]] = {
    "power": (
      f"power_schedule({lr0:g}, s={power_steps:g})",
      lambda: (optx.power_schedule(lr0, power_steps), 0.9, None),
    ),
    "exponential": (
      f"exponential_schedule({lr0:g}, s={exponential_steps:g})",
      lambda: (optx.exponential_schedule(lr0, exponential_steps), 0.9, None),
    ),
    "piecewise": (
      f"piecewise_constant_schedule({boundaries}, [{', '.join(f'{x:g}' for x in values)}])",
      lambda: (optx.piecewise_constant_schedule(boundaries, values), 0.9, None),
    ),
    "performance": (
      f"reduce_on_plateau(0.5, 5) from {lr0:g}, val loss every epoch",
      lambda: (_constant(lr0), 0.9, optx.reduce_on_plateau(0.5, 5)),
    ),
    "onecycle": (
      f"onecycle_schedule({total}, {config.onecycle_max:g}) + momentum",
      lambda: (
        optx.onecycle_schedule(total, config.onecycle_max),
        optx.onecycle_momentum_schedule(total),
        None,
      ),
    ),
  }
  for name in config.schedules:
    description, make = schedules[name]
    learning_rate, momentum, plateau = make()
    tx = optx.momentum(learning_rate, momentum, plateau=plateau)
    runs.append(
      Run(name, "schedule", f"optx.momentum: {description}", tx, learning_rate)
    )
  return runs


def epoch_plan(config: Config, n_train: int) -> tuple[int, int, int]:
  """Returns ``(steps_per_epoch, full_epochs, remainder_steps)``."""
  steps_per_epoch = n_train // config.batch_size
  if steps_per_epoch < 1:
    raise ValueError(f"--batch-size must be <= {n_train}, got {config.batch_size}")
  if config.steps is None:
    return steps_per_epoch, config.epochs, 0
  return (
    steps_per_epoch,
    config.steps // steps_per_epoch,
    config.steps % steps_per_epoch,
  )


def batch_order(config: Config, n_train: int) -> tuple[jax.Array, jax.Array]:
  """The minibatches of every epoch, the same for every run of a seed.

  Returns ``(full, last)``: indices into the training set of shape
  ``(full_epochs, steps_per_epoch, batch_size)`` and, for a partial last
  epoch, ``(remainder_steps, batch_size)`` (zero rows when there is none).
  Each epoch is a fresh permutation; the images left over by the batch size
  are skipped for that epoch.
  """
  steps_per_epoch, full_epochs, remainder = epoch_plan(config, n_train)
  key = jax.random.fold_in(jax.random.key(config.seed), 1)
  keys = jax.random.split(key, full_epochs + 1)
  orders = jax.vmap(lambda k: jax.random.permutation(k, n_train))(keys)
  size = config.batch_size
  full = orders[:full_epochs, : steps_per_epoch * size].reshape(
    full_epochs, steps_per_epoch, size
  )
  last = orders[full_epochs, : remainder * size].reshape(remainder, size)
  return full, last


def make_train(run: Run) -> Callable[..., Any]:
  """The whole training of ``run`` as one function, to ``jit``.

  ``train(params, full, last, x_train, y_train, x_val, y_val)``, with the
  minibatches of :func:`batch_order`, returns the final parameters,
  per-epoch metrics (``train_loss`` on the full training set, ``val_loss``,
  ``val_accuracy``, ``plateau_scale``) and, per step, the minibatch loss and
  the learning rate applied (the schedule's value times the plateau scale).
  """
  tx = run.optimizer

  def train(params, full, last, x_train, y_train, x_val, y_val):
    def loss_fn(p, x, y):
      return cross_entropy(mlp_apply(p, x), y)

    def step(carry, batch):
      params, opt_state, count = carry
      loss, grads = jax.value_and_grad(loss_fn)(params, x_train[batch], y_train[batch])
      learning_rate = run.learning_rate(count) * optx.plateau_scale(opt_state)
      updates, opt_state = tx.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      return (params, opt_state, count + 1), (loss, learning_rate)

    def epoch(carry, batches):
      carry, per_step = jax.lax.scan(step, carry, batches)
      params, opt_state, count = carry
      val_logits = mlp_apply(params, x_val)  # pyright: ignore[reportArgumentType]
      val_loss = cross_entropy(val_logits, y_val)
      # Performance scheduling: one measurement per epoch, inside the scan.
      opt_state = optx.observe(opt_state, val_loss)
      metrics = {
        "train_loss": loss_fn(params, x_train, y_train),
        "val_loss": val_loss,
        "val_accuracy": accuracy(val_logits, y_val),
        "plateau_scale": optx.plateau_scale(opt_state),
      }
      return (params, opt_state, count), (metrics, per_step)

    carry = (params, tx.init(params), jnp.zeros([], jnp.int32))
    carry, (metrics, per_step) = jax.lax.scan(epoch, carry, full)
    per_step = jax.tree.map(lambda a: a.reshape(-1), per_step)
    if last.shape[0]:
      carry, (last_metrics, last_steps) = epoch(carry, last)
      metrics = jax.tree.map(
        lambda a, b: jnp.concatenate([a, b[None]]), metrics, last_metrics
      )
      per_step = jax.tree.map(
        lambda a, b: jnp.concatenate([a, b]), per_step, last_steps
      )
    batch_loss, learning_rate = per_step
    return carry[0], metrics, {"batch_loss": batch_loss, "learning_rate": learning_rate}

  return train


def run_one(run: Run, config: Config, data: Dataset) -> dict[str, Any]:
  """Compiles and runs one training; returns its numbers (plain Python values)."""
  n_train, n_features = data.x_train.shape
  sizes = [n_features, *config.hidden, int(data.y_train.max()) + 1]
  params = init_mlp(jax.random.key(config.seed), sizes)
  args = (params, *batch_order(config, n_train), *(jnp.asarray(a) for a in data))
  start = time.perf_counter()
  compiled = jax.jit(make_train(run)).lower(*args).compile()
  compile_s = time.perf_counter() - start
  start = time.perf_counter()
  _, metrics, per_step = jax.block_until_ready(compiled(*args))
  wall_s = time.perf_counter() - start
  metrics = {k: np.asarray(v).tolist() for k, v in metrics.items()}
  per_step = {k: np.asarray(v).tolist() for k, v in per_step.items()}
  steps = len(per_step["batch_loss"])
  return {
    "name": run.name,
    "kind": run.kind,
    "optimizer": run.description,
    "final_train_loss": metrics["train_loss"][-1],
    "final_val_loss": metrics["val_loss"][-1],
    "val_accuracy": metrics["val_accuracy"][-1],
    "steps": steps,
    "epochs": len(metrics["val_loss"]),
    "compile_s": compile_s,
    "wall_s": wall_s,
    "steps_per_s": steps / wall_s,
    "history": metrics,
    "per_step": per_step,
  }


def _require(module: str) -> Any:
  """Imports an optional dependency of the report, or exits naming the extra."""
  try:
    return importlib.import_module(module)
  except ImportError as error:
    raise SystemExit(
      f"python -m optx needs the optional 'report' extra ({module.split('.')[0]}"
      f" is missing: {error}).\nInstall it with: {REPORT_EXTRA}"
    ) from None


CSV_COLUMNS = (
  "name",
  "kind",
  "optimizer",
  "final_train_loss",
  "final_val_loss",
  "val_accuracy",
  "steps",
  "epochs",
  "compile_s",
  "wall_s",
  "steps_per_s",
)


def format_table(results: Sequence[dict[str, Any]]) -> str:
  """The printed table: one row per run."""
  header = (
    "run",
    "kind",
    "train loss",
    "val loss",
    "val acc",
    "compile s",
    "wall s",
    "steps/s",
  )
  rows = [
    (
      r["name"],
      r["kind"],
      f"{r['final_train_loss']:.4f}",
      f"{r['final_val_loss']:.4f}",
      f"{100 * r['val_accuracy']:.2f}%",
      f"{r['compile_s']:.2f}",
      f"{r['wall_s']:.3f}",
      f"{r['steps_per_s']:,.0f}",
    )
    for r in results
  ]
  widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
  lines = []
  for n, row in enumerate([header, *rows]):
    cells = [
      c.ljust(w) if i < 2 else c.rjust(w)
      for i, (c, w) in enumerate(zip(row, widths, strict=True))
    ]
    lines.append("  ".join(cells).rstrip())
    if n == 0:
      lines.append("  ".join("-" * w for w in widths))
  return "\n".join(lines)


def write_csv(path: pathlib.Path, results: Sequence[dict[str, Any]]) -> None:
  with path.open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for r in results:
      writer.writerow({k: r[k] for k in CSV_COLUMNS})


def _palette(n: int) -> list[Any]:
  cmap = importlib.import_module("matplotlib").colormaps["tab10"]
  return [cmap(i % 10) for i in range(n)]


def plot_learning_curves(
  path: pathlib.Path, results: Sequence[dict[str, Any]], title: str
) -> None:
  """Validation loss per epoch: optimizers on the left, schedules on the right."""
  figure_module = _require("matplotlib.figure")
  groups = [
    (kind, [r for r in results if r["kind"] == kind])
    for kind in ("optimizer", "schedule")
  ]
  groups = [(kind, rs) for kind, rs in groups if rs]
  fig = figure_module.Figure(figsize=(6.0 * len(groups), 4.2), layout="constrained")
  axes = fig.subplots(1, len(groups), squeeze=False)[0]
  for ax, (kind, rs) in zip(axes, groups, strict=True):
    for n, (color, r) in enumerate(zip(_palette(len(rs)), rs, strict=True)):
      epochs = np.arange(1, r["epochs"] + 1)
      label = f"{r['name']} ({100 * r['val_accuracy']:.1f}%)"
      # Dashes keep runs that coincide (momentum and Nesterov early on) visible.
      style, zorder = ("-", 2) if n % 2 == 0 else ("--", 3)
      ax.plot(
        epochs,
        r["history"]["val_loss"],
        style,
        color=color,
        label=label,
        lw=1.8,
        zorder=zorder,
      )
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.set_title(
      "optimizers" if kind == "optimizer" else "schedules (momentum optimization)"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, title="run (final val accuracy)", title_fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.savefig(path, dpi=110)


def plot_learning_rates(
  path: pathlib.Path, results: Sequence[dict[str, Any]], steps_per_epoch: int
) -> None:
  """Each schedule's learning rate over the steps, as applied (plateau scale included)."""
  figure_module = _require("matplotlib.figure")
  rs = [r for r in results if r["kind"] == "schedule"]
  fig = figure_module.Figure(figsize=(7.5, 4.2), layout="constrained")
  ax = fig.subplots()
  for color, r in zip(_palette(len(rs)), rs, strict=True):
    ax.plot(
      np.arange(r["steps"]),
      r["per_step"]["learning_rate"],
      color=color,
      label=r["name"],
      lw=1.8,
    )
  ax.set_yscale("log")
  ax.set_xlabel(f"step ({steps_per_epoch} per epoch)")
  ax.set_ylabel("learning rate")
  ax.set_title("learning rate applied at each step")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=8)
  fig.savefig(path, dpi=110)


def run_comparison(
  config: Config,
  out: pathlib.Path | None,
  *,
  progress: bool = True,
  echo: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Trains every selected run, prints the table and writes the report folder.

  Returns the JSON document written to ``out / "results.json"``.
  """
  tqdm = _require("tqdm").tqdm
  if out is not None:
    _require("matplotlib")
  data = load_digits()
  n_train = len(data.x_train)
  try:
    steps_per_epoch, full_epochs, remainder = epoch_plan(config, n_train)
    total_steps = steps_per_epoch * full_epochs + remainder
    runs = build_runs(config, total_steps)
  except ValueError as error:
    raise UsageError(str(error)) from error
  sizes = "-".join(str(s) for s in (data.x_train.shape[1], *config.hidden, 10))
  epochs = full_epochs + (1 if remainder else 0)
  title = (
    f"digits: {n_train} train / {len(data.x_val)} validation images, MLP {sizes},"
    f" batch {config.batch_size}, {epochs} epoch{'s' if epochs != 1 else ''} ({total_steps} steps), seed {config.seed}"
  )
  echo(
    f"optx {optx.__version__} comparison on {title}; jax {jax.__version__} on {jax.devices()[0].platform}"
  )
  results = []
  bar = tqdm(
    runs,
    desc="training",
    unit="run",
    delay=2.0,
    disable=None if progress else True,
    file=sys.stderr,
  )
  for run in bar:
    bar.set_postfix_str(run.name)
    results.append(run_one(run, config, data))
  bar.close()
  echo(format_table(results))
  document = {
    "config": dataclasses.asdict(config),
    "dataset": {
      "name": "sklearn.datasets.load_digits",
      "train": n_train,
      "validation": len(data.x_val),
      "steps_per_epoch": steps_per_epoch,
      "total_steps": total_steps,
    },
    "title": title,
    "environment": {
      "optx": optx.__version__,
      "jax": jax.__version__,
      "optax": optax.__version__,
      "python": platform.python_version(),
      "device": str(jax.devices()[0]),
    },
    "runs": results,
  }
  if out is not None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
      json.dumps(document, separators=(",", ":")) + "\n"
    )
    write_csv(out / "results.csv", results)
    written = ["results.json", "results.csv"]
    plot_learning_curves(out / "learning_curves.png", results, title)
    written.append("learning_curves.png")
    if any(r["kind"] == "schedule" for r in results):
      plot_learning_rates(out / "learning_rates.png", results, steps_per_epoch)
      written.append("learning_rates.png")
    echo(f"wrote {', '.join(written)} to {out}/")
  return document


def _names(kind: str, choices: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
  def parse(text: str) -> tuple[str, ...]:
    if text.strip().lower() in ("", "none"):
      return ()
    if text.strip().lower() == "all":
      return tuple(choices)
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in choices]
    if unknown:
      raise argparse.ArgumentTypeError(
        f"unknown {kind} {', '.join(unknown)}; choose from {', '.join(choices)}, all or none"
      )
    return tuple(dict.fromkeys(names))

  return parse


def _positive(text: str) -> int:
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
  return value


def parser() -> argparse.ArgumentParser:
  """The command line of ``python -m optx``."""
  p = argparse.ArgumentParser(
    prog="python -m optx",
    description=(
      "Compare the seed's optimizers (SGD, momentum, Nesterov, AdaGrad, RMSProp,"
      " Adam) and learning-rate schedules (power, exponential, piecewise"
      " constant, performance, 1cycle) on scikit-learn's handwritten digits"
      " with a small MLP. Every run is one jit-compiled lax.scan. Prints a table"
      " (final training loss, validation accuracy, wall time, steps/s) and"
      " writes plots, CSV and JSON to --out. Needs the report extra: " + REPORT_EXTRA
    ),
    epilog=(
      "Same --seed, same numbers (on CPU); only the timings change. Example:"
      " python -m optx --quick --optimizers sgd,adam --schedules none"
    ),
  )
  length = p.add_mutually_exclusive_group()
  length.add_argument(
    "--epochs",
    type=_positive,
    metavar="N",
    help=f"passes over the training set (default {Config.epochs}; --quick: {QUICK['epochs']})",
  )
  length.add_argument(
    "--steps",
    type=_positive,
    metavar="N",
    help="total optimizer steps instead of --epochs (the last epoch may be partial)",
  )
  p.add_argument(
    "--quick",
    action="store_true",
    help="a short smoke run (well under a minute on 2 CPU cores)",
  )
  p.add_argument(
    "--optimizers",
    type=_names("optimizer", OPTIMIZERS),
    default=OPTIMIZERS,
    metavar="NAMES",
    help=f"comma-separated, from {','.join(OPTIMIZERS)}; 'all' or 'none' (default all)",
  )
  p.add_argument(
    "--schedules",
    type=_names("schedule", SCHEDULES),
    default=SCHEDULES,
    metavar="NAMES",
    help=f"comma-separated, from {','.join(SCHEDULES)}; 'all' or 'none' (default all)",
  )
  p.add_argument(
    "--learning-rate",
    type=float,
    default=Config.learning_rate,
    metavar="LR",
    help="the optimizers' learning rate (default %(default)g, the seed's)",
  )
  p.add_argument(
    "--batch-size",
    type=_positive,
    default=Config.batch_size,
    metavar="N",
    help="minibatch size (default %(default)d)",
  )
  p.add_argument(
    "--seed",
    type=int,
    default=Config.seed,
    metavar="N",
    help="initial weights and minibatch order (default %(default)d)",
  )
  p.add_argument(
    "--out",
    type=pathlib.Path,
    default=pathlib.Path("optx-report"),
    metavar="DIR",
    help="report folder (default %(default)s/)",
  )
  p.add_argument(
    "--no-report", action="store_true", help="print the table only; write no files"
  )
  p.add_argument("--no-progress", action="store_true", help="no progress bar")
  return p


def main(argv: Sequence[str] | None = None) -> int:
  """Runs ``python -m optx`` with ``argv``; returns the exit status."""
  p = parser()
  args = p.parse_args(argv)
  if not args.optimizers and not args.schedules:
    p.error("nothing to run: --optimizers and --schedules are both empty")
  if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
    p.error(f"--learning-rate must be a positive number, got {args.learning_rate}")
  epochs = args.epochs or (QUICK["epochs"] if args.quick else Config.epochs)
  config = Config(
    epochs=epochs,
    steps=args.steps,
    batch_size=args.batch_size,
    learning_rate=args.learning_rate,
    seed=args.seed,
    optimizers=args.optimizers,
    schedules=args.schedules,
  )
  try:
    run_comparison(
      config, None if args.no_report else args.out, progress=not args.no_progress
    )
  except UsageError as error:
    p.error(str(error))
  return 0
