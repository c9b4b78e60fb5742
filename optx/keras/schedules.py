"""``optx.keras.schedules``: the same namespace as ``optx.keras.optimizers.schedules``."""

from optx.keras.optimizers.schedules import *  # noqa: F403
from optx.keras.optimizers.schedules import __all__ as __all__
