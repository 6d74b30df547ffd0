"""The check battery every diagnostic × provider passes (in the spirit of scikit-learn's
``parametrize_with_checks``): a new diagnostic or a new provider gets it with no new test code,
and a third party can run it on theirs.

The checks (each a function ``check_NAME(diag, provider)`` that raises ``AssertionError``):

- ``declared_outputs``: the provider produces results, each a declared output of the diagnostic
  with the declaration's direction and identity (its identifying parameters a subset of the
  declared ones), a finite value, and every declared output at least once;
- ``deterministic``: two runs on the same data with the same seed give the same values, exactly;
- ``row_order`` (local provider, diagnostics declared ``order_invariant``): permuting the rows of
  the input (every row-aligned array with it) changes no value beyond float summation order
  (rel 1e-4, abs 1e-5);
- ``equals_local`` (every provider but ``local``): on the same data, sharded (uneven shards, one of
  a single row) and computed on a Dask ``LocalCluster(processes=False)``, every value equals the
  local provider's within float32 resolution (rel 1e-6, abs 1e-9), with the same names, parameters
  and counts;
- ``torch_equals_numpy`` (local provider, families whose context takes a compute back end): the
  torch back end on CPU tensors equals the NumPy back end within the bound the compute layer
  documents (:func:`embeval.compute.dot_error_bound`: 16 ε₃₂ absolute, 1e-5 relative), skipped
  when torch is not installed.

Use::

    from embeval.testing import check_diagnostic
    check_diagnostic(get("uniformity"), "dask")       # every check of one pair

    # in a test module (pytest is imported only here)
    from embeval.testing import parametrize_with_checks

    @parametrize_with_checks()
    def test_battery(diag, provider, check):
        check(diag, provider)

The data each family is checked on is a :class:`Fixture` in :data:`FIXTURES` (small seeded arrays:
every check together runs in seconds); a new family adds one there, and a new provider adds a
``contexts`` entry to the fixtures of the families it serves.
"""

from __future__ import annotations

import atexit
import itertools
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import embeval.diagnostics
import embeval.distributed  # noqa: F401  (registers the dask provider)
from embeval.diagnostics.registry import LOCAL, Diagnostic, all_diagnostics, compute, provides
from embeval.results import Result

Data = dict[str, Any]


# ----------------------------------------------------------------------------- data per family


def _clustered(rng, n: int = 120, d: int = 12, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((classes, d)) * 3
    y = np.repeat(np.arange(classes), n // classes)
    return (centres[y] + rng.standard_normal((n, d))).astype(np.float32), y


def _space_data(seed: int) -> Data:
    rng = np.random.default_rng(seed)
    x, y = _clustered(rng)
    pairs = (x[::-1] + 0.5 * rng.standard_normal(x.shape)).astype(np.float32)
    return {"x": x, "pairs": pairs, "labels": np.array([f"c{v}" for v in y])}


def _gap_data(seed: int) -> Data:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((60, 8)).astype(np.float32) + 0.5
    return {"a": a, "b": (a + rng.standard_normal((60, 8))).astype(np.float32)}


def _pairs_data(seed: int) -> Data:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((50, 12)).astype(np.float32)
    return {"a": a, "b": a + rng.standard_normal((50, 12)).astype(np.float32), "gold": rng.uniform(0, 5, 50)}


def _retrieval_data(seed: int) -> Data:
    rng = np.random.default_rng(seed)
    corpus = rng.standard_normal((80, 8)).astype(np.float32)
    queries = (corpus[:20] + 0.6 * rng.standard_normal((20, 8))).astype(np.float32)
    qrels = {f"q{i}": {str(i): 2, str((7 * i + 3) % 80): 1} for i in range(20)}
    return {"queries": queries, "query_ids": [f"q{i}" for i in range(20)], "corpus": corpus, "qrels": qrels}


def _diff_data(seed: int) -> Data:
    rng = np.random.default_rng(seed)
    old = rng.standard_normal((120, 8)).astype(np.float32)
    new = (np.hstack([old, old[:, :2]]) + 0.3 * rng.standard_normal((120, 10))).astype(np.float32)
    q_old = (old[:20] + 0.3 * rng.standard_normal((20, 8))).astype(np.float32)
    q_new = (new[:20] + 0.3 * rng.standard_normal((20, 10))).astype(np.float32)
    qrels = {f"q{i}": {str(i): 1, str(i + 1): 1} for i in range(20)}
    return {"old": old, "new": new, "queries_old": q_old, "queries_new": q_new, "qrels": qrels}


def _permute_diff(data: Data, perm: np.ndarray) -> Data:
    """The items in another order (both sides together), each keeping its id; the queries as they are."""
    new_id = {str(old): str(new) for new, old in enumerate(perm)}
    qrels = {q: {new_id[d]: g for d, g in rel.items()} for q, rel in data["qrels"].items()}
    return {**data, "old": data["old"][perm], "new": data["new"][perm], "qrels": qrels}


def _permute_rows(keys: tuple[str, ...]) -> Callable[[Data, np.ndarray], Data]:
    def permute(data: Data, perm: np.ndarray) -> Data:
        return {k: (v[perm] if k in keys else v) for k, v in data.items()}

    return permute


def _permute_retrieval(data: Data, perm: np.ndarray) -> Data:
    """The corpus rows in another order, each document keeping its id; the queries reversed."""
    corpus = data["corpus"]
    new_id = {str(old): str(new) for new, old in enumerate(perm)}
    qrels = {q: {new_id[d]: g for d, g in rel.items()} for q, rel in data["qrels"].items()}
    return {
        "queries": data["queries"][::-1].copy(),
        "query_ids": data["query_ids"][::-1],
        "corpus": corpus[perm],
        "qrels": qrels,
    }


def _local_space(data: Data, diag: Diagnostic, backend: Any = None) -> Any:
    from embeval.diagnostics.space import Space

    return Space.build(data["x"], pairs=data["pairs"], labels=data["labels"], seed=0, backend=backend)


def _local_gap(data: Data, diag: Diagnostic, backend: Any = None) -> Any:
    from embeval.diagnostics.gap import GapSpace

    return GapSpace.build(data["a"], data["b"], paired=True, seed=0, backend=backend)


def _local_diff(data: Data, diag: Diagnostic, backend: Any = None) -> Any:
    from embeval.diagnostics.diff import DiffSpace
    from embeval.diagnostics.qrels import align_qrels

    ids = np.arange(len(data["old"])).astype(str)
    aligned = align_qrels(data["qrels"], [f"q{i}" for i in range(len(data["queries_old"]))], ids)
    return DiffSpace.build(
        data["old"],
        data["new"],
        queries_old=data["queries_old"],
        queries_new=data["queries_new"],
        aligned=aligned,
        backend=backend,
    )


def _local_pairs(data: Data, diag: Diagnostic, backend: Any = None) -> Any:
    from embeval.diagnostics.pairs import PairSet
    from embeval.diagnostics.space import l2_normalize

    return PairSet(l2_normalize(data["a"]), l2_normalize(data["b"]), data["gold"])


def _local_retrieval(data: Data, diag: Diagnostic, backend: Any = None) -> Any:
    from embeval.diagnostics.qrels import align_qrels
    from embeval.diagnostics.retrieval import RetrievalRun
    from embeval.diagnostics.space import l2_normalize
    from embeval.index.search import resolve_params

    corpus = l2_normalize(data["corpus"])
    ids = np.arange(len(corpus)).astype(str)
    aligned = align_qrels(data["qrels"], data["query_ids"], ids)
    index = "hnsw" if diag.name == "ann_recall" else "flat"  # ann_recall measures an approximate index
    return RetrievalRun(
        queries=l2_normalize(data["queries"])[aligned.query_rows],
        corpus=corpus,
        aligned=aligned,
        depth=10,
        index=index,
        index_params=resolve_params(index, len(corpus), None),
        seed=0,
    )


# ----------------------------------------------------------------------------- the Dask provider's contexts

CUTS = (0.0, 1 / 3, 0.34, 1.0)  # shard boundaries as fractions of the rows: uneven, one tiny shard


def _shards(root: Path, name: str, x: np.ndarray) -> Any:
    from embeval.io.shards import scan_shards

    folder = root / name
    folder.mkdir()
    n = len(x)
    bounds = sorted({round(f * n) for f in CUTS} | {n})
    for i, (s, e) in enumerate(itertools.pairwise(bounds)):
        np.save(folder / f"part{i:02d}.npy", x[s:e])
    return scan_shards(folder)


_CLIENT: list[Any] = []


def dask_client() -> Any:
    """One in-process Dask cluster (``LocalCluster(processes=False)``, 2 workers of one thread) for
    the whole session, closed at exit."""
    if not _CLIENT:
        import dask
        import distributed

        with dask.config.set({"distributed.admin.system-monitor.gil.enabled": False}):
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=50
            )
        client = distributed.Client(cluster)
        _CLIENT.append(client)

        def close() -> None:
            client.close()
            cluster.close()

        atexit.register(close)
    return _CLIENT[0]


def _dask_space(data: Data, diag: Diagnostic, root: Path) -> Any:
    from embeval.distributed.geometry import GeometryRun, ShardedSpace

    client = dask_client()
    sharded = _shards(root, "x", data["x"])
    pairs = _shards(root, "pairs", data["pairs"])
    space = ShardedSpace(client, sharded, seed=0, labels=data["labels"])
    return GeometryRun(client, sharded, space, pairs, seed=0)


def _dask_gap(data: Data, diag: Diagnostic, root: Path) -> Any:
    from embeval.distributed.gap import GapRun

    return GapRun(dask_client(), _shards(root, "a", data["a"]), _shards(root, "b", data["b"]), paired=True)


def _dask_retrieval(data: Data, diag: Diagnostic, root: Path) -> Any:
    from embeval.distributed.retrieval import cluster_run

    corpus = _shards(root, "corpus", data["corpus"])
    return cluster_run(dask_client(), data["queries"], np.asarray(data["query_ids"]), corpus, data["qrels"], depth=10)


# ----------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Fixture:
    """The data a family's diagnostics are checked on.

    data:     seed -> the family's arrays (small: the whole battery runs in seconds);
    permute:  (data, permutation of the rows) -> the same data in another row order;
    local:    (data, diag, backend) -> the local provider's context (``backend``: a compute back end);
    contexts: provider -> (data, diag, scratch folder) -> that provider's context on the same data;
    backend:  whether the local context takes a compute back end (the torch check applies).
    """

    data: Callable[[int], Data]
    permute: Callable[[Data, np.ndarray], Data]
    local: Callable[..., Any]
    contexts: dict[str, Callable[[Data, Diagnostic, Path], Any]] = field(default_factory=dict)
    backend: bool = False
    rows: str = "x"  # the key whose length is the number of rows to permute


FIXTURES: dict[str, Fixture] = {
    "geometry": Fixture(
        _space_data, _permute_rows(("x", "pairs", "labels")), _local_space, {"dask": _dask_space}, backend=True
    ),
    "labels": Fixture(
        _space_data, _permute_rows(("x", "pairs", "labels")), _local_space, {"dask": _dask_space}, backend=True
    ),
    "gap": Fixture(_gap_data, _permute_rows(("a", "b")), _local_gap, {"dask": _dask_gap}, backend=True, rows="a"),
    "drift": Fixture(_gap_data, _permute_rows(("a", "b")), _local_gap, backend=True, rows="a"),
    "pairs": Fixture(_pairs_data, _permute_rows(("a", "b", "gold")), _local_pairs, rows="a"),
    "retrieval": Fixture(
        _retrieval_data, _permute_retrieval, _local_retrieval, {"dask": _dask_retrieval}, rows="corpus"
    ),
    "diff": Fixture(_diff_data, _permute_diff, _local_diff, backend=True, rows="old"),
}


def fixture(diag: Diagnostic) -> Fixture:
    try:
        return FIXTURES[diag.family]
    except KeyError:
        raise AssertionError(f"family {diag.family!r} has no fixture in embeval.testing.FIXTURES") from None


def run(
    diag: Diagnostic, provider: str = LOCAL, *, seed: int = 0, perm: bool = False, backend: Any = None
) -> list[Result]:
    """``diag``'s results (default parameters) computed by ``provider`` on its family's data made
    from ``seed``; ``perm``: the rows in a seeded random order; ``backend``: the local context's
    compute back end."""
    fx = fixture(diag)
    data = fx.data(seed)
    if perm:
        data = fx.permute(data, np.random.default_rng(seed + 1).permutation(len(data[fx.rows])))
    if provider == LOCAL:
        return compute(diag, fx.local(data, diag, backend), diag.defaults())
    if provider not in fx.contexts:
        raise AssertionError(
            f"provider {provider!r} serves {diag.name} but has no context in FIXTURES[{diag.family!r}]"
        )
    with tempfile.TemporaryDirectory(prefix="embeval-check-") as tmp:
        return compute(diag, fx.contexts[provider](data, diag, Path(tmp)), diag.defaults(), provider)


def _check(ok: Any, message: str) -> None:
    """A failed check raises AssertionError, as pytest expects, even under ``python -O`` (where an
    ``assert`` statement would vanish and every check would pass)."""
    if not ok:
        raise AssertionError(message)


def _by_label(results: list[Result]) -> dict[str, Result]:
    out = {r.label(): r for r in results}
    _check(len(out) == len(results), f"two results share a label: {[r.label() for r in results]}")
    return out


def _close(a: float, b: float, rel: float, abs_: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def _assert_same_values(want: list[Result], got: list[Result], rel: float, abs_: float, what: str) -> None:
    w, g = _by_label(want), _by_label(got)
    _check(w, f"{what}: nothing to compare")
    _check(set(w) == set(g), f"{what}: results differ: {sorted(set(w) ^ set(g))}")
    for key, r in w.items():
        _check(_close(r.value, g[key].value, rel, abs_), f"{what}: {key} = {r.value!r} vs {g[key].value!r}")


# ----------------------------------------------------------------------------- the checks


def check_declared_outputs(diag: Diagnostic, provider: str = LOCAL) -> None:
    results = run(diag, provider)
    _check(results, f"{diag.name} ({provider}) produced nothing")
    produced = set()
    for r in results:
        out = diag.output(r.metric)
        if out is None:
            raise AssertionError(f"{diag.name} ({provider}) produced the undeclared output {r.metric}")
        _check(r.higher_is_better is out.higher_is_better, f"{r.metric}: direction not the declaration's")
        _check(r.identity == out.identity, f"{r.metric}: identity not the declaration's")
        _check(set(r.key_params) <= set(out.identity), r.metric)
        _check(np.isfinite(r.value), f"{r.metric} = {r.value}")
        produced.add(out.name)
    missing = set(diag.output_names) - produced
    _check(not missing, f"{diag.name} ({provider}) declares but never produced {sorted(missing)}")


def check_deterministic(diag: Diagnostic, provider: str = LOCAL) -> None:
    first = [(r.label(), r.value) for r in run(diag, provider, seed=1)]
    again = [(r.label(), r.value) for r in run(diag, provider, seed=1)]
    _check(first, f"{diag.name} ({provider}) produced nothing")
    _check(first == again, f"{diag.name} ({provider}) is not deterministic given the seed")


def check_row_order(diag: Diagnostic, provider: str = LOCAL) -> None:
    _assert_same_values(run(diag, provider), run(diag, provider, perm=True), 1e-4, 1e-5, f"{diag.name} rows permuted")


def check_equals_local(diag: Diagnostic, provider: str) -> None:
    want, got = run(diag, LOCAL), run(diag, provider)
    _assert_same_values(want, got, 1e-6, 1e-9, f"{diag.name}: {provider} vs local")
    w, g = _by_label(want), _by_label(got)
    for key, r in w.items():
        _check(
            (r.params, r.n) == (g[key].params, g[key].n),
            f"{key}: params/n {r.params, r.n} vs {g[key].params, g[key].n}",
        )


def check_torch_equals_numpy(diag: Diagnostic, provider: str = LOCAL) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return  # nothing to compare without torch
    from embeval.compute import dot_error_bound, get_backend

    bound = 8 * 2.0 * dot_error_bound(32) + 1e-9
    want = run(diag, provider, backend=get_backend("cpu", engine="numpy"))
    got = run(diag, provider, backend=get_backend("cpu", engine="torch"))
    _assert_same_values(want, got, 1e-5, bound, f"{diag.name}: torch (CPU tensors) vs NumPy")


Check = Callable[[Diagnostic, str], None]


def checks(diag: Diagnostic, provider: str = LOCAL) -> Iterator[Check]:
    """The checks that apply to ``diag`` computed by ``provider``."""
    yield check_declared_outputs
    yield check_deterministic
    if provider == LOCAL:
        if diag.order_invariant:
            yield check_row_order
        if fixture(diag).backend:
            yield check_torch_equals_numpy
    else:
        yield check_equals_local


def check_diagnostic(diag: Diagnostic, provider: str = LOCAL) -> None:
    """Run every check that applies to ``diag`` × ``provider``; AssertionError on the first failure."""
    if not provides(provider, diag.name):
        raise AssertionError(f"provider {provider!r} does not compute {diag.name}")
    for check in checks(diag, provider):
        check(diag, provider)


def cases(diagnostics: list[Diagnostic] | None = None) -> list[tuple[Diagnostic, str, Check]]:
    """(diagnostic, provider, check) for every registered diagnostic (or those given) × every
    provider that computes it × every check that applies."""
    return [
        (d, p, c)
        for d in (all_diagnostics() if diagnostics is None else diagnostics)
        for p in d.providers
        for c in checks(d, p)
    ]


def parametrize_with_checks(diagnostics: list[Diagnostic] | None = None):
    """A ``pytest.mark.parametrize("diag, provider, check", ...)`` over :func:`cases`, each case
    named ``DIAGNOSTIC-PROVIDER-CHECK``. The only place this module uses pytest."""
    import pytest

    all_cases = cases(diagnostics)
    ids = [f"{d.name}-{p}-{c.__name__.removeprefix('check_')}" for d, p, c in all_cases]
    return pytest.mark.parametrize("diag, provider, check", all_cases, ids=ids)
