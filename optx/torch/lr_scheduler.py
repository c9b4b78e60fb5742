"""``torch.optim.lr_scheduler``: PyTorch's learning-rate schedulers.

Each takes the base learning rate where PyTorch takes the optimizer and is a
step schedule, ``scheduler(t)`` being the rate of update :math:`t + 1` when
``scheduler.step()`` follows every ``optimizer.step()``; pass it as an
``optx.torch`` optimizer's ``lr``. :class:`ReduceLROnPlateau` goes to an
optimizer's ``plateau=`` instead, with :func:`optx.observe` where PyTorch calls
``scheduler.step(metric)``.
"""

from optx.torch._onecycle import OneCycleLR as OneCycleLR
from optx.torch._plateau import ReduceLROnPlateau as ReduceLROnPlateau
from optx.torch._schedulers import ExponentialLR as ExponentialLR
from optx.torch._schedulers import LambdaLR as LambdaLR
from optx.torch._schedulers import MultiStepLR as MultiStepLR
from optx.torch._schedulers import StepLR as StepLR

__all__ = (
  "ExponentialLR",
  "LambdaLR",
  "MultiStepLR",
  "OneCycleLR",
  "ReduceLROnPlateau",
  "StepLR",
)
