"""Progress reporting without I/O in the library: diagnostics talk to a ``Progress`` object; the
CLI passes one that draws Rich bars on stderr, the library default does nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Task:
    def advance(self, amount: float = 1) -> None:
        pass


class Progress:
    """No-op progress. Subclasses draw something."""

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        yield Task()

    def item(self, label: str) -> None:
        """A batch run starts the item ``label``."""

    def note(self, text: str) -> None:
        """A one-line message worth showing while the run goes on (e.g. a cost estimate)."""

    def item_done(self) -> None:
        """A batch run finished its current item."""


NULL = Progress()


class RichProgress(Progress):
    """Rich progress bars on stderr; only tasks that run longer than ``delay`` seconds show."""

    def __init__(self, console, delay: float = 0.5):
        self.console = console
        self.delay = delay

    def note(self, text: str) -> None:
        from rich.markup import escape

        self.console.print(f"[dim]embeval: {escape(text)}[/]", highlight=False, soft_wrap=True)

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        import time

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as _RP,
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


class LiveProgress(Progress):
    """One Rich display for a whole batch: an overall bar (items done) with the running item's
    own tasks shown beneath it while they run. Use as a context manager."""

    def __init__(self, console, total: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import (
            Progress as _RP,
        )

        self.bar = _RP(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=console, transient=False)
        self.overall = self.bar.add_task("items", total=total)

    def __enter__(self) -> LiveProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def item(self, label: str) -> None:
        self.bar.update(self.overall, description=f"items: {label}")

    def item_done(self) -> None:
        self.bar.advance(self.overall, 1)

    def note(self, text: str) -> None:
        from rich.markup import escape

        self.bar.console.print(f"[dim]embeval: {escape(text)}[/]", highlight=False, soft_wrap=True)

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        tid = self.bar.add_task(f"  {description}", total=total)
        bar = self.bar

        class _T(Task):
            def advance(self, amount: float = 1) -> None:
                bar.advance(tid, amount)

        try:
            yield _T()
        finally:
            bar.remove_task(tid)
