"""``python -m refzsl.esc50``: the ESC-50 tables of P1 and P2, side by side with the papers.

One command reruns a zero-shot protocol of :mod:`refzsl.protocols` — P2's random
or category strategy, or P1's Settings 1-4 — with the bilinear model trained by
Training Algorithm 1, and prints, per fold, the test mAP, test Top-1 and
training Top-1 next to the number the paper reports for the same cell, the
averages, chance, and the ways this run deviates from the papers.

Features come from the feature pack shipped in ``refzsl/data`` (YAMNet clip
embeddings and WLE/GLE/WLE+GLE class vectors; :mod:`refzsl.pack`) unless a data
root is given (``--data-root`` or ``REFZSL_DATA``), in which case they are
extracted (and cached) from the audio by the same pipeline that built the pack. With
``--acoustic scratch`` or ``triplet`` each fold gets the clip embeddings of a network trained on
its training classes only (:mod:`refzsl.datasets.esc50_networks`): from the shipped network pack,
or trained (cached) from the audio with a data root.

Hyper-parameters (``--select``, the default): for each split, every candidate
of the grid (λ ∈ {0, 0.01, 1, 10} of P2, learning rates, epochs) is trained on
inner class folds of the split's **training classes** and scored (mAP) on the
held-out training classes of each inner fold, zero-shot; the best mean is then
retrained on all training classes. The split's test classes never take part in
selection (:func:`refzsl.protocols.validation_folds`): for the random strategy
and P1 Settings 1-2 the training classes are shuffled (``--seed``) into 4 inner
folds; for the category strategy and P1 Settings 3-4 each training category is
an inner fold, so validation classes come from a category unseen in inner
training, as the test classes do. Splits with the same training classes share
one selection (P1 Setting 4's eight few-shot folds of a category use the
zero-shot selection of its Setting 3 split).

Layers (openl3/whisper style): :func:`build_parser` parses, :func:`run_esc50`
does the work and returns a dict, :func:`write_results` / :func:`plot_confusion`
save it, :func:`main` connects them and maps errors to exit codes.
"""

import csv
import io
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import DATA_ROOT_ENV
from ..datasets.esc50 import CATEGORIES
from ..evaluation.metrics import confusion_matrix, mean_average_precision, top1_accuracy
from ..models._ranksgd import UPDATE_RULES
from .._util.files import atomic_write
from .._util.progress import StepLog
from .._util.threads import single_threaded_blas
from ..models.bilinear import NORMALIZATIONS
from ..datasets.pack import PACK_PATH, FeaturePack, array_sha256, build_pack, load_pack
from ..datasets.esc50_networks import NETWORK_KINDS, NetworkFeatures, esc50_base, network_features
from .selection import _GRID_KEYS, _INNER_FOLDS, DEFAULT_GRID, _fit, _grid_candidates, _zero_shot_scores, select_hyper_parameters
from .protocols import (
    PROTOCOLS,
    chance_map,
    chance_top1,
    paper_result,
    protocol_splits,
)

__all__ = [
    "FEATURE_SOURCES",
    "ACOUSTIC_MODELS",
    "OUTPUT_FORMATS",
    "DEFAULT_GRID",
    "load_features",
    "select_hyper_parameters",
    "evaluate_split",
    "run_esc50",
    "format_table",
    "write_results",
    "plot_confusion",
]

FEATURE_SOURCES = ("auto", "pack", "audio")
# "scratch" / "triplet": a network per fold trained on its training classes only (P2 / P4).
ACOUSTIC_MODELS = ("yamnet", "vggish") + NETWORK_KINDS
OUTPUT_FORMATS = ("json", "csv", "md")

# Protocols whose inner folds are the training categories (leave-one-category-out).
_CATEGORY_VALIDATION = ("category", "setting3", "setting4")

_PROTOCOL_TITLES = {
    "random": "P2 random strategy (Table II folds; paper: Tables VII, VIII)",
    "category": "P2 category strategy (paper: Tables VI, VIII)",
    "setting1": "P1 Setting 1: 2 unseen classes within a category (paper: Table 2)",
    "setting2": "P1 Setting 2: train on one category, test on another (paper: Tables 3, 4)",
    "setting3": "P1 Setting 3: train on four categories, test on the fifth (paper: Table 4)",
    "setting4": "P1 Setting 4: Setting 3 + 5 clips of each test class in training (paper: Table 4)",
}


# -- features -------------------------------------------------------------------------------------

def _resolve_source(features, data_root):
    if features != "auto":
        return features
    return "audio" if data_root is not None or os.environ.get(DATA_ROOT_ENV) else "pack"


def load_features(*, features="auto", acoustic="yamnet", embedding="WLE", data_root=None, pack_path=None,
                  progress=False, protocol="random", seed=0, network_pack_path=None):
    """The clip embeddings and class vectors a run needs, as a :class:`~refzsl.pack.FeaturePack`.

    Parameters
    ----------
    features : {"auto", "pack", "audio"}
        ``"pack"``: the shipped (or ``pack_path``) feature pack. ``"audio"``: extract from the data
        root's ESC-50 audio (cached) and compute the class vectors from its word vectors.
        ``"auto"``: ``"audio"`` when a data root is given or ``REFZSL_DATA`` is set, else ``"pack"``.
    acoustic : {"yamnet", "vggish", "scratch", "triplet"}
        ``"scratch"``/``"triplet"``: per-fold networks that never heard the fold's test classes
        (:mod:`refzsl.datasets.esc50_networks`): the shipped network pack, or trained (cached) from
        the audio for ``protocol``'s folds.
    embedding : str
        Semantic recipe (:data:`refzsl.semantic.RECIPES`); the pack carries WLE, GLE and WLE+GLE.
    data_root : str or Path, optional
    pack_path : str or Path, optional
    progress : bool
        Extraction progress on stderr.
    protocol, seed
        The folds whose networks ``"scratch"``/``"triplet"`` train from the audio (seed: P1's folds).
    network_pack_path : str or Path, optional
        Network pack (default: the shipped one).

    Raises
    ------
    ValueError
        Unknown source or acoustic model, or a pack without the requested acoustic model/recipe.
    """
    if features not in FEATURE_SOURCES:
        raise ValueError(f"features must be one of {FEATURE_SOURCES}, got {features!r}")
    if acoustic not in ACOUSTIC_MODELS:
        raise ValueError(f"acoustic must be one of {ACOUSTIC_MODELS}, got {acoustic!r}")
    source = _resolve_source(features, data_root)
    if acoustic in NETWORK_KINDS:
        if source == "pack":
            return network_features(acoustic, base=load_features(features="pack", embedding=embedding,
                                                                 pack_path=pack_path),
                                    pack_path=network_pack_path)
        base = esc50_base(root=data_root, recipes=(embedding,))
        splits = protocol_splits(protocol, class_names=list(base.class_names),
                                 category_of_target=base.category_of_target, targets=base.targets, seed=seed)
        return network_features(acoustic, base=base, splits=splits, source="audio", root=data_root,
                                progress=progress)
    if source == "audio":
        return build_pack(root=data_root, embedder=acoustic, recipes=(embedding,), include_scores=False,
                          progress=progress)
    pack = load_pack(pack_path)
    packed_model = pack.manifest.get("acoustic", {}).get("embedder")
    if packed_model != acoustic:
        raise ValueError(f"The feature pack holds {packed_model!r} embeddings, not {acoustic!r}: pass --data-root "
                         "(or set REFZSL_DATA) to extract them from the audio")
    if embedding not in pack.class_vectors:
        raise ValueError(f"The feature pack has class vectors for {sorted(pack.class_vectors)}, not {embedding!r}: "
                         "pass --data-root (or set REFZSL_DATA) to compute them from the word vectors")
    return pack


# -- one split --------------------------------------------------------------------------------------

def evaluate_split(split, X, targets, class_vectors, params, *, seed=0, normalize="both", update="algorithm1"):
    """Train on a split's training clips and test zero-shot on its test classes.

    Parameters
    ----------
    split : refzsl.protocols.Split
    X, targets, class_vectors
        As in :func:`select_hyper_parameters`.
    params : dict
        ``reg_lambda``, ``learning_rate``, ``n_epochs``.
    seed, normalize, update
        As in :func:`select_hyper_parameters`.

    Returns
    -------
    dict
        ``map``, ``top1`` (test, ranking the test classes only), ``train_top1`` (ranking the
        training classes), clip counts, and ``true``/``predicted`` test targets.

    Raises
    ------
    ValueError
        If a test clip is also a training clip (it cannot be, for a valid Split).
    """
    train_idx, test_idx = split.train_indices(targets), split.test_indices(targets)
    shared = np.intersect1d(train_idx, test_idx)
    if shared.size:
        raise ValueError(f"Split {split.name!r}: clips {shared[:10].tolist()} are both training and test clips")
    train_classes = tuple(sorted(set(targets[train_idx].tolist())))
    model, y_train = _fit(X, targets, class_vectors, train_classes, train_idx, params, normalize=normalize,
                          update=update, seed=seed)
    y_test, scores = _zero_shot_scores(model, X, targets, class_vectors, split.test_classes, test_idx)
    train_scores = model.decision_function(X[train_idx], class_vectors[list(train_classes)])
    return {
        "map": mean_average_precision(y_test, scores),
        "top1": top1_accuracy(y_test, scores),
        "train_top1": top1_accuracy(y_train, train_scores),
        "n_train_clips": int(train_idx.size),
        "n_test_clips": int(test_idx.size),
        "n_shot_clips": len(split.shot_clips),
        "true": targets[test_idx],
        "predicted": np.asarray(split.test_classes)[np.argmax(scores, axis=1)],
    }


# -- the run ------------------------------------------------------------------------------------------

def _deviations(pack, protocol, embedding, acoustic, fixed):
    """Notes printed under the table: how this run differs from the papers (``fixed``: None if selected)."""
    manifest = pack.manifest
    notes = []
    if acoustic == "yamnet":
        notes.append(
            "Acoustic embeddings: Google's pre-trained YAMNet (AudioSet, 521 classes, 1024-d), not VGGish trained "
            "from scratch on the seen classes (P2) nor pre-trained VGGish (P1). AudioSet's classes include most "
            "ESC-50 classes (dog, rooster, rain, siren, chainsaw, ...), so the acoustic model was trained on the "
            "'unseen' test classes: expect numbers above P2's (P2 measured +0.03 Top-1 for pre-trained VGGish).")
    elif acoustic in NETWORK_KINDS:
        notes.extend(_network_deviations(manifest.get("acoustic", {}), acoustic))
    else:
        notes.append("Acoustic embeddings: pre-trained VGGish (as P1; P2 trains VGGish from scratch on the seen "
                     "classes).")
    vectors = manifest.get("semantic", {}).get("vector_files", {})
    parts = embedding.split("+")
    for part, asset, paper in (("WLE", "word2vec", "Word2Vec GoogleNews, 3M words x 300-d"),
                               ("GLE", "glove", "GloVe Common Crawl, 300-d")):
        if part in parts and asset in vectors:
            info = vectors[asset]
            notes.append(f"{part}: {info['name']}, {info['n_words']} words x {info['dim']}-d (P2: {paper}).")
    substitutions = manifest.get("semantic", {}).get("substitutions", {})
    for part, words in substitutions.items():
        if part in parts and words:
            shown = ", ".join(f"{word} -> {replacement}" for word, replacement in words.items())
            notes.append(f"{part}: label words missing from the vectors replaced (semantic.ESC50_WORD_FALLBACK): "
                         f"{shown}.")
    if protocol.startswith("setting"):
        notes.append("P1 reports Top-1 only; P1 Settings 1 and 4 use seeded random folds (--seed), not the "
                     "authors' (unpublished) ones.")
    if fixed is None:
        notes.append("Hyper-parameters (λ, learning rate, epochs) selected on inner class folds of the training "
                     "classes; the papers do not report learning rate or epochs.")
    else:
        notes.append(f"Fixed hyper-parameters (λ={fixed['reg_lambda']:g}, η={fixed['learning_rate']:g}, "
                     f"{fixed['n_epochs']} epochs), not selected on validation data as P2 selects λ.")
    return notes


def _network_deviations(acoustic_manifest, kind):
    """How the per-fold networks differ from P2's VGGish (scratch) or P4's network (triplet)."""
    settings = acoustic_manifest.get("settings") or {}
    networks = acoustic_manifest.get("networks") or {}
    width = settings.get("width", next((n["width"] for n in networks.values()), None))
    epochs = [n["best_epoch"] for n in networks.values()]
    what = ("VGGish trained from scratch on each fold's training classes (P2 §V-B.2): Adam 1e-4, "
            "class-stratified 80/20 clip split, early stopping on validation loss"
            if kind == "scratch" else
            "the VGGish trunk trained with P4's triplet loss on each fold's training-class audio without "
            "labels (noise, time shift, mixture and temporal-proximity triplets)")
    notes = [f"Acoustic embeddings: {what}; no test-class clip reaches the network ({acoustic_manifest.get('source')})."]
    if width is not None and width < 1:
        notes.append(f"Width-reduced VGGish: {width:g} of the channels and fc units (same layers, 128-d "
                     f"embedding), at most {settings.get('max_epochs', '?')} epochs (best epochs "
                     f"{min(epochs) if epochs else '?'}-{max(epochs) if epochs else '?'}), chosen for "
                     "CPU time; P2 trains the full 72 M-parameter VGGish.")
    notes.append("Hyper-parameters of Algorithm 1 are selected on inner folds of the training classes, which "
                 "the fold's network has heard (the test classes it has not).")
    return notes


def _summary(rows, n_test_classes):
    """Mean of the rows' metrics, with chance for ``n_test_classes`` candidates."""
    return {
        "map": float(np.mean([row["map"] for row in rows])),
        "top1": float(np.mean([row["top1"] for row in rows])),
        "train_top1": float(np.mean([row["train_top1"] for row in rows])),
        "chance_map": chance_map(n_test_classes),
        "chance_top1": chance_top1(n_test_classes),
    }


def _group_means(folds, protocol, embedding, n_test):
    """The cells the paper averages: the folds themselves (P2, P1 Setting 3), or per group the mean
    of its folds (P1 Settings 1, 2, 4: the test category, in ESC-50's category order)."""
    names = list(dict.fromkeys(fold["group"] for fold in folds))
    if len(names) == len(folds):
        return [{"name": fold["name"], **{k: fold[k] for k in ("map", "top1", "train_top1", "chance_map",
                                                                 "chance_top1", "paper")}} for fold in folds]
    if set(names) <= set(CATEGORIES):
        names.sort(key=CATEGORIES.index)
    return [{"name": name, "n_folds": sum(fold["group"] == name for fold in folds),
             **_summary([fold for fold in folds if fold["group"] == name], n_test),
             "paper": _paper(protocol, embedding, name)} for name in names]


def _has_group_rows(results):
    """Whether the groups are means over several folds (shown as rows of their own)."""
    return len(results["groups"]) != len(results["folds"])


def _paper(protocol, embedding, cell):
    result = paper_result(protocol, embedding, cell)
    if result is None:
        return None
    return {"map": result.map, "top1": result.top1, "train_top1": result.train_top1, "source": result.source}


def run_esc50(*, protocol="random", embedding="WLE", acoustic="yamnet", features="auto", data_root=None,
              pack_path=None, seed=0, select=True, grid=None, learning_rate=None, n_epochs=None,
              reg_lambda=0.0, normalize="both", update="algorithm1", progress=False):
    """Run one ESC-50 protocol and return every number, with the papers' beside them.

    Parameters
    ----------
    protocol : str in refzsl.protocols.PROTOCOLS
        ``"random"``/``"category"`` (P2) or ``"setting1"`` … ``"setting4"`` (P1).
    embedding : str
        Semantic recipe, e.g. ``"WLE"``, ``"GLE"``, ``"WLE+GLE"``.
    acoustic : {"yamnet", "vggish", "scratch", "triplet"}
        ``"scratch"``/``"triplet"``: a network per fold that never heard its test classes (P2 / P4).
    features : {"auto", "pack", "audio"}, FeaturePack or NetworkFeatures
        Where the features come from (:func:`load_features`), or the features themselves.
    data_root, pack_path : str or Path, optional
    seed : int
        Seeds the P1 folds, the inner validation folds and the models' sample order.
    select : bool
        Select hyper-parameters on inner class folds (see the module docstring); otherwise use
        ``learning_rate``, ``n_epochs`` and ``reg_lambda``.
    grid : dict, optional
        Selection grid (default :data:`DEFAULT_GRID`).
    learning_rate : float > 0, n_epochs : int >= 1, reg_lambda : float >= 0
        Fixed hyper-parameters when ``select`` is False.
    normalize : str in refzsl.model.NORMALIZATIONS
    update : {"algorithm1", "rank_normalised"}
        ``BilinearZSL(update=...)``: Training Algorithm 1 as printed (default), or every violator
        weighted β_K/K.
    progress : bool
        One line per fold on stderr.

    Returns
    -------
    dict
        ``settings`` (every argument), ``folds`` (one per split), ``groups`` (per test category for
        P1 Settings 1, 2, 4; else the folds), ``average``, ``paper_average``, ``confusion``,
        ``deviations``, ``provenance`` (version, data and model hashes) and ``seconds``.

    Raises
    ------
    ValueError
        Unknown protocol or options, a grid without valid candidates, missing fixed
        hyper-parameters, a pack without what is asked.
    MissingAssetError
        Extraction from audio without the assets.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if not select and (learning_rate is None or n_epochs is None):
        raise ValueError("Without selection, pass learning_rate and n_epochs (and optionally reg_lambda)")
    if update not in UPDATE_RULES:
        raise ValueError(f"update must be one of {tuple(UPDATE_RULES)}, got {update!r}")
    if select:
        _grid_candidates(DEFAULT_GRID if grid is None else grid)  # a bad grid fails before any work
    # Many small fits: BLAS threads cost more than they give here (see refzsl._threads).
    with single_threaded_blas():
        return _run(protocol=protocol, embedding=embedding, acoustic=acoustic, features=features,
                    data_root=data_root, pack_path=pack_path, seed=seed, select=select, grid=grid,
                    fixed={"reg_lambda": float(reg_lambda), "learning_rate": learning_rate, "n_epochs": n_epochs},
                    model_options={"normalize": normalize, "update": update}, progress=progress)


def _run(*, protocol, embedding, acoustic, features, data_root, pack_path, seed, select, grid, fixed,
         model_options, progress):
    say = StepLog("esc50", enabled=progress, elapsed=True)
    started = time.perf_counter()
    if isinstance(features, (FeaturePack, NetworkFeatures)):
        pack, source = features, "given features"
    else:
        source = _resolve_source(features, data_root)
        say(f"loading features ({source})")
        pack = load_features(features=source, acoustic=acoustic, embedding=embedding, data_root=data_root,
                             pack_path=pack_path, progress=progress, protocol=protocol, seed=seed)
    if embedding not in pack.class_vectors:
        raise ValueError(f"The features have class vectors for {sorted(pack.class_vectors)}, not {embedding!r}")
    # Per-fold networks give each split its own clip embeddings; otherwise one set serves every split.
    per_fold = getattr(pack, "embeddings_for", None)
    X = None if per_fold else np.ascontiguousarray(pack.clip_embeddings, dtype=np.float64)
    targets = np.asarray(pack.targets, dtype=np.int64)
    vectors = pack.class_vectors[embedding]
    class_names = [str(name) for name in pack.class_names]
    splits = protocol_splits(protocol, class_names=class_names, category_of_target=pack.category_of_target,
                             targets=targets, seed=seed)
    selections = {}  # training classes -> (best, table): Setting 4's eight shot folds share one selection
    folds, n_classes = [], len(class_names)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    for number, split in enumerate(splits, start=1):
        fold_started = time.perf_counter()
        if per_fold:
            X = np.ascontiguousarray(per_fold(split.train_classes), dtype=np.float64)
        if select:
            if split.train_classes not in selections:
                groups = (pack.category_of_target[list(split.train_classes)]
                          if protocol in _CATEGORY_VALIDATION else None)
                selections[split.train_classes] = select_hyper_parameters(
                    X, targets, vectors, split.train_classes, grid=grid, seed=seed, groups=groups,
                    **model_options)
            params, table = selections[split.train_classes]
        else:
            params, table = fixed, None
        outcome = evaluate_split(split, X, targets, vectors, params, seed=seed, **model_options)
        confusion += confusion_matrix(outcome.pop("true"), outcome.pop("predicted"), n_classes=n_classes)
        n_test = len(split.test_classes)
        fold = {
            "name": split.name, "group": split.group,
            "train_classes": [class_names[c] for c in split.train_classes],
            "test_classes": [class_names[c] for c in split.test_classes],
            **outcome,
            "chance_map": chance_map(n_test), "chance_top1": chance_top1(n_test),
            "hyper_parameters": dict(params), "validation": table,
            "paper": _paper(protocol, embedding, split.name),
            "seconds": time.perf_counter() - fold_started,
        }
        folds.append(fold)
        say(f"{number}/{len(splits)} {split.name}: mAP {fold['map']:.3f}, Top-1 {fold['top1']:.3f}, "
            f"train Top-1 {fold['train_top1']:.3f} (λ={params['reg_lambda']:g}, η={params['learning_rate']:g}, "
            f"{params['n_epochs']} epochs) {fold['seconds']:.1f} s")
    n_test = len(splits[0].test_classes)  # the same for every split of a protocol
    groups = _group_means(folds, protocol, embedding, n_test)
    average = _summary(groups, n_test)
    return {
        "title": _PROTOCOL_TITLES[protocol],
        "settings": {"protocol": protocol, "embedding": embedding, "acoustic": acoustic, "features": source,
                     "data_root": None if data_root is None else str(data_root),
                     "pack_path": str(pack_path or PACK_PATH) if source == "pack" else None,
                     "seed": seed, "select": select, "grid": (grid or DEFAULT_GRID) if select else None,
                     "hyper_parameters": None if select else fixed, **model_options,
                     "inner_folds": "categories" if protocol in _CATEGORY_VALIDATION else _INNER_FOLDS},
        "folds": folds,
        "groups": groups,
        "average": average,
        "paper_average": _paper(protocol, embedding, "average"),
        "confusion": {"classes": class_names, "matrix": confusion.tolist()},
        "deviations": _deviations(pack, protocol, embedding, acoustic, None if select else fixed),
        "provenance": {
            "refzsl_version": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "clip_embeddings_sha256": pack.embeddings_sha256() if per_fold else array_sha256(pack.clip_embeddings),
            "class_vectors_sha256": array_sha256(vectors),
            "acoustic": pack.manifest.get("acoustic"),
            "dataset": {key: value for key, value in pack.manifest.get("dataset", {}).items()
                        if key != "audio_sha256_per_clip"},
            "semantic": pack.manifest.get("semantic"),
        },
        "seconds": time.perf_counter() - started,
    }


# -- output ---------------------------------------------------------------------------------------------

_COLUMNS = ("cell", "mAP", "paper mAP", "Top-1", "paper Top-1", "train Top-1", "paper train", "chance mAP",
            "chance Top-1", "λ", "η", "epochs")


def _fmt(value, digits=3):
    return "–" if value is None else f"{value:.{digits}f}"


def _table_rows(results):
    """Rows of the side-by-side table: every fold, then the group means (P1), then the average."""
    rows = []

    def row(name, entry, paper, params=None):
        paper = paper or {}
        params = params or {}
        return (name, _fmt(entry["map"]), _fmt(paper.get("map"), 2), _fmt(entry["top1"]),
                _fmt(paper.get("top1")), _fmt(entry["train_top1"]), _fmt(paper.get("train_top1"), 2),
                _fmt(entry["chance_map"]), _fmt(entry["chance_top1"]),
                f"{params['reg_lambda']:g}" if params else "", f"{params['learning_rate']:g}" if params else "",
                str(params["n_epochs"]) if params else "")

    for fold in results["folds"]:
        rows.append(row(fold["name"], fold, fold["paper"], fold["hyper_parameters"]))
    if _has_group_rows(results):
        for group in results["groups"]:
            rows.append(row(f"{group['name']} (mean of {group['n_folds']})", group, group["paper"]))
    rows.append(row("average", results["average"], results["paper_average"]))
    return rows


def format_table(results):
    """The side-by-side table as aligned text (stdout), with the deviations under it."""
    settings = results["settings"]
    rows = [_COLUMNS] + _table_rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [f"ESC-50 zero-shot — {results['title']}",
             f"embedding {settings['embedding']}, acoustic {settings['acoustic']} ({settings['features']}), "
             f"seed {settings['seed']}, "
             + ("hyper-parameters selected on inner class folds" if settings["select"] else "fixed hyper-parameters")
             + f", {results['seconds']:.1f} s"]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) if j == 0 else cell.rjust(width)
                               for j, (cell, width) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("  ".join("-" * width for width in widths))
    sources = sorted({entry["paper"]["source"] for entry in results["folds"] + results["groups"] if entry["paper"]}
                     | ({results["paper_average"]["source"]} if results["paper_average"] else set()))
    if sources:
        lines.append("paper: " + "; ".join(sources))
    lines.append("Deviations from the papers:")
    lines.extend(f"  - {note}" for note in results["deviations"])
    return "\n".join(lines)


def _markdown(results):
    rows = _table_rows(results)
    lines = [f"# ESC-50 zero-shot — {results['title']}", "",
             f"Embedding {results['settings']['embedding']}, acoustic {results['settings']['acoustic']} "
             f"({results['settings']['features']}), seed {results['settings']['seed']}.", "",
             "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "Deviations from the papers:", ""] + [f"- {note}" for note in results["deviations"]]
    return "\n".join(lines) + "\n"


def _csv(results):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("kind", "name", "group", "map", "top1", "train_top1", "chance_map", "chance_top1",
                     "paper_map", "paper_top1", "paper_source", "reg_lambda", "learning_rate", "n_epochs",
                     "n_train_clips", "n_test_clips"))

    def write(kind, name, group, entry, paper, params=None):
        paper, params = paper or {}, params or {}
        writer.writerow((kind, name, group, entry["map"], entry["top1"], entry["train_top1"], entry["chance_map"],
                         entry["chance_top1"], paper.get("map"), paper.get("top1"), paper.get("source"),
                         *(params.get(key, "") for key in _GRID_KEYS),
                         entry.get("n_train_clips", ""), entry.get("n_test_clips", "")))

    for fold in results["folds"]:
        write("fold", fold["name"], fold["group"], fold, fold["paper"], fold["hyper_parameters"])
    if _has_group_rows(results):
        for group in results["groups"]:
            write("group", group["name"], group["name"], group, group["paper"])
    write("average", "average", "", results["average"], results["paper_average"])
    return buffer.getvalue()


def _stem(results):
    settings = results["settings"]
    return f"esc50_{settings['protocol']}_{settings['embedding']}_{settings['acoustic']}_seed{settings['seed']}"


def write_results(results, out_dir, *, formats=OUTPUT_FORMATS):
    """Write the results as JSON (everything), CSV (one row per fold/group/average) and Markdown.

    Parameters
    ----------
    results : dict
        From :func:`run_esc50`.
    out_dir : str or Path
        Created if needed; files are named ``esc50_<protocol>_<embedding>_<acoustic>_seed<seed>.<ext>``.
    formats : iterable of str in OUTPUT_FORMATS

    Returns
    -------
    list of Path
    """
    unknown = sorted(set(formats) - set(OUTPUT_FORMATS))
    if unknown:
        raise ValueError(f"Unknown output formats {unknown}; choose from {OUTPUT_FORMATS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = {"json": lambda r: json.dumps(r, indent=1, ensure_ascii=False) + "\n", "csv": _csv, "md": _markdown}
    written = []
    for fmt in formats:
        path = out_dir / f"{_stem(results)}.{fmt}"
        text = writers[fmt](results).encode("utf-8")
        atomic_write(path, lambda stream: stream.write(text))  # never a half-written results file
        written.append(path)
    return written


def plot_confusion(results, path):
    """Save the confusion matrix of the run's test predictions (summed over folds) as a PNG.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install 'refzsl[plot]'``).
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("--plot needs matplotlib: pip install 'refzsl[plot]'") from error
    matrix = np.asarray(results["confusion"]["matrix"], dtype=float)
    names = results["confusion"]["classes"]
    rows = matrix.sum(axis=1, keepdims=True)
    fraction = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    figure, axes = plt.subplots(figsize=(12, 11))
    image = axes.imshow(fraction, cmap="viridis", vmin=0, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    axes.set_yticks(range(len(names)), names, fontsize=6)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    settings = results["settings"]
    axes.set_title(f"ESC-50 {settings['protocol']}, {settings['embedding']}, {settings['acoustic']}: "
                   f"Top-1 {results['average']['top1']:.3f} (row-normalised, summed over folds)", fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
