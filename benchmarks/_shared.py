"""What the benchmark scripts share: versions, peak memory, and each design in its own
subprocess (``python benchmarks/NAME.py --child DESIGN ...``, last stdout line one JSON
object), so that a design's peak resident memory is its own."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def torch_importable() -> tuple[bool, str]:
    r = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
    )
    if r.returncode == 0:
        return True, r.stdout.strip()
    return False, (r.stderr.strip().splitlines() or ["import failed"])[-1]


def run_child(script: str, name: str, argv: list[str], log, host_devices: int = 0) -> dict:
    """Run design ``name`` of ``script`` in a subprocess; its JSON result, or an error."""
    log(f"... running {name} {' '.join(argv[-2:]) if name == 'scaling' else ''}".rstrip())
    env = dict(os.environ)
    if host_devices:  # must be set before jax starts: hence a flag of the subprocess
        flag = f"--xla_force_host_platform_device_count={host_devices}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    r = subprocess.run(
        [sys.executable, os.path.abspath(script), "--child", name, *argv],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    if r.returncode != 0:
        return {"error": f"{name} exited with {r.returncode} (see stderr)"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def design_table(designs: dict, labels: dict[str, str], reference: str = "actlab") -> list[str]:
    """The designs' rows, one per ``labels`` key (``designs[key]``: a child's JSON result):
    model-steps/s, us/model-step, train and compile seconds, peak RSS, state bytes per
    model, and ``reference``'s model-steps/s over the row's; a design without figures says
    why it was skipped."""
    width = max(map(len, labels.values())) + 2
    head = (
        f"{'design':<{width}}{'model-steps/s':>14}{'us/model-step':>14}{'train s':>9}"
        f"{'compile s':>10}{'peak RSS MB':>12}{'state B/model':>14}{'x vs (a)':>9}"
    )
    rows = [head, "-" * len(head)]
    a = designs[reference].get("model_steps_per_s")
    for key, label in labels.items():
        d = designs[key]
        if "model_steps_per_s" not in d:
            reason = d.get("skipped") or d.get("error") or "not run"
            rows.append(f"{label:<{width}}  skipped: {reason}")
            continue
        r = d["model_steps_per_s"]
        rows.append(
            f"{label:<{width}}{r:>14.4g}{d['us_per_model_step']:>14.3f}{d['train_s']:>9.2f}"
            f"{d['compile_s']:>10.1f}{d['peak_rss_mb']:>12.0f}{d['state_bytes_per_model']:>14.0f}"
            f"{fmt(a / r if a else None, '.2f'):>9}"
        )
    return rows


def machine_info(skip_torch: bool) -> tuple[bool, str, dict]:
    """(whether torch is importable, its version or why not, the versions and CPU a run is
    measured on)."""
    has_torch, torch_info = (False, "skipped (--skip-torch)")
    if not skip_torch:
        has_torch, torch_info = torch_importable()
    return (
        has_torch,
        torch_info,
        {
            "python": platform.python_version(),
            "jax": version("jax"),
            "jaxlib": version("jaxlib"),
            "flax": version("flax"),
            "optax": version("optax"),
            "torch": torch_info if has_torch else None,
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "cpu": platform.processor() or platform.machine(),
            "load_avg_start": os.getloadavg(),
        },
    )
