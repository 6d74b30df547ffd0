"""MTEB result files (one JSON per task, as ``mteb`` writes and the MTEB leaderboard reads), both ways.

Reading (:func:`mteb_scores`; :func:`embeval.report.compare.load.mteb_report` makes the results, with
the registry's directions): a task file becomes an embeval :class:`Report` that ``embeval compare``
takes as a baseline. Names are mapped ``ndcg_at_10`` → ``ndcg@10`` (likewise ``map``, ``recall``,
``precision``, ``mrr``) for retrieval tasks and ``cosine_spearman`` / ``cosine_pearson`` →
``spearman`` / ``pearson`` for STS tasks (embeval's pairs command scores cosine similarity). Other
tasks keep their MTEB metric names under the command ``mteb:<task type>``. The split is ``test``
when there is one (else the only split) and the subset ``default`` (else the only one); the main
score is named by the metric whose value it equals.

Writing (:func:`to_mteb`): a retrieval or pairs report as an MTEB task result, ``main_score`` =
nDCG@10 (retrieval) or Spearman (pairs), as MTEB defines them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from embeval.errors import InputError, UsageError

# k has at most 9 digits: a longer one is no cut-off anyone computed (and int() of 4,300+ digits raises).
_RANKING = re.compile(r"^(ndcg|map|recall|precision|mrr)_at_([1-9]\d{0,8})$")
_STS = {"cosine_spearman": "spearman", "cosine_pearson": "pearson"}
_TO_MTEB_STS = {v: k for k, v in _STS.items()}
_OTHER_NUMERIC = ("accuracy", "f1", "f1_weighted", "ap", "v_measure", "main_score")


def is_mteb_result(doc: Any) -> bool:
    """An MTEB task result: ``scores`` maps split names to lists of subset dicts, no embeval version."""
    if not isinstance(doc, dict) or "embeval_version" in doc:
        return False
    scores = doc.get("scores")
    return (
        isinstance(scores, dict)
        and bool(scores)
        and ("task_name" in doc or "mteb_version" in doc)
        and all(isinstance(v, list) for v in scores.values())
    )


def _pick(names: list[str], preferred: str, what: str, path: str) -> str:
    if preferred in names:
        return preferred
    if len(names) == 1:
        return names[0]
    raise InputError(path, f"MTEB result has {len(names)} {what}s ({', '.join(names)}) and no {preferred!r}")


def mteb_scores(doc: dict, path: str | Path):
    """(Report without results, {metric: value} in report order, info) from an MTEB task result
    ``doc`` read from ``path`` (see the module docstring)."""
    from embeval.results import Report

    shown = str(path)
    split = _pick(sorted(doc["scores"]), "test", "split", shown)
    entries = [e for e in doc["scores"][split] if isinstance(e, dict)]
    subsets = [str(e.get("hf_subset", "default")) for e in entries]
    if not entries:
        raise InputError(shown, f"MTEB result has no scores for split {split!r}")
    subset = _pick(subsets, "default", "subset", shown)
    entry = entries[subsets.index(subset)]
    numeric = {
        k: _score(k, v, shown) for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    if any(_RANKING.match(k) for k in numeric):
        command = "retrieval"
        mapped = {f"{m.group(1)}@{m.group(2)}": v for k, v in numeric.items() if (m := _RANKING.match(k))}
        order = {"ndcg": 0, "map": 1, "recall": 2, "precision": 3, "mrr": 4}
        mapped = dict(sorted(mapped.items(), key=lambda kv: (order[kv[0].split("@")[0]], int(kv[0].split("@")[1]))))
    elif "cosine_spearman" in numeric:
        command = "pairs"
        mapped = {ours: numeric[theirs] for theirs, ours in _STS.items() if theirs in numeric}
    else:
        command = f"mteb:{doc.get('task_name', 'task')}"
        mapped = {k: v for k, v in numeric.items() if k in _OTHER_NUMERIC and k != "main_score"}
    if not mapped:
        raise InputError(shown, f"MTEB result for split {split!r} holds no metric embeval knows")
    main = numeric.get("main_score")
    main_name = None
    if main is not None:
        hits = [ours for ours, v in mapped.items() if v == main]
        main_name = next((h for h in hits if h in ("ndcg@10", "spearman", "accuracy")), hits[0] if hits else None)
    report = Report(command)
    task = doc.get("task_name", Path(shown).stem)
    info = {
        "format": "mteb",
        "task": task,
        "split": split,
        "subset": subset,
        "mteb_version": doc.get("mteb_version"),
        "dataset_revision": doc.get("dataset_revision"),
    }
    if main is not None:
        info["main_score"] = f"{main_name or 'unnamed'} = {main}"
    meta = Path(shown).with_name("model_meta.json")
    if meta.is_file():
        info["model"] = _model_name(meta)
    report.inputs = {"mteb": {"path": shown, "task": task, "split": split, "subset": subset}}
    report.notes.append(f"MTEB result {task} ({split}/{subset}), main score {info.get('main_score', 'absent')}")
    return report, mapped, info


def _score(key: str, value: int | float, shown: str) -> float:
    """A score as a float; InputError naming it when it is beyond float range (a 400-digit integer)."""
    try:
        return float(value)
    except OverflowError:
        raise InputError(
            shown, f"MTEB score {key[:40]!r} is a {len(str(abs(int(value))))}-digit integer, not a score"
        ) from None


def _model_name(meta: Path) -> str | None:
    """The model name in the ``model_meta.json`` beside an MTEB result (None when it names none);
    InputError naming that file when it is not a JSON object."""
    import json

    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as exc:
        raise InputError(meta, f"not readable JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise InputError(meta, f'not a JSON object (a {type(doc).__name__}); MTEB writes {{"name": ...}}')
    name = doc.get("name")
    return name if isinstance(name, str) else None


def check_mteb_path(path: str | Path | None) -> None:
    if path is None:
        return
    from embeval.io.atomic import check_writable

    if Path(path).suffix.lower() != ".json":
        raise UsageError(f"`mteb_out` {path}: an MTEB result is JSON; use a .json file name")
    check_writable(path, "`mteb_out`")


def to_mteb(report, *, task_name: str, split: str = "test", subset: str = "default") -> dict:
    """An MTEB task result dict from a retrieval or pairs report (plus an ``embeval`` block)."""
    from embeval._version import __version__

    entry: dict[str, Any] = {"hf_subset": subset, "languages": []}
    if report.command == "retrieval":
        for r in report.results:
            m = re.fullmatch(r"(ndcg|map|recall|precision|mrr)@(\d+)", r.metric)
            if m:
                entry[f"{m.group(1)}_at_{m.group(2)}"] = r.value
        ndcg = sorted((int(k.rsplit("_", 1)[1]), k) for k in entry if k.startswith("ndcg_at_"))
        if not ndcg:
            raise UsageError("`mteb_out`: the report has no nDCG (MTEB's main retrieval score)")
        main_key = "ndcg_at_10" if "ndcg_at_10" in entry else ndcg[0][1]
    elif report.command == "pairs":
        for r in report.results:
            if r.metric in _TO_MTEB_STS:
                entry[_TO_MTEB_STS[r.metric]] = r.value
        if "cosine_spearman" not in entry:
            raise UsageError("`mteb_out`: the report has no spearman (MTEB's main STS score)")
        main_key = "cosine_spearman"
    else:
        raise UsageError(f"`mteb_out`: MTEB results are written for retrieval and pairs, not {report.command}")
    entry["main_score"] = entry[main_key]
    return {
        "dataset_revision": None,
        "task_name": task_name,
        "mteb_version": None,
        "evaluation_time": None,
        "kg_co2_emissions": None,
        "scores": {split: [dict(sorted(entry.items()))]},
        "embeval": {"version": __version__, "command": report.command, "main_score": main_key},
    }


def write_mteb(path: str | Path, report, *, task_name: str, split: str = "test") -> None:
    import json

    from embeval.io.atomic import write_atomic

    write_atomic(path, json.dumps(to_mteb(report, task_name=task_name, split=split), indent=2, allow_nan=False) + "\n")
