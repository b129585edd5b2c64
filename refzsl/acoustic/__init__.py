"""Acoustic embeddings θ(x): the TFLite embedders (:mod:`.embedders`) and cached extraction of files
(:mod:`.extraction`)."""
