"""Adam's building block: bias-corrected estimates of the first two moments."""

from __future__ import annotations

from typing import Any
from typing import Literal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optx._src import base
from optx._src import validation as v
from optx._src.numerics import MOMENT_FORMS
from optx._src.numerics import MomentForm
from optx._src.numerics import abs2
from optx._src.numerics import root

AdamEpsPlacement = Literal["inside", "outside", "hat"]


class ScaleByAdamState(NamedTuple):
  """State of :func:`scale_by_adam`: step count, first and second moments."""

  count: jax.Array
  mu: optax.Params
  nu: optax.Params


class ScaleByAmsgradState(NamedTuple):
  """State of :func:`scale_by_adam` with ``amsgrad=True``: adds the running max of ``nu``."""

  count: jax.Array
  mu: optax.Params
  nu: optax.Params
  nu_max: optax.Params


def scale_by_adam(
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  eps_placement: AdamEpsPlacement = "inside",
  moment_form: MomentForm = "weighted",
  amsgrad: bool = False,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
) -> optax.GradientTransformation:
  r"""Rescales updates with Adam's bias-corrected moment estimates.

  The book's five equations (its :math:`m` is the negative of this one, which
  the learning-rate block negates instead), with :math:`t` counted from 1:

  .. math::
    m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2)\, g \otimes g, \quad
    \hat m = \frac{m}{1 - \beta_1^t}, \quad
    \hat s = \frac{s}{1 - \beta_2^t}, \quad
    u = \hat m \oslash \sqrt{\hat s + \varepsilon}

  :math:`\beta_1, \beta_2, \varepsilon` are ``b1``, ``b2``, ``eps``. With a
  scheduled :math:`\beta`, the bias correction uses the current value
  (PyTorch's rule under ``OneCycleLR``). ``eps_placement`` moves
  :math:`\varepsilon`: ``"outside"`` gives :math:`\hat m / (\sqrt{\hat s} +
  \varepsilon)` (PyTorch, Optax); ``"hat"`` gives
  :math:`\hat m / (\sqrt{\hat s} + \varepsilon / \sqrt{1 - \beta_2^t})`, which
  is :math:`\alpha\, m / (\sqrt{s} + \varepsilon)` with Keras's
  :math:`\alpha = \sqrt{1-\beta_2^t} / (1-\beta_1^t)`. With ``amsgrad`` the
  running maximum of the raw :math:`s` replaces :math:`s` (Keras and PyTorch).

  ``moment_form`` is how the averages are rounded, equal in exact arithmetic:
  ``"weighted"`` computes :math:`\beta m + (1-\beta) g` as written (the
  book's, Optax's); ``"interpolated"`` computes :math:`m + (1-\beta)(g - m)`
  (Keras's), which loses a small :math:`g` after a large :math:`m` when
  :math:`\beta = 0`; ``"torch"`` is PyTorch's ``lerp`` for :math:`m` and the
  weighted form for :math:`s`.

  Args:
    b1: :math:`\beta_1` in [0, 1), a float or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float or a schedule.
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    eps_placement: ``"inside"`` (the book's), ``"outside"`` or ``"hat"``.
    moment_form: ``"weighted"`` (the book's), ``"interpolated"`` or ``"torch"``.
    amsgrad: keep the running maximum of :math:`s`.
    mu_dtype: dtype of :math:`m`; default: the parameters' dtype.
    nu_dtype: dtype of :math:`s` (and its maximum); default: the parameters'.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_adam(eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, 0.5), state)
    >>> print(f"{u[0]:.4f}")
    1.0000
  """
  call = "scale_by_adam"
  v.check_moments(call, b1, b2, eps, mu_dtype, nu_dtype)
  v.check_choice(call, "eps_placement", eps_placement, ["inside", "outside", "hat"])
  v.check_choice(call, "moment_form", moment_form, list(MOMENT_FORMS))
  v.check_bool(call, "amsgrad", amsgrad)
  average_m, average_s = MOMENT_FORMS[moment_form]

  def rule(g, m, s, *, b1, b2, bc1, bc2, eps):
    m = average_m(m, g, b1)
    s = average_s(s, abs2(g), b2)
    return (m / bc1) / root(s / bc2, eps, eps_placement), m, s

  def amsgrad_rule(g, m, s, s_max, *, b1, b2, bc1, bc2, eps):
    m = average_m(m, g, b1)
    s = average_s(s, abs2(g), b2)
    s_max = jnp.maximum(s_max, s)
    return (m / bc1) / root(s_max / bc2, eps, eps_placement), m, s, s_max

  def bias_corrections(t, b1, b2, eps):
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    eps = eps / jnp.sqrt(bc2) if eps_placement == "hat" else eps
    return dict(b1=b1, b2=b2, bc1=bc1, bc2=bc2, eps=eps)

  return base.leafwise(
    call,
    amsgrad_rule if amsgrad else rule,
    dict(b1=b1, b2=b2, eps=eps),
    buffers=[(0.0, mu_dtype), (0.0, nu_dtype), (0.0, nu_dtype)][: 3 if amsgrad else 2],
    counted_state=ScaleByAmsgradState if amsgrad else ScaleByAdamState,
    scalars=bias_corrections,
    needs_count=True,
  )
