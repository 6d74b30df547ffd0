"""Every path option of every command declares its role (IN, OUT or Place), and ``boundary``
checks every OUT against every IN and every other OUT before the command runs: enumerated from the
commands themselves, so a new flag without a role fails here, and a declared one is checked."""

from __future__ import annotations

import itertools
import typing
from pathlib import Path

import pytest
import typer.models

from embeval.cli import app as cli_app
from embeval.cli.options import path_roles


def _commands(app=cli_app, prefix=()):
    for info in app.registered_commands:
        yield (*prefix, info.name or info.callback.__name__), info.callback
    for group in app.registered_groups:
        yield from _commands(group.typer_instance, (*prefix, group.name))


COMMANDS = dict(_commands())


def _base(hint) -> set:
    """The types inside an annotation (Path | None, list[Path] -> {Path, NoneType})."""
    args = typing.get_args(hint)
    if not args:
        return {hint}
    return set().union(*(_base(a) for a in args)) | {typing.get_origin(hint)}


def _params(fn):
    """(name, type, typer ParameterInfo, help) of a command's parameters."""
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        metas = getattr(hint, "__metadata__", ())
        info = next((m for m in metas if isinstance(m, typer.models.ParameterInfo)), None)
        if info is None:
            continue
        yield name, typing.get_args(hint)[0], info, (info.help or "")


# String options that name no file (columns, metrics, gates, names). A new string option is not
# here, so it fails test_every_path_option_declares_its_role until it is given a role or added.
NOT_PATHS = {"metric", "k", "label_col", "id_col", "vector_col", "text_col", "text_a_col", "text_b_col",
             "score_col", "cluster", "split", "mteb_task", "name_a", "name_b", "query_prompt", "document_prompt",
             "device", "fail_if", "fail_if_regress", "family",
             # embeval sweep: comma-separated grids and formats
             "kinds", "hnsw_m", "ef_construction", "ef_search", "nprobe", "pq_m", "pq_nprobe", "rerank", "quant",
             "dims", "rescore",
             # MTEB language codes; audit's remedies, verdict level and search metric
             "mteb_lang", "tries", "fail_on",
             # compare: the pairwise test (signflip, student, fisher)
             "test"}


def _looks_like_a_path(name: str, hint) -> bool:
    types = _base(hint)
    return Path in types or (str in types and name not in NOT_PATHS)


def test_commands_are_enumerated():
    assert {"geometry", "encode", "pairs", "retrieval", "gap", "compare", "run"} <= {c[0] for c in COMMANDS}


@pytest.mark.parametrize("command", list(COMMANDS), ids=[" ".join(c) for c in COMMANDS])
def test_every_path_option_declares_its_role(command):
    fn = COMMANDS[command]
    roles = path_roles(fn)
    missing = [name for name, hint, _, help_text in _params(fn)
               if _looks_like_a_path(name, hint) and name not in roles]
    assert not missing, f"{' '.join(command)}: give {missing} a role (IN, OUT or Place(why)) in its Annotated type"
    for name, (_, role) in roles.items():
        assert role.role in {"input", "output", "place"}
        if role.role == "place":
            assert role.why, name


def test_the_known_outputs_are_declared():
    """The review's misses (P1-1) in particular: --run, --mteb-out are outputs, --run-in an input."""
    roles = {(c[0], flag): r.role for c, fn in COMMANDS.items() for _, (flag, r) in path_roles(fn).items()}
    for key, role in {("retrieval", "--run"): "output", ("retrieval", "--run-in"): "input",
                      ("retrieval", "--mteb-out"): "output", ("retrieval", "--qrels"): "input",
                      ("pairs", "--mteb-out"): "output", ("geometry", "--labels"): "input",
                      ("geometry", "--pairs"): "input", ("geometry", "--items"): "output",
                      ("encode", "--output"): "output", ("compare", "--junit"): "output"}.items():
        assert roles.get(key) == role, (key, roles.get(key))


# The positionals each command needs to get past Typer's parsing (they need not exist: the paths
# are checked before anything is read).
_NEEDS = {"geometry": ["g_in.npy"], "encode": ["e_in.txt", "-o", "e_out.npz"], "pairs": ["p_in.csv"],
          "gap": ["a_in.npy"], "compare": ["c_in.json"], "run": ["r_in.toml"], "sweep": ["s_in.npy"],
          "diff": ["o_in.npy", "n_in.npy"], "audit": ["a_in.npy"],
          "transform": ["t_in.npz", "x_in.npy", "-o", "t_out.npy"]}


def _argv(command, fn, assign: dict[str, str]) -> list[str]:
    roles = path_roles(fn)
    argv = list(command)
    positional = {name: v for name, v in assign.items() if not roles[name][0].startswith("-")}
    rest = list(_NEEDS.get(command[0], []))
    if positional:  # the positional replaces the needed one
        rest = [v for v in positional.values()] + [a for a in rest[1:]]
    for name, value in assign.items():
        flag = roles[name][0]
        if flag.startswith("-"):
            if flag == "--output" and "-o" in rest:
                i = rest.index("-o")
                del rest[i:i + 2]
            argv += [flag, value]
    return argv + rest


def _pairs(kind_a: str, kind_b: str):
    for command, fn in COMMANDS.items():
        roles = path_roles(fn)
        outs = [n for n, (_, r) in roles.items() if r.role == "output"]
        ins = [n for n, (_, r) in roles.items() if r.role == "input"]
        if kind_b == "input":
            yield from ((command, o, i) for o in outs for i in ins)
        else:
            yield from ((command, o, p) for o, p in itertools.combinations(outs, 2))


IN_PAIRS = list(_pairs("output", "input"))
OUT_PAIRS = list(_pairs("output", "output"))


@pytest.mark.parametrize("command,out,inp", IN_PAIRS, ids=[f"{' '.join(c)}:{o}={i}" for c, o, i in IN_PAIRS])
def test_no_output_may_be_an_input(command, out, inp, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim.dat"
    victim.write_text("precious\n")
    fn = COMMANDS[command]
    res = cli(*_argv(command, fn, {inp: "victim.dat", out: "victim.dat"}))
    flag = path_roles(fn)[out][0]
    assert res.exit_code == 2, (res.exit_code, res.stderr, res.stdout[-500:])
    assert flag in res.stderr and "the input" in res.stderr, res.stderr
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("command,out,other", OUT_PAIRS, ids=[f"{' '.join(c)}:{o}={p}" for c, o, p in OUT_PAIRS])
def test_no_two_outputs_may_be_one_file(command, out, other, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fn = COMMANDS[command]
    res = cli(*_argv(command, fn, {out: "both.out", other: "both.out"}))
    assert res.exit_code == 2, (res.exit_code, res.stderr, res.stdout[-500:])
    assert "same file as" in res.stderr, res.stderr
    assert not (tmp_path / "both.out").exists()


def test_the_pairs_cover_the_review():
    flat = {(c[0], path_roles(COMMANDS[c])[o][0], path_roles(COMMANDS[c])[i][0])
            for c, o, i in IN_PAIRS}
    assert {("retrieval", "--run", "--qrels"), ("retrieval", "--output", "--run-in"),
            ("retrieval", "--mteb-out", "--qrels"), ("pairs", "--mteb-out", "FILE")} <= flat
