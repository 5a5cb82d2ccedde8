"""The shortest study file: a function that returns an ``actlab.Study``.

A regression, y = sin(3x) + noise, under MSE with float targets, the built-in MLP, and a
metric of your own (the mean absolute error, lower is better). ``actlab run`` gives it what
a built-in protocol gets: progress, checkpoints, ``--resume``, the report, ``--processes``
and the ``--seeds`` / ``--acts`` / ``--steps`` overrides::

    actlab run examples/my_study.py --seeds 4 --steps 200
    actlab run examples/my_study.py --seeds 4 --steps 200 --resume    # after Ctrl-C or a kill
"""

import jax.numpy as jnp
import numpy as np
import optax

import actlab


def sine(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 1)).astype(np.float32)
    return x, (np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=n)).astype(np.float32)


def errors(outputs, y):
    """The mean absolute error and the mean error (the bias) of a batch."""
    e = outputs[:, 0] - y
    return {"mae": jnp.abs(e).mean(), "bias": e.mean()}


def study(quick: bool = False) -> actlab.Study:
    return actlab.Study(
        name="my_study",
        model=actlab.MLP(hidden=(32, 32)),
        activations=("relu", "tanh", "gelu"),
        data=actlab.data.from_arrays(*sine(1024, 0), *sine(512, 1), name="sine"),
        optimizer=optax.adam(3e-3),
        loss="mse",
        metrics=errors,
        goals={"mae": "min"},  # the bias has no better side: a diverged run is left out
        seeds=2 if quick else 10,
        batch_size=32,
        steps=100 if quick else 2000,
        evals=10,
    )
