"""embeval: measure whether an embedding space is any good."""

from embeval._version import __version__

__all__ = ["__version__"]
