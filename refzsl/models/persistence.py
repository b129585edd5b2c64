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
from ..exceptions import ModelFileError, ModelMismatchError
from ..semantic.recipes import cached_word_vectors
from .attention import TemporalAttentionZSL
from .bilinear import NORMALIZATIONS, BilinearZSL

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
        """Read a model written by :meth:`save`, validating all of it before use.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ModelFileError
            If the file is damaged or not a refzsl classifier model: an unreadable or non-``.npz`` file,
            metadata missing, mistyped or naming unknown parameters, arrays of the wrong shape or dtype, or
            NaN/Inf values. The message names the file and the problem.
        ModelMismatchError
            If the file is of a newer format version.
        """
        path = Path(path)
        if path.is_dir():
            raise ModelFileError(f"Model file {str(path)!r} is a folder, not a model file")
        if not path.is_file():
            raise FileNotFoundError(f"Model file not found: {str(path)!r}")
        metadata, contents = _read_model_file(path)
        estimator, semantic_dim = _build_estimator(path, metadata["estimator"], contents)
        declared = metadata["acoustic"].get("embedding_dim")
        if declared is not None and isinstance(estimator, BilinearZSL) and declared != estimator.W_.shape[0]:
            raise _damaged(path, f"acoustic embedding_dim {declared!r} does not match W_ "
                                 f"{list(estimator.W_.shape)}")
        classes = metadata["classes"]
        class_embeddings = _checked_array(path, contents, "class_embeddings", (len(classes), semantic_dim))
        return cls(estimator=estimator, acoustic=metadata["acoustic"], semantic=metadata["semantic"],
                   classes=list(classes), class_embeddings=class_embeddings,
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


# --------------------------------------------------------------------------------------------
# Validation of a model file (every check before any of it is used)
# --------------------------------------------------------------------------------------------

# Metadata entries and their JSON types; "training" and "versions" are optional.
_METADATA_TYPES = {"format": str, "format_version": int, "estimator": dict, "acoustic": dict, "semantic": dict,
                   "classes": list, "training": dict, "versions": dict}
_REQUIRED_METADATA = ("format", "estimator", "acoustic", "semantic", "classes")
# BilinearZSL's fitted attributes: name -> (JSON type, or "array" for an array member).
_FITTED = {"W_": "array", "n_iter_": int, "n_classes_": int, "n_features_in_": int, "n_semantic_features_": int,
           "normalize_": str}


def _damaged(path, problem):
    return ModelFileError(f"Model file {str(path)!r} is not a refzsl classifier model, or is damaged: {problem}")


def _read_model_file(path):
    """(metadata dict, arrays) of a model file, or :class:`ModelFileError` saying what is wrong."""
    if path.stat().st_size == 0:
        raise _damaged(path, "the file is empty")
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise _damaged(path, "not an .npz archive (no zip signature)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {name: archive[name] for name in archive.files}
    except ValueError as error:  # numpy's message would advise allow_pickle, which must never be used here
        raise _damaged(path, "it holds an object (pickled) array, which cannot be read without pickle; "
                             "refzsl model files hold numbers and JSON only") from error
    except Exception as error:  # any other failure to parse the archive (zip, zlib, EOF, "encrypted" flags...)
        raise _damaged(path, f"unreadable .npz archive ({type(error).__name__}: {error})") from error
    if "metadata" not in contents:
        raise _damaged(path, "the archive has no metadata")
    try:
        metadata = read_json_array(contents.pop("metadata"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise _damaged(path, f"the metadata is not UTF-8 JSON ({error})") from error
    if not isinstance(metadata, dict):
        raise _damaged(path, f"the metadata is a JSON {type(metadata).__name__}, expected an object")
    if metadata.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a refzsl classifier model "
                             f"(format {metadata.get('format')!r}, expected {MODEL_FORMAT!r})")
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing:
        raise _damaged(path, f"the metadata lacks {missing}")
    for key, kind in _METADATA_TYPES.items():
        if key in metadata and (not isinstance(metadata[key], kind) or isinstance(metadata[key], bool)):
            raise _damaged(path, f"metadata {key!r} is a {type(metadata[key]).__name__}, expected a {kind.__name__}")
    if metadata.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise ModelMismatchError(
            f"{str(path)!r} has format version {metadata['format_version']}; this refzsl "
            f"({__version__}) reads up to {MODEL_FORMAT_VERSION}: upgrade refzsl")
    classes = metadata["classes"]
    if len(classes) < 2 or not all(isinstance(name, str) and name.strip() for name in classes):
        raise _damaged(path, "metadata 'classes' must list at least two non-empty class names")
    semantic = metadata["semantic"]
    if not isinstance(semantic.get("recipe"), str) or not isinstance(semantic.get("options", {}), dict):
        raise _damaged(path, "metadata 'semantic' needs a 'recipe' string and an 'options' object")
    semantic.setdefault("options", {})
    return metadata, contents


def _checked_array(path, contents, key, shape):
    """The float array ``contents[key]`` of the given shape, finite; :class:`ModelFileError` otherwise."""
    if key not in contents:
        raise _damaged(path, f"the archive has no {key!r} array")
    value = contents[key]
    if value.dtype.kind != "f" or list(value.shape) != list(shape):
        raise _damaged(path, f"{key} must be a float array of shape {list(shape)}, "
                             f"got {value.dtype} {list(value.shape)}")
    bad = int(np.count_nonzero(~np.isfinite(value)))
    if bad:
        raise _damaged(path, f"{key} holds NaN or Inf ({bad} of {value.size} values)")
    return value


def _build_estimator(path, spec, contents):
    """The fitted :class:`BilinearZSL` of a model file's ``estimator`` metadata and arrays, all checked."""
    name = str(spec.get("class", "")).rpartition(".")[2]
    if name not in ESTIMATORS:
        raise _damaged(path, f"estimator class {spec.get('class')!r} is none of {sorted(ESTIMATORS)}")
    params, fitted, dtypes = spec.get("params"), spec.get("fitted"), spec.get("dtypes", {})
    if not all(isinstance(part, dict) for part in (params, fitted, dtypes)):
        raise _damaged(path, "estimator 'params', 'fitted' and 'dtypes' must be JSON objects")
    if ESTIMATORS[name] is not BilinearZSL:
        return _build_other_estimator(path, ESTIMATORS[name], params, fitted, dtypes, contents)
    estimator = BilinearZSL()
    try:
        estimator.set_params(**params)
        estimator._check_params()
    except (ValueError, TypeError) as error:
        raise _damaged(path, error) from error
    arrays = {key[len("estimator."):]: contents.pop(key) for key in [key for key in contents
                                                                     if key.startswith("estimator.")]}
    unknown = sorted((set(fitted) | set(arrays)) - set(_FITTED))
    if unknown:
        raise _damaged(path, f"unknown fitted attributes {unknown}")
    for name, kind in _FITTED.items():
        source = arrays if kind == "array" else fitted
        if name not in source:
            raise _damaged(path, f"the estimator lacks its fitted {name}")
        if kind is int and (isinstance(source[name], bool) or not isinstance(source[name], int)
                            or source[name] < 1):
            raise _damaged(path, f"fitted {name} must be an integer >= 1, got {source[name]!r}")
    if fitted["normalize_"] not in NORMALIZATIONS:
        raise _damaged(path, f"fitted normalize_ must be one of {NORMALIZATIONS}, got {fitted['normalize_']!r}")
    shape = (fitted["n_features_in_"], fitted["n_semantic_features_"])
    W = _checked_array(path, arrays, "W_", shape)
    if dtypes.get("W_", "<f8") not in ("<f4", "<f8"):
        raise _damaged(path, f"dtype of W_ must be '<f4' or '<f8', got {dtypes['W_']!r}")
    W = W.astype(dtypes["W_"]) if "W_" in dtypes else W  # format version 1: arrays in their own dtype
    return BilinearZSL.from_state(params, {**fitted, "W_": W}), shape[1]


def _build_other_estimator(path, estimator_class, params, fitted, dtypes, contents):
    """A fitted estimator other than BilinearZSL (its arrays finite, its state complete) and its φ width."""
    state = dict(fitted)
    for key in [key for key in contents if key.startswith("estimator.")]:
        name, value = key[len("estimator."):], contents.pop(key)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise _damaged(path, f"{name} holds NaN or Inf")
        state[name] = value.astype(dtypes[name]) if name in dtypes else value
    try:
        estimator = estimator_class.from_state(params, state)
    except (TypeError, ValueError) as error:
        raise _damaged(path, f"cannot rebuild its {estimator_class.__name__}: {error}") from error
    stored = contents.get("class_embeddings")
    return estimator, (stored.shape[1] if stored is not None and stored.ndim == 2 else 0)


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
