"""Labels and per-item triage end to end: label files, --label-col, --items, bad inputs via the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import silhouette_score

from embeval.errors import InputError
from embeval.io.labels import check_labels, load_labels

LABEL_METRICS = {"tolerance", "knn_label_agreement", "knn_accuracy", "silhouette", "opis"}


@pytest.fixture
def labelled(tmp_path, rng):
    cent = rng.standard_normal((5, 16)) * 2
    y = np.repeat(np.arange(5), 30)
    x = (cent[y] + rng.standard_normal((len(y), 16))).astype(np.float32)
    x[7] = x[100]  # an exact duplicate
    names = np.array([f"intent_{v}" for v in y])
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "labels.txt").write_text("\n".join(names) + "\n")
    return tmp_path, x, names


def results(res):
    assert res.exit_code == 0, res.stderr
    return {r["metric"]: r for r in json.loads(res.stdout)["results"]}


# ---------------------------------------------------------------- label files


def test_label_file_formats_agree(tmp_path):
    labs = ["b", "a", "b", "3", "a"]
    (tmp_path / "l.txt").write_text("\n".join(labs) + "\n\n")
    pd.DataFrame({"label": labs}).to_csv(tmp_path / "l.csv", index=False)
    pd.DataFrame({"intent": labs}).to_csv(tmp_path / "one.tsv", sep="\t", index=False)
    pd.DataFrame({"x": [1] * 5, "cat": labs}).to_parquet(tmp_path / "l.parquet")
    (tmp_path / "l.jsonl").write_text("".join(json.dumps({"label": v}) + "\n" for v in labs))
    np.save(tmp_path / "l.npy", np.array(labs))
    for name, col in (("l.txt", None), ("l.csv", None), ("one.tsv", None), ("l.parquet", "cat"),
                      ("l.jsonl", None), ("l.npy", None)):
        assert load_labels(tmp_path / name, col).tolist() == labs, name
    pd.DataFrame({"label": [1, 2, 1]}).to_parquet(tmp_path / "ints.parquet")
    assert load_labels(tmp_path / "ints.parquet").tolist() == ["1", "2", "1"]


def test_label_file_problems(tmp_path):
    (tmp_path / "gap.txt").write_text("a\n\nb\n")
    with pytest.raises(InputError, match="row 1.*missing label|missing label.*row 1"):
        load_labels(tmp_path / "gap.txt")
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(InputError, match="none is named 'label'"):
        load_labels(tmp_path / "two.csv")
    with pytest.raises(InputError, match="no label column 'zz'"):
        load_labels(tmp_path / "two.csv", "zz")
    (tmp_path / "two.xlsx").write_text("x")
    with pytest.raises(InputError, match="unsupported extension"):
        load_labels(tmp_path / "two.xlsx")
    with pytest.raises(InputError, match="header row"):
        check_labels(np.array(["a", "b"]), 3, tmp_path / "l.csv", "x.npy")
    with pytest.raises(InputError, match="2 classes"):
        check_labels(np.array(["a", "a"]), 2, "l.txt", "x.npy")
    with pytest.raises(InputError, match="all 3 labels are different"):
        check_labels(np.array(["a", "b", "c"]), 3, "l.txt", "x.npy")


# ---------------------------------------------------------------- CLI


def test_labels_file_adds_label_metrics(cli, labelled):
    tmp, x, names = labelled
    res = cli("geometry", tmp / "x.npy", "--labels", tmp / "labels.txt", "-q", "-f", "json")
    got = results(res)
    assert LABEL_METRICS <= set(got)
    doc = json.loads(res.stdout)
    assert doc["settings"]["classes"] == 5 and len(doc["inputs"]["labels"]["sha256"]) == 64
    # One figure checked independently of embeval's code path.
    assert got["silhouette"]["value"] == pytest.approx(silhouette_score(x, names, metric="cosine"), abs=1e-6)
    assert got["knn_label_agreement"]["params"] == {"k": 10}
    # Without labels: no label metrics, and asking for one is a usage error.
    plain = results(cli("geometry", tmp / "x.npy", "-q", "-f", "json"))
    assert not LABEL_METRICS & set(plain)
    res = cli("geometry", tmp / "x.npy", "-q", "-m", "tolerance")
    assert res.exit_code == 2 and "--labels or --label-col" in res.stderr


def test_label_col_of_embeddings_file_matches_label_file(cli, labelled):
    tmp, x, names = labelled
    pd.DataFrame({"id": [f"q{i}" for i in range(len(x))], "embedding": list(x.astype(float)),
                  "intent": names}).to_parquet(tmp / "x.parquet")
    a = results(cli("geometry", tmp / "x.parquet", "--label-col", "intent", "-q", "-f", "json",
                    "-m", "tolerance,knn_accuracy(k=5),opis"))
    b = results(cli("geometry", tmp / "x.npy", "--labels", tmp / "labels.txt", "-q", "-f", "json",
                    "-m", "tolerance,knn_accuracy(k=5),opis"))
    assert a, "nothing to check"
    for m in a:
        assert a[m]["value"] == pytest.approx(b[m]["value"], abs=1e-9), m
    assert a["knn_accuracy"]["params"]["k"] == 5
    # --label-col with --labels names the column of the label file.
    pd.DataFrame({"other": 1, "intent": names}).to_csv(tmp / "lab.csv", index=False)
    c = results(cli("geometry", tmp / "x.npy", "--labels", tmp / "lab.csv", "--label-col", "intent",
                    "-q", "-f", "json", "-m", "tolerance"))
    assert c["tolerance"]["value"] == pytest.approx(b["tolerance"]["value"], abs=1e-9)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_items_file_written(cli, labelled, suffix):
    tmp, x, names = labelled
    out = tmp / "out" / f"items{suffix}"
    res = cli("geometry", tmp / "x.npy", "--labels", tmp / "labels.txt", "-q", "--items", out,
              "-m", "knn_accuracy")
    assert res.exit_code == 0, res.stderr
    df = pd.read_csv(out, keep_default_na=False) if suffix == ".csv" else pd.read_parquet(out)
    assert len(df) == len(x)
    assert list(df.columns) == ["id", "label", "k_occurrence", "nn_id", "nn_cosine", "nn_angle",
                                "label_agreement", "knn_label", "silhouette", "flag"]
    assert df["k_occurrence"].sum() == 10 * len(x)
    assert "near_duplicate" in df.loc[7, "flag"] and "near_duplicate" in df.loc[100, "flag"]
    assert str(df.loc[7, "nn_id"]) == "100"
    assert not list(out.parent.glob(".items*"))  # no temporary file left behind
    # The terminal table lists the worst rows of each kind after the metrics.
    shown = cli("geometry", tmp / "x.npy", "--labels", tmp / "labels.txt", "-q", "--items", out,
                "-m", "knn_accuracy").stdout
    assert shown.index("knn_accuracy") < shown.index("near_duplicate: 2 of 150 rows")
    assert "label_suspect" in shown and "hub" in shown
    # JSON output is not changed by --items.
    doc = json.loads(cli("geometry", tmp / "x.npy", "-q", "-f", "json", "--items", out, "-m", "mam").stdout)
    assert "items" not in doc and doc["settings"]["items_k"] == 10


def test_items_without_labels(cli, labelled):
    tmp, x, _ = labelled
    out = tmp / "items.csv"
    res = cli("geometry", tmp / "x.npy", "-q", "--items", out, "--items-k", "3",
              "--near-dup-threshold", "0.95", "-m", "hubness(k=3)")
    assert res.exit_code == 0, res.stderr
    df = pd.read_csv(out, keep_default_na=False)
    assert "label" not in df.columns and df["k_occurrence"].sum() == 3 * len(x)
    assert set(np.flatnonzero(df["flag"].str.contains("near_duplicate"))) == set(
        np.flatnonzero(df["nn_cosine"] >= 0.95 - 1e-6))


def test_bad_label_inputs_one_line_exit_2_no_output(cli, labelled):
    tmp, x, names = labelled
    (tmp / "short.txt").write_text("\n".join(names[:-3]) + "\n")
    (tmp / "one.txt").write_text("same\n" * len(x))
    (tmp / "gap.txt").write_text("\n".join(["a"] * 5 + [""] + ["b"] * (len(x) - 6)) + "\n")
    pd.DataFrame({"embedding": list(x.astype(float))}).to_parquet(tmp / "nolab.parquet")
    cases = [
        (("--labels", tmp / "short.txt"), "short.txt", "147 labels"),
        (("--labels", tmp / "one.txt"), "one.txt", "at least 2 classes"),
        (("--labels", tmp / "gap.txt"), "gap.txt", "row 5"),
        (("--labels", tmp / "nothere.txt"), "nothere.txt", "no such file"),
        (("--label-col", "intent"), "x.npy", "no label column 'intent'"),
        (("--label-col", "intent", "--vector-col", "embedding"), "nolab.parquet", "no label column"),
        (("--labels", tmp / "labels.txt", "--items", tmp / "items.xlsx"), "items.xlsx", ".csv or .parquet"),
        (("--labels", tmp / "labels.txt", "--items-k", "500"), "items-k", "must be between"),
    ]
    for args, name, fragment in cases:
        src = tmp / ("nolab.parquet" if name == "nolab.parquet" else "x.npy")
        out, items = tmp / "o" / "r.json", tmp / "o" / "items.csv"
        extra = () if "--items" in args else ("--items", items)
        res = cli("geometry", src, *args, *extra, "-q", "-o", out)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and fragment in lines[0], (args, res.stderr)
        assert not out.exists() and not items.exists()


_label = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).map(str.strip).filter(bool)


@settings(max_examples=30, deadline=None)
@given(labs=st.lists(_label, min_size=1, max_size=20))
def test_label_files_round_trip(tmp_path_factory, labs):
    tmp = tmp_path_factory.mktemp("rt")
    (tmp / "l.txt").write_text("\n".join(labs) + "\n", encoding="utf-8")
    pd.DataFrame({"label": labs}).to_csv(tmp / "l.csv", index=False)
    pd.DataFrame({"label": labs}).to_parquet(tmp / "l.parquet")
    (tmp / "l.jsonl").write_text("".join(json.dumps({"label": v}) + "\n" for v in labs), encoding="utf-8")
    for name in ("l.txt", "l.csv", "l.parquet", "l.jsonl"):
        assert load_labels(tmp / name).tolist() == labs, name
