"""Hyper-parameter selection for the bilinear model on held-out *classes* of the training classes.

Zero-shot validation must hold out classes, not clips: each inner fold trains on some training classes
and ranks clips of the others (:func:`refzsl.experiments.protocols.validation_folds`). Used by the
ESC-50 runner and by ``refzsl train``; never sees a test class.
"""

import itertools

import numpy as np

from ..evaluation.metrics import mean_average_precision, top1_accuracy
from ..models.bilinear import BilinearZSL
from .protocols import validation_folds

__all__ = ["DEFAULT_GRID", "select_hyper_parameters"]

# Selection grid. λ: P2's values. Learning rate and epochs are not given by the papers. A wider
# grid (η in 1e-3..1, epochs 2/5/10/20, all four λ; normalize both/acoustic/semantic/none) scored
# on the inner folds of two splits' training classes only (random Fold0, category Animal) gave
# validation mAP within ±0.01 of the best for every η <= 0.01 with λ <= 0.01 and 2-20 epochs, so
# two learning rates and 5 epochs are kept: a full random-strategy run stays near 20 s of CPU.
# Candidates whose decay factor 1 - 2ηλ is not positive are not valid SGD steps and are left out.
DEFAULT_GRID = {
    "reg_lambda": (0.0, 0.01, 1.0, 10.0),
    "learning_rate": (0.001, 0.01),
    "n_epochs": (5,),
}
_INNER_FOLDS = 4


_GRID_KEYS = ("reg_lambda", "learning_rate", "n_epochs")


def _grid_candidates(grid):
    """Every combination of the grid's values that is a valid SGD step, in grid order."""
    unknown, missing = sorted(set(grid) - set(_GRID_KEYS)), [key for key in _GRID_KEYS if key not in grid]
    if unknown or missing:
        raise ValueError(f"Grid keys must be exactly {_GRID_KEYS}; unknown {unknown}, missing {missing}")
    candidates = [dict(zip(_GRID_KEYS, values)) for values in itertools.product(*(grid[key] for key in _GRID_KEYS))]
    valid = [c for c in candidates if 2 * c["learning_rate"] * c["reg_lambda"] < 1]
    if not valid:
        raise ValueError(f"No valid candidate in grid {grid}: every one has 2·learning_rate·reg_lambda >= 1")
    return valid


def _positions(targets, classes):
    """Each target's position in ``classes``: BilinearZSL labels index the candidate rows of φ."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[t] for t in targets], dtype=np.int64)


def _fit(X, targets, class_vectors, classes, indices, params, *, normalize, update, seed):
    """Fit on the clips ``indices``, whose targets are among ``classes`` (row order of φ)."""
    y = _positions(targets[indices], classes)
    model = BilinearZSL(**params, normalize=normalize, update=update, random_state=seed)
    return model.fit(X[indices], y, class_vectors[list(classes)]), y


def _zero_shot_scores(model, X, targets, class_vectors, classes, indices):
    """Labels and scores of the clips ``indices``, ranked over ``classes`` only."""
    y = _positions(targets[indices], classes)
    return y, model.decision_function(X[indices], class_vectors[list(classes)])


def select_hyper_parameters(X, targets, class_vectors, train_classes, *, grid=None, seed=0, groups=None,
                            normalize="both", update="algorithm1"):
    """Choose λ, learning rate and epochs on inner class folds of the training classes.

    Parameters
    ----------
    X : np.ndarray [shape=(n_clips, d_a)]
    targets : np.ndarray [shape=(n_clips,)], int
    class_vectors : np.ndarray [shape=(n_classes, d_s)]
    train_classes : sequence of int
        The split's training classes; only their clips are used.
    grid : dict, optional
        Candidate values for ``reg_lambda``, ``learning_rate``, ``n_epochs`` (default :data:`DEFAULT_GRID`).
    seed : int
        Seeds the inner folds and the models' sample order.
    groups : sequence of int, optional
        Group of each training class; when given, the inner folds are the groups.
    normalize, update : str
        ``BilinearZSL(normalize=..., update=...)``.

    Returns
    -------
    best : dict
        The chosen ``reg_lambda``, ``learning_rate``, ``n_epochs``.
    table : list of dict
        Every candidate with its mean validation mAP and Top-1 over the inner folds.
    """
    candidates = _grid_candidates(DEFAULT_GRID if grid is None else grid)
    folds = validation_folds(train_classes, seed=seed, n_folds=_INNER_FOLDS, groups=groups)
    table = []
    for params in candidates:
        maps, top1s = [], []
        for inner_train, held_out in folds:
            fit_idx = np.flatnonzero(np.isin(targets, inner_train))
            val_idx = np.flatnonzero(np.isin(targets, held_out))
            model, _ = _fit(X, targets, class_vectors, inner_train, fit_idx, params, normalize=normalize,
                            update=update, seed=seed)
            y_val, scores = _zero_shot_scores(model, X, targets, class_vectors, held_out, val_idx)
            maps.append(mean_average_precision(y_val, scores))
            top1s.append(top1_accuracy(y_val, scores))
        table.append({**params, "validation_map": float(np.mean(maps)), "validation_top1": float(np.mean(top1s))})
    # Highest validation mAP; max() keeps the first of tied candidates, i.e. the earliest in grid
    # order (with DEFAULT_GRID: smaller λ, then smaller η).
    best = max(table, key=lambda row: row["validation_map"])
    return {key: best[key] for key in _GRID_KEYS}, table
