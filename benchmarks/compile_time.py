"""Time to the first result: how long each built-in protocol and ``make demo`` wait on
tracing and compiling, cold (an empty persistent compilation cache) and warm (a second run,
a new process, the cache filled by the first).

    python benchmarks/compile_time.py                       # every protocol, then the demo
    python benchmarks/compile_time.py --protocols xor,mnist1d --no-demo
    python benchmarks/compile_time.py --quick               # the protocols' --quick sizes
    python benchmarks/compile_time.py --json-only | tail -1

Each protocol runs in its own process (``--child``), at its full size unless ``--quick``,
through ``actlab.Run`` as ``actlab run`` does (host devices, the persistent cache): the
initial evaluation and then the first chunk of ``actlab run``'s default ``--chunks 20``
(one interval where a study has 20 evaluations), with its programs kept between runs as
``actlab run`` keeps a protocol's. Reported per protocol and start:

* ``compile_s``: tracing, lowering and compiling (or loading) every program (``Run.timing``);
* ``ready_s``: from the start of the process's Python code to the first training step less the
  training done before it (imports, data, layout, tracing, compiling): the wait for a result;
* ``train_s``: the initial evaluation and one interval.

The demo runs ``actlab demo`` as a user does (``make demo``: MNIST-1D, then deep XOR 5 x 100
seeds x 20 001 steps, each with its report), cold and warm, and reports each study's compile
and training time from its ``results.json`` and the compile share of the whole. Data that is
not on this machine (``ACTLAB_OFFLINE=1``) turns a protocol into an error row, not a failure.
The last stdout line is one JSON object ``{"benchmark": "compile_time", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()

from _shared import machine_info  # noqa: E402

TARGETS = {"cold_compile_s": 5.0, "warm_ready_s": 1.0, "demo_compile_share": 0.15}
CHUNKS = 20  # actlab run's default --chunks


def child(name: str, quick: bool) -> dict:
    """One protocol's initial evaluation and first chunk in this process, as ``actlab run``
    starts it: the runner's chunk (``CHUNKS`` calls), the programs kept between runs. Run
    against an older checkout (``PYTHONPATH=OLD``), it uses what that checkout has."""
    import inspect

    from actlab import runtime

    runtime.use_host_devices()
    runtime.use_compilation_cache()
    from actlab import checkpoint, protocols
    from actlab.study import Run

    study = protocols.PROTOCOLS[name].build(protocols.Overrides(quick=quick))
    cfg = study.config()
    intervals = -(-cfg.steps // cfg.eval_every)
    chunk = max(1, -(-intervals // CHUNKS))
    accepts = inspect.signature(Run).parameters
    kw = {"chunk": chunk} if "chunk" in accepts else {}
    if "store" in accepts:
        from actlab import warmstart

        kw["store"] = warmstart.for_study(study, checkpoint.fingerprint(study, experiment=name))
    run = Run(study, **kw)
    run.advance(chunk)
    ready = time.perf_counter() - START - run.timing["train_s"]
    return {
        "compile_s": round(run.timing["compile_s"], 3),
        "ready_s": round(ready, 3),
        "train_s": round(run.timing["train_s"], 3),
        "models": len(study.activations) * study.seeds * len(study.lrs or (0,)),
        "groups": len(run.programs),
    }


def _env(cache: Path) -> dict:
    env = dict(os.environ, ACTLAB_OFFLINE="1", JAX_COMPILATION_CACHE_DIR=str(cache))
    env.pop("ACTLAB_NO_COMPILATION_CACHE", None)
    return env


def _child_run(name: str, quick: bool, cache: Path) -> dict:
    argv = [sys.executable, os.path.abspath(__file__), "--child", name]
    t = time.perf_counter()
    r = subprocess.run(
        argv + ["--quick"] * quick, stdout=subprocess.PIPE, text=True, env=_env(cache)
    )
    wall = round(time.perf_counter() - t, 3)
    if r.returncode != 0:
        return {"error": f"exited with {r.returncode} (see stderr)", "process_s": wall}
    return {**json.loads(r.stdout.strip().splitlines()[-1]), "process_s": wall}


def protocol_rows(names: list[str], quick: bool, tmp: Path, log) -> dict:
    rows = {}
    for name in names:
        cache = tmp / f"cache-{name}"
        log(f"... {name}: cold")
        cold = _child_run(name, quick, cache)
        log(f"... {name}: warm")
        warm = _child_run(name, quick, cache)
        rows[name] = {"cold": cold, "warm": warm}
    return rows


def _timings(folder: Path) -> dict:
    doc = json.loads((folder / "results.json").read_text())
    t = doc["timing"]
    return {"compile_s": t["compile_s"], "train_s": t["train_s"]}


def demo_rows(tmp: Path, log) -> dict:
    """``actlab demo`` cold, then warm; each study's timings and the compile share."""
    cache, out = tmp / "cache-demo", {}
    for start in ("cold", "warm"):
        log(f"... demo: {start}")
        folder = tmp / f"demo-{start}"
        cmd = [sys.executable, "-m", "actlab.cli", "demo", "--out", str(folder)]
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, env=_env(cache))
        wall = round(time.perf_counter() - t, 3)
        if r.returncode != 0:
            out[start] = {"error": f"exited with {r.returncode}", "process_s": wall}
            continue
        studies = {name: _timings(folder / name) for name in ("mnist1d", "xor")}
        compile_s = sum(s["compile_s"] for s in studies.values())
        train_s = sum(s["train_s"] for s in studies.values())
        share = compile_s / (compile_s + train_s)
        out[start] = {
            **studies,
            "compile_s": round(compile_s, 3),
            "train_s": round(train_s, 3),
            "compile_share": round(share, 3),
            "process_s": wall,
        }
    return out


def _row(name: str, r: dict) -> str:
    def cell(d: dict, key: str) -> str:
        return f"{d[key]:.1f}" if key in d else "-"

    if "error" in r["cold"]:
        return f"| {name} | {r['cold']['error']} | | | | |"
    c, w = r["cold"], r["warm"]
    return (
        f"| {name} | {cell(c, 'compile_s')} | {cell(c, 'ready_s')} | {cell(w, 'compile_s')} "
        f"| {cell(w, 'ready_s')} | {cell(c, 'train_s')} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--protocols", help="comma-separated (default: every built-in one)")
    p.add_argument("--quick", action="store_true", help="the protocols' --quick sizes")
    p.add_argument("--no-demo", action="store_true", help="skip make demo (about 3 minutes)")
    p.add_argument("--json-only", action="store_true")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.quick)))
        return
    log = (lambda *a: None) if args.json_only else (lambda *a: print(*a, flush=True))
    from actlab import protocols

    aliases = {"deep_xor"}  # the same study as xor
    names = [n for n in protocols.PROTOCOLS if n not in aliases]
    if args.protocols:
        names = [n.strip() for n in args.protocols.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="actlab-compile-") as tmp:
        rows = protocol_rows(names, args.quick, Path(tmp), log)
        demo = None if args.no_demo else demo_rows(Path(tmp), log)
    log("\n| protocol | cold compile s | cold ready s | warm compile s | warm ready s | train s |")
    log("| --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        log(_row(name, r))
    if demo:
        for start, d in demo.items():
            if "error" in d:
                log(f"demo {start}: {d['error']}")
            else:
                log(
                    f"demo {start}: compile {d['compile_s']:.1f} s, train {d['train_s']:.1f} s,"
                    f" compile share {d['compile_share']:.0%}"
                )
    print(
        json.dumps(
            {
                "benchmark": "compile_time",
                "size": "quick" if args.quick else "full",
                "targets": TARGETS,
                "protocols": rows,
                "demo": demo,
                "machine": machine_info(skip_torch=True)[2],
            }
        )
    )


if __name__ == "__main__":
    main()
