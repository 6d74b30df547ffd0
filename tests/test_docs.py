"""The documentation is generated from the code and cannot drift (sqlite-utils' test_docs pattern)."""

from __future__ import annotations

import json

from conftest import ROOT
from embeval.diagnostics import all_diagnostics
from embeval.report.catalog import render_readme


def test_readme_output_tables_match_the_declarations():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- outputs:") == 6
    assert render_readme(text) == text, "README tables drifted: run python -m embeval.report.catalog README.md"


def test_every_output_is_in_the_readme():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for d in all_diagnostics():
        for o in d.outputs:
            assert f"| `{o.name}` |" in text, o.name


def test_metrics_json_lists_every_output_with_its_direction(cli):
    res = cli("metrics", "--format", "json")
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    declared = {(d.name, o.name, o.higher_is_better) for d in all_diagnostics() for o in d.outputs}
    assert {(r["diagnostic"], r["name"], r["higher_is_better"]) for r in rows} == declared
    by_name = {r["name"]: r for r in rows}
    # The directions the review found wrong when they were declared per diagnostic.
    assert by_name["centroid_cosine"]["direction"] == "higher"
    assert by_name["matched_cosine"]["direction"] == "higher"
    assert by_name["d_prime"]["direction"] == "higher"
    assert by_name["fpr@tpr95"]["direction"] == "lower"
    assert by_name["shifted_gap"]["direction"] == "none"


def test_metrics_markdown_is_the_readme_catalogue(cli):
    res = cli("metrics", "gap", "--format", "markdown")
    assert res.exit_code == 0 and "| `centroid_cosine` |" in res.stdout


def test_no_direction_literals_in_the_diagnostics():
    """Directions come from the Output declarations only (one source of truth): only the registry,
    where an Output makes its Result, passes a direction."""
    for path in (ROOT / "embeval" / "diagnostics").glob("*.py"):
        if path.name == "registry.py":
            continue
        assert "higher_is_better=" not in path.read_text(encoding="utf-8"), path.name


def test_library_errors_name_parameters_not_flags():
    """Outside embeval/cli/ no raised error names a CLI flag: the library names parameters (`sample`)
    and each command says them as its own flags (embeval.cli.options.flag_names)."""
    import ast
    import re

    flag = re.compile(r"(^|[\s(])--[a-z][a-z-]+")
    offenders = []
    for path in sorted((ROOT / "embeval").rglob("*.py")):
        if path.parent.name == "cli" and path.parent.parent.name == "embeval":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                text = "".join(c.value for a in node.exc.args for c in ast.walk(a)
                               if isinstance(c, ast.Constant) and isinstance(c.value, str))
                if flag.search(text):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
