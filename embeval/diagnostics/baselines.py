"""Reference points: the value an output would have on an isotropic space of the same n, d and k.

A value such as ``uniformity -3.35`` means little alone; beside it the report shows the value of
the same output on points drawn uniformly on the unit sphere S^{d−1} (the isotropic reference):

- closed forms where they exist: uniformity of the uniform sphere (:func:`uniformity_sphere`),
  anisotropy 0 (E cos = 0), near-duplicates 0, a norm spread of 0 and full top-k agreement of
  cosine and inner product for unit vectors;
- otherwise a seeded simulation of the same n (capped at :data:`SIM_MAX_ROWS`), d and k, computed
  once and cached on disk as a small JSON file keyed by (n, d, k, seed) under
  ``$EMBEVAL_CACHE_DIR/baselines`` (default ``~/.cache/embeval/baselines``).

Output declarations point at these functions (``Output.baseline``); :func:`baseline_of` evaluates
one for a result.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SIM_MAX_ROWS = 5000  # simulations of larger n run at this many rows (hubness grows slowly with n)
SIM_VERSION = 1


def log_bessel_i(nu: float, x: float) -> float:
    """log I_ν(x) for x > 0 and ν ≥ 0, from the power series summed in log space, so it stays
    finite where I_ν(x) itself underflows (ν ≳ 250 at x = 4)."""
    from scipy.special import gammaln, logsumexp

    kk = np.arange(0, 400, dtype=np.float64)
    terms = (2 * kk + nu) * math.log(x / 2) - gammaln(kk + 1) - gammaln(kk + nu + 1)
    return float(logsumexp(terms))


def uniformity_sphere(d: int, t: float = 2.0) -> float:
    """log E exp(−t‖x − y‖²) for x, y independent and uniform on S^{d−1}:
    E = e^{−2t}·Γ(d/2)·(1/t)^{d/2−1}·I_{d/2−1}(2t), evaluated in log space (≈ −4 + 8/d at t = 2)."""
    if d < 2:
        raise ValueError("uniformity_sphere needs d >= 2")
    nu = d / 2 - 1
    return -2 * t + math.lgamma(d / 2) - nu * math.log(t) + log_bessel_i(nu, 2 * t)


def _cache_dir() -> Path:
    root = os.environ.get("EMBEVAL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "embeval")
    return Path(root) / "baselines"


def simulate(n: int, d: int, k: int = 10, seed: int = 0) -> dict[str, float]:
    """Statistics of min(n, SIM_MAX_ROWS) points uniform on S^{d−1} (seeded Gaussian rows,
    normalised), cached on disk. Keys: the output names they stand beside, plus ``n_sim``."""
    m = int(min(n, SIM_MAX_ROWS))
    k = int(min(k, m - 1))
    path = _cache_dir() / f"sphere-v{SIM_VERSION}-n{m}-d{d}-k{k}-s{seed}.json"
    try:
        return {key: float(v) for key, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError):
        pass
    stats = _simulate(m, d, k, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stats))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the baseline is recomputed next time
    return stats


def _simulate(m: int, d: int, k: int, seed: int) -> dict[str, float]:
    from embeval.compute import knn
    from embeval.diagnostics import measures

    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((m, d)).astype(np.float32)
    x = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    sims, idx = knn(x, k)
    occ = np.bincount(idx.ravel(), minlength=m)
    nn_dist = 1.0 - sims[:, 0].astype(np.float64)
    return {
        "n_sim": float(m),
        "hubness_skew": measures.skew(occ),
        "antihub_share": float(np.mean(occ == 0)),
        "hub_occurrence": float(np.mean((occ >= 2 * k)[idx])),
        "effective_rank": _rankme(x),
        "mam": float(np.mean(90.0 - np.degrees(np.arccos(np.clip(sims[:, 0], -1, 1))))),
        "outlier_share": measures.outlier_mask(nn_dist)[0].mean(),
        "relative_contrast": measures.relative_contrast(nn_dist, 0.0),
        "island_share": measures.islands(idx)[0],
        "rogue_dim_ratio": measures.rogue(x)[0],
        "norm_cv_gaussian": float(np.std(np.linalg.norm(raw, axis=1)) / np.mean(np.linalg.norm(raw, axis=1))),
    }


def _rankme(x: np.ndarray) -> float:
    """RankMe as ``geometry.effective_rank_value`` (Garrido et al. 2023)."""
    s = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    p = s / s.sum() + 1e-7
    return float(np.exp(-np.sum(p * np.log(p))))


def _sim(name: str):
    def value(n: int, d: int, params: Mapping[str, Any]) -> float | None:
        k = int(params.get("k", 10))
        return simulate(n, d, k, int(params.get("seed", 0))).get(name)

    value.__name__ = f"simulated_{name}"
    return value


def _const(v: float):
    def value(n: int, d: int, params: Mapping[str, Any]) -> float | None:
        return v

    value.__name__ = f"constant_{v:g}"
    return value


def _uniformity(n: int, d: int, params: Mapping[str, Any]) -> float | None:
    return uniformity_sphere(d, float(params.get("t", 2.0))) if d >= 2 else None


# What each output's baseline is (the declarations in the family modules point here).
UNIFORMITY = _uniformity
ZERO = _const(0.0)
ONE = _const(1.0)
HUBNESS_SKEW = _sim("hubness_skew")
ANTIHUB_SHARE = _sim("antihub_share")
HUB_OCCURRENCE = _sim("hub_occurrence")
EFFECTIVE_RANK = _sim("effective_rank")
MAM = _sim("mam")
OUTLIER_SHARE = _sim("outlier_share")
RELATIVE_CONTRAST = _sim("relative_contrast")
ISLAND_SHARE = _sim("island_share")
ROGUE_DIM_RATIO = _sim("rogue_dim_ratio")


def baseline_of(metric: str, params: Mapping[str, Any], n: int, d: int, output: Any = None) -> float | None:
    """The isotropic reference for a reported metric, or None when its output declares none.
    ``output``: the declaration, for outputs no registered diagnostic reports (query findings)."""
    from embeval.diagnostics.registry import declared_output

    out = output or declared_output(metric)
    if out is None or out.baseline is None or n < 3 or d < 2:
        return None
    if out.name == "mam" and params.get("mode", "nn") != "nn":
        return None
    return out.baseline(n, d, params)


# Outputs computed on a kNN graph within a row subset when estimated: their baseline is that subset's.
SUBSET_GRAPH = ("island_share",)


def attach_baselines(results: list, n: int, d: int, seed: int = 0, *, unit: bool = True) -> None:
    """Set ``baseline`` on each result whose output declares one; none unless the results were
    computed on unit rows (``unit``)."""
    if not unit:
        return
    for r in results:
        m = n
        if r.params.get("exact") is False and r.metric in SUBSET_GRAPH and r.params.get("sample"):
            m = int(r.params["sample"])
        r.baseline = baseline_of(r.metric, {**r.params, "seed": seed}, m, d)
