"""Gates on every command that produces a report: exit codes, the one-line summary, JUnit files
(written on pass and fail, never on exit 2)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import SAMPLE

CORPUS = SAMPLE / "scifact_small" / "corpus.npy"


def test_every_report_command_takes_fail_if_and_junit(cli):
    from embeval.cli import app

    for cmd in app.registered_commands:
        if cmd.name in ("metrics", "encode", "mcp", "transform"):
            continue  # they produce no report (mcp serves reports over stdio; transform writes vectors)
        res = cli(cmd.name, "--help")
        assert "--fail-if" in res.stdout and "--junit" in res.stdout, cmd.name


def test_geometry_gate_exit_codes_and_junit(cli, tmp_path):
    j = tmp_path / "gates.xml"
    ok = cli("geometry", CORPUS, "-q", "-m", "anisotropy,effective_rank", "--fail-if", "anisotropy > 0.5",
             "--junit", j)
    assert ok.exit_code == 0 and ok.stderr == ""
    root = ET.parse(j).getroot()
    assert root.get("tests") == "1" and root.get("failures") == "0"
    bad = cli("geometry", CORPUS, "-q", "-m", "anisotropy,effective_rank", "--fail-if", "anisotropy > 0.1",
              "--fail-if", "effective_rank < 300", "--junit", j)
    assert bad.exit_code == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == ("embeval: gates failed (2 of 2): anisotropy = 0.125624 > 0.1 (over by 0.02562); "
                        "effective_rank = 267.047 < 300 (short by 32.95)")
    root = ET.parse(j).getroot()
    fails = [tc.find("failure").get("message") for tc in root.iter("testcase")]
    assert fails == ["anisotropy = 0.125624 > 0.1 (over by 0.02562)", "effective_rank = 267.047 < 300 (short by 32.95)"]
    assert {tc.get("classname") for tc in root.iter("testcase")} == {"geometry/corpus.npy"}


@pytest.mark.parametrize("args", [
    ("geometry", CORPUS, "-q", "--fail-if", "anisotropy >> 1"),
    ("geometry", CORPUS, "-q", "-m", "anisotropy", "--fail-if", "anisotrop > 1"),
    ("geometry", CORPUS, "-q", "-m", "uniformity(t=1),uniformity(t=2)", "--fail-if", "uniformity > 1"),
    ("pairs", SAMPLE / "nope.csv", "-q", "--fail-if", "spearman <"),
])
def test_bad_gate_exit_2_no_junit(cli, tmp_path, args):
    j = tmp_path / "gates.xml"
    res = cli(*args, "--junit", j)
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert not j.exists()


def test_junit_path_is_a_folder(cli, tmp_path):
    res = cli("geometry", CORPUS, "-q", "-m", "anisotropy", "--junit", tmp_path)
    assert res.exit_code == 2 and "is a folder" in res.stderr
