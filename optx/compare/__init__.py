"""The comparison run behind ``python -m optx``: the book's chapter 11 on real data.

A small multilayer perceptron (plain JAX, no framework) learns scikit-learn's
bundled handwritten digits (1,797 8x8 images, no download) with a fixed
train/validation split; each run is one ``jit``-compiled ``lax.scan``.

One module per concern: :mod:`~optx.compare.data` (the digits and each epoch's
batches), :mod:`~optx.compare.model` (the MLP, its loss and accuracy),
:mod:`~optx.compare.runs` (the configuration and the runs it selects),
:mod:`~optx.compare.finder` (1cycle's maximum rate from the learning-rate
finder), :mod:`~optx.compare.train` (the jitted training and its timing),
:mod:`~optx.compare.report` (table, notes, CSV, plots),
:mod:`~optx.compare.against` (``--against keras|torch``: the real framework
beside its optx flavor), :mod:`~optx.compare.cli` (the command line) and
:mod:`~optx.compare.extras` (the optional ``report`` extra). This package uses
only the public ``optx`` API.
"""

from optx.compare.against import run_against as run_against
from optx.compare.cli import QUICK as QUICK
from optx.compare.cli import UsageError as UsageError
from optx.compare.cli import main as main
from optx.compare.cli import parser as parser
from optx.compare.cli import run_comparison as run_comparison
from optx.compare.data import Dataset as Dataset
from optx.compare.data import batch_order as batch_order
from optx.compare.data import epoch_plan as epoch_plan
from optx.compare.data import load_digits as load_digits
from optx.compare.extras import REPORT_EXTRA as REPORT_EXTRA
from optx.compare.finder import run_finder as run_finder
from optx.compare.model import accuracy as accuracy
from optx.compare.model import cross_entropy as cross_entropy
from optx.compare.model import init_mlp as init_mlp
from optx.compare.model import mlp_apply as mlp_apply
from optx.compare.report import CSV_COLUMNS as CSV_COLUMNS
from optx.compare.report import format_notes as format_notes
from optx.compare.report import format_table as format_table
from optx.compare.report import write_csv as write_csv
from optx.compare.runs import MOMENTUM_FAMILY as MOMENTUM_FAMILY
from optx.compare.runs import OPTIMIZERS as OPTIMIZERS
from optx.compare.runs import SCHEDULES as SCHEDULES
from optx.compare.runs import Config as Config
from optx.compare.runs import Run as Run
from optx.compare.runs import build_runs as build_runs
from optx.compare.train import TIMING_KEYS as TIMING_KEYS
from optx.compare.train import make_shared_train as make_shared_train
from optx.compare.train import make_train as make_train
from optx.compare.train import run_one as run_one
from optx.compare.train import run_shared as run_shared
