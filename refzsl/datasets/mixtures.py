"""Seeded multi-label clips made of ESC-50 clips placed in sequence, with strong labels.

No multi-label AudioSet audio can be had here, so the P3 experiments (SPEC §7)
run on generated clips: each is a sequence of 2-3 ESC-50 clips of different
classes, cut to a fixed number of segments (18 YAMNet segments by default,
≈ 10 s: the segments of two whole 5 s clips). Because the sources follow each
other in time, a generated clip's segment embeddings are the sources' own
segment embeddings, taken from the extraction cache and never recomputed; a
:class:`Mixtures` object is only the recipe (which segment of which clip goes
where) plus the labels it implies:

- clip-level (weak) labels: the classes of the sources, as P3 trains on;
- segment-level (strong) labels: the class of the source each segment comes
  from, used to check where the attention peaks.

Generation (all draws from one ``numpy.random.default_rng(random_state)``),
per clip:

1. the number of sources S, uniformly from ``n_sources``;
2. S distinct classes, uniformly among the classes of the eligible clips, in
   the order they will play;
3. one eligible clip of each class, uniformly; redrawn (step 2 on) when the
   clips hold fewer than ``n_segments`` segments together or one holds fewer
   than ``min_source_segments`` (ESC-50 has one 3.64 s clip);
4. segment counts n_1 … n_S: each starts at ``min_source_segments`` and the
   remaining segments go one at a time to a uniformly drawn source that has
   segments left, so Σ n_i = ``n_segments`` and n_i ≤ the clip's length;
5. each source contributes a contiguous run of n_i segments starting at a
   uniform offset within its clip.

With 9-segment ESC-50 clips and 18 segments, two sources are two whole clips;
three sources are three cuts of 3-9 segments. ESC-50 clips often end in
digital silence (short events padded to 5 s), so a strong label says "this
segment comes from a clip of class y", not "class y is audible here": the
same caveat as ESC-50's own weak labels.
"""

from dataclasses import dataclass

import numpy as np

from .._util.checks import check_positive_int

__all__ = ["Mixtures", "make_mixtures"]

# Redraws allowed per clip in step 3 before the eligible clips are declared too short.
_MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Mixtures:
    """Recipes and labels of generated multi-label clips.

    Attributes
    ----------
    segment_clips : np.ndarray [shape=(n, T), dtype=int64]
        Source clip (index into the clip arrays given to :func:`make_mixtures`) of every segment.
    segment_positions : np.ndarray [shape=(n, T), dtype=int64]
        Index of every segment within its source clip's segment embeddings.
    source_clips : np.ndarray [shape=(n, max_sources), dtype=int64]
        Source clips in playing order, -1 past the clip's number of sources.
    source_classes : np.ndarray [shape=(n, max_sources), dtype=int64]
        Class of each source, -1 past the clip's number of sources.
    labels : np.ndarray [shape=(n, n_classes), dtype=bool]
        Clip-level labels.
    segment_labels : np.ndarray [shape=(n, T, n_classes), dtype=bool]
        Segment-level (strong) labels.
    """

    segment_clips: np.ndarray
    segment_positions: np.ndarray
    source_clips: np.ndarray
    source_classes: np.ndarray
    labels: np.ndarray
    segment_labels: np.ndarray

    def __len__(self):
        return self.labels.shape[0]

    @property
    def n_segments(self):
        """Segments per clip, T."""
        return self.segment_clips.shape[1]

    def embeddings(self, segment_embeddings, *, dtype=np.float32):
        """Gather the segment embeddings of every generated clip.

        Parameters
        ----------
        segment_embeddings : sequence of np.ndarray [shape=(n_i, d)]
            Per source clip (same indexing as the clip arrays given to :func:`make_mixtures`), e.g.
            :attr:`refzsl.extract.Features.segment_embeddings`.
        dtype : numpy dtype
            Of the result.

        Returns
        -------
        np.ndarray [shape=(n, T, d)]

        Raises
        ------
        ValueError
            If a recipe asks for a clip or segment that ``segment_embeddings`` does not have, or
            the clips' embedding sizes differ.
        """
        counts = np.array([len(e) for e in segment_embeddings], dtype=np.int64)
        if self.segment_clips.size and self.segment_clips.max() >= counts.size:
            raise ValueError(f"The mixtures use clip {int(self.segment_clips.max())}, but segment_embeddings "
                             f"holds {counts.size} clips")
        short = self.segment_positions >= counts[self.segment_clips]
        if short.any():
            clip = int(self.segment_clips[short][0])
            raise ValueError(f"Clip {clip} has {int(counts[clip])} segments, the mixtures use segment "
                             f"{int(self.segment_positions[short].max())}: were they generated from other "
                             "segment counts?")
        used = np.unique(self.segment_clips)
        dims = {np.shape(segment_embeddings[i])[1] for i in used}
        if len(dims) > 1:
            raise ValueError(f"segment_embeddings of the used clips have different sizes {sorted(dims)}")
        pool = np.concatenate([np.asarray(segment_embeddings[i], dtype=dtype) for i in used])
        # Row of each used clip's first segment in the pool of the used clips only.
        start_in_pool = np.zeros(counts.size, dtype=np.int64)
        start_in_pool[used] = np.concatenate(([0], np.cumsum(counts[used])[:-1]))
        return pool[start_in_pool[self.segment_clips] + self.segment_positions]


def _check_int_array(values, name):
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def make_mixtures(clip_targets, segment_counts, *, clips, n_mixtures, n_segments=18, n_sources=(2, 3),
                  min_source_segments=3, n_classes=None, random_state=None):
    """Generate multi-label clips as sequences of clips of different classes.

    Parameters
    ----------
    clip_targets : np.ndarray [shape=(n_clips,)], int
        Class of every clip (ESC-50: ``ESC50.targets``).
    segment_counts : np.ndarray [shape=(n_clips,)], int
        Number of segment embeddings of every clip (YAMNet: 9 for a 5 s clip).
    clips : np.ndarray [shape=(m,)], int
        Indices of the clips the generator may use (e.g. the clips of the training classes).
        Their classes are the classes of the generated clips.
    n_mixtures : int >= 1
    n_segments : int >= 1
        Segments per generated clip, T (18 YAMNet segments ≈ 10 s).
    n_sources : sequence of int >= 1
        Allowed numbers of sources per clip, drawn uniformly.
    min_source_segments : int >= 1
        Fewest segments a source contributes.
    n_classes : int, optional
        Width of the label matrices (default ``max(clip_targets) + 1``).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    Mixtures

    Raises
    ------
    TypeError
        For a count or index array that does not hold integers (naming it).
    ValueError
        For inconsistent arguments (naming them), fewer eligible classes than sources, or eligible
        clips too short to fill ``n_segments``.

    Examples
    --------
    >>> targets = np.repeat(np.arange(5), 4)          # 5 classes x 4 clips
    >>> mix = make_mixtures(targets, np.full(20, 9), clips=np.arange(20), n_mixtures=3, random_state=0)
    >>> mix.segment_clips.shape
    (3, 18)
    >>> bool(np.all(mix.labels.sum(axis=1) == (mix.source_clips >= 0).sum(axis=1)))
    True
    """
    clip_targets = _check_int_array(clip_targets, "clip_targets")
    segment_counts = _check_int_array(segment_counts, "segment_counts")
    clips = _check_int_array(clips, "clips")
    if segment_counts.shape != clip_targets.shape:
        raise ValueError(f"segment_counts has shape {segment_counts.shape}, clip_targets {clip_targets.shape}")
    if clips.min() < 0 or clips.max() >= clip_targets.size:
        raise ValueError(f"clips must index 0..{clip_targets.size - 1}, got values {clips.min()}..{clips.max()}")
    if clip_targets.min() < 0:
        raise ValueError(f"clip_targets must be >= 0, got {clip_targets.min()}")
    n_sources = tuple(_check_int_array(np.atleast_1d(n_sources), "n_sources").tolist())
    if min(n_sources) < 1:
        raise ValueError(f"n_sources must hold ints >= 1, got {n_sources}")
    n_mixtures = check_positive_int(n_mixtures, "n_mixtures")
    n_segments = check_positive_int(n_segments, "n_segments")
    min_source_segments = check_positive_int(min_source_segments, "min_source_segments")
    if max(n_sources) * min_source_segments > n_segments:
        raise ValueError(f"{max(n_sources)} sources of at least min_source_segments={min_source_segments} "
                         f"segments do not fit in n_segments={n_segments}")
    n_classes = int(clip_targets.max()) + 1 if n_classes is None else int(n_classes)
    if n_classes <= clip_targets.max():
        raise ValueError(f"n_classes={n_classes} but clip_targets reach {clip_targets.max()}")
    clips = np.unique(clips)
    classes = np.unique(clip_targets[clips])
    if max(n_sources) > classes.size:
        raise ValueError(f"n_sources={n_sources} needs that many distinct classes; the eligible clips have "
                         f"{classes.size}")
    clips_of = {int(c): clips[clip_targets[clips] == c] for c in classes}

    rng = np.random.default_rng(random_state)
    max_sources = max(n_sources)
    segment_clips = np.empty((n_mixtures, n_segments), dtype=np.int64)
    segment_positions = np.empty((n_mixtures, n_segments), dtype=np.int64)
    source_clips = np.full((n_mixtures, max_sources), -1, dtype=np.int64)
    source_classes = np.full((n_mixtures, max_sources), -1, dtype=np.int64)
    labels = np.zeros((n_mixtures, n_classes), dtype=bool)
    segment_labels = np.zeros((n_mixtures, n_segments, n_classes), dtype=bool)
    for i in range(n_mixtures):
        count = n_sources[rng.integers(len(n_sources))]
        for _ in range(_MAX_REDRAWS):
            chosen_classes = rng.choice(classes, size=count, replace=False)
            chosen = np.array([rng.choice(clips_of[int(c)]) for c in chosen_classes])
            lengths = segment_counts[chosen]
            if lengths.sum() >= n_segments and lengths.min() >= min_source_segments:
                break
        else:
            raise ValueError(f"The eligible clips are too short: {_MAX_REDRAWS} draws of {count} clips never held "
                             f"n_segments={n_segments} segments with at least {min_source_segments} each")
        parts = np.full(count, min_source_segments, dtype=np.int64)
        for _ in range(n_segments - count * min_source_segments):
            room = np.flatnonzero(parts < lengths)
            parts[room[rng.integers(room.size)]] += 1
        t = 0
        for j in range(count):
            offset = rng.integers(lengths[j] - parts[j] + 1)
            run = slice(t, t + parts[j])
            segment_clips[i, run] = chosen[j]
            segment_positions[i, run] = np.arange(offset, offset + parts[j])
            segment_labels[i, run, chosen_classes[j]] = True
            t += parts[j]
        source_clips[i, :count] = chosen
        source_classes[i, :count] = chosen_classes
        labels[i, chosen_classes] = True
    return Mixtures(segment_clips=segment_clips, segment_positions=segment_positions, source_clips=source_clips,
                    source_classes=source_classes, labels=labels, segment_labels=segment_labels)
