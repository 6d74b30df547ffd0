"""retrieval on a BEIR folder with --model: same figures as on precomputed vectors, and MTEB's
published SciFact nDCG@10 for the default model."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE, shared_data

BEIR = SAMPLE / "scifact_small"


def _values(res):
    assert res.exit_code == 0, res.stderr
    return {r["metric"]: r["value"] for r in json.loads(res.stdout)["results"]}


@pytest.mark.slow  # loads the real model: parity of encoding with the precomputed sample vectors
def test_beir_with_model_equals_precomputed(cli, model_cache):
    encoded = _values(cli("retrieval", BEIR, "--model", "default", "--cache-dir", model_cache, "-q", "-f", "json"))
    pre = _values(cli("retrieval", "--queries", BEIR / "queries.npz", "--corpus", BEIR / "corpus.npz",
                      "--qrels", BEIR / "qrels/test.tsv", "-q", "-f", "json"))
    assert encoded.keys() == pre.keys()
    assert pre, "nothing to check"
    for m in pre:
        assert encoded[m] == pytest.approx(pre[m], abs=1e-4), m


def test_beir_usage_errors(cli, tmp_path):
    res = cli("retrieval", BEIR, "-q")
    assert res.exit_code == 2 and "pass --model" in res.stderr
    res = cli("retrieval", BEIR, "--model", "default", "--split", "dev", "-q")
    assert res.exit_code == 2 and "no qrels/dev.tsv" in res.stderr and "test" in res.stderr
    res = cli("retrieval", BEIR, "--model", "default", "--qrels", BEIR / "qrels/test.tsv", "-q")
    assert res.exit_code == 2 and "not both" in res.stderr
    res = cli("retrieval", "-q")
    assert res.exit_code == 2 and "missing --queries" in res.stderr


@pytest.mark.slow
def test_scifact_ndcg10_reproduces_mteb(cli, model_cache):
    folder = shared_data("scifact")
    ref = json.loads(shared_data("reference_scores", "all-MiniLM-L6-v2", "SciFact.json").read_text())
    published = ref["scores"]["test"][0]["ndcg_at_10"]
    got = _values(cli("retrieval", folder, "--model", "default", "--cache-dir", model_cache, "-q", "-f", "json",
                      "--k", "1,10,100"))
    assert published == pytest.approx(0.64508, abs=1e-5)
    assert got["ndcg@10"] == pytest.approx(published, abs=0.005)
    assert got["recall@100"] == pytest.approx(ref["scores"]["test"][0]["recall_at_100"], abs=0.01)
