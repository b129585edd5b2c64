"""Acoustic embeddings θ(x): the TFLite embedders (:mod:`.embedders`), cached extraction of files
(:mod:`.extraction`), and VGGish in PyTorch (:mod:`.networks`) trained on seen classes only
(:mod:`.training`; optional ``train`` extra)."""
