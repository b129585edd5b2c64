"""``python -m refzsl.openset``: open-vocabulary zero-shot on ESC-50 from YAMNet's AudioSet knowledge.

Two parts, both free of ESC-50 labels until the final test:

1. **Selection without ESC-50** (:func:`select_settings`, ``--select``). Held-out AudioSet
   classes play the unseen labels. Each draw hides ``n_held_out`` of YAMNet's 521 classes and
   makes one pseudo-clip per hidden class that fires like real audio: the class, its ontology
   ancestors and co-occurring context, with strengths fitted on real non-ESC-50 recordings
   (:mod:`refzsl.experiments.pseudo_clips`). Two regimes are averaged: the hidden classes masked
   from ConSE and from the bilinear's training ("unseen"), or available ("seen", as "dog" is for
   YAMNet). Chosen by mean Top-1: the recipe, T, the pooling (mean, max, top-3 mean), the CSLS
   hubness correction's K, the bilinear's learning rate, epochs and K, the fusion weight, and the
   "none of these" threshold (on candidate sets of 3-8 hidden names, half without the clip's own).
2. **Evaluation on ESC-50** (:func:`evaluate_esc50`), for reporting only: 50-way over all 2000
   clips, "none of these" precision / recall on ESC-50 candidate sets, and P2's random-strategy
   folds (10-way per fold, beside the bilinear model trained on the other four folds by
   :func:`refzsl.experiments.esc50.run_esc50`), for every method, with published
   open-vocabulary results beside and the method ``refzsl classify`` uses marked ``(default)``.

Layers as :mod:`refzsl.esc50`: :func:`build_parser`, :func:`run` (returns a dict),
:func:`format_results`, :func:`main`.
"""

import json
import time
import warnings
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..models import conse
from . import pseudo_clips
from ..evaluation.metrics import mean_average_precision, top1_accuracy, top_k_accuracy
from .._util.progress import StepLog

__all__ = [
    "PUBLISHED_ESC50",
    "SELECTION_RECIPES",
    "default_recordings",
    "rejection_threshold",
    "rejection_metrics",
    "select_settings",
    "DEFAULT_ROW",
    "evaluate_esc50",
    "format_results",
]

#: Published zero-shot ESC-50 50-way Top-1 of open-vocabulary audio-text models (their papers).
#: Like YAMNet, they were trained on data overlapping ESC-50's Freesound sources.
PUBLISHED_ESC50 = {"Wav2CLIP": 0.414, "AudioCLIP": 0.694, "MS-CLAP 2022": 0.826}

#: Recipes compared by :func:`select_settings`: (recipe, sentence_text).
SELECTION_RECIPES = (("WLE", "name"), ("GLE", "name"), ("WLE+GLE", "name"), ("BSE", "name"),
                     ("BSE", "description"), ("WLE+BSE", "name"), ("WLE+GLE+BSE", "name"))




def _visible(covered, hidden):
    """The classes a draw lets ConSE combine and the prototype-bilinear train on: covered, not hidden."""
    visible = covered.copy()
    visible[hidden] = False
    return visible


def _draws(covered, *, n_draws, n_held_out, seed):
    pool = np.flatnonzero(covered)
    if n_held_out < 2 or n_held_out >= pool.size:
        raise ValueError(f"n_held_out must be in [2, {pool.size - 1}], got {n_held_out}")
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(pool, n_held_out, replace=False)) for _ in range(n_draws)]


def default_recordings():
    """Non-ESC-50 recordings the strengths are fitted on: the freedesktop theme and the espeak fixtures.

    The fixtures are found in a source checkout (``reference_tests/fixtures``); the freedesktop
    sounds where Debian's ``sound-theme-freedesktop`` installs them.
    """
    fixtures = Path(__file__).resolve().parents[2] / "reference_tests" / "fixtures"
    return pseudo_clips.reference_recordings(fixtures if fixtures.is_dir() else None)


def _reference_audio(recordings, root):
    """(ScoreStatistics, context patch embeddings, ancestors) from real non-ESC-50 recordings."""
    from ..acoustic.extraction import extract_files
    from ..semantic.ontology import yamnet_ancestors
    recordings = default_recordings() if recordings is None else list(recordings)
    if not recordings:
        raise ValueError("No reference recordings to fit the pseudo-clips on: install sound-theme-freedesktop "
                         "(/usr/share/sounds/freedesktop) or pass recordings=[...]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # interface sounds shorter than a patch are padded
        features = extract_files(recordings, root=root, short_policy="pad")
    ancestors = yamnet_ancestors(root=root)
    statistics = pseudo_clips.fit_score_statistics(features.segment_scores, ancestors)
    return statistics, np.concatenate(features.segment_embeddings).astype(np.float64), ancestors


def _candidate_sets(truth, n_labels, rng, *, sizes=(3, 8)):
    """Per clip, a candidate label set of 3-8 labels; every second clip's set lacks its own label.

    Returns (list of label index arrays, bool array: the clip's label is absent).
    """
    sets, absent = [], np.zeros(truth.size, dtype=bool)
    for position, label in enumerate(truth):
        size = int(rng.integers(sizes[0], sizes[1] + 1))
        others = rng.choice(np.setdiff1d(np.arange(n_labels), [label]), size - 1 + position % 2, replace=False)
        absent[position] = position % 2 == 1
        sets.append(others if absent[position] else np.append(others, label))
    return sets, absent


def rejection_threshold(best_scores, absent):
    """The threshold on the best candidate's score that classifies "none fits" most accurately.

    Parameters
    ----------
    best_scores : array-like [n]
        Best ConSE score among each case's candidates.
    absent : bool array [n]
        True where the case's own label was not a candidate.

    Returns
    -------
    float
        Midpoint between two neighbouring sorted scores (ties: the lowest best threshold).
    """
    best_scores, absent = np.asarray(best_scores, dtype=np.float64), np.asarray(absent, dtype=bool)
    ordered = np.sort(np.unique(best_scores))
    candidates = np.concatenate([[ordered[0] - 1e-6], (ordered[1:] + ordered[:-1]) / 2, [ordered[-1] + 1e-6]])
    accuracy = [np.mean((best_scores < threshold) == absent) for threshold in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def rejection_metrics(best_scores, absent, threshold):
    """Precision and recall of "none of these" (rejected when the best score < threshold)."""
    rejected = np.asarray(best_scores) < threshold
    absent = np.asarray(absent, dtype=bool)
    hits = float(np.sum(rejected & absent))
    return {"precision": hits / rejected.sum() if rejected.any() else None,
            "recall": hits / absent.sum() if absent.any() else None,
            "accuracy": float(np.mean(rejected == absent)), "n_cases": int(absent.size)}


def select_settings(*, root=None, recipes=SELECTION_RECIPES, n_tops=(1, 2, 3, 5, 7, 10),
                    poolings=("mean", "max", "top3"),
                    n_neighbours=(0, 5, 10, 25), learning_rates=(0.03, 0.1, 0.3), n_epochs=(20,),
                    bilinear_neighbours=(0, 5, 25), fusion_weights=tuple(np.round(np.linspace(0.0, 1.0, 11), 2)),
                    n_draws=8, n_held_out=50, recordings=None, seed=0, progress=False):
    """Choose every open-vocabulary setting on ontology-following pseudo-clips; ESC-50 is never read.

    Each draw hides ``n_held_out`` YAMNet classes and makes one pseudo-clip per hidden class
    (:func:`refzsl.experiments.pseudo_clips.make_pseudo_clips`, strengths fitted on ``recordings``).
    The hidden classes' names are the candidate labels. Two regimes are averaged:

    * ``unseen``: the hidden classes are masked from ConSE's top T and from the hubness reference,
      and the prototype bilinear is trained without them (labels no AudioSet class names);
    * ``seen``: every class is available (a user's label names a class YAMNet knows, as "dog" does).

    Parameters
    ----------
    root : str or Path, optional
        Data root (YAMNet, class map, ontology, word vectors).
    recipes : sequence of (recipe, sentence_text)
    n_tops, poolings, n_neighbours : sequences
        ConSE's T, clip pooling (:data:`refzsl.models.conse.POOLINGS` but "embedding") and CSLS K (0: none).
    learning_rates, n_epochs, bilinear_neighbours : sequences
        Grid of the prototype bilinear (trained with the chosen recipe).
    fusion_weights : sequence of float in [0, 1]
        Weight of ConSE; the bilinear gets 1 − weight.
    n_draws : int >= 1
    n_held_out : int >= 2
        Hidden classes per draw (50, as ESC-50's 50-way task).
    recordings : sequence of paths, optional
        Real non-ESC-50 recordings for the strengths (default :func:`default_recordings`).
    seed : int

    Returns
    -------
    dict
        ``conse`` rows (recipe, sentence_text, n_top, pooling, n_neighbours, top1_unseen, top1_seen, top1),
        ``bilinear`` rows (learning_rate, n_epochs, n_neighbours, top1_unseen, top1_seen, top1),
        ``fusion`` rows (weight, top1_unseen, top1_seen, top1), ``none_of_these`` (threshold and its
        validation precision / recall), ``statistics`` (quartiles of the fitted strengths),
        ``best`` (keys of :data:`refzsl.models.conse.DEFAULTS`) and ``scheme``.
    """
    say = StepLog("openset", enabled=progress)
    from ..acoustic.embedders import YAMNet
    weights, bias = (np.asarray(array, dtype=np.float64) for array in YAMNet(root=root).classifier_weights())
    statistics, context, ancestors = _reference_audio(recordings, root)
    say(f"strengths fitted on {statistics.n_recordings} recordings: {statistics.quartiles()}")
    vocabularies = {(recipe, text): conse.audioset_vocabulary(recipe, sentence_text=text, root=root)
                    for recipe, text in recipes}
    # The hidden classes are candidate *labels*: embedded from their names only, as free text is.
    as_labels = {recipe: np.asarray(conse.audioset_vocabulary(recipe, sentence_text="name", root=root).embeddings,
                                    np.float64) for recipe in {recipe for recipe, _ in recipes}}
    covered = np.logical_and.reduce([v.covered for v in vocabularies.values()])
    draws = _draws(covered, n_draws=n_draws, n_held_out=n_held_out, seed=seed)
    truth = np.arange(n_held_out)
    clips = []
    for number, hidden in enumerate(draws):
        made = pseudo_clips.make_pseudo_clips(hidden, weights, bias, statistics, context, ancestors,
                                              seed=seed * 1000 + number)
        clips.append({"embeddings": made.clip_embeddings,
                      "pooled": {p: conse.pool_patch_scores(made.segment_scores, p) for p in poolings}})
        say(f"pseudo-clips of draw {number + 1}/{n_draws} made")
    regimes = {"unseen": lambda vocabulary, hidden: _visible(vocabulary.covered, hidden),
               "seen": lambda vocabulary, hidden: vocabulary.covered}

    def conse_scores(vocabulary, settings, draw, regime):
        n_top, pooling, n_neighbours = settings
        hidden = draws[draw]
        return conse.ConSE(n_top=n_top, n_neighbours=n_neighbours).decision_function(
            clips[draw]["pooled"][pooling], vocabulary.embeddings, as_labels[vocabulary.recipe][hidden],
            covered=regimes[regime](vocabulary, hidden))

    def summary(runs):
        row = {f"top1_{regime}": float(np.mean([top1_accuracy(truth, s) for s in runs[regime]]))
               for regime in regimes}
        row["top1"] = float(np.mean(list(row.values())))
        return row

    conse_rows = []
    for (recipe, text), vocabulary in vocabularies.items():
        for n_top in n_tops:
            for pooling in poolings:
                for k in n_neighbours:
                    runs = {regime: [conse_scores(vocabulary, (n_top, pooling, k), d, regime)
                                     for d in range(n_draws)] for regime in regimes}
                    conse_rows.append({"recipe": recipe, "sentence_text": text, "n_top": int(n_top),
                                       "pooling": pooling, "n_neighbours": int(k), **summary(runs)})
        say(f"ConSE {recipe} ({text}) done")
    best_conse = max(conse_rows, key=lambda row: row["top1"])
    vocabulary = vocabularies[(best_conse["recipe"], best_conse["sentence_text"])]
    chosen_conse = (best_conse["n_top"], best_conse["pooling"], best_conse["n_neighbours"])
    phi = np.asarray(vocabulary.embeddings, dtype=np.float64)

    bilinear_rows, bilinear_runs = [], {}
    for learning_rate in learning_rates:
        for epochs in n_epochs:
            def fitted(visible):
                return conse.PrototypeBilinear(learning_rate=learning_rate, n_epochs=int(epochs),
                                               random_state=seed).fit(weights.T[visible], phi[visible])
            seen_model = fitted(vocabulary.covered)
            models = {"unseen": [fitted(_visible(vocabulary.covered, hidden)) for hidden in draws],
                      "seen": [seen_model] * n_draws}
            for k in bilinear_neighbours:
                runs = {}
                for regime, regime_models in models.items():
                    runs[regime] = []
                    for draw, model in enumerate(regime_models):
                        model.n_neighbours = int(k)
                        runs[regime].append(model.decision_function(
                            clips[draw]["embeddings"], as_labels[vocabulary.recipe][draws[draw]]))
                bilinear_runs[(learning_rate, epochs, k)] = runs
                bilinear_rows.append({"learning_rate": float(learning_rate), "n_epochs": int(epochs),
                                      "n_neighbours": int(k), **summary(runs)})
            say(f"prototype bilinear η={learning_rate} epochs={epochs} done")
    best_bilinear = max(bilinear_rows, key=lambda row: row["top1"])
    chosen_bilinear = bilinear_runs[(best_bilinear["learning_rate"], best_bilinear["n_epochs"],
                                     best_bilinear["n_neighbours"])]

    conse_runs = {regime: [conse_scores(vocabulary, chosen_conse, d, regime) for d in range(n_draws)]
                  for regime in regimes}
    fusion_rows = []
    for weight in fusion_weights:
        fused = {regime: [conse.fuse_scores([a, b], [weight, 1.0 - weight])
                          for a, b in zip(conse_runs[regime], chosen_bilinear[regime])] for regime in regimes}
        fusion_rows.append({"weight": float(weight), **summary(fused)})
    best_fusion = max(fusion_rows, key=lambda row: row["top1"])

    # "None of these": candidate sets of 3-8 hidden names, every second one without the clip's own name.
    rng = np.random.default_rng(seed)
    best_scores, absent = [], []
    for regime in regimes:
        for scores in conse_runs[regime]:
            sets, lacking = _candidate_sets(truth, n_held_out, rng)
            best_scores += [scores[clip, labels].max() for clip, labels in enumerate(sets)]
            absent += list(lacking)
    threshold = rejection_threshold(best_scores, absent)
    rejection = {"threshold": threshold, **rejection_metrics(best_scores, absent, threshold)}

    best = {"recipe": best_conse["recipe"], "sentence_text": best_conse["sentence_text"],
            "n_top": best_conse["n_top"], "pooling": best_conse["pooling"],
            "n_neighbours": best_conse["n_neighbours"], "learning_rate": best_bilinear["learning_rate"],
            "n_epochs": best_bilinear["n_epochs"], "bilinear_n_neighbours": best_bilinear["n_neighbours"],
            "fusion_weight": best_fusion["weight"], "none_threshold": round(threshold, 4)}
    return {"conse": conse_rows, "bilinear": bilinear_rows, "fusion": fusion_rows, "none_of_these": rejection,
            "best": best, "statistics": {**statistics.quartiles(), "n_recordings": statistics.n_recordings,
                                         "n_event_patches": int(statistics.class_logits.size)},
            "scheme": {"n_draws": n_draws, "n_held_out": n_held_out, "seed": seed,
                       "n_candidates": int(covered.sum())}}


def _metrics(y_true, scores):
    return {"top1": top1_accuracy(y_true, scores), "top5": top_k_accuracy(y_true, scores, 5)
            if scores.shape[1] >= 5 else None, "map": mean_average_precision(y_true, scores)}


#: The row of :func:`evaluate_esc50` that ``refzsl classify`` uses by default (its ``DEFAULT_METHOD``).
DEFAULT_ROW = "conse"

#: Issue 7's blind choice on the first proxy (YAMNet's classifier columns as pseudo-clips): printed
#: beside the new choice so the change can be judged.
FIRST_PROXY_SETTINGS = MappingProxyType({"n_top": 2, "pooling": "mean", "n_neighbours": 0})

#: The issue's example of "none of these": a dog recording against labels that do not fit.
UNFITTING_EXAMPLE = ("dog", ("siren", "rain", "engine"))


def _esc50_class_scores(features, pack, poolings):
    """{pooling: clip-level class scores} of ESC-50 in the pack's clip order."""
    if list(features.clip_ids) != [str(clip) for clip in pack.clip_ids]:
        raise ValueError("features must hold ESC-50's 2000 clips in meta/esc50.csv order")
    return {pooling: conse.pool_patch_scores(features.segment_scores, pooling) for pooling in poolings}


def evaluate_esc50(*, root=None, n_tops=(1, 3, 5, 10), settings=None, features=None, p2=True, seed=0,
                   progress=False):
    """ESC-50 50-way, "none of these" and P2 random folds for every open-vocabulary method.

    Reporting only: nothing here feeds back into a setting.

    Parameters
    ----------
    root : str or Path, optional
        Data root (word vectors, ontology, YAMNet; ESC-50 audio when ``features`` is None).
    n_tops : sequence of int
        ConSE's T values reported beside the chosen one (with the chosen pooling and K).
    settings : dict, optional
        Overrides of :data:`refzsl.models.conse.DEFAULTS`.
    features : refzsl.extract.Features, optional
        ESC-50 YAMNet features with per-patch scores in ``meta/esc50.csv`` order (default:
        extracted from the data root's audio, cached).
    p2 : bool
        Also run P2's random-strategy folds, with the ESC-50-trained bilinear beside.
    seed : int
        Seed of the bilinear's sample order and of the candidate sets of "none of these".

    Returns
    -------
    dict with ``settings``, ``default`` (:data:`DEFAULT_ROW`), ``esc50_50way`` (method -> metrics),
    ``none_of_these`` (precision / recall on ESC-50 candidate sets, and the issue's example),
    ``p2_random`` (method -> per-fold and mean metrics), ``published``, ``timing_seconds``.
    """
    say = StepLog("openset", enabled=progress)
    from ..datasets.pack import load_pack
    from ..semantic.recipes import ESC50_WORD_FALLBACK
    started = time.perf_counter()
    settings = {**conse.DEFAULTS, **(settings or {})}
    pack = load_pack()
    targets, class_names = np.asarray(pack.targets), [str(name) for name in pack.class_names]
    if features is None:
        from ..datasets.esc50 import extract_esc50
        features = extract_esc50(root=root, progress=progress)
    class_scores = _esc50_class_scores(features, pack, {settings["pooling"], FIRST_PROXY_SETTINGS["pooling"]})

    recipe, text = settings["recipe"], settings["sentence_text"]
    vocabulary = conse.yamnet_vocabulary(recipe, sentence_text=text, root=root)
    phi = conse.label_embeddings(class_names, recipe, root=root, fallback=ESC50_WORD_FALLBACK)
    say(f"semantic tables ready ({recipe}, {text})")

    def conse_scores(n_top, pooling, n_neighbours, labels=phi):
        return conse.ConSE(n_top=n_top, n_neighbours=n_neighbours).decision_function(
            class_scores[pooling], vocabulary.embeddings, labels, covered=vocabulary.covered)

    chosen = (settings["n_top"], settings["pooling"], settings["n_neighbours"])
    methods = {"ConSE, first proxy's choice (T=2, mean, no CSLS)": conse_scores(*FIRST_PROXY_SETTINGS.values())}
    for n_top in sorted(set(n_tops) - {settings["n_top"]}):
        methods[f"ConSE T={n_top}"] = conse_scores(n_top, settings["pooling"], settings["n_neighbours"])
    if settings["n_neighbours"]:
        methods["ConSE, chosen without CSLS"] = conse_scores(settings["n_top"], settings["pooling"], 0)
    methods["conse"] = conse_scores(*chosen)
    scorer = conse.PrototypeBilinearScorer(recipe=recipe, sentence_text=text, learning_rate=settings["learning_rate"],
                                           n_epochs=settings["n_epochs"], random_state=seed,
                                           n_neighbours=settings["bilinear_n_neighbours"], root=root)
    methods["prototype"] = scorer.model.decision_function(features.clip_embeddings, phi)
    say("prototype bilinear ready")
    weight = settings["fusion_weight"]
    methods["fused"] = conse.fuse_scores([methods["conse"], methods["prototype"]], [weight, 1.0 - weight])
    results = {"settings": settings, "default": DEFAULT_ROW, "n_clips": int(targets.size),
               "esc50_50way": {name: _metrics(targets, scores) for name, scores in methods.items()},
               "published": PUBLISHED_ESC50}

    # "None of these" on held-out audio: ESC-50 candidate sets of 3-8 class names, half without the clip's class.
    rng = np.random.default_rng(seed)
    sets, absent = _candidate_sets(targets, len(class_names), rng)
    best = np.array([methods["conse"][clip, labels].max() for clip, labels in enumerate(sets)])
    threshold = settings["none_threshold"]
    source, unfitting = UNFITTING_EXAMPLE
    example = np.flatnonzero(targets == class_names.index(source))
    example_phi = conse.label_embeddings(list(unfitting) + [source], recipe, root=root)
    example_scores = conse_scores(*chosen, labels=example_phi)[example]
    results["none_of_these"] = {
        "threshold": threshold, "esc50": rejection_metrics(best, absent, threshold),
        "example": {"clips": source, "labels": list(unfitting), "n_clips": int(example.size),
                    "rejected_without": float(conse.none_of_these(example_scores[:, :-1], threshold).mean()),
                    "rejected_with": float(conse.none_of_these(example_scores, threshold).mean())}}

    if p2:
        from .esc50 import run_esc50
        from .protocols import p2_random_splits
        splits = p2_random_splits(class_names)
        p2_rows = {}
        for name, scores in methods.items():
            folds = {}
            for split in splits:
                test = np.flatnonzero(np.isin(targets, split.test_classes))
                lookup = {c: i for i, c in enumerate(split.test_classes)}
                y = np.array([lookup[t] for t in targets[test]])
                folds[split.name] = _metrics(y, scores[np.ix_(test, list(split.test_classes))])
            p2_rows[name] = folds
        say("training the ESC-50 bilinear on P2's random folds (refzsl.esc50)")
        trained = run_esc50(protocol="random", embedding="WLE", features=pack, seed=seed)
        p2_rows["ESC-50-trained bilinear (WLE)"] = {
            row["name"]: {"top1": row["top1"], "top5": None, "map": row["map"]} for row in trained["folds"]}
        results["p2_random"] = {name: {"folds": folds, "mean": {
            key: (float(np.mean([f[key] for f in folds.values()])) if all(f[key] is not None for f in folds.values())
                  else None) for key in ("top1", "top5", "map")}} for name, folds in p2_rows.items()}
    results["timing_seconds"] = time.perf_counter() - started
    return results


def _cell(value):
    return "–" if value is None else f"{value:.3f}"


def _method_label(name, results):
    """Display name of an ESC-50 row; the method ``refzsl classify`` uses by default is marked."""
    settings = results["settings"]
    label = {"conse": f"ConSE (T={settings['n_top']}, {settings['pooling']}, CSLS K={settings['n_neighbours']})",
             "prototype": f"prototype bilinear (η={settings['learning_rate']}, CSLS K="
                          f"{settings['bilinear_n_neighbours']})",
             "fused": f"fused (ConSE weight {settings['fusion_weight']})"}.get(name, name)
    return f"{label} (default)" if name == results.get("default") else label


def _selection_lines(selection):
    scheme, statistics = selection["scheme"], selection["statistics"]
    quartiles = "; ".join(f"{name} {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}" for name, q in statistics.items()
                          if isinstance(q, (list, tuple)))
    lines = [f"Selection on ontology-following pseudo-clips (no ESC-50): {scheme['n_draws']} draws of "
             f"{scheme['n_held_out']} hidden classes (of {scheme['n_candidates']}); Top-1 unseen / seen / mean",
             f"strengths fitted on {statistics['n_recordings']} non-ESC-50 recordings "
             f"({statistics['n_event_patches']} event patches), quartiles: {quartiles}", "",
             "| ConSE recipe | BSE text | T | pooling | CSLS K | unseen | seen | Top-1 |",
             "|---|---|---|---|---|---|---|---|"]

    def row(r):
        return (f"| {r['recipe']} | {r['sentence_text']} | {r['n_top']} | {r['pooling']} | {r['n_neighbours']} | "
                f"{r['top1_unseen']:.3f} | {r['top1_seen']:.3f} | {r['top1']:.3f} |")

    rows = selection["conse"]
    shown = []
    for key in ("recipe", "n_top", "pooling", "n_neighbours"):  # the best row for each value of each setting
        for value in dict.fromkeys(r[key] if key != "recipe" else (r["recipe"], r["sentence_text"]) for r in rows):
            group = [r for r in rows if (r[key] if key != "recipe" else (r["recipe"], r["sentence_text"])) == value]
            best = max(group, key=lambda r: r["top1"])
            if best not in shown:
                shown.append(best)
    lines += [row(r) for r in sorted(shown, key=lambda r: -r["top1"])]
    lines += [f"({len(rows)} ConSE settings in all; the rows above are the best for each recipe, T, pooling and K)",
              "", "| prototype bilinear η | epochs | CSLS K | unseen | seen | Top-1 |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['learning_rate']} | {r['n_epochs']} | {r['n_neighbours']} | {r['top1_unseen']:.3f} | "
              f"{r['top1_seen']:.3f} | {r['top1']:.3f} |" for r in selection["bilinear"]]
    lines += ["", "| fusion weight (ConSE) | unseen | seen | Top-1 |", "|---|---|---|---|"]
    lines += [f"| {r['weight']} | {r['top1_unseen']:.3f} | {r['top1_seen']:.3f} | {r['top1']:.3f} |"
              for r in selection["fusion"]]
    rejection = selection["none_of_these"]
    lines += ["", f"none of these: threshold {rejection['threshold']:.4f} on ConSE's best score; validation "
                  f"precision {_cell(rejection['precision'])}, recall {_cell(rejection['recall'])} "
                  f"({rejection['n_cases']} candidate sets, half without the clip's label)",
              "", f"chosen: {json.dumps(selection['best'])}", ""]
    return lines


def format_results(results):
    """Markdown tables of :func:`run`'s results (selection and/or evaluation)."""
    lines = []
    if "selection" in results:
        lines += _selection_lines(results["selection"])
    if "esc50_50way" in results:
        lines += [f"ESC-50 50-way ({results['n_clips']} clips, no ESC-50 audio or labels used for training or "
                  f"selection; settings {json.dumps(results['settings'])})", "",
                  "| method | Top-1 | Top-5 | mAP |", "|---|---|---|---|"]
        lines += [f"| {_method_label(name, results)} | {_cell(m['top1'])} | {_cell(m['top5'])} | {_cell(m['map'])} |"
                  for name, m in results["esc50_50way"].items()]
        lines += [f"| {name} (published) | {value:.3f} | – | – |" for name, value in results["published"].items()]
    if "none_of_these" in results:
        rejection = results["none_of_these"]
        esc50, example = rejection["esc50"], rejection["example"]
        lines += ["", f"none of these (threshold {rejection['threshold']}), ESC-50 held out: precision "
                      f"{_cell(esc50['precision'])}, recall {_cell(esc50['recall'])}, accuracy "
                      f"{_cell(esc50['accuracy'])} ({esc50['n_cases']} candidate sets of 3-8 class names, half "
                      f"without the clip's class)",
                  f"example: {example['n_clips']} {example['clips']} clips against {', '.join(example['labels'])}: "
                  f"{example['rejected_without']:.0%} rejected; with {example['clips']!r} added: "
                  f"{example['rejected_with']:.0%} rejected"]
    if "p2_random" in results:
        folds = list(next(iter(results["p2_random"].values()))["folds"])
        lines += ["", "P2 random strategy, 10-way per fold: Top-1 / mAP", "",
                  "| method | " + " | ".join(folds) + " | mean |", "|---" * (len(folds) + 2) + "|"]
        for name, row in results["p2_random"].items():
            name = _method_label(name, results)
            cells = [f"{row['folds'][f]['top1']:.3f} / {row['folds'][f]['map']:.3f}" for f in folds]
            lines.append(f"| {name} | " + " | ".join(cells) +
                         f" | {row['mean']['top1']:.3f} / {row['mean']['map']:.3f} |")
    return "\n".join(lines)
