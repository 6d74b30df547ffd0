"""Which device each worker's tiles run on, and the one-tile-per-worker cost probe of ``budget``.

Devices (``device`` of a cluster run; checked with :func:`embeval.compute.backend.check_device`):

- ``cpu``: every worker runs the NumPy back end (bit-for-bit the numbers of one process).
- ``auto``: each worker resolves it itself (:func:`embeval.compute.backend.resolve_device` with the
  run's row count): ``cuda:0`` (the torch back end) where it has an NVIDIA GPU and torch sees it,
  else ``cpu``. Mixed clusters are allowed; the report says how many workers used which device
  (``settings["devices"]``, e.g. ``["cpu"]`` or ``["cpu", "cuda:0"]``).
- ``cuda`` / ``cuda:N``: every worker must have that GPU; a worker without one stops the run before
  any tile with a :class:`~embeval.errors.UsageError` (exit 2) naming the worker, as ``--device
  cuda`` on one machine without CUDA is exit 2: the request cannot be served by what it names, and
  ``auto`` or ``cpu`` runs.
- mps, xpu, ...: torch accelerators used only for encoding; the tiles run on the CPU, with a note.

The device travels with every task: :class:`DeviceClient` wraps the ``distributed.Client`` so that
each submitted function runs inside :class:`OnDevice` (the requested device and compute engine),
and :func:`embeval.distributed.tiles.task_backend` reads it on the worker. A worker that joins
mid-run resolves the same request for itself. ``engine="torch"`` forces the torch back end on CPU
workers (how CI covers the GPU path without a GPU; the merged top-k and counts are identical, sums
agree within the compute layer's bound, :func:`embeval.compute.dot_error_bound`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from embeval.errors import UsageError

# ----------------------------------------------------------------------------- on the worker

_CURRENT: list[tuple[str, str | None, int | None]] = [("cpu", None, None)]  # (device, engine, rows)


@dataclass(frozen=True)
class OnDevice:
    """``func(*args)`` run with the task's device request set on the worker (picklable: Dask
    ships it with every task)."""

    func: Any
    device: str = "cpu"
    engine: str | None = None
    rows: int | None = None

    @property
    def __name__(self) -> str:  # Dask names task keys after the function
        return getattr(self.func, "__name__", "task")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _CURRENT.append((self.device, self.engine, self.rows))
        try:
            return self.func(*args, **kwargs)
        finally:
            _CURRENT.pop()


def task_backend():
    """The compute back end of the running task (NumPy outside any :class:`OnDevice`)."""
    from embeval.compute import get_backend

    device, engine, rows = _CURRENT[-1]
    return get_backend(device, rows=rows, engine=engine)


def task_engine() -> str:
    """The running task's back end name (numpy or torch): what a test asks a worker."""
    return task_backend().name


def worker_device(device: str, engine: str | None = None, rows: int | None = None) -> dict[str, Any]:
    """Runs on every worker (``client.run``): the device and back end this worker resolves for the
    request, or the reason it cannot (``error``)."""
    from embeval.errors import EmbevalError

    try:
        be = OnDevice(task_backend, device, engine, rows)()
    except EmbevalError as exc:
        return {"device": None, "engine": None, "error": str(exc)}
    return {"device": be.device, "engine": be.name, "error": None}


# ----------------------------------------------------------------------------- on the driver


class DeviceClient:
    """A ``distributed.Client`` whose ``submit`` runs every function inside :class:`OnDevice`; every
    other attribute is the client's own. ``devices``: worker address -> resolved device."""

    def __init__(self, client: Any, device: str, engine: str | None, rows: int | None, devices: dict[str, str]):
        self._client, self.device, self.engine, self.rows, self.devices = client, device, engine, rows, devices

    def submit(self, func, *args: Any, **kwargs: Any):
        return self._client.submit(OnDevice(func, self.device, self.engine, self.rows), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def device_counts(self) -> dict[str, int]:
        """How many workers resolved each device, e.g. ``{"cpu": 2}``."""
        return dict(sorted(Counter(self.devices.values()).items()))


def on_devices(client: Any, device: str = "auto", *, engine: str | None = None, rows: int | None = None):
    """Ask every worker which device it resolves for ``device`` (module docstring) and return a
    :class:`DeviceClient` that sends the request with each task. A worker that cannot serve an
    explicit ``cuda``/``cuda:N`` request: UsageError naming it (exit 2)."""
    from embeval.compute.backend import OTHER_ACCELERATORS, check_device

    text = check_device(device)
    if text.split(":")[0] in OTHER_ACCELERATORS:
        text = "cpu"
    answers = client.run(worker_device, text, engine, rows)
    for addr, ans in sorted(answers.items()):
        if ans["error"] is not None:
            raise UsageError(
                f"`device` {device!r}: worker {addr} cannot run it ({ans['error']}); every worker of a "
                "cluster run on cuda needs a GPU: use auto (each worker picks its GPU or CPU) or cpu"
            )
    return DeviceClient(client, text, engine, rows, {a: ans["device"] for a, ans in answers.items()})


def device_settings(client: Any, requested: str) -> dict[str, Any]:
    """The report settings of a cluster run's devices: ``devices`` (the devices the workers
    resolved, sorted: not how many workers each, so the report of the same run on a cluster of
    another size, or resumed on a new one, is the same bit for bit) and, when the request was not
    ``cpu``, ``device_requested``."""
    out: dict[str, Any] = {}
    if isinstance(client, DeviceClient):
        out["devices"] = sorted(client.device_counts())
        if client.engine == "torch" and not any(d.startswith("cuda") for d in client.devices.values()):
            out["engine"] = "torch"
    if requested != "cpu":
        out["device_requested"] = requested
    return out


# ----------------------------------------------------------------------------- the cost probe


def _timed(func, *args: Any) -> tuple[Any, float, str]:
    """``func(*args)`` on a worker: (value, seconds, where it ran)."""
    from embeval.compute import get_backend  # noqa: F401  (imported before the clock starts)

    be = task_backend()
    be.sync()
    t0 = time.perf_counter()
    value = func(*args)
    be.sync()
    seconds = time.perf_counter() - t0
    try:
        from distributed import get_worker

        where = get_worker().address
    except (ImportError, ValueError):  # pragma: no cover - always inside a worker here
        where = "?"
    return value, seconds, where


def time_tiles(client: Any, func, args: list[tuple], weights: list[float]) -> tuple[dict[int, Any], float]:
    """Run one tile of ``args`` on each worker (tile w on worker w, the first ones of the pass),
    timed there. Returns ({tile index: value}, the cluster's seconds per unit of weight):

        rate = 1 / Σ_w (weight_w / seconds_w)

    (the workers' throughputs added), so the estimate of a pass of total weight W is W · rate
    seconds of wall time, assuming every worker keeps its measured pace and the tiles spread
    evenly. The values are real tiles of the run: the caller keeps them and skips those tiles."""
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    picked = list(range(min(len(workers), len(args))))
    futures = [
        client.submit(_timed, func, *args[i], workers=[workers[i]], allow_other_workers=True, pure=False)
        for i in picked
    ]
    values: dict[int, Any] = {}
    speed = 0.0
    for i, fut in zip(picked, futures):
        value, seconds, _ = fut.result()
        values[i] = value
        speed += weights[i] / max(seconds, 1e-9)
    return values, (1.0 / speed if speed > 0 else 0.0)
