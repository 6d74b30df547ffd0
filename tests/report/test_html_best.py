"""Issue 20 item 8 (newcomer #6, #7): the batch HTML report marks ★ best only among the models of
one dataset, and its worst-queries table gives ids and cosines cells of their own."""

from __future__ import annotations


def _stars(monkeypatch, rows):
    """The indices metric_bars marks best, captured from the tick labels it draws."""
    from embeval.report import figures

    seen = []
    import matplotlib.axes

    orig = matplotlib.axes.Axes.set_yticks

    def spy(self, ticks, labels=None, **kw):
        seen.append(list(labels or []))
        return orig(self, ticks, labels, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_yticks", spy)
    figures.metric_bars([("effective_rank", True, rows)])
    return [lab for lab in seen[0] if lab.startswith("★")]


def test_best_only_among_models_of_one_dataset(monkeypatch):
    one_model_two_datasets = [("corpus", 267.0, None, None, "corpus"), ("queries", 82.0, None, None, "queries")]
    assert _stars(monkeypatch, one_model_two_datasets) == []  # nothing to rank
    two_models = [
        ("m1 / corpus", 267.0, None, None, "corpus"),
        ("m2 / corpus", 250.0, None, None, "corpus"),
        ("m1 / queries", 82.0, None, None, "queries"),
        ("m2 / queries", 90.0, None, None, "queries"),
    ]
    assert sorted(_stars(monkeypatch, two_models)) == ["★ m1 / corpus", "★ m2 / queries"]


def test_worst_queries_cells_and_no_empty_text_column():
    from embeval.report.batch import Item
    from embeval.report.html import _worst_queries
    from embeval.results import Report

    rep = Report("retrieval")
    rep.series["worst_queries"] = {
        "by": "ndcg@10",
        "metrics": ["ndcg@10"],
        "rows": [
            {
                "query_id": "q1",
                "metrics": {"ndcg@10": 0.0},
                "top": [
                    {"id": "doc-1", "score": 0.8123, "relevant": False},
                    {"id": "doc-2", "score": 0.8, "relevant": True},
                ],
            }
        ],
    }
    it = Item.__new__(Item)
    it.__dict__.update(report=rep, model="m", dataset="d", command="retrieval", key="retrieval/m/d", status="ok")
    html = _worst_queries([it])
    assert "<th>text</th>" not in html  # no query text recorded: no column for it
    assert "<td><code>doc-1</code></td><td class=num>0.8123</td>" in html
    assert "<td>✓</td><td><code>doc-2</code></td>" in html and "<br>" not in html
