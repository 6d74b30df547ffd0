"""The registry: declarations, providers and specs; and the check battery of :mod:`embeval.testing`
(scikit-learn's ``parametrize_with_checks`` pattern) over every registered diagnostic × every
provider that computes it: declared outputs with the declaration's direction and identity, finite,
deterministic per seed, invariant to row order where declared, the Dask provider equal to the local
one on sharded input, the torch back end equal to NumPy. A new diagnostic or provider is checked
with no new test code; a family without a fixture fails the completeness test."""

from __future__ import annotations

import numpy as np
import pytest

from embeval.diagnostics import families
from embeval.diagnostics.registry import (
    LOWER,
    Diagnostic,
    Output,
    Value,
    all_diagnostics,
    compute,
    get,
    parse_spec,
    provide,
    split_specs,
)
from embeval.diagnostics.space import Space
from embeval.errors import UsageError
from embeval.testing import FIXTURES, check_declared_outputs, check_row_order, parametrize_with_checks

GEOMETRY = [d for d in all_diagnostics("geometry")]
ALL = all_diagnostics()


def test_every_family_and_provider_has_a_fixture():
    """Completeness: a new family must come with a fixture in embeval.testing.FIXTURES, and a new
    provider with a context there for each family it serves, or the battery fails."""
    assert set(families()) <= set(FIXTURES)
    assert len(ALL) >= 30
    served = [(d.name, p) for d in ALL for p in d.providers if p != "local"]
    assert len(served) >= 20
    for name, provider in served:
        assert provider in FIXTURES[get(name).family].contexts, (name, provider)


@parametrize_with_checks()
def test_check_battery(diag, provider, check):
    check(diag, provider)


def test_which_provider_computes_what_is_data():
    assert get("hubness").providers == ("local", "dask")
    assert get("ndcg").providers == ("local", "dask")
    assert get("intrinsic_dim").providers == ("local",)
    assert get("paired_retrieval", "gap").providers == ("local",)
    with pytest.raises(ValueError, match="twice"):
        provide("dask", "hubness", lambda run, **p: [])
    with pytest.raises(ValueError, match="no diagnostic"):
        provide("dask", "no_such_diagnostic", lambda run, **p: [])
    with pytest.raises(UsageError, match="not computed by the dask provider"):
        compute(get("intrinsic_dim"), None, {}, "dask")


_OUT = Output("first_value", LOWER, "test only: the first coordinate of the first row")


def _first_value(space):
    return [Value("first_value", float(space.x[0, 0]), n=space.n)]


def test_the_battery_catches_what_it_claims():
    """The checks can fail: a row-order-dependent diagnostic fails check_row_order, a provider
    returning an undeclared output or a result with another direction is refused, and a declared
    output never produced fails check_declared_outputs. (Unregistered diagnostics: the registry is
    left as it was.)"""
    order = Diagnostic("first_value", "geometry", _first_value, "test only", outputs=(_OUT,))
    with pytest.raises(AssertionError, match="rows permuted"):
        check_row_order(order)
    other = Output("other", LOWER, "test only")
    missing = Diagnostic("first_value", "geometry", _first_value, "test only", outputs=(_OUT, other))
    with pytest.raises(AssertionError, match="never produced"):
        check_declared_outputs(missing)
    undeclared = Diagnostic("x", "geometry", lambda sp: [Value("other", 1.0)], "test only", outputs=(_OUT,))
    with pytest.raises(ValueError, match="does not declare"):
        check_declared_outputs(undeclared)
    flipped = Diagnostic(
        "x", "geometry", lambda sp: [Output("first_value", True, "")(1.0)], "test only", outputs=(_OUT,)
    )
    with pytest.raises(ValueError, match="declared direction"):
        check_declared_outputs(flipped)


@pytest.mark.parametrize("diag", ALL, ids=lambda d: d.name)
def test_every_parameter_is_data_with_a_help_text(diag):
    for name, p in diag.params.items():
        assert p.help and (p.default is None or isinstance(p.default, p.type)), name
        assert set(diag.defaults()) == set(diag.params)


def _run(diag, x, pairs=None, seed=0):
    sp = Space.build(x, pairs=pairs, seed=seed)
    return {r.metric: r.value for r in diag.func(sp, **diag.defaults())}


@pytest.mark.parametrize("diag", GEOMETRY, ids=lambda d: d.name)
def test_scale_invariance_under_normalisation(diag, gauss, rng):
    pairs = gauss[::-1].copy()
    scales = rng.uniform(0.1, 10, size=(len(gauss), 1)).astype(np.float32)
    a = _run(diag, gauss, pairs)
    b = _run(diag, gauss * scales, pairs * scales[::-1])
    assert a, "nothing to check"
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
