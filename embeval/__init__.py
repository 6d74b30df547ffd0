"""embeval: measure whether an embedding space is any good."""

__version__ = "0.1.0"
