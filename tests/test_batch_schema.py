"""The batch config schema is the dataclasses of embeval.batch.config, read by one walker: the
keys and TOML types of [settings], [[models]] and [[jobs]] come from the fields."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import ROOT

from embeval.batch.config import JobSpec, ModelSpec, Settings, _schema, load_config
from embeval.errors import ConfigError


def test_the_schema_is_read_from_the_dataclasses():
    assert _schema(Settings) == {"title": str, "seed": int, "out_dir": str, "cache": bool, "cache_dir": str,
                                 "device": str, "batch_size": int, "cluster": str, "checkpoint": str}
    assert list(_schema(ModelSpec)) == [f.name for f in dataclasses.fields(ModelSpec)]
    assert _schema(JobSpec, skip=("index",)) == {"command": str, "datasets": "str_or_list", "models": "str_or_list",
                                                 "metrics": "str_or_list", "fail_if": "str_or_list", "options": dict}


@pytest.mark.parametrize(("toml", "message"), [
    ("[settings]\nsed = 1\n", "settings.sed: unknown key; did you mean 'seed'?"),
    ("[settings]\ncache = 'yes'\n", "settings.cache: must be true or false, not a string ('yes')"),
    ("[[models]]\nname = 'm'\nbatch_size = 1.5\n", "models[0].batch_size: must be an integer, not a number (1.5)"),
    ("[[jobs]]\ncommand = 'geometry'\nmetric = 'x'\n", "jobs[0].metric: unknown key; did you mean 'metrics'?"),
])
def test_one_walker_checks_keys_and_types(tmp_path, toml, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value).endswith(message), str(info.value)


def test_load_config_needs_no_complexity_exemption():
    assert "noqa: C901" not in (ROOT / "embeval" / "batch" / "config.py").read_text(encoding="utf-8")
