"""The command line of ``python -m optx``: parse it, run every selected run, report.

matplotlib, scikit-learn and tqdm (the ``report`` extra) are imported only when
the run starts.
"""

from __future__ import annotations

import argparse
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
from optx.compare.data import epoch_plan
from optx.compare.data import load_digits
from optx.compare.extras import REPORT_EXTRA
from optx.compare.extras import require
from optx.compare.report import format_table
from optx.compare.report import plot_learning_curves
from optx.compare.report import plot_learning_rates
from optx.compare.report import write_csv
from optx.compare.runs import OPTIMIZERS
from optx.compare.runs import SCHEDULES
from optx.compare.runs import Config
from optx.compare.runs import build_runs
from optx.compare.train import run_one

QUICK = {"epochs": 8}
"""What ``--quick`` changes: a smoke test well under a minute on 2 CPU cores."""


class UsageError(ValueError):
  """A configuration that cannot run; ``main`` reports it as a usage error."""


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
  tqdm = require("tqdm").tqdm
  if out is not None:
    require("matplotlib")
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
      "Compare the book's optimizers (SGD, momentum, Nesterov, AdaGrad, RMSProp,"
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
    help="the optimizers' learning rate (default %(default)g, the book's)",
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
