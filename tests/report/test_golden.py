"""Golden files pin the shape of the JSON, CSV and Markdown reports (STYLE.md §8): one report per
command on sample_data/, compared after rounding numbers to 6 significant digits and dropping the
provenance (versions, platform). Regenerate after an intended change of shape with
``EMBEVAL_UPDATE_GOLDEN=1 python -m pytest tests/report/test_golden.py``, and review the diff."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest

from conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"
S = "sample_data/scifact_small"
COMMANDS = {
    "geometry": ["geometry", f"{S}/corpus.npy", "-m", "uniformity,anisotropy,effective_rank,hubness(k=5)"],
    "retrieval": ["retrieval", "--queries", f"{S}/queries.npz", "--corpus", f"{S}/corpus.npz", "--qrels",
                  f"{S}/qrels/test.tsv", "--k", "1,10"],
    "gap": ["gap", f"{S}/queries.npz", f"{S}/corpus.npz", "-m", "gap,knn_mixing(k=5),set_uniformity"],
}
FORMATS = {"json": "json", "csv": "csv", "markdown": "md"}


def _round(v):
    if isinstance(v, float):
        return float(f"{v:.6g}")
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def _normalise(fmt: str, text: str) -> str:
    if fmt == "json":
        doc = json.loads(text)
        doc.pop("provenance", None)
        doc.pop("embeval_version", None)
        return json.dumps(_round(doc), indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        for row in rows:
            w.writerow([f"{float(c):.6g}" if re.fullmatch(r"-?\d+\.\d+(e-?\d+)?", c) else c for c in row])
        return out.getvalue()
    return "".join(line + "\n" for line in text.splitlines()
                   if not re.search(r'"(embeval_version|python|platform|numpy)"', line))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Each command run twice: JSON on stdout with the CSV written by --output, then Markdown."""
    from typer.testing import CliRunner

    from embeval.cli import app

    out, cwd = {}, os.getcwd()
    os.chdir(ROOT)
    try:
        for command, args in COMMANDS.items():
            path = tmp_path_factory.mktemp("golden") / "report.csv"
            res = CliRunner().invoke(app, [*args, "-q", "-f", "json", "-o", str(path)])
            assert res.exit_code == 0, res.stderr
            out[command, "json"], out[command, "csv"] = res.stdout, path.read_text(encoding="utf-8")
            res = CliRunner().invoke(app, [*args, "-q", "-f", "markdown"])
            assert res.exit_code == 0, res.stderr
            out[command, "markdown"] = res.stdout
    finally:
        os.chdir(cwd)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_report_shape_matches_golden_file(rendered, command, fmt):
    got = _normalise(fmt, rendered[command, fmt])
    path = GOLDEN / f"{command}.{FORMATS[fmt]}"
    if os.environ.get("EMBEVAL_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")
