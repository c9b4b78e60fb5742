"""``torch.optim.lr_scheduler``: PyTorch's learning-rate schedulers.

Each takes the base learning rate where PyTorch takes the optimizer and is a
step schedule, ``scheduler(t)`` being the rate of update :math:`t + 1` when
``scheduler.step()`` follows every ``optimizer.step()``; pass it as an
``optx.torch`` optimizer's ``lr``. :class:`SequentialLR` and
:class:`ChainedScheduler` take the schedulers they compose, already built.
:class:`ReduceLROnPlateau` goes to an optimizer's ``plateau=`` instead, with
:func:`optx.observe` where PyTorch calls ``scheduler.step(metric)``.
"""

from optx.torch._composite import ChainedScheduler as ChainedScheduler
from optx.torch._composite import SequentialLR as SequentialLR
from optx.torch._cosine import CosineAnnealingLR as CosineAnnealingLR
from optx.torch._cosine import (
  CosineAnnealingWarmRestarts as CosineAnnealingWarmRestarts,
)
from optx.torch._cyclic import CyclicLR as CyclicLR
from optx.torch._multiplicative import MultiplicativeLR as MultiplicativeLR
from optx.torch._onecycle import OneCycleLR as OneCycleLR
from optx.torch._plateau import ReduceLROnPlateau as ReduceLROnPlateau
from optx.torch._ramps import ConstantLR as ConstantLR
from optx.torch._ramps import LinearLR as LinearLR
from optx.torch._ramps import PolynomialLR as PolynomialLR
from optx.torch._schedulers import ExponentialLR as ExponentialLR
from optx.torch._schedulers import LambdaLR as LambdaLR
from optx.torch._schedulers import MultiStepLR as MultiStepLR
from optx.torch._schedulers import StepLR as StepLR

__all__ = (
  "ChainedScheduler",
  "ConstantLR",
  "CosineAnnealingLR",
  "CosineAnnealingWarmRestarts",
  "CyclicLR",
  "ExponentialLR",
  "LambdaLR",
  "LinearLR",
  "MultiStepLR",
  "MultiplicativeLR",
  "OneCycleLR",
  "PolynomialLR",
  "ReduceLROnPlateau",
  "SequentialLR",
  "StepLR",
)
