"""refzsl: zero-shot audio classification via semantic embeddings.

A reference implementation of Xie & Virtanen's bilinear compatibility model
F(x, y) = θ(x)ᵀ W φ(y) trained with the sorted-rank SGD of Training Algorithm 1,
and of the multi-label temporal-attention follow-up.

One clip's path through the package::

    audio.load_audio            file -> float32 mono waveform at 16 kHz
    frontend.waveform_to_patches waveform -> log-mel patches [n, 96, 64]
    embedders.get_embedder      patches -> acoustic embeddings θ(x) (YAMNet / VGGish, TFLite)
    semantic.class_embeddings   class names / descriptions -> φ(y) (Word2Vec, GloVe, sentences)
    model.BilinearZSL           fit W on seen classes, rank unseen ones
    metrics                     Top-1, mAP, McNemar
"""

__version__ = "0.1.0"
