"""Progress: visible before the first step, texts/s and ETA after it, nothing when not a terminal."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from embeval.progress import LiveProgress, RichProgress


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_bar_shows_before_the_first_step_then_rate_and_eta():
    con = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RichProgress(con, delay=0.05).task("encoding with m", total=100, unit="texts") as task:
        time.sleep(0.4)  # the bar is drawn while nothing has advanced yet
        before = _plain(con.file.getvalue())
        task.advance(50)
        time.sleep(0.4)
    out = _plain(con.file.getvalue())
    assert "encoding with m" in before and "0/100" in before
    m = re.search(r"50/100 +([\d,]+) texts/s .*ETA (\d+):(\d\d)", out)
    assert m, out[-300:]
    rate = int(m.group(1).replace(",", ""))
    eta = int(m.group(2)) * 60 + int(m.group(3))
    assert rate > 0
    assert abs(eta - 50 / rate) <= 1  # the ETA is what is left (50 texts) at the rate shown


def test_spinner_while_loading_and_nothing_when_fast_or_not_a_terminal():
    con = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RichProgress(con, delay=0.05).status("loading model default"):
        time.sleep(0.3)
    assert "loading model default" in _plain(con.file.getvalue())
    quick = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RichProgress(quick, delay=5).task("fast", total=3) as task:
        task.advance(3)
    assert quick.file.getvalue() == ""
    pipe = Console(file=io.StringIO(), force_terminal=False, width=120)
    with RichProgress(pipe, delay=0.0).task("x", total=3) as task:
        time.sleep(0.2)
        task.advance(3)
    assert pipe.file.getvalue() == ""  # a CI log gets no bars (and no blank lines)


def test_batch_display_shows_encoding_rate():
    con = Console(file=io.StringIO(), force_terminal=True, width=120)
    with LiveProgress(con, total=1) as live:
        live.item("retrieval/default/scifact")
        with live.task("encoding with default", total=4, unit="texts") as task:
            task.advance(2)
            time.sleep(0.3)
        live.item_done()
    assert "texts/s" in _plain(con.file.getvalue())


def test_nested_tasks_share_one_display():
    con = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = RichProgress(con, delay=0.05)
    with progress.task("outer step", total=None):
        time.sleep(0.2)
        with progress.task("inner search", total=10) as inner:  # Rich allows one live display only
            time.sleep(0.2)
            inner.advance(10)
            time.sleep(0.1)
    out = _plain(con.file.getvalue())
    assert "outer step" in out and "inner search" in out and "10/10" in out


def test_descriptions_and_messages_are_shown_literally():
    """A source path in a bar's description or a message is no Rich markup (hostile's rule)."""
    con = Console(file=io.StringIO(), force_terminal=True, width=160)
    progress = RichProgress(con, delay=0.0)
    with progress.task("reading d[/b]x[red].npy", total=2) as task:
        time.sleep(0.2)
        task.advance(2)
    progress.message("from cache [bold]x[/bold]\x1b[31m")
    out = _plain(con.file.getvalue())
    assert "reading d[/b]x[red].npy" in out
    assert "from cache [bold]x[/bold]\\x1b[31m" in out
