"""Each activation at its own learning rate (``actlab.selection``): the validation split is
carved from the training data and never meets the test split, the rule picks what it says
from every seed, and the comparison at the selected rates is the study it claims to be.

Everything trains a 6-8-6-3 MLP on ``helpers.DATA`` for 20 steps; one selection run serves
the module (``xdist_group``).
"""

import json

import numpy as np
import optax
import pytest
from helpers import DATA, small

from actlab import checkpoint, runner, selection

pytestmark = pytest.mark.xdist_group("selection")

ACTS = ("relu", "elu")  # unbounded: both diverge at lr 1e12
LRS = (1e-4, 3e-2, 1e12)  # too small to move in 20 steps, about right, certain to diverge


def sweep(**kw):
    return small(ACTS, optimizer=optax.sgd, lrs=LRS, seeds=3, **kw)


# ----------------------------------------------------------------------------- the split


def rows(x) -> set:
    return {r.tobytes() for r in np.asarray(x)}


def test_holdout_carves_validation_from_training_and_drops_the_test_split():
    d = selection.holdout(DATA, 64, seed=0)
    assert d.x_train.shape[0] == 256 - 64 and d.x_test.shape[0] == 64
    train, val = rows(d.x_train), rows(d.x_test)
    assert not train & val  # disjoint, and together the training split
    assert train | val == rows(DATA.x_train)
    assert not val & rows(DATA.x_test)  # the test split is not in it
    again, other = selection.holdout(DATA, 64, seed=0), selection.holdout(DATA, 64, seed=1)
    np.testing.assert_array_equal(again.x_test, d.x_test)
    assert rows(other.x_test) != val
    assert "validation split: 64 of its 256 training examples" in d.source


def test_holdout_takes_a_share():
    assert selection.holdout(DATA, 0.25).x_test.shape[0] == 64


@pytest.mark.parametrize("n", [0, 256, 1000, 0.001, -3])
def test_holdout_refuses_a_split_that_leaves_nothing(n):
    with pytest.raises(ValueError, match="between 1 and 255 of the 256 training examples"):
        selection.holdout(DATA, n)


def test_tuning_study_has_its_own_seeds_the_same_length_and_no_test_split():
    study = sweep(seed=5)
    t = selection.tuning_study(study, "val_accuracy", validation=64, seeds=2)
    assert t.seeds == 2 and t.seed == 5 + selection.SELECTION_SEED
    assert t.num_steps == study.num_steps and t.lrs == LRS
    assert not rows(t.data.x_test) & rows(DATA.x_test)
    # a train_* metric selects on the training split itself, all of it
    assert selection.tuning_study(study, "train_loss").data.x_train.shape[0] == 256


@pytest.mark.parametrize(
    "study, metric, match",
    [
        (small(ACTS), "val_accuracy", "needs a sweep: give lrs="),
        (small(ACTS, optimizer=optax.sgd, lrs=(0.1,)), "val_accuracy", "needs at least 2"),
        (sweep(), "test_accuracy", "unknown selection metric 'test_accuracy'; accepted: val_"),
    ],
)
def test_tuning_study_refuses_what_it_cannot_select_from(study, metric, match):
    with pytest.raises(ValueError, match=match):
        selection.tuning_study(study, metric)


# ----------------------------------------------------------------------------- the rule


@pytest.fixture(scope="module")
def tuned():
    t = selection.tuning_study(sweep(), "val_accuracy", validation=64)
    return t.run()


def test_choose_scores_every_seed_and_picks_the_best_mean(tuned):
    sel = selection.choose(tuned, "val_accuracy")
    final = tuned.final("test_accuracy")  # [acts, lrs, seeds], a diverged run at chance
    assert tuned.diverged[:, 2].all() and not tuned.diverged[:, :2].any()
    np.testing.assert_allclose(sel.score, final.mean(-1))
    np.testing.assert_allclose(sel.score[:, 2], 1 / 3)  # chance for 3 classes, not dropped
    np.testing.assert_array_equal(sel.n_diverged[:, 2], 3)
    assert sel.index == tuple(int(i) for i in final.mean(-1).argmax(1))
    assert sel.chosen == (3e-2, 3e-2)  # 1e-4 barely moves in 20 steps; 1e12 diverges
    assert sel.validation == 64 and sel.seeds == 3
    assert "mean final val_accuracy over 3 selection seeds" in sel.rule


def test_choose_by_loss_never_picks_a_diverged_rate(tuned):
    sel = selection.choose(tuned, "val_loss")
    assert np.isinf(sel.score[:, 2]).all()
    assert all(lr != 1e12 for lr in sel.chosen)


def test_the_grid_edge_is_flagged():
    sel = selection.Selection(
        "val_accuracy", ACTS, (1.0, 2.0, 3.0), *(np.zeros((2, 3)),) * 2,
        np.zeros((2, 3), int), 3, 0, 10, (0, 1),
    )  # fmt: skip
    assert sel.at_edge() == ("relu",)


def test_selection_round_trips_through_json(tuned):
    sel = selection.choose(tuned, "val_loss")
    back = selection.Selection.from_json(json.loads(json.dumps(sel.to_json())))
    assert back.chosen == sel.chosen and back.index == sel.index
    np.testing.assert_array_equal(back.score, sel.score)  # inf survives as null and back
    assert back.rule == sel.rule


def test_at_selected_is_the_study_at_each_activations_rate(tuned):
    sel = selection.choose(tuned, "val_accuracy")
    final = selection.at_selected(sweep(), sel)
    assert final.lrs is None and final.act_lrs == sel.chosen
    assert final.seed == 0 and final.data is DATA  # its own seeds, the whole training split
    with pytest.raises(ValueError, match="the selection is for"):
        selection.at_selected(sweep().replace(activations=("elu", "relu")), sel)


# ----------------------------------------------------------------------------- the run folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sel") / "run"
    sel, result = runner.execute_selected(
        "t", sweep(), out, 2, metric="val_accuracy", validation=64, progress=False
    )
    return out, sel, result


def test_execute_selected_writes_the_choice_and_runs_the_comparison_at_it(folder, tuned):
    out, sel, result = folder
    assert sel.chosen == selection.choose(tuned, "val_accuracy").chosen
    doc = json.loads((out / runner.SELECTION_JSON).read_text())
    assert doc["selection"]["chosen"] == dict(zip(ACTS, sel.chosen))
    assert (out / "selection.csv").exists() and (out / "selection" / "results.json").exists()
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["act_lrs"] == dict(zip(ACTS, sel.chosen))
    # the comparison is the study at the selected rates, trained on its own seeds
    alone = selection.at_selected(sweep(), sel).run()
    np.testing.assert_allclose(result.trace.test_loss, alone.trace.test_loss, rtol=1e-5)


def test_resume_reuses_a_selection_of_the_same_settings(folder, tmp_path):
    out, sel, _ = folder
    doc = json.loads((out / runner.SELECTION_JSON).read_text())
    doc["selection"]["index"] = [0, 0]  # a doctored choice: proves it is read, not retrained
    (tmp_path / runner.SELECTION_JSON).write_text(json.dumps(doc))
    got, result = runner.execute_selected(
        "t", sweep(), tmp_path, 2, metric="val_accuracy", validation=64,
        resume=True, or_start=True, progress=False,
    )  # fmt: skip
    assert got.chosen == (1e-4, 1e-4) and result.study.act_lrs == (1e-4, 1e-4)
    assert not (tmp_path / "selection").exists()


def test_resume_refuses_a_selection_made_with_other_settings(folder, tmp_path):
    out, _, _ = folder
    (tmp_path / runner.SELECTION_JSON).write_text((out / runner.SELECTION_JSON).read_text())
    with pytest.raises(runner.RunFolderError, match="a selection made with other settings"):
        runner.execute_selected(
            "t", sweep(), tmp_path, 2, metric="val_accuracy", validation=32, resume=True
        )


def test_the_selection_study_is_fingerprinted_apart_from_the_comparison():
    t = selection.tuning_study(sweep(), "val_accuracy", validation=64)
    assert checkpoint.fingerprint(t) != checkpoint.fingerprint(sweep())


def test_actlab_run_select_trains_each_activation_at_its_chosen_rate(tmp_path):
    from test_cli import main

    out = tmp_path / "run"
    argv = ["run", "xor", "--steps", "40", "--seeds", "2", "--acts", "relu,tanh", "--chunks"]
    argv += ["1", "--lrs", "0.01,0.1", "--select", "train_accuracy", "--out", out]
    code, _, err = main(argv)
    assert code == 0, err
    doc = json.loads((out / runner.SELECTION_JSON).read_text())["selection"]
    assert "selected by train_accuracy: relu " in err
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["act_lrs"] == doc["chosen"]
    rates = ", ".join(f"{a} {lr:g}" for a, lr in doc["chosen"].items())
    assert f"| act_lrs | {rates} |" in (out / "report.md").read_text()


def test_a_metric_of_the_users_with_a_goal_can_be_selected_on():
    goals = {"mae": "min", "r2": "max"}
    assert selection.rule_of("val_mae", goals) == ("test_mae", False)
    assert selection.rule_of("train_r2", goals) == ("train_r2", True)
    assert selection.rule_of("val_loss", goals) == ("test_loss", False)
    # a metric without a goal has no better side: refused, naming what is accepted
    with pytest.raises(ValueError, match="'val_bias'; accepted: .*val_mae, train_mae, val_r2"):
        selection.rule_of("val_bias", goals)
    with pytest.raises(ValueError, match="or val_NAME / train_NAME of a metric of yours"):
        selection.rule_of("val_mae")
    # the direction travels with the choice (selection.json), for the report's rule
    s = selection.Selection(
        "val_mae", ("relu",), (1e-3, 1e-2), np.array([[0.5, 0.2]]), np.zeros((1, 2)),
        np.zeros((1, 2), int), 2, 0, 10, (1,), larger=False,
    )  # fmt: skip
    back = selection.Selection.from_json(s.to_json())
    assert back.larger is False and "lowest mean final val_mae" in back.rule
