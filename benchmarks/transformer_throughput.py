"""Throughput of the transformer FFN study's model (issue 28): actlab against PyTorch on the
same model, measured in the same run.

Workload: ``actlab.protocols.get("transformer_ffn")``'s model and training: a decoder-only
Transformer (``models.Transformer``: learned token and positional embeddings N(0, 1), 2
pre-LayerNorm blocks of width 32 with 4-head causal self-attention and a feed-forward layer of
``ffn_width(128, pieces)`` units, a final LayerNorm and an untied output projection; about
32 000 parameters), next-token cross-entropy over all 32 positions, Adam 3e-3, batches of 32
windows of 32 characters of ``actlab.data.fortunes(context=32)`` (vocabulary 98); every
activation in ``--acts`` x ``--seeds`` seeds, ``--steps`` steps each. Each design is
measured in its own subprocess (so that its peak resident memory is its own):

(a)  actlab: ``protocols.get("transformer_ffn").build(Overrides(acts, seeds))`` with
     ``steps`` and ``evals`` replaced, ``run = study.start(); run.advance()``, every model in
     one compiled call, timed by ``run.timing`` (compile and train apart). Tracing is on at
     the protocol's spacing: ``every`` = its steps / its evaluations, read from the protocol
     (1 000 / 20 = 50 at this writing), ``evals`` = steps // every, at least 1 (the last step
     is always one), plus the step-0 record: losses on the protocol's train-eval and test
     samples, per-layer gradient, weight and update norms, the unit census. What was traced
     (steps, examples, names) is reported.
(b)  PyTorch, plain loop: the same architecture in ``torch.nn`` (pre-LayerNorm eps 1e-5,
     causal attention with ``q``, ``v``, ``out`` projections with bias and ``k`` without,
     ``F.scaled_dot_product_attention(is_causal=True)``, embeddings N(0, 1), final
     LayerNorm, untied output projection with bias; FFN ``Linear(32, units * pieces)`` ->
     activation -> ``Linear(units, 32)``, a GLU's gate ``a`` and value ``b`` interleaved as
     actlab's: columns 2u and 2u + 1, ``h = f(a) * b``), PyTorch's default ``Linear`` init,
     ``torch.optim.Adam(lr=3e-3)``, ``F.cross_entropy`` over all positions. One model after
     another; each draws its batches from its own permutation of the same token arrays.
(c)  PyTorch, stacked: the seeds of one activation stacked by
     ``torch.func.stack_module_state``, ``vmap(grad(loss))`` over ``functional_call`` of the
     model in (b), each seed on its own batch, and ``torch.optim.Adam`` on the stacked leaves
     (the gradients assigned to ``.grad``): Adam is elementwise, so this is each model's own
     Adam, with the same bias correction at every step.

(b) and (c) run for each ``torch.set_num_threads`` value in ``--torch-threads`` (default 2
and then 1; the faster counts: with the other core busy, 2 threads can wait on each other),
each thread count with at most ``--torch-budget`` seconds of timed steps per design (split
evenly over the activations, and in (b) over the models; checked every step), after a few
warm-up steps on throw-away models. They trace and evaluate nothing: a lower bound on the
work actlab does. Skipped if torch is not importable (``pip install torch==2.13.0`` takes
the CPU wheel); activations without a torch equivalent here are left out of (b) and (c).

Before timing, a check (its own subprocess, torch and actlab both) builds each activation's
model both ways, asserts that the parameter counts are equal (actlab's from the study's
shapes, ``layout.shapes``; (a) also reports ``results.parameters`` of its trained models),
copies actlab's initial parameters into the PyTorch model and reports the largest difference
of their logits on a training batch (asserted below 1e-3).

Model-steps/s = models x steps / training seconds. The cost of a step does not depend on
how many came before, so figures from a shorter ``--steps`` extrapolate linearly (fixed
costs, the init call and the step-0 record, weigh more in short runs). The ratio is (a)
against the faster of (b) and (c) per model-step; target: at least 2x. Ratios compare designs
of the same run only. The last stdout line is one JSON object
``{"benchmark": "transformer_throughput", ...}``. See ``benchmarks/README.md``.

    python benchmarks/transformer_throughput.py             # 3 acts x 4 seeds x 200 steps
    python benchmarks/transformer_throughput.py --quick     # smoke run: 2 acts x 2 seeds x 20
    python benchmarks/transformer_throughput.py --acts relu,swiglu --seeds 8 --steps 500
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _shared import design_table, fmt, machine_info, max_rss_mb, run_child  # noqa: E402

PROTOCOL = "transformer_ffn"
DEFAULT_ACTS = "relu,gelu,swiglu"  # one of each kind: piecewise linear, smooth, a GLU
TARGETS = {"vs_torch": 2.0}  # actlab (a) against the faster PyTorch design, 2-core CPU
QUICK = {"acts": "relu,swiglu", "seeds": 2, "steps": 20}
FULL = {"acts": DEFAULT_ACTS, "seeds": 4, "steps": 200}
WARMUP_STEPS = 3  # torch: steps on throw-away models before timing (allocator, first calls)
MAX_LOGIT_DIFF = 1e-3  # the check: same parameters, same logits (float32 rounding)

# torch equivalents of actlab's activations: (gate or pointwise function, pieces per unit)
TORCH_ACTS = {
    "relu": ("relu", 1),
    "gelu": ("gelu", 1),  # exact (erf), as actlab's gelu
    "gelu_tanh": ("gelu_tanh", 1),
    "silu": ("silu", 1),
    "relu2": ("relu2", 1),
    "tanh": ("tanh", 1),
    "sigmoid": ("sigmoid", 1),
    "reglu": ("relu", 2),
    "geglu": ("gelu", 2),
    "swiglu": ("silu", 2),
}


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


def ffn_study(acts: list[str], seeds: int, steps: int, evals: int | None):
    """The protocol's study at ``steps`` steps, evaluated at the protocol's spacing."""
    from actlab import protocols

    study = protocols.get(PROTOCOL).build(protocols.Overrides(acts=tuple(acts), seeds=seeds))
    every = study.config().eval_every  # the protocol's: its steps / its evals
    return study.replace(steps=steps, evals=evals or max(1, steps // every)), every


def protocol_sizes() -> dict:
    """The protocol's model and training settings (imports actlab)."""
    from actlab import protocols

    return {
        **protocols.FFN,
        "lr": protocols.FFN_LR,
        "optimizer": f"adam({protocols.FFN_LR})",
        "batch": 32,
    }


def child_actlab(args) -> dict:
    import jax
    import numpy as np

    import actlab  # noqa: F401
    from actlab import results, train

    jax.devices()
    rss0 = max_rss_mb()
    study, every = ffn_study(args.acts, args.seeds, args.steps, args.evals)
    run = study.start()  # compiles init; runs init + the step-0 record
    init_s = run.timing["train_s"]
    run.advance()  # compiles and runs every interval in one call
    models = len(study.activations) * study.seeds
    steps = run.cfg.steps
    train_s = run.timing["train_s"]
    result = run.result()
    cfg, d = run.cfg, study.data
    leaves = jax.tree.leaves(run.states)
    state_bytes = sum(x.nbytes for x in leaves)
    last = lambda m: result.curve(m)[:, :, -1]  # [acts, seeds] at the last point, raw
    return {
        "layout": jsonable(getattr(run, "layout", None)),
        "device": str(jax.devices()[0]),
        "host_devices": jax.local_device_count(),
        "devices_used": len(leaves[0].sharding.device_set),  # > 1: seeds sharded
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "sizes": protocol_sizes(),
        "vocab": d.num_classes,
        "models": models,
        "steps": steps,
        "traced": {
            "eval_every": cfg.eval_every,
            "protocol_eval_every": every,
            "points": len(result.steps),  # the step-0 record and every evaluation
            "at_steps": [int(s) for s in result.steps],
            "examples": train.eval_sizes(cfg, d.x_train.shape[0], d.x_test.shape[0]),
            "names": list(result.trace.names()),
        },
        "compile_s": run.timing["compile_s"],
        "train_s": train_s,  # init_s + advance_s
        "init_s": init_s,
        "advance_s": train_s - init_s,
        "model_steps_per_s": models * steps / train_s,
        "us_per_model_step": 1e6 * train_s / (models * steps),
        "state_bytes": state_bytes,
        "state_bytes_per_model": state_bytes / models,
        "params": results.parameters(result),
        "rss_baseline_mb": rss0,
        "peak_rss_mb": max_rss_mb(),
        "final_batch_loss": {  # mean minibatch loss over the last interval, mean over seeds
            a: float(np.nanmean(last("batch_loss")[i])) for i, a in enumerate(study.activations)
        },
        "final_test_loss": {
            a: float(np.nanmean(last("test_loss")[i])) for i, a in enumerate(study.activations)
        },
        "diverged": {a: float(x.mean()) for a, x in zip(study.activations, result.diverged)},
    }


def torch_model(act: str, vocab: int, sizes: dict, attention: str = "sdpa"):
    """The protocol's Transformer in ``torch.nn``, named as actlab's Flax parameters.

    ``attention``: ``"sdpa"``, ``F.scaled_dot_product_attention(is_causal=True)`` (PyTorch's
    fused kernel), or ``"explicit"``, softmax(q k^T / sqrt(head width)) with the later keys
    masked, as actlab computes it (``torch.func.vmap`` has no batching rule for the fused
    CPU kernel and falls back to a slow loop over the models)."""
    import math

    import torch
    import torch.nn.functional as F
    from torch import nn

    from actlab.models import ffn_width

    name, pieces = TORCH_ACTS[act]
    fn = {
        "relu": F.relu,
        "gelu": lambda x: F.gelu(x, approximate="none"),
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": F.silu,
        "relu2": lambda x: F.relu(x) ** 2,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
    }[name]
    width, heads, context = sizes["width"], sizes["heads"], sizes["context"]
    units = ffn_width(sizes["d_ff"], pieces)
    causal = torch.ones(context, context, dtype=torch.bool).triu(1)  # True: a later key

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.v, self.out = (nn.Linear(width, width) for _ in range(3))
            self.k = nn.Linear(width, width, bias=False)

        def forward(self, x):
            *lead, t, w = x.shape
            split = lambda z: z.view(*lead, t, heads, w // heads).transpose(-3, -2)
            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            if attention == "sdpa":
                mixed = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # actlab's: no batching rule is needed for these under vmap
                scores = q @ k.transpose(-2, -1) / math.sqrt(w // heads)
                scores = scores.masked_fill(causal[:t, :t], torch.finfo(scores.dtype).min)
                mixed = torch.softmax(scores, dim=-1) @ v
            return self.out(mixed.transpose(-3, -2).reshape(*lead, t, w))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_attn, self.ln_ffn = nn.LayerNorm(width, eps=1e-5), nn.LayerNorm(width, eps=1e-5)
            self.attn = Attention()
            self.ffn_in = nn.Linear(width, units * pieces)
            self.ffn_out = nn.Linear(units, width)

        def forward(self, x):
            x = x + self.attn(self.ln_attn(x))
            z = self.ffn_in(self.ln_ffn(x))
            if pieces == 2:  # unit u reads columns 2u (the gate's a) and 2u + 1 (b)
                z = z.view(*z.shape[:-1], units, 2)
                h = fn(z[..., 0]) * z[..., 1]
            else:
                h = fn(z)
            return x + self.ffn_out(h)

    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, width)  # N(0, 1)
            self.pos_embed = nn.Parameter(torch.randn(context, width))
            for i in range(sizes["layers"]):
                self.add_module(f"block_{i}", Block())
            self.ln_final = nn.LayerNorm(width, eps=1e-5)
            self.unembed = nn.Linear(width, vocab)
            self.layers = sizes["layers"]

        def forward(self, tokens):
            h = self.embed(tokens) + self.pos_embed[: tokens.shape[-1]]
            for i in range(self.layers):
                h = getattr(self, f"block_{i}")(h)
            return self.unembed(self.ln_final(h))

    return Transformer


def torch_setup(args):
    """(torch-usable acts, sizes, vocab, train tokens x, y as int64 tensors)."""
    import numpy as np
    import torch

    from actlab import data

    d = data.fortunes(context=protocol_sizes()["context"])
    x = torch.from_numpy(np.asarray(d.x_train, np.int64))
    y = torch.from_numpy(np.asarray(d.y_train, np.int64))
    usable = [a for a in args.acts if a in TORCH_ACTS]
    return usable, protocol_sizes(), d.num_classes, x, y


def child_check(args) -> dict:
    """Each activation's model built both ways: parameter counts equal, and with actlab's
    initial parameters copied in, the same logits (to float32 rounding)."""
    import jax
    import numpy as np
    import torch

    from actlab import layout, protocols
    from actlab.models import Transformer
    from actlab.slot import Slot

    usable, sizes, vocab, x, _ = torch_setup(args)
    study, _ = ffn_study(usable or args.acts, 1, 3, None)
    assert study.batch_size == sizes["batch"], (study.batch_size, sizes["batch"])
    out = {"sizes": sizes, "vocab": vocab, "acts": {}}
    xb = x[:4]
    for act in usable:
        actlab_params = layout.shapes(study, [act])[0]  # as the study builds the model
        flax_model = Transformer(classes=vocab, **protocols.FFN)
        slot = Slot((act,), 0)
        variables = flax_model.init(jax.random.key(0), xb.numpy().astype(np.int32), slot)
        ref = np.asarray(flax_model.apply(variables, xb.numpy().astype(np.int32), slot))
        diff = 0.0
        for attention in ("sdpa", "explicit"):
            net = torch_model(act, vocab, sizes, attention)()
            torch_params = sum(p.numel() for p in net.parameters())
            load_flax(net, variables["params"])
            with torch.no_grad():
                diff = max(diff, float(np.max(np.abs(net(xb).numpy() - ref))))
        assert torch_params == actlab_params, (act, torch_params, actlab_params)
        assert diff < MAX_LOGIT_DIFF, (act, diff)
        out["acts"][act] = {
            "params_actlab": actlab_params,
            "params_torch": torch_params,
            "max_logit_diff": diff,
        }
    out["skipped"] = [a for a in args.acts if a not in TORCH_ACTS]
    return out


def load_flax(net, params) -> None:
    """Copy a Flax parameter tree (actlab's names) into ``net``: kernels transposed."""
    import numpy as np
    import torch
    from flax.traverse_util import flatten_dict

    own = dict(net.named_parameters())
    for path, v in flatten_dict(params).items():
        *mod, leaf = path
        v = np.asarray(v)
        if leaf == "kernel":
            leaf, v = "weight", v.T
        elif leaf in ("scale", "embedding"):
            leaf = "weight"
        name = ".".join([*mod, leaf])
        with torch.no_grad():
            own.pop(name).copy_(torch.from_numpy(np.array(v, np.float32)))
    assert not own, f"parameters not in actlab's tree: {sorted(own)}"


def child_torch(args, stacked: bool) -> dict:
    """(b) one model after another, or (c) the seeds of one activation stacked under
    ``torch.func``, for each thread count in ``--torch-threads`` (the fastest counts)."""
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, grad, stack_module_state, vmap

    usable, sizes, vocab, x, y = torch_setup(args)
    if not usable:
        return {"skipped": f"no torch equivalent for {args.acts}"}
    rss0 = max_rss_mb()
    m, n, batch, lr = args.seeds, x.shape[0], sizes["batch"], sizes["lr"]
    attention = args.torch_attention
    if attention == "auto":  # vmap has no batching rule for the fused kernel
        attention = "explicit" if stacked else "sdpa"
    model = lambda act: torch_model(act, vocab, sizes, attention)
    budget = args.torch_budget / len(usable) / (1 if stacked else m)

    def loss_of(logits, yb):
        return F.cross_entropy(logits.reshape(-1, vocab), yb.reshape(-1))

    class Batches:
        """Each model's own permutation of the training windows, a new one every epoch."""

        def __init__(self, models: int, seed: int):
            self.gen = torch.Generator().manual_seed(seed)
            self.models, self.t, self.perm = models, 0, None

        def next(self):
            per_epoch = n // batch
            i = self.t % per_epoch
            if i == 0:
                self.perm = torch.stack(
                    [torch.randperm(n, generator=self.gen) for _ in range(self.models)]
                )
            self.t += 1
            idx = self.perm[:, i * batch : (i + 1) * batch]  # [models, batch]
            return x[idx], y[idx]  # [models, batch, T]

    def train_one(act, seed, steps, limit=None):
        torch.manual_seed(seed)
        net = model(act)()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        data = Batches(1, seed)
        t, done, loss = time.perf_counter(), 0, None
        for _ in range(steps):
            xb, yb = data.next()
            opt.zero_grad(set_to_none=True)
            loss = loss_of(net(xb[0]), yb[0])
            loss.backward()
            opt.step()
            done += 1
            if limit is not None and time.perf_counter() - t > limit:
                break
        return time.perf_counter() - t, done, float(loss.detach())

    def train_stacked(act, seed, steps, limit=None):
        cls, nets = model(act), []  # one class: stack_module_state needs it
        for s in range(m):
            torch.manual_seed(seed + s)  # as (b)'s model seed + s
            nets.append(cls())
        params, buffers = stack_module_state(nets)
        base = cls().to("meta")

        def loss_one(p, b, xb, yb):
            return loss_of(functional_call(base, (p, b), (xb,)), yb)

        step_grads = vmap(grad(loss_one))
        losses = vmap(loss_one)
        leaves = list(params.values())
        opt = torch.optim.Adam(leaves, lr=lr, foreach=True)
        data = Batches(m, seed)
        t, done, xb, yb = time.perf_counter(), 0, None, None
        for _ in range(steps):
            xb, yb = data.next()
            g = step_grads(params, buffers, xb, yb)
            for k, p in params.items():
                p.grad = g[k]
            opt.step()
            done += 1
            if limit is not None and time.perf_counter() - t > limit:
                break
        sec = time.perf_counter() - t
        with torch.no_grad():
            last = float(losses(params, buffers, xb, yb).mean())  # after the last update
        return sec, done, last

    def measure(threads: int) -> dict:
        torch.set_num_threads(threads)
        per_act, train_s, model_steps, losses = {}, 0.0, 0, {}
        for k, act in enumerate(usable):
            seed = 1000 * (k + 1)
            if stacked:
                train_stacked(act, 0, WARMUP_STEPS)  # throw-away models
                sec, done, loss = train_stacked(act, seed, args.steps, budget)
                steps = m * done
            else:
                train_one(act, 0, WARMUP_STEPS)
                sec, steps, loss = 0.0, 0, 0.0
                for s in range(m):
                    sec_s, done, loss_s = train_one(act, seed + s, args.steps, budget)
                    sec, steps, loss = sec + sec_s, steps + done, loss + loss_s / m
            train_s, model_steps = train_s + sec, model_steps + steps
            per_act[act] = {"model_steps": steps, "train_s": sec, "model_steps_per_s": steps / sec}
            losses[act] = loss
        return {
            "threads": threads,
            "steps_timed": model_steps // (m * len(usable)),  # per model, on average
            "by_act": per_act,
            "train_s": train_s,
            "model_steps_per_s": model_steps / train_s,
            "us_per_model_step": 1e6 * train_s / model_steps,
            "final_loss": losses,  # (b): last minibatch's, (c): after the last update
        }

    runs = [measure(t) for t in args.torch_threads]
    best = max(runs, key=lambda r: r["model_steps_per_s"])
    params = {a: sum(p.numel() for p in model(a)().parameters()) for a in usable}
    return {
        "torch": torch.__version__,
        "attention": attention,
        "acts": usable,
        "models": m * len(usable),
        "steps": args.steps,
        "budget_s": args.torch_budget,
        **best,
        "compile_s": 0.0,
        "by_threads": {str(r["threads"]): r["model_steps_per_s"] for r in runs},
        "runs": runs,
        "params": params,
        # parameters and Adam's two moments, float32
        "state_bytes_per_model": 12 * sum(params.values()) / len(params),
        "rss_baseline_mb": rss0,
        "peak_rss_mb": max_rss_mb(),
    }


CHILDREN = {
    "actlab": child_actlab,
    "check": child_check,
    "torch_loop": lambda args: child_torch(args, stacked=False),
    "torch_vmap": lambda args: child_torch(args, stacked=True),
}


# ------------------------------------------------------------------------------ parent


def layout_name(d: dict) -> str:
    lay = d.get("layout")
    if isinstance(lay, dict):
        keep = ("seed_loop", "block", "devices", "slots", "members")
        return ", ".join(f"{k}={lay[k]}" for k in keep if k in lay)
    return str(lay)


DESIGNS = {
    "actlab": "(a) actlab",
    "torch_loop": "(b) torch loop",
    "torch_vmap": "(c) torch func.vmap",
}


def table(res: dict) -> str:
    labels = {
        key: f"{label}, {res['designs'][key]['threads']} thr"
        if "threads" in res["designs"][key]
        else label
        for key, label in DESIGNS.items()
    }
    rows = design_table(res["designs"], labels)
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--acts", default=None, help=f"comma-separated activation names (default: {DEFAULT_ACTS})"
    )
    p.add_argument("--seeds", type=int, default=None, help="seeds per activation (default: 4)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per model (default: 200); model-steps/s is per step, so a shorter run "
        "extrapolates linearly",
    )
    p.add_argument(
        "--evals",
        type=int,
        default=None,
        help="(a): evaluation points (default: steps // E, at least 1, E the protocol's "
        "spacing, its steps / its evals: 50 at this writing)",
    )
    p.add_argument(
        "--host-devices",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="(a): split the CPU into N XLA host devices (actlab shards seeds over them when N "
        "divides the seeds), as the actlab command does; default: the usable cores; 0 leaves "
        "XLA_FLAGS as it is",
    )
    p.add_argument(
        "--torch-threads",
        default="2,1",
        help="(b), (c): torch.set_num_threads values to time, comma-separated; the fastest "
        "counts (2 threads wait on each other when the other core is busy)",
    )
    p.add_argument(
        "--torch-budget",
        type=float,
        default=None,
        help="(b), (c): at most this many seconds of timed steps per design and thread count, "
        "split evenly over the activations (and (b)'s models) (default: 300; --quick: 30)",
    )
    p.add_argument(
        "--torch-attention",
        choices=("auto", "sdpa", "explicit"),
        default="auto",
        help="(b), (c): PyTorch's attention: the fused F.scaled_dot_product_attention, or "
        "softmax(q k^T / sqrt(d)) written out as actlab's; auto: sdpa in (b), explicit in (c) "
        "(vmap has no batching rule for the fused CPU kernel)",
    )
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: relu,swiglu x 2 seeds x 20 steps (flags given explicitly win)",
    )
    p.add_argument("--json-only", action="store_true", help="print only the JSON line")
    p.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    args.acts = [a.strip() for a in (args.acts or base["acts"]).split(",") if a.strip()]
    args.seeds = args.seeds or base["seeds"]
    args.steps = args.steps or base["steps"]
    args.torch_threads = [int(t) for t in str(args.torch_threads).split(",") if t.strip()]
    if args.torch_budget is None:
        args.torch_budget = 30.0 if args.quick else 300.0

    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return

    log = (lambda *a: None) if args.json_only else (lambda *a: print(*a, flush=True))
    forward = [
        "--acts", ",".join(args.acts), "--seeds", str(args.seeds), "--steps", str(args.steps),
        "--torch-threads", ",".join(map(str, args.torch_threads)),
        "--torch-budget", str(args.torch_budget), "--torch-attention", args.torch_attention,
        *(["--evals", str(args.evals)] if args.evals else []),
    ]  # fmt: skip
    has_torch, torch_info, machine = machine_info(args.skip_torch)
    log(
        f"python {machine['python']}  jax {machine['jax']}  flax {machine['flax']}  optax "
        f"{machine['optax']}  torch {torch_info}\ncpus {machine['cpu_count']} (usable "
        f"{machine['cpus_usable']})  load average {os.getloadavg()[0]:.2f}"
    )
    log(
        f"workload: protocol {PROTOCOL}'s Transformer on fortunes, {len(args.acts)} activations "
        f"({', '.join(args.acts)}) x {args.seeds} seeds x {args.steps} steps"
    )
    designs: dict = {}
    check: dict = {"skipped": "--skip-torch" if args.skip_torch else f"torch: {torch_info}"}
    if has_torch:
        check = run_child(__file__, "check", forward, log)
    designs["actlab"] = run_child(__file__, "actlab", forward, log, args.host_devices)
    for key in ("torch_loop", "torch_vmap"):
        if has_torch:
            designs[key] = run_child(__file__, key, forward, log)
        else:
            why = "--skip-torch" if args.skip_torch else f"torch not importable: {torch_info}"
            designs[key] = {"skipped": why}
    if not has_torch and not args.skip_torch:
        log(f"(b), (c) PyTorch skipped: torch is not importable ({torch_info})")
    machine["device"] = designs["actlab"].get("device")
    machine["load_avg_end"] = os.getloadavg()

    rate = lambda key: designs[key].get("model_steps_per_s")
    a, loop, stacked = rate("actlab"), rate("torch_loop"), rate("torch_vmap")
    best_key = max((k for k in ("torch_loop", "torch_vmap") if rate(k)), key=rate, default=None)
    best = rate(best_key) if best_key else None
    ratio = lambda x, y: x / y if x and y else None
    a_d = designs["actlab"]
    res = {
        "benchmark": "transformer_throughput",
        "workload": {
            "protocol": PROTOCOL,
            "sizes": a_d.get("sizes") or check.get("sizes"),
            "vocab": a_d.get("vocab") or check.get("vocab"),
            "data": "actlab.data.fortunes(context=32), train split",
            "loss": "next-token cross-entropy, mean over batch and positions",
            "acts": args.acts,
            "seeds": args.seeds,
            "models": len(args.acts) * args.seeds,
            "steps": args.steps,
            "traced": a_d.get("traced"),
            "host_devices": args.host_devices,
            "torch_threads": args.torch_threads,
            "torch_budget_s": args.torch_budget,
        },
        "check": check,
        "designs": designs,
        "best_torch": best_key,
        "ratio_vs_torch": ratio(a, best),  # (a) model-steps/s / the faster of (b), (c)
        "ratios": {
            "actlab_vs_torch_loop": ratio(a, loop),
            "actlab_vs_torch_vmap": ratio(a, stacked),
            "actlab_vs_best_torch": ratio(a, best),
        },
        "targets": TARGETS,
        "met": {
            "vs_torch": None if ratio(a, best) is None else ratio(a, best) >= TARGETS["vs_torch"]
        },
        "machine": machine,
    }
    log("")
    log(f"device: {machine['device']}")
    if "sizes" in a_d:
        s = a_d["sizes"]
        log(
            f"model: width {s['width']}, {s['heads']} heads, {s['layers']} layers, d_ff "
            f"{s['d_ff']}, context {s['context']}, vocab {a_d['vocab']}; {s['optimizer']}, "
            f"batch {s['batch']}"
        )
    log(table(res))
    if "layout" in a_d:
        log(f"(a) layout: {layout_name(a_d)}")
    if "traced" in a_d:
        t = a_d["traced"]
        ex = t["examples"]
        log(
            f"(a) traced: {t['points']} points at steps {t['at_steps']} (every {t['eval_every']}; "
            f"the protocol's spacing {t['protocol_eval_every']}), test/train/census examples "
            f"{ex['test'][-1]}/{ex['train'][-1]}/{ex['census'][-1]}: {', '.join(t['names'])}"
        )
    for key in ("torch_loop", "torch_vmap"):
        d = designs[key]
        if "by_threads" not in d:
            continue
        label = DESIGNS[key][:3]
        log(
            f"{label} model-steps/s by torch.set_num_threads: "
            + ", ".join(f"{t} -> {v:.4g}" for t, v in d["by_threads"].items())
            + f" (the table uses {d['threads']}); by activation: "
            + ", ".join(f"{k} {v['model_steps_per_s']:.4g}" for k, v in d["by_act"].items())
        )
        if d["steps_timed"] < args.steps:
            log(f"{label} timed {d['steps_timed']} of {args.steps} steps per model (budget)")
    if "acts" in check:
        log(
            "check, parameters per model (actlab's study / torch; max |logit diff| with the "
            "same parameters): "
            + ", ".join(
                f"{k} {v['params_actlab']}/{v['params_torch']} ({v['max_logit_diff']:.1e})"
                for k, v in check["acts"].items()
            )
        )
    elif check.get("error") or check.get("skipped"):
        log(f"check: {check.get('error') or check.get('skipped')}")
    if "params" in a_d:
        log("(a) parameters per model (results.parameters): " + ", ".join(
            f"{k} {v}" for k, v in a_d["params"].items()
        ))  # fmt: skip
    losses = [("(a) final batch loss", a_d.get("final_batch_loss"))]
    losses += [(f"{DESIGNS[k][:3]} final loss", designs[k].get("final_loss")) for k in DESIGNS]
    for label, v in losses:
        if v:
            log(f"{label}: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items()))
    for k, v in res["ratios"].items():
        log(f"{k}: {fmt(v, '.2f')}x")
    log(
        f"target: (a) >= {TARGETS['vs_torch']:g}x the faster PyTorch design ({best_key}): "
        f"{res['met']['vs_torch']}"
    )
    log("")
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
