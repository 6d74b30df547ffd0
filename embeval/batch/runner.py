"""Expand a validated config into items (command × model × dataset), run them, write outputs.

A failing item (bad input, model that cannot load, a gate naming a metric the item lacks) is
recorded with its error and the rest still run, unless ``fail_fast``: then the first item that
errors or fails a gate stops the run and the remaining items are marked ``skipped``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeval.batch.commands import COMMANDS
from embeval.batch.config import BatchConfig, DatasetSpec, JobSpec, ModelSpec
from embeval.errors import EmbevalError
from embeval.progress import NULL, Progress
from embeval.report.batch import NO_MODEL, Batch, Item


@dataclass
class Planned:
    item: Item
    job: JobSpec
    dataset: DatasetSpec
    model: ModelSpec | None


def plan(cfg: BatchConfig) -> list[Planned]:
    out = []
    for job in cfg.jobs:
        for dname in job.datasets:
            ds = cfg.datasets[dname]
            if ds.needs_model:
                for mname in job.models:
                    out.append(Planned(Item(job.command, mname, dname), job, ds, cfg.models[mname]))
            else:
                out.append(Planned(Item(job.command, ds.model_label or NO_MODEL, dname), job, ds, None))
    return out


def _encoder(cfg: BatchConfig, m: ModelSpec):
    from embeval.encode import EncoderConfig

    s = cfg.settings
    device = m.device or s.device
    return EncoderConfig(
        model=m.model,
        batch_size=m.batch_size or s.batch_size,
        max_seq_length=m.max_seq_length,
        device=None if device == "auto" else device,
        query_prompt=m.query_prompt,
        document_prompt=m.document_prompt,
        cache=s.cache,
        cache_dir=s.cache_dir,
    )


def _call(cfg: BatchConfig, p: Planned, progress: Progress):
    route = COMMANDS[p.job.command].kinds[p.dataset.kind]
    kwargs: dict[str, Any] = {param: p.dataset.paths[f] for f, param in route.fields.items() if f in p.dataset.paths}
    if cfg.settings.device and "device" in route.parameters():
        kwargs["device"] = cfg.settings.device  # [settings] device: encoding and O(n²) work
    kwargs.update(p.dataset.options)
    kwargs.update(p.job.options)
    compute = route.compute()
    if compute is not None:  # device, budget and exact: one context, checked once for the item
        given = compute.pop_from(kwargs)
        if given is not None:
            kwargs["compute"] = given
    if p.job.metrics is not None:
        kwargs["metrics"] = p.job.metrics
    if p.model is not None:
        kwargs["encoder"] = _encoder(cfg, p.model)
    elif cfg.settings.cluster and "cluster" in route.parameters() and "cluster" not in kwargs:
        kwargs["cluster"] = cfg.settings.cluster  # [settings] cluster: items on precomputed vectors
    if p.model is None and cfg.settings.checkpoint and "checkpoint" in route.parameters():
        # [settings] checkpoint: a folder per command (a checkpoint folder belongs to one command)
        kwargs.setdefault("checkpoint", Path(cfg.settings.checkpoint) / p.job.command)
    return route.func()(seed=cfg.settings.seed, progress=progress, **kwargs)


def run_batch(
    cfg: BatchConfig, *, progress: Progress = NULL, fail_fast: bool = False, extra_gates: list | None = None
) -> tuple[Batch, list]:
    """Run every item. ``extra_gates`` (from ``--fail-if`` on the command line) apply to every item
    whose report has the metric. Returns the batch and the extra gates that matched no item."""
    from embeval.io.fileinfo import shown_path

    planned = plan(cfg)
    batch = Batch(
        title=cfg.settings.title,
        config={"path": shown_path(cfg.path), "sha256": cfg.sha256, "toml": cfg.text},
        settings=cfg.settings.to_dict(),
        items=[p.item for p in planned],
    )
    extra_gates = list(extra_gates or [])
    matched = [False] * len(extra_gates)
    stop = False
    for p in planned:
        it = p.item
        if stop:
            it.status = "skipped"
            continue
        progress.item(it.key)
        t0 = time.perf_counter()
        try:
            report = _call(cfg, p, progress)
            it.report = report
            report.gates = [g.evaluate(report) for g in p.job.fail_if]
            for j, g in enumerate(extra_gates):
                if g.applies_to(report):
                    matched[j] = True
                    report.gates.append(g.evaluate(report))
            it.status = "ok"
        except EmbevalError as exc:
            it.status, it.error = "error", str(exc)
        except Exception as exc:
            from embeval.errors import environment_failure

            failure = environment_failure(exc)
            if failure is not None:  # the machine or the cluster failed: the run's exit code becomes 4
                it.status, it.error = "error", f"the environment failed: {failure}"
                it.environment = True  # type: ignore[attr-defined]
            else:  # a bug, not the item's input: the run's exit code becomes 3
                it.status, it.error = "error", f"internal error ({type(exc).__name__}: {exc})"
                it.internal = True  # type: ignore[attr-defined]
        it.seconds = time.perf_counter() - t0
        progress.item_done()
        if fail_fast and (it.status == "error" or not it.passed):
            stop = True
    if stop:
        batch.notes.append("stopped early (--fail-fast): items after the first failure were skipped")
    return batch, [g for g, m in zip(extra_gates, matched) if not m]


OUTPUTS = ("report.json", "report.csv", "report.md", "report.html")


REPORT_FILES = ("report.json", "report.csv", "report.md", "report.html", "per_query.csv")


def _is_ours(name: str, head: str) -> bool:
    """Does a file's beginning (``head``, decoded) show that embeval wrote it as report ``name``?"""
    from embeval.report.batch import CSV_COLUMNS

    first = head.split("\n", 1)[0].rstrip("\r")
    if name == "per_query.csv":
        return first == "command,model,dataset,query_id,metric,value"
    if name == "report.csv":
        return first == ",".join(CSV_COLUMNS)
    if name == "report.json":
        return head.lstrip().startswith("{") and '"embeval_version"' in head[:200]
    if name == "report.md":
        return first.startswith(("## ✅ ", "## ❌ "))
    # report.html: embeval's own first tag sequence, or a page that names embeval near its top
    return head.startswith("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>") or (
        head.lstrip().lower().startswith("<!doctype html>") and "embeval" in head
    )


def check_report_files(out_dir: str | Path) -> None:
    """Refuse (InputError naming it) a file in the output folder under a report name that embeval
    did not write: the run replaces or removes every report file, and must never destroy a user's
    file that merely has the same name (a ``per_query.csv`` of their own)."""
    out = Path(out_dir)
    for name in REPORT_FILES:
        f = out / name
        if not f.is_file():
            continue
        try:
            with open(f, "rb") as fh:
                raw = fh.read(1 << 16 if name == "report.html" else 4096)
        except OSError:
            continue  # unreadable: the write itself reports it
        if not _is_ours(name, raw.decode("utf-8", errors="replace")):
            from embeval.errors import InputError

            raise InputError(
                f,
                "exists and is not a report embeval wrote (its first line is not embeval's); this run would "
                "replace it: move it away or choose another output folder (`out_dir`)",
            )


def output_names() -> tuple[str, ...]:
    """The report files a batch may write into its output folder."""
    return REPORT_FILES


def input_paths(cfg: BatchConfig) -> list[Path]:
    """Every dataset path of a config (outputs must never overwrite one of them)."""
    return [Path(v) for ds in cfg.datasets.values() for v in ds.paths.values()]


def write_outputs(batch: Batch, out_dir: str | Path) -> list[Path]:
    """report.json, report.csv (long form), report.md, report.html, per_query.csv when any item
    has per-query values, and items/<command>.<model>.<dataset>.csv (no model part for precomputed vectors)
    for per-item triage tables. Everything is rendered first and written as one unit (a staging
    folder, then renamed into place), so a failure never leaves a mix of two runs. Returns the
    paths written."""
    from embeval.io.atomic import AtomicFolder, write_atomic
    from embeval.report.batch import batch_csv, batch_json, batch_markdown, batch_per_query_csv
    from embeval.report.html import batch_html

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        from embeval.errors import UsageError

        raise UsageError(f"`out_dir` {out}: exists and is not a folder")
    check_report_files(out)
    texts = {
        "report.json": batch_json(batch),
        "report.csv": batch_csv(batch),
        "report.md": batch_markdown(batch),
        "report.html": batch_html(batch),
    }
    if any(it.report is not None and it.report.per_query for it in batch.items):
        texts["per_query.csv"] = batch_per_query_csv(batch)
    written = []
    with AtomicFolder(out) as group:
        for name in REPORT_FILES:
            group.remove(name)  # a file this run does not write must not survive from the last one
        for name, text in texts.items():
            write_atomic(group.path(name), text)
            written.append(out / name)
        for it in batch.items:  # per-item triage tables (geometry with options.items = true)
            if it.report is not None and getattr(it.report, "items", None) is not None:
                from embeval.report.items import write_items

                parts = [it.command] + ([] if it.model == NO_MODEL else [it.model]) + [it.dataset]
                name = "items/" + re.sub(r"[^\w.@-]+", "_", ".".join(parts)) + ".csv"
                write_items(group.path(name), it.report.items)
                written.append(out / name)
    return written
