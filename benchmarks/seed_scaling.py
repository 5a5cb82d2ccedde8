"""No speed cliff: model-steps/s against the seed count, for deep XOR and for an MLP (issue 25).

Before the layout was taken from the model's shapes, 50 XOR seeds ran 9x slower per model-step
than 100 (the narrow layers were unrolled only from 32 models per device). Now each device
runs its models in blocks whose width comes from the model's shapes, so the cost per model
is the same at every seed count from a block's worth on; below that the seeds are padded to
one whole block (a block of 50 XOR models costs the same whether 1 or 50 of them are real),
and the throughput counts real models only.

Workloads, each N in its own subprocess (compile and peak memory its own), every N at the
same steps, through ``actlab.protocols`` with tracing at the protocol's schedule:

* ``xor``: the article-002 deep XOR net (``actlab run xor``), tanh, ``--xor-steps`` steps;
* ``mlp``: the MNIST-1D MLP 40-256-128-10 under Adam (``actlab run mnist1d``), relu, batch
  32, ``--mlp-steps`` steps (models of 44 000 parameters run one at a time per device).

Model-steps/s = real models x steps / training seconds; ``x vs best`` is each row against
the workload's fastest row, measured in this run. The last stdout line is one JSON object
``{"benchmark": "seed_scaling", ...}``.

    python benchmarks/seed_scaling.py                      # N = 1,10,20,50,100,200,1000
    python benchmarks/seed_scaling.py --seeds 1,50 --xor-steps 201 --mlp-steps 20   # smoke
"""

from __future__ import annotations

import argparse
import json
import os

from _shared import machine_info, run_child
from xor_throughput import baseline_rss, measure_actlab

WORKLOADS = {"xor": ("xor", "tanh"), "mlp": ("mnist1d", "relu")}
KEEP = (
    "layout", "models", "steps", "compile_s", "train_s", "model_steps_per_s",
    "us_per_model_step", "peak_rss_kb_per_model",
)  # fmt: skip


def child(args) -> dict:
    from actlab import protocols

    protocol, act = WORKLOADS[args.child]
    steps = args.xor_steps if args.child == "xor" else args.mlp_steps
    rss0 = baseline_rss()
    study = protocols.get(protocol).build(
        protocols.Overrides(acts=(act,), seeds=args.n, steps=steps)
    )
    d = measure_actlab(study, rss0)
    return {k: d[k] for k in KEEP}


def table(rows: dict[str, list[dict]]) -> str:
    head = f"{'workload':<9}{'seeds':>6}{'model-steps/s':>15}{'us/model-step':>15}"
    head += f"{'x vs best':>10}{'compile s':>10}  block"
    out = [head, "-" * (len(head) + 6)]
    for workload, rs in rows.items():
        best = max((r.get("model_steps_per_s", 0) for r in rs), default=0)
        for r in rs:
            if "model_steps_per_s" not in r:
                out.append(f"{workload:<9}{r['n']:>6}  {r.get('error')}")
                continue
            layout = r.get("layout") or {}
            out.append(
                f"{workload:<9}{r['n']:>6}{r['model_steps_per_s']:>15.4g}"
                f"{r['us_per_model_step']:>15.3f}{r['model_steps_per_s'] / best:>10.2f}"
                f"{r['compile_s']:>10.1f}  {layout.get('block')} x {layout.get('devices')} dev"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="1,10,20,50,100,200,1000", help="seed counts N")
    p.add_argument("--workloads", default="xor,mlp", help="comma-separated: xor, mlp")
    p.add_argument("--xor-steps", type=int, default=2001)
    p.add_argument("--mlp-steps", type=int, default=50)
    p.add_argument(
        "--host-devices",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="split the CPU into N XLA host devices, as the actlab command does",
    )
    p.add_argument("--child", choices=tuple(WORKLOADS), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    _, _, machine = machine_info(skip_torch=True)
    rows: dict[str, list[dict]] = {}
    for workload in args.workloads.split(","):
        rows[workload] = []
        for n in (int(s) for s in args.seeds.split(",")):
            argv_ = ["--n", str(n), "--xor-steps", str(args.xor_steps)]
            argv_ += ["--mlp-steps", str(args.mlp_steps)]
            r = run_child(__file__, workload, argv_, print, args.host_devices)
            rows[workload].append({"n": n, **r})
    print(table(rows))
    print(
        json.dumps(
            {
                "benchmark": "seed_scaling",
                "machine": machine,
                "xor_steps": args.xor_steps,
                "mlp_steps": args.mlp_steps,
                "rows": rows,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
