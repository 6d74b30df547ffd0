"""The same diagnostics over sharded inputs on a Dask cluster (``--cluster``).

Every diagnostic here is a sum, a count or a top-k over tiles (shard × shard, or queries × corpus
shard): a map-reduce. Workers load their own shards (tasks carry shard paths, not arrays) and
return partial sums, counts and top-k lists; the driver merges them. dask is imported only inside
the functions of :mod:`.cluster`, when a cluster is used.

This package is the ``dask`` **provider** of the registry's diagnostics: importing it registers
(:func:`embeval.diagnostics.registry.provide`) a function for each diagnostic it computes, which
returns raw values that the registry wraps in the declared outputs.

- :mod:`.cluster`: start a LocalCluster or connect to a scheduler; run tasks with progress.
- :mod:`.checkpoint`: resumable runs (``checkpoint``): each finished tile kept in a folder, loaded
  instead of computed when the same run comes again.
- :mod:`.tiles`: the tile kernels (pure functions on arrays) and the worker-side shard reader.
- :mod:`.devices`: each worker's device (the request travels with every task) and the
  one-tile-per-worker timing behind ``budget``.
- :mod:`.geometry`: uniformity, mam, anisotropy, effective rank, hubness over shards.
- :mod:`.retrieval`: top-k merged across corpus shards, AUC counts and score separation.
"""

from embeval.distributed import gap, geometry, retrieval  # noqa: F401  (registers the dask provider)
