"""Open-vocabulary zero-shot scoring from YAMNet's own AudioSet classes.

YAMNet already recognises 521 AudioSet classes. Two ways to carry that knowledge
to labels nobody trained on, and their combination:

* :class:`ConSE` — convex combination of semantic embeddings (Norouzi et al.,
  2014). For a clip, keep the ``n_top`` AudioSet classes YAMNet scores highest,
  φ̂(x) = Σ_k p_k φ(k) / Σ_k p_k over their semantic embeddings, and score each
  candidate label by cos(φ̂(x), φ(label)). Nothing is trained.
* :class:`PrototypeBilinear` — the columns of YAMNet's 1024→521 classifier
  (:meth:`refzsl.embedders.YAMNet.classifier_weights`, read from the model file)
  are acoustic prototypes of the 521 classes; Training Algorithm 1
  (:class:`refzsl.model.BilinearZSL`) fits W on the (prototype, φ(class)) pairs,
  and a clip embedding θ(x) scores any label by θ(x)ᵀ W φ(label).
* :func:`fuse_scores` — score-level fusion: each method's scores are
  standardised over the candidate labels of a clip (zero mean, unit variance),
  then mixed with weights.

The scorers (:class:`ConSEScorer`, :class:`PrototypeBilinearScorer`,
:class:`FusedScorer`) follow the method seam of :mod:`refzsl.classify`:
``score(features, labels) -> float [n_clips, n_labels]``.

Semantic side (:func:`yamnet_vocabulary`): the 521 YAMNet classes joined by
MID with the AudioSet ontology. Every part of a recipe of
:mod:`refzsl.semantic` embeds the class's display name ("Chirp, tweet"),
except that WSE/GSE embed the ontology description and BSE embeds what
``sentence_text`` says. A free-text label is embedded with the same recipe,
every part embedding the label itself. Tables are cached under
``config.cache_dir()/openvocab`` keyed by their content (texts, model and
vector fingerprints, options).

Shipped model (:data:`OPENVOCAB_MODEL_PATH`, ``tools/build_openvocab_model.py``):
the prototype-bilinear W and the AudioSet-side table of :data:`DEFAULTS`, so that
``refzsl classify`` trains and embeds nothing on a fresh install. The scorers use
it when their settings are :data:`DEFAULTS` (after the model-file check of
:meth:`refzsl.classify.ClassifierModel.check`); the evaluation code, which
trains on subsets of the classes, trains as before.

The defaults (:data:`DEFAULTS`) were chosen on validation only (ontology-following
pseudo-clips, never ESC-50): ``python -m refzsl.openset --select`` re-runs it (see
:func:`refzsl.experiments.openset.select_settings`). :func:`none_of_these` says when no
candidate label fits, by a threshold on ConSE's best score chosen on the same validation.
"""

import hashlib
from types import MappingProxyType

import numpy as np

from .. import config

from .._util.cache import content_key
from .._util.files import file_fingerprint, read_cached_npz, write_cache
from ..semantic.ontology import (DEFAULT_RECIPE, DEFAULT_SENTENCE_TEXT, SENTENCE_TEXTS, AudioSetClass,
                                 AudioSetEmbeddings, _memoised, audioset_embeddings, label_embeddings)
from ..semantic.recipes import OOV_POLICIES
from ..exceptions import ModelMismatchError

__all__ = [
    "POOLINGS",
    "SENTENCE_TEXTS",
    "DEFAULTS",
    "yamnet_vocabulary",
    "OOV_POLICIES",
    "label_embeddings",
    "pool_scores",
    "pool_patch_scores",
    "masked_cosine",
    "neighbourhood_similarity",
    "none_of_these",
    "standardise_scores",
    "fuse_scores",
    "ConSE",
    "PrototypeBilinear",
    "ConSEScorer",
    "PrototypeBilinearScorer",
    "FusedScorer",
    "OPENVOCAB_MODEL_PATH",
    "shipped_settings",
    "load_shipped_model",
]

#: Clip-level pooling of YAMNet's per-patch class scores: ``"mean"`` (YAMNet's own clip
#: inference averages the patch scores), ``"max"`` (the strongest patch), ``"top3"`` (per class,
#: the mean of its 3 strongest patches: a short event is not diluted by silence, one odd patch
#: does not decide alone), ``"embedding"`` (the classifier applied to the mean patch embedding:
#: sigmoid(θ̄ W + b)).
POOLINGS = ("mean", "max", "top3", "embedding")

#: Patches averaged by the ``"top3"`` pooling.
_TOP_PATCHES = 3

#: Settings chosen on the validation of :func:`refzsl.experiments.openset.select_settings`: ontology-following
#: pseudo-clips (:mod:`refzsl.experiments.pseudo_clips`, strengths fitted on 37 freedesktop and espeak recordings),
#: never ESC-50. Selected 2026-12-07 (8 draws × 50 hidden classes, seed 0, 504 ConSE settings; mean Top-1 of
#: the unseen and seen regimes; ``python -m refzsl.openset --select``): ConSE WLE+BSE (names), T=7, top-3-mean
#: pooling, CSLS K=5: 0.542 (without CSLS 0.485; issue 7's T=2 / mean / no CSLS 0.383). Prototype bilinear
#: η=0.3, 20 epochs, no CSLS: 0.119. Fusion weight 1.0 (ConSE alone) 0.542 beat every mix (0.9: 0.538), so
#: ``refzsl classify`` defaults to ``conse``. "None of these" threshold on ConSE's best CSLS score: -0.2193
#: (validation precision 0.743, recall 0.853).
DEFAULTS = MappingProxyType({
    "recipe": DEFAULT_RECIPE,
    "sentence_text": DEFAULT_SENTENCE_TEXT,
    "n_top": 7,
    "pooling": "top3",
    "n_neighbours": 5,
    "learning_rate": 0.3,
    "n_epochs": 20,
    "bilinear_n_neighbours": 0,
    "fusion_weight": 1.0,
    "none_threshold": -0.2193,
})

#: The shipped open-vocabulary model (``tools/build_openvocab_model.py``): a :mod:`refzsl.classify` model
#: file (semantic space ``"audioset"``) with the prototype-bilinear W trained with :data:`DEFAULTS` and, as
#: its training-class table, φ of YAMNet's 521 classes for DEFAULTS' recipe: a fresh install neither trains
#: W (~20 s with Numba's compilation) nor embeds the 521 class names (~10 s) on first use.
OPENVOCAB_MODEL_PATH = config.PACKAGE_DATA / "openvocab_yamnet.npz"


def shipped_settings():
    """The settings the shipped open-vocabulary model was built with (:data:`DEFAULTS`, seed 0)."""
    return {"recipe": DEFAULTS["recipe"], "sentence_text": DEFAULTS["sentence_text"],
            "learning_rate": DEFAULTS["learning_rate"], "n_epochs": DEFAULTS["n_epochs"], "random_state": 0}


def load_shipped_model(*, acoustic_sha256=None, root=None):
    """The shipped open-vocabulary model, checked against the YAMNet file and the vectors in use.

    The check is :meth:`refzsl.classify.ClassifierModel.check` (YAMNet by sha256, vectors by value);
    it runs once per process and arguments.

    Parameters
    ----------
    acoustic_sha256 : str, optional
        sha256 of the YAMNet file that embeds the audio (not checked if None).
    root : str or Path, optional
        Data root of the word vectors.

    Returns
    -------
    refzsl.classify.ClassifierModel or None
        None if the package has no shipped model (then the scorers train W themselves).

    Raises
    ------
    ModelMismatchError
        If the model does not fit the YAMNet file or the vectors, or was built with other settings.
    """
    if not OPENVOCAB_MODEL_PATH.is_file():
        return None

    def checked_model():
        from .persistence import ClassifierModel
        model = ClassifierModel.load(OPENVOCAB_MODEL_PATH)
        if model.training.get("settings") != shipped_settings():
            raise ModelMismatchError(
                f"{str(OPENVOCAB_MODEL_PATH)!r} was built with {model.training.get('settings')}, not with this "
                f"refzsl's DEFAULTS {shipped_settings()}: rebuild it with tools/build_openvocab_model.py")
        model.check(acoustic_sha256=acoustic_sha256, root=root)
        return model

    return _memoised(("shipped", acoustic_sha256, str(root)), checked_model)


def yamnet_vocabulary(recipe=DEFAULT_RECIPE, *, sentence_text=DEFAULT_SENTENCE_TEXT, root=None):
    """The semantic table of YAMNet's 521 classes that ConSE and the prototype-bilinear model use.

    :func:`refzsl.semantic.ontology.audioset_embeddings` with ``classes="yamnet"``, memoised in the
    process (a fused scorer asks for it twice).

    Returns
    -------
    refzsl.semantic.ontology.AudioSetEmbeddings
    """
    return _memoised(("vocabulary", recipe, sentence_text, str(root)),
                     lambda: audioset_embeddings(recipe, classes="yamnet", sentence_text=sentence_text, root=root))


# The names of the YAMNet-class table before there was one AudioSet table (old scripts import them).
audioset_vocabulary = yamnet_vocabulary
AudioSetVocabulary = AudioSetEmbeddings


def _shipped_vocabulary(model):
    """The YAMNet-class table stored in the shipped model (an :class:`AudioSetEmbeddings`)."""
    training = model.training
    classes = tuple(AudioSetClass(index, mid, name, description) for index, (mid, name, description)
                    in enumerate(zip(training["mids"], model.classes, training["descriptions"])))
    return AudioSetEmbeddings(model.recipe, np.asarray(model.class_embeddings, dtype=np.float32),
                              np.asarray(training["covered"], dtype=bool), None, classes,
                              model.semantic["sentence_text"])


def _acoustic_sha256(features):
    """sha256 of the acoustic model that made ``features`` (None when they do not say)."""
    return (getattr(features, "manifest", None) or {}).get("model_sha256")


def _as_scores(scores, n_classes=None, name="scores"):
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n_clips, n_classes], got shape {scores.shape}")
    if n_classes is not None and scores.shape[1] != n_classes:
        raise ValueError(f"{name} has {scores.shape[1]} columns, expected {n_classes}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return scores.astype(np.float64)


def pool_scores(features, pooling=DEFAULTS["pooling"], *, classifier=None):
    """Clip-level AudioSet class probabilities [n_clips, 521] from per-patch YAMNet scores.

    Parameters
    ----------
    features : refzsl.extract.Features
        Needs ``segment_scores`` (YAMNet), or ``clip_embeddings`` for ``"embedding"``.
    pooling : str in POOLINGS
    classifier : (W [1024, 521], b [521]), optional
        YAMNet's final layer; required by ``"embedding"``.

    Returns
    -------
    np.ndarray [shape=(n_clips, 521), dtype=float64], values in [0, 1]

    Raises
    ------
    ValueError
        Unknown pooling, features without YAMNet scores, or ``"embedding"`` without ``classifier``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}; choose one of {POOLINGS}")
    if pooling == "embedding":
        if classifier is None:
            raise ValueError("pooling='embedding' needs classifier=(W, b) (YAMNet.classifier_weights())")
        from scipy.special import expit  # not at import: `refzsl classify` start-up
        weights, bias = classifier
        logits = np.asarray(features.clip_embeddings, dtype=np.float64) @ weights + bias
        return expit(logits)
    if features.segment_scores is None:
        raise ValueError(f"{features!r} carries no YAMNet class scores (segment_scores is None); "
                         "ConSE needs features extracted with embedder='yamnet'")
    return pool_patch_scores(features.segment_scores, pooling)


def pool_patch_scores(segment_scores, pooling=DEFAULTS["pooling"]):
    """Clip-level class probabilities from per-patch scores, for the patch poolings of :data:`POOLINGS`.

    Parameters
    ----------
    segment_scores : sequence [n_clips] of array-like [shape=(n_patches, n_classes)]
    pooling : {"mean", "max", "top3"}

    Returns
    -------
    np.ndarray [shape=(n_clips, n_classes), dtype=float64]
    """
    if pooling not in ("mean", "max", "top3"):
        raise ValueError(f"pool_patch_scores pools patches by 'mean', 'max' or 'top3', not {pooling!r}")

    def reduce(scores):
        scores = np.asarray(scores, dtype=np.float64)
        if pooling == "mean":
            return scores.mean(axis=0)
        if pooling == "max":
            return scores.max(axis=0)
        strongest = -np.partition(-scores, min(_TOP_PATCHES, len(scores)) - 1, axis=0)[:_TOP_PATCHES]
        return strongest.mean(axis=0)

    return np.stack([reduce(scores) for scores in segment_scores])


def standardise_scores(scores):
    """Scores standardised over the labels of each clip (row-wise zero mean, unit variance).

    Puts methods with different scales (cosines, bilinear compatibilities) on one
    footing before fusion; a row with no spread becomes zeros.

    Parameters
    ----------
    scores : array-like [shape=(n_clips, n_labels)]

    Returns
    -------
    np.ndarray [shape=(n_clips, n_labels), dtype=float64]
    """
    scores = _as_scores(scores)
    centred = scores - scores.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    return centred / np.where(spread > 0, spread, 1.0)


def fuse_scores(score_list, weights):
    """Weighted sum of row-standardised scores (:func:`standardise_scores`).

    Parameters
    ----------
    score_list : sequence of array-like [shape=(n_clips, n_labels)]
    weights : sequence of float >= 0, same length, not all zero

    Returns
    -------
    np.ndarray [shape=(n_clips, n_labels), dtype=float64]

    Raises
    ------
    ValueError
        Mismatched lengths or shapes, negative or all-zero weights.
    """
    score_list, weights = list(score_list), np.asarray(weights, dtype=np.float64)
    if len(score_list) != weights.size or not score_list:
        raise ValueError(f"Need one weight per score matrix: {len(score_list)} matrices, {weights.size} weights")
    if np.any(weights < 0) or not np.any(weights > 0):
        raise ValueError(f"Fusion weights must be >= 0 and not all zero, got {weights.tolist()}")
    shapes = {np.shape(scores) for scores in score_list}
    if len(shapes) != 1:
        raise ValueError(f"Score matrices differ in shape: {sorted(shapes)}")
    return sum(weight * standardise_scores(scores) for weight, scores in zip(weights, score_list))


def masked_cosine(queries, label_embeddings):
    """cos(query, label) over the dimensions each label defines [n_queries, n_labels].

    A label whose word-vector part knows no word has that part exactly zero, and a plain
    cosine would cap its score at 1/sqrt(2); the query is therefore normed over the label's
    non-zero dimensions only.

    Parameters
    ----------
    queries : array-like [shape=(n_queries, d)]
    label_embeddings : array-like [shape=(n_labels, d)]

    Returns
    -------
    np.ndarray [shape=(n_queries, n_labels), dtype=float64], values in [-1, 1]
    """
    queries = np.asarray(queries, dtype=np.float64)
    label_embeddings = np.asarray(label_embeddings, dtype=np.float64)
    defined = (label_embeddings != 0).astype(np.float64)
    norms = np.sqrt((queries ** 2) @ defined.T) * np.linalg.norm(label_embeddings, axis=1)
    return (queries @ label_embeddings.T) / np.where(norms > 0, norms, 1.0)


def neighbourhood_similarity(similarities, n_neighbours, axis):
    """Mean of the ``n_neighbours`` largest similarities along ``axis`` (r of CSLS).

    Parameters
    ----------
    similarities : array-like, 2-D
    n_neighbours : int >= 1
        K; capped at the axis length.
    axis : {0, 1}

    Returns
    -------
    np.ndarray, 1-D (the other axis), float64
    """
    similarities = np.asarray(similarities, dtype=np.float64)
    n_neighbours = min(int(n_neighbours), similarities.shape[axis])
    largest = -np.partition(-similarities, n_neighbours - 1, axis=axis)
    return np.take(largest, np.arange(n_neighbours), axis=axis).mean(axis=axis)


def check_neighbours(n_neighbours):
    """Validate K of the hubness correction (0 = none); returns it as an int."""
    if isinstance(n_neighbours, bool) or not isinstance(n_neighbours, (int, np.integer)) or n_neighbours < 0:
        raise ValueError(f"n_neighbours must be an int >= 0 (0: no hubness correction), got {n_neighbours!r}")
    return int(n_neighbours)


def none_of_these(conse_scores, threshold=DEFAULTS["none_threshold"]):
    """Whether no candidate label fits a clip: its best ConSE score is below ``threshold``.

    Parameters
    ----------
    conse_scores : array-like [shape=(n_clips, n_labels)]
        :class:`ConSE` scores (with the hubness correction the threshold was chosen with).
    threshold : float
        Chosen on the validation of :func:`refzsl.experiments.openset.select_settings`
        (:data:`DEFAULTS` ``["none_threshold"]``).

    Returns
    -------
    np.ndarray [shape=(n_clips,), dtype=bool]
    """
    return _as_scores(conse_scores, name="conse_scores").max(axis=1) < float(threshold)


class ConSE:
    """Convex combination of semantic embeddings of the top AudioSet classes (Norouzi et al., 2014).

    Parameters
    ----------
    n_top : int >= 1
        T, the number of most probable AudioSet classes combined.
    n_neighbours : int >= 0
        K of the hubness correction CSLS (Conneau et al., 2018); 0 scores by the cosine.
        CSLS(x, y) = 2 cos(φ̂(x), φ(y)) − r(x) − r(y), where r(y) is the mean cosine of the
        label to its K nearest AudioSet classes and r(x) that of the clip's φ̂(x): a generic
        label ("noise") close to many classes is pulled down. The reference population is the
        covered AudioSet classes, so it needs only the candidate labels, not their audio.

    Notes
    -----
    Classes whose φ is not covered (a word-vector part found no word) are never
    among the top T. No fit: ConSE trains nothing.
    """

    def __init__(self, *, n_top=DEFAULTS["n_top"], n_neighbours=DEFAULTS["n_neighbours"]):
        self.n_top = n_top
        self.n_neighbours = n_neighbours

    def embed(self, class_scores, class_embeddings, *, covered=None):
        """φ̂(x) = Σ_k p_k φ(k) / Σ_k p_k over each clip's top-T classes.

        Parameters
        ----------
        class_scores : array-like [shape=(n_clips, n_classes)], >= 0
            Clip-level class probabilities (:func:`pool_scores`).
        class_embeddings : array-like [shape=(n_classes, d)]
        covered : bool array [n_classes], optional
            Classes allowed into the top T (default: all).

        Returns
        -------
        np.ndarray [shape=(n_clips, d), dtype=float64]
        """
        if isinstance(self.n_top, bool) or not isinstance(self.n_top, (int, np.integer)) or self.n_top < 1:
            raise ValueError(f"n_top must be a positive int, got {self.n_top!r}")
        class_embeddings = np.asarray(class_embeddings, dtype=np.float64)
        scores = _as_scores(class_scores, class_embeddings.shape[0], "class_scores")
        if np.any(scores < 0):
            raise ValueError("class_scores must be probabilities (>= 0)")
        if covered is not None:
            covered = np.asarray(covered, dtype=bool)
            if covered.shape != (scores.shape[1],) or not covered.any():
                raise ValueError(f"covered must be a bool array of shape ({scores.shape[1]},) with a True")
            scores = np.where(covered, scores, -1.0)
        n_top = min(int(self.n_top), scores.shape[1] if covered is None else int(covered.sum()))
        top = np.argpartition(-scores, n_top - 1, axis=1)[:, :n_top]
        weights = np.take_along_axis(scores, top, axis=1)
        # Σ p_k = 0 (all top scores zero) would divide by zero; equal weights then.
        weights = np.where(weights.sum(axis=1, keepdims=True) > 0, weights, 1.0)
        combined = np.einsum("nt,ntd->nd", weights, class_embeddings[top])
        return combined / weights.sum(axis=1, keepdims=True)

    def decision_function(self, class_scores, class_embeddings, label_embeddings, *, covered=None):
        """cos(φ̂(x), φ(label)) (:func:`masked_cosine`), or its CSLS, for every clip and label.

        Parameters
        ----------
        class_scores : array-like [shape=(n_clips, n_classes)]
        class_embeddings : array-like [shape=(n_classes, d)]
        label_embeddings : array-like [shape=(n_labels, d)]
        covered : bool array [n_classes], optional

        Returns
        -------
        np.ndarray [shape=(n_clips, n_labels), dtype=float64]
            In [-1, 1] without the correction, in [-4, 4] with it.
        """
        n_neighbours = check_neighbours(self.n_neighbours)
        label_embeddings = np.asarray(label_embeddings, dtype=np.float64)
        class_embeddings = np.asarray(class_embeddings, dtype=np.float64)
        if label_embeddings.ndim != 2 or label_embeddings.shape[1] != class_embeddings.shape[1]:
            raise ValueError(f"label_embeddings has shape {label_embeddings.shape}; expected (n_labels, "
                             f"{class_embeddings.shape[1]}) to match class_embeddings")
        embedded = self.embed(class_scores, class_embeddings, covered=covered)
        cosines = masked_cosine(embedded, label_embeddings)
        if n_neighbours == 0:
            return cosines
        reference = class_embeddings if covered is None else class_embeddings[np.asarray(covered, dtype=bool)]
        label_hubness = neighbourhood_similarity(masked_cosine(reference, label_embeddings), n_neighbours, axis=0)
        clip_hubness = neighbourhood_similarity(masked_cosine(embedded, reference), n_neighbours, axis=1)
        return 2.0 * cosines - clip_hubness[:, None] - label_hubness[None, :]


class PrototypeBilinear:
    """Bilinear compatibility trained on YAMNet's classifier columns as acoustic prototypes.

    Each AudioSet class k is one training sample: θ = column k of YAMNet's final
    layer W_yamnet [1024, 521] (the direction of embedding space whose projection
    is class k's logit), φ = its semantic embedding. Training Algorithm 1 fits the
    bilinear W; a clip embedding then scores any label.

    Parameters
    ----------
    learning_rate : float > 0
    n_epochs : int >= 1
    random_state : int or None
        Seed of the sample order.
    n_neighbours : int >= 0
        K of the hubness correction (0: none): 2 s(x, y) − r(y), with r(y) the mean of the
        label's K largest compatibilities with the training prototypes. CSLS's clip term r(x)
        is left out: it is the same for every label of a clip, so no ranking changes.

    Attributes
    ----------
    estimator_ : refzsl.model.BilinearZSL
        The fitted model (normalisation "both": unit prototypes and φ).
    reference_ : np.ndarray [shape=(n_classes, d_a)]
        The prototypes W was fitted on: the hubness correction's reference population.
    """

    def __init__(self, *, learning_rate=DEFAULTS["learning_rate"], n_epochs=DEFAULTS["n_epochs"],
                 random_state=0, n_neighbours=DEFAULTS["bilinear_n_neighbours"]):
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.random_state = random_state
        self.n_neighbours = n_neighbours

    def fit(self, prototypes, class_embeddings):
        """Fit W on (prototype, φ) pairs, one per class.

        Parameters
        ----------
        prototypes : array-like [shape=(n_classes, d_a)]
            Rows = classifier columns (``W_yamnet.T``), restricted to the classes used.
        class_embeddings : array-like [shape=(n_classes, d_s)]

        Returns
        -------
        self
        """
        from .bilinear import BilinearZSL
        prototypes = np.asarray(prototypes, dtype=np.float64)
        class_embeddings = np.asarray(class_embeddings, dtype=np.float64)
        if prototypes.ndim != 2 or class_embeddings.ndim != 2 or len(prototypes) != len(class_embeddings):
            raise ValueError(f"prototypes {prototypes.shape} and class_embeddings {class_embeddings.shape} "
                             "must be 2-D with one row per class")
        self.estimator_ = BilinearZSL(learning_rate=self.learning_rate, n_epochs=self.n_epochs,
                                      random_state=self.random_state).fit(
            prototypes, np.arange(len(prototypes)), class_embeddings)
        self.reference_ = prototypes
        return self

    def decision_function(self, embeddings, label_embeddings):
        """θ(x)ᵀ W φ(label) on normalised inputs, hubness-corrected when ``n_neighbours`` > 0.

        Parameters
        ----------
        embeddings : array-like [shape=(n_clips, d_a)]
        label_embeddings : array-like [shape=(n_labels, d_s)]

        Returns
        -------
        np.ndarray [shape=(n_clips, n_labels), dtype=float64]
        """
        if not hasattr(self, "estimator_"):
            from .bilinear import NotFittedError
            raise NotFittedError("PrototypeBilinear is not fitted; call fit(prototypes, class_embeddings)")
        n_neighbours = check_neighbours(self.n_neighbours)
        scores = np.asarray(self.estimator_.decision_function(embeddings, label_embeddings), dtype=np.float64)
        if n_neighbours == 0:
            return scores
        reference = np.asarray(self.estimator_.decision_function(self.reference_, label_embeddings), np.float64)
        return 2.0 * scores - neighbourhood_similarity(reference, n_neighbours, axis=0)[None, :]


# Version of the prototype-bilinear cache entries: 2 holds the whole fitted state (normalize_ included).
_CACHE_VERSION = 2


def _cached_arrays(kind, key_data, build, names):
    """Arrays ``build()`` returns, kept under ``cache_dir()/openvocab`` by content (atomic write).

    A damaged cache file (or one lacking any of ``names``) is rebuilt with a warning; an unwritable
    cache folder costs a warning, never the run.
    """
    path = config.cache_dir() / "openvocab" / f"{kind}_{content_key(key_data)}.npz"
    stored = read_cached_npz(path, names=names)
    if stored is not None:
        return stored
    arrays = build()
    write_cache(path, lambda stream: np.savez(stream, **arrays))
    return arrays


# ----------------------------------------------------------------------------------------------
# Scorers (the method seam of refzsl.classify)
# ----------------------------------------------------------------------------------------------

class ConSEScorer:
    """ConSE as a scorer: ``score(features, labels)`` from YAMNet's per-patch scores.

    Parameters
    ----------
    n_top : int >= 1
    pooling : str in POOLINGS
    n_neighbours : int >= 0
        K of the hubness correction (:class:`ConSE`; 0: none).
    recipe : str
        Semantic recipe (a key of :data:`refzsl.semantic.RECIPES`).
    sentence_text : str in SENTENCE_TEXTS
    shipped : bool
        Take the AudioSet-side table from the shipped model (:func:`load_shipped_model`, checked against
        YAMNet and the vectors) when ``recipe`` and ``sentence_text`` are its settings; else (or without
        a shipped model) build it from the data root (:func:`yamnet_vocabulary`, cached by content).
    root : str or Path, optional
        Data root.
    """

    name = "conse"

    def __init__(self, *, n_top=DEFAULTS["n_top"], pooling=DEFAULTS["pooling"],
                 n_neighbours=DEFAULTS["n_neighbours"], recipe=DEFAULTS["recipe"],
                 sentence_text=DEFAULTS["sentence_text"], shipped=True, root=None):
        self.n_top = n_top
        self.pooling = pooling
        self.n_neighbours = n_neighbours
        self.recipe = recipe
        self.sentence_text = sentence_text
        self.shipped = shipped
        self.root = root
        self._vocabulary = None
        self._classifier = None

    def vocabulary(self, *, acoustic_sha256=None):
        """The YAMNet-class table (shipped, or built / read from the cache, on first use)."""
        if self._vocabulary is None:
            settings = shipped_settings()
            model = None
            if self.shipped and (self.recipe, self.sentence_text) == (settings["recipe"], settings["sentence_text"]):
                model = load_shipped_model(acoustic_sha256=acoustic_sha256, root=self.root)
            self._vocabulary = (_shipped_vocabulary(model) if model is not None else
                                yamnet_vocabulary(self.recipe, sentence_text=self.sentence_text, root=self.root))
        return self._vocabulary

    def class_scores(self, features):
        """Pooled clip-level probabilities of the 521 classes [n_clips, 521]."""
        if self.pooling == "embedding" and self._classifier is None:
            from ..acoustic.embedders import YAMNet
            self._classifier = YAMNet(root=self.root).classifier_weights()
        return pool_scores(features, self.pooling, classifier=self._classifier)

    def score(self, features, labels):
        """cos(φ̂(x), φ(label)) or its CSLS [n_clips, n_labels].

        Parameters
        ----------
        features : refzsl.extract.Features
            With YAMNet ``segment_scores``.
        labels : sequence of str

        Returns
        -------
        np.ndarray [shape=(n_clips, n_labels), dtype=float64]
        """
        vocabulary = self.vocabulary(acoustic_sha256=_acoustic_sha256(features))
        return ConSE(n_top=self.n_top, n_neighbours=self.n_neighbours).decision_function(
            self.class_scores(features), vocabulary.embeddings,
            label_embeddings(labels, self.recipe, root=self.root), covered=vocabulary.covered)


class PrototypeBilinearScorer:
    """The prototype-bilinear model as a scorer.

    W comes from the shipped model (:func:`load_shipped_model`) when the settings are
    its settings (:func:`shipped_settings`); otherwise it is trained on first use and
    cached by content under ``config.cache_dir()/openvocab``.

    Parameters
    ----------
    recipe, sentence_text, shipped, root
        As :class:`ConSEScorer`.
    learning_rate, n_epochs, random_state, n_neighbours
        As :class:`PrototypeBilinear` (its reference population: YAMNet's classifier columns of the
        classes W was trained on).
    """

    name = "prototype"

    def __init__(self, *, recipe=DEFAULTS["recipe"], sentence_text=DEFAULTS["sentence_text"],
                 learning_rate=DEFAULTS["learning_rate"], n_epochs=DEFAULTS["n_epochs"], random_state=0,
                 n_neighbours=DEFAULTS["bilinear_n_neighbours"], shipped=True, root=None):
        self.recipe = recipe
        self.sentence_text = sentence_text
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.random_state = random_state
        self.n_neighbours = n_neighbours
        self.shipped = shipped
        self.root = root
        self._model = None

    def _settings(self):
        return {"recipe": self.recipe, "sentence_text": self.sentence_text, "learning_rate": self.learning_rate,
                "n_epochs": self.n_epochs, "random_state": self.random_state}

    def fitted(self, *, acoustic_sha256=None):
        """The fitted :class:`PrototypeBilinear`: shipped, or trained once per content key and cached.

        Parameters
        ----------
        acoustic_sha256 : str, optional
            sha256 of the YAMNet file in use, checked against the shipped model's.
        """
        if self._model is None:
            params = dict(learning_rate=self.learning_rate, n_epochs=self.n_epochs, random_state=self.random_state)
            model = PrototypeBilinear(**params, n_neighbours=self.n_neighbours)
            shipped = (load_shipped_model(acoustic_sha256=acoustic_sha256, root=self.root)
                       if self.shipped and self._settings() == shipped_settings() else None)
            if shipped is not None:
                model.estimator_ = shipped.estimator
                trained_on = np.asarray(shipped.training["covered"], dtype=bool)
            else:
                model.estimator_ = self._train(params)
                trained_on = audioset_vocabulary(self.recipe, sentence_text=self.sentence_text,
                                                 root=self.root).covered
            if check_neighbours(self.n_neighbours) > 0:
                from ..acoustic.embedders import YAMNet
                model.reference_ = YAMNet(root=self.root).classifier_weights()[0].T[trained_on]
            self._model = model
        return self._model

    @property
    def model(self):
        """The fitted :class:`PrototypeBilinear` (see :meth:`fitted`; YAMNet is not checked here)."""
        return self.fitted()

    def _train(self, params):
        from .bilinear import BilinearZSL
        vocabulary = yamnet_vocabulary(self.recipe, sentence_text=self.sentence_text, root=self.root)
        keep = vocabulary.covered
        key = {"version": _CACHE_VERSION, "model": file_fingerprint(config.asset_path("yamnet", root=self.root)),
               "params": params, "phi": hashlib.sha256(np.ascontiguousarray(vocabulary.embeddings)).hexdigest()}

        def build():
            from ..acoustic.embedders import YAMNet
            weights, _ = YAMNet(root=self.root).classifier_weights()
            fitted = PrototypeBilinear(**params).fit(weights.T[keep], vocabulary.embeddings[keep])
            # Every attribute as an array (a str or an int as a 0-d one): an .npz without pickle.
            return {name: np.asarray(value) for name, value in fitted.estimator_.get_fitted_state().items()}

        state = _cached_arrays("prototype_bilinear", key, build, names=BilinearZSL._fitted_attributes)
        return BilinearZSL.from_state(params, {name: value.item() if value.ndim == 0 else value
                                               for name, value in state.items()})

    def score(self, features, labels):
        """θ(x)ᵀ W φ(label) [n_clips, n_labels] from the clip embeddings."""
        model = self.fitted(acoustic_sha256=_acoustic_sha256(features))
        return model.decision_function(features.clip_embeddings, label_embeddings(labels, self.recipe, root=self.root))


class FusedScorer:
    """Score-level fusion of scorers: weighted sum of row-standardised scores (:func:`fuse_scores`).

    Parameters
    ----------
    scorers : sequence of scorers
        Objects with ``score(features, labels)``.
    weights : sequence of float >= 0
        One per scorer (chosen on validation classes; see :func:`refzsl.openset.select_settings`).
    """

    name = "fused"

    def __init__(self, scorers, weights):
        self.scorers = tuple(scorers)
        self.weights = tuple(weights)

    def score(self, features, labels):
        """Fused scores [n_clips, n_labels] (standardised units)."""
        return fuse_scores([scorer.score(features, labels) for scorer in self.scorers], self.weights)
