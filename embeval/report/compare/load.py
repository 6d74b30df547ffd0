"""Loading the reports ``embeval compare`` reads: single-command or batch JSON reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeval.diagnostics.registry import imported_result, stamp_identity
from embeval.errors import InputError
from embeval.results import Report


@dataclass
class Side:
    """One loaded report: its items keyed by ``command/model/dataset`` (a single report has one
    item, keyed by its command)."""

    path: str
    kind: str  # single | batch
    items: dict[str, Report]
    info: dict[str, Any]


def mteb_report(doc: dict, path: str | Path) -> tuple[Report, dict[str, Any]]:
    """(Report, info) from an MTEB task result ``doc`` read from ``path``
    (:func:`embeval.io.mteb.mteb_scores`), each value with the registry's direction and identity."""
    from embeval.io.mteb import mteb_scores

    report, scores, info = mteb_scores(doc, path)
    report.results = [imported_result(name, v) for name, v in scores.items()]
    return report, info


def load_side(path: Any, name: str = "report") -> Side:
    """Read an embeval JSON report (single or batch); InputError naming the file otherwise. A
    report (or batch) given in memory (the Python API) goes through the same JSON form, named
    ``name``; nothing is written."""
    from embeval.io.fileinfo import file_info
    from embeval.io.paths import require_file

    if not isinstance(path, (str, Path)):
        from embeval.results import dumps

        return _side(json.loads(dumps(path.to_dict())), Path(name), {"path": name, "source": "memory"})
    p = Path(path)
    if p.is_dir():
        raise InputError(p, "is a folder; give an embeval JSON report (e.g. report.json)")
    require_file(p)  # missing, a broken link or loop, a FIFO (which would block), empty
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except RecursionError:
        raise InputError(p, "not an embeval JSON report (invalid JSON: nested too deeply)") from None
    except UnicodeDecodeError:
        raise InputError(p, "not an embeval JSON report (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            p, f"not an embeval JSON report (invalid JSON: {exc.msg})", where=f"line {exc.lineno}"
        ) from None
    return _side(doc, p, file_info(p))


def _side(doc: Any, p: Path, where: dict[str, Any]) -> Side:
    from embeval.io.mteb import is_mteb_result
    from embeval.report.batch import Batch

    if is_mteb_result(doc):  # an MTEB task result (embeval.io.mteb maps the names)
        try:
            mteb, extra = mteb_report(doc, p)
            mteb = stamp_identity(mteb)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            raise InputError(p, f"malformed MTEB result ({type(exc).__name__}: {str(exc)[:200]})") from None
        return Side(
            str(p), "single", {mteb.command: mteb}, {**where, "kind": "single", "command": mteb.command, **extra}
        )
    if not isinstance(doc, dict) or "embeval_version" not in doc:
        raise InputError(
            p, "not an embeval JSON report (no 'embeval_version'; write one with `output` X.json or embeval run)"
        )
    info = {**where, "embeval_version": doc.get("embeval_version")}
    try:
        if doc.get("kind") == "batch":
            batch = Batch.from_dict(doc)
            items = {it.key: stamp_identity(it.report) for it in batch.items if it.report is not None}
            return Side(str(p), "batch", items, {**info, "kind": "batch", "config": batch.config})
        if doc.get("command") == "compare":
            raise InputError(p, "is a comparison, not a report; compare two reports")
        if "command" not in doc or not isinstance(doc.get("results"), list):
            raise InputError(p, "not an embeval JSON report (no 'command' and 'results')")
        report = stamp_identity(Report.from_dict(doc))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise InputError(p, f"malformed embeval report ({type(exc).__name__}: {str(exc)[:200]})") from None
    return Side(str(p), "single", {report.command: report}, {**info, "kind": "single", "command": report.command})
