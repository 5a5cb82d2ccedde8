"""Article 003: the catalogue of activations, and the dead ReLU it warns about, measured.

    python experiments/activation_catalogue.py --quick --out /tmp/cat   # CI size
    python experiments/activation_catalogue.py --out runs/activation_catalogue   # 10 seeds

The article lists step, sigmoid, tanh, ReLU, Leaky ReLU, PReLU, ELU and maxout with their
properties, and says ReLU units can die (bad initialisation or a high learning rate), which
Leaky ReLU / PReLU / ELU avoid, that maxout doubles the parameters per unit, and that the
step function has no useful gradient. Here: the registry's properties table and the gallery
(function and derivative); an MLP whose biases start at -0.5 (``protocols.DEAD_BIAS``) so
that most ReLU units start dead, with the fraction of dead units (f' = 0 on all of 1 000
training examples) over training, mean and 95 % CI over seeds, per activation; the
parameter counts (maxout's doubled layers); and the step network's hidden-layer gradients.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from actlab import activations, plots, protocols, stats  # noqa: E402
from actlab.models import param_count  # noqa: E402
from experiments import _common as common  # noqa: E402


def build(quick: bool = False, **kw):
    return protocols.get("activation_catalogue").build(common.overrides(quick, **kw))


def properties() -> pd.DataFrame:
    """Every registered activation and its (tested) properties."""
    rows = []
    for a in activations.REGISTRY.values():
        rows.append(
            {
                "name": a.name,
                "range": f"[{a.out_range[0]:g}, {a.out_range[1]:g}]",
                "zero_centred": a.zero_centred,
                "monotone": a.monotone,
                "saturates": a.saturating,
                "max |f'|": a.max_grad,
                "learnable": a.has_params,
                "pieces": a.pieces,
                "note": a.doc,
            }
        )
    return pd.DataFrame(rows)


def gallery():
    """Function and derivative of every elementwise activation (maxout and softmax act
    across units, so they have no 1-D graph)."""
    names = [a.name for a in activations.REGISTRY.values() if a.elementwise]
    return plots.activation_gallery(names, [activations.get(n).fn for n in names])


def dead_units(result) -> pd.DataFrame:
    """Per activation: fraction of dead hidden units (mean over layers) at step 0 and at the
    end, mean over seeds with a 95 % bootstrap CI; the final test accuracy likewise."""
    acts = result.activations
    dead = np.nanmean(result.curve("dead"), axis=-1)  # [acts, seeds, evals]
    start = stats.summarize(dead[..., 0], acts)
    end = stats.summarize(dead[..., -1], acts)
    acc = stats.summarize(np.where(result.diverged, np.nan, result.final("test_accuracy")), acts)
    return pd.DataFrame(
        {
            "name": acts,
            "dead_at_start": start["mean"],
            "dead_at_end": end["mean"],
            "dead_end_ci_low": end["ci_low"],
            "dead_end_ci_high": end["ci_high"],
            "test_accuracy": acc["mean"],
            "acc_ci_low": acc["ci_low"],
            "acc_ci_high": acc["ci_high"],
        }
    )


def parameters(result) -> pd.DataFrame:
    """Scalars per trained model (weights, biases and PReLU slopes)."""
    n = {a: param_count(result.model(a, 0).params) for a in result.activations}
    base = n.get("relu", min(n.values()))
    return pd.DataFrame(
        {"name": list(n), "params": list(n.values()), "vs_relu": [v / base for v in n.values()]}
    )


def step_gradients(result) -> dict | None:
    """The step network: largest hidden-layer gradient norm ever traced, and how far the
    hidden weights moved (they cannot: f' = 0 everywhere)."""
    if "step" not in result.activations:
        return None
    i = result.activations.index("step")
    g = result.grad_norms[i][..., :-1]  # [seeds, evals, hidden layers]
    w = result.curve("weight_norm")[i][..., :-1]
    return {
        "max_hidden_grad_norm": float(np.nanmax(g)),
        "max_hidden_weight_change": float(np.nanmax(np.abs(w[:, -1] - w[:, 0]))),
        "output_layer_grad_norm_median": float(np.nanmedian(result.grad_norms[i][..., -1])),
    }


def analyse(result, quick: bool = False) -> dict:
    table = dead_units(result)
    return {
        "properties": properties(),
        "dead_units": table,
        "parameters": parameters(result),
        "step": step_gradients(result),
        "bias_mean": float(result.config.model.init_scheme.bias_mean),
        "dead_at_end": dict(zip(table.name, table.dead_at_end.astype(float))),
    }


def figures(result, analysis) -> dict:
    acts, steps = result.activations, result.steps
    return {
        "gallery": gallery(),
        "dead_units": plots.unit_fractions(
            steps, result.curve("dead"), result.curve("saturated"), acts
        ),
        "test_accuracy": plots.learning_curves(
            steps, result.curve("test_accuracy"), acts, ylabel="test accuracy"
        ),
        "grad_norm_heatmap": plots.layer_heatmap(steps, result.grad_norms, acts),
    }


def main(argv=None) -> int:
    return common.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
