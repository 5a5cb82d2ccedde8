"""Article 002: a 10-layer network on XOR, sigmoid vs tanh / ReLU / Leaky ReLU, many seeds.

    python experiments/deep_xor.py --quick --out /tmp/xor             # CI size
    python experiments/deep_xor.py --seeds 200 --out runs/deep_xor    # what REPRODUCTION.md ran
    python experiments/deep_xor.py --variant clipped --seeds 50 --out runs/xor_clipped

Outcomes per model, every seed in exactly one: NaN (the loss or parameters went non-finite:
``diverged_at`` is the step), solved (never diverged, final training accuracy 1.0 on the
four points) or stuck (the rest); rates over all seeds with Wilson 95 % intervals. The
vanishing gradient: the ratio of layer-1 to layer-10 gradient norm at initialisation, over
every seed (a dead network's zero layer-1 gradient counts as the strongest vanishing).
``--variant`` picks a fix: ``glorot``/``he`` init, the ``clipped`` loss, or ``bce``, the
loss computed stably from the logit.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from actlab import outcome, plots, protocols, stats  # noqa: E402
from experiments import _common as common  # noqa: E402

VARIANTS = {
    "base": "xor",
    "glorot": "xor_glorot",
    "he": "xor_he",
    "clipped": "xor_clipped",
    "bce": "xor_bce",
}


def add_arguments(p) -> None:
    p.add_argument("--variant", choices=tuple(VARIANTS), default="base")


def build(quick: bool = False, variant: str = "base", **kw):
    study = protocols.get(VARIANTS[variant]).build(common.overrides(quick, **kw))
    return study if variant != "base" else study.replace(name="deep_xor")


def outcomes(result) -> pd.DataFrame:
    """Per activation, every seed in exactly one category (``outcome.categories``), rates
    with Wilson 95 % CIs over all seeds, and when NaN struck.

    nan: diverged (the loss or parameters went non-finite) at some step; solved: never
    diverged and the final training accuracy is 1.0 on the four points; stuck: the rest
    (finite, not solved). nan_after_solving: diverged, though the last finite parameters
    classified all 4 points (it still counts as nan, not solved).
    """
    acts = result.activations
    raw = result.final("train_accuracy", diverged_as="frozen")  # the frozen models' own
    cats = outcome.categories(result.diverged, raw == 1.0)
    nan, solved, stuck = cats["diverged"], cats["reached"], cats["not reached"]
    at = result.diverged_at.astype(float)
    rows = []
    for name, flags in (("solved", solved), ("stuck", stuck), ("nan", nan)):
        r = stats.rates(flags, acts)
        r.insert(1, "outcome", name)
        rows.append(r)
    table = pd.concat(rows).sort_values(["name", "outcome"], key=_act_order(acts))
    first = []
    for i, a in enumerate(acts):
        steps = at[i][nan[i]]
        first.append(
            {
                "name": a,
                "n_nan": int(nan[i].sum()),
                "nan_after_solving": int((nan[i] & (raw[i] == 1.0)).sum()),
                "first_nan_step_median": float(np.median(steps)) if steps.size else np.nan,
                "first_nan_step_q25": float(np.quantile(steps, 0.25)) if steps.size else np.nan,
                "first_nan_step_q75": float(np.quantile(steps, 0.75)) if steps.size else np.nan,
                "first_nan_step_min": float(steps.min()) if steps.size else np.nan,
            }
        )
    return table.reset_index(drop=True), pd.DataFrame(first)


def _act_order(acts):
    order = {a: i for i, a in enumerate(acts)}

    def key(col):
        return col.map(order) if col.name == "name" else col.map(OUTCOMES.index)

    return key


OUTCOMES = ["solved", "stuck", "nan"]


def seed_columns(result) -> dict:
    """``seeds.csv``'s own columns: each model's ``outcome`` (solved / stuck / nan) and its
    ``log10_grad_ratio`` at initialisation (NaN where not finite)."""
    raw = result.final("train_accuracy", diverged_as="frozen")
    cats = outcome.categories(result.diverged, raw == 1.0)
    labels = np.select([cats["reached"], cats["diverged"]], ["solved", "nan"], default="stuck")
    return {"outcome": labels, "log10_grad_ratio": _log_ratio(result)}


def _log_ratio(result) -> np.ndarray:
    """[acts, seeds] log10(||grad layer 1|| / ||grad layer 10||) at step 0, NaN where not
    finite."""
    g = result.grad_norms[:, :, 0, :]  # [acts, seeds, layers] at initialisation
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log10(g[..., 0] / g[..., -1])
    return np.where(np.isfinite(ratio), ratio, np.nan)


def vanishing(result) -> pd.DataFrame:
    """log10(||grad layer 1|| / ||grad layer 10||) at step 0, over every seed: median with
    the sign test's CI (``stats.summarize``) and the mean of the finite ones. Negative =
    the input side gets the smaller gradient (vanishing). A seed without a finite ratio
    whose loss was finite at step 0 (it did not diverge there) had a zero layer-1 gradient:
    a dead network, the strongest vanishing, counted as -inf (``n_zero``); only a seed that
    diverged at step 0 (its loss already infinite) has no ratio and is left out
    (``n_undefined``). ``n`` counts the seeds used."""
    ratio = _log_ratio(result)
    at0 = result.diverged_at == 0
    zero = np.isnan(ratio) & ~at0
    used = np.where(zero, -np.inf, ratio)  # NaN left: diverged at step 0
    table = stats.summarize(used, result.activations)[
        ["name", "n", "median", "median_ci_low", "median_ci_high"]
    ]
    table.columns = ["name", "n", "log10_ratio_median", "ci_low", "ci_high"]
    with np.errstate(invalid="ignore"):
        table["log10_ratio_mean_finite"] = [
            float(np.mean(r[np.isfinite(r)])) if np.isfinite(r).any() else np.nan for r in ratio
        ]
    table["ratio_median"] = 10 ** table["log10_ratio_median"]
    table["n_zero"] = zero.sum(axis=1)
    table["n_undefined"] = (np.isnan(ratio) & at0).sum(axis=1)
    return table


def analyse(result, quick: bool = False) -> dict:
    """Every seed counts: each run is solved, stuck or nan (diverged), over all seeds."""
    table, nan_steps = outcomes(result)
    wide = table.pivot(index="name", columns="outcome", values="rate").reindex(result.activations)
    return {
        **common.outcome_rule(result),
        "categories": "solved (never diverged, final train accuracy 1) / stuck (finite, not "
        "solved) / nan (diverged at some step), every seed in one",
        "outcomes": table,
        "nan_steps": nan_steps,
        "vanishing": vanishing(result),
        "solved_rate": {a: float(wide.loc[a, "solved"]) for a in result.activations},
        "nan_rate": {a: float(wide.loc[a, "nan"]) for a in result.activations},
        "protocol": {
            "init": repr(result.config.model.init_scheme),
            "loss": result.config.loss,
        },
    }


def figures(result, analysis) -> dict:
    acts, steps = result.activations, result.steps
    times = np.where(result.diverged, result.diverged_at, np.inf).astype(float)
    return {
        "grad_norm_heatmap": plots.layer_heatmap(steps, result.grad_norms, acts),
        "train_loss": plots.learning_curves(
            steps, result.curve("train_loss"), acts, ylabel="training loss (BCE)", logy=True
        ),
        "train_accuracy": plots.learning_curves(
            steps, result.curve("train_accuracy"), acts, ylabel="training accuracy"
        ),
        "nan_by_step": plots.time_to_threshold(
            times, acts, max_step=float(steps[-1]), xlabel="step of the first NaN"
        ),
    }


def main(argv=None) -> int:
    return common.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
