"""A seeded mock encoder (no torch): each text's vector is a fixed function of its sha256."""

from __future__ import annotations

import hashlib

import numpy as np


class MockEncoder:
    def __init__(self, config, dim=8):
        self.config = config
        self.dim = dim
        self.identity = {"model": config.model, "dim": dim}
        self.encoded: list[str] = []

    def encode_batch(self, texts, task):
        out = np.stack([np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                        .standard_normal(self.dim) for t in texts]).astype(np.float32)
        self.encoded.extend(texts)
        task.advance(len(texts))
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def install_mock(monkeypatch):
    """Model loading returns one MockEncoder; the returned state counts loads (``.loads``) and
    holds the encoder (``.enc``)."""
    import embeval.encode.base as base

    class State:
        loads = 0
        enc = None

    def load(config):
        State.loads += 1
        State.enc = State.enc or MockEncoder(config)
        return State.enc

    monkeypatch.setattr(base, "load_encoder", load)
    base._DIMS.clear()
    return State
