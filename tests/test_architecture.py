"""The house of layers (ARCHITECTURE.md): no module imports a higher layer, and no modules import
each other in a circle, counting every import: at module level, inside functions, under
``TYPE_CHECKING``, and ``importlib.import_module("embeval....")`` with a literal name.

The layer table below is the one ARCHITECTURE.md describes, bottom first. A module may import its
own layer or any lower one. An entry ``"pkg.*"`` is the package and everything in it; a plain name
is that module alone (for a package, its ``__init__.py``); the most specific entry wins. A new
top-level module or package must be placed here (the completeness test fails until it is).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "embeval"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaves", ("embeval._version", "embeval.errors", "embeval.notices")),
    ("model", ("embeval.params", "embeval.results", "embeval.safety")),
    ("settings", ("embeval.options", "embeval.progress")),
    # kernels and back ends; context.py: ComputeContext (device, budget, exact), made once at the doors
    ("compute", ("embeval.compute.*",)),
    ("stats", ("embeval.stats.*",)),  # paired bootstrap, sign-flip, Holm: statistics over computed values
    ("io", ("embeval.io.*",)),  # one file (files), shards, texts, qrels, labels, writers, ...
    ("io.sources", ("embeval.io.sources.*",)),  # vector stores, HF datasets, FAISS index files
    ("io entry", ("embeval.io", "embeval.io.embeddings")),  # load_embeddings: a file, shards or a source
    ("encode", ("embeval.encode.*",)),
    ("index", ("embeval.index.*",)),
    ("diagnostics", ("embeval.diagnostics.*",)),
    ("distributed", ("embeval.distributed.*",)),
    ("testing", ("embeval.testing",)),  # the check battery: every diagnostic × provider (local, dask)
    ("report", ("embeval.report.*",)),
    ("sweep", ("embeval.sweep.*",)),  # index and compression sweeps (index, diagnostics, stats)
    ("api", ("embeval.api.*",)),
    ("batch", ("embeval.batch.*",)),
    ("python_api", ("embeval.python_api",)),
    ("package", ("embeval",)),
    ("mcp", ("embeval.mcp.*",)),  # the MCP server's tools: the Python API over files under --root
    # The CLI package: the shared parts, then one module per command, then the package that
    # imports them all (a command module never imports the package itself).
    ("cli parts", ("embeval.cli.console", "embeval.cli.options", "embeval.cli.exits", "embeval.cli.output")),
    ("cli app", ("embeval.cli.app",)),
    ("cli commands", ("embeval.cli.*",)),
    ("cli", ("embeval.cli",)),
    ("entry points", ("embeval.__main__", "embeval.pytest_plugin")),
]


def _modules(package: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts.pop()
        out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _resolve(name: str, modules) -> str | None:
    """The module of ours that importing ``name`` runs (the longest existing prefix)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, source: str, is_pkg: bool, modules) -> list[tuple[str, int]]:
    """Every embeval module that ``source`` (module ``name``) imports, anywhere, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [_resolve(a.name, modules) for a in node.names if a.name.split(".")[0] == "embeval"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "embeval":
                continue
            # `from pkg import sub` imports the submodule; `from pkg import name` the package itself
            targets = [
                f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else _resolve(mod, modules) for a in node.names
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.startswith("embeval")
        ):
            targets = [_resolve(node.args[0].value, modules)]
        found += [(t, node.lineno) for t in targets if t and t != name]
    return found


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (specificity, layer)
    for i, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            if entry.endswith(".*"):
                pkg = entry[:-2]
                if module == pkg or module.startswith(pkg + "."):
                    spec = len(pkg)
                else:
                    continue
            elif module == entry:
                spec = 10_000  # an exact name beats every package entry
            else:
                continue
            if best is None or spec > best[0]:
                best = (spec, i)
    return None if best is None else best[1]


def _graph(modules=MODULES) -> dict[str, list[tuple[str, int]]]:
    return {
        m: imports_of(m, path.read_text(encoding="utf-8"), is_pkg, modules) for m, (path, is_pkg) in modules.items()
    }


def upward_imports(graph) -> list[str]:
    bad = []
    for mod, targets in graph.items():
        for target, line in targets:
            if layer_of(target) > layer_of(mod):
                bad.append(
                    f"{mod}:{line} imports {target} ({LAYERS[layer_of(mod)][0]} -> {LAYERS[layer_of(target)][0]})"
                )
    return sorted(set(bad))


def circles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted({t for t, _ in ts if t in graph}) for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            if i < len(edges[v]):
                work.append((v, i + 1))
                w = edges[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


GRAPH = _graph()


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, f"place these modules in LAYERS (tests/test_architecture.py) and ARCHITECTURE.md: {missing}"


def test_no_module_imports_a_higher_layer():
    bad = upward_imports(GRAPH)
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


def test_no_import_circles():
    found = circles(GRAPH)
    assert not found, "modules that import each other in a circle:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_scan_sees_imports_inside_functions():
    """The checks can fail: a function-level import up the layers, a relative one, an
    ``import_module`` call and a circle are all found (a scan of module level only would miss them)."""
    modules = {
        "embeval": None,
        "embeval.results": None,
        "embeval.api": None,
        "embeval.api.gap": None,
        "embeval.report": None,
        "embeval.report.render": None,
        "embeval.cli": None,
    }
    src = (
        "import os\n"
        "def f():\n"
        "    from embeval.api.gap import gap_report\n"
        "    from . import render\n"
        "    import importlib\n"
        "    importlib.import_module('embeval.cli')\n"
        "    from embeval import __version__\n"
    )
    found = imports_of("embeval.report.html", src, False, modules)
    assert sorted(found) == [("embeval", 7), ("embeval.api.gap", 3), ("embeval.cli", 6), ("embeval.report.render", 4)]
    graph = {"embeval.report.html": found, "embeval.api.gap": [("embeval.report.html", 1)]}
    assert upward_imports(graph) == [
        "embeval.report.html:3 imports embeval.api.gap (report -> api)",
        "embeval.report.html:6 imports embeval.cli (report -> cli)",
        "embeval.report.html:7 imports embeval (report -> package)",
    ]
    assert circles(graph) == [["embeval.api.gap", "embeval.report.html"]]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("embeval.io.files", "io"),
        ("embeval.io.sources.spec", "io.sources"),
        ("embeval.io.embeddings", "io entry"),
        ("embeval.io", "io entry"),
        ("embeval", "package"),
        ("embeval.distributed.gap", "distributed"),
        ("embeval.encode.public", "encode"),
        ("embeval.cli.options", "cli parts"),
        ("embeval.cli.app", "cli app"),
        ("embeval.cli.geometry", "cli commands"),
        ("embeval.cli", "cli"),
    ],
)
def test_layer_table_reads_as_documented(module, layer):
    assert LAYERS[layer_of(module)][0] == layer
