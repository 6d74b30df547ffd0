"""pytest plugin (entry point ``pytest11``): assert on embeval reports in a project's own tests.

The ``embeval`` fixture loads a report written earlier (``embeval.load("report.json")``) or runs an
embeval command in-process and returns its report (``embeval.run("geometry", "vecs.npy")``)::

    def test_embeddings_are_spread(embeval):
        report = embeval.run("geometry", "vecs.npy", "-m", "uniformity,anisotropy")
        assert report["uniformity"] < -2.0
        report.require("anisotropy < 0.3", "uniformity(t=2) < -2")   # asserts these conditions hold
        report.fail_if("anisotropy > 0.5")                          # the --fail-if grammar: must not hold

    def test_no_regression(embeval):
        embeval.compare("baseline.json", "current.json").fail_if_regress("ndcg@10>0.01")  # --fail-if-regress

``require`` asserts that each condition holds; ``fail_if`` / ``fail_if_regress`` assert that no
gate of the CLI's ``--fail-if`` / ``--fail-if-regress`` fails. Each raises ``AssertionError`` listing
every condition or gate that missed with its value (and margin), so pytest shows the same message
the CLI would. The old ``check`` read like an assertion but meant "fail if": it now raises
``TypeError`` naming the two explicit methods. Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest


class EmbevalReport:
    """A loaded single-command report: ``report["metric"]`` (or ``report["uniformity(t=2)"]``)
    gives the value; ``require(*conditions)`` asserts they hold; ``fail_if(*gates)`` asserts no
    ``--fail-if`` gate fails."""

    def __init__(self, report, source: str = "") -> None:
        self.report = report  # embeval.results.Report
        self.source = source

    @property
    def command(self) -> str:
        return self.report.command

    @property
    def metrics(self) -> list[str]:
        return [r.label() for r in self.report.results]

    def __contains__(self, metric: str) -> bool:
        try:
            self[metric]
        except KeyError:
            return False
        return True

    def result(self, metric: str):
        """The Result (value, params, n, CI, direction) of ``metric`` or ``metric(param=value)``
        (:meth:`embeval.results.Report.result`, the one lookup); KeyError when the report has none
        (with the closest names) or several (with their parameters)."""
        from embeval.errors import UnknownMetric

        try:
            return self.report.result(metric)
        except UnknownMetric as exc:
            raise KeyError(f"{exc} [{self.source}]" if self.source else str(exc)) from None

    def __getitem__(self, metric: str) -> float:
        return self.result(metric).value

    def require(self, *conditions: str) -> None:
        """Assert that every condition ``"METRIC OP NUMBER"`` holds: ``require("anisotropy < 0.3")``
        passes when anisotropy is below 0.3 (an undefined value never satisfies a condition)."""
        import math

        from embeval.report.gates import parse_gate

        missed = []
        for cond in conditions:
            gate = parse_gate(cond, option="require")
            r = gate.evaluate(self.report)  # a fail-if gate on the same expression: it "fails" when cond holds
            label = self.report.result(gate.metric, **gate.params).label()  # evaluate checked: exactly one
            if r.value is None or (isinstance(r.value, float) and math.isnan(r.value)):
                missed.append(f"{label} is undefined (NaN), so '{gate.expr}' does not hold")
            elif r.passed:
                missed.append(f"{label} = {r.value:.6g}, so '{gate.expr}' does not hold")
        if missed:
            raise AssertionError(
                f"embeval {self.command}: {len(missed)} of {len(conditions)} required conditions "
                "do not hold: " + "; ".join(missed)
            )

    def fail_if(self, *gates: str) -> None:
        """Assert that none of the ``--fail-if`` gates fails: ``fail_if("anisotropy > 0.3")`` raises
        when anisotropy is above 0.3, as ``embeval ... --fail-if 'anisotropy > 0.3'`` exits 1."""
        from embeval.report.gates import parse_gate, summarize

        results = [parse_gate(g, option="fail_if").evaluate(self.report) for g in gates]
        if not all(r.passed for r in results):
            raise AssertionError(summarize(results, prefix=f"embeval {self.command}: "))

    def check(self, *gates: str) -> None:
        raise TypeError(
            "EmbevalReport.check() is gone: it read like an assertion but used the fail-if grammar. "
            f"Use report.require({', '.join(map(repr, gates)) or '...'}) to assert a condition holds, or "
            "report.fail_if(...) to assert a fail-if gate does not fail"
        )

    def __repr__(self) -> str:
        return f"EmbevalReport({self.command}, {len(self.report.results)} results, {self.source!r})"


class EmbevalComparison:
    """Two reports compared (``embeval compare``); ``fail_if_regress(*tolerances)`` asserts no
    ``--fail-if-regress`` gate fails (paired tests included, as on the command line)."""

    def __init__(self, baseline: str | Path, current: str | Path, seed: int = 0, n_boot: int = 10_000) -> None:
        self.baseline, self.current, self.seed, self.n_boot = str(baseline), str(current), seed, n_boot

    def run(self, *tolerances: str):
        from embeval.report.compare import compare, parse_regress

        gates = [parse_regress(t, option="check") for t in tolerances]
        baseline, current = _load_side(self.baseline, "compare"), _load_side(self.current, "compare")
        return compare(baseline, current, tolerances=gates, seed=self.seed, n_boot=self.n_boot)

    def fail_if_regress(self, *tolerances: str) -> None:
        """Assert that no ``--fail-if-regress`` gate (``"METRIC>TOL"``: got worse by more than TOL) fails."""
        from embeval.report.gates import summarize

        comp = self.run(*tolerances)
        if not comp.passed:
            raise AssertionError(summarize(comp.gates, prefix="embeval compare: "))

    def check(self, *tolerances: str) -> None:
        raise TypeError(
            "EmbevalComparison.check() is gone (it read like an assertion but meant fail-if-regress): use "
            f"comparison.fail_if_regress({', '.join(map(repr, tolerances)) or '...'})"
        )

    def delta(self, metric: str) -> float | None:
        """new − old of one metric (None when either is missing)."""
        rows = [r for r in self.run().rows if r.metric == metric or r.label == metric]
        if len(rows) != 1:
            raise KeyError(f"{metric!r} matched {len(rows)} rows")
        return rows[0].delta


def _load_side(path: str | Path, how: str):
    """``load_side(path)``; embeval's own refusal (a missing, malformed or foreign file: exit 2 on the
    command line) becomes a one-line ``AssertionError``, not a raw library exception in the test."""
    from embeval.errors import EmbevalError
    from embeval.report.compare import load_side

    try:
        return load_side(path)
    except EmbevalError as exc:
        raise AssertionError(f"embeval.{how}({str(path)!r}): {exc}") from None


class EmbevalFixture:
    """What the ``embeval`` fixture returns: ``load``, ``run``, ``compare``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._runs = 0

    def load(self, path: str | Path) -> EmbevalReport:
        """A single-command JSON report written with ``--output X.json``. A file embeval cannot
        read as a report raises ``AssertionError`` with embeval's one-line message, as ``run`` does."""
        side = _load_side(path, "load")
        if side.kind != "single":
            raise AssertionError(f"embeval.load({str(path)!r}): a batch report; load its items with embeval.load_batch")
        return EmbevalReport(next(iter(side.items.values())), str(path))

    def load_batch(self, path: str | Path) -> dict[str, EmbevalReport]:
        """A batch report (``embeval run``): ``{"command/model/dataset": EmbevalReport}``."""
        side = _load_side(path, "load_batch")
        return {k: EmbevalReport(v, f"{path}:{k}") for k, v in side.items.items()}

    def run(self, *args: Any) -> EmbevalReport:
        """Run ``embeval ARGS`` in-process (one string is split like a shell line) and return its
        report. The arguments are read as on the command line (the commands' own declarations
        parse them), then the library is called: nothing is written, nothing is read back. Gates
        given with ``--fail-if`` are recorded, not raised: use ``require`` or ``fail_if``. What the
        command line would refuse (exit code 2) or fail on (3) raises ``AssertionError`` with
        embeval's message."""
        from embeval.errors import EmbevalError

        argv = shlex.split(args[0]) if len(args) == 1 and isinstance(args[0], str) else [str(a) for a in args]
        self._runs += 1
        try:
            report = _call_library(argv)
        except _Refused as exc:
            raise AssertionError(f"embeval {' '.join(argv)} exited 2: {exc}") from None
        except EmbevalError as exc:
            raise AssertionError(f"embeval {' '.join(argv)} exited 2: {exc}") from None
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # as the command line: the environment failed (exit 4), else a bug (3)
            from embeval.errors import EnvironmentFailure, environment_failure

            failure = environment_failure(exc)
            if failure is not None:  # the test errors instead of failing on a quality claim
                raise EnvironmentFailure(
                    f"embeval {' '.join(argv)} exited 4 (the environment failed): {failure}"
                ) from exc
            raise AssertionError(f"embeval {' '.join(argv)} exited 3: {type(exc).__name__}: {exc}") from exc
        return EmbevalReport(report, f"(embeval {' '.join(argv)})")

    def compare(
        self, baseline: str | Path, current: str | Path, *, seed: int = 0, n_boot: int = 10_000
    ) -> EmbevalComparison:
        return EmbevalComparison(baseline, current, seed=seed, n_boot=n_boot)


@pytest.fixture
def embeval(tmp_path) -> EmbevalFixture:
    """Load, run and compare embeval reports; see :mod:`embeval.pytest_plugin`."""
    return EmbevalFixture(tmp_path)


# Command line arguments -> one library call ----------------------------------------------------
# The fixture runs the four commands that make one report. Their arguments are parsed by the
# command line's own declarations (click parses; no command runs), then handed to the orchestrator
# in embeval.api that the command itself calls.

_ORCHESTRATOR = {
    "geometry": ("geometry_report", ("file",)),
    "pairs": ("pairs_report", ("file",)),
    "gap": ("gap_report", ("a", "b")),
    "retrieval": ("run_retrieval", ("data",)),
}
# How the report is shown or written: the fixture returns it instead.
_PRESENTATION = ("fmt", "output", "junit", "quiet", "mteb_out", "mteb_task")
# Files only the command line writes (the Python API writes them too: embeval.<command>(..., roc=PATH)).
_FILES = {"items": "--items", "roc": "--roc", "run_out": "--run", "plot": "--plot", "export_gap": "--export-gap"}
_ENCODER = ("batch_size", "max_seq_length", "query_prompt", "document_prompt", "cache", "cache_dir")
_INDEX = {
    "hnsw_m": "m",
    "ef_construction": "ef_construction",
    "ef_search": "ef_search",
    "nlist": "nlist",
    "nprobe": "nprobe",
}


class _Refused(Exception):
    """Arguments the command line would refuse (usage), said as the command line says them."""


def _call_library(argv: list[str]):
    import inspect
    import re
    from enum import Enum

    import typer.main

    from embeval import api
    from embeval.cli import app
    from embeval.errors import EmbevalError
    from embeval.report.gates import apply_gates, parse_gate

    if not argv or argv[0] not in _ORCHESTRATOR:
        raise _Refused(f"the fixture runs {', '.join(_ORCHESTRATOR)} (load any other report with embeval.load)")
    name, rest = argv[0], argv[1:]
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    try:
        params = dict(command.make_context(name, list(rest)).params)
    except Exception as exc:  # a click usage error (Typer may carry its own click): exit code 2
        format_message = getattr(exc, "format_message", None)
        if not callable(format_message):
            raise
        raise _Refused(format_message()) from None
    flags = {str(p.name): next((o for o in p.opts if o.startswith("--")), str(p.name)) for p in command.params}
    params = {k: v.value if isinstance(v, Enum) else v for k, v in params.items()}
    written = [flag for key, flag in _FILES.items() if params.get(key) is not None]
    if written:
        raise _Refused(f"{', '.join(written)}: the fixture returns the report and writes no file")
    for key in (*_PRESENTATION, *_FILES):
        params.pop(key, None)
    gates = [parse_gate(g) for g in params.pop("fail_if", None) or ()]
    params["encoder"] = _encoder_config(params)
    if "metric" in params:
        params["metrics"] = params.pop("metric") or None
    if name == "geometry":
        params["items"] = False
    if name == "retrieval":
        from embeval.params import parse_ks

        params["k"] = parse_ks(params["k"])  # parsed once, at this edge
        params["index_params"] = {new: params.pop(old) for old, new in _INDEX.items() if params.get(old) is not None}
        for old in _INDEX:
            params.pop(old, None)
    function_name, positional = _ORCHESTRATOR[name]
    fn = getattr(api, function_name)
    accepted = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    first = [params.pop(p) for p in positional]
    kwargs = {k: v for k, v in params.items() if takes_any or k in accepted}
    try:
        report = fn(*first, **kwargs)
        apply_gates(report, gates)
    except EmbevalError as exc:  # the library names parameters; the command line says them as flags
        exc.args = (re.sub(r"`(\w+)`", lambda m: flags.get(m.group(1), m.group(1)), str(exc)),)
        raise
    return report


def _encoder_config(params: dict[str, Any]):
    """--model and the encoding options as the command builds them (None without --model); the
    compute block (--device, --budget, --exact) becomes one context, checked once: its device goes
    to the encoder, and the context to the O(n²) work of commands that have some."""
    from embeval.compute.context import KEYS, ComputeContext

    compute = ComputeContext(**{key: params.pop(key) for key in KEYS if key in params})
    params["compute"] = compute
    device = compute.device
    model = params.pop("model", None)
    given = {k: params.pop(k) for k in _ENCODER if k in params}
    if model is None:
        return None
    from embeval.encode import EncoderConfig

    return EncoderConfig(
        model=model,
        batch_size=given.get("batch_size", 32),
        max_seq_length=given.get("max_seq_length"),
        device=None if device == "auto" else device,
        query_prompt=given.get("query_prompt", ""),
        document_prompt=given.get("document_prompt", ""),
        cache=given.get("cache", True),
        cache_dir=None if given.get("cache_dir") is None else str(given["cache_dir"]),
    )
