"""The activation slot: where a model's activation goes, filled by actlab with the study's choice.

A model of any framework marks where its activation goes by calling the slot it is given as
its second argument, ``act``. actlab fills the slot with the traced choice of activation, so
that one compiled call trains every activation x seed x lr of the same model::

    class MLP(nn.Module):                           # Flax linen; NNX and Equinox alike
        @nn.compact
        def __call__(self, x, act):
            for width in (64, 64):
                x = act(nn.Dense(width * act.pieces)(x))
            return nn.Dense(10)(x)

* ``act(z)`` maps pre-activations ``z: [..., width * act.pieces]`` to ``[..., width]``: the
  activation acts on the last axis. ``act.pieces`` is 1 unless the study has a
  shape-changing activation (maxout: 2 linear pieces per unit; a GLU: its gate's input and
  its linear input), in which case the layer before each call must be ``act.pieces`` times
  as wide; piece ``p`` of unit ``u`` is column ``u * pieces + p``, and a pointwise
  activation in such a layer reads piece 0. A model that ignores ``pieces`` works with every
  pointwise activation and is refused, before training, with maxout or a GLU.
* Parametric activations (PReLU's slope per unit) keep their parameters in the slot, one
  set per call, created from the call's width and trained with the model's parameters.
* Every call is a *hidden layer* of the unit census (``actlab.census``): the slot records
  ``z``, ``h = f(z)`` and ``f'(z)`` when the census asks for them.
* Calls are counted in the order the forward pass makes them; the slot must be called the
  same number of times, with the same widths, on every forward pass, and not inside a
  ``jax.lax`` loop or conditional of the model's own (a call there is refused with a
  message: its parameters and census would leak out of the loop's trace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from actlab import activations

Array = jax.Array


class Capture(NamedTuple):
    """What the census reads of one slot call (``[..., width]`` per example and position)."""

    d: Array  # f'(z) per unit; NaN where a per-unit derivative has no meaning (softmax)
    h: Array  # f(z)
    z: Array  # [..., width, pieces]: piece p of unit u is column u * pieces + p


class Slot:
    """The activation slot of one forward pass (see the module docstring).

    ``acts``: the activations the traced step can choose from; ``index``: the choice (a
    Python int traces one branch, a traced int a real conditional); ``params``: one array
    per call for a parameterised activation (None: their initial values, as at init);
    ``capture``: record each call's ``Capture`` for the census.
    """

    def __init__(
        self,
        acts: Sequence[str],
        index: int | Array = 0,
        params: Sequence[Array] | None = None,
        capture: bool = False,
    ):
        self.acts = tuple(acts)
        self.index = index
        self.pieces = activations.pieces(self.acts)
        entries = [activations.get(a) for a in self.acts]
        inits = [a.param_init for a in entries if a.has_params]
        self.param_init = max(inits) if inits else None  # None: no parameterised activation
        self.params = params
        self.capture = capture
        self.widths: list[int] = []  # each call's width, in call order
        self.captures: list[Capture] = []

    @property
    def has_params(self) -> bool:
        return self.param_init is not None

    def __call__(self, z: Array) -> Array:
        z = jnp.asarray(z)
        if z.ndim < 1 or z.shape[-1] % self.pieces:
            raise ValueError(
                f"the activation slot got pre-activations of shape {tuple(z.shape)}: with "
                f"{', '.join(self.acts)} the last axis must be a multiple of act.pieces = "
                f"{self.pieces} (make the layer before it act.pieces times as wide)"
            )
        width = z.shape[-1] // self.pieces
        call = len(self.widths)
        slope = None
        if self.has_params:
            if self.params is None:
                slope = jnp.full((width,), self.param_init, z.dtype)
            elif call >= len(self.params) or self.params[call].shape != (width,):
                raise ValueError(
                    f"the activation slot was called {call + 1} times, or with another width, "
                    f"than when the model was initialised ({len(self.params)} calls): call it "
                    "the same way on every forward pass"
                )
            else:
                slope = self.params[call]
        h = activations.apply(self.acts, self.index, z, slope)
        self.widths.append(width)
        if self.capture:
            self.captures.append(_capture(self.acts, self.index, z, h, slope, width))
        return h

    def child(self) -> Slot:
        """A slot with the same choice and parameters and nothing recorded: for a model
        vmapped over examples inside the forward pass (``adopt`` takes its records back)."""
        return Slot(self.acts, self.index, self.params, self.capture)

    def adopt(self, child: Slot, captures: list[Capture]) -> None:
        """Take ``child``'s calls as this slot's, with ``captures`` (``child``'s, batched)."""
        self.widths = list(child.widths)
        self.captures = list(captures)

    def init_params(self) -> list[Array]:
        """The parameterised activation's initial parameters, one per recorded call."""
        if not self.has_params:
            return []
        return [jnp.full((w,), self.param_init, jnp.float32) for w in self.widths]


def _capture(acts, index, z: Array, h: Array, slope, width: int) -> Capture:
    pieces = z.reshape(*z.shape[:-1], width, -1)  # [..., width, pieces]
    # f' per unit is the derivative of h w.r.t. piece 0: an elementwise unit reads piece 0
    # only, a GLU's piece 0 is its gate's input (d h / d a = f'(a) b). Maxout's derivative
    # w.r.t. its pieces is one-hot, 1 on the winning piece: its slot is differentiated as the
    # identity, which gives that 1 without the max's JVP (a chooser reduce costing as much as
    # the rest of the census on a CPU)
    linear = tuple("none" if activations.get(a).selects else a for a in acts)
    k = activations.pieces(linear)  # the pieces the branches read: the first k of each unit
    zk = pieces[..., :k].reshape(*z.shape[:-1], width * k)
    f = lambda u: activations.apply(linear, index, u, slope)
    tangent = jnp.broadcast_to((jnp.arange(width * k) % k == 0).astype(z.dtype), zk.shape)
    d = jax.jvp(f, (zk,), (tangent,))[1]
    meaningful = jnp.array([activations.has_unit_derivative(a) for a in acts])[index]
    return Capture(jnp.where(meaningful, d, jnp.nan), h, pieces)
