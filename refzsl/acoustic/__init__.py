"""Acoustic embeddings θ(x): the TFLite embedders (:mod:`.embedders`), cached extraction of files
(:mod:`.extraction`) run in this process, on a local pool or on Dask (:mod:`.scheduling`), and
sharded output read lazily (:mod:`.shards`)."""
