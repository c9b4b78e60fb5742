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
from optx.torch.lr_scheduler import *  # noqa: F403  (the namespace's __all__)
from optx.torch.optim import *  # noqa: F403

__all__ = ["optim", "param_groups"]
__all__ += optim.__all__  # lr_scheduler among them
__all__ += lr_scheduler.__all__
