"""Many processes, one study: the seeds sharded over every process's devices (``jax.distributed``).

Each process runs the same program on the global mesh (``execution.mesh_for`` takes every
process's devices) and trains its own shard of the seeds; nothing is communicated inside the
training loop. The traces and states come to every host at the gathering points only (after
each chunk, for the run folder), and process 0 writes the folder. Three ways in:

* ``actlab run ... --processes N``: ``launch`` starts N local workers on a free localhost
  port, each with its share of the CPU's cores as host devices (one big node; also how the
  tests exercise the real multi-process path on a CPU);
* ``--coordinator HOST:PORT --num-processes N --process-id I``: a job whose processes are
  started by something else;
* ``--distributed``: JAX's own cluster detection (SLURM, Open MPI, TPU pods).

``put`` places host values on a sharding that may span processes; ``to_host`` gathers a
sharded value to every host (key arrays through their raw data).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

COMMAND_ENV = "ACTLAB_LAUNCHED_AS"  # the command a launched worker records as the run's
WORKER_TIMEOUT_S = 24 * 3600  # a launched run longer than this is stopped, not left hanging
POLL_S = 0.5


def initialize(coordinator: str | None, num_processes: int | None, process_id: int | None):
    """``jax.distributed.initialize`` before any JAX computation; all None: JAX's cluster
    detection (SLURM, Open MPI, TPU)."""
    jax.distributed.initialize(coordinator, num_processes, process_id)


def is_main() -> bool:
    """Whether this process writes files and prints results (process 0)."""
    return jax.process_index() == 0


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_host(tree):
    """Every leaf whole on this host: as it is where this process addresses all of it,
    else gathered from every process (a collective: every process calls it alike)."""
    from jax.experimental import multihost_utils

    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return x
        if _is_key(x):
            impl = jax.random.key_impl(x)
            data = multihost_utils.process_allgather(jax.random.key_data(x), tiled=True)
            return jax.random.wrap_key_data(np.asarray(data), impl=impl)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)


def smallest(x: int) -> int:
    """The smallest of every process's ``x`` (a collective where there are several; every
    process calls it alike): a figure every process must agree on, such as a memory budget."""
    if jax.process_count() == 1:
        return int(x)
    from jax.experimental import multihost_utils

    # float32: without jax_enable_x64 an int64 would be cut to 32 bits
    return int(np.min(multihost_utils.process_allgather(np.float32(x))))


def put(tree, shardings):
    """Host values (the same on every process) placed on ``shardings`` (a matching tree):
    ``jax.device_put`` where this process addresses every device, else each process
    builds its own shards (``make_array_from_callback``)."""

    def one(x, sharding):
        if sharding.is_fully_addressable:
            return jax.device_put(x, sharding)
        if _is_key(x):
            impl = jax.random.key_impl(x)
            data = one(np.asarray(jax.random.key_data(x)), _data_sharding(sharding, x))
            wrap = jax.jit(lambda d: jax.random.wrap_key_data(d, impl=impl), out_shardings=sharding)
            return wrap(data)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda i: host[i])

    return jax.tree.map(one, tree, shardings)


def _data_sharding(sharding, key):
    """The sharding of a key array's raw data: the key's, with its trailing data axis whole."""
    spec = tuple(sharding.spec) + (None,) * (key.ndim - len(sharding.spec) + 1)
    return jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec(*spec))


# ----------------------------------------------------------------------------- launching


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(argv: list[str], processes: int, *, timeout: float = WORKER_TIMEOUT_S) -> int:
    """Run ``actlab argv`` as ``processes`` workers joined on localhost; returns the exit code.

    The usable cores are split evenly (each worker gets ``cores // processes`` host devices,
    at least one). Process 0's output is the run's; the others print errors only. When a
    worker fails, the others are stopped and the launcher returns its exit code with a
    message naming it; a run past ``timeout`` seconds is stopped too (exit 124).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per = max(1, (cores or 1) // processes)
    port = free_port()
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f)
    env = {**os.environ, "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count={per}"}
    env["JAX_PLATFORMS"] = env.get("JAX_PLATFORMS") or "cpu"
    env[COMMAND_ENV] = shlex.join(["actlab", *argv, "--processes", str(processes)])
    workers = []
    for i in range(processes):
        cmd = [sys.executable, "-m", "actlab.cli", *argv]
        cmd += ["--coordinator", f"localhost:{port}", "--num-processes", str(processes)]
        cmd += ["--process-id", str(i)]
        quiet = {} if i == 0 else {"stdout": subprocess.DEVNULL}
        workers.append(subprocess.Popen(cmd, env=env, **quiet))
    start = time.monotonic()
    try:
        while True:
            codes = [w.poll() for w in workers]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                i, code = failed[0]
                _stop(workers)
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                print(
                    f"actlab: worker {i} of {processes} {how}; stopped the others (what was "
                    "saved in --out is intact: --resume continues it)",
                    file=sys.stderr,
                )
                return code if code > 0 else 1
            if all(c == 0 for c in codes):
                return 0
            if time.monotonic() - start > timeout:
                _stop(workers)
                print(f"actlab: the workers ran past {timeout:.0f} s; stopped", file=sys.stderr)
                return 124
            time.sleep(POLL_S)
    except KeyboardInterrupt:  # the workers got it too: let them save, then stop the rest
        for w in workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                pass
        _stop(workers)
        return 130


def _stop(workers) -> None:
    for w in workers:
        if w.poll() is None:
            w.terminate()
    for w in workers:
        try:
            w.wait(10)
        except subprocess.TimeoutExpired:
            w.kill()
