"""Pseudo-clips that fire like real audio, for open-vocabulary validation without ESC-50.

A YAMNet classifier column alone (the first validation proxy) fires one class. A real
clip of a dog also fires "Domestic animals, pets" and "Animal", and shares its patches
with whatever else is audible. The pseudo-clips here follow the AudioSet ontology:

* **Event.** The hidden class k fires on a random run of 1–``n_patches`` patches, at a
  logit drawn from real recordings; each of its YAMNet ancestors
  (:func:`refzsl.semantic.ontology.yamnet_ancestors`) fires at k's logit plus an offset
  drawn from real recordings.
* **Context.** Every patch starts from a real recording's patch embedding, moved towards
  the recordings' quietest patches until its strongest class sits a drawn gap below the
  event: co-occurring classes add noise.
* **Consistency.** A patch is an embedding e ≥ 0 (YAMNet's embeddings are post-ReLU): the
  context moved, by projected gradient descent, until the target classes reach their logits;
  its scores are YAMNet's own sigmoid(e W + b). Every pooling of the patch scores and
  the clip embedding (patch mean) therefore come from one and the same patch set.

The strengths (:class:`ScoreStatistics`) are fitted by :func:`fit_score_statistics` on YAMNet's
per-patch scores of real recordings that are not ESC-50 (the refzsl command uses the
freedesktop sound theme and the espeak speech fixtures, see :func:`reference_recordings`).
Draws are bootstrap samples of the fitted values.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ScoreStatistics", "fit_score_statistics", "reference_recordings", "PseudoClips", "make_pseudo_clips"]

#: Real recordings used for the strengths when none are given: the freedesktop sound theme
#: (Debian ``sound-theme-freedesktop``) and the package's espeak speech fixtures.
FREEDESKTOP_FOLDER = Path("/usr/share/sounds/freedesktop/stereo")

_LOGIT_CLIP = 1e-6


def _logits(scores):
    scores = np.clip(np.asarray(scores, dtype=np.float64), _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.log(scores) - np.log1p(-scores)


@dataclass(frozen=True)
class ScoreStatistics:
    """Strengths measured on real recordings' YAMNet patches (one value per observation).

    Attributes
    ----------
    class_logits : np.ndarray [n_patches]
        Logit of each patch's event class (its strongest class that is no ancestor of
        another of its top-5 classes).
    ancestor_offsets : np.ndarray [n_pairs]
        Logit of an ancestor of the event class minus the event class's logit.
    context_gaps : np.ndarray [n_patches]
        Event logit minus the strongest logit outside the event class and its ancestors.
    n_recordings : int
        Recordings given (some may contribute no event patch).
    """

    class_logits: np.ndarray
    ancestor_offsets: np.ndarray
    context_gaps: np.ndarray
    n_recordings: int

    def quartiles(self):
        """{name: (q25, q50, q75)} of the three strengths, for reports."""
        return {name: tuple(float(q) for q in np.percentile(getattr(self, name), [25, 50, 75]))
                for name in ("class_logits", "ancestor_offsets", "context_gaps")}


def reference_recordings(fixtures_dir=None):
    """Paths of the default non-ESC-50 recordings: the freedesktop theme's sounds and espeak speech.

    Parameters
    ----------
    fixtures_dir : str or Path, optional
        Folder with ``speech_espeak_*.wav`` (the repository's ``reference_tests/fixtures``).

    Returns
    -------
    list[Path]
        Sorted; empty when neither source is present.
    """
    paths = sorted(FREEDESKTOP_FOLDER.glob("*.oga")) if FREEDESKTOP_FOLDER.is_dir() else []
    if fixtures_dir is not None:
        paths += sorted(Path(fixtures_dir).glob("speech_espeak_*.wav"))
    return paths


def fit_score_statistics(segment_scores, ancestors, *, min_event_score=0.2):
    """Fit the pseudo-clips' strengths on real recordings' per-patch YAMNet scores.

    Parameters
    ----------
    segment_scores : sequence of array-like [shape=(n_patches_i, C)]
        YAMNet's per-patch class probabilities of real recordings (``Features.segment_scores``).
    ancestors : sequence [C] of int arrays
        Each class's ancestor columns (:func:`refzsl.semantic.ontology.yamnet_ancestors`).
    min_event_score : float in [0, 1)
        Patches whose event class scores lower are silence or padding (short interface sounds
        are padded to a patch), not events: they are left out.

    Returns
    -------
    ScoreStatistics

    Raises
    ------
    ValueError
        If no patch is given, or no event class has an ancestor (no offset to fit).
    """
    class_logits, offsets, gaps = [], [], []
    for recording in segment_scores:
        for logits in _logits(np.atleast_2d(recording)):
            top = np.argsort(-logits, kind="stable")[:5]
            above = {int(a) for k in top for a in ancestors[k]}
            event = next((int(k) for k in top if int(k) not in above), int(top[0]))
            if logits[event] < _logits(min_event_score):
                continue
            family = np.zeros(logits.size, dtype=bool)
            family[event] = True
            family[ancestors[event]] = True
            class_logits.append(logits[event])
            offsets.extend(logits[ancestors[event]] - logits[event])
            gaps.append(logits[event] - logits[~family].max())
    if not class_logits:
        raise ValueError(f"No patch of the recordings has an event class scoring >= {min_event_score}")
    if not offsets:
        raise ValueError("No patch's event class has an ancestor among the classes: no ancestor offset to fit")
    return ScoreStatistics(np.array(class_logits), np.array(offsets), np.array(gaps), len(segment_scores))


@dataclass(frozen=True)
class PseudoClips:
    """Pseudo-clips, one per hidden class.

    Attributes
    ----------
    classes : np.ndarray [n_clips]
        The hidden class of each clip (YAMNet column).
    segment_scores : list [n_clips] of np.ndarray [n_patches, C]
        YAMNet's sigmoid(e W + b) of every patch.
    clip_embeddings : np.ndarray [n_clips, d_a]
        Mean patch embedding of each clip.
    """

    classes: np.ndarray
    segment_scores: list
    clip_embeddings: np.ndarray


def _background(context, context_logits, quiet, quiet_logits, level):
    """The point quiet + s (context − quiet), s in [0, 1], whose strongest logit is closest to ``level``.

    Scaling an embedding towards zero is no model of a quieter sound (YAMNet's biases alone give
    several classes 0.55); moving it towards the real recordings' quietest patches is. Logits are
    affine in the embedding, so they are interpolated rather than recomputed.
    """
    mixes = np.linspace(0.0, 1.0, 21)[:, None]
    strongest = (quiet_logits + mixes * (context_logits - quiet_logits)).max(axis=1)
    mix = mixes[int(np.argmin(np.abs(strongest - level))), 0]
    return quiet + mix * (context - quiet)


def _reach(base, targets, logits, weights, bias, *, n_steps=150, ridge=0.01):
    """e ≥ 0 near ``base`` whose logits of the target classes approach ``logits``.

    Projected gradient descent on ‖(e W + b)_targets − logits‖² + ridge ‖e − base‖², e ≥ 0:
    the classes' full columns interact (one class's direction lowers another's logit), so no
    closed form on fixed directions reaches them all.
    """
    columns = weights[:, targets]
    step = 1.0 / (np.linalg.norm(columns, 2) ** 2 + ridge)
    embedding = base.copy()
    for _ in range(n_steps):
        residual = embedding @ columns + bias[targets] - logits
        embedding = np.maximum(embedding - step * (columns @ residual + ridge * (embedding - base)), 0.0)
    return embedding


def make_pseudo_clips(classes, weights, bias, statistics, context_embeddings, ancestors, *, n_patches=9, seed=0):
    """Draw one pseudo-clip per hidden class (see the module docstring).

    Parameters
    ----------
    classes : sequence of int
        Hidden classes (YAMNet columns).
    weights : np.ndarray [shape=(d_a, C)]
        YAMNet's final layer (``YAMNet.classifier_weights()[0]``).
    bias : np.ndarray [shape=(C,)]
    statistics : ScoreStatistics
        Strengths (:func:`fit_score_statistics`).
    context_embeddings : np.ndarray [shape=(n, d_a)], >= 0
        Real recordings' patch embeddings (``Features.segments``, stacked).
    ancestors : sequence [C] of int arrays
    n_patches : int >= 1
        Patches per clip (9: a 5 s clip).
    seed : int

    Returns
    -------
    PseudoClips

    Raises
    ------
    ValueError
        If ``context_embeddings`` is empty.
    """
    weights, bias = np.asarray(weights, dtype=np.float64), np.asarray(bias, dtype=np.float64)
    context_embeddings = np.asarray(context_embeddings, dtype=np.float64)
    if context_embeddings.ndim != 2 or len(context_embeddings) == 0:
        raise ValueError(f"context_embeddings must be a non-empty [n, {weights.shape[0]}] array")
    context_logits = context_embeddings @ weights + bias
    strongest = context_logits.max(axis=1)
    quiet = context_embeddings[strongest <= np.percentile(strongest, 10)].mean(axis=0)
    quiet_logits = quiet @ weights + bias
    rng = np.random.default_rng(seed)
    all_scores, clip_embeddings = [], []
    for hidden in np.asarray(classes, dtype=np.int64):
        family = np.concatenate([[hidden], ancestors[hidden]]).astype(np.int64)
        event_logit = rng.choice(statistics.class_logits)
        family_logits = np.concatenate([[event_logit], event_logit + rng.choice(statistics.ancestor_offsets,
                                                                                 family.size - 1)])
        length = int(rng.integers(1, n_patches + 1))
        start = int(rng.integers(0, n_patches - length + 1))
        patches = []
        for patch in range(n_patches):
            drawn = rng.integers(len(context_embeddings))
            embedding = _background(context_embeddings[drawn], context_logits[drawn], quiet, quiet_logits,
                                    event_logit - rng.choice(statistics.context_gaps))
            if start <= patch < start + length:
                embedding = _reach(embedding, family, family_logits, weights, bias)
            patches.append(embedding)
        patches = np.maximum(np.array(patches), 0.0)
        all_scores.append(1.0 / (1.0 + np.exp(-(patches @ weights + bias))))
        clip_embeddings.append(patches.mean(axis=0))
    return PseudoClips(np.asarray(classes, dtype=np.int64), all_scores, np.array(clip_embeddings))
