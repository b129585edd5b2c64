"""Acoustic embeddings θ(x): the TFLite embedders (:mod:`.embedders`), cached extraction of files
(:mod:`.extraction`) and the pooling of a clip's segments into windows (:mod:`.timeline`)."""
