"""One common test over the registry: invariants every geometry diagnostic must satisfy."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.diagnostics.registry import all_diagnostics, get, parse_spec, split_specs
from embeval.diagnostics.space import Space
from embeval.errors import UsageError

GEOMETRY = [d for d in all_diagnostics("geometry")]


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
    pairs = gauss[::-1].copy()
    scales = rng.uniform(0.1, 10, size=(len(gauss), 1)).astype(np.float32)
    a = _run(diag, gauss, pairs)
    b = _run(diag, gauss * scales, pairs * scales[::-1])
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k


@pytest.mark.parametrize("diag", GEOMETRY, ids=lambda d: d.name)
def test_outputs_declared_and_directions_match(diag, gauss):
    sp = Space.build(gauss, pairs=gauss[::-1].copy())
    results = diag.func(sp, **diag.defaults())
    assert results
    for r in results:
        assert r.higher_is_better is diag.output(r.metric).higher_is_better
        assert np.isfinite(r.value)


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
