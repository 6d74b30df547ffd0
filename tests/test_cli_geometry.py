"""The geometry command end to end through Typer's runner: formats, gates, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE

CORPUS = SAMPLE / "scifact_small" / "corpus.npy"


def test_every_command_has_help(cli):
    from embeval.cli import app

    names = [c.name for c in app.registered_commands]
    assert "geometry" in names and "metrics" in names
    for name in names:
        res = cli(name, "--help")
        assert res.exit_code == 0, name
        assert "Usage" in res.stdout


def test_json_schema_on_sample(cli):
    res = cli("geometry", CORPUS, "--format", "json", "--quiet")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc) >= {"embeval_version", "command", "inputs", "settings", "results", "gates", "passed"}
    assert doc["inputs"]["embeddings"]["n"] == 1000 and doc["inputs"]["embeddings"]["d"] == 384
    assert len(doc["inputs"]["embeddings"]["sha256"]) == 64
    metrics = {r["metric"] for r in doc["results"]}
    assert metrics == {"uniformity", "mam", "anisotropy", "effective_rank", "hubness_skew",
                       "antihub_share", "hub_occurrence", "intrinsic_dim"}
    assert doc["results"], "nothing to check"
    for r in doc["results"]:
        # "baseline" (the isotropic reference) where the output declares one
        assert set(r) - {"baseline"} == {"metric", "value", "params", "n", "ci_low", "ci_high", "higher_is_better"}
    assert next(r["baseline"] for r in doc["results"] if r["metric"] == "uniformity") == pytest.approx(-3.979168, abs=1e-6)
    # Cross-check one figure independently of embeval's code path.
    x = np.load(CORPUS).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = x @ x.T
    n = len(x)
    aniso = (c.sum() - np.trace(c)) / (n * (n - 1))
    got = next(r["value"] for r in doc["results"] if r["metric"] == "anisotropy")
    assert got == pytest.approx(aniso, abs=1e-6)


@pytest.mark.parametrize("name", ["corpus.npz", "corpus.parquet"])
def test_formats_agree(cli, name):
    a = json.loads(cli("geometry", CORPUS, "-f", "json", "-q", "-m", "uniformity,anisotropy").stdout)
    b = json.loads(cli("geometry", SAMPLE / "scifact_small" / name, "-f", "json", "-q", "-m",
                       "uniformity,anisotropy").stdout)
    assert [r["value"] for r in a["results"]] == pytest.approx([r["value"] for r in b["results"]], abs=1e-9)


def test_csv_jsonl_tsv_load_same_vectors(tmp_path, cli, gauss):
    ids = [f"d{i}" for i in range(len(gauss))]
    pd.DataFrame(gauss).assign(id=ids).to_csv(tmp_path / "x.csv", index=False)
    pd.DataFrame(gauss).to_csv(tmp_path / "x.tsv", sep="\t", index=False, header=False)
    with open(tmp_path / "x.jsonl", "w") as fh:
        for i, v in zip(ids, gauss):
            fh.write(json.dumps({"id": i, "embedding": v.tolist()}) + "\n")
    np.save(tmp_path / "x.npy", gauss)
    vals = []
    for name in ("x.npy", "x.csv", "x.tsv", "x.jsonl"):
        res = cli("geometry", tmp_path / name, "-f", "json", "-q", "-m", "uniformity")
        assert res.exit_code == 0, (name, res.stderr)
        vals.append(json.loads(res.stdout)["results"][0]["value"])
    assert vals == pytest.approx([vals[0]] * 4, abs=1e-6)


def test_gates_and_exit_codes(cli, tmp_path):
    ok = cli("geometry", CORPUS, "-q", "-m", "anisotropy", "--fail-if", "anisotropy > 0.5")
    assert ok.exit_code == 0
    bad = cli("geometry", CORPUS, "-q", "-m", "anisotropy", "--fail-if", "anisotropy > 0.01",
              "-o", tmp_path / "r.json")
    assert bad.exit_code == 1
    assert "gate failed" in bad.stderr and "anisotropy" in bad.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["passed"] is False and doc["gates"][0]["passed"] is False
    for expr in ("anisotropy >> 1", "anisotropy > x", "> 1"):
        res = cli("geometry", CORPUS, "-q", "--fail-if", expr)
        assert res.exit_code == 2 and "expected 'METRIC OP NUMBER'" in res.stderr
    res = cli("geometry", CORPUS, "-q", "-m", "anisotropy", "--fail-if", "anisotrpy > 1")
    assert res.exit_code == 2 and "did you mean anisotropy" in res.stderr


def test_output_formats_written(cli, tmp_path):
    for suffix, check in ((".json", lambda t: json.loads(t)["command"] == "geometry"),
                          (".csv", lambda t: t.startswith("metric,value")),
                          (".md", lambda t: "| uniformity |" in t)):
        out = tmp_path / f"report{suffix}"
        res = cli("geometry", CORPUS, "-q", "-m", "uniformity", "-o", out)
        assert res.exit_code == 0 and check(out.read_text()), suffix
    assert not list(tmp_path.glob(".report*"))  # no temp files left behind


def test_sample_flag_reports_ci(cli):
    doc = json.loads(cli("geometry", CORPUS, "-q", "-f", "json", "-m", "uniformity", "--sample", "50000",
                         "--seed", "7").stdout)
    r = doc["results"][0]
    assert r["params"]["sample"] == 50000 and r["ci_low"] < r["value"] < r["ci_high"]
    again = json.loads(cli("geometry", CORPUS, "-q", "-f", "json", "-m", "uniformity", "--sample",
                           "50000", "--seed", "7").stdout)
    assert again["results"][0]["value"] == r["value"]


def test_pairs_enable_alignment(cli, tmp_path, gauss):
    np.save(tmp_path / "a.npy", gauss)
    np.save(tmp_path / "b.npy", gauss + 0.1)
    res = cli("geometry", tmp_path / "a.npy", "--pairs", tmp_path / "b.npy", "-q", "-f", "json")
    assert "alignment" in {r["metric"] for r in json.loads(res.stdout)["results"]}
    res = cli("geometry", tmp_path / "a.npy", "-q", "-m", "alignment")
    assert res.exit_code == 2 and "--pairs" in res.stderr
    np.save(tmp_path / "c.npy", gauss[:10])
    res = cli("geometry", tmp_path / "a.npy", "--pairs", tmp_path / "c.npy", "-q")
    assert res.exit_code == 2 and "row-aligned" in res.stderr


def test_unknown_metric_did_you_mean(cli):
    res = cli("geometry", CORPUS, "-q", "-m", "hubnes")
    assert res.exit_code == 2 and "did you mean hubness" in res.stderr


def _bad_inputs(tmp_path, gauss):
    """(file, expected fragment of the error line) for every kind of bad input."""
    cases = []
    x = gauss.copy(); x[5, 0] = np.nan
    np.save(p := tmp_path / "nan.npy", x); cases.append((p, "row 5"))
    x = gauss.copy(); x[7, 1] = np.inf
    np.save(p := tmp_path / "inf.npy", x); cases.append((p, "non-finite"))
    x = gauss.copy(); x[9] = 0
    np.save(p := tmp_path / "zero.npy", x); cases.append((p, "zero-norm"))
    np.save(p := tmp_path / "one.npy", gauss[:1]); cases.append((p, "only 1 row"))
    np.save(p := tmp_path / "three_d.npy", gauss.reshape(3, 100, 16)); cases.append((p, "2-D"))
    (p := tmp_path / "empty.npy").write_bytes(b""); cases.append((p, "empty"))
    np.save(tmp_path / "full.npy", gauss)
    raw = (tmp_path / "full.npy").read_bytes()
    (p := tmp_path / "trunc.npy").write_bytes(raw[: len(raw) // 2]); cases.append((p, "truncated"))
    (p := tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n6,7,8\n"); cases.append((p, "NaN"))
    (p := tmp_path / "ragged.jsonl").write_text('{"id":"a","embedding":[1,2]}\n{"id":"b","embedding":[1]}\n')
    cases.append((p, "line 2"))
    (p := tmp_path / "dup.jsonl").write_text('{"id":"a","embedding":[1,2]}\n{"id":"a","embedding":[2,1]}\n')
    cases.append((p, "duplicate id 'a'"))
    (p := tmp_path / "vecs.bin").write_bytes(b"abc"); cases.append((p, "unsupported extension"))
    (p := tmp_path / "bad.jsonl").write_text('{"id": "a", "embedding": [1, 2]}\nnot json\n')
    cases.append((p, "invalid JSON"))
    pd.DataFrame({"id": ["a", "b"], "embedding": [[1.0, 2.0], [1.0]]}).to_parquet(p := tmp_path / "ragged.parquet")
    cases.append((p, "ragged"))
    (p := tmp_path / "trunc.parquet").write_bytes(b"PAR1garbage"); cases.append((p, "parquet"))
    cases.append((tmp_path / "missing.npy", "no such file"))
    return cases


def test_bad_inputs_one_line_exit_2_no_output(cli, tmp_path, gauss):
    for path, fragment in _bad_inputs(tmp_path, gauss):
        out = tmp_path / "out" / "report.json"
        res = cli("geometry", path, "-q", "-o", out)
        assert res.exit_code == 2, (path.name, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, (path.name, res.stderr)
        assert path.name in lines[0] and fragment in lines[0], (path.name, lines[0])
        assert "Traceback" not in res.stderr
        assert not out.exists()


def test_dimension_mismatch_between_files(cli, tmp_path, gauss):
    np.save(tmp_path / "a.npy", gauss)
    np.save(tmp_path / "b.npy", gauss[:, :8])
    res = cli("geometry", tmp_path / "a.npy", "--pairs", tmp_path / "b.npy", "-q")
    assert res.exit_code == 2 and "dimension 8 does not match" in res.stderr


def test_help_does_not_import_heavy_modules():
    import subprocess
    import sys

    code = ("import sys; from embeval.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'faiss', 'sentence_transformers', 'transformers', 'pandas') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_version_and_metrics_listing(cli):
    from embeval import __version__

    res = cli("--version")
    assert res.exit_code == 0 and __version__ in res.stdout
    res = cli("metrics")
    assert res.exit_code == 0
    for name in ("uniformity", "hubness_skew", "intrinsic_dim", "spearman"):
        assert name in res.stdout
    res = cli("metrics", "nosuchfamily")
    assert res.exit_code == 2 and "choose one of" in res.stderr


def test_output_file_has_normal_permissions(cli, tmp_path):
    import os

    out = tmp_path / "r.json"
    assert cli("geometry", CORPUS, "-q", "-m", "anisotropy", "-o", out).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_default_run_skips_what_cannot_apply(cli, tmp_path, gauss):
    np.save(tmp_path / "small.npy", gauss[:6])
    res = cli("geometry", tmp_path / "small.npy", "-q", "-f", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert "uniformity" in {r["metric"] for r in doc["results"]}
    assert "hubness_skew" not in {r["metric"] for r in doc["results"]}
    assert any(n.startswith("skipped hubness") for n in doc["notes"])
    # Asked for by name, it still fails loudly.
    res = cli("geometry", tmp_path / "small.npy", "-q", "-m", "hubness")
    assert res.exit_code == 2 and "k=10 needs more than 10 rows" in res.stderr


# `python -m embeval ARGS` for each ARGS in one fresh interpreter (runpy runs the module as `-m` does);
# each run's exit code, then its stderr, and a separator go to stderr.
USAGE_RUNS = r"""
import json, runpy, sys
for argv in json.loads(sys.argv[1]):
    sys.argv = ["embeval", *argv]
    code = 0
    try:
        runpy.run_module("embeval", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    sys.stderr.flush()
    sys.stderr.write(f"\x1e{code}\x1e")
    sys.stderr.flush()
"""


def test_console_script_usage_errors_are_one_line():
    import json
    import subprocess
    import sys

    cases = ((["geometry", str(CORPUS), "--bogus"], "No such option: --bogus"),
             (["geometry"], "Missing argument"), (["nosuch"], "No such command"))
    proc = subprocess.run([sys.executable, "-c", USAGE_RUNS, json.dumps([a for a, _ in cases])],
                          capture_output=True, text=True)
    parts = proc.stderr.split("\x1e")  # stderr, code, stderr, code, ..., ""
    assert proc.returncode == 0 and len(parts) == 2 * len(cases) + 1 and parts[-1] == "", proc.stderr
    for i, (args, fragment) in enumerate(cases):
        stderr, code = parts[2 * i], parts[2 * i + 1]
        assert code == "2", (args, code)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], stderr


@pytest.mark.parametrize("option", ["-o", "--junit", "--items"])
def test_unwritable_outputs_fail_before_work(cli, tmp_path, option):
    blocker = tmp_path / "afile.txt"
    blocker.write_text("x")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    suffix = {"-o": ".json", "--junit": ".xml", "--items": ".csv"}[option]
    for target, fragment in ((blocker / f"r{suffix}", "is not a folder"), (folder, "is a folder")):
        res = cli("geometry", CORPUS, "-q", "-m", "anisotropy", option, target)
        assert res.exit_code == 2, res.stdout + res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and fragment in res.stderr, res.stderr


def test_json_output_is_strict(cli, tmp_path):
    """NaN never reaches JSON (strict parsers reject it), not even inside params."""
    import math

    from embeval.report.render import to_json
    from embeval.results import Report, Result

    rep = Report("geometry", results=[Result("x", math.nan, {"tpr": math.nan, "nested": [math.inf, 1.0]})])
    doc = json.loads(to_json(rep), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["results"][0]["value"] is None and doc["results"][0]["params"] == {"tpr": None, "nested": [None, 1.0]}


def test_library_errors_name_parameters_and_the_cli_says_flags(cli, tmp_path):
    """The library speaks in parameter names; each command maps them to its own flags."""
    from embeval.api import geometry_report
    from embeval.errors import UsageError

    with pytest.raises(UsageError, match="^`sample`=-1: must be ≥ 0"):  # declared in embeval/options.py
        geometry_report(CORPUS, sample=-1)
    res = cli("geometry", CORPUS, "--sample", "-1", "-q")
    assert res.exit_code == 2 and "--sample=-1: must be ≥ 0" in res.stderr and "`" not in res.stderr
    res = cli("gap", CORPUS, CORPUS, "--shift-lambda", "0.5", "-q")
    assert res.exit_code == 2 and "--shift-lambda applies to the paired gap_shift; add --paired" in res.stderr
