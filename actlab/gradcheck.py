"""Numerical gradients by central differences, to check backprop (and to time the old way).

``grad_check(loss_fn, params)`` returns a pytree shaped like ``params`` holding
``(loss(θ + eps e_i) - loss(θ - eps e_i)) / (2 eps)`` for every scalar parameter θ_i (or for
``coords`` of them chosen at random; the others are NaN). It evaluates in float64 when it
can (``jax.enable_x64``), so the truncation error O(eps^2) dominates rounding. ``compare``
gives the largest relative error against an analytic gradient.

Each coordinate costs two forward passes: on the 784-50-10 net of article 000 (39 760
parameters) one numerical gradient is 79 520 forward passes where backprop needs about one
forward and one backward (``cost`` measures the ratio).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


def _x64():
    """A context manager turning on float64 (``jax.enable_x64`` on JAX >= 0.8)."""
    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # older JAX
        from jax.experimental import enable_x64 as enable
    return enable(True)


def grad_check(
    loss_fn: Callable[[Any], jax.Array],
    params,
    eps: float = 1e-3,
    *,
    coords: int | None = None,
    seed: int = 0,
    x64: bool = True,
    batch: int = 256,
):
    """Central-difference gradient of ``loss_fn`` (params -> scalar) at ``params``.

    Returns a pytree with ``params``' structure and shapes (float64 when ``x64``). ``coords``:
    evaluate only that many coordinates, drawn without replacement with
    ``np.random.default_rng(seed)``; the rest are NaN (``compare`` skips them). ``batch``
    coordinates are evaluated per compiled call (``lax.map``), which bounds memory.
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    flat, _ = ravel_pytree(params)
    n = flat.size
    if coords is None:
        idx = np.arange(n)
    else:
        if not 1 <= coords <= n:
            raise ValueError(f"coords must be between 1 and the {n} parameters, got {coords}")
        idx = np.sort(np.random.default_rng(seed).choice(n, coords, replace=False))

    def run():
        dtype = jnp.float64 if x64 else flat.dtype
        theta = jnp.asarray(flat, dtype)

        def f(v):  # unravel_pytree would cast back to float32: split by hand
            return loss_fn(_unravel_as(v, params))

        @jax.jit
        def one(i):
            e = jnp.zeros_like(theta).at[i].set(eps)
            return (f(theta + e) - f(theta - e)) / (2 * eps)

        vals = jax.lax.map(one, jnp.asarray(idx), batch_size=min(batch, idx.size))
        out = jnp.full(n, jnp.nan, dtype).at[jnp.asarray(idx)].set(vals.astype(dtype))
        return jax.tree.map(np.asarray, _unravel_as(out, params))

    if x64:
        with _x64():
            return run()
    return run()


def _unravel_as(vec: jax.Array, like):
    """Split a flat vector into ``like``'s leaves (keeping ``vec``'s dtype)."""
    leaves, treedef = jax.tree.flatten(like)
    out, start = [], 0
    for leaf in leaves:
        size = int(np.prod(np.shape(leaf)))
        out.append(vec[start : start + size].reshape(np.shape(leaf)))
        start += size
    return jax.tree.unflatten(treedef, out)


def relative_error(numerical, analytic, floor: float = 1e-8):
    """Elementwise ``|n - a| / max(|n|, |a|, floor)`` as a pytree (NaN where n is NaN)."""
    return jax.tree.map(
        lambda n, a: (
            np.abs(np.asarray(n, np.float64) - np.asarray(a, np.float64))
            / np.maximum(np.maximum(np.abs(n), np.abs(a)), floor)
        ),
        numerical,
        analytic,
    )


def compare(numerical, analytic, floor: float = 1e-8) -> float:
    """Largest relative error ``|n - a| / max(|n|, |a|, floor)`` over the coordinates that
    ``numerical`` holds (NaN coordinates, those ``grad_check(coords=...)`` skipped, are
    ignored). ``floor`` keeps coordinates where both are ~0 from dividing by zero."""
    errs = [e[~np.isnan(e)] for e in jax.tree.leaves(relative_error(numerical, analytic, floor))]
    errs = [e for e in errs if e.size]
    if not errs:
        raise ValueError("numerical holds no evaluated coordinate")
    return float(max(e.max() for e in errs))


def cost(loss_fn: Callable[[Any], jax.Array], params, coords: int = 200, repeats: int = 3) -> dict:
    """Time one numerical gradient against one backprop gradient of ``loss_fn`` at ``params``.

    The numerical gradient is timed on ``coords`` coordinates (float32, as the model trains,
    evaluated one coordinate after another as a training loop would) and extrapolated
    linearly to every parameter; backprop is ``jax.jit(jax.grad(loss_fn))``. Compilation is
    excluded from both. Returns dict(params, coords, numerical_s_per_coord,
    numerical_s_extrapolated, backprop_s, ratio).
    """
    flat, unravel = ravel_pytree(params)
    n = flat.size
    coords = min(coords, n)
    f = lambda v: loss_fn(unravel(v))
    grad = jax.jit(jax.grad(loss_fn))
    jax.block_until_ready(grad(params))

    def backprop():
        jax.block_until_ready(grad(params))

    @jax.jit
    def one(i):
        e = jnp.zeros_like(flat).at[i].set(1e-3)
        return (f(flat + e) - f(flat - e)) / 2e-3

    jax.block_until_ready(one(0))

    def numerical():
        # one coordinate at a time, two forward passes each: the article's numerical gradient
        for i in range(coords):
            jax.block_until_ready(one(i))

    bp = min(_timed(backprop) for _ in range(max(repeats, 1) * 5))
    num = min(_timed(numerical) for _ in range(max(repeats, 1)))
    per = num / coords
    return {
        "params": int(n),
        "coords": int(coords),
        "numerical_s_per_coord": per,
        "numerical_s_extrapolated": per * n,
        "backprop_s": bp,
        "ratio": per * n / bp,
    }


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
