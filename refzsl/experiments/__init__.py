"""The papers' protocols and runners: class folds (:mod:`.protocols`), hyper-parameter selection on
held-out classes (:mod:`.selection`), the ESC-50 tables (:mod:`.esc50`), P3 (:mod:`.multilabel`), P2's
AudioSet protocol and P3 on AudioSet (:mod:`.audioset`, :mod:`.audioset_multilabel`), the
open-vocabulary evaluation (:mod:`.openset`) and P4's embedding-quality ratio (:mod:`.acoustic_quality`)."""
