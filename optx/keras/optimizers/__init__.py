"""``keras.optimizers``: Keras 3's optimizers, with ``schedules`` beside them.

``keras.optimizers.Adam(learning_rate=1e-3)`` becomes
``optx.keras.optimizers.Adam(learning_rate=1e-3)``: an optax transformation.
"""

from optx.keras._accumulate import (
  GradientAccumulationState as GradientAccumulationState,
)
from optx.keras._adadelta import Adadelta as Adadelta
from optx.keras._adadelta import AdadeltaState as AdadeltaState
from optx.keras._adam import Adam as Adam
from optx.keras._adam import AdamState as AdamState
from optx.keras._ema import (
  ExponentialMovingAverageState as ExponentialMovingAverageState,
)
from optx.keras._loss_scale import LossScaleFactorState as LossScaleFactorState
from optx.keras._loss_scale import LossScaleOptimizer as LossScaleOptimizer
from optx.keras._loss_scale import LossScaleState as LossScaleState
from optx.keras._optimizers import SGD as SGD
from optx.keras._optimizers import Adagrad as Adagrad
from optx.keras._optimizers import AdagradState as AdagradState
from optx.keras._optimizers import RMSprop as RMSprop
from optx.keras._optimizers import RMSpropState as RMSpropState
from optx.keras._optimizers import SGDState as SGDState
from optx.keras._variants import Adamax as Adamax
from optx.keras._variants import AdamaxState as AdamaxState
from optx.keras._variants import AdamW as AdamW
from optx.keras._variants import Nadam as Nadam
from optx.keras._variants import NadamState as NadamState
from optx.keras.optimizers import schedules as schedules

__all__ = ["SGD", "SGDState", "Adagrad", "AdagradState", "RMSprop", "RMSpropState"]
__all__ += ["Adam", "AdamState", "Adadelta", "AdadeltaState"]
__all__ += ["Adamax", "AdamaxState", "AdamW", "Nadam", "NadamState"]
__all__ += ["LossScaleOptimizer", "LossScaleState", "LossScaleFactorState"]
__all__ += ["ExponentialMovingAverageState", "GradientAccumulationState"]
__all__ += ["schedules"]
