"""Reading traced programs: what a test may check of a step without XLA's output.

A jaxpr is JAX's own record of the operations a function asks for, before XLA
compiles (and rewrites) them; checks on it hold whatever the XLA release.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax.extend as jex


def equations(jaxpr: Any) -> Iterator[Any]:
  """Every equation of ``jaxpr`` (a Jaxpr or ClosedJaxpr), nested ones included."""
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  for equation in jaxpr.eqns:
    yield equation
    for param in equation.params.values():
      for sub in param if isinstance(param, (list, tuple)) else [param]:
        if isinstance(sub, (jex.core.ClosedJaxpr, jex.core.Jaxpr)):
          yield from equations(sub)


def primitives(jaxpr: Any) -> list[str]:
  """The names of the primitives of every equation of ``jaxpr``, nested ones included."""
  return [equation.primitive.name for equation in equations(jaxpr)]
