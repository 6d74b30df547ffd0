"""Loaders (embeddings, texts, qrels, labels) and validation."""

from embeval.io.embeddings import EmbeddingSet, load_embeddings

__all__ = ["EmbeddingSet", "load_embeddings"]
