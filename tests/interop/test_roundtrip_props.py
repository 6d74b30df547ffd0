"""Hypothesis round trips for the TREC run writer/reader and the credential redaction."""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from embeval.io.sources import redact, scrub, secrets_of
from embeval.io.trec import ranked_docs, read_run, write_run

ID = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8
).filter(lambda s: not any(c.isspace() for c in s))
SCORE = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=60, deadline=None)
@given(st.lists(ID, min_size=1, max_size=5, unique=True), st.lists(ID, min_size=1, max_size=12, unique=True), st.data())
def test_trec_run_round_trip(tmp_path_factory, qids, docs, data):
    k = data.draw(st.integers(1, len(docs)))
    scores = np.array(
        data.draw(st.lists(st.lists(SCORE, min_size=k, max_size=k), min_size=len(qids), max_size=len(qids))),
        dtype=np.float32,
    )
    idx = np.array([data.draw(st.permutations(range(len(docs))))[:k] for _ in qids], dtype=np.int64)
    path = tmp_path_factory.mktemp("run") / "r.trec"
    write_run(path, qids, docs, scores, idx)
    back = read_run(path)
    assert list(back) == list(qids)
    for i, q in enumerate(qids):
        assert back[q] == {docs[j]: float(scores[i, c]) for c, j in enumerate(idx[i])}  # exact scores
        ranked = ranked_docs(back[q])
        assert [back[q][d] for d in ranked] == sorted(back[q].values(), reverse=True)


@settings(max_examples=200, deadline=None)
@example("*", "postgresql")
@example("#", "postgres")
@given(
    st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and len(s) > 0),
    st.sampled_from(["postgresql", "postgres"]),
)
def test_redaction_never_keeps_a_password(password, scheme):
    uri = f"{scheme}://bob:{quote(password, safe='')}@db.example:5432/app?table=t&sslmode=require"
    shown = redact(uri)
    assert shown == f"{scheme}://bob@db.example:5432/app?table=t&sslmode=require"
    assert password in secrets_of(uri)
    assert password not in scrub(f"error for {password} at {uri}", secrets_of(uri))
    uri2 = f"{scheme}://bob@h/app?table=t&password={quote(password, safe='')}"
    assert "password" not in redact(uri2) and password in secrets_of(uri2)
