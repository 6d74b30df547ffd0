"""Every ```bash and ```python block of docs/guides/*.md runs, from a copy of the repository root
(sample_data/ and examples/), and exits with the code the page shows.

Conventions (HELPERS.md / docs): each line of a ```bash block is one command (a trailing ``\\``
continues it); ``NAME=value`` sets a variable for the lines after it; a block whose first line is
``# exit: N`` must end with exit code N (earlier lines exit 0 or N), every other block exits 0.
```python blocks run as they are. ```text and ```console blocks are shown, not run. Commands run
in-process through the Typer app; texts go through the seeded mock encoder (``--model default``
and ``model="default"`` become ``mock``), so no model is loaded. All blocks of one page share one
working folder, in page order."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))
FENCE = re.compile(r"^```(bash|python)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
EXIT = re.compile(r"#\s*exit:\s*(\d+)\s*$")


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """(language, code, line number) of each runnable block of a page."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def commands(code: str) -> list[str]:
    """The command lines of a bash block: continuations joined, comments and blank lines dropped."""
    out, current = [], ""
    for raw in code.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        line = (current + line).strip()
        current = ""
        if line and not line.startswith("#"):
            out.append(line)
    return out


def expected_exit(code: str) -> int:
    first = code.lstrip().splitlines()[0] if code.strip() else ""
    m = EXIT.match(first.strip())
    return int(m.group(1)) if m else 0


def _mock(args: list[str]) -> list[str]:
    return ["mock" if a == "default" and i and args[i - 1] == "--model" else a for i, a in enumerate(args)]


def _workspace(tmp: Path) -> None:
    """A stand-in for the repository root: its entries linked (outputs land in ``tmp``), examples/ copied."""
    for entry in ROOT.iterdir():
        if entry.name not in ("examples", ".git", ".venv", "site") and not entry.name.startswith("."):
            (tmp / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    shutil.copytree(ROOT / "examples", tmp / "examples")
    for cfg in (tmp / "examples").glob("*.toml"):  # texts through the mock encoder
        cfg.write_text(re.sub(r'model = "default"', 'model = "mock"', cfg.read_text(encoding="utf-8")))


def run_bash(code: str, where: str, invoke) -> None:
    want = expected_exit(code)
    lines = commands(code)
    assert lines, f"{where}: an empty bash block"
    for i, line in enumerate(lines):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)", line)
        if m:
            os.environ[m.group(1)] = os.path.expandvars(m.group(2))
            continue
        args = shlex.split(os.path.expandvars(line), comments=True)
        if args[0] == "embeval" and not {"|", ">", "&&", ";"} & set(args):
            res = invoke(_mock(args[1:]))
            code_, out = res.exit_code, (res.stdout or "") + (getattr(res, "stderr", "") or "")
            if res.exception is not None and not isinstance(res.exception, SystemExit):
                out += f"\n{type(res.exception).__name__}: {res.exception}"
        else:
            # the shell runs this checkout's embeval (the venv's console script, this tree first on the path)
            path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
            env = {**os.environ, "PATH": path, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
            proc = subprocess.run(line, shell=True, capture_output=True, text=True, env=env, timeout=120)
            code_, out = proc.returncode, proc.stdout + proc.stderr
        last = i == len(lines) - 1
        ok = code_ == want if last else code_ in (0, want)
        assert ok, f"{where}: `{line}` exited {code_}, the page shows {want if last else 0}\n{out[-2000:]}"


def run_python(code: str, where: str) -> None:
    code = code.replace('model="default"', 'model="mock"')
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


def test_the_conventions_are_read_as_documented():
    code = "# exit: 1\nS=x\nembeval a \\\n  --b c  # note\n\n# comment\nembeval d\n"
    assert expected_exit(code) == 1 and expected_exit("embeval a\n") == 0
    assert [" ".join(c.split()) for c in commands(code)] == ["S=x", "embeval a --b c # note", "embeval d"]
    assert _mock(["geometry", "x", "--model", "default"]) == ["geometry", "x", "--model", "mock"]
    page = "t\n```bash\nembeval a\n```\n```text\nnot run\n```\n```python\nprint(1)\n```\n"
    tmp = ROOT / "docs" / "guides"
    assert tmp.is_dir()
    found = [(m.group(1), m.group(2)) for m in FENCE.finditer(page)]
    assert found == [("bash", "embeval a\n"), ("python", "print(1)\n")]
    # a line that is not a plain embeval command runs in a shell, and its exit code is checked too
    run_bash("# exit: 1\ntrue\nfalse\n", "t", invoke=None)
    with pytest.raises(AssertionError, match="exited 1, the page shows 0"):
        run_bash("false\n", "t", invoke=None)


@pytest.mark.parametrize("page", [p for p in GUIDES if blocks(p)], ids=lambda p: p.stem)
def test_guide_examples_run(page, tmp_path, monkeypatch, runner):
    from embeval.cli import app

    _workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path / ".cache"))
    monkeypatch.setenv("COLUMNS", "100")
    saved = dict(os.environ)
    try:
        for lang, code, line in blocks(page):
            where = f"{page.relative_to(ROOT)}:{line}"
            if lang == "bash":
                run_bash(code, where, lambda args: runner.invoke(app, args))
            else:
                run_python(code, where)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_every_guide_opens_with_a_command_on_sample_data():
    """Each task guide's first block (before any second-level heading) runs on sample_data/."""
    for page in GUIDES:
        text = page.read_text(encoding="utf-8")
        if "Placeholder" in text.split("\n\n", 2)[1]:
            continue  # written by another helper, replaced at merge
        head = text.split("\n## ", 1)[0]
        found = FENCE.search(head)
        assert found and ("sample_data" in found.group(2) or "embeval" in found.group(2)), page.name
