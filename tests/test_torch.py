"""optx.torch against the real PyTorch (CPU), trajectory for trajectory.

Both sides get the same gradients: PyTorch's ``p.grad`` is set by hand, then
``opt.step()`` and ``sched.step()`` (or ``sched.step(loss)`` once per epoch
for ReduceLROnPlateau), while optx runs the same sequence under ``lax.scan``
with ``optx.observe`` at the end of each epoch. Every parameter of every
update of 1000 is compared: max |optx - torch| / max |torch| <= 1e-6 in
float32 (the largest, RMSprop centered with momentum and decay, is 4.4e-7).
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optx

STEPS = 1000
STEPS_PER_EPOCH = 10
TOLERANCE = 1e-6
SHAPES = {"dense": {"bias": (3,), "kernel": (4, 3)}, "embed": (2, 2, 2), "scale": ()}


def _problem(seed: int = 0):
  """Initial parameters and a fixed gradient sequence (a drift plus noise) per leaf."""
  rng = np.random.default_rng(seed)
  shapes, treedef = jax.tree.flatten(SHAPES, is_leaf=lambda x: isinstance(x, tuple))
  params = [rng.normal(size=s).astype(np.float32) for s in shapes]
  grads = [
    (rng.normal(size=s) + 0.5 * rng.normal(size=(STEPS, *s))).astype(np.float32)
    for s in shapes
  ]
  return treedef, params, grads


TREEDEF, PARAMS, GRADS = _problem()


def _run_torch(make_opt, make_sched, make_plateau=None, losses=None):
  """PyTorch's loop; returns per-leaf trajectories (STEPS, *shape) and the lrs used.

  ``make_sched(opt)`` is stepped after every update, ``make_plateau(opt)``
  with the epoch's loss after every ``STEPS_PER_EPOCH`` updates.
  """
  ps = [torch.tensor(p) for p in PARAMS]
  opt = make_opt(ps)
  sched = None if make_sched is None else make_sched(opt)
  plateau = None if make_plateau is None else make_plateau(opt)
  trajectory = [[] for _ in ps]
  lrs = []
  for t in range(STEPS):
    for p, g in zip(ps, GRADS, strict=True):
      p.grad = torch.tensor(g[t])
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    if sched is not None:
      sched.step()
    if plateau is not None and (t + 1) % STEPS_PER_EPOCH == 0:
      plateau.step(float(losses[t // STEPS_PER_EPOCH]))
    for leaf, p in zip(trajectory, ps, strict=True):
      leaf.append(p.detach().numpy().copy())
  return [np.stack(leaf) for leaf in trajectory], np.asarray(lrs)


def _run_optx(tx, losses):
  """The same loop in optx, jitted with lax.scan; returns per-leaf trajectories."""
  params = TREEDEF.unflatten([jnp.asarray(p) for p in PARAMS])
  grads = TREEDEF.unflatten([jnp.asarray(g) for g in GRADS])
  epoch_losses = None if losses is None else jnp.asarray(losses, jnp.float32)

  def step(carry, xs):
    params, state = carry
    g, t = xs
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
    if epoch_losses is not None:
      observed = optx.observe(state, epoch_losses[t // STEPS_PER_EPOCH])
      epoch_end = (t + 1) % STEPS_PER_EPOCH == 0
      state = jax.tree.map(lambda a, b: jnp.where(epoch_end, a, b), observed, state)
    return (params, state), params

  @jax.jit
  def run(params, grads):
    xs = (grads, jnp.arange(STEPS, dtype=jnp.int32))
    return jax.lax.scan(step, (params, tx.init(params)), xs)[1]

  return [np.asarray(leaf) for leaf in jax.tree.leaves(run(params, grads))]


def _relative_error(ours, theirs):
  diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs, strict=True))
  scale = max(float(np.max(np.abs(b))) for b in theirs)
  return diff / scale


T = torch.optim
S = torch.optim.lr_scheduler
X = optx.torch

# (id, torch optimizer factory, torch scheduler factory or None, optx optimizer)
OPTIMIZER_CASES = [
  ("sgd", lambda p: T.SGD(p, lr=0.05), None, lambda: X.SGD(lr=0.05)),
  ("sgd-default-lr", lambda p: T.SGD(p), None, lambda: X.SGD()),
  (
    "sgd-momentum",
    lambda p: T.SGD(p, lr=0.02, momentum=0.9),
    None,
    lambda: X.SGD(lr=0.02, momentum=0.9),
  ),
  (
    "sgd-dampening",
    lambda p: T.SGD(p, lr=0.02, momentum=0.9, dampening=0.5),
    None,
    lambda: X.SGD(lr=0.02, momentum=0.9, dampening=0.5),
  ),
  (
    "sgd-nesterov",
    lambda p: T.SGD(p, lr=0.02, momentum=0.9, nesterov=True),
    None,
    lambda: X.SGD(lr=0.02, momentum=0.9, nesterov=True),
  ),
  (
    "sgd-weight-decay",
    lambda p: T.SGD(p, lr=0.02, momentum=0.8, weight_decay=0.1),
    None,
    lambda: X.SGD(lr=0.02, momentum=0.8, weight_decay=0.1),
  ),
  (
    "sgd-maximize",
    lambda p: T.SGD(p, lr=0.02, momentum=0.9, weight_decay=0.1, maximize=True),
    None,
    lambda: X.SGD(lr=0.02, momentum=0.9, weight_decay=0.1, maximize=True),
  ),
  ("adagrad", lambda p: T.Adagrad(p), None, lambda: X.Adagrad()),
  (
    "adagrad-options",
    lambda p: T.Adagrad(
      p,
      lr=0.1,
      lr_decay=0.01,
      weight_decay=0.05,
      initial_accumulator_value=0.1,
      eps=1e-6,
    ),
    None,
    lambda: X.Adagrad(
      lr=0.1,
      lr_decay=0.01,
      weight_decay=0.05,
      initial_accumulator_value=0.1,
      eps=1e-6,
    ),
  ),
  (
    "adagrad-maximize",
    lambda p: T.Adagrad(p, lr=0.05, maximize=True),
    None,
    lambda: X.Adagrad(lr=0.05, maximize=True),
  ),
  ("rmsprop", lambda p: T.RMSprop(p), None, lambda: X.RMSprop()),
  (
    "rmsprop-centered",
    lambda p: T.RMSprop(p, lr=0.005, centered=True),
    None,
    lambda: X.RMSprop(lr=0.005, centered=True),
  ),
  (
    "rmsprop-momentum",
    lambda p: T.RMSprop(p, lr=0.002, alpha=0.9, momentum=0.9),
    None,
    lambda: X.RMSprop(lr=0.002, alpha=0.9, momentum=0.9),
  ),
  (
    "rmsprop-centered-momentum-decay",
    lambda p: T.RMSprop(
      p, lr=0.002, momentum=0.5, centered=True, weight_decay=0.1, eps=1e-6
    ),
    None,
    lambda: X.RMSprop(
      lr=0.002, momentum=0.5, centered=True, weight_decay=0.1, eps=1e-6
    ),
  ),
  (
    "rmsprop-maximize",
    lambda p: T.RMSprop(p, lr=0.002, momentum=0.5, weight_decay=0.1, maximize=True),
    None,
    lambda: X.RMSprop(lr=0.002, momentum=0.5, weight_decay=0.1, maximize=True),
  ),
  ("adam", lambda p: T.Adam(p, lr=0.01), None, lambda: X.Adam(lr=0.01)),
  (
    "adam-options",
    lambda p: T.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    None,
    lambda: X.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
  ),
  (
    "adam-amsgrad",
    lambda p: T.Adam(p, lr=0.01, amsgrad=True),
    None,
    lambda: X.Adam(lr=0.01, amsgrad=True),
  ),
  (
    "adam-weight-decay",
    lambda p: T.Adam(p, lr=0.01, weight_decay=0.1),
    None,
    lambda: X.Adam(lr=0.01, weight_decay=0.1),
  ),
  (
    "adam-decoupled",
    lambda p: T.Adam(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    None,
    lambda: X.Adam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
  ),
  (
    "adam-maximize",
    lambda p: T.Adam(p, lr=0.01, weight_decay=0.1, maximize=True),
    None,
    lambda: X.Adam(lr=0.01, weight_decay=0.1, maximize=True),
  ),
  ("adamw", lambda p: T.AdamW(p, lr=0.01), None, lambda: X.AdamW(lr=0.01)),
  (
    "adamw-amsgrad",
    lambda p: T.AdamW(p, lr=0.01, weight_decay=0.2, amsgrad=True),
    None,
    lambda: X.AdamW(lr=0.01, weight_decay=0.2, amsgrad=True),
  ),
  ("adamax", lambda p: T.Adamax(p, lr=0.01), None, lambda: X.Adamax(lr=0.01)),
  (
    "adamax-options",
    lambda p: T.Adamax(p, lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
    None,
    lambda: X.Adamax(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
  ),
  (
    "adamax-maximize",
    lambda p: T.Adamax(p, lr=0.01, maximize=True),
    None,
    lambda: X.Adamax(lr=0.01, maximize=True),
  ),
  ("nadam", lambda p: T.NAdam(p, lr=0.01), None, lambda: X.NAdam(lr=0.01)),
  (
    "nadam-options",
    lambda p: T.NAdam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, momentum_decay=0.1),
    None,
    lambda: X.NAdam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, momentum_decay=0.1),
  ),
  (
    "nadam-weight-decay",
    lambda p: T.NAdam(p, lr=0.01, weight_decay=0.1),
    None,
    lambda: X.NAdam(lr=0.01, weight_decay=0.1),
  ),
  (
    "nadam-decoupled",
    lambda p: T.NAdam(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    None,
    lambda: X.NAdam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
  ),
  (
    "nadam-maximize",
    lambda p: T.NAdam(p, lr=0.01, maximize=True),
    None,
    lambda: X.NAdam(lr=0.01, maximize=True),
  ),
  ("adadelta", lambda p: T.Adadelta(p), None, lambda: X.Adadelta()),
  (
    "adadelta-options",
    lambda p: T.Adadelta(p, lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1),
    None,
    lambda: X.Adadelta(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1),
  ),
  (
    "adadelta-maximize",
    lambda p: T.Adadelta(p, maximize=True),
    None,
    lambda: X.Adadelta(maximize=True),
  ),
]

SCHEDULER_CASES = [
  (
    "exponential-sgd-momentum",
    lambda p: T.SGD(p, lr=0.05, momentum=0.9),
    lambda o: S.ExponentialLR(o, gamma=0.99),
    lambda: X.SGD(lr=X.ExponentialLR(0.05, gamma=0.99), momentum=0.9),
  ),
  (
    "exponential-adagrad-lr-decay",
    lambda p: T.Adagrad(p, lr=0.1, lr_decay=0.02),
    lambda o: S.ExponentialLR(o, gamma=0.995),
    lambda: X.Adagrad(lr=X.ExponentialLR(0.1, gamma=0.995), lr_decay=0.02),
  ),
  (
    "step-adam",
    lambda p: T.Adam(p, lr=0.02),
    lambda o: S.StepLR(o, step_size=60, gamma=0.5),
    lambda: X.Adam(lr=X.StepLR(0.02, step_size=60, gamma=0.5)),
  ),
  (
    "multistep-sgd-nesterov",
    lambda p: T.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda o: S.MultiStepLR(o, milestones=[50, 120, 120, 200], gamma=0.5),
    lambda: X.SGD(
      lr=X.MultiStepLR(0.05, milestones=[200, 120, 50, 120], gamma=0.5),
      momentum=0.9,
      nesterov=True,
    ),
  ),
  (
    "lambda-rmsprop",
    lambda p: T.RMSprop(p, lr=0.01, momentum=0.5),
    lambda o: S.LambdaLR(o, lambda t: 1 / (1 + 0.02 * t)),
    # optx calls lr_lambda with an int32 array (strict promotion: cast it).
    lambda: X.RMSprop(
      lr=X.LambdaLR(0.01, lambda t: 1 / (1 + 0.02 * t.astype(jnp.float32))),
      momentum=0.5,
    ),
  ),
  (
    "onecycle-cos-sgd",
    lambda p: T.SGD(p, lr=0.1),
    lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=STEPS),
    lambda: X.SGD(lr=X.OneCycleLR(0.05, total_steps=STEPS)),
  ),
  (
    "onecycle-linear-sgd-weight-decay",
    lambda p: T.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.05),
    lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=STEPS, anneal_strategy="linear"),
    lambda: X.SGD(
      lr=X.OneCycleLR(0.05, total_steps=STEPS, anneal_strategy="linear"),
      momentum=0.9,
      weight_decay=0.05,
    ),
  ),
  (
    "onecycle-three-phase-sgd-nesterov",
    lambda p: T.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda o: S.OneCycleLR(
      o, max_lr=0.05, total_steps=STEPS, pct_start=0.25, three_phase=True
    ),
    lambda: X.SGD(
      lr=X.OneCycleLR(0.05, total_steps=STEPS, pct_start=0.25, three_phase=True),
      momentum=0.9,
      nesterov=True,
    ),
  ),
  (
    "onecycle-cos-adam",
    lambda p: T.Adam(p),
    lambda o: S.OneCycleLR(o, max_lr=0.02, total_steps=STEPS),
    lambda: X.Adam(lr=X.OneCycleLR(0.02, total_steps=STEPS)),
  ),
  (
    "onecycle-linear-adam",
    lambda p: T.Adam(p, betas=(0.9, 0.99)),
    lambda o: S.OneCycleLR(
      o,
      max_lr=0.02,
      epochs=STEPS // STEPS_PER_EPOCH,
      steps_per_epoch=STEPS_PER_EPOCH,
      anneal_strategy="linear",
      base_momentum=0.8,
      max_momentum=0.9,
    ),
    lambda: X.Adam(
      lr=X.OneCycleLR(
        0.02,
        epochs=STEPS // STEPS_PER_EPOCH,
        steps_per_epoch=STEPS_PER_EPOCH,
        anneal_strategy="linear",
        base_momentum=0.8,
        max_momentum=0.9,
      ),
      betas=(0.9, 0.99),
    ),
  ),
  (
    "onecycle-three-phase-adamw-amsgrad",
    lambda p: T.AdamW(p, weight_decay=0.1, amsgrad=True),
    lambda o: S.OneCycleLR(
      o, max_lr=0.02, total_steps=STEPS, three_phase=True, div_factor=10.0
    ),
    lambda: X.AdamW(
      lr=X.OneCycleLR(0.02, total_steps=STEPS, three_phase=True, div_factor=10.0),
      weight_decay=0.1,
      amsgrad=True,
    ),
  ),
  (
    "onecycle-rmsprop",
    lambda p: T.RMSprop(p),
    lambda o: S.OneCycleLR(o, max_lr=0.005, total_steps=STEPS),
    lambda: X.RMSprop(lr=X.OneCycleLR(0.005, total_steps=STEPS)),
  ),
  (
    "onecycle-no-momentum-adagrad",
    lambda p: T.Adagrad(p),
    lambda o: S.OneCycleLR(
      o, max_lr=0.1, total_steps=STEPS, cycle_momentum=False, final_div_factor=100.0
    ),
    lambda: X.Adagrad(
      lr=X.OneCycleLR(
        0.1, total_steps=STEPS, cycle_momentum=False, final_div_factor=100.0
      )
    ),
  ),
]

# One validation loss per epoch: improvements, plateaus, and improvements too
# small for the default relative threshold (0.69995 after 0.7, 0.589995 after 0.59).
# Epoch losses with plateaus, reductions and near-ties; the 30-epoch pattern
# repeats, lowered by 0.8 each time, to cover STEPS // STEPS_PER_EPOCH epochs.
_PATTERN = np.asarray(
  [1.0, 0.8, 0.7, 0.7, 0.69995, 0.7, 0.7, 0.6, 0.6, 0.6]
  + [0.6, 0.59, 0.59, 0.589995, 0.59, 0.59, 0.59, 0.5, 0.5, 0.5]
  + [0.5, 0.495, 0.5, 0.5, 0.5, 0.49, 0.49, 0.49, 0.49, 0.49]
)
LOSSES = np.concatenate(
  [_PATTERN * 0.8**k for k in range(-(-STEPS // STEPS_PER_EPOCH // 30))]
)[: STEPS // STEPS_PER_EPOCH].astype(np.float32)

# (id, torch optimizer, torch per-update scheduler or None, ReduceLROnPlateau
# kwargs, optx optimizer given the optx ReduceLROnPlateau, losses)
PLATEAU_CASES = [
  (
    "plateau-sgd-momentum-rel",
    lambda p: T.SGD(p, lr=0.05, momentum=0.9),
    None,
    {"factor": 0.5, "patience": 2},
    lambda plateau: X.SGD(lr=0.05, momentum=0.9, plateau=plateau),
    LOSSES,
  ),
  (
    "plateau-adam-abs-cooldown",
    lambda p: T.Adam(p, lr=0.02),
    None,
    {
      "factor": 0.5,
      "patience": 1,
      "cooldown": 2,
      "threshold_mode": "abs",
      "threshold": 0.01,
    },
    lambda plateau: X.Adam(lr=0.02, plateau=plateau),
    LOSSES,
  ),
  (
    "plateau-adamw-max-mode",
    lambda p: T.AdamW(p, lr=0.02, weight_decay=0.1),
    None,
    {"mode": "max", "factor": 0.3, "patience": 2, "cooldown": 1},
    lambda plateau: X.AdamW(lr=0.02, weight_decay=0.1, plateau=plateau),
    1.0 - LOSSES,
  ),
  (
    "plateau-rmsprop-min-lr",
    lambda p: T.RMSprop(p, lr=0.004, momentum=0.5),
    None,
    {"factor": 0.5, "patience": 0, "min_lr": 0.0009},
    lambda plateau: X.RMSprop(lr=0.004, momentum=0.5, plateau=plateau),
    LOSSES,
  ),
  (
    "plateau-adagrad-abs",
    lambda p: T.Adagrad(p, lr=0.1, weight_decay=0.05),
    None,
    {"factor": 0.2, "patience": 2, "threshold_mode": "abs", "threshold": 1e-3},
    lambda plateau: X.Adagrad(lr=0.1, weight_decay=0.05, plateau=plateau),
    LOSSES,
  ),
  (
    "plateau-sgd-exponential",
    lambda p: T.SGD(p, lr=0.05, momentum=0.9, dampening=0.1),
    # PyTorch's ExponentialLR multiplies the current (plateau-lowered) lr,
    # as optx multiplies the schedule by the plateau's scale.
    lambda o: S.ExponentialLR(o, gamma=0.995),
    {"factor": 0.5, "patience": 1, "cooldown": 1},
    lambda plateau: X.SGD(
      lr=X.ExponentialLR(0.05, 0.995), momentum=0.9, dampening=0.1, plateau=plateau
    ),
    LOSSES,
  ),
]


def _check(case_id, ours, theirs):
  error = _relative_error(ours, theirs)
  print(f"\n[parity] {case_id}: max|diff|/max|param| = {error:.3e}")
  assert error <= TOLERANCE, f"{case_id}: relative error {error:.3e}"


@pytest.mark.parametrize(
  "case_id, make_torch, make_sched, make_optx",
  OPTIMIZER_CASES + SCHEDULER_CASES,
  ids=[c[0] for c in OPTIMIZER_CASES + SCHEDULER_CASES],
)
def test_trajectory_matches_pytorch(case_id, make_torch, make_sched, make_optx):
  theirs, _ = _run_torch(make_torch, make_sched)
  _check(case_id, _run_optx(make_optx(), None), theirs)


@pytest.mark.parametrize(
  "case_id, make_torch, make_sched, kwargs, make_optx, losses",
  PLATEAU_CASES,
  ids=[c[0] for c in PLATEAU_CASES],
)
def test_plateau_trajectory_matches_pytorch(
  case_id, make_torch, make_sched, kwargs, make_optx, losses
):
  theirs, lrs = _run_torch(
    make_torch, make_sched, lambda o: S.ReduceLROnPlateau(o, **kwargs), losses
  )
  _check(case_id, _run_optx(make_optx(X.ReduceLROnPlateau(**kwargs)), losses), theirs)
  # The losses must actually drive several reductions on PyTorch's side.
  reductions = int(np.sum(lrs[1:] / lrs[:-1] < 0.9))
  assert reductions >= 3, f"{case_id}: only {reductions} reductions"


# ----------------------------------------------------------------------------
# Schedulers value by value, and OneCycleLR's momentum as PyTorch writes it.


def _torch_values(make_sched, make_opt=lambda p: T.SGD(p, lr=0.1, momentum=0.9)):
  """The lr and momentum (or beta1) PyTorch's optimizer holds at each step."""
  opt = make_opt([torch.zeros(1, requires_grad=True)])
  sched = make_sched(opt)
  lrs, momenta = [], []
  for _ in range(STEPS):
    group = opt.param_groups[0]
    lrs.append(group["lr"])
    momenta.append(group["betas"][0] if "betas" in group else group["momentum"])
    opt.step()
    sched.step()
  return np.asarray(lrs), np.asarray(momenta)


SCHEDULE_VALUE_CASES = [
  (lambda o: S.ExponentialLR(o, gamma=0.98), X.ExponentialLR(0.1, gamma=0.98)),
  (
    lambda o: S.StepLR(o, step_size=7, gamma=0.5),
    X.StepLR(0.1, step_size=7, gamma=0.5),
  ),
  (
    lambda o: S.MultiStepLR(o, milestones=[10, 30, 30, 100]),
    X.MultiStepLR(0.1, milestones=[10, 30, 30, 100]),
  ),
  (
    lambda o: S.LambdaLR(o, lambda t: 0.97**t),
    X.LambdaLR(0.1, lambda t: 0.97 ** t.astype(jnp.float32)),
  ),
  (
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS),
    X.OneCycleLR(1.0, total_steps=STEPS),
  ),
  (
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS, pct_start=0.37),
    X.OneCycleLR(1.0, total_steps=STEPS, pct_start=0.37),
  ),
  (
    lambda o: S.OneCycleLR(
      o, max_lr=2.0, total_steps=STEPS, anneal_strategy="linear", three_phase=True
    ),
    X.OneCycleLR(2.0, total_steps=STEPS, anneal_strategy="linear", three_phase=True),
  ),
  (
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS, pct_start=0.05),
    X.OneCycleLR(1.0, total_steps=STEPS, pct_start=0.05),
  ),
]


@pytest.mark.parametrize("make_sched, schedule", SCHEDULE_VALUE_CASES)
def test_scheduler_values_match_pytorch(make_sched, schedule):
  theirs, their_momenta = _torch_values(make_sched)
  ours = np.asarray(jax.vmap(schedule)(jnp.arange(STEPS, dtype=jnp.int32)))
  # optx's values are PyTorch's float64 values rounded to float32, except
  # LambdaLR's, whose function here computes 0.97**t in float32 (its error
  # grows as t times 0.97's float32 rounding). XLA flushes float32 subnormals
  # to zero (StepLR reaches 1e-44).
  rtol = 1e-6
  if isinstance(schedule, X.LambdaLR):
    rtol += STEPS * abs(float(np.float32(0.97)) - 0.97) / 0.97
  np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=np.finfo(np.float32).tiny)
  if isinstance(schedule, X.OneCycleLR):
    momenta = np.asarray(
      jax.vmap(schedule.momentum)(jnp.arange(STEPS, dtype=jnp.int32))
    )
    np.testing.assert_allclose(momenta, their_momenta, rtol=1e-6)


ONECYCLE_PRECISION_CASES = [
  (10, {"pct_start": 0.99, "anneal_strategy": "linear"}),
  (10, {"pct_start": 0.99}),
  (100, {"anneal_strategy": "linear"}),
  (1000, {}),
  (1000, {"anneal_strategy": "linear"}),
  (301, {"pct_start": 0.05}),
  (7, {}),
  (10, {"three_phase": True}),
  (1000, {"three_phase": True, "anneal_strategy": "linear"}),
  (997, {"three_phase": True, "pct_start": 0.37}),
  (
    500,
    {
      "pct_start": 0.25,
      "div_factor": 10.0,
      "final_div_factor": 1e3,
      "base_momentum": 0.8,
      "max_momentum": 0.99,
    },
  ),
]


@pytest.mark.parametrize("total_steps, kwargs", ONECYCLE_PRECISION_CASES)
def test_onecycle_matches_pytorch_to_float32_rounding(total_steps, kwargs):
  # Every step up to T, PyTorch's last (extrapolated) value, relative to each
  # value: the end of the cycle, where the rate is 2.5e5 times below its peak,
  # is where float32 cancellation showed.
  opt = T.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
  sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=total_steps, **kwargs)
  theirs, their_momenta = [], []
  for t in range(total_steps + 1):
    theirs.append(opt.param_groups[0]["lr"])
    their_momenta.append(opt.param_groups[0]["momentum"])
    if t < total_steps:
      opt.step()
      sched.step()
  schedule = X.OneCycleLR(0.5, total_steps=total_steps, **kwargs)
  steps = jnp.arange(total_steps + 1, dtype=jnp.int32)
  ours = np.asarray(jax.jit(jax.vmap(schedule))(steps))
  np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6, atol=0)
  momenta = np.asarray(jax.jit(jax.vmap(schedule.momentum))(steps))
  np.testing.assert_allclose(momenta, np.asarray(their_momenta), rtol=1e-6, atol=0)


def test_onecycle_replaces_adam_beta1_as_pytorch():
  _, their_betas = _torch_values(
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS), lambda p: T.Adam(p)
  )
  schedule = X.OneCycleLR(1.0, total_steps=STEPS)
  ours = np.asarray(jax.vmap(schedule.momentum)(jnp.arange(STEPS, dtype=jnp.int32)))
  np.testing.assert_allclose(ours, their_betas, rtol=1e-6)
  assert their_betas[0] == pytest.approx(0.95)  # not Adam's own 0.9


# ----------------------------------------------------------------------------
# Names, defaults and validation.


@pytest.mark.parametrize(
  "ours, theirs",
  [
    (X.SGD, T.SGD),
    (X.Adagrad, T.Adagrad),
    (X.RMSprop, T.RMSprop),
    (X.Adam, T.Adam),
    (X.AdamW, T.AdamW),
    (X.Adamax, T.Adamax),
    (X.NAdam, T.NAdam),
    (X.Adadelta, T.Adadelta),
    (X.ExponentialLR, S.ExponentialLR),
    (X.StepLR, S.StepLR),
    (X.MultiStepLR, S.MultiStepLR),
    (X.LambdaLR, S.LambdaLR),
    (X.OneCycleLR, S.OneCycleLR),
    (X.ReduceLROnPlateau, S.ReduceLROnPlateau),
  ],
)
def test_names_and_defaults_are_pytorch(ours, theirs):
  their_params = inspect.signature(theirs).parameters
  for name, param in inspect.signature(ours).parameters.items():
    if name in ("plateau", "lr") and name not in their_params:
      continue  # optx's plateau=; the schedulers' base lr stands for the optimizer
    assert name in their_params, f"{ours.__name__}: {name} is not PyTorch's"
    assert param.default == their_params[name].default, f"{ours.__name__}({name})"


@pytest.mark.parametrize(
  "make, message",
  [
    (lambda: X.SGD(lr=-1.0), r"optx.torch.SGD\(lr=...\) must be >= 0"),
    (lambda: X.SGD(momentum=-0.1), r"optx.torch.SGD\(momentum=...\) must be >= 0"),
    (lambda: X.SGD(lr=0.1, nesterov=True), r"optx.torch.SGD\(nesterov=True\)"),
    (lambda: X.SGD(momentum=0.9, dampening=0.1, nesterov=True), r"dampening=0"),
    (lambda: X.Adagrad(lr_decay=-1.0), r"optx.torch.Adagrad\(lr_decay=...\)"),
    (lambda: X.Adagrad(lr=X.OneCycleLR(0.1, total_steps=10)), r"cycle_momentum=False"),
    (lambda: X.RMSprop(alpha=-0.5), r"optx.torch.RMSprop\(alpha=...\)"),
    (
      lambda: X.Adam(betas=(1.0, 0.999)),
      r"optx.torch.Adam\(betas\[0\]=...\) must be < 1",
    ),
    (lambda: X.AdamW(eps=-1.0), r"optx.torch.AdamW\(eps=...\)"),
    (lambda: X.ReduceLROnPlateau(factor=1.0), r"ReduceLROnPlateau\(factor=...\)"),
    (lambda: X.ReduceLROnPlateau(mode="up"), r"ReduceLROnPlateau\(mode=...\)"),
    (lambda: X.OneCycleLR(1.0), r"total_steps=..."),
    (lambda: X.OneCycleLR(1.0, 100, 0.3), r"excludes epochs=..."),
    (lambda: X.OneCycleLR(1.0, total_steps=10, pct_start=0.1), r"divides by zero"),
    (lambda: X.MultiStepLR(0.1, milestones=[-1]), r"milestones\[0\]"),
  ],
)
def test_invalid_arguments_raise(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_plateau_must_be_a_plateau():
  with pytest.raises(TypeError, match=r"optx.torch.SGD\(plateau=...\)"):
    X.SGD(plateau=0.5)


def test_learning_rates_stay_traceable():
  """vmap over lr; PyTorch's first Adam step is -lr * g / (|g| + eps) = -lr * sign(g)."""
  lrs = jnp.asarray([0.1, 0.01], jnp.float32)
  g = jnp.asarray([0.5, -2.0], jnp.float32)

  def first_update(lr):
    tx = X.Adam(lr=lr, plateau=X.ReduceLROnPlateau(min_lr=1e-3))
    return tx.update(g, tx.init(g))[0]

  updates = jax.jit(jax.vmap(first_update))(lrs)
  expected = -np.asarray(lrs)[:, None] * np.sign(np.asarray(g))[None, :]
  np.testing.assert_allclose(np.asarray(updates), expected, rtol=1e-5)


FLAVORS = [
  lambda: X.SGD(
    lr=X.OneCycleLR(0.1, total_steps=10), weight_decay=0.1, nesterov=True, momentum=0.9
  ),
  lambda: X.Adagrad(lr_decay=0.1, weight_decay=0.1),
  lambda: X.RMSprop(momentum=0.9, centered=True, weight_decay=0.1),
  lambda: X.Adam(
    lr=X.OneCycleLR(0.1, total_steps=10), amsgrad=True, plateau=X.ReduceLROnPlateau()
  ),
  lambda: X.AdamW(lr=X.ExponentialLR(0.1, 0.9), maximize=True),
]


@pytest.mark.parametrize("make", FLAVORS)
def test_updates_keep_bfloat16_and_never_retrace(make):
  tx = make()
  params = {"w": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.zeros((3,), jnp.bfloat16)}
  grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
  traces = []

  @jax.jit
  def step(params, state):
    traces.append(None)  # runs once per trace
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, updates

  state = tx.init(params)
  for _ in range(3):
    params, state, updates = step(params, state)
  assert len(traces) == 1
  assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(updates))
  assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params))


def test_plateau_floor_under_a_schedule_is_refused():
  """An absolute min_lr is no fixed multiple of a scheduled rate: refused, not approximated."""
  with pytest.raises(ValueError, match=r"optx.torch.ReduceLROnPlateau\(min_lr=...\)"):
    optx.torch.SGD(
      lr=optx.torch.ExponentialLR(0.1, 0.99),
      plateau=optx.torch.ReduceLROnPlateau(min_lr=0.01),
    )
  # A zero floor with a schedule, and any floor with a constant rate, are fine.
  optx.torch.SGD(
    lr=optx.torch.ExponentialLR(0.1, 0.99), plateau=optx.torch.ReduceLROnPlateau()
  )
  optx.torch.SGD(lr=0.1, plateau=optx.torch.ReduceLROnPlateau(min_lr=0.01))


@pytest.mark.parametrize(
  "betas", [(0.9, 0.0), (0.0, 0.999), (0.0, 0.0)], ids=["b2=0", "b1=0", "both 0"]
)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_with_a_zero_beta_keeps_a_small_gradient_after_a_large_one(betas, amsgrad):
  # With beta = 0 the average is the new value itself. Written as
  # m + (1 - beta)(g - m), a small g after a large m cancels in float32 (the
  # second moment became 0 and the step 1e4x too large); PyTorch's lerp and
  # weighted sum keep it exactly.
  grads = [2.0, 1e-4, -3.0, 5e-5, 1e-3]
  p = torch.zeros(2, requires_grad=True)
  opt = T.Adam([p], lr=0.01, betas=betas, amsgrad=amsgrad)
  expected = []
  for g in grads:
    p.grad = torch.tensor([g, -g])
    opt.step()
    expected.append(p.detach().numpy().copy())
  tx = optx.torch.Adam(lr=0.01, betas=betas, amsgrad=amsgrad)
  params = jnp.zeros(2)
  state = tx.init(params)
  got = []
  for g in grads:
    updates, state = tx.update(jnp.asarray([g, -g]), state, params)
    params = optax.apply_updates(params, updates)
    got.append(np.asarray(params))
  # 3e-5: optx keeps beta2 = 0.999 in float32, so 1 - beta2**t differs from
  # PyTorch's float64 by ~1e-5 relative (documented); the cancellation gave
  # 1.7e-4 (b1=0) and 1e4x (b2=0).
  np.testing.assert_allclose(np.stack(got), np.stack(expected), rtol=3e-5, atol=1e-9)


def _torch_lambda_rates(lr_lambda, steps, lr=1.0):
  """``torch.optim.lr_scheduler.LambdaLR``'s rate at each step (its ``last_epoch``)."""
  opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
  scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
  rates = []
  for _ in range(steps):
    rates.append(opt.param_groups[0]["lr"])
    opt.step()
    scheduler.step()
  return np.asarray(rates, np.float32)


def test_lambda_lr_sees_pythons_arithmetic():
  # 1 / (1 + t) ** 2 went negative at step 46341 with an int32 step.
  def lr_lambda(t):
    return 1 / (1 + t) ** 2

  steps = 46345
  theirs = _torch_lambda_rates(lr_lambda, steps)
  schedule = optx.torch.LambdaLR(1.0, lr_lambda)
  ours = np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(steps, dtype=jnp.int32)))
  assert (ours > 0).all()
  np.testing.assert_allclose(ours, theirs, rtol=4e-7)


def test_lambda_lr_takes_the_hugging_face_warmup_unchanged():
  num_warmup_steps, num_training_steps = 10, 100

  def lr_lambda(current_step: int):  # transformers' linear warmup, verbatim
    if current_step < num_warmup_steps:
      return float(current_step) / float(max(1, num_warmup_steps))
    return max(
      0.0,
      float(num_training_steps - current_step)
      / float(max(1, num_training_steps - num_warmup_steps)),
    )

  steps = 120
  theirs = _torch_lambda_rates(lr_lambda, steps, lr=0.1)
  tx = optx.torch.SGD(lr=optx.torch.LambdaLR(0.1, lr_lambda))
  state, ours = tx.init(jnp.zeros(1)), []
  step = jax.jit(tx.update)
  for _ in range(steps):
    u, state = step(jnp.ones(1), state)
    ours.append(-float(u[0]))
  np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_a_parameter_list_is_named_as_a_porting_slip(name):
  # PyTorch's line, unchanged: it used to fail with "got multiple values for
  # argument 'lr'" (or as a bad lr without lr=).
  model = torch.nn.Linear(3, 2)
  for call in (
    lambda: getattr(optx.torch, name)(model.parameters(), lr=0.1),
    lambda: getattr(optx.torch, name)(list(model.parameters())),
    lambda: getattr(optx.torch, name)([{"params": model.parameters(), "lr": 0.1}]),
  ):
    with pytest.raises(
      TypeError, match=rf"optx\.torch\.{name} takes no parameter list"
    ):
      call()
  assert list(inspect.signature(getattr(optx.torch, name)).parameters)[0] == "lr"


COMPLEX_CASES = [
  (lambda p: T.SGD(p, lr=0.05, momentum=0.9), lambda: X.SGD(lr=0.05, momentum=0.9)),
  (lambda p: T.Adagrad(p, lr=0.1), lambda: X.Adagrad(lr=0.1)),
  (
    lambda p: T.RMSprop(p, lr=0.01, centered=True),
    lambda: X.RMSprop(lr=0.01, centered=True),
  ),
  (lambda p: T.Adam(p, lr=0.01, amsgrad=True), lambda: X.Adam(lr=0.01, amsgrad=True)),
  (lambda p: T.AdamW(p, lr=0.01), lambda: X.AdamW(lr=0.01)),
]


@pytest.mark.parametrize("make_torch, make_optx", COMPLEX_CASES)
def test_complex_parameters_train_as_pytorch(make_torch, make_optx):
  # PyTorch steps a complex parameter as its real and imaginary parts
  # (torch.view_as_real), each with its own second moment.
  rng = np.random.default_rng(3)
  shape, steps = (3, 2), 100
  p0 = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
  grads = rng.normal(size=(steps, *shape)) + 1j * rng.normal(size=(steps, *shape))
  grads = grads.astype(np.complex64)
  p = torch.tensor(p0)
  opt = make_torch([p])
  for g in grads:
    p.grad = torch.tensor(g)
    opt.step()
  tx = make_optx()
  params = jnp.asarray(p0)
  state = tx.init(params)
  for g in grads:
    updates, state = tx.update(jnp.asarray(g), state, params)
    params = optax.apply_updates(params, updates)
  theirs = p.detach().numpy()
  assert np.asarray(params).dtype == np.complex64
  assert np.max(np.abs(np.asarray(params) - theirs)) / np.max(np.abs(theirs)) <= 1e-6
