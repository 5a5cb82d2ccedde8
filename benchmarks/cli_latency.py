"""How long the ``actlab`` command takes to answer what needs no training: ``actlab --help``,
``actlab list``, ``actlab run --help`` and one bad argument, each as a whole new process
(interpreter start, imports, parsing, output), several times; min and median per command.

    python benchmarks/cli_latency.py                 # 7 repetitions of each
    python benchmarks/cli_latency.py --repeat 15
    python benchmarks/cli_latency.py --json-only | tail -1

Each process is ``python -m actlab.cli ARGS`` (what the ``actlab`` script runs) with the
benchmark's environment; ``ACTLAB_OFFLINE=1``, so no command looks for data on the network.
Also reported: which heavy modules (jax, flax, optax, tensorflow_datasets, pandas, matplotlib)
each command imported, read from ``sys.modules`` at exit in one more process. The last stdout
line is one JSON object ``{"benchmark": "cli_latency", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _shared import machine_info

COMMANDS = {
    "actlab --help": ["--help"],
    "actlab list": ["list"],
    "actlab run --help": ["run", "--help"],
    "actlab run xor --seeds 0": ["run", "xor", "--seeds", "0"],
}
HEAVY = ("jax", "flax", "optax", "tensorflow_datasets", "pandas", "matplotlib")
TARGET_S = 1.0  # the issue's: each answers in under a second

# runs the command in-process, then prints which heavy modules it had imported by exit
PROBE = """
import atexit, sys
atexit.register(lambda: print("\\nHEAVY", [m for m in {heavy!r} if m in sys.modules]))
sys.argv = ["actlab", *{argv!r}]
import runpy
runpy.run_module("actlab.cli", run_name="__main__", alter_sys=True)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "ACTLAB_OFFLINE": "1"}


def seconds(argv: list[str]) -> float:
    """Wall-clock seconds of one ``python -m actlab.cli argv`` process, start to exit."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "actlab.cli", *argv], capture_output=True, env=_env())
    return time.perf_counter() - t


def heavy_imports(argv: list[str]) -> list[str]:
    """The modules of ``HEAVY`` that ``actlab argv`` imported by the time it exited."""
    code = PROBE.format(heavy=HEAVY, argv=argv)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    line = next((s for s in r.stdout.splitlines() if s.startswith("HEAVY ")), "HEAVY []")
    return json.loads(line.removeprefix("HEAVY ").replace("'", '"'))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7, help="processes per command (default 7)")
    p.add_argument("--json-only", action="store_true", help="print the JSON line alone")
    args = p.parse_args(argv)
    log = (lambda *a: None) if args.json_only else print
    _, _, machine = machine_info(skip_torch=True)
    seconds(["--help"])  # a first start reads files from disk: warm the page cache

    rows = {}
    for name, cmd in COMMANDS.items():
        times = [seconds(cmd) for _ in range(args.repeat)]
        rows[name] = {
            "min_s": min(times),
            "median_s": statistics.median(times),
            "times_s": times,
            "imports": heavy_imports(cmd),
        }
    machine["load_avg_end"] = os.getloadavg()

    log(f"{'command':<28} {'min s':>7} {'median s':>9}  heavy modules imported")
    for name, r in rows.items():
        heavy = ", ".join(r["imports"]) or "none"
        log(f"{name:<28} {r['min_s']:7.2f} {r['median_s']:9.2f}  {heavy}")
    met = all(r["median_s"] < TARGET_S for r in rows.values())
    log(f"target: every median under {TARGET_S:g} s: {'met' if met else 'not met'}")
    print(
        json.dumps(
            {
                "benchmark": "cli_latency",
                "repeat": args.repeat,
                "commands": rows,
                "target_s": TARGET_S,
                "met": met,
                "machine": machine,
            }
        )
    )


if __name__ == "__main__":
    main()
