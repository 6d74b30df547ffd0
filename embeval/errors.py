"""Typed errors. The CLI turns every ``EmbevalError`` into one line on stderr and exit code 2."""

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


class EnvironmentFailure(Exception):
    """The environment failed, not the input and not embeval: the Dask scheduler or its workers were
    lost, or run other versions than this process. The CLI says it in one line and exits 4
    (rerunning on a healthy, matching environment may succeed); it is not an ``EmbevalError``
    (exit 2, fix the input) nor an internal error (exit 3, a bug)."""
