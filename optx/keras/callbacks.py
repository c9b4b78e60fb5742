"""``keras.callbacks``: Keras's learning-rate callbacks, for ``optx.keras`` optimizers.

Pass them to an optimizer as ``callbacks=[...]``; see
:class:`ReduceLROnPlateau` and :class:`LearningRateScheduler`.
"""

from optx.keras._callbacks import LearningRateScheduler as LearningRateScheduler
from optx.keras._callbacks import (
  LearningRateSchedulerState as LearningRateSchedulerState,
)
from optx.keras._callbacks import ReduceLROnPlateau as ReduceLROnPlateau
from optx.keras._callbacks import (
  ScheduledLearningRateState as ScheduledLearningRateState,
)

__all__ = (
  "LearningRateScheduler",
  "LearningRateSchedulerState",
  "ReduceLROnPlateau",
  "ScheduledLearningRateState",
)
