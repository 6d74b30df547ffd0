"""Where distributed work runs: a Dask ``LocalCluster`` or an existing scheduler.

Cluster specs: ``local:N`` starts a LocalCluster of N worker processes (one thread each; stopped
when the run ends); ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` connects to a running scheduler.
The ``EMBEVAL_CLUSTER`` environment variable supplies a spec when none is given. Security (TLS
certificates) comes from Dask's own configuration (``distributed.comm.tls.*`` in
``~/.config/dask/*.yaml`` or ``DASK_DISTRIBUTED__COMM__TLS__...`` environment variables), which
``Client`` reads itself; embeval passes nothing of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from embeval.distributed import checkpoint
from embeval.errors import EnvironmentFailure, SchedulerLost, UsageError, environment_failure, require_extra
from embeval.progress import NULL, Progress

ENV_VAR = "EMBEVAL_CLUSTER"
CONNECT_TIMEOUT = "30s"  # how long to try reaching a scheduler before giving up
DASK = "dask"  # the provider name (embeval.diagnostics.registry.provide) of this package


def resolve_spec(spec: str | None) -> str | None:
    """The cluster spec to use: ``spec`` if given, else ``$EMBEVAL_CLUSTER``, else None (no cluster).
    Checks its form against the declaration in :mod:`embeval.options` (OptionError otherwise,
    naming `cluster`, or `EMBEVAL_CLUSTER` when the value came from the environment)."""
    from embeval.errors import OptionError
    from embeval.options import check_option

    name = "cluster"
    if not spec:
        spec, name = os.environ.get(ENV_VAR) or None, ENV_VAR
    if spec is None:
        return None
    spec = spec.strip()
    try:
        check_option("cluster", spec)
    except OptionError as exc:
        raise OptionError(name, spec, exc.problem) from None
    return spec


def _dask():
    require_extra("a cluster", "dask", "dask", "distributed")
    import distributed

    return distributed


@contextmanager
def quiet_dask_logs() -> Iterator[None]:
    """Dask's own loggers (``distributed.*``, ``tornado``) silenced while embeval runs a cluster: a
    lost scheduler is embeval's one line (exit 4), not Dask's traceback on stderr. Dask's config gives
    some of them their own level (``distributed.client: warning``), so each is set, and restored on
    exit. With ``EMBEVAL_DEBUG=1`` they speak as usual."""
    if os.environ.get("EMBEVAL_DEBUG"):
        yield
        return
    names = ["distributed", "tornado", "asyncio"]
    names += [n for n in logging.root.manager.loggerDict if n.startswith(("distributed.", "tornado."))]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


@contextmanager
def open_client(spec: str) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (see module docstring), closed (and a local cluster
    stopped) on exit. A scheduler that cannot be reached, or that is lost while the block runs
    (connection closed, tasks cancelled, workers killed), raises :class:`EnvironmentFailure`."""
    distributed = _dask()
    with quiet_dask_logs():
        if spec.startswith("local:"):
            import dask

            n = int(spec.split(":", 1)[1])
            # Workers do the BLAS: one thread each, so N workers use N cores; no dashboard.
            with dask.config.set({"distributed.admin.system-monitor.gil.enabled": False}):
                cluster = distributed.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
                )
            try:
                with _lost_as_failure(spec), distributed.Client(cluster) as client:
                    yield client
            finally:
                with contextlib.suppress(Exception):
                    cluster.close()
            return
        try:
            client = distributed.Client(spec, timeout=CONNECT_TIMEOUT)
        except ValueError as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {spec}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise EnvironmentFailure(f"cannot reach the Dask scheduler at {spec}: {exc}") from None
        try:
            with _lost_as_failure(spec):
                yield client
        finally:
            with contextlib.suppress(Exception):
                client.close()


@contextmanager
def _lost_as_failure(spec: str) -> Iterator[None]:
    """Dask's own exceptions for a lost scheduler or lost workers become one EnvironmentFailure
    naming the cluster (``lost the Dask scheduler at tcp://...``)."""
    try:
        yield
    except EnvironmentFailure:
        raise
    except Exception as exc:
        failure = environment_failure(exc)
        if failure is None or not type(exc).__module__.startswith(("distributed", "tornado")):
            raise
        where = "the local Dask cluster" if spec.startswith("local:") else f"the Dask scheduler at {spec}"
        if "scheduler-connection-lost" in str(failure):  # the common case, said plainly
            where = "the local Dask cluster's scheduler" if spec.startswith("local:") else where
            what = "the connection closed; the remaining tasks were cancelled"
            raise _lost(what, where) from exc
        how = scheduler_lost(exc)
        if how is not None:  # outside a task pass (scattering data, asking the workers)
            raise _lost(how, where) from exc
        raise EnvironmentFailure(f"lost {where}: {failure}") from exc


def task_identity(client: Any, func: Any) -> Any:
    """What names a task's checkpointed tiles besides its arguments: the function and, on a client
    that sends a device with each task (:class:`embeval.distributed.devices.DeviceClient`), the
    device requested, the engine and the devices the workers resolved: torch tiles differ from
    NumPy's within the float32 bound, so a resumed run never mixes tiles of different devices."""
    devices = getattr(client, "devices", None)
    if not isinstance(devices, dict):
        return func
    return (func, client.device, client.engine, tuple(sorted(set(devices.values()))))


def run_tasks(
    client,
    func: Callable,
    args: Sequence[tuple],
    *,
    progress: Progress = NULL,
    label: str = "tiles",
    weights: Sequence[float] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
    keep: bool = True,
) -> list[Any]:
    """Run ``func(*a)`` for every tuple in ``args`` on the cluster; results in ``args`` order.

    Progress advances by ``weights[i]`` (default 1) as each task completes anywhere on the cluster
    (``as_completed``). A task whose worker dies is recomputed elsewhere by the scheduler; an
    exception raised by ``func`` (e.g. InputError for an unreadable shard) is re-raised here, after
    the other tasks are cancelled. ``on_result(i, value)`` (if given) consumes each result as it
    arrives, and then nothing is kept (returns a list of None). ``keep=False``: the tasks are not
    checkpointed (the id checks and lookups: cheap, taking futures of every shard's ids, and to be
    redone on a rerun in case the ids changed)."""
    distributed = _dask()
    ck = checkpoint.active() if keep else None  # a checkpointed run: saved tiles are loaded, finished ones saved
    keys, saved = ck.plan(task_identity(client, func), args) if ck is not None else ([], set())
    _say_resumed(progress, label, len(saved), len(args))
    futures: list[Any] = []
    where: dict[Any, int] = {}

    def submit(i: int) -> None:
        fut = client.submit(func, *args[i], pure=False)
        where[fut.key] = i
        futures.append(fut)

    for i in range(len(args)):
        if i not in saved:
            submit(i)
    out: list[Any] = [None] * len(args)
    w = list(weights) if weights is not None else [1.0] * len(args)

    def take(i: int, value: Any) -> None:
        if on_result is not None:
            on_result(i, value)
        else:
            out[i] = value
        task.advance(w[i])

    with progress.task(label, total=sum(w)) as task:
        try:
            for i in sorted(saved):  # read one at a time, while the cluster computes the others
                assert ck is not None
                found, value = ck.load(keys[i])
                if found:
                    take(i, value)
                else:  # unreadable: computed again
                    submit(i)
            for fut in distributed.as_completed(futures):
                i = where[fut.key]
                value = fut.result()  # re-raises the task's exception
                if ck is not None:
                    ck.save(keys[i], value)
                fut.release()
                take(i, value)
        except BaseException as exc:
            lost = scheduler_lost(exc)
            if lost is None:
                with contextlib.suppress(Exception):  # a lost scheduler cannot cancel anything
                    client.cancel(futures)
                raise
            raise _lost(lost) from None
    return out


def _lost(how: str, where: str = "the Dask scheduler") -> SchedulerLost:
    """The scheduler was lost: say how, and what a rerun will reuse (the active checkpoint's tiles)."""
    ck = checkpoint.active()
    if ck is None:
        return SchedulerLost(how, where=where)
    return SchedulerLost(how, str(ck.folder), ck.count, where=where)


def _say_resumed(progress: Progress, label: str, done: int, total: int) -> None:
    if done:
        progress.message(f"{label}: {done} of {total} from the checkpoint, {total - done} to compute")


def run_tree(
    client,
    func: Callable,
    groups: Sequence[Sequence[tuple]],
    *,
    merge: tuple[Callable, tuple],
    finish: Sequence[tuple[Callable, tuple]],
    progress: Progress = NULL,
    label: str = "tiles",
    weights: Sequence[Sequence[float]] | None = None,
    on_result: Callable[[int, Any], None],
) -> None:
    """For each group g: ``func(*a)`` for every tuple of ``groups[g]``, the results merged on the
    workers as a binary tree (``merge[0](x, y, *merge[1])``, in group order: left before right),
    then ``finish[g][0](merged, *finish[g][1])``; only that final value comes to this process,
    passed to ``on_result(g, value)`` as each group completes. Progress advances by the weight of
    each leaf as it completes anywhere on the cluster. Errors and a lost scheduler as in
    :func:`run_tasks`."""
    distributed = _dask()
    mfunc, margs = merge
    leaves: list[Any] = []
    finals: list[Any] = []
    w: list[float] = []
    where: dict[Any, int] = {}  # leaf key -> its index in w
    group_of: dict[Any, int] = {}  # final key -> its group

    def build(g: int) -> None:
        group = groups[g]
        level = [client.submit(func, *a, pure=False) for a in group]
        for i, f in enumerate(level):
            where[f.key] = len(w) + i
        leaves.extend(level)
        w.extend(list(weights[g]) if weights is not None else [1.0] * len(group))
        while len(level) > 1:
            nxt = [client.submit(mfunc, x, y, *margs, pure=False) for x, y in zip(level[::2], level[1::2])]
            level = nxt + ([level[-1]] if len(level) % 2 else [])
        ffunc, fargs = finish[g]
        final = client.submit(ffunc, level[0], *fargs, pure=False)
        group_of[final.key] = g
        finals.append(final)

    # A checkpointed run saves each group's final value (what reaches this process; a leaf stays on
    # the workers), and loads the groups already saved instead of computing their tiles.
    ck = checkpoint.active()
    gargs = [(tuple(group), merge, finish[g]) for g, group in enumerate(groups)]
    keys, saved = ck.plan(task_identity(client, func), gargs) if ck is not None else ([], set())
    _say_resumed(progress, label, len(saved), len(groups))
    for g in range(len(groups)):
        if g not in saved:
            build(g)

    def weight(g: int) -> float:
        return float(sum(weights[g])) if weights is not None else float(len(groups[g]))

    with progress.task(label, total=sum(weight(g) for g in range(len(groups)))) as task:
        try:
            for g in sorted(saved):  # read one at a time, while the cluster computes the others
                assert ck is not None
                found, value = ck.load(keys[g])
                if found:
                    on_result(g, value)
                    task.advance(weight(g))
                else:  # unreadable: computed again
                    build(g)
            for fut in distributed.as_completed(leaves + finals):
                if fut.key in group_of:
                    g = group_of[fut.key]
                    value = fut.result()
                    if ck is not None:
                        ck.save(keys[g], value)
                    on_result(g, value)
                else:  # a leaf: its value stays on the workers (a merge needs it), an error comes here
                    if fut.status == "error":
                        fut.result()  # re-raises the tile's exception
                    task.advance(w[where[fut.key]])
                fut.release()
        except BaseException as exc:
            lost = scheduler_lost(exc)
            if lost is None:
                client.cancel(leaves + finals)
                raise
            raise _lost(lost) from None


_LOST = ("CommClosedError", "StreamClosedError", "FutureCancelledError", "CancelledError")


def scheduler_lost(exc: BaseException) -> str | None:
    """One line saying how the connection to the scheduler was lost, or None when ``exc`` is
    something else (a task's own error, an interrupt). Recognised by class name and module
    (distributed, tornado, asyncio), so that nothing here imports Dask."""
    for cls in type(exc).__mro__:
        if cls.__name__ in _LOST and cls.__module__.startswith(("distributed", "tornado", "asyncio", "concurrent")):
            text = str(exc).strip().splitlines()
            return f"{cls.__name__}: {text[0]}" if text else cls.__name__
    return None


# ----------------------------------------------------------------------------- before any task

PACKAGES = ("embeval", "numpy", "faiss")


def versions() -> dict[str, str | None]:
    """This process's embeval, numpy and faiss versions (None: not installed). faiss is read from
    the installed distribution's metadata, so it is not imported."""
    from importlib import metadata

    import numpy

    from embeval._version import __version__

    faiss = None
    for dist in ("faiss-cpu", "faiss-gpu", "faiss-gpu-cu12", "faiss"):
        try:
            faiss = metadata.version(dist)
            break
        except metadata.PackageNotFoundError:
            continue
    return {"embeval": __version__, "numpy": numpy.__version__, "faiss": faiss}


def probe(paths: Sequence[str]) -> dict[str, Any]:
    """Runs on every worker (``client.run``): its versions, its working directory, and for each
    path the error text of ``os.stat`` (None when the worker sees it)."""
    from embeval.io.remote import is_url, stat_error

    seen: dict[str, str | None] = {}
    for p in paths:
        if is_url(p):  # object storage: this worker's credentials and endpoint must reach it
            seen[p] = stat_error(p)
            continue
        try:
            os.stat(p)
            seen[p] = None
        except OSError as exc:
            seen[p] = exc.strerror or type(exc).__name__
    return {"versions": versions(), "cwd": os.getcwd(), "paths": seen}


def check_workers(client, paths: Sequence[str]) -> None:
    """Before any task: every worker runs this process's embeval, numpy and faiss versions
    (EnvironmentFailure, exit 4, naming what differs) and sees each of ``paths`` (the first shard
    of every sharded input; InputError, exit 2, naming the worker and the path it cannot see)."""
    from embeval.errors import EnvironmentFailure, InputError

    mine = versions()
    answers = client.run(probe, list(paths))
    if not answers:
        raise EnvironmentFailure("the Dask cluster has no workers")
    differ = []
    for addr, ans in sorted(answers.items()):
        theirs = ans["versions"]
        for pkg in PACKAGES:
            if theirs.get(pkg) != mine.get(pkg):
                differ.append(f"{pkg} {theirs.get(pkg)} on worker {addr}")
    if differ:
        client_side = ", ".join(f"{p} {mine.get(p)}" for p in PACKAGES)
        raise EnvironmentFailure(
            f"workers run other versions than this process ({client_side}): {'; '.join(differ[:4])}"
            + (f" (and {len(differ) - 4} more)" if len(differ) > 4 else "")
        )
    for addr, ans in sorted(answers.items()):
        for p, err in ans["paths"].items():
            if err is not None:
                raise InputError(
                    p,
                    f"worker {addr} cannot see this shard ({err}; its working directory is {ans['cwd']}): "
                    "shards must be on a filesystem every worker mounts at the same path, or in object storage",
                )
