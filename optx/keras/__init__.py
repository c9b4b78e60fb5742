"""Keras 3's optimizers, schedules and learning-rate callbacks, update for update.

``optx.keras.SGD``, ``Adagrad``, ``RMSprop`` and ``Adam`` take Keras 3's
argument names and defaults and compute Keras's ``update_step`` in Keras's
order (Adam's epsilon hat, the learning rate inside the momentum buffers,
epsilon inside the roots, clipping and decoupled weight decay in Keras's
order), plus the book's legacy spellings ``lr=`` and ``decay=``.
``optx.keras.schedules`` holds Keras's learning-rate schedules;
:class:`ReduceLROnPlateau` and :class:`LearningRateScheduler` are Keras's
callbacks, passed to an optimizer as ``callbacks=[...]``. The namespaces
mirror Keras's (``optx.keras.optimizers``, ``optx.keras.optimizers.schedules``,
``optx.keras.callbacks``), every name also at ``optx.keras`` itself. Each
optimizer returns a real ``optax`` transformation. See
``docs/porting_keras.md``.
"""

from optx.keras import callbacks as callbacks
from optx.keras import optimizers as optimizers
from optx.keras import schedules as schedules
from optx.keras._callbacks import WeightDecayState as WeightDecayState
from optx.keras._checkpoint import load_variables as load_variables
from optx.keras._checkpoint import variable_values as variable_values
from optx.keras._ema import ema_params as ema_params
from optx.keras._ema import finalize_variable_values as finalize_variable_values
from optx.keras._loss_scale import loss_scale as loss_scale
from optx.keras._loss_scale import scale_loss as scale_loss
from optx.keras._options import Options as Options
from optx.keras.callbacks import *  # noqa: F403  (the namespace's __all__)
from optx.keras.optimizers import *  # noqa: F403

__all__ = [
  "Options",
  "WeightDecayState",
  "callbacks",
  "ema_params",
  "finalize_variable_values",
  "load_variables",
  "loss_scale",
  "optimizers",
  "scale_loss",
  "variable_values",
]
__all__ += callbacks.__all__
__all__ += optimizers.__all__  # its schedules too
