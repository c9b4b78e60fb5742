"""``keras.optimizers``: Keras 3's optimizers, with ``schedules`` beside them.

``keras.optimizers.Adam(learning_rate=1e-3)`` becomes
``optx.keras.optimizers.Adam(learning_rate=1e-3)``: an optax transformation.
"""

from optx.keras._adam import Adam as Adam
from optx.keras._adam import AdamState as AdamState
from optx.keras._optimizers import SGD as SGD
from optx.keras._optimizers import Adagrad as Adagrad
from optx.keras._optimizers import AdagradState as AdagradState
from optx.keras._optimizers import RMSprop as RMSprop
from optx.keras._optimizers import RMSpropState as RMSpropState
from optx.keras._optimizers import SGDState as SGDState
from optx.keras.optimizers import schedules as schedules

__all__ = (
  "SGD",
  "Adagrad",
  "AdagradState",
  "Adam",
  "AdamState",
  "RMSprop",
  "RMSpropState",
  "SGDState",
  "schedules",
)
