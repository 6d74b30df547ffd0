"""mkdocs hooks: add the generated reference pages (docs/gen_reference.py) to the build."""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gen_reference


def on_files(files, config):
    for rel, text in gen_reference.generate().items():
        files.append(File.generated(config, rel, content=text))
    return files
