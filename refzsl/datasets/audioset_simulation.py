"""A simulated AudioSet feature release: shards in Google's format, with an AudioSet-like class profile.

The real features cannot be had here, so benchmarks and protocol tests run on a corpus that has the
release's format and scale, written through :func:`refzsl.datasets.audioset.write_shard` (whose bytes
are checked against TensorFlow's on ``reference_tests/fixtures/audioset``).

**Class profile** (:func:`class_profile`). The ontology files carry no clip counts, so only the
structure comes from them; the scale is calibrated to P2:

* the label set: the 527 labels of ``class_labels_indices.csv``;
* co-occurrence from the hierarchy (``ontology.json`` ``child_ids``): a clip whose primary label has
  labelled ancestors also carries each of them with probability ``p_ancestor`` (0.7) — AudioSet's raters
  labelled "Dog" clips "Animal" and "Domestic animals, pets" too — so parent labels are frequent and
  their clips rarely single-label;
* classes with the ontology restriction ``blacklist`` (12 of the 527 labels, "too difficult for raters
  to mark reliably") get a tenth of the primary rate;
* the primary label follows a Zipf law ``w_k ∝ rank_k^-s`` over a seeded random ranking (the files say
  nothing of which leaf is common), and with probability ``p_extra`` (0.3) one more label is drawn
  from the same law (co-occurring sounds such as speech over music);
* ``s`` is the one fitted number: it is set (bisection on the expected counts) so that a corpus of
  ``n_clips`` holds, after single-label filtering and under-sampling to 1 500 per class, P2's 112 774
  clips.

**Frames**: each label has a random prototype ``μ_k ~ N(0, 0.35²)`` in the 128-d PCA space; a clip's
frames are the sum of its labels' prototypes plus ``N(0, 0.5²)`` noise per frame, quantised like VGGish's
post-processing. The signal is per class and unrelated to any semantic embedding, so zero-shot
classification of the simulated clips is at chance level by design; the corpus exercises format, scale
and timing, not accuracy. Most clips have 10 frames; ``p_short`` (3 %) have 1-9.
"""

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..semantic.ontology import ancestor_mids
from .audioset import EMBEDDING_BYTES, N_LABELS, quantize, write_shard

__all__ = ["ClassProfile", "class_profile", "expected_single_label_clips", "draw_labels", "simulate_frames",
           "single_label_counts", "write_corpus", "UNBALANCED_TRAIN_CLIPS"]

#: Clips in AudioSet's unbalanced training set (``unbalanced_train_segments.csv``).
UNBALANCED_TRAIN_CLIPS = 2_042_985
_P2_CLIPS, _P2_CAP = 112_774, 1500
_ID_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)


@dataclass(frozen=True)
class ClassProfile:
    """How simulated clips draw their labels.

    Attributes
    ----------
    names : tuple[str] [527]
    primary : np.ndarray [shape=(527,), dtype=float64]
        Probability of each label being a clip's primary label (sums to 1).
    ancestors : tuple[np.ndarray]
        Labelled ontology ancestors of each label (label indices).
    blacklisted : np.ndarray [shape=(527,), dtype=bool]
    zipf_exponent : float
    p_ancestor, p_extra : float
    n_clips : int
        The corpus size the exponent was calibrated for.
    """

    names: tuple
    primary: np.ndarray
    ancestors: tuple
    blacklisted: np.ndarray
    zipf_exponent: float
    p_ancestor: float
    p_extra: float
    n_clips: int


def _ontology_structure(root):
    """(names, ancestors per label, blacklisted mask) of the 527 labels, from the two ontology files."""
    from ..semantic.ontology import audioset_classes

    labels = audioset_classes(root=root)
    with open(config.asset_path("audioset_ontology", root=root), encoding="utf8") as handle:
        entries = {entry["id"]: entry for entry in json.load(handle)}
    parents = {}
    for mid, entry in entries.items():
        for child in entry["child_ids"]:
            parents.setdefault(child, set()).add(mid)
    index = {cls.mid: cls.index for cls in labels}

    def labelled_ancestors(mid):
        return np.array(sorted(index[m] for m in ancestor_mids(parents, mid) if m in index), dtype=np.int64)

    ancestors = tuple(labelled_ancestors(cls.mid) for cls in labels)
    blacklisted = np.array(["blacklist" in entries[cls.mid]["restrictions"] for cls in labels])
    return tuple(cls.name for cls in labels), ancestors, blacklisted


def _primary(exponent, ranks, blacklisted):
    weights = ranks.astype(np.float64) ** -exponent
    weights[blacklisted] *= 0.1
    return weights / weights.sum()


def expected_single_label_clips(primary, ancestors, *, n_clips, p_ancestor, p_extra, cap=_P2_CAP):
    """Expected single-label clips per label, before and after the per-class cap (float arrays [527]).

    A clip is single-label when none of its primary label's ancestors is added and no extra label is drawn.
    """
    n_ancestors = np.array([len(a) for a in ancestors])
    single = n_clips * primary * (1 - p_ancestor) ** n_ancestors * (1 - p_extra)
    return single, np.minimum(single, cap)


def class_profile(*, root=None, n_clips=UNBALANCED_TRAIN_CLIPS, p_ancestor=0.7, p_extra=0.3, seed=0,
                  target_clips=_P2_CLIPS):
    """The simulation's class profile, calibrated so the capped single-label corpus has ``target_clips``.

    Parameters
    ----------
    root : str or Path, optional
        Data root holding ``audioset/ontology.json`` and ``audioset/class_labels_indices.csv``.
    n_clips : int
        Corpus size (default: AudioSet's unbalanced training set).
    p_ancestor, p_extra : float in [0, 1)
    seed : int
        Seeds the ranking of labels.
    target_clips : int
        Expected single-label clips after the 1 500-per-class cap (default P2's 112 774).

    Returns
    -------
    ClassProfile

    Raises
    ------
    ValueError
        If no exponent in [0, 4] reaches ``target_clips``.
    """
    names, ancestors, blacklisted = _ontology_structure(root)
    ranks = np.random.default_rng(seed).permutation(len(names)) + 1

    def capped_total(exponent):
        _, capped = expected_single_label_clips(_primary(exponent, ranks, blacklisted), ancestors, n_clips=n_clips,
                                                p_ancestor=p_ancestor, p_extra=p_extra)
        return capped.sum()

    low, high = 0.0, 4.0  # the capped total falls as the exponent concentrates clips on few labels
    if not capped_total(high) <= target_clips <= capped_total(low):
        raise ValueError(f"No Zipf exponent in [0, 4] gives {target_clips} capped single-label clips from "
                         f"{n_clips} clips (range {capped_total(high):.0f}-{capped_total(low):.0f})")
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if capped_total(middle) > target_clips else (low, middle)
    exponent = (low + high) / 2
    return ClassProfile(names, _primary(exponent, ranks, blacklisted), ancestors, blacklisted, exponent,
                        p_ancestor, p_extra, n_clips)


def draw_labels(profile, n, *, rng):
    """Label lists of ``n`` simulated clips: a primary label, its ancestors, maybe one extra label."""
    primary = rng.choice(len(profile.primary), size=n, p=profile.primary)
    extra = np.where(rng.random(n) < profile.p_extra, rng.choice(len(profile.primary), size=n, p=profile.primary), -1)
    labels = []
    for k, e in zip(primary.tolist(), extra.tolist()):
        ancestors = profile.ancestors[k]
        chosen = [k] + ancestors[rng.random(len(ancestors)) < profile.p_ancestor].tolist()
        if e >= 0 and e not in chosen:
            chosen.append(e)
        labels.append(chosen)
    return labels


def simulate_frames(labels, *, rng, prototypes, p_short=0.03, noise=0.5):
    """uint8 frames [n_frames_total, 128] and frame counts [n] of clips with the given label lists."""
    n = len(labels)
    n_frames = np.where(rng.random(n) < p_short, rng.integers(1, 10, size=n), 10)
    signal = np.stack([prototypes[chosen].sum(axis=0) for chosen in labels]) if n else \
        np.zeros((0, EMBEDDING_BYTES))
    frames = np.repeat(signal, n_frames, axis=0) + rng.normal(0.0, noise, size=(int(n_frames.sum()), EMBEDDING_BYTES))
    return quantize(frames), n_frames


def single_label_counts(profile, *, cap=_P2_CAP):
    """Expected single-label clips per label after the cap, rounded (int64 [527]): the protocol's corpus."""
    _, capped = expected_single_label_clips(profile.primary, profile.ancestors, n_clips=profile.n_clips,
                                            p_ancestor=profile.p_ancestor, p_extra=profile.p_extra, cap=cap)
    return np.round(capped).astype(np.int64)


def _video_ids(rng, n):
    return [row.tobytes().decode("ascii") for row in _ID_ALPHABET[rng.integers(0, 64, size=(n, 11))]]


def write_corpus(out_dir, *, n_clips=None, profile=None, single_label=False, clips_per_shard=500, seed=0, root=None,
                 progress=None):
    """Write a simulated feature release as ``unbal_train/*.tfrecord`` shards.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed; shards go to ``out_dir/unbal_train/``.
    n_clips : int >= 1, optional
        Clips to write (required unless ``single_label``).
    profile : ClassProfile, optional
        Default :func:`class_profile` calibrated for ``UNBALANCED_TRAIN_CLIPS`` (the full release): a
        smaller corpus is then a random subset of the full one, with the same class frequencies.
    single_label : bool
        Write only the clips P2's protocol keeps: :func:`single_label_counts` clips of each label
        (about 112 774), one label each, in random order; ``n_clips`` must then be None.
    clips_per_shard : int >= 1
    seed : int
        Seeds the prototypes and the clips (shard ``i`` uses its own stream).
    root : str or Path, optional
        Data root holding the ontology files.
    progress : callable, optional
        Called with (shards written, shards total).

    Returns
    -------
    dict
        ``shards``, ``clips``, ``bytes``, ``seconds``, ``zipf_exponent``.
    """
    profile = class_profile(root=root, seed=seed) if profile is None else profile
    streams = np.random.SeedSequence(seed).spawn(3)
    targets = None
    if single_label:
        if n_clips is not None:
            raise ValueError("single_label writes single_label_counts(profile) clips; do not pass n_clips")
        targets = np.random.default_rng(streams[2]).permutation(
            np.repeat(np.arange(N_LABELS), single_label_counts(profile)))
        n_clips = len(targets)
    if n_clips is None or n_clips < 1 or clips_per_shard < 1:
        raise ValueError(f"n_clips and clips_per_shard must be >= 1, got {n_clips}, {clips_per_shard}")
    folder = Path(out_dir) / "unbal_train"
    folder.mkdir(parents=True, exist_ok=True)
    prototypes = np.random.default_rng(streams[0]).normal(0.0, 0.35, size=(N_LABELS, EMBEDDING_BYTES))
    n_shards = math.ceil(n_clips / clips_per_shard)
    shard_seeds = streams[1].spawn(n_shards)
    started, total_bytes = time.perf_counter(), 0
    for shard in range(n_shards):
        rng = np.random.default_rng(shard_seeds[shard])
        first = shard * clips_per_shard
        n = min(clips_per_shard, n_clips - first)
        labels = ([[int(t)] for t in targets[first:first + n]] if single_label
                  else draw_labels(profile, n, rng=rng))
        frames, n_frames = simulate_frames(labels, rng=rng, prototypes=prototypes)
        offsets = np.concatenate([[0], np.cumsum(n_frames)])
        starts = rng.integers(0, 30, size=n) * 10.0
        path = folder / f"{shard:05d}.tfrecord"
        write_shard(path, ((video_id, start, start + 10.0, chosen, frames[offsets[i]:offsets[i + 1]])
                           for i, (video_id, start, chosen) in enumerate(zip(_video_ids(rng, n), starts, labels))))
        total_bytes += path.stat().st_size
        if progress is not None:
            progress(shard + 1, n_shards)
    return {"shards": n_shards, "clips": n_clips, "bytes": total_bytes, "seconds": time.perf_counter() - started,
            "zipf_exponent": profile.zipf_exponent}
