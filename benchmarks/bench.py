"""Step-time, compile-time and memory benchmark: optx vs Optax vs torch.optim.

Times the jitted, buffer-donating train step (``update`` + ``apply_updates``,
params and optimizer state donated) of each optx optimizer against the Optax
optimizer with the same maths, against ``torch.optim`` (foreach and fused, on
the GPU when jax and torch both see one) when torch is installed, and against
a bandwidth-floor kernel: a fused XLA elementwise kernel that reads and writes
as many arrays as the optimizer must (params, gradients and state in; params
and state out). Three trees: one 16M-float leaf, ~200 leaves totalling ~16M
floats, and 2000 leaves of 64 floats.

Step times are medians over interleaved rounds (each round runs every
candidate of one optimizer for a few steps, in a fresh random order, so drifts
in machine load hit all of them alike). Compile time is
``jit(...).lower(...).compile()`` of a fresh function (tracing included).
Peak memory is XLA's own accounting of the compiled step (arguments + outputs
- donated aliases + temporaries); torch reports the bytes of its optimizer
state only. Results and findings: ``benchmarks/README.md``.

Run from the repository root::

  python benchmarks/bench.py            # everything (about 6 minutes)
  python benchmarks/bench.py --quick    # fewer repetitions, for iterating
  python benchmarks/bench.py --trees tiny --optimizers adam sgd --no-torch
  python benchmarks/bench.py --variants # also optx.flatten and optax.flatten
  python benchmarks/bench.py --baseline HEAD~3  # also the optx of HEAD~3

``--baseline REF`` (a git ref or commit hash) exports the ``optx/`` directory of
that commit (``git archive REF optx``) into a temporary directory as a package
named ``optx_baseline`` (its absolute imports of ``optx`` rewritten to the new
name), and times its step as one more candidate, ``baseline``, built by the
same factories and interleaved with the others; the reports and the summary
then also give the ratios of the current optx's step and compile times to the
baseline's. The ``--variants`` are not built for the baseline.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import optx  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

try:  # torch is optional.
  import torch
except ImportError:  # pragma: no cover
  torch = None

LEARNING_RATE = 1e-3
PAUSE_S = 0.05  # between timed candidates
EPS = 1e-7

# ----------------------------------------------------------------------------
# Trees.

TREES = {
  "one": "one leaf of 16M floats",
  "many": "200 leaves, 16.4M floats",
  "tiny": "2000 leaves of 64 floats",
}


def make_shapes(tree: str) -> list[tuple[int, ...]]:
  if tree == "one":
    return [(4096, 4096)]
  if tree == "many":
    # 100 weight matrices and 100 bias-like vectors, like a deep MLP.
    return [(320, 512), (512,)] * 100
  if tree == "tiny":
    return [(64,)] * 2000
  raise ValueError(tree)


def make_tree(shapes: list[tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  return {
    f"p{i:04d}": rng.standard_normal(shape, dtype=np.float32)
    for i, shape in enumerate(shapes)
  }


# ----------------------------------------------------------------------------
# Optimizers: (optx factory of the optx module, optax factory, torch factory,
# state arrays). The optx factories take the module, so that an earlier
# commit's optx (--baseline) is built by the same code.

OPTIMIZERS: dict[str, dict[str, Any]] = {
  "sgd": dict(
    optx=lambda m: m.sgd(LEARNING_RATE),
    optax=lambda: optax.sgd(LEARNING_RATE),
    torch=lambda ps, **kw: torch.optim.SGD(ps, lr=LEARNING_RATE, **kw),
    torch_fused=True,
    state=0,
  ),
  "momentum": dict(
    optx=lambda m: m.momentum(LEARNING_RATE, 0.9),
    optax=lambda: optax.sgd(LEARNING_RATE, momentum=0.9),
    torch=lambda ps, **kw: torch.optim.SGD(ps, lr=LEARNING_RATE, momentum=0.9, **kw),
    torch_fused=True,
    state=1,
  ),
  "nesterov": dict(
    optx=lambda m: m.nesterov(LEARNING_RATE, 0.9),
    optax=lambda: optax.sgd(LEARNING_RATE, momentum=0.9, nesterov=True),
    torch=lambda ps, **kw: torch.optim.SGD(
      ps, lr=LEARNING_RATE, momentum=0.9, nesterov=True, **kw
    ),
    torch_fused=True,
    state=1,
  ),
  "adagrad": dict(
    optx=lambda m: m.adagrad(LEARNING_RATE, 0.1, EPS),
    optax=lambda: optax.adagrad(LEARNING_RATE, initial_accumulator_value=0.1, eps=EPS),
    torch=lambda ps, **kw: torch.optim.Adagrad(
      ps, lr=LEARNING_RATE, initial_accumulator_value=0.1, eps=EPS, **kw
    ),
    torch_fused=True,
    state=1,
  ),
  "rmsprop": dict(
    optx=lambda m: m.rmsprop(LEARNING_RATE, 0.9, EPS),
    optax=lambda: optax.rmsprop(LEARNING_RATE, decay=0.9, eps=EPS),
    torch=lambda ps, **kw: torch.optim.RMSprop(
      ps, lr=LEARNING_RATE, alpha=0.9, eps=EPS, **kw
    ),
    torch_fused=False,  # torch has no fused RMSprop.
    state=1,
  ),
  "adam": dict(
    optx=lambda m: m.adam(LEARNING_RATE, 0.9, 0.999, EPS),
    optax=lambda: optax.adam(LEARNING_RATE, 0.9, 0.999, eps=0.0, eps_root=EPS),
    torch=lambda ps, **kw: torch.optim.Adam(ps, lr=LEARNING_RATE, eps=EPS, **kw),
    torch_fused=True,
    state=2,
  ),
}

VARIANTS: dict[str, Callable[[optax.GradientTransformation], Any]] = {}
"""Extra optx candidates (name -> wrapper of the optx transform), opt-in."""
if hasattr(optx, "flatten"):
  VARIANTS["optx.flatten"] = optx.flatten


# ----------------------------------------------------------------------------
# The optx of an earlier commit (--baseline REF).

BASELINE_PACKAGE = "optx_baseline"
_baseline_dir: tempfile.TemporaryDirectory | None = None  # kept until exit

# Absolute imports of the package: ``from optx[.x] import ...`` and
# ``import optx[.x] [as y]`` at the start of a (possibly indented) line.
_FROM_OPTX = re.compile(r"^(\s*from\s+)optx(?=[.\s])", re.MULTILINE)
_IMPORT_OPTX = re.compile(
  r"^(\s*import\s+)optx(\.[\w.]+)?(\s+as\s+\w+)?(?=[ \t]*(?:#.*)?$)", re.MULTILINE
)
_OLD_IMPORT = re.compile(r"^\s*(from\s+optx[.\s]|import\s+optx\b)", re.MULTILINE)


def _rename_imports(source: str) -> str:
  """Rewrites the absolute imports of ``optx`` in ``source`` to the new name."""
  source = _FROM_OPTX.sub(rf"\1{BASELINE_PACKAGE}", source)

  def import_line(match: re.Match) -> str:
    head, sub, alias = match.group(1), match.group(2) or "", match.group(3)
    if alias:
      return f"{head}{BASELINE_PACKAGE}{sub}{alias}"
    if not sub:  # ``import optx``: the code goes on saying ``optx.``
      return f"{head}{BASELINE_PACKAGE} as optx"
    return match.group(0)  # ``import optx.x`` binds ``optx``: left for the check

  return _IMPORT_OPTX.sub(import_line, source)


def load_baseline(ref: str) -> tuple[Any, str]:
  """Imports the ``optx/`` of commit ``ref`` as ``optx_baseline``.

  Returns the module and a description of the commit.
  """
  global _baseline_dir

  def git(*args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
      ["git", "-C", REPO_ROOT, *args], check=True, capture_output=True, **kwargs
    )

  try:
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}", text=True)
    commit = commit.stdout.strip()
    described = git("log", "-1", "--format=%h %s", commit, text=True).stdout.strip()
    archive = git("archive", "--format=tar", commit, "optx").stdout
  except subprocess.CalledProcessError as error:
    raise SystemExit(
      f"--baseline {ref}: {' '.join(error.cmd[3:])} failed: "
      + (error.stderr.decode() if isinstance(error.stderr, bytes) else error.stderr)
    ) from error
  _baseline_dir = tempfile.TemporaryDirectory(prefix="optx-baseline-")
  root = _baseline_dir.name
  subprocess.run(["tar", "-x", "-C", root], input=archive, check=True)
  package = os.path.join(root, BASELINE_PACKAGE)
  os.rename(os.path.join(root, "optx"), package)
  leftovers = []
  for folder, _, files in os.walk(package):
    for file in files:
      if not file.endswith(".py"):
        continue
      path = os.path.join(folder, file)
      with open(path, encoding="utf-8") as f:
        source = _rename_imports(f.read())
      with open(path, "w", encoding="utf-8") as f:
        f.write(source)
      leftovers += [
        f"{os.path.relpath(path, root)}: {m.group(0).strip()}"
        for m in _OLD_IMPORT.finditer(source)
      ]
  if leftovers:
    raise SystemExit(
      f"--baseline {ref}: imports of optx left after renaming: {leftovers}"
    )
  before = {name for name in sys.modules if name.split(".")[0] == "optx"}
  sys.path.insert(0, root)  # kept: the baseline may import lazily
  import optx_baseline  # type: ignore[import-not-found]

  leaked = {n for n in sys.modules if n.split(".")[0] == "optx"} - before
  if leaked or not optx_baseline.__file__.startswith(root):
    raise SystemExit(f"--baseline {ref}: the baseline imported {sorted(leaked)}")
  return optx_baseline, f"{described} ({ref})"


# ----------------------------------------------------------------------------
# Candidates: each has .step() (runs one step, async), .block() and .info.


def _train_step(tx: optax.GradientTransformation) -> Callable[..., Any]:
  def step(params, opt_state, grads):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return step


def _floor_step(n_state: int) -> Callable[..., Any]:
  """Reads params, grads and ``n_state`` buffers; writes params and the buffers."""

  def step(params, opt_state, grads):
    new_params = jax.tree.map(lambda p, g: p + g, params, grads)
    new_state = tuple(jax.tree.map(lambda s, g: s + g, s, grads) for s in opt_state)
    return new_params, new_state

  return step


def _tree_bytes(tree: Any) -> int:
  return sum(x.nbytes for x in jax.tree.leaves(tree) if hasattr(x, "nbytes"))


class JaxCandidate:
  """A jitted, donating step over a jax pytree."""

  def __init__(self, name, step_fn, params_np, grads, init_state, compile_reps):
    self.name = name
    self.params = jax.tree.map(jnp.asarray, params_np)
    self.state = init_state(self.params)
    self.grads = grads
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      seconds = []
      for _ in range(compile_reps):
        # A fresh function each time, so that nothing is served from a cache.
        jitted = jax.jit(lambda *a: step_fn(*a), donate_argnums=(0, 1))
        start = time.perf_counter()
        lowered = jitted.lower(self.params, self.state, self.grads)
        self.compiled = lowered.compile()
        seconds.append(time.perf_counter() - start)
      self.compile_s = statistics.median(seconds)
      # One call to see donation warnings and warm up.
      self.params, self.state = self.compiled(self.params, self.state, self.grads)
      jax.block_until_ready(self.params)
    self.donation_ok = not any("donated" in str(w.message) for w in caught)
    memory = self.compiled.memory_analysis()
    self.peak_bytes = None
    if memory is not None:
      self.peak_bytes = (
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        - memory.alias_size_in_bytes
        + memory.temp_size_in_bytes
      )
    leaves = jax.tree.leaves(self.state)
    self.state_bytes = sum(x.nbytes for x in leaves if x.ndim > 0)

  def step(self):
    self.params, self.state = self.compiled(self.params, self.state, self.grads)

  def block(self):
    jax.block_until_ready((self.params, self.state))


class TorchCandidate:
  """A ``torch.optim`` optimizer stepping over fixed gradients."""

  def __init__(self, name, factory, params_np, grads_np, device, **kwargs):
    self.name = name
    self.device = device
    self.params = [
      torch.nn.Parameter(torch.from_numpy(p.copy()).to(device))
      for p in params_np.values()
    ]
    for p, g in zip(self.params, grads_np.values(), strict=True):
      p.grad = torch.from_numpy(g.copy()).to(device)
    self.optimizer = factory(self.params, **kwargs)
    start = time.perf_counter()
    self.optimizer.step()
    self.block()
    self.compile_s = time.perf_counter() - start  # first step (state allocation)
    self.donation_ok = True
    self.peak_bytes = None
    self.state_bytes = sum(
      t.numel() * t.element_size()
      for s in self.optimizer.state.values()
      for t in s.values()
      if torch.is_tensor(t) and t.dim() > 0
    )

  def step(self):
    self.optimizer.step()

  def block(self):
    if self.device == "cuda":
      torch.cuda.synchronize()


def time_interleaved(candidates, reps: int, steps: int) -> dict[str, float]:
  """Median seconds per step of each candidate over ``reps`` interleaved rounds.

  Each round runs the candidates in a fresh (seeded) random order, so that no
  candidate always runs right after torch, whose worker threads keep spinning
  for a while after a step and slow whoever comes next; a short pause between
  candidates lets them settle.
  """
  times: dict[str, list[float]] = {c.name: [] for c in candidates}
  for c in candidates:  # warm-up round
    c.step()
    c.block()
  order = list(candidates)
  rng = random.Random(0)
  for _ in range(reps):
    rng.shuffle(order)
    for c in order:
      time.sleep(PAUSE_S)
      start = time.perf_counter()
      for _ in range(steps):
        c.step()
      c.block()
      times[c.name].append((time.perf_counter() - start) / steps)
  return {name: statistics.median(ts) for name, ts in times.items()}


# ----------------------------------------------------------------------------
# Main.


def make_candidates(name, args, params_np, grads_np, grads, compile_reps):
  """The candidates for one optimizer: optx, Optax, opt-in variants, baseline,
  floor, torch."""
  spec = OPTIMIZERS[name]
  candidates = []

  def add_jax(label, tx):
    step = _train_step(tx)
    candidates.append(
      JaxCandidate(label, step, params_np, grads, tx.init, compile_reps)
    )

  add_jax("optx", spec["optx"](optx))
  add_jax("optax", spec["optax"]())
  if args.variants:
    for label, wrap in VARIANTS.items():
      add_jax(label, wrap(spec["optx"](optx)))
    add_jax("optax.flatten", optax.flatten(spec["optax"]()))
  if args.baseline_module is not None:
    try:
      tx = spec["optx"](args.baseline_module)
    except (AttributeError, TypeError) as error:  # absent or other signature
      print(f"  (baseline has no {name}: {error})", file=sys.stderr)
    else:
      add_jax("baseline", tx)
  n_state = spec["state"]
  candidates.append(
    JaxCandidate(
      "floor",
      _floor_step(n_state),
      params_np,
      grads,
      lambda p: tuple(jax.tree.map(jnp.zeros_like, p) for _ in range(n_state)),
      compile_reps,
    )
  )
  if torch is not None and not args.no_torch:
    candidates.append(
      TorchCandidate(
        "torch.foreach",
        spec["torch"],
        params_np,
        grads_np,
        args.torch_device,
        foreach=True,
      )
    )
    if spec["torch_fused"]:
      try:
        candidates.append(
          TorchCandidate(
            "torch.fused",
            spec["torch"],
            params_np,
            grads_np,
            args.torch_device,
            fused=True,
          )
        )
      except (RuntimeError, ValueError) as error:  # pragma: no cover
        print(f"  (torch fused {name} unavailable: {error})", file=sys.stderr)
  return candidates


def warm_up(baseline: Any = None) -> None:
  """Pays jax's one-time start-up costs before anything is timed."""
  params = {"a": np.ones(3, np.float32), "b": np.ones((2, 2), np.float32)}
  txs = [optx.adam(0.1), optax.adam(0.1)]
  if baseline is not None and hasattr(baseline, "adam"):
    txs.append(baseline.adam(0.1))
  for tx in txs:
    grads = jax.tree.map(jnp.asarray, params)
    JaxCandidate("warm-up", _train_step(tx), params, grads, tx.init, 1)


def run(args) -> list[dict[str, Any]]:
  warm_up(args.baseline_module)
  rows = []
  for tree in args.trees:
    shapes = make_shapes(tree)
    params_np = make_tree(shapes, seed=0)
    grads_np = {k: 0.01 * v for k, v in make_tree(shapes, seed=1).items()}
    grads = jax.tree.map(jnp.asarray, grads_np)
    n_floats = sum(int(np.prod(s)) for s in shapes)
    steps = args.steps or 3  # short rounds: load drifts hit every candidate alike
    compile_reps = args.compile_reps or (1 if tree == "tiny" or args.quick else 3)
    for name in args.optimizers:
      candidates = make_candidates(name, args, params_np, grads_np, grads, compile_reps)
      medians = time_interleaved(candidates, args.reps, steps)
      # params and grads in, params out, state in and out
      arrays = 3 + 2 * OPTIMIZERS[name]["state"]
      for c in candidates:
        rows.append(
          dict(
            tree=tree,
            optimizer=name,
            candidate=c.name,
            step_ms=1e3 * medians[c.name],
            compile_s=c.compile_s,
            peak_mb=None if c.peak_bytes is None else c.peak_bytes / 2**20,
            state_mb=c.state_bytes / 2**20,
            donation_ok=c.donation_ok,
            gb_per_s=arrays * 4 * n_floats / medians[c.name] / 1e9,
          )
        )
      report_group(rows[-len(candidates) :])
      del candidates
      gc.collect()
  return rows


def report_group(rows: list[dict[str, Any]]) -> None:
  by = {r["candidate"]: r for r in rows}
  base = by["optx"]
  tree, name = base["tree"], base["optimizer"]
  print(f"\n[{tree}] {name}")
  print(
    f"  {'candidate':<14} {'step ms':>9} {'GB/s':>7} {'compile s':>10}"
    f" {'peak MB':>9} {'state MB':>9}  donation"
  )
  for r in rows:
    peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.1f}"
    print(
      f"  {r['candidate']:<14} {r['step_ms']:>9.3f} {r['gb_per_s']:>7.2f}"
      f" {r['compile_s']:>10.3f} {peak:>9} {r['state_mb']:>9.1f}"
      f"  {'ok' if r['donation_ok'] else 'NOT USABLE'}"
    )
  ratios = []
  for other in by:
    if other == "optx":
      continue
    step = base["step_ms"] / by[other]["step_ms"]
    text = f"optx/{other} step {step:.2f}"
    if not other.startswith("torch"):
      text += f", compile {base['compile_s'] / by[other]['compile_s']:.2f}"
    ratios.append(text)
  print("  ratios: " + "; ".join(ratios))
  for label in by:
    if label.startswith("optx."):
      r = by[label]
      print(
        f"  {label}/optax step {r['step_ms'] / by['optax']['step_ms']:.2f},"
        f" compile {r['compile_s'] / by['optax']['compile_s']:.2f};"
        f" {label}/floor step {r['step_ms'] / by['floor']['step_ms']:.2f}"
      )
  sys.stdout.flush()


def summary(rows: list[dict[str, Any]]) -> None:
  print("\nSummary (ratios < 1 mean optx is faster; floor = bandwidth floor)")
  has_baseline = any(r["candidate"] == "baseline" for r in rows)
  header = f"  {'tree':<5} {'optimizer':<9} {'vs optax':>9} {'compile':>8}"
  if has_baseline:
    header += f" {'vs base':>8} {'compile':>8}"
  header += f" {'vs floor':>9}"
  has_torch = any(r["candidate"].startswith("torch") for r in rows)
  if has_torch:
    header += f" {'vs foreach':>11} {'vs fused':>9}"
  print(header)
  groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
  for r in rows:
    groups.setdefault((r["tree"], r["optimizer"]), {})[r["candidate"]] = r
  for (tree, name), by in groups.items():
    o = by["optx"]
    line = (
      f"  {tree:<5} {name:<9} {o['step_ms'] / by['optax']['step_ms']:>9.2f}"
      f" {o['compile_s'] / by['optax']['compile_s']:>8.2f}"
    )
    if has_baseline:
      b = by.get("baseline")
      step = "-" if b is None else f"{o['step_ms'] / b['step_ms']:.2f}"
      compile_ = "-" if b is None else f"{o['compile_s'] / b['compile_s']:.2f}"
      line += f" {step:>8} {compile_:>8}"
    line += f" {o['step_ms'] / by['floor']['step_ms']:>9.2f}"
    if has_torch:
      for label in ("torch.foreach", "torch.fused"):
        cell = f"{o['step_ms'] / by[label]['step_ms']:.2f}" if label in by else "-"
        line += f" {cell:>{11 if label == 'torch.foreach' else 9}}"
    print(line)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--trees", nargs="+", choices=list(TREES), default=list(TREES))
  parser.add_argument(
    "--optimizers", nargs="+", choices=list(OPTIMIZERS), default=list(OPTIMIZERS)
  )
  parser.add_argument("--quick", action="store_true", help="fewer repetitions")
  parser.add_argument("--reps", type=int, default=None, help="interleaved rounds")
  parser.add_argument("--steps", type=int, default=None, help="steps per round")
  parser.add_argument(
    "--compile-reps", type=int, default=None, help="compiles per candidate"
  )
  parser.add_argument("--no-torch", action="store_true", help="skip torch.optim")
  parser.add_argument(
    "--torch-device",
    choices=("cpu", "cuda"),
    default=None,
    help="where torch.optim runs (default: cuda when jax and torch both see a GPU)",
  )
  parser.add_argument(
    "--variants",
    action="store_true",
    help="also time optx.flatten(tx) and optax.flatten of the Optax counterpart",
  )
  parser.add_argument(
    "--flatten-max-leaf-size",
    type=int,
    default=None,
    help="max_leaf_size of the optx.flatten variant (default: optx's own)",
  )
  parser.add_argument(
    "--baseline",
    metavar="REF",
    default=None,
    help="also time the optx of git commit REF (e.g. HEAD~3), as 'baseline'",
  )
  args = parser.parse_args(argv)
  args.baseline_module = None
  baseline_text = None
  if args.baseline is not None:
    args.baseline_module, baseline_text = load_baseline(args.baseline)
  if args.reps is None:
    args.reps = 5 if args.quick else 15
  if args.flatten_max_leaf_size is not None:
    VARIANTS["optx.flatten"] = functools.partial(
      optx.flatten, max_leaf_size=args.flatten_max_leaf_size
    )
  if args.torch_device is None:
    on_gpu = jax.default_backend() == "gpu"
    args.torch_device = (
      "cuda" if on_gpu and torch and torch.cuda.is_available() else "cpu"
    )
  print(
    f"optx {optx.__version__}, jax {jax.__version__}, optax {optax.__version__},"
    f" torch {torch.__version__ if torch else 'absent'}"
  )
  print(
    f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs,"
    f" jax device {jax.devices()[0].device_kind}"
    + (
      f", torch on {args.torch_device} ({torch.get_num_threads()} threads)"
      if torch
      else ""
    )
  )
  if baseline_text is not None:
    version = getattr(args.baseline_module, "__version__", "?")
    print(f"baseline: optx {version} of {baseline_text}")
  rows = run(args)
  summary(rows)


if __name__ == "__main__":
  main()
