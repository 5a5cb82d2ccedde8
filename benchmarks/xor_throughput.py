"""Throughput of the deep-XOR workload (article 002, issue 14): actlab against a stacked
PyTorch ``baddbmm`` reference on this machine, and how actlab scales with the model count.

Workload: MLP 2-5x9-1 (10 dense layers: 2->5, eight 5->5, 5->1; 261 parameters), weights
and biases N(0, 1), sigmoid output with the unclipped BCE ``-(y log p + (1-y) log(1-p))``,
full batch of the four XOR points (x in {0, 1}^2, not normalised), plain gradient descent at
lr 0.01; every activation in ``--acts`` x ``--seeds`` seeds, ``--steps`` steps each. This is
``actlab.protocols.get("xor")``. Each design is measured in its own subprocess (so that its
peak resident memory is its own):

(a)  actlab, the engine's current layout: ``study.start(); run.advance()``, every model in
     one compiled call, tracing on at the protocol's schedule (eval_every=100: losses,
     accuracies, per-layer norms, the unit census). ``run.layout`` is reported when the
     engine has it, so the figures name the layout they measure.
(a') actlab, the "before" layout: ``seed_loop="vmap"`` and ``MLP(contraction="dot")``;
     reported as skipped when the model has no ``contraction`` field.
(b)  PyTorch reference: the seeds of one activation stacked, one ``torch.baddbmm`` per layer
     (weights ``[models, in, out]``, biases ``[models, 1, out]``), autograd and
     ``torch.optim.SGD`` on the stacked tensors, for each ``torch.set_num_threads`` value in
     ``--torch-threads`` (default 2 and then 1; the faster counts: with the other core busy,
     2 threads wait on each other and ran up to ~50x slower than 1 here). No tracing
     and no evaluation: a lower bound on the work actlab does. Skipped if torch is not
     importable (``pip install torch==2.13.0`` takes the CPU wheel).
(c)  Scaling (``--scaling``): actlab's current layout, tanh x N seeds, ``--scaling-steps``
     steps, one subprocess per N: us per model-step, model-steps/s, compile s, peak RSS per
     model (``ru_maxrss`` less a baseline read in the same subprocess before the study is
     built, / N; it includes compilation) and device state bytes per model.

Model-steps/s = models x steps / training seconds. The cost of a step does not depend on
how many came before, so figures from a shorter ``--steps`` extrapolate linearly (fixed costs,
the init call and the step-0 record, weigh more in short runs). Ratios compare designs of
the same run only. The last stdout line is one JSON object
``{"benchmark": "xor_throughput", ...}``. See ``benchmarks/README.md``.

    python benchmarks/xor_throughput.py                  # 5 acts x 1000 seeds x 20001 steps
    python benchmarks/xor_throughput.py --quick          # smoke run: 2 acts x 20 seeds x 201
    python benchmarks/xor_throughput.py --steps 2001 --skip-scaling
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _shared import design_table, fmt, machine_info, max_rss_mb, run_child  # noqa: E402

DEFAULT_ACTS = "sigmoid,tanh,relu,leaky_relu_0.2,leaky_relu"
WIDTH, DEPTH = 5, 9  # hidden layers of width 5: 10 dense layers in all
LR = 0.01
TARGETS = {"model_steps_per_s": 1e6, "vs_baddbmm": 10.0}  # actlab (a), 2-core CPU
QUICK = {"acts": "sigmoid,tanh", "seeds": 20, "steps": 201, "scaling": "100,300"}
FULL = {"acts": DEFAULT_ACTS, "seeds": 1000, "steps": 20_001, "scaling": "100,300,1000,3000,10000"}

# torch.nn.functional equivalents of the activations (same conventions as actlab)
TORCH_ACTS = {
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "relu": ("relu", {}),
    "leaky_relu": ("leaky_relu", {"negative_slope": 0.01}),
    "leaky_relu_0.2": ("leaky_relu", {"negative_slope": 0.2}),
}


def sizes() -> tuple[int, ...]:
    return (2, *(WIDTH,) * DEPTH, 1)


def param_count() -> int:
    """Weights and biases of 2-5x9-1: 15 + 8 x 30 + 6 = 261."""
    s = sizes()
    return sum(a * b + b for a, b in zip(s[:-1], s[1:]))


def jsonable(v):
    """A layout description as JSON can hold it (unknown objects as their repr)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "_asdict"):  # a NamedTuple (actlab.Layout): its fields by name
        v = v._asdict()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return repr(v)


# ------------------------------------------------------------------------------ children


def xor_study(acts: list[str], seeds: int, steps: int):
    from actlab import protocols

    o = protocols.Overrides(acts=tuple(acts), seeds=seeds, steps=steps)
    return protocols.get("xor").build(o)


def measure_actlab(study, rss0: float) -> dict:
    """``start()`` + ``advance()`` of ``study``, timed by ``Run.timing``."""
    import jax
    import numpy as np

    run = study.start()  # compiles init; runs init + the step-0 record
    init_s = run.timing["train_s"]
    run.advance()  # compiles and runs every interval in one call
    models = len(study.activations) * study.seeds
    steps = run.cfg.steps
    train_s = run.timing["train_s"]
    result = run.result()
    acc = result.curve("train_accuracy")[..., -1]  # [acts, seeds], raw (frozen if diverged)
    leaves = jax.tree.leaves(run.states)
    state_bytes = sum(x.nbytes for x in leaves)
    return {
        "layout": jsonable(getattr(run, "layout", None)),
        "seed_loop": getattr(run, "seed_loop", None),
        "contraction": getattr(study.model, "contraction", None),
        "device": str(jax.devices()[0]),
        "host_devices": jax.local_device_count(),
        "devices_used": len(leaves[0].sharding.device_set),  # > 1: seeds sharded
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "models": models,
        "steps": steps,
        "eval_every": run.cfg.eval_every,
        "compile_s": run.timing["compile_s"],
        "train_s": train_s,  # init_s + advance_s
        "init_s": init_s,
        "advance_s": train_s - init_s,
        "model_steps_per_s": models * steps / train_s,
        "us_per_model_step": 1e6 * train_s / (models * steps),
        "state_bytes": state_bytes,
        "state_bytes_per_model": state_bytes / models,
        "rss_baseline_mb": rss0,
        "peak_rss_mb": max_rss_mb(),
        "peak_rss_kb_per_model": (max_rss_mb() - rss0) * 1024 / models,
        "solved": {  # share of models with all four points right at the end
            a: float(np.mean(acc[i] == 1.0)) for i, a in enumerate(study.activations)
        },
        "diverged": {a: float(d.mean()) for a, d in zip(study.activations, result.diverged)},
    }


def baseline_rss() -> float:
    """Peak RSS after importing jax and actlab and starting the backend, before any study."""
    import jax

    import actlab  # noqa: F401

    jax.devices()
    return max_rss_mb()


def child_actlab(args) -> dict:
    rss0 = baseline_rss()
    return measure_actlab(xor_study(args.acts, args.seeds, args.steps), rss0)


def child_before(args) -> dict:
    rss0 = baseline_rss()
    study = xor_study(args.acts, args.seeds, args.steps)
    try:
        model = study.model.clone(contraction="dot")
    except (TypeError, AttributeError) as e:
        return {"skipped": f"MLP has no contraction field ({type(e).__name__}: {e})"}
    return measure_actlab(study.replace(seed_loop="vmap", model=model), rss0)


def child_scaling(args) -> dict:
    rss0 = baseline_rss()
    d = measure_actlab(xor_study(["tanh"], args.n, args.scaling_steps), rss0)
    keep = (
        "layout", "seed_loop", "contraction", "devices_used", "models", "steps", "compile_s",
        "train_s", "us_per_model_step", "model_steps_per_s", "state_bytes_per_model",
        "peak_rss_kb_per_model", "rss_baseline_mb", "peak_rss_mb",
    )  # fmt: skip
    return {k: d[k] for k in keep}


def child_torch(args) -> dict:
    """All seeds of one activation stacked: one ``baddbmm`` per layer, autograd, SGD.

    For each thread count in ``--torch-threads`` (the fastest counts), each activation gets
    at most ``--torch-budget / len(acts)`` seconds of timed steps (checked every step);
    model-steps/s counts the steps done.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    from actlab import data

    xor = data.load("xor")  # the same four points as actlab's: x in {0, 1}^2, y in {0, 1}
    x = torch.from_numpy(np.array(xor.normalise(xor.x_train), np.float32))  # [4, 2]
    y = torch.from_numpy(np.array(xor.y_train, np.float32))[:, None]  # [4, 1]
    rss0 = max_rss_mb()
    usable = [a for a in args.acts if a in TORCH_ACTS]
    if not usable:
        return {"skipped": f"no torch equivalent for {args.acts}"}
    m, s = args.seeds, sizes()
    xb = x.expand(m, *x.shape).contiguous()  # [models, 4, 2]
    budget = args.torch_budget / len(usable)

    def init(gen):
        """N(0, 1) weights [models, in, out] and biases [models, 1, out], as the protocol."""
        ps = []
        for a, b in zip(s[:-1], s[1:]):
            ps += [torch.randn(m, a, b, generator=gen), torch.randn(m, 1, b, generator=gen)]
        return [p.requires_grad_() for p in ps]

    def forward(ps, act):
        fn, kw = getattr(F, TORCH_ACTS[act][0]), TORCH_ACTS[act][1]
        h = xb
        for i in range(0, len(ps), 2):
            h = torch.baddbmm(ps[i + 1], h, ps[i])
            if i + 2 < len(ps):
                h = fn(h, **kw)
        return torch.sigmoid(h)  # p: [models, 4, 1]

    def loss_of(p):
        per_model = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean(dim=(1, 2))
        return per_model.sum()  # each model's gradient is its own loss's

    def train(ps, act, steps, limit=None):
        opt = torch.optim.SGD(ps, lr=LR, foreach=True)
        t, done = time.perf_counter(), 0
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss_of(forward(ps, act)).backward()
            opt.step()
            done += 1
            if limit is not None and time.perf_counter() - t > limit:
                break
        return time.perf_counter() - t, done

    def measure(threads: int) -> dict:
        torch.set_num_threads(threads)
        per_act, train_s, steps_done, solved, diverged = {}, 0.0, 0, {}, {}
        for k, act in enumerate(usable):
            gen = torch.Generator().manual_seed(k)
            train(init(gen), act, 10)  # warm-up on throw-away models: allocator, first calls
            ps = init(gen)
            sec, done = train(ps, act, args.steps, budget)
            train_s, steps_done = train_s + sec, steps_done + done
            per_act[act] = {
                "steps_timed": done,
                "train_s": sec,
                "model_steps_per_s": m * done / sec,
            }
            with torch.no_grad():
                p = forward(ps, act)[..., 0]  # [models, 4]
                ok = ((p > 0.5) == (y[:, 0] == 1)).all(dim=1)
                bad = ~torch.stack([q.isfinite().all(dim=(1, 2)) for q in ps]).all(dim=0)
            solved[act] = float(ok.float().mean())
            diverged[act] = float(bad.float().mean())
        return {
            "threads": threads,
            "steps_timed": steps_done // len(usable),  # per activation, on average
            "by_act": per_act,
            "train_s": train_s,
            "model_steps_per_s": m * steps_done / train_s,
            "us_per_model_step": 1e6 * train_s / (m * steps_done),
            "solved": solved,
            "diverged": diverged,
        }

    runs = [measure(t) for t in args.torch_threads]
    best = max(runs, key=lambda r: r["model_steps_per_s"])
    return {
        "torch": torch.__version__,
        "models": m * len(usable),
        "steps": args.steps,
        "budget_s": args.torch_budget,
        **best,
        "compile_s": 0.0,
        "by_threads": {str(r["threads"]): r["model_steps_per_s"] for r in runs},
        "runs": runs,
        "state_bytes_per_model": 4 * param_count(),  # float32 parameters only (plain SGD)
        "rss_baseline_mb": rss0,
        "peak_rss_mb": max_rss_mb(),
    }


CHILDREN = {
    "actlab": child_actlab,
    "before": child_before,
    "torch": child_torch,
    "scaling": child_scaling,
}


# ------------------------------------------------------------------------------ parent


def layout_name(d: dict) -> str:
    """The layout in a few words: ``Run.layout`` where the engine has it."""
    if isinstance(d.get("layout"), dict):
        return ", ".join(f"{k}={v}" for k, v in d["layout"].items())
    if d.get("layout"):
        return str(d["layout"])
    return f"seed_loop={d.get('seed_loop')}, contraction={d.get('contraction')}"


def table(res: dict) -> str:
    threads = res["designs"]["torch_baddbmm"].get("threads", "?")
    labels = {
        "actlab": "(a) actlab, current",
        "actlab_before": "(a') actlab, before",
        "torch_baddbmm": f"(b) torch baddbmm, {threads} thr",
    }
    rows = design_table(res["designs"], labels)
    for key, label in (("actlab", "(a)"), ("actlab_before", "(a')")):
        if "model_steps_per_s" in res["designs"][key]:
            rows.append(f"{label} layout: {layout_name(res['designs'][key])}")
    return "\n".join(rows)


def scaling_table(rows: list[dict]) -> str:
    head = (
        f"{'models':>8}{'us/model-step':>14}{'model-steps/s':>14}{'compile s':>10}"
        f"{'RSS KB/model':>13}{'state B/model':>14}  layout"
    )
    out = [head, "-" * (len(head) + 20)]
    for r in rows:
        if "model_steps_per_s" not in r:
            out.append(f"{r['n']:>8}  skipped: {r.get('skipped') or r.get('error')}")
            continue
        out.append(
            f"{r['n']:>8}{r['us_per_model_step']:>14.3f}{r['model_steps_per_s']:>14.3g}"
            f"{r['compile_s']:>10.1f}{r['peak_rss_kb_per_model']:>13.2f}"
            f"{r['state_bytes_per_model']:>14.0f}  {layout_name(r)}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--acts", default=None, help=f"comma-separated activation names (default: {DEFAULT_ACTS})"
    )
    p.add_argument("--seeds", type=int, default=None, help="seeds per activation (default: 1000)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per model (default: 20001, the article's); model-steps/s is per step, so "
        "a shorter run extrapolates linearly",
    )
    p.add_argument(
        "--scaling",
        default=None,
        help="(c): model counts N, comma-separated (default: 100,300,1000,3000,10000)",
    )
    p.add_argument("--scaling-steps", type=int, default=None, help="(c): steps (default: 2001)")
    p.add_argument(
        "--host-devices",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="(a), (a'), (c): split the CPU into N XLA host devices (actlab shards seeds over "
        "them when N divides the seeds), as the actlab command does; default: the usable "
        "cores; 0 leaves XLA_FLAGS as it is",
    )
    p.add_argument(
        "--torch-threads",
        default="2,1",
        help="(b): torch.set_num_threads values to time, comma-separated; the fastest counts "
        "(2 threads wait on each other when the other core is busy)",
    )
    p.add_argument(
        "--torch-budget",
        type=float,
        default=None,
        help="(b): at most this many seconds of timed steps per thread count, split evenly "
        "over the activations (default: 300; --quick: 30)",
    )
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--skip-scaling", action="store_true")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 acts x 20 seeds x 201 steps, scaling 100,300 at 201 steps "
        "(flags given explicitly win)",
    )
    p.add_argument("--json-only", action="store_true", help="print only the JSON line")
    p.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)  # (c)'s child
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    args.acts = [a.strip() for a in (args.acts or base["acts"]).split(",") if a.strip()]
    args.seeds = args.seeds or base["seeds"]
    args.steps = args.steps or base["steps"]
    args.scaling = [int(n) for n in (args.scaling or base["scaling"]).split(",") if n.strip()]
    args.scaling_steps = args.scaling_steps or (201 if args.quick else 2001)
    args.torch_threads = [int(t) for t in str(args.torch_threads).split(",") if t.strip()]
    if args.torch_budget is None:
        args.torch_budget = 30.0 if args.quick else 300.0

    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return

    log = (lambda *a: None) if args.json_only else (lambda *a: print(*a, flush=True))
    forward = [
        "--acts", ",".join(args.acts), "--seeds", str(args.seeds), "--steps", str(args.steps),
        "--scaling-steps", str(args.scaling_steps),
        "--torch-threads", ",".join(map(str, args.torch_threads)),
        "--torch-budget", str(args.torch_budget),
    ]  # fmt: skip
    has_torch, torch_info, machine = machine_info(args.skip_torch)
    workload = {
        "protocol": "xor",
        "sizes": list(sizes()),
        "layers": len(sizes()) - 1,
        "params_per_model": param_count(),
        "init": "weights and biases N(0, 1)",
        "loss": "bce_unclipped",
        "optimizer": f"sgd({LR})",
        "batch": 4,
        "acts": args.acts,
        "seeds": args.seeds,
        "models": len(args.acts) * args.seeds,
        "steps": args.steps,
        "eval_every": 100,
        "host_devices": args.host_devices,
        "torch_threads": args.torch_threads,
        "torch_budget_s": args.torch_budget,
        "scaling_act": "tanh",
        "scaling_models": args.scaling,
        "scaling_steps": args.scaling_steps,
    }
    log(
        f"python {machine['python']}  jax {machine['jax']}  flax {machine['flax']}  optax "
        f"{machine['optax']}  torch {torch_info}\ncpus {machine['cpu_count']} (usable "
        f"{machine['cpus_usable']})  load average {os.getloadavg()[0]:.2f}"
    )
    log(
        f"workload: deep XOR, MLP {'-'.join(map(str, sizes()))} ({param_count()} parameters), "
        f"N(0,1) init, unclipped BCE, full batch of 4, GD lr {LR}; {len(args.acts)} activations "
        f"({', '.join(args.acts)}) x {args.seeds} seeds x {args.steps} steps"
    )
    designs: dict = {}
    designs["actlab"] = run_child(__file__, "actlab", forward, log, args.host_devices)
    designs["actlab_before"] = run_child(__file__, "before", forward, log, args.host_devices)
    if has_torch:
        designs["torch_baddbmm"] = run_child(__file__, "torch", forward, log)
    else:
        why = "--skip-torch" if args.skip_torch else f"torch not importable: {torch_info}"
        designs["torch_baddbmm"] = {"skipped": why}
        if not args.skip_torch:
            log(f"(b) PyTorch skipped: torch is not importable ({torch_info})")
    scaling = []
    if not args.skip_scaling:
        for n in args.scaling:
            r = run_child(__file__, "scaling", [*forward, "--n", str(n)], log, args.host_devices)
            scaling.append({"n": n, **r})
    machine["device"] = designs["actlab"].get("device")
    machine["load_avg_end"] = os.getloadavg()

    rate = lambda key: designs[key].get("model_steps_per_s")
    a, before, ref = rate("actlab"), rate("actlab_before"), rate("torch_baddbmm")
    ratio = lambda x, y: x / y if x and y else None
    res = {
        "benchmark": "xor_throughput",
        "workload": workload,
        "designs": designs,
        "ratio_vs_baddbmm": ratio(a, ref),  # (a) model-steps/s / (b)'s, this run
        "ratios": {
            "actlab_vs_baddbmm": ratio(a, ref),
            "actlab_before_vs_baddbmm": ratio(before, ref),
            "actlab_vs_before": ratio(a, before),
        },
        "targets": TARGETS,
        "met": {
            "model_steps_per_s": None if a is None else a >= TARGETS["model_steps_per_s"],
            "vs_baddbmm": None if ratio(a, ref) is None else ratio(a, ref) >= TARGETS["vs_baddbmm"],
        },
        "scaling": scaling,
        "machine": machine,
    }
    log("")
    log(f"device: {machine['device']}")
    log(table(res))
    for key, label in (("actlab", "(a)"), ("actlab_before", "(a')"), ("torch_baddbmm", "(b)")):
        d = designs[key]
        if "solved" in d:
            log(
                f"{label} solved / diverged: "
                + ", ".join(f"{k} {v:.2f}/{d['diverged'][k]:.2f}" for k, v in d["solved"].items())
            )
    b = designs["torch_baddbmm"]
    if "steps_timed" in b and b["steps_timed"] < args.steps:
        log(f"(b) timed {b['steps_timed']} of {args.steps} steps per activation (budget)")
    if "by_threads" in b:
        log(
            "(b) model-steps/s by torch.set_num_threads: "
            + ", ".join(f"{t} -> {v:.3g}" for t, v in b["by_threads"].items())
            + f" (the table uses {b['threads']}); by activation: "
            + ", ".join(f"{k} {v['model_steps_per_s']:.3g}" for k, v in b["by_act"].items())
        )
    for k, v in res["ratios"].items():
        log(f"{k}: {fmt(v, '.2f')}x")
    log(
        f"targets: (a) >= {TARGETS['model_steps_per_s']:.0e} model-steps/s: "
        f"{res['met']['model_steps_per_s']}; (a) >= {TARGETS['vs_baddbmm']:g}x (b): "
        f"{res['met']['vs_baddbmm']}"
    )
    if scaling:
        log("")
        log(f"scaling: actlab current layout, tanh x N seeds, {args.scaling_steps} steps")
        log(scaling_table(scaling))
    log("")
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
