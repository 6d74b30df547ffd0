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
        """The Result (value, params, n, CI, direction) of ``metric`` or ``metric(param=value)``;
        KeyError when the report has none or several."""
        from embeval.errors import UsageError
        from embeval.report.gates import parse_gate

        try:
            gate = parse_gate(f"{metric} == 0", option="embeval report")
            found = self.report.find(gate.metric, gate.params)
        except UsageError:
            found = []
        if len(found) != 1:
            what = "not in" if not found else f"{len(found)} times in (name its parameters)"
            raise KeyError(
                f"{metric!r} is {what} the {self.command} report {self.source}; it has: {', '.join(self.metrics)}"
            )
        return found[0]

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
            label = self.report.find(gate.metric, gate.params)[0].label()  # evaluate checked: exactly one
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
        from embeval.report.compare import compare, load_side, parse_regress

        gates = [parse_regress(t, option="check") for t in tolerances]
        return compare(
            load_side(self.baseline), load_side(self.current), tolerances=gates, seed=self.seed, n_boot=self.n_boot
        )

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


class EmbevalFixture:
    """What the ``embeval`` fixture returns: ``load``, ``run``, ``compare``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._runs = 0

    def load(self, path: str | Path) -> EmbevalReport:
        """A single-command JSON report written with ``--output X.json``."""
        from embeval.report.compare import load_side

        side = load_side(path)
        if side.kind != "single":
            raise ValueError(f"{path} is a batch report; load its items with embeval.load_batch")
        return EmbevalReport(next(iter(side.items.values())), str(path))

    def load_batch(self, path: str | Path) -> dict[str, EmbevalReport]:
        """A batch report (``embeval run``): ``{"command/model/dataset": EmbevalReport}``."""
        from embeval.report.compare import load_side

        side = load_side(path)
        return {k: EmbevalReport(v, f"{path}:{k}") for k, v in side.items.items()}

    def run(self, *args: Any) -> EmbevalReport:
        """Run ``embeval ARGS`` in-process (one string is split like a shell line) and return its
        report. Gates given with ``--fail-if`` are recorded, not raised: use ``require`` or ``fail_if``. Exit code
        2 or 3 (bad input, internal error) raises ``AssertionError`` with embeval's message; exit code 4 (the
        environment failed: cluster lost, disk full, out of memory, GPU error) raises
        :class:`embeval.errors.EnvironmentFailure`, so the test errors instead of failing on a quality claim."""
        from typer.testing import CliRunner

        from embeval.cli import app

        argv = shlex.split(args[0]) if len(args) == 1 and isinstance(args[0], str) else [str(a) for a in args]
        self._runs += 1
        out = self.tmp_path / f"embeval-run-{self._runs}.json"
        res = CliRunner().invoke(app, [*argv, "--output", str(out), "--format", "json", "--quiet"])
        if res.exit_code not in (0, 1) or not out.exists():
            message = (getattr(res, "stderr", "") or res.output or repr(res.exception)).strip()
            if res.exit_code == 4:
                from embeval.errors import EnvironmentFailure

                raise EnvironmentFailure(f"embeval {' '.join(argv)} exited 4 (the environment failed): {message}")
            raise AssertionError(f"embeval {' '.join(argv)} exited {res.exit_code}: {message}")
        return self.load(out)

    def compare(
        self, baseline: str | Path, current: str | Path, *, seed: int = 0, n_boot: int = 10_000
    ) -> EmbevalComparison:
        return EmbevalComparison(baseline, current, seed=seed, n_boot=n_boot)


@pytest.fixture
def embeval(tmp_path) -> EmbevalFixture:
    """Load, run and compare embeval reports; see :mod:`embeval.pytest_plugin`."""
    return EmbevalFixture(tmp_path)
