"""Datasets: ESC-50 (:mod:`.esc50`), P3's generated mixtures (:mod:`.mixtures`), the shipped ESC-50
feature pack (:mod:`.pack`), Google's released AudioSet features (:mod:`.tfrecord`, :mod:`.audioset`) and the
per-fold networks that never heard the test classes (:mod:`.esc50_networks`)."""

from .._util.aliases import module_getattr

# ``from refzsl import datasets`` named one flat module before the layers; its names still resolve here.
__getattr__ = module_getattr(__name__)
