"""Error rates of the drift tests (embeval.diagnostics.drift) over seeds: how often each test
rejects "same distribution" when it is true (false-positive rate) and when it is not (power).

  python bench/bench_drift.py [--seeds 200] [--n-perm 200] [--clip PATH] [--only TEXT]

Cases, each run once per seed (seed s draws the split/sample and seeds the test):
- gaussian δ: two clouds of n = 60 rows, d = 8, N(0, I) vs N(δ·e₁, I); δ = 0 is the null.
- clip halves: a random half-split of the 500 CLIP ViT-B/16 image (caption) features (250 vs 250):
  the null on real data.
- clip image vs text: 100 images vs 100 captions drawn per seed: must always be detected.
Prints the rejection rate at α = 0.05 and 0.01, with a 95% Clopper–Pearson interval.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embeval.diagnostics import drift  # noqa: E402
from embeval.diagnostics.space import l2_normalize  # noqa: E402

CLIP = ROOT.parent / "shared" / "data" / "clip_pairs" / "mind_the_gap" / "features_clip.npy"


def interval(k: int, n: int) -> str:
    from scipy.stats import beta

    lo = beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return f"{k / n:6.3f} [{lo:.3f}, {hi:.3f}]"


ONLY = ""


def run(name: str, pairs, n_perm: int) -> None:
    if ONLY not in name:
        return
    t0 = time.perf_counter()
    p_mmd, p_c2 = [], []
    for x, y, s in pairs:
        p_mmd.append(drift.mmd_test(x, y, seed=s, n_perm=n_perm)["p_value"])
        p_c2.append(drift.classifier_test(x, y, seed=s)["p_value"])
    n = len(pairs)
    for test, ps in (("mmd", np.array(p_mmd)), ("c2st", np.array(p_c2))):
        print(
            f"{name:<26} {test:<5} seeds={n:<4} reject@0.05 {interval(int(np.sum(ps < 0.05)), n)}   "
            f"reject@0.01 {interval(int(np.sum(ps < 0.01)), n)}"
        )
    print(f"{'':<26} ({time.perf_counter() - t0:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--n-perm", type=int, default=200)
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this text")
    args = ap.parse_args()
    global ONLY
    ONLY = args.only
    d, n = 8, 60
    clouds = []
    for s in range(args.seeds):
        rng = np.random.default_rng(1000 + s)
        clouds.append((rng.normal(size=(n, d)), rng.normal(size=(n, d)), s))
    for delta in (0.0, 0.5, 1.0, 1.5, 2.0):
        run(f"gaussian δ={delta:g}", [(x, y + delta * np.eye(d)[0], s) for x, y, s in clouds], args.n_perm)
    if not args.clip.exists():
        print(f"no CLIP features at {args.clip}; skipped the real-data cases")
        return
    f = np.load(args.clip)
    img, txt = l2_normalize(f[0]), l2_normalize(f[1])
    for name, x in (("clip image halves", img), ("clip caption halves", txt)):
        pairs = []
        for s in range(args.seeds):
            perm = np.random.default_rng(100 + s).permutation(len(x))
            pairs.append((x[perm[: len(x) // 2]], x[perm[len(x) // 2 :]], s))
        run(name, pairs, args.n_perm)
    pairs = []
    for s in range(args.seeds):
        rng = np.random.default_rng(s)
        pairs.append((img[rng.choice(len(img), 100, replace=False)], txt[rng.choice(len(txt), 100, replace=False)], s))
    run("clip image vs text (100)", pairs, args.n_perm)


if __name__ == "__main__":
    main()
