"""Your own Equinox model in an actlab study: a regression, y = sin(3x) + noise, under MSE.

An Equinox model is given as a function of its key (``actlab.Equinox``); it takes one example,
as Equinox models do, and actlab vmaps it over the batch. Float targets and ``loss="mse"``
make a regression: the report compares activations by test loss (there is no accuracy).
Needs ``pip install 'actlab[equinox]'``.

    python examples/equinox_study.py
    actlab run examples/equinox_study.py --seeds 4 --steps 200
"""

import equinox as eqx
import jax
import numpy as np
import optax

import actlab


class MLP(eqx.Module):
    layers: list

    def __init__(self, key, pieces: int = 1, width: int = 32):
        k = jax.random.split(key, 3)
        self.layers = [
            eqx.nn.Linear(1, width * pieces, key=k[0]),
            eqx.nn.Linear(width, width * pieces, key=k[1]),
            eqx.nn.Linear(width, 1, key=k[2]),
        ]

    def __call__(self, x, act):  # x: [1], one example
        return self.layers[2](act(self.layers[1](act(self.layers[0](x)))))


def sine(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 1)).astype(np.float32)
    return x, (np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=n)).astype(np.float32)


def study(quick: bool = False) -> actlab.Study:
    return actlab.Study(
        name="equinox_sine",
        model=actlab.Equinox(MLP),
        activations=("relu", "tanh", "gelu", "silu"),
        data=actlab.data.from_arrays(*sine(2048, 0), *sine(1024, 1), name="sine"),
        optimizer=optax.adam(3e-3),
        loss="mse",
        seeds=2 if quick else 10,
        batch_size=64,
        steps=100 if quick else 3000,
        evals=5,
    )


if __name__ == "__main__":
    actlab.runner.execute("equinox_sine", study(), "runs/equinox_sine")
