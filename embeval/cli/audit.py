"""``embeval audit``: findings with baselines, verdicts and remedies, for search."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from embeval.cli.app import app
from embeval.cli.console import _progress
from embeval.cli.exits import boundary
from embeval.cli.options import COMPUTE, IN, OUT, IdColOpt, QuietOpt, SeedOpt, VecColOpt, flag_names, options
from embeval.cli.output import OUTPUT, _fail


class FailOn(str, Enum):
    warn = "warn"
    fail = "fail"


class IndexMetric(str, Enum):
    cosine = "cosine"
    ip = "ip"


@app.command("audit", short_help="Audit a space for search: verdicts, baselines, remedies.")
@boundary
@flag_names
@options(COMPUTE, OUTPUT)
def audit_cmd(
    file: Annotated[
        str, typer.Argument(help="Embedding file (.npy .npz .parquet .csv .tsv .jsonl) or a source URI."), IN
    ],
    queries: Annotated[
        Path | None,
        typer.Option("--queries", help="Query vectors: adds out-of-distribution and query-side hubness."),
        IN,
    ] = None,
    qrels: Annotated[
        Path | None,
        typer.Option(
            "--qrels", help="Relevance judgements (BEIR TSV or TREC): --try then scores nDCG@10 before/after."
        ),
        IN,
    ] = None,
    thresholds: Annotated[
        Path | None,
        typer.Option("--thresholds", help="TOML file overriding levels, one table per finding: [hubness] warn = 2.5"),
        IN,
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when a finding reaches this verdict.", rich_help_panel="CI")
    ] = FailOn.fail,
    tries: Annotated[
        str | None,
        typer.Option("--try", help="Remedies to measure on this data, comma-separated: center, whiten, abtt, csls."),
    ] = None,
    save_transform: Annotated[
        Path | None,
        typer.Option("--save-transform", help="Write the first affine remedy of --try (T.npz; see embeval transform)."),
        OUT,
    ] = None,
    metric: Annotated[
        IndexMetric, typer.Option("--metric", help="How your index scores (cosine, or ip on the raw vectors).")
    ] = IndexMetric.cosine,
    k: Annotated[int, typer.Option("-k", help="Neighbours per row.")] = 10,
    near_dup: Annotated[
        float, typer.Option("--near-dup", help="Cosine at or above which rows are near-duplicates.")
    ] = 0.99,
    clusters: Annotated[int, typer.Option("--clusters", help="Clusters in the map (0: none).")] = 8,
    id_col: IdColOpt = "id",
    vector_col: VecColOpt = "embedding",
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    compute: Any = None,
    out: Any = None,
) -> None:
    """Audit an embedding space for search: per finding value, isotropic baseline, verdict
    ok/warn/fail, what it means, causes, what to try, sample ids. Exit 1 on a fail (--fail-on warn:
    on a warning too)."""
    from embeval.api.audit import TRIES, audit_report
    from embeval.errors import UsageError

    out.check("geometry")
    tr = [t.strip() for t in (tries or "").split(",") if t.strip()]
    if save_transform is not None and not any(t in TRIES[:3] for t in tr):
        raise UsageError("--save-transform needs an affine remedy in --try (center, whiten or abtt)")
    if save_transform is not None and save_transform.suffix.lower() != ".npz":
        raise UsageError("--save-transform writes a .npz file")
    report = audit_report(
        file,
        queries=queries,
        qrels=qrels,
        thresholds=thresholds,
        id_col=id_col,
        vector_col=vector_col,
        progress=_progress(quiet),
        fail_on=fail_on.value,
        tries=tr,
        metric=metric.value,
        k=k,
        near_dup=near_dup,
        clusters=clusters,
        seed=seed,
        compute=compute,
    )
    if save_transform is not None:
        import io

        import numpy as np

        from embeval.io.atomic import write_atomic

        kind = next(t for t in tr if t in TRIES[:3])
        buf = io.BytesIO()
        np.savez(buf, **report.artifacts[f"transform:{kind}"].arrays())
        write_atomic(save_transform, buf.getvalue())
    _emit(report, out)


def _emit(report, out) -> None:
    """As :meth:`embeval.cli.output.Output.emit`, with the audit's own text table and its findings
    as gates beside --fail-if."""
    from embeval.io.atomic import write_atomic
    from embeval.report.audit import audit_text, finding_gates
    from embeval.report.gates import apply_gates, failure_summary
    from embeval.report.render import RENDERERS

    apply_gates(report, finding_gates(report) + list(out.gates))
    if out.fmt == "table":
        sys.stdout.write(audit_text(report, colour=sys.stdout.isatty()))
    else:
        sys.stdout.write(RENDERERS[out.fmt](report))
    if out.output is not None and out.out_fmt is not None:
        write_atomic(out.output, RENDERERS[out.out_fmt](report))
    if out.junit is not None:
        from embeval.report.junit import report_suites, to_junit

        write_atomic(out.junit, to_junit(report_suites(report)))
    if not report.passed:
        _fail(failure_summary(report))
