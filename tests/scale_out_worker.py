"""Multi-device checks for ``test_scale_out.py``, run in a process of its own.

JAX fixes its device count when its backend starts, so ``test_scale_out.py``
runs this file with ``XLA_FLAGS=--xla_force_host_platform_device_count=8``
in a fresh interpreter. On 8 simulated CPU devices it measures how far a
``pmap`` step and a ``jit(shard_map(...))`` step are from one device on the
whole batch, whether every replica takes the same plateau decision, and which
optimizer state buffers or updates of every optx building block and every
optimizer of the registry (``registry.py``, imported from this file's folder,
the first entry of ``sys.path`` when it runs as a script) do not carry the
params' sharding. It prints one JSON object that the tests assert on.
Importing it (as ``pytest --doctest-modules`` does) runs nothing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import registry
from jax.sharding import AxisType
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import optx

DEVICES = 8

# Every optimizer of the registry (``registry.py``) is stepped under pmap, with
# a scheduled learning rate so that each keeps a step counter; those with a
# plateau also observe a measurement.
PMAP_OPTIMIZERS: dict[str, Callable[[], optax.GradientTransformation]] = {
  name: functools.partial(optimizer.make, optx.exponential_schedule(0.02, steps=4))
  for name, optimizer in registry.OPTIMIZERS.items()
}

# Every optx building block, with the number of params-shaped buffers its state holds.
BLOCKS: dict[str, tuple[Callable[[], optax.GradientTransformation], int]] = {
  "scale_by_learning_rate": (lambda: optx.scale_by_learning_rate(0.1), 0),
  "trace": (lambda: optx.trace(0.9), 1),
  "trace_nesterov_bf16": (
    lambda: optx.trace(0.9, nesterov=True, accumulator_dtype=jnp.bfloat16),
    1,
  ),
  "scale_by_rss": (lambda: optx.scale_by_rss(), 1),
  "scale_by_rms": (lambda: optx.scale_by_rms(initial_scale=1.0), 1),
  "scale_by_stddev": (lambda: optx.scale_by_stddev(), 2),
  "scale_by_adam": (lambda: optx.scale_by_adam(eps_placement="hat"), 2),
  "scale_by_adam_amsgrad_dtypes": (
    lambda: optx.scale_by_adam(
      amsgrad=True, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16
    ),
    3,
  ),
  "scale_by_adamax": (lambda: optx.scale_by_adamax(), 2),
  "scale_by_nadam": (lambda: optx.scale_by_nadam(), 2),
  "add_decoupled_weight_decay": (
    lambda: optx.add_decoupled_weight_decay(0.01, 0.1),
    0,
  ),
  "reduce_on_plateau": (lambda: optx.reduce_on_plateau(), 0),
}

# And every optimizer of the registry, with its buffers. Eager updates are
# checked for the blocks only: op-by-op dispatch compiles every operation for
# its shardings, and the optimizers are chains of the same leafwise blocks.
SHARDING_TRANSFORMS = BLOCKS | {
  name: (functools.partial(optimizer.make, 0.01), optimizer.buffers)
  for name, optimizer in registry.OPTIMIZERS.items()
}

MESHES = ("auto_1d", "auto_2d", "explicit_1d")


def sharding_transforms(mesh: str) -> dict[str, Any]:
  """The transforms checked on ``mesh``: all on the first mesh, the blocks on
  the others (the optimizers are chains of the same blocks, and compiling all
  of them for every mesh is most of this worker's time)."""
  return SHARDING_TRANSFORMS if mesh == MESHES[0] else BLOCKS


# ----------------------------------------------------------------------------
# pmap data parallelism.


def _model_params(rng: np.random.Generator) -> dict[str, Any]:
  f32 = lambda shape: (0.5 * rng.standard_normal(shape)).astype(np.float32)
  return {
    "hidden": {"w": f32((3, 4)), "b": np.zeros(4, np.float32)},
    "out": {"w": f32((4,)), "b": f32(())},
  }


def _loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
  h = jnp.tanh(x @ params["hidden"]["w"] + params["hidden"]["b"][None, :])
  prediction = h @ params["out"]["w"] + jnp.broadcast_to(params["out"]["b"], y.shape)
  return jnp.mean((prediction - y) ** 2)


def _pmap_cases(steps: int = 5) -> dict[str, Any]:
  """pmap with pmean'd gradients vs one device on the whole batch.

  Every optimizer of PMAP_OPTIMIZERS trains its own copy of the model, all in
  one compiled step (one compilation instead of one per optimizer).
  """
  txs = {name: make() for name, make in PMAP_OPTIMIZERS.items()}
  # Host data (NumPy) keeps op-by-op compilations out of this process's time.
  rng = np.random.default_rng(0)
  params = {name: _model_params(np.random.default_rng(1)) for name in txs}
  x = rng.standard_normal((steps, DEVICES * 4, 3)).astype(np.float32)
  y = np.sin(x.sum(-1))
  # A measurement per replica and step, exact in float32 so that its replica
  # mean is too: replicas disagree (3.5, 2.5, 2.5, ... vs 1, 2, 2, ...) while
  # the mean, 2.25, plateaus from the second measurement on.
  local = np.array([[3.5, 2.5, 2.5, 2.5, 2.5], [1, 2, 2, 2, 2]], np.float32)
  measurements = np.tile(local, (DEVICES // 2, 1))  # (devices, steps)

  def step(params, states, x, y, measurement, axis_name):
    new_params, new_states = {}, {}
    for name, tx in txs.items():
      grads = jax.grad(_loss)(params[name], x, y)
      if axis_name is not None:
        grads = jax.lax.pmean(grads, axis_name)
      state = states[name]
      if optx.has_plateau(state):
        state = optx.observe(state, measurement, axis_name=axis_name)
      updates, new_states[name] = tx.update(grads, state, params[name])
      new_params[name] = optax.apply_updates(params[name], updates)
    return new_params, new_states

  pstep = jax.pmap(lambda *args: step(*args, "batch"), axis_name="batch")
  sstep = jax.jit(lambda *args: step(*args, None))
  states = jax.device_get(
    jax.jit(lambda p: {name: tx.init(p[name]) for name, tx in txs.items()})(params)
  )
  replicate = lambda tree: jax.tree.map(lambda a: np.stack([a] * DEVICES), tree)
  p_params, p_states = replicate(params), replicate(states)
  s_params, s_states = params, states
  results = {
    name: {"max_diff": 0.0, "replicas_identical": True, "counters_equal": True}
    for name in txs
  }
  for t in range(steps):
    p_params, p_states = pstep(
      p_params,
      p_states,
      x[t].reshape(DEVICES, -1, 3),
      y[t].reshape(DEVICES, -1),
      measurements[:, t],
    )
    s_params, s_states = sstep(
      s_params, s_states, x[t], y[t], np.mean(measurements[:, t])
    )
  # Compared after the last step: any difference would have carried on.
  p_all, s_all = (
    jax.device_get((p_params, p_states)),
    jax.device_get((s_params, s_states)),
  )
  for name, result in results.items():
    for leaf_p, leaf_s in zip(
      jax.tree.leaves((p_all[0][name], p_all[1][name])),
      jax.tree.leaves((s_all[0][name], s_all[1][name])),
      strict=True,
    ):
      leaf_p, leaf_s = np.asarray(leaf_p), np.asarray(leaf_s)
      result["replicas_identical"] &= all(
        np.array_equal(r, leaf_p[0], equal_nan=True) for r in leaf_p
      )
      if np.issubdtype(leaf_s.dtype, np.floating):
        diff = np.abs(leaf_p[0] - leaf_s)
        diff = np.where(leaf_p[0] == leaf_s, 0.0, diff)  # inf == inf
        # Absolute for values up to 1, relative above (a buffer of g / √s
        # holds values of 10 or more, whose ulps are larger than 1e-6).
        finite = np.abs(leaf_s[np.isfinite(leaf_s)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
        result["max_diff"] = max(result["max_diff"], float(np.max(diff)) / scale)
      else:  # step counters, plateau counters, flags
        result["counters_equal"] &= bool(np.array_equal(leaf_p[0], leaf_s))
  for name, result in results.items():
    if registry.OPTIMIZERS[name].plateau:
      result["plateau_scale_pmap"] = float(_plateau_state(p_all[1][name]).scale[0])
      result["plateau_scale_single"] = float(_plateau_state(s_all[1][name]).scale)
  return results


def _shard_map_case(steps: int = 5) -> dict[str, Any]:
  """The pmap step as a jit of shard_map: batch split over a mesh axis, params replicated."""
  tx = PMAP_OPTIMIZERS["adam_plateau_torch"]()
  mesh = jax.make_mesh((DEVICES,), ("batch",), axis_types=(AxisType.Auto,))
  rng = np.random.default_rng(0)
  params = _model_params(np.random.default_rng(1))
  x = rng.standard_normal((steps, DEVICES * 4, 3)).astype(np.float32)
  y = np.sin(x.sum(-1))
  local = np.array([[3.5, 2.5, 2.5, 2.5, 2.5], [1, 2, 2, 2, 2]], np.float32)
  measurements = np.tile(local, (DEVICES // 2, 1))  # (devices, steps)

  def replica_step(params, state, x, y, measurement):
    # params are replicated (unvarying over "batch"): differentiating the
    # pmean'd loss gives the mean gradient (a pmean of jax.grad of the local
    # loss would not: shard_map's transpose already sums it over the axis).
    mean_loss = lambda p: jax.lax.pmean(_loss(p, x, y), "batch")
    grads = jax.grad(mean_loss)(params)
    state = optx.observe(state, measurement[0], axis_name="batch")
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  sharded_step = jax.jit(
    jax.shard_map(
      replica_step,
      mesh=mesh,
      in_specs=(P(), P(), P("batch"), P("batch"), P("batch")),
      out_specs=(P(), P()),
    )
  )

  @jax.jit
  def single_step(params, state, x, y, measurement):
    state = optx.observe(state, measurement)
    updates, state = tx.update(jax.grad(_loss)(params, x, y), state, params)
    return optax.apply_updates(params, updates), state

  m_params, m_state = params, tx.init(params)
  s_params, s_state = params, tx.init(params)
  for t in range(steps):
    m_params, m_state = sharded_step(m_params, m_state, x[t], y[t], measurements[:, t])
    s_params, s_state = single_step(
      s_params, s_state, x[t], y[t], np.mean(measurements[:, t])
    )
  max_diff, counters_equal = 0.0, True
  for a, b in zip(
    jax.tree.leaves((m_params, m_state)),
    jax.tree.leaves((s_params, s_state)),
    strict=True,
  ):
    a, b = np.asarray(a), np.asarray(b)
    if np.issubdtype(b.dtype, np.floating):
      max_diff = max(max_diff, float(np.max(np.where(a == b, 0.0, np.abs(a - b)))))
    else:
      counters_equal &= bool(np.array_equal(a, b))
  return {
    "max_abs_diff": max_diff,
    "counters_equal": counters_equal,
    "plateau_scale": float(_plateau_state(jax.device_get(m_state)).scale),
    "plateau_scale_single": float(_plateau_state(jax.device_get(s_state)).scale),
  }


def _plateau_state(opt_state: Any) -> optx.ReduceOnPlateauState:
  is_plateau = lambda node: isinstance(node, optx.ReduceOnPlateauState)
  (found,) = [
    node for node in jax.tree.leaves(opt_state, is_leaf=is_plateau) if is_plateau(node)
  ]
  return found


def _plateau_case() -> dict[str, Any]:
  """Plateau decisions under pmap, with and without axis_name, vs one device."""
  tx = optx.sgd(0.1, plateau=optx.reduce_on_plateau(0.5, patience=1, min_delta=0.0))
  # Per-replica measurements (exact in float32, so their mean is exact): the
  # replica mean is 4, 3, 3, 3, 2, 2, 2: two reductions. Replica 0 alone
  # improves at every measurement, replica 1 plateaus from the start.
  base = np.array([4, 3, 3, 3, 2, 2, 2], np.float32)
  offsets = np.zeros((DEVICES, base.size), np.float32)
  offsets[0] = [0, -1, -2, -3, -3, -4, -5]
  offsets[1] = [0, 1, 2, 3, 3, 4, 5]  # offsets sum to zero over replicas
  local = base + offsets
  state0 = jax.tree.map(lambda a: jnp.stack([a] * DEVICES), tx.init(jnp.zeros(2)))

  def run(axis_name):
    observe = jax.pmap(
      lambda s, v: optx.observe(s, v, axis_name=axis_name), axis_name="batch"
    )
    state, scales = state0, []
    for t in range(base.size):
      state = observe(state, jnp.asarray(local[:, t]))
      scales.append(np.asarray(_plateau_state(state).scale))
    return state, np.stack(scales, axis=1)  # (devices, measurements)

  state, scales = run("batch")
  _, scales_local = run(None)
  single, single_scales = tx.init(jnp.zeros(2)), []
  for t in range(base.size):
    single = optx.observe(single, float(np.mean(local[:, t])))
    single_scales.append(float(_plateau_state(single).scale))
  plateau_leaves = [np.asarray(a) for a in jax.tree.leaves(_plateau_state(state))]
  return {
    "scales": scales.tolist(),
    "single_scales": single_scales,
    "replicas_identical": all(
      all(np.array_equal(r, leaf[0]) for r in leaf) for leaf in plateau_leaves
    ),
    "equal_to_single": all(
      np.array_equal(leaf[0], np.asarray(s))
      for leaf, s in zip(
        plateau_leaves, jax.tree.leaves(_plateau_state(single)), strict=True
      )
    ),
    "local_scales_replica_0": scales_local[0].tolist(),
    "local_scales_replica_1": scales_local[1].tolist(),
  }


# ----------------------------------------------------------------------------
# Sharded jit.


def _mesh_and_params(name: str) -> tuple[jax.sharding.Mesh, dict[str, jax.Array]]:
  if name == "auto_2d":
    mesh = jax.make_mesh((4, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
    specs = {"w": P("x", "y"), "b": P("x"), "s": P("y")}
  else:
    kind = AxisType.Explicit if name.startswith("explicit") else AxisType.Auto
    mesh = jax.make_mesh((DEVICES,), ("x",), axis_types=(kind,))
    specs = {"w": P("x"), "b": P("x"), "s": P()}
  values = {
    "w": jnp.arange(48.0).reshape(8, 6) / 10 - 2,
    "b": jnp.linspace(-1.0, 1.0, 8),
    "s": jnp.full(6, 0.5),
  }
  params = {k: jax.device_put(values[k], NamedSharding(mesh, specs[k])) for k in values}
  return mesh, params


def _mismatches(where: str, tree: Any, params: Any) -> tuple[list[str], int]:
  """Params-shaped subtrees of ``tree`` whose leaves' shardings differ from the params'."""
  params_def = jax.tree.structure(params)
  found: list[Any] = []
  jax.tree.map(
    lambda node: found.append(node),
    tree,
    is_leaf=lambda node: jax.tree.structure(node) == params_def,
  )
  buffers = [node for node in found if jax.tree.structure(node) == params_def]
  errors = []
  for i, buffer in enumerate(buffers):
    for (path, leaf), p in zip(
      jax.tree.leaves_with_path(buffer), jax.tree.leaves(params), strict=True
    ):
      if not leaf.sharding.is_equivalent_to(p.sharding, p.ndim):
        errors.append(f"{where}[{i}]{jax.tree_util.keystr(path)}: {leaf.sharding}")
  return errors, len(buffers)


def _sharding_cases(
  mesh_name: str, eager_update: bool, transforms: dict[str, Any]
) -> dict[str, Any]:
  """Sharding of every transform's state and updates, eager and under jit.

  All transforms go through one jitted init and one jitted update (one
  compilation each); XLA propagates shardings per value, so each transform's
  outputs are sharded as they would be alone.
  """
  mesh, params = _mesh_and_params(mesh_name)
  txs = {name: make() for name, (make, _) in transforms.items()}
  grads = jax.tree.map(lambda p: jnp.cos(p) * 0.1, params)
  results: dict[str, Any] = {name: {"errors": []} for name in txs}
  # Auto axes: no mesh context, as in a plain jit program; Explicit axes need one.
  explicit = mesh_name.startswith("explicit")
  with jax.set_mesh(mesh) if explicit else contextlib.nullcontext():
    for name, tx in txs.items():
      eager_state = tx.init(params)
      errors, results[name]["buffers"] = _mismatches("eager init", eager_state, params)
      if eager_update and name in BLOCKS:  # each op compiles: one mesh is enough
        updates, _ = tx.update(grads, eager_state, params)
        errors += _mismatches("eager updates", {"u": updates}, params)[0]
      results[name]["errors"] += errors

    def init_all(params):
      return {name: tx.init(params) for name, tx in txs.items()}

    def step_all(all_params, states, grads):
      new_params, new_states, all_updates = {}, {}, {}
      for name, tx in txs.items():
        updates, new_states[name] = tx.update(grads, states[name], all_params[name])
        all_updates[name] = updates
        new_params[name] = optax.apply_updates(all_params[name], updates)
      return new_params, new_states, all_updates

    states = jax.jit(init_all)(params)
    for name in txs:
      results[name]["errors"] += _mismatches("jit init", states[name], params)[0]
    all_params = {name: params for name in txs}
    step = jax.jit(step_all)
    for t in range(2):
      all_params, states, all_updates = step(all_params, states, grads)
      for name in txs:
        results[name]["errors"] += (
          _mismatches(f"updates {t}", {"u": all_updates[name]}, params)[0]
          + _mismatches(f"state {t}", states[name], params)[0]
          + _mismatches(f"params {t}", {"p": all_params[name]}, params)[0]
        )
  return results


def _orbax_sharded_case() -> dict[str, Any]:
  """An FSDP state through Orbax: restored with the params' sharding, bitwise."""
  import tempfile

  import orbax.checkpoint as ocp

  _, params = _mesh_and_params("auto_2d")
  tx = optx.adam(
    optx.exponential_schedule(0.01, steps=2), plateau=optx.reduce_on_plateau(patience=0)
  )
  grads = jax.tree.map(lambda p: jnp.cos(p) * 0.1, params)

  @jax.jit
  def step(params, state, measurement):
    state = optx.observe(state, measurement)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  state = jax.jit(tx.init)(params)
  for measurement in (2.0, 2.0):
    params, state = step(params, state, measurement)
  with tempfile.TemporaryDirectory() as directory:
    with ocp.StandardCheckpointer() as checkpointer:
      checkpointer.save(f"{directory}/state", state)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)  # with shardings
    with ocp.StandardCheckpointer() as checkpointer:
      restored = checkpointer.restore(f"{directory}/state", abstract)
  errors, buffers = _mismatches("restored", restored, params)
  same = all(
    np.array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True)
  )
  continued = jax.tree.leaves(step(params, restored, 2.0))
  uninterrupted = jax.tree.leaves(step(params, state, 2.0))
  return {
    "errors": errors,
    "buffers": buffers,
    "restored_equal": same
    and jax.tree.structure(restored) == jax.tree.structure(state),
    "continued_equal": all(
      np.array_equal(np.asarray(a), np.asarray(b))
      for a, b in zip(continued, uninterrupted, strict=True)
    ),
  }


def _naive_zeros_case() -> dict[str, Any]:
  """Control: buffers made with a plain ``jnp.zeros_like`` lose the sharding in jit."""
  _, params = _mesh_and_params("auto_1d")
  naive = lambda p: {"mu": jax.tree.map(jnp.zeros_like, p)}
  return {"errors": _mismatches("jit init", jax.jit(naive)(params), params)[0]}


def main() -> None:
  jax.config.update("jax_numpy_dtype_promotion", "strict")
  jax.config.update("jax_numpy_rank_promotion", "raise")
  assert jax.device_count() == DEVICES, jax.devices()
  results: dict[str, Any] = {
    "pmap": _pmap_cases(),
    "plateau": _plateau_case(),
    "shard_map": _shard_map_case(),
    "sharding": {
      mesh: _sharding_cases(mesh, mesh == MESHES[0], sharding_transforms(mesh))
      for mesh in MESHES
    },
    "naive_zeros": _naive_zeros_case(),
    "orbax_sharded": _orbax_sharded_case(),
  }
  json.dump(results, sys.stdout)


if __name__ == "__main__":
  main()
