"""The unit census: which units of each hidden layer are inactive, dead or saturated.

A *hidden layer* is one call of the activation slot (``actlab.slot``); a *unit* is one of its
outputs (a channel of a convolution, a feature of a Transformer's feed-forward layer: its
statistics run over examples and positions, every leading axis of the slot's input). The
census reads a stated sample of training examples chunk by chunk inside the compiled
program (``tally`` per chunk, ``verdict`` at the end). With ``z`` the unit's
pre-activation and ``h = f(z)``:

* **inactive**: the unit sits on one side on every example. Elementwise activations:
  ``z <= 0`` on every example, the side where ReLU and step output 0, leaky ReLU and PReLU
  use their negative slope, ELU / SELU / CELU / GELU / SiLU approach their negative limit,
  and sigmoid / tanh / softsign are below their midpoint (for those it says which side, not
  that the gradient is small: see ``dead`` and ``saturated``). Maxout: one and the same
  piece wins on every example (ties go to the first piece), so the unit is a fixed linear
  map and its other pieces get no gradient. A GLU (``f(a) * b``): as an elementwise unit, on
  its gate's input ``a`` (piece 0): ReGLU with ``a <= 0`` everywhere outputs 0.
* **dead**: the output barely varies: ``std h <= dead_tol * M * std z`` over the sample
  (population std; ``dead_tol`` default 1e-3; for maxout ``std z`` is the largest std of
  its pieces). The scale is the unit's own input, so the test does not depend on how large
  the signals reaching the layer are, and a layer dead as a whole is still counted. Dead:
  ReLU with ``z <= 0`` everywhere (``h = 0``); with ``z`` in a narrow band around ``z0``,
  sigmoid at ``|z0| > ~8.3``, tanh at ``|z0| > ~4.2``, ELU at ``z0 < ~-6.9``; any unit whose
  ``z`` is the same on every example. Not dead: leaky ReLU with ``z < 0`` everywhere (its
  output still varies by ``0.01 * std z``, ten times the tolerance; at a slope below
  ``dead_tol * M`` it could be); a step unit unless its output is constant (its M is 0).
* **saturated**: ``|f'(z)| < saturation * M`` or ``f'(z) = 0`` on every example
  (``saturation`` default 0.01): the largest ``|f'|`` the unit saw is below that. A step
  unit is always saturated (its gradient is 0); leaky ReLU never (``|f'| >= 0.01``);
  maxout never (its derivative w.r.t. its winning piece is 1). A GLU's ``f'`` is
  ``d h / d a = f'(a) b``.

``M`` is the activation's ``max_grad`` (the sup of ``|f'|``, from the registry). For an
activation registered without one (``max_grad=None``: unknown, or unbounded as ReLU²'s and
the GLUs'), ``M`` is measured from the sample: the largest ``|f'(z)|`` of any unit of the
layer on any example of the census sample, so "dead" and "saturated" are relative to the
layer's own gradients; ``scales`` warns once per such activation.

The three are NaN for activations where a per-unit census has no meaning
(``activations.has_unit_derivative`` False: softmax) and for a layer where any captured value
is NaN. Deviations are summed from each chunk's first example and chunks merged by Chan et
al.'s formula, so a constant output gives exactly 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from actlab import activations
from actlab.slot import Capture

Array = jax.Array
_WARNED: set[str] = set()


class Scales(NamedTuple):
    """Per activation of a traced step (``[acts]``), what the census compares against."""

    gain: Array  # dead_tol * M (NaN: M is measured from the sample)
    sat: Array  # saturation * M (NaN: likewise)
    dead_tol: float
    saturation: float
    multi: Array  # bool: maxout, a unit outputs the winner of its pieces
    meaningful: Array  # bool: a per-unit derivative means something
    pieces: int  # pre-activations per unit in the layer (the step's widest)


def scales(acts: Sequence[str], dead_tol: float, saturation: float) -> Scales:
    """``Scales`` of ``acts``; warns once per activation whose M is measured from the sample."""
    entries = [activations.get(a) for a in acts]
    for a in entries:
        if not _known(a.max_grad) and a.name not in _WARNED:
            _WARNED.add(a.name)
            warnings.warn(
                f"activation {a.name!r} has no known bound on its derivative (max_grad): the "
                "unit census measures its scale from the sample (the layer's largest |f'|)",
                stacklevel=3,
            )
    # products in double precision, then float32, as the thresholds always were
    times = lambda k: jnp.array(
        [a.max_grad * k if _known(a.max_grad) else math.nan for a in entries]
    )
    return Scales(
        times(dead_tol),
        times(saturation),
        dead_tol,
        saturation,
        jnp.array([a.selects for a in entries]),
        jnp.array([activations.has_unit_derivative(a.name) for a in entries]),
        max(a.pieces for a in entries),
    )


def _known(max_grad) -> bool:
    return max_grad is not None and math.isfinite(max_grad)


class Tally(NamedTuple):
    """One hidden layer's census so far, per unit (``[units]`` unless said)."""

    mean_h: Array  # mean of h = f(z)
    m2_h: Array  # sum of squared deviations of h from its mean
    mean_z: Array  # [units, pieces]
    m2_z: Array  # [units, pieces]
    on: Array  # [units, pieces] examples with z_p > 0 (maxout: on which piece p won)
    max_d: Array  # the largest |f'(z)| over the examples so far


def empty(c: Capture) -> Tally:
    """The tally before any chunk, for a layer captured as ``c`` (shapes only)."""
    zero = jnp.zeros(c.z.shape[-2:], jnp.float32)
    return Tally(zero[:, 0], zero[:, 0], zero, zero, zero, zero[:, 0])


def _merge(mean_a, m2_a, n_a, mean_b, m2_b, n_b):
    """Chan et al.'s pairwise update of (mean, m2) for sets of n_a and n_b values (n_a may be
    0: then b is returned exactly)."""
    n = n_a + n_b
    delta = mean_b - mean_a
    cross = jnp.where(n_a > 0, delta * delta * (n_a * n_b / n), 0.0)  # no inf * 0 at the start
    return mean_a + delta * (n_b / n), m2_a + m2_b + cross


def _moments(x: Array, axes: tuple[int, ...], m: int) -> tuple[Array, Array]:
    """(mean, m2) over ``axes`` of ``x``, from deviations to its first entry (exact zeros
    for a constant)."""
    first = x[(slice(0, 1),) * len(axes)]
    dx = x - first
    s = dx.sum(axes)
    ref = first.reshape(x.shape[len(axes) :])
    return ref + s / m, jnp.maximum((dx * dx).sum(axes) - s * s / m, 0.0)


def tally(t: Tally, i: Array, c: Capture, act, s: Scales) -> Tally:
    """``t`` updated with chunk ``i`` (``c.d, c.h: [..., units]``, ``c.z: [..., units, k]``)."""
    d, h, z = c
    axes = tuple(range(h.ndim - 1))  # examples (and positions)
    m = h.size // h.shape[-1]
    on = z > 0
    if s.pieces > 1:  # maxout: which piece wins, ties to the first (argmax: a slow CPU reduce)
        best, win = z[..., 0], jnp.zeros(h.shape, jnp.int32)
        for p in range(1, s.pieces):
            win = jnp.where(z[..., p] > best, p, win)
            best = jnp.maximum(best, z[..., p])
        on = jnp.where(s.multi[act], jax.nn.one_hot(win, s.pieces, dtype=bool), on)
    n_a = i.astype(jnp.float32) * m  # values merged so far (the chunks before this one)
    mean_h, m2_h = _merge(t.mean_h, t.m2_h, n_a, *_moments(h, axes, m), m)
    mean_z, m2_z = _merge(t.mean_z, t.m2_z, n_a, *_moments(z, axes, m), m)
    # counts are only compared with 0, which float sums of 0/1 get exactly right
    count = on.astype(jnp.float32).sum(axes)
    return Tally(
        mean_h, m2_h, mean_z, m2_z, t.on + count, jnp.maximum(t.max_d, jnp.abs(d).max(axes))
    )


def verdict(t: Tally, act, s: Scales) -> Array:
    """[3]: fractions of the layer's units inactive, dead and saturated (NaN: no meaning)."""
    measured = t.max_d.max()  # M where the registry has none: the layer's largest |f'|
    gain = jnp.where(jnp.isnan(s.gain[act]), s.dead_tol * measured, s.gain[act])
    sat = jnp.where(jnp.isnan(s.sat[act]), s.saturation * measured, s.sat[act])
    multi = s.multi[act]
    used = (jnp.arange(t.m2_z.shape[-1]) == 0) | multi  # the pieces a unit reads
    spread = jnp.where(used[None, :], t.m2_z, 0.0).max(-1)
    won = (t.on > 0).sum(-1)  # maxout: pieces that won on some example
    inactive = jnp.where(multi, won == 1, t.on[:, 0] == 0)
    dead = t.m2_h <= gain**2 * spread  # std h <= dead_tol * M * std z
    saturated = (t.max_d < sat) | (t.max_d == 0)
    fractions = jnp.stack([inactive.mean(), dead.mean(), saturated.mean()])
    # a NaN anywhere in a layer's h or z reaches its sums (f is finite for finite z)
    nan = ~s.meaningful[act] | jnp.isnan(t.m2_h).any() | jnp.isnan(t.m2_z).any()
    return jnp.where(nan, jnp.nan, fractions)
