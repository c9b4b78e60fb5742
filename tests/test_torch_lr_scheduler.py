"""optx.torch's schedulers against the real torch.optim.lr_scheduler, step by step.

PyTorch's side is a dummy parameter and an optimizer, with ``sched.step()``
after every ``opt.step()``; the rate (and the momentum or beta1) the
optimizer holds before each update is PyTorch's value at that step. optx's is
the schedule, jitted and vmapped over every step of the range, which covers
the edges: milestones, the end of warmups, minima and restarts, cycle ends.

Each value must be PyTorch's float64 value rounded to float32, to within two
float32 roundings: |optx - torch| <= 2 ulp of the float32 of torch's value,
where differences below 1e-15 times the largest rate count as 0 (PyTorch's
own float64 noise where a rate crosses 0). Cases that go through OneCycleLR,
which computes in float32, or through a user function traced in float32,
say so and are held to 1e-6 relative instead.
"""

from __future__ import annotations

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optx

T = torch.optim
S = torch.optim.lr_scheduler
X = optx.torch

INT32_MAX = 2**31 - 1


def _torch_values(make_sched, steps, *, lr=0.1, adam=False, momentum=0.9):
  """The rate and the momentum (or beta1) PyTorch's optimizer holds at each step."""
  param = torch.zeros(1, requires_grad=True)
  if adam:
    opt = T.Adam([param], lr=lr)
  else:
    opt = T.SGD([param], lr=lr, momentum=momentum)
  sched = make_sched(opt)
  rates, momenta = [], []
  for _ in range(steps):
    group = opt.param_groups[0]
    rates.append(group["lr"])
    momenta.append(group["betas"][0] if "betas" in group else group["momentum"])
    opt.step()
    sched.step()
  return np.asarray(rates), np.asarray(momenta)


def _ours(schedule, steps):
  return np.asarray(jax.jit(jax.vmap(schedule))(steps))


def _ulps(ours, theirs):
  """max |ours - theirs| in float32 ulps of theirs, and the worst relative error."""
  theirs32 = theirs.astype(np.float32)
  spacing = np.spacing(np.abs(theirs32)).astype(np.float64)
  diff = np.abs(ours.astype(np.float64) - theirs)
  diff = np.where(diff <= 1e-15 * np.max(np.abs(theirs)), 0.0, diff)
  nonzero = theirs != 0
  relative = np.max(diff[nonzero] / np.abs(theirs[nonzero]), initial=0.0)
  return float(np.max(diff / spacing)), float(relative)


# (id, PyTorch scheduler, optx schedule, steps, options). Options: lr (the
# optimizer's, default 0.1), adam (cycle beta1), momentum (SGD's own),
# float32 (a part computes in float32: rtol 1e-6 instead of 2 ulp).
def _case(name, theirs, ours, steps, **options):
  return pytest.param(theirs, ours, steps, options, id=name)


CONSTANT = [
  _case("defaults", lambda o: S.ConstantLR(o), lambda: X.ConstantLR(0.1), 10),
  _case(
    "factor-0.5-total-4",
    lambda o: S.ConstantLR(o, 0.5, 4),
    lambda: X.ConstantLR(0.1, 0.5, 4),
    10,
  ),
  _case(
    "total-1", lambda o: S.ConstantLR(o, 0.3, 1), lambda: X.ConstantLR(0.1, 0.3, 1), 5
  ),
  _case(  # PyTorch's recursion keeps lr * factor forever
    "total-0", lambda o: S.ConstantLR(o, 0.5, 0), lambda: X.ConstantLR(0.1, 0.5, 0), 6
  ),
  _case(
    "factor-1", lambda o: S.ConstantLR(o, 1.0, 3), lambda: X.ConstantLR(0.1, 1.0, 3), 6
  ),
]

LINEAR = [
  _case("defaults", lambda o: S.LinearLR(o), lambda: X.LinearLR(0.1), 10),
  _case(
    "warmup-10",
    lambda o: S.LinearLR(o, 0.1, 1.0, 10),
    lambda: X.LinearLR(0.1, 0.1, 1.0, 10),
    15,
  ),
  _case(
    "decay-to-0",
    lambda o: S.LinearLR(o, 1.0, 0.0, 7),
    lambda: X.LinearLR(0.1, 1.0, 0.0, 7),
    12,
  ),
  _case(
    "down-0.5-to-0.25",
    lambda o: S.LinearLR(o, 0.5, 0.25, 3),
    lambda: X.LinearLR(0.1, 0.5, 0.25, 3),
    8,
  ),
  _case(
    "warmup-1000",
    lambda o: S.LinearLR(o, 0.001, 1.0, 1000),
    lambda: X.LinearLR(0.1, 0.001, 1.0, 1000),
    1010,
  ),
  _case(  # PyTorch's recursion keeps lr * start_factor forever
    "total-0",
    lambda o: S.LinearLR(o, 0.5, total_iters=0),
    lambda: X.LinearLR(0.1, 0.5, total_iters=0),
    5,
  ),
]

POLYNOMIAL = [
  _case("defaults", lambda o: S.PolynomialLR(o), lambda: X.PolynomialLR(0.1), 8),
  _case(
    "square",
    lambda o: S.PolynomialLR(o, 10, 2.0),
    lambda: X.PolynomialLR(0.1, 10, 2.0),
    14,
  ),
  _case(
    "power-0.9",
    lambda o: S.PolynomialLR(o, 7, 0.9),
    lambda: X.PolynomialLR(0.1, 7, 0.9),
    10,
  ),
  _case(
    "1000-steps-power-1.5",
    lambda o: S.PolynomialLR(o, 1000, 1.5),
    lambda: X.PolynomialLR(0.1, 1000, 1.5),
    1003,
  ),
  _case(
    "power-0",
    lambda o: S.PolynomialLR(o, 3, 0.0),
    lambda: X.PolynomialLR(0.1, 3, 0.0),
    6,
  ),
  _case(
    "total-0",
    lambda o: S.PolynomialLR(o, 0, 1.5),
    lambda: X.PolynomialLR(0.1, 0, 1.5),
    4,
  ),
]

COSINE = [
  _case(  # several periods: back up after T_max, as PyTorch's recursion goes
    "T10",
    lambda o: S.CosineAnnealingLR(o, 10),
    lambda: X.CosineAnnealingLR(0.1, 10),
    45,
  ),
  _case(
    "T7-eta-min",
    lambda o: S.CosineAnnealingLR(o, 7, 0.01),
    lambda: X.CosineAnnealingLR(0.1, 7, 0.01),
    30,
  ),
  _case(
    "T1", lambda o: S.CosineAnnealingLR(o, 1), lambda: X.CosineAnnealingLR(0.1, 1), 6
  ),
  _case(
    "T1000",
    lambda o: S.CosineAnnealingLR(o, 1000),
    lambda: X.CosineAnnealingLR(0.1, 1000),
    2005,
  ),
  _case(
    "eta-min-above-lr",
    lambda o: S.CosineAnnealingLR(o, 3, 0.2),
    lambda: X.CosineAnnealingLR(0.1, 3, 0.2),
    12,
  ),
]

WARM_RESTARTS = [
  _case(
    "T0-5",
    lambda o: S.CosineAnnealingWarmRestarts(o, 5),
    lambda: X.CosineAnnealingWarmRestarts(0.1, 5),
    23,
  ),
  _case(
    "T0-3-mult-2",
    lambda o: S.CosineAnnealingWarmRestarts(o, 3, 2),
    lambda: X.CosineAnnealingWarmRestarts(0.1, 3, 2),
    50,
  ),
  _case(
    "T0-1-mult-3-eta-min",
    lambda o: S.CosineAnnealingWarmRestarts(o, 1, 3, 0.01),
    lambda: X.CosineAnnealingWarmRestarts(0.1, 1, 3, 0.01),
    45,
  ),
  _case(
    "T0-200-eta-min",
    lambda o: S.CosineAnnealingWarmRestarts(o, 200, eta_min=1e-4),
    lambda: X.CosineAnnealingWarmRestarts(0.1, 200, eta_min=1e-4),
    610,
  ),
]

CYCLIC = [
  _case(
    "triangular",
    lambda o: S.CyclicLR(o, 0.01, 0.1, 4),
    lambda: X.CyclicLR(0.01, 0.1, 4),
    30,
  ),
  _case(
    "triangular2",
    lambda o: S.CyclicLR(o, 0.01, 0.1, 3, 5, mode="triangular2"),
    lambda: X.CyclicLR(0.01, 0.1, 3, 5, mode="triangular2"),
    50,
  ),
  _case(
    "exp-range",
    lambda o: S.CyclicLR(o, 0.01, 0.1, 5, 2, mode="exp_range", gamma=0.99),
    lambda: X.CyclicLR(0.01, 0.1, 5, 2, mode="exp_range", gamma=0.99),
    60,
  ),
  _case(
    "scale-fn-cycle",
    lambda o: S.CyclicLR(o, 0.01, 0.1, 3, scale_fn=lambda x: 0.5**x),
    lambda: X.CyclicLR(0.01, 0.1, 3, scale_fn=lambda x: 0.5**x),
    40,
  ),
  _case(
    "scale-fn-iterations",
    lambda o: S.CyclicLR(
      o, 0.01, 0.1, 3, scale_fn=lambda x: 1 / (1 + 0.01 * x), scale_mode="iterations"
    ),
    lambda: X.CyclicLR(
      0.01, 0.1, 3, scale_fn=lambda x: 1 / (1 + 0.01 * x), scale_mode="iterations"
    ),
    40,
    float32=True,  # the traced function divides in float32
  ),
  _case(
    "scale-fn-branching",
    lambda o: S.CyclicLR(o, 0.01, 0.1, 3, scale_fn=lambda x: 1.0 if x < 3 else 0.5),
    lambda: X.CyclicLR(0.01, 0.1, 3, scale_fn=lambda x: 1.0 if x < 3 else 0.5),
    40,
  ),
  _case(  # mode's scale_mode wins when scale_fn is None
    "exp-range-ignores-scale-mode",
    lambda o: S.CyclicLR(
      o, 0.01, 0.1, 4, mode="exp_range", gamma=0.9, scale_mode="cycle"
    ),
    lambda: X.CyclicLR(0.01, 0.1, 4, mode="exp_range", gamma=0.9, scale_mode="cycle"),
    20,
  ),
  _case(
    "sawtooth",
    lambda o: S.CyclicLR(o, 0.01, 0.1, 4, 0),
    lambda: X.CyclicLR(0.01, 0.1, 4, 0),
    20,
  ),
  _case(
    "max-below-base",
    lambda o: S.CyclicLR(o, 0.1, 0.001, 4),
    lambda: X.CyclicLR(0.1, 0.001, 4),
    20,
  ),
  _case(
    "adam-beta1",
    lambda o: S.CyclicLR(o, 0.01, 0.1, 4, base_momentum=0.85, max_momentum=0.95),
    lambda: X.CyclicLR(0.01, 0.1, 4, base_momentum=0.85, max_momentum=0.95),
    20,
    adam=True,
  ),
]

MULTIPLICATIVE = [
  _case(  # PyTorch's example: a power, computed in the graph
    "constant",
    lambda o: S.MultiplicativeLR(o, lambda e: 0.95),
    lambda: X.MultiplicativeLR(0.1, lambda e: 0.95),
    300,
  ),
  _case(
    "traced",
    lambda o: S.MultiplicativeLR(o, lambda k: 1 - 1 / (k + 20)),
    lambda: X.MultiplicativeLR(0.1, lambda k: 1 - 1 / (k + 20)),
    300,
  ),
  _case(
    "branching",
    lambda o: S.MultiplicativeLR(o, lambda k: 0.9 if k % 3 == 0 else 1.0),
    lambda: X.MultiplicativeLR(0.1, lambda k: 0.9 if k % 3 == 0 else 1.0),
    100,
  ),
]

EARLIER = [  # the schedulers optx had, now exact too
  _case(
    "exponential",
    lambda o: S.ExponentialLR(o, 0.98),
    lambda: X.ExponentialLR(0.1, 0.98),
    1000,
  ),
  _case("step", lambda o: S.StepLR(o, 7, 0.5), lambda: X.StepLR(0.1, 7, 0.5), 100),
  _case(
    "multistep-with-0",
    lambda o: S.MultiStepLR(o, [0, 10, 30, 30]),
    lambda: X.MultiStepLR(0.1, [0, 10, 30, 30]),
    60,
  ),
]

SEQUENTIAL = [
  _case(  # torchvision's recipe
    "linear-warmup-cosine",
    lambda o: S.SequentialLR(
      o, [S.LinearLR(o, 0.1, total_iters=5), S.CosineAnnealingLR(o, 20)], [5]
    ),
    lambda: X.SequentialLR(
      [X.LinearLR(0.1, 0.1, total_iters=5), X.CosineAnnealingLR(0.1, 20)], [5]
    ),
    60,
  ),
  _case(  # PyTorch's docstring example
    "constant-exponential",
    lambda o: S.SequentialLR(
      o, [S.ConstantLR(o, 0.1, 20), S.ExponentialLR(o, 0.9)], [20]
    ),
    lambda: X.SequentialLR(
      [X.ConstantLR(0.1, 0.1, 20), X.ExponentialLR(0.1, 0.9)], [20]
    ),
    60,
  ),
  _case(
    "three-linear-step-restarts",
    lambda o: S.SequentialLR(
      o,
      [
        S.LinearLR(o, 0.2, total_iters=5),
        S.StepLR(o, 3, 0.5),
        S.CosineAnnealingWarmRestarts(o, 4, 2),
      ],
      [5, 15],
    ),
    lambda: X.SequentialLR(
      [
        X.LinearLR(0.1, 0.2, total_iters=5),
        X.StepLR(0.1, 3, 0.5),
        X.CosineAnnealingWarmRestarts(0.1, 4, 2),
      ],
      [5, 15],
    ),
    60,
  ),
  _case(  # entered at a milestone, it multiplies the rate it finds
    "multiplicative-second",
    lambda o: S.SequentialLR(
      o,
      [S.ExponentialLR(o, 0.5), S.MultiplicativeLR(o, lambda e: 0.9 if e else 0.7)],
      [3],
    ),
    lambda: X.SequentialLR(
      [X.ExponentialLR(0.1, 0.5), X.MultiplicativeLR(0.1, lambda e: 0.9 if e else 0.7)],
      [3],
    ),
    10,
  ),
  _case(  # the closed form at a milestone: lr, not lr * factor
    "constant-total-0-second",
    lambda o: S.SequentialLR(
      o, [S.ExponentialLR(o, 0.5), S.ConstantLR(o, 0.5, 0)], [3]
    ),
    lambda: X.SequentialLR([X.ExponentialLR(0.1, 0.5), X.ConstantLR(0.1, 0.5, 0)], [3]),
    6,
  ),
  _case(
    "milestone-0",
    lambda o: S.SequentialLR(
      o, [S.ExponentialLR(o, 0.5), S.ConstantLR(o, 0.5, 2)], [0]
    ),
    lambda: X.SequentialLR([X.ExponentialLR(0.1, 0.5), X.ConstantLR(0.1, 0.5, 2)], [0]),
    6,
  ),
  _case(
    "equal-milestones",
    lambda o: S.SequentialLR(
      o,
      [
        S.ExponentialLR(o, 0.5),
        S.ConstantLR(o, 0.5, 2),
        S.MultiplicativeLR(o, lambda e: 0.8),
      ],
      [4, 4],
    ),
    lambda: X.SequentialLR(
      [
        X.ExponentialLR(0.1, 0.5),
        X.ConstantLR(0.1, 0.5, 2),
        X.MultiplicativeLR(0.1, lambda e: 0.8),
      ],
      [4, 4],
    ),
    10,
  ),
  _case(  # the momentum: SGD's own, CyclicLR's from its building on, then held
    "cyclic-between",
    lambda o: S.SequentialLR(
      o,
      [
        S.ConstantLR(o, 0.5, 2),
        S.CyclicLR(o, 0.01, 0.1, 2, base_momentum=0.6, max_momentum=0.7),
        S.ExponentialLR(o, 0.9),
      ],
      [3, 8],
    ),
    lambda: X.SequentialLR(
      [
        X.ConstantLR(0.1, 0.5, 2),
        X.CyclicLR(0.01, 0.1, 2, base_momentum=0.6, max_momentum=0.7),
        X.ExponentialLR(0.1, 0.9),
      ],
      [3, 8],
    ),
    16,
    momentum=0.5,
  ),
  _case(  # OneCycleLR sets the optimizer's initial_lr to max_lr / div_factor
    "onecycle-exponential",
    lambda o: S.SequentialLR(
      o, [S.OneCycleLR(o, 1.0, total_steps=10), S.ExponentialLR(o, 0.9)], [10]
    ),
    lambda: X.SequentialLR(
      [X.OneCycleLR(1.0, total_steps=10), X.ExponentialLR(0.1, 0.9)], [10]
    ),
    16,
    float32=True,
  ),
  _case(  # the first one starts from it too: 0.04, not 0.1
    "linear-onecycle",
    lambda o: S.SequentialLR(
      o, [S.LinearLR(o, 0.5, total_iters=4), S.OneCycleLR(o, 1.0, total_steps=10)], [6]
    ),
    lambda: X.SequentialLR(
      [X.LinearLR(0.1, 0.5, total_iters=4), X.OneCycleLR(1.0, total_steps=10)], [6]
    ),
    16,
    float32=True,
  ),
  _case(  # from 0.04 to eta_min, then back up to its base rate 0.1
    "cosine-onecycle",
    lambda o: S.SequentialLR(
      o, [S.CosineAnnealingLR(o, 3, 0.01), S.OneCycleLR(o, 1.0, total_steps=10)], [9]
    ),
    lambda: X.SequentialLR(
      [X.CosineAnnealingLR(0.1, 3, 0.01), X.OneCycleLR(1.0, total_steps=10)], [9]
    ),
    16,
    float32=True,
  ),
  _case(  # CyclicLR, built first, makes its base_lr the others' base rate
    "cyclic-cosine",
    lambda o: S.SequentialLR(
      o, [S.CyclicLR(o, 0.01, 0.1, 3), S.CosineAnnealingLR(o, 5)], [8]
    ),
    lambda: X.SequentialLR(
      [X.CyclicLR(0.01, 0.1, 3), X.CosineAnnealingLR(0.1, 5)], [8]
    ),
    20,
  ),
]

CHAINED = [
  _case(  # PyTorch's docstring example
    "constant-exponential",
    lambda o: S.ChainedScheduler([S.ConstantLR(o, 0.1, 20), S.ExponentialLR(o, 0.9)]),
    lambda: X.ChainedScheduler([X.ConstantLR(0.1, 0.1, 20), X.ExponentialLR(0.1, 0.9)]),
    40,
  ),
  _case(  # the cosine restarts from lr after each minimum
    "linear-cosine",
    lambda o: S.ChainedScheduler(
      [S.LinearLR(o, 0.5, total_iters=3), S.CosineAnnealingLR(o, 4)]
    ),
    lambda: X.ChainedScheduler(
      [X.LinearLR(0.1, 0.5, total_iters=3), X.CosineAnnealingLR(0.1, 4)]
    ),
    30,
  ),
  _case(
    "exponential-cosine-step",
    lambda o: S.ChainedScheduler(
      [S.ExponentialLR(o, 0.97), S.CosineAnnealingLR(o, 8), S.StepLR(o, 5, 0.5)]
    ),
    lambda: X.ChainedScheduler(
      [X.ExponentialLR(0.1, 0.97), X.CosineAnnealingLR(0.1, 8), X.StepLR(0.1, 5, 0.5)]
    ),
    60,
  ),
  _case(
    "cosine-multiplicative",
    lambda o: S.ChainedScheduler(
      [S.CosineAnnealingLR(o, 6), S.MultiplicativeLR(o, lambda k: 1 - 1 / (k + 20))]
    ),
    lambda: X.ChainedScheduler(
      [X.CosineAnnealingLR(0.1, 6), X.MultiplicativeLR(0.1, lambda k: 1 - 1 / (k + 20))]
    ),
    40,
  ),
  _case(  # LambdaLR sets the rate each step; ExponentialLR multiplies it once
    "lambda-exponential",
    lambda o: S.ChainedScheduler(
      [S.LambdaLR(o, lambda e: 1 / (e + 1)), S.ExponentialLR(o, 0.5)]
    ),
    lambda: X.ChainedScheduler(
      [X.LambdaLR(0.1, lambda e: 1 / (e + 1)), X.ExponentialLR(0.1, 0.5)]
    ),
    10,
    float32=True,  # the traced lambda divides in float32
  ),
  _case(  # CyclicLR's first step reads the optimizer's initial_lr
    "exponential-cyclic-linear",
    lambda o: S.ChainedScheduler(
      [
        S.ExponentialLR(o, 0.9),
        S.CyclicLR(o, 0.01, 0.1, 3),
        S.LinearLR(o, 0.5, total_iters=4),
      ]
    ),
    lambda: X.ChainedScheduler(
      [
        X.ExponentialLR(0.1, 0.9),
        X.CyclicLR(0.01, 0.1, 3),
        X.LinearLR(0.1, 0.5, total_iters=4),
      ]
    ),
    20,
  ),
  _case(
    "onecycle-cosine-eta-min",
    lambda o: S.ChainedScheduler(
      [S.OneCycleLR(o, 1.0, total_steps=30), S.CosineAnnealingLR(o, 5, 0.01)]
    ),
    lambda: X.ChainedScheduler(
      [X.OneCycleLR(1.0, total_steps=30), X.CosineAnnealingLR(0.1, 5, 0.01)]
    ),
    25,
    float32=True,
  ),
  _case(
    "nested",
    lambda o: S.ChainedScheduler(
      [
        S.ChainedScheduler([S.ConstantLR(o, 0.5, 3), S.StepLR(o, 4, 0.5)]),
        S.PolynomialLR(o, 10, 2.0),
      ]
    ),
    lambda: X.ChainedScheduler(
      [
        X.ChainedScheduler([X.ConstantLR(0.1, 0.5, 3), X.StepLR(0.1, 4, 0.5)]),
        X.PolynomialLR(0.1, 10, 2.0),
      ]
    ),
    15,
  ),
  _case(
    "warm-restarts-linear",
    lambda o: S.ChainedScheduler(
      [S.CosineAnnealingWarmRestarts(o, 5), S.LinearLR(o, 0.5, total_iters=7)]
    ),
    lambda: X.ChainedScheduler(
      [X.CosineAnnealingWarmRestarts(0.1, 5), X.LinearLR(0.1, 0.5, total_iters=7)]
    ),
    20,
  ),
  _case(  # the cosine's base rate, after each minimum, is CyclicLR's base_lr
    "cyclic-polynomial-cosine",
    lambda o: S.ChainedScheduler(
      [
        S.CyclicLR(o, 0.01, 0.1, 3),
        S.PolynomialLR(o, 6, 2.0),
        S.CosineAnnealingLR(o, 4, 0.001),
      ]
    ),
    lambda: X.ChainedScheduler(
      [
        X.CyclicLR(0.01, 0.1, 3),
        X.PolynomialLR(0.1, 6, 2.0),
        X.CosineAnnealingLR(0.1, 4, 0.001),
      ]
    ),
    20,
  ),
]

VALUE_CASES = {
  "ConstantLR": CONSTANT,
  "LinearLR": LINEAR,
  "PolynomialLR": POLYNOMIAL,
  "CosineAnnealingLR": COSINE,
  "CosineAnnealingWarmRestarts": WARM_RESTARTS,
  "CyclicLR": CYCLIC,
  "MultiplicativeLR": MULTIPLICATIVE,
  "earlier": EARLIER,
  "SequentialLR": SEQUENTIAL,
  "ChainedScheduler": CHAINED,
}


def _all_value_cases():
  for group, cases in VALUE_CASES.items():
    for case in cases:
      yield pytest.param(*case.values, id=f"{group}-{case.id}")


def compare(make_theirs, make_ours, steps, options):
  """(ulps, relative error) of the rate and of the momentum, after checking both."""
  float32 = options.pop("float32", False)
  theirs, their_momenta = _torch_values(make_theirs, steps, **options)
  schedule = make_ours()
  count = jnp.arange(steps, dtype=jnp.int32)
  ours = _ours(schedule, count)
  figures = [_ulps(ours, theirs)]
  momentum = optx.torch._onecycle.cycled_momentum(schedule)
  if momentum is not None:
    figures.append(_ulps(_ours(momentum, count), their_momenta))
  for (ulps, relative), what in zip(figures, ["rate", "momentum"], strict=False):
    if float32:
      assert relative <= 1e-6, f"{what}: relative error {relative:.2e}"
    else:
      assert ulps <= 2.0, f"{what}: {ulps:.2f} ulp (relative {relative:.2e})"
  return figures


@pytest.mark.parametrize(
  "make_theirs, make_ours, steps, options", list(_all_value_cases())
)
def test_values_match_pytorch_at_every_step(make_theirs, make_ours, steps, options):
  figures = compare(make_theirs, make_ours, steps, dict(options))
  print(f"\n[parity] {figures}")


def _two_per_group():
  for group, cases in VALUE_CASES.items():
    exact = [c for c in cases if not c.values[3].get("float32")]
    for case in (exact[0], exact[-1]):
      yield pytest.param(case.values[1], case.values[2], id=f"{group}-{case.id}")


@pytest.mark.parametrize("make_ours, steps", list(_two_per_group()))
def test_jit_and_eager_agree(make_ours, steps):
  """XLA must not reassociate the float32 pairs, which it does around constants."""
  schedule = make_ours()
  count = [0, steps // 2, steps - 1]
  eager = np.asarray([schedule(jnp.int32(t)) for t in count])
  np.testing.assert_array_equal(_ours(schedule, jnp.asarray(count, jnp.int32)), eager)


# ----------------------------------------------------------------------------
# CyclicLR's momentum driving the optimizers, against PyTorch's.

UPDATES = 400
SHAPES = [(3,), (4, 3), ()]


def _problem():
  rng = np.random.default_rng(0)
  params = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
  grads = [
    (rng.normal(size=s) + 0.5 * rng.normal(size=(UPDATES, *s))).astype(np.float32)
    for s in SHAPES
  ]
  return params, grads


PARAMS, GRADS = _problem()


def _torch_trajectory(make_opt, make_sched):
  ps = [torch.tensor(p) for p in PARAMS]
  opt = make_opt(ps)
  sched = make_sched(opt)
  out = []
  for t in range(UPDATES):
    for p, g in zip(ps, GRADS, strict=True):
      p.grad = torch.tensor(g[t])
    opt.step()
    sched.step()
    out.append([p.detach().numpy().copy() for p in ps])
  return [np.stack([step[i] for step in out]) for i in range(len(ps))]


def _optx_trajectory(tx):
  params = [jnp.asarray(p) for p in PARAMS]
  grads = [jnp.asarray(g) for g in GRADS]

  def step(carry, g):
    params, state = carry
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
    return (params, state), params

  run = jax.jit(lambda p, g: jax.lax.scan(step, (p, tx.init(p)), g)[1])
  return [np.asarray(leaf) for leaf in run(params, grads)]


def _cyclic():
  return X.CyclicLR(0.01, 0.1, 50, 30, mode="triangular2")


def _torch_cyclic(o):
  return S.CyclicLR(o, 0.01, 0.1, 50, 30, mode="triangular2")


MOMENTUM_CASES = [
  pytest.param(  # PyTorch switches momentum on for an SGD built without it
    lambda p: T.SGD(p, lr=0.1),
    _torch_cyclic,
    lambda: X.SGD(lr=_cyclic()),
    id="sgd-without-momentum",
  ),
  pytest.param(
    lambda p: T.SGD(p, lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01),
    _torch_cyclic,
    lambda: X.SGD(lr=_cyclic(), momentum=0.5, dampening=0.1, weight_decay=0.01),
    id="sgd-dampening-weight-decay",
  ),
  pytest.param(
    lambda p: T.RMSprop(p, lr=0.1, momentum=0.5),
    lambda o: S.CyclicLR(o, 1e-4, 1e-3, 40, mode="exp_range", gamma=0.998),
    lambda: X.RMSprop(
      lr=X.CyclicLR(1e-4, 1e-3, 40, mode="exp_range", gamma=0.998), momentum=0.5
    ),
    id="rmsprop-exp-range",
  ),
  pytest.param(  # beta1 cycles instead
    lambda p: T.Adam(p, lr=0.1),
    lambda o: S.CyclicLR(o, 1e-3, 1e-2, 60, base_momentum=0.8, max_momentum=0.95),
    lambda: X.Adam(lr=X.CyclicLR(1e-3, 1e-2, 60, base_momentum=0.8, max_momentum=0.95)),
    id="adam-beta1",
  ),
  pytest.param(  # held where CyclicLR left it, once the next scheduler runs
    lambda p: T.SGD(p, lr=0.05, momentum=0.3),
    lambda o: S.SequentialLR(
      o,
      [S.LinearLR(o, 0.2, total_iters=50), _torch_cyclic(o), S.ExponentialLR(o, 0.99)],
      [100, 250],
    ),
    lambda: X.SGD(
      lr=X.SequentialLR(
        [X.LinearLR(0.05, 0.2, total_iters=50), _cyclic(), X.ExponentialLR(0.05, 0.99)],
        [100, 250],
      ),
      momentum=0.3,
    ),
    id="sgd-sequential",
  ),
]


@pytest.mark.parametrize("make_opt, make_sched, make_tx", MOMENTUM_CASES)
def test_cycled_momentum_drives_the_optimizer_as_pytorch(make_opt, make_sched, make_tx):
  theirs = _torch_trajectory(make_opt, make_sched)
  ours = _optx_trajectory(make_tx())
  diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs, strict=True))
  scale = max(float(np.max(np.abs(b))) for b in theirs)
  print(f"\n[parity] max|diff|/max|param| = {diff / scale:.2e}")
  assert diff / scale <= 1e-5


def test_adagrad_refuses_a_cycled_momentum():
  with pytest.raises(ValueError, match=r"optx.torch.Adagrad\(lr="):
    X.Adagrad(lr=X.CyclicLR(0.01, 0.1))
  X.Adagrad(lr=X.CyclicLR(0.01, 0.1, cycle_momentum=False))


# ----------------------------------------------------------------------------
# Large steps: exact near int32's maximum, or held past the horizon.


def _cosine64(base, eta_min, done, length):
  return eta_min + (base - eta_min) * (1 + math.cos(math.pi * done / length)) / 2


def _cawr64(t, t0, mult):
  if mult == 1:
    return _cosine64(0.1, 1e-3, t % t0, t0)
  start, length = 0, t0
  while start + length <= t:
    start, length = start + length, length * mult
  return _cosine64(0.1, 1e-3, t - start, length)


def _cyclic64(t):
  p = t % 3000
  w = p / 2000 if p <= 2000 else (3000 - p) / 1000
  return 0.01 + 0.09 * w * (1 - 1e-9) ** t


# gamma = 1 - 1e-9 is a float64 2.8e-17 above 1 - 1e-9, which 2**31 steps
# raise to 6e-8: the references take the float64 gamma, as PyTorch does.
LARGE_STEP_CASES = [
  pytest.param(
    lambda: X.ExponentialLR(0.1, 1 - 1e-9),
    lambda t: 0.1 * math.exp(t * math.log1p((1 - 1e-9) - 1)),
    id="exponential",
  ),
  pytest.param(
    lambda: X.StepLR(0.1, 2**28, 0.5), lambda t: 0.1 * 0.5 ** (t // 2**28), id="step"
  ),
  pytest.param(
    lambda: X.MultiplicativeLR(0.1, lambda e: 1 - 1e-9),
    lambda t: 0.1 * math.exp(t * math.log1p((1 - 1e-9) - 1)),
    id="multiplicative-constant",
  ),
  pytest.param(
    lambda: X.CosineAnnealingLR(0.1, 1000, 1e-3),
    lambda t: _cosine64(0.1, 1e-3, t % 2000, 1000),
    id="cosine-periodic",
  ),
  pytest.param(  # 2 T_max beyond int32
    lambda: X.CosineAnnealingLR(0.1, 2**30 + 3, 1e-3),
    lambda t: _cosine64(0.1, 1e-3, t, 2**30 + 3),
    id="cosine-long",
  ),
  pytest.param(
    lambda: X.CosineAnnealingWarmRestarts(0.1, 7, eta_min=1e-3),
    lambda t: _cawr64(t, 7, 1),
    id="warm-restarts",
  ),
  pytest.param(  # the last cycle ends beyond int32
    lambda: X.CosineAnnealingWarmRestarts(0.1, 1, 2, 1e-3),
    lambda t: _cawr64(t, 1, 2),
    id="warm-restarts-doubling",
  ),
  pytest.param(
    lambda: X.CyclicLR(0.01, 0.1, 2000, 1000, mode="exp_range", gamma=1 - 1e-9),
    _cyclic64,
    id="cyclic-exp-range",
  ),
  pytest.param(lambda: X.LinearLR(0.1, 0.1, 0.5, 1000), lambda t: 0.05, id="linear"),
  pytest.param(lambda: X.ConstantLR(0.1, 0.5, 1000), lambda t: 0.1, id="constant"),
  pytest.param(lambda: X.PolynomialLR(0.1, 1000, 2.0), lambda t: 0.0, id="polynomial"),
  pytest.param(
    lambda: X.SequentialLR(
      [X.LinearLR(0.1, 0.1, total_iters=1000), X.CosineAnnealingLR(0.1, 10**9)],
      [1000],
    ),
    lambda t: _cosine64(0.1, 0.0, t - 1000, 10**9),
    id="sequential",
  ),
  pytest.param(
    lambda: X.ChainedScheduler(
      [X.LinearLR(0.1, 0.5, total_iters=10), X.CosineAnnealingLR(0.1, 1000)]
    ),
    lambda t: _cosine64(0.1, 0.0, t % 2000, 1000),
    id="chained",
  ),
]


@pytest.mark.parametrize("make, exact", LARGE_STEP_CASES)
def test_large_steps_are_exact(make, exact):
  steps = np.arange(INT32_MAX - 2100, INT32_MAX + 1, dtype=np.int64)
  ours = _ours(make(), jnp.asarray(steps, jnp.int32))
  theirs = np.asarray([exact(int(t)) for t in steps])
  assert np.all(np.isfinite(ours))
  ulps, relative = _ulps(ours, theirs)
  print(f"\n[large steps] {ulps:.2f} ulp, relative {relative:.2e}")
  assert ulps <= 2.0


# ----------------------------------------------------------------------------
# Names, defaults, validation, tracing.


@pytest.mark.parametrize(
  "ours, theirs",
  [
    (X.ConstantLR, S.ConstantLR),
    (X.LinearLR, S.LinearLR),
    (X.PolynomialLR, S.PolynomialLR),
    (X.CosineAnnealingLR, S.CosineAnnealingLR),
    (X.CosineAnnealingWarmRestarts, S.CosineAnnealingWarmRestarts),
    (X.CyclicLR, S.CyclicLR),
    (X.MultiplicativeLR, S.MultiplicativeLR),
    (X.SequentialLR, S.SequentialLR),
    (X.ChainedScheduler, S.ChainedScheduler),
  ],
)
def test_names_and_defaults_are_pytorch(ours, theirs):
  their_params = inspect.signature(theirs).parameters
  for name, param in inspect.signature(ours).parameters.items():
    if name == "lr":
      continue  # the base rate stands for the optimizer
    assert name in their_params, f"{ours.__name__}: {name} is not PyTorch's"
    assert param.default == their_params[name].default, f"{ours.__name__}({name})"
  assert ours is getattr(optx.torch.lr_scheduler, ours.__name__)
  assert ours is getattr(optx.torch.optim.lr_scheduler, ours.__name__)


@pytest.mark.parametrize(
  "make, message",
  [
    (
      lambda: X.SequentialLR([X.StepLR(0.1, 2)], [3]),
      r"optx.torch.SequentialLR\(milestones=...\) must have one milestone fewer",
    ),
    (
      lambda: X.SequentialLR([X.StepLR(0.1, 2)] * 3, [5, 3]),
      r"optx.torch.SequentialLR\(milestones=...\) must be non-decreasing",
    ),
    (  # PyTorch divides by zero there
      lambda: X.SequentialLR([X.StepLR(0.1, 2), X.LinearLR(0.1, total_iters=0)], [3]),
      r"schedulers\[1\].*cannot start at milestone 3",
    ),
    (
      lambda: X.SequentialLR([X.StepLR(0.1, 2), X.ReduceLROnPlateau()], [3]),
      r"schedulers\[1\] is a ReduceLROnPlateau",
    ),
    (
      lambda: X.SequentialLR(
        [X.SequentialLR([X.StepLR(0.1, 2)], []), X.StepLR(0.1, 2)], [3]
      ),
      r"schedulers\[0\] is a SequentialLR",
    ),
    (lambda: X.ChainedScheduler([]), r"needs at least one scheduler"),
    (
      lambda: X.ChainedScheduler([X.StepLR(0.1, 2), X.StepLR(0.2, 2)]),
      r"must share one lr",
    ),
    (
      lambda: X.ChainedScheduler(
        [X.StepLR(0.1, 2), X.CosineAnnealingLR(0.1, 10, eta_min=0.01)]
      ),
      r"eta_min=0",
    ),
  ],
)
def test_composite_rules(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_learning_rates_stay_traceable():
  lrs = jnp.asarray([0.1, 0.01], jnp.float32)
  for make in (
    lambda lr: X.CosineAnnealingLR(lr, 10, eta_min=1e-3),
    lambda lr: X.ExponentialLR(lr, 0.9),
    lambda lr: X.SequentialLR([X.LinearLR(lr, total_iters=3), X.StepLR(lr, 2)], [3]),
  ):
    got = jax.jit(jax.vmap(lambda lr, make=make: make(lr)(7)))(lrs)
    want = [float(make(float(lr))(7)) for lr in lrs]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_powers_at_their_limits():
  """gamma = 0 is 0 from the first decay on, gamma > 1 overflows to inf (not NaN)."""
  steps = jnp.asarray([0, 1, 10, 200, 300, INT32_MAX], jnp.int32)
  growing = _ours(X.ExponentialLR(0.1, 1.5), steps)
  np.testing.assert_allclose(
    growing[:4], [0.1 * 1.5**t for t in (0, 1, 10, 200)], rtol=2e-7
  )
  assert np.all(np.isposinf(growing[4:]))
  np.testing.assert_array_equal(
    _ours(X.ExponentialLR(0.1, 0.0), steps), np.float32([0.1, 0, 0, 0, 0, 0])
  )
  np.testing.assert_array_equal(
    _ours(X.ExponentialLR(0.1, 1.0), steps), np.float32([0.1] * 6)
  )
