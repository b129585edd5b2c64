"""P3 on soundscapes of short events: attention vs uniform pooling, zero rule, supervised bound, zero-shot SED.

``python -m refzsl.soundscapes`` draws strongly labelled soundscapes
(:mod:`refzsl.datasets.soundscapes`: 0.5-3 s ESC-50 events at -6/0/+6 dB over ESC-50
ambiences), mixes them with scaper, embeds them with YAMNet (the extraction cache), and trains
the four systems of :mod:`refzsl.experiments.multilabel` on them, with that module's model
defaults:

``attention``   :class:`refzsl.models.attention.TemporalAttentionZSL`, softmax over time per class.
``uniform``     the same model with the mean over segments.
``zero-rule``   constant scores, the test soundscapes' own label frequencies (an oracle prior);
                decisions are the k most frequent classes, k chosen on validation soundscapes.
``supervised``  the attention model trained on soundscapes of all event classes (test classes
                seen, other clips): the upper bound.

Protocol (as :mod:`refzsl.experiments.multilabel`, minus the background classes):

- classes: test = one P2 random fold's classes (SPEC §5 Table II) that are not background
  classes; validation = inner fold 0 of :func:`refzsl.experiments.protocols.validation_folds`
  over the other non-background classes; training = the rest. The seven background classes
  (:data:`refzsl.datasets.soundscapes.BACKGROUND_CLASSES`) are never events.
- clips: training soundscapes (events and backgrounds) come from ESC-50 clip folds 1-3,
  validation and test soundscapes from folds 4-5, so no source recording is in both.
- validation soundscapes choose the clip decision threshold (micro-F1) and the SED threshold
  (segment-based F1).

Metrics on the test soundscapes, over the test classes: mAP over samples and over classes,
micro-F1, the peak hit rate (argmax_t of a true class's segment scores falls on a segment the
event overlaps) with its chance level; per event, binned by duration and by event-to-background
ratio: the precision at the event class's rank (what AP averages), the peak hit and whether the
clip score passes the threshold; zero-shot SED from the activity curves
(:func:`refzsl.evaluation.sed.activity_curves`) scored with sed_eval (segment-based F1 on 1 s
segments, event-based F1 with a 200 ms collar).
"""

import sys
import time
from pathlib import Path

import numpy as np

from .multilabel import DEFAULTS as SEQUENCE_DEFAULTS, EVAL_CLIP_FOLDS, SYSTEMS, TRAIN_CLIP_FOLDS, \
    best_threshold, merge_options, micro_f1, peak_hit_rate

__all__ = ["SYSTEMS", "MODEL_OPTIONS", "DEFAULTS", "DURATION_BINS", "class_roles", "soundscape_curves",
           "event_breakdown", "sed_threshold", "run", "format_table", "format_summary", "paired_differences",
           "plot_soundscape"]

#: Model settings shared with the sequence benchmark (chosen there on validation clips).
MODEL_OPTIONS = ("n_components", "similarity", "temperature", "loss", "margin", "learning_rate", "n_epochs",
                 "batch_size", "reg_lambda")
DEFAULTS = dict(test_fold=0, recipe="WLE", seed=0, n_train=1000, n_validation=300, n_test=400, n_supervised=1000,
                allow_overlap=True, **{key: SEQUENCE_DEFAULTS[key] for key in MODEL_OPTIONS})
#: Event-duration bins (seconds, [low, high)) of the breakdown.
DURATION_BINS = ((0.5, 1.0), (1.0, 2.0), (2.0, 3.0 + 1e-9))
# Candidate SED thresholds: quantiles of the validation curves.
_SED_QUANTILES = np.linspace(0.5, 0.999, 60)


def class_roles(class_names, *, test_fold, seed):
    """Training, validation and test event classes, and the background classes, of one fold.

    Returns
    -------
    dict of tuple of int
        ``"train"``, ``"validation"``, ``"test"``, ``"background"``.
    """
    from ..datasets.soundscapes import BACKGROUND_CLASSES
    from .protocols import class_targets, p2_random_splits, validation_folds

    if test_fold not in range(5):
        raise ValueError(f"test_fold must be 0..4 (P2 Table II), got {test_fold!r}")
    background = tuple(sorted(class_targets(BACKGROUND_CLASSES, class_names)))
    split = p2_random_splits(class_names)[test_fold]
    train = tuple(c for c in split.train_classes if c not in background)
    train, validation = validation_folds(train, seed=seed)[0]
    return {"train": train, "validation": validation, "background": background,
            "test": tuple(c for c in split.test_classes if c not in background)}


def soundscape_curves(model, X, class_embeddings):
    """Segment scores, clip scores and activity curves of a fitted attention model.

    The activity curve c_t(y) = T·a_t(y)·s_t(y) (:func:`refzsl.evaluation.sed.activity_curves`)
    is what zero-shot SED thresholds; ``refzsl classify --timeline`` can rank windows by it.

    Returns
    -------
    segment_scores, clip_scores, curves : np.ndarray
        Shapes (n, T, C), (n, C), (n, T, C).
    """
    from ..evaluation.sed import activity_curves

    segment_scores = model.segment_scores(X, class_embeddings)
    attention = model.attention(X, class_embeddings)
    clip_scores = model.decision_function(X, class_embeddings)
    return segment_scores, clip_scores, activity_curves(segment_scores, attention)


def _precision_at_rank(Y, scores):
    """For every true (clip, class): precision of the clip's ranking at that class's rank."""
    Y = np.asarray(Y, bool)
    at_least = scores[:, None, :] >= scores[:, :, None]  # [n, C, C]: class j scored >= class i
    rank = at_least.sum(axis=2)
    true_above = (at_least & Y[:, None, :]).sum(axis=2)
    return true_above / rank


def event_breakdown(soundscapes, *, classes, scores, segment_scores, segment_labels, threshold):
    """Per-event measures, binned by event duration and by event-to-background ratio.

    Parameters
    ----------
    soundscapes : refzsl.datasets.soundscapes.Soundscapes
    classes : sequence of int
        Evaluated classes (columns of ``scores``).
    scores : np.ndarray [shape=(n, C)]
    segment_scores : np.ndarray [shape=(n, T, C)]
    segment_labels : np.ndarray [shape=(n, T, C)], bool
        Strong labels over the evaluated classes.
    threshold : float
        Clip decision threshold.

    Returns
    -------
    dict
        {bin name: {"n_events", "precision_at_rank", "peak_hit", "detected", "peak_chance"}}; bins
        ``"0.5-1 s"``, ``"1-2 s"``, ``"2-3 s"`` and ``"-6 dB"`` ... (one per ratio).
    """
    table = soundscapes.event_table()
    column = {int(c): index for index, c in enumerate(classes)}
    keep = np.array([int(target) in column for target in table["target"]], dtype=bool)
    rows = table["soundscape"][keep]
    cols = np.array([column[int(target)] for target in table["target"][keep]], dtype=np.int64)
    Y = np.zeros(scores.shape, dtype=bool)
    Y[rows, cols] = True
    precision = _precision_at_rank(Y, scores)[rows, cols]
    peaks = np.argmax(segment_scores[rows, :, cols], axis=1)
    hit = segment_labels[rows, peaks, cols]
    chance = segment_labels[rows, :, cols].mean(axis=1)
    detected = scores[rows, cols] > threshold
    durations, ratios = table["duration_seconds"][keep], table["ebr_db"][keep]
    bins = {f"{low:g}-{min(high, 3.0):g} s": (durations >= low) & (durations < high) for low, high in DURATION_BINS}
    bins.update({f"{ratio:+g} dB": ratios == ratio for ratio in np.unique(ratios)})
    return {name: {"n_events": int(mask.sum()),
                   "precision_at_rank": float(precision[mask].mean()) if mask.any() else None,
                   "peak_hit": float(hit[mask].mean()) if mask.any() else None,
                   "detected": float(detected[mask].mean()) if mask.any() else None,
                   "peak_chance": float(chance[mask].mean()) if mask.any() else None}
            for name, mask in bins.items()}


def sed_threshold(curves, reference, *, starts, ends, class_names):
    """The threshold on activity curves that maximises segment-based F1 (1 s) on validation soundscapes.

    Candidates are quantiles 0.5-0.999 of the curve values.

    Returns
    -------
    threshold : float
    f1 : float
    """
    from ..evaluation.sed import curves_to_events, segment_f1

    best = (-1.0, None)
    for threshold in np.unique(np.quantile(curves, _SED_QUANTILES)):
        estimated = curves_to_events(curves, threshold, starts=starts, ends=ends, class_names=class_names)
        f1 = segment_f1(reference, estimated, class_names=class_names)
        if f1 > best[0]:
            best = (f1, float(threshold))
    return best[1], best[0]


def _zero_rule(Y_validation, Y_test):
    """Constant scores (the test label frequencies) and the k most frequent classes, k chosen on validation."""
    from ..evaluation.metrics import class_average_precision, mean_average_precision

    def top_k(Y, k):
        decisions = np.zeros_like(Y, dtype=bool)
        decisions[:, np.argsort(-Y.mean(axis=0), kind="mergesort")[:k]] = True
        return decisions

    k = max(range(1, Y_validation.shape[1] + 1), key=lambda k: (micro_f1(Y_validation, top_k(Y_validation, k)), -k))
    scores = np.tile(Y_test.mean(axis=0), (Y_test.shape[0], 1))
    return {"map_samples": mean_average_precision(Y_test, scores), "map_classes": class_average_precision(Y_test, scores),
            "f1": micro_f1(Y_test, top_k(Y_test, k)), "top_k": k, "peak_hit_rate": None, "train_seconds": 0.0}


def _load_dataset(root, recipe):
    from ..datasets.esc50 import ESC50
    from ..semantic.recipes import ESC50_WORD_FALLBACK, class_embeddings

    dataset = ESC50(root).verify()
    Phi = class_embeddings(list(dataset.class_names), recipe, root=root, fallback=ESC50_WORD_FALLBACK)
    return dataset, np.asarray(Phi, dtype=np.float32)


def _clip_spans(dataset, folder, top_db):
    """Active span and duration of every ESC-50 clip (librosa.effects.trim at the file's rate), cached as .npz."""
    import soundfile

    from .._util.files import atomic_write, file_fingerprint
    from ..datasets.soundscapes import active_spans

    cache = folder / f"spans-top{top_db:g}.npz"
    fingerprint = np.array([file_fingerprint(path) for path in dataset.paths])
    if cache.exists():
        with np.load(cache) as stored:
            if np.array_equal(stored["fingerprints"], fingerprint):
                return stored["spans"], stored["seconds"]
    spans, seconds = np.zeros((len(dataset), 2)), np.zeros(len(dataset))
    for index, path in enumerate(dataset.paths):
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        spans[index] = active_spans([samples.mean(axis=1)], sample_rate_hz=rate, top_db=top_db)[0]
        seconds[index] = samples.shape[0] / rate
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(cache, lambda stream: np.savez(stream, spans=spans, seconds=seconds, fingerprints=fingerprint))
    return spans, seconds


def run(*, root=None, folder=None, systems=SYSTEMS, progress=False, keep_curves=False, workers=1, **options):
    """Generate the soundscapes, train the systems, and evaluate clip tagging and zero-shot SED.

    Parameters
    ----------
    root : str or Path, optional
        Data root (ESC-50, YAMNet, word vectors; default ``REFZSL_DATA``).
    folder : str or Path, optional
        Where sources, soundscapes and the span table are kept (default
        ``config.cache_dir() / "soundscapes"``). Embeddings go to the extraction cache.
    systems : sequence of str in SYSTEMS
    progress : bool
    keep_curves : bool
        Also return the test soundscapes and every system's test curves (for plotting).
    workers : int >= 1
        Extraction processes.
    **options
        Keys of :data:`DEFAULTS`.

    Returns
    -------
    dict
        ``"setup"``, ``"systems"`` ({name: metrics as :func:`refzsl.experiments.multilabel.run`, plus
        ``"breakdown"`` and ``"sed"``}), ``"timing"`` (seconds to draw and mix, to extract, to train
        and evaluate), and with ``keep_curves`` ``"test"`` (the test Soundscapes), ``"curves"`` ({system:
        test activity curves (n, T, C)}), ``"class_names"`` (all classes) and ``"segment_starts"``,
        ``"segment_ends"``.

    Raises
    ------
    ValueError
        For unknown options or systems.
    """
    from ..acoustic.extraction import extract_files
    from ..audio.params import YAMNET
    from ..config import cache_dir
    from ..datasets.soundscapes import SoundscapeRecipe, Soundscapes, draw_soundscapes, mix_soundscapes
    from ..evaluation.metrics import class_average_precision, mean_average_precision
    from ..evaluation.sed import curves_to_events, sed_eval_scores, segment_spans
    from ..models.attention import TemporalAttentionZSL

    settings = merge_options(options, systems, DEFAULTS)

    def say(message):
        if progress:
            print(message, file=sys.stderr, flush=True)

    folder = Path(folder) if folder is not None else cache_dir() / "soundscapes"
    started = time.perf_counter()
    dataset, Phi = _load_dataset(root, settings["recipe"])
    names = dataset.class_names
    roles = class_roles(names, test_fold=settings["test_fold"], seed=settings["seed"])
    recipe = SoundscapeRecipe(allow_overlap=settings["allow_overlap"])
    say("active spans of the ESC-50 clips")
    spans, seconds = _clip_spans(dataset, folder, recipe.trim_top_db)
    targets, folds = dataset.targets, dataset.folds
    all_events = roles["train"] + roles["validation"] + roles["test"]

    def clips(classes, clip_folds):
        return np.flatnonzero(np.isin(targets, classes) & np.isin(folds, clip_folds))

    seeds = np.random.SeedSequence(settings["seed"]).spawn(5)
    model_seed = int(seeds[4].generate_state(1)[0])
    plan = {"train": (roles["train"], TRAIN_CLIP_FOLDS, settings["n_train"], seeds[0]),
            "validation": (roles["validation"], EVAL_CLIP_FOLDS, settings["n_validation"], seeds[1]),
            "test": (roles["test"], EVAL_CLIP_FOLDS, settings["n_test"], seeds[2])}
    if "supervised" in systems:
        plan["supervised"] = (all_events, TRAIN_CLIP_FOLDS, settings["n_supervised"], seeds[3])
    sets = {}
    for name, (classes, clip_folds, n, seed) in plan.items():
        specs = draw_soundscapes(n, targets=targets, event_clips=clips(classes, clip_folds),
                                 background_clips=clips(roles["background"], clip_folds), spans=spans,
                                 clip_seconds=seconds, recipe=recipe, random_state=seed)
        say(f"mixing {n} {name} soundscapes")
        sets[name] = mix_soundscapes(Soundscapes(specs, n_classes=len(names), recipe=recipe), paths=dataset.paths,
                                     clip_ids=dataset.clip_ids, class_names=names, folder=folder,
                                     seed=settings["seed"], progress=progress)
    mixed = time.perf_counter()
    X = {}
    for name, soundscapes in sets.items():
        say(f"embedding the {name} soundscapes")
        features = extract_files(soundscapes.audio_paths, clip_ids=[path.stem for path in soundscapes.audio_paths],
                                 root=root, workers=workers, progress=progress)
        X[name] = np.stack(features.segment_embeddings)
    extracted = time.perf_counter()

    n_segments = X["test"].shape[1]
    starts, ends = segment_spans(n_segments, hop_seconds=YAMNET.patch_hop_seconds,
                                 window_seconds=YAMNET.patch_window_seconds, duration_seconds=recipe.duration_seconds)
    validation_classes, test_classes = list(roles["validation"]), list(roles["test"])
    Y_validation = sets["validation"].labels[:, validation_classes]
    Y_test = sets["test"].labels[:, test_classes]
    strong_test = sets["test"].segment_labels(starts, ends)[:, :, test_classes]
    reference = {name: sets[name].reference_events(names) for name in ("validation", "test")}
    test_names = [names[c] for c in test_classes]
    validation_names = [names[c] for c in validation_classes]

    model_options = {key: settings[key] for key in MODEL_OPTIONS}
    results, curves = {}, {}
    for name in systems:
        if name == "zero-rule":
            results[name] = _zero_rule(Y_validation, Y_test)
            continue
        say(f"training {name}")
        model = TemporalAttentionZSL(pooling="uniform" if name == "uniform" else "attention",
                                     random_state=model_seed, **model_options)
        classes = list(all_events) if name == "supervised" else list(roles["train"])
        training = "supervised" if name == "supervised" else "train"
        fit_started = time.perf_counter()
        model.fit(X[training], sets[training].labels[:, classes], Phi[classes])
        train_seconds = time.perf_counter() - fit_started
        _, validation_scores, validation_curves = soundscape_curves(model, X["validation"], Phi[validation_classes])
        threshold, validation_f1 = best_threshold(Y_validation, validation_scores)
        segment_scores, scores, test_curves = soundscape_curves(model, X["test"], Phi[test_classes])
        hit, chance = peak_hit_rate(segment_scores, Y_test, strong_test)
        sed_cut, validation_sed_f1 = sed_threshold(validation_curves, reference["validation"], starts=starts,
                                                   ends=ends, class_names=validation_names)
        estimated = curves_to_events(test_curves, sed_cut, starts=starts, ends=ends, class_names=test_names)
        sed = sed_eval_scores(reference["test"], estimated, class_names=test_names)
        sed.update(threshold=sed_cut, validation_segment_f1=validation_sed_f1)
        results[name] = {
            "map_samples": mean_average_precision(Y_test, scores), "map_classes": class_average_precision(Y_test, scores),
            "f1": micro_f1(Y_test, scores > threshold), "peak_hit_rate": hit, "peak_chance": chance,
            "threshold": threshold, "validation_map_samples": mean_average_precision(Y_validation, validation_scores),
            "validation_f1": validation_f1, "train_seconds": train_seconds, "final_loss": model.loss_curve_[-1],
            "breakdown": event_breakdown(sets["test"], classes=test_classes, scores=scores,
                                         segment_scores=segment_scores, segment_labels=strong_test,
                                         threshold=threshold),
            "sed": sed}
        curves[name] = test_curves
        say(f"{name}: mAP {results[name]['map_samples']:.3f}, segment F1 {sed['segment_f1']:.3f}, "
            f"trained in {train_seconds:.1f} s")
    setup = {**settings, "recipe_soundscapes": {key: getattr(recipe, key) for key in recipe.__dataclass_fields__},
             "n_segments": int(n_segments), **{f"{role}_classes": [names[c] for c in classes]
                                               for role, classes in roles.items()}}
    output = {"setup": setup, "systems": results,
              "timing": {"draw_and_mix_seconds": mixed - started, "extract_seconds": extracted - mixed,
                         "train_and_evaluate_seconds": time.perf_counter() - extracted}}
    if keep_curves:
        output.update(test=sets["test"], curves=curves, class_names=names,
                      segment_starts=starts, segment_ends=ends)
    return output


def format_table(results):
    """One run's test metrics, SED scores and breakdown as plain text."""
    setup = results["setup"]
    lines = [f"P3 on soundscapes: test fold {setup['test_fold']} (unseen: {', '.join(setup['test_classes'])}), "
             f"seed {setup['seed']}, {setup['n_train']} training / {setup['n_test']} test soundscapes",
             f"{'system':<12}{'mAP samples':>13}{'mAP classes':>13}{'F1':>8}{'peak hit':>10}{'seg F1':>8}"
             f"{'event F1':>10}{'train s':>9}"]
    for name, r in results["systems"].items():
        peak = "-" if r["peak_hit_rate"] is None else f"{r['peak_hit_rate']:.3f}"
        sed = r.get("sed")
        segment, event = (f"{sed['segment_f1']:.3f}", f"{sed['event_f1']:.3f}") if sed else ("-", "-")
        lines.append(f"{name:<12}{r['map_samples']:>13.3f}{r['map_classes']:>13.3f}{r['f1']:>8.3f}{peak:>10}"
                     f"{segment:>8}{event:>10}{r['train_seconds']:>9.1f}")
    chances = [r["peak_chance"] for r in results["systems"].values() if r.get("peak_chance") is not None]
    if chances:
        lines.append(f"peak hit chance level: {chances[0]:.3f}")
    trained = [name for name, r in results["systems"].items() if "breakdown" in r]
    if trained:
        lines.append("breakdown (precision at the event's rank / peak hit / detected):")
        first = results["systems"][trained[0]]["breakdown"]
        for bin_name in first:
            cells = []
            for name in trained:
                b = results["systems"][name]["breakdown"][bin_name]
                cells.append("-" if b["n_events"] == 0 else
                             f"{name} {b['precision_at_rank']:.3f}/{b['peak_hit']:.3f}/{b['detected']:.3f}")
            lines.append(f"  {bin_name:<8} n={first[bin_name]['n_events']:<4} " + "  ".join(cells))
    timing = results["timing"]
    lines.append(f"time: draw+mix {timing['draw_and_mix_seconds']:.0f} s, extract {timing['extract_seconds']:.0f} s, "
                 f"train+evaluate {timing['train_and_evaluate_seconds']:.0f} s")
    return "\n".join(lines)


def _metric_paths(result):
    """(label, value) of every scalar compared across runs for one system's results."""
    values = [(key, result.get(key)) for key in ("map_samples", "map_classes", "f1", "peak_hit_rate")]
    if "sed" in result:
        values += [(f"sed {key}", result["sed"][key]) for key in ("segment_f1", "event_f1")]
    for bin_name, b in result.get("breakdown", {}).items():
        values += [(f"{bin_name} {key}", b[key]) for key in ("precision_at_rank", "peak_hit", "detected")]
    return values


def paired_differences(runs, first="attention", second="uniform"):
    """Per-run differences first − second of every metric, with their mean and sd over runs.

    Returns
    -------
    dict
        {metric: {"mean", "sd", "values", "n_positive"}}
    """
    differences = {}
    for result in runs:
        a, b = dict(_metric_paths(result["systems"][first])), dict(_metric_paths(result["systems"][second]))
        for key, value in a.items():
            if value is not None and b.get(key) is not None:
                differences.setdefault(key, []).append(value - b[key])
    return {key: {"mean": float(np.mean(v)), "sd": float(np.std(v)), "values": v,
                  "n_positive": int(np.sum(np.array(v) > 0))} for key, v in differences.items()}


def format_summary(runs):
    """Mean ± sd over runs of each system's metrics, and the paired attention − uniform differences."""
    lines = [f"Mean ± sd over {len(runs)} runs (fold, seed): "
             f"{[(r['setup']['test_fold'], r['setup']['seed']) for r in runs]}"]
    for name in runs[0]["systems"]:
        metrics = {}
        for result in runs:
            for key, value in _metric_paths(result["systems"][name]):
                metrics.setdefault(key, []).append(value)
        cells = [f"{key} {np.mean(v):.3f} ± {np.std(v):.3f}" for key, v in metrics.items() if None not in v]
        lines.append(f"{name}: " + "; ".join(cells))
    if all(name in runs[0]["systems"] for name in ("attention", "uniform")):
        lines.append("attention − uniform (paired):")
        for key, d in paired_differences(runs).items():
            lines.append(f"  {key:<32} {d['mean']:+.3f} ± {d['sd']:.3f}  (> 0 in {d['n_positive']}/{len(runs)})")
    return "\n".join(lines)


def plot_soundscape(path, *, waveform, sample_rate_hz, reference, curves, thresholds, class_names, starts, ends,
                    title=None):
    """Write a figure of one soundscape: log-mel spectrogram, reference events, activity curves per system.

    Parameters
    ----------
    path : str or Path
        Output image (format from the suffix, e.g. ``.png``).
    waveform : np.ndarray [shape=(n,)]
        Mono samples at ``sample_rate_hz`` (16 kHz: the YAMNet front end draws the spectrogram).
    reference : list of (onset, offset, class name)
    curves : dict {system: np.ndarray [shape=(T, C)]}
        Activity curves of the soundscape for the classes ``class_names``.
    thresholds : dict {system: float}
        SED thresholds, drawn as dashed lines.
    class_names : sequence of str [length C]
    starts, ends : np.ndarray [shape=(T,)]
        Span of every segment (:func:`refzsl.evaluation.sed.segment_spans`).
    title : str, optional

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..audio.frontend import log_mel_spectrogram
    from ..audio.params import YAMNET

    if sample_rate_hz != YAMNET.sample_rate_hz:
        raise ValueError(f"plot_soundscape draws 16 kHz audio (YAMNet's front end), got {sample_rate_hz} Hz")
    log_mel = log_mel_spectrogram(np.asarray(waveform, dtype=np.float64), params=YAMNET)
    duration = len(waveform) / sample_rate_hz
    shown = sorted({label for _, _, label in reference}, key=list(class_names).index)
    colours = plt.get_cmap("tab10")
    colour = {name: colours(index % 10) for index, name in enumerate(class_names)}
    figure, axes = plt.subplots(2 + len(curves), 1, figsize=(10, 3 + 1.8 * (1 + len(curves))), sharex=True,
                                gridspec_kw={"height_ratios": [3, 1] + [2] * len(curves)})
    axes[0].imshow(log_mel.T, origin="lower", aspect="auto", extent=(0, duration, 0, log_mel.shape[1]), cmap="magma")
    axes[0].set_ylabel("mel band")
    axes[0].set_title(title or "soundscape")
    for row, name in enumerate(shown):
        for onset, offset, label in reference:
            if label == name:
                axes[1].barh(row, offset - onset, left=onset, color=colour[name], height=0.7)
    axes[1].set_yticks(range(len(shown)), shown)
    axes[1].set_ylim(-0.6, max(len(shown), 1) - 0.4)
    axes[1].set_ylabel("reference")
    # Each segment's value is drawn over the span it stands for, so the curves line up with the events.
    edges = np.append(np.asarray(starts, dtype=np.float64), ends[-1])
    for axis, (system, system_curves) in zip(axes[2:], curves.items()):
        others = False
        for index, name in enumerate(class_names):
            if name in shown:
                axis.stairs(system_curves[:, index], edges, color=colour[name], linewidth=2.0, label=name)
            else:
                axis.stairs(system_curves[:, index], edges, color=colour[name], linewidth=0.8, alpha=0.5,
                            label=None if others else "other candidate classes")
                others = True
        if system in thresholds:
            axis.axhline(thresholds[system], color="black", linestyle="--", linewidth=1)
        axis.set_ylabel(f"{system}\nc_t(y)")
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, duration)
    handles, labels = axes[2].get_legend_handles_labels() if len(axes) > 2 else ([], [])
    if handles:
        axes[2].legend(handles, labels, loc="upper right", fontsize="small")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
