"""Text encoders behind a small interface, and an on-disk embedding cache.

torch and sentence-transformers are imported only when a model is actually loaded.
"""

from embeval.encode.base import Encoder, EncoderConfig, encode_texts, encoder_identity, load_encoder

__all__ = ["EncoderConfig", "Encoder", "encode_texts", "encoder_identity", "load_encoder"]
