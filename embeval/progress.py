"""Progress reporting without I/O in the library: diagnostics talk to a ``Progress`` object; the
CLI passes one that draws Rich bars on stderr, the library default does nothing."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator


class Task:
    def advance(self, amount: float = 1) -> None:  # noqa: D102 - no-op default
        pass


class Progress:
    """No-op progress. Subclasses draw something."""

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        yield Task()


NULL = Progress()


class RichProgress(Progress):
    """Rich progress bars on stderr; only tasks that run longer than ``delay`` seconds show."""

    def __init__(self, console, delay: float = 0.5):
        self.console = console
        self.delay = delay

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        import time

        from rich.progress import (
            BarColumn,
            ProgressColumn,
            MofNCompleteColumn,
            Progress as _RP,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        class _Rate(ProgressColumn):
            def render(self, task):
                from rich.text import Text

                return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="cyan")

        bar = _RP(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        start = time.monotonic()
        state = {"shown": False}
        tid = bar.add_task(description, total=total)

        class _T(Task):
            def advance(self, amount: float = 1) -> None:
                bar.advance(tid, amount)
                if not state["shown"] and time.monotonic() - start > _outer.delay:
                    bar.start()
                    state["shown"] = True

        _outer = self
        try:
            yield _T()
        finally:
            if state["shown"]:
                bar.stop()
