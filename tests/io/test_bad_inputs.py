"""Input-handling defects, each through the CLI: exit code 2, exactly one stderr line naming the file
and the line/row, no traceback, no output file. Plus the shared line reader (io/lines.py) checked
against Python's whole-file UTF-8 decoder, and float qrels grades against a brute-force nDCG."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from embeval.errors import InputError
from embeval.io.embeddings import EmbeddingSet, load_embeddings, row_norms64, validate
from embeval.io.lines import iter_jsonl, iter_lines

BAD = b"\xff"  # never valid in UTF-8
NL = b"\n"


def _fails_cleanly(res, out, *fragments):
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert not out.exists()


def _emb_npz(path, n=4, d=3, prefix="d", seed=0):
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    np.savez(path, embedding=v, id=np.array([f"{prefix}{i}" for i in range(n)]))
    return path


def _offset(data: bytes, bad: bytes = BAD) -> str:
    return f"byte offset {data.index(bad)}"


# ----------------------------------------------------------------------------- 1. non-UTF-8 text


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _non_utf8_cases(tmp):
    """(name, CLI args, fragments of the one error line)."""
    cases = []
    emb = _emb_npz(tmp / "emb.npz")

    data = b'{"id":"a","embedding":[1,2]}\n{"id":"b","embedding":[1,2],"note":"\xff"}\n'
    p = _write(tmp / "v.jsonl", data)
    cases.append(("embeddings.jsonl", ["geometry", p], ["v.jsonl", "(line 2)", "not UTF-8", _offset(data)]))

    data = b"a,b\n1,2\n3,4\n5,\xff\n"
    p = _write(tmp / "v.csv", data)
    cases.append(("embeddings.csv", ["geometry", p], ["v.csv", "(line 4)", "not UTF-8", _offset(data)]))

    data = b'{"label":"x"}\n{"label":"y"}\n{"label":"caf\xe9"}\n{"label":"y"}\n'  # latin-1 é
    p = _write(tmp / "l.jsonl", data)
    cases.append(("labels.jsonl", ["geometry", emb, "--labels", p],
                  ["l.jsonl", "(line 3)", _offset(data, b"\xe9")]))

    data = b"x\ny\n\xff\ny\n"
    p = _write(tmp / "l.txt", data)
    cases.append(("labels.txt", ["geometry", emb, "--labels", p], ["l.txt", "(line 3)", _offset(data)]))

    data = b"label\nx\ny\n\xff\ny\n"
    p = _write(tmp / "l.csv", data)
    cases.append(("labels.csv", ["geometry", emb, "--labels", p], ["l.csv", "(line 4)", _offset(data)]))

    beir = tmp / "beir"
    (beir / "qrels").mkdir(parents=True)
    data = b'{"_id":"d0","text":"fine"}\n{"_id":"d1","text":"caf\xff"}\n'
    _write(beir / "corpus.jsonl", data)
    (beir / "queries.jsonl").write_text('{"_id":"q0","text":"a"}\n')
    (beir / "qrels" / "test.tsv").write_text("q0\td0\t1\n")
    cases.append(("beir corpus", ["geometry", beir, "--model", "default"],
                  ["corpus.jsonl", "(line 2)", _offset(data)]))

    beir2 = tmp / "beir2"
    (beir2 / "qrels").mkdir(parents=True)
    (beir2 / "corpus.jsonl").write_text('{"_id":"d0","text":"a"}\n{"_id":"d1","text":"b"}\n')
    data = b'{"_id":"q0","text":"ok"}\n\n{"_id":"q1","text":"\xff"}\n'
    _write(beir2 / "queries.jsonl", data)
    (beir2 / "qrels" / "test.tsv").write_text("q0\td0\t1\n")
    cases.append(("beir queries", ["retrieval", beir2, "--model", "default"],
                  ["queries.jsonl", "(line 3)", _offset(data)]))

    data = b"one\ntwo\nth\xffree\n"
    p = _write(tmp / "t.txt", data)
    cases.append(("texts.txt", ["geometry", p, "--model", "default"], ["t.txt", "(line 3)", _offset(data)]))

    data = b"text\none\n\xff\n"
    p = _write(tmp / "t.csv", data)
    cases.append(("texts.csv", ["geometry", p, "--model", "default"], ["t.csv", "(line 3)", _offset(data)]))

    data = b"query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td\xff\t1\n"
    p = _write(tmp / "qrels.tsv", data)
    q = _emb_npz(tmp / "q.npz", prefix="q")
    cases.append(("qrels", ["retrieval", "--queries", q, "--corpus", emb, "--qrels", p],
                  ["qrels.tsv", "(line 3)", _offset(data)]))

    data = b"g\tf\t2012\t1\t\xff\ta\tb\n"  # the STS-B sniffer reads line 1
    p = _write(tmp / "sts1.csv", data)
    cases.append(("stsb sniff", ["pairs", p], ["sts1.csv", "(line 1)", _offset(data)]))

    data = b"g\tf\t2012\t1\t2.5\ta\tb\ng\tf\t2012\t2\t4.0\tc\td\xff\n"
    p = _write(tmp / "sts2.csv", data)
    cases.append(("stsb reader", ["pairs", p], ["sts2.csv", "(line 2)", _offset(data)]))

    data = b"text_a,text_b,score\na,b,1\nc,\xff,2\n"
    p = _write(tmp / "pairs.csv", data)
    cases.append(("pairs.csv", ["pairs", p], ["pairs.csv", "(line 3)", _offset(data)]))

    data = b'{"text_a":"a","text_b":"b","score":1}\n{"text_a":"\xff","text_b":"b","score":2}\n'
    p = _write(tmp / "pairs.jsonl", data)
    cases.append(("pairs.jsonl", ["pairs", p], ["pairs.jsonl", "(line 2)", _offset(data)]))
    return cases


NON_UTF8 = ["embeddings.jsonl", "embeddings.csv", "labels.jsonl", "labels.txt", "labels.csv", "beir corpus",
            "beir queries", "texts.txt", "texts.csv", "qrels", "stsb sniff", "stsb reader", "pairs.csv",
            "pairs.jsonl"]


@pytest.mark.parametrize("case", NON_UTF8)
def test_non_utf8_inputs_fail_with_one_line_naming_line_and_byte(cli, tmp_path, case):
    cases = {name: (args, fragments) for name, args, fragments in _non_utf8_cases(tmp_path)}
    assert sorted(cases) == sorted(NON_UTF8)
    args, fragments = cases[case]
    out = tmp_path / "out.json"
    _fails_cleanly(cli(*args, "-q", "-o", out), out, "not UTF-8 text", *fragments)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\n", b"\r\n", b"\xc3\xa9", b"\xe2\x82\xac", b"\xff", b"\xc3",
                                 b"\x80", b"{}", b"\xef\xbb\xbf"]), max_size=12))
def test_iter_lines_agrees_with_whole_file_decoding(tmp_path_factory, chunks):
    """Whatever the bytes, iter_lines either reproduces Python's decoding of the whole file
    (utf-8-sig, split after each \\n) or fails at the same first bad byte, on the line holding it."""
    data = b"".join(chunks)
    path = tmp_path_factory.mktemp("lines") / "f.txt"
    path.write_bytes(data)
    try:
        want = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        with pytest.raises(InputError) as err:
            list(iter_lines(path))
        assert err.value.problem == f"not UTF-8 text (byte offset {start})"
        assert err.value.where == f"line {data[:start].count(NL) + 1}"
    else:
        got = list(iter_lines(path))
        assert "".join(line for _, line in got) == want
        assert [n for n, _ in got] == list(range(1, len(got) + 1))
        assert all(line.endswith("\n") for _, line in got[:-1])


def test_iter_jsonl_names_the_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"a": 2}\r\n')  # BOM, blank lines, CRLF
    assert list(iter_jsonl(p)) == [(1, {"a": 1}), (4, {"a": 2})]
    for text, problem in [('{"a": 1}\n[1, 2]\n', "expected a JSON object, got list"),
                          ('{"a": 1}\n{"a": \n', "invalid JSON")]:
        p.write_text(text)
        with pytest.raises(InputError) as err:
            list(iter_jsonl(p))
        assert problem in err.value.problem and err.value.where == "line 2"


# ----------------------------------------------------------------------------- 2. pair scores


PAIR_SCORES = ["null.jsonl", "nan.jsonl", "text.jsonl", "null.parquet", "inf.csv", "empty.csv", "sts_nan.csv",
               "sts_inf.csv", "sts_-Infinity.csv"]


def _pair_score_cases(tmp):
    cases = []
    p = tmp / "null.jsonl"
    p.write_text('{"text_a":"a","text_b":"b","score":1}\n\n{"text_a":"c","text_b":"d","score":null}\n')
    cases.append((p, ["(line 3)", "missing"]))
    p = tmp / "nan.jsonl"
    p.write_text('{"text_a":"a","text_b":"b","score":1}\n{"text_a":"c","text_b":"d","score":NaN}\n')
    cases.append((p, ["(line 2)", "not a finite number"]))
    p = tmp / "text.jsonl"
    p.write_text('{"text_a":"a","text_b":"b","score":"high"}\n{"text_a":"c","text_b":"d","score":2}\n')
    cases.append((p, ["(line 1)", "'high' is not a number"]))
    pd.DataFrame({"text_a": ["a", "c", "e"], "text_b": ["b", "d", "f"],
                  "score": [1.0, None, 2.0]}).to_parquet(p := tmp / "null.parquet")
    cases.append((p, ["row 1", "score"]))
    p = tmp / "inf.csv"
    p.write_text("text_a,text_b,score\na,b,1\nc,d,inf\n")
    cases.append((p, ["row 1", "not a finite number"]))
    p = tmp / "empty.csv"
    p.write_text("text_a,text_b,score\na,b,1\nc,d,\ne,f,3\n")
    cases.append((p, ["row 1", "missing score"]))
    for bad, lineno in (("nan", 2), ("inf", 2), ("-Infinity", 2)):
        p = tmp / f"sts_{bad}.csv"
        p.write_text(f"g\tf\t2012\t1\t2.5\ta\tb\ng\tf\t2012\t2\t{bad}\tc\td\ng\tf\t2012\t3\t1.0\te\tf\n")
        cases.append((p, [f"(line {lineno})", f"score {bad!r} is not a finite number"]))
    return cases


@pytest.mark.parametrize("case", PAIR_SCORES)
def test_non_finite_or_missing_pair_scores_are_rejected(cli, tmp_path, case):
    cases = {path.name: (path, fragments) for path, fragments in _pair_score_cases(tmp_path)}
    assert sorted(cases) == sorted(PAIR_SCORES)
    path, fragments = cases[case]
    out = tmp_path / "out.json"
    _fails_cleanly(cli("pairs", path, "-q", "-o", out), out, path.name, *fragments)


def test_finite_pair_scores_still_load(tmp_path):
    from embeval.io.pairs import load_pairs

    (p := tmp_path / "ok.csv").write_text("text_a,text_b,score\na,b,1\nc,d,2.5\ne,f,-0.5\n")
    assert load_pairs(p).scores == [1.0, 2.5, -0.5]
    (p := tmp_path / "ok.jsonl").write_text('{"text_a":"a","text_b":"b","score":1}\n'
                                            '{"text_a":"c","text_b":"d","score":0.25}\n')
    assert load_pairs(p).scores == [1.0, 0.25]


# ----------------------------------------------------------------------------- 3. qrels grades


def test_qrels_keep_float_grades_and_skip_only_a_real_header(tmp_path):
    from embeval.io.qrels import load_qrels

    p = tmp_path / "q.tsv"
    p.write_text("query-id\tcorpus-id\tscore\nq0\td0\t0.5\nq0\td1\t2.7\nq1\td2\t0\nq1\td3\t-1\n")
    assert load_qrels(p) == {"q0": {"d0": 0.5, "d1": 2.7}, "q1": {"d2": 0.0, "d3": -1.0}}
    p.write_text("qid iter docno rel\nq0 0 d0 1\n")  # a TREC-style header
    assert load_qrels(p) == {"q0": {"d0": 1.0}}
    p.write_text("q0 d0 1\n")  # no header
    assert load_qrels(p) == {"q0": {"d0": 1.0}}


@pytest.mark.parametrize("text,fragments", [
    ("q0\td0\thigh\nq1\td1\t1\n", ["(line 1)", "score 'high' is not a number"]),  # not a header
    ("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\tx\n", ["(line 3)", "score 'x' is not a number"]),
    ("q0\td0\t1\nq1\td1\tnan\n", ["(line 2)", "score 'nan' is not a finite number"]),
    ("q0\td0\tinf\n", ["(line 1)", "score 'inf' is not a finite number"]),
    ("q0\td0\t1\nq1\td1\t1e400\n", ["(line 2)", "score '1e400' is not a finite number"]),
    ("score\tq0\td0\nq1\td1\t1\n", ["(line 1)", "score 'd0' is not a number"]),
])
def test_bad_qrels_scores_fail_cleanly(cli, tmp_path, text, fragments):
    q = _emb_npz(tmp_path / "q.npz", prefix="q", n=2)
    c = _emb_npz(tmp_path / "c.npz", prefix="d", n=3, seed=1)
    (p := tmp_path / "qrels.tsv").write_text(text)
    out = tmp_path / "out.json"
    res = cli("retrieval", "--queries", q, "--corpus", c, "--qrels", p, "-q", "-o", out)
    _fails_cleanly(res, out, "qrels.tsv", *fragments)


def _brute_ndcg(q, c, qrels, qids, dids, k):
    """nDCG@k straight from the definition: rank every document by cosine (ties: lower row first),
    DCG = Σ_{r≤k} grade_r / log2(r+1) with grade 0 for unjudged or ≤ 0, IDCG from the sorted grades."""
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    cn = c / np.linalg.norm(c, axis=1, keepdims=True)
    out = {}
    for qid, judged in qrels.items():
        s = cn.astype(np.float64) @ qn[qids.index(qid)].astype(np.float64)
        order = sorted(range(len(dids)), key=lambda j: (-s[j], j))[:k]
        gains = [max(judged.get(dids[j], 0.0), 0.0) for j in order]
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
        dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
        out[qid] = dcg / sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    return out


def test_float_grades_give_the_brute_force_ndcg(cli, tmp_path):
    """pytrec_eval refuses non-integer relevance ("Expected relevance to be integer"), so float
    grades are checked against nDCG computed from its definition. A 0.5 grade counts as relevant
    and a 2.7 grade gains 2.7 (truncating them would give 0 and 2)."""
    from embeval.diagnostics.retrieval import evaluate_retrieval
    from embeval.diagnostics.space import l2_normalize
    from embeval.io.qrels import load_qrels

    rng = np.random.default_rng(7)
    n_docs, n_q, d = 40, 6, 8
    c = rng.standard_normal((n_docs, d)).astype(np.float32)
    q = rng.standard_normal((n_q, d)).astype(np.float32)
    dids, qids = [f"d{i}" for i in range(n_docs)], [f"q{i}" for i in range(n_q)]
    np.savez(cp := tmp_path / "c.npz", embedding=c, id=np.array(dids))
    np.savez(qp := tmp_path / "q.npz", embedding=q, id=np.array(qids))
    lines = ["query-id\tcorpus-id\tscore"]
    for i in range(n_q):
        docs = rng.choice(n_docs, size=5, replace=False)
        grades = [0.5, 2.7, 1.25, 0.0, -1.0]
        lines += [f"q{i}\td{j}\t{g}" for j, g in zip(docs, grades)]
    (rp := tmp_path / "qrels.tsv").write_text("\n".join(lines) + "\n")
    qrels = load_qrels(rp)
    assert qrels["q0"][lines[1].split("\t")[1]] == 0.5

    res, _ = evaluate_retrieval(l2_normalize(q), l2_normalize(c), qrels, qids, dids, ks=(1, 3, 10))
    got = {r.metric: r.value for r in res}
    for k in (1, 3, 10):
        want = _brute_ndcg(q, c, qrels, qids, dids, k)
        assert got[f"ndcg@{k}"] == pytest.approx(np.mean(list(want.values())), abs=1e-9)
    truncated = {qq: {dd: float(int(g)) for dd, g in j.items()} for qq, j in qrels.items()}
    assert got["ndcg@10"] != pytest.approx(np.mean(list(_brute_ndcg(q, c, truncated, qids, dids, 10).values())))

    doc = json.loads(cli("retrieval", "--queries", qp, "--corpus", cp, "--qrels", rp, "--k", "1,3,10",
                         "-q", "-f", "json").stdout)
    assert {r["metric"]: r["value"] for r in doc["results"]}["ndcg@10"] == pytest.approx(got["ndcg@10"])


# ----------------------------------------------------------------------------- 4-5. embedding tables


def test_string_column_in_csv_is_named_not_a_type_error(cli, tmp_path):
    (p := tmp_path / "v.csv").write_text('x,y\n"1,2",3\n4,5\n')
    out = tmp_path / "out.json"
    _fails_cleanly(cli("geometry", p, "-q", "-o", out), out, "v.csv", "column 'x' is not numeric")
    (p := tmp_path / "b.csv").write_text("x,y\n1,True\n4,False\n")  # booleans are not coordinates
    _fails_cleanly(cli("geometry", p, "-q", "-o", out), out, "b.csv", "column 'y' is not numeric")


@pytest.mark.parametrize("bad,shown", [('"3"', '"3"'), ("null", "null"), ("true", "true"), ("[1]", "[1]")])
def test_non_numeric_jsonl_vector_names_the_line(cli, tmp_path, bad, shown):
    (p := tmp_path / "v.jsonl").write_text(
        '{"id":"a","embedding":[1,2]}\n{"id":"b","embedding":[3,4]}\n'
        f'{{"id":"c","embedding":[5,{bad}]}}\n')
    out = tmp_path / "out.json"
    _fails_cleanly(cli("geometry", p, "-q", "-o", out), out, "v.jsonl", "(line 3)",
                   f"vectors must hold numbers only, found {shown}")


# ----------------------------------------------------------------------------- 6. labels


def test_single_class_message_shows_the_plain_label(cli, tmp_path):
    emb = _emb_npz(tmp_path / "e.npz")
    (p := tmp_path / "l.txt").write_text("a\na\na\na\n")
    out = tmp_path / "out.json"
    res = cli("geometry", emb, "--labels", p, "-q", "-o", out)
    _fails_cleanly(res, out, "l.txt", "every row has the label 'a';")
    assert "np." not in res.stderr


# ----------------------------------------------------------------------------- 7. norms


@pytest.mark.parametrize("scale", [1e20, 1e-24, 1e38, 1e-45])
def test_finite_float32_rows_with_extreme_norms_load(tmp_path, scale):
    """‖x‖² of these rows overflows (1e20, 1e38) or underflows (1e-24, 1e-45) in float32, yet the
    rows are finite and non-zero: the float64 norm is exact enough to normalise them."""
    v = np.random.default_rng(3).uniform(1, 2, (5, 4)).astype(np.float32)
    v[2] = (v[2] * scale).astype(np.float32)
    assert np.all(v[2] != 0) and np.all(np.isfinite(v[2]))
    np.save(p := tmp_path / "v.npy", v)
    emb = load_embeddings(p)
    want = np.sqrt([sum(float(x) ** 2 for x in row) for row in emb.vectors])  # Python floats
    np.testing.assert_allclose(row_norms64(emb.vectors), want, rtol=1e-12)
    np.testing.assert_allclose(row_norms64(emb.vectors, block_elements=4), want, rtol=1e-12)


def test_rows_whose_float64_norm_is_unusable_are_rejected():
    v = np.ones((4, 3), dtype=np.float64)
    v[1] = 1e200  # finite, but ‖x‖² = 3e400 overflows even in float64
    emb = EmbeddingSet(vectors=v, ids=np.array(["a", "b", "c", "d"]), path="v.npy")
    with pytest.raises(InputError) as err:
        validate(emb)
    assert "too large or too small to normalise" in err.value.problem and err.value.where == "row 1, id 'b'"
    v[1] = 1e-200  # ‖x‖² underflows to 0 in float64
    with pytest.raises(InputError) as err:
        validate(emb)
    assert "too large or too small to normalise" in err.value.problem
    v[1] = 0.0
    with pytest.raises(InputError) as err:
        validate(emb)
    assert "zero-norm vector" in err.value.problem and err.value.where == "row 1, id 'b'"


def test_a_label_column_is_never_a_dimension(tmp_path):
    """Without --label-col a numeric `label` column used to become a silent extra dimension."""
    (p := tmp_path / "v.csv").write_text("id,x,y,label\na,1,2,0\nb,3,4,1\nc,5,7,1\n")
    emb = load_embeddings(p)
    assert emb.d == 2 and emb.labels is None
    np.testing.assert_array_equal(emb.vectors, [[1, 2], [3, 4], [5, 7]])
    assert load_embeddings(p, label_col="label").labels.tolist() == ["0", "1", "1"]
