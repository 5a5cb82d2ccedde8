"""Your own Flax linen model in an actlab study: a residual MLP with LayerNorm on MNIST-1D.

The model takes the activation slot ``act`` and calls it where the activation goes; the layer
before it is ``act.pieces`` times as wide (1 here; 2 for maxout). actlab fills the slot with
each activation in turn and trains every activation x seed in one compiled call.

    python examples/linen_study.py            # 4 activations x 10 seeds, report in runs/
    actlab run examples/linen_study.py --seeds 4 --steps 200     # the same through the CLI
"""

import flax.linen as nn
import optax

import actlab


class ResidualMLP(nn.Module):
    width: int = 64
    depth: int = 2
    classes: int | None = None  # None: the data's number of classes

    @nn.compact
    def __call__(self, x, act):
        h = nn.Dense(self.width)(x)
        for _ in range(self.depth):
            z = nn.Dense(self.width * act.pieces)(nn.LayerNorm()(h))
            h = h + nn.Dense(self.width)(act(z))
        return nn.Dense(self.classes)(nn.LayerNorm()(h))


def study(quick: bool = False) -> actlab.Study:
    return actlab.Study(
        name="linen_residual_mlp",
        model=ResidualMLP(),
        activations=("relu", "gelu", "silu", "tanh"),
        data=actlab.data.mnist1d(),
        optimizer=optax.adam(1e-3),
        seeds=2 if quick else 10,
        batch_size=64,
        steps=100 if quick else 3000,
        evals=5,
    )


if __name__ == "__main__":
    actlab.runner.execute("linen_residual_mlp", study(), "runs/linen_residual_mlp")
