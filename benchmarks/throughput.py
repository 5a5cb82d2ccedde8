"""Throughput of the seed-001 workload: actlab against naive JAX and PyTorch on this machine.

Workload: MLP 784-256-128-10, Adam 1e-3, batch 16, Fashion-MNIST ([60000, 28, 28, 1] uint8,
10 classes; random uint8 of that shape when the real data is not on this machine), every
activation in ``--acts`` x ``--seeds`` seeds. Three designs, each measured in its own
subprocess (so that each one's peak resident memory is its own):

(a) actlab: ``Study(...).start().advance()``: every model in one compiled call, with
    per-layer norms, dead/saturated units and accuracies traced at the evaluation points;
    compile and training are timed apart (``Run.timing``).
(b) naive JAX: one model after another, a plain ``jax.jit`` single-model step (flax MLP, optax
    Adam) called from a Python loop; data on the device, minibatches drawn from a per-model
    permutation inside the step; compile excluded. A subset of models is timed.
(c) PyTorch: one model after another, eager ``nn.Sequential`` + ``torch.optim.Adam``, with
    ``torch.set_num_threads(2)`` and then 1 (``--torch-threads``; the faster counts), each
    within a time budget; a subset of models is timed. Skipped if torch is not importable
    (``pip install torch==2.13.0`` takes the CPU wheel).

Figures: seconds per model-epoch (3750 steps, extrapolated from ``--steps``), achieved GFLOP/s
(training FLOPs only, see ``flop_per_model_epoch``), % of the measured float32 matmul peak,
compile seconds, peak RSS (``ru_maxrss``), actlab's device state. The last stdout line is one
JSON object ``{"benchmark": "throughput", ...}``. See ``benchmarks/README.md``.

    python benchmarks/throughput.py                      # default: 4 acts x 10 seeds, 750 steps
    python benchmarks/throughput.py --steps 200 --seeds 2 --skip-torch
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _shared import fmt, machine_info, max_rss_mb, run_child  # noqa: E402

EPOCH_EXAMPLES = 60_000
BATCH = 16
EPOCH_STEPS = EPOCH_EXAMPLES // BATCH  # 3750
HIDDEN = (256, 128)
INPUTS, CLASSES = 28 * 28, 10
LR = 1e-3
TARGETS = {"actlab_vs_torch": 4.0, "actlab_vs_naive_jax": 2.0}  # per-model throughput, 2 cores
DEFAULT_ACTS = "sigmoid,tanh,relu,leaky_relu"

# PyTorch modules for the activations the torch baseline knows (same conventions as actlab)
TORCH_ACTS = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("ReLU", {}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": 0.01}),
    "elu": ("ELU", {}),
    "selu": ("SELU", {}),
    "celu": ("CELU", {}),
    "gelu": ("GELU", {}),
    "gelu_tanh": ("GELU", {"approximate": "tanh"}),
    "silu": ("SiLU", {}),
    "mish": ("Mish", {}),
    "softplus": ("Softplus", {}),
    "softsign": ("Softsign", {}),
    "hard_tanh": ("Hardtanh", {}),
    "relu6": ("ReLU6", {}),
}


def param_count() -> int:
    """Weights and biases of the 784-256-128-10 MLP: 235 146."""
    sizes = (INPUTS, *HIDDEN, CLASSES)
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def flop_per_model_epoch() -> float:
    """6 x parameters x training examples = 6 x 235 146 x 60 000 = 84.65 GFLOP.

    Per example and weight: 2 FLOP forward (multiply-add), 4 backward (gradient of the input
    and of the weight). Activations, the loss and Adam (~10 FLOP per parameter per step, i.e.
    ~1/10 of the matmuls at batch 16) are not counted, as usual for achieved-FLOP figures.
    """
    return 6.0 * param_count() * EPOCH_EXAMPLES


def per_model_epoch(seconds: float, models: int, steps: int) -> float:
    return seconds / models / steps * EPOCH_STEPS


# ------------------------------------------------------------------------------ children


def load_data():
    """Fashion-MNIST from this machine (no download), else random uint8 of its shape."""
    import numpy as np

    import actlab

    os.environ.setdefault("ACTLAB_OFFLINE", "1")  # a benchmark does not download
    try:
        d = actlab.data.load("fashion_mnist")
        return d, f"fashion_mnist (real, {d.source})"
    except (
        actlab.data.DatasetNotFound,
        actlab.data.ChecksumError,
        actlab.data.DataFormatError,
    ) as e:
        why = type(e).__name__
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (EPOCH_EXAMPLES, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, CLASSES, EPOCH_EXAMPLES).astype(np.int32)
    xt = rng.integers(0, 256, (10_000, 28, 28, 1), dtype=np.uint8)
    yt = rng.integers(0, CLASSES, 10_000).astype(np.int32)
    d = actlab.data.from_arrays(
        x, y, xt, yt, num_classes=CLASSES, name="random", source="random",
        shift=127.5, scale=1 / 73.9,  # uniform on 0..255: mean 127.5, std 73.9
    )  # fmt: skip
    return d, f"random uint8 [60000, 28, 28, 1] (Fashion-MNIST not found: {why})"


def timed_models(acts: list[str], seeds: int, limit: int) -> list[tuple[str, int]]:
    """The first ``limit`` models, activations cycling fastest: one per activation first."""
    every = [(a, s) for s in range(seeds) for a in acts]
    return every[: max(1, min(limit, len(every)))]


def child_peak(args) -> dict:
    """Float32 matmul peak: jitted 2048 x 2048 ``jnp.dot``, best of 20 calls."""
    import jax
    import jax.numpy as jnp

    n = 2048
    ka, kb = jax.random.split(jax.random.key(0))
    a, b = jax.random.normal(ka, (n, n)), jax.random.normal(kb, (n, n))
    dot = jax.jit(jnp.dot)
    dot(a, b).block_until_ready()
    best = float("inf")
    for _ in range(20):
        t = time.perf_counter()
        dot(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return {"gflops": 2 * n**3 / best / 1e9, "best_s": best, "device": str(jax.devices()[0])}


def child_actlab(args) -> dict:
    import jax
    import numpy as np
    import optax

    import actlab

    data, source = load_data()
    rss0 = max_rss_mb()
    study = actlab.Study(
        model=actlab.MLP(hidden=HIDDEN),
        activations=args.acts,
        seeds=args.seeds,
        optimizer=optax.adam(LR),
        batch_size=BATCH,
        steps=args.steps,
        evals=args.evals,
        data=data,
        train_eval_examples=1000,
        eval_examples=1000,
        mode=args.mode,
    )
    t = time.perf_counter()
    run = study.start()  # compiles init; runs init + the step-0 gradient and evaluation
    init_s = run.timing["train_s"]
    run.advance()  # compiles and runs every interval in one call
    wall = time.perf_counter() - t
    result = run.result()
    models = len(study.activations) * args.seeds
    acc = result.final("test_accuracy")  # [acts, seeds]
    first = jax.tree.leaves(run.states)[0]
    return {
        "data": source,
        "device": str(jax.devices()[0]),
        "host_devices": jax.local_device_count(),
        "devices_used": len(first.sharding.device_set),  # > 1: seeds sharded over devices
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "models": models,
        "steps": args.steps,
        "evals": args.evals,
        "eval_every": run.cfg.eval_every,
        "mode": args.mode,
        "compile_s": run.timing["compile_s"],
        "train_s": run.timing["train_s"],  # init_s + advance_s
        "init_s": init_s,
        "advance_s": run.timing["train_s"] - init_s,
        "wall_s": wall,
        "s_per_model_epoch": per_model_epoch(run.timing["train_s"], models, args.steps),
        "state_mb": sum(x.nbytes for x in jax.tree.leaves(run.states)) / 2**20,
        "rss_after_data_mb": rss0,
        "peak_rss_mb": max_rss_mb(),
        "test_accuracy": {a: float(np.mean(acc[i])) for i, a in enumerate(study.activations)},
        "diverged": int(result.diverged.sum()),
    }


def child_naive(args) -> dict:
    """One model at a time: a jitted single-model step called from Python once per step."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from actlab import activations

    data, source = load_data()
    rss0 = max_rss_mb()
    n = data.x_train.shape[0]
    per_epoch = n // BATCH
    tx = optax.adam(LR)

    class Net(nn.Module):
        act: object

        @nn.compact
        def __call__(self, x):
            x = x.reshape(x.shape[0], -1)
            for width in HIDDEN:
                x = self.act(nn.Dense(width)(x))
            return nn.Dense(CLASSES)(x)

    def make_step(net):
        def loss_fn(params, xb, yb):
            logits = net.apply(params, data.normalise(xb))
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

        @jax.jit
        def step(params, opt_state, x, y, perm, i):
            idx = jax.lax.dynamic_slice_in_dim(perm, i * BATCH, BATCH)
            loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        return step

    usable = [
        a for a in args.acts if not activations.get(a).has_params and activations.get(a).pieces == 1
    ]
    models = timed_models(usable, args.seeds, args.models)
    steps_of = {a: make_step(Net(activations.get(a).fn)) for a in usable}
    x, y = data.x_train, data.y_train
    train_s, compile_s, accs, compiled = 0.0, 0.0, [], set()
    for act, seed in models:
        step = steps_of[act]
        key = jax.random.key(seed)
        params = Net(activations.get(act).fn).init(key, data.normalise(x[:1]))
        opt_state = tx.init(params)
        perm = jax.random.permutation(jax.random.fold_in(key, 0), n)
        t = time.perf_counter()  # warm-up step: trace + compile (once per activation) + run
        params, opt_state, loss = step(params, opt_state, x, y, perm, 0)
        jax.block_until_ready(params)
        if act not in compiled:  # one compilation per activation, as actlab's one per group
            compile_s += time.perf_counter() - t
            compiled.add(act)
        t = time.perf_counter()
        for i in range(1, args.steps + 1):
            j = i % per_epoch
            if j == 0:
                perm = jax.random.permutation(jax.random.fold_in(key, i // per_epoch), n)
            params, opt_state, loss = step(params, opt_state, x, y, perm, j)
        jax.block_until_ready((params, opt_state))
        train_s += time.perf_counter() - t
        logits = Net(activations.get(act).fn).apply(params, data.normalise(data.x_test[:1000]))
        accs.append(float(jnp.mean(logits.argmax(-1) == data.y_test[:1000])))
    return {
        "data": source,
        "models": len(models),
        "timed": [f"{a}/seed{s}" for a, s in models],
        "steps": args.steps,
        "compile_s": compile_s,
        "train_s": train_s,
        "s_per_model_epoch": per_model_epoch(train_s, len(models), args.steps),
        "rss_after_data_mb": rss0,
        "peak_rss_mb": max_rss_mb(),
        "test_accuracy_mean": float(np.mean(accs)),
    }


def child_torch(args) -> dict:
    """One model at a time, eager PyTorch, for each thread count in ``--torch-threads``.

    Each thread count gets at most ``--torch-budget`` seconds of timed steps (checked every
    step): on an oversubscribed VM, 2 OpenMP threads can be ~100x slower than 1, and a
    full run would take many minutes. Seconds per model-epoch are total time / steps done.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    data, source = load_data()
    n = data.x_train.shape[0]
    per_epoch = n // BATCH
    x = torch.from_numpy(np.asarray(data.x_train).reshape(n, -1).copy())  # uint8
    y = torch.from_numpy(np.asarray(data.y_train).astype(np.int64))
    xt = torch.from_numpy(np.asarray(data.x_test[:1000]).reshape(1000, -1).copy())
    yt = torch.from_numpy(np.asarray(data.y_test[:1000]).astype(np.int64))
    shift, scale = data.shift, data.scale
    del data
    rss0 = max_rss_mb()
    usable = [a for a in args.acts if a in TORCH_ACTS]
    if not usable:
        return {"skipped": f"no torch equivalent for {args.acts}"}
    models = timed_models(usable, args.seeds, args.models)

    def act_module(name):
        cls, kw = TORCH_ACTS[name]
        return getattr(torch.nn, cls)(**kw)

    def measure(threads: int) -> dict:
        torch.set_num_threads(threads)
        train_s, done, timed, accs = 0.0, 0, [], []
        for act, seed in models:
            if train_s > args.torch_budget:
                break
            torch.manual_seed(seed)
            net = torch.nn.Sequential(
                torch.nn.Linear(INPUTS, HIDDEN[0]),
                act_module(act),
                torch.nn.Linear(HIDDEN[0], HIDDEN[1]),
                act_module(act),
                torch.nn.Linear(HIDDEN[1], CLASSES),
            )
            opt = torch.optim.Adam(net.parameters(), lr=LR)
            gen = torch.Generator().manual_seed(seed)
            perm = torch.randperm(n, generator=gen)

            def step(i, perm, net=net, opt=opt):
                idx = perm[i * BATCH : (i + 1) * BATCH]
                loss = F.cross_entropy(net((x[idx].float() - shift) * scale), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            for i in range(10):  # warm-up: allocator, first-call paths
                step(i, perm)
            t = time.perf_counter()
            steps = 0
            for i in range(10, 10 + args.steps):
                j = i % per_epoch
                if j == 0:
                    perm = torch.randperm(n, generator=gen)
                step(j, perm)
                steps += 1
                if train_s + time.perf_counter() - t > args.torch_budget and steps >= 20:
                    break
            train_s += time.perf_counter() - t
            done += steps
            timed.append(f"{act}/seed{seed}" + ("" if steps == args.steps else f" ({steps} steps)"))
            with torch.no_grad():
                pred = net((xt.float() - shift) * scale).argmax(-1)
                accs.append(float((pred == yt).float().mean()))
        return {
            "threads": threads,
            "models": len(timed),
            "timed": timed,
            "steps_timed": done,
            "train_s": train_s,
            "s_per_model_epoch": train_s / done * EPOCH_STEPS,
            "test_accuracy_mean": float(np.mean(accs)),
        }

    runs = [measure(t) for t in args.torch_threads]
    best = min(runs, key=lambda r: r["s_per_model_epoch"])
    return {
        "data": source,
        "torch": torch.__version__,
        **best,
        "compile_s": 0.0,
        "by_threads": {str(r["threads"]): r["s_per_model_epoch"] for r in runs},
        "runs": runs,
        "rss_after_data_mb": rss0,
        "peak_rss_mb": max_rss_mb(),
    }


CHILDREN = {"peak": child_peak, "actlab": child_actlab, "naive": child_naive, "torch": child_torch}


# ------------------------------------------------------------------------------ parent


def figures(d: dict, peak: float | None) -> dict:
    """Adds GFLOP/s and % of peak to a design's measurement."""
    if "s_per_model_epoch" in d:
        d["gflops"] = flop_per_model_epoch() / d["s_per_model_epoch"] / 1e9
        d["pct_of_peak"] = 100 * d["gflops"] / peak if peak else None
    return d


def table(res: dict) -> str:
    head = (
        f"{'design':<26}{'s/model-epoch':>14}{'GFLOP/s':>9}{'% peak':>8}{'compile s':>10}"
        f"{'peak RSS MB':>12}{'models':>8}{'actlab x':>9}"
    )
    rows = [head, "-" * len(head)]
    a = res["actlab"].get("s_per_model_epoch")
    names = {
        "actlab": f"(a) actlab ({res['config']['mode']})",
        "naive_jax": "(b) naive JAX, jit/step",
        "torch": f"(c) PyTorch eager, {res['torch'].get('threads', '?')} thr",
    }
    for key, label in names.items():
        d = res[key]
        if "s_per_model_epoch" not in d:
            reason = d.get("skipped") or d.get("error") or "not run"
            rows.append(f"{label:<26}  skipped: {reason}")
            continue
        s = d["s_per_model_epoch"]
        rows.append(
            f"{label:<26}{s:>14.2f}{d['gflops']:>9.1f}{fmt(d['pct_of_peak'], '.1f'):>7}%"
            f"{d['compile_s']:>10.1f}{d['peak_rss_mb']:>12.0f}{d['models']:>8}"
            f"{fmt(s / a if a else None, '.2f'):>9}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--acts", default=DEFAULT_ACTS, help="comma-separated activation names")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=750, help="steps per model measured (1/5 epoch)")
    p.add_argument(
        "--evals",
        type=int,
        default=None,
        help="actlab evaluation points (default: 5 per epoch, pro rata, at least 1)",
    )
    p.add_argument(
        "--models",
        type=int,
        default=None,
        help="models timed by naive JAX and PyTorch (default: one per activation)",
    )
    p.add_argument("--mode", choices=("grouped", "switch"), default="grouped")
    p.add_argument(
        "--host-devices",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="(a) only: split the CPU into N XLA host devices (actlab shards seeds over them "
        "when N divides --seeds), as the actlab command does; default: the usable cores; "
        "0 leaves XLA_FLAGS as it is",
    )
    p.add_argument(
        "--torch-threads",
        default="2,1",
        help="(c): torch.set_num_threads values to time, comma-separated; the fastest counts",
    )
    p.add_argument(
        "--torch-budget",
        type=float,
        default=60.0,
        help="(c): at most this many seconds of timed steps per thread count",
    )
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--json-only", action="store_true", help="print only the JSON line")
    p.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.acts = [a.strip() for a in args.acts.split(",") if a.strip()]
    args.torch_threads = [int(t) for t in str(args.torch_threads).split(",") if t.strip()]
    if args.evals is None:
        args.evals = max(1, round(5 * args.steps / EPOCH_STEPS))
    if args.models is None:
        args.models = len(args.acts)

    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return

    log = (lambda *a: None) if args.json_only else (lambda *a: print(*a, flush=True))
    forward = [
        "--acts", ",".join(args.acts), "--seeds", str(args.seeds), "--steps", str(args.steps),
        "--evals", str(args.evals), "--models", str(args.models), "--mode", args.mode,
        "--torch-threads", ",".join(map(str, args.torch_threads)),
        "--torch-budget", str(args.torch_budget),
    ]  # fmt: skip
    has_torch, torch_info, machine = machine_info(args.skip_torch)
    log(
        f"python {machine['python']}  jax {machine['jax']}  flax {machine['flax']}  optax "
        f"{machine['optax']}  torch {torch_info}\ncpus {machine['cpu_count']} (usable "
        f"{machine['cpus_usable']})  load average {os.getloadavg()[0]:.2f}"
    )
    log(
        f"workload: MLP 784-256-128-10, Adam {LR}, batch {BATCH}, {len(args.acts)} activations "
        f"({', '.join(args.acts)}) x {args.seeds} seeds, {args.steps} steps per model measured, "
        f"extrapolated to {EPOCH_STEPS} steps = 1 epoch; "
        f"{flop_per_model_epoch() / 1e9:.2f} GFLOP per model-epoch"
    )
    res: dict = {"benchmark": "throughput"}
    peak_start = run_child(__file__, "peak", forward, log)
    res["actlab"] = run_child(__file__, "actlab", forward, log, args.host_devices)
    res["naive_jax"] = (
        {"skipped": "--skip-naive"}
        if args.skip_naive
        else run_child(__file__, "naive", forward, log)
    )
    if has_torch:
        res["torch"] = run_child(__file__, "torch", forward, log)
    else:
        why = "--skip-torch" if args.skip_torch else f"torch not importable: {torch_info}"
        res["torch"] = {"skipped": why}
        if not args.skip_torch:
            log(f"(c) PyTorch skipped: torch is not importable ({torch_info})")
    peak_end = run_child(__file__, "peak", forward, log)
    peaks = [p["gflops"] for p in (peak_start, peak_end) if "gflops" in p]
    peak = max(peaks) if peaks else None
    machine["device"] = peak_start.get("device")
    machine["load_avg_end"] = os.getloadavg()
    for key in ("actlab", "naive_jax", "torch"):
        figures(res[key], peak)
    a = res["actlab"].get("s_per_model_epoch")
    ratio = lambda d: d["s_per_model_epoch"] / a if a and "s_per_model_epoch" in d else None
    speedup = {
        "actlab_vs_torch": ratio(res["torch"]),
        "actlab_vs_naive_jax": ratio(res["naive_jax"]),
    }
    if a and "by_threads" in res["torch"]:  # the headline above uses the fastest setting
        speedup["actlab_vs_torch_by_threads"] = {
            t: v / a for t, v in res["torch"]["by_threads"].items()
        }
    res.update(
        data=res["actlab"].get("data"),
        config={
            "acts": args.acts,
            "seeds": args.seeds,
            "steps": args.steps,
            "epoch_steps": EPOCH_STEPS,
            "batch": BATCH,
            "evals": args.evals,
            "mode": args.mode,
            "host_devices": args.host_devices,
            "models_timed_sequential": args.models,
            "torch_threads": args.torch_threads,
            "torch_budget_s": args.torch_budget,
            "params": param_count(),
            "gflop_per_model_epoch": flop_per_model_epoch() / 1e9,
        },
        machine=machine,
        peak_gflops=peak,
        peak_gflops_runs=peaks,
        speedup=speedup,
        targets=TARGETS,
        meets_targets={
            k: (None if speedup[k] is None else speedup[k] >= v) for k, v in TARGETS.items()
        },
    )
    log("")
    log(f"data: {res['data']}")
    log(f"device: {machine['device']}")
    log(
        "float32 matmul peak (jitted 2048^2 jnp.dot, best of 20, start/end): "
        + " / ".join(f"{g:.1f}" for g in peaks)
        + " GFLOP/s"
    )
    log(table(res))
    act = res["actlab"]
    if "state_mb" in act:
        log(
            f"actlab: {act['models']} models in one call on {act['devices_used']} of "
            f"{act['host_devices']} host device(s); device state {act['state_mb']:.1f} MB; "
            f"{act['evals']} evals (+ step 0) every {act['eval_every']} steps; train "
            f"{act['train_s']:.1f} s, compile {act['compile_s']:.1f} s; mean test accuracy "
            + ", ".join(f"{k} {v:.3f}" for k, v in act["test_accuracy"].items())
        )
    for key, label in (("naive_jax", "naive JAX"), ("torch", "PyTorch")):
        d = res[key]
        if "timed" in d:
            log(
                f"{label}: timed {', '.join(d['timed'])}; mean test accuracy "
                f"{d['test_accuracy_mean']:.3f}"
            )
    if "by_threads" in res["torch"]:
        log(
            "PyTorch s/model-epoch by torch.set_num_threads: "
            + ", ".join(f"{t} -> {v:.2f}" for t, v in res["torch"]["by_threads"].items())
            + f" (the table uses {res['torch']['threads']})"
        )
    for k in TARGETS:
        log(f"speedup {k}: {fmt(speedup[k], '.2f')}x (target >= {TARGETS[k]:g}x)")
    for t, v in speedup.get("actlab_vs_torch_by_threads", {}).items():
        log(f"  actlab vs PyTorch with {t} thread(s): {v:.2f}x")
    log("")
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
