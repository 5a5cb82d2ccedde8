"""Many processes, one study (``actlab.distributed``): ``actlab run --processes 2`` joins two
workers with ``jax.distributed`` on localhost (one CPU device each, gloo collectives) and must
write the very ``trace.npz`` that one process writes; a worker that dies stops the launch with
a message instead of a hang, and the run it leaves resumes in one process, to the same bits.

Each run is a subprocess (``jax.distributed.initialize`` comes before any JAX computation);
one module fixture makes them all, on one xdist worker.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from actlab import checkpoint, cli

pytestmark = [pytest.mark.xdist_group("distributed"), pytest.mark.slow]

# 2 acts x 4 seeds (a block of 64 slots), 25 chunks of 640 steps: long enough to kill a worker
# between two saves
# (the first save is waited for, then 24 chunks remain, seconds of training)
ARGS = ["run", "xor", "--acts", "sigmoid,relu", "--seeds", "4", "--steps", "16000"]
ARGS += ["--chunks", "25"]
TIMEOUT = 900  # a hang, not a slow machine


def actlab(*argv, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "actlab.cli", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kw,
    )


def finish(p: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise
    return p.returncode, err


def worker_pids(out) -> list[int]:
    """The launched workers of the run into ``out``, by their command lines."""
    pattern = f"--out {out} .*--process-id 1"
    found = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True)
    return [int(x) for x in found.stdout.split()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("distributed")
    two, one, killed = d / "two", d / "one", d / "killed"
    got = {"two": finish(actlab(*ARGS, "--processes", 2, "--out", two))}
    got["one"] = finish(actlab(*ARGS, "--out", one))
    p = actlab(*ARGS, "--processes", 2, "--out", killed)
    deadline = time.monotonic() + TIMEOUT
    while not (killed / checkpoint.NPZ).exists() and p.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    pids = worker_pids(killed)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    got["killed"] = finish(p)
    got["killed_pids"] = pids
    got["saved"] = checkpoint.read(killed)
    got["resumed"] = finish(actlab(*ARGS, "--out", killed, "--resume"))
    return two, one, killed, got


def assert_same_npz(a, b):
    x, y = np.load(a), np.load(b)
    assert sorted(x.files) == sorted(y.files)
    for k in x.files:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_two_processes_write_the_trace_one_process_writes(runs):
    two, one, _, got = runs
    assert got["two"][0] == 0, got["two"][1]
    assert got["one"][0] == 0, got["one"][1]
    assert_same_npz(two / "trace.npz", one / "trace.npz")  # bit for bit
    assert (two / "report.md").exists()


def test_a_dead_worker_stops_the_launch_with_a_message(runs):
    _, _, _, got = runs
    code, err = got["killed"]
    assert len(got["killed_pids"]) == 1
    assert code != 0
    assert "actlab: worker 1 of 2 was killed by signal 9; stopped the others" in err


def test_a_killed_multi_process_run_resumes_in_one_process_to_the_same_bits(runs):
    _, one, killed, got = runs
    assert 0 < got["saved"]["intervals_done"] < got["saved"]["num_intervals"]
    assert got["resumed"][0] == 0, got["resumed"][1]
    assert_same_npz(killed / "trace.npz", one / "trace.npz")


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["--coordinator", "localhost:1"],
            "--coordinator needs --num-processes N and --process-id",
        ),
        (["--num-processes", "2"], "--num-processes and --process-id go with --coordinator"),
        (
            ["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "2"],
            "--process-id must be in 0 .. 1, got 2",
        ),
        (["--processes", "2", "--distributed"], "not allowed with argument --processes"),
    ],
)
def test_bad_cluster_arguments_exit_2_with_one_line(argv, match, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "xor", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
