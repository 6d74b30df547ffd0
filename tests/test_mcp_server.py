"""`embeval mcp` end to end: the official SDK's own client starts the server over stdio, lists the
tools and calls them; paths outside --root are refused (links resolved). The tools' JSON equals
the Python API's report on the same file (an independent path to the same numbers)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sys
import threading

import pytest
from conftest import ROOT, SAMPLE

mcp = pytest.importorskip("mcp")

from embeval.mcp.tools import TOOLS, PathRefused, guard, resolve_roots, summary  # noqa: E402


class _Server:
    """One ``embeval mcp`` server process for the module, started by the official SDK's stdio client;
    the client session lives in a background thread's event loop and each test runs its calls on it
    (one server start instead of one per test)."""

    def __init__(self, root):
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.ready: concurrent.futures.Future = concurrent.futures.Future()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.thread.start()
        self.session = self.ready.result(timeout=120)

    async def _main(self):
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        self.stop = asyncio.Event()
        env = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "HF_HUB_OFFLINE": "1"}
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "embeval", "mcp", "--root", str(self.root)], env=env, cwd=str(self.root)
        )
        try:
            with open(os.devnull, "w") as errlog:
                async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                    await session.initialize()
                    self.ready.set_result(session)
                    await self.stop.wait()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            raise

    def run(self, calls):
        """``calls(session)`` on the module's session; its result."""
        return asyncio.run_coroutine_threadsafe(calls(self.session), self.loop).result(timeout=300)

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the MCP client did not shut down"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = _Server(tmp_path_factory.mktemp("mcp-root"))
    try:
        yield srv
    finally:
        srv.close()


def _text(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def test_sdk_client_lists_and_calls_the_tools_over_stdio(server):
    root = server.root  # the server's --root, shared by this module's tests
    import numpy as np

    import embeval

    s = SAMPLE / "scifact_small"
    (root / "data").mkdir()
    for name in ("corpus.npy", "queries.npz", "corpus.npz"):
        (root / "data" / name).write_bytes((s / name).read_bytes())
    (root / "data" / "qrels.tsv").write_bytes((s / "qrels" / "test.tsv").read_bytes())
    os.symlink("/etc/hostname" if os.path.exists("/etc/hostname") else sys.executable, root / "data" / "out.npy")

    async def calls(session):
        listed = await session.list_tools()
        geo = await session.call_tool("geometry", {"path": "data/corpus.npy", "metrics": "uniformity,anisotropy"})
        ret = await session.call_tool(
            "retrieval",
            {"queries": "data/queries.npz", "corpus": "data/corpus.npz", "qrels": "data/qrels.tsv", "k": "10"},
        )
        outside = await session.call_tool("geometry", {"path": str(SAMPLE / "scifact_small" / "corpus.npy")})
        link_out = await session.call_tool("geometry", {"path": "data/out.npy"})
        dotdot = await session.call_tool("geometry", {"path": "data/../../x.npy"})
        bad = await session.call_tool("geometry", {"path": "data/missing.npy"})
        met = await session.call_tool("metrics", {"family": "drift"})
        gap = await session.call_tool("gap", {"a": "data/queries.npz", "b": "data/corpus.npz", "metrics": "gap,mmd"})
        cmp = await session.call_tool(
            "compare", {"reports": ["data/exact.json", "data/ivf.json"], "fail_if_regress": ["ndcg@10>0.01"]}
        )
        return listed, geo, ret, outside, link_out, dotdot, bad, met, gap, cmp

    q, c, qrels = (str(root / "data" / n) for n in ("queries.npz", "corpus.npz", "qrels.tsv"))
    exact = embeval.retrieval(q, c, qrels, k=[10], per_query=True)
    ivf = embeval.retrieval(q, c, qrels, k=[10], per_query=True, index="ivf", index_params={"nlist": 32, "nprobe": 2})
    exact.save(str(root / "data" / "exact.json"))
    ivf.save(str(root / "data" / "ivf.json"))
    listed, geo, ret, outside, link_out, dotdot, bad, met, gap, cmp = server.run(calls)
    names = {t.name for t in listed.tools}
    assert names == {t.name for t in TOOLS} >= {"geometry", "retrieval", "gap", "compare", "metrics"}
    assert all(t.annotations.read_only_hint for t in listed.tools)
    assert listed.tools[0].input_schema["required"] == ["path"]

    assert not geo.is_error
    first, _, body = _text(geo).partition("\n")
    report = json.loads(body)
    want = embeval.geometry(str(s / "corpus.npy"), metrics="uniformity,anisotropy")
    assert first.startswith("geometry: 2 results: uniformity=")
    assert report["command"] == "geometry"
    for r in report["results"]:
        assert r["value"] == pytest.approx(want.value(r["metric"]), rel=1e-9)
    # an independent check of one number: the closed-form mean cosine over pairs
    x = np.load(s / "corpus.npy").astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n = len(x)
    aniso = (np.linalg.norm(x.sum(0)) ** 2 - n) / (n * (n - 1))
    assert {r["metric"]: r["value"] for r in report["results"]}["anisotropy"] == pytest.approx(aniso, rel=1e-6)

    assert not ret.is_error
    rep = json.loads(_text(ret).partition("\n")[2])
    assert {r["metric"]: r["value"] for r in rep["results"]}["ndcg@10"] == pytest.approx(0.829412, abs=1e-6)

    for refused in (outside, link_out, dotdot):
        assert refused.is_error and "outside the allowed folders" in _text(refused), _text(refused)
        assert "\n" not in _text(refused).strip()
    assert bad.is_error and "Error executing tool geometry:" in _text(bad)
    from embeval.diagnostics import all_diagnostics

    n_drift = sum(len(d.outputs) for d in all_diagnostics() if d.family == "drift")
    assert n_drift > 0 and _text(met).startswith(f"metrics: {n_drift} outputs")

    assert not gap.is_error
    got = {r["metric"]: r["value"] for r in json.loads(_text(gap).partition("\n")[2])["results"]}
    qa = np.load(root / "data" / "queries.npz")["embedding"].astype(np.float64)
    qa /= np.linalg.norm(qa, axis=1, keepdims=True)
    ca = x  # the corpus, unit rows (corpus.npz holds the same vectors as corpus.npy)
    assert got["gap"] == pytest.approx(np.linalg.norm(qa.mean(0) - ca.mean(0)), rel=1e-6)
    assert 0 <= got["drift_p"] <= 1

    assert not cmp.is_error  # a tool reports the gate; it does not fail the call
    first, _, body = _text(cmp).partition("\n")
    assert first.startswith("compare:") and first.endswith("a gate FAILED"), first
    delta = ivf.value("ndcg@10") - exact.value("ndcg@10")
    rows = {r["metric"]: r for r in json.loads(body)["rows"]}
    assert rows["ndcg@10"]["delta"] == pytest.approx(delta, abs=1e-12) and delta < -0.1


def test_guard_resolves_links_and_relative_paths(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.npy").write_bytes(b"")
    outside = tmp_path / "secret.npy"
    outside.write_bytes(b"")
    os.symlink(outside, root / "link.npy")
    os.symlink(root / "sub", tmp_path / "alias")
    roots = resolve_roots([root])
    assert guard("sub/a.npy", roots) == str((root / "sub" / "a.npy").resolve())
    assert guard(str(tmp_path / "alias" / "a.npy"), roots) == str((root / "sub" / "a.npy").resolve())  # a link in
    for bad in ("link.npy", str(outside), "../secret.npy", "lancedb:///tmp/x?table=t", str(tmp_path / "*.npy")):
        with pytest.raises(PathRefused):
            guard(bad, roots)
    assert guard("sub/*.npy", roots).endswith("sub/*.npy")


def test_summary_is_one_line():
    rep = {"results": [{"metric": f"m{i}", "value": i / 3} for i in range(9)], "gates": [{}], "passed": False}
    line = summary("geometry", rep)
    assert "\n" not in line and line.startswith("geometry: 9 results: m0=0, m1=0.3333") and "(+3 more)" in line
    assert line.endswith("a gate FAILED")


def test_cli_refuses_a_root_that_is_not_a_folder(cli, tmp_path):
    res = cli("mcp", "--root", str(tmp_path / "nope"))
    assert res.exit_code == 2 and "not a folder" in res.stderr


def test_sdk_client_calls_audit_diff_and_sweeps(server):
    """The answer-giving tools over stdio: each result equals the Python API on the same files."""
    root = server.root  # the server's --root, shared by this module's tests
    import embeval

    s = SAMPLE / "scifact_small"
    (root / "d").mkdir()
    for name in ("queries.npz", "corpus.npz"):
        (root / "d" / name).write_bytes((s / name).read_bytes())
    (root / "d" / "qrels.tsv").write_bytes((s / "qrels" / "test.tsv").read_bytes())

    async def calls(session):
        a = await session.call_tool("audit", {"path": "d/corpus.npz"})
        d = await session.call_tool(
            "diff", {"old": "d/corpus.npz", "new": "d/corpus.npz", "metrics": "cka,knn_overlap"}
        )
        c = await session.call_tool(
            "sweep_compress",
            {
                "corpus": "d/corpus.npz",
                "queries": "d/queries.npz",
                "qrels": "d/qrels.tsv",
                "quant": "int8",
                "rescore": "0",
            },
        )
        out = await session.call_tool("diff", {"old": str(s / "corpus.npz"), "new": "d/corpus.npz"})
        return a, d, c, out

    a, d, c, out = server.run(calls)
    for res, name in ((a, "audit"), (d, "diff"), (c, "sweep_compress")):
        assert not res.is_error, _text(res)
        assert _text(res).startswith(f"{name}: ")
    got = {r["metric"]: r["value"] for r in json.loads(_text(a).partition("\n")[2])["results"]}
    want = embeval.audit(str(root / "d" / "corpus.npz"), budget=120.0)
    assert got["anisotropy"] == pytest.approx(want.value("anisotropy"), rel=1e-9)
    dv = {r["metric"]: r["value"] for r in json.loads(_text(d).partition("\n")[2])["results"]}
    assert dv["cka"] == pytest.approx(1.0, abs=1e-9) and dv["knn_overlap@10"] == 1.0  # a set against itself
    rows = json.loads(_text(c).partition("\n")[2])["results"]
    assert any(r["metric"] == "retention_ndcg@10" for r in rows)
    assert out.is_error and "outside the allowed folders" in _text(out)
