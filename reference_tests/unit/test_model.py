"""BilinearZSL: estimator conventions, input checks, zero-shot behaviour."""

import numpy as np
import pytest

from refzsl.models import _ranksgd
from refzsl.models.bilinear import BilinearZSL, NotFittedError


def _zero_shot_problem(seed=0, n_classes=12, per_class=20, d_a=16, d_s=8, noise=0.3):
    """Audio generated from class embeddings by a fixed linear map, plus noise."""
    rng = np.random.default_rng(seed)
    Phi = rng.normal(size=(n_classes, d_s))
    mixing = rng.normal(size=(d_s, d_a))
    y = np.repeat(np.arange(n_classes), per_class)
    X = Phi[y] @ mixing + noise * rng.normal(size=(y.size, d_a))
    return X, y, Phi


@pytest.fixture(scope="module")
def problem():
    return _zero_shot_problem()


def test_init_only_stores_hyper_parameters():
    model = BilinearZSL(learning_rate=0.5, n_epochs=3, kernel="python", random_state=7)
    assert model.get_params()["learning_rate"] == 0.5
    assert model.get_params()["random_state"] == 7
    assert not [name for name in vars(model) if name.endswith("_")]
    assert model.set_params(n_epochs=4) is model and model.n_epochs == 4
    assert "n_epochs=4" in repr(model)


def test_fit_sets_attributes_and_returns_self(problem):
    X, y, Phi = problem
    model = BilinearZSL(learning_rate=0.1, n_epochs=3, random_state=0)
    assert model.fit(X, y, Phi) is model
    assert model.W_.shape == (X.shape[1], Phi.shape[1])
    assert model.n_iter_ == 3 and model.n_classes_ == Phi.shape[0]
    assert model.normalize_ == "both"


def test_zero_shot_generalises_to_unseen_classes(problem):
    X, y, Phi = problem
    seen = y < 8  # classes 8..11 are never trained on
    model = BilinearZSL(learning_rate=0.1, n_epochs=10, random_state=0).fit(X[seen], y[seen], Phi[:8])
    unseen_accuracy = model.score(X[~seen], y[~seen] - 8, Phi[8:])
    assert unseen_accuracy > 0.6  # chance is 0.25
    assert model.decision_function(X[:3], Phi[8:]).shape == (3, 4)
    np.testing.assert_array_equal(model.predict(X[~seen], Phi[8:]), model.decision_function(X[~seen], Phi[8:]).argmax(axis=1))


@pytest.mark.parametrize("normalize", ["both", "acoustic", "semantic", "none"])
def test_kernels_give_the_same_model(problem, normalize):
    X, y, Phi = problem
    models = [
        BilinearZSL(learning_rate=0.01, n_epochs=2, reg_lambda=0.1, kernel=kernel, normalize=normalize, random_state=3).fit(X, y, Phi)
        for kernel in _ranksgd.KERNELS
    ]
    for model in models[:-1]:
        np.testing.assert_allclose(model.W_, models[-1].W_, rtol=0, atol=1e-9 * np.abs(models[-1].W_).max())


def test_normalisation_is_part_of_the_model(problem):
    X, y, Phi = problem
    model = BilinearZSL(learning_rate=0.1, n_epochs=2, normalize="both", random_state=0).fit(X, y, Phi)
    # row scaling of either input changes nothing once rows are L2-normalised
    row_scale = np.linspace(0.5, 3.0, X.shape[0])[:, None]
    np.testing.assert_allclose(model.decision_function(X * row_scale, 5 * Phi), model.decision_function(X, Phi), rtol=1e-12)
    raw = BilinearZSL(learning_rate=0.1, n_epochs=2, normalize="none", random_state=0).fit(X, y, Phi)
    np.testing.assert_allclose(raw.decision_function(X, Phi), X @ raw.W_ @ Phi.T, rtol=1e-12)


def test_sample_order_is_seeded(problem):
    X, y, Phi = problem
    fit = lambda seed: BilinearZSL(learning_rate=0.1, n_epochs=2, random_state=seed).fit(X, y, Phi).W_  # noqa: E731
    np.testing.assert_array_equal(fit(1), fit(1))
    assert not np.array_equal(fit(1), fit(2))


def test_refit_forgets_previous_fit(problem):
    X, y, Phi = problem
    model = BilinearZSL(learning_rate=0.1, n_epochs=2, random_state=0)
    first = model.fit(X, y, Phi).W_.copy()
    model.fit(X[:, :5], y, Phi[:, :3])
    assert model.W_.shape == (5, 3)
    np.testing.assert_array_equal(model.fit(X, y, Phi).W_, first)


def test_verbose_reports_epochs_on_stderr(problem, capsys):
    X, y, Phi = problem
    BilinearZSL(learning_rate=0.1, n_epochs=2, verbose=True).fit(X, y, Phi)
    captured = capsys.readouterr()
    assert captured.out == "" and "epoch 2/2" in captured.err and captured.err.startswith("[BilinearZSL] epoch 1/2: ")


def test_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        BilinearZSL().predict(np.ones((2, 3)), np.ones((2, 4)))


def test_divergence_advises_a_smaller_learning_rate():
    X = np.full((4, 2), 1e20)
    Phi = np.array([[1e20, 1.0], [1.0, 1e20]])
    model = BilinearZSL(learning_rate=1e300, n_epochs=3, normalize="none", kernel="numba")
    with pytest.raises(FloatingPointError, match="decrease the learning rate"):
        model.fit(X, np.array([0, 1, 0, 1]), Phi)


def _good():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2]), rng.normal(size=(3, 5))


def _with(name, value):
    X, y, Phi = _good()
    data = {"X": X, "y": y, "Phi": Phi}
    if callable(value):
        value(data[name])
    else:
        data[name] = value
    return data["X"], data["y"], data["Phi"]


def _set(index, value):
    def mutate(array):
        array[index] = value

    return mutate


@pytest.mark.parametrize(
    "name, value, error, message",
    [
        ("X", np.ones(6), ValueError, r"X must be 2-D \[n, d\], got shape \(6,\)"),
        ("X", np.ones((6, 0)), ValueError, r"shape \(6, 0\)"),
        ("X", np.array([["a"] * 4] * 6), TypeError, "X must hold real numbers"),
        ("X", _set((2, 1), np.nan), ValueError, r"NaN or Inf in rows \[2\]"),
        ("X", _set((4, 0), np.inf), ValueError, r"NaN or Inf in rows \[4\]"),
        ("X", _set(3, 0.0), ValueError, r"X \(shape \(6, 4\)\) has all-zero rows \[3\]"),
        ("y", np.array([0, 1, 2, 0, 1]), ValueError, r"y must have shape \(6,\) to match X, got shape \(5,\)"),
        ("y", np.array([0.0, 1, 2, 0, 1, 2]), TypeError, "integer class indices, got dtype float64"),
        ("y", np.array([0, 1, 3, 0, 1, 2]), ValueError, r"rows of class_embeddings \(0\.\.2\), got values \[3\]"),
        ("y", np.array([0, -1, 2, 0, 1, 2]), ValueError, r"got values \[-1\]"),
        ("Phi", np.ones((1, 5)), ValueError, r"at least 2 classes .* shape \(1, 5\)"),
        ("Phi", _set((1, 1), np.nan), ValueError, r"class_embeddings \(shape \(3, 5\)\) holds NaN or Inf in rows \[1\]"),
        ("Phi", _set(2, 0.0), ValueError, r"class_embeddings \(shape \(3, 5\)\) has all-zero rows \[2\]"),
    ],
)
def test_fit_rejects_bad_inputs(name, value, error, message):
    X, y, Phi = _with(name, value)
    with pytest.raises(error, match=message):
        BilinearZSL(n_epochs=1).fit(X, y, Phi)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"learning_rate": 0}, "learning_rate must be a finite number > 0, got 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0, got nan"),
        ({"n_epochs": 0}, "n_epochs must be an integer >= 1, got 0"),
        ({"n_epochs": 2.5}, "n_epochs must be an integer >= 1, got 2.5"),
        ({"reg_lambda": -1.0}, "reg_lambda must be a finite number >= 0, got -1.0"),
        ({"learning_rate": 0.5, "reg_lambda": 1.0}, r"2 \* learning_rate \* reg_lambda must be < 1"),
        ({"update": "warp"}, "update must be one of .*got 'warp'"),
        ({"kernel": "cuda"}, "kernel must be one of .*got 'cuda'"),
        ({"normalize": "l1"}, "normalize must be one of .*got 'l1'"),
    ],
)
def test_fit_rejects_bad_hyper_parameters(params, message):
    X, y, Phi = _good()
    with pytest.raises(ValueError, match=message):
        BilinearZSL(**params).fit(X, y, Phi)


@pytest.mark.parametrize(
    "X, Phi, message",
    [
        (np.ones((2, 3)), np.ones((4, 5)), r"X has 3 features \(shape \(2, 3\)\); the model was fitted with 4"),
        (np.ones((2, 4)), np.ones((4, 6)), r"class_embeddings have 6 dimensions \(shape \(4, 6\)\); .* fitted with 5"),
        (np.zeros((2, 4)), np.ones((4, 5)), r"X \(shape \(2, 4\)\) has all-zero rows \[0, 1\]"),
        (np.ones((2, 4)), np.zeros((1, 5)), r"class_embeddings \(shape \(1, 5\)\) has all-zero rows \[0\]"),
        (np.full((2, 4), np.inf), np.ones((4, 5)), "NaN or Inf"),
    ],
)
def test_decision_function_rejects_bad_inputs(X, Phi, message):
    model = BilinearZSL(n_epochs=1).fit(*_good())
    with pytest.raises(ValueError, match=message):
        model.decision_function(X, Phi)
