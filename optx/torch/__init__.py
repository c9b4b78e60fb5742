"""PyTorch flavor: ``torch.optim`` optimizers and schedulers, update for update.

Each optimizer takes PyTorch's argument names and defaults (``lr``,
``momentum``, ``dampening``, ``betas``, ``alpha``, ``eps``, ...), validates
them as PyTorch does, and computes PyTorch's update rule in PyTorch's order (the learning rate
multiplies the whole step, outside every buffer, and ``weight_decay`` is a
coupled L2 term added to the gradient, decoupled in :func:`AdamW`). The schedulers take the base learning rate where PyTorch takes
the optimizer and return step schedules; pass them as ``lr=``.

PyTorch's usage ``opt.step(); sched.step()`` gives update :math:`t` (1-based)
the scheduler's value at ``last_epoch = t - 1``, which is optx's step count.
So ``optx.torch.SGD(lr=optx.torch.StepLR(0.1, 30))`` reproduces
``SGD(params, lr=0.1)`` with ``StepLR(opt, 30)`` stepped after every update.

``ReduceLROnPlateau`` needs measurements: give it to an optimizer as
``plateau=`` and call :func:`optx.observe` with the validation loss where
PyTorch calls ``scheduler.step(val_loss)``. This module does not import
PyTorch. The namespaces mirror PyTorch's: ``optx.torch.optim`` and
``optx.torch.optim.lr_scheduler`` (also ``optx.torch.lr_scheduler``), every
name also at ``optx.torch`` itself. :func:`param_groups` gives groups of
parameters their own hyperparameters, as PyTorch's ``param_groups`` do.
"""

from optx.torch import lr_scheduler as lr_scheduler
from optx.torch import optim as optim
from optx.torch._groups import param_groups as param_groups
from optx.torch.lr_scheduler import ChainedScheduler as ChainedScheduler
from optx.torch.lr_scheduler import ConstantLR as ConstantLR
from optx.torch.lr_scheduler import CosineAnnealingLR as CosineAnnealingLR
from optx.torch.lr_scheduler import (
  CosineAnnealingWarmRestarts as CosineAnnealingWarmRestarts,
)
from optx.torch.lr_scheduler import CyclicLR as CyclicLR
from optx.torch.lr_scheduler import ExponentialLR as ExponentialLR
from optx.torch.lr_scheduler import LambdaLR as LambdaLR
from optx.torch.lr_scheduler import LinearLR as LinearLR
from optx.torch.lr_scheduler import MultiplicativeLR as MultiplicativeLR
from optx.torch.lr_scheduler import MultiStepLR as MultiStepLR
from optx.torch.lr_scheduler import OneCycleLR as OneCycleLR
from optx.torch.lr_scheduler import PolynomialLR as PolynomialLR
from optx.torch.lr_scheduler import ReduceLROnPlateau as ReduceLROnPlateau
from optx.torch.lr_scheduler import SequentialLR as SequentialLR
from optx.torch.lr_scheduler import StepLR as StepLR
from optx.torch.optim import SGD as SGD
from optx.torch.optim import Adadelta as Adadelta
from optx.torch.optim import AdadeltaState as AdadeltaState
from optx.torch.optim import Adagrad as Adagrad
from optx.torch.optim import AdagradState as AdagradState
from optx.torch.optim import Adam as Adam
from optx.torch.optim import Adamax as Adamax
from optx.torch.optim import AdamaxState as AdamaxState
from optx.torch.optim import AdamState as AdamState
from optx.torch.optim import AdamW as AdamW
from optx.torch.optim import NAdam as NAdam
from optx.torch.optim import NAdamState as NAdamState
from optx.torch.optim import RMSprop as RMSprop
from optx.torch.optim import RMSpropState as RMSpropState
from optx.torch.optim import SGDState as SGDState
from optx.torch.optim import load_state_dict as load_state_dict
from optx.torch.optim import scheduler_state_dict as scheduler_state_dict
from optx.torch.optim import state_dict as state_dict

__all__ = (
  "SGD",
  "Adadelta",
  "AdadeltaState",
  "Adagrad",
  "AdagradState",
  "Adam",
  "AdamState",
  "AdamW",
  "Adamax",
  "AdamaxState",
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
  "NAdam",
  "NAdamState",
  "OneCycleLR",
  "PolynomialLR",
  "RMSprop",
  "RMSpropState",
  "ReduceLROnPlateau",
  "SGDState",
  "SequentialLR",
  "StepLR",
  "load_state_dict",
  "lr_scheduler",
  "optim",
  "param_groups",
  "scheduler_state_dict",
  "state_dict",
)
