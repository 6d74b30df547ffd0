"""Text encoders behind a small interface, and an on-disk embedding cache.

torch and sentence-transformers are imported only when a model is actually loaded.
"""

from embeval.encode.base import encode_texts, load_encoder
from embeval.encode.config import Encoder, EncoderConfig

__all__ = ["Encoder", "EncoderConfig", "encode_texts", "load_encoder"]
