"""``keras.optimizers.schedules``: Keras 3's learning-rate schedules.

Each factory takes the arguments of its namesake and returns a schedule,
``step -> value`` (a float32 scalar), usable as the ``learning_rate`` of any
optx optimizer; the step is Keras's ``optimizer.iterations``, 0 on the first
update.
"""

from optx.keras._schedules import CosineDecay as CosineDecay
from optx.keras._schedules import CosineDecayRestarts as CosineDecayRestarts
from optx.keras._schedules import ExponentialDecay as ExponentialDecay
from optx.keras._schedules import InverseTimeDecay as InverseTimeDecay
from optx.keras._schedules import PiecewiseConstantDecay as PiecewiseConstantDecay
from optx.keras._schedules import PolynomialDecay as PolynomialDecay

__all__ = (
  "CosineDecay",
  "CosineDecayRestarts",
  "ExponentialDecay",
  "InverseTimeDecay",
  "PiecewiseConstantDecay",
  "PolynomialDecay",
)
