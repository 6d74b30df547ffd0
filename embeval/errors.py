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


class UnknownMetric(UsageError, KeyError):
    """``Report.value(name)`` (or ``Report.result``) with a name no result has, or one that several
    results share: the message names the closest names, or the candidates with their parameters."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""
