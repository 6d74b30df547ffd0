"""A seeded mock encoder (mteb's ``tests/mock_models.py`` pattern): ``--model mock`` in tests.

Each text maps to a fixed pseudo-random vector (seeded by a hash of the text), so tests of the
plumbing (cache, prompts, text inputs, batch runs, error paths) run without torch or the real
model. Only the real-data checks (marked ``slow``) and the parity checks against the real model
load it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from embeval.encode import base
from embeval.encode.config import EncoderConfig

MOCK = "mock"
DIM = 384  # as all-MiniLM-L6-v2, so shapes read the same as with the default model


def mock_vector(text: str, dim: int = DIM) -> np.ndarray:
    """The mock's vector of one text: standard normal, seeded by the text's SHA-256 (float32)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def mock_encode(texts: Sequence[str], normalize: bool = True) -> np.ndarray:
    """What the mock encoder returns for ``texts`` (an independent reference for the tests)."""
    x = np.stack([mock_vector(t) for t in texts]) if len(texts) else np.zeros((0, DIM), np.float32)
    if normalize and len(x):
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


class MockEncoder:
    """Implements :class:`embeval.encode.config.Encoder` without any model."""

    def __init__(self, config: EncoderConfig):
        self.config = config
        self.dim = DIM
        self.identity = {"model": MOCK, "path": "mock", "weights_sha256": hashlib.sha256(b"mock-v1").hexdigest(),
                         "max_seq_length": config.max_seq_length or 256, "dim": DIM}

    def encode_batch(self, texts: Sequence[str], task) -> np.ndarray:
        out = mock_encode(texts, self.config.normalize)
        task.advance(len(texts))
        return out


def register() -> None:
    base.FACTORIES[MOCK] = MockEncoder
