"""Loading encoders and the function every command uses to turn texts into vectors.

The config and the :class:`Encoder` protocol live in the leaf :mod:`embeval.encode.config`;
torch and sentence-transformers (``st``) are imported only when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from embeval.encode.cache import EmbeddingCache
from embeval.encode.config import FACTORIES, Encoder, EncoderConfig
from embeval.errors import InputError
from embeval.progress import NULL, Progress

__all__ = ["FACTORIES", "Encoder", "EncoderConfig", "check_texts", "encode_texts", "load_encoder", "model_identity"]


@dataclass
class _Loaded:
    encoders: dict[tuple, Encoder] = field(default_factory=dict)


_LOADED = _Loaded()


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


@dataclass
class CacheStats:
    """How many texts the cache served (hits) and the model encoded (misses)."""

    hits: int = 0
    misses: int = 0
    model_loaded: bool = False

    def as_dict(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "model_loaded": self.model_loaded}


_STATS: ContextVar[CacheStats | None] = ContextVar("embeval_cache_stats", default=None)


@contextmanager
def track_cache() -> Iterator[CacheStats]:
    """Count cache hits and misses of every :func:`encode_texts` call inside the block."""
    stats = CacheStats()
    token = _STATS.set(stats)
    try:
        yield stats
    finally:
        _STATS.reset(token)


_DIMS: dict = {}
_REGISTERED_IDENTITIES: dict = {}


def model_identity(config: EncoderConfig) -> dict:
    """Who encodes, without loading a sentence-transformers model (:func:`embeval.encode.st.model_identity`);
    a registered encoder (:data:`FACTORIES`) names itself."""
    if config.model in FACTORIES:
        key = (config.model, config.max_seq_length, config.cache, config.cache_dir)
        if key not in _REGISTERED_IDENTITIES:
            _REGISTERED_IDENTITIES[key] = {k: v for k, v in load_encoder(config).identity.items() if k != "dim"}
        return _REGISTERED_IDENTITIES[key]
    from embeval.encode.st import model_identity as st_identity

    return st_identity(config)


def encoder_identity(config: EncoderConfig) -> dict:
    """The model identity recorded in reports (no model load): name, folder, weights sha256,
    fingerprint, max sequence length, and the dimension once something was encoded."""
    ident = dict(model_identity(config))
    dim = _DIMS.get(_dim_key(config))
    if dim is not None:
        ident["dim"] = dim
    return ident


def _dim_key(config: EncoderConfig) -> tuple:
    return (config.model, config.max_seq_length)


def encode_texts(
    texts: Sequence[str],
    config: EncoderConfig,
    *,
    role: str = "document",
    progress: Progress = NULL,
    source: str = "texts",
) -> np.ndarray:
    """Encode ``texts`` (with the config's prompt for ``role``), reading and filling the cache.

    The model is loaded only when some text is not in the cache (its identity for the cache key
    comes from its files, hashed once and remembered)."""
    check_texts(texts, source)
    holder: list[EmbeddingCache] = []
    try:
        return _encode_cached(texts, config, role, progress, holder)
    finally:
        for cache in holder:
            cache.close()


def _encode_cached(
    texts: Sequence[str], config: EncoderConfig, role: str, progress: Progress, holder: list[EmbeddingCache]
) -> np.ndarray:
    prompt = config.prompt(role)
    full = [prompt + t for t in texts] if prompt else list(texts)
    todo = np.arange(len(full))
    cache = None
    hit_idx = hit_vecs = None
    if config.cache:
        from embeval.encode.cache import cache_dir

        folder = cache_dir(config)
        if folder.exists() and not folder.is_dir():  # before any model load, not after the encoding
            raise InputError(
                folder, "the embedding cache folder is a file; give another cache folder or turn the cache off"
            )
        identity = model_identity(config)
        cache = EmbeddingCache.open({**identity, "dim": _DIMS.get(_dim_key(config))}, config)
        holder.append(cache)
        hit_idx, hit_vecs = cache.get_many(full)
        todo = np.setdiff1d(todo, hit_idx, assume_unique=True)
    stats = _STATS.get()
    n_hits = len(full) - len(todo)
    if config.cache and len(full):
        progress.message(
            f"{config.model}: {n_hits:,} of {len(full):,} texts from the embedding cache"
            + ("" if len(todo) else " (model not loaded)")
        )
    vecs = None
    dim = cache.dim if cache is not None and cache.dim else None
    if len(todo) or dim is None:
        with progress.status(f"loading model {config.model}"):
            encoder = load_encoder(config)
        if stats is not None:
            stats.model_loaded = True
        if dim is not None and dim != encoder.dim:  # a foreign file: nothing it holds is usable
            todo, hit_idx, n_hits = np.arange(len(full)), None, 0
        dim = encoder.dim
        if len(todo):
            with progress.task(f"encoding with {config.model}", total=len(todo), unit="texts") as task:
                vecs = encoder.encode_batch([full[i] for i in todo], task)
    _DIMS[_dim_key(config)] = dim
    out = np.empty((len(full), dim), dtype=np.float32)
    if hit_idx is not None and len(hit_idx):
        out[hit_idx] = hit_vecs
    if vecs is not None:
        out[todo] = vecs
        if cache is not None:
            cache.put_many([full[i] for i in todo], vecs)
    if stats is not None:
        stats.hits += n_hits
        stats.misses += len(todo)
    return out
