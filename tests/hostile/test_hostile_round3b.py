"""The cases of :mod:`hostile.cases_round3b` through the CLI, checked as every hostile case is."""

from __future__ import annotations

import pytest

from hostile.cases_round3b import CASES_3B
from hostile.test_hostile_cli import test_hostile_case as _run_case


@pytest.mark.parametrize("case", CASES_3B, ids=[c.id for c in CASES_3B])
def test_round3b_case(case, cli, tmp_path, monkeypatch):
    _run_case(case, cli, tmp_path, monkeypatch)


def test_round3b_cases_cover_items_6_to_9():
    ids = {c.id.split("_")[0] for c in CASES_3B}
    assert {"F1", "F2", "F3", "N3", "N4"} <= ids
