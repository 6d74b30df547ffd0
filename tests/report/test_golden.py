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
    want = path.read_text(encoding="utf-8")
    if fmt == "json":
        # Numbers from float32 products move in the last digits with the BLAS kernel OpenBLAS picks
        # for this processor (OPENBLAS_CORETYPE): the shape is exact, the numbers within 1e-4.
        _assert_same_shape(json.loads(got), json.loads(want), "$")
    else:
        assert got == want


def _assert_same_shape(got, want, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for k in want:
            _assert_same_shape(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same_shape(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool) and isinstance(got, (int, float)):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-9), where
    elif where.startswith("$.series.") and type(want) is int and type(got) is int:
        # histogram counts for the pictures: a score within an ulp of a bin edge may fall either side
        assert abs(got - want) <= 2, where
    else:
        assert got == want, where
