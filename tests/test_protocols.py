"""Protocols: each builds its article's Study, runs (tiny), and refuses datasets it cannot fit."""

import json
from pathlib import Path

import numpy as np
import pytest

import actlab
from actlab import cli
from actlab import protocols as P
from actlab.models import CNN, MLP, Init, param_count

STUDIES = (
    "two_layer_mnist",
    "mlp_four_activations",
    "xor",
    "activation_catalogue",
    "alexnet_relu_vs_tanh",
)


# probed when a test is set up, never at collection (tests/conftest.py)
needs_fashion = pytest.mark.needs_data("fashion_mnist")


BUILT_IN_DATA = {"xor", "deep_xor", "xor_glorot", "xor_he", "xor_clipped", "mnist1d"}
TEXT = {"transformer_ffn"}  # Debian's fortunes


def _needs(name: str):
    """The mark for the file dataset a protocol's default needs (None: built in)."""
    if name in BUILT_IN_DATA:
        return None
    return pytest.mark.needs_data("fortunes") if name in TEXT else needs_fashion


def _params(names):
    """``names`` as parameters, those needing a file dataset marked so."""
    return [n if _needs(n) is None else pytest.param(n, marks=_needs(n)) for n in names]


def test_every_reproduced_study_is_registered_and_the_old_names_stay():
    assert set(STUDIES) | {"mnist1d", "deep_xor", "xor_glorot", "xor_he", "xor_clipped"} <= set(
        P.PROTOCOLS
    )
    assert list(P.PROTOCOLS)[:2] == ["xor", "mnist1d"]  # `actlab list` and its tests
    for name, proto in P.PROTOCOLS.items():
        assert proto.name == name and proto.datasets and proto.summary and proto.source


def test_get_names_the_accepted_experiments():
    with pytest.raises(ValueError, match="unknown experiment 'nope'; accepted: xor, mnist1d"):
        P.get("nope")


@pytest.mark.parametrize("name", _params(P.PROTOCOLS))
def test_builds_a_study_whose_model_fits_its_data(name):
    import jax

    from actlab.train import forward, parts_of

    proto = P.get(name)
    quick, full = (proto.build(P.Overrides(quick=q)) for q in (True, False))
    for study in (quick, full):
        assert study.data.name in proto.datasets
        cfg = study.config()
        d = study.data
        # loss, batch size and activations fit the data; the outputs fit the loss
        parts = parts_of(cfg._replace(acts=cfg.acts[:1]), d)
        x = d.x_train[:2]
        run = lambda p, x, parts=parts: forward(parts, p, x, 0)[0]
        logits = jax.eval_shape(run, parts.shape.params, x)
        classes = (*d.y_train.shape[1:], d.num_classes)  # a label per position: per position
        assert logits.shape == (2, *((1,) if cfg.loss != "softmax_ce" else classes))
    # quick mode is the same protocol, smaller
    assert quick.model == full.model and quick.loss == full.loss
    assert quick.seeds * quick.num_steps < full.seeds * full.num_steps


def test_deep_xor_keeps_the_article_protocol():
    s = P.get("xor").build(P.Overrides())
    assert isinstance(s.model, MLP) and tuple(s.model.hidden) == (5,) * 9
    assert s.model.init_scheme == Init("normal", "normal", 1.0, 1.0)
    assert s.loss == "bce_unclipped" and s.batch_size is None and s.num_steps == 20_001
    assert s.activations == ("sigmoid", "tanh", "relu", "leaky_relu_0.2", "leaky_relu")
    assert s.seeds == 1000
    alias = P.get("deep_xor").build(P.Overrides())
    assert alias.model == s.model and alias.activations == s.activations


def test_xor_fixes_change_only_init_or_loss():
    base = P.get("xor").build(P.Overrides(quick=True))
    glorot = P.get("xor_glorot").build(P.Overrides(quick=True))
    he = P.get("xor_he").build(P.Overrides(quick=True))
    clipped = P.get("xor_clipped").build(P.Overrides(quick=True))
    assert glorot.model.init_scheme.weights == "glorot" and he.model.init_scheme.weights == "he"
    assert clipped.loss == "bce_clipped" and clipped.model == base.model
    assert {glorot.loss, he.loss} == {"bce_unclipped"}


def test_overrides_replace_the_protocol_values():
    import jax.numpy as jnp

    s = P.get("xor").build(P.Overrides(acts=("relu",), seeds=3, steps=7, lr=0.5))
    assert s.activations == ("relu",) and s.seeds == 3 and s.num_steps == 7
    # the optimizer uses the new rate: SGD's update of a unit gradient is -lr
    g = {"w": jnp.ones(3)}
    update, _ = s.optimizer.update(g, s.optimizer.init(g), g)
    np.testing.assert_allclose(update["w"], -0.5)
    e = P.get("mnist1d").build(P.Overrides(epochs=2.0))
    assert e.steps is None and e.epochs == 2.0


@needs_fashion
def test_two_layer_mnist_is_the_articles_net():
    s = P.get("two_layer_mnist").build(P.Overrides())
    assert s.activations == ("sigmoid", "relu") and s.batch_size == 100 and s.num_steps == 600
    assert s.config().eval_every == 1 and s.eval_examples is None  # whole test split
    assert s.data.scale == pytest.approx(1 / 255) and s.data.shift == 0.0
    import jax

    params = s.model.clone(classes=10).init(
        jax.random.key(0), np.zeros((1, 28, 28, 1), np.float32), actlab.Slot(("relu",))
    )
    assert param_count(params) == 39_760


@needs_fashion
def test_mlp_four_and_alexnet_protocols():
    m = P.get("mlp_four_activations").build(P.Overrides())
    assert tuple(m.model.hidden) == (256, 128) and m.batch_size == 16 and m.seeds >= 20
    assert m.num_steps == 3 * (60_000 // 16)
    assert m.activations[:4] == ("none", "sigmoid", "tanh", "relu")
    a = P.get("alexnet_relu_vs_tanh").build(P.Overrides())
    assert isinstance(a.model, CNN) and tuple(a.model.features) == (32, 32, 64)
    assert a.activations == ("relu", "tanh") and a.batch_size == 128
    # dense before the 25 % crossing (~50 steps): an evaluation every 4 steps
    assert a.num_steps == P.ALEXNET_STEPS and a.config().eval_every == P.ALEXNET_EVAL_EVERY


@needs_fashion
def test_the_high_learning_rate_route_sweeps_rates_without_a_bias_shift():
    s = P.get("activation_catalogue_lr").build(P.Overrides())
    assert tuple(s.lrs) == P.HIGH_LRS and s.model.init_scheme.bias_mean == 0.0
    assert s.activations[0] == "relu" and s.seeds >= 10
    bias = P.get("activation_catalogue").build(P.Overrides())
    assert bias.model.init_scheme.bias_mean == P.DEAD_BIAS and bias.lrs is None


# one activation each (compilation grows with the number of activation groups); the
# notebooks run every protocol's quick variant with all of its activations
TINY = {
    "xor": ("tanh",),  # relu can overflow the unclipped BCE at step 1 (seed 0)
    "two_layer_mnist": ("sigmoid",),
    "mlp_four_activations": ("none",),
    "activation_catalogue": ("maxout",),  # the one whose layers are twice as wide
    "alexnet_relu_vs_tanh": ("relu",),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", _params(TINY))
def test_quick_variant_trains(name):
    proto = P.get(name)
    study = proto.build(P.Overrides(acts=TINY[name], seeds=1, steps=3, quick=True))
    r = study.run()
    shape = (len(TINY[name]), 1)
    assert r.final("train_loss").shape == shape and not r.diverged.any()
    assert r.steps[0] == 0 and r.steps[-1] == 3
    before, after = r.trace.train_loss[:, :, 0], r.final("train_loss")
    assert np.isfinite(before).all() and np.isfinite(after).all()
    assert (before != after).all()  # three steps moved every model


OFFLINE = {"xor", "mnist1d", "teacher_student", "fashion_mnist", "fortunes"}  # not mnist, cifar10
FILE_DATA = {"fashion_mnist": needs_fashion, "fortunes": pytest.mark.needs_data("fortunes")}


@pytest.mark.parametrize(
    "name, dataset",
    [
        pytest.param(n, d, marks=[FILE_DATA[d]] if d in FILE_DATA else [])
        for n, proto in P.PROTOCOLS.items()
        for d in proto.datasets
        if d in OFFLINE
    ],
)
def test_every_dataset_a_protocol_lists_is_accepted(name, dataset):
    study = P.get(name).build(P.Overrides(dataset=dataset, quick=True))
    assert study.data.name == dataset


@pytest.mark.parametrize(
    "name, dataset",
    [
        ("alexnet_relu_vs_tanh", "mnist1d"),  # 1-D signals: no 2-D convolution
        ("xor", "fashion_mnist"),  # a binary-output net
        ("two_layer_mnist", "xor"),
        ("mlp_four_activations", "teacher_student"),
    ],
)
def test_dataset_that_does_not_fit_is_refused(name, dataset, capsys):
    with pytest.raises(ValueError, match=f"does not fit dataset '{dataset}'"):
        P.get(name).build(P.Overrides(dataset=dataset))
    with pytest.raises(SystemExit) as e:
        cli.main(["run", name, "--dataset", dataset, "--quick"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"does not fit dataset '{dataset}'" in err and "Traceback" not in err


def test_missing_dataset_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ACTLAB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACTLAB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="cifar10"):
        P.get("alexnet_relu_vs_tanh").build(P.Overrides(dataset="cifar10"))


# ----------------------------------------------------------------------------- experiments


@pytest.mark.slow
def test_experiment_script_writes_its_analysis_and_the_reproduction_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    from experiments import deep_xor, reproduction_table

    out = tmp_path / "deep_xor"
    argv = [
        "--quick",
        "--seeds",
        "3",
        "--steps",
        "201",
        "--acts",
        "sigmoid,relu",
        "--out",
        str(out),
    ]
    assert deep_xor.main(argv) == 0
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["command"].startswith("python experiments/deep_xor.py --quick")
    assert doc["seeds"] == 3 and doc["activations"] == ["sigmoid", "relu"]
    assert {"outcomes", "nan_steps", "vanishing", "solved_rate", "n_diverged"} <= set(doc)
    assert doc["diverged_as"] == "failure" and {"compile_s", "train_s"} <= set(doc["timing"])
    for f in ("results.json", "trace.npz", "outcomes.md", "outcomes.csv", "grad_norm_heatmap.png"):
        assert (out / f).exists(), f
    text = reproduction_table.section(tmp_path)
    assert "ten layers on XOR" in text
    # every claim row of the study carries a verdict and the run's own counts
    study = text.split("ten layers on XOR", 1)[1]  # past the verdicts-at-a-glance table
    rows = [r for r in study.splitlines() if r.startswith("| ") and "learned and classified" in r]
    assert len(rows) == 1 and ": relu (*reliably" in rows[0]
    solved = next(o for o in doc["outcomes"] if o["name"] == "relu" and o["outcome"] == "solved")
    assert f"solved {solved['k']}/3 = " in rows[0]
    verdicts = [r.rsplit(" | ", 1)[1] for r in rows]
    words = tuple(f"**{w}**" for w in reproduction_table.WORDS)
    assert all(v.startswith(words) for v in verdicts)
    assert "disagree" not in text and reproduction_table.problems(text) == []
    assert "No run found" in text  # the other studies were not run here
    md = tmp_path / "R.md"
    md.write_text(f"head\n{reproduction_table.START}\nold\n{reproduction_table.END}\ntail\n")
    assert reproduction_table.main(["--data", str(tmp_path), "--update", str(md)]) == 0
    new = md.read_text()
    assert new.startswith("head\n") and new.endswith("tail\n") and "\nold\n" not in new


def test_experiment_script_refuses_a_dataset_it_cannot_fit(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    from experiments import alexnet_relu_vs_tanh

    with pytest.raises(SystemExit) as e:
        alexnet_relu_vs_tanh.main(["--quick", "--dataset", "mnist1d"])
    assert e.value.code == 2
    assert "does not fit dataset 'mnist1d'" in capsys.readouterr().err


# Each script's analyse on a tiny run: every seed counts (intention-to-treat), the rule and
# the diverged counts are stated, and the keys REPRODUCTION.md's verdicts read are there.
# Structure only: no test asserts a time.
ANALYSE = {
    "two_layer_mnist": {"acts": ("sigmoid", "relu"), "seeds": 2, "steps": 20},
    "mlp_four_activations": {"acts": ("tanh", "relu"), "seeds": 2, "steps": 20},
    # relu nets with N(0, 1) layers overflow the unclipped BCE at step 0 or 1 in some seeds
    "deep_xor": {"acts": ("sigmoid", "relu"), "seeds": 4, "steps": 201},
}  # alexnet_relu_vs_tanh's analysis: its notebook test (a CNN pair costs minutes to compile)


def _check_two_layer_mnist(a, result):
    assert list(a["summary"]["n"]) == [result.study.seeds] * 2  # every seed
    assert a["survivors_only"]["survivors_only"].all()
    assert {"estimate", "estimate_ci_low", "estimate_ci_high", "p_holm"} <= set(a["pairwise"])
    lead = a["relu_ahead"]
    assert lead["evals"] == len(result.steps) - 1
    assert 0 <= lead["share_ci_above_0"] + lead["share_ci_below_0"] <= 1
    wt = a["wall_time"]  # quick: fewer repetitions, the same structure
    assert wt["repetitions"] >= 7 and wt["order"].startswith("interleaved")
    assert {len(s) for s in wt["seconds"].values()} == {wt["repetitions"]}
    ratio = wt["ratio_sigmoid_over_relu"]
    assert ratio["n"] == wt["repetitions"] and {"ratio", "ci_low", "ci_high", "p"} <= set(ratio)


def _check_mlp_four_activations(a, result):
    assert list(a["summary"]["n"]) == [result.study.seeds] * 2
    eq = a["equivalence"]["tanh_relu"]
    assert eq["margin"] == a["equivalence_margin"] and isinstance(eq["equivalent"], bool)
    chain = a["ordering"]
    assert list(chain["claim"]) == ["tanh < relu", "tanh ≈ relu (the gap is seed noise)"]
    assert {"estimate", "estimate_ci_low", "dataset_decides", "tost_p"} <= set(chain)


def _check_deep_xor(a, result):
    from experiments import _common as common

    seeds = result.study.seeds
    n_nan = {r["name"]: r["k"] for r in a["outcomes"].to_dict("records") if r["outcome"] == "nan"}
    assert n_nan == a["n_diverged"] and a["n_diverged"]["relu"] > 0
    for name in result.activations:  # one category per seed
        rows = a["outcomes"][a["outcomes"].name == name]
        assert rows["k"].sum() == seeds and set(rows["n"]) == {seeds}
    # a diverged run is a failed run: chance accuracy in the summary and the curve after it
    i = result.activations.index("relu")
    acc = common.final_summary(result, "train_accuracy")
    assert acc["n"].tolist() == [seeds, seeds]
    survivors = common.survivors_only(result, "train_accuracy")
    assert survivors["n"][i] == seeds - a["n_diverged"]["relu"]
    curve = common.itt_curve(result, "train_accuracy")[i]
    seed = int(np.flatnonzero(result.diverged[i])[0])
    assert (curve[seed, result.steps > result.diverged_at[i, seed]] == 0.5).all()


@pytest.mark.parametrize(
    "script",
    [pytest.param(n, marks=[] if n == "deep_xor" else [needs_fashion]) for n in ANALYSE],
)
@pytest.mark.slow
def test_experiment_analyse_counts_every_seed(script, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    module = importlib.import_module(f"experiments.{script}")
    result = module.build(quick=True, **ANALYSE[script]).run()
    a = module.analyse(result, quick=True)
    assert a["diverged_as"] == "failure" and "every seed counts" in a["diverged_rule"]
    assert a["n_diverged"] == {
        act: int(n) for act, n in zip(result.activations, result.diverged.sum(axis=1))
    }
    globals()[f"_check_{script}"](a, result)


def test_a_timed_activation_keeps_its_own_learning_rate():
    import optax

    from experiments import _common as common

    study = P.get("xor").build(P.Overrides(steps=10, acts=("relu", "tanh")))
    tuned = study.replace(optimizer=optax.sgd, act_lrs=(0.1, 0.02))
    assert common._alone(tuned, "tanh").act_lrs == (0.02,)
    assert common._alone(tuned, "relu").activations == ("relu",)
    assert common._alone(study, "tanh").act_lrs is None
