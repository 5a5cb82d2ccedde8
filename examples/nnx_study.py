"""Your own Flax NNX model in an actlab study: an MLP on MNIST-1D, with a metric of your own.

An NNX model is given as a function of its ``rngs`` (``actlab.NNX``), so that each seed builds
its own; it may also take ``pieces`` (how much wider the layer before each activation must be:
maxout needs 2) and ``outputs`` (the data's output width). ``metrics`` is traced at every
evaluation point, on the test and the training sample, like the built-in ones.

    python examples/nnx_study.py
    actlab run examples/nnx_study.py --seeds 4 --steps 200
"""

import jax.numpy as jnp
import optax
from flax import nnx

import actlab


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs, pieces: int = 1, outputs: int = 10, width: int = 128):
        self.hidden = nnx.Linear(40, width * pieces, rngs=rngs)
        self.second = nnx.Linear(width, width * pieces, rngs=rngs)
        self.out = nnx.Linear(width, outputs, rngs=rngs)

    def __call__(self, x, act):
        return self.out(act(self.second(act(self.hidden(x)))))


def confidence(logits, labels):
    """The mean probability the model gives the right class, and its top-2 accuracy."""
    p = jnp.take_along_axis(jnp.exp(logits - logits.max(-1, keepdims=True)), labels[:, None], 1)
    p = p[:, 0] / jnp.exp(logits - logits.max(-1, keepdims=True)).sum(-1)
    top2 = (jnp.argsort(logits, -1)[:, -2:] == labels[:, None]).any(-1)
    return {"p_true": p.mean(), "top2": top2.mean().astype(jnp.float32)}


def study(quick: bool = False) -> actlab.Study:
    return actlab.Study(
        name="nnx_mlp",
        model=actlab.NNX(MLP),
        activations=("relu", "leaky_relu", "elu", "maxout"),
        data=actlab.data.mnist1d(),
        optimizer=optax.adam(1e-3),
        metrics=confidence,
        goals={"p_true": "max", "top2": "max"},
        seeds=2 if quick else 10,
        batch_size=64,
        steps=100 if quick else 3000,
        evals=5,
    )


if __name__ == "__main__":
    actlab.runner.execute("nnx_mlp", study(), "runs/nnx_mlp")
