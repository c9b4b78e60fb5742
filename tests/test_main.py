"""``python -m optx``: the comparison run, its report folder and its pieces.

The end-to-end tests run ``python -m optx --quick --optimizers all`` and a
subset of it in two subprocesses (at the same time, to halve the wall time)
with strict JAX numerics, then read what they printed and wrote. The unit
tests check the training loop against an independent NumPy loop, performance
scheduling against a NumPy replay of Keras's ``ReduceLROnPlateau`` rule, the
shared (vmapped) program against one program per run, and ``--against``
against the real Keras and PyTorch when they are installed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib
import re
import struct
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optx
from optx import compare

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALL_RUNS = (*compare.OPTIMIZERS, *compare.SCHEDULES)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The second run of the determinism test: an optimizer and the schedule that
# observes the validation loss inside the scan, among others.
SUBSET = ("nesterov,adam", "performance,onecycle")


def _env() -> dict[str, str]:
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
    os.pathsep
  )
  env["JAX_PLATFORMS"] = "cpu"
  env["JAX_NUMPY_DTYPE_PROMOTION"] = "strict"
  env["JAX_NUMPY_RANK_PROMOTION"] = "raise"
  env.pop("XLA_FLAGS", None)
  return env


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
  """``python -m optx --quick`` and, at the same time, a second run with the same
  seed and a subset of the runs (to keep the tests' CPU time down)."""
  base = tmp_path_factory.mktemp("report")
  outs = [base / "a", base / "b"]
  command = [sys.executable, "-m", "optx", "--quick", "--no-progress", "--out"]
  subset = ["--optimizers", SUBSET[0], "--schedules", SUBSET[1]]
  every = ["--optimizers", "all"]  # --quick alone trains SGD and momentum only
  procs = [
    subprocess.Popen(
      argv,
      cwd=ROOT,
      env=_env(),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for argv in ([*command, str(outs[0]), *every], [*command, str(outs[1]), *subset])
  ]
  results = []
  for proc, out in zip(procs, outs, strict=True):
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    results.append((stdout, out))
  return results


def _png_size(path: pathlib.Path) -> tuple[int, int]:
  data = path.read_bytes()
  assert data[:8] == PNG_SIGNATURE
  assert data[12:16] == b"IHDR"
  return struct.unpack(">II", data[16:24])


def test_report_folder_has_every_run(quick_runs):
  _, out = quick_runs[0]
  for name in ("learning_curves.png", "learning_rates.png", "lr_finder.png"):
    path = out / name
    width, height = _png_size(path)
    assert width >= 400 and height >= 300
    assert path.stat().st_size > 20_000  # real curves, not an empty canvas
  with (out / "results.csv").open() as f:
    rows = list(csv.DictReader(f))
  assert [r["name"] for r in rows] == list(ALL_RUNS)
  optimizers = len(compare.OPTIMIZERS)
  assert {r["kind"] for r in rows[:optimizers]} == {"optimizer"}
  assert {r["kind"] for r in rows[optimizers:]} == {"schedule"}
  document = json.loads((out / "results.json").read_text())
  assert [r["name"] for r in document["runs"]] == list(ALL_RUNS)
  for row, run in zip(rows, document["runs"], strict=True):
    assert float(row["val_accuracy"]) == run["val_accuracy"]
    assert float(row["final_train_loss"]) == run["final_train_loss"]


def test_numbers_are_sane(quick_runs):
  _, out = quick_runs[0]
  document = json.loads((out / "results.json").read_text())
  total = document["dataset"]["total_steps"]
  n_val = document["dataset"]["validation"]
  runs = {r["name"]: r for r in document["runs"]}
  assert runs["adam"]["val_accuracy"] > 0.9
  for run in runs.values():
    history = run["history"]
    for key in ("train_loss", "val_loss"):
      assert all(math.isfinite(x) for x in history[key]), run["name"]
    assert all(math.isfinite(x) for x in run["per_step"]["batch_loss"]), run["name"]
    assert run["steps"] == len(run["per_step"]["learning_rate"])
    # Only early stopping ends a run before the last step.
    assert run["steps"] == total or run["stopped_epoch"], run["name"]
    # Every optimizer learns something in a few epochs, even plain SGD at 0.001.
    assert history["val_loss"][-1] < history["val_loss"][0], run["name"]
    assert history["val_loss"][0] < math.log(10) + 0.5, run["name"]
    # An accuracy is a count of validation images over their number.
    assert run["val_accuracy"] * n_val == pytest.approx(
      round(run["val_accuracy"] * n_val), abs=1e-3
    )
    assert run["wall_s"] > 0 and run["steps_per_s"] > 0
  # The seed's picture: adaptive methods and momentum beat plain SGD at the same rate.
  for name in ("momentum", "nesterov", "rmsprop", "adam"):
    assert runs[name]["final_val_loss"] < runs["sgd"]["final_val_loss"]


def test_schedules_record_the_seed_equations(quick_runs):
  _, out = quick_runs[0]
  document = json.loads((out / "results.json").read_text())
  runs = {r["name"]: r for r in document["runs"]}
  total = document["dataset"]["total_steps"]
  t = np.arange(total, dtype=np.float64)
  lr0 = document["config"]["schedule_learning_rate"]
  expected = {
    "power": lr0 / (1 + t / (total / 4)),
    "exponential": lr0 * 0.1 ** (t / (0.8 * total)),
    "piecewise": np.where(
      t < int(0.2 * total), lr0, np.where(t < int(0.6 * total), lr0 / 2, lr0 / 10)
    ),
  }
  for name, lr in expected.items():
    np.testing.assert_allclose(
      runs[name]["per_step"]["learning_rate"], lr, rtol=1e-5, err_msg=name
    )
  onecycle = np.asarray(runs["onecycle"]["per_step"]["learning_rate"])
  peak = document["config"]["onecycle_max"]
  assert onecycle.max() == pytest.approx(peak, rel=1e-5)
  assert onecycle[0] == pytest.approx(peak / 10, rel=1e-5)
  assert onecycle[-1] < peak / 100


def _columns(header: str, row: str) -> dict[str, str]:
  """The table's cells by header: cells hold single spaces, columns two or more."""
  names, cells = re.split(r" {2,}", header.strip()), re.split(r" {2,}", row.strip())
  assert len(names) == len(cells) == 10, (names, cells)
  return dict(zip(names, cells, strict=True))


def test_table_is_printed(quick_runs):
  """Every row shows the run's learning rate beside its numbers."""
  stdout, out = quick_runs[0]
  document = json.loads((out / "results.json").read_text())
  lines = stdout.splitlines()
  header = lines[1]
  assert header.split()[:5] == ["run", "kind", "learning", "rate", "train"]
  for run in document["runs"]:
    (row,) = [line for line in lines if line.split()[:1] == [run["name"]]]
    cells = _columns(header, row)
    assert cells["kind"] == run["kind"]
    assert cells["learning rate"] == run["learning_rate"]
    assert cells["train loss"] == f"{run['final_train_loss']:.4f}"
    assert cells["val acc"] == f"{100 * run['val_accuracy']:.2f}%"
    assert cells["epochs"].split()[0] == str(run["epochs"])
  assert "learning_curves.png" in lines[-1] and "lr_finder.png" in lines[-1]


def test_every_run_records_its_rate(quick_runs):
  """The rate each run applied: per step, summarized, and as its legend says it."""
  _, out = quick_runs[0]
  document = json.loads((out / "results.json").read_text())
  with (out / "results.csv").open() as f:
    rows = {r["name"]: r for r in csv.DictReader(f)}
  lr = document["config"]["learning_rate"]
  for run in document["runs"]:
    rates = np.asarray(run["per_step"]["learning_rate"])
    assert rates.shape == (run["steps"],) and (rates > 0).all(), run["name"]
    assert rows[run["name"]]["learning_rate"] == run["learning_rate"]
    assert run["rate"].startswith("η"), run["name"]
    if run["kind"] == "optimizer":
      np.testing.assert_allclose(rates, lr, rtol=1e-6)
      assert run["learning_rate"] == f"{lr:g}" and run["rate"] == f"η={lr:g}"
    else:
      assert run["learning_rate"].startswith(f"{rates[0]:.2g}"), run["name"]


def test_performance_scheduling_reduces_the_rate(quick_runs):
  """The book's ReduceLROnPlateau(0.5, 5) acts during the run, and the rate shows it."""
  _, out = quick_runs[0]
  document = json.loads((out / "results.json").read_text())
  run = {r["name"]: r for r in document["runs"]}["performance"]
  scales = np.asarray(run["history"]["plateau_scale"])
  assert scales.min() < 1  # plateau_scale(state) fell below 1
  assert run["plateau_reductions"] == [
    e + 1 for e in range(len(scales)) if scales[e] < (scales[e - 1] if e else 1)
  ]
  first = run["plateau_reductions"][0]
  steps_per_epoch = document["dataset"]["steps_per_epoch"]
  rates = np.asarray(run["per_step"]["learning_rate"])
  lr0 = document["config"]["performance_learning_rate"]
  # The reduction measured after epoch e applies from the next step on.
  np.testing.assert_allclose(rates[: first * steps_per_epoch], lr0, rtol=1e-6)
  np.testing.assert_allclose(rates[first * steps_per_epoch], lr0 * 0.5, rtol=1e-6)
  # Early stopping kept the best epoch's parameters: the numbers are its.
  best = run["restored_epoch"]
  assert run["val_accuracy"] == run["history"]["val_accuracy"][best - 1]
  assert run["final_val_loss"] == min(run["history"]["val_loss"])


def test_onecycle_peak_comes_from_the_finder(quick_runs):
  _, out = quick_runs[0]
  document = json.loads((out / "results.json").read_text())
  finder = document["finder"]
  rates = np.asarray(finder["learning_rates"])
  losses = np.asarray(finder["losses"])
  steps = document["dataset"]["steps_per_epoch"]
  # The book's exponential growth over one epoch, and its rule on the curve.
  np.testing.assert_allclose(
    rates, 1e-4 * (1 / 1e-4) ** (np.arange(steps) / steps), rtol=2e-5
  )
  turning_point = rates[np.argmin(np.where(np.isfinite(losses), losses, np.inf))]
  assert finder["turning_point"] == pytest.approx(turning_point, rel=1e-6)
  assert finder["suggestion"] == pytest.approx(turning_point / 10, rel=1e-6)
  assert document["config"]["onecycle_max"] == finder["suggestion"]
  onecycle = {r["name"]: r for r in document["runs"]}["onecycle"]
  peak = max(onecycle["per_step"]["learning_rate"])
  assert peak == pytest.approx(finder["suggestion"], rel=1e-5)


def test_same_seed_same_numbers(quick_runs):
  documents = [json.loads((out / "results.json").read_text()) for _, out in quick_runs]
  for document in documents:
    for run in document["runs"]:
      for key in (*compare.TIMING_KEYS, "program"):  # "program" names its runs
        run.pop(key)
  first = {run["name"]: run for run in documents[0]["runs"]}
  second = documents[1]["runs"]
  assert [run["name"] for run in second] == ",".join(SUBSET).split(",")
  for run in second:
    # Bit for bit: the training curves, every step's loss and learning rate.
    assert run == first[run["name"]], run["name"]


def test_train_loop_matches_numpy_sgd():
  """The jitted scan equals a NumPy loop with hand-written backpropagation."""
  rng = np.random.default_rng(0)
  n, d, h, k = 40, 5, 7, 3
  data = compare.Dataset(
    rng.normal(size=(n, d)).astype(np.float32),
    rng.integers(0, k, n).astype(np.int32),
    rng.normal(size=(9, d)).astype(np.float32),
    rng.integers(0, k, 9).astype(np.int32),
  )
  config = compare.Config(steps=7, batch_size=8, hidden=(h,), seed=3)
  lr = 0.3
  run = compare.Run(
    "sgd", "optimizer", "", optx.sgd(lr), lambda c: jnp.asarray(lr, jnp.float32)
  )
  params = compare.init_mlp(config.seed, [d, h, k])
  full, last = compare.batch_order(config, n)
  assert full.shape == (1, 5, 8) and last.shape == (2, 8)
  final, metrics, per_step = jax.jit(compare.make_train(run))(
    params, full, last, *(jnp.asarray(a) for a in data)
  )

  w1, b1, w2, b2 = (
    np.asarray(params[i][key], np.float64) for i in (0, 1) for key in ("w", "b")
  )

  def forward(x, y):
    z = x @ w1 + b1
    a = np.maximum(z, 0)
    logits = a @ w2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return z, a, p, -np.mean(np.log(p[np.arange(len(y)), y]))

  losses = []
  for batch in np.concatenate([np.asarray(full).reshape(-1, 8), np.asarray(last)]):
    x, y = data.x_train[batch].astype(np.float64), data.y_train[batch]
    z, a, p, loss = forward(x, y)
    losses.append(loss)
    dlogits = p.copy()
    dlogits[np.arange(len(y)), y] -= 1
    dlogits /= len(y)
    dz = (dlogits @ w2.T) * (z > 0)
    w1, b1, w2, b2 = (
      w1 - lr * x.T @ dz,
      b1 - lr * dz.sum(0),
      w2 - lr * a.T @ dlogits,
      b2 - lr * dlogits.sum(0),
    )

  np.testing.assert_allclose(per_step["batch_loss"], losses, rtol=1e-5)
  np.testing.assert_allclose(final[0]["w"], w1, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(final[1]["b"], b2, rtol=1e-4, atol=1e-6)
  *_, val_p, val_loss = forward(data.x_val.astype(np.float64), data.y_val)
  assert metrics["val_loss"].shape == (2,)  # one full epoch, one partial
  np.testing.assert_allclose(metrics["val_loss"][-1], val_loss, rtol=1e-5)
  np.testing.assert_allclose(
    metrics["val_accuracy"][-1], np.mean(val_p.argmax(1) == data.y_val)
  )


def test_performance_scheduling_inside_the_scan_follows_keras():
  """The plateau scale per epoch and the learning rate of every step, vs a NumPy replay."""
  data = compare.load_digits()
  config = compare.Config(epochs=7, batch_size=256, hidden=(16,), seed=1)
  lr0, factor, patience, min_delta = 0.05, 0.5, 1, 0.2
  plateau = optx.reduce_on_plateau(factor, patience, min_delta=min_delta)
  run = compare.Run(
    "performance",
    "schedule",
    "",
    optx.momentum(lr0, 0.9, plateau=plateau),
    lambda c: jnp.asarray(lr0, jnp.float32),
  )
  params = compare.init_mlp(config.seed, [64, 16, 10])
  _, metrics, per_step = jax.jit(compare.make_train(run))(
    params,
    *compare.batch_order(config, len(data.x_train)),
    *(jnp.asarray(a) for a in data),
  )

  # Keras ReduceLROnPlateau.on_epoch_end with cooldown=0, min_lr=0.
  best, wait, lr, expected = np.inf, 0, lr0, []
  for value in np.asarray(metrics["val_loss"], np.float64):
    if value < best - min_delta:
      best, wait = value, 0
    else:
      wait += 1
      if wait >= patience:
        lr, wait = lr * factor, 0
    expected.append(lr / lr0)
  assert min(expected) < 1  # the rule fired at least once
  np.testing.assert_allclose(metrics["plateau_scale"], expected, rtol=1e-6)
  steps_per_epoch = len(data.x_train) // config.batch_size
  applied = np.asarray(per_step["learning_rate"]).reshape(
    config.epochs, steps_per_epoch
  )
  before_epoch = lr0 * np.asarray([1.0, *expected[:-1]])
  np.testing.assert_allclose(
    applied, np.repeat(before_epoch[:, None], steps_per_epoch, 1), rtol=1e-6
  )


def test_help_and_usage_errors(capsys):
  with pytest.raises(SystemExit) as exit_info:
    compare.main(["--help"])
  assert exit_info.value.code == 0
  text = capsys.readouterr().out
  for option in (
    "--quick",
    "--epochs",
    "--steps",
    "--optimizers",
    "--schedules",
    "--seed",
    "--out",
  ):
    assert option in text
  usage_errors = {
    "unknown optimizer lion": ["--optimizers", "lion"],
    "must be a positive integer": ["--epochs", "0"],
    "nothing to run": ["--optimizers", "none", "--schedules", "none"],
    "not allowed with argument": ["--epochs", "3", "--steps", "9"],
  }
  for message, argv in usage_errors.items():
    with pytest.raises(SystemExit) as exit_info:
      compare.main(argv)
    assert exit_info.value.code == 2, argv
    assert message in capsys.readouterr().err, argv


def test_missing_report_extra_is_named():
  """optx imports without matplotlib; the run exits naming the extra to install."""
  code = (
    "import sys\n"
    "sys.modules['matplotlib'] = None\n"
    "import optx, optx.__main__\n"
    "sys.argv = ['optx', '--quick']\n"
    "sys.exit(optx.__main__.main())\n"
  )
  proc = subprocess.run(
    [sys.executable, "-c", code],
    cwd=ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 1
  assert "pip install matplotlib scikit-learn tqdm" in proc.stderr
  assert "matplotlib" in proc.stderr


def test_steps_option_and_a_subset(tmp_path):
  """``--steps`` ends in a partial epoch; a run without schedules draws no rate plot."""
  config = compare.Config(steps=50, optimizers=("adam",), schedules=())
  lines = []
  document = compare.run_comparison(config, tmp_path, progress=False, echo=lines.append)
  (run,) = document["runs"]
  steps_per_epoch = document["dataset"]["steps_per_epoch"]
  assert run["steps"] == 50 == len(run["per_step"]["batch_loss"])
  assert (
    run["epochs"] == math.ceil(50 / steps_per_epoch) == len(run["history"]["val_loss"])
  )
  assert sorted(p.name for p in tmp_path.iterdir()) == [
    "learning_curves.png",
    "results.csv",
    "results.json",
  ]
  assert json.loads((tmp_path / "results.json").read_text())["runs"][0]["steps"] == 50
  assert any(row.startswith("adam ") for line in lines for row in line.splitlines())


def test_shared_program_trains_each_run_as_its_own():
  """--quick's one vmapped program equals one program per run (to float32 rounding)."""
  data = compare.load_digits()
  config = compare.Config(steps=60, shared=True)
  total = 60
  batches = compare.batch_order(config, len(data.x_train))
  runs = compare.build_runs(config, total, onecycle_max=0.03)
  family = [r for r in runs if r.name in compare.MOMENTUM_FAMILY]
  assert [r.name for r in family] == list(compare.MOMENTUM_FAMILY)
  shared = compare.run_shared(family, config, data, batches, total, peak=0.03)
  alone = compare.Config(steps=60)
  for run, together in zip(family, shared, strict=True):
    single = compare.run_one(run, alone, data, batches)
    assert together["name"] == single["name"]
    for key in ("batch_loss", "learning_rate"):
      np.testing.assert_allclose(
        together["per_step"][key], single["per_step"][key], rtol=1e-4, err_msg=run.name
      )
    np.testing.assert_allclose(
      together["history"]["val_loss"], single["history"]["val_loss"], rtol=1e-4
    )
  # SGD in the shared program is momentum optimization with beta = 0.
  sgd = {r["name"]: r for r in shared}["sgd"]
  momentum = {r["name"]: r for r in shared}["momentum"]
  assert sgd["per_step"]["batch_loss"][-1] > momentum["per_step"]["batch_loss"][-1]


def test_quick_defaults_and_the_against_option(capsys):
  p = compare.parser()
  args = p.parse_args(["--quick"])
  assert args.optimizers is None and args.against is None
  assert compare.QUICK["optimizers"] == ("sgd", "momentum")
  assert set(compare.QUICK["optimizers"]) <= set(compare.MOMENTUM_FAMILY)
  with pytest.raises(SystemExit):
    p.parse_args(["--against", "jax"])
  assert "invalid choice" in capsys.readouterr().err
  with pytest.raises(SystemExit) as exit_info:
    compare.main(["--against", "keras", "--steps", "50"])
  assert exit_info.value.code == 2
  assert "whole epochs" in capsys.readouterr().err


@pytest.mark.parametrize("framework, package", [("keras", "keras"), ("torch", "torch")])
def test_against_a_missing_framework_names_what_to_install(framework, package):
  code = (
    "import sys\n"
    f"sys.modules[{package!r}] = None\n"
    "import optx.__main__\n"
    f"sys.argv = ['optx', '--against', {framework!r}, '--no-report']\n"
    "sys.exit(optx.__main__.main())\n"
  )
  proc = subprocess.run(
    [sys.executable, "-c", code],
    cwd=ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 1
  (line,) = proc.stderr.strip().splitlines()
  assert f"pip install {package}" in line and "optx-jax" not in line


def _against(framework, tmp_path, capsys):
  pytest.importorskip(framework)
  argv = ["--against", framework, "--epochs", "3", "--out", str(tmp_path)]
  argv += ["--optimizers", "sgd,momentum,adagrad,adam", "--schedules", "performance"]
  assert compare.main(argv) == 0
  stdout = capsys.readouterr().out
  document = json.loads((tmp_path / f"against_{framework}.json").read_text())
  assert _png_size(tmp_path / f"against_{framework}.png")[0] >= 800
  runs = {r["name"]: r for r in document["runs"]}
  assert list(runs) == ["sgd", "momentum", "adagrad", "adam", "performance"]
  for run in runs.values():
    assert run["framework_epochs"] == run["optx_epochs"] == 3
    assert len(run["framework_val_loss"]) == len(run["optx_val_loss"]) == 3
    assert f"{run['max_val_loss_difference']:.2e}" in stdout
  assert "largest difference" in stdout
  return runs


# Keras 3's Variable.numpy() (get_weights) trips NumPy 2's copy-keyword
# deprecation; it is Keras's, not optx's.
@pytest.mark.filterwarnings(
  "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
def test_against_keras(tmp_path, capsys):
  """Keras's model.fit and optx.keras in the comparison's scan: the same weights."""
  runs = _against("keras", tmp_path, capsys)
  for run in runs.values():
    # Both run on XLA: the same float32 numbers, the validation loss only
    # differing by how Keras's evaluate averages over its batches.
    assert run["max_weight_difference"] <= 1e-6, run["name"]
    assert run["max_val_loss_difference"] <= 2e-6, run["name"]


def test_against_torch(tmp_path, capsys):
  """PyTorch's loop and optx.torch: the same curves to float32 rounding."""
  runs = _against("torch", tmp_path, capsys)
  for name in ("sgd", "momentum", "adagrad", "performance"):
    assert runs[name]["max_weight_difference"] <= 1e-5, name
    assert runs[name]["max_val_loss_difference"] <= 1e-5, name
  # Adam divides by the root of tiny second moments: rounding differences in
  # near-zero gradients (oneDNN vs XLA) become visible, but stay small.
  assert runs["adam"]["max_val_loss_difference"] <= 1e-3
