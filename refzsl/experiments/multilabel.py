"""P3 on ESC-50 mixtures: zero-shot multi-label classification with temporal attention, and its baselines.

``python -m refzsl.multilabel`` trains and compares four systems on the same
generated test clips (:mod:`refzsl.mixtures`), whose classes are unseen by the
zero-shot systems:

``attention``   :class:`refzsl.attention.TemporalAttentionZSL`, softmax over time per class.
``uniform``     the same model with the mean over segments (attention off).
``zero-rule``   the best input-independent ranking: every clip gets the same scores, the
                frequencies of the candidate classes among the evaluated clips' labels. Training
                frequencies, the usual zero rule, say nothing about unseen classes; this oracle
                prior upper-bounds any constant ranking (and since the generator draws classes
                uniformly it sits at chance level). Its decisions are the top-k classes, k chosen
                on validation clips.
``supervised``  the attention model trained on clips of all 50 classes (test classes seen, from
                other clips than the test clips): the upper bound.

Protocol (one P2 random fold, SPEC §5 Table II, as the test classes):

- classes: test = the fold's 10 classes; validation = 10 of the other 40, held out by
  :func:`refzsl.protocols.validation_folds` (inner fold 0); training = the remaining 30;
- clips: ESC-50's official clip folds 1-3 feed training clips, folds 4-5 validation and test
  clips, so no source recording (ESC-50 keeps one source's takes in one fold) is in both;
- validation clips (validation classes, unseen by the zero-shot systems, seen by the supervised
  one) choose the decision threshold (micro-F1) and every hyper-parameter default below.

Metrics on the test clips, over the 10 test classes: mAP over samples (SPEC §4, multi-label AP
per clip), mAP over classes, micro-F1 at the validation threshold, and the peak hit rate: how
often argmax_t a_t(y) (= argmax_t s_t(y)) of a true class y falls on a segment taken from a
clip of class y (the strong labels), beside its chance level (fraction of such segments). For
uniform pooling the attention is flat, so its peak is where the segment scores peak.

Model defaults (:data:`DEFAULTS`) were chosen on the validation clips of test fold 0, seed 0
(validation mAP over samples after 20 epochs; a random ranking scores 0.407):

=====================================================  =========  =======
setting                                                attention  uniform
=====================================================  =========  =======
dot product, k = 32, τ = 1 (margin 1)                  0.47       0.57
dot product, k = 32, τ = 16 / 64                       0.50/0.52
cosine, k = 32, margin 0.2, τ = 0.03 / 0.1 / 0.3       0.48/0.46/0.50
cosine, k = 32, margin 0.2, τ = 0.5 / 1 / 2            0.53/0.54/0.55  0.54
cosine, k = 32, margin 0.2, τ = 4 / 8                  0.55/0.55
cosine, k = 64, τ = 1 / k = 16, τ = 2                  0.47/0.43
cosine, τ = 1, margin 0.1 / algorithm1 weights / η 0.2 0.54/0.53/0.53
=====================================================  =========  =======

Sharp attention (small τ, or unbounded dot-product scores) fits the training classes almost
perfectly and ranks unseen classes worse; the best attention setting is a mild one (τ = 2 on
cosine scores in [-1, 1], so no two segments' weights differ by more than a factor e), level
with uniform pooling. The table is the record of the tuning runs: the final code with these
defaults gives lower validation mAP over samples, 0.501 (attention) and 0.504 (uniform)
(fold 0, seed 0, re-measured 2026-11-21).
"""

import time

import numpy as np

from .._util.progress import StepLog


__all__ = ["SYSTEMS", "TRAIN_CLIP_FOLDS", "EVAL_CLIP_FOLDS", "DEFAULTS", "run", "check_run_options", "make_clip_sets",
           "fit_system", "score_system", "micro_f1", "best_threshold",
           "peak_hit_rate", "format_table", "format_mean_table"]

SYSTEMS = ("attention", "uniform", "zero-rule", "supervised")
# ESC-50 official clip folds that training clips / validation and test clips are drawn from.
TRAIN_CLIP_FOLDS = (1, 2, 3)
EVAL_CLIP_FOLDS = (4, 5)
# Defaults of run() and the CLI; the model values were chosen on validation clips (module docstring).
DEFAULTS = dict(test_fold=0, recipe="WLE", n_train=4000, n_validation=1000, n_test=1000, n_segments=18,
                n_sources=(2, 3), min_source_segments=3, seed=0, n_components=32, similarity="cosine",
                temperature=2.0, loss="rank_normalised", margin=0.2, learning_rate=0.05, n_epochs=20, batch_size=16,
                reg_lambda=0.0)


def micro_f1(Y, decisions):
    """Micro-averaged F1 of binary decisions against binary labels (both [n, C])."""
    Y, decisions = np.asarray(Y, bool), np.asarray(decisions, bool)
    if Y.shape != decisions.shape:
        raise ValueError(f"labels shape {Y.shape} differs from decisions shape {decisions.shape}")
    true_positives = np.sum(Y & decisions)
    total = Y.sum() + decisions.sum()
    return float(2 * true_positives / total) if total else 0.0


def best_threshold(Y, scores):
    """Threshold on scores maximising micro-F1 of ``scores > threshold``.

    Every cut between two consecutive distinct scores is tried; the threshold returned is the
    midpoint of the best cut (below the lowest score when predicting everything is best).

    Returns
    -------
    threshold : float
    f1 : float
        Micro-F1 at that threshold on (Y, scores).
    """
    Y, scores = np.asarray(Y, bool).ravel(), np.asarray(scores, np.float64).ravel()
    if Y.size != scores.size or Y.size == 0:
        raise ValueError(f"Y and scores need the same non-zero size, got {Y.size} and {scores.size}")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    true_positives = np.cumsum(Y[order])
    # Cut after position i (predict the i+1 highest), only where the next score is lower.
    cuts = np.flatnonzero(np.append(sorted_scores[1:] < sorted_scores[:-1], True))
    f1 = 2 * true_positives[cuts] / (cuts + 1 + Y.sum())
    best = cuts[np.argmax(f1)]
    below = sorted_scores[best + 1] if best + 1 < scores.size else sorted_scores[best] - 1.0
    return float((sorted_scores[best] + below) / 2), float(f1.max())


def peak_hit_rate(segment_scores, Y, segment_labels):
    """How often a true class's highest-scoring segment holds that class, and the chance level.

    Parameters
    ----------
    segment_scores : np.ndarray [shape=(n, T, C)]
        s_t(y) (or attention weights: the argmax over time is the same).
    Y : np.ndarray [shape=(n, C)], bool
    segment_labels : np.ndarray [shape=(n, T, C)], bool

    Returns
    -------
    rate : float
        Fraction of (clip, true class) pairs whose argmax_t segment is labelled with the class.
    chance : float
        Expected rate of a uniformly drawn segment.
    """
    Y = np.asarray(Y, bool)
    peaks = np.argmax(segment_scores, axis=1)  # [n, C]
    hits = np.take_along_axis(segment_labels, peaks[:, None, :], axis=1)[:, 0, :]
    coverage = segment_labels.mean(axis=1)
    return float(hits[Y].mean()), float(coverage[Y].mean())


def _metrics(Y, scores, decisions):
    from ..evaluation.metrics import class_average_precision, mean_average_precision

    return {"map_samples": mean_average_precision(Y, scores), "map_classes": class_average_precision(Y, scores),
            "f1": micro_f1(Y, decisions)}


def _zero_rule(Y_validation, Y_test):
    """Constant scores = the test clips' own label frequencies (an oracle prior: see the module
    docstring); decisions = the k most frequent classes, k chosen on the validation clips."""
    def top_k(Y, k):
        frequency = Y.mean(axis=0)
        chosen = np.argsort(-frequency, kind="mergesort")[:k]
        decisions = np.zeros_like(Y, dtype=bool)
        decisions[:, chosen] = True
        return decisions

    k = max(range(1, Y_validation.shape[1] + 1), key=lambda k: (micro_f1(Y_validation, top_k(Y_validation, k)), -k))
    scores = np.tile(Y_test.mean(axis=0), (Y_test.shape[0], 1))
    result = _metrics(Y_test, scores, top_k(Y_test, k))
    result.update(top_k=k, peak_hit_rate=None, train_seconds=0.0)
    return result


def _load_inputs(root, recipe, progress):
    from ..datasets.esc50 import ESC50
    from ..datasets.esc50 import extract_esc50
    from ..semantic.recipes import ESC50_WORD_FALLBACK, class_embeddings

    dataset = ESC50(root)
    features = extract_esc50(root=root, progress=progress)
    if list(features.clip_ids) != list(dataset.clip_ids):
        raise ValueError("The extracted features are not in ESC-50 csv order")
    Phi = class_embeddings(list(dataset.class_names), recipe, root=root, fallback=ESC50_WORD_FALLBACK)
    return dataset, features, Phi


def run(*, root=None, features=None, class_vectors=None, systems=SYSTEMS, progress=False, **options):
    """Generate the clips, train the systems and evaluate them on unseen test classes.

    Parameters
    ----------
    root : str or Path, optional
        Data root (ESC-50, YAMNet, word vectors; default ``REFZSL_DATA``).
    features : refzsl.extract.Features, optional
        ESC-50 segment embeddings in csv order (default: :func:`refzsl.extract.extract_esc50`, which
        reads the extraction cache).
    class_vectors : np.ndarray [shape=(50, d_s)], optional
        φ(y) of the 50 classes (default: :func:`refzsl.semantic.class_embeddings` of ``recipe``).
    systems : sequence of str in SYSTEMS
    progress : bool
        Report each step on stderr.
    **options
        Keys of :data:`DEFAULTS`: the protocol (``test_fold`` 0-4, ``recipe``, ``seed``), the
        generator (``n_train``, ``n_validation``, ``n_test``, ``n_segments``, ``n_sources``,
        ``min_source_segments``) and the model (``n_components``, ``similarity``, ``temperature``, ``loss``,
        ``margin``, ``learning_rate``, ``n_epochs``, ``batch_size``, ``reg_lambda``).

    Returns
    -------
    dict
        ``"setup"`` (options, class names of each role) and ``"systems"``: {name: test metrics
        ``map_samples``, ``map_classes``, ``f1``, ``peak_hit_rate`` (None for the zero rule),
        ``peak_chance``, the decision rule chosen on validation (``threshold`` or, zero rule,
        ``top_k``), ``validation_map_samples``, ``validation_f1``, ``train_seconds`` and
        ``final_loss`` (mean training loss of the last epoch)}.

    Raises
    ------
    ValueError
        For unknown options or systems, or features not in ESC-50 order.
    """
    settings = check_run_options(systems, options)
    say = StepLog(enabled=progress)
    dataset, features, Phi = _inputs(root, features, class_vectors, settings["recipe"], progress)
    roles, sets, model_seed = make_clip_sets(dataset, features, settings, systems, say=say)
    X = {name: mix.embeddings(features.segment_embeddings) for name, mix in sets.items()}
    Y_validation = sets["validation"].labels[:, roles["validation"]]
    Y_test = sets["test"].labels[:, roles["test"]]
    results = {}
    for name in systems:
        if name == "zero-rule":
            results[name] = _zero_rule(Y_validation, Y_test)
            continue
        say(f"training {name}")
        model, seconds = fit_system(name, X, sets, Phi, roles, settings, model_seed)
        results[name] = score_system(model, X, sets, Phi, roles)
        results[name].update(train_seconds=seconds, final_loss=model.loss_curve_[-1])
        say(f"{name}: mAP {results[name]['map_samples']:.3f}, trained in {seconds:.1f} s")
    setup = {**settings, "n_sources": list(settings["n_sources"]),
             **{f"{role}_classes": [dataset.class_names[c] for c in roles[role]]
                for role in ("train", "validation", "test")}}
    return {"setup": setup, "systems": results}


def merge_options(options, systems, defaults):
    """``{**defaults, **options}`` of a P3 runner, after checking the option names and the systems.

    Raises
    ------
    ValueError
        Naming unknown options, or systems outside :data:`SYSTEMS` (or none).
    """
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"Unknown options {unknown}; valid: {sorted(defaults)}")
    bad = [name for name in systems if name not in SYSTEMS]
    if bad or not systems:
        raise ValueError(f"systems must be a non-empty subset of {SYSTEMS}, got {list(systems)}")
    return {**defaults, **options}


def check_run_options(systems, options):
    """The settings of a :func:`run`: :data:`DEFAULTS` updated by ``options``, after checking both.

    Raises
    ------
    ValueError
        Unknown options or systems, or a test fold outside 0..4.
    """
    settings = merge_options(options, systems, DEFAULTS)
    if settings["test_fold"] not in range(5):
        raise ValueError(f"test_fold must be 0..4 (P2 Table II), got {settings['test_fold']!r}")
    return settings


def _inputs(root, features, class_vectors, recipe, progress):
    """(dataset, features, Φ float32 [50, d_s]): the given ones, the rest loaded; shapes checked."""
    from ..datasets.esc50 import ESC50

    if features is None or class_vectors is None:
        dataset, loaded_features, loaded_vectors = _load_inputs(root, recipe, progress)
        features = loaded_features if features is None else features
        class_vectors = loaded_vectors if class_vectors is None else class_vectors
    else:
        dataset = ESC50(root)
    Phi = np.asarray(class_vectors, dtype=np.float32)
    if Phi.shape[0] != len(dataset.class_names):
        raise ValueError(f"class_vectors has {Phi.shape[0]} rows, ESC-50 has {len(dataset.class_names)} classes")
    if len(features.segment_embeddings) != len(dataset.targets):
        raise ValueError(f"features hold {len(features.segment_embeddings)} clips, ESC-50 has {len(dataset.targets)}")
    return dataset, features, Phi


def make_clip_sets(dataset, features, settings, systems, *, say=None):
    """The class roles and the generated clip sets of one run.

    Training classes and validation classes come from the training side of P2's random fold
    ``settings["test_fold"]``, test classes are its test side. Training clips come from the official
    folds :data:`TRAIN_CLIP_FOLDS`, validation and test clips from :data:`EVAL_CLIP_FOLDS`.

    Returns
    -------
    roles : dict
        ``"train"``, ``"validation"``, ``"test"``: class indices; ``"all"``: every class.
    sets : dict of refzsl.datasets.mixtures.Mixtures
        ``"train"``, ``"validation"``, ``"test"`` and, with the supervised system, ``"supervised"``.
    model_seed : int
        One seed shared by every system, so that attention and uniform start from the same
        projections and differ only in their pooling.
    """
    from ..datasets.mixtures import make_mixtures
    from .protocols import p2_random_splits, validation_folds

    split = p2_random_splits(dataset.class_names)[settings["test_fold"]]
    train_classes, validation_classes = validation_folds(split.train_classes, seed=settings["seed"])[0]
    roles = {"train": train_classes, "validation": validation_classes, "test": split.test_classes,
             "all": tuple(range(len(dataset.class_names)))}
    targets, folds = dataset.targets, dataset.folds
    counts = np.array([len(s) for s in features.segment_embeddings])
    train_clips = np.isin(folds, TRAIN_CLIP_FOLDS)
    eval_clips = np.isin(folds, EVAL_CLIP_FOLDS)
    # Independent streams: the four clip sets, then the model seed.
    seeds = np.random.SeedSequence(settings["seed"]).spawn(5)
    model_seed = int(seeds[4].generate_state(1)[0])
    generator = dict(n_segments=settings["n_segments"], n_sources=settings["n_sources"],
                     min_source_segments=settings["min_source_segments"], n_classes=len(roles["all"]))

    def mixtures(classes, clip_mask, n, seed):
        clips = np.flatnonzero(clip_mask & np.isin(targets, classes))
        return make_mixtures(targets, counts, clips=clips, n_mixtures=n, random_state=seed, **generator)

    if say is not None:
        say("generating clips")
    sets = {
        "train": mixtures(roles["train"], train_clips, settings["n_train"], seeds[0]),
        "validation": mixtures(roles["validation"], eval_clips, settings["n_validation"], seeds[1]),
        "test": mixtures(roles["test"], eval_clips, settings["n_test"], seeds[2]),
    }
    if "supervised" in systems:
        sets["supervised"] = mixtures(roles["all"], train_clips, settings["n_train"], seeds[3])
    return roles, sets, model_seed


def fit_system(name, X, sets, Phi, roles, settings, model_seed):
    """Train one system (``"attention"``, ``"uniform"`` or ``"supervised"``); returns (model, seconds)."""
    from ..models.attention import TemporalAttentionZSL

    model_options = {key: settings[key] for key in ("n_components", "similarity", "temperature", "loss", "margin",
                                                    "learning_rate", "n_epochs", "batch_size", "reg_lambda")}
    pooling = "uniform" if name == "uniform" else "attention"
    model = TemporalAttentionZSL(pooling=pooling, random_state=model_seed, **model_options)
    classes = roles["all"] if name == "supervised" else roles["train"]
    training = "supervised" if name == "supervised" else "train"
    started = time.perf_counter()
    model.fit(X[training], sets[training].labels[:, classes], Phi[list(classes)])
    return model, time.perf_counter() - started


def score_system(model, X, sets, Phi, roles):
    """Test metrics of a trained system, with its decision threshold chosen on the validation clips."""
    from ..evaluation.metrics import mean_average_precision

    Y_validation = sets["validation"].labels[:, roles["validation"]]
    Y_test = sets["test"].labels[:, roles["test"]]
    validation_scores = model.decision_function(X["validation"], Phi[list(roles["validation"])])
    threshold, validation_f1 = best_threshold(Y_validation, validation_scores)
    validation_map = mean_average_precision(Y_validation, validation_scores)
    segment_scores, _, scores = model.pool(X["test"], Phi[list(roles["test"])])
    result = _metrics(Y_test, scores, scores > threshold)
    hit, chance = peak_hit_rate(segment_scores, Y_test, sets["test"].segment_labels[:, :, roles["test"]])
    result.update(threshold=threshold, validation_map_samples=validation_map, validation_f1=validation_f1,
                  peak_hit_rate=hit, peak_chance=chance)
    return result


def format_table(results):
    """The systems' test metrics as a plain-text table."""
    setup = results["setup"]
    lines = [f"P3 on ESC-50 mixtures: test fold {setup['test_fold']} (unseen classes: "
             f"{', '.join(setup['test_classes'])}), {setup['recipe']}, {setup['n_train']} training clips x "
             f"{setup['n_epochs']} epochs, {setup['n_test']} test clips",
             f"{'system':<12}{'mAP samples':>13}{'mAP classes':>13}{'F1':>8}{'peak hit':>10}{'train s':>9}"]
    for name, r in results["systems"].items():
        peak = "-" if r["peak_hit_rate"] is None else f"{r['peak_hit_rate']:.3f}"
        lines.append(f"{name:<12}{r['map_samples']:>13.3f}{r['map_classes']:>13.3f}{r['f1']:>8.3f}{peak:>10}"
                     f"{r['train_seconds']:>9.1f}")
    chances = [r["peak_chance"] for r in results["systems"].values() if r.get("peak_chance") is not None]
    if chances:
        lines.append(f"peak hit chance level (a random segment): {chances[0]:.3f}")
    return "\n".join(lines)


def format_mean_table(runs):
    """Mean and standard deviation over several runs (e.g. the five test folds) of each system's metrics."""
    lines = [f"Mean ± sd over {len(runs)} runs (test folds {[r['setup']['test_fold'] for r in runs]})",
             f"{'system':<12}{'mAP samples':>15}{'mAP classes':>15}{'F1':>15}{'peak hit':>15}"]
    for name in runs[0]["systems"]:
        cells = []
        for metric in ("map_samples", "map_classes", "f1", "peak_hit_rate"):
            values = [r["systems"][name][metric] for r in runs]
            cells.append("-" if None in values else f"{np.mean(values):.3f} ± {np.std(values):.3f}")
        lines.append(f"{name:<12}" + "".join(f"{cell:>15}" for cell in cells))
    return "\n".join(lines)
