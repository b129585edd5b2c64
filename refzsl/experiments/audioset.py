"""P2's AudioSet protocol (SPEC §6, Table IX) on Google's released AudioSet features.

Steps (:func:`run_audioset`), each timed:

1. **read**: every shard under the features folder, streamed one shard at a time
   (:func:`refzsl.datasets.audioset.iter_shards`); only single-label clips are kept, each as the
   mean of its dequantised 1 s VGGish frames (128-d). Clips without frames are counted and dropped.
2. **filter**: under-sampling to at most ``max_per_class`` (1 500) clips per class, at random.
3. **folds**: the classes, sorted by clip count from the most populous (ties by label index), are
   cut into nine bins of ``5 * ceil(C / 45)`` classes (the last, rarest bin takes the rest), each bin
   is permuted at random and split into five groups of ``floor(n_bin / 5)`` classes, the remainder
   joining the last group; group ``g`` of every bin goes to fold ``g``. P2 does not publish its folds
   or the binning rule; this one is a reconstruction that gives exactly P2's Table III class counts for
   C = 521 (eight bins of 60 and one of 41 -> 104, 104, 104, 104, 105). Cutting from the most populous
   end puts Fold4's extra class among the rarest, as Table III suggests (its 105-class Fold4 has the
   fewest clips); cut from the rarest end, the extra class is a capped 1 500-clip one and Fold4 had the
   most clips for each of five seeds on the simulated profile.
4. **selection**: the bilinear model is trained on Fold2's clips for every candidate of
   :data:`refzsl.experiments.selection.DEFAULT_GRID` and scored zero-shot on Fold3's classes; the
   candidate with the highest validation mAP is kept (P2: training Fold2, validation Fold3).
5. **evaluate**: that model ranks Fold4's classes for Fold4's clips: mAP (single-label: mean 1/rank)
   and Top-1.

The acoustic side is Google's released features (Setting 1 and Setting 2 then share it: only the paper
column differs), or a user's own clip embeddings (``acoustic_features``), e.g. from a VGGish trained on
Fold0+Fold1 (Setting 1) or Fold2+Fold3 (Setting 2), which is P2's protocol proper.
"""

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._util.threads import single_threaded_blas
from ..datasets.audioset import N_LABELS, iter_shards, list_shards
from ..evaluation.metrics import mean_average_precision, top1_accuracy
from .protocols import chance_map, chance_top1
from .selection import DEFAULT_GRID, _fit, _grid_candidates, _zero_shot_scores

__all__ = ["PAPER_TABLE_III", "PAPER_TABLE_IX", "PAPER_N_CLIPS", "PAPER_N_CLASSES", "MAX_CLIPS_PER_CLASS",
           "N_BINS", "N_FOLDS", "TRAIN_FOLD", "VALIDATION_FOLD", "TEST_FOLD", "SETTINGS", "SingleLabelClips",
           "load_single_label_clips", "load_acoustic_features", "undersample", "class_folds", "run_audioset",
           "format_table"]

#: P2 Table III: (classes, clips) of Fold0..Fold4.
PAPER_TABLE_III = ((104, 23007), (104, 22889), (104, 22762), (104, 22739), (105, 21377))
PAPER_N_CLIPS, PAPER_N_CLASSES = 112774, 521
#: P2 Table IX: recipe -> ((mAP, Top-1) of Setting 1, (mAP, Top-1) of Setting 2).
PAPER_TABLE_IX = {
    "WLE": ((0.15, 0.06), (0.15, 0.06)), "GLE": ((0.14, 0.06), (0.14, 0.06)),
    "WLE+GLE": ((0.17, 0.08), (0.19, 0.08)), "WSE": ((0.16, 0.07), (0.16, 0.07)),
    "GSE": ((0.15, 0.06), (0.15, 0.06)), "BSE": ((0.17, 0.08), (0.14, 0.07)),
    "WSE+GSE": ((0.16, 0.08), (0.17, 0.09)), "WSE+BSE": ((0.14, 0.08), (0.17, 0.08)),
    "GSE+BSE": ((0.18, 0.08), (0.17, 0.09)), "WSE+GSE+BSE": ((0.16, 0.08), (0.18, 0.09)),
    "WLE+WSE": ((0.18, 0.07), (0.18, 0.07)), "GLE+GSE": ((0.17, 0.07), (0.21, 0.11)),
    "WLE+BSE": ((0.21, 0.10), (0.19, 0.10)), "GLE+BSE": ((0.20, 0.11), (0.20, 0.11)),
    "WLE+GLE+BSE": ((0.20, 0.12), (0.20, 0.11)),
}
MAX_CLIPS_PER_CLASS = 1500
N_BINS, N_FOLDS = 9, 5
TRAIN_FOLD, VALIDATION_FOLD, TEST_FOLD = 2, 3, 4
SETTINGS = (1, 2)


@dataclass
class SingleLabelClips:
    """The single-label clips of a features folder, one clip embedding each.

    Attributes
    ----------
    video_ids : np.ndarray [shape=(n,), dtype=str]
    start_seconds : np.ndarray [shape=(n,), dtype=float32]
    targets : np.ndarray [shape=(n,), dtype=int64]
        The clip's one label (0..526).
    embeddings : np.ndarray [shape=(n, 128), dtype=float32]
        Mean of the clip's dequantised frames.
    n_clips_read : int
        Every clip read (any number of labels).
    n_without_frames : int
        Single-label clips dropped for having no frame.
    skipped : list[(str, int, str)]
        Corrupt records skipped (``on_error="skip"``).
    n_shards, n_bytes : int
    """

    video_ids: np.ndarray
    start_seconds: np.ndarray
    targets: np.ndarray
    embeddings: np.ndarray
    n_clips_read: int = 0
    n_without_frames: int = 0
    skipped: list = field(default_factory=list)
    n_shards: int = 0
    n_bytes: int = 0


def load_single_label_clips(features, *, on_error="raise", progress=False, scheduler="process", workers=None,
                            address=None):
    """Stream a features folder and keep its single-label clips as clip-mean embeddings.

    Parameters
    ----------
    features : str or Path
        Folder of ``.tfrecord`` shards (searched recursively) or one shard.
    on_error : {"raise", "skip"}
        As in :func:`refzsl.datasets.audioset.read_shard`.
    progress : bool
        A line per 10 % of the shards on stderr.
    scheduler, workers, address
        Where the shards are read (:func:`refzsl.datasets.audioset.iter_shards`).

    Returns
    -------
    SingleLabelClips
    """
    paths = list_shards(features)
    ids, starts, targets, means, skipped = [], [], [], [], []
    n_read = n_without = n_bytes = 0
    step = max(1, len(paths) // 10)
    scale, offset = np.float32(4 / 255), np.float32(-2)
    shards = iter_shards(features, dequantize=False, on_error=on_error, scheduler=scheduler, workers=workers,
                         address=address)
    for number, shard in enumerate(shards, 1):
        n_read += len(shard)
        n_bytes += Path(shard.paths[0]).stat().st_size
        skipped.extend(shard.skipped)
        single = np.flatnonzero(shard.n_labels == 1)
        with_frames = single[shard.n_frames[single] > 0]
        n_without += len(single) - len(with_frames)
        if len(with_frames):
            chosen = shard.select(with_frames)
            counts = chosen.n_frames.astype(np.float32)[:, None]
            sums = np.add.reduceat(chosen.frames.astype(np.float32), chosen.frame_offsets[:-1], axis=0)
            # The mean of dequantised frames is the dequantised mean (the map is affine).
            means.append(sums / counts * scale + offset)
            ids.append(chosen.video_ids)
            starts.append(chosen.start_seconds)
            targets.append(chosen.labels)  # one label per clip
        if progress and (number % step == 0 or number == len(paths)):
            print(f"read {number}/{len(paths)} shards, {n_read} clips", file=sys.stderr, flush=True)
    if not means:
        raise ValueError(f"No single-label clip with frames in {str(features)!r} ({n_read} clips read)")
    return SingleLabelClips(np.concatenate(ids), np.concatenate(starts), np.concatenate(targets).astype(np.int64),
                            np.concatenate(means), n_read, n_without, skipped, len(paths), n_bytes)


def load_acoustic_features(path, video_ids, start_seconds):
    """A user's own clip embeddings, in the order of the given clips.

    Parameters
    ----------
    path : str or Path
        ``.npz`` with ``video_ids`` (str [m]), ``start_seconds`` (float [m]) and ``embeddings``
        (float [m, d]); clips are matched on (video id, start time to the millisecond).
    video_ids, start_seconds : np.ndarray [n]
        The clips wanted.

    Returns
    -------
    np.ndarray [shape=(n, d), dtype=float32]

    Raises
    ------
    ValueError
        If the file lacks a key, its arrays disagree in length, or some wanted clips are absent.
    """
    with np.load(path, allow_pickle=False) as stored:
        missing_keys = [key for key in ("video_ids", "start_seconds", "embeddings") if key not in stored.files]
        if missing_keys:
            raise ValueError(f"Acoustic features {str(path)!r} lack {missing_keys} (have {stored.files})")
        ids, starts, embeddings = stored["video_ids"], stored["start_seconds"], stored["embeddings"]
    if not (len(ids) == len(starts) == len(embeddings)) or embeddings.ndim != 2:
        raise ValueError(f"Acoustic features {str(path)!r}: video_ids {ids.shape}, start_seconds {starts.shape} and "
                         f"embeddings {embeddings.shape} must have one row per clip")
    row = {(str(v), int(round(float(s) * 1000))): i for i, (v, s) in enumerate(zip(ids, starts))}
    keys = [(str(v), int(round(float(s) * 1000))) for v, s in zip(video_ids, start_seconds)]
    absent = [key for key in keys if key not in row]
    if absent:
        raise ValueError(f"Acoustic features {str(path)!r} miss {len(absent)} of {len(keys)} clips, e.g. "
                         f"{[f'{v}@{ms / 1000:g}s' for v, ms in absent[:5]]}")
    return np.asarray(embeddings[[row[key] for key in keys]], dtype=np.float32)


def undersample(targets, *, max_per_class=MAX_CLIPS_PER_CLASS, seed=0):
    """Indices of at most ``max_per_class`` clips per class, drawn at random, in increasing order."""
    if max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1, got {max_per_class}")
    rng = np.random.default_rng(seed)
    kept = []
    for label in np.unique(targets):
        members = np.flatnonzero(targets == label)
        kept.append(members if len(members) <= max_per_class else rng.choice(members, max_per_class, replace=False))
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64)


def class_folds(classes, counts, *, seed=0, n_bins=N_BINS, n_folds=N_FOLDS):
    """Assign classes to folds: count bins, each split at random into one group per fold.

    Parameters
    ----------
    classes : array-like of int [C]
    counts : array-like of int [C]
        Clips per class.
    seed : int
    n_bins, n_folds : int

    Returns
    -------
    folds : np.ndarray [shape=(C,), dtype=int64]
        Fold of each class.
    bins : np.ndarray [shape=(C,), dtype=int64]
        Count bin of each class (0 = most clips).

    Notes
    -----
    Bins hold ``n_folds * ceil(C / (n_bins * n_folds))`` classes, from the most populous down (the last
    one the rest), so every bin but the last splits evenly; each bin's remainder joins the last fold's
    group.
    """
    classes, counts = np.asarray(classes), np.asarray(counts)
    if len(classes) < n_bins * n_folds:
        raise ValueError(f"{len(classes)} classes cannot fill {n_bins} bins x {n_folds} folds")
    order = np.lexsort((classes, -counts))  # most clips first, ties by label index
    bin_size = n_folds * math.ceil(len(classes) / (n_bins * n_folds))
    rng = np.random.default_rng(seed)
    folds, bins = np.empty(len(classes), np.int64), np.empty(len(classes), np.int64)
    for b in range(n_bins):
        members = order[b * bin_size:] if b == n_bins - 1 else order[b * bin_size:(b + 1) * bin_size]
        members = rng.permutation(members)
        group = len(members) // n_folds
        for fold in range(n_folds):
            stop = None if fold == n_folds - 1 else (fold + 1) * group
            folds[members[fold * group:stop]] = fold
        bins[members] = b
    return folds, bins


def _say(progress, message):
    if progress:
        print(message, file=sys.stderr, flush=True)


def _deviations(acoustic_features, setting, recipes_run, n_uncovered):
    notes = []
    if acoustic_features is None:
        notes.append("Acoustic side: Google's released VGGish features. That VGGish was trained on a large "
                     "YouTube corpus whose sounds span every AudioSet class, so the test classes were heard by "
                     "the acoustic model; P2 trains VGGish from scratch on Fold0+Fold1 (Setting 1) or Fold2+Fold3 "
                     "(Setting 2). Both settings therefore use the same features here; only the paper column "
                     f"differs (Setting {setting} shown).")
        notes.append("Clip embedding: mean of the released 1 s frames, dequantised (q*4/255-2), i.e. in "
                     "VGGish's PCA space after 8-bit quantisation.")
    else:
        notes.append(f"Acoustic side: the user's own clip embeddings ({acoustic_features}).")
    notes.append("Class folds: P2's folds are not published; nine count bins split at random into five groups "
                 "(binning rule reconstructed to give Table III's class counts).")
    if any("BSE" in recipe for recipe in recipes_run):
        notes.append("BSE: the sentence encoder in use (default all-MiniLM-L6-v2, 384-d), not P2's BERT-large.")
    if any(n_uncovered.values()):
        notes.append("Classes whose label or description has no word in the word vectors in use are left out "
                     "of that recipe's folds: " + ", ".join(f"{r} {n}" for r, n in n_uncovered.items() if n)
                     + " (none with the full GoogleNews / GloVe files).")
    notes.append("Hyper-parameters: chosen on Fold3 (validation) from the grid λ∈{0,0.01,1,10}, η∈{0.001,0.01}, "
                 "5 epochs; P2 does not give η or the epochs.")
    return notes


def run_audioset(*, features, setting=1, recipes=("WLE",), acoustic_features=None, data_root=None, vectors=None,
                 sentence_model=None, seed=0, max_per_class=MAX_CLIPS_PER_CLASS, grid=None, on_error="raise",
                 normalize="both", update="algorithm1", clips=None, progress=False, read_options=None):
    """Run P2's AudioSet protocol for some semantic recipes; return every number beside the paper's.

    Parameters
    ----------
    features : str or Path
        Google's released features (a folder of ``.tfrecord`` shards), or any folder in that format.
    setting : {1, 2}
        Which column of Table IX to compare with.
    recipes : sequence of str
        Keys of :data:`refzsl.semantic.recipes.RECIPES`.
    acoustic_features : str or Path, optional
        A user's own clip embeddings (:func:`load_acoustic_features`) to use instead of the released ones.
    data_root : str or Path, optional
        Holds ``audioset/`` (ontology, labels) and the word vectors unless ``vectors`` names them.
    vectors : dict {"word2vec"|"glove": path}, optional
    sentence_model : str or Path, optional
        Sentence-transformers model folder for BSE (default: the package's encoder).
    seed : int
        Seeds the under-sampling, the folds and the models' sample order.
    max_per_class : int >= 1
    grid : dict, optional
        Selection grid (default :data:`~refzsl.experiments.selection.DEFAULT_GRID`).
    on_error : {"raise", "skip"}
        Corrupt records: error, or skip and count.
    normalize, update : str
        ``BilinearZSL`` options.
    clips : SingleLabelClips, optional
        Already-read clips (then ``features`` is only reported).
    read_options : dict, optional
        ``scheduler``, ``workers``, ``address`` of :func:`load_single_label_clips` (default: this process).
    progress : bool

    Returns
    -------
    dict
        ``settings``, ``corpus`` (counts), ``folds`` (classes and clips per fold, with Table III),
        ``results`` (one entry per recipe: mAP, Top-1, chance, chosen hyper-parameters, validation
        table, classes and clips used), ``deviations`` and ``stage_seconds``.
    """
    from ..semantic.ontology import audioset_embeddings
    from ..semantic.recipes import get_recipe

    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    recipes = ["+".join(get_recipe(recipe)) for recipe in recipes]
    candidates = _grid_candidates(DEFAULT_GRID if grid is None else grid)
    stages = {}
    started = time.perf_counter()
    if clips is None:
        _say(progress, f"reading {features}")
        clips = load_single_label_clips(features, on_error=on_error, progress=progress, **(read_options or {}))
    stages["read"] = time.perf_counter() - started

    mark = time.perf_counter()
    kept = undersample(clips.targets, max_per_class=max_per_class, seed=seed)
    targets = clips.targets[kept]
    if acoustic_features is not None:
        X = load_acoustic_features(acoustic_features, clips.video_ids[kept], clips.start_seconds[kept])
    else:
        X = clips.embeddings[kept]
    stages["filter"] = time.perf_counter() - mark

    mark = time.perf_counter()
    classes, counts = np.unique(targets, return_counts=True)
    fold_of_class, _ = class_folds(classes, counts, seed=seed)
    fold_of_label = np.full(N_LABELS, -1, np.int64)
    fold_of_label[classes] = fold_of_class
    clip_fold = fold_of_label[targets]
    fold_table = [{"fold": f, "classes": int(np.sum(fold_of_class == f)), "clips": int(np.sum(clip_fold == f)),
                   "paper_classes": PAPER_TABLE_III[f][0], "paper_clips": PAPER_TABLE_III[f][1]}
                  for f in range(N_FOLDS)]
    stages["folds"] = time.perf_counter() - mark

    results, n_uncovered = {}, {}
    stages.update(semantic=0.0, selection=0.0, evaluate=0.0)
    with single_threaded_blas():  # many small fits: BLAS threads cost more than they give
        for recipe in recipes:
            mark = time.perf_counter()
            table = audioset_embeddings(recipe, root=data_root, vectors=vectors, sentence_model=sentence_model)
            Phi = np.asarray(table.embeddings, dtype=np.float64)
            usable = table.covered & np.any(Phi != 0, axis=1)
            n_uncovered[recipe] = int(np.sum(~usable[classes]))
            role = {name: tuple(int(c) for c in classes[(fold_of_class == f) & usable[classes]])
                    for name, f in (("train", TRAIN_FOLD), ("validation", VALIDATION_FOLD), ("test", TEST_FOLD))}
            index = {name: np.flatnonzero(np.isin(targets, role[name])) for name in role}
            stages["semantic"] += time.perf_counter() - mark

            mark = time.perf_counter()
            best, validation = None, []
            for params in candidates:
                model, _ = _fit(X, targets, Phi, role["train"], index["train"], params, normalize=normalize,
                                update=update, seed=seed)
                y_val, scores = _zero_shot_scores(model, X, targets, Phi, role["validation"], index["validation"])
                row = {**params, "validation_map": mean_average_precision(y_val, scores),
                       "validation_top1": top1_accuracy(y_val, scores)}
                validation.append(row)
                if best is None or row["validation_map"] > best[0]["validation_map"]:
                    best = (row, model)
            stages["selection"] += time.perf_counter() - mark

            mark = time.perf_counter()
            y_test, scores = _zero_shot_scores(best[1], X, targets, Phi, role["test"], index["test"])
            paper_map, paper_top1 = PAPER_TABLE_IX[recipe][setting - 1]
            results[recipe] = {
                "map": mean_average_precision(y_test, scores), "top1": top1_accuracy(y_test, scores),
                "paper_map": paper_map, "paper_top1": paper_top1,
                "chance_map": chance_map(len(role["test"])), "chance_top1": chance_top1(len(role["test"])),
                "hyper_parameters": {key: best[0][key] for key in ("reg_lambda", "learning_rate", "n_epochs")},
                "validation": validation,
                "n_classes": {name: len(role[name]) for name in role},
                "n_clips": {name: int(len(index[name])) for name in index},
            }
            stages["evaluate"] += time.perf_counter() - mark
            _say(progress, f"{recipe}: mAP {results[recipe]['map']:.3f}, Top-1 {results[recipe]['top1']:.3f}")
    stages["total"] = time.perf_counter() - started
    return {
        "settings": {"features": str(features), "setting": setting, "recipes": recipes, "seed": seed,
                     "max_per_class": max_per_class, "acoustic_features": None if acoustic_features is None
                     else str(acoustic_features), "normalize": normalize, "update": update},
        "corpus": {"shards": clips.n_shards, "bytes": clips.n_bytes, "clips_read": clips.n_clips_read,
                   "single_label": int(len(clips.targets)) + clips.n_without_frames,
                   "without_frames": clips.n_without_frames, "skipped_records": len(clips.skipped),
                   "after_undersampling": int(len(targets)), "classes": int(len(classes)),
                   "paper_clips": PAPER_N_CLIPS, "paper_classes": PAPER_N_CLASSES,
                   "acoustic_dimension": int(X.shape[1])},
        "folds": fold_table,
        "results": results,
        "deviations": _deviations(acoustic_features, setting, recipes, n_uncovered),
        "stage_seconds": stages,
    }


def format_table(report):
    """Table IX side by side with the paper (plus the corpus and Table III), as plain text."""
    corpus, setting = report["corpus"], report["settings"]["setting"]
    lines = [f"P2 AudioSet zero-shot (Table IX, Setting {setting}): {report['settings']['features']}",
             f"read {corpus['clips_read']} clips from {corpus['shards']} shards ({corpus['bytes'] / 1e6:.1f} MB); "
             f"single-label {corpus['single_label']} ({corpus['without_frames']} without frames dropped); "
             f"at most {report['settings']['max_per_class']} per class: {corpus['after_undersampling']} clips in "
             f"{corpus['classes']} classes (paper: {corpus['paper_clips']} in {corpus['paper_classes']})"
             + (f"; {corpus['skipped_records']} corrupt records skipped" if corpus["skipped_records"] else ""),
             "", "Class folds (Table III)   classes  paper   clips   paper"]
    for row in report["folds"]:
        role = {TRAIN_FOLD: " train", VALIDATION_FOLD: " validation", TEST_FOLD: " test"}.get(row["fold"], "")
        lines.append(f"  Fold{row['fold']}{role:<19}{row['classes']:>7}{row['paper_classes']:>7}"
                     f"{row['clips']:>8}{row['paper_clips']:>8}")
    header = (f"{'embedding':<13}{'mAP':>7}{'paper':>7}{'Top-1':>7}{'paper':>7}{'chance mAP/Top-1':>18}"
              f"{'classes tr/va/te':>18}{'λ':>6}{'η':>7}")
    lines += ["", header, "-" * len(header)]
    for recipe, r in report["results"].items():
        n = r["n_classes"]
        hp = r["hyper_parameters"]
        lines.append(f"{recipe:<13}{r['map']:>7.3f}{r['paper_map']:>7.2f}{r['top1']:>7.3f}{r['paper_top1']:>7.2f}"
                     f"{r['chance_map']:>11.3f}/{r['chance_top1']:.3f}"
                     f"{n['train']:>8}/{n['validation']}/{n['test']}{hp['reg_lambda']:>6g}{hp['learning_rate']:>7g}")
    stages = report["stage_seconds"]
    lines.append("stage seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in stages.items()))
    lines.append("Deviations from P2:")
    lines.extend(f"  - {note}" for note in report["deviations"])
    return "\n".join(lines)
