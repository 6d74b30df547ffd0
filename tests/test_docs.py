"""The documentation is generated from the code and cannot drift (sqlite-utils' test_docs pattern)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import ROOT

from embeval.diagnostics import all_diagnostics
from embeval.report.catalog import render_readme


def _reference():
    """docs/gen_reference.py, which writes the generated reference pages at build time."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_output_tables_match_the_declarations():
    """A metric table in a docs page (between <!-- outputs:FAMILY --> markers) is the generated one."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    blocks = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        blocks += text.count("<!-- outputs:")
        assert render_readme(text) == text, f"{page}: tables drifted: python -m embeval.report.catalog {page}"
    assert blocks >= 6


def test_every_output_is_in_the_generated_metrics_page():
    text = _reference().metrics_page()
    for d in all_diagnostics():
        assert d.outputs, "nothing to check"
        for o in d.outputs:
            assert f"| `{o.name}` |" in text, o.name


def test_generated_cli_reference_has_every_command_and_option():
    from typer.main import get_command

    from embeval.cli import app

    text = _reference().cli_page()
    root = get_command(app)
    ctx = root.context_class(root)
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        subs = cmd.list_commands(cmd.context_class(cmd)) if hasattr(cmd, "list_commands") else [None]
        for sub in subs:
            full = f"embeval {name}" + (f" {sub}" if sub else "")
            assert f"\n## {full}\n" in text, full
    for flag in ("--fail-if", "--fail-if-regress", "--model", "--root", "--cluster"):
        assert f"`{flag}`" in text, flag


def test_generated_exit_codes_and_config_pages():
    ref = _reference()
    codes = ref.exit_codes_page()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |", "| 141 |"):
        assert code in codes
    from embeval.batch.commands import COMMANDS, KINDS

    config = ref.config_page()
    assert all(f"| `{k}` |" in config for k in KINDS) and all(f"| `{c}` |" in config for c in COMMANDS)
    assert "[[jobs]]" in config


def test_readme_is_short_and_names_the_distribution():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 225  # the issue: "at most about 200 lines"
    assert "pip install embeval-cli" in text and "`pip install embeval` installs a different" in text.replace("\n", " ")


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    """The site builds with no warning (broken links, pages missing from nav, bad references)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-q",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "reference" / "cli" / "index.html").exists()


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
    from embeval.report.catalog import metric_rows

    assert rows == json.loads(json.dumps(metric_rows()))  # one definition of the rows (with providers)
    assert by_name["hubness_skew"]["providers"] == ["local", "dask"]


def test_metrics_markdown_is_the_readme_catalogue(cli):
    res = cli("metrics", "gap", "--format", "markdown")
    assert res.exit_code == 0 and "| `centroid_cosine` |" in res.stdout


def test_no_result_or_direction_outside_the_registry():
    """One source of truth for directions and identities: anywhere in embeval/, only the registry
    (where an Output makes its Result) constructs a ``Result`` or passes ``higher_is_better=``;
    results.py defines the record (and reads it back from JSON). Providers return raw values."""
    import ast

    allowed = {ROOT / "embeval" / "diagnostics" / "registry.py", ROOT / "embeval" / "results.py"}
    files = sorted((ROOT / "embeval").rglob("*.py"))
    assert len(files) > 50  # the scan sees the whole package
    offenders = []
    for path in files:
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name == "Result" or any(kw.arg == "higher_is_better" for kw in node.keywords):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


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
                text = "".join(
                    c.value
                    for a in node.exc.args
                    for c in ast.walk(a)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                )
                if flag.search(text):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_providers_are_data_the_catalogue_shows(cli):
    """Which provider computes which diagnostic is read from the registry: the README tables'
    providers column and the catalogue rows (embeval metrics) say local, plus dask where the Dask
    provider registered itself."""
    from embeval.diagnostics import get
    from embeval.report.catalog import metric_rows

    rows = metric_rows()
    assert rows, "nothing to check"
    assert all(r["providers"] == list(get(r["diagnostic"], r["family"]).providers) for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["hubness_skew"]["providers"] == ["local", "dask"]
    assert by_name["intrinsic_dim"]["providers"] == ["local"]
    res = cli("metrics", "geometry", "--format", "markdown")
    assert res.exit_code == 0 and "| `hubness` | local, dask |" in res.stdout
    assert "| `intrinsic_dim` | local |" in res.stdout
