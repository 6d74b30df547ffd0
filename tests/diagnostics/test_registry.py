"""One common test over the whole registry (sklearn's ``metrics/tests/test_common.py`` pattern):
every diagnostic of every family, run on a small context of its family, must produce only declared
outputs, with the declaration's direction and identity, finite and reproducible; every declared
output must be produced; and every family must have a context here ("we shouldn't forget any")."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.diagnostics import families
from embeval.diagnostics.registry import all_diagnostics, get, parse_spec, split_specs
from embeval.diagnostics.space import Space
from embeval.errors import UsageError

GEOMETRY = [d for d in all_diagnostics("geometry")]


def _geometry_context(rng):
    x = rng.standard_normal((120, 12)).astype(np.float32)
    return Space.build(x, pairs=x[::-1].copy() + 0.1, seed=0)


def _labels_context(rng):
    centres = rng.standard_normal((4, 12)) * 3
    y = np.repeat(np.arange(4), 30)
    x = (centres[y] + rng.standard_normal((120, 12))).astype(np.float32)
    return Space.build(x, labels=y.astype(str), seed=0)


def _pairs_context(rng):
    from embeval.diagnostics.pairs import PairSet
    from embeval.diagnostics.space import l2_normalize

    a = rng.standard_normal((50, 12)).astype(np.float32)
    b = a + rng.standard_normal((50, 12)).astype(np.float32)
    return PairSet(l2_normalize(a), l2_normalize(b), rng.uniform(0, 5, 50))


def _gap_context(rng):
    from embeval.diagnostics.gap import GapSpace

    a = rng.standard_normal((60, 8)).astype(np.float32) + 0.5
    b = rng.standard_normal((60, 8)).astype(np.float32)
    return GapSpace.build(a, b, paired=True, seed=0)


def _retrieval_context(rng, index="flat"):
    from embeval.diagnostics.retrieval import RetrievalRun, align_qrels
    from embeval.diagnostics.space import l2_normalize
    from embeval.index.search import resolve_params

    corpus = l2_normalize(rng.standard_normal((80, 8)).astype(np.float32))
    queries = l2_normalize(corpus[:20] + 0.3 * rng.standard_normal((20, 8)).astype(np.float32))
    qids, dids = [f"q{i}" for i in range(20)], [f"d{i}" for i in range(80)]
    qrels = {f"q{i}": {f"d{i}": 1, f"d{(i + 1) % 80}": 2} for i in range(20)}
    aligned = align_qrels(qrels, qids, dids)
    return RetrievalRun(queries=queries[aligned.query_rows], corpus=corpus, aligned=aligned, depth=10, index=index,
                        index_params=resolve_params(index, 80, None), seed=0)


CONTEXTS = {"geometry": _geometry_context, "labels": _labels_context, "pairs": _pairs_context,
            "gap": _gap_context, "retrieval": _retrieval_context, "drift": _gap_context}
# Diagnostics whose defaults produce nothing in the family's plain context, and the context that does.
SPECIAL = {"ann_recall": lambda rng: _retrieval_context(rng, index="hnsw")}
ALL = all_diagnostics()


def _context(diag, rng):
    return (SPECIAL.get(diag.name) or CONTEXTS[diag.family])(rng)


def test_every_family_has_a_context():
    """Completeness: a new family must come with a context here, or the common test skips it."""
    assert set(families()) == set(CONTEXTS)
    assert len(ALL) >= 30


@pytest.mark.parametrize("diag", ALL, ids=lambda d: d.name)
def test_outputs_declared_directions_identities_and_completeness(diag):
    results = diag.func(_context(diag, np.random.default_rng(0)), **diag.defaults())
    assert results, f"{diag.name} produced nothing"
    produced = set()
    for r in results:
        out = diag.output(r.metric)
        assert out is not None, f"{diag.name} produced the undeclared output {r.metric}"
        assert r.higher_is_better is out.higher_is_better, r.metric
        assert r.identity == out.identity, r.metric
        assert set(r.key_params) <= set(out.identity)
        assert np.isfinite(r.value), r.metric
        produced.add(out.name)
    assert produced == set(diag.output_names), f"declared but never produced: {set(diag.output_names) - produced}"


@pytest.mark.parametrize("diag", ALL, ids=lambda d: d.name)
def test_deterministic_given_the_seed(diag):
    first = [(r.metric, r.value) for r in diag.func(_context(diag, np.random.default_rng(1)), **diag.defaults())]
    again = [(r.metric, r.value) for r in diag.func(_context(diag, np.random.default_rng(1)), **diag.defaults())]
    assert first == again


@pytest.mark.parametrize("diag", ALL, ids=lambda d: d.name)
def test_every_parameter_is_data_with_a_help_text(diag):
    for name, p in diag.params.items():
        assert p.help and (p.default is None or isinstance(p.default, p.type)), name
        assert set(diag.defaults()) == set(diag.params)


def _run(diag, x, pairs=None, seed=0):
    sp = Space.build(x, pairs=pairs, seed=seed)
    return {r.metric: r.value for r in diag.func(sp, **diag.defaults())}


@pytest.mark.parametrize("diag", GEOMETRY, ids=lambda d: d.name)
def test_permutation_invariance(diag, gauss, rng):
    pairs = np.roll(gauss, 1, axis=1) + 0.1
    perm = rng.permutation(len(gauss))
    a = _run(diag, gauss, pairs)
    b = _run(diag, gauss[perm], pairs[perm])
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k


@pytest.mark.parametrize("diag", GEOMETRY, ids=lambda d: d.name)
def test_scale_invariance_under_normalisation(diag, gauss, rng):
    from embeval.diagnostics.hygiene import READS_RAW

    if diag.name in READS_RAW:
        pytest.skip("reads the raw vectors: rescaling rows is what it measures")
    pairs = gauss[::-1].copy()
    scales = rng.uniform(0.1, 10, size=(len(gauss), 1)).astype(np.float32)
    a = _run(diag, gauss, pairs)
    b = _run(diag, gauss * scales, pairs * scales[::-1])
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k


def test_nan_input_is_rejected_by_validation(tmp_path, gauss):
    from embeval.errors import InputError
    from embeval.io.embeddings import load_embeddings

    gauss[3, 2] = np.nan
    np.save(tmp_path / "x.npy", gauss)
    with pytest.raises(InputError, match="row 3"):
        load_embeddings(tmp_path / "x.npy")


def test_registry_refuses_duplicates():
    from embeval.diagnostics.registry import register

    with pytest.raises(ValueError):
        register(get("uniformity"))


def test_unknown_metric_suggests():
    with pytest.raises(UsageError, match="did you mean uniformity"):
        get("uniformty")


def test_parse_spec_params_and_errors():
    diag, params = parse_spec("hubness(k=5)")
    assert diag.name == "hubness" and params["k"] == 5 and params["hub_size"] == 2.0
    assert parse_spec("mam(mode=pairwise)")[1] == {"mode": "pairwise"}
    with pytest.raises(UsageError, match="choose one of"):
        parse_spec("mam(mode=sideways)")
    with pytest.raises(UsageError, match="unknown parameter"):
        parse_spec("hubness(q=1)")
    with pytest.raises(UsageError, match="expected int"):
        parse_spec("hubness(k=ten)")
    assert get("hubness_skew").name == "hubness"


def test_split_specs_respects_parentheses():
    assert split_specs("a, b(k=1,t=2),c") == ["a", "b(k=1,t=2)", "c"]


@pytest.mark.parametrize("spec, fragment", [
    ("uniformity(t=0)", "must be > 0"), ("uniformity(t=nan)", "finite"), ("uniformity(sample=-5)", "≥ 0"),
    ("hubness(k=0)", "≥ 1"), ("alignment(alpha=-1)", "> 0"),
])
def test_parameter_ranges_are_checked(spec, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_spec(spec)


def test_list_parameter_keeps_its_commas():
    _, params = parse_spec("paired_retrieval(ks=1,50)", "gap")
    assert params["ks"] == "1,50"
    _, params = parse_spec("gap_shift(ks=1,5,10, lam=0.5)", "gap")
    assert params == {"ks": "1,5,10", "lam": 0.5}


def test_normalisation_survives_huge_and_tiny_values(gauss):
    from embeval.diagnostics.geometry import anisotropy_value

    ref = anisotropy_value(l2_normalize_ref(gauss + 3))
    for scale in (1e20, 1e-22):
        x = ((gauss + 3) * scale).astype(np.float32)
        u = Space.build(x).unit
        np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-6)
        assert anisotropy_value(u) == pytest.approx(ref, abs=1e-5)


def l2_normalize_ref(x):
    x = x.astype(np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("diag", all_diagnostics("pairs"), ids=lambda d: d.name)
def test_pairs_family_invariants(diag, gauss, rng):
    """Every pairs diagnostic: invariant to the order of the pairs and to swapping a and b."""
    from embeval.diagnostics.pairs import PairSet
    from embeval.diagnostics.space import l2_normalize

    a, b = l2_normalize(gauss), l2_normalize(gauss + rng.standard_normal(gauss.shape).astype(np.float32))
    gold = rng.uniform(0, 5, len(a))
    perm = rng.permutation(len(a))
    base = diag.func(PairSet(a, b, gold), **diag.defaults())[0].value
    assert diag.func(PairSet(a[perm], b[perm], gold[perm]), **diag.defaults())[0].value == pytest.approx(base)
    assert diag.func(PairSet(b, a, gold), **diag.defaults())[0].value == pytest.approx(base)
