"""The opt-in fast paths give the plain path's numbers.

``optx.flatten(tx)`` runs ``tx`` on one flat buffer per dtype; for every
elementwise optimizer of the registry (``registry.py``) the parameters it
produces must equal the plain path's, leaf for leaf, over several jitted
steps, with mixed dtypes, scalar leaves and ``None`` leaves, schedules,
plateau and weight decay. The checks of what ``flatten`` asks XLA to compile
read the traced program (its jaxpr), not XLA's output, which each XLA
release may rewrite.
"""

import chex
import jax
import jax.extend as jex
import jax.numpy as jnp
import jaxprs
import numpy as np
import optax
import oracles
import pytest
import registry

import optx
from optx._src import flatten as flatten_module

NAMES = registry.names(lambda o: o.elementwise)


def make(name):
  return registry.OPTIMIZERS[name].make(0.05)


def make_params(seed=0):
  rng = np.random.default_rng(seed)

  def normal(shape, dtype=jnp.float32):
    return jnp.asarray(rng.standard_normal(shape), dtype)

  return {
    "conv": {"kernel": normal((3, 3, 2, 4)), "bias": normal((4,))},
    "dense": [normal((6, 5)), normal((5,)), None],
    "scalar": normal(()),
    "half": normal((3, 7), jnp.bfloat16),
  }


def loss(params):
  leaves = jax.tree.leaves(params)
  return sum(
    jnp.sum(jnp.sin(x.astype(jnp.float32)) * x.astype(jnp.float32) ** 2) for x in leaves
  )


def run(tx, params, steps=6):
  @jax.jit
  def step(params, state):
    grads = jax.grad(loss)(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  state = tx.init(params)
  for _ in range(steps):
    params, state = step(params, state)
  return params, state


def assert_same_numbers(flat, plain, steps):
  """Leaves of 32 bits or more to the last bits; 16-bit leaves after one step,
  to one rounding of their dtype.

  The rules compute 16-bit leaves in float32 and round the update once. In the
  plain path XLA may drop that rounding where ``apply_updates`` adds the
  update to the parameter (``--xla_allow_excess_precision``, on by default,
  removes the float32 -> bfloat16 -> float32 pair); in the flat path a slice
  stands between them, so the rounding stays. With the flag off the two paths
  are equal to the last bit (checked by hand); with it on they differ by one
  rounding of the 16-bit dtype per step, which later steps amplify.
  """
  for a, b in zip(jax.tree.leaves(flat), jax.tree.leaves(plain), strict=True):
    assert a.dtype == b.dtype and a.shape == b.shape
    if jnp.finfo(a.dtype).bits >= 32:
      chex.assert_trees_all_close(a, b, rtol=1e-6, atol=1e-7)
    elif steps == 1:
      chex.assert_trees_all_close(a, b, rtol=float(jnp.finfo(a.dtype).eps), atol=1e-7)


@pytest.mark.parametrize("name", registry.names())
def test_flatten_takes_exactly_the_elementwise_optimizers(name):
  tx = registry.OPTIMIZERS[name].make(0.05)
  if registry.OPTIMIZERS[name].elementwise:
    assert isinstance(optx.flatten(tx), optax.GradientTransformationExtraArgs)
  else:
    with pytest.raises(TypeError, match=r"optx\.flatten\(inner=\.\.\.\) must act on"):
      optx.flatten(tx)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("steps", [1, 6])
def test_flatten_equals_the_plain_path(name, steps):
  params = make_params()
  plain, _ = run(make(name), params, steps)
  flat, _ = run(optx.flatten(make(name)), params, steps)
  assert jax.tree.structure(flat) == jax.tree.structure(plain)
  assert_same_numbers(flat, plain, steps)


@pytest.mark.parametrize("name", registry.names(lambda o: o.elementwise and o.buffers))
def test_flatten_with_large_leaves_kept_apart_equals_the_plain_path(name):
  params = make_params()
  plain, _ = run(make(name), params)
  # Leaves above 10 elements (the conv kernel, the dense matrix, the bf16
  # matrix) keep their own buffers; the rest is flattened.
  flat, state = run(optx.flatten(make(name), max_leaf_size=10), params)
  assert_same_numbers(flat, plain, steps=6)
  buffers = jax.tree.leaves(state)
  shapes = sorted(x.shape for x in buffers if x.ndim > 0)
  big = [(3, 3, 2, 4), (3, 7), (6, 5)]
  small = [(4 + 5 + 1,)]
  per_moment = sorted(big + small)
  moments = len(shapes) // len(per_moment)
  assert moments >= 1 and shapes == sorted(per_moment * moments)


def test_flatten_rejects_a_negative_max_leaf_size():
  with pytest.raises(ValueError, match=r"optx\.flatten\(max_leaf_size=\.\.\.\)"):
    optx.flatten(optx.sgd(0.1), max_leaf_size=-1)


def test_flatten_state_is_the_inner_state_of_the_flat_buffers():
  params = make_params()
  state = optx.flatten(optx.adam(0.01)).init(params)
  mu = state.inner_state[0].mu
  floats = sum(x.size for x in jax.tree.leaves(params) if x.dtype == jnp.float32)
  assert set(mu) == {"float32", "bfloat16"}
  assert mu["float32"].shape == (floats,)
  assert mu["bfloat16"].shape == (21,)


def test_flatten_forwards_extra_args_and_plateau_observe():
  params = make_params()
  tx = optx.flatten(
    optx.adam(0.01, plateau=optx.reduce_on_plateau(patience=0, factor=0.5))
  )
  reference = optx.adam(0.01, plateau=optx.reduce_on_plateau(patience=0, factor=0.5))
  grads = jax.grad(loss)(params)
  outputs = []
  for t in (tx, reference):
    state = t.init(params)
    for value in (1.0, 1.0, 1.0):
      state = optx.observe(state, value)
    updates, state = t.update(grads, state, params, value=jnp.asarray(1.0))
    outputs.append((updates, optx.plateau_scale(state)))
  assert float(outputs[0][1]) == float(outputs[1][1]) < 1.0  # the plateau fired
  chex.assert_trees_all_close(outputs[0][0], outputs[1][0], rtol=1e-6)


def test_flatten_with_adam_matches_a_numpy_loop():
  # An independent oracle: the seed's Adam written out in NumPy.
  params = {"a": jnp.asarray([1.0, -2.0, 0.5]), "b": jnp.asarray([[3.0]])}
  grads = {"a": jnp.asarray([0.1, 0.2, -0.3]), "b": jnp.asarray([[1.0]])}
  tx = optx.flatten(optx.adam(0.1, b1=0.9, b2=0.999, eps=1e-7))
  state = tx.init(params)
  g = np.concatenate([np.ravel(grads["a"]), np.ravel(grads["b"])])
  theta = np.concatenate([np.ravel(params["a"]), np.ravel(params["b"])])
  for _ in range(3):
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  expected = oracles.trajectory(
    oracles.adam, theta, [g] * 3, 0.0, 0.0, 0.0, lr=0.1, b1=0.9, b2=0.999, eps=1e-7
  )[-1]
  got = np.concatenate([np.ravel(params["a"]), np.ravel(params["b"])])
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_flatten_of_an_empty_tree():
  tx = optx.flatten(optx.adam(0.1))
  updates, _ = tx.update({}, tx.init({}))
  assert updates == {}


def test_flatten_rejects_a_non_transformation():
  with pytest.raises(TypeError, match=r"optx\.flatten\(inner=\.\.\.\)"):
    optx.flatten(optx.adam)


@pytest.mark.parametrize("hide", ["_looped", "_sorted"])
def test_flatten_of_many_leaves_of_mixed_sizes_equals_the_plain_path(hide, monkeypatch):
  # 249 small leaves of varied sizes, so that a wrong offset shows: three
  # levels of grouped concatenation, and hidden offsets every ten leaves with
  # one group spanning the bfloat16 and float32 buffers (the 12 "half" leaves
  # come first), whose constant steps then go backwards. Both ways of hiding
  # the offsets run here on CPU (the sorts are what GPUs get).
  monkeypatch.setattr(flatten_module, "_opaque", getattr(flatten_module, hide))
  rng = np.random.default_rng(3)
  params = {
    f"p{i:03d}": jnp.asarray(rng.standard_normal((1 + i % 7, 1 + i % 3)), jnp.float32)
    for i in range(237)
  }
  params["half"] = [
    jnp.asarray(rng.standard_normal(5 + i), jnp.bfloat16) for i in range(12)
  ]
  plain, _ = run(optx.adam(0.01), params, steps=3)
  flat, state = run(optx.flatten(optx.adam(0.01)), params, steps=3)
  assert_same_numbers(flat, plain, steps=3)
  assert int(state.count) == 3


def _grouped_sizes(tx, grads):
  """Element counts of the groups that ``tx.update(grads, state)`` concatenates
  before its final concatenation (what passes its optimization barriers)."""
  traced = jax.make_jaxpr(tx.update)(grads, tx.init(grads))
  return sorted(
    operand.aval.size
    for equation in jaxprs.equations(traced)
    if equation.primitive.name == "optimization_barrier"
    for operand in equation.invars
  )


def test_flatten_groups_small_leaves_in_levels_of_ten():
  # 300 leaves of 16 floats: 30 groups, then 3, then one buffer. Each level
  # copies the elements once more, which is cheap for small leaves and saves
  # compile time (a concatenation's code grows with its operand count).
  grads = {f"p{i:03d}": jnp.ones(16) for i in range(300)}
  tx = optx.flatten(optx.momentum(0.1, 0.9))
  assert _grouped_sizes(tx, grads) == [160] * 30 + [1600] * 3


def test_flatten_copies_large_leaves_once():
  # Leaves above the grouping size, side by side with small ones, go straight
  # into the final concatenation: one pass over their memory, not one per
  # level of groups (on the CPU, Adam's step took 1.16x optax.flatten's time
  # with the levels, 0.97x without). Runs of small leaves between them are
  # still grouped.
  large = flatten_module._GROUP_MAX_SIZE + 1
  sizes = [large, 3] * 12 + [5] * 12
  grads = {f"p{i:03d}": jnp.ones(size) for i, size in enumerate(sizes)}
  tx = optx.flatten(optx.momentum(0.1, 0.9), max_leaf_size=2**30)
  # Level 1 joins the last 3 with nine 5s (48) and the other three 5s (15),
  # level 2 those two groups (63); the large leaves pass through neither.
  assert _grouped_sizes(tx, grads) == [15, 48, 63]
  params = {name: jnp.linspace(-1.0, 1.0, g.size) for name, g in grads.items()}
  plain, _ = run(optx.adam(0.01), params, steps=2)
  flat, _ = run(optx.flatten(optx.adam(0.01), max_leaf_size=2**30), params, steps=2)
  chex.assert_trees_all_close(flat, plain, rtol=1e-6, atol=1e-7)


def test_flatten_count_saturates():
  params = {"a": jnp.ones(3), "b": jnp.ones(2)}
  tx = optx.flatten(optx.sgd(0.1))
  state = tx.init(params)._replace(count=jnp.asarray(np.iinfo(np.int32).max, jnp.int32))
  updates, state = tx.update(params, state)
  assert int(state.count) == np.iinfo(np.int32).max
  chex.assert_trees_all_close(
    updates, {"a": -0.1 * jnp.ones(3), "b": -0.1 * jnp.ones(2)}
  )


def _slice_offsets(traced):
  """(base, constant step) of the offset of each slice that cuts a leaf out of
  a flat buffer in ``traced``, and whether every base is a run-time value
  (computed from the step's inputs, so that XLA cannot read it when it
  compiles)."""
  jaxpr = traced.jaxpr.jaxpr
  producers = {v: e for e in jaxpr.eqns for v in e.outvars}
  runtime = set(jaxpr.invars)
  for e in jaxpr.eqns:
    if any(not isinstance(v, jex.core.Literal) and v in runtime for v in e.invars):
      runtime.update(e.outvars)
  offsets = []
  for e in jaxpr.eqns:
    if e.primitive.name == "dynamic_slice":
      base, step = e.invars[1], 0
      add = producers.get(base)
      if add is not None and add.primitive.name == "add":
        base, literal = add.invars
        step = int(literal.val)
      offsets.append((base, step))
  return offsets, all(base in runtime for base, _ in offsets)


def _traced_step_of_equal_leaves():
  """The traced train step of ``optx.flatten(momentum)`` over 300 equal leaves."""
  params = {f"p{i:03d}": jnp.ones(16) for i in range(300)}
  tx = optx.flatten(optx.momentum(0.1, 0.9))

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return jax.jit(step).trace(params, tx.init(params), params)


@pytest.mark.parametrize("hide", ["_opaque", "_looped", "_sorted"])
def test_flatten_slices_of_equal_leaves_share_kernels(hide, monkeypatch):
  # The compile-time property behind optx.flatten's offsets: 300 leaves of one
  # shape get ten slicing kernels (one per position in a group of ten), not
  # 300 (XLA compiles kernels one by one). Each slice's offset is one of 30
  # hidden values, read at run time, plus one of ten constant steps: equal
  # slices XLA cannot tell apart. (Hidden by platform, by the loop, by sorts.)
  monkeypatch.setattr(flatten_module, "_opaque", getattr(flatten_module, hide))
  offsets, hidden = _slice_offsets(_traced_step_of_equal_leaves())
  assert len(offsets) == 300
  assert hidden
  assert len({base for base, _ in offsets}) == 30
  assert sorted({step for _, step in offsets}) == list(range(0, 160, 16))


@pytest.mark.parametrize("count", [0, 3, -5, np.iinfo(np.int32).max])
@pytest.mark.parametrize("hide", ["_looped", "_sorted"])
def test_hidden_offsets_are_the_offsets_whatever_the_count(hide, count):
  values = [0, 64, 2**31 - 1, 7, 640]
  hidden = jax.jit(lambda count: getattr(flatten_module, hide)(values, count))(
    jnp.asarray(count, jnp.int32)
  )
  assert [int(x) for x in hidden] == values
  assert all(x.dtype == jnp.int32 and x.shape == () for x in hidden)


@pytest.mark.parametrize("platform", ["cuda", "rocm"])
def test_flatten_hides_offsets_without_control_flow_on_gpu(platform):
  # XLA's GPU runtime blocks the host on a loop's condition every step, so the
  # step lowered for a GPU hides the offsets with sorts instead (on CPU, where
  # a loop is cheaper, the loop stays). The traced step holds both, one
  # branch per platform, and lowering keeps the platform's branch.
  traced = _traced_step_of_equal_leaves()
  (choice,) = [
    e for e in jaxprs.equations(traced.jaxpr) if "branches_platforms" in e.params
  ]
  platforms = choice.params["branches_platforms"]
  branches = [jaxprs.primitives(b) for b in choice.params["branches"]]
  gpu = next(
    b for b, ps in zip(branches, platforms, strict=True) if ps and platform in ps
  )
  cpu = next(b for b, ps in zip(branches, platforms, strict=True) if ps is None)
  assert "while" not in gpu
  assert gpu.count("sort") == 3  # 30 hidden offsets, ten per sort
  assert cpu.count("while") == 1
  assert "sort" not in cpu


def test_flatten_refuses_transformations_that_see_the_leaves():
  # Keras's clipnorm clips each variable: leaf b's update is -0.1 on the plain
  # path; on one concatenated buffer it would be -0.0167. A weight-decay mask
  # on the leaves' shapes would see 1-D buffers and decay nothing. flatten
  # refuses both by name instead of computing something else.
  params = {"a": jnp.zeros(35), "b": jnp.zeros(1)}
  grads = {"a": jnp.full(35, 1.0), "b": jnp.full(1, 1.0)}
  plain = optx.keras.SGD(1.0, clipnorm=1.0)
  updates, _ = plain.update(grads, plain.init(params), params)
  np.testing.assert_allclose(updates["b"], [-1.0], rtol=1e-6)
  np.testing.assert_allclose(updates["a"], np.full(35, -1 / np.sqrt(35)), rtol=1e-6)
  leaf_aware = [
    optx.keras.SGD(1.0, clipnorm=1.0),
    optx.keras.SGD(1.0, global_clipnorm=1.0),
    optx.add_decoupled_weight_decay(
      0.1, 0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)
    ),
    optax.adamw(1e-3, mask=lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)),
    optax.chain(optax.clip_by_global_norm(1.0), optx.adam(1e-3)),
  ]
  for tx in leaf_aware:
    with pytest.raises(
      TypeError, match=r"optx\.flatten\(inner=\.\.\.\) must act on each element"
    ):
      optx.flatten(tx)
  # The same clipping outside flatten, on the parameters' tree, is exact.
  outside = optax.chain(optax.clip_by_global_norm(1.0), optx.flatten(optx.sgd(1.0)))
  inside_out = optax.chain(optax.clip_by_global_norm(1.0), optx.sgd(1.0))
  chex.assert_trees_all_close(
    outside.update(grads, outside.init(params), params)[0],
    inside_out.update(grads, inside_out.init(params), params)[0],
  )


def test_flatten_groups_gradients_by_their_parameters_dtypes():
  # bfloat16 parameters with float32 gradients, which the plain path accepts
  # (it computes in the wider dtype and keeps the state in the parameters').
  params = {"w": jnp.linspace(-1, 1, 6, dtype=jnp.bfloat16), "b": jnp.ones(3)}
  grads = {"w": jnp.linspace(0.5, -0.5, 6, dtype=jnp.float32), "b": jnp.full(3, 0.25)}
  plain_tx, flat_tx = optx.adam(0.1), optx.flatten(optx.adam(0.1))
  plain, _ = plain_tx.update(grads, plain_tx.init(params), params)
  flat_state = flat_tx.init(params)
  flat, flat_state = flat_tx.update(grads, flat_state, params)
  chex.assert_trees_all_close(flat, plain, rtol=1e-6)
  assert jax.tree.map(lambda x: x.dtype, flat) == jax.tree.map(lambda x: x.dtype, grads)
  assert flat_state.inner_state[0].mu["bfloat16"].dtype == jnp.bfloat16
  # Without the parameters flatten cannot tell how the gradients group: a
  # named error, not the inner block's structure mismatch.
  with pytest.raises(ValueError, match=r"optx\.flatten: the gradients group by dtype"):
    flat_tx.update(grads, flat_state)
