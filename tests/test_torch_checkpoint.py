"""optx.torch.load_state_dict, state_dict and scheduler_state_dict against PyTorch.

Each case trains N updates in the real PyTorch (CPU), loads PyTorch's
``optimizer.state_dict()`` (and its scheduler's) into optx, and continues M
updates in both with the same gradients; then exports optx's state into a
fresh PyTorch optimizer (and scheduler) and continues K updates there, next to
the PyTorch run that never stopped. Every parameter of every continued update
is compared: max |optx - torch| / max |torch param| <= 1e-6. Run with ``-s``
to print the worst figure of every case.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optx

N, M, K = 30, 20, 20
STEPS = N + M + K
EPOCH = 10  # updates between two ReduceLROnPlateau measurements
TOLERANCE = 1e-6
SHAPES = {"dense": {"bias": (3,), "kernel": (4, 3)}, "embed": (2, 2, 2), "scale": ()}
LOSSES = [1.0] * (STEPS // EPOCH)  # a plateau from the start: reductions keep coming


def _problem():
  rng = np.random.default_rng(16)
  shapes, treedef = jax.tree.flatten(SHAPES, is_leaf=lambda x: isinstance(x, tuple))
  params = [rng.normal(size=s).astype(np.float32) for s in shapes]
  grads = [
    (0.5 * rng.normal(size=s) + rng.normal(size=(STEPS, *s))).astype(np.float32)
    for s in shapes
  ]
  return treedef, params, grads


TREEDEF, PARAMS, GRADS = _problem()


def _tensors(values):
  return [torch.tensor(np.array(x)) for x in values]


class TorchRun:
  """PyTorch's loop from ``start`` to ``stop``, the scheduler stepped after each
  update and a plateau measured every ``EPOCH`` updates (by the global step)."""

  def __init__(self, case, params):
    self.case = case
    self.params = _tensors(params)
    self.opt = case.make_opt(self.params)
    self.sched = None if case.make_sched is None else case.make_sched(self.opt)

  def run(self, start, stop):
    trajectory = []
    for t in range(start, stop):
      for p, g in zip(self.params, GRADS, strict=True):
        p.grad = torch.tensor(g[t])
      self.opt.step()
      if self.case.plateau:
        if (t + 1) % EPOCH == 0:
          self.sched.step(LOSSES[t // EPOCH])
      elif self.sched is not None:
        self.sched.step()
      trajectory.append([p.detach().numpy().copy() for p in self.params])
    return trajectory

  def checkpoint(self):
    sched = None if self.sched is None else copy.deepcopy(self.sched.state_dict())
    return copy.deepcopy(self.opt.state_dict()), sched


def optx_run(case, tx, params, state, start, stop):
  update = jax.jit(tx.update)
  trajectory = []
  for t in range(start, stop):
    grads = TREEDEF.unflatten([jnp.asarray(g[t]) for g in GRADS])
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
    if case.plateau and (t + 1) % EPOCH == 0:
      state = optx.observe(state, LOSSES[t // EPOCH])
    trajectory.append([np.asarray(x) for x in jax.tree.leaves(params)])
  return trajectory, params, state


def relative_error(ours, theirs):
  diff = max(
    float(np.max(np.abs(a - b)))
    for step_a, step_b in zip(ours, theirs, strict=True)
    for a, b in zip(step_a, step_b, strict=True)
  )
  size = max(float(np.max(np.abs(b))) for step in theirs for b in step)
  return diff / size


class Case:
  def __init__(
    self, name, make_opt, tx, *, make_sched=None, lr=None, plateau=False, count=False
  ):
    self.name, self.make_opt, self.tx = name, make_opt, tx
    self.make_sched, self.lr, self.plateau, self.count = make_sched, lr, plateau, count


def _cases():
  T = torch.optim
  step_lr = optx.torch.StepLR(0.05, step_size=20, gamma=0.5)
  one_cycle = optx.torch.OneCycleLR(0.1, total_steps=STEPS + 10)
  plateau = dict(factor=0.5, patience=1, cooldown=1)
  return [
    Case("SGD", lambda p: T.SGD(p, lr=0.05), lambda: optx.torch.SGD(lr=0.05)),
    Case(
      "SGD momentum",
      lambda p: T.SGD(p, lr=0.05, momentum=0.9),
      lambda: optx.torch.SGD(lr=0.05, momentum=0.9),
    ),
    Case(
      "SGD momentum dampening (count=)",
      lambda p: T.SGD(p, lr=0.05, momentum=0.9, dampening=0.3),
      lambda: optx.torch.SGD(lr=0.05, momentum=0.9, dampening=0.3),
      count=True,
    ),
    Case(
      "SGD Nesterov",
      lambda p: T.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
      lambda: optx.torch.SGD(lr=0.05, momentum=0.9, nesterov=True),
    ),
    Case("Adagrad", lambda p: T.Adagrad(p, lr=0.1), lambda: optx.torch.Adagrad(lr=0.1)),
    Case(
      "Adagrad lr_decay",
      lambda p: T.Adagrad(p, lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1),
      lambda: optx.torch.Adagrad(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1),
    ),
    Case(
      "RMSprop", lambda p: T.RMSprop(p, lr=0.01), lambda: optx.torch.RMSprop(lr=0.01)
    ),
    Case(
      "RMSprop centered",
      lambda p: T.RMSprop(p, lr=0.01, centered=True),
      lambda: optx.torch.RMSprop(lr=0.01, centered=True),
    ),
    Case(
      "RMSprop momentum",
      lambda p: T.RMSprop(p, lr=0.01, momentum=0.8),
      lambda: optx.torch.RMSprop(lr=0.01, momentum=0.8),
    ),
    Case("Adam", lambda p: T.Adam(p, lr=0.01), lambda: optx.torch.Adam(lr=0.01)),
    Case(
      "AMSGrad",
      lambda p: T.Adam(p, lr=0.01, amsgrad=True),
      lambda: optx.torch.Adam(lr=0.01, amsgrad=True),
    ),
    Case(
      "AdamW",
      lambda p: T.AdamW(p, lr=0.01, weight_decay=0.1),
      lambda: optx.torch.AdamW(lr=0.01, weight_decay=0.1),
    ),
    Case("Adamax", lambda p: T.Adamax(p, lr=0.01), lambda: optx.torch.Adamax(lr=0.01)),
    Case("NAdam", lambda p: T.NAdam(p, lr=0.01), lambda: optx.torch.NAdam(lr=0.01)),
    Case(
      "NAdam decoupled_weight_decay",
      lambda p: T.NAdam(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
      lambda: optx.torch.NAdam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    Case("Adadelta", lambda p: T.Adadelta(p), lambda: optx.torch.Adadelta()),
    Case(
      "Adam + StepLR",
      lambda p: T.Adam(p, lr=0.05),
      lambda: optx.torch.Adam(lr=step_lr),
      make_sched=lambda o: T.lr_scheduler.StepLR(o, step_size=20, gamma=0.5),
      lr=step_lr,
    ),
    Case(
      "SGD + OneCycleLR (cycled momentum)",
      lambda p: T.SGD(p, lr=0.1, momentum=0.9),
      lambda: optx.torch.SGD(lr=one_cycle, momentum=0.9),
      make_sched=lambda o: T.lr_scheduler.OneCycleLR(o, 0.1, total_steps=STEPS + 10),
      lr=one_cycle,
    ),
    Case(
      "SGD momentum + ReduceLROnPlateau",
      lambda p: T.SGD(p, lr=0.05, momentum=0.9),
      lambda: optx.torch.SGD(
        lr=0.05, momentum=0.9, plateau=optx.torch.ReduceLROnPlateau(**plateau)
      ),
      make_sched=lambda o: T.lr_scheduler.ReduceLROnPlateau(o, **plateau),
      plateau=True,
    ),
    Case(
      "AdamW + ReduceLROnPlateau (min_lr)",
      lambda p: T.AdamW(p, lr=0.01),
      lambda: optx.torch.AdamW(
        lr=0.01, plateau=optx.torch.ReduceLROnPlateau(**plateau, min_lr=0.006)
      ),
      make_sched=lambda o: T.lr_scheduler.ReduceLROnPlateau(o, **plateau, min_lr=0.006),
      plateau=True,
    ),
  ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_pytorch_run_continues_in_optx_and_back(case):
  reference = TorchRun(case, PARAMS)
  reference.run(0, N)
  saved, saved_sched = reference.checkpoint()
  at_n = [p.detach().numpy().copy() for p in reference.params]
  theirs = reference.run(N, STEPS)

  tx = case.tx()
  params = TREEDEF.unflatten([jnp.asarray(x) for x in at_n])
  state = optx.torch.load_state_dict(
    tx, saved, params, scheduler=saved_sched, count=N if case.count else None
  )
  ours, params, state = optx_run(case, tx, params, state, N, N + M)
  loaded = relative_error(ours, theirs[:M])

  resumed = TorchRun(case, jax.tree.leaves(params))
  if resumed.sched is not None:  # PyTorch's order: the scheduler, then the optimizer
    resumed.sched.load_state_dict(
      optx.torch.scheduler_state_dict(state, resumed.sched.state_dict(), lr=case.lr)
    )
  resumed.opt.load_state_dict(
    optx.torch.state_dict(
      state, resumed.opt.state_dict(), lr=case.lr, count=N + M if case.count else None
    )
  )
  exported = relative_error(resumed.run(N + M, STEPS), theirs[M:])
  print(
    f"\n[torch checkpoint] {case.name}: loaded {loaded:.2e}, exported {exported:.2e}"
  )
  assert loaded <= TOLERANCE and exported <= TOLERANCE, (loaded, exported)
  travel = max(
    float(np.max(np.abs(a - b))) for a, b in zip(theirs[-1], at_n, strict=True)
  )
  assert travel > 0.05, f"the parameters barely moved ({travel})"
  if case.plateau:  # PyTorch had lowered the rate by the checkpoint
    assert (
      saved["param_groups"][0]["lr"] < TorchRun(case, PARAMS).opt.param_groups[0]["lr"]
    )


def test_the_plateau_counters_cross_both_ways():
  # After N updates PyTorch has reduced once and is in cooldown; after N + M it
  # has counted a bad epoch: both counters, the best and the lowered rate travel.
  case = CASES[-2]
  reference = TorchRun(case, PARAMS)
  reference.run(0, N)
  saved, saved_sched = reference.checkpoint()
  assert (saved_sched["cooldown_counter"], saved_sched["num_bad_epochs"]) == (1, 0)
  tx = case.tx()
  params = TREEDEF.unflatten(
    [jnp.asarray(p.detach().numpy()) for p in reference.params]
  )
  state = optx.torch.load_state_dict(tx, saved, params, scheduler=saved_sched)
  assert float(optx.plateau_scale(state)) == 0.5
  assert int(state.plateau.cooldown_counter) == 1 and float(state.plateau.best) == 1.0
  _, params, state = optx_run(case, tx, params, state, N, N + M)
  reference.run(N, N + M)
  fresh = TorchRun(case, PARAMS)
  exported = optx.torch.scheduler_state_dict(state, fresh.sched.state_dict())
  theirs = reference.sched.state_dict()
  for key in ("best", "num_bad_epochs", "cooldown_counter", "_last_lr"):
    assert exported[key] == theirs[key], key
  assert theirs["num_bad_epochs"] == 1
  with pytest.raises(
    ValueError, match=r"scheduler_state_dict\(lr=\.\.\.\) must be a number"
  ):
    optx.torch.scheduler_state_dict(state, fresh.sched.state_dict(), lr=lambda t: 0.05)


def test_a_file_is_read_with_weights_only(tmp_path):
  case = CASES[9]  # Adam
  run = TorchRun(case, PARAMS)
  run.run(0, N)
  path = tmp_path / "optimizer.pt"
  torch.save(run.opt.state_dict(), path)
  tx = case.tx()
  params = TREEDEF.unflatten([jnp.asarray(x) for x in PARAMS])
  from_file = optx.torch.load_state_dict(tx, path, params)
  from_dict = optx.torch.load_state_dict(tx, run.opt.state_dict(), params)
  jax.tree.map(np.testing.assert_array_equal, from_file, from_dict)
  assert int(from_file.count) == N


class _Payload:
  ran = False

  def __reduce__(self):
    return (_mark, ())


def _mark():
  _Payload.ran = True
  return {}


def test_a_file_is_never_unpickled_into_code(tmp_path):
  path = tmp_path / "evil.pt"
  with open(path, "wb") as f:
    pickle.dump({"state": _Payload(), "param_groups": []}, f, protocol=2)
  with pytest.raises(
    ValueError, match=r"optx\.torch\.load_state_dict\(state_dict=\.\.\.\).*weights_only"
  ):
    optx.torch.load_state_dict(optx.torch.Adam(), path, jnp.zeros(2))
  assert not _Payload.ran


def test_loading_does_not_import_pytorch():
  code = (
    "import sys, numpy as np, jax.numpy as jnp, optx\n"
    "group = dict(lr=0.1, momentum=0.9, dampening=0, nesterov=False, params=[0])\n"
    "saved = {'state': {0: {'momentum_buffer': np.ones(2, np.float32)}},"
    " 'param_groups': [group]}\n"
    "optx.torch.load_state_dict(optx.torch.SGD(lr=0.1, momentum=0.9), saved, jnp.zeros(2))\n"
    "assert 'torch' not in sys.modules\n"
  )
  subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------
# Parameter order.


def _named_run(opt_class, **kwargs):
  """A Linear(3, 2) trained 5 updates, its optimizer built from named_parameters()."""
  torch.manual_seed(0)
  model = torch.nn.Linear(3, 2)
  opt = opt_class(model.named_parameters(), **kwargs)
  for _ in range(5):
    opt.zero_grad()
    (model(torch.ones(4, 3)) ** 2).sum().backward()
    opt.step()
  return model, opt


def test_order_by_position_or_name_and_a_transposed_kernel():
  model, opt = _named_run(torch.optim.Adam, lr=0.01)
  # JAX's leaves come sorted by key: bias first, then the kernel.
  params = {
    "bias": jnp.asarray(model.bias.detach().numpy()),
    "kernel": jnp.asarray(model.weight.detach().numpy()),
  }
  tx = optx.torch.Adam(lr=0.01)
  with pytest.raises(
    ValueError,
    match=r"PyTorch parameter 0 \('weight'\)'s 'exp_avg' has shape \(2, 3\), and the params leaf \['bias'\] \(2,\)",
  ):
    optx.torch.load_state_dict(tx, opt.state_dict(), params)
  by_position = optx.torch.load_state_dict(tx, opt.state_dict(), params, order=[1, 0])
  by_name = optx.torch.load_state_dict(
    tx, opt.state_dict(), params, order={"bias": "bias", "kernel": "weight"}
  )
  jax.tree.map(np.testing.assert_array_equal, by_position, by_name)
  np.testing.assert_array_equal(
    by_name.exp_avg["kernel"], opt.state[model.weight]["exp_avg"].numpy()
  )
  flax_like = {"bias": params["bias"], "kernel": params["kernel"].T}
  with pytest.raises(ValueError, match=r"its transpose has the leaf's shape"):
    optx.torch.load_state_dict(tx, opt.state_dict(), flax_like, order=[1, 0])
  # And back: the buffers land on the named parameters.
  fresh = torch.optim.Adam(model.named_parameters(), lr=0.01)
  fresh.load_state_dict(
    optx.torch.state_dict(by_name, fresh.state_dict(), order=["bias", "weight"])
  )
  for p in model.parameters():
    for key in ("exp_avg", "exp_avg_sq"):
      torch.testing.assert_close(fresh.state[p][key], opt.state[p][key], rtol=0, atol=0)
    assert float(fresh.state[p]["step"]) == 5


# ----------------------------------------------------------------------------
# Errors, named.


def _adam_dict():
  _, opt = _named_run(torch.optim.Adam, lr=0.01)
  return opt.state_dict()


LINEAR = {"bias": jnp.zeros(2), "kernel": jnp.zeros((2, 3))}


@pytest.mark.parametrize(
  "torch_opt, tx, match",
  [
    (
      torch.optim.Adam,
      optx.torch.SGD(lr=0.1, momentum=0.9),
      r"Adam, and the optx state is an optx\.torch\.SGD's",
    ),
    (
      torch.optim.SGD,
      optx.torch.Adam(),
      r"SGD, and the optx state is an optx\.torch\.Adam's",
    ),
    (
      torch.optim.AdamW,
      optx.torch.RMSprop(),
      r"AdamW, and the optx state is an optx\.torch\.RMSprop's",
    ),
    (
      torch.optim.Adadelta,
      optx.torch.NAdam(),
      r"Adadelta, and the optx state is an optx\.torch\.NAdam's",
    ),
    (
      torch.optim.Adamax,
      optx.torch.Adam(),
      r"Adamax, and the optx state is an optx\.torch\.Adam's",
    ),
  ],
)
def test_another_optimizer_class_is_refused(torch_opt, tx, match):
  _, opt = _named_run(torch_opt, lr=0.01)
  prefix = r"optx\.torch\.load_state_dict: state_dict is the state of a PyTorch "
  with pytest.raises(ValueError, match=prefix + match):
    optx.torch.load_state_dict(tx, opt.state_dict(), LINEAR, order=[1, 0])


@pytest.mark.parametrize(
  "torch_opt, kwargs, tx, match",
  [
    (
      torch.optim.SGD,
      dict(momentum=0.9),
      optx.torch.SGD(lr=0.01),
      r"momentum=0\.9, which keeps a 'momentum_buffer' buffer, and the optx state has none",
    ),
    (
      torch.optim.SGD,
      {},
      optx.torch.SGD(lr=0.01, momentum=0.9),
      r"momentum=0, which keeps no 'momentum_buffer' buffer, and the optx state has one",
    ),
    (
      torch.optim.RMSprop,
      dict(centered=True),
      optx.torch.RMSprop(),
      r"centered=True, which keeps a 'grad_avg'",
    ),
    (
      torch.optim.RMSprop,
      dict(momentum=0.5),
      optx.torch.RMSprop(centered=True),
      r"centered=False, which keeps no 'grad_avg'",
    ),
    (
      torch.optim.Adam,
      dict(amsgrad=True),
      optx.torch.Adam(),
      r"amsgrad=True, which keeps a 'max_exp_avg_sq'",
    ),
    (torch.optim.AdamW, {}, optx.torch.AdamW(amsgrad=True), r"AdamW has amsgrad=False"),
  ],
)
def test_options_that_change_the_buffers_must_match(torch_opt, kwargs, tx, match):
  _, opt = _named_run(torch_opt, lr=0.01, **kwargs)
  with pytest.raises(ValueError, match=match):
    optx.torch.load_state_dict(tx, opt.state_dict(), LINEAR, order=[1, 0])
  state = tx.init(LINEAR)
  with pytest.raises(ValueError, match=r"optx\.torch\.state_dict: .*" + match):
    optx.torch.state_dict(state, opt.state_dict(), order=[1, 0])


def test_errors_name_the_parameter_and_the_leaf():
  saved = _adam_dict()
  tx = optx.torch.Adam(lr=0.01)
  with pytest.raises(
    ValueError, match=r"params has 3 leaves and the PyTorch optimizer 2 parameters"
  ):
    optx.torch.load_state_dict(tx, saved, {**LINEAR, "extra": jnp.zeros(1)})
  with pytest.raises(
    ValueError,
    match=r"'exp_avg' has shape \(2, 3\), and the params leaf \['kernel'\] \(3, 2\)",
  ):
    optx.torch.load_state_dict(
      tx, saved, {"bias": jnp.zeros(2), "kernel": jnp.zeros((3, 2))}, order=[1, 0]
    )
  with pytest.raises(
    ValueError,
    match=r"order=\.\.\.\) must name each PyTorch parameter once; the positions \[1\]",
  ):
    optx.torch.load_state_dict(tx, saved, LINEAR, order=[1, 1])
  with pytest.raises(
    ValueError,
    match=r"order=\.\.\.\) must give one PyTorch parameter per leaf of params \(2\), got 1",
  ):
    optx.torch.load_state_dict(tx, saved, LINEAR, order=[1])
  with pytest.raises(
    ValueError,
    match=r"order=\.\.\.\) names 'fc\.weight' for the leaf \['kernel'\], and its names are \['weight', 'bias'\]",
  ):
    optx.torch.load_state_dict(tx, saved, LINEAR, order=["bias", "fc.weight"])
  with pytest.raises(ValueError, match=r"must hold positions in \[0, 2\), got 2"):
    optx.torch.load_state_dict(tx, saved, LINEAR, order=[2, 0])
  with pytest.raises(TypeError, match=r"order=\.\.\.\) must hold ints .* got 1\.0"):
    optx.torch.load_state_dict(tx, saved, LINEAR, order=[1.0, 0])


def test_a_parameter_that_never_had_a_gradient():
  model = torch.nn.Linear(3, 2)
  opt = torch.optim.Adam(model.parameters(), lr=0.01)
  for _ in range(3):
    opt.zero_grad()
    model(torch.ones(3)).sum().backward()
    model.bias.grad = None  # the bias gets no gradient: PyTorch keeps no state for it
    opt.step()
  tx = optx.torch.Adam(lr=0.01)
  with pytest.raises(
    ValueError,
    match=r"the step counts disagree \(PyTorch parameter 0's step: 3; PyTorch parameter 1 \(no state yet\): 0\)",
  ):
    optx.torch.load_state_dict(tx, opt.state_dict(), [jnp.zeros((2, 3)), jnp.zeros(2)])
  # Without a count the fresh parameter is just fresh: RMSprop keeps none.
  rms = torch.optim.RMSprop(model.parameters(), lr=0.01)
  opt.zero_grad()
  model(torch.ones(3)).sum().backward()
  model.bias.grad = None
  rms.step()
  state = optx.torch.load_state_dict(
    optx.torch.RMSprop(lr=0.01), rms.state_dict(), [jnp.zeros((2, 3)), jnp.zeros(2)]
  )
  np.testing.assert_array_equal(state.square_avg[1], np.zeros(2, np.float32))
  assert float(np.max(state.square_avg[0])) > 0


def test_counts_must_agree_and_exist():
  saved = _adam_dict()
  tx = optx.torch.Adam(lr=0.01)
  with pytest.raises(
    ValueError, match=r"the step counts disagree \(.*step: 5.*count=: 7\)"
  ):
    optx.torch.load_state_dict(tx, saved, LINEAR, order=[1, 0], count=7)
  with pytest.raises(
    ValueError, match=r"the step counts disagree .* the scheduler's last_epoch: 4"
  ):
    optx.torch.load_state_dict(
      tx, saved, LINEAR, order=[1, 0], scheduler={"last_epoch": 4}
    )
  with pytest.raises(TypeError, match=r"count=\.\.\.\) must be an int, got 5\.0"):
    optx.torch.load_state_dict(tx, saved, LINEAR, order=[1, 0], count=5.0)
  _, sgd = _named_run(torch.optim.SGD, lr=0.01, momentum=0.9, dampening=0.5)
  damped = optx.torch.SGD(lr=0.01, momentum=0.9, dampening=0.5)
  with pytest.raises(
    ValueError,
    match=r"PyTorch's state_dict has none \(SGD keeps no step\): pass scheduler= .* or count=",
  ):
    optx.torch.load_state_dict(damped, sgd.state_dict(), LINEAR, order=[1, 0])
  with pytest.raises(
    ValueError, match=r"an LRScheduler's state, and the optx state keeps no step count"
  ):
    optx.torch.load_state_dict(
      optx.torch.SGD(lr=0.01, momentum=0.9),
      sgd.state_dict(),
      LINEAR,
      order=[1, 0],
      scheduler={"last_epoch": 5},
    )


def test_plateau_errors():
  case = CASES[-2]
  run = TorchRun(case, PARAMS)
  run.run(0, N)
  saved, saved_sched = run.checkpoint()
  params = TREEDEF.unflatten([jnp.asarray(x) for x in PARAMS])
  with pytest.raises(
    ValueError, match=r"the optx optimizer has a plateau; pass scheduler="
  ):
    optx.torch.load_state_dict(case.tx(), saved, params)
  with pytest.raises(
    ValueError,
    match=r"a ReduceLROnPlateau's state, and the optx optimizer has no plateau",
  ):
    optx.torch.load_state_dict(
      optx.torch.SGD(lr=0.05, momentum=0.9), saved, params, scheduler=saved_sched
    )
  other = optx.torch.SGD(
    lr=0.05,
    momentum=0.9,
    plateau=optx.torch.ReduceLROnPlateau(factor=0.5, patience=3, cooldown=1),
  )
  with pytest.raises(
    ValueError,
    match=r"the PyTorch ReduceLROnPlateau has patience=1, the optx plateau 3",
  ):
    optx.torch.load_state_dict(other, saved, params, scheduler=saved_sched)
  with pytest.raises(
    ValueError,
    match=r"PyTorch's current lr is 0\.025, which is no whole number of ReduceLROnPlateau reductions of 0\.03",
  ):
    optx.torch.load_state_dict(case.tx(), saved, params, scheduler=saved_sched, lr=0.03)
  keras_rule = optx.torch.SGD(lr=0.05, momentum=0.9, plateau=optx.reduce_on_plateau())
  with pytest.raises(ValueError, match=r"the optx plateau follows Keras's rule"):
    optx.torch.load_state_dict(keras_rule, saved, params, scheduler=saved_sched)


def test_export_errors():
  tx = optx.torch.SGD(lr=optx.torch.StepLR(0.1, 3), momentum=0.9)
  state = tx.init(LINEAR)
  model = torch.nn.Linear(3, 2)
  opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
  sched = torch.optim.lr_scheduler.StepLR(opt, 3)
  with pytest.raises(
    ValueError, match=r"optx\.torch\.state_dict: a scheduler sets the rate .* pass lr="
  ):
    optx.torch.state_dict(state, opt.state_dict(), order=[1, 0])
  with pytest.raises(
    ValueError, match=r"optx\.torch\.scheduler_state_dict\(lr=\.\.\.\) is needed"
  ):
    optx.torch.scheduler_state_dict(state, sched.state_dict())
  plain = optx.torch.SGD(lr=0.1, momentum=0.9).init(LINEAR)
  with pytest.raises(ValueError, match=r"keeps no step count \(its lr is a number\)"):
    optx.torch.scheduler_state_dict(plain, sched.state_dict(), lr=0.1)
  plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
  with pytest.raises(
    ValueError,
    match=r"is a ReduceLROnPlateau's state, and the optx state has no plateau",
  ):
    optx.torch.scheduler_state_dict(plain, plateau.state_dict())
  chained = torch.optim.lr_scheduler.SequentialLR(
    opt,
    [torch.optim.lr_scheduler.StepLR(opt, 3), torch.optim.lr_scheduler.StepLR(opt, 2)],
    milestones=[4],
  )
  with pytest.raises(
    ValueError, match=r"SequentialLR or ChainedScheduler.*: not supported"
  ):
    optx.torch.scheduler_state_dict(
      state, chained.state_dict(), lr=optx.torch.StepLR(0.1, 3)
    )
  with pytest.raises(ValueError, match=r"count=5\) differs from the state's count 0"):
    optx.torch.state_dict(
      state, opt.state_dict(), lr=optx.torch.StepLR(0.1, 3), count=5, order=[1, 0]
    )


@pytest.mark.parametrize(
  "call, args, error, match",
  [
    (
      "load_state_dict",
      lambda tx: (tx, [1, 2], LINEAR),
      TypeError,
      r"load_state_dict\(state_dict=\.\.\.\) must be a PyTorch optimizer's state_dict\(\) .* got list",
    ),
    (
      "load_state_dict",
      lambda tx: (tx, {"model": {}, "optimizer": {}}, LINEAR),
      TypeError,
      r"load_state_dict\(state_dict=\.\.\.\) must be .* got a dict with keys \['model', 'optimizer'\]",
    ),
    (
      "load_state_dict",
      lambda tx: (optax.sgd(0.1), _adam_dict(), LINEAR),
      TypeError,
      r"load_state_dict\(tx=\.\.\.\) must be an optx\.torch optimizer",
    ),
    (
      "state_dict",
      lambda tx: (optax.adam(0.1).init(LINEAR), _adam_dict()),
      TypeError,
      r"state_dict\(state=\.\.\.\) must be an optx\.torch optimizer",
    ),
    (
      "state_dict",
      lambda tx: (tx.init(LINEAR), {"state": {}}),
      TypeError,
      r"state_dict\(template=\.\.\.\) must be a PyTorch optimizer's state_dict\(\)",
    ),
    (
      "scheduler_state_dict",
      lambda tx: (tx.init(LINEAR), {"gamma": 0.1}),
      TypeError,
      r"scheduler_state_dict\(template=\.\.\.\) must be a PyTorch scheduler's state_dict\(\)",
    ),
  ],
)
def test_bad_arguments_are_named(call, args, error, match):
  tx = optx.torch.Adam(lr=0.01)
  with pytest.raises(error, match=r"optx\.torch\." + match):
    getattr(optx.torch, call)(*args(tx))


def test_warm_restarts_cycle_position_is_torchs():
  # The cycle position CosineAnnealingWarmRestarts keeps, computed for the count.
  tx = optx.torch.Adam(lr=0.1)
  params = jnp.zeros(2)
  state = tx.init(params)
  for _ in range(23):
    _, state = tx.update(jnp.ones(2), state)
  opt = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=0.1)
  sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2)
  template = copy.deepcopy(sched.state_dict())
  for _ in range(23):
    opt.step()
    sched.step()
  exported = optx.torch.scheduler_state_dict(state, template, lr=lambda t: 0.1)
  assert (exported["T_cur"], exported["T_i"], exported["last_epoch"]) == (
    sched.T_cur,
    sched.T_i,
    sched.last_epoch,
  )


def test_an_adam_state_is_not_read_as_adamax():
  # Adamax's param_groups keys are all Adam's too: its missing buffer names it.
  _, opt = _named_run(torch.optim.Adam, lr=0.01)
  with pytest.raises(ValueError, match=r"has no 'exp_inf'"):
    optx.torch.load_state_dict(
      optx.torch.Adamax(), opt.state_dict(), LINEAR, order=[1, 0]
    )
