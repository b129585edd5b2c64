"""refzsl: zero-shot audio classification via semantic embeddings.

A reference implementation of Xie & Virtanen's bilinear compatibility model
F(x, y) = θ(x)ᵀ W φ(y) trained with the sorted-rank SGD of Training Algorithm 1,
and of the multi-label temporal-attention follow-up.

One clip's path through the package, one folder per layer (imports go down this list only)::

    audio.io.load_audio                 file -> float32 mono waveform at 16 kHz
    audio.frontend.waveform_to_patches  waveform -> log-mel patches [n, 96, 64]
    acoustic.embedders.get_embedder     patches -> acoustic embeddings θ(x) (YAMNet / VGGish, TFLite)
    acoustic.extraction.extract_files   files -> cached segment and clip embeddings
    acoustic.scheduling / shards        the same on a local pool or Dask; one .npz per batch, read lazily
    semantic.recipes.class_embeddings   class names / descriptions -> φ(y) (Word2Vec, GloVe, sentences)
    evaluation.metrics                  Top-1, mAP, McNemar
    models.bilinear.BilinearZSL         fit W on seen classes, rank unseen ones
    datasets, experiments               ESC-50, the feature pack, the papers' protocols and runners
    classify, cli                       the product: ``refzsl classify`` / ``refzsl train``

``config`` and ``exceptions`` sit under every layer; ``_util`` holds private helpers.
"""

from ._util import aliases as _aliases

__version__ = "0.1.0"

_aliases.install(__name__)
