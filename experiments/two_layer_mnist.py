"""Article 000: a 784-50-10 network, sigmoid vs ReLU: accuracy, loss and time, one epoch.

    python experiments/two_layer_mnist.py --quick --out /tmp/two   # CI size
    python experiments/two_layer_mnist.py --out runs/two_layer_mnist   # 10 seeds, 600 steps

The article (Julia, one run each) trained with a numerical gradient ("forward propagation",
~5 h per epoch) and with backprop (~16 s per epoch), measured test accuracy on all 10 000
test images after every step and plotted accuracy and loss: ReLU above sigmoid throughout.
Here: both activations x N seeds in one compiled call, the same curves with 95 % CIs, the
final accuracy over every seed (a diverged run scores chance) compared with a paired
Wilcoxon test and its Hodges–Lehmann shift, whether ReLU's lead holds at every step (paired
CI per step), wall time per activation from repeated interleaved timings (one model, one
epoch, no evaluation; the sigmoid / ReLU ratio with a CI), and the numerical / backprop
cost per step from ``actlab.gradcheck`` (timed on a subset of coordinates, extrapolated to
all 39 760).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.stats

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from actlab import gradcheck, plots, protocols, stats  # noqa: E402
from experiments import _common as common  # noqa: E402


def build(quick: bool = False, **kw):
    return protocols.get("two_layer_mnist").build(common.overrides(quick, **kw))


def minibatch_loss(model, batch: int = 100):
    """``loss(params)``: softmax cross-entropy of ``model``'s net on the first ``batch``
    training examples (what one SGD step differentiates)."""
    data = model.parts.data
    x, y = data.normalise(data.x_train[:batch]), data.y_train[:batch]

    def loss(params):
        logits = model.apply(params, x.astype(jax.tree.leaves(params)[0].dtype))
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


TIMING_REPETITIONS = {False: 15, True: 7}  # full, quick: paired timings per activation


def wall_time(result, repetitions: int = 15) -> dict:
    """Seconds of training one model for one epoch without evaluation, per activation:
    ``repetitions`` interleaved timings after a warm-up (``common.interleaved_timings``),
    and the ratio sigmoid / ReLU with a 95 % CI (``common.timing_ratio``: Hodges–Lehmann on
    paired log-seconds; > 1 means ReLU is faster). Also the whole study's training time with
    the every-step evaluation, for the evaluation's cost."""
    t = common.interleaved_timings(result.study, repetitions)
    out = {**t, "train_s_per_model_no_eval": t["median_s"]}
    if set(result.activations) >= {"sigmoid", "relu"}:
        out["ratio_sigmoid_over_relu"] = common.timing_ratio(t["seconds"], "sigmoid", "relu")
    models = len(result.activations) * result.study.seeds
    per_model = result.timing["train_s"] / models
    out["study_train_s_with_eval_every_step"] = result.timing["train_s"]
    out["study_models"] = models
    out["eval_overhead_factor"] = per_model / float(np.mean(list(t["median_s"].values())))
    return out


def ahead(result, a: str = "relu", b: str = "sigmoid", confidence: float = 0.95) -> dict:
    """Is ``a`` ahead of ``b`` throughout training? At every evaluation after step 0, the
    paired t CI over seeds of the test-accuracy gap a - b (intention-to-treat curves:
    after divergence a model scores chance). Returns the share of evaluations where the mean
    gap is positive, where its CI lies above 0 and where it lies below 0 (pointwise CIs,
    not simultaneous), and the number of evaluations."""
    curve = common.itt_curve(result, "test_accuracy")  # [acts, seeds, evals]
    acts = result.activations
    gap = curve[acts.index(a)] - curve[acts.index(b)]  # [seeds, evals]
    gap = gap[:, 1:]  # step 0 is before any training
    n = gap.shape[0]
    mean = gap.mean(axis=0)
    if n > 1:
        t = scipy.stats.t.ppf(0.5 + confidence / 2, n - 1)
        half = t * gap.std(axis=0, ddof=1) / np.sqrt(n)
    else:
        half = np.full(mean.shape, np.inf)  # one seed: no interval
    return {
        "a": a,
        "b": b,
        "evals": int(gap.shape[1]),
        "seeds": int(n),
        "share_mean_ahead": float(np.mean(mean > 0)),
        "share_ci_above_0": float(np.mean(mean - half > 0)),
        "share_ci_below_0": float(np.mean(mean + half < 0)),
        "confidence": confidence,
    }


def analyse(result, quick: bool = False) -> dict:
    """Every seed counts (intention-to-treat): a diverged run scores chance accuracy."""
    acts = result.activations
    acc = result.final("test_accuracy")  # [acts, seeds]; diverged runs: chance
    summary = common.final_summary(result, "test_accuracy")[
        ["name", "n", "n_diverged", "mean", "ci_low", "ci_high", "std", "median", "rule"]
    ]
    pairs = stats.pairwise(acc, acts)[list(common.PAIRWISE_KEPT)]
    lead = ahead(result) if set(acts) >= {"relu", "sigmoid"} else None
    return {
        **common.outcome_rule(result),
        "summary": summary,
        "survivors_only": common.survivors_only(result, "test_accuracy"),
        "pairwise": pairs,
        "relu_ahead": lead,
        "relu_ahead_share_of_steps": None if lead is None else lead["share_mean_ahead"],
        # quick mode: fewer repetitions of a shorter run (a smoke test of the timing)
        "wall_time": wall_time(result, TIMING_REPETITIONS[bool(quick)]),
        "gradient_check": gradient_check(result, *((20, 50) if quick else (200, 1000))),
        "means": {r.name: float(r.mean) for r in summary.itertuples()},
    }


CURVES_NPZ = "curves.npz"


def save_compact(result, out) -> None:
    """``curves.npz``: the per-step figures of the document come from it: ``steps``
    ``[evals]``, ``test_accuracy`` (whole test split after every step, intention-to-treat:
    chance after a divergence) and ``batch_loss`` (the minibatch loss the step
    differentiated), each ``[acts, seeds, evals]`` float32, ``activations``."""
    np.savez_compressed(
        f"{out}/{CURVES_NPZ}",
        steps=np.asarray(result.steps, np.int32),
        test_accuracy=common.itt_curve(result, "test_accuracy").astype(np.float32),
        batch_loss=np.asarray(result.curve("batch_loss"), np.float32),
        activations=np.asarray(result.activations),
    )


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
