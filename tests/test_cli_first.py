"""First contact on the command line: uncut tables at any width, readable help, shell completion,
the cache command, one-line warnings, cache counts in the JSON settings."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from conftest import SAMPLE
from first_mock import install_mock

S = SAMPLE / "scifact_small"


def _lines(out: str) -> list[str]:
    return [line.rstrip() for line in out.splitlines()]


@pytest.mark.parametrize("columns", [None, "60", "100"])
def test_compare_table_never_cut_when_not_a_terminal(cli, tmp_path, monkeypatch, columns):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    base, cur = tmp_path / "a.json", tmp_path / "b.json"
    for path, extra in ((base, []), (cur, ["--index", "ivf", "--nlist", "16", "--nprobe", "2"])):
        r = cli("retrieval", "--queries", S / "queries.npz", "--corpus", S / "corpus.npz", "--qrels",
                S / "qrels" / "test.tsv", "-q", "--per-query", "-o", path, "-f", "json", *extra)
        assert r.exit_code == 0, r.output
    r = cli("compare", base, cur, "--n-boot", "200")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "…" not in out
    for metric in ("precision@100", "pos_score_mean", "best_threshold", "ndcg@10"):
        assert any(metric in line for line in _lines(out)), metric  # whole, on one line
    assert "worse (significant)" in " ".join(out.split()) or "worse" in out
    if columns == "100":
        assert max(len(line) for line in _lines(out)) <= 100


def test_geometry_narrow_drops_empty_columns_and_keeps_metric_names(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    r = cli("geometry", S / "corpus.npy", "-q")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "95% CI" not in out  # empty everywhere: dropped
    for name in ("effective_rank", "antihub_share", "hub_occurrence", "intrinsic_dim"):
        assert name in out
    assert "…" not in out
    assert max(len(line) for line in _lines(out)) <= 50


def test_metrics_list_starts_with_content_and_is_whole(cli, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    r = cli("metrics")
    first = r.stdout.splitlines()[0]
    from embeval.diagnostics import families

    assert first in set(families())  # a family heading, not a blank line
    assert all(not line.endswith(" ") for line in r.stdout.splitlines())


def test_run_help_shows_toml_tables_and_no_spec_reference(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("run", "--help")
    flat = " ".join(r.stdout.split())
    for table in ("[settings]", "[[models]]", "[[datasets]]", "[[jobs]]"):
        assert table in flat
    g = cli("geometry", "--help")
    assert "SPEC" not in g.stdout
    assert "every item that has the metric" in flat  # docstring reflowed, not broken mid-sentence


# `python -m embeval` three times in one fresh interpreter (runpy, as `-m` runs it: the same program
# name and argv[0]); the markup mode is read once at import from EMBEVAL_HELP, so each mode gets its own.
HELP_RUNS = r"""
import runpy, sys
for argv in (["run", "--help"], ["--help"], ["geometry", "--help"]):
    sys.argv = ["embeval", *argv]
    try:
        runpy.run_module("embeval", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        assert exc.code in (0, None), (argv, exc.code)
    sys.stdout.write("\x1e")
    sys.stdout.flush()
"""


@pytest.mark.parametrize("mode", ["rich", "plain"])
def test_help_in_both_renderings_keeps_brackets_and_is_not_cut(mode):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = {**os.environ, "EMBEVAL_HELP": mode, "COLUMNS": "140" if mode == "rich" else "80",
           "PYTHONPATH": str(ROOT)}
    outs = subprocess.run([sys.executable, "-c", HELP_RUNS], capture_output=True, text=True, env=env,
                          check=True).stdout.split("\x1e")
    assert len(outs) == 4 and outs[3] == "", outs
    out, top, geo = outs[:3]
    assert "Usage: python -m embeval run" in out  # the program name `python -m embeval` gives
    flat = " ".join(out.replace("│", " ").split())
    assert "[settings], [[models]], [[datasets]], [[jobs]]" in flat
    commands = top.split("Commands", 1)[1]
    assert "..." not in commands and "…" not in commands  # one whole line per command
    assert "…" not in geo
    assert max(len(line) for line in geo.splitlines()) <= int(env["COLUMNS"])


def test_shell_completion_is_offered(cli):
    r = cli("--help")
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout


def test_cache_info_list_clear(cli, tmp_path, monkeypatch):
    install_mock(monkeypatch)
    cache = tmp_path / "c"
    texts = tmp_path / "t.txt"
    texts.write_text("".join(f"text {i}\n" for i in range(12)))
    r = cli("encode", texts, "-o", tmp_path / "x.npz", "--model", "mock-a", "--cache-dir", cache)
    assert r.exit_code == 0, r.output
    assert "0 of 12 texts from the embedding cache" in r.stderr
    r = cli("encode", texts, "-o", tmp_path / "x.npz", "--model", "mock-a", "--cache-dir", cache)
    assert "12 of 12 texts from the embedding cache (model not loaded)" in r.stderr
    cli("encode", texts, "-o", tmp_path / "y.npz", "--model", "mock-b", "--cache-dir", cache, "-q")
    info = cli("cache", "info", "--cache-dir", cache)
    assert info.exit_code == 0
    assert "files: 2" in info.stdout and "vectors: 24" in info.stdout and "mock-a: 12 vectors" in info.stdout
    listing = cli("cache", "list", "--cache-dir", cache, "--model", "mock-b")
    assert "mock-b" in listing.stdout and "mock-a" not in listing.stdout
    cleared = cli("cache", "clear", "--cache-dir", cache, "--model", "mock-a")
    assert "removed 1 cache file" in cleared.stderr
    assert "files: 1" in cli("cache", "info", "--cache-dir", cache).stdout


def test_broken_cache_is_one_warning_line_and_the_run_succeeds(cli, tmp_path, monkeypatch):
    install_mock(monkeypatch)
    cache = tmp_path / "c"
    texts = tmp_path / "t.txt"
    texts.write_text("".join(f"text {i}\n" for i in range(5)))
    first = cli("encode", texts, "-o", tmp_path / "x.npz", "--model", "mock-a", "--cache-dir", cache, "-q")
    assert first.exit_code == 0
    [db] = list(cache.glob("emb-*.sqlite"))
    import gc

    gc.collect()  # the first run's SQLite connection (same process here) is closed, as after a real run
    for extra in ("-wal", "-shm"):
        (cache / (db.name + extra)).unlink(missing_ok=True)
    db.write_bytes(b"\x00garbage" * 5000)
    r = cli("encode", texts, "-o", tmp_path / "y.npz", "--model", "mock-a", "--cache-dir", cache, "-q")
    assert r.exit_code == 0, r.output
    warn = [line for line in r.stderr.splitlines() if line.startswith("embeval: warning:")]
    assert len(warn) == 1 and db.name in warn[0]
    assert "Traceback" not in r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "x.npz")["embedding"], np.load(tmp_path / "y.npz")["embedding"])
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM emb").fetchone()[0] == 5  # rebuilt


def test_json_settings_record_cache_hits(cli, tmp_path, monkeypatch):
    install_mock(monkeypatch)
    texts = tmp_path / "t.txt"
    texts.write_text("".join(f"text {i}\n" for i in range(20)))
    args = ("geometry", texts, "--model", "mock-a", "--cache-dir", tmp_path / "c", "-m", "uniformity", "-f", "json")
    first = json.loads(cli(*args).stdout)
    second = json.loads(cli(*args).stdout)
    assert first["settings"]["cache"] == {"hits": 0, "misses": 20, "model_loaded": True}
    assert second["settings"]["cache"] == {"hits": 20, "misses": 0, "model_loaded": False}
    assert first["results"] == second["results"]


def test_option_without_effect_warns(cli):
    r = cli("gap", SAMPLE / "scifact_small" / "queries.npz", SAMPLE / "scifact_small" / "corpus.npz",
            "-m", "gap", "--folds", "10", "-q")
    assert r.exit_code == 0, r.output
    assert "embeval: warning: the --folds setting has no effect" in r.stderr


def test_options_without_effect_warn_on_embeddings(cli):
    r = cli("geometry", S / "corpus.npy", "-m", "anisotropy", "--batch-size", "8", "--items-k", "5", "--sample", "100",
            "-q")
    assert r.exit_code == 0, r.output
    err = " ".join(r.stderr.split())
    assert "--batch-size has no effect without --model" in err
    assert "--items-k has no effect without --items" in err
    assert "the --sample setting has no effect" in err
    quiet = cli("geometry", S / "corpus.npy", "-m", "anisotropy", "-q")
    assert "warning" not in quiet.stderr


def test_cache_sizes_agree_and_bad_cache_dir_and_unknown_model(cli, tmp_path, monkeypatch):
    """Review P3-13: info and list count the same bytes (each file with its -wal/-shm journal);
    --cache-dir naming a file is exit 2 in one line; clearing a model with no files says so and
    names the models the cache holds."""
    import os
    import re

    install_mock(monkeypatch)
    monkeypatch.setenv("COLUMNS", "200")  # the tables below are read back: no cell wrapped by a long tmp path
    cache = tmp_path / "c"
    texts = tmp_path / "t.txt"
    texts.write_text("".join(f"text {i}\n" for i in range(40)))
    r = cli("encode", texts, "-o", tmp_path / "x.npz", "--model", "mock-a", "--cache-dir", cache, "-q")
    assert r.exit_code == 0, r.output
    [db] = cache.glob("emb-*.sqlite")
    # encode_texts closes its connection when it returns, so SQLite has folded the journal in.
    assert not os.path.exists(f"{db}-wal"), "the cache connection was left open after the run"
    # A writer still holding the file open (another embeval process) keeps a -wal journal beside it.
    import sqlite3

    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('held_open_by_test', '1')")
    assert os.path.exists(f"{db}-wal"), "the writer's journal is there"
    try:
        info = cli("cache", "info", "--cache-dir", cache)
        listing = cli("cache", "list", "--cache-dir", cache)
        again = cli("cache", "info", "--cache-dir", cache)
        on_disk = sum(os.path.getsize(f"{db}{x}") for x in ("", "-wal", "-shm") if os.path.exists(f"{db}{x}"))
    finally:
        writer.close()
    size_info = re.search(r"size: ([\d.]+ \w+)", info.stdout).group(1)
    assert f"{on_disk / 1024:.1f} KiB" == size_info == re.search(r"size: ([\d.]+ \w+)", again.stdout).group(1)
    assert re.search(r"│\s+40 │\s+" + re.escape(size_info) + r" │", listing.stdout), listing.stdout
    assert "-wal/-shm" in info.stdout and "-wal/-shm" in listing.stdout

    a_file = tmp_path / "afile"
    a_file.write_text("x")
    for sub in ("info", "list", "clear"):
        r = cli("cache", sub, "--cache-dir", a_file)
        assert r.exit_code == 2, (sub, r.output)
        assert r.stderr.strip() == f"embeval: error: --cache-dir {a_file}: is a file, not a folder"

    r = cli("cache", "clear", "--cache-dir", cache, "--model", "nosuch")
    assert r.exit_code == 0
    assert r.stderr.strip() == f"embeval: no cache files for model 'nosuch' in {cache}; models in the cache: mock-a"
    assert db.exists()
