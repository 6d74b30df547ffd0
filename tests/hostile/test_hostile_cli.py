"""Every hostile case of cases.py through the CLI (Typer's runner, in an empty folder): the exit code
it must give, one stderr line with the expected words for an error, never a traceback, and no
output file left behind by a refused run."""

from __future__ import annotations

import pytest

from hostile.cases import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case: Case, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEVAL_CACHE_DIR", str(tmp_path / ".cache"))
    case.build(tmp_path)
    res = cli(*case.args)
    out, err = res.stdout, res.stderr
    assert "Traceback" not in out + err, err
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == case.code, (res.exit_code, err, out[-2000:])
    if case.code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("embeval: "), err
    for w in case.words:
        assert w.lower() in err.lower(), (w, err)
    for w in case.not_words:
        assert w.lower() not in (err + out).lower(), (w, err)
    for name in case.absent:
        assert not (tmp_path / name).exists(), f"{name} was left behind"
    if case.check is not None:
        case.check(tmp_path, out, err)


def test_the_suite_holds_every_reproduction():
    """At least one case per defect of the review that belongs to issue 10."""
    owned = set(range(1, 41)) - {9, 20, 23, 34}  # cache (first) and scale (scaleup) defects
    covered = {int(c.id[1:].split("_")[0]) for c in CASES if c.id.startswith("D")}
    covered |= {1, 19}  # exit-code and batch-atomicity tests live in test_boundary.py
    assert owned <= covered, sorted(owned - covered)


def test_the_suite_holds_the_trust3_reproductions():
    """Every reproduction of ../shared/reviews/trust-3.md section A owned by issue 20 items 1-5 is a
    case here (CL_scheduler_dies, which needs a live cluster, is test_environment.py's
    test_scheduler_lost_mid_run_is_exit_4_one_line; H2's RLIMIT_FSIZE form is
    tests/encode/test_cache_write_failure.py)."""
    want = {"PG_pw_hash_not_shown", "PG_pw_hash_connfail", "PG_pw_qmark_connfail", "PG_pw_slash_connfail",
            "PG_batch_pw_hash_not_shown_refused", "CA_unwritable_cache_kept", "MT_model_meta_list", "MT_bigint",
            "MT_huge_k", "SA_sample_exceeds_pairs_is_exact", "SA_sample_int64_max", "BA_option_huge",
            "BA_perquery_removed_foreign", "CP_newline_name_tex", "CP_newline_name_md", "CL_local_huge_N_static",
            "SH_dup_within_one_shard", "SH_id_collision_rownum", "SH_no_normalize_cluster_flag"}
    assert want <= {c.id for c in CASES}, sorted(want - {c.id for c in CASES})
