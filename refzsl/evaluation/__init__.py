"""Metrics on arrays: Top-k, mAP over samples and classes, McNemar's test (:mod:`.metrics`)."""
