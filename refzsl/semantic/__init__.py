"""Semantic embeddings φ(y): word vectors (:mod:`.vectors`), the recipes WLE/GLE/WSE/GSE/BSE and their
concatenations (:mod:`.recipes`), the NumPy sentence encoder (:mod:`.minilm`) and the AudioSet ontology
with its label tables (:mod:`.ontology`)."""

from .._util.aliases import module_getattr

# ``from refzsl import semantic`` named one flat module before the layers; its names still resolve here.
__getattr__ = module_getattr(__name__)
