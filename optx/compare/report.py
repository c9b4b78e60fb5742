"""The report: the printed table and notes, the CSV file and the plots.

Every run shows its learning rate: in the table's ``learning rate`` column
(what it applied, first to last), in the legends, and in a learning-rate
panel beside the learning curves. Curves that coincide (momentum and
Nesterov at the book's rate) get distinct markers, placed at staggered
epochs, and a note in the legend.
"""

from __future__ import annotations

import csv
import importlib
import math
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from optx.compare.extras import require

CSV_COLUMNS = (
  "name",
  "kind",
  "optimizer",
  "learning_rate",
  "final_train_loss",
  "final_val_loss",
  "val_accuracy",
  "steps",
  "epochs",
  "stopped_epoch",
  "restored_epoch",
  "program",
  "compile_s",
  "wall_s",
  "steps_per_s",
)
COINCIDE = 0.03
"""Curves whose validation losses stay within 3% of each other look like one line."""
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "*", "h")
DPI = 100


def _shared(results: Sequence[dict[str, Any]]) -> list[str]:
  return sorted({r["program"] for r in results if r["program"] != r["name"]})


def format_table(results: Sequence[dict[str, Any]]) -> str:
  """The printed table: one row per run, with the learning rate it applied."""
  header = (
    "run",
    "kind",
    "learning rate",
    "train loss",
    "val loss",
    "val acc",
    "epochs",
    "compile s",
    "wall s",
    "steps/s",
  )
  rows = []
  for r in results:
    star = "*" if r["program"] != r["name"] else ""
    epochs = str(r["epochs"])
    if r.get("restored_epoch") is not None:
      epochs += f" (best {r['restored_epoch']})"
    rows.append(
      (
        r["name"],
        r["kind"],
        r["learning_rate"],
        f"{r['final_train_loss']:.4f}",
        f"{r['final_val_loss']:.4f}",
        f"{100 * r['val_accuracy']:.2f}%",
        epochs,
        f"{r['compile_s']:.2f}{star}",
        f"{r['wall_s']:.3f}{star}",
        f"{r['steps_per_s']:,.0f}",
      )
    )
  widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
  lines = []
  for n, row in enumerate([header, *rows]):
    cells = [
      c.ljust(w) if i < 3 else c.rjust(w)
      for i, (c, w) in enumerate(zip(row, widths, strict=True))
    ]
    lines.append("  ".join(cells).rstrip())
    if n == 0:
      lines.append("  ".join("-" * w for w in widths))
  return "\n".join(lines)


def coinciding(results: Sequence[dict[str, Any]]) -> dict[str, tuple[str, float]]:
  """Runs whose validation curve stays within :data:`COINCIDE` of an earlier one.

  Returns ``{name: (earlier name, largest relative gap)}``.
  """
  found: dict[str, tuple[str, float]] = {}
  for n, r in enumerate(results):
    for earlier in results[:n]:
      a = np.asarray(r["history"]["val_loss"], np.float64)
      b = np.asarray(earlier["history"]["val_loss"], np.float64)
      if r["kind"] != earlier["kind"] or a.shape != b.shape or not a.size:
        continue
      gap = float(np.max(np.abs(np.log(a / b))))
      if gap < COINCIDE and r["name"] not in found:
        found[r["name"]] = (earlier["name"], math.expm1(gap))
  return found


def format_notes(results: Sequence[dict[str, Any]], finder: dict | None) -> list[str]:
  """What the table cannot say: where 1cycle's peak comes from, the plateau's
  reductions, early stopping, curves that coincide, shared programs."""
  notes = []
  runs = {r["name"]: r for r in results}
  if finder is not None and "onecycle" in runs:
    notes.append(
      f"onecycle: maximum rate {finder['suggestion']:.3g} from the learning-rate"
      f" finder (lowest loss at {finder['turning_point']:.3g}, divided by 10;"
      f" {finder['steps']} steps from {finder['min_learning_rate']:g} to"
      f" {finder['max_learning_rate']:g})"
    )
  for r in results:
    if r["plateau_reductions"]:
      epochs = ", ".join(map(str, r["plateau_reductions"]))
      scale = r["history"]["plateau_scale"][-1]
      notes.append(
        f"{r['name']}: the plateau multiplied the rate by"
        f" {r['history']['plateau_scale'][r['plateau_reductions'][0] - 1]:g}"
        f" after epoch{'s' if len(r['plateau_reductions']) > 1 else ''} {epochs}"
        f" (scale {scale:g} at the end)"
      )
    if r.get("restored_epoch") is not None and r["stopped_epoch"]:
      notes.append(
        f"{r['name']}: early stopping ended training after epoch"
        f" {r['stopped_epoch']}; its numbers are those of the best epoch,"
        f" {r['restored_epoch']}, whose parameters it restored"
      )
    elif r.get("restored_epoch") not in (None, r["epochs"]):
      notes.append(
        f"{r['name']}: early stopping restored the best epoch's parameters,"
        f" epoch {r['restored_epoch']}'s (its numbers)"
      )
  for name, (other, gap) in coinciding(results).items():
    notes.append(
      f"{name}: its validation curve stays within {100 * gap:.1f}% of {other}'s"
      " (drawn with other markers)"
    )
  for program in _shared(results):
    notes.append(f"* one compiled program {program}; its times are shown on each")
  return notes


def write_csv(path: pathlib.Path, results: Sequence[dict[str, Any]]) -> None:
  with path.open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for r in results:
      writer.writerow({k: r[k] for k in CSV_COLUMNS})


def _palette(n: int) -> list[Any]:
  cmap = importlib.import_module("matplotlib").colormaps["tab10"]
  return [cmap(i % 10) for i in range(n)]


def _label(r: dict[str, Any], notes: dict[str, tuple[str, float]]) -> str:
  rate = r["rate"] or r["learning_rate"]
  label = f"{r['name']}, {rate}: {100 * r['val_accuracy']:.1f}%"
  if r.get("restored_epoch") is not None and r["stopped_epoch"]:
    label += f"\n  stopped after {r['stopped_epoch']}, epoch {r['restored_epoch']} kept"
  if r["name"] in notes:
    other, gap = notes[r["name"]]
    label += f"\n  ≈ {other} (within {100 * gap:.1f}%)"
  return label


def _curves(ax, rs: Sequence[dict[str, Any]], notes) -> None:
  colors = _palette(len(rs))
  longest = max(r["epochs"] for r in rs)
  every = max(1, longest // 6)
  for n, (color, r) in enumerate(zip(colors, rs, strict=True)):
    epochs = np.arange(1, r["epochs"] + 1)
    # Staggered markers: two curves on top of each other still show both.
    ax.plot(
      epochs,
      r["history"]["val_loss"],
      color=color,
      lw=1.6,
      ls="-" if n % 2 == 0 else "--",
      marker=MARKERS[n % len(MARKERS)],
      markevery=(n % every, every),
      ms=5,
      label=_label(r, notes),
      zorder=2 + n % 2,
    )
    if r.get("restored_epoch") is not None:
      best = r["restored_epoch"]
      ax.plot(
        [best], [r["history"]["val_loss"][best - 1]], "*", color=color, ms=13, zorder=5
      )
      if r["stopped_epoch"]:
        ax.plot([epochs[-1]], [r["history"]["val_loss"][-1]], "x", color="k", ms=8)
  ax.set_yscale("log")
  ax.set_xlabel("epoch")
  ax.set_ylabel("validation loss")
  ax.grid(True, which="major", alpha=0.3)
  ax.legend(fontsize=7, title="run, learning rate: val accuracy", title_fontsize=7)


def _rates(ax, results: Sequence[dict[str, Any]], steps_per_epoch: int) -> None:
  """Each schedule's learning rate per step (plateau scale included); the optimizers' rates."""
  rs = [r for r in results if r["kind"] == "schedule"]
  for color, r in zip(_palette(len(rs)), rs, strict=True):
    rates = np.asarray(r["per_step"]["learning_rate"])
    x = np.arange(len(rates)) / steps_per_epoch
    ax.plot(x, rates, color=color, lw=1.6, label=f"{r['name']}: {r['learning_rate']}")
    drops = np.flatnonzero(rates[1:] < rates[:-1] * 0.99) + 1
    if r["plateau_reductions"] and len(drops):
      ax.plot(x[drops], rates[drops], "v", color=color, ms=7)
      for d in drops:
        ax.annotate(
          f"×{rates[d] / rates[d - 1]:.2g}",
          (x[d], rates[d]),
          textcoords="offset points",
          xytext=(3, -11),
          fontsize=7,
          color=color,
        )
    if r["stopped_epoch"]:
      ax.plot([x[-1]], [rates[-1]], "x", color="k", ms=8)
  constant = {}
  for r in results:
    if r["kind"] == "optimizer":
      constant.setdefault(r["learning_rate"], []).append(r["name"])
  for rate, names in constant.items():
    ax.axhline(
      float(rate.split()[0]),
      color="0.4",
      ls=":",
      lw=1.4,
      label=f"{', '.join(names)}: {rate}",
    )
  ax.set_yscale("log")
  ax.set_xlabel(f"epoch ({steps_per_epoch} steps each)")
  ax.set_ylabel("learning rate")
  ax.grid(True, which="major", alpha=0.3)
  ax.legend(fontsize=7, title="learning rate applied", title_fontsize=7)


def _margins(fig, **kwargs: float) -> None:
  # Fixed margins, in inches: a layout engine would double the drawing time.
  width, height = fig.get_size_inches()
  fig.subplots_adjust(
    left=0.75 / width,
    right=1 - 0.15 / width,
    bottom=0.55 / height,
    top=1 - 0.6 / height,
    **kwargs,
  )


def plot_learning_curves(
  path: pathlib.Path,
  results: Sequence[dict[str, Any]],
  title: str,
  steps_per_epoch: int = 1,
) -> None:
  """Validation loss per epoch (optimizers, schedules) and the learning rate of every run."""
  figure_module = require("matplotlib.figure")
  notes = coinciding(results)
  groups = [
    (kind, [r for r in results if r["kind"] == kind])
    for kind in ("optimizer", "schedule")
  ]
  groups = [(kind, rs) for kind, rs in groups if rs]
  panels = len(groups) + 1
  fig = figure_module.Figure(figsize=(5.4 * panels, 4.8))
  _margins(fig, wspace=0.22)
  axes = fig.subplots(1, panels, squeeze=False)[0]
  for ax, (kind, rs) in zip(axes, groups, strict=False):
    _curves(ax, rs, notes)
    ax.set_title(
      "optimizers" if kind == "optimizer" else "schedules (momentum optimization)",
      fontsize=10,
    )
  _rates(axes[-1], results, steps_per_epoch)
  axes[-1].set_title("learning rate of every run", fontsize=10)
  fig.suptitle(title, fontsize=10)
  fig.savefig(path, dpi=DPI)


def plot_learning_rates(
  path: pathlib.Path, results: Sequence[dict[str, Any]], steps_per_epoch: int
) -> None:
  """Each schedule's learning rate over the steps, as applied (plateau scale included)."""
  figure_module = require("matplotlib.figure")
  fig = figure_module.Figure(figsize=(7.5, 4.4))
  _margins(fig)
  ax = fig.subplots()
  _rates(ax, results, steps_per_epoch)
  ax.set_title("learning rate applied at each step")
  fig.savefig(path, dpi=DPI)


def plot_finder(path: pathlib.Path, finder: dict[str, Any]) -> None:
  """The book's plot: loss against the learning rate on a log axis, the pick marked."""
  figure_module = require("matplotlib.figure")
  rates = np.asarray(finder["learning_rates"])
  losses = np.asarray(finder["losses"])
  fig = figure_module.Figure(figsize=(6.4, 4.2))
  _margins(fig)
  ax = fig.subplots()
  ax.plot(rates, losses, "b", lw=1.6, marker=".", label="loss of each minibatch")
  finite = losses[np.isfinite(losses)]
  lowest = float(finite.min())
  ax.hlines(lowest, rates.min(), rates.max(), color="k", lw=0.8)
  ax.axvline(
    finder["turning_point"],
    color="tab:red",
    ls="--",
    label=f"lowest loss at η={finder['turning_point']:.3g}",
  )
  ax.axvline(
    finder["suggestion"],
    color="tab:green",
    lw=2,
    label=f"1cycle's max: η={finder['suggestion']:.3g} (ten times lower)",
  )
  ax.set_xscale("log")
  # The book's view: from 0 up to the first loss plus the lowest.
  ax.set_ylim(0, float(losses[0]) + lowest)
  ax.set_xlim(rates.min(), rates.max())
  ax.set_xlabel("learning rate η (log scale)")
  ax.set_ylabel("loss")
  ax.set_title(
    f"learning-rate finder: {finder['optimizer']}, {finder['steps']} steps,"
    f" η ×{(rates[1] / rates[0]) if len(rates) > 1 else 1:.3g} per step",
    fontsize=10,
  )
  ax.grid(True, which="major", alpha=0.3)
  ax.legend(fontsize=8)
  fig.savefig(path, dpi=DPI)
