"""Article 003: the catalogue of activations, and the dead ReLU it warns about, measured.

    python experiments/activation_catalogue.py --quick --out /tmp/cat   # CI size
    python experiments/activation_catalogue.py --out runs/activation_catalogue   # 10 seeds

The article lists step, sigmoid, tanh, ReLU, Leaky ReLU, PReLU, ELU and maxout with their
properties, and says ReLU units can die (bad initialisation or a high learning rate), which
Leaky ReLU / PReLU / ELU avoid, that maxout doubles the parameters per unit, and that the
step function has no useful gradient. Here: the registry's properties table and the gallery
(function and derivative); an MLP whose biases start at -0.5 (``protocols.DEAD_BIAS``) so
that most ReLU units start on their inactive side; the unit census over training (the
trainer's ``inactive``, ``dead`` and ``saturated`` fractions on the first
``census_examples`` training examples, defined in ``actlab.train.Trace``), mean and 95 % CI
over seeds, per activation; the parameter counts (maxout's doubled layers); and the step
network's hidden-layer gradients.

The census can be false and true for every activation: a leaky ReLU unit with z <= 0 on every
example is *inactive* (and not *dead*: its output still varies by 0.01 of its input's), a
maxout unit whose one piece always wins is inactive, a unit whose output does not vary is
dead whatever its activation. Every seed counts: the test accuracy is intention-to-treat
(a diverged run scores chance, ``common.outcome_rule``); census fractions have no declared
failure outcome, so a diverged model's evaluations after its divergence are left out of them
(NaN, those of its frozen parameters) and counted in ``n_diverged``.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from actlab import activations, plots, protocols, stats  # noqa: E402
from actlab.models import param_count  # noqa: E402
from actlab.train import census_size  # noqa: E402
from experiments import _common as common  # noqa: E402

VARIANTS = {"bias": "activation_catalogue", "lr": "activation_catalogue_lr"}


def add_arguments(p) -> None:
    p.add_argument(
        "--variant",
        choices=tuple(VARIANTS),
        default="bias",
        help="the route to dead units: a -0.5 bias init (bias) or a high learning rate (lr)",
    )


def build(quick: bool = False, variant: str = "bias", **kw):
    return protocols.get(VARIANTS[variant]).build(common.overrides(quick, **kw))


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


CENSUS = ("inactive", "dead", "saturated")  # Trace fields, [acts, seeds, evals, layers]


def census_curve(result, kind: str) -> np.ndarray:
    """``[acts, seeds, evals, layers]`` census fractions ``kind``, NaN at every evaluation after
    a model diverged (its frozen parameters' census is no outcome of the run)."""
    c = np.asarray(result.curve(kind), dtype=float)
    at = result.diverged_at[..., None]  # [acts, seeds, 1]; -1 never
    after = (at >= 0) & (result.steps > at)
    return np.where(after[..., None], np.nan, c)


def _layer_mean(c: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # softmax's census is NaN in every layer
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(c, axis=-1)


def dead_units(result) -> pd.DataFrame:
    """Per activation: the census fractions (mean over hidden layers) at step 0 and at the
    end, mean over seeds with a 95 % t CI (``{kind}_at_{start,end}``,
    ``{kind}_{start,end}_ci_{low,high}`` for kind in ``CENSUS``; ``census_n_end`` seeds
    counted at the end, ``n_diverged`` left out there); the final test accuracy over every
    seed (intention-to-treat: a diverged run at chance)."""
    acts = result.activations
    acc = common.final_summary(result, "test_accuracy")
    table = {"name": list(acts), "seeds": [int(result.study.seeds)] * len(acts)}
    table["n_diverged"] = acc["n_diverged"].to_numpy()
    for kind in CENSUS:
        frac = _layer_mean(census_curve(result, kind))  # [acts, seeds, evals]
        for when, at in (("start", 0), ("end", -1)):
            s = stats.summarize(frac[..., at], acts, bounds=(0.0, 1.0))
            table[f"{kind}_at_{when}"] = s["mean"].to_numpy()
            table[f"{kind}_{when}_ci_low"] = s["ci_low"].to_numpy()
            table[f"{kind}_{when}_ci_high"] = s["ci_high"].to_numpy()
            if kind == "dead" and when == "end":
                table["census_n_end"] = s["n"].to_numpy()
    table["test_accuracy"] = acc["mean"].to_numpy()
    table["acc_ci_low"] = acc["ci_low"].to_numpy()
    table["acc_ci_high"] = acc["ci_high"].to_numpy()
    return pd.DataFrame(table)


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


CENSUS_CSV = "census.csv"


def census_table(result) -> pd.DataFrame:
    """The unit census of every model, for ``reproduction/``: one row per activation x (lr)
    x seed x hidden layer x ``when`` (start: step 0; end: the last evaluation), the layer's
    ``units`` and how many of them are ``inactive``, ``dead`` and ``saturated``
    (``actlab.train.Trace``), and ``diverged`` (1: the model diverged, its counts at the end
    are empty: a frozen model's census is no outcome of the run)."""
    widths = tuple(result.study.model.hidden)
    lead = result.diverged.shape  # [acts, (lrs), seeds]
    idx = np.indices(lead).reshape(len(lead), -1)
    frames = []
    for when, at in (("start", 0), ("end", -1)):
        c = {k: census_curve(result, k)[..., at, :] for k in CENSUS}  # [*lead, layers]
        for layer, units in enumerate(widths):
            t = {"activation": np.asarray(result.activations)[idx[0]]}
            if result.study.lrs is not None:
                t["lr"] = np.asarray(result.study.lrs, float)[idx[1]]
            t["seed"] = idx[-1]
            t["layer"] = layer
            t["units"] = units
            t["when"] = when
            for k in CENSUS:
                v = c[k][..., layer].reshape(-1) * units
                t[k] = pd.array(np.where(np.isnan(v), np.nan, np.round(v)), dtype="Int64")
            t["diverged"] = result.diverged.reshape(-1).astype(int)
            frames.append(pd.DataFrame(t))
    return pd.concat(frames, ignore_index=True)


def save_compact(result, out) -> None:
    """``census.csv`` (``census_table``): every census figure of the document is computed
    from it."""
    census_table(result).to_csv(f"{out}/{CENSUS_CSV}", index=False)


def analyse(result, quick: bool = False) -> dict:
    cfg = result.config
    if result.study.lrs is not None:  # the high-lr route: the document reads census.csv
        return {
            **common.outcome_rule(result),
            "route": "high learning rate",
            "lrs": [float(x) for x in result.study.lrs],
            "bias_mean": float(cfg.model.init_scheme.bias_mean),
            "census_examples": census_size(cfg, int(result.study.data.x_train.shape[0])),
            "dead_tol": float(cfg.dead_tol),
            "saturation": float(cfg.saturation),
        }
    table = dead_units(result)
    return {
        **common.outcome_rule(result),
        "properties": properties(),
        "dead_units": table,
        "parameters": parameters(result),
        "step": step_gradients(result),
        "bias_mean": float(cfg.model.init_scheme.bias_mean),
        # the census: its sample (the first training examples) and its tolerances
        "census_examples": census_size(cfg, int(result.study.data.x_train.shape[0])),
        "dead_tol": float(cfg.dead_tol),
        "saturation": float(cfg.saturation),
        "inactive_at_end": dict(zip(table.name, table.inactive_at_end.astype(float))),
        "dead_at_end": dict(zip(table.name, table.dead_at_end.astype(float))),
    }


def figures(result, analysis) -> dict:
    acts, steps = result.activations, result.steps
    if result.study.lrs is not None:
        return {}
    curves = {kind: census_curve(result, kind) for kind in CENSUS}
    return {
        "gallery": gallery(),
        "dead_units": plots.unit_fractions(
            steps, curves["dead"], curves["saturated"], acts, inactive=curves["inactive"]
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
