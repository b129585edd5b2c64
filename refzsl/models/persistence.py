"""Model files: a trained bilinear model with everything needed to use it safely.

A model file is an ``.npz`` read with ``allow_pickle=False``: arrays (``W`` as float32) plus UTF-8 JSON
metadata, no pickle. :class:`ClassifierModel` holds W, the estimator's fitted input normalisation, the
acoustic model's id and sha256, the semantic embedding spec (recipe and options, identity of the vector
files), the training classes with their φ, and the versions.
"""

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._util.files import atomic_write, json_array, read_json_array
from ..exceptions import ModelMismatchError
from ..semantic.recipes import cached_word_vectors
from .attention import TemporalAttentionZSL
from .bilinear import BilinearZSL

MODEL_FORMAT = "refzsl-bilinear-classifier"
MODEL_FORMAT_VERSION = 2  # 2: UTF-8 metadata, float64 arrays stored as float32

#: Semantic spaces of a model file: ``"labels"`` — φ from :func:`refzsl.semantic.class_embeddings` of the
#: class names (``refzsl train``); ``"audioset"`` — φ from :func:`refzsl.conse.label_embeddings`, the space
#: of YAMNet's AudioSet classes (the shipped open-vocabulary model, ``tools/build_openvocab_model.py``).
SEMANTIC_SPACES = ("labels", "audioset")

# Tolerance of the vector check: φ rows are unit-scale float32 averages of word vectors.
_PHI_ATOL = 1e-4
# Training classes whose φ the vector check recomputes, per semantic space: all of them for word-vector
# labels (cheap); 8 evenly spaced for the AudioSet space, whose sentence-encoder part costs ~40 ms a class
# on 2 cores (a different vector file or encoder changes every class's φ, so a sample shows it).
_CHECKED_CLASSES = {"labels": None, "audioset": 8}


# --------------------------------------------------------------------------------------------
# The model file
# --------------------------------------------------------------------------------------------

def _is_json_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def _json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)) and all(_is_json_scalar(item) for item in value):
        return list(value)
    return value


def package_versions(packages=("gensim", "ai_edge_litert")):
    """refzsl, NumPy and Python versions, and those of the installed ``packages`` (absent ones left out)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"refzsl": __version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    for package in packages:
        try:
            versions[package] = version(package.replace("_", "-"))
        except PackageNotFoundError:
            pass
    return versions


#: Estimators a model file may hold, by class name. The file records ``module.ClassName``; only the
#: name counts, so files that recorded the old flat path (``refzsl.model.BilinearZSL``) still load.
ESTIMATORS = {estimator.__name__: estimator for estimator in (BilinearZSL, TemporalAttentionZSL)}


def _estimator_class(recorded):
    name = str(recorded).rpartition(".")[2]
    if name not in ESTIMATORS:
        raise ModelMismatchError(f"The model file holds a {recorded!r}; this refzsl reads {sorted(ESTIMATORS)}")
    return ESTIMATORS[name]


@dataclass
class ClassifierModel:
    """A trained bilinear zero-shot classifier, with everything needed to use it safely.

    Attributes
    ----------
    estimator : refzsl.models.bilinear.BilinearZSL or refzsl.models.attention.TemporalAttentionZSL
        Fitted (a BilinearZSL's ``W_`` is ``[embedding_dim, semantic_dim]``); saved and loaded through
        its ``get_params``, ``get_fitted_state`` and ``from_state``.
    acoustic : dict
        ``name`` (e.g. ``"yamnet"``), ``sha256`` of the model file, ``embedding_dim``,
        ``front_end`` (:meth:`FrontEndParams.as_dict`), ``clip_pooling`` (``"mean"``).
    semantic : dict
        ``recipe`` and ``options`` (keyword arguments of
        :func:`refzsl.semantic.class_embeddings`), ``vectors`` (identity of the
        files used at training time: name, size, words, dimension — information
        for error messages; the check is by value); optionally ``space`` (one of
        :data:`SEMANTIC_SPACES`, default ``"labels"``) and ``incomplete`` (indices
        of training classes with words missing from the vectors at training time,
        whose φ changes with a fuller file: skipped by the check).
    classes : list of str
        Training classes, index = training target.
    class_embeddings : np.ndarray [shape=(n_classes, semantic_dim)], float32
        φ of ``classes`` at training time (the vector check recomputes it).
    training : dict
        Where the data came from, number of clips, hyper-parameters and how they
        were chosen, training Top-1.
    versions : dict
        Package versions at training time.
    """

    estimator: object
    acoustic: dict
    semantic: dict
    classes: list
    class_embeddings: np.ndarray
    training: dict = field(default_factory=dict)
    versions: dict = field(default_factory=package_versions)

    @property
    def recipe(self):
        """Semantic recipe, e.g. ``"WLE+GLE"``."""
        return self.semantic["recipe"]

    # ---- persistence ----------------------------------------------------------------------

    def save(self, path):
        """Write the model to ``path`` (``.npz``; arrays + UTF-8 JSON metadata, no pickle).

        The estimator's float64 arrays (``W_``) are stored as float32, the precision of
        the embeddings they were trained on, and cast back by :meth:`load` (halves the
        file; :func:`train_model` rounds ``W_`` to float32 so that a trained model and
        its saved copy score identically).

        Returns
        -------
        Path
        """
        estimator = self.estimator
        params = {name: _json_value(value) for name, value in estimator.get_params().items()}
        arrays, fitted, dtypes = {}, {}, {}
        for name, value in estimator.get_fitted_state().items():
            if isinstance(value, np.ndarray):
                if value.dtype == object:
                    raise TypeError(f"Fitted attribute {name} is an object array; cannot be saved without pickle")
                dtypes[name] = value.dtype.str
                arrays[f"estimator.{name}"] = value.astype(np.float32) if value.dtype == np.float64 else value
            else:
                value = _json_value(value)
                if not (_is_json_scalar(value) or isinstance(value, list)):
                    raise TypeError(f"Fitted attribute {name} of type {type(value).__name__} cannot be saved")
                fitted[name] = value
        for name, value in params.items():
            if not (_is_json_scalar(value) or isinstance(value, list)):
                raise TypeError(f"Hyper-parameter {name}={value!r} cannot be saved as JSON")
        metadata = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "estimator": {"class": f"{type(estimator).__module__}.{type(estimator).__name__}",
                          "params": params, "fitted": fitted, "dtypes": dtypes},
            "acoustic": self.acoustic,
            "semantic": self.semantic,
            "classes": list(self.classes),
            "training": self.training,
            "versions": self.versions,
        }
        return atomic_write(path, lambda stream: np.savez_compressed(
            stream, metadata=json_array(metadata), class_embeddings=np.asarray(self.class_embeddings, dtype=np.float32),
            **arrays))

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ModelMismatchError
            If the file is not a refzsl classifier model, or of a newer format version.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Model file not found: {str(path)!r}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                contents = {name: archive[name] for name in archive.files}
            metadata = read_json_array(contents.pop("metadata"))
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as error:
            raise ModelMismatchError(f"{str(path)!r} is not a refzsl classifier model: {error}") from error
        if metadata.get("format") != MODEL_FORMAT:
            raise ModelMismatchError(f"{str(path)!r} is not a refzsl classifier model "
                                     f"(format {metadata.get('format')!r}, expected {MODEL_FORMAT!r})")
        if metadata.get("format_version", 0) > MODEL_FORMAT_VERSION:
            raise ModelMismatchError(
                f"{str(path)!r} has format version {metadata['format_version']}; this refzsl "
                f"({__version__}) reads up to {MODEL_FORMAT_VERSION}: upgrade refzsl")
        spec = metadata["estimator"]
        state = dict(spec["fitted"])
        dtypes = spec.get("dtypes", {})  # format version 1 stored arrays in their own dtype
        for key in [key for key in contents if key.startswith("estimator.")]:
            name = key[len("estimator."):]
            value = contents.pop(key)
            state[name] = value.astype(dtypes[name]) if name in dtypes else value
        try:
            estimator = _estimator_class(spec["class"]).from_state(spec["params"], state)
        except (TypeError, ValueError) as error:
            raise ModelMismatchError(f"{str(path)!r}: cannot rebuild its estimator: {error}") from error
        return cls(estimator=estimator, acoustic=metadata["acoustic"], semantic=metadata["semantic"],
                   classes=list(metadata["classes"]), class_embeddings=contents["class_embeddings"],
                   training=metadata.get("training", {}), versions=metadata.get("versions", {}))

    # ---- use --------------------------------------------------------------------------------

    def label_embeddings(self, labels, *, root=None):
        """φ of ``labels`` with the model's semantic recipe and options.

        Raises
        ------
        OutOfVocabularyError
            If words of a label are not in the vectors (``.missing``, ``.suggestions``).
        """
        space = self.semantic.get("space", "labels")
        if space == "audioset":
            from ..semantic.ontology import label_embeddings
            return label_embeddings(list(labels), self.recipe, root=root, **self.semantic["options"])
        if space != "labels":
            raise ModelMismatchError(f"Unknown semantic space {space!r} in the model file; "
                                     f"this refzsl knows {SEMANTIC_SPACES}")
        return _word_vector_embeddings(labels, self.recipe, self.semantic["options"], root=root)

    def check(self, *, acoustic_sha256=None, root=None):
        """Check that the model fits the acoustic model file and the word vectors in use.

        Parameters
        ----------
        acoustic_sha256 : str, optional
            sha256 of the acoustic model file that will embed the audio; not checked if None.
        root : str or Path, optional
            Data root the word vectors are read from.

        Raises
        ------
        ModelMismatchError
            If the acoustic model differs, or the current vectors give another φ for
            the training classes (the message names the classes and the vector files).
        """
        expected = self.acoustic.get("sha256")
        if acoustic_sha256 is not None and expected is not None and acoustic_sha256 != expected:
            raise ModelMismatchError(
                f"The model was trained on embeddings of {self.acoustic.get('name')} with sha256 "
                f"{expected[:12]}…, but the acoustic model in use has sha256 {acoustic_sha256[:12]}…: "
                "use the same model file, or retrain with `refzsl train`")
        self._check_vectors(root=root)

    def _check_vectors(self, *, root=None):
        from ..exceptions import OutOfVocabularyError
        from ..semantic.recipes import tokenize
        stored = np.asarray(self.class_embeddings, dtype=np.float32)
        # A class with a word replaced by the fallback (a word a vector subset lacks) gets another φ
        # from a fuller file that has the word: such classes say nothing about the vectors themselves.
        replaced = set(self.semantic["options"].get("fallback") or ())
        # Classes with a word missing at training time (AudioSet space) change φ with a fuller file too.
        incomplete = set(self.semantic.get("incomplete", ()))
        candidates = [index for index, name in enumerate(self.classes)
                      if index not in incomplete and not replaced.intersection(tokenize(name))]
        limit = _CHECKED_CLASSES.get(self.semantic.get("space", "labels"))
        if limit is not None and len(candidates) > limit:
            candidates = [candidates[i] for i in np.unique(np.linspace(0, len(candidates) - 1, limit).round()
                                                           .astype(int))]
        current, compared = [], []
        try:  # one batch: the sentence encoder costs ~0.1 s a call
            current = list(self.label_embeddings([self.classes[index] for index in candidates], root=root))
            compared = candidates
        except OutOfVocabularyError:  # a smaller vector file than at training time: check the classes it has
            for index in candidates:
                try:
                    current.append(self.label_embeddings([self.classes[index]], root=root)[0])
                except OutOfVocabularyError:
                    continue
                compared.append(index)
        vectors = ", ".join(f"{source.get('name')} ({source.get('words')} words × {source.get('dim')})"
                            for source in self.semantic.get("vectors", []))
        if 2 * len(compared) < len(candidates):
            raise ModelMismatchError(
                f"Only {len(compared)} of {len(candidates)} checked training classes (of the model's "
                f"{len(self.classes)}) can be embedded with the current word vectors; the model was trained "
                f"with {vectors or 'other vectors'}")
        current = np.asarray(current, dtype=np.float32)
        if current.shape[1] != stored.shape[1]:
            raise ModelMismatchError(
                f"The current word vectors give {current.shape[1]}-d embeddings for recipe {self.recipe}; "
                f"the model was trained with {stored.shape[1]}-d ({vectors})")
        differs = ~np.all(np.isclose(current, stored[compared], rtol=0, atol=_PHI_ATOL), axis=1)
        if differs.any():
            names = [self.classes[compared[i]] for i in np.flatnonzero(differs)]
            shown = ", ".join(repr(name) for name in names[:5]) + (" …" if len(names) > 5 else "")
            raise ModelMismatchError(
                f"The current word vectors embed {len(names)} of the model's training classes differently "
                f"({shown}): the model was trained with {vectors or 'other vectors'}. Use those vectors "
                "(REFZSL_DATA / --data-root) or retrain with `refzsl train`")


def _word_vector_embeddings(labels, recipe, options, *, root=None):
    """φ of class names with a word-vector recipe, read through the compact vector cache (no gensim)."""
    from ..semantic.recipes import class_embeddings
    return np.asarray(class_embeddings(list(labels), recipe, root=root,
                                       vectors=cached_word_vectors(recipe, root=root), **options),
                      dtype=np.float32)


def acoustic_identity(name, sha256, embedding_dim, params):
    """The ``acoustic`` record of a model file (see :class:`ClassifierModel`)."""
    return {"name": name, "sha256": sha256, "embedding_dim": int(embedding_dim),
            "front_end": params.as_dict(), "clip_pooling": "mean"}


def vector_identity(recipe, *, root=None):
    """Name, size, vocabulary size and dimension of the word-vector files a recipe reads."""
    from .. import config
    sources = []
    for asset, vectors in cached_word_vectors(recipe, root=root).items():
        path = config.asset_path(asset, root=root)
        sources.append({"asset": asset, "name": path.name, "bytes": path.stat().st_size,
                        "words": len(vectors.index_to_key), "dim": int(vectors.vector_size)})
    return sources
