"""What evaluation costs in a user-facing run (issue 14): ``actlab run mlp_four_activations
--epochs 1`` at its default schedule against the same study with evaluation cut to almost
nothing, in the same process, one after the other.

(a) the protocol as ``actlab run`` builds it: 6 evaluation points, the points before the last
    on ``curve_examples`` (2000) test and ``train_eval_examples`` (2000) training examples and
    the unit census, the last point on the whole test split (10 000);
(b) the same models and steps with one evaluation point (the last) on 1 example of each
    split: the training alone, to within one tiny evaluation.

Evaluation share = 1 - train_s(b) / train_s(a), where ``train_s`` is ``Run.timing["train_s"]``
(init, the step-0 record, every step and evaluation; compilation excluded). Both designs
train the very same models (same keys, same minibatches: evaluation reads no random numbers),
which the JSON checks by their final parameters. The last stdout line is one JSON object
``{"benchmark": "eval_share", ...}``.

    python benchmarks/eval_share.py                  # 6 acts x 4 seeds, 1 epoch (~3 min)
    python benchmarks/eval_share.py --seeds 20       # the protocol's 20 seeds
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import numpy as np
from _shared import machine_info

from actlab import protocols, runtime

TARGET = 0.25  # evaluation at most this share of the run's time


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--json-only", action="store_true")
    args = p.parse_args(argv)
    log = (lambda *a: None) if args.json_only else print
    runtime.use_host_devices()  # as the actlab command does
    _, _, machine = machine_info(skip_torch=True)

    study = protocols.get("mlp_four_activations").build(
        protocols.Overrides(seeds=args.seeds, epochs=args.epochs)
    )
    bare = study.replace(evals=1, curve_examples=None, eval_examples=1, train_eval_examples=1)
    runs, params = {}, {}
    for name, s in (("default", study), ("bare", bare)):
        log(f"... {name}: {len(s.activations)} acts x {s.seeds} seeds, {s.num_steps} steps")
        r = s.run()
        runs[name] = dict(r.timing, evals=len(r.steps))
        params[name] = jax.tree.leaves([st.params for st in r.states])
        log(f"    compile {r.timing['compile_s']:.1f} s, train {r.timing['train_s']:.1f} s")
    same = all(np.array_equal(a, b) for a, b in zip(params["default"], params["bare"]))
    share = 1 - runs["bare"]["train_s"] / runs["default"]["train_s"]
    machine["load_avg_end"] = os.getloadavg()
    out = {
        "benchmark": "eval_share",
        "workload": {
            "experiment": "mlp_four_activations",
            "activations": list(study.activations),
            "seeds": study.seeds,
            "steps": study.num_steps,
            "curve_examples": study.curve_examples,
            "train_eval_examples": study.train_eval_examples,
            "final_test_examples": int(study.data.x_test.shape[0]),
        },
        "designs": runs,
        "eval_share": share,
        "same_models": same,
        "target": TARGET,
        "met": bool(share <= TARGET),
        "machine": machine,
    }
    log(f"evaluation: {share:.1%} of the run's training time (target <= {TARGET:.0%})")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
