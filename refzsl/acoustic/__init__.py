"""Acoustic embeddings θ(x): the TFLite embedders (:mod:`.embedders`), cached extraction of files
(:mod:`.extraction`), the pooling of a clip's segments into windows (:mod:`.timeline`), and VGGish in
PyTorch (:mod:`.networks`) trained on seen classes only (:mod:`.training`; optional ``train`` extra)."""
