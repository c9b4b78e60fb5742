"""optx: the optimizers and learning-rate schedules of the book's chapter 11 as Optax transformations."""

from optx import keras as keras
from optx import torch as torch
from optx._src.adam import ScaleByAdamState as ScaleByAdamState
from optx._src.adam import ScaleByAmsgradState as ScaleByAmsgradState
from optx._src.adam import scale_by_adam as scale_by_adam
from optx._src.adam_family import adamax as adamax
from optx._src.adam_family import adamw as adamw
from optx._src.adam_family import nadam as nadam
from optx._src.adam_family import scale_by_adamax as scale_by_adamax
from optx._src.adam_family import scale_by_nadam as scale_by_nadam
from optx._src.adaptive import CountedScaleByRmsState as CountedScaleByRmsState
from optx._src.adaptive import CountedScaleByRssState as CountedScaleByRssState
from optx._src.adaptive import CountedScaleByStddevState as CountedScaleByStddevState
from optx._src.adaptive import ScaleByRmsState as ScaleByRmsState
from optx._src.adaptive import ScaleByRssState as ScaleByRssState
from optx._src.adaptive import ScaleByStddevState as ScaleByStddevState
from optx._src.adaptive import scale_by_rms as scale_by_rms
from optx._src.adaptive import scale_by_rss as scale_by_rss
from optx._src.adaptive import scale_by_stddev as scale_by_stddev
from optx._src.alias import adagrad as adagrad
from optx._src.alias import adam as adam
from optx._src.alias import momentum as momentum
from optx._src.alias import nesterov as nesterov
from optx._src.alias import rmsprop as rmsprop
from optx._src.alias import sgd as sgd
from optx._src.base import Elementwise as Elementwise
from optx._src.base import ScalarOrSchedule as ScalarOrSchedule
from optx._src.base import Schedule as Schedule
from optx._src.base import chain as chain
from optx._src.early_stopping import EarlyStopping as EarlyStopping
from optx._src.early_stopping import EarlyStoppingConfig as EarlyStoppingConfig
from optx._src.early_stopping import EarlyStoppingState as EarlyStoppingState
from optx._src.early_stopping import early_stopping as early_stopping
from optx._src.finder import LearningRateFinderResult as LearningRateFinderResult
from optx._src.finder import find_learning_rate as find_learning_rate
from optx._src.flatten import FlattenState as FlattenState
from optx._src.flatten import flatten as flatten
from optx._src.onecycle import onecycle_momentum_schedule as onecycle_momentum_schedule
from optx._src.onecycle import onecycle_schedule as onecycle_schedule
from optx._src.plateau import PlateauConfig as PlateauConfig
from optx._src.plateau import ReduceOnPlateauState as ReduceOnPlateauState
from optx._src.plateau import has_plateau as has_plateau
from optx._src.plateau import observe as observe
from optx._src.plateau import plateau_scale as plateau_scale
from optx._src.plateau import reduce_on_plateau as reduce_on_plateau
from optx._src.schedules import epoch_schedule as epoch_schedule
from optx._src.schedules import exponential_schedule as exponential_schedule
from optx._src.schedules import (
  piecewise_constant_schedule as piecewise_constant_schedule,
)
from optx._src.schedules import power_schedule as power_schedule
from optx._src.sweep import sweep as sweep
from optx._src.transform import CountedTraceState as CountedTraceState
from optx._src.transform import ScaleByLearningRateState as ScaleByLearningRateState
from optx._src.transform import TraceState as TraceState
from optx._src.transform import scale_by_learning_rate as scale_by_learning_rate
from optx._src.transform import trace as trace
from optx._src.weight_decay import (
  AddDecoupledWeightDecayState as AddDecoupledWeightDecayState,
)
from optx._src.weight_decay import (
  add_decoupled_weight_decay as add_decoupled_weight_decay,
)

__version__ = "0.1.0"

__all__ = (
  "AddDecoupledWeightDecayState",
  "CountedScaleByRmsState",
  "CountedScaleByRssState",
  "CountedScaleByStddevState",
  "CountedTraceState",
  "EarlyStopping",
  "EarlyStoppingConfig",
  "EarlyStoppingState",
  "Elementwise",
  "FlattenState",
  "LearningRateFinderResult",
  "PlateauConfig",
  "ReduceOnPlateauState",
  "ScalarOrSchedule",
  "ScaleByAdamState",
  "ScaleByAmsgradState",
  "ScaleByLearningRateState",
  "ScaleByRmsState",
  "ScaleByRssState",
  "ScaleByStddevState",
  "Schedule",
  "TraceState",
  "adagrad",
  "add_decoupled_weight_decay",
  "adam",
  "adamax",
  "adamw",
  "chain",
  "early_stopping",
  "epoch_schedule",
  "exponential_schedule",
  "find_learning_rate",
  "flatten",
  "has_plateau",
  "keras",
  "momentum",
  "nadam",
  "nesterov",
  "observe",
  "onecycle_momentum_schedule",
  "onecycle_schedule",
  "piecewise_constant_schedule",
  "plateau_scale",
  "power_schedule",
  "reduce_on_plateau",
  "rmsprop",
  "scale_by_adam",
  "scale_by_adamax",
  "scale_by_learning_rate",
  "scale_by_nadam",
  "scale_by_rms",
  "scale_by_rss",
  "scale_by_stddev",
  "sgd",
  "sweep",
  "torch",
  "trace",
)
