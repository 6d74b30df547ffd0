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

from embeval.errors import EnvironmentFailure, UsageError, environment_failure, require_extra
from embeval.progress import NULL, Progress

ENV_VAR = "EMBEVAL_CLUSTER"
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
            client = distributed.Client(spec, timeout="30s")
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
            raise EnvironmentFailure(f"lost {where} ({what})") from exc
        raise EnvironmentFailure(f"lost {where}: {failure}") from exc


def run_tasks(
    client,
    func: Callable,
    args: Sequence[tuple],
    *,
    progress: Progress = NULL,
    label: str = "tiles",
    weights: Sequence[float] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``func(*a)`` for every tuple in ``args`` on the cluster; results in ``args`` order.

    Progress advances by ``weights[i]`` (default 1) as each task completes anywhere on the cluster
    (``as_completed``). A task whose worker dies is recomputed elsewhere by the scheduler; an
    exception raised by ``func`` (e.g. InputError for an unreadable shard) is re-raised here, after
    the other tasks are cancelled. ``on_result(i, value)`` (if given) consumes each result as it
    arrives, and then nothing is kept (returns a list of None)."""
    distributed = _dask()
    futures = [client.submit(func, *a, pure=False) for a in args]
    where = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    w = list(weights) if weights is not None else [1.0] * len(futures)
    with progress.task(label, total=sum(w)) as task:
        try:
            for fut in distributed.as_completed(futures):
                i = where[fut.key]
                value = fut.result()  # re-raises the task's exception
                if on_result is not None:
                    on_result(i, value)
                else:
                    out[i] = value
                fut.release()
                task.advance(w[i])
        except BaseException:
            with contextlib.suppress(Exception):  # a lost scheduler cannot cancel anything
                client.cancel(futures)
            raise
    return out
