"""The command line: the results.json contract, reports, Ctrl-C and --resume, compare, and
one-line errors with exit code 2.

One tiny deep-XOR study (2 activations x 3 seeds, 300 steps = 3 chunks) is run three times
for the module: uninterrupted (with --tensorboard), interrupted by Ctrl-C after 2 chunks, and
resumed. Tests of what is accepted without training use ``no_training``: reaching
``Study.start`` raises ``Accepted``. Checkpoint files are ``tests/test_checkpoint.py``'s,
file-system faults and kill -9 ``tests/test_faults.py``'s, TensorBoard events
``tests/test_tensorboard.py``'s.
"""

import argparse
import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import actlab
from actlab import checkpoint, cli, data, outcome, report, runtime, selection, study, tables
from actlab import protocols as P
from actlab import tensorboard as tb

# its runs are module fixtures: one worker builds them (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("cli")

ARGS = ["run", "xor", "--steps", "300", "--seeds", "3", "--acts", "sigmoid,relu", "--chunks", "3"]


def main(argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``actlab argv``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def one_line_error(got: tuple[int, str, str]) -> str:
    """The error line of ``main``'s ``got``, checked to be all it wrote to stderr, exit 2."""
    code, _, err = got
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actlab"), err
    return lines[0]


class Accepted(Exception):
    """Training was about to start: every check before it passed."""


@pytest.fixture
def no_training(monkeypatch):
    """``Study.start`` raises ``Accepted``: nothing is compiled or trained."""

    def start(self, *args, **kwargs):
        raise Accepted

    monkeypatch.setattr(study.Study, "start", start)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    full, crashed = tmp / "full", tmp / "crashed"
    real_write, writes = report.write, []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "write", lambda *a, **kw: writes.append(1) or real_write(*a, **kw))
        full_argv = [*ARGS, "--out", full, "--threshold", "train_error=0.25", "--tensorboard"]
        got = {"full": main(full_argv)}
    got["report_writes"] = len(writes)

    real, calls = study.Run.advance, []

    def advance(self, intervals=None):  # Ctrl-C during the third chunk
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(intervals)
        real(self, intervals)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study.Run, "advance", advance)
        got["crash"] = main([*ARGS, "--out", crashed])
    got["after_crash"] = json.loads((crashed / "results.json").read_text())
    got["checkpoint"] = json.loads((crashed / checkpoint.SIDECAR).read_text())
    shutil.copytree(crashed, tmp / "unfinished")
    got["mismatch"] = main([*ARGS, "--seeds", "4", "--out", crashed, "--resume"])
    got["resume"] = main([*ARGS, "--out", crashed, "--resume"])
    return full, crashed, got


# ----------------------------------------------------------------------------- run


def test_run_writes_results_json_with_the_documented_keys(runs):
    full, _, got = runs
    code, stdout, _ = got["full"]
    assert code == 0 and "sigmoid" in stdout and f"report: {full}/report.md" in stdout
    doc = json.loads((full / "results.json").read_text())
    assert doc["experiment"] == "xor" and doc["complete"] and doc["steps_done"] == 300
    assert doc["activations"] == ["sigmoid", "relu"] and doc["seeds"] == 3
    for key in ("final_test_accuracy", "final_train_loss", "diverged"):
        assert set(doc["metrics"][key]) == {"sigmoid", "relu"}
        assert len(doc["metrics"][key]["relu"]) == 3
    assert doc["timing"]["models"] == 6 and doc["timing"]["steps"] == 300
    assert doc["timing"]["compile_s"] > 0 and doc["timing"]["train_s"] > 0
    assert doc["config"]["loss"] == "bce_unclipped" and doc["config"]["batch_size"] is None
    assert doc["threshold"] == {"metric": "train_error", "value": 0.25}
    assert doc["command"].startswith("actlab run xor --steps 300")


def test_run_writes_report_tidy_table_and_plots(runs):
    full = runs[0]
    for name in (
        "trace.npz",
        "report.md",
        "tidy.csv",
        "tidy.parquet",
        "summary.txt",
        "test_accuracy.png",
        "train_loss.png",
        "grad_norm_heatmap.png",
        "unit_fractions.png",
        "final_test_accuracy.png",
        "time_to_threshold.png",
    ):
        assert (full / name).stat().st_size > 0, name
    text = (full / "report.md").read_text()
    assert "## Time to threshold: train_error <= 0.25" in text
    assert not (full / checkpoint.NPZ).exists()  # a finished run keeps no checkpoint


def test_run_writes_the_report_once_through_the_runner(runs):
    full, _, got = runs
    assert got["report_writes"] == 1
    summary = (full / "summary.txt").read_text()
    assert got["full"][1] == f"{summary}report: {full}/report.md\n"  # what it printed


def test_run_with_tensorboard_writes_a_run_per_activation_and_seed(runs):
    logdir = runs[0] / "tensorboard"
    assert sorted(p.name for p in logdir.iterdir()) == ["relu", "sigmoid"]
    for act in ("sigmoid", "relu"):
        assert [p.name for p in sorted((logdir / act).iterdir())] == ["seed_0", "seed_1", "seed_2"]
        assert tb.last_step(logdir / act / "seed_2") == 300
    assert not (runs[1] / "tensorboard").exists()  # not asked for


def one_chunk_run(tmp_path, *extra) -> tuple[int, str, str]:
    """``main`` of a one-chunk deep-XOR run into ``tmp_path / "run"``."""
    argv = ["run", "xor", "--steps", "100", "--seeds", "1", "--acts", "relu", "--chunks", "1"]
    return main([*argv, "--out", tmp_path / "run", *extra])


def test_ctrl_c_while_writing_the_report_keeps_the_run_and_says_how_to_render_it(
    tmp_path, monkeypatch
):
    def interrupt(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write", interrupt)
    code, _, err = one_chunk_run(tmp_path)
    out = tmp_path / "run"
    assert code == 130
    assert err.endswith(
        "\nactlab: interrupted while writing the report; the run is saved. Render it with:"
        f"\n  actlab report {out}\n"
    )
    assert json.loads((out / "results.json").read_text())["complete"]
    assert not (out / checkpoint.NPZ).exists()


def test_a_failed_write_of_the_report_exits_2_and_the_report_can_be_rendered(tmp_path, monkeypatch):
    out = tmp_path / "run"

    def disk_full(*args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "report.md"))

    with monkeypatch.context() as mp:
        mp.setattr(report, "write", disk_full)
        code, _, err = one_chunk_run(tmp_path)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (  # after the progress bar
        f"actlab: error: cannot write {out}/report.md (No space left on device); the run is "
        f"saved in {out}/: once it can be written, render the report with: actlab report {out}"
    )
    assert main(["report", out])[0] == 0 and (out / "report.md").exists()


def test_ctrl_c_saves_what_is_done_and_exits_130(runs):
    _, crashed, got = runs
    code, _, err = got["crash"]
    assert code == 130
    assert "interrupted at step 200 of 300" in err
    resume = f"actlab run xor --steps 300 --seeds 3 --acts sigmoid,relu --chunks 3 --out {crashed}"
    assert f"{resume} --resume\n" in err
    assert not got["after_crash"]["complete"] and got["after_crash"]["steps_done"] == 200
    assert got["checkpoint"]["intervals_done"] == 2 and got["checkpoint"]["chunk"] == 1
    assert "Traceback" not in err


def test_resume_with_other_settings_is_refused(runs):
    code, _, err = runs[2]["mismatch"]
    assert code == 2
    assert "was made with other settings (seeds: 3 then, 4 now)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_resumed_run_equals_uninterrupted_run(runs):
    full, crashed, got = runs
    assert got["resume"][0] == 0
    with np.load(full / "trace.npz") as a, np.load(crashed / "trace.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            # the same compiled program continues from the same state: bit-identical
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    da = json.loads((full / "results.json").read_text())
    db = json.loads((crashed / "results.json").read_text())
    assert db["complete"] and da["metrics"] == db["metrics"]
    assert not (crashed / checkpoint.NPZ).exists()


def test_run_into_an_unfinished_run_is_refused(runs, no_training):
    unfinished = runs[0].parent / "unfinished"
    saved = (unfinished / checkpoint.NPZ).read_bytes()
    line = one_line_error(main([*ARGS, "--out", unfinished]))
    assert f"{unfinished} holds an unfinished run ({checkpoint.NPZ}): add --resume" in line
    assert (unfinished / checkpoint.NPZ).read_bytes() == saved


def test_run_into_a_finished_run_starts_over(runs, no_training):
    with pytest.raises(Accepted):  # make demo re-runs into its folders
        main([*ARGS, "--out", runs[0]])


def test_resume_without_a_run_to_resume_exits_2(tmp_path, no_training):
    line = one_line_error(main([*ARGS, "--out", tmp_path, "--resume"]))
    assert f"{tmp_path} holds no {checkpoint.NPZ}, so no run to resume" in line
    assert "--resume-or-start" in line


def test_resume_or_start_starts_when_there_is_no_run(tmp_path, no_training):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(Accepted):
        cli.main([*ARGS, "--out", str(tmp_path / "new"), "--resume-or-start"])
    assert (
        err.getvalue()
        == f"actlab: {tmp_path / 'new'} holds no run to resume: starting from step 0\n"
    )


def test_resume_command_adds_resume_unless_it_has_a_resume_flag():
    assert cli._resume_command(["actlab", "run", "xor"]) == "actlab run xor --resume"
    for flag in cli.RESUME_FLAGS:
        assert cli._resume_command(["actlab", "run", "xor", flag]) == f"actlab run xor {flag}"


# ----------------------------------------------------------------------------- report, compare


def test_tidy_levels(runs):
    rec = report.Record.load(runs[0])
    every = tables.tidy(rec, "all")
    curves, final = tables.tidy(rec, "curves"), tables.tidy(rec, "final")
    assert list(curves.columns) == list(final.columns) == list(every.columns)
    scalar = every[every.layer == -1].reset_index(drop=True)
    pd.testing.assert_frame_equal(curves.reset_index(drop=True), scalar)
    last = every[every.step == rec.steps[-1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(final, last)
    assert len(final) * len(rec.steps) == len(every)  # each model's values, once per evaluation
    with pytest.raises(ValueError, match="tidy level must be one of final, curves, all"):
        tables.tidy(rec, "some")


def test_report_tidy_auto_keeps_the_curves_above_the_row_budget(runs, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(runs[0], copy)
    rec = report.Record.load(copy)
    rows = len(tables.tidy(rec, "all"))
    monkeypatch.setattr(report, "TIDY_MAX_ROWS", rows)
    report.write(rec, copy)
    assert len(pd.read_parquet(copy / "tidy.parquet")) == rows  # at the budget: every value
    monkeypatch.setattr(report, "TIDY_MAX_ROWS", rows - 1)
    report.write(rec, copy)
    got = pd.read_parquet(copy / "tidy.parquet")
    assert len(got) == len(tables.tidy(rec, "curves")) and (got.layer == -1).all()
    said = (
        "tidy table (curves: the scalar metrics at every evaluation, no per-layer ones; every "
        f"traced value is {rows:,} rows: `actlab report {copy} --tidy all`)"
    )
    assert said in (copy / "report.md").read_text()


def test_report_tidy_flag_chooses_the_rows(runs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(runs[0], copy)
    assert main(["report", copy, "--tidy", "final"])[0] == 0
    got = pd.read_parquet(copy / "tidy.parquet")
    assert set(got.step) == {300} and (got.layer >= 0).any()


def test_report_rerenders_the_same_report(runs, tmp_path):
    full = runs[0]
    copy = tmp_path / "copy"
    shutil.copytree(full, copy)
    for f in ("report.md", "tidy.csv", "test_accuracy.png"):
        (copy / f).unlink()
    code, stdout, _ = main(["report", copy])
    assert code == 0 and "sigmoid" in stdout
    assert (copy / "report.md").read_text() == (full / "report.md").read_text()
    assert (copy / "tidy.csv").read_text() == (full / "tidy.csv").read_text()
    assert (copy / "test_accuracy.png").exists()


def table_rows(markdown: str) -> dict[str, dict[str, str]]:
    """The rows of the first table in ``markdown``, by first cell: {row: {column: cell}}."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {row[0]: dict(zip(cells[0], row)) for row in cells[2:]}  # [1] is |---|


def test_compare_two_runs(runs, tmp_path):
    full, crashed, _ = runs
    code, stdout, _ = main(["compare", full, crashed, "--out", tmp_path / "cmp.md"])
    assert code == 0
    assert "- settings that differ: none" in stdout
    rows = table_rows(stdout)
    assert list(rows) == ["sigmoid", "relu"]
    rec = report.Record.load(full)
    for name, acc in zip(rec.labels, rec.final("test_accuracy")):
        kept = acc[np.isfinite(acc)]  # every seed counts: a diverged run scores chance
        assert kept.size == 3, f"{name}: {acc} has a seed missing"
        row = rows[name]  # the resumed run equals the first: same numbers, no difference
        assert row["n A"] == row["n B"] == str(kept.size)
        assert row["mean A"] == row["mean B"] == f"{kept.mean():.4f}"
        assert row["B − A"] == "+0.0000"
    assert (tmp_path / "cmp.md").read_text().strip() == stdout.split("written to")[0].strip()


def list_sections(stdout: str) -> dict[str, list[str]]:
    """``actlab list``'s output: {heading: its indented lines}."""
    sections: dict[str, list[str]] = {}
    heading = ""
    for line in stdout.splitlines():
        if line.startswith(" "):
            sections[heading].append(line)
        else:
            heading = line.split(" (")[0].rstrip(":")
            sections[heading] = []
    return sections


def test_list_names_every_experiment_activation_and_dataset():
    code, stdout, _ = main(["list"])
    assert code == 0
    got = list_sections(stdout)
    # an experiment's own line starts with its name; its datasets line is indented further
    assert [line.split()[0] for line in got["experiments"] if line[2] != " "] == list(P.PROTOCOLS)
    assert got["activations"][0].strip().split(", ") == list(actlab.activations.names())
    assert got["datasets"][0].strip().split(", ") == list(cli.datasets())
    assert got["threshold metrics"][0].strip().split(", ") == list(report.THRESHOLD_METRICS)


@pytest.mark.parametrize(
    "written, library",
    [
        (
            lambda: cli.EXPERIMENTS,
            lambda: {p.name: (p.summary, p.source, p.datasets) for p in P.PROTOCOLS.values()},
        ),
        (lambda: cli.ACTIVATIONS, lambda: actlab.activations.names()),
        (lambda: cli.DATASETS, lambda: (*data.BUILTIN, *data.IMAGES, *data.CORPORA)),
        (lambda: cli.THRESHOLD_METRICS, lambda: report.THRESHOLD_METRICS),
        (lambda: cli.DIVERGED_RULES, lambda: outcome.RULES),
        (lambda: cli.SELECT_METRICS, lambda: tuple(selection.METRICS)),
        (lambda: cli.VALIDATION, lambda: selection.VALIDATION),
        (lambda: cli.TIDY_LEVELS, lambda: ("auto", *tables.TIDY_LEVELS)),
        (lambda: cli.TIDY_MAX_ROWS, lambda: report.TIDY_MAX_ROWS),
    ],
    ids=[
        "experiments",
        "activations",
        "datasets",
        "threshold_metrics",
        "diverged_rules",
        "select_metrics",
        "validation",
        "tidy_levels",
        "tidy_max_rows",
    ],
)
def test_names_written_out_for_the_parser_equal_the_library(written, library):
    # the parser and `actlab list` do not import the library: its names are copied into cli
    assert written() == library(), f"update actlab/cli.py to: {library()!r}"


# the package as a bare namespace: what cli itself imports, whatever actlab/__init__.py does
BARE_PACKAGE = """
import importlib.util, sys, types
package = types.ModuleType("actlab")
package.__path__ = list(importlib.util.find_spec("actlab").submodule_search_locations)
sys.modules["actlab"] = package
from actlab import cli
for argv in {argvs!r}:
    try:
        cli.main(argv)
    except SystemExit:
        pass
print([m for m in ("jax", "flax", "optax", "tensorflow_datasets", "pandas") if m in sys.modules])
"""


def test_help_list_and_usage_errors_do_not_import_the_library():
    argvs = [["--help"], ["list"], ["run", "--help"], ["run", "xor", "--seeds", "0"], ["fly"]]
    argvs += [["run", "nope"], ["report", "--help"]]
    code = BARE_PACKAGE.format(argvs=argvs)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.splitlines()[-1] == "[]", r.stderr


def run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


@pytest.mark.parametrize(
    "action", [a for a in run_parser()._actions if a.dest != "help"], ids=lambda a: a.dest
)
def test_every_run_option_has_help_that_states_its_default(action):
    if action.option_strings:
        assert action.help and "default" in action.help
    else:
        assert action.help  # the experiment: no default


def test_demo_runs_mnist1d_then_xor_into_out(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(cli, "_run", lambda args, command: seen.append(command) or 0)
    assert main(["demo", "--out", tmp_path])[0] == 0
    assert [c[2] for c in seen] == ["mnist1d", "xor"]
    # a demo that was interrupted continues; a finished one is run again
    assert seen[1][3:] == ["--seeds", "100", "--out", str(tmp_path / "xor"), "--resume-or-start"]


# ----------------------------------------------------------------------------- bad arguments


ACCEPTED = ", ".join(P.PROTOCOLS)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["run", "nope"], f"unknown experiment 'nope'; accepted: {ACCEPTED}"),
        (["run", "xor", "--seeds", "0"], "must be a positive integer, got 0"),
        (["run", "xor", "--seeds", "-3"], "must be a positive integer, got -3"),
        (["run", "xor", "--seeds", "ten"], "expected a positive integer, got 'ten'"),
        (["run", "xor", "--chunks", "0"], "must be a positive integer"),
        (["run", "xor", "--acts", "relu,bogus"], "unknown activation 'bogus'; known: "),
        (["run", "xor", "--acts", "relu,relu"], "activations listed twice"),
        (["run", "xor", "--lr", "-1"], "must be a positive finite number"),
        (["run", "xor", "--epochs", "inf"], "must be a positive finite number"),
        (["run", "xor", "--steps", "5", "--epochs", "2"], "not allowed with argument"),
        (["run", "xor", "--dataset", "cifar10"], "does not fit dataset 'cifar10'; accepted: xor"),
        (["run", "xor", "--dataset", "nope"], "does not know dataset 'nope'; accepted: xor"),
        (["run", "xor", "--threshold", "speed=1"], "unknown threshold metric 'speed'; accepted:"),
        (["run", "xor", "--threshold", "0.25"], "expected METRIC=VALUE"),
        (["run", "xor", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "xor", "--resume", "--resume-or-start"], "not allowed with argument --resume"),
        (["run", "xor", "--epochs", "1e300"], "steps; accepted: at most 1073741824"),
        (["run", "xor", "--select", "val_accuracy"], "--select needs --lrs with two"),
        (["run", "xor", "--lrs", "0.1", "--select", "train_loss"], "--select needs --lrs with"),
        (["run", "xor", "--validation", "100"], "go with --select METRIC"),
        (["run", "xor", "--lrs", "0.1,x"], "learning rates: expected a positive number, got 'x'"),
        (["run", "xor", "--lrs", "0.1,0.1"], "learning rates must differ"),
        (["run", "xor", "--lr", "0.1", "--lrs", "0.1,0.2"], "not allowed with argument --lr"),
        (
            ["run", "xor", "--lrs", "0.1,0.2", "--select", "top"],
            "unknown selection metric 'top'; accepted: val_accuracy, val_loss",
        ),
        (
            ["run", "xor", "--lrs", "0.01,0.1", "--select", "val_accuracy"],
            "validation must hold out between 1 and 3 of the 4 training examples",
        ),
        (["run", "xor", "--max-memory", "lots"], "expected a size such as 512M or 8G"),
        (["run", "xor", "--max-memory", "1K"], "max_memory=1024 bytes per device holds no "),
        (["fly"], "invalid choice: 'fly'"),
        (
            ["run", "xor", "--diverged-as", "drop"],
            "invalid choice: 'drop' (choose from 'failure', 'exclude', 'frozen')",
        ),
        (["report", "{tmp}", "--diverged-as", "ignore"], "invalid choice: 'ignore'"),
        (["report", "{tmp}"], "holds no results.json"),
        (["compare", "{tmp}", "{tmp}"], "holds no results.json"),
        (["compare", "{tmp}"], "the following arguments are required: DIR"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, match, tmp_path):
    code, _, err = main([a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert match in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_compare_runs_without_common_activations_exit_2(runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs[0], other)
    doc = json.loads((other / "results.json").read_text())
    doc["activations"] = ["elu", "gelu"]
    (other / "results.json").write_text(json.dumps(doc))
    code, _, err = main(["compare", runs[0], other])
    assert code == 2 and "share no activation: sigmoid, relu vs elu, gelu" in err


def test_a_second_run_in_a_new_process_loads_its_programs_from_the_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env |= {"XDG_CACHE_HOME": str(tmp_path / "cache"), "ACTLAB_OFFLINE": "1"}
    env.pop(runtime.CACHE_OPT_OUT, None)
    argv = [sys.executable, "-m", "actlab.cli", "run", "xor", "--steps", "20", "--seeds", "2"]
    argv += ["--acts", "tanh", "--chunks", "2", "--out", str(tmp_path / "run")]
    entries = []
    for _ in range(2):
        subprocess.run(argv, env=env, check=True, capture_output=True, cwd=tmp_path)
        cache = (tmp_path / "cache/actlab/jax").iterdir()
        entries.append({p.name: p.stat().st_mtime_ns for p in cache})
    assert entries[0], "the first run wrote nothing into the cache"
    # the second run compiled nothing: no new entry, none written again (a miss rewrites it)
    assert entries[1] == entries[0]


def test_the_compilation_cache_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(runtime.CACHE_OPT_OUT, "1")
    assert runtime.use_compilation_cache() is None
