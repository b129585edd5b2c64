"""Datasets: ESC-50 (:mod:`.esc50`), P3's generated mixtures (:mod:`.mixtures`) and the shipped ESC-50
feature pack (:mod:`.pack`), Google's released AudioSet features (:mod:`.tfrecord`, :mod:`.audioset`)."""
