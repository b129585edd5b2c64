"""Training Algorithm 1 kernels: every kernel gives the oracle's W (SPEC §3)."""

import numpy as np
import pytest

from refzsl.models import _ranksgd
from refzsl.models._ranksgd import KERNELS, dual_epoch, jitted, oracle_epoch, rank1_epoch, rank_penalties, train

RELATIVE_TOLERANCE = 1e-9  # the bar for "the same iterates"


def _orders(n_samples, n_epochs, seed):
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_samples) for _ in range(n_epochs)]


def _random_problem(n_samples, d_a, d_s, n_classes, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, d_a))
    Phi = rng.normal(size=(n_classes, d_s))
    y = rng.integers(0, n_classes, size=n_samples)
    return X, y, Phi


def _relative_error(W, reference):
    return np.abs(W - reference).max() / np.abs(reference).max()


def test_rank_penalties_are_harmonic_numbers():
    np.testing.assert_allclose(rank_penalties(4), [0, 1, 1.5, 11 / 6, 25 / 12], rtol=1e-15)


@pytest.mark.parametrize("update", ["algorithm1", "rank_normalised"])
@pytest.mark.parametrize("reg_lambda", [0.0, 0.5])
@pytest.mark.parametrize(
    "n_samples, d_a, d_s, n_classes, learning_rate",
    [
        (40, 5, 4, 2, 0.1),  # C = 2: only β_1 is ever used
        (60, 8, 12, 3, 0.05),  # d_s > d_a
        (120, 20, 6, 10, 0.02),  # C > d_s: Φ Φᵀ is singular, the dual form still holds
        (90, 16, 16, 40, 0.01),  # ESC-50-like C
    ],
)
@pytest.mark.parametrize("kernel", ["numba", "dual"])
def test_kernel_equals_oracle_on_random_problems(kernel, n_samples, d_a, d_s, n_classes, learning_rate, reg_lambda, update):
    X, y, Phi = _random_problem(n_samples, d_a, d_s, n_classes, seed=n_classes)
    orders = _orders(n_samples, 2, seed=1)
    options = dict(learning_rate=learning_rate, reg_lambda=reg_lambda, update=update)
    reference = train(X, y, Phi, orders, kernel="python", **options)
    W = train(X, y, Phi, orders, kernel=kernel, **options)
    assert np.abs(reference).max() > 0
    assert _relative_error(W, reference) < RELATIVE_TOLERANCE


@pytest.mark.parametrize("update", ["algorithm1", "rank_normalised"])
@pytest.mark.parametrize("kernel", ["numba", "dual"])
def test_kernel_equals_oracle_with_duplicate_class_embeddings(kernel, update):
    # Classes 0/3/5 and 1/4 share embeddings: their losses tie exactly at every
    # step, so the class-index tie-break decides which β each of them gets.
    X, y, Phi = _random_problem(80, 10, 7, 6, seed=3)
    Phi[3] = Phi[5] = Phi[0]
    Phi[4] = Phi[1]
    orders = _orders(80, 2, seed=4)
    options = dict(learning_rate=0.05, reg_lambda=0.1, update=update)
    reference = train(X, y, Phi, orders, kernel="python", **options)
    assert _relative_error(train(X, y, Phi, orders, kernel=kernel, **options), reference) < RELATIVE_TOLERANCE


@pytest.mark.parametrize("update", ["algorithm1", "rank_normalised"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kernel", ["numba", "dual"])
def test_kernel_equals_oracle_exactly_on_integer_data(kernel, n_classes, update):
    # Small integers, η = 1/2, and weights β_1 = 1, β_2 = 3/2, β_2/2 = 3/4 (C <= 3)
    # keep every operation exact, so ties between *different* classes are exact
    # in every kernel too, and W must agree bit for bit.
    rng = np.random.default_rng(n_classes)
    X = rng.integers(-2, 3, size=(30, 4)).astype(float)
    X[np.all(X == 0, axis=1), 0] = 1.0
    Phi = rng.integers(-1, 2, size=(n_classes, 3)).astype(float)
    Phi[np.all(Phi == 0, axis=1), 0] = 1.0
    y = rng.integers(0, n_classes, size=30)
    orders = _orders(30, 2, seed=5)
    options = dict(learning_rate=0.5, reg_lambda=0.0, update=update)
    reference = train(X, y, Phi, orders, kernel="python", **options)
    np.testing.assert_array_equal(train(X, y, Phi, orders, kernel=kernel, **options), reference)


@pytest.mark.parametrize("kernel", KERNELS)
def test_first_step_weights_follow_the_stable_rank_order(kernel):
    # From W = 0 every other class has loss exactly 1: ranks follow class index,
    # so with C = 3 and y = 0, class 1 gets β_⌊2/1⌋ = 1.5 and class 2 gets β_⌊2/2⌋ = 1.
    theta = np.array([[2.0, -1.0]])
    Phi = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    W = train(theta, np.array([0]), Phi, [np.array([0])], kernel=kernel, learning_rate=0.1, reg_lambda=0.0, update="algorithm1")
    direction = 1.5 * (Phi[1] - Phi[0]) + 1.0 * (Phi[2] - Phi[0])
    np.testing.assert_allclose(W, -0.1 * np.outer(theta[0], direction), rtol=1e-15)


@pytest.mark.parametrize("kernel", KERNELS)
def test_first_step_rank_normalised_weights(kernel):
    # K = 2 violators: each gets β_2 / 2 = 0.75
    theta = np.array([[2.0, -1.0]])
    Phi = np.eye(3)
    W = train(theta, np.array([1]), Phi, [np.array([0])], kernel=kernel, learning_rate=0.1, reg_lambda=0.0, update="rank_normalised")
    direction = 0.75 * (Phi[0] - Phi[1]) + 0.75 * (Phi[2] - Phi[1])
    np.testing.assert_allclose(W, -0.1 * np.outer(theta[0], direction), rtol=1e-15)


@pytest.mark.parametrize("kernel", KERNELS)
def test_regulariser_is_the_sgd_step_of_lambda_norm_squared(kernel):
    # Step 1 (W = 0): class 1 violates, W = η θ (φ0 − φ1)ᵀ = [[1, −1], [0, 0]] for η = 1.
    # Step 2: loss of class 1 = 1 − 2 < 0, no violation, only W ← (1 − 2ηλ) W.
    X = np.array([[1.0, 0.0]])
    Phi = np.eye(2)
    W = train(X, np.array([0]), Phi, [np.array([0]), np.array([0])], kernel=kernel, learning_rate=1.0, reg_lambda=0.25, update="algorithm1")
    np.testing.assert_allclose(W, 0.5 * np.array([[1.0, -1.0], [0.0, 0.0]]), rtol=1e-15)


@pytest.mark.parametrize("kernel", ["numba", "dual"])
def test_lazy_scale_is_folded_back_without_changing_the_iterates(kernel):
    # decay 1 − 2·0.4·1.2 = 0.04 per sample: the scale falls below 1e-100 within
    # 72 samples, so the fold-back path runs several times in 2 × 150 samples.
    X, y, Phi = _random_problem(150, 6, 5, 4, seed=7)
    orders = _orders(150, 2, seed=8)
    options = dict(learning_rate=0.4, reg_lambda=1.2, update="algorithm1")
    reference = train(X, y, Phi, orders, kernel="python", **options)
    assert _relative_error(train(X, y, Phi, orders, kernel=kernel, **options), reference) < RELATIVE_TOLERANCE


@pytest.mark.parametrize("function", [rank1_epoch, dual_epoch])
def test_plain_twin_equals_jitted_kernel(function):
    # One source, two builds: the undecorated loop is the jitted one.
    X, y, Phi = _random_problem(12, 4, 3, 3, seed=9)
    order = np.random.default_rng(10).permutation(12)
    beta = rank_penalties(3)
    results = []
    for run in (function, jitted(function)):
        scale = np.ones(1)
        if function is rank1_epoch:
            state = np.zeros((4, 3))  # V, W = scale · V
            arguments = (Phi, np.ascontiguousarray(Phi.T), state, scale)
        else:
            state = np.zeros((3, 4))  # B, W = scale · Bᵀ Φ
            arguments = (_ranksgd.gram_matrix(Phi), state, scale)
        n_violations = run(X, y, *arguments, order, 0.1, 0.99, 0, beta)
        results.append((n_violations, scale[0] * state))
    assert results[0][0] == results[1][0]
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


def test_oracle_counts_violations():
    X = np.array([[1.0, 0.0]])
    n_violations = oracle_epoch(X, np.array([0]), np.eye(3), np.zeros((2, 3)), np.array([0]), 0.1, 1.0, 0, rank_penalties(3))
    assert n_violations == 2


def test_divergence_raises_with_advice():
    X = np.full((4, 2), 1e200)
    Phi = np.array([[1e100, 0.0], [0.0, 1e100]])
    with pytest.raises(FloatingPointError, match="decrease the learning rate"):
        train(X, np.array([0, 1, 0, 1]), Phi, _orders(4, 3, seed=0), kernel="numba", learning_rate=1e10, reg_lambda=0.0, update="algorithm1")


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="'fast'"):
        train(np.ones((2, 2)), np.array([0, 1]), np.eye(2), [], kernel="fast", learning_rate=0.1, reg_lambda=0.0, update="algorithm1")


def test_importing_the_kernels_does_not_import_numba():
    import subprocess
    import sys

    code = "import sys, refzsl.models.bilinear, refzsl.models._ranksgd; print('numba' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


@pytest.mark.parametrize("kernel", KERNELS)
def test_violators_are_ranked_by_loss_not_by_class_index(kernel):
    # From W with scores (0, 0.2, 0.5) and y = 0 the losses are (0, 1.2, 1.5): class 2
    # ranks first and gets β_⌊2/1⌋ = 1.5, class 1 second and gets β_⌊2/2⌋ = 1.
    theta, y, Phi = np.array([[1.0, 0.0]]), np.array([0]), np.eye(3)
    W = np.array([[0.0, 0.2, 0.5], [0.0, 0.0, 0.0]])
    order, beta, scale = np.array([0]), rank_penalties(3), np.ones(1)
    if kernel == "python":
        oracle_epoch(theta, y, Phi, W, order, 0.1, 1.0, 0, beta)
    elif kernel == "numba":
        jitted(rank1_epoch)(theta, y, Phi, np.ascontiguousarray(Phi.T), W, scale, order, 0.1, 1.0, 0, beta)
    else:
        B = np.ascontiguousarray(W.T)  # W = Bᵀ Φ with Φ = I
        jitted(dual_epoch)(theta, y, _ranksgd.gram_matrix(Phi), B, scale, order, 0.1, 1.0, 0, beta)
        W = B.T @ Phi
    direction = 1.5 * (Phi[2] - Phi[0]) + 1.0 * (Phi[1] - Phi[0])
    expected = np.array([[0.0, 0.2, 0.5], [0.0, 0.0, 0.0]]) - 0.1 * np.outer(theta[0], direction)
    np.testing.assert_allclose(scale[0] * W, expected, rtol=1e-15)
