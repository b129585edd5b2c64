"""Metrics (SPEC §4), checked against hand values, brute force and P2 Table XI."""

import numpy as np
import pytest
from scipy import stats

from refzsl.evaluation import metrics


def _brute_force_ap(positives, scores):
    """AP of one ranked list: sort by score (ties by index), mean precision at each hit."""
    order = sorted(range(len(scores)), key=lambda k: (-scores[k], k))
    hits, precisions = 0, []
    for rank, k in enumerate(order, start=1):
        if positives[k]:
            hits += 1
            precisions.append(hits / rank)
    return np.mean(precisions)


def test_mcnemar_reproduces_p2_table_xi():
    # P2 Table XI: 1854 / 381 / 609 / 18533 samples; only the discordant 381 and 609 enter.
    result = metrics.mcnemar_test(381, 609)
    assert result.statistic == pytest.approx(52.05, abs=0.005)
    assert result.pvalue == pytest.approx(5.41e-13, rel=0.001)
    # the same from per-sample correctness with all four cells of the table
    first = np.repeat([False, True, False, True], [1854, 381, 609, 18533])
    second = np.repeat([False, False, True, True], [1854, 381, 609, 18533])
    assert metrics.mcnemar_test(first, second) == result
    assert (result.n10, result.n01) == (381, 609)


@pytest.mark.parametrize("n10, n01", [(3, 9), (0, 5), (7, 7), (20, 31)])
def test_mcnemar_exact_is_the_two_sided_binomial_test(n10, n01):
    expected = stats.binomtest(min(n10, n01), n10 + n01, 0.5).pvalue
    assert metrics.mcnemar_test(n10, n01, exact=True).pvalue == pytest.approx(expected, rel=1e-12)


def test_mcnemar_edge_cases():
    assert metrics.mcnemar_test(0, 0) == (0.0, 1.0, 0, 0)
    assert metrics.mcnemar_test(5, 5).statistic == 0.0  # continuity correction clipped at 0


def test_top1_breaks_ties_towards_the_lower_class_index():
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    assert metrics.top1_accuracy([0, 1], scores) == 1.0
    assert metrics.top1_accuracy([1, 2], scores) == 0.0
    np.testing.assert_array_equal(metrics.rank_of_true_class([1, 2], scores), [2, 2])


def test_top_k_accuracy():
    scores = np.array([[0.1, 0.5, 0.3, 0.2], [0.4, 0.3, 0.2, 0.1]])
    assert [metrics.top_k_accuracy([3, 3], scores, k) for k in (1, 2, 3, 4)] == [0.0, 0.0, 0.5, 1.0]


def test_single_label_map_is_mean_reciprocal_rank():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 10)).round(1)  # rounding creates ties
    y = rng.integers(0, 10, size=50)
    expected = np.mean([_brute_force_ap(np.arange(10) == label, row) for label, row in zip(y, scores)])
    assert metrics.mean_average_precision(y, scores) == pytest.approx(expected, rel=1e-12)
    one_hot = (np.arange(10)[None, :] == y[:, None]).astype(int)
    assert metrics.mean_average_precision(one_hot, scores) == pytest.approx(expected, rel=1e-12)


def test_multi_label_map_matches_brute_force():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(40, 12)).round(1)
    targets = rng.random(size=(40, 12)) < 0.25
    targets[np.arange(40), rng.integers(0, 12, size=40)] = True
    expected = np.mean([_brute_force_ap(t, s) for t, s in zip(targets, scores)])
    assert metrics.mean_average_precision(targets.astype(int), scores) == pytest.approx(expected, rel=1e-12)


def test_class_average_precision_matches_brute_force():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(30, 6)).round(1)
    targets = rng.random(size=(30, 6)) < 0.3
    targets[:, 5] = False  # a class without positives is left out
    expected = np.mean([_brute_force_ap(targets[:, c], scores[:, c]) for c in range(5)])
    assert metrics.class_average_precision(targets.astype(int), scores) == pytest.approx(expected, rel=1e-12)


def test_confusion_matrix_and_per_class_accuracy():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 2, 1, 1, 0, 2])
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), [[1, 0, 1], [1, 2, 0], [0, 0, 1]])
    np.testing.assert_allclose(metrics.per_class_accuracy(y_true, y_pred, n_classes=4), [0.5, 2 / 3, 1.0, np.nan])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: metrics.top1_accuracy([0, 1], np.ones(2)), ValueError, r"2-D \[n_samples, n_classes\], got shape \(2,\)"),
        (lambda: metrics.top1_accuracy([0, 1], np.ones((3, 2))), ValueError, r"3 rows \(shape \(3, 2\)\) for 2 labels"),
        (lambda: metrics.top1_accuracy([0, 2], np.ones((2, 2))), ValueError, r"0\.\.1, got min 0, max 2"),
        (lambda: metrics.top1_accuracy([0.0, 1.0], np.ones((2, 2))), TypeError, "integer class indices"),
        (lambda: metrics.top1_accuracy([0, 1], [[np.nan, 1], [0, 1]]), ValueError, "NaN"),
        (lambda: metrics.top_k_accuracy([0, 1], np.ones((2, 2)), 0), ValueError, "k must be an integer >= 1, got 0"),
        (lambda: metrics.mean_average_precision([[0, 2]], [[1, 2]]), ValueError, "binary 0/1 matrix"),
        (lambda: metrics.mean_average_precision(np.zeros((0, 3)), np.zeros((0, 3))), ValueError, r"non-empty .* shape \(0, 3\)"),
        (lambda: metrics.mean_average_precision([[0, 0], [1, 0]], np.ones((2, 2))), ValueError, r"rows \[0\] .* no positive"),
        (lambda: metrics.mean_average_precision([[0, 1]], np.ones((1, 3))), ValueError, r"shape \(1, 2\) differs"),
        (lambda: metrics.class_average_precision([[0, 0]], np.ones((1, 2))), ValueError, "no positive label"),
        (lambda: metrics.confusion_matrix([0, 1], [0]), ValueError, r"shape \(2,\) differs from y_pred shape \(1,\)"),
        (lambda: metrics.confusion_matrix([0, 3], [0, 1], n_classes=3), ValueError, "y_true must lie in 0..2"),
        (lambda: metrics.mcnemar_test(-1, 3), ValueError, "integer >= 0, got -1"),
        (lambda: metrics.mcnemar_test(np.array([1, 0]), np.array([1, 1])), ValueError, "1-D boolean arrays"),
    ],
)
def test_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()
