"""The audit's thresholds, as data: one :class:`Rule` per finding (which output it reads, the warn
and fail levels, which side is bad, and what to tell the user). ``embeval audit --thresholds
FILE`` overrides any level (:func:`with_overrides`); every report lists the levels it used.

Where the defaults come from (docs/guides/audit.md has the measured table): healthy real spaces
(all-MiniLM-L6-v2 on the SciFact corpus, STS-B sentences and Banking77 queries; the CLIP, CLASP,
ConVIRT and VideoCLIP features of "Mind the Gap", Liang et al. 2022) must come out ok, CLIP with
random weights (a known-bad space) must fail, and each degraded copy of a real space (collapsed,
anisotropic, duplicated, one rogue coordinate, unnormalised, queries from another model) must trip
its own finding. vecscope 0.2.0's published levels (calibrated on eight public models) are the
starting point where a finding has the same definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from embeval.errors import UsageError

OK, WARN, FAIL = "ok", "warn", "fail"
LEVELS = (OK, WARN, FAIL)


@dataclass(frozen=True)
class Rule:
    """One finding. ``metric``: the output it reads; ``against``: ``value`` or ``excess`` (value −
    isotropic baseline); ``bad``: ``high`` or ``low`` (which side is bad); ``warn``/``fail``: the
    levels; ``needs``: ``queries`` for query-side findings."""

    key: str
    metric: str
    bad: str
    warn: float
    fail: float
    meaning: str
    causes: str
    remedy: str
    source: str
    against: str = "value"
    needs: str = ""
    scale: str = ""  # "percent": shown as a percentage

    def verdict(self, x: float) -> str:
        if self.bad == "high":
            return FAIL if x >= self.fail else WARN if x >= self.warn else OK
        return FAIL if x <= self.fail else WARN if x <= self.warn else OK


RULES: tuple[Rule, ...] = (
    Rule(
        "anisotropy",
        "anisotropy",
        "high",
        0.40,
        0.80,
        "Every pair looks similar: cosine scores crowd into a narrow band, so small noise reorders results.",
        "a shared direction in every vector (untrained or poorly pooled encoder, an added bias, mixed sources)",
        "center (subtract the corpus mean, re-normalise) or abtt; try them with --try center,abtt",
        "all-MiniLM-L6-v2: 0.02–0.21 (STS-B, Banking77, SciFact); trained CLIP/VideoCLIP/CLASP/ConVIRT 0.13–0.76"
        " (the cone effect, Liang et al. 2022): warn, not fail; a constant offset or collapse ≥ 0.82",
    ),
    Rule(
        "effective_rank",
        "effective_rank_ratio",
        "low",
        0.30,
        0.10,
        "The vectors use a small part of their dimensions, so fewer distinctions are available to rank by.",
        "collapse during training, a constant offset dominating, vectors padded with zeros",
        "center or whiten; consider a smaller dimension (Matryoshka truncation) if this is by design",
        "RankMe/min(n, d): MiniLM 0.61–0.79, CLIP 0.49–0.52, VideoCLIP 0.68–0.72; CLIP-random images 0.075,"
        " a collapsed copy 0.024",
    ),
    Rule(
        "hubness",
        "hubness_skew",
        "high",
        2.0,
        4.0,
        "A few rows appear in almost every neighbour list, so the same results top unrelated queries.",
        "high intrinsic dimension, anisotropy, a density gradient; mixing models or sources",
        "csls rescoring at query time, or center; try them with --try csls,center",
        "vecscope 0.2.0 levels (2, 4); MiniLM 0.91–1.76, CLIP 1.34/2.26 at k=10",
    ),
    Rule(
        "antihubs",
        "antihub_share",
        "high",
        0.08,
        0.20,
        "Rows in no other row's neighbour list are hard to retrieve by similarity at all.",
        "hubness (see above), outliers, a region of the space the rest never points to",
        "csls or center; check the sample ids for junk rows",
        "excess over the isotropic baseline; vecscope's (0.05, 0.20) raised to 0.08: CLIP texts at n=500 give 0.062",
        against="excess",
        scale="percent",
    ),
    Rule(
        "near_duplicates",
        "near_duplicate_share",
        "high",
        0.02,
        0.10,
        "Many rows have a twin at cosine ≥ 0.99: results fill with copies and distinct items get pushed out.",
        "duplicated documents or chunks, boilerplate text, a collapsed encoder",
        "deduplicate the corpus (groups and sample ids are listed); if the texts differ, the encoder collapsed",
        "vecscope 0.2.0 levels (2%, 10%); MiniLM 0–1.6% (STS-B holds near-paraphrases), CLIP 0%",
        scale="percent",
    ),
    Rule(
        "outliers",
        "outlier_share",
        "high",
        0.01,
        0.05,
        "Rows far from everything rarely match any query and can be noise (empty texts, other languages, junk).",
        "empty or corrupt inputs, foreign content, a mis-encoded batch",
        "look at the sample ids; remove or re-encode them",
        "vecscope 0.2.0 levels; Q3 + 3·IQR is Tukey's far fence; MiniLM and CLIP 0–0.16%",
        scale="percent",
    ),
    Rule(
        "rogue_dimensions",
        "rogue_dim_ratio",
        "high",
        10.0,
        50.0,
        "One coordinate holds many times its share of variance, so cosine mostly compares that coordinate.",
        "rogue dimensions of transformer models (Timkey & van Schijndel 2021), an appended feature, an un-scaled id",
        "whiten or abtt (removes the dominant directions); try --try whiten,abtt",
        "vecscope 0.2.0 levels (10×, 50×); MiniLM 1.6–1.9, VideoCLIP 2.3–3.4; CLIP 11–13 (its known rogue"
        " dimensions) warns",
    ),
    Rule(
        "norms",
        "norm_cv",
        "high",
        0.10,
        0.30,
        "Vector lengths vary, so inner-product search favours long vectors regardless of meaning.",
        "vectors stored without normalising, vectors from different models or versions mixed",
        "L2-normalise before indexing, or index with cosine",
        "vecscope 0.2.0 levels; normalised spaces give 0",
    ),
    Rule(
        "zero_vectors",
        "zero_norm_share",
        "high",
        1e-9,
        0.01,
        "Zero vectors have no direction: cosine is undefined and they match nothing (or everything).",
        "empty texts, failed encodings written as zeros, padding rows",
        "drop or re-encode the rows listed",
        "any zero vector is a defect",
        scale="percent",
    ),
    Rule(
        "metric_mismatch",
        "metric_overlap",
        "low",
        0.90,
        0.70,
        "Cosine and inner product return different top-k: the index metric changes the results.",
        "unnormalised vectors with varied norms",
        "normalise the vectors, or make sure index and evaluation use the same metric",
        "vecscope 0.2.0 levels (0.9, 0.7)",
    ),
    Rule(
        "distance_concentration",
        "relative_contrast",
        "low",
        1.30,
        1.10,
        "The nearest neighbour is barely nearer than a random row: rankings are fragile to noise.",
        "very high intrinsic dimension, an untrained encoder, noise-dominated vectors",
        "whiten or abtt; otherwise a better encoder",
        "MiniLM 2.1–6.7, CLIP 2.6; uniform points on the sphere at d=384 give 1.19–1.23 (the baseline)",
    ),
    Rule(
        "connectivity",
        "island_share",
        "high",
        0.01,
        0.10,
        "Rows in small islands of the kNN graph are reached badly or never by graph indexes (HNSW).",
        "duplicate clusters, an isolated sub-collection, outliers",
        "look at the sample ids; deduplicate, or raise the index's graph degree",
        "vecscope 0.2.0 levels; every real space here 0%",
        scale="percent",
    ),
    Rule(
        "ood_queries",
        "ood_query_share",
        "high",
        0.10,
        0.30,
        "Queries land far from every document: they are outside what the corpus (or its encoder) covers.",
        "queries encoded by a different model or without the query prompt, questions the corpus does not cover",
        "encode queries and documents with the same model and the model's query prefix",
        "SciFact test queries against their MiniLM corpus: 8.1% (claims are shorter than abstracts), so vecscope's 5%"
        " is raised to 10%; queries from another model: 100%",
        needs="queries",
        scale="percent",
    ),
    Rule(
        "query_hubness",
        "query_hubness_skew",
        "high",
        4.0,
        8.0,
        "A few documents answer most queries, whatever they ask.",
        "hubness of the corpus, queries in another region of the space than documents",
        "csls rescoring; check the query encoding",
        "SciFact test queries against the MiniLM corpus: 1.55 at k=10",
        needs="queries",
    ),
)


def rules() -> dict[str, Rule]:
    return {r.key: r for r in RULES}


def with_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Rule]:
    """The rules with levels from ``overrides``: ``{"hubness": {"warn": 2.5, "fail": 5}}`` (the
    shape of a TOML file with one table per finding). Unknown keys and levels on the wrong side are
    refused (UsageError naming `thresholds`)."""
    table = rules()
    for key, levels in (overrides or {}).items():
        if key not in table:
            raise UsageError(f"`thresholds`: unknown finding {key!r}; known: {', '.join(table)}")
        if not isinstance(levels, Mapping) or not set(levels) <= {"warn", "fail"}:
            raise UsageError(f"`thresholds`: {key} takes a table with `warn` and/or `fail`")
        try:
            new = replace(table[key], warn=float(levels.get("warn", table[key].warn)))
            new = replace(new, fail=float(levels.get("fail", new.fail)))
        except (TypeError, ValueError):
            raise UsageError(f"`thresholds`: {key}: levels must be numbers") from None
        wrong = new.warn > new.fail if new.bad == "high" else new.warn < new.fail
        if wrong:
            raise UsageError(f"`thresholds`: {key}: warn {new.warn} lies beyond fail {new.fail}")
        table[key] = new
    return table
