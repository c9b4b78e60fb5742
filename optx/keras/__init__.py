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
from optx.keras.callbacks import LearningRateScheduler as LearningRateScheduler
from optx.keras.callbacks import (
  LearningRateSchedulerState as LearningRateSchedulerState,
)
from optx.keras.callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from optx.keras.callbacks import (
  ScheduledLearningRateState as ScheduledLearningRateState,
)
from optx.keras.optimizers import SGD as SGD
from optx.keras.optimizers import Adagrad as Adagrad
from optx.keras.optimizers import AdagradState as AdagradState
from optx.keras.optimizers import Adam as Adam
from optx.keras.optimizers import AdamState as AdamState
from optx.keras.optimizers import RMSprop as RMSprop
from optx.keras.optimizers import RMSpropState as RMSpropState
from optx.keras.optimizers import SGDState as SGDState

__all__ = (
  "SGD",
  "Adagrad",
  "AdagradState",
  "Adam",
  "AdamState",
  "LearningRateScheduler",
  "LearningRateSchedulerState",
  "RMSprop",
  "RMSpropState",
  "ReduceLROnPlateau",
  "ScheduledLearningRateState",
  "WeightDecayState",
  "callbacks",
  "load_variables",
  "optimizers",
  "schedules",
  "variable_values",
)
