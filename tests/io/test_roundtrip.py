"""Hypothesis round trips: whatever embeval writes, it reads back identically; gates parse."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from embeval.errors import UsageError
from embeval.io.embeddings import load_embeddings
from embeval.io.writers import save_embeddings
from embeval.report.gates import parse_gate

finite32 = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32).filter(lambda v: abs(v) > 1e-3)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), suffix=st.sampled_from([".npy", ".npz", ".parquet", ".csv", ".tsv", ".jsonl"]))
def test_write_then_load_round_trip(data, suffix):
    n = data.draw(st.integers(2, 12))
    d = data.draw(st.integers(1, 6))
    v = data.draw(arrays(np.float32, (n, d), elements=finite32))
    ids = data.draw(st.lists(st.text("abcxyz0123-_", min_size=1, max_size=6), min_size=n, max_size=n,
                             unique=True))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"v{suffix}"
        save_embeddings(path, v, ids)
        emb = load_embeddings(path)
    np.testing.assert_array_equal(emb.vectors, v)  # lossless, csv included
    assert emb.ids.tolist() == ([str(i) for i in range(n)] if suffix == ".npy" else ids)


@settings(max_examples=100, deadline=None)
@given(metric=st.from_regex(r"[a-z_]{1,10}(@[0-9]{1,3})?", fullmatch=True),
       op=st.sampled_from(["<", "<=", ">", ">=", "=="]),
       value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
       spaces=st.sampled_from(["", " ", "  "]))
def test_gate_parse_round_trip(metric, op, value, spaces):
    g = parse_gate(f"{spaces}{metric}{spaces}{op}{spaces}{value!r}{spaces}")
    assert (g.metric, g.op) == (metric, op)
    assert g.threshold == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "ndcg@10", "ndcg@10 <", "< 3", "ndcg@10 => 1", "ndcg@10 < one", "a b < 1"])
def test_bad_gate_expressions(bad):
    with pytest.raises(UsageError):
        parse_gate(bad)
