"""The composite GitHub Action (action.yml at the repository root): its structure, no workflow
expressions inside shell scripts, and its run steps executed for real with bash against this
checkout's embeval (command mode, a failing gate, config mode, bad input)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.fixture(scope="module")
def action():
    return yaml.safe_load(ACTION.read_text())


def test_structure(action):
    assert action["name"] and action["description"]
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    for step in steps:
        assert "run" in step or "uses" in step, step
        if "run" in step:
            assert step.get("shell") == "bash", step  # composite run steps must name their shell
            assert not EXPR.search(step["run"]), f"inline ${{{{ }}}} in a script (use env): {step['name']}"
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
    names = [s["name"] for s in steps]
    assert names == [
        "Set up Python",
        "Install embeval",
        "Run embeval",
        "Upload the report",
        "Comment on the pull request",
        "Fail when a gate failed",
    ]
    # Every input a step refers to is declared, and every declared input is used.
    used = {m.split(".", 1)[1] for m in EXPR.findall(ACTION.read_text()) if m.startswith("inputs.")}
    used |= {m.group(1) for m in re.finditer(r"inputs\.([\w-]+)", ACTION.read_text())}
    assert used == set(action["inputs"]), (used, set(action["inputs"]))
    assert {o["value"] for o in action["outputs"].values()} == {
        "${{ steps.run.outputs.exit-code }}",
        "${{ steps.run.outputs.report-dir }}",
    }
    upload = next(s for s in steps if s["name"] == "Upload the report")
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"].startswith("always()")


def _step(action, name):
    return next(s for s in action["runs"]["steps"] if s["name"] == name)


def _env(step, inputs, defaults):
    """The step's env with ${{ inputs.X }} resolved from ``inputs`` or the declared defaults."""
    out = {}
    for key, value in (step.get("env") or {}).items():
        out[key] = EXPR.sub(
            lambda m: str(
                inputs.get(
                    m.group(1)[len("inputs.") :], defaults.get(m.group(1)[len("inputs.") :], {}).get("default", "")
                )
            ),
            str(value),
        )
    return out


@pytest.fixture
def shell(tmp_path):
    """PATH with `embeval` and `python` running this checkout's package (as after the install step)."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "embeval").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m embeval "$@"\n')
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    base = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }

    def run(action, name, inputs, extra=None):
        step = _step(action, name)
        out_file = tmp_path / "github_output"
        out_file.write_text("")
        env = {
            **base,
            **_env(step, inputs, action["inputs"]),
            "GITHUB_OUTPUT": str(out_file),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            **(extra or {}),
        }
        proc = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        outputs = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
        return proc, outputs

    return run


def test_command_mode_writes_report_and_records_the_exit_code(action, shell, tmp_path):
    corpus = ROOT / "sample_data" / "scifact_small" / "corpus.npy"
    proc, out = shell(
        action, "Run embeval", {"command": f"geometry {corpus} -m uniformity,anisotropy --fail-if 'uniformity > 0'"}
    )
    assert proc.returncode == 0, proc.stderr
    assert out == {"report-dir": "embeval-report", "exit-code": "0"}
    doc = json.loads((tmp_path / "embeval-report" / "report.json").read_text())
    assert doc["command"] == "geometry" and doc["passed"] and [g["expr"] for g in doc["gates"]] == ["uniformity > 0"]
    md = (tmp_path / "embeval-report" / "report.md").read_text()
    assert "uniformity" in md and md == (tmp_path / "summary.md").read_text()
    # A failing gate: the run step records 1 and the last step fails with it.
    proc, out = shell(action, "Run embeval", {"command": f"geometry {corpus} -m uniformity --fail-if 'uniformity < 0'"})
    assert proc.returncode == 0 and out["exit-code"] == "1"
    fail = shell(action, "Fail when a gate failed", {}, {"EMBEVAL_EXIT": out["exit-code"]})[0]
    assert fail.returncode == 1
    # Bad usage is exit 2, recorded the same way.
    proc, out = shell(action, "Run embeval", {"command": "geometry no-such-file.npy"})
    assert out["exit-code"] == "2"
    proc, out = shell(action, "Run embeval", {})
    assert out["exit-code"] == "2" and "give a command" in proc.stdout


def test_install_step_installs_the_pinned_action_by_default(action, shell, tmp_path):
    """With no `package`, pip installs the action's own checkout ($GITHUB_ACTION_PATH)."""
    log = tmp_path / "pip.log"
    fake = {"PATH": f"{tmp_path / 'fake'}{os.pathsep}{os.environ['PATH']}"}
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "python").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    (tmp_path / "fake" / "python").chmod(0o755)
    proc, _ = shell(action, "Install embeval", {}, {**fake, "GITHUB_ACTION_PATH": "/actions/embeval"})
    assert proc.returncode == 0 and log.read_text() == "-m pip install --upgrade /actions/embeval\n"
    shell(action, "Install embeval", {"package": "embeval-cli==0.1.0"}, {**fake, "GITHUB_ACTION_PATH": "/x"})
    assert log.read_text().splitlines()[-1] == "-m pip install --upgrade embeval-cli==0.1.0"


def test_install_step_adds_extras_and_cpu_torch_first(action, shell, tmp_path):
    """`extras: encode` installs the CPU torch first, then the package with the extra; a pinned
    version keeps its pin after the extras."""
    log = tmp_path / "pip.log"
    fake = {"PATH": f"{tmp_path / 'fake'}{os.pathsep}{os.environ['PATH']}", "GITHUB_ACTION_PATH": "/a/embeval"}
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "python").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    (tmp_path / "fake" / "python").chmod(0o755)
    proc, _ = shell(action, "Install embeval", {"extras": "encode"}, fake)
    assert proc.returncode == 0
    assert log.read_text().splitlines() == [
        "-m pip install torch==2.13.0",
        "-m pip install --upgrade /a/embeval[encode]",
    ]
    log.unlink()
    shell(action, "Install embeval", {"package": "embeval-cli==0.1.0", "extras": "dask"}, fake)
    assert log.read_text().splitlines() == ["-m pip install --upgrade embeval-cli[dask]==0.1.0"]


def test_config_mode_runs_a_batch(action, shell, tmp_path):
    s = ROOT / "sample_data" / "scifact_small"
    cfg = tmp_path / "batch.toml"
    cfg.write_text(
        f'[settings]\nseed = 0\n\n[[datasets]]\nname = "corpus"\nkind = "embeddings"\n'
        f'path = "{s / "corpus.npy"}"\n\n[[jobs]]\ncommand = "geometry"\nmetrics = ["uniformity"]\n'
    )
    proc, out = shell(action, "Run embeval", {"config": str(cfg), "out-dir": "out"})
    assert out["exit-code"] == "0", proc.stderr
    assert {"report.json", "report.md", "junit.xml"} <= {p.name for p in (tmp_path / "out").iterdir()}
    proc, out = shell(action, "Run embeval", {"config": str(cfg), "command": "geometry x.npy"})
    assert out["exit-code"] == "2" and "not both" in proc.stdout


def test_last_step_names_each_exit_code(action, shell):
    """Exit 4 (the environment failed) is reported as such, not as a failed gate; the code is kept."""
    for code, words in (("1", "a gate failed"), ("3", "internal error"), ("4", "the environment failed")):
        proc = shell(action, "Fail when a gate failed", {}, {"EMBEVAL_EXIT": code})[0]
        assert proc.returncode == int(code) and words in proc.stdout, (code, proc.stdout)
