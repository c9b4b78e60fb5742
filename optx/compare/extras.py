"""The optional ``report`` extra: matplotlib, scikit-learn and tqdm.

They are imported only when the run starts (install them with
``pip install matplotlib scikit-learn tqdm``), so ``import optx`` and
``import optx.compare`` never need them.
"""

from __future__ import annotations

import importlib
from typing import Any

REPORT_EXTRA = "pip install matplotlib scikit-learn tqdm"


def require(module: str) -> Any:
  """Imports an optional dependency of the report, or exits naming the extra."""
  try:
    return importlib.import_module(module)
  except ImportError as error:
    raise SystemExit(
      f"python -m optx needs the optional 'report' extra ({module.split('.')[0]}"
      f" is missing: {error}).\nInstall it with: {REPORT_EXTRA}"
    ) from None
