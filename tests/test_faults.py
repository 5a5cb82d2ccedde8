"""File-system faults of the ``actlab`` command: each gets one line on stderr and exit code 2,
and nothing already computed is lost. Plus ``kill -9`` of a real run, and hypothesis over
command-line arguments and ``Study`` fields.

Runs that are killed, or whose disk fills up, are real ``actlab`` processes; so is the
uninterrupted run their resumed traces must equal bit for bit (the command splits the CPU
into host devices, so a process is compared with a process). They share one persistent JAX
compilation cache: only the first compiles, which changes no result.
"""

import dataclasses
import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli import Accepted, main, no_training, one_line_error  # noqa: F401 (fixture)

import actlab
from actlab import activations as A
from actlab import checkpoint, cli, results, runner

# its runs are module fixtures: one worker builds them (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("faults")

# 120 intervals of 100 steps in 3 chunks of 40: a chunk is long enough (~1 s here) to be
# killed in its middle, short enough for the suite
ARGS = ["run", "xor", "--steps", "12000", "--seeds", "4", "--acts", "relu", "--chunks", "3"]
PER_CHUNK = 40
TIMEOUT = 300  # s for any one process or wait: a hang fails the test instead of CI

# the second chunk's checkpoint.npz meets a full disk, half-way through writing it
DISK_FULL = """
import errno, itertools, sys
from actlab import checkpoint, cli

real, saves = checkpoint.atomic_write, itertools.count()

def fill_the_disk(tmp):
    tmp.write_bytes(b"half a checkpoint")
    raise OSError(errno.ENOSPC, "No space left on device")

def atomic_write(path, write):
    if path.name == checkpoint.NPZ and next(saves) == 1:
        write = fill_the_disk
    return real(path, write)

checkpoint.atomic_write = atomic_write
sys.exit(cli.main(sys.argv[1:]))
"""


# ----------------------------------------------------------------------------- processes


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jax-cache")
    return {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}


def spawn(env: dict, out: Path, *extra: str, program=("-m", "actlab.cli")) -> subprocess.Popen:
    """``actlab ARGS --out out extra`` in a new process; stderr goes to ``out``.err."""
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, *program, *ARGS, "--out", str(out), *extra]
    with open(f"{out}.err", "wb") as err:
        return subprocess.Popen(
            argv, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=err
        )


def finish(proc: subprocess.Popen, out: Path) -> tuple[int, str]:
    """(exit code, stderr) of ``proc``, once it has ended."""
    try:
        proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"actlab --out {out} still running after {TIMEOUT} s")
    return proc.returncode, Path(f"{out}.err").read_text()


def run_to_end(env: dict, out: Path, *extra: str, **kw) -> tuple[int, str]:
    return finish(spawn(env, out, *extra, **kw), out)


def intervals_done(out: Path) -> int:
    """What ``out``'s checkpoint.json says is done (0 before the first save and after the
    last, which removes it); written atomically, so never half a file."""
    try:
        return json.loads((out / checkpoint.SIDECAR).read_text())["intervals_done"]
    except FileNotFoundError:
        return 0


def wait_for(proc: subprocess.Popen, out: Path, intervals: int) -> bool:
    """Poll until ``out``'s checkpoint holds ``intervals``: True, or False if ``proc`` ended
    first. Fails the test after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while intervals_done(out) < intervals:
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no checkpoint of {intervals} intervals in {out} after {TIMEOUT} s")
        time.sleep(0.005)
    return True


def kill(proc: subprocess.Popen, out: Path) -> None:
    """SIGKILL ``proc``: skips the test if it had finished, fails it if it had crashed."""
    proc.kill()
    code, err = finish(proc, out)
    if code == 0:
        pytest.skip("the run had finished before it was killed: nothing to resume")
    assert code == -signal.SIGKILL, err


def assert_same_run(a: Path, b: Path) -> None:
    """Every array of the two trace.npz equal, bit for bit, and the same metrics."""
    with np.load(a / "trace.npz") as x, np.load(b / "trace.npz") as y:
        assert sorted(x.files) == sorted(y.files)
        for k in x.files:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)
    da, db = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert da["complete"] and db["complete"] and da["metrics"] == db["metrics"]
    assert not (b / checkpoint.NPZ).exists()


@pytest.fixture(scope="module")
def reference(env, tmp_path_factory):
    """A finished, uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "run"
    code, err = run_to_end(env, out)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def unfinished(env, reference, tmp_path_factory):
    """A run killed at a chunk boundary: as soon as its first checkpoint is seen (the
    reference ran first, so that this one loads its compilation)."""
    out = tmp_path_factory.mktemp("killed") / "run"
    proc = spawn(env, out)
    assert wait_for(proc, out, PER_CHUNK), finish(proc, out)
    kill(proc, out)
    assert intervals_done(out) >= PER_CHUNK  # a checkpoint to resume from
    return out


def copy(run: Path, tmp_path: Path) -> Path:
    return shutil.copytree(run, tmp_path / "run")


# ----------------------------------------------------------------------------- kill -9


def test_kill_at_a_chunk_boundary_then_resume_or_start_equals_uninterrupted_run(
    env, reference, unfinished, tmp_path
):
    out = copy(unfinished, tmp_path)
    code, err = run_to_end(env, out, "--resume-or-start")  # as a requeued cluster job does
    assert code == 0, err
    assert_same_run(reference, out)


def test_kill_mid_chunk_then_resume_equals_uninterrupted_run(env, reference, tmp_path):
    out = tmp_path / "run"
    proc = spawn(env, out)
    assert wait_for(proc, out, PER_CHUNK), finish(proc, out)
    t = time.monotonic()
    if not wait_for(proc, out, 2 * PER_CHUNK):
        kill(proc, out)  # it ended by itself
    time.sleep((time.monotonic() - t) / 2)  # half the second chunk's time into the third
    kill(proc, out)
    if intervals_done(out) != 2 * PER_CHUNK:  # 0: trained to the end, checkpoint removed
        pytest.skip("the third chunk had ended before the kill: it was not mid-chunk")
    code, err = run_to_end(env, out, "--resume")
    assert code == 0, err
    assert_same_run(reference, out)


# ----------------------------------------------------------------------------- disk full


def test_disk_full_during_a_save_keeps_the_previous_checkpoint(env, reference, tmp_path):
    out = tmp_path / "run"
    code, err = run_to_end(env, out, program=("-c", DISK_FULL))
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("actlab")]
    resume = f"actlab {' '.join(ARGS)} --out {out} --resume"
    assert lines == [
        f"actlab: error: cannot write {out / checkpoint.NPZ} (No space left on device); the "
        f"checkpoint at step {PER_CHUNK * 100} is intact; once it can be written, resume "
        f"with: {resume}"
    ]
    assert checkpoint.read(out)["intervals_done"] == PER_CHUNK
    with np.load(out / checkpoint.NPZ) as z:
        [z[k] for k in z.files]  # every array reads back
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary left
    code, err = run_to_end(env, out, "--resume")
    assert code == 0, err
    assert_same_run(reference, out)


def test_failed_write_keeps_the_old_file_and_names_it(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("old")

    def fill_the_disk(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError) as e:
        results.atomic_write(path, fill_the_disk)
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, str(path))
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["results.json"]


# ----------------------------------------------------------------------------- --out


@pytest.mark.usefixtures("no_training")
def test_out_that_is_a_file_is_refused_before_compiling(tmp_path):
    (tmp_path / "f").write_text("mine")
    line = one_line_error(main([*ARGS, "--out", tmp_path / "f"]))
    assert line.startswith(f"actlab: error: --out {tmp_path / 'f'} is a file, not a folder")
    assert "accepted: a folder that can be written" in line
    assert (tmp_path / "f").read_text() == "mine"


@pytest.mark.usefixtures("no_training")
def test_out_inside_a_file_is_refused_before_compiling(tmp_path):
    (tmp_path / "f").write_text("mine")
    line = one_line_error(main([*ARGS, "--out", tmp_path / "f" / "run"]))
    assert f"--out {tmp_path / 'f' / 'run'} is inside a file, {tmp_path / 'f'}" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
@pytest.mark.usefixtures("no_training")
def test_out_in_a_read_only_folder_is_refused_before_compiling(tmp_path):
    tmp_path.chmod(0o555)
    try:
        line = one_line_error(main([*ARGS, "--out", tmp_path / "run"]))
    finally:
        tmp_path.chmod(0o755)
    assert f"--out {tmp_path / 'run'} cannot be written (Permission denied)" in line


@pytest.mark.usefixtures("no_training")
def test_out_that_cannot_be_written_is_refused_as_root_too(tmp_path, monkeypatch):
    def refuse(**kw):  # what a read-only mount answers, even to root
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(runner.tempfile, "TemporaryFile", refuse)
    line = one_line_error(main([*ARGS, "--out", tmp_path / "run"]))
    assert f"--out {tmp_path / 'run'} cannot be written (Read-only file system)" in line
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- corrupt files


def damage_json(path: Path) -> None:
    path.write_text(path.read_text()[:40])


def damage_npz(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    "name, damage, reason",
    [
        ("results.json", damage_json, "JSONDecodeError"),
        ("results.json", lambda p: p.write_text("[]"), "a JSON list, not an object"),
        ("results.json", lambda p: p.write_text('{"experiment": "xor"}'), "missing or mistyped"),
        ("trace.npz", damage_npz, "BadZipFile"),
    ],
    ids=["truncated", "a list", "incomplete", "truncated trace"],
)
@pytest.mark.parametrize("command", ["report", "compare"])
def test_report_and_compare_name_an_unreadable_file_and_leave_it(
    reference, tmp_path, command, name, damage, reason
):
    out = copy(reference, tmp_path)
    damage(out / name)
    before = (out / name).read_bytes()
    argv = ["report", out] if command == "report" else ["compare", reference, out]
    line = one_line_error(main(argv))
    assert f"{out / name} is unreadable (" in line and reason in line
    assert f"run the experiment again with --out {out}" in line
    assert (out / name).read_bytes() == before


@pytest.mark.usefixtures("no_training")
def test_resume_names_a_truncated_checkpoint_and_leaves_it(unfinished, tmp_path):
    out = copy(unfinished, tmp_path)
    damage_npz(out / checkpoint.NPZ)
    before = (out / checkpoint.NPZ).read_bytes()
    line = one_line_error(main([*ARGS, "--out", out, "--resume"]))
    assert f"{out / checkpoint.NPZ} is unreadable (BadZipFile" in line
    assert "remove it (or choose another --out) to start over" in line
    assert (out / checkpoint.NPZ).read_bytes() == before


@pytest.mark.usefixtures("no_training")
def test_resume_with_a_corrupt_sidecar_warns_and_resumes_from_the_npz(unfinished, tmp_path, capsys):
    out = copy(unfinished, tmp_path)
    damage_json(out / checkpoint.SIDECAR)
    with pytest.raises(Accepted):  # went on to train, from checkpoint.npz
        cli.main([*ARGS, "--out", str(out), "--resume"])
    assert capsys.readouterr().err == (
        f"actlab: warning: {out / checkpoint.SIDECAR} is unreadable (JSONDecodeError); "
        f"resuming from {checkpoint.NPZ}, the authority\n"
    )


# ----------------------------------------------------------------------------- hypothesis


def flag(name: str, good: st.SearchStrategy, bad: st.SearchStrategy) -> tuple:
    """(good tokens: left out or ``name GOOD``, bad tokens: ``name BAD``)."""
    present = good.map(lambda v: [name, str(v)])
    return st.one_of(st.just([]), present), bad.map(lambda v: [name, v])


ACTS = st.sampled_from(A.names())
GOOD_ACTS = st.lists(ACTS, min_size=1, max_size=3, unique=True).map(",".join)
BAD_ACTS = st.one_of(
    st.just(""),
    ACTS.map(lambda a: f"{a},{a}"),
    st.lists(ACTS, max_size=2).map(lambda acts: ",".join([*acts, "bogus"])),
)
GOOD_STEPS, GOOD_EPOCHS = st.integers(1, 10**6), st.floats(0.01, 5.0)
STEPS = flag("--steps", GOOD_STEPS, st.sampled_from(["0", "-1", "2.5", str(2**31)]))
EPOCHS = flag("--epochs", GOOD_EPOCHS, st.sampled_from(["0", "-1", "inf", "nan", "1e300"]))
BOTH = st.tuples(GOOD_STEPS, GOOD_EPOCHS).map(
    lambda se: ["--steps", str(se[0]), "--epochs", str(se[1])]
)
DATASETS = {"xor": ("xor", ["mnist1d", "cifar10", "nope"]), "mnist1d": ("mnist1d", ["xor", "nope"])}
PARTS = {  # part of a command line: (good tokens, bad tokens)
    "--seeds": flag("--seeds", st.integers(1, 64), st.sampled_from(["0", "-3", "ten", "1.5", ""])),
    "length": (  # --steps or --epochs, not both
        st.one_of(STEPS[0], EPOCHS[0]),
        st.one_of(STEPS[1], EPOCHS[1], BOTH),
    ),
    "--lr": flag("--lr", st.floats(1e-5, 1.0), st.sampled_from(["0", "-0.1", "nan", "inf", "x"])),
    "--acts": flag("--acts", GOOD_ACTS, BAD_ACTS),
    "--chunks": flag("--chunks", st.integers(1, 100), st.sampled_from(["0", "-2", "x"])),
    "--threshold": flag(
        "--threshold",
        st.sampled_from(["train_error=0.25", "test_accuracy=0.9"]),
        st.sampled_from(["speed=1", "0.25", "train_error=x", "train_error=inf"]),
    ),
    "other": (st.sampled_from([[], ["--quick"]]), st.just(["--bogus"])),
    # --out is new or an empty folder: nothing to resume
    "resume": (
        st.sampled_from([[], ["--resume-or-start"]]),
        st.sampled_from([["--resume"], ["--resume", "--resume-or-start"]]),
    ),
}
OUTS = (st.sampled_from(["new", "empty folder"]), st.sampled_from(["file", "inside a file"]))


@st.composite
def run_arguments(draw) -> tuple[list[str], bool, str]:
    """(argv but --out, whether it is valid, the kind of --out): every part good, or one or
    two of them bad."""
    experiment = draw(st.sampled_from(sorted(DATASETS)))
    good, bad = DATASETS[experiment]
    parts = {**PARTS, "--dataset": flag("--dataset", st.just(good), st.sampled_from(bad))}
    broken = draw(st.sets(st.sampled_from(sorted([*parts, "experiment", "--out"])), max_size=2))
    options = draw(st.permutations([draw(parts[p][p in broken]) for p in parts]))
    name = "nope" if "experiment" in broken else experiment
    out = draw(OUTS["--out" in broken])
    return ["run", name, *(t for tokens in options for t in tokens)], not broken, out


def make_out(kind: str, tmp: Path) -> Path:
    if kind == "empty folder":
        tmp.mkdir()
    elif kind != "new":
        tmp.write_text("a file")
    return tmp / "run" if kind == "inside a file" else tmp


@settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the checkout
)
@given(run_arguments())
@pytest.mark.usefixtures("no_training")
def test_cli_trains_valid_arguments_and_refuses_the_rest_in_one_line(tmp_path_factory, drawn):
    argv, valid, kind = drawn
    out = make_out(kind, tmp_path_factory.mktemp("out") / "out")
    try:
        got = main([*argv, "--out", out])
    except Accepted:
        assert valid, f"accepted: {argv} --out ({kind})"
    else:
        assert not valid, got
        one_line_error(got)


# What Study checks today: every invalid combination of these gives a ValueError
BASE = {
    "model": actlab.MLP(hidden=(2,)),
    "data": actlab.data.xor(),
    "batch_size": None,
    "loss": "bce",
}
STUDY_FIELDS = {  # field: (good values, bad values)
    "activations": (
        st.lists(ACTS, min_size=1, max_size=3, unique=True).map(tuple),
        st.sampled_from([(), ("relu", "relu"), ("bogus",)]),
    ),
    "seeds": (st.integers(1, 5), st.sampled_from([0, -1, 2.0])),
    "mode": (st.sampled_from(["grouped", "switch"]), st.sampled_from(["x", "Grouped"])),
    "seed_loop": (st.sampled_from(["auto", "vmap", "map"]), st.just("loop")),
    "evals": (st.integers(1, 30), st.sampled_from([0, -1])),
}
LENGTHS = {  # (steps, epochs): exactly one
    (10, None): True,
    (None, 2.0): True,
    (10, 2.0): False,
    (None, None): False,
}
OPTIMIZERS = {  # (optimizer, lrs): a transformation alone, or a function of the lr with lrs
    (optax.sgd(0.1), None): True,
    (optax.sgd, (0.1, 0.01)): True,
    (optax.sgd(0.1), (0.1,)): False,
    (optax.sgd, None): False,
    (optax.sgd, ()): False,
    (optax.sgd, (-0.1,)): False,
    (optax.sgd, (math.nan,)): False,
}


@st.composite
def study_fields(draw) -> tuple[dict, bool]:
    kw, valid = dict(BASE), True
    for name, (good, bad) in STUDY_FIELDS.items():
        ok = draw(st.booleans())
        kw[name], valid = draw(good if ok else bad), valid and ok
    for table, names in ((LENGTHS, ("steps", "epochs")), (OPTIMIZERS, ("optimizer", "lrs"))):
        values = draw(st.sampled_from(list(table)))
        kw |= dict(zip(names, values))
        valid = valid and table[values]
    return kw, valid


@settings(max_examples=60, deadline=None, database=None)
@given(study_fields())
def test_study_accepts_valid_fields_and_refuses_the_rest_with_value_error(drawn):
    kw, valid = drawn
    try:
        actlab.Study(**kw).config()
    except ValueError:
        assert not valid, kw
    else:
        assert valid, kw


# Values Study once accepted: each was a training that failed late, or trained nothing sensible
GAPS = [
    ("steps", 0),
    ("steps", -1),
    ("epochs", -1.0),
    ("epochs", math.inf),
    ("batch_size", 0),
    ("batch_size", -2),
    ("eval_every", 0),
    ("eval_every", -3),
    ("loss", "bogus"),  # refused only in start(), when tracing
    ("hold", ("bogus",)),  # refused only in start()
    ("eval_examples", 0),
    ("train_eval_examples", 0),
    ("census_examples", 0),
    ("lrs", (math.inf,)),
]


@pytest.mark.parametrize("field, value", GAPS)
def test_study_refuses_an_out_of_range_field_with_value_error(field, value):
    kw = {**BASE, "activations": ("relu",), "optimizer": optax.sgd(0.1), "steps": 10}
    if field == "epochs":
        kw["steps"] = None
    if field == "lrs":
        kw["optimizer"] = optax.sgd
    assert field in {f.name for f in dataclasses.fields(actlab.Study)}
    with pytest.raises(ValueError):
        actlab.Study(**{**kw, field: value}).config()
