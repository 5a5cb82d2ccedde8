"""Article 000: a 784-50-10 network, sigmoid vs ReLU: accuracy, loss and time, one epoch.

    python experiments/two_layer_mnist.py --quick --out /tmp/two   # CI size
    python experiments/two_layer_mnist.py --out runs/two_layer_mnist   # 10 seeds, 600 steps

The article (Julia, one run each) trained with a numerical gradient ("forward propagation",
~5 h per epoch) and with backprop (~16 s per epoch), measured test accuracy on all 10 000
test images after every step and plotted accuracy and loss: ReLU above sigmoid throughout.
Here: both activations x N seeds in one compiled call, the same curves with 95 % CIs, the
final accuracy compared with a paired Wilcoxon test, wall time per activation (training
alone, and with the every-step evaluation) and the numerical / backprop cost per step from
``actlab.gradcheck`` (timed on a subset of coordinates, extrapolated to all 39 760).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from actlab import gradcheck, plots, protocols, stats  # noqa: E402
from experiments import _common as common  # noqa: E402


def build(quick: bool = False, **kw):
    return protocols.get("two_layer_mnist").build(common.overrides(quick, **kw))


def minibatch_loss(model, batch: int = 100):
    """``loss(params)``: softmax cross-entropy of ``model``'s net on the first ``batch``
    training examples (what one SGD step differentiates)."""
    data = model._data
    x, y = data.normalise(data.x_train[:batch]), data.y_train[:batch]

    def loss(params):
        logits = model.module.apply(params, x.astype(jax.tree.leaves(params)[0].dtype), model.act)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return loss


def gradient_check(result, coords: int = 200, check_coords: int = 500) -> dict:
    """Per activation, on seed 0's trained net: the numerical gradient (float64 central
    differences on ``check_coords`` random coordinates) against backprop (max relative
    error), and the time of one numerical gradient (``coords`` coordinates timed, extrapolated
    to every parameter) over one backprop gradient."""
    out = {}
    for act in result.activations:
        m = result.model(act, 0)
        loss = minibatch_loss(m)
        num = gradcheck.grad_check(loss, m.params, coords=check_coords)
        with gradcheck._x64():
            p64 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), m.params)
            exact = jax.grad(loss)(p64)
        err = np.concatenate(
            [e.ravel() for e in jax.tree.leaves(gradcheck.relative_error(num, exact, 1e-6))]
        )
        err = err[~np.isnan(err)]
        out[act] = {
            "max_rel_error": float(err.max()),
            "median_rel_error": float(np.median(err)),
            # ReLU's kink: a perturbation that moves a pre-activation across 0 breaks the
            # central difference for that coordinate; count how many
            "share_rel_error_above_1e-4": float(np.mean(err > 1e-4)),
            "checked_coords": check_coords,
            **gradcheck.cost(loss, m.params, coords=coords),
        }
    return out


def wall_time(result) -> dict:
    """Seconds of training per activation, one model, one epoch, evaluation excluded (each
    activation alone, 2 seeds, timed after compilation), and the whole study's train time
    with the every-step evaluation."""
    study = result.study
    steps = result.config.steps
    per_act = {}
    for act in result.activations:
        alone = study.replace(activations=(act,), seeds=2, eval_every=steps).run()
        per_act[act] = alone.timing["train_s"] / 2
    models = len(result.activations) * study.seeds
    return {
        "train_s_per_model_no_eval": per_act,
        "study_train_s_with_eval_every_step": result.timing["train_s"],
        "study_models": models,
        "eval_overhead_factor": result.timing["train_s"] / models / np.mean(list(per_act.values())),
    }


def analyse(result, quick: bool = False) -> dict:
    acts = result.activations
    acc = np.where(result.diverged, np.nan, result.final("test_accuracy"))
    summary = stats.summarize(acc, acts)[["name", "n", "mean", "ci_low", "ci_high", "std"]]
    pairs = stats.pairwise(acc, acts)[
        ["a", "b", "n", "mean_diff", "diff_ci_low", "diff_ci_high", "p_holm"]
    ]
    curve = result.curve("test_accuracy")  # [acts, seeds, steps + 1]
    ahead = None
    if set(acts) >= {"relu", "sigmoid"}:
        gap = curve[acts.index("relu")] - curve[acts.index("sigmoid")]  # [seeds, evals]
        ahead = float(np.mean(np.mean(gap[:, 1:], axis=0) > 0))  # share of steps relu leads
    return {
        "summary": summary,
        "pairwise": pairs,
        "relu_ahead_share_of_steps": ahead,
        # quick mode: timings of a CI-sized run on a shared machine say nothing
        "wall_time": None if quick else wall_time(result),
        "gradient_check": gradient_check(result, *((20, 50) if quick else (200, 1000))),
        "means": {r.name: float(r.mean) for r in summary.itertuples()},
    }


def figures(result, analysis) -> dict:
    acts, steps = result.activations, result.steps
    return {
        "test_accuracy": plots.learning_curves(
            steps, result.curve("test_accuracy"), acts, ylabel="test accuracy (every step)"
        ),
        "batch_loss": plots.learning_curves(
            steps[1:], result.curve("batch_loss")[..., 1:], acts, ylabel="minibatch loss"
        ),
    }


def main(argv=None) -> int:
    return common.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
