"""Unit tests of refzsl.classify: labels, the model file, compatibility checks, scoring.

Everything runs on a synthetic data root written here (a 24-word Word2Vec binary
file and GloVe text file), so no shared asset is needed.
"""

import json

import numpy as np
import pytest

from refzsl import classify
from refzsl.models import persistence

from refzsl.semantic import recipes as semantic
from refzsl.classify import (
    BilinearScorer,
    ClassifierModel,
    ModelMismatchError,
    check_labels,
    get_scorer,
    parse_labels,
    train_model,
)
from refzsl.exceptions import OutOfVocabularyError
from refzsl.semantic.vectors import clear_vector_cache
from refzsl._util.files import read_json_array

WORDS = ["dog", "barking", "cat", "meowing", "rain", "falling", "siren", "wailing", "church", "bells",
         "water", "drops", "crow", "cawing", "engine", "idling", "bird", "whistling", "chirp", "wind",
         "man", "speaking", "car", "horn"]
CLASSES = ["dog barking", "cat meowing", "rain falling", "siren wailing", "church bells", "water drops",
           "crow cawing", "engine idling", "chirping bird"]
FALLBACK = {"chirping": ["chirp", "whistling"]}


def _write_vectors(root, *, seed=0, drop=(), extra=(), perturb=None):
    """A data root with word2vec (300-d binary) and GloVe (50-d text) files for WORDS."""
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(seed)
    words = [word for word in WORDS if word not in drop] + list(extra)
    # Low-rank vectors: every class embedding lies in a 5-d subspace that the training classes span,
    # so that a W learned on some classes can transfer to the others.
    w2v_basis, glove_basis = rng.normal(size=(5, 300)), rng.normal(size=(5, 50))
    latent = np.concatenate([rng.normal(size=(len(WORDS), 5)), rng.normal(size=(len(extra), 5))])
    w2v = (latent @ w2v_basis).astype(np.float32)
    glove = (latent @ glove_basis).astype(np.float32)
    keep = [i for i, word in enumerate(WORDS + list(extra)) if word not in drop]
    w2v, glove = w2v[keep], glove[keep]
    if perturb is not None:
        glove[words.index(perturb)] += 0.5
    (root / "vectors").mkdir(parents=True, exist_ok=True)
    keyed = KeyedVectors(300, dtype=np.float32)
    keyed.add_vectors(words, w2v)
    keyed.save_word2vec_format(str(root / "vectors" / "GoogleNews-vectors-negative300-subset.bin"), binary=True)
    with open(root / "vectors" / "glove.6B.50d-subset.txt", "w", encoding="utf-8") as handle:
        for word, vector in zip(words, glove):
            handle.write(word + " " + " ".join(f"{value:.6f}" for value in vector) + "\n")
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path / "cache"))
    clear_vector_cache()


@pytest.fixture
def root(tmp_path):
    return _write_vectors(tmp_path / "root")


class _Features:
    def __init__(self, clip_embeddings):
        self.clip_embeddings = clip_embeddings


def _training_data(root, n_per_class=12, seed=1):
    """Clip embeddings made from the classes' own φ, so that W can be learned."""
    rng = np.random.default_rng(seed)
    phi = semantic.cached_word_vectors("WLE+GLE", root=root)
    from refzsl.semantic.recipes import class_embeddings
    class_phi = class_embeddings(CLASSES, "WLE+GLE", vectors=phi, fallback=FALLBACK)
    mixing = rng.normal(size=(class_phi.shape[1], 64))
    labels = [name for name in CLASSES for _ in range(n_per_class)]
    X = np.stack([class_phi[CLASSES.index(name)] @ mixing for name in labels])
    X += 0.05 * rng.normal(size=X.shape)
    return X.astype(np.float32), labels


@pytest.fixture
def model(root):
    X, labels = _training_data(root)
    return train_model(X, labels, classes=CLASSES, recipe="WLE+GLE", semantic_options={"fallback": FALLBACK},
                       estimator_params={"learning_rate": 0.1, "n_epochs": 5, "random_state": 0},
                       acoustic={"name": "yamnet", "sha256": "a" * 64, "embedding_dim": 64},
                       training={"source": "synthetic"}, root=root)


# ---- labels ------------------------------------------------------------------------------

def test_parse_labels_strips_and_keeps_order():
    assert parse_labels("  siren, dog   barking ,rain") == ["siren", "dog barking", "rain"]


@pytest.mark.parametrize("text, message", [
    ("", "Label 1 of 1 is empty"),
    ("siren,,rain", "Label 2 of 3 is empty"),
    ("siren, rain,", "Label 3 of 3 is empty"),
    ("siren, Dog barking, dog  barking", "Duplicate label 'dog barking' (labels 2 and 3)"),
])
def test_parse_labels_rejects(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_labels(text)


@pytest.mark.parametrize("labels, error", [
    ([], ValueError),
    ("siren, rain", TypeError),
    (["siren", 3], TypeError),
    (["siren", "  "], ValueError),
])
def test_check_labels_rejects(labels, error):
    with pytest.raises(error):
        check_labels(labels)


# ---- training and the model file -----------------------------------------------------------

def test_train_model_records_spec(model):
    assert model.classes == CLASSES
    assert model.estimator.W_.shape == (64, 350)
    assert model.class_embeddings.shape == (len(CLASSES), 350)
    assert model.semantic["recipe"] == "WLE+GLE"
    assert [source["asset"] for source in model.semantic["vectors"]] == ["word2vec", "glove"]
    assert model.semantic["vectors"][1]["words"] == len(WORDS)
    assert model.training["train_top1"] > 0.9  # separable synthetic data


def test_train_model_rejects_sentence_recipe(root):
    X, labels = _training_data(root)
    with pytest.raises(ValueError, match="cannot embed free-text labels"):
        train_model(X, labels, recipe="WSE", root=root)


def test_save_load_round_trip(model, root, tmp_path):
    path = model.save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:  # no pickle anywhere in the file
        metadata = read_json_array(archive["metadata"])
        assert "estimator.W_" in archive.files
        assert archive["estimator.W_"].dtype == np.float32 and archive["metadata"].dtype == np.uint8
    assert metadata["format"] == persistence.MODEL_FORMAT
    assert metadata["acoustic"]["sha256"] == "a" * 64
    assert metadata["versions"]["refzsl"]
    loaded = ClassifierModel.load(path)
    assert loaded.classes == model.classes
    assert loaded.estimator.get_params() == model.estimator.get_params()
    np.testing.assert_array_equal(loaded.estimator.W_, model.estimator.W_)
    assert loaded.estimator.W_.dtype == model.estimator.W_.dtype == np.float64
    features = _Features(np.random.default_rng(5).normal(size=(3, 64)))
    labels = ["man speaking", "car horn", "dog barking"]
    np.testing.assert_array_equal(BilinearScorer(loaded, root=root).score(features, labels),
                                  BilinearScorer(model, root=root).score(features, labels))
    loaded.check(acoustic_sha256="a" * 64, root=root)


def test_unseen_labels_rank_first_on_matching_clips(root):
    """Train without two classes; their clips still rank their own label first among all nine."""
    X, labels = _training_data(root, n_per_class=20)
    held_out = {"siren wailing", "crow cawing"}
    keep = [label not in held_out for label in labels]
    model = train_model(X[keep], [label for label, k in zip(labels, keep) if k], recipe="WLE+GLE",
                        semantic_options={"fallback": FALLBACK}, root=root,
                        estimator_params={"learning_rate": 0.1, "n_epochs": 10, "random_state": 0})
    test = [i for i, label in enumerate(labels) if label in held_out]
    scores = BilinearScorer(model, root=root).score(_Features(X[test]), CLASSES)
    predicted = [CLASSES[i] for i in scores.argmax(axis=1)]
    accuracy = np.mean([p == labels[i] for p, i in zip(predicted, test)])
    assert accuracy > 0.5  # chance 1/9


def test_check_rejects_other_acoustic_model(model, root):
    with pytest.raises(ModelMismatchError, match="sha256 aaaaaaaaaaaa…, .* sha256 bbbbbbbbbbbb…"):
        model.check(acoustic_sha256="b" * 64, root=root)


def test_check_rejects_other_vectors(model, tmp_path):
    other = _write_vectors(tmp_path / "perturbed", perturb="bells")
    with pytest.raises(ModelMismatchError, match="1 of the model's training classes differently.*'church bells'"):
        model.check(root=other)
    with pytest.raises(ModelMismatchError, match="embed 8 of"):
        model.check(root=_write_vectors(tmp_path / "reseeded", seed=7))


def test_check_accepts_subset_and_fuller_vectors(model, tmp_path):
    # A subset lacking one training class's word, and a fuller file that has the fallback's word.
    model.check(root=_write_vectors(tmp_path / "subset", drop=("cawing",)))
    model.check(root=_write_vectors(tmp_path / "fuller", extra=("chirping",)))


def test_check_rejects_vectors_missing_most_classes(model, tmp_path):
    # 6 classes lose a word; "chirping bird" (fallback word) is never compared; 2 of 9 are left.
    drop = ("barking", "meowing", "falling", "wailing", "bells", "cawing")
    with pytest.raises(ModelMismatchError, match="Only 2 of 8 checked training classes"):
        model.check(root=_write_vectors(tmp_path / "small", drop=drop))


def test_format_1_files_still_load(tmp_path, model):
    # format 1: metadata as a NumPy unicode string, arrays in their own dtype
    path = model.save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:
        contents = dict(archive)
    metadata = read_json_array(contents["metadata"])
    metadata["format_version"] = 1
    del metadata["estimator"]["dtypes"]
    contents["metadata"] = np.array(json.dumps(metadata))
    contents["estimator.W_"] = model.estimator.W_
    np.savez(tmp_path / "v1.npz", **contents)
    loaded = ClassifierModel.load(tmp_path / "v1.npz")
    assert loaded.classes == model.classes
    np.testing.assert_array_equal(loaded.estimator.W_, model.estimator.W_)


def test_load_rejects_other_files(tmp_path, model):
    np.savez(tmp_path / "other.npz", W=np.zeros((3, 3)))
    with pytest.raises(ModelMismatchError, match="is not a refzsl classifier model"):
        ClassifierModel.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ModelMismatchError, match="is not a refzsl classifier model"):
        ClassifierModel.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        ClassifierModel.load(tmp_path / "absent.npz")
    path = model.save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:
        contents = dict(archive)
    metadata = read_json_array(contents["metadata"])
    metadata["format_version"] = persistence.MODEL_FORMAT_VERSION + 1
    contents["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(tmp_path / "future.npz", **contents)
    with pytest.raises(ModelMismatchError, match=f"format version {persistence.MODEL_FORMAT_VERSION + 1}"):
        ClassifierModel.load(tmp_path / "future.npz")


def test_unknown_words_are_listed_with_suggestions(model, root):
    with pytest.raises(OutOfVocabularyError) as caught:
        BilinearScorer(model, root=root).score(_Features(np.ones((1, 64))), ["dog barkng", "rain"])
    assert caught.value.missing == {"dog barkng": ["barkng"]}
    assert "barking" in caught.value.suggestions["barkng"]


def test_vector_cache_gives_gensim_values(root):
    from gensim.models import KeyedVectors
    cached = semantic.cached_word_vectors("WLE+GLE", root=root)
    for asset in ("word2vec", "glove"):
        path = root / "vectors" / {"word2vec": "GoogleNews-vectors-negative300-subset.bin",
                                   "glove": "glove.6B.50d-subset.txt"}[asset]
        reference = KeyedVectors.load_word2vec_format(str(path), binary=asset == "word2vec",
                                                      no_header=asset == "glove")
        assert cached[asset].index_to_key == reference.index_to_key
        np.testing.assert_array_equal(cached[asset].vectors, reference.vectors)
        np.testing.assert_array_equal(cached[asset][["dog", "rain"]], reference[["dog", "rain"]])
    clear_vector_cache()
    again = semantic.cached_word_vectors("GLE", root=root)  # now read from the cache file
    np.testing.assert_array_equal(again["glove"].vectors, cached["glove"].vectors)


@pytest.mark.parametrize("method, match", [("nearest", "Unknown method"), ("bilinear", "needs a bilinear model")])
def test_get_scorer_rejects(method, match):
    with pytest.raises(ValueError, match=match):
        get_scorer(method, model=None)


@pytest.mark.parametrize("method", ["conse", "prototype", "fused"])
def test_get_scorer_builds_open_vocabulary_methods(method):
    scorer = get_scorer(method, model=None)  # these do not use the ESC-50 model file
    assert scorer.name == method and callable(scorer.score)


def test_get_scorer_fuses_conse_and_prototype_with_the_selected_weight():
    from refzsl.models import conse
    scorer = get_scorer("fused")
    assert [type(part) for part in scorer.scorers] == [conse.ConSEScorer, conse.PrototypeBilinearScorer]
    weight = conse.DEFAULTS["fusion_weight"]
    assert scorer.weights == (weight, 1.0 - weight)
