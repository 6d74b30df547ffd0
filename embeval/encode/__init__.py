"""Text encoders behind a small interface, and an on-disk embedding cache.

torch and sentence-transformers are imported only when a model is actually loaded.

This package is also the function ``embeval.encode(texts, model="default", ...)``: calling it runs
:func:`embeval.encode.public.encode` (texts in, an n×d float32 array out).
"""

import sys as _sys
import types as _types

from embeval.encode.base import encode_texts, encoder_identity, load_encoder
from embeval.encode.config import Encoder, EncoderConfig

__all__ = ["Encoder", "EncoderConfig", "encode_texts", "encoder_identity", "load_encoder"]


class _CallableModule(_types.ModuleType):
    """``embeval.encode`` is both this package and the public encode function."""

    def __call__(self, texts, **kwargs):
        from embeval.encode.public import encode

        return encode(texts, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
