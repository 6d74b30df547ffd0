"""Typed errors. The CLI turns every ``EmbevalError`` into one line on stderr and exit code 2, and an
:class:`EnvironmentFailure` (the machine or the cluster failed, not the input) into one line and exit 4."""

from __future__ import annotations


class EmbevalError(Exception):
    """Base class: a problem the user can fix (bad input, bad usage)."""


class InputError(EmbevalError):
    """An input file is missing, unreadable, or holds invalid data."""

    def __init__(self, path: object, problem: str, where: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.where = where
        loc = f" ({where})" if where else ""
        super().__init__(f"{self.path}{loc}: {problem}")


class UsageError(EmbevalError):
    """Options that do not fit together, an unknown metric, a malformed expression."""


class ModelError(EmbevalError):
    """A model cannot be loaded (unknown name, needs a download while offline, ...)."""


class ConfigError(UsageError):
    """A batch config (``embeval run CONFIG.toml``) that cannot run: names the file and the key."""

    def __init__(self, path: object, key: str, problem: str):
        self.path = str(path)
        self.key = key
        super().__init__(f"{self.path}: {key}: {problem}" if key else f"{self.path}: {problem}")


class OptionError(UsageError):
    """A parameter out of its declared range (:mod:`embeval.options`). The message names the
    parameter in backticks (```seed`=-1: must be ≥ 0``); each CLI command says it as its flag."""

    def __init__(self, name: str, value: object, problem: str):
        self.name = name
        self.value = value
        self.problem = problem
        super().__init__(f"`{name}`={value!r}: {problem}")


class UnknownMetric(UsageError, KeyError):
    """``Report.value(name)`` (or ``Report.result``) with a name no result has, or one that several
    results share: the message names the closest names, or the candidates with their parameters."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class EnvironmentFailure(Exception):
    """The environment failed, not the input and not embeval: the Dask scheduler or its workers were
    lost, the disk is full, memory ran out, the GPU failed. The CLI says it in one line and exits 4
    (rerunning on a healthy machine may succeed); it is not an ``EmbevalError`` (exit 2, fix the
    input) nor an internal error (exit 3, a bug)."""


class SchedulerLost(EnvironmentFailure):
    """The Dask scheduler was lost mid-run (exit 4). ``how``: one line saying how; ``checkpoint``:
    the folder of a checkpointed run, whose ``saved`` finished tiles a rerun of the same command
    loads instead of computing (None: nothing was kept)."""

    def __init__(self, how: str, checkpoint: str | None = None, saved: int = 0, where: str = "the Dask scheduler"):
        self.how, self.checkpoint, self.saved, self.where = how, checkpoint, saved, where
        if checkpoint is None:
            tail = (
                "no result was written: restart the scheduler and workers and rerun the same command "
                "(with `checkpoint` a rerun resumes from the finished tiles)"
            )
        else:
            tail = (
                f"{saved} finished tiles are saved in {checkpoint}: restart the scheduler and workers and "
                "rerun the same command with the same `checkpoint` to resume"
            )
        super().__init__(f"lost {where} ({how}); {tail}")


# errno values of a disk that cannot take more: full, over quota, past the file-size limit.
_DISK_FULL = {28, 122, 27}  # ENOSPC, EDQUOT (Linux), EFBIG
_DASK_LOST = {
    "CommClosedError": "the connection to the Dask cluster closed",
    "StreamClosedError": "the connection to the Dask cluster closed",
    "FutureCancelledError": "a task was cancelled by the Dask cluster",
    "KilledWorker": "Dask workers died while running a task (often: out of memory on the worker)",
}


def environment_failure(exc: BaseException) -> EnvironmentFailure | None:
    """The :class:`EnvironmentFailure` that ``exc`` is, or None when it is not one. Recognised by
    type and, for libraries that are imported lazily (Dask, torch), by the class's name and module,
    so that this leaf module imports neither: ``MemoryError``; an ``OSError`` with ENOSPC, EDQUOT or
    EFBIG; Dask's CommClosedError, FutureCancelledError (scheduler connection lost), KilledWorker;
    a torch CUDA error (``torch.cuda.OutOfMemoryError``, ``torch.AcceleratorError``, a RuntimeError
    whose message starts with 'CUDA')."""
    if isinstance(exc, EnvironmentFailure):
        return exc
    if isinstance(exc, MemoryError):
        return EnvironmentFailure(
            "out of memory; try a smaller input, a smaller `budget` (estimated forms of the O(n²) "
            "diagnostics), or a `sample` for uniformity"
        )
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return EnvironmentFailure(f"{where}the disk is full or a file-size limit was reached ({exc.strerror or exc})")
    names = {c.__name__: c.__module__ for c in type(exc).__mro__}
    for name, what in _DASK_LOST.items():
        if names.get(name, "").startswith(("distributed", "tornado")):
            return EnvironmentFailure(f"{what}: {_first_line(exc) or name}")
    module = type(exc).__module__
    text = _first_line(exc)
    if module.startswith("torch") and (
        type(exc).__name__ in ("OutOfMemoryError", "AcceleratorError") or text.upper().startswith("CUDA")
    ):
        return EnvironmentFailure(f"the GPU failed: {text or type(exc).__name__}")
    if isinstance(exc, RuntimeError) and text.startswith(("CUDA error", "CUDA out of memory", "CUBLAS_STATUS")):
        return EnvironmentFailure(f"the GPU failed: {text}")
    return None


def _first_line(exc: BaseException) -> str:
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # a library exception whose __str__ fails: its class name says enough
        return ""
    return lines[0] if lines else ""


#: The name embeval is published under on PyPI (``pip install embeval`` is an unrelated 2019 project).
DISTRIBUTION = "embeval-cli"


class MissingExtra(EmbevalError):
    """A feature needs packages of an optional extra that is not installed. One line (exit 2) naming
    the exact command that installs it: ``pip install 'embeval-cli[encode]'``."""

    def __init__(self, feature: str, extra: str, missing: str):
        self.feature = feature
        self.extra = extra
        self.missing = missing
        self.command = f"pip install '{DISTRIBUTION}[{extra}]'"
        super().__init__(f"{feature} needs the '{extra}' extra ({missing} is not installed): {self.command}")


def require_extra(feature: str, extra: str, *modules: str) -> None:
    """Raise :class:`MissingExtra` unless every module in ``modules`` can be imported. Checked with
    ``importlib.util.find_spec`` (cheap: nothing heavy is imported here)."""
    import importlib.util

    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing, or a broken __spec__
            found = False
        if not found:
            raise MissingExtra(feature, extra, name.split(".")[0].replace("_", "-"))
