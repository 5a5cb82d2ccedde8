"""What several test modules share: a tiny dataset, a small study on it, a made-up trace, and
the fingerprint of every model a run trained."""

import hashlib

import jax
import numpy as np
import optax

import actlab
from actlab.train import Trace

DATA = actlab.data.teacher_student(n_train=256, n_test=128, dim=6, classes=3, hidden=8)


def small(acts, **kw) -> actlab.Study:
    """A 6-8-6-3 MLP under Adam on ``DATA``: 3 seeds, 20 steps of 16 examples, evaluated at
    steps 0, 7, 14 and 20; ``kw`` replaces any field."""
    args = dict(
        model=actlab.MLP(hidden=(8, 6)),
        activations=acts,
        data=DATA,
        optimizer=optax.adam(1e-2),
        seeds=3,
        batch_size=16,
        steps=20,
        eval_every=7,  # 20 = 7 + 7 + 6: the last interval is partial
    )
    args.update(kw)
    return actlab.Study(**args)


def synthetic_trace(
    lead: tuple[int, ...], evals: int, layers: int, *, every: int, low: float, high: float,
    diverged: float = 0.0,
) -> Trace:  # fmt: skip
    """A ``Trace`` of uniform random values in [low, high), ``[*lead, evals, (layers)]``,
    evaluated every ``every`` steps, the census over ``layers - 1`` hidden layers, with a
    share ``diverged`` of the records flagged as diverged; no training."""
    rng = np.random.default_rng(0)
    u = lambda *extra: rng.uniform(low, high, (*lead, evals, *extra)).astype(np.float32)
    return Trace(
        step=np.broadcast_to(np.arange(evals, dtype=np.int32) * every, (*lead, evals)).copy(),
        batch_loss=u(),
        train_loss=u(),
        test_loss=u(),
        grad_norm=u(layers),
        weight_norm=u(layers),
        update_ratio=u(layers),
        inactive=u(layers - 1),
        dead=u(layers - 1),
        saturated=u(layers - 1),
        diverged=rng.uniform(0.0, 1.0, (*lead, evals)) < diverged,
        metrics={"train_accuracy": u(), "test_accuracy": u()},
    )


def fingerprints(result: actlab.Result) -> dict[str, str]:
    """``{"act/seed": sha256}`` of everything a model is: its trace, its state (parameters,
    optimizer state, data key and order) and its divergence step (grouped mode)."""
    out = {}
    for a, act in enumerate(result.activations):
        leaves = jax.tree.leaves(result.states[a])
        leaves = [jax.random.key_data(x) if _is_key(x) else x for x in leaves]
        for s in range(result.study.seeds):
            h = hashlib.sha256()
            for x in (*(t[a] for t in result.trace.flat().values()), *leaves):
                h.update(np.ascontiguousarray(np.asarray(x)[s]).tobytes())
            out[f"{act}/{s}"] = h.hexdigest()
    return out


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
