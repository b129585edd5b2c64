"""Acoustic embeddings θ(x): the TFLite embedders (:mod:`.embedders`), cached extraction of files
(:mod:`.extraction`) run in this process, on a local pool or on Dask (:mod:`.scheduling`), sharded
output read lazily (:mod:`.shards`), the pooling of a clip's segments into windows (:mod:`.timeline`), and
VGGish in PyTorch (:mod:`.networks`) trained on seen classes only (:mod:`.training`; optional ``train`` extra)."""
