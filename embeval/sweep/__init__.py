"""Sweeps: index settings (:mod:`embeval.sweep.index`) and compressed storage
(:mod:`embeval.sweep.compress`) measured against exact float32 search on the user's own vectors;
shared statistics in :mod:`embeval.sweep.common`. Orchestrated by :mod:`embeval.api.sweep`."""
