"""The report: the printed table, the CSV file and the two plots."""

from __future__ import annotations

import csv
import importlib
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from optx.compare.extras import require

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
  figure_module = require("matplotlib.figure")
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
  figure_module = require("matplotlib.figure")
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
