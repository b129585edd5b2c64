"""Pooling a clip's segments into fixed windows: the input of a ranking per window (zero-shot sound event detection).

A clip's segments (one per patch, ``params.patch_hop_seconds`` apart) are grouped by their start time into
windows of ``window_seconds``; each window is a "clip" of its own, whose embedding is the mean of its
segments (the clip pooling of :mod:`refzsl.acoustic.extraction`) and whose scores are its segments'.
Any scorer of clips then scores windows unchanged.
"""

import math
from dataclasses import dataclass

import numpy as np

from .extraction import Features

__all__ = ["DEFAULT_WINDOW_SECONDS", "Windows", "window_features"]

#: Default window: one patch (0.96 s), the acoustic models' own resolution.
DEFAULT_WINDOW_SECONDS = 0.96


@dataclass
class Windows:
    """The windows of one clip.

    Attributes
    ----------
    starts, ends : np.ndarray [shape=(n_windows,)], float seconds
        Window bounds; the last window ends where the clip's last patch ends.
    features : Features
        One entry per window (``clip_embeddings`` = mean of its segments; ``segment_scores`` its segments').
    """

    starts: np.ndarray
    ends: np.ndarray
    features: Features


def window_features(features, params, *, window_seconds=DEFAULT_WINDOW_SECONDS):
    """Split every clip of ``features`` into windows of ``window_seconds``.

    Parameters
    ----------
    features : Features
        Segment embeddings (and scores) of clips, from :func:`refzsl.acoustic.extraction.extract_files`.
    params : FrontEndParams
        The front end that made the segments (patch length and hop).
    window_seconds : float
        Window length, at least one patch hop (``params.patch_hop_seconds``), so that no window is empty.

    Returns
    -------
    list [n_clips] of Windows

    Raises
    ------
    ValueError
        If ``window_seconds`` is not finite or is shorter than the patch hop.
    """
    hop = params.patch_hop_seconds
    if not (isinstance(window_seconds, (int, float)) and math.isfinite(window_seconds)
            and window_seconds >= hop - 1e-9):
        raise ValueError(f"window_seconds must be a finite number >= the patch hop ({hop} s), "
                         f"got {window_seconds!r}")
    result = []
    for index, segments in enumerate(features.segment_embeddings):
        starts = np.arange(len(segments)) * hop
        # Rounded so that 0.96 s windows of 0.48 s hops group 2 patches despite float error.
        window = np.floor(np.round(starts / window_seconds, 9)).astype(np.int64)
        groups = [np.flatnonzero(window == k) for k in np.unique(window)]
        scores = features.segment_scores[index] if features.segment_scores is not None else None
        window_starts = np.array([k * window_seconds for k in np.unique(window)], dtype=np.float64)
        clip_end = starts[-1] + params.patch_window_seconds if len(starts) else 0.0
        window_ends = np.minimum(window_starts + window_seconds, clip_end)
        embeddings = (np.stack([segments[group].mean(axis=0, dtype=np.float64) for group in groups])
                      .astype(np.float32) if groups else np.zeros((0, segments.shape[1]), np.float32))
        ids = [f"{features.clip_ids[index]}@{start:.2f}" for start in window_starts]
        result.append(Windows(window_starts, window_ends, Features(
            clip_ids=ids, clip_embeddings=embeddings, segment_embeddings=[segments[group] for group in groups],
            segment_scores=None if scores is None else [scores[group] for group in groups],
            manifest=features.manifest)))
    return result
