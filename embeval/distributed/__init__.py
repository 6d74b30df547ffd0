"""The same diagnostics over sharded inputs on a Dask cluster (``--cluster``).

Every diagnostic here is a sum, a count or a top-k over tiles (shard × shard, or queries × corpus
shard): a map-reduce. Workers load their own shards (tasks carry shard paths, not arrays) and
return partial sums, counts and top-k lists; the driver merges them. Nothing in this package is
imported unless a cluster is asked for, and dask is imported only inside :mod:`.cluster`.

- :mod:`.cluster`: start a LocalCluster or connect to a scheduler; run tasks with progress.
- :mod:`.tiles`: the tile kernels (pure functions on arrays) and the worker-side shard reader.
- :mod:`.geometry`: uniformity, mam, anisotropy, effective rank, hubness over shards.
- :mod:`.retrieval`: top-k merged across corpus shards, AUC counts and score separation.
"""
