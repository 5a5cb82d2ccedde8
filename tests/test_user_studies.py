"""The researcher's own study from the command line: a study file run, killed and resumed; a
plugin's activation in a run and in its worker processes; each example at quick size.

Every run is a real ``actlab`` process. The kill is a SIGKILL the process sends itself once
its first checkpoint is written (a wrapper around ``checkpoint.save``), so it always lands
at the same point, mid-run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actlab import plugins

ROOT = Path(__file__).resolve().parents[1]
STUDY = str(ROOT / "examples" / "my_study.py")
PLUGIN = str(ROOT / "examples" / "my_activations.py")
TIMEOUT = 600

# the process kills itself (SIGKILL, no cleanup) right after its first checkpoint is written
KILLED = """
import os, signal, sys
from actlab import checkpoint, cli

real = checkpoint.save

def save(*a, **kw):
    path = real(*a, **kw)
    os.kill(os.getpid(), signal.SIGKILL)
    return path

checkpoint.save = save
sys.exit(cli.main(sys.argv[1:]))
"""

pytestmark = pytest.mark.xdist_group("user_studies")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax-cache")
    return {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache)}


def actlab(env, *argv: str, program=("-m", "actlab.cli")) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *program, *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


RUN = ["run", STUDY, "--seeds", "4", "--steps", "200", "--chunks", "4"]


@pytest.fixture(scope="module")
def study_runs(env, tmp_path_factory):
    """(uninterrupted folder, killed-then-resumed folder, the killed process)."""
    d = tmp_path_factory.mktemp("my_study")
    whole = actlab(env, *RUN, "--out", str(d / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = actlab(env, *RUN, "--out", str(d / "resumed"), program=("-c", KILLED))
    resumed = actlab(env, *RUN, "--out", str(d / "resumed"), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return d / "whole", d / "resumed", killed


def test_a_study_file_is_killed_and_resumes_to_the_same_bits(study_runs):
    whole, resumed, killed = study_runs
    assert killed.returncode == -9  # SIGKILL after its first checkpoint: mid-run
    with np.load(whole / "trace.npz") as a, np.load(resumed / "trace.npz") as b:
        assert set(a.files) == set(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    doc = json.loads((resumed / "results.json").read_text())
    assert doc["experiment"] == "my_study" and doc["seeds"] == 4 and doc["complete"]
    assert "--resume" in doc["command"]


def test_a_regression_with_a_metric_of_its_own_reaches_every_output(study_runs):
    whole, _, _ = study_runs
    doc = json.loads((whole / "results.json").read_text())
    assert doc["config"]["loss"] == "mse" and doc["config"]["classes"] is None
    assert {"final_test_mae", "final_test_loss"} <= set(doc["summary"])
    assert "final_test_accuracy" not in doc["summary"]  # a regression has no accuracy
    assert doc["summary"]["final_test_mae"]["relu"]["rule"] == "failure"  # its goal: "min"
    assert doc["summary"]["final_test_bias"]["relu"]["rule"] == "exclude"  # none declared
    with np.load(whole / "trace.npz") as z:
        assert {"test_mae", "train_mae", "test_bias"} <= set(z.files)
        assert z["test_mae"].shape == z["test_loss"].shape
    tidy = pd.read_parquet(whole / "tidy.parquet")
    assert {"test_mae", "train_bias"} <= set(tidy["metric"].astype(str))
    report = (whole / "report.md").read_text()
    assert "## Final test mae (the study's own metric)" in report
    assert "has the lowest final test loss" in report.split("\n## ")[0]  # the headline


def test_a_plugins_activation_runs_from_the_command_line_and_in_worker_processes(env, tmp_path):
    common = ["run", "xor", "--plugins", PLUGIN, "--acts", "isru,tanh", "--seeds", "2"]
    common += ["--steps", "101"]
    one = actlab(env, *common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = actlab(env, *common, "--processes", "2", "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    for out in ("one", "two"):
        doc = json.loads((tmp_path / out / "results.json").read_text())
        assert doc["activations"] == ["isru", "tanh"]
    with np.load(tmp_path / "one" / "trace.npz") as a, np.load(tmp_path / "two" / "trace.npz") as b:
        np.testing.assert_array_equal(a["test_loss"], b["test_loss"])  # same seeds, same bits


def test_an_unknown_activation_without_its_plugin_is_a_one_line_error(env):
    r = actlab(env, "run", "xor", "--acts", "isru,tanh", "--seeds", "2", "--steps", "11")
    assert r.returncode == 2 and "unknown activation 'isru'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "ref, match",
    [
        ("examples/nope.py", "cannot import the study file examples/nope.py"),
        (f"{PLUGIN}:study", "has no function study()"),
        ("platform:python_version", r"python_version\(\) returned a str, not an actlab.Study"),
        ("json:dumps", r"json:dumps\(\) failed: TypeError"),
    ],
)
def test_a_study_reference_that_is_not_one_gets_one_line(env, ref, match):
    r = actlab(env, "run", ref, "--seeds", "2")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert pd.Series([r.stderr]).str.contains(match).all(), r.stderr


@pytest.mark.parametrize("ref", ["a.py", "dir/a.py:make", "pkg.mod:study"])
def test_study_references_are_told_from_experiment_names(ref):
    assert plugins.is_study(ref)


@pytest.mark.parametrize("ref", ["xor", "a.txt", "a:b:c", "pkg.mod:"])
def test_other_names_are_not_study_references(ref):
    assert not plugins.is_study(ref)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["linen_study", "nnx_study", "equinox_study"])
def test_each_example_runs_at_quick_size(env, tmp_path, example):
    out = tmp_path / example
    r = actlab(env, "run", f"examples/{example}.py", "--quick", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["activations"]) >= 3 and doc["seeds"] == 2
    assert (out / "report.md").exists()
