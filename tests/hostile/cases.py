"""Hostile and unusual inputs, as data: each case builds its files in an empty folder, runs one
command, and states the exit code it must give, the words its stderr must hold (case-insensitive),
the files that must not exist afterwards, and optionally a check of what was written.

The D-numbers refer to ../shared/reviews/hostile-inputs.md. D9/D23 (cache), D20/D34 (scale) belong
to other issues and are not here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
S = ROOT / "sample_data" / "scifact_small"
RETR = ["--queries", str(S / "queries.npz"), "--corpus", str(S / "corpus.npz")]
QRELS = str(S / "qrels" / "test.tsv")


@dataclass
class Case:
    id: str
    build: Callable[[Path], None]
    args: list[str]
    code: int
    words: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # files that must not exist afterwards
    check: Callable[[Path, str, str], None] | None = None  # (folder, stdout, stderr)
    not_words: list[str] = field(default_factory=list)


# Builders ------------------------------------------------------------------------------------


def rnd(n=20, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype("f4")


def npy(name, arr=None):
    return lambda t: np.save(t / name, rnd() if arr is None else arr)


def many(*builders):
    def build(t):
        for b in builders:
            b(t)
    return build


def text(name, content: str | bytes):
    def build(t):
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        (t / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return build


def csv_ids(name, ids, d=4):
    def build(t):
        df = pd.DataFrame(rnd(len(ids), d), columns=[f"d{i}" for i in range(d)])
        df.insert(0, "id", ids)
        df.to_csv(t / name, index=False)
    return build


def jsonl_ids(name, ids, d=4):
    def build(t):
        v = rnd(len(ids), d)
        (t / name).write_text("".join(json.dumps({"id": i, "embedding": v[k].tolist()}) + "\n"
                                      for k, i in enumerate(ids)), encoding="utf-8")
    return build


def parquet(name, cols):
    def build(t):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(cols), t / name)
    return build


def fifo(name):
    return lambda t: os.mkfifo(t / name)


def symlink(link, target):
    return lambda t: os.symlink(target, t / link)


def hardlink(link, target):
    return lambda t: os.link(t / target, t / link)


def beir(name="beir", corpus_text="alpha beta"):
    def build(t):
        f = t / name
        (f / "qrels").mkdir(parents=True)
        (f / "corpus.jsonl").write_text(
            json.dumps({"_id": "d1", "title": "", "text": corpus_text}) + "\n"
            + json.dumps({"_id": "d2", "title": "", "text": "gamma delta"}) + "\n", encoding="utf-8")
        (f / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "alpha"}) + "\n", encoding="utf-8")
        (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
        (t / "qrels.tsv").write_text("q1\td2\t1\n")  # outside the folder: --split ../qrels would read it
    return build


def toml(name, body):
    return text(name, body)


BATCH = """[settings]
seed = {seed}
[[datasets]]
name = "{name}"
kind = "embeddings"
path = "a.npy"
[[jobs]]
command = "geometry"
metrics = ["uniformity"]
options = {options}
"""


def batch(seed=0, name="a", options="{ sample = 100 }"):
    return many(npy("a.npy"), toml("c.toml", BATCH.format(seed=seed, name=name, options=options)))


def report_with(name, metric, value=0.5):
    """An embeval JSON report holding one metric (names from a hostile file)."""
    def build(t):
        doc = {"embeval_version": "0.1.0", "command": "geometry", "inputs": {}, "settings": {},
               "results": [{"metric": metric, "value": value, "params": {}, "n": 1, "ci_low": None,
                            "ci_high": None, "higher_is_better": True}], "gates": [], "passed": True}
        (t / name).write_text(json.dumps(doc))
    return build


# Checks --------------------------------------------------------------------------------------


def first_col(name, want):
    def check(t, out, err):
        got = [line.split(",")[0] for line in (t / name).read_text().splitlines()[1:]]
        assert got == want, got
    return check


def unchanged_csv(name):
    def check(t, out, err):
        assert (t / name).read_text().startswith("id,d0"), "the input was overwritten"
    return check


def mode(name, want):
    def check(t, out, err):
        assert oct((t / name).stat().st_mode & 0o777) == oct(want)
    return check


def exists(*names):
    def check(t, out, err):
        for n in names:
            assert (t / n).is_file(), n
    return check


def no_control(t, out, err):
    assert "\x1b" not in err and len(err.strip().splitlines()) == 1, repr(err)


def md_table_intact(t, out, err):
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert rows and all(line.count("|") - line.count("\\|") == rows[0].count("|") - rows[0].count("\\|")
                        for line in rows[:3]), out
    import re

    outside_code = re.sub(r"`[^`]*`", "", out)
    assert "<script>" not in outside_code and "&lt;script&gt;" in outside_code


def cells_inert(name):
    def check(t, out, err):
        import csv

        with open(t / name, newline="") as fh:
            cells = [c for row in csv.reader(fh) for c in row]
        for c in cells:
            assert not (c[:1] in ("=", "+", "@") or (c[:1] == "-" and not _num(c))), c
    return check


def _num(c):
    try:
        float(c)
        return True
    except ValueError:
        return False


def stale_gone(t, out, err):
    assert not list(t.glob(".*embeval-tmp*")), list(t.iterdir())


# The cases -----------------------------------------------------------------------------------

A = npy("a.npy")
B = npy("b.npy", rnd(seed=1))
CASES: list[Case] = [
    # D2: missing ids
    Case("D2_csv_NA_id", csv_ids("na.csv", ["a", "NA", "c", "d", "e"]), ["geometry", "na.csv", "-q"], 2,
         ["na.csv", "line 3", "missing id"]),
    Case("D2_csv_empty_id", csv_ids("e.csv", ["a", "", "c", "d", "e"]), ["geometry", "e.csv", "-q"], 2,
         ["line 3", "missing id"]),
    Case("D2_csv_null_id", csv_ids("n.csv", ["a", "b", "null", "d", "e"]), ["geometry", "n.csv", "-q"], 2,
         ["line 4", "missing id"]),
    Case("D2_parquet_null_id", parquet("p.parquet", {"id": ["a", None, "c"], "embedding": rnd(3).tolist()}),
         ["geometry", "p.parquet", "-q"], 2, ["row 1", "missing id"]),
    Case("D2_jsonl_null_id", jsonl_ids("j.jsonl", ["a", None, "c"]), ["geometry", "j.jsonl", "-q"], 2,
         ["line 2", "missing id"]),
    # D3: ids as written, and read back
    Case("D3_zeropad_csv_items", csv_ids("z.csv", ["000", "001", "002", "003"]),
         ["geometry", "z.csv", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "1"], 0,
         check=first_col("it.csv", ["000", "001", "002", "003"])),
    Case("D3_numeric_like_ids_distinct", csv_ids("n.csv", ["1", "01", "1.0", "1.10"]),
         ["geometry", "n.csv", "-q", "-m", "uniformity"], 0),
    Case("D3_zeropad_tsv", lambda t: pd.DataFrame({"id": ["000", "010"], "a": [1.0, 2.0], "b": [0.5, 1.0]})
         .to_csv(t / "z.tsv", sep="\t", index=False), ["geometry", "z.tsv", "-q", "-m", "uniformity",
                                                       "--items", "it.csv", "--items-k", "1"], 0,
         check=first_col("it.csv", ["000", "010"])),
    # D4: lone surrogates
    Case("D4_surrogate_id", jsonl_ids("s.jsonl", ["x\ud800", "1", "2", "3"]),
         ["geometry", "s.jsonl", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "1"], 2,
         ["surrogate", "line 1"], absent=["it.csv"]),
    Case("D4_surrogate_beir_text", beir(corpus_text="bad \ud800 text"),
         ["retrieval", "beir", "--model", "default", "-q"], 2, ["surrogate", "corpus.jsonl"]),
    Case("D4_surrogate_text_jsonl", text("t.jsonl", '{"id": "a", "text": "x\\ud800"}\n{"id": "b", "text": "y"}\n'),
         ["geometry", "t.jsonl", "--model", "default", "-q"], 2, ["surrogate", "line 1"]),
    # D5: mathtext in names
    Case("D5_dollar_name_plot", many(npy("a$\\frac{x$.npy"), B),
         ["gap", "a$\\frac{x$.npy", "b.npy", "-q", "--plot", "g.png", "-o", "g.html"], 0,
         check=exists("g.png", "g.html")),
    Case("D5_dollar_dataset_batch", batch(name="$\\\\frac{x$"), ["run", "c.toml", "-q", "--out-dir", "out"], 0,
         check=exists("out/report.html", "out/report.json", "out/report.csv", "out/report.md")),
    # D6: negative seeds
    Case("D6_seed_geometry", A, ["geometry", "a.npy", "-q", "-m", "uniformity", "--sample", "100", "--seed", "-1"],
         2, ["--seed", "-1"]),
    Case("D6_seed_gap", many(A, B), ["gap", "a.npy", "b.npy", "--seed", "-3", "-q"], 2, ["--seed"]),
    Case("D6_seed_ivf", lambda t: None, ["retrieval", *RETR, "--qrels", QRELS, "--index", "ivf", "--seed", "-1", "-q"],
         2, ["--seed"]),
    Case("D6_seed_huge", A, ["geometry", "a.npy", "-q", "--seed", str(2**40)], 2, ["--seed"]),
    Case("D6_seed_batch", batch(seed=-1), ["run", "c.toml", "-q", "--out-dir", "out"], 2,
         ["settings.seed", "≥ 0"], absent=["out/report.json"]),
    # D7: non-finite lambda
    Case("D7_lambda_nan", many(A, B), ["gap", "a.npy", "b.npy", "--paired", "--shift-lambda", "nan", "-q"], 2,
         ["--shift-lambda", "finite"]),
    Case("D7_lambda_inf", many(A, B), ["gap", "a.npy", "b.npy", "--paired", "--shift-lambda", "inf", "-q"], 2,
         ["--shift-lambda"]),
    # D8 / D31: encoder options, before any model loads
    Case("D8_max_seq_negative", text("t.txt", "first\nsecond\n"),
         ["encode", "t.txt", "-o", "x.npz", "--max-seq-length", "-5", "--no-cache", "-q"], 2,
         ["--max-seq-length"], absent=["x.npz"]),
    Case("D31_max_seq_zero", text("t.txt", "first\nsecond\n"),
         ["encode", "t.txt", "-o", "x.npz", "--max-seq-length", "0", "--no-cache", "-q"], 2,
         ["--max-seq-length"], absent=["x.npz"]),
    Case("D31_threads_zero", lambda t: None, ["retrieval", *RETR, "--qrels", QRELS, "--threads", "0", "-q"], 2,
         ["--threads"]),
    Case("D31_device_cuda7", text("t.txt", "a\nb\n"), ["encode", "t.txt", "-o", "x.npz", "--device", "cuda:7", "-q"],
         2, ["--device", "no such device"], absent=["x.npz"]),
    Case("D31_device_garbage", text("t.txt", "a\nb\n"), ["encode", "t.txt", "-o", "x.npz", "--device", "gpu0", "-q"],
         2, ["--device"], absent=["x.npz"]),
    Case("D31_cache_dir_is_file", many(text("t.txt", "a\nb\n"), text("cf", "x")),
         ["encode", "t.txt", "-o", "x.npz", "--cache-dir", "cf", "-q"], 2, ["--cache-dir", "not a folder"],
         absent=["x.npz"]),
    Case("D31_batch_size_zero", text("t.txt", "a\nb\n"), ["encode", "t.txt", "-o", "x.npz", "--batch-size", "0", "-q"],
         2, ["--batch-size"], absent=["x.npz"]),
    # D10: deep JSON
    Case("D10_deep_json", many(text("deep.json", "[" * 200000 + "]" * 200000), report_with("b.json", "m")),
         ["compare", "deep.json", "b.json"], 2, ["deep.json", "nested too deeply"]),
    # D11: 2-D id array
    Case("D11_2d_ids", lambda t: np.savez(t / "i2.npz", embedding=rnd(), id=np.arange(40).reshape(20, 2)),
         ["geometry", "i2.npz", "-q", "-m", "uniformity"], 2, ["1-D", "id"]),
    Case("D11_float_nan_id", lambda t: np.savez(t / "f.npz", embedding=rnd(3), id=np.array([1.0, np.nan, 2.0])),
         ["geometry", "f.npz", "-q", "-m", "uniformity"], 2, ["row 1", "missing id"]),
    # D12: outputs that are inputs
    Case("D12_output_is_input", csv_ids("vecs.csv", [f"x{i}" for i in range(20)]),
         ["geometry", "vecs.csv", "-q", "-m", "uniformity", "-o", "vecs.csv"], 2, ["--output", "destroy"],
         check=unchanged_csv("vecs.csv")),
    Case("D12_output_hardlink", many(csv_ids("vecs.csv", [f"x{i}" for i in range(20)]), hardlink("h.csv", "vecs.csv")),
         ["geometry", "vecs.csv", "-q", "-m", "uniformity", "-o", "h.csv"], 2, ["--output", "same file"],
         check=unchanged_csv("vecs.csv")),
    Case("D12_output_symlink", many(csv_ids("vecs.csv", [f"x{i}" for i in range(20)]), symlink("l.csv", "vecs.csv")),
         ["geometry", "vecs.csv", "-q", "-m", "uniformity", "-o", "l.csv"], 2, ["--output"],
         check=unchanged_csv("vecs.csv")),
    Case("D12_items_is_input", csv_ids("vecs.csv", [f"x{i}" for i in range(20)]),
         ["geometry", "vecs.csv", "-q", "-m", "uniformity", "--items", "vecs.csv"], 2, ["--items"],
         check=unchanged_csv("vecs.csv")),
    Case("D12_encode_over_texts", text("texts.jsonl", '{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n'),
         ["encode", "texts.jsonl", "-o", "texts.jsonl", "-q"], 2, ["--output", "destroy"]),
    Case("D12_gap_export_is_b", many(A, B), ["gap", "a.npy", "b.npy", "-q", "--export-gap", "b.npy"], 2,
         ["--export-gap"]),
    Case("D12_compare_output_is_baseline", many(report_with("b.json", "m"), report_with("c.json", "m")),
         ["compare", "b.json", "c.json", "-o", "b.json"], 2, ["--output"]),
    Case("D12_roc_is_qrels", lambda t: (t / "q.csv").write_text(Path(QRELS).read_text()),
         ["retrieval", *RETR, "--qrels", "q.csv", "--roc", "q.csv", "-q"], 2, ["--roc"]),
    # D13: formula injection
    Case("D13_items_csv", jsonl_ids("h.jsonl", ['=HYPERLINK("http://x","c")', "+SUM(1,2)", "-2+3", "@SUM(A1)", "ok"]),
         ["geometry", "h.jsonl", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "1"], 0,
         check=cells_inert("it.csv")),
    Case("D13_report_csv_per_query", lambda t: _formula_retrieval(t),
         ["retrieval", "--queries", "q.jsonl", "--corpus", "c.jsonl", "--qrels", "r.tsv", "--k", "1", "--per-query",
          "-q", "-o", "r.csv"], 0, check=cells_inert("r.csv")),
    Case("D13_batch_csv", batch(name="=cmd|' -C calc'!A0"), ["run", "c.toml", "-q", "--out-dir", "out"], 0,
         check=cells_inert("out/report.csv")),
    Case("D13_compare_csv", many(report_with("b.json", "=1+1"), report_with("c.json", "=1+1", 0.4)),
         ["compare", "b.json", "c.json", "-o", "cmp.csv"], 0, check=cells_inert("cmp.csv")),
    # D14: control characters in messages
    Case("D14_escape_in_id", text("e.jsonl", '{"id":"a","embedding":[1,2]}\n{"id":"x\\u001b[2J\\nembeval: all gates '
                                             'passed","embedding":[NaN,2]}\n{"id":"c","embedding":[1,3]}\n'),
         ["geometry", "e.jsonl", "-q"], 2, ["row 1", "\\x1b"], check=no_control),
    Case("D14_escape_in_dataset_name", many(batch(name="x\\u001b[31mred\\nembeval: all gates passed"),
                                            npy("a.npy", np.full((4, 3), np.nan, "f4"))),
         ["run", "c.toml", "-q", "--out-dir", "out"], 2, ["\\x1b"], check=no_control),
    # D15: duplicate qrels
    Case("D15_dup_qrels", lambda t: (t / "dup.tsv").write_text(Path(QRELS).read_text() + "275\t4961038\t0\n"),
         ["retrieval", *RETR, "--qrels", "dup.tsv", "-q"], 2, ["judged twice", "275", "4961038"]),
    # D16: NaN baseline with a wildcard gate
    Case("D16_nan_baseline_wildcard", many(report_with("b.json", "m", float("nan")), report_with("c.json", "m")),
         ["compare", "b.json", "c.json", "--fail-if-regress", "*>0"], 1, ["undefined (nan) in the baseline"]),
    Case("D16_nan_current_wildcard", many(report_with("b.json", "m"), report_with("c.json", "m", float("nan"))),
         ["compare", "b.json", "c.json", "--fail-if-regress", "*>0"], 1, ["undefined (nan) in the current"]),
    # D17: gates checked before any output
    Case("D17_unknown_gate_roc", lambda t: None,
         ["retrieval", *RETR, "--qrels", QRELS, "-q", "--roc", "roc.csv", "--fail-if", "nosuch > 1"], 2,
         ["nosuch"], absent=["roc.csv"]),
    Case("D17_unknown_gate_items", A,
         ["geometry", "a.npy", "-q", "--items", "it.csv", "--fail-if", "unifromity > 1"], 2,
         ["did you mean uniformity"], absent=["it.csv"]),
    Case("D17_unknown_gate_gap_plot", many(A, B),
         ["gap", "a.npy", "b.npy", "-q", "--plot", "g.png", "--export-gap", "g.npy", "--fail-if", "gapp > 1"], 2,
         ["gapp"], absent=["g.png", "g.npy"]),
    Case("D17_gate_metric_at_k_ok", lambda t: None,
         ["retrieval", *RETR, "--qrels", QRELS, "-q", "--k", "1,10", "--fail-if", "ndcg@10 < 0"], 0),
    # D18: encode output checked first
    Case("D18_encode_output_folder", many(text("t.txt", "a\nb\n"), lambda t: (t / "d.npz").mkdir()),
         ["encode", "t.txt", "-o", "d.npz", "-q"], 2, ["--output", "folder"]),
    Case("D18_encode_bad_suffix", text("t.txt", "a\nb\n"), ["encode", "t.txt", "-o", "x.xyz", "-q"], 2,
         ["x.xyz"], absent=["x.xyz"]),
    # D21 / D35 / D37: small inputs skip with a note
    Case("D21_two_rows", npy("two.npy", np.array([[1, 0, 0], [0, 1, 0.5]], "f4")), ["geometry", "two.npy", "-q"], 0,
         check=lambda t, out, err: ("skipped hubness" in out and "skipped intrinsic_dim" in out) or _fail(out)),
    Case("D35_intrinsic_dim_tiny", npy("h.npy", rnd(3, 50)), ["geometry", "h.npy", "-q", "-f", "json"], 0,
         check=lambda t, out, err: "intrinsic_dim" not in {r["metric"] for r in json.loads(out)["results"]}
         or _fail(out)),
    Case("D37_gap_small", many(npy("a5.npy", rnd(5)), npy("b5.npy", rnd(5, seed=2))),
         ["gap", "a5.npy", "b5.npy", "-q"], 0,
         check=lambda t, out, err: "skipped knn_mixing" in out or _fail(out)),
    Case("D37_gap_small_explicit", many(npy("a5.npy", rnd(5)), npy("b5.npy", rnd(5, seed=2))),
         ["gap", "a5.npy", "b5.npy", "-q", "-m", "knn_mixing"], 2, ["knn_mixing"]),
    # D22: not a .npy
    Case("D22_random_bytes_npy", text("g.npy", bytes(np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8))),
         ["geometry", "g.npy", "-q"], 2, ["not a .npy file"], not_words=["allow_pickle", "pickle.load"]),
    Case("D22_csv_renamed_npy", text("c.npy", "1,2\n3,4\n"), ["geometry", "c.npy", "-q"], 2, ["not a .npy file"],
         not_words=["allow_pickle"]),
    Case("D22_object_npy", lambda t: np.save(t / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True),
         ["geometry", "o.npy", "-q"], 2, ["python objects", "never loads"], not_words=["allow_pickle="]),
    # D24: pairs messages
    Case("D24_pairs_real_empty", text("p.csv", "text_a,text_b,score\nx,,4.8\ny,z,0.5\n"), ["pairs", "p.csv", "-q"], 2,
         ["pair 0", "empty text"]),
    # D25: overflow
    Case("D25_npy_1e300", npy("f.npy", np.random.default_rng(0).standard_normal((5, 4)) * 1e300),
         ["geometry", "f.npy", "-q"], 2, ["too large for float32", "row 0"], not_words=["nan or inf"]),
    Case("D25_csv_1e39", text("f.csv", "id,a,b\nx,1e39,1\ny,1,2\nz,2,3\n"), ["geometry", "f.csv", "-q"], 2,
         ["too large for float32"], not_words=["nan or inf"]),
    # D26: batch config values
    Case("D26_batch_sample_negative", batch(options="{ sample = -1 }"), ["run", "c.toml", "-q", "--out-dir", "out"], 2,
         ["options.sample", "≥ 0"], absent=["out/report.json"], not_words=["--sample"]),
    Case("D26_batch_nlist_text", many(toml("c.toml", """[[datasets]]
name = "r"
kind = "retrieval"
queries = "{}"
corpus = "{}"
qrels = "{}"
[[jobs]]
command = "retrieval"
options = {{ index = "ivf", index_params = {{ nlist = "x" }} }}
""".format(S / "queries.npz", S / "corpus.npz", QRELS))), ["run", "c.toml", "-q", "--out-dir", "out"], 2,
         ["nlist", "expected an integer"], absent=["out/report.json"]),
    Case("D26_batch_device", many(A, toml("c.toml", "[settings]\ndevice = 'gpu'\n" + BATCH.split("\n", 2)[2]
                                           .format(name="a", options="{ sample = 10 }"))),
         ["run", "c.toml", "-q", "--out-dir", "out"], 2, ["settings.device"]),
    # D27: stray warnings
    Case("D27_simplex_no_warning", npy("eye.npy", np.eye(20)), ["geometry", "eye.npy", "-q"], 0,
         not_words=["runtimewarning"]),
    # D29: special files
    Case("D29_symlink_loop", many(symlink("A.npy", "B.npy"), symlink("B.npy", "A.npy")), ["geometry", "A.npy", "-q"], 2,
         ["loop"], not_words=["no such file"]),
    Case("D29_broken_symlink", symlink("A.npy", "nowhere.npy"), ["geometry", "A.npy", "-q"], 2,
         ["broken symbolic link"]),
    Case("D29_fifo_embeddings", fifo("f.npy"), ["geometry", "f.npy", "-q"], 2, ["fifo"], not_words=["empty"]),
    Case("D29_fifo_labels", many(A, fifo("l.txt")), ["geometry", "a.npy", "--labels", "l.txt", "-q"], 2, ["fifo"]),
    Case("D29_fifo_qrels", fifo("q.tsv"), ["retrieval", *RETR, "--qrels", "q.tsv", "-q"], 2, ["fifo"],
         not_words=["no such"]),
    Case("D29_fifo_config", fifo("c.toml"), ["run", "c.toml", "-q"], 2, ["fifo"]),
    Case("D29_fifo_compare", many(fifo("b.json"), report_with("c.json", "m")), ["compare", "b.json", "c.json"], 2,
         ["fifo"]),
    Case("D29_fifo_texts", fifo("t.txt"), ["encode", "t.txt", "-o", "x.npz", "-q"], 2, ["fifo"]),
    # D30: permissions of a replaced file
    Case("D30_keep_mode", many(A, lambda t: ((t / "r.json").write_text("{}"), os.chmod(t / "r.json", 0o600))),
         ["geometry", "a.npy", "-q", "-m", "uniformity", "-o", "r.json"], 0, check=mode("r.json", 0o600)),
    # D32: Markdown
    Case("D32_markdown_pipe_html", many(report_with("b.json", "a|b<script>x</script>"),
                                        report_with("c.json", "a|b<script>x</script>", 0.4)),
         ["compare", "b.json", "c.json", "-f", "markdown", "--fail-if-regress", "*>0"], 1, check=md_table_intact),
    # D33: --junit = --output
    Case("D33_junit_is_output", A,
         ["geometry", "a.npy", "-m", "uniformity", "--fail-if", "uniformity > 0", "-o", "c.json", "--junit", "c.json"],
         2, ["--junit", "same file"], absent=["c.json"]),
    # D36: numeric kinds
    Case("D36_bool_npy", npy("b.npy", rnd() > 0), ["geometry", "b.npy", "-q"], 2, ["boolean"]),
    Case("D36_parquet_list_of_strings",
         parquet("s.parquet", {"id": ["a", "b", "c"], "embedding": [["0.1", "0.2"], ["0.3", "0.1"], ["1", "2"]]}),
         ["geometry", "s.parquet", "-q"], 2, ["numbers only"]),
    # D38: --split
    Case("D38_split_traversal", beir(), ["retrieval", "beir", "--model", "default", "--split", "../../qrels", "-q"], 2,
         ["--split"]),
    Case("D38_split_dotdot", beir(), ["retrieval", "beir", "--model", "default", "--split", "..", "-q"], 2,
         ["--split"]),
    # D39: temp files of killed runs are swept
    Case("D39_stale_temp_swept", many(A, text(".r.json.embeval-tmp-999999999-abcd1234.json", "partial")),
         ["geometry", "a.npy", "-q", "-m", "uniformity", "-o", "r.json"], 0, check=stale_gone),
    # D40: headerless CSV with ids
    Case("D40_headerless_ids", text("h.csv", "x0,0.1,0.2\nx1,0.3,0.4\nx2,0.5,0.1\n"), ["geometry", "h.csv", "-q"], 2,
         ["looks like data", "header"], not_words=["column 'd0'"]),
    # More hostile or unusual inputs in the same classes
    Case("X_empty_npy", text("e.npy", b""), ["geometry", "e.npy", "-q"], 2, ["empty"]),
    Case("X_folder_as_file", lambda t: (t / "d.npy").mkdir(), ["geometry", "d.npy", "-q"], 2, ["folder"]),
    Case("X_truncated_npy", lambda t: (np.save(t / "full.npy", rnd(100, 8)),
                                       (t / "t.npy").write_bytes((t / "full.npy").read_bytes()[:500])),
         ["geometry", "t.npy", "-q"], 2, ["t.npy"]),
    Case("X_gate_inf_threshold", A, ["geometry", "a.npy", "-q", "--fail-if", "uniformity > inf"], 2, ["--fail-if"]),
    Case("X_confidence_one", many(report_with("b.json", "m"), report_with("c.json", "m")),
         ["compare", "b.json", "c.json", "--confidence", "1"], 2, ["--confidence"]),
    Case("X_nboot_zero", many(report_with("b.json", "m"), report_with("c.json", "m")),
         ["compare", "b.json", "c.json", "--n-boot", "0"], 2, ["--n-boot"]),
    Case("X_items_k_zero", A, ["geometry", "a.npy", "-q", "--items", "it.csv", "--items-k", "0"], 2, ["--items-k"],
         absent=["it.csv"]),
    Case("X_near_dup_2", A, ["geometry", "a.npy", "-q", "--items", "it.csv", "--near-dup-threshold", "2"], 2,
         ["--near-dup-threshold"], absent=["it.csv"]),
    Case("X_folds_one", many(A, B), ["gap", "a.npy", "b.npy", "--folds", "1", "-q"], 2, ["--folds"]),
    Case("X_nlist_zero", lambda t: None, ["retrieval", *RETR, "--qrels", QRELS, "--index", "ivf", "--nlist", "0", "-q"],
         2, ["nlist"]),
    Case("X_two_outputs_same", many(A, B), ["gap", "a.npy", "b.npy", "-q", "--export-gap", "x.json", "-o", "x.json"],
         2, ["same file"], absent=["x.json"]),
    # D28: un-normalised rows too long for float32 squared distances
    Case("D28_no_normalize_huge", npy("s.npy", rnd(50, 8) * 1e20), ["geometry", "s.npy", "--no-normalize", "-q"], 2,
         ["too large for un-normalised", "row"], not_words=["runtimewarning"]),
    Case("X_not_utf8_jsonl", text("b.jsonl", b'{"id": "a\xff", "embedding": [1, 2]}\n'), ["geometry", "b.jsonl", "-q"],
         2, ["utf-8", "line 1"]),
    Case("X_jsonl_id_object", jsonl_ids("o.jsonl", [{"a": 1}, "b", "c"]), ["geometry", "o.jsonl", "-q"], 2,
         ["line 1", "single value"]),
    Case("X_jsonl_id_bool", jsonl_ids("o.jsonl", [True, "b", "c"]), ["geometry", "o.jsonl", "-q"], 2,
         ["line 1", "boolean"]),
    Case("X_jsonl_some_ids_missing", text("m.jsonl", '{"id": "a", "embedding": [1, 2]}\n{"embedding": [2, 1]}\n'),
         ["geometry", "m.jsonl", "-q"], 2, ["line 2", "'id'"]),
    Case("X_formula_roundtrip_encode_csv", lambda t: _formula_roundtrip(t), ["geometry", "v.csv", "-q", "-m",
                                                                             "uniformity", "--items", "it.csv",
                                                                             "--items-k", "1", "-f", "json"], 0,
         check=lambda t, out, err: _items_ids(t) == ["=1+1", "-x", "'=y", "ok"] or _fail(_items_ids(t))),
    Case("X_pipe_in_metric_batch_md", batch(name="a|b"), ["run", "c.toml", "-q", "--out-dir", "out"], 0,
         check=lambda t, out, err: "a\\|b" in (t / "out" / "report.md").read_text() or _fail("pipe not escaped")),
]


def _fail(what):
    raise AssertionError(what)


def _formula_retrieval(t: Path) -> None:
    ids_q = ["=q1", "+q2"]
    ids_c = ["@d1", "-d2", "=d3"]
    jsonl_ids("q.jsonl", ids_q)(t)
    jsonl_ids("c.jsonl", ids_c)(t)
    (t / "r.tsv").write_text("=q1\t@d1\t1\n+q2\t-d2\t1\n")


def _formula_roundtrip(t: Path) -> None:
    """embeval's own CSV writer (neutralised ids) must read back to the ids as written."""
    from embeval.io.writers import save_embeddings

    save_embeddings(t / "v.csv", rnd(4, 3), np.array(["=1+1", "-x", "'=y", "ok"]))


def _items_ids(t: Path) -> list[str]:
    from embeval.safety import csv_uncell

    return [csv_uncell(line.split(",")[0]) for line in (t / "it.csv").read_text().splitlines()[1:]]

# Terminal output (stdout tables) is literal too: Rich markup in a path, control characters in ids.
CASES += [
    Case("X_markup_in_path", many(lambda t: (t / "d[").mkdir(), npy("d[/b]x.npy")),
         ["geometry", "d[/b]x.npy", "-q", "-m", "uniformity"], 0,
         check=lambda t, out, err: "d[/b]x.npy" in out or _fail(out)),
    Case("X_control_chars_in_items_table", jsonl_ids("ctl.jsonl", ["x\x1b[2J\nembeval: all gates passed"]
                                                      + [f"i{k}" for k in range(11)]),
         ["geometry", "ctl.jsonl", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "2"], 0,
         check=lambda t, out, err: ("\x1b" not in out and "\\x1b" in out) or _fail(out)),
]


def encoded(src: str, content: str, out: str):
    """Texts encoded by embeval itself (the seeded mock encoder) into ``out``: what embeval writes
    must read back exactly."""
    def build(t):
        from embeval.api import encode_file
        from embeval.encode.config import EncoderConfig

        (t / src).write_text(content, encoding="utf-8")
        encode_file(t / src, t / out, encoder=EncoderConfig(model="mock", cache=False))
    return build


ZP = "".join(json.dumps({"id": i, "text": f"text {i}"}) + "\n" for i in ("000", "001", "010", "1.10"))
INJ = "".join(json.dumps({"id": i, "text": x}) + "\n"
              for i, x in (("=1+1", "alpha"), ("-x", "=HYPERLINK(1)"), ("@y", "eta"), ("'=z", "beta")))
CASES += [
    Case("D3_encode_csv_reads_back", encoded("zp.jsonl", ZP, "zp.csv"),
         ["geometry", "zp.csv", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "1"], 0,
         check=first_col("it.csv", ["000", "001", "010", "1.10"])),
    Case("D3_encode_tsv_reads_back", encoded("zp.jsonl", ZP, "zp.tsv"),
         ["geometry", "zp.tsv", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "1"], 0,
         check=first_col("it.csv", ["000", "001", "010", "1.10"])),
    Case("D3_encode_parquet_reads_back", encoded("zp.jsonl", ZP, "zp.parquet"),
         ["geometry", "zp.parquet", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "1"], 0,
         check=first_col("it.csv", ["000", "001", "010", "1.10"])),
    Case("D13_encode_csv_neutralised_and_read_back", encoded("inj.jsonl", INJ, "inj.csv"),
         ["geometry", "inj.csv", "-q", "-m", "uniformity", "--items", "it.csv", "--items-k", "1"], 0,
         check=lambda t, out, err: (cells_inert("inj.csv")(t, out, err), cells_inert("it.csv")(t, out, err),
                                    _items_ids(t) == ["=1+1", "-x", "@y", "'=z"] or _fail(_items_ids(t)))),
    Case("D24_pairs_numeric_texts", text("p.csv", "text_a,text_b,score\n1,2,4.8\n3,4,0.5\n5,6,1.0\n"),
         ["pairs", "p.csv", "--model", "mock", "-q", "-f", "json"], 0,
         check=lambda t, out, err: json.loads(out)["inputs"]["pairs"]["n"] == 3 or _fail(out)),
    Case("D4_surrogate_encode", text("s.jsonl", '{"id": "a", "text": "ok"}\n{"id": "b", "text": "x\\ud800"}\n'),
         ["encode", "s.jsonl", "-o", "x.npz", "--model", "mock", "-q"], 2, ["surrogate", "line 2"],
         absent=["x.npz"]),
    Case("D12_encode_output_is_input_csv", encoded("zp.jsonl", ZP, "zp.csv"),
         ["encode", "zp.jsonl", "-o", "zp.jsonl", "--model", "mock", "-q"], 2, ["destroy"]),
]


def overflowing_npy_header(t: Path) -> None:
    """A .npy whose header claims a shape whose byte size overflows."""
    import struct

    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    (t / "ov.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64)


CASES += [
    Case("D27_overflowing_npy_header", overflowing_npy_header, ["geometry", "ov.npy", "-q"], 2, ["ov.npy"],
         not_words=["runtimewarning"]),
]

# A row with more fields than the header: an error, never a silent shift of every column.
CASES += [
    Case("D24_pairs_extra_field_first_row", text("p.csv", "text_a,text_b,score\nx,y,1,EXTRA\na,b,2\nc,d,3\n"),
         ["pairs", "p.csv", "--model", "mock", "-q"], 2, ["ragged rows"], not_words=["missing score"]),
    Case("X_embeddings_extra_field", text("e.csv", "id,a,b\nx,1,2,9\ny,2,3\nz,3,1\n"),
         ["geometry", "e.csv", "-q", "-m", "uniformity"], 2, ["ragged rows"]),
    Case("X_labels_extra_field", many(A, text("l.csv", "label\na,b\nb\n" + "a\nb\n" * 9)),
         ["geometry", "a.npy", "--labels", "l.csv", "-q"], 2, ["ragged rows"]),
]

# The review of main (P1-1): outputs the up-front check missed (--run, --run-in, --mteb-out).


def _qrels_copy(name):
    return lambda t: (t / name).write_text(Path(QRELS).read_text())


def _unchanged_qrels(name):
    def check(t, out, err):
        assert (t / name).read_text() == Path(QRELS).read_text(), f"{name} was changed"
    return check


def _trec_run(t: Path) -> None:
    rows = (ln.split("\t") for ln in Path(QRELS).read_text().splitlines()[1:6])
    lines = [f"{q} Q0 {d} 1 1.0 bm25" for q, d, _ in rows]
    (t / "run.trec").write_text("\n".join(lines) + "\n")


CASES += [
    Case("D12_run_is_qrels", _qrels_copy("q.tsv"), ["retrieval", *RETR, "--qrels", "q.tsv", "--run", "q.tsv", "-q"],
         2, ["--run", "the input"], check=_unchanged_qrels("q.tsv")),
    Case("D12_output_is_run_in", _trec_run,
         ["retrieval", "--qrels", QRELS, "--run-in", "run.trec", "-o", "run.trec", "-f", "json", "-q"], 2,
         ["--output", "the input"], check=lambda t, o, e: (t / "run.trec").read_text().endswith("bm25\n")),
    Case("D12_mteb_out_is_output", lambda t: None,
         ["retrieval", *RETR, "--qrels", QRELS, "--mteb-out", "same.json", "-o", "same.json", "-q"], 2,
         ["same file as"], absent=["same.json"]),
    Case("D12_run_is_output", lambda t: None,
         ["retrieval", *RETR, "--qrels", QRELS, "--run", "x.txt", "-o", "x.txt", "-f", "csv", "-q"], 2,
         ["same file as"], absent=["x.txt"]),
    Case("D12_run_is_junit", lambda t: None,
         ["retrieval", *RETR, "--qrels", QRELS, "--run", "j.trec", "--junit", "j.trec", "-q"], 2,
         ["same file as"], absent=["j.trec"]),
    Case("D12_mteb_out_is_qrels", _qrels_copy("q3.json"),
         ["retrieval", *RETR, "--qrels", "q3.json", "--mteb-out", "q3.json", "-q"], 2, ["--mteb-out", "the input"],
         check=_unchanged_qrels("q3.json")),
    Case("D12_pairs_mteb_out_is_input", text("p.csv", "text_a,text_b,score\na,b,1\nc,d,2\ne,f,3\n"),
         ["pairs", "p.csv", "--model", "mock", "--mteb-out", "p.csv", "-q"], 2, ["--mteb-out", "the input"],
         check=lambda t, o, e: (t / "p.csv").read_text().startswith("text_a,text_b,score\n")),
]


# The review of main (P3-16): CSV messages name the file line (1-based, header counted) as JSONL
# does; a number beyond float range is "too large", not "NaN or inf"; another separator is named.
CASES += [
    Case("P3_16_csv_line_of_na_id", text("na.csv", "id,a,b\na,1,2\nNA,2,3\nc,3,4\n"), ["geometry", "na.csv", "-q"],
         2, ["na.csv (line 3)", "missing id"]),
    Case("P3_16_jsonl_line_of_null_id", jsonl_ids("j.jsonl", ["a", None, "c"]), ["geometry", "j.jsonl", "-q"], 2,
         ["line 2", "missing id"]),
    Case("P3_16_csv_1e400", text("big.csv", "id,a,b\na,1,2\nb,1e400,3\nc,3,4\n"), ["geometry", "big.csv", "-q"], 2,
         ["line 3", "1e400", "too large for float32"], not_words=["nan or inf"]),
    Case("P3_16_headerless_csv_1e400", text("h.csv", "1,2\n3,1e400\n4,5\n"), ["geometry", "h.csv", "-q"], 2,
         ["line 2", "too large for float32"]),
    Case("P3_16_csv_inf_written", text("inf.csv", "id,a,b\na,1,2\nb,inf,3\nc,3,4\n"), ["geometry", "inf.csv", "-q"],
         2, ["non-finite"], not_words=["too large"]),
    Case("P3_16_semicolon_csv", text("s.csv", "id;a;b\na;1;2\nb;2;3\nc;3;4\n"), ["geometry", "s.csv", "-q"], 2,
         ["';'-separated", "comma-separated"], not_words=["looks like data"]),
    Case("P3_16_semicolon_csv_no_header", text("s2.csv", "x;1;2\na;1;2\nb;2;3\n"), ["geometry", "s2.csv", "-q"], 2,
         ["';'-separated"], not_words=["looks like data"]),
    Case("P3_16_tab_in_csv", text("t.csv", "id\ta\tb\nx\t1\t2\ny\t2\t1\n"), ["geometry", "t.csv", "-q"], 2,
         ["tab-separated", "rename it to .tsv"]),
    Case("P3_16_seed_bound_integer", A, ["geometry", "a.npy", "-q", "--seed", "99999999999"], 2,
         ["≤ 2147483647"], not_words=["e+09"]),
]


# Review trust-3 (issue 20) ------------------------------------------------------------------------
# H1/H6: connection URIs are read as libpq reads them; no part of a password is ever shown, and the
# table parameter survives '#' and '?' in the password (the shown form keeps it).
PW_CASES = [
    ("PG_pw_hash_connfail", "postgresql://postgres:S3cr#tPw@127.0.0.1:1/postgres?table=items", "S3cr#tPw"),
    ("PG_pw_hash_not_shown", "postgresql://postgres:S3cr#tPw@/postgres?host=/nonexistent-embeval-sock&table=items",
     "S3cr#tPw"),
    ("PG_pw_qmark_connfail", "postgresql://postgres:pa?ssplainsecret42@127.0.0.1:1/postgres?table=items",
     "plainsecret42"),
    ("PG_pw_slash_connfail", "postgresql://postgres:ab/cdplainsecret42@127.0.0.1:1/postgres?table=items",
     "plainsecret42"),
    ("PG_pw_at_connfail", "postgresql://postgres:ab@cdplainsecret42@127.0.0.1:1/postgres?table=items",
     "plainsecret42"),
    ("PG_pw_param_connfail", "postgresql://postgres@127.0.0.1:1/postgres?password=plainsecret42&table=items",
     "plainsecret42"),
]
CASES += [
    Case(cid, lambda t: None, ["geometry", uri, "-q", "-m", "uniformity", "-o", "r.json"], 2,
         ["postgresql://postgres@"], absent=["r.json"], not_words=[pw, "name the table"])
    for cid, uri, pw in PW_CASES
]
CASES += [
    Case(f"PG_batch_{cid[3:]}_refused",
         many(A, toml("c.toml", f'[[datasets]]\nname = "pg"\nkind = "embeddings"\npath = {json.dumps(uri)}\n'
                                "[[jobs]]\ncommand = \"geometry\"\nmetrics = [\"uniformity\"]\n")),
         ["run", "c.toml", "-q", "--out-dir", "out"], 2, ["holds a password"],
         absent=["out/report.json", "out/report.md", "out/report.html"], not_words=[pw])
    for cid, uri, pw in PW_CASES
]


# H4: malformed MTEB result files are bad input (exit 2), never an internal error.
def mteb_file(name, body: str, meta: str | None = None):
    def build(t):
        (t / "mteb").mkdir(exist_ok=True)
        (t / "mteb" / name).write_text(body, encoding="utf-8")
        if meta is not None:
            (t / "mteb" / "model_meta.json").write_text(meta, encoding="utf-8")
    return build


def _mteb_body(entry: str) -> str:
    return '{"task_name": "X", "mteb_version": "1", "scores": {"test": [{"hf_subset": "default", ' + entry + "}]}}"


GOOD_MTEB = _mteb_body('"ndcg_at_10": 0.5, "main_score": 0.5')
CASES += [
    Case("MT_model_meta_list", mteb_file("X.json", GOOD_MTEB, meta="[1, 2]"),
         ["compare", "mteb/X.json", "mteb/X.json"], 2, ["model_meta.json", "not a json object"]),
    Case("MT_model_meta_invalid", mteb_file("X.json", GOOD_MTEB, meta="{nope"),
         ["compare", "mteb/X.json", "mteb/X.json"], 2, ["model_meta.json", "not readable json"]),
    Case("MT_bigint", mteb_file("X.json", _mteb_body('"ndcg_at_10": ' + "9" * 400 + ', "main_score": 0.5')),
         ["compare", "mteb/X.json", "mteb/X.json"], 2, ["ndcg_at_10", "400-digit"]),
    Case("MT_huge_k", mteb_file("X.json", _mteb_body('"ndcg_at_' + "1" * 5000 + '": 0.5, "main_score": 0.5')),
         ["compare", "mteb/X.json", "mteb/X.json"], 2, ["no metric embeval knows"]),
]


# H5 / H9: ranges declared once (embeval.options): --sample is bounded, a sample of at least n(n−1)/2
# pairs is the exact value, the budget caps sampling; --cluster local:N is bounded by the CPU count.
GOOD = npy("good.npy", np.random.default_rng(0).standard_normal((40, 8)).astype("f4"))


def _exact_uniformity(t: Path, t_param: float = 2.0) -> float:
    """Brute force (float64, every pair i<j) on the L2-normalised rows: the oracle."""
    x = np.load(t / "good.npy").astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    iu = np.triu_indices(len(x), 1)
    return float(np.log(np.mean(np.exp(-t_param * d2[iu]))))


def _sample_is_exact(t, out, err):
    [r] = json.loads(out)["results"]
    assert r["params"] == {"t": 2.0}, r["params"]  # no 'sample': this is the exact value's identity
    assert abs(r["value"] - _exact_uniformity(t)) < 1e-6, (r["value"], _exact_uniformity(t))  # float32 rows


def _sample_capped(t, out, err):
    [r] = json.loads(out)["results"]
    assert 1_000 <= r["params"]["sample"] < 50_000_000 and r["params"]["exact"] is False, r["params"]
    assert "budget" in err, err


CASES += [
    Case("SA_sample_exceeds_pairs_is_exact", GOOD,
         ["geometry", "good.npy", "-q", "-m", "uniformity", "--sample", "100000000", "-f", "json"], 0,
         check=_sample_is_exact),
    Case("SA_sample_equals_pairs_is_exact", GOOD,
         ["geometry", "good.npy", "-q", "-m", "uniformity", "--sample", "780", "-f", "json"], 0,
         check=_sample_is_exact),
    Case("SA_sample_int64_max", GOOD,
         ["geometry", "good.npy", "-q", "-m", "uniformity", "--sample", str(2**63 - 1), "--budget", "5"], 2,
         ["--sample", "≤ 1000000000"]),
    Case("SA_sample_budget_caps", npy("big.npy", np.random.default_rng(1).standard_normal((12000, 8)).astype("f4")),
         ["geometry", "big.npy", "-m", "uniformity", "--sample", "50000000", "--budget", "0.05", "-f", "json"], 0,
         check=_sample_capped),
    Case("BA_option_huge", batch(options="{ sample = 9223372036854775807 }"),
         ["run", "c.toml", "-q", "--out-dir", "out"], 2, ["options.sample", "≤ 1000000000"],
         absent=["out/report.json"]),
    Case("CL_local_huge_N_static", A, ["geometry", "a.npy", "-q", "--cluster", "local:100000"], 2,
         ["--cluster", "at most local:"]),
    Case("CL_local_huge_N_batch", many(A, toml("c.toml", '[settings]\ncluster = "local:100000"\n'
                                                 + BATCH.split("\n", 2)[2].format(name="a", options="{}"))),
         ["run", "c.toml", "-q", "--out-dir", "out"], 2, ["settings.cluster", "at most local:"],
         absent=["out/report.json"]),
]


# H7 / H8: outputs. A report file embeval did not write is never replaced; names with newlines and
# Markdown link syntax are inert in LaTeX and Markdown; no absolute path in a published table.
EVIL = "b\n\n# INJECTED\n[x](javascript:alert(1)).json"


def _tex_compiles(t, out, err):
    text = (t / "c.tex").read_text()
    body = text[text.index(r"\begin{tabular}"): text.index(r"\end{tabular}")]
    assert "\n\n" not in body and r"\# INJECTED" in body, body  # no blank line ends the paragraph


def _md_inert(t, out, err):
    import re

    text = (t / "c.md").read_text()
    outside_code = re.sub(r"`[^`]*`", "", text)  # inside a code span nothing is a link
    assert "[x](javascript:" not in outside_code and r"\[x\](javascript:" in outside_code, text
    assert "/proc/self/cwd" not in text and str(t) not in text, text  # no absolute path published


def _file_is(name, content):
    def check(t, out, err):
        assert (t / name).read_text() == content, (t / name).read_text()
    return check


PQ_HEADER = "command,model,dataset,query_id,metric,value\n"
CASES += [
    Case("CP_newline_name_tex", many(report_with("a.json", "m"), report_with(EVIL, "m", 0.4),
                                     report_with("c.json", "m", 0.3)),
         ["compare", "a.json", EVIL, "c.json", "-o", "c.tex"], 0, check=_tex_compiles),
    Case("CP_newline_name_md", many(report_with("a.json", "m"), report_with(EVIL, "m", 0.4),
                                    report_with("c.json", "m", 0.3)),
         ["compare", "/proc/self/cwd/a.json", EVIL, "c.json", "-o", "c.md"], 0, check=_md_inert),
    Case("BA_perquery_removed_foreign", many(batch(), text("out/per_query.csv", "my,precious,data\n")),
         ["run", "c.toml", "-q", "--out-dir", "out"], 2, ["per_query.csv", "not a report embeval wrote"],
         absent=["out/report.json"], check=_file_is("out/per_query.csv", "my,precious,data\n")),
    Case("BA_report_md_foreign", many(batch(), text("out/report.md", "# my notes\n")),
         ["run", "c.toml", "-q", "--out-dir", "out"], 2, ["report.md", "not a report embeval wrote"],
         check=_file_is("out/report.md", "# my notes\n")),
    Case("BA_perquery_ours_is_replaced", many(batch(), text("out/per_query.csv", PQ_HEADER + "geometry,-,a,q1,m,1\n")),
         ["run", "c.toml", "-q", "--out-dir", "out"], 0, absent=["out/per_query.csv"],
         check=exists("out/report.json")),
]


# H2: a cache that cannot be written is not a broken cache. Its journal path taken by a folder makes
# SQLite fail to open or write it (as a full disk or a file-size limit does, which
# tests/encode/test_cache_write_failure.py simulates with RLIMIT_FSIZE in a child process): the
# healthy file is never moved aside, one warning, the run goes on without the cache, nothing loops.
def _cache_then_block_journal(t: Path) -> None:
    from embeval.encode import EncoderConfig, encode_texts

    (t / "t2.txt").write_text("brand new text one\nbrand new text two\n")
    encode_texts([f"sentence number {i}" for i in range(300)], EncoderConfig(model="mock", cache_dir=str(t / "c")))
    [db] = list((t / "c").glob("emb-*.sqlite"))
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
        Path(f"{db}{extra}").mkdir()
    (t / "before.sha").write_text(_sha(db))


def _sha(p: Path) -> str:
    import hashlib

    return hashlib.sha256(p.read_bytes()).hexdigest()


def _cache_kept(t, out, err):
    [db] = list((t / "c").glob("emb-*.sqlite"))
    assert not list((t / "c").glob("*.broken-*")), sorted(p.name for p in (t / "c").iterdir())
    assert _sha(db) == (t / "before.sha").read_text(), "the healthy cache file changed"
    assert err.count("embedding cache") == 1 and "without the cache" in err, err
    assert (t / "b.npz").is_file()


CASES += [
    Case("CA_unwritable_cache_kept", _cache_then_block_journal,
         ["encode", "t2.txt", "-o", "b.npz", "--model", "mock", "--cache-dir", "c", "-q"], 0, check=_cache_kept),
]


# H10: shard messages say what happened (exit 2 either way).
CASES += [
    Case("SH_dup_within_one_shard",
         many(lambda t: (t / "sh").mkdir(),
              parquet("sh/a.parquet", {"id": ["y1", "y1", "y2"], "embedding": rnd(3).tolist()}),
              parquet("sh/b.parquet", {"id": ["z1", "z2", "z3"], "embedding": rnd(3).tolist()})),
         ["geometry", "sh", "-q", "-m", "uniformity"], 2, ["duplicate id 'y1' within the shard", "a.parquet"],
         not_words=["across shards"]),
    Case("SH_id_collision_rownum", many(lambda t: (t / "sh").mkdir(),
                                         parquet("sh/a.parquet", {"id": [str(i) for i in range(30)],
                                                                  "embedding": rnd(30).tolist()}),
                                         parquet("sh/b.parquet", {"embedding": rnd(15).tolist()})),
         ["geometry", "sh", "-q", "-m", "uniformity"], 2, ["b.parquet", "no 'id' column", "a.parquet"],
         not_words=["duplicate id"]),
]
CASES += [
    Case("SH_no_normalize_cluster_flag", A, ["geometry", "a.npy", "--no-normalize", "--cluster", "local:1", "-q"], 2,
         ["--no-normalize"], not_words=["(--normalize)"]),
]
