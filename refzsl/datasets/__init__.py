"""Datasets: ESC-50 (:mod:`.esc50`), P3's generated mixtures (:mod:`.mixtures`), the shipped ESC-50
feature pack (:mod:`.pack`) and the per-fold networks that never heard the test classes
(:mod:`.esc50_networks`)."""
