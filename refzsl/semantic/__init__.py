"""Semantic embeddings φ(y): word vectors (:mod:`.vectors`), the recipes WLE/GLE/WSE/GSE/BSE and their
concatenations (:mod:`.recipes`), the NumPy sentence encoder (:mod:`.minilm`) and the AudioSet ontology
with its label tables (:mod:`.ontology`)."""
