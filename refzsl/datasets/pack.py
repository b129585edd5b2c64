"""The ESC-50 feature pack: clip embeddings and class vectors, shipped inside refzsl.

The pack lets ``python -m refzsl.esc50`` run on a fresh machine without the
audio, the acoustic model or the word vectors. It holds, for ESC-50's 2000
clips in ``meta/esc50.csv`` order, float32 clip-level YAMNet embeddings (mean of
the patch embeddings), optionally the clip-level mean of YAMNet's 521 scores,
the clips' targets and official folds, and the 50 class vectors of each
semantic recipe the runner offers (WLE, GLE, WLE+GLE). A JSON manifest beside
it records how it was made (audio and model hashes, front-end parameters,
vector files) and a sha256 per array, which :func:`load_pack` checks.

The pack is built by ``tools/build_esc50_pack.py`` through refzsl's own pipeline
(:func:`build_pack`): :func:`refzsl.extract.extract_files` on the ESC-50 audio and
:func:`refzsl.semantic.class_embeddings` on the class names. The same function,
given a data root, is how the runner extracts from the audio instead.

ESC-50 is CC BY-NC 3.0 (Piczak 2015), and so is data derived from it: the pack
may not be used commercially.
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .._util.files import atomic_write, file_sha256
from ..config import PACKAGE_DATA
from .esc50 import CATEGORIES

__all__ = ["PACK_PATH", "PACK_RECIPES", "LICENCE", "FeaturePack", "load_pack", "build_pack", "esc50_class_vectors",
           "array_sha256"]

PACK_PATH = PACKAGE_DATA / "esc50_yamnet_pack.npz"
# Semantic recipes whose class vectors the pack carries (P2 Tables VI-VIII, P1).
PACK_RECIPES = ("WLE", "GLE", "WLE+GLE")
LICENCE = ("Derived from ESC-50 (K. J. Piczak, 2015), licensed CC BY-NC 3.0: attribution required, "
           "no commercial use; per-clip attribution in ESC-50's ATTRIBUTION.txt / meta. "
           "YAMNet (Google) is Apache-2.0; Word2Vec GoogleNews vectors Apache-2.0; GloVe 6B PDDL-1.0.")
_FORMAT = "refzsl-esc50-feature-pack"
_FORMAT_VERSION = 1
_VECTOR_PREFIX = "class_vectors:"


def array_sha256(array):
    """sha256 of an array's dtype, shape and C-order bytes (independent of the file container)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass
class FeaturePack:
    """ESC-50 clip features and class vectors, in ``meta/esc50.csv`` order.

    Attributes
    ----------
    clip_ids : np.ndarray [shape=(n,)], str
        File stems, e.g. ``"1-100032-A-0"``.
    targets : np.ndarray [shape=(n,)], int64
        Class index 0..49.
    folds : np.ndarray [shape=(n,)], int64
        Official clip fold 1..5 (not used by the zero-shot protocols, kept for completeness).
    class_names : np.ndarray [shape=(50,)], str
        Index = target, e.g. ``"chirping birds"``.
    category_of_target : np.ndarray [shape=(50,)], int64
        Index into :data:`refzsl.datasets.CATEGORIES`.
    clip_embeddings : np.ndarray [shape=(n, d)], float32
        Mean of the acoustic model's patch embeddings (YAMNet: d = 1024).
    class_vectors : dict[str, np.ndarray [shape=(50, d_s)], float32]
        Per recipe (``"WLE"``...), the class embeddings φ(y).
    clip_scores : np.ndarray [shape=(n, 521)], float32, or None
        Mean over patches of YAMNet's AudioSet scores.
    manifest : dict
        Provenance (see ``tools/build_esc50_pack.py``) and per-array sha256.
    """

    clip_ids: np.ndarray
    targets: np.ndarray
    folds: np.ndarray
    class_names: np.ndarray
    category_of_target: np.ndarray
    clip_embeddings: np.ndarray
    class_vectors: dict
    clip_scores: np.ndarray | None = None
    manifest: dict = field(default_factory=dict)

    def arrays(self):
        """The pack's arrays by their file key."""
        arrays = {"clip_ids": self.clip_ids, "targets": self.targets, "folds": self.folds,
                  "class_names": self.class_names, "category_of_target": self.category_of_target,
                  "clip_embeddings": self.clip_embeddings}
        if self.clip_scores is not None:
            arrays["clip_scores"] = self.clip_scores
        arrays.update({_VECTOR_PREFIX + recipe: vectors for recipe, vectors in self.class_vectors.items()})
        return arrays

    def check(self):
        """Check shapes, dtypes and ranges agree with each other.

        Raises
        ------
        ValueError
            Naming the array whose shape, dtype or values are inconsistent.
        """
        n = self.clip_ids.shape[0]
        n_classes = self.class_names.shape[0]
        expect = {"targets": (n,), "folds": (n,), "category_of_target": (n_classes,)}
        for name, shape in expect.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"Pack array {name!r} has shape {getattr(self, name).shape}, expected {shape}")
        for name in ("clip_embeddings", "clip_scores"):
            array = getattr(self, name)
            if array is None:
                continue
            if array.ndim != 2 or array.shape[0] != n or array.dtype != np.float32:
                raise ValueError(f"Pack array {name!r} is {array.dtype} {array.shape}, expected float32 ({n}, d)")
            if not np.isfinite(array).all():
                raise ValueError(f"Pack array {name!r} holds NaN or Inf")
        for recipe, vectors in self.class_vectors.items():
            if vectors.ndim != 2 or vectors.shape[0] != n_classes or vectors.dtype != np.float32:
                raise ValueError(f"Class vectors {recipe!r} are {vectors.dtype} {vectors.shape}, "
                                 f"expected float32 ({n_classes}, d)")
        for name, n_values in (("targets", n_classes), ("category_of_target", len(CATEGORIES))):
            array = getattr(self, name)
            if array.min() < 0 or array.max() >= n_values:
                raise ValueError(f"Pack {name} outside 0..{n_values - 1} (found {array.min()}..{array.max()})")
        return self

    def subset(self, indices):
        """A pack of the clips at ``indices`` (classes and vectors unchanged)."""
        indices = np.asarray(indices)
        return FeaturePack(
            clip_ids=self.clip_ids[indices], targets=self.targets[indices], folds=self.folds[indices],
            class_names=self.class_names, category_of_target=self.category_of_target,
            clip_embeddings=self.clip_embeddings[indices], class_vectors=dict(self.class_vectors),
            clip_scores=None if self.clip_scores is None else self.clip_scores[indices],
            manifest=dict(self.manifest))

    def save(self, path):
        """Write ``path`` (compressed .npz) and its manifest ``path`` with suffix ``.json``.

        The manifest gets each array's sha256 and the shapes; returns the manifest path.
        """
        self.check()
        path = Path(path)
        arrays = self.arrays()
        manifest = {**self.manifest, "format": _FORMAT, "format_version": _FORMAT_VERSION}
        manifest["arrays"] = {key: {"shape": list(value.shape), "dtype": value.dtype.str,
                                    "sha256": array_sha256(value)} for key, value in arrays.items()}
        atomic_write(path, lambda stream: np.savez_compressed(stream, **arrays))
        manifest["file_bytes"] = path.stat().st_size
        manifest_path = atomic_write(path.with_suffix(".json"), lambda stream: stream.write(
            (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8")))
        self.manifest = manifest
        return manifest_path


def load_pack(path=None, *, verify=True):
    """Load a feature pack and (by default) verify it against its manifest.

    Parameters
    ----------
    path : str or Path, optional
        The ``.npz`` file (default: the pack shipped in ``refzsl/data``); its manifest is the
        ``.json`` file of the same stem.
    verify : bool
        Check every array's sha256, shape and dtype against the manifest, and the arrays'
        mutual consistency.

    Returns
    -------
    FeaturePack

    Raises
    ------
    FileNotFoundError
        If the pack or its manifest is missing.
    ValueError
        If an array is missing, unexpected, or differs from the manifest (named in the message).
    """
    path = Path(path) if path is not None else PACK_PATH
    manifest_path = path.with_suffix(".json")
    for needed in (path, manifest_path):
        if not needed.is_file():
            raise FileNotFoundError(f"Feature pack file {str(needed)!r} not found; build it with "
                                    "tools/build_esc50_pack.py --data-root DIR")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != _FORMAT:
        raise ValueError(f"{str(manifest_path)!r} is not a {_FORMAT} manifest (format={manifest.get('format')!r})")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if verify:
        listed = manifest.get("arrays", {})
        if set(listed) != set(arrays):
            raise ValueError(f"Pack {str(path)!r} holds arrays {sorted(arrays)}, its manifest lists {sorted(listed)}")
        for key, array in arrays.items():
            if array_sha256(array) != listed[key]["sha256"]:
                raise ValueError(f"Pack array {key!r} in {str(path)!r} does not match the sha256 of its manifest "
                                 "(corrupted or edited file); rebuild with tools/build_esc50_pack.py")
    pack = FeaturePack(
        clip_ids=arrays.pop("clip_ids"), targets=arrays.pop("targets"), folds=arrays.pop("folds"),
        class_names=arrays.pop("class_names"), category_of_target=arrays.pop("category_of_target"),
        clip_embeddings=arrays.pop("clip_embeddings"), clip_scores=arrays.pop("clip_scores", None),
        class_vectors={key[len(_VECTOR_PREFIX):]: arrays.pop(key)
                       for key in list(arrays) if key.startswith(_VECTOR_PREFIX)},
        manifest=manifest)
    if arrays:
        raise ValueError(f"Pack {str(path)!r} holds unknown arrays {sorted(arrays)}")
    return pack.check() if verify else pack


def _substitutions(labels, parts, *, root):
    """For each word-vector part, the label words missing from its vectors and their fallback (as used)."""
    from ..semantic.recipes import ESC50_WORD_FALLBACK, PARTS, resolve_fallback, tokenize
    from ..semantic.vectors import load_word_vectors

    found = {}
    for part in parts:
        source, text = PARTS[part]
        if text != "label":  # the runner notes substitutions in the class labels only
            continue
        vocabulary = load_word_vectors(source, root=root).key_to_index
        words = sorted({word for label in labels for word in tokenize(label)} - set(vocabulary))
        found[part] = {word: resolve_fallback(word, ESC50_WORD_FALLBACK, vocabulary) for word in words}
    return found


def esc50_class_vectors(class_names, recipes, *, root=None):
    """The class vectors of each recipe for ESC-50's class names, and the manifest entry saying how.

    :func:`refzsl.semantic.class_embeddings` of the names with
    :data:`refzsl.semantic.ESC50_WORD_FALLBACK` for words the vectors lack; sentence parts embed the
    description of each class's AudioSet ontology match (words missing from the vectors skipped).

    Returns
    -------
    class_vectors : dict[str, np.ndarray [shape=(n_classes, d_s)], float32]
    semantic : dict
        Recipes, vector files (name, sha256, size), fallbacks and substitutions: the pack
        manifest's ``"semantic"`` entry.
    """
    from ..config import asset_path
    from ..semantic.ontology import esc50_descriptions
    from ..semantic.recipes import ESC50_WORD_FALLBACK, PARTS, class_embeddings, get_recipe
    from ..semantic.vectors import load_word_vectors

    class_names = list(class_names)
    parts = sorted({part for recipe in recipes for part in get_recipe(recipe)})
    # Sentence parts embed the description of each class's AudioSet ontology match.
    descriptions = (esc50_descriptions(class_names, root=root)
                    if any(PARTS[part][1] == "description" for part in parts) else None)
    # Descriptions hold rarer words than the shipped vector subsets have: skip those (with a warning).
    oov = "error" if descriptions is None else "skip"
    class_vectors = {recipe: class_embeddings(class_names, recipe, descriptions=descriptions, root=root,
                                              fallback=ESC50_WORD_FALLBACK, oov=oov)
                     for recipe in recipes}
    vector_files = {}
    for asset in sorted({PARTS[part][0] for part in parts} - {"sentence"}):
        path = asset_path(asset, root=root)
        vectors = load_word_vectors(asset, root=root)
        vector_files[asset] = {"name": path.name, "sha256": file_sha256(path),
                               "n_words": len(vectors.key_to_index), "dim": int(vectors.vector_size)}
    semantic = {
        "recipes": list(recipes),
        "labels": "ESC-50 class names, underscores as spaces",
        "descriptions": None if descriptions is None else "refzsl.ontology.esc50_descriptions",
        "class_embeddings": {"fallback": {w: list(c) for w, c in ESC50_WORD_FALLBACK.items()},
                             "normalize_parts": True, "remove_stopwords": True,
                             "oov": oov},
        "vector_files": vector_files,
        "substitutions": _substitutions(class_names, parts, root=root),
    }
    return class_vectors, semantic


def build_pack(*, root=None, embedder="yamnet", recipes=PACK_RECIPES, clip_ids=None, include_scores=True,
               cache=True, workers=1, progress=False):
    """Build a feature pack from a data root through refzsl's own pipeline.

    Clip embeddings: :func:`refzsl.extract.extract_files` (front end, acoustic model, mean over
    patches; cached per clip). Class vectors: :func:`refzsl.semantic.class_embeddings` of the
    ESC-50 class names with :data:`refzsl.semantic.ESC50_WORD_FALLBACK` for words the vectors lack.

    Parameters
    ----------
    root : str or Path, optional
        Data root (default ``REFZSL_DATA``).
    embedder : {"yamnet", "vggish"}
    recipes : sequence of str
        Semantic recipes whose class vectors to include.
    clip_ids : sequence of str, optional
        Only these clips (csv order kept); default all 2000, after :meth:`ESC50.verify`.
    include_scores : bool
        Also store the clip-level mean of YAMNet's 521 scores (YAMNet only).
    cache, workers, progress
        Passed to :func:`refzsl.extract.extract_files`.

    Returns
    -------
    FeaturePack
        With a manifest of the audio and model hashes, front-end parameters and vector files.

    Raises
    ------
    ValueError
        Unknown or repeated clip ids (named).
    MissingAssetError
        Audio, model or vectors absent from the data root.
    """
    from .esc50 import ESC50, extract_esc50
    from ..acoustic.extraction import extract_files

    dataset = ESC50(root)
    if clip_ids is None:
        features = extract_esc50(root=root, embedder=embedder, cache=cache, workers=workers, progress=progress)
        indices = np.arange(len(dataset))
    else:
        position = {clip: i for i, clip in enumerate(dataset.clip_ids)}
        unknown = [clip for clip in clip_ids if clip not in position]
        if unknown:
            raise ValueError(f"Unknown ESC-50 clip ids {unknown[:10]} ({len(unknown)} in all)")
        repeated = sorted(clip for clip, count in Counter(clip_ids).items() if count > 1)
        if repeated:
            raise ValueError(f"Repeated clip ids {repeated[:10]}: each clip can be in the pack once")
        indices = np.sort([position[clip] for clip in clip_ids])
        features = extract_files([dataset.paths[i] for i in indices], clip_ids=[dataset.clip_ids[i] for i in indices],
                                 embedder=embedder, root=root, cache=cache, workers=workers, progress=progress)
    ids = [dataset.clip_ids[i] for i in indices]
    if list(features.clip_ids) != ids:
        raise ValueError(f"Extraction dropped clips: {sorted(set(ids) - set(features.clip_ids))[:10]}")
    scores = None
    if include_scores and features.segment_scores is not None:
        scores = np.stack([s.mean(axis=0, dtype=np.float64) for s in features.segment_scores]).astype(np.float32)
    class_names = list(dataset.class_names)
    class_vectors, semantic = esc50_class_vectors(class_names, recipes, root=root)
    extraction = dict(features.manifest)
    audio_hashes = dict(zip(extraction.pop("clip_ids"), extraction.pop("audio_sha256")))
    extraction.pop("sources")  # absolute paths of the build machine
    extraction["segment_counts"] = dict(sorted(Counter(extraction.pop("segment_counts")).items()))
    combined = hashlib.sha256("".join(f"{c}:{h}\n" for c, h in audio_hashes.items()).encode()).hexdigest()
    manifest = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "refzsl_version": __version__,
        "licence": LICENCE,
        "dataset": {
            "name": "ESC-50", "n_clips": len(ids), "meta_sha256": file_sha256(dataset.meta_path),
            "audio_sha256": combined, "audio_sha256_per_clip": audio_hashes,
        },
        "acoustic": {
            "embedder": embedder,
            "extraction": extraction,
            "clip_embedding": "mean of the patch embeddings",
            "clip_scores": None if scores is None else "mean of the patch scores",
        },
        "semantic": semantic,
    }
    return FeaturePack(
        clip_ids=np.asarray(ids), targets=dataset.targets[indices], folds=dataset.folds[indices],
        class_names=np.asarray(class_names), category_of_target=dataset.category_of_target,
        clip_embeddings=np.ascontiguousarray(features.clip_embeddings, dtype=np.float32),
        class_vectors=class_vectors, clip_scores=scores, manifest=manifest).check()
