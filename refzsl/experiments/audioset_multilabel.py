"""P3 on Google's released AudioSet features: multi-label zero-shot classification with temporal attention.

``python -m refzsl.multilabel --dataset audioset --features DIR`` compares the systems of
:mod:`refzsl.experiments.multilabel` (attention, uniform pooling, the zero rule, the supervised upper
bound) on real AudioSet clips, their real (weak, clip-level) multi-label annotations, and their 1 s
VGGish frames as the segments θ_t.

Protocol (:func:`run`):

- clips: shards are read in a seeded random order, whole, until ``max_clips`` clips with exactly
  ``n_segments`` (10) frames are held (shorter clips are left out: the model takes a fixed number of
  segments); frames are dequantised (``q * 4/255 - 2``);
- classes: the labels present, split by :func:`refzsl.experiments.audioset.class_folds` (P2's nine
  count bins x five groups, on the number of clips carrying each label); training classes Fold0-Fold2,
  validation Fold3, test Fold4. Labels whose semantic embedding has no known word are dropped;
- clips per role, disjoint: test clips carry a test label; validation clips a validation label and no
  test label; training clips only training labels. Each role is sampled down to ``n_train``,
  ``n_validation``, ``n_test``. The supervised system trains on ``n_train`` clips outside the validation
  and test sets, labelled with every class;
- the zero-shot systems rank the test classes only; validation clips choose the decision threshold.
  Classes with no positive test clip are left out of the test columns.

AudioSet has no strong (time-stamped) labels in this release, so the peak-hit rate of the ESC-50 runner
is not available here.
"""

import sys
import time

import numpy as np

from ..datasets.audioset import Shard, list_shards, read_shard
from .audioset import TEST_FOLD, VALIDATION_FOLD, class_folds
from .multilabel import DEFAULTS as ESC50_DEFAULTS
from .multilabel import SYSTEMS, _metrics, _zero_rule, best_threshold, merge_options

__all__ = ["DEFAULTS", "SYSTEMS", "load_clips", "run", "format_table"]

_MODEL_KEYS = ("n_components", "similarity", "temperature", "loss", "margin", "learning_rate", "n_epochs",
               "batch_size", "reg_lambda")
#: Defaults of :func:`run`: the protocol's sizes, and the ESC-50 runner's model settings.
DEFAULTS = dict(recipe="WLE", max_clips=60000, n_segments=10, n_train=20000, n_validation=3000, n_test=3000,
                seed=0, **{key: ESC50_DEFAULTS[key] for key in _MODEL_KEYS})


def load_clips(features, *, max_clips, n_segments=10, seed=0, on_error="raise"):
    """Clips with ``n_segments`` frames from shards read in a seeded random order, up to ``max_clips``.

    Returns
    -------
    shard : refzsl.datasets.audioset.Shard
        The clips (uint8 frames).
    info : dict
        ``shards_read``, ``shards_total``, ``clips_read``, ``clips_kept``, ``skipped_records``.
    """
    paths = list_shards(features)
    order = np.random.default_rng(seed).permutation(len(paths))
    kept, n_read, n_kept, skipped, n_shards = [], 0, 0, 0, 0
    for position in order:
        shard = read_shard(paths[position], dequantize=False, on_error=on_error)
        n_shards += 1
        n_read += len(shard)
        skipped += len(shard.skipped)
        full = np.flatnonzero((shard.n_frames == n_segments) & (shard.n_labels > 0))[:max_clips - n_kept]
        kept.append(shard.select(full))
        n_kept += len(full)
        if n_kept >= max_clips:
            break
    return Shard.concatenate(kept, dequantized=False), {
        "shards_read": n_shards, "shards_total": len(paths), "clips_read": n_read, "clips_kept": n_kept,
        "skipped_records": skipped}


def _label_matrix(shard, clips, classes):
    """Binary [len(clips), len(classes)] of which of ``classes`` each clip carries."""
    column = {c: j for j, c in enumerate(classes)}
    Y = np.zeros((len(clips), len(classes)), dtype=bool)
    for row, clip in enumerate(clips):
        for label in shard.clip_labels(clip).tolist():
            if label in column:
                Y[row, column[label]] = True
    return Y


def run(*, features, root=None, vectors=None, systems=SYSTEMS, on_error="raise", progress=False, **options):
    """Read AudioSet clips, train the P3 systems and evaluate them on unseen (Fold4) classes.

    Parameters
    ----------
    features : str or Path
        Folder of AudioSet feature shards.
    root : str or Path, optional
        Data root with the AudioSet ontology files and word vectors.
    vectors : dict {"word2vec"|"glove": path}, optional
    systems : sequence of str in SYSTEMS
    on_error : {"raise", "skip"}
    progress : bool
    **options
        Keys of :data:`DEFAULTS`.

    Returns
    -------
    dict
        ``setup`` (options, class and clip counts per role, reading statistics), ``systems`` (per
        system: ``map_samples``, ``map_classes``, ``f1``, ``threshold``/``top_k``, ``train_seconds``) and
        ``stage_seconds``.
    """
    from ..models.attention import TemporalAttentionZSL
    from ..semantic.ontology import audioset_embeddings

    settings = merge_options(options, systems, DEFAULTS)

    def say(message):
        if progress:
            print(message, file=sys.stderr, flush=True)

    stages, started = {}, time.perf_counter()
    say(f"reading {features}")
    clips, reading = load_clips(features, max_clips=settings["max_clips"], n_segments=settings["n_segments"],
                                seed=settings["seed"], on_error=on_error)
    stages["read"] = time.perf_counter() - started

    mark = time.perf_counter()
    table = audioset_embeddings(settings["recipe"], root=root, vectors=vectors)
    Phi_all = np.asarray(table.embeddings, dtype=np.float32)
    usable = table.covered & np.any(Phi_all != 0, axis=1)
    labels = clips.labels[usable[clips.labels]]
    classes, counts = np.unique(labels, return_counts=True)
    folds, _ = class_folds(classes, counts, seed=settings["seed"])
    role_classes = {"train": classes[folds < VALIDATION_FOLD], "validation": classes[folds == VALIDATION_FOLD],
                    "test": classes[folds == TEST_FOLD]}
    role_of_label = np.full(len(usable), -1)
    for code, name in enumerate(("train", "validation", "test")):
        role_of_label[role_classes[name]] = code
    has = np.zeros((len(clips), 3), dtype=bool)  # clip carries a train / validation / test label
    clip_of_label = np.repeat(np.arange(len(clips)), clips.n_labels)
    known = role_of_label[clips.labels] >= 0
    has[clip_of_label[known], role_of_label[clips.labels][known]] = True
    rng = np.random.default_rng(settings["seed"])

    def sample(mask, n):
        members = np.flatnonzero(mask)
        return np.sort(rng.choice(members, size=min(n, len(members)), replace=False))

    chosen = {"test": sample(has[:, 2], settings["n_test"])}
    chosen["validation"] = sample(has[:, 1] & ~has[:, 2], settings["n_validation"])
    chosen["train"] = sample(has[:, 0] & ~has[:, 1] & ~has[:, 2], settings["n_train"])
    held = np.zeros(len(clips), dtype=bool)
    held[chosen["test"]] = held[chosen["validation"]] = True
    if "supervised" in systems:
        chosen["supervised"] = sample(~held & has.any(axis=1), settings["n_train"])
    Y = {name: _label_matrix(clips, chosen[name], role_classes[name]) for name in ("train", "validation", "test")}
    all_classes = np.concatenate([role_classes[name] for name in ("train", "validation", "test")])
    if "supervised" in systems:
        Y["supervised"] = _label_matrix(clips, chosen["supervised"], all_classes)
    # Columns with no positive clip say nothing (and class AP is undefined): leave them out.
    present_test = Y["test"].any(axis=0)
    test_classes = role_classes["test"][present_test]
    Y["test"] = Y["test"][:, present_test]
    n_segments = settings["n_segments"]
    X = {name: (clips.select(index).frames.astype(np.float32) * np.float32(4 / 255) - np.float32(2)).reshape(
        len(index), n_segments, -1) for name, index in chosen.items()}
    stages["prepare"] = time.perf_counter() - mark

    model_options = {key: settings[key] for key in _MODEL_KEYS}
    model_seed = int(np.random.SeedSequence(settings["seed"]).generate_state(1)[0])
    results = {}
    for name in systems:
        mark = time.perf_counter()
        if name == "zero-rule":
            results[name] = _zero_rule(Y["validation"], Y["test"])
            continue
        say(f"training {name}")
        model = TemporalAttentionZSL(pooling="uniform" if name == "uniform" else "attention",
                                     random_state=model_seed, **model_options)
        training = "supervised" if name == "supervised" else "train"
        fit_classes = all_classes if name == "supervised" else role_classes["train"]
        model.fit(X[training], Y[training], Phi_all[fit_classes])
        seconds = time.perf_counter() - mark
        validation_scores = model.decision_function(X["validation"], Phi_all[role_classes["validation"]])
        threshold, validation_f1 = best_threshold(Y["validation"], validation_scores)
        scores = model.decision_function(X["test"], Phi_all[test_classes])
        result = _metrics(Y["test"], scores, scores > threshold)
        result.update(threshold=threshold, validation_f1=validation_f1, train_seconds=seconds,
                      final_loss=model.loss_curve_[-1], peak_hit_rate=None)
        results[name] = result
        stages[name] = time.perf_counter() - mark
        say(f"{name}: mAP {result['map_samples']:.3f}, trained in {seconds:.1f} s")
    stages["total"] = time.perf_counter() - started
    setup = {**settings, "features": str(features), **reading,
             "classes": {name: int(len(role_classes[name])) for name in role_classes},
             "test_classes_present": int(len(test_classes)),
             "clips": {name: int(len(index)) for name, index in chosen.items()},
             "mean_labels_per_test_clip": float(Y["test"].sum(axis=1).mean()) if len(Y["test"]) else 0.0}
    return {"setup": setup, "systems": results, "stage_seconds": stages}


def format_table(results):
    """The systems' test metrics as plain text."""
    setup = results["setup"]
    lines = [f"P3 on AudioSet features ({setup['features']}): {setup['clips_kept']} clips of {setup['n_segments']} "
             f"frames from {setup['shards_read']}/{setup['shards_total']} shards; {setup['recipe']}; classes "
             f"train/validation/test {setup['classes']['train']}/{setup['classes']['validation']}/"
             f"{setup['classes']['test']} ({setup['test_classes_present']} test classes present); clips "
             + "/".join(f"{name} {n}" for name, n in setup["clips"].items())
             + f"; {setup['mean_labels_per_test_clip']:.2f} test labels per test clip",
             f"{'system':<12}{'mAP samples':>13}{'mAP classes':>13}{'F1':>8}{'train s':>9}"]
    for name, r in results["systems"].items():
        lines.append(f"{name:<12}{r['map_samples']:>13.3f}{r['map_classes']:>13.3f}{r['f1']:>8.3f}"
                     f"{r['train_seconds']:>9.1f}")
    lines.append("No strong labels in the release: no peak-hit rate. stage seconds: "
                 + ", ".join(f"{k} {v:.1f}" for k, v in results["stage_seconds"].items()))
    return "\n".join(lines)
