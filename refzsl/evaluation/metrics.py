"""Evaluation metrics (SPEC §4): Top-1/Top-k, mAP, per-class accuracy, McNemar.

Pure functions on arrays. ``scores`` are always [n_samples, n_classes], larger
meaning more likely; single-label ``y_true`` are integer column indices.

Ties in scores are broken the same way everywhere, by class index: among
equally scored classes the lower index ranks first (as ``np.argmax`` and a
stable sort do, and as the training kernels do). So the rank of class c for a
sample is ``1 + #{k: s_k > s_c} + #{k < c: s_k == s_c}``, Top-1 equals the
accuracy of ``argmax``, and AP is deterministic. Note that constant scores
then favour low class indices; chance levels must come from random scores.

Every function raises ``ValueError`` naming the shape or value at fault (wrong
ndim, mismatched lengths, labels out of range, NaN scores, non-binary or empty
multi-label rows) and ``TypeError`` for non-integer class labels.
"""

__all__ = [
    "top1_accuracy",
    "top_k_accuracy",
    "rank_of_true_class",
    "mean_average_precision",
    "class_average_precision",
    "per_class_accuracy",
    "confusion_matrix",
    "McNemarResult",
    "mcnemar_test",
]

from typing import NamedTuple

import numpy as np


def _check_scores(scores, n_samples=None):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores must be 2-D [n_samples, n_classes], got shape {scores.shape}")
    if n_samples is not None and scores.shape[0] != n_samples:
        raise ValueError(f"scores has {scores.shape[0]} rows (shape {scores.shape}) for {n_samples} labels")
    if np.isnan(scores).any():
        raise ValueError(f"scores (shape {scores.shape}) hold NaN")
    return scores


def _check_labels(y_true, n_classes=None, name="y_true"):
    labels = np.asarray(y_true)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {labels.shape}")
    if n_classes is not None and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name} must lie in 0..{n_classes - 1}, got min {labels.min()}, max {labels.max()}")
    return labels.astype(np.int64)


def _check_binary(y_true, name="y_true"):
    targets = np.asarray(y_true)
    if targets.ndim != 2 or targets.size == 0 or not np.isin(targets, (0, 1)).all():
        raise ValueError(
            f"{name} must be a non-empty binary 0/1 matrix [n_samples, n_classes], got shape {targets.shape}"
        )
    return targets.astype(bool)


def _tie_ranks(scores):
    """Rank (1 = best) of every entry of each row, ties by lower column index first."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :], axis=1)
    return ranks


def rank_of_true_class(y_true, scores):
    """Rank (1 = top) of the true class in each sample's ranked class list.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int]
        True class indices.
    scores : np.ndarray [shape=(n, C)]

    Returns
    -------
    ranks : np.ndarray [shape=(n,), dtype=int64], values in 1..C

    Examples
    --------
    >>> rank_of_true_class([2, 0], [[0.1, 0.5, 0.3], [0.2, 0.2, 0.1]])
    array([2, 1])
    """
    labels = _check_labels(y_true)
    scores = _check_scores(scores, labels.size)
    labels = _check_labels(labels, scores.shape[1])
    true_scores = scores[np.arange(labels.size), labels][:, None]
    columns = np.arange(scores.shape[1])[None, :]
    above = (scores > true_scores) | ((scores == true_scores) & (columns < labels[:, None]))
    return 1 + above.sum(axis=1)


def top1_accuracy(y_true, scores):
    """Fraction of samples whose top-scored class is the true one (SPEC §4).

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int]
    scores : np.ndarray [shape=(n, C)]

    Returns
    -------
    accuracy : float in [0, 1]; chance is 1/C.

    Examples
    --------
    >>> top1_accuracy([0, 1, 2, 2], [[3, 1, 0], [0, 2, 1], [1, 0, 0], [0, 0, 5]])
    0.75
    """
    return top_k_accuracy(y_true, scores, 1)


def top_k_accuracy(y_true, scores, k):
    """Fraction of samples whose true class is among the k top-scored.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int]
    scores : np.ndarray [shape=(n, C)]
    k : int >= 1

    Returns
    -------
    accuracy : float in [0, 1]

    Examples
    --------
    >>> top_k_accuracy([2, 0], [[0.1, 0.5, 0.3], [0.1, 0.5, 0.3]], 2)
    0.5
    """
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return float(np.mean(rank_of_true_class(y_true, scores) <= k))


def mean_average_precision(y_true, scores):
    """Mean over samples of the average precision of each ranked class list.

    P2 §V-D: for single-label data, AP of a sample = 1 / rank of its class.
    For multi-label data, AP of a sample = mean over its true classes c of
    (true classes ranked at or above c) / rank(c). Ties: by class index.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int] or binary [shape=(n, C)]
        Class indices, or a 0/1 label matrix (every row needs a positive).
    scores : np.ndarray [shape=(n, C)]

    Returns
    -------
    map : float in (0, 1]. Chance for 10 classes is H_10/10 = 0.29 (P2).

    Examples
    --------
    P2's chance level for 10 classes: the true class equally often at each rank.

    >>> round(mean_average_precision(np.arange(10), np.tile(np.arange(10, 0, -1), (10, 1))), 2)
    0.29
    >>> mean_average_precision([2, 0], [[0.1, 0.5, 0.3], [0.9, 0.5, 0.3]])
    0.75
    >>> mean_average_precision([[1, 0, 1]], [[0.9, 0.5, 0.3]])   # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    y_true = np.asarray(y_true)
    if y_true.ndim == 1:
        return float(np.mean(1.0 / rank_of_true_class(y_true, scores)))
    targets = _check_binary(y_true)
    scores = _check_scores(scores, targets.shape[0])
    if scores.shape != targets.shape:
        raise ValueError(f"y_true shape {targets.shape} differs from scores shape {scores.shape}")
    empty = np.flatnonzero(~targets.any(axis=1))
    if empty.size:
        raise ValueError(f"rows {empty[:10].tolist()} of y_true have no positive label; AP is undefined")
    ranks = _tie_ranks(scores)
    # positives ranked at or above each positive: count among positives by rank
    positive_ranks = np.where(targets, ranks, np.iinfo(np.int64).max)
    positive_ranks.sort(axis=1)
    n_positive = targets.sum(axis=1)
    hits = np.arange(1, targets.shape[1] + 1)[None, :]
    valid = hits <= n_positive[:, None]
    precision = np.where(valid, hits / np.where(valid, positive_ranks, 1), 0.0)
    return float(np.mean(precision.sum(axis=1) / n_positive))


def class_average_precision(y_true, scores):
    """Mean over classes of the AP of each class's ranked sample list (multi-label mAP).

    Samples are ranked per class by score, ties by sample index. Classes
    without any positive sample are left out of the mean.

    Parameters
    ----------
    y_true : binary np.ndarray [shape=(n, C)]
    scores : np.ndarray [shape=(n, C)]

    Returns
    -------
    map : float in (0, 1]

    Examples
    --------
    Class 0: positives ranked 1st and 3rd, AP = (1/1 + 2/3)/2; class 1: ranked 3rd, AP = 1/3.

    >>> round(class_average_precision([[1, 0], [0, 1], [1, 0]], [[0.9, 0.2], [0.8, 0.1], [0.1, 0.3]]), 4)
    0.5833
    """
    targets = _check_binary(y_true)
    scores = _check_scores(scores, targets.shape[0])
    if scores.shape != targets.shape:
        raise ValueError(f"y_true shape {targets.shape} differs from scores shape {scores.shape}")
    present = targets.any(axis=0)
    if not present.any():
        raise ValueError(f"y_true (shape {targets.shape}) has no positive label; AP is undefined")
    return mean_average_precision(targets.T[present], scores.T[present])


def per_class_accuracy(y_true, y_pred, *, n_classes=None):
    """Accuracy (recall) of each class: correct predictions / samples of the class.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,), dtype=int]
    n_classes : int or None
        Number of classes; default 1 + the largest label seen.

    Returns
    -------
    accuracy : np.ndarray [shape=(n_classes,), dtype=float64]
        NaN for classes without samples.

    Examples
    --------
    >>> per_class_accuracy([0, 0, 1, 2], [0, 1, 1, 0], n_classes=4)
    array([0.5, 1. , 0. , nan])
    """
    matrix = confusion_matrix(y_true, y_pred, n_classes=n_classes)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / support, np.nan)


def confusion_matrix(y_true, y_pred, *, n_classes=None):
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,), dtype=int]
    n_classes : int or None
        Number of classes; default 1 + the largest label seen.

    Returns
    -------
    matrix : np.ndarray [shape=(n_classes, n_classes), dtype=int64]
        ``matrix[i, j]`` = samples of class i predicted as j.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1], [0, 1, 1])
    array([[1, 1],
           [0, 1]])
    """
    labels = _check_labels(y_true)
    predictions = _check_labels(y_pred, name="y_pred")
    if labels.shape != predictions.shape:
        raise ValueError(f"y_true shape {labels.shape} differs from y_pred shape {predictions.shape}")
    if n_classes is None:
        n_classes = int(max(labels.max(), predictions.max())) + 1
    for name, values in (("y_true", labels), ("y_pred", predictions)):
        if values.min() < 0 or values.max() >= n_classes:
            raise ValueError(f"{name} must lie in 0..{n_classes - 1}, got min {values.min()}, max {values.max()}")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


class McNemarResult(NamedTuple):
    """Outcome of :func:`mcnemar_test`."""

    statistic: float  # chi-square value, or min(n01, n10) for the exact test
    pvalue: float
    n01: int  # samples only the second system gets right
    n10: int  # samples only the first system gets right


def mcnemar_test(first, second, *, exact=False):
    """McNemar's test of two systems' correct/incorrect decisions on the same samples.

    Either two discordant counts, or two boolean arrays saying per sample
    whether each system was correct. The chi-square version uses Edwards'
    continuity correction: max(|n01 − n10| − 1, 0)² / (n01 + n10), one degree of
    freedom. The exact version is the two-sided binomial test of
    min(n01, n10) in n01 + n10 trials with p = 1/2 (use it when n01 + n10 < 25).

    Parameters
    ----------
    first, second : int >= 0, or np.ndarray of bool [shape=(n,)]
        The counts n10 (only the first system right) and n01 (only the
        second right); or the per-sample correctness of the first and the
        second system. Concordant samples do not enter the test.
    exact : bool
        Exact binomial test instead of the chi-square approximation.

    Returns
    -------
    result : McNemarResult
        ``statistic``, ``pvalue``, ``n01``, ``n10``.

    Examples
    --------
    P2 Table XI: 1854 and 18 533 concordant, 381 and 609 discordant samples.

    >>> result = mcnemar_test(381, 609)
    >>> round(result.statistic, 2), f"{result.pvalue:.2e}"
    (52.05, '5.41e-13')
    >>> mcnemar_test(np.array([True, True, False]), np.array([True, False, False])).n10
    1
    """
    from scipy import stats

    if np.ndim(first) == 0 and np.ndim(second) == 0:
        counts = []
        for name, value in (("first", first), ("second", second)):
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0):
                raise ValueError(f"discordant count {name} must be an integer >= 0, got {value!r}")
            counts.append(int(value))
        n10, n01 = counts
    else:
        first, second = np.asarray(first), np.asarray(second)
        if first.dtype != bool or second.dtype != bool or first.ndim != 1 or first.shape != second.shape:
            raise ValueError(
                "correctness arrays must be 1-D boolean arrays of equal length, got "
                f"{first.dtype} {first.shape} and {second.dtype} {second.shape}"
            )
        n10 = int(np.sum(first & ~second))
        n01 = int(np.sum(~first & second))
    n_discordant = n01 + n10
    if n_discordant == 0:
        return McNemarResult(0.0, 1.0, n01, n10)
    if exact:
        smaller = min(n01, n10)
        pvalue = min(1.0, 2.0 * float(stats.binom.cdf(smaller, n_discordant, 0.5)))
        return McNemarResult(float(smaller), pvalue, n01, n10)
    # max(…, 0): with n01 == n10 the correction must not push the statistic above 0
    statistic = max(abs(n01 - n10) - 1.0, 0.0) ** 2 / n_discordant
    return McNemarResult(float(statistic), float(stats.chi2.sf(statistic, df=1)), n01, n10)
