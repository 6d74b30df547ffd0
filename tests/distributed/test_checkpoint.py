"""Resumable cluster runs (``--checkpoint DIR``): every finished tile is kept; the same command run
again computes nothing it already has and gives the same report, bit for bit (the JSON text); a
run interrupted by a killed scheduler resumes on a new cluster; a changed shard or parameter never
reuses a stale tile; a folder holding anything else is refused and left as it was; a lost scheduler
names the resume command."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections import Counter
from contextlib import contextmanager

import numpy as np
import pytest

pytest.importorskip("distributed")

from conftest import write_small_sharded_set
from embeval.api import gap_report, geometry_report, retrieval_report
from embeval.distributed import checkpoint as ckpt
from embeval.errors import SchedulerLost, UsageError
from embeval.progress import Progress, Task

GEOMETRY = ["uniformity", "anisotropy", "hubness(k=5)"]
TASKS = ("_pair_task", "_moments_task", "_knn_task", "_pass1", "_pass2", "_cross_task")
TASKS += ("_hist_task", "_class_sums_task", "_rows_task")


@pytest.fixture(scope="module")
def sched(dask_client):
    """The address of the run's shared LocalCluster of 2 worker processes (tests/conftest.py)."""
    return dask_client.scheduler.address


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root, x = write_small_sharded_set(tmp_path_factory.mktemp("ckpt"))
    (root / "labels.txt").write_text("".join(f"{'abc'[int(v > 0.3) + int(w > 0)]}\n" for v, w in x[:, :2]))
    return root


@pytest.fixture
def submits(monkeypatch):
    """A spy on the client: how many tasks of each tile function were submitted to the cluster."""
    import distributed

    seen: Counter = Counter()
    real = distributed.Client.submit

    def spy(self, func, *args, **kwargs):
        seen[getattr(func, "__name__", "?")] += 1
        return real(self, func, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "submit", spy)
    return seen


def _tiles(seen: Counter) -> int:
    return sum(seen[name] for name in TASKS)


# ----------------------------------------------------------------------------- without a cluster


def test_tile_values_round_trip_exactly(tmp_path):
    """What a tile returns (float64 sums, NaN and -0.0 included, NumPy scalars, big ints, float32 /
    int64 arrays, tuples) comes back from its file with the same type and the same bits."""
    ck = ckpt.Checkpoint(tmp_path / "ck", "geometry")
    rng = np.random.default_rng(0)
    value = (
        0.1 + 0.2,
        float("nan"),
        -0.0,
        5e-324,
        np.float64(1 / 3),
        np.int64(-7),
        2**70,
        True,
        None,
        rng.standard_normal((3, 4)).astype(np.float32),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        [np.zeros(0, dtype=np.float64), (1.5, 2)],
    )
    ck.save("ab" * 32, value)
    again = ckpt.Checkpoint(tmp_path / "ck", "geometry")  # a new run: sees the file
    found, back = again.load("ab" * 32)
    assert found and again.reused == 1
    assert [type(v) for v in back] == [type(v) for v in value]
    for a, b in zip(value[:6], back[:6]):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes() and np.asarray(a).dtype == np.asarray(b).dtype
    assert back[6] == 2**70 and back[7] is True and back[8] is None
    for a, b in ((value[9], back[9]), (value[10], back[10])):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    assert back[11][1] == (1.5, 2) and type(back[11][1][1]) is int


def test_keys_change_with_every_argument_and_the_shard_file(tmp_path):
    from embeval.distributed.geometry import _pair_task
    from embeval.io.shards import ShardInfo

    f = tmp_path / "s.npy"
    np.save(f, np.eye(3, dtype=np.float32))
    ck = ckpt.Checkpoint(tmp_path / "ck", "geometry")
    s = ShardInfo(str(f), 3, 3, 0)
    base = ck.key(_pair_task, (s, None, "uniformity", 2.0, ("id", "embedding")))
    again = ckpt.Checkpoint(tmp_path / "ck", "geometry")  # another run, same tile: same name
    assert base == again.key(_pair_task, (s, None, "uniformity", 2.0, ("id", "embedding")))
    others = [
        ck.key(_pair_task, (s, None, "uniformity", 5.0, ("id", "embedding"))),  # t
        ck.key(_pair_task, (s, None, "mam_pairwise", 2.0, ("id", "embedding"))),  # kind
        ck.key(_pair_task, (s, None, "uniformity", 2.0, ("id", "vec"))),  # column
        ck.key(_pair_task, (ShardInfo(str(f), 3, 3, 10), None, "uniformity", 2.0, ("id", "embedding"))),  # offset
        ck.key(_pair_task, (s, s, "uniformity", 2.0, ("id", "embedding"))),  # another tile
        ck.key(_pair_task, (s, None, "uniformity", 2, ("id", "embedding"))),  # int, not float
    ]
    assert len({base, *others}) == len(others) + 1
    np.save(f, 2 * np.eye(3, dtype=np.float32))  # the shard rewritten: size same, mtime not
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    fresh = ckpt.Checkpoint(tmp_path / "ck", "geometry")
    assert fresh.key(_pair_task, (s, None, "uniformity", 2.0, ("id", "embedding"))) != base


def test_tiles_of_different_devices_have_different_names(tmp_path):
    """A checkpointed tile is named after the device its worker computed it on (torch tiles differ
    from NumPy's within the float32 bound): a resume never mixes them."""
    from types import SimpleNamespace

    from embeval.distributed.cluster import task_identity
    from embeval.distributed.geometry import _pair_task

    ck = ckpt.Checkpoint(tmp_path / "ck", "geometry")
    args = (None, None, "uniformity", 2.0, ("id", "embedding"))

    def on(device, engine, resolved):
        client = SimpleNamespace(device=device, engine=engine, devices=dict(enumerate(resolved)))
        return ck.key(task_identity(client, _pair_task), args)

    plain = ck.key(task_identity(object(), _pair_task), args)  # a client without devices
    assert plain == ck.key(_pair_task, args)
    names = [
        on("auto", None, ["cpu", "cpu"]),
        on("auto", "torch", ["cpu"]),
        on("auto", None, ["cuda:0", "cpu"]),
        on("cuda", None, ["cuda:0"]),
    ]
    assert len({plain, *names}) == len(names) + 1
    assert on("auto", None, ["cpu"]) == on("auto", None, ["cpu", "cpu", "cpu"])  # more workers: same tiles


def test_foreign_and_wrong_folders_are_refused_and_kept(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match=r"not an embeval checkpoint \(notes.txt\).*nothing was deleted"):
        ckpt.Checkpoint(foreign, "geometry")
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]  # no manifest added, nothing removed

    ckpt.Checkpoint(tmp_path / "g", "gap")
    with pytest.raises(UsageError, match=r"checkpoint of another command \(embeval gap\), not of embeval geometry"):
        ckpt.Checkpoint(tmp_path / "g", "geometry")

    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        ckpt.Checkpoint(tmp_path / "file", "geometry")

    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / ("0" * 64 + ".npz")).write_bytes(b"")  # tile-like name, but no manifest
    with pytest.raises(UsageError, match="not an embeval checkpoint"):
        ckpt.Checkpoint(lone, "geometry")

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(UsageError, match=r"not an embeval checkpoint \(manifest.json\)"):
        ckpt.Checkpoint(bad, "geometry")
    assert (bad / "manifest.json").read_text() == '{"format": "something else"}'

    manifest = json.loads(((tmp_path / "g") / "manifest.json").read_text())
    assert manifest["format"] == "embeval-checkpoint" and manifest["command"] == "gap"
    # A temporary tile left by a run killed mid-write is no foreign file, and is swept once its
    # process is gone (pid 2**22 + 1 is above Linux's pid_max); one of a live process is kept.
    dead = tmp_path / "g" / f".{'1' * 64}.npz.embeval-tmp-{2**22 + 1}-abcd1234.npz"
    live = tmp_path / "g" / f".{'2' * 64}.npz.embeval-tmp-{os.getpid()}-abcd1234.npz"
    dead.write_bytes(b"x")
    live.write_bytes(b"x")
    ckpt.Checkpoint(tmp_path / "g", "gap")
    assert not dead.exists() and live.exists()


def test_checkpoint_needs_a_cluster(data, tmp_path, cli, monkeypatch):
    monkeypatch.delenv("EMBEVAL_CLUSTER", raising=False)
    with pytest.raises(UsageError, match=r"`checkpoint`.*`cluster`"):
        geometry_report(data / "full.npy", metrics=["anisotropy"], checkpoint=tmp_path / "ck")
    res = cli("geometry", data / "full.npy", "-m", "anisotropy", "--checkpoint", tmp_path / "ck", "-q")
    assert res.exit_code == 2 and "--checkpoint" in res.output and "--cluster" in res.output, res.output
    assert not (tmp_path / "ck").exists()


def test_resume_command_is_shell_quoted_without_secrets(monkeypatch):
    from embeval.cli import exits

    argv = ["geometry", "shards dir/*.npy", "--cluster", "tls://me:hunter2@host:8786", "--checkpoint", "ck"]
    monkeypatch.setattr(exits, "_ARGV", argv)
    line = exits.resume_command()
    assert "hunter2" not in line and shlex.split(line)[:3] == ["embeval", "geometry", "shards dir/*.npy"]
    assert shlex.split(line)[-2:] == ["--checkpoint", "ck"]


# ----------------------------------------------------------------------------- on a cluster


def test_rerun_computes_nothing_and_gives_the_same_report(sched, data, tmp_path, submits):
    """Geometry (uniformity, anisotropy, hubness: run_tasks and run_tree), the label diagnostics
    (class sums, kNN, OPIS histograms and gathered rows), retrieval (both passes, scattered queries)
    and gap: the second run with the same folder submits no tile at all, and its
    report is the first one's JSON text; both equal a run without a checkpoint and one process."""
    runs = {
        "geometry": lambda **kw: geometry_report(data / "shards", metrics=GEOMETRY, cluster=sched, **kw),
        "retrieval": lambda **kw: retrieval_report(
            data / "queries.npy", data / "shards", data / "qrels.tsv", k="1,5", cluster=sched, **kw
        ),
        "labels": lambda **kw: geometry_report(
            data / "shards",
            metrics=["tolerance", "knn_accuracy(k=3)", "opis(max_rows=0)", "opis(max_rows=100)"],
            labels=data / "labels.txt",
            cluster=sched,
            **kw,
        ),
        "gap": lambda **kw: gap_report(
            data / "shards", data / "shards", metrics=["gap", "set_uniformity", "knn_mixing(k=3)"], cluster=sched, **kw
        ),
    }
    for name, run in runs.items():
        plain = run().to_json()
        submits.clear()
        first = run(checkpoint=tmp_path / name).to_json()
        computed = _tiles(submits)
        submits.clear()
        second = run(checkpoint=tmp_path / name).to_json()
        assert computed > 0 and _tiles(submits) == 0, (name, submits)
        assert first == second == plain, name
    one = geometry_report(data / "full.npy", metrics=GEOMETRY)  # an independent computation: one process
    dist = json.loads(runs["geometry"](checkpoint=tmp_path / "geometry").to_json())["results"]
    for a, b in zip(one.results, dist):
        assert b["value"] == pytest.approx(a.value, rel=1e-7, abs=1e-10), a.metric


def test_changed_shard_or_parameter_recomputes_only_what_it_touches(sched, data, tmp_path, submits):
    """Three shards: 6 uniformity tiles (i ≤ j), 3 moment tiles. Part 1 rewritten: the 3 uniformity
    tiles and the 1 moment tile that read it are computed again, the others loaded; the report equals
    a run without checkpoint on the new data. A new t recomputes every uniformity tile."""
    import shutil

    shards = tmp_path / "shards"
    shutil.copytree(data / "shards", shards)
    ck = tmp_path / "ck"
    metrics = ["uniformity", "anisotropy"]
    geometry_report(shards, metrics=metrics, cluster=sched, checkpoint=ck)
    x = np.load(shards / "part1.npy")
    np.save(shards / "part1.npy", x[::-1].copy())  # same size, other rows (and a new mtime)
    submits.clear()
    got = geometry_report(shards, metrics=metrics, cluster=sched, checkpoint=ck)
    assert (submits["_pair_task"], submits["_moments_task"]) == (3, 1), submits
    assert got.to_json() == geometry_report(shards, metrics=metrics, cluster=sched).to_json()
    submits.clear()
    geometry_report(shards, metrics=["uniformity(t=5)", "anisotropy"], cluster=sched, checkpoint=ck)
    assert (submits["_pair_task"], submits["_moments_task"]) == (6, 0), submits


def _scale_out():
    """tests/distributed/test_scale_out.py (its cluster of separate processes), loaded by path."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_scale_out_helpers", Path(__file__).with_name("test_scale_out.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _KillAfter(Progress):
    """SIGKILLs the scheduler process once ``n`` tiles have been counted done."""

    def __init__(self, proc, n: int):
        self.proc, self.n, self.done = proc, n, 0

    def task(self, description, total):
        outer = self

        class _T(Task):
            def advance(self, amount=1):
                outer.done += 1
                if outer.done >= outer.n and outer.proc.poll() is None:
                    outer.proc.kill()
                    outer.proc.wait(timeout=30)

        @contextmanager
        def ctx():
            yield _T()

        return ctx()


def test_killed_scheduler_then_resume_on_a_new_cluster(tmp_path_factory, sched, data, tmp_path, submits):
    """The issue's 'done when': a `dask scheduler` (separate process, workers elsewhere) killed
    mid-run; the same call with the same folder on another cluster computes only the missing tiles
    and gives the report of an uninterrupted run, bit for bit."""
    _cluster = _scale_out()._cluster  # `dask scheduler` + `dask worker` processes, another cwd

    metrics = ["uniformity", "anisotropy"]
    ck = tmp_path / "ck"
    with _cluster(tmp_path_factory) as (addr, proc), pytest.raises(SchedulerLost) as err:
        geometry_report(data / "shards", metrics=metrics, cluster=addr, checkpoint=ck, progress=_KillAfter(proc, 2))
    lost = err.value
    msg = str(lost)
    assert lost.checkpoint == str(ck) and 2 <= lost.saved < 9, msg
    assert f"{lost.saved} finished tiles are saved in {ck}" in msg and "rerun the same command" in msg, msg
    assert len(list(ck.glob("*.npz"))) == lost.saved
    submits.clear()
    resumed = geometry_report(data / "shards", metrics=metrics, cluster=sched, checkpoint=ck)
    assert _tiles(submits) == 6 + 3 - lost.saved, submits  # 6 uniformity + 3 moment tiles in all
    assert resumed.to_json() == geometry_report(data / "shards", metrics=metrics, cluster=sched).to_json()


def _main(argv, monkeypatch, capsys):
    """The console entry point (``embeval ARGV``): (exit code, stderr)."""
    import dask

    from embeval.cli import main

    monkeypatch.setattr(sys, "argv", ["embeval", *map(str, argv)])
    with pytest.raises(SystemExit) as code, dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        main()
    return code.value.code, capsys.readouterr().err


def test_lost_scheduler_exit_4_names_the_resume_command(sched, data, tmp_path, monkeypatch, capsys):
    """A local cluster whose scheduler closes after two tiles: exit 4, one line with the number of
    tiles saved and the command line that resumes; that command, run as given, finishes the run
    (exit 0) with the report of an uninterrupted run."""
    import distributed

    real = distributed.as_completed
    armed = [True]

    def close_after_two(futures, *a, **k):
        it = real(futures, *a, **k)
        for i, fut in enumerate(it):
            yield fut
            if armed[0] and i == 1:
                armed[0] = False
                fut.client.cluster.sync(fut.client.cluster.scheduler.close)  # the scheduler dies

    monkeypatch.setattr(distributed, "as_completed", close_after_two)
    monkeypatch.delenv("EMBEVAL_DEBUG", raising=False)
    out, ck = tmp_path / "r.json", tmp_path / "ck"
    argv = ["geometry", data / "shards", "-m", "uniformity", "--cluster", "local:1", "-q", "-o", out]
    code, err = _main([*argv, "--checkpoint", ck], monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert code == 4 and len(lines) == 1 and not out.exists(), err
    assert "finished tiles are saved in" in lines[0] and "resume with: embeval geometry" in lines[0], err
    resume = shlex.split(lines[0].split("resume with: ", 1)[1])
    assert resume == ["embeval", *map(str, argv), "--checkpoint", str(ck)]
    code, err = _main(resume[1:], monkeypatch, capsys)  # armed no more: the run finishes
    assert code == 0 and err == "", err
    whole = tmp_path / "whole.json"
    code, _ = _main([*argv[:4], "--cluster", sched, "-q", "-o", whole], monkeypatch, capsys)
    assert code == 0 and out.read_text() == whole.read_text()


def test_lost_scheduler_without_checkpoint_suggests_it():
    from embeval.cli.exits import _environment_message

    line = _environment_message(SchedulerLost("CommClosedError: stream closed"))
    assert line.startswith("lost the Dask scheduler (CommClosedError: stream closed); no result was written")
    assert "rerun the same command" in line and "add --checkpoint DIR" in line


def test_an_unreadable_tile_is_computed_again(sched, data, tmp_path, submits):
    """A tile file that cannot be read (a disk error) counts as missing: that tile (and only it) is
    computed again and its file replaced; the report does not change. The same for a kNN group."""
    ck = tmp_path / "ck"
    metrics = ["uniformity", "hubness(k=5)"]
    first = geometry_report(data / "shards", metrics=metrics, cluster=sched, checkpoint=ck).to_json()
    files = sorted(ck.glob("*.npz"))
    assert len(files) == 6 + 3  # 6 uniformity tiles, 3 kNN row-shard groups
    for f in files[:2]:
        f.write_bytes(f.read_bytes()[:40])  # truncated
    submits.clear()
    again = geometry_report(data / "shards", metrics=metrics, cluster=sched, checkpoint=ck).to_json()
    assert again == first
    assert submits["_pair_task"] + submits["_knn_task"] // 3 == 2, submits  # a kNN group is 3 tiles
    submits.clear()
    geometry_report(data / "shards", metrics=metrics, cluster=sched, checkpoint=ck)
    assert _tiles(submits) == 0, submits


def test_batch_settings_checkpoint_resumes_every_item(sched, data, tmp_path, submits):
    """``[settings] checkpoint`` in a batch config: each command's cluster items keep their tiles in
    CHECKPOINT/COMMAND; the same config run again submits no tile and gives the same reports."""
    from embeval.batch.config import load_config
    from embeval.batch.runner import run_batch

    (tmp_path / "run.toml").write_text(
        f'[settings]\ncluster = "{sched}"\ncheckpoint = "ck"\n'
        f'[[datasets]]\nname = "d"\nkind = "embeddings"\npath = "{data / "shards"}"\n'
        '[[jobs]]\ncommand = "geometry"\nmetrics = ["uniformity", "hubness(k=5)"]\n'
    )
    cfg = load_config(tmp_path / "run.toml")
    assert cfg.settings.checkpoint == str(tmp_path / "ck")
    first, _ = run_batch(cfg)
    assert [it.status for it in first.items] == ["ok"] and (tmp_path / "ck" / "geometry" / "manifest.json").exists()
    submits.clear()
    again, _ = run_batch(cfg)
    assert _tiles(submits) == 0, submits
    assert [it.report.to_json() for it in again.items] == [it.report.to_json() for it in first.items]


@pytest.mark.parametrize("budget", [1e-4, 1e6])
def test_a_resumed_budgeted_run_reuses_the_measured_cost(sched, data, tmp_path, monkeypatch, budget):
    """The budget's cost model (one timed tile per worker) is kept with the tiles: a resumed run
    times nothing, makes the same exact-or-estimated choice and writes the same exact_estimate_s,
    so its report is the first one's JSON text (over the budget: estimated; under it: exact)."""
    from embeval.compute.context import ComputeContext
    from embeval.distributed import devices

    def run():
        return geometry_report(
            data / "shards",
            metrics=GEOMETRY,
            cluster=sched,
            compute=ComputeContext(budget=budget),
            checkpoint=tmp_path / "ck",
        )

    first = run()
    assert first.settings["exact"] is (budget > 1)
    if budget < 1:  # over the budget: the measured estimate is in the report
        assert first.settings["exact_estimate_s"] > 0

    def no_timing(*a, **k):
        raise AssertionError("a resumed run timed its tiles again")

    monkeypatch.setattr(devices, "time_tiles", no_timing)
    assert run().to_json() == first.to_json()
