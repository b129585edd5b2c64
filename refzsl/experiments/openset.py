"""``python -m refzsl.openset``: open-vocabulary zero-shot on ESC-50 from YAMNet's AudioSet knowledge.

Two parts, both free of ESC-50 labels until the final test:

1. **Selection on the AudioSet side** (:func:`select_settings`, ``--select``). Held-out
   AudioSet classes play the unseen labels. Each draw hides ``n_held_out`` of YAMNet's
   521 classes; for each hidden class k a *pseudo-query* stands in for a clip of it:
   the embedding e_k = α_k·max(w_k, 0)/‖max(w_k, 0)‖ (w_k = YAMNet's classifier column
   of k, kept non-negative like YAMNet's post-ReLU embeddings, α_k set so that k's own
   logit is ``target_logit``) and its YAMNet scores sigmoid(e_k W + b). ConSE may
   combine only the visible classes (the hidden ones are masked), the prototype-bilinear
   model is trained on the visible classes' prototypes only, and both rank the hidden
   classes' names for each pseudo-query. The recipe, T, the bilinear's learning rate and
   epochs and the fusion weight are chosen by mean Top-1 over the draws. Pooling cannot
   be chosen this way (a pseudo-query has no patches): it is fixed to YAMNet's own clip
   inference, the mean of the patch scores.
2. **Evaluation on ESC-50** (:func:`evaluate_esc50`): 50-way over all 2000 clips, and P2's
   random-strategy folds (10-way per fold, beside the bilinear model trained on the other
   four folds by :func:`refzsl.esc50.run_esc50`), for ConSE (T ∈ {1, 3, 5, 10}), the
   prototype-bilinear model and their fusion, with published open-vocabulary results beside.

Layers as :mod:`refzsl.esc50`: :func:`build_parser`, :func:`run` (returns a dict),
:func:`format_results`, :func:`main`.
"""

import json
import sys
import time

import numpy as np

from ..models import conse
from ..evaluation.metrics import mean_average_precision, top1_accuracy, top_k_accuracy

__all__ = [
    "PUBLISHED_ESC50",
    "SELECTION_RECIPES",
    "pseudo_queries",
    "select_settings",
    "evaluate_esc50",
    "format_results",
]

#: Published zero-shot ESC-50 50-way Top-1 of open-vocabulary audio-text models (their papers).
#: Like YAMNet, they were trained on data overlapping ESC-50's Freesound sources.
PUBLISHED_ESC50 = {"Wav2CLIP": 0.414, "AudioCLIP": 0.694, "MS-CLAP 2022": 0.826}

#: Recipes compared by :func:`select_settings`: (recipe, sentence_text).
SELECTION_RECIPES = (("WLE", "name"), ("GLE", "name"), ("WLE+GLE", "name"), ("BSE", "name"),
                     ("BSE", "description"), ("WLE+BSE", "name"), ("WLE+GLE+BSE", "name"))


def _progress(enabled, message):
    if enabled:
        print(f"[openset] {message}", file=sys.stderr, flush=True)


def pseudo_queries(weights, bias, *, target_logit=2.0):
    """A stand-in clip per AudioSet class, built from YAMNet's classifier alone.

    Parameters
    ----------
    weights : np.ndarray [shape=(d_a, C)]
        YAMNet's final layer (``YAMNet.classifier_weights()[0]``).
    bias : np.ndarray [shape=(C,)]
    target_logit : float
        Logit of its own class each pseudo-query gets (2.0: probability 0.88).

    Returns
    -------
    embeddings : np.ndarray [shape=(C, d_a)], >= 0
        e_k = α_k max(w_k, 0) / ‖max(w_k, 0)‖.
    scores : np.ndarray [shape=(C, C)]
        sigmoid(e_k W + b): what YAMNet would output for e_k.

    Raises
    ------
    ValueError
        If a class has no positive weight (its pseudo-query would be zero).
    """
    weights, bias = np.asarray(weights, dtype=np.float64), np.asarray(bias, dtype=np.float64)
    directions = np.maximum(weights, 0.0).T
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"Classes {np.flatnonzero(norms[:, 0] == 0)[:10].tolist()} have no positive weight")
    directions /= norms
    own = np.einsum("kd,dk->k", directions, weights)
    embeddings = directions * ((target_logit - bias) / own)[:, None]
    return embeddings, 1.0 / (1.0 + np.exp(-(embeddings @ weights + bias)))


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


def select_settings(*, root=None, recipes=SELECTION_RECIPES, n_tops=(1, 2, 3, 5, 10), learning_rates=(0.03, 0.1, 0.3),
                    n_epochs=(20,), fusion_weights=tuple(np.round(np.linspace(0.0, 1.0, 11), 2)), n_draws=5,
                    n_held_out=50, target_logit=2.0, seed=0, progress=False):
    """Choose ConSE's recipe and T, the prototype-bilinear's training and the fusion weight on AudioSet.

    See the module docstring for the scheme. ESC-50 is not read.

    Parameters
    ----------
    root : str or Path, optional
        Data root (YAMNet, class map, ontology, word vectors).
    recipes : sequence of (recipe, sentence_text)
    n_tops : sequence of int >= 1
    learning_rates, n_epochs : sequences
        Grid of the prototype-bilinear model (trained with the chosen recipe).
    fusion_weights : sequence of float in [0, 1]
        Weight of ConSE; the bilinear gets 1 − weight.
    n_draws : int >= 1
    n_held_out : int >= 2
        Hidden classes per draw (50, as ESC-50's 50-way task).
    target_logit : float
        See :func:`pseudo_queries`.
    seed : int

    Returns
    -------
    dict
        ``conse`` (rows: recipe, sentence_text, n_top, top1, top5), ``bilinear`` (rows:
        learning_rate, n_epochs, top1), ``fusion`` (rows: weight, top1), and ``best``
        (the chosen settings, keys of :data:`refzsl.conse.DEFAULTS` except pooling).
    """
    from ..acoustic.embedders import YAMNet
    weights, bias = YAMNet(root=root).classifier_weights()
    embeddings, scores = pseudo_queries(weights, bias, target_logit=target_logit)
    vocabularies = {(recipe, text): conse.audioset_vocabulary(recipe, sentence_text=text, root=root)
                    for recipe, text in recipes}
    # The hidden classes are candidate *labels*: embedded from their names only, as free text is.
    as_labels = {recipe: conse.audioset_vocabulary(recipe, sentence_text="name", root=root).embeddings
                 for recipe in {recipe for recipe, _ in recipes}}
    covered = np.logical_and.reduce([v.covered for v in vocabularies.values()])
    draws = _draws(covered, n_draws=n_draws, n_held_out=n_held_out, seed=seed)
    truth = np.arange(n_held_out)

    def conse_scores(vocabulary, n_top, hidden):
        return conse.ConSE(n_top=n_top).decision_function(scores[hidden], vocabulary.embeddings,
                                                          as_labels[vocabulary.recipe][hidden],
                                                          covered=_visible(vocabulary.covered, hidden))

    conse_rows = []
    for (recipe, text), vocabulary in vocabularies.items():
        for n_top in n_tops:
            runs = [conse_scores(vocabulary, n_top, hidden) for hidden in draws]
            conse_rows.append({"recipe": recipe, "sentence_text": text, "n_top": int(n_top),
                               "top1": float(np.mean([top1_accuracy(truth, s) for s in runs])),
                               "top5": float(np.mean([top_k_accuracy(truth, s, 5) for s in runs]))})
        _progress(progress, f"ConSE {recipe} ({text}) done")
    best_conse = max(conse_rows, key=lambda row: row["top1"])
    vocabulary = vocabularies[(best_conse["recipe"], best_conse["sentence_text"])]

    bilinear_rows, bilinear_scores = [], {}
    for learning_rate in learning_rates:
        for epochs in n_epochs:
            runs = []
            for hidden in draws:
                visible = _visible(vocabulary.covered, hidden)
                model = conse.PrototypeBilinear(learning_rate=learning_rate, n_epochs=int(epochs),
                                                random_state=seed).fit(weights.T[visible],
                                                                       vocabulary.embeddings[visible])
                runs.append(model.decision_function(embeddings[hidden], as_labels[vocabulary.recipe][hidden]))
            bilinear_scores[(learning_rate, epochs)] = runs
            bilinear_rows.append({"learning_rate": float(learning_rate), "n_epochs": int(epochs),
                                  "top1": float(np.mean([top1_accuracy(truth, s) for s in runs]))})
            _progress(progress, f"prototype bilinear η={learning_rate} epochs={epochs}: "
                                f"Top-1 {bilinear_rows[-1]['top1']:.3f}")
    best_bilinear = max(bilinear_rows, key=lambda row: row["top1"])

    conse_runs = [conse_scores(vocabulary, best_conse["n_top"], hidden) for hidden in draws]
    chosen_bilinear = bilinear_scores[(best_bilinear["learning_rate"], best_bilinear["n_epochs"])]
    fusion_rows = []
    for weight in fusion_weights:
        fused = [conse.fuse_scores([a, b], [weight, 1.0 - weight]) for a, b in zip(conse_runs, chosen_bilinear)]
        fusion_rows.append({"weight": float(weight),
                            "top1": float(np.mean([top1_accuracy(truth, s) for s in fused]))})
    best_fusion = max(fusion_rows, key=lambda row: row["top1"])
    best = {"recipe": best_conse["recipe"], "sentence_text": best_conse["sentence_text"],
            "n_top": best_conse["n_top"], "learning_rate": best_bilinear["learning_rate"],
            "n_epochs": best_bilinear["n_epochs"], "fusion_weight": best_fusion["weight"]}
    return {"conse": conse_rows, "bilinear": bilinear_rows, "fusion": fusion_rows, "best": best,
            "scheme": {"n_draws": n_draws, "n_held_out": n_held_out, "target_logit": target_logit, "seed": seed,
                       "n_candidates": int(covered.sum())}}


def _metrics(y_true, scores):
    return {"top1": top1_accuracy(y_true, scores), "top5": top_k_accuracy(y_true, scores, 5)
            if scores.shape[1] >= 5 else None, "map": mean_average_precision(y_true, scores)}


def evaluate_esc50(*, root=None, n_tops=(1, 3, 5, 10), settings=None, pooling="mean", features=None, p2=True,
                   seed=0, progress=False):
    """ESC-50 50-way and P2 random folds for ConSE, the prototype-bilinear model and their fusion.

    Parameters
    ----------
    root : str or Path, optional
        Data root (word vectors, ontology, YAMNet).
    n_tops : sequence of int
        ConSE's T values reported.
    settings : dict, optional
        Overrides of :data:`refzsl.conse.DEFAULTS` (recipe, sentence_text, n_top, learning_rate,
        n_epochs, fusion_weight).
    pooling : str in refzsl.conse.POOLINGS
        ``"mean"`` reads the shipped feature pack's clip scores; others need ``features``
        (or extract from the data root's audio, cached).
    features : refzsl.extract.Features, optional
        ESC-50 features in ``meta/esc50.csv`` order (default: the pack, or extraction).
    p2 : bool
        Also run P2's random-strategy folds, with the ESC-50-trained bilinear beside.
    seed : int

    Returns
    -------
    dict with ``settings``, ``esc50_50way`` (method -> metrics), ``p2_random`` (method -> per-fold
    and mean metrics), ``published``, ``timing_seconds``.
    """
    from ..datasets.pack import load_pack
    from ..semantic.recipes import ESC50_WORD_FALLBACK
    started = time.perf_counter()
    settings = {**conse.DEFAULTS, **(settings or {})}
    pack = load_pack()
    targets, class_names = np.asarray(pack.targets), [str(name) for name in pack.class_names]
    if features is None and pooling == "mean":
        class_scores, clip_embeddings = np.asarray(pack.clip_scores, np.float64), pack.clip_embeddings
    else:
        if features is None:
            from ..datasets.esc50 import extract_esc50
            features = extract_esc50(root=root, progress=progress)
        if list(features.clip_ids) != [str(clip) for clip in pack.clip_ids]:
            raise ValueError("features must hold ESC-50's 2000 clips in meta/esc50.csv order")
        classifier = None
        if pooling == "embedding":
            from ..acoustic.embedders import YAMNet
            classifier = YAMNet(root=root).classifier_weights()
        class_scores = conse.pool_scores(features, pooling, classifier=classifier)
        clip_embeddings = features.clip_embeddings

    recipe, text = settings["recipe"], settings["sentence_text"]
    vocabulary = conse.audioset_vocabulary(recipe, sentence_text=text, root=root)
    phi = conse.label_embeddings(class_names, recipe, root=root, fallback=ESC50_WORD_FALLBACK)
    _progress(progress, f"semantic tables ready ({recipe}, {text})")

    methods = {}
    for n_top in sorted(set(n_tops) | {settings["n_top"]}):
        methods[f"ConSE T={n_top}"] = conse.ConSE(n_top=n_top).decision_function(
            class_scores, vocabulary.embeddings, phi, covered=vocabulary.covered)
    scorer = conse.PrototypeBilinearScorer(recipe=recipe, sentence_text=text, learning_rate=settings["learning_rate"],
                                           n_epochs=settings["n_epochs"], random_state=seed, root=root)
    methods["prototype bilinear"] = scorer.model.decision_function(clip_embeddings, phi)
    _progress(progress, "prototype bilinear ready")
    weight = settings["fusion_weight"]
    methods["fused"] = conse.fuse_scores([methods[f"ConSE T={settings['n_top']}"], methods["prototype bilinear"]],
                                         [weight, 1.0 - weight])
    results = {"settings": {**settings, "pooling": pooling}, "n_clips": int(targets.size),
               "esc50_50way": {name: _metrics(targets, scores) for name, scores in methods.items()},
               "published": PUBLISHED_ESC50}

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
        _progress(progress, "training the ESC-50 bilinear on P2's random folds (refzsl.esc50)")
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


def format_results(results):
    """Markdown tables of :func:`run`'s results (selection and/or evaluation)."""
    lines = []
    if "selection" in results:
        selection = results["selection"]
        scheme = selection["scheme"]
        lines += [f"AudioSet-side selection: {scheme['n_draws']} draws of {scheme['n_held_out']} hidden classes "
                  f"(of {scheme['n_candidates']}), pseudo-queries at logit {scheme['target_logit']}", "",
                  "| ConSE recipe | BSE text | T | Top-1 | Top-5 |", "|---|---|---|---|---|"]
        lines += [f"| {r['recipe']} | {r['sentence_text']} | {r['n_top']} | {r['top1']:.3f} | {r['top5']:.3f} |"
                  for r in selection["conse"]]
        lines += ["", "| prototype bilinear η | epochs | Top-1 |", "|---|---|---|"]
        lines += [f"| {r['learning_rate']} | {r['n_epochs']} | {r['top1']:.3f} |" for r in selection["bilinear"]]
        lines += ["", "| fusion weight (ConSE) | Top-1 |", "|---|---|"]
        lines += [f"| {r['weight']} | {r['top1']:.3f} |" for r in selection["fusion"]]
        lines += ["", f"chosen: {json.dumps(selection['best'])}", ""]
    if "esc50_50way" in results:
        lines += [f"ESC-50 50-way ({results['n_clips']} clips, no ESC-50 audio or labels used for training or "
                  f"selection; settings {json.dumps(results['settings'])})", "",
                  "| method | Top-1 | Top-5 | mAP |", "|---|---|---|---|"]
        lines += [f"| {name} | {_cell(m['top1'])} | {_cell(m['top5'])} | {_cell(m['map'])} |"
                  for name, m in results["esc50_50way"].items()]
        lines += [f"| {name} (published) | {value:.3f} | – | – |" for name, value in results["published"].items()]
    if "p2_random" in results:
        folds = list(next(iter(results["p2_random"].values()))["folds"])
        lines += ["", "P2 random strategy, 10-way per fold: Top-1 / mAP", "",
                  "| method | " + " | ".join(folds) + " | mean |", "|---" * (len(folds) + 2) + "|"]
        for name, row in results["p2_random"].items():
            cells = [f"{row['folds'][f]['top1']:.3f} / {row['folds'][f]['map']:.3f}" for f in folds]
            lines.append(f"| {name} | " + " | ".join(cells) +
                         f" | {row['mean']['top1']:.3f} / {row['mean']['map']:.3f} |")
    return "\n".join(lines)
