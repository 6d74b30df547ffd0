"""Nearest-neighbour search: FAISS behind a small interface, with a NumPy reference."""

from embeval.index.knn import knn_self, knn_self_numpy, search_numpy

__all__ = ["knn_self", "knn_self_numpy", "search_numpy"]
