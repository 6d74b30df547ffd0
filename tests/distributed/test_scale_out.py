"""Scale-out on a real cluster: a ``dask scheduler`` and a ``dask worker`` started as separate
processes whose working directory is not the client's (as on any cluster). Relative shard paths
work (they are made absolute before they are shipped); a path a worker cannot see, a worker running
other versions, and a wrong scheduler address each stop the run before any task, in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from embeval.api import geometry_report, retrieval_report
from embeval.distributed import cluster as dcluster
from embeval.errors import EnvironmentFailure, InputError
from embeval.progress import Progress, Task

DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _cluster(tmp_path_factory, workers: int = 1):
    """``dask scheduler`` + ``dask worker``s (no nanny, one thread), each started in its own empty
    working directory; yields (address, scheduler process); killed by pid on exit."""
    if not Path(DASK).exists():
        pytest.skip("no `dask` command beside this Python")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs: list[subprocess.Popen] = []
    logs = tmp_path_factory.mktemp("logs")
    try:
        cmds = [("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])]
        cmds += [
            (f"worker{i}", [DASK, "worker", addr, "--nthreads", "1", "--no-nanny", "--no-dashboard"])
            for i in range(workers)
        ]
        for name, cmd in cmds:
            cwd = tmp_path_factory.mktemp(f"cwd-{name}")
            with open(logs / f"{name}.log", "wb") as log:
                procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT))
            if name == "scheduler":
                _wait_listening(port, procs[0])
        from distributed import Client

        with Client(addr, timeout="30s") as c:
            c.wait_for_workers(workers, timeout=60)
            cwds = set(c.run(os.getcwd).values())
        assert os.getcwd() not in cwds
        yield addr, procs[0]
    finally:
        for p in procs[::-1]:
            p.kill()
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    with _cluster(tmp_path_factory) as (addr, _):
        yield addr


def _wait_listening(port: int, proc: subprocess.Popen, limit: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError("the scheduler exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the scheduler did not start")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    np.save(root / "full.npy", x)
    (root / "shards").mkdir()
    for i, (a, b) in enumerate([(0, 90), (90, 200), (200, 300)]):
        np.save(root / "shards" / f"part{i}.npy", x[a:b])
    src = rng.integers(0, 300, 40)
    np.save(root / "queries.npy", x[src] + 0.5 * rng.standard_normal((40, 8)).astype(np.float32))
    (root / "qrels.tsv").write_text("".join(f"{i}\t{s}\t1\n" for i, s in enumerate(src)))
    return root


def _same(r1, r2):
    assert [(r.metric, r.params) for r in r1.results] == [(r.metric, r.params) for r in r2.results]
    assert len(r1.results) > 0
    for a, b in zip(r1.results, r2.results):
        assert b.value == pytest.approx(a.value, rel=1e-7, abs=1e-10, nan_ok=True), a.metric


def test_relative_glob_works_on_workers_elsewhere(scheduler, data, monkeypatch):
    """The client's relative glob is made absolute; the worker (another cwd) reads the shards."""
    metrics = ["uniformity", "anisotropy", "hubness(k=5)"]
    single = geometry_report(data / "full.npy", metrics=metrics)
    monkeypatch.chdir(data)
    dist = geometry_report("shards/*.npy", metrics=metrics, cluster=scheduler)
    _same(single, dist)
    one = retrieval_report("queries.npy", "full.npy", "qrels.tsv", k="1,10")
    two = retrieval_report("queries.npy", "shards/*.npy", "qrels.tsv", k="1,10", cluster=scheduler)
    _same(one, two)


def test_path_a_worker_cannot_see_is_named_with_the_worker(scheduler, tmp_path):
    from distributed import Client

    local_only = tmp_path / "not-shared.npy"  # no worker can stat it
    with Client(scheduler, timeout="30s") as c:
        dcluster.check_workers(c, [str(__file__)])  # a path every worker sees: passes
        with pytest.raises(InputError) as err:
            dcluster.check_workers(c, [str(local_only)])
    msg = str(err.value)
    assert "\n" not in msg and str(local_only) in msg
    assert "worker tcp://127.0.0.1:" in msg and "cannot see this shard" in msg, msg


def test_worker_with_other_versions_stops_the_run(scheduler, data, monkeypatch):
    real = dcluster.probe

    def stale(paths):  # pickled by value: the worker runs it and reports an older numpy
        out = real(paths)
        out["versions"]["numpy"] = "1.0.0"
        return out

    monkeypatch.setattr(dcluster, "probe", stale)
    with pytest.raises(EnvironmentFailure) as err:
        geometry_report(data / "shards", metrics=["anisotropy"], cluster=scheduler)
    msg = str(err.value)
    assert "numpy 1.0.0 on worker tcp://127.0.0.1:" in msg and f"numpy {np.__version__}" in msg, msg
    assert "embeval" in msg and "\n" not in msg


def test_cli_version_mismatch_is_exit_4_one_line(scheduler, data, cli, monkeypatch):
    real = dcluster.probe

    def stale(paths):
        out = real(paths)
        out["versions"]["embeval"] = "0.0.1"
        return out

    monkeypatch.setattr(dcluster, "probe", stale)
    res = cli("geometry", data / "shards", "-m", "anisotropy", "--cluster", scheduler, "-q")
    assert res.exit_code == 4, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "embeval 0.0.1 on worker" in lines[0], res.output


def test_wrong_address_fails_before_the_scan(tmp_path, monkeypatch):
    """Connect first: the unreachable scheduler is reported, not the (missing) corpus behind it."""
    monkeypatch.setattr(dcluster, "CONNECT_TIMEOUT", "1s")
    addr = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(EnvironmentFailure, match="cannot reach the Dask scheduler"):
        geometry_report(tmp_path / "nothing-here" / "*.npy", metrics=["anisotropy"], cluster=addr)
    assert time.monotonic() - t0 < 20


class _KillScheduler(Progress):
    """A progress sink that SIGKILLs the scheduler when the first tile is done."""

    def __init__(self, proc):
        self.proc = proc

    def task(self, description, total):
        proc = self.proc

        class _T(Task):
            def advance(self, amount=1):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)

        @contextmanager
        def ctx():
            yield _T()

        return ctx()


def test_lost_scheduler_is_an_environment_failure(tmp_path_factory, data):
    """The scheduler killed mid-run: EnvironmentFailure (exit 4 in the CLI), one line that says to
    rerun, not an internal error with a traceback."""
    with _cluster(tmp_path_factory) as (addr, sched):
        t0 = time.monotonic()
        with pytest.raises(EnvironmentFailure) as err:
            geometry_report(data / "shards", metrics=["uniformity"], cluster=addr, progress=_KillScheduler(sched))
        assert sched.poll() is not None and time.monotonic() - t0 < 60
    msg = str(err.value)
    assert "lost the Dask scheduler" in msg and "rerun the same command" in msg and "\n" not in msg, msg
