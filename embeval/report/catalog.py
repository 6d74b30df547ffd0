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

from embeval.diagnostics import all_diagnostics, families
from embeval.diagnostics.registry import Output

BETTER = {True: "higher", False: "lower", None: "—"}
_BLOCK = re.compile(r"(<!-- outputs:(\w+) -->\n)(.*?)(<!-- /outputs -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def family_outputs(family: str) -> list[tuple[str, Output]]:
    """(diagnostic name, output) of every output of ``family``, an output declared twice listed once."""
    seen: set[str] = set()
    out = []
    for d in all_diagnostics(family):
        for o in d.outputs:
            if o.name not in seen:
                seen.add(o.name)
                out.append((d.name, o))
    return out


def outputs_table(family: str) -> str:
    """The Markdown table of one family's outputs: name, definition, direction, identifying params."""
    lines = ["| output | definition | better | identified by | diagnostic |", "|---|---|---|---|---|"]
    for diag, o in family_outputs(family):
        ident = ", ".join(f"`{p}`" for p in o.identity) or "—"
        lines.append(f"| `{o.name}` | {_cell(o.description)} | {BETTER[o.higher_is_better]} | {ident} | `{diag}` |")
    return "\n".join(lines) + "\n"


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
