"""Article 001: 784-256-128-10 with no activation / sigmoid / tanh / ReLU (+ Leaky ReLU, GELU).

    python experiments/mlp_four_activations.py --quick --out /tmp/mlp4   # CI size
    python experiments/mlp_four_activations.py --out runs/mlp_four_activations  # 20 seeds

The article trained one seed per activation on MNIST (Adam 1e-3, batch 16, 3 epochs) and
read 90.94 / 97.14 / 97.35 / 97.39 % test accuracy as none < sigmoid < tanh < ReLU. Here:
mean and 95 % bootstrap CI over seeds, every pair compared with a paired Wilcoxon test (Holm
corrected), and the ordering checked pair by pair.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from actlab import plots, protocols, stats  # noqa: E402
from experiments import _common as common  # noqa: E402

ARTICLE = {"none": 0.9094, "sigmoid": 0.9714, "tanh": 0.9735, "relu": 0.9739}  # MNIST, 1 seed
# the article's chain none < sigmoid < tanh < relu, and the reading "tanh ≈ relu" (its
# 0.04-point gap being seed noise)
ORDER = (
    ("none", "sigmoid", "<"),
    ("sigmoid", "tanh", "<"),
    ("tanh", "relu", "<"),
    ("tanh", "relu", "≈"),
)
ALPHA = 0.05


def build(quick: bool = False, **kw):
    return protocols.get("mlp_four_activations").build(common.overrides(quick, **kw))


def _pair(table: pd.DataFrame, a: str, b: str) -> dict:
    """The row comparing a and b, oriented as b - a."""
    row = table[(table.a == a) & (table.b == b)]
    sign = -1.0
    if row.empty:
        row, sign = table[(table.a == b) & (table.b == a)], 1.0
    r = row.iloc[0]
    lo, hi = sign * r.diff_ci_low, sign * r.diff_ci_high
    return {
        "diff": sign * r.mean_diff,
        "ci_low": min(lo, hi),
        "ci_high": max(lo, hi),
        "p_holm": r.p_holm,
    }


def ordering(table: pd.DataFrame, acts) -> pd.DataFrame:
    """The article's chain none < sigmoid < tanh < relu (and tanh ≈ relu), pair by pair: the
    mean paired difference (right minus left, in accuracy), its 95 % CI, the Holm-adjusted p,
    and whether the claim holds ("<": right better, significant; "≈": not significantly
    different)."""
    rows = []
    for a, b, rel in ORDER:
        if a not in acts or b not in acts:
            continue
        d = _pair(table, a, b)
        sig = d["p_holm"] < ALPHA
        holds = (sig and d["diff"] > 0) if rel == "<" else not sig
        claim = f"{a} {rel} {b}" + (" (the gap is seed noise)" if rel == "≈" else "")
        rows.append({"claim": claim, **d, "significant": bool(sig), "holds": holds})
    return pd.DataFrame(rows)


def analyse(result, quick: bool = False) -> dict:
    acts = result.activations
    acc = np.where(result.diverged, np.nan, result.final("test_accuracy"))
    summary = stats.summarize(acc, acts)[["name", "n", "mean", "ci_low", "ci_high", "std"]]
    summary["article_mnist_1seed"] = [ARTICLE.get(a, np.nan) for a in acts]
    pairs = stats.pairwise(acc, acts)[
        ["a", "b", "n", "mean_diff", "diff_ci_low", "diff_ci_high", "p", "p_holm", "cohens_d"]
    ]
    chain = ordering(pairs, acts)
    out = {"summary": summary, "pairwise": pairs, "ordering": chain}
    if "tanh" in acts and "relu" in acts:
        d = acc[acts.index("relu")] - acc[acts.index("tanh")]
        sd = float(np.nanstd(d, ddof=1))
        # seeds a paired test needs to detect the article's relu - tanh gap (0.04 pp)
        out["seeds_for_article_relu_tanh_gap"] = (
            stats.seeds_needed(sd, ARTICLE["relu"] - ARTICLE["tanh"]) if sd > 0 else None
        )
        out["relu_minus_tanh_sd"] = sd
    out["means"] = {r.name: float(r.mean) for r in summary.itertuples()}
    return out


def figures(result, analysis) -> dict:
    acts = result.activations
    acc = np.where(result.diverged, np.nan, result.final("test_accuracy"))
    return {
        "final_test_accuracy": plots.final_distribution(
            acc, acts, ylabel="final test accuracy", summary=analysis["summary"]
        ),
        "test_accuracy": plots.learning_curves(
            result.steps, result.curve("test_accuracy"), acts, ylabel="test accuracy"
        ),
        "train_loss": plots.learning_curves(
            result.steps, result.curve("train_loss"), acts, ylabel="training loss", logy=True
        ),
    }


def main(argv=None) -> int:
    return common.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
