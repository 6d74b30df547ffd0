"""A batch of reports (models × datasets × commands) and its renderers: long-form CSV, JSON,
Markdown. The HTML page is in :mod:`embeval.report.html`; the runner in :mod:`embeval.batch`."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embeval.results import GateResult, Report, _clean, dumps, provenance
from embeval.safety import csv_writer

NO_MODEL = "-"  # model column of items whose inputs are precomputed vectors


@dataclass
class Item:
    """One (command, model, dataset) cell of a batch: its report, or the error that stopped it."""

    command: str
    model: str
    dataset: str
    status: str = "pending"  # ok | error | skipped
    report: Report | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def key(self) -> str:
        """``command/model/dataset``: the item's name in tables, gates and JUnit."""
        return f"{self.command}/{self.model}/{self.dataset}"

    @property
    def gates(self) -> list[GateResult]:
        return [] if self.report is None else self.report.gates

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "model": self.model,
            "dataset": self.dataset,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "report": None if self.report is None else self.report.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        rep = d.get("report")
        return cls(
            d["command"],
            d["model"],
            d["dataset"],
            d.get("status", "ok"),
            None if rep is None else Report.from_dict(rep),
            d.get("error"),
            float(d.get("seconds") or 0),
        )


@dataclass
class Batch:
    """Every item of one ``embeval run``, with the config it came from and shared settings."""

    title: str = "embeval report"
    config: dict[str, Any] = field(default_factory=dict)  # path, sha256
    settings: dict[str, Any] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=provenance)

    @property
    def gates(self) -> list[tuple[Item, GateResult]]:
        return [(it, g) for it in self.items for g in it.gates]

    @property
    def passed(self) -> bool:
        return all(g.passed for _, g in self.gates)

    @property
    def errors(self) -> list[Item]:
        return [it for it in self.items if it.status == "error"]

    def summary(self) -> str:
        """One line: items run / failed, gates failed and by how much."""
        ok = sum(it.status == "ok" for it in self.items)
        skipped = sum(it.status == "skipped" for it in self.items)
        parts = [f"{ok} of {len(self.items)} items ran"]
        if self.errors:
            parts.append(f"{len(self.errors)} failed ({'; '.join(f'{it.key}: {it.error}' for it in self.errors)})")
        if skipped:
            parts.append(f"{skipped} skipped (--fail-fast)")
        failed = [(it, g) for it, g in self.gates if not g.passed]
        if failed:
            parts.append(
                f"{'gate' if len(failed) == 1 else 'gates'} failed ({len(failed)} of {len(self.gates)}): "
                + "; ".join(f"{it.key}: {g.message or g.expr}" for it, g in failed)
            )
        elif self.gates:
            parts.append(f"all {len(self.gates)} gates passed")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        from embeval._version import __version__

        return {
            "embeval_version": __version__,
            "kind": "batch",
            "title": self.title,
            "config": self.config,
            "settings": self.settings,
            "items": [it.to_dict() for it in self.items],
            "gates": [{"item": it.key, **g.to_dict()} for it, g in self.gates],
            "passed": self.passed,
            "errors": len(self.errors),
            "notes": self.notes,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Batch:
        return cls(
            title=d.get("title", "embeval report"),
            config=dict(d.get("config") or {}),
            settings=dict(d.get("settings") or {}),
            items=[Item.from_dict(x) for x in d.get("items") or []],
            notes=list(d.get("notes") or []),
            provenance=dict(d.get("provenance") or {}),
        )

    # What embeval.run returns: one item's report, a value, a DataFrame, a file ------------------

    def keys(self) -> list[str]:
        return [it.key for it in self.items]

    def report(self, key: str) -> Report:
        """One item's report (``"geometry/minilm/scifact"``)."""
        import difflib

        from embeval.errors import UnknownMetric

        for it in self.items:
            if it.key == key:
                if it.report is None:
                    raise UnknownMetric(f"{key}: {it.status}" + (f" ({it.error})" if it.error else ""))
                return it.report
        close = difflib.get_close_matches(key, self.keys(), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownMetric(f"no item {key!r} in this batch{hint} (see .keys())")

    def value(self, key: str, name: str, **params: Any) -> float:
        """``batch.value("retrieval/minilm/scifact", "ndcg@10")``: :meth:`Report.value` of one item."""
        return self.report(key).value(name, **params)

    def to_json(self, indent: int | None = 2) -> str:
        return dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_pandas(self) -> Any:
        """One row per item and metric (command, model, dataset, status, metric, value, params, n,
        ci_low, ci_high, higher_is_better, error): the report.csv ``embeval run`` writes."""
        import pandas as pd

        return pd.read_csv(io.StringIO(batch_csv(self)), keep_default_na=False, na_values=[""])

    def save(self, path: str | Path) -> Path:
        """Write it; the format comes from the suffix (.json .csv .md)."""
        from embeval.errors import UsageError
        from embeval.io.atomic import write_atomic

        p = Path(path)
        render = {".json": batch_json, ".csv": batch_csv, ".md": batch_markdown}.get(p.suffix.lower())
        if render is None:
            raise UsageError(f"{p}: cannot tell the format from the suffix; use .json, .csv or .md")
        write_atomic(p, render(self))
        return p

    def __repr__(self) -> str:
        return f"<embeval.Batch {len(self.items)} items: {self.summary()}>"

    def _repr_html_(self) -> str:
        table = self.to_pandas().to_html(index=False)
        return f"<div><b>embeval run</b><div style='overflow-x:auto'>{table}</div></div>"


# Renderers ---------------------------------------------------------------------------------

CSV_COLUMNS = [
    "command",
    "model",
    "dataset",
    "status",
    "metric",
    "value",
    "params",
    "n",
    "ci_low",
    "ci_high",
    "higher_is_better",
    "error",
]


def batch_csv(batch: Batch) -> str:
    """Long form: one row per (item, result); an item that failed gets one row with its error."""
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(CSV_COLUMNS)
    for it in batch.items:
        head = [it.command, it.model, it.dataset, it.status]
        if it.report is None or not it.report.results:
            w.writerow([*head, "", "", "", "", "", "", "", it.error or ""])
            continue
        for r in it.report.results:
            d = r.to_dict()
            w.writerow(
                [
                    *head,
                    r.metric,
                    d["value"],
                    dumps(r.params, sort_keys=True) if r.params else "",
                    r.n,
                    d["ci_low"],
                    d["ci_high"],
                    r.higher_is_better,
                    it.error or "",
                ]
            )
    return buf.getvalue()


def batch_per_query_csv(batch: Batch) -> str:
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["command", "model", "dataset", "query_id", "metric", "value"])
    for it in batch.items:
        for row in [] if it.report is None else it.report.per_query:
            w.writerow([it.command, it.model, it.dataset, row["query_id"], row["metric"], _clean(row["value"])])
    return buf.getvalue()


def batch_json(batch: Batch) -> str:
    return dumps(batch.to_dict(), indent=2, ensure_ascii=False) + "\n"


def fmt_value(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"


def pivot(items: list[Item]) -> tuple[list[str], list[tuple[Item, dict[str, Any]]]]:
    """Columns (result labels, in first-seen order) and, per item, label → Result."""
    columns: list[str] = []
    rows = []
    for it in items:
        cells = {}
        for r in [] if it.report is None else it.report.results:
            lab = r.label()
            if lab not in columns:
                columns.append(lab)
            cells[lab] = r
        rows.append((it, cells))
    return columns, rows


def by_command(batch: Batch) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for it in batch.items:
        out.setdefault(it.command, []).append(it)
    return out


def _md_escape(text: str) -> str:
    from embeval.safety import md_cell

    return md_cell(str(text).replace("\n", " "))


def batch_markdown(batch: Batch) -> str:
    """For a pull-request comment: verdict first, then failing gates, then one table per command."""
    from embeval.safety import md_code

    failed = [(it, g) for it, g in batch.gates if not g.passed]
    mark = "❌" if failed or batch.errors else "✅"
    lines = [f"## {mark} {_md_escape(batch.title)}", "", _md_escape(batch.summary()), ""]
    if batch.gates:
        lines += ["| item | gate | value | result |", "|---|---|---:|:-:|"]
        for it, g in batch.gates:
            res = "pass" if g.passed else f"**FAIL** — {_md_escape(g.message)}"
            lines.append(f"| {_md_escape(it.key)} | `{md_code(g.condition)}` | {fmt_value(g.value)} | {res} |")
        lines.append("")
    for it in batch.errors:
        lines.append(f"- ⚠️ `{md_code(it.key)}` did not run: {_md_escape(it.error or '')}")
    if batch.errors:
        lines.append("")
    for command, items in by_command(batch).items():
        columns, rows = pivot(items)
        if not columns:
            continue
        lines += [f"### {command}", ""]
        directions: dict[str, str] = {}
        for _, cells in rows:
            for lab, r in cells.items():
                directions.setdefault(lab, {True: " ↑", False: " ↓", None: ""}[r.higher_is_better])
        lines.append("| model | dataset | " + " | ".join(_md_escape(c) + directions[c] for c in columns) + " |")
        lines.append("|---|---|" + "---:|" * len(columns))
        for it, cells in rows:
            vals = [fmt_value(cells[c].value) if c in cells else "" for c in columns]
            lines.append(f"| {_md_escape(it.model)} | {_md_escape(it.dataset)} | " + " | ".join(vals) + " |")
        lines.append("")
    lines += ["<details><summary>provenance</summary>", ""]
    config = {k: v for k, v in batch.config.items() if k != "toml"}  # the full text is in report.json
    prov = {**batch.provenance, **({"config": config} if config else {}), "settings": batch.settings}
    lines += ["```json", dumps(prov, indent=2, ensure_ascii=False), "```", ""]
    for it in batch.items:
        if it.report is not None:
            lines.append(
                f"- `{md_code(it.key)}`: "
                + "; ".join(
                    f"{role} `{md_code(info.get('path', ''))}` "
                    f"sha256 {str(info.get('sha256', info.get('size', '?')))[:12]}"
                    + (
                        f", model {info['model'].get('model')} ({str(info['model'].get('weights_sha256', ''))[:12]})"
                        if isinstance(info.get("model"), dict)
                        else ""
                    )
                    for role, info in it.report.inputs.items()
                )
            )
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


BATCH_RENDERERS = {"json": batch_json, "csv": batch_csv, "markdown": batch_markdown}


def print_batch(batch: Batch, console) -> None:
    """Rich tables: one per command (items × metrics), then the gates and the items that failed."""
    from rich.table import Table

    from embeval.report.width import print_fitted
    from embeval.safety import rich_literal as escape  # markup escaped, control characters visible

    for command, items in by_command(batch).items():
        columns, rows = pivot(items)
        # Metrics down, items across: a handful of models fits a terminal, a dozen metrics would not.
        t = Table(title=f"{batch.title}: {command}")
        t.add_column("metric")
        for it, _ in rows:
            t.add_column(escape(f"{it.model}\n{it.dataset}"), justify="right")
        t.add_row(
            "[dim]status[/]",
            *[
                {"ok": "[green]ok[/]", "error": "[red]error[/]", "skipped": "[dim]skipped[/]"}[it.status]
                for it, _ in rows
            ],
        )
        for c in columns:
            t.add_row(escape(c), *[fmt_value(cells[c].value) if c in cells else "" for _, cells in rows])
        print_fitted(console, t)
    if batch.gates:
        g = Table(title="gates")
        for c in ("item", "gate", "value", "result"):
            g.add_column(c)
        for it, gr in batch.gates:
            g.add_row(
                escape(it.key),
                escape(gr.condition),
                fmt_value(gr.value),
                "[green]pass[/]" if gr.passed else f"[red]FAIL[/] {escape(gr.message)}",
            )
        print_fitted(console, g, keep=("item", "gate"))
    for it in batch.errors:
        console.print(f"[red]{escape(it.key)}[/]: {escape(it.error or '')}")
