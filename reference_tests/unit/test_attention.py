"""refzsl.models.attention and its kernel refzsl.models._attention_sgd: pooling, loss, gradients, estimator."""

import numpy as np
import pytest

from refzsl.models import _attention_sgd
from refzsl.models._ranksgd import rank_penalties
from refzsl.models.attention import TemporalAttentionZSL, _loss_and_gradients

POOL = _attention_sgd.pool_and_gradient


def _random_problem(seed=0, n=5, T=4, C=6, dtype=np.float64):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, T, C)).astype(dtype)
    targets = (rng.random((n, C)) < 0.35).astype(np.uint8)
    targets[0] = 0  # a clip without positives contributes nothing
    targets[1] = 1  # nor one without negatives
    targets[2, :2] = 1
    return scores, targets


def _run(kernel, scores, targets, pooling, loss, temperature=0.7, margin=1.0):
    n, T, C = scores.shape
    clip, attention, gradient = np.empty((n, C), scores.dtype), np.empty_like(scores), np.empty_like(scores)
    value, violations = kernel(scores, targets, _attention_sgd.POOLINGS[pooling], 1.0 / temperature,
                               _attention_sgd.LOSSES[loss], margin, rank_penalties(C), clip, attention, gradient)
    return value, violations, clip, attention, gradient


@pytest.mark.parametrize("pooling", list(_attention_sgd.POOLINGS))
@pytest.mark.parametrize("loss", list(_attention_sgd.LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jitted_kernel_equals_its_plain_twin(pooling, loss, dtype):
    scores, targets = _random_problem(dtype=dtype)
    plain = _run(POOL, scores, targets, pooling, loss)
    fast = _run(_attention_sgd.jitted(POOL), scores, targets, pooling, loss)
    assert plain[1] == fast[1] > 0
    tolerance = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(plain[0], fast[0], rtol=tolerance)
    for a, b in zip(plain[2:], fast[2:]):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def test_attention_is_a_softmax_over_time_and_uniform_is_the_mean():
    scores, targets = _random_problem()
    _, _, clip, attention, _ = _run(POOL, scores, targets, "attention", "rank_normalised", temperature=0.5)
    expected = np.exp(scores / 0.5) / np.exp(scores / 0.5).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(attention, expected, rtol=1e-12)
    np.testing.assert_allclose(clip, (expected * scores).sum(axis=1), rtol=1e-12)
    _, _, clip, attention, _ = _run(POOL, scores, targets, "uniform", "rank_normalised")
    np.testing.assert_allclose(attention, 1 / scores.shape[1])
    np.testing.assert_allclose(clip, scores.mean(axis=1), rtol=1e-12)


def test_temperature_moves_attention_from_max_to_mean():
    scores, targets = _random_problem()
    sharp = _run(POOL, scores, targets, "attention", "rank_normalised", temperature=1e-4)[2]
    flat = _run(POOL, scores, targets, "attention", "rank_normalised", temperature=1e4)[2]
    np.testing.assert_allclose(sharp, scores.max(axis=1), atol=1e-9)
    np.testing.assert_allclose(flat, scores.mean(axis=1), atol=1e-3)


def test_rank_normalised_loss_by_hand():
    # one clip, classes 0 (positive), 1, 2 (negatives); clip scores 0, 0.5, -2 under uniform pooling
    scores = np.array([[[0.0, 0.5, -2.0]]])
    targets = np.array([[1, 0, 0]], np.uint8)
    loss, violations, _, _, gradient = _run(POOL, scores, targets, "uniform", "rank_normalised")
    # only class 1 violates: ℓ = 1 + 0.5 − 0 = 1.5, K = 1, weight β_1/1 = 1
    assert violations == 1 and loss == pytest.approx(1.5)
    np.testing.assert_allclose(gradient[0, 0], [-1.0, 1.0, 0.0])


def test_algorithm1_weights_by_sorted_position():
    # positive class 0 at 0; negatives 1, 2, 3 at 0.5, 0.2, 0.9: all violate, sorted 3, 1, 2
    scores = np.array([[[0.0, 0.5, 0.2, 0.9]]])
    targets = np.array([[1, 0, 0, 0]], np.uint8)
    loss, _, _, _, gradient = _run(POOL, scores, targets, "uniform", "algorithm1")
    beta = rank_penalties(4)
    weights = {3: beta[3 // 1], 1: beta[3 // 2], 2: beta[3 // 3]}  # β_⌊|N|/r⌋, |N| = 3
    assert loss == pytest.approx(weights[3] * 1.9 + weights[1] * 1.5 + weights[2] * 1.2)
    np.testing.assert_allclose(gradient[0, 0, 1:], [weights[1], weights[2], weights[3]])
    assert gradient[0, 0, 0] == pytest.approx(-sum(weights.values()))


@pytest.mark.parametrize("loss, expected_loss, expected_gradient", [
    # Positives 0, 1 at 0 and 0.5; negatives 2, 3 at 0.5 and -0.6; margin 1, |P| = 2.
    # Positive 0: ℓ = 1.5 (class 2), 0.4 (class 3). Positive 1: ℓ = 1.0 (class 2); class 3 gives -0.1.
    # rank_normalised, weight β_K/K/|P|: 0.375 on both for positive 0 (K = 2), 0.5 for positive 1 (K = 1).
    ("rank_normalised", 0.375 * (1.5 + 0.4) + 0.5 * 1.0, [-0.75, -0.5, 0.875, 0.375]),
    # algorithm1, weight β_⌊|N|/r⌋/|P| with |N| = 2: 0.75 then 0.5 for positive 0, 0.75 for positive 1.
    ("algorithm1", 0.75 * 1.5 + 0.5 * 0.4 + 0.75 * 1.0, [-1.25, -0.75, 1.5, 0.5]),
])
def test_every_positive_is_ranked_and_the_loss_averaged_over_positives(loss, expected_loss, expected_gradient):
    scores = np.array([[[0.0, 0.5, 0.5, -0.6]]])
    targets = np.array([[1, 1, 0, 0]], np.uint8)
    value, violations, _, _, gradient = _run(POOL, scores, targets, "uniform", loss)
    assert violations == 3 and value == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(gradient[0, 0], expected_gradient, rtol=1e-12)


def test_skipping_the_loss_leaves_targets_unread_and_pools_the_same():
    scores, targets = _random_problem()
    n, T, C = scores.shape
    clip, attention = np.empty((n, C)), np.empty_like(scores)
    loss, violations = POOL(scores, np.zeros((0, C), np.uint8), 0, 1 / 0.7, 1, 1.0, np.zeros(1), clip, attention,
                            np.zeros((0, T, C)))
    assert (loss, violations) == (0.0, 0)
    _, _, clip_with_loss, attention_with_loss, _ = _run(POOL, scores, targets, "attention", "rank_normalised")
    np.testing.assert_array_equal(clip, clip_with_loss)
    np.testing.assert_array_equal(attention, attention_with_loss)


def _fd_problem(seed=3):
    rng = np.random.default_rng(seed)
    n, T, d, d_s, k, C = 6, 5, 7, 4, 3, 5
    X = rng.normal(size=(n, T, d))
    targets = (rng.random((n, C)) < 0.4).astype(np.uint8)
    targets[:, 0] = 1
    Phi = rng.normal(size=(C, d_s))
    Phi /= np.linalg.norm(Phi, axis=1, keepdims=True)
    mean, inv_scale = rng.normal(size=d), rng.uniform(0.5, 2.0, size=d)
    return X, targets, Phi, rng.normal(size=(d, k)), rng.normal(size=(d_s, k)), mean, inv_scale


@pytest.mark.parametrize("pooling", list(_attention_sgd.POOLINGS))
@pytest.mark.parametrize("loss", list(_attention_sgd.LOSSES))
@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_gradients_match_finite_differences(pooling, loss, similarity):
    X, targets, Phi, U, V, mean, inv_scale = _fd_problem()
    options = dict(mean=mean, inv_scale=inv_scale, cosine=similarity == "cosine", kernel=POOL,
                   pooling_code=_attention_sgd.POOLINGS[pooling], inv_temperature=1 / 0.8,
                   loss_code=_attention_sgd.LOSSES[loss], margin=0.5, beta=rank_penalties(Phi.shape[0]))
    value, violations, grad_U, grad_V = _loss_and_gradients(X, targets, Phi, U, V, **options)
    assert violations > 0 and value > 0
    eps = 1e-6
    for param, grad in ((U, grad_U), (V, grad_V)):
        numeric = np.empty_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + eps
            up = _loss_and_gradients(X, targets, Phi, U, V, **options)[0]
            param[index] = saved - eps
            down = _loss_and_gradients(X, targets, Phi, U, V, **options)[0]
            param[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        # Central differences in float64 agree to ~1e-7 relative (measured); a missing term is O(1).
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def _synthetic_zero_shot(seed=0, n_train=600, n_test=200, T=8, d=24, d_s=10, n_classes=14, n_test_classes=4):
    """Clips of noise segments where each present class adds its prototype A φ(y) to 2 segments."""
    rng = np.random.default_rng(seed)
    Phi = rng.normal(size=(n_classes, d_s))
    A = rng.normal(size=(d_s, d))

    def make(n, classes):
        X = rng.normal(size=(n, T, d)).astype(np.float32)
        Y = np.zeros((n, classes.size), np.uint8)
        for i in range(n):
            for j in rng.choice(classes.size, size=2, replace=False):
                start = rng.integers(T - 1)
                X[i, start:start + 2] += Phi[classes[j]] @ A / 2
                Y[i, j] = 1
        return X, Y

    train, test = np.arange(n_classes - n_test_classes), np.arange(n_classes - n_test_classes, n_classes)
    return make(n_train, train), make(n_test, test), Phi[train], Phi[test]


@pytest.mark.parametrize("pooling", list(_attention_sgd.POOLINGS))
@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_learns_unseen_classes_on_synthetic_clips(pooling, similarity):
    (X, Y), (X_test, Y_test), Phi, Phi_test = _synthetic_zero_shot()
    model = TemporalAttentionZSL(n_components=8, similarity=similarity, pooling=pooling, n_epochs=8,
                                 learning_rate=0.2, random_state=0)
    model.fit(X, Y, Phi)
    assert model.loss_curve_[-1] < 0.7 * model.loss_curve_[0]
    # 4 unseen classes, 2 positives per clip: a random ranking scores mAP 0.681 on average
    # (mean AP over the 6 equally likely rank pairs); measured 0.84-0.91 (2026-11-21).
    assert model.score(X_test, Y_test, Phi_test) > 0.8


def test_plain_and_jitted_training_give_the_same_projections():
    (X, Y), _, Phi, _ = _synthetic_zero_shot(n_train=40)
    kwargs = dict(n_components=4, n_epochs=2, batch_size=4, temperature=0.5, random_state=7)
    plain = TemporalAttentionZSL(kernel="python", **kwargs).fit(X, Y, Phi)
    fast = TemporalAttentionZSL(kernel="numba", **kwargs).fit(X, Y, Phi)
    np.testing.assert_allclose(plain.U_, fast.U_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plain.V_, fast.V_, rtol=1e-5, atol=1e-6)


def test_one_batch_step_is_sgd_on_the_mean_loss_plus_the_penalty():
    # One epoch of one batch from the same start U₀: U ← (1 − 2ηλ) U₀ − (η/B) ∇U, so two fits that differ
    # only in λ give U₀ = (U_{λ=0} − U_λ) / (2ηλ), and U_{λ=0} must be U₀ − (η/B) ∇U at that U₀ (same for V).
    (X, Y), _, Phi, _ = _synthetic_zero_shot(n_train=40)
    eta, lam, B = 0.5, 0.5, 40
    kwargs = dict(n_components=4, n_epochs=1, batch_size=B, learning_rate=eta, random_state=3)
    plain = TemporalAttentionZSL(**kwargs).fit(X, Y, Phi)
    decayed = TemporalAttentionZSL(reg_lambda=lam, **kwargs).fit(X, Y, Phi)
    U0 = (plain.U_.astype(np.float64) - decayed.U_) / (2 * eta * lam)
    V0 = (plain.V_.astype(np.float64) - decayed.V_) / (2 * eta * lam)
    _, _, grad_U, grad_V = _loss_and_gradients(
        X.astype(np.float64), Y.astype(np.uint8), Phi / np.linalg.norm(Phi, axis=1, keepdims=True), U0, V0,
        mean=plain.mean_.astype(np.float64), inv_scale=1 / plain.scale_.astype(np.float64), cosine=True, kernel=POOL,
        pooling_code=_attention_sgd.POOLINGS["attention"], inv_temperature=1 / plain.temperature,
        loss_code=_attention_sgd.LOSSES[plain.loss], margin=plain.margin, beta=rank_penalties(Phi.shape[0]))
    # steps are ~0.07 in size; float32 training agrees to ~1e-7 (measured)
    for fitted, start, grad in ((plain.U_, U0, grad_U), (plain.V_, V0, grad_V)):
        assert np.abs(eta / B * grad).max() > 0.01
        np.testing.assert_allclose(fitted, start - eta / B * grad, rtol=0, atol=1e-6)


def test_seeded_and_refit_forgets():
    (X, Y), _, Phi, _ = _synthetic_zero_shot(n_train=60)
    model = TemporalAttentionZSL(n_components=4, n_epochs=2, random_state=1)
    first = model.fit(X, Y, Phi).U_.copy()
    np.testing.assert_array_equal(model.fit(X, Y, Phi).U_, first)
    other = TemporalAttentionZSL(n_components=4, n_epochs=2, random_state=2).fit(X, Y, Phi).U_
    assert not np.array_equal(first, other)


def test_outputs_and_shapes():
    (X, Y), (X_test, _), Phi, Phi_test = _synthetic_zero_shot(n_train=60, n_test=10)
    model = TemporalAttentionZSL(n_components=4, n_epochs=1, random_state=0).fit(X, Y, Phi)
    assert model.fit(X, Y, Phi) is model
    assert model.U_.shape == (24, 4) and model.V_.shape == (10, 4) and model.n_iter_ == 1
    scores = model.decision_function(X_test, Phi_test)
    attention = model.attention(X_test, Phi_test)
    segment = model.segment_scores(X_test, Phi_test)
    assert scores.shape == (10, 4) and attention.shape == segment.shape == (10, 8, 4)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(scores, (attention * segment).sum(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict(X_test, Phi_test, threshold=0.1), scores > 0.1)
    # the number of segments may differ from training
    assert model.decision_function(X_test[:, :3], Phi_test).shape == (10, 4)


def test_divergence_is_reported():
    (X, Y), _, Phi, _ = _synthetic_zero_shot(n_train=60)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="learning_rate"):
        TemporalAttentionZSL(n_components=4, similarity="dot", n_epochs=3, learning_rate=1e30,
                             random_state=0).fit(X, Y, Phi)


def test_unfitted_and_mismatched_inputs():
    (X, Y), _, Phi, _ = _synthetic_zero_shot(n_train=30)
    with pytest.raises(RuntimeError, match="not fitted"):
        TemporalAttentionZSL().decision_function(X, Phi)
    model = TemporalAttentionZSL(n_components=4, n_epochs=1, random_state=0).fit(X, Y, Phi)
    with pytest.raises(ValueError, match="5 features"):
        model.decision_function(X[..., :5], Phi)
    with pytest.raises(ValueError, match="3 dimensions"):
        model.decision_function(X, Phi[:, :3])


_GOOD = dict(n_components=4, n_epochs=1)


@pytest.mark.parametrize("params, error, match", [
    (dict(n_components=0), ValueError, "n_components"),
    (dict(n_epochs=2.0), TypeError, "n_epochs"),
    (dict(batch_size=True), TypeError, "batch_size"),
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(margin=-1.0), ValueError, "margin"),
    (dict(learning_rate=float("nan")), ValueError, "learning_rate"),
    (dict(reg_lambda=-0.1), ValueError, "reg_lambda"),
    (dict(pooling="max"), ValueError, "pooling"),
    (dict(loss="warp"), ValueError, "loss"),
    (dict(kernel="cython"), ValueError, "kernel"),
])
def test_bad_hyper_parameters(params, error, match):
    (X, Y), _, Phi, _ = _synthetic_zero_shot(n_train=10)
    with pytest.raises(error, match=match):
        TemporalAttentionZSL(**{**_GOOD, **params}).fit(X, Y, Phi)


def _bad_inputs():
    (X, Y), _, Phi, _ = _synthetic_zero_shot(n_train=10)
    nan = X.copy()
    nan[0, 0, 0] = np.nan
    zero_row = Phi.copy()
    zero_row[2] = 0
    return [
        ((X[0], Y, Phi), ValueError, r"shape \(8, 24\)"),
        ((X.tolist(), Y, Phi), TypeError, "numpy array"),
        ((X.astype(int), Y, Phi), TypeError, "floating-point"),
        ((nan, Y, Phi), ValueError, "NaN"),
        ((X, Y[:5], Phi), ValueError, r"shape \(5, 10\)"),
        ((X, Y * 2, Phi), ValueError, "0/1"),
        ((X, Y, Phi[:, 0]), ValueError, "class_embeddings must have shape"),
        ((X, Y, zero_row), ValueError, r"rows \[2\] are all zero"),
    ]


@pytest.mark.parametrize("args, error, match", _bad_inputs())
def test_bad_inputs(args, error, match):
    with pytest.raises(error, match=match):
        TemporalAttentionZSL(**_GOOD).fit(*args)


def test_params_round_trip():
    model = TemporalAttentionZSL(n_components=3, temperature=2.0)
    assert model.get_params()["temperature"] == 2.0
    assert model.set_params(pooling="uniform").pooling == "uniform"
    with pytest.raises(ValueError, match="Invalid parameter"):
        model.set_params(alpha=1)


def test_verbose_reports_each_epoch_on_stderr(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3, 5)).astype(np.float32)
    Y = np.zeros((8, 3), dtype=np.uint8)
    Y[np.arange(8), np.arange(8) % 3] = 1
    TemporalAttentionZSL(n_components=2, n_epochs=2, random_state=0, verbose=True).fit(X, Y, rng.normal(size=(3, 4)))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [line.split(":")[0] for line in captured.err.splitlines()] == ["epoch 1/2", "epoch 2/2"]
