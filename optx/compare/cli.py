"""The command line of ``python -m optx``: parse it, run every selected run, report.

matplotlib, scikit-learn and tqdm (the ``report`` extra) are imported only when
the run starts.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import math
import pathlib
import platform
import sys
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import jax
import optax

import optx
from optx.compare.against import run_against
from optx.compare.data import batch_order
from optx.compare.data import epoch_plan
from optx.compare.data import load_digits
from optx.compare.extras import REPORT_EXTRA
from optx.compare.extras import require
from optx.compare.finder import run_finder
from optx.compare.frameworks import FRAMEWORKS
from optx.compare.frameworks import MissingFramework
from optx.compare.report import format_notes
from optx.compare.report import format_table
from optx.compare.report import plot_finder
from optx.compare.report import plot_learning_curves
from optx.compare.report import plot_learning_rates
from optx.compare.report import write_csv
from optx.compare.runs import MOMENTUM_FAMILY
from optx.compare.runs import OPTIMIZERS
from optx.compare.runs import SCHEDULES
from optx.compare.runs import Config
from optx.compare.runs import Run
from optx.compare.runs import UsageError
from optx.compare.runs import build_runs
from optx.compare.train import QUICK_COMPILE
from optx.compare.train import finish_shared
from optx.compare.train import run_one
from optx.compare.train import start_shared

QUICK = {"epochs": 12, "shared": True, "optimizers": ("sgd", "momentum")}
"""What ``--quick`` changes: 12 epochs; the runs that are momentum
optimization (SGD, momentum and the five schedules) trained side by side as
one vmapped program instead of seven; of the optimizers, SGD and momentum
unless ``--optimizers`` names others (each of those is a compile of its own)."""


def run_comparison(
  config: Config,
  out: pathlib.Path | None,
  *,
  progress: bool = True,
  echo: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Trains every selected run, prints the table and writes the report folder.

  With 1cycle selected and no ``config.onecycle_max``, the learning-rate
  finder runs first and its suggestion becomes 1cycle's peak (recorded as
  ``config.onecycle_max`` in the document). Returns the JSON document
  written to ``out / "results.json"``.
  """
  tqdm = require("tqdm").tqdm
  if out is not None:
    require("matplotlib")
  data = load_digits()
  n_train = len(data.x_train)
  try:
    steps_per_epoch, full_epochs, remainder = epoch_plan(config, n_train)
    total_steps = steps_per_epoch * full_epochs + remainder
    build_runs(config, total_steps, onecycle_max=1.0)  # checks the settings early
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
  batches = batch_order(config, n_train)
  by_name: dict[str, dict[str, Any]] = {}
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    # The shared program compiles on the pool while the finder runs here.
    shared = None
    if config.shared and any(
      n in MOMENTUM_FAMILY for n in (*config.optimizers, *config.schedules)
    ):
      shared = start_shared(config, data, batches, total_steps, pool)
    finder = None
    if "onecycle" in config.schedules and config.onecycle_max is None:
      finder = run_finder(
        config,
        data,
        batches[0] if full_epochs else batches[1][None],
        QUICK_COMPILE if config.shared else None,
      )
      config = dataclasses.replace(config, onecycle_max=finder["suggestion"])
    runs = build_runs(config, total_steps)
    programs: list[list[Run]] = (
      [[r for r in runs if r.name in MOMENTUM_FAMILY]] if shared else []
    )
    programs += [[r] for r in runs if not (shared and r.name in MOMENTUM_FAMILY)]
    bar = tqdm(
      programs,
      desc="training",
      unit="program",
      delay=2.0,
      disable=None if progress else True,
      file=sys.stderr,
    )
    for group in bar:
      bar.set_postfix_str(",".join(r.name for r in group))
      if shared is not None and group[0].name in MOMENTUM_FAMILY:
        outcomes = finish_shared(shared, group, config.onecycle_max or 0.0)
      else:
        outcomes = [run_one(group[0], config, data, batches)]
      by_name.update((o["name"], o) for o in outcomes)
    bar.close()
  results = [by_name[r.name] for r in runs]
  echo(format_table(results))
  for note in format_notes(results, finder):
    echo(note)
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
    "finder": finder,
    "runs": results,
  }
  if out is not None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
      json.dumps(document, separators=(",", ":")) + "\n"
    )
    write_csv(out / "results.csv", results)
    written = ["results.json", "results.csv"]
    plot_learning_curves(out / "learning_curves.png", results, title, steps_per_epoch)
    written.append("learning_curves.png")
    if any(r["kind"] == "schedule" for r in results):
      plot_learning_rates(out / "learning_rates.png", results, steps_per_epoch)
      written.append("learning_rates.png")
    if finder is not None:
      plot_finder(out / "lr_finder.png", finder)
      written.append("lr_finder.png")
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
      "Compare the book's optimizers (SGD, momentum, Nesterov, AdaGrad, RMSProp,"
      " Adam, AdaMax, Nadam, AdamW) and learning-rate schedules (power, exponential, piecewise"
      " constant, performance, 1cycle) on scikit-learn's handwritten digits"
      " with a small MLP. Every run is one jit-compiled lax.scan; 1cycle's"
      " maximum rate comes from the book's learning-rate finder, performance"
      " scheduling is paired with early stopping. Prints a table (each run's"
      " learning rate, final training loss, validation accuracy, wall time,"
      " steps/s) and writes plots (learning curves and rates, the finder's"
      " curve), CSV and JSON to --out. Needs the report extra: " + REPORT_EXTRA
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
    help="a smoke run in a third of the default's time: 12 epochs, SGD,"
    " momentum and the schedules trained as one vmapped program, compiled"
    " for speed",
  )
  p.add_argument(
    "--optimizers",
    type=_names("optimizer", OPTIMIZERS),
    default=None,
    metavar="NAMES",
    help=f"comma-separated, from {','.join(OPTIMIZERS)}; 'all' or 'none'"
    f" (default all; --quick: {','.join(QUICK['optimizers'])})",
  )
  p.add_argument(
    "--schedules",
    type=_names("schedule", SCHEDULES),
    default=SCHEDULES,
    metavar="NAMES",
    help=f"comma-separated, from {','.join(SCHEDULES)}; 'all' or 'none' (default all)",
  )
  rate = "the optimizers' learning rate (default %(default)g, the book's)"
  for flag, kind, metavar, text in (  # each default is Config's
    ("--learning-rate", float, "LR", rate),
    ("--batch-size", _positive, "N", "minibatch size (default %(default)d)"),
    ("--seed", int, "N", "initial weights and minibatch order (default %(default)d)"),
  ):
    default = getattr(Config, flag.removeprefix("--").replace("-", "_"))
    p.add_argument(flag, type=kind, default=default, metavar=metavar, help=text)
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
  p.add_argument(
    "--against",
    choices=FRAMEWORKS,
    metavar="FRAMEWORK",
    help="train the book's optimizers and performance scheduling in the real"
    " framework (keras: Keras 3 on the JAX backend; torch: PyTorch) and in its"
    " optx flavor from the same weights and minibatches; overlay the curves"
    " and print the largest differences",
  )
  return p


def main(argv: Sequence[str] | None = None) -> int:
  """Runs ``python -m optx`` with ``argv``; returns the exit status."""
  p = parser()
  args = p.parse_args(argv)
  if args.optimizers is None:
    args.optimizers = QUICK["optimizers"] if args.quick else OPTIMIZERS
  if not args.optimizers and not args.schedules:
    p.error("nothing to run: --optimizers and --schedules are both empty")
  if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
    p.error(f"--learning-rate must be a positive number, got {args.learning_rate}")
  epochs = args.epochs or (QUICK["epochs"] if args.quick else Config.epochs)
  config = Config(
    epochs=epochs,
    shared=bool(args.quick and QUICK["shared"]),
    steps=args.steps,
    batch_size=args.batch_size,
    learning_rate=args.learning_rate,
    seed=args.seed,
    optimizers=args.optimizers,
    schedules=args.schedules,
  )
  out = None if args.no_report else args.out
  try:
    if args.against:
      try:
        run_against(args.against, config, out)
      except MissingFramework as missing:
        print(missing, file=sys.stderr)
        return 1
    else:
      run_comparison(config, out, progress=not args.no_progress)
  except UsageError as error:
    p.error(str(error))
  return 0
