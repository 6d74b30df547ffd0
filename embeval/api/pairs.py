"""``embeval pairs``: graded pairs (STS): cosine of the encoded pair vs the gold score."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embeval.api.common import describe_source, encoding_settings, records_cache, resolve_metrics
from embeval.diagnostics.pairs import PairSet
from embeval.diagnostics.space import l2_normalize
from embeval.encode import encode_texts, encoder_identity
from embeval.io.pairs import TextPairs, load_pairs
from embeval.progress import NULL, Progress
from embeval.results import Report


@records_cache
def pairs_report(
    file: str | Path | TextPairs,
    *,
    encoder,
    layout: str = "auto",
    text_a_col: str = "text_a",
    text_b_col: str = "text_b",
    score_col: str = "score",
    metrics: list[str] | None = None,
    seed: int = 0,
    progress: Progress = NULL,
) -> Report:
    """Graded pairs: cosine of the encoded pair vs the gold score (spearman, pearson, alignment)."""
    from embeval.options import check_encoder, check_options

    check_options(seed=seed)
    check_encoder(encoder)
    chosen = resolve_metrics(metrics, "pairs", set())
    tp = (
        file
        if isinstance(file, TextPairs)  # loaded and checked at the edge (the Python API's lists)
        else load_pairs(file, layout=layout, text_a_col=text_a_col, text_b_col=text_b_col, score_col=score_col)
    )
    # Encode each distinct text once.
    uniq = list(dict.fromkeys(tp.texts_a + tp.texts_b))
    vecs = encode_texts(uniq, encoder, progress=progress, source=tp.path)
    row = {t: i for i, t in enumerate(uniq)}
    a = l2_normalize(vecs[[row[t] for t in tp.texts_a]])
    b = l2_normalize(vecs[[row[t] for t in tp.texts_b]])
    ps = PairSet(a, b, np.asarray(tp.scores, dtype=np.float64))
    report = Report(
        "pairs",
        inputs={
            "pairs": {
                **describe_source(file),
                "n": ps.n,
                "d": a.shape[1],
                "layout": tp.layout,
                "model": encoder_identity(encoder),
            }
        },
        settings={"seed": seed, "similarity": "cosine", "encoding": encoding_settings(encoder, role="document")},
    )
    for diag, params in chosen:
        report.results.extend(diag.func(ps, **params))
    return report
