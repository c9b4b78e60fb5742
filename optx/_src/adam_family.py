"""Adam's variants of the book's chapter 11: AdaMax, Nadam and AdamW.

The book gives them in words on top of Adam's five equations: AdaMax replaces
Adam's second moment by a decaying infinity norm and drops its bias
correction; Nadam is Adam with the Nesterov trick; AdamW is Adam with weight
decay. Their equations here are the papers' the book cites, written in the
book's symbols. The blocks (:func:`scale_by_adamax`, :func:`scale_by_nadam`)
keep :class:`optx.ScaleByAdamState`; the aliases chain them with the learning
rate as :func:`optx.adam` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import optax

from optx._src import adam as adam_lib
from optx._src import base
from optx._src import validation as v
from optx._src import weight_decay as weight_decay_lib
from optx._src.alias import Plateau
from optx._src.alias import learning_rate_blocks
from optx._src.alias import moments
from optx._src.numerics import abs2
from optx._src.numerics import root
from optx._src.numerics import weighted


def _on_adam_state(
  call: str, rule: Callable[..., Any], scalars: Callable[..., dict[str, Any]]
) -> Callable[..., optax.GradientTransformation]:
  """The block that runs the per-leaf ``rule`` on Adam's state (count, m, s).

  ``scalars(t, b1, b2, eps)`` gives the rule its keyword arguments at step t.
  """

  def block(b1: Any, b2: Any, eps: Any, *, mu_dtype: Any, nu_dtype: Any):
    return base.leafwise(
      call,
      rule,
      dict(b1=b1, b2=b2, eps=eps),
      buffers=[(0.0, mu_dtype), (0.0, nu_dtype)],
      counted_state=adam_lib.ScaleByAdamState,
      scalars=scalars,
      needs_count=True,
    )

  return block


def scale_by_adamax(
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
) -> optax.GradientTransformation:
  r"""Rescales updates by AdaMax's bias-corrected mean over a decaying infinity norm.

  Adam's equations with step 2 replaced and step 4 dropped (the book's
  chapter 11; Kingma and Ba, 2015, section 7.1), :math:`t` counted from 1:

  .. math::
    m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \quad
    s \leftarrow \max(\beta_2 s, |g|), \quad
    \hat m = \frac{m}{1 - \beta_1^t}, \quad
    u = \hat m \oslash (s + \varepsilon)

  :math:`\beta_1, \beta_2, \varepsilon` are ``b1``, ``b2``, ``eps``;
  :math:`\varepsilon` (absent from the paper) keeps a coordinate whose
  gradients were all 0 finite, where Keras puts it. ``optax.scale_by_adamax``
  puts it inside the maximum instead, :math:`\max(\beta_2 s, |g| + \varepsilon)`.

  Args:
    b1: :math:`\beta_1` in [0, 1), a float or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float or a schedule.
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    mu_dtype: dtype of :math:`m`; default: the parameters' dtype.
    nu_dtype: dtype of :math:`s`; default: the parameters' dtype.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_adamax(eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, 0.5), state)
    >>> print(f"{u[0]:.4f}")
    1.0000
  """

  def rule(g, m, s, *, b1, b2, bc1, eps):
    m = weighted(m, g, b1)
    s = jnp.maximum(b2 * s, jnp.abs(g).astype(s.dtype))
    return (m / bc1) / (s + eps), m, s

  def bias_correction(t, b1, b2, eps):
    return dict(b1=b1, b2=b2, bc1=1 - b1**t, eps=eps)

  block = _on_adam_state("scale_by_adamax", rule, bias_correction)
  return moments("scale_by_adamax", block, b1, b2, eps, mu_dtype, nu_dtype)


def scale_by_nadam(
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
) -> optax.GradientTransformation:
  r"""Rescales updates with Nadam's look-ahead (Nesterov) first moment.

  Adam's equations with the Nesterov trick in step 3 (the book's chapter 11;
  Dozat, 2016, with a constant :math:`\beta_1`), :math:`t` counted from 1:

  .. math::
    m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2)\, g \otimes g, \quad
    \hat m = \frac{\beta_1 m}{1 - \beta_1^{t+1}} + \frac{(1 - \beta_1)\, g}{1 - \beta_1^t},
    \quad
    \hat s = \frac{s}{1 - \beta_2^t}, \quad
    u = \hat m \oslash \sqrt{\hat s + \varepsilon}

  :math:`\beta_1, \beta_2, \varepsilon` are ``b1``, ``b2``, ``eps``, with
  :math:`\varepsilon` inside the root as in :func:`scale_by_adam`: this is
  ``optax.scale_by_adam(eps=0, eps_root=eps, nesterov=True)``. Keras's and
  PyTorch's Nadam replace :math:`\beta_1` by Dozat's warming schedule
  :math:`\mu_t = \beta_1 (1 - 0.5 \cdot 0.96^{0.004 t})` and its running
  product (:func:`optx.keras.Nadam`, :func:`optx.torch.NAdam`).

  Args:
    b1: :math:`\beta_1` in [0, 1), a float or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float or a schedule.
    eps: :math:`\varepsilon` (>= 0), a float or a schedule.
    mu_dtype: dtype of :math:`m`; default: the parameters' dtype.
    nu_dtype: dtype of :math:`s`; default: the parameters' dtype.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.scale_by_nadam(eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.full(1, 0.5), state)
    >>> print(f"{u[0]:.4f}")
    1.4737
  """

  def rule(g, m, s, *, b1, b2, bc1, bc1_next, bc2, eps):
    m = weighted(m, g, b1)
    s = weighted(s, abs2(g), b2)
    m_hat = b1 * m / bc1_next + (1 - b1) * g / bc1
    return m_hat / root(s / bc2, eps, "inside"), m, s

  def bias_corrections(t, b1, b2, eps):
    return dict(
      b1=b1, b2=b2, bc1=1 - b1**t, bc1_next=1 - b1 ** (t + 1), bc2=1 - b2**t, eps=eps
    )

  block = _on_adam_state("scale_by_nadam", rule, bias_corrections)
  return moments("scale_by_nadam", block, b1, b2, eps, mu_dtype, nu_dtype)


def adamax(
  learning_rate: base.ScalarOrSchedule,
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""AdaMax: Adam with the infinity norm (the max) of the decayed gradients.

  The book's chapter 11 replaces Adam's step 2 by a maximum, drops step 4 and
  scales the step down by :math:`s` (Kingma and Ba, 2015, section 7.1), with
  :math:`t` counted from 1:

  .. math::
    m \leftarrow \beta_1 m - (1 - \beta_1) \nabla_\theta J, \quad
    s \leftarrow \max(\beta_2 s, |\nabla_\theta J|), \quad
    \hat m = \frac{m}{1 - \beta_1^t}, \quad
    \theta \leftarrow \theta + \eta\, \hat m \oslash (s + \varepsilon)

  where :math:`\eta, \beta_1, \beta_2, \varepsilon` are ``learning_rate``,
  ``b1``, ``b2``, ``eps`` (:math:`\varepsilon` where Keras adds it). See
  :func:`optx.scale_by_adamax`.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    b1: :math:`\beta_1` in [0, 1), a float, an array or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float, an array or a schedule.
    eps: :math:`\varepsilon` (>= 0).
    mu_dtype: dtype of :math:`m`; default: the parameters'.
    nu_dtype: dtype of :math:`s`; default: the parameters'.
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.adamax(0.002)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.002000
  """
  scaled = moments("adamax", scale_by_adamax, b1, b2, eps, mu_dtype, nu_dtype)
  return base.chain(scaled, *learning_rate_blocks("adamax", learning_rate, plateau))


def nadam(
  learning_rate: base.ScalarOrSchedule,
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  *,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Nadam: Adam plus the Nesterov trick.

  The book's chapter 11 gives Nadam as Adam with Nesterov momentum (Dozat,
  2016): the step looks ahead with the next bias correction of :math:`m` and
  the current gradient's, :math:`t` counted from 1:

  .. math::
    m \leftarrow \beta_1 m - (1 - \beta_1) \nabla_\theta J, \quad
    s \leftarrow \beta_2 s + (1 - \beta_2) \nabla_\theta J \otimes \nabla_\theta J,

  .. math::
    \hat m = \frac{\beta_1 m}{1 - \beta_1^{t+1}}
      - \frac{(1 - \beta_1) \nabla_\theta J}{1 - \beta_1^t}, \quad
    \hat s = \frac{s}{1 - \beta_2^t}, \quad
    \theta \leftarrow \theta + \eta\, \hat m \oslash \sqrt{\hat s + \varepsilon}

  where :math:`\eta, \beta_1, \beta_2, \varepsilon` are ``learning_rate``,
  ``b1``, ``b2``, ``eps`` (inside the root, as in :func:`optx.adam`): this
  is ``optax.nadam(eps=0, eps_root=eps)``. Keras's ``Nadam`` and PyTorch's
  ``NAdam`` warm :math:`\beta_1` up with Dozat's schedule instead, and end
  far from this (``docs/differences.md``).

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    b1: :math:`\beta_1` in [0, 1), a float, an array or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float, an array or a schedule.
    eps: :math:`\varepsilon` (>= 0).
    mu_dtype: dtype of :math:`m`; default: the parameters'.
    nu_dtype: dtype of :math:`s`; default: the parameters'.
    plateau: an optional :func:`optx.reduce_on_plateau`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.nadam(0.001)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(jnp.zeros(1)))
    >>> print(f"{u[0]:.6f}")
    -0.001474
  """
  scaled = moments("nadam", scale_by_nadam, b1, b2, eps, mu_dtype, nu_dtype)
  return base.chain(scaled, *learning_rate_blocks("nadam", learning_rate, plateau))


def adamw(
  learning_rate: base.ScalarOrSchedule,
  b1: base.ScalarOrSchedule = 0.9,
  b2: base.ScalarOrSchedule = 0.999,
  eps: base.ScalarOrSchedule = 1e-7,
  weight_decay: base.ScalarOrSchedule = 0.004,
  *,
  mask: Any | Callable[[optax.Params], Any] | None = None,
  amsgrad: bool = False,
  mu_dtype: Any = None,
  nu_dtype: Any = None,
  plateau: Plateau = None,
) -> optax.GradientTransformationExtraArgs:
  r"""AdamW: Adam with decoupled weight decay.

  The book's chapter 11 describes AdamW as Adam that also shrinks the weights
  at every iteration, decoupled from the gradient's moments (Loshchilov and
  Hutter, 2019): Adam's five equations (:func:`optx.adam`), then

  .. math::
    \theta \leftarrow \theta + \eta\, \hat m \oslash \sqrt{\hat s + \varepsilon}
      - \eta \lambda \theta

  where :math:`\eta, \beta_1, \beta_2, \varepsilon, \lambda` are
  ``learning_rate``, ``b1``, ``b2``, ``eps``, ``weight_decay`` (Keras's
  default 0.004), the decay scaled by the learning rate as in Keras 3,
  PyTorch and Optax. This is ``optax.adamw(eps=0, eps_root=eps)``.

  Args:
    learning_rate: :math:`\eta` (>= 0), a float, an array or a schedule.
    b1: :math:`\beta_1` in [0, 1), a float, an array or a schedule.
    b2: :math:`\beta_2` in [0, 1), a float, an array or a schedule.
    eps: :math:`\varepsilon` (>= 0).
    weight_decay: :math:`\lambda` (>= 0), a float or a schedule.
    mask: a tree of bools (or a function of the params returning one) saying
      which leaves decay; default: all.
    amsgrad: use the running maximum of :math:`s` (AMSGrad).
    mu_dtype: dtype of :math:`m`; default: the parameters'.
    nu_dtype: dtype of :math:`s`; default: the parameters'.
    plateau: an optional :func:`optx.reduce_on_plateau` (it lowers the step,
      not the decay).

  Returns:
    An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs
    ``params``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optx
    >>> tx = optx.adamw(0.1, weight_decay=0.5)
    >>> params = jnp.ones(1)
    >>> u, _ = tx.update(jnp.full(1, 0.5), tx.init(params), params)
    >>> print(f"{u[0]:.4f}")
    -0.1500
  """
  v.check_number("adamw", "weight_decay", weight_decay, lower=0)
  v.check_bool("adamw", "amsgrad", amsgrad)
  scaled = moments(
    "adamw", adam_lib.scale_by_adam, b1, b2, eps, mu_dtype, nu_dtype, amsgrad=amsgrad
  )
  return base.chain(
    scaled,
    *learning_rate_blocks("adamw", learning_rate, plateau),
    weight_decay_lib.add_decoupled_weight_decay(weight_decay, learning_rate, mask=mask),
  )
