"""The catalogue of outputs as Markdown: the README's metric tables and ``embeval metrics --format
markdown`` are generated here from the declarations (:mod:`embeval.diagnostics.registry`), so
they cannot drift from the code; ``tests/test_docs.py`` fails when the README does.

Regenerate the README's tables after changing a declaration::

    python -m embeval.report.catalog README.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import embeval.distributed  # noqa: F401  (registers the dask provider: the providers column reads it)
from embeval.diagnostics import all_diagnostics, families
from embeval.diagnostics.registry import Diagnostic, Output

BETTER = {True: "higher", False: "lower", None: "—"}
_BLOCK = re.compile(r"(<!-- outputs:(\w+) -->\n)(.*?)(<!-- /outputs -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def family_outputs(family: str) -> list[tuple[Diagnostic, Output]]:
    """(diagnostic, output) of every output of ``family``, an output declared twice listed once."""
    seen: set[str] = set()
    out = []
    for d in all_diagnostics(family):
        for o in d.outputs:
            if o.name not in seen:
                seen.add(o.name)
                out.append((d, o))
    return out


def outputs_table(family: str) -> str:
    """The Markdown table of one family's outputs: name, definition, direction, identifying params,
    diagnostic and the providers that compute it (``local``; ``dask`` on a cluster)."""
    lines = [
        "| output | definition | better | identified by | diagnostic | providers |",
        "|---|---|---|---|---|---|",
    ]
    for d, o in family_outputs(family):
        ident = ", ".join(f"`{p}`" for p in o.identity) or "—"
        row = f"| `{o.name}` | {_cell(o.description)} | {BETTER[o.higher_is_better]} | {ident} | `{d.name}` |"
        lines.append(f"{row} {', '.join(d.providers)} |")
    return "\n".join(lines) + "\n"


def metric_rows(family: str | None = None) -> list[dict[str, Any]]:
    """``embeval metrics --format json``: one object per output of every diagnostic (of ``family``)."""
    return [
        {
            "name": o.name,
            "family": d.family,
            "diagnostic": d.name,
            "higher_is_better": o.higher_is_better,
            "direction": o.direction,
            "identity": list(o.identity),
            "description": o.description,
            "params": {k: {"type": p.type.__name__, "default": p.default, "help": p.help} for k, p in d.params.items()},
            "needs": sorted(d.needs),
            "providers": list(d.providers),
        }
        for d in all_diagnostics(family)
        for o in d.outputs
    ]


def catalogue() -> str:
    """Every family's table, each under a heading."""
    return "\n".join(f"### {fam}\n\n{outputs_table(fam)}" for fam in families())


def render_readme(text: str) -> str:
    """``text`` with each ``<!-- outputs:FAMILY -->`` … ``<!-- /outputs -->`` block regenerated."""
    return _BLOCK.sub(lambda m: m.group(1) + outputs_table(m.group(2)) + m.group(4), text)


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    text = path.read_text(encoding="utf-8")
    new = render_readme(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"updated the output tables in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
