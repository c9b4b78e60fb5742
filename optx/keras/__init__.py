"""Keras 3's optimizers, schedules and learning-rate callbacks, update for update.

``optx.keras.SGD``, ``Adagrad``, ``RMSprop`` and ``Adam`` take Keras 3's
argument names and defaults and reproduce its trajectories (Adam's epsilon
hat, the learning rate inside the momentum buffers, epsilon inside the roots,
clipping and decoupled weight decay in Keras's order), plus the seed's legacy
spellings ``lr=`` and ``decay=``. ``optx.keras.schedules`` holds Keras's
learning-rate schedules; :class:`ReduceLROnPlateau` and
:class:`LearningRateScheduler` are Keras's callbacks, passed to an optimizer
as ``callbacks=[...]``. Each returns a real ``optax`` transformation built
from optx's blocks. See ``docs/porting_keras.md``.
"""

from optx.keras import schedules as schedules
from optx.keras._callbacks import LearningRateScheduler as LearningRateScheduler
from optx.keras._callbacks import (
  LearningRateSchedulerState as LearningRateSchedulerState,
)
from optx.keras._callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from optx.keras._optimizers import SGD as SGD
from optx.keras._optimizers import Adagrad as Adagrad
from optx.keras._optimizers import Adam as Adam
from optx.keras._optimizers import RMSprop as RMSprop
from optx.keras._optimizers import WeightDecayState as WeightDecayState

__all__ = (
  "SGD",
  "Adagrad",
  "Adam",
  "LearningRateScheduler",
  "LearningRateSchedulerState",
  "RMSprop",
  "ReduceLROnPlateau",
  "WeightDecayState",
  "schedules",
)
