"""The exit-code contract at the one boundary (internal error 3, closed pipe quiet, Ctrl-C 130),
atomic writes (permissions, stale temp files, the target named on failure), batch reports written as
one unit, and parameter ranges shared by the CLI, the Python API and batch configs."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeval.errors import EmbevalError, OptionError

ROOT = Path(__file__).resolve().parents[2]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _embeval(*args, **kw):
    return subprocess.run([sys.executable, "-m", "embeval", *map(str, args)], check=False, capture_output=True,
                          text=True, env=_env(), timeout=120, **kw)


# D1: internal errors -----------------------------------------------------------------------------


def test_internal_error_is_one_line_exit_3(cli, tmp_path, monkeypatch):
    import embeval.api

    def boom(*a, **k):
        raise ValueError("something broke\nsecond line")

    monkeypatch.setattr(embeval.api, "geometry_report", boom)
    np.save(tmp_path / "a.npy", np.eye(4, dtype="f4") + 1)
    res = cli("geometry", tmp_path / "a.npy", "-q")
    assert res.exit_code == 3
    assert res.stderr == ("embeval: internal error: ValueError: something broke "
                          "(run with EMBEVAL_DEBUG=1 for the traceback)\n")


def test_internal_error_through_main_in_a_real_process(tmp_path):
    """The console entry point, not only the runner: one line, exit 3, and the traceback only with
    EMBEVAL_DEBUG=1."""
    code = ("import sys, embeval.api as a\n"
            "def boom(*x, **k): raise KeyError('k')\n"
            "a.geometry_report = boom\n"
            "from embeval.cli import main\n"
            "sys.argv = ['embeval', 'geometry', sys.argv[1], '-q']\n"
            "main()\n")
    np.save(tmp_path / "a.npy", np.eye(4, dtype="f4") + 1)
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.npy")], check=False, capture_output=True,
                         text=True, env=_env(), timeout=120)
    assert res.returncode == 3
    line = "embeval: internal error: KeyError: 'k' (run with EMBEVAL_DEBUG=1 for the traceback)"
    assert res.stderr.splitlines() == [line]
    debug = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.npy")], check=False, capture_output=True,
                           text=True, env={**_env(), "EMBEVAL_DEBUG": "1"}, timeout=120)
    assert debug.returncode == 3 and "Traceback" in debug.stderr


def test_usage_error_from_option_parsing_is_one_line_exit_2():
    res = _embeval("geometry", "--no-such-option")
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr


def test_help_documents_the_exit_codes():
    res = _embeval("--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    for words in ("1 = a gate failed", "2 = bad input", "3 = internal error", "EMBEVAL_DEBUG", "130", "141"):
        assert words in text, words


# Pipes and signals -------------------------------------------------------------------------------


def test_closed_pipe_ends_quietly():
    """`embeval metrics | head -1`: no traceback, nothing on stderr, the SIGPIPE status 141. The
    reader is gone before embeval writes (a write already under way when the reader leaves may
    complete, depending on the kernel)."""
    proc = subprocess.Popen([sys.executable, "-m", "embeval", "metrics"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


def test_closed_pipe_with_large_output_exits_141(tmp_path):
    """Output far beyond a pipe buffer (per-query CSV of 2000 queries) written through sys.stdout
    (not Rich), the reader gone."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "q.npz", embedding=rng.standard_normal((2000, 8)).astype("f4"),
             id=np.array([f"q{i}" for i in range(2000)]))
    np.savez(tmp_path / "c.npz", embedding=rng.standard_normal((50, 8)).astype("f4"),
             id=np.array([f"d{i}" for i in range(50)]))
    (tmp_path / "r.tsv").write_text("".join(f"q{i}\td{i % 50}\t1\n" for i in range(2000)))
    proc = subprocess.Popen([sys.executable, "-m", "embeval", "retrieval", "--queries", "q.npz", "--corpus", "c.npz",
                             "--qrels", "r.tsv", "--k", "1,10", "--per-query", "-f", "csv", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=tmp_path)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


def test_ctrl_c_is_130(tmp_path):
    code = ("import sys, time, embeval.api as a\n"
            "def slow(*x, **k):\n"
            "    print('ready', file=sys.stderr, flush=True); time.sleep(60)\n"
            "a.geometry_report = slow\n"
            "from embeval.cli import main\n"
            "sys.argv = ['embeval', 'geometry', 'x.npy', '-q']\n"
            "main()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=_env(), cwd=tmp_path)
    assert proc.stderr.readline().strip() == b"ready"
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 130 and "Traceback" not in rest, rest


# Atomic writes -----------------------------------------------------------------------------------


def test_failed_write_names_the_target_and_leaves_no_temp(tmp_path):
    from embeval.io.atomic import atomic_path

    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(OSError) as err, atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert err.value.filename == str(target) and err.value.errno == errno.ENOSPC
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_sigkilled_writer_leaves_a_temp_file_that_the_next_run_removes(tmp_path):
    """A real SIGKILL in the middle of an atomic write: the target is intact, the temp file left
    behind carries the dead process id, and the next write into the folder removes it."""
    target = tmp_path / "r.json"
    target.write_text("old")
    code = ("import sys, time\n"
            "from embeval.io.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('partial'); print('ready', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, env=_env())
    assert proc.stdout.readline().strip() == b"ready"
    proc.kill()
    proc.wait(timeout=30)
    left = [p for p in tmp_path.iterdir() if p.name != "r.json"]
    assert len(left) == 1 and ".embeval-tmp-" in left[0].name and target.read_text() == "old"
    from embeval.io.atomic import write_atomic

    write_atomic(tmp_path / "other.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "r.json"]


def test_a_live_runs_temp_file_is_not_swept(tmp_path):
    from embeval.io.atomic import sweep_stale

    mine = tmp_path / f".x.json.embeval-tmp-{os.getpid()}-abcd.json"
    mine.write_text("")
    assert sweep_stale(tmp_path) == [] and mine.exists()


# D19: a batch report is one unit ---------------------------------------------------------------


def _config(tmp_path: Path, title: str) -> Path:
    np.save(tmp_path / "a.npy", np.random.default_rng(0).standard_normal((20, 4)).astype("f4"))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[settings]\ntitle = "{title}"\n[[datasets]]\nname = "a"\nkind = "embeddings"\npath = "a.npy"\n'
                   '[[jobs]]\ncommand = "geometry"\nmetrics = ["uniformity"]\n')
    return cfg


def test_batch_failure_while_writing_leaves_the_previous_report_whole(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert cli("run", _config(tmp_path, "first"), "-q", "--out-dir", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import embeval.report.html

    real = embeval.report.html.batch_html

    def full_disk_on_html(batch):
        real(batch)  # rendered, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(embeval.report.html, "batch_html", full_disk_on_html)
    res = cli("run", _config(tmp_path, "second"), "-q", "--out-dir", out)
    assert res.exit_code == 4 and "Traceback" not in res.stderr  # a full disk: the environment failed
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing of the second run


def test_batch_failure_in_the_middle_of_writing(tmp_path, monkeypatch):
    """A write that fails after some files are already written (in staging) changes nothing."""
    from embeval.batch import load_config, run_batch, write_outputs
    from embeval.io import atomic

    out = tmp_path / "out"
    cfg = load_config(_config(tmp_path, "first"), out_dir=out)
    write_outputs(run_batch(cfg)[0], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, calls = atomic.write_atomic, []

    def fail_third(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(atomic, "write_atomic", fail_third)  # runner imports it from io.atomic at call time
    cfg2 = load_config(_config(tmp_path, "second"), out_dir=out)
    with pytest.raises(OSError):
        write_outputs(run_batch(cfg2)[0], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# Parameter ranges: one declaration for the CLI, the API and configs ------------------------------


def test_api_raises_typed_errors_before_reading_anything(tmp_path):
    from embeval.api import gap_report, geometry_report, retrieval_report

    missing = tmp_path / "nope.npy"  # never opened: the parameter is checked first
    with pytest.raises(OptionError, match="`seed`"):
        geometry_report(missing, seed=-1)
    with pytest.raises(OptionError, match="`shift_lambda`"):
        gap_report(missing, missing, paired=True, shift_lambda=float("nan"))
    with pytest.raises(OptionError, match="`threads`"):
        retrieval_report(missing, missing, missing, threads=0)
    with pytest.raises(OptionError, match="`nlist`"):
        retrieval_report(missing, missing, missing, index="ivf", index_params={"nlist": "x"})


@pytest.mark.parametrize("name,bad", [("seed", -1), ("seed", 2**40), ("sample", -1), ("folds", 1), ("k", 0),
                                      ("threads", 0), ("max_seq_length", 0), ("batch_size", 0), ("nlist", 0),
                                      ("confidence", 1.0), ("n_boot", 0), ("shift_lambda", float("inf")),
                                      ("device", "gpu"), ("split", "../x"), ("seed", True), ("sample", 1.5)])
def test_every_declared_range_refuses_its_bad_values(name, bad):
    from embeval.options import check_option, check_split

    with pytest.raises(OptionError):
        check_split(bad) if name == "split" else check_option(name, bad)


def test_errors_are_typed_for_library_users():
    assert issubclass(OptionError, EmbevalError)


def test_faiss_kmeans_prints_no_raw_warning_line():
    """D27: faiss wrote 'WARNING clustering N points to K centroids' straight to fd 2; a run with a
    small corpus and many cells now prints nothing there (checked at the file-descriptor level)."""
    from conftest import SAMPLE

    s = SAMPLE / "scifact_small"
    res = _embeval("retrieval", "--queries", s / "queries.npz", "--corpus", s / "corpus.npz", "--qrels",
                   s / "qrels" / "test.tsv", "--index", "ivf", "--nlist", "60", "--nprobe", "99", "-q", "-f", "json")
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_batch_item_hitting_a_bug_makes_the_run_exit_3(cli, tmp_path, monkeypatch):
    """A bad input in one item is exit 2; an item that hits a bug (any other exception) is 3."""
    import embeval.api.geometry

    cfg = _config(tmp_path, "bug")

    def bug(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(embeval.api.geometry, "run_diagnostic", bug)
    res = cli("run", cfg, "-q", "--out-dir", tmp_path / "o")
    assert res.exit_code == 3, res.stderr
    assert "internal error (ZeroDivisionError" in res.stderr and len(res.stderr.strip().splitlines()) == 1
