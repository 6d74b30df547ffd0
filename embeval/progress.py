"""Progress reporting without I/O in the library: diagnostics talk to a ``Progress`` object; the
CLI passes one that draws Rich bars on stderr, the library default does nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _lit(text) -> str:
    """A description or message shown literally by Rich (a path like ``d[/b]x`` is no markup;
    control characters made visible)."""
    from embeval.safety import rich_literal

    return rich_literal(text)


class Task:
    def advance(self, amount: float = 1) -> None:
        pass


class _BarTask(Task):
    """A row ``tid`` of a Rich progress display ``bar``."""

    def __init__(self, bar: Any, tid: Any) -> None:
        self._bar, self._tid = bar, tid

    def advance(self, amount: float = 1) -> None:
        self._bar.advance(self._tid, amount)


class Progress:
    """No-op progress. Subclasses draw something."""

    @contextmanager
    def task(self, description: str, total: float | None, unit: str = "") -> Iterator[Task]:
        yield Task()

    @contextmanager
    def status(self, description: str) -> Iterator[None]:
        """A phase of unknown length (loading a model): a spinner while it runs."""
        yield

    def message(self, text: str) -> None:
        """One informational line (e.g. how many texts came from the cache)."""

    def item(self, label: str) -> None:
        """A batch run starts the item ``label``."""

    def note(self, text: str) -> None:
        """A one-line message worth showing while the run goes on (e.g. a cost estimate)."""

    def item_done(self) -> None:
        """A batch run finished its current item."""


NULL = Progress()


def as_progress(progress: Any) -> Progress:
    """The Python API's ``progress`` argument as a Progress: False silent; True Rich bars on
    stderr (in notebooks too); a Progress object as it is."""
    if isinstance(progress, Progress):
        return progress
    if not progress:
        return NULL
    from rich.console import Console

    return RichProgress(Console(stderr=True))


def _rate_columns():
    """Rich columns for texts/s and the ETA from the mean rate since the start, so both are live
    after the first step (Rich's own speed needs two samples). Built on first use (rich is
    imported lazily)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    def rate(task) -> float | None:
        elapsed = task.elapsed or 0.0
        return task.completed / elapsed if task.completed and elapsed > 0 else None

    class Rate(ProgressColumn):
        def render(self, task):
            r = rate(task)
            return Text(f"{r:,.0f}{task.fields.get('unit', '')}/s" if r else "", style="cyan")

    class Eta(ProgressColumn):
        def render(self, task):
            r = rate(task)
            if not r or task.total is None:
                return Text("" if task.total is None else "ETA -:--", style="cyan")
            left = max(task.total - task.completed, 0) / r
            return Text(f"ETA {int(left // 60)}:{int(left % 60):02d}", style="cyan")

    class Count(ProgressColumn):
        """``done/total``; nothing for a phase of unknown length (a spinner row)."""

        def render(self, task):
            if task.total is None:
                return Text("")
            width = len(f"{int(task.total):,}")
            return Text(f"{int(task.completed):>{width},}/{int(task.total):,}", style="green")

    return Rate, Eta, Count


class RichProgress(Progress):
    """Rich progress on stderr: one display whose rows are the running tasks (nested tasks add a
    row, they never start a second display); it appears once a task has run ``delay`` seconds,
    before its first step, and goes away when the last task ends."""

    def __init__(self, console, delay: float = 0.3):
        import threading

        self.console = console
        self.delay = delay
        self._bar: Any = None
        self._shown: _show_after | None = None
        self._open = 0
        self._lock = threading.Lock()

    def _acquire(self):
        with self._lock:
            if self._bar is None:
                from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
                from rich.progress import Progress as _RP

                rate_column, eta_column, count_column = _rate_columns()
                self._bar = _RP(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    BarColumn(),
                    count_column(),
                    rate_column(),
                    TimeElapsedColumn(),
                    eta_column(),
                    console=self.console,
                    transient=True,
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                self._shown = _show_after(self._bar, self.delay)
            self._open += 1
            return self._bar

    def _release(self, tid) -> None:
        with self._lock:
            bar, shown = self._bar, self._shown
            assert bar is not None and shown is not None  # a task is open
            bar.remove_task(tid)
            self._open -= 1
            if self._open:
                return
            self._bar = self._shown = None
        shown.cancel()
        if shown.started:
            bar.stop()

    def note(self, text: str) -> None:
        from rich.markup import escape

        self.console.print(f"[dim]embeval: {escape(text)}[/]", highlight=False, soft_wrap=True)

    @contextmanager
    def task(self, description: str, total: float | None, unit: str = "") -> Iterator[Task]:
        bar = self._acquire()
        tid = bar.add_task(_lit(description), total=total, unit=f" {unit}" if unit else "")
        try:
            yield _BarTask(bar, tid)
        finally:
            self._release(tid)

    @contextmanager
    def status(self, description: str) -> Iterator[None]:
        bar = self._acquire()
        tid = bar.add_task(_lit(description), total=None, unit="")
        try:
            yield
        finally:
            self._release(tid)

    def message(self, text: str) -> None:
        self.console.print(f"[dim]{_lit(text)}[/]", highlight=False)


class _show_after:
    """Start a Rich display ``delay`` seconds from now (from a timer thread), unless cancelled
    first: a phase that ends quickly draws nothing, a slow one is visible before its first step."""

    def __init__(self, bar, delay: float):
        import threading

        self.bar = bar
        self.started = False
        self._lock = threading.Lock()
        # Not a terminal (a CI log, 2> file): no bars, which would only leave blank lines there.
        self._cancelled = not (bar.console.is_terminal or bar.console.is_jupyter)
        self._timer = threading.Timer(delay, self._start)
        self._timer.daemon = True
        self._timer.start()

    def _start(self) -> None:
        with self._lock:
            if not self._cancelled:
                self.bar.start()
                self.started = True

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
        self._timer.cancel()


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

        rate_column, eta_column, _ = _rate_columns()
        self.bar = _RP(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            rate_column(),
            TimeElapsedColumn(),
            eta_column(),
            console=console,
            transient=False,
        )
        self.overall = self.bar.add_task("items", total=total)

    def __enter__(self) -> LiveProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def item(self, label: str) -> None:
        self.bar.update(self.overall, description=f"items: {_lit(label)}")

    def item_done(self) -> None:
        self.bar.advance(self.overall, 1)

    def note(self, text: str) -> None:
        from rich.markup import escape

        self.bar.console.print(f"[dim]embeval: {escape(text)}[/]", highlight=False, soft_wrap=True)

    @contextmanager
    def task(self, description: str, total: float | None, unit: str = "") -> Iterator[Task]:
        tid = self.bar.add_task(f"  {_lit(description)}", total=total, unit=f" {unit}" if unit else "")
        try:
            yield _BarTask(self.bar, tid)
        finally:
            self.bar.remove_task(tid)

    @contextmanager
    def status(self, description: str) -> Iterator[None]:
        tid = self.bar.add_task(f"  {_lit(description)}", total=None)
        try:
            yield
        finally:
            self.bar.remove_task(tid)

    def message(self, text: str) -> None:
        self.bar.console.print(f"[dim]  {_lit(text)}[/]", highlight=False)
