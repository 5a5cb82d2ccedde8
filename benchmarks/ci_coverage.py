"""Coverage of actlab.stats.summarize's 95 % CI of the mean, by simulation: the share of
intervals that hold the true mean, per method, sample size and distribution. Prints one JSON
line per cell (replicates, coverage, Monte-Carlo standard error).

    python benchmarks/ci_coverage.py [--replicates 4000] [--bca-replicates 300]

tests/test_stats.py asserts the default (Student t) reaches the issue's floors (0.93 normal,
0.90 lognormal(0, 0.5) at n = 5 and 10); this script prints the figures behind it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from actlab import stats  # noqa: E402

DRAWS = {
    "normal": (lambda rng, size: rng.normal(0.0, 1.0, size), 0.0),
    "lognormal(0, 0.5)": (lambda rng, size: rng.lognormal(0.0, 0.5, size), math.exp(0.125)),
}


def coverage(method: str, draw, mean: float, n: int, reps: int, seed: int) -> dict:
    x = draw(np.random.default_rng(seed), (reps, n))
    kw = {"n_resamples": 1000} if method != "t" else {}
    t = stats.summarize(x, [str(i) for i in range(reps)], method=method, **kw)
    hit = float(((t.ci_low <= mean) & (mean <= t.ci_high)).mean())
    return {"coverage": round(hit, 4), "mc_se": round(math.sqrt(hit * (1 - hit) / reps), 4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=4000)
    p.add_argument("--bca-replicates", type=int, default=300)
    args = p.parse_args(argv)
    for name, (draw, mean) in DRAWS.items():
        for n in (5, 10, 20):
            for method, reps in (("t", args.replicates), ("BCa", args.bca_replicates)):
                row = {"data": name, "n": n, "method": method, "replicates": reps}
                print(json.dumps(row | coverage(method, draw, mean, n, reps, seed=n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
