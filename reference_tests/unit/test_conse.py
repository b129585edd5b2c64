"""ConSE, the prototype-bilinear model and score fusion on small synthetic problems (no assets)."""

from types import SimpleNamespace

import numpy as np
import pytest

from refzsl.models import conse
from refzsl.models.bilinear import NotFittedError
from refzsl.openset import build_parser


def _features(segment_scores=None, clip_embeddings=None):
    return SimpleNamespace(segment_scores=segment_scores, clip_embeddings=clip_embeddings)


# -- ConSE ----------------------------------------------------------------------------------------

def test_conse_embed_is_the_probability_weighted_mean_of_the_top_classes():
    phi = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [5.0, 5.0]])
    scores = np.array([[0.6, 0.2, 0.1, 0.05]])
    # T = 2: classes 0 and 1, weights 0.6 and 0.2 -> (0.6*[1,0] + 0.2*[0,1]) / 0.8
    np.testing.assert_allclose(conse.ConSE(n_top=2).embed(scores, phi), [[0.75, 0.25]])
    np.testing.assert_allclose(conse.ConSE(n_top=1).embed(scores, phi), [[1.0, 0.0]])


def test_conse_top_t_larger_than_the_vocabulary_uses_every_class():
    phi = np.eye(3)
    scores = np.array([[0.5, 0.25, 0.25]])
    np.testing.assert_allclose(conse.ConSE(n_top=10).embed(scores, phi), [[0.5, 0.25, 0.25]])


def test_conse_never_combines_uncovered_classes():
    phi = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    scores = np.array([[0.1, 0.2, 0.9]])
    covered = np.array([True, True, False])
    np.testing.assert_allclose(conse.ConSE(n_top=1).embed(scores, phi, covered=covered), [[0.0, 1.0]])


def test_conse_decision_function_ranks_the_label_of_the_top_class_first():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(20, 8))
    scores = rng.uniform(0, 0.1, size=(5, 20))
    winners = np.array([3, 7, 11, 0, 19])
    scores[np.arange(5), winners] = 0.95
    labels = phi[[3, 7, 11, 0, 19]] * 2.5  # scale does not matter: cosine
    cos = conse.ConSE(n_top=1, n_neighbours=0).decision_function(scores, phi, labels)
    assert cos.shape == (5, 5)
    np.testing.assert_array_equal(cos.argmax(axis=1), np.arange(5))
    np.testing.assert_allclose(np.diag(cos), 1.0)
    assert np.all(np.abs(cos) <= 1 + 1e-12)


def test_conse_cosine_ignores_a_labels_undefined_zero_part():
    phi = np.array([[1.0, 0.0, 0.6, 0.8], [0.0, 1.0, 0.8, -0.6]])
    scores = np.array([[0.9, 0.1]])
    full = np.array([[1.0, 0.0, 0.6, 0.8]])
    partial = np.array([[0.0, 0.0, 0.6, 0.8]])  # first part unknown: judged on the second part only
    model = conse.ConSE(n_top=1, n_neighbours=0)
    np.testing.assert_allclose(model.decision_function(scores, phi, full), [[1.0]])
    np.testing.assert_allclose(model.decision_function(scores, phi, partial), [[1.0]])


@pytest.mark.parametrize("n_top", [0, -1, 1.5, True, "3", None])
def test_conse_rejects_bad_n_top(n_top):
    with pytest.raises(ValueError, match="n_top"):
        conse.ConSE(n_top=n_top).embed(np.ones((1, 3)), np.eye(3))


@pytest.mark.parametrize("scores, phi, labels, match", [
    (np.ones((2, 4)), np.eye(3), np.eye(3), "columns"),
    (np.ones(3), np.eye(3), np.eye(3), "2-D"),
    (-np.ones((1, 3)), np.eye(3), np.eye(3), ">= 0"),
    (np.full((1, 3), np.nan), np.eye(3), np.eye(3), "NaN"),
    (np.ones((1, 3)), np.eye(3), np.ones((2, 4)), "label_embeddings"),
])
def test_conse_rejects_bad_inputs(scores, phi, labels, match):
    with pytest.raises(ValueError, match=match):
        conse.ConSE(n_top=2).decision_function(scores, phi, labels)


def test_conse_rejects_a_covered_mask_of_the_wrong_shape_or_empty():
    with pytest.raises(ValueError, match="covered"):
        conse.ConSE().embed(np.ones((1, 3)), np.eye(3), covered=np.ones(2, bool))
    with pytest.raises(ValueError, match="covered"):
        conse.ConSE().embed(np.ones((1, 3)), np.eye(3), covered=np.zeros(3, bool))


# -- pooling ------------------------------------------------------------------------------------------

def test_pool_scores_mean_and_max_over_patches():
    segments = [np.array([[0.1, 0.9], [0.3, 0.1]]), np.array([[0.5, 0.5]])]
    features = _features(segments)
    np.testing.assert_allclose(conse.pool_scores(features, "mean"), [[0.2, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(conse.pool_scores(features, "max"), [[0.3, 0.9], [0.5, 0.5]])


def test_pool_scores_embedding_applies_the_classifier_to_the_mean_embedding():
    weights, bias = np.array([[1.0, -1.0], [0.0, 2.0]]), np.array([0.0, -1.0])
    features = _features(clip_embeddings=np.array([[1.0, 0.5]]))
    expected = 1 / (1 + np.exp(-np.array([[1.0, -1.0]])))  # logits [1, -1 + 1 - 1]
    np.testing.assert_allclose(conse.pool_scores(features, "embedding", classifier=(weights, bias)), expected)


@pytest.mark.parametrize("features, pooling, match", [
    (_features([np.ones((1, 2))]), "median", "Unknown pooling"),
    (_features(None), "mean", "no YAMNet class scores"),
    (_features(clip_embeddings=np.ones((1, 2))), "embedding", "classifier"),
])
def test_pool_scores_errors(features, pooling, match):
    with pytest.raises(ValueError, match=match):
        conse.pool_scores(features, pooling)


# -- fusion -------------------------------------------------------------------------------------------

def test_standardise_scores_rows_have_zero_mean_unit_spread_and_constant_rows_become_zero():
    out = conse.standardise_scores([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    np.testing.assert_allclose(out[0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(out[0].std(), 1.0)
    np.testing.assert_array_equal(out[1], 0.0)


def test_fuse_scores_is_invariant_to_each_methods_scale_and_offset():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    fused = conse.fuse_scores([a, b], [0.3, 0.7])
    np.testing.assert_allclose(conse.fuse_scores([10 * a + 3, 0.01 * b - 5], [0.3, 0.7]), fused)
    np.testing.assert_allclose(conse.fuse_scores([a, b], [1.0, 0.0]), conse.standardise_scores(a))


@pytest.mark.parametrize("scores, weights, match", [
    ([np.ones((2, 3))], [0.5, 0.5], "one weight per"),
    ([np.ones((2, 3)), np.ones((2, 3))], [-0.1, 1.1], ">= 0"),
    ([np.ones((2, 3)), np.ones((2, 3))], [0.0, 0.0], "not all zero"),
    ([np.ones((2, 3)), np.ones((2, 4))], [0.5, 0.5], "differ in shape"),
])
def test_fuse_scores_errors(scores, weights, match):
    with pytest.raises(ValueError, match=match):
        conse.fuse_scores(scores, weights)


def test_fused_scorer_combines_its_scorers():
    class Fixed:
        def __init__(self, scores):
            self.scores = np.asarray(scores, dtype=float)

        def score(self, features, labels):
            return self.scores

    scorer = conse.FusedScorer([Fixed([[0.0, 1.0, 2.0]]), Fixed([[2.0, 0.0, 1.0]])], [0.75, 0.25])
    out = scorer.score(None, ["a", "b", "c"])
    assert scorer.name == "fused"
    np.testing.assert_array_equal(out.argmax(axis=1), [2])
    np.testing.assert_allclose(out, conse.fuse_scores([[[0.0, 1.0, 2.0]], [[2.0, 0.0, 1.0]]], [0.75, 0.25]))


# -- prototype bilinear and pseudo-queries ---------------------------------------------------------

def test_prototype_bilinear_generalises_to_unseen_classes_of_a_linear_world():
    rng = np.random.default_rng(0)
    d_s, d_a, n_classes = 6, 12, 40
    phi = rng.normal(size=(n_classes, d_s))
    prototypes = phi @ rng.normal(size=(d_s, d_a))  # acoustic prototypes linear in φ
    seen, unseen = np.arange(30), np.arange(30, 40)
    model = conse.PrototypeBilinear(learning_rate=0.1, n_epochs=30, random_state=0).fit(prototypes[seen], phi[seen])
    queries = prototypes[unseen] + 0.05 * rng.normal(size=(10, d_a))
    top1 = np.mean(model.decision_function(queries, phi[unseen]).argmax(axis=1) == np.arange(10))
    assert top1 >= 0.6  # chance 0.1


def test_prototype_bilinear_errors():
    with pytest.raises(NotFittedError):
        conse.PrototypeBilinear().decision_function(np.ones((1, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="one row per class"):
        conse.PrototypeBilinear().fit(np.ones((3, 4)), np.ones((2, 5)))


def test_top3_pooling_averages_each_classs_three_strongest_patches():
    patches = np.array([[0.1, 0.9], [0.5, 0.0], [0.3, 0.0], [0.2, 0.6], [0.4, 0.3]])
    pooled = conse.pool_patch_scores([patches], "top3")
    np.testing.assert_allclose(pooled, [[(0.5 + 0.4 + 0.3) / 3, (0.9 + 0.6 + 0.3) / 3]])
    # a clip shorter than 3 patches averages what it has
    np.testing.assert_allclose(conse.pool_patch_scores([patches[:2]], "top3"), [[0.3, 0.45]])
    with pytest.raises(ValueError, match="'median'"):
        conse.pool_patch_scores([patches], "median")


def test_csls_pulls_down_a_hub_label_close_to_many_reference_classes():
    # Reference classes: three near "a" (a hub direction) and one exactly on "b".
    phi = np.array([[1.0, 0.1, 0.0], [1.0, -0.1, 0.0], [1.0, 0.0, 0.1], [0.0, 1.0, 0.0]])
    labels = np.array([[1.0, 0.0, 0.0], [0.3, 1.0, 0.0]])   # "hub" and "specific"
    scores = np.array([[0.05, 0.05, 0.05, 0.6]])             # class 3 fires, but φ̂ leans to the hub
    plain = conse.ConSE(n_top=4, n_neighbours=0).decision_function(scores, phi, labels)
    corrected = conse.ConSE(n_top=4, n_neighbours=3).decision_function(scores, phi, labels)
    assert np.argmax(plain[0]) == 0 and np.argmax(corrected[0]) == 1
    # CSLS = 2 cos − r(x) − r(y), r = mean of the K largest cosines to the reference classes
    cos = conse.masked_cosine(conse.ConSE(n_top=4).embed(scores, phi), labels)
    r_labels = np.sort(conse.masked_cosine(phi, labels), axis=0)[-3:].mean(axis=0)
    r_clip = np.sort(conse.masked_cosine(conse.ConSE(n_top=4).embed(scores, phi), phi), axis=1)[:, -3:].mean()
    np.testing.assert_allclose(corrected, 2 * cos - r_clip - r_labels[None, :])


@pytest.mark.parametrize("k", [-1, 1.5, True])
def test_hubness_correction_rejects_a_bad_k(k):
    with pytest.raises(ValueError, match="n_neighbours"):
        conse.ConSE(n_neighbours=k).decision_function(np.ones((1, 2)), np.eye(2), np.eye(2))


def test_prototype_bilinear_hubness_correction_subtracts_the_labels_neighbourhood():
    rng = np.random.default_rng(0)
    prototypes, phi = rng.normal(size=(12, 6)), rng.normal(size=(12, 4))
    model = conse.PrototypeBilinear(n_epochs=3, n_neighbours=0).fit(prototypes, phi)
    clips, labels = rng.normal(size=(5, 6)), rng.normal(size=(3, 4))
    plain = model.decision_function(clips, labels)
    model.n_neighbours = 4
    reference = model.estimator_.decision_function(prototypes, labels)
    expected = 2 * plain - np.sort(reference, axis=0)[-4:].mean(axis=0)[None, :]
    np.testing.assert_allclose(model.decision_function(clips, labels), expected)


def test_none_of_these_rejects_clips_whose_best_score_is_below_the_threshold():
    scores = np.array([[0.2, 0.1], [0.6, 0.3], [0.5, 0.5]])
    np.testing.assert_array_equal(conse.none_of_these(scores, 0.5), [True, False, False])
    with pytest.raises(ValueError, match="NaN"):
        conse.none_of_these(np.array([[np.nan]]), 0.5)


@pytest.mark.parametrize("argv", [["--pooling", "max"], ["--draws", "0"]])
def test_openset_parser_rejects_bad_options(argv):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)


def test_label_oov_error_is_the_recipes_error(monkeypatch):
    # One out-of-vocabulary path: free-text labels get the same error, with suggestions, as class_embeddings.
    from refzsl.exceptions import OutOfVocabularyError
    from refzsl.semantic import ontology
    from refzsl.semantic import recipes as semantic
    from refzsl.semantic.vectors import WordVectors

    vectors = WordVectors(["dog", "bark", "barks"], np.eye(3, dtype=np.float32))
    monkeypatch.setattr(semantic, "cached_word_vectors", lambda recipe, root=None: {"word2vec": vectors})
    monkeypatch.setattr(ontology, "_part_embeddings", lambda part, texts, **kwargs: semantic.average_words(
        [semantic.tokenize(text) for text in texts], vectors, fallback=kwargs.get("fallback")))
    with pytest.raises(OutOfVocabularyError, match=r"Recipe WLE: unknown words in 1 labels") as caught:
        ontology.label_embeddings(["dog barkk"], "WLE", oov="error")
    assert caught.value.missing == {"dog barkk": ["barkk"]}
    assert caught.value.suggestions["barkk"][0] == "bark"
