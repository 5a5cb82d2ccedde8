"""The command line: results.json contract, one-line errors with exit code 2."""

import json

import pytest

from actlab import cli


def run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["run", "nope"], "unknown experiment 'nope'; accepted: xor, mnist1d"),
        (["run", "xor", "--seeds", "0"], "must be a positive integer"),
        (["run", "xor", "--seeds", "ten"], "expected a positive integer"),
        (["run", "xor", "--acts", "relu,bogus"], "unknown activation 'bogus'"),
        (["run", "xor", "--lr", "-1"], "must be a positive finite number"),
        (["run", "xor", "--steps", "5", "--epochs", "2"], "not allowed with argument"),
        (["run", "xor", "--dataset", "cifar10"], "does not fit dataset 'cifar10'; accepted: xor"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, match, capsys):
    code, err = run(argv, capsys)
    assert code == 2
    assert match in err
    assert "Traceback" not in err


def test_run_writes_results_json_with_the_documented_keys(tmp_path, capsys):
    out = tmp_path / "xor"
    argv = ["run", "xor", "--seeds", "3", "--steps", "40", "--acts", "sigmoid,relu"]
    assert cli.main([*argv, "--out", str(out), "--chunks", "2"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["experiment"] == "xor" and doc["complete"]
    assert doc["activations"] == ["sigmoid", "relu"] and doc["seeds"] == 3
    for key in ("final_test_accuracy", "final_train_loss", "diverged"):
        assert set(doc["metrics"][key]) == {"sigmoid", "relu"}
        assert len(doc["metrics"][key]["relu"]) == 3
    assert doc["timing"]["models"] == 6 and doc["timing"]["steps"] == 40
    assert doc["timing"]["compile_s"] > 0 and doc["timing"]["train_s"] > 0
    assert doc["config"]["loss"] == "bce_unclipped" and doc["config"]["batch_size"] is None
    assert (out / "trace.npz").exists() and (out / "grad_norm_heatmap.png").exists()
    assert "sigmoid" in capsys.readouterr().out
