"""The transformer FFN question: ReLU, GELU, SiLU, ReLU², ReGLU, GEGLU, SwiGLU, many seeds.

    python experiments/transformer_ffn.py --quick --out /tmp/ffn          # CI size
    python experiments/transformer_ffn.py --lrs 1e-3,3e-3,1e-2 --select val_loss \\
        --select-seeds 2 --out runs/transformer_ffn                        # the study

The claims are single runs at scale: GEGLU and SwiGLU reach lower perplexity than ReLU and
GELU at matched parameters (Shazeer 2020), squared ReLU beats GELU and ReLU (So et al. 2021,
"Primer"), ReLU² is "~1-2 % better than GELU" (the modded-nanogpt speed-run code), and ReLU²
reached loss 4.5 a few seconds before SwiGLU in one run on a 151M model. Here: a 2-layer,
width-32 character model on fortunes (``protocols.transformer_ffn``), every activation at
its own learning rate selected on a validation split, every seed counted (a diverged run
scores the worst loss). Final validation loss in nats and bits per character with t CIs,
every pair by a paired Wilcoxon test with Holm's correction and its Hodges–Lehmann shift,
the relative ReLU² - GELU difference with its CI, TOST for "about the same", and the steps to
the threshold loss (censored where a seed never reaches it) as ratios with bootstrap CIs.
Verdicts are made in ``experiments/reproduction_table.py`` from the committed data.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from actlab import models, plots, protocols, results, stats  # noqa: E402
from experiments import _common as common  # noqa: E402

# the pairs whose sizes the analysis measures (the claims and their verdicts:
# experiments/reproduction_table.py, from the committed seeds)
NANOGPT = ("relu2", "gelu")  # "~1-2 % better": relu2 / gelu - 1 per seed
SAME = ("relu2", "swiglu")  # the 151M report: about the same time to loss 4.5 (one run)
EQUIVALENCE_MARGIN = 0.01  # relative: within 1 % of the loss, the nanogpt claim's lower end
BITS = 1 / math.log(2)  # nats -> bits per character


def build(quick: bool = False, **kw):
    return protocols.get("transformer_ffn").build(common.overrides(quick, **kw))


def threshold() -> float:
    return float(protocols.FFN_THRESHOLD.split("=")[1])


def relative(loss: np.ndarray, acts, a: str, b: str) -> dict:
    """``loss_a / loss_b - 1`` per seed: its mean with a t CI (``stats.summarize``)."""
    r = loss[acts.index(a)] / loss[acts.index(b)] - 1.0
    s = stats.summarize(r[None], [f"{a}/{b}"]).iloc[0]
    return {"mean": float(s["mean"]), "ci_low": float(s["ci_low"]), "ci_high": float(s["ci_high"])}


def analyse(result, quick: bool = False) -> dict:
    """Every seed counts: a diverged run scores +inf loss (the median is then the figure)."""
    acts = result.activations
    loss = result.final("test_loss")  # [acts, seeds]; diverged: +inf
    summary = common.final_summary(result, "test_loss")[
        ["name", "n", "n_diverged", "mean", "ci_low", "ci_high", "std", "median", "rule"]
    ]
    summary = summary.assign(
        bits_per_char=summary["mean"] * BITS,
        bpc_ci_low=summary["ci_low"] * BITS,
        bpc_ci_high=summary["ci_high"] * BITS,
    )
    pairs = stats.pairwise(loss, acts)[list(common.PAIRWISE_KEPT)]
    out = {
        **common.outcome_rule(result),
        "summary": summary,
        "survivors_only": common.survivors_only(result, "test_loss"),
        "pairwise": pairs,
        "model": dict(protocols.FFN),
        "parameters": results.parameters(result),
        "ffn_units": {
            a: models.ffn_width(result.study.model.d_ff, pieces) for a, pieces in _pieces(acts)
        },
        "threshold": threshold(),
        "act_lrs": None if result.study.act_lrs is None else dict(zip(acts, result.study.act_lrs)),
        "optimizer": results.describe_optimizer(result.study.optimizer),
    }
    if all(a in acts for a in NANOGPT):
        out["nanogpt_relative"] = relative(loss, acts, *NANOGPT)
    if all(a in acts for a in SAME):
        d = loss[acts.index(SAME[0])] - loss[acts.index(SAME[1])]
        margin = EQUIVALENCE_MARGIN * float(np.median(loss[acts.index(SAME[1])]))
        out["equivalence"] = {
            f"{SAME[0]}_{SAME[1]}": stats.equivalence(d, np.zeros_like(d), margin),
        }
    times, reached = stats.time_to_threshold(
        common.itt_curve(result, "test_loss"), result.steps, threshold()
    )
    out["time_to_threshold"] = pd.DataFrame(
        [
            {"name": a, "reached": int(reached[i].sum()), "median_steps": np.median(times[i])}
            for i, a in enumerate(acts)
        ]
    )
    if all(a in acts for a in SAME):
        i, j = acts.index(SAME[0]), acts.index(SAME[1])
        out["time_ratio"] = stats.threshold_ratio(times[i], times[j])
    return out


def _pieces(acts) -> list[tuple[str, int]]:
    from actlab import activations

    return [(a, activations.get(a).pieces) for a in acts]


def seed_columns(result) -> dict[str, np.ndarray]:
    """Each model's steps to the threshold loss (inf: not reached), for the verdicts."""
    times, _ = stats.time_to_threshold(
        common.itt_curve(result, "test_loss"), result.steps, threshold()
    )
    return {"steps_to_threshold": times}


def figures(result, analysis) -> dict:
    """The final test loss per seed, and each activation's test-loss curve minus the first
    activation's on the same seed (paired: the seeds share data order and initial weights
    where the shapes agree), where the curves themselves lie on top of one another."""
    acts = result.activations
    curve = common.itt_curve(result, "test_loss")  # [acts, seeds, evals]
    return {
        "final_test_loss": plots.final_distribution(
            result.final("test_loss"), acts, ylabel="final test loss (nats/char)"
        ),
        "test_loss": plots.learning_curves(
            result.steps, curve, acts, ylabel="test loss (nats/char)", logy=True
        ),
        "test_loss_vs_first": plots.learning_curves(
            result.steps[1:],
            (curve - curve[:1])[..., 1:],
            acts,
            ylabel=f"test loss - {acts[0]}'s on the same seed (nats/char)",
        ),
    }


def main(argv=None) -> int:
    return common.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
