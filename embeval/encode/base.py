"""Loading encoders and the function every command uses to turn texts into vectors.

The config and the :class:`Encoder` protocol live in the leaf :mod:`embeval.encode.config`;
torch and sentence-transformers (``st``) are imported only when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embeval.encode.cache import EmbeddingCache
from embeval.encode.config import Encoder, EncoderConfig
from embeval.errors import InputError
from embeval.progress import NULL, Progress

__all__ = ["Encoder", "EncoderConfig", "check_texts", "encode_texts", "load_encoder"]


@dataclass
class _Loaded:
    encoders: dict[tuple, Encoder] = field(default_factory=dict)


_LOADED = _Loaded()

# Encoders by model name that are not sentence-transformers models: name -> factory(config).
# The tests register a seeded mock encoder here (tests/mock_encoder.py, as mteb's mock models).
FACTORIES: dict[str, Callable[[EncoderConfig], Encoder]] = {}


def load_encoder(config: EncoderConfig) -> Encoder:
    """Load (once per process) the encoder a config names: a registered factory's, else a
    sentence-transformers model."""
    key = (config.model, config.max_seq_length, config.device, config.batch_size, config.normalize)
    if key not in _LOADED.encoders:
        factory = FACTORIES.get(config.model)
        if factory is None:
            from embeval.encode.st import SentenceTransformerEncoder

            factory = SentenceTransformerEncoder
        _LOADED.encoders[key] = factory(config)
    return _LOADED.encoders[key]


def check_texts(texts: Sequence[str], source: str) -> None:
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(source, f"text is not a string ({type(t).__name__})", where=f"row {i}")
        if not t.strip():
            raise InputError(source, "empty text", where=f"row {i}")


def encode_texts(
    texts: Sequence[str],
    config: EncoderConfig,
    *,
    role: str = "document",
    progress: Progress = NULL,
    source: str = "texts",
) -> np.ndarray:
    """Encode ``texts`` (with the config's prompt for ``role``), reading and filling the cache."""
    check_texts(texts, source)
    encoder = load_encoder(config)
    prompt = config.prompt(role)
    full = [prompt + t for t in texts] if prompt else list(texts)
    out = np.empty((len(full), encoder.dim), dtype=np.float32)
    cache = None
    todo = np.arange(len(full))
    if config.cache:
        cache = EmbeddingCache.open(encoder.identity, config)
        hits, vecs = cache.get_many(full)
        out[hits] = vecs
        todo = np.setdiff1d(todo, hits, assume_unique=True)
    if len(todo):
        with progress.task(f"encoding with {config.model}", total=len(todo)) as task:
            vecs = encoder.encode_batch([full[i] for i in todo], task)
        out[todo] = vecs
        if cache is not None:
            cache.put_many([full[i] for i in todo], vecs)
    return out
