"""Estimators own their state: get_fitted_state / from_state, and model files that go only through them."""

import numpy as np
import pytest

from refzsl._util.files import read_json_array
from refzsl.config import PACKAGE_DATA
from refzsl.exceptions import ModelMismatchError
from refzsl.models.attention import TemporalAttentionZSL
from refzsl.models.base import NotFittedError
from refzsl.models.bilinear import BilinearZSL
from refzsl.models.persistence import ClassifierModel

SHIPPED_MODELS = ["classifier_esc50_yamnet.npz", "openvocab_yamnet.npz"]


def _bilinear():
    rng = np.random.default_rng(0)
    X, Phi = rng.normal(size=(30, 6)), rng.normal(size=(3, 4))
    return BilinearZSL(n_epochs=2, random_state=0).fit(X, np.arange(30) % 3, Phi), X, Phi


def _attention():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 4, 5)).astype(np.float32)
    Y = (rng.random((12, 3)) < 0.4).astype(np.uint8)
    Y[:, 0] = 1
    Phi = rng.normal(size=(3, 4))
    return TemporalAttentionZSL(n_components=3, n_epochs=2, random_state=0).fit(X, Y, Phi), X, Phi


def _saved(tmp_path, estimator, classes=("a", "b", "c")):
    model = ClassifierModel(estimator=estimator, acoustic={"name": "test"},
                            semantic={"recipe": "WLE", "options": {}}, classes=list(classes),
                            class_embeddings=np.zeros((len(classes), 4), np.float32))
    return ClassifierModel.load(model.save(tmp_path / "model.npz"))


@pytest.mark.parametrize("make", [_bilinear, _attention])
def test_state_round_trip_scores_the_same(make):
    estimator, X, Phi = make()
    state = estimator.get_fitted_state()
    assert list(state) == list(type(estimator)._fitted_attributes)
    copy = type(estimator).from_state(estimator.get_params(), state)
    np.testing.assert_array_equal(copy.decision_function(X, Phi), estimator.decision_function(X, Phi))
    assert copy.get_params() == estimator.get_params()


@pytest.mark.parametrize("estimator", [BilinearZSL(), TemporalAttentionZSL()])
def test_unfitted_state_is_refused(estimator):
    with pytest.raises(NotFittedError, match="not fitted"):
        estimator.get_fitted_state()


def test_from_state_names_missing_and_unknown_attributes():
    estimator, _, _ = _bilinear()
    state = estimator.get_fitted_state()
    del state["W_"]
    state["bogus_"] = 1
    with pytest.raises(ValueError, match=r"missing \['W_'\], unknown \['bogus_'\]"):
        BilinearZSL.from_state(estimator.get_params(), state)


@pytest.mark.parametrize("make", [_bilinear, _attention])
def test_model_file_keeps_the_estimator_class(tmp_path, make):
    estimator, X, Phi = make()
    loaded = _saved(tmp_path, estimator).estimator
    assert type(loaded) is type(estimator)
    # float64 arrays are stored as float32 (the embeddings' precision)
    np.testing.assert_allclose(loaded.decision_function(X, Phi), estimator.decision_function(X, Phi),
                               rtol=1e-5, atol=1e-5)


def test_model_file_with_unknown_estimator_is_refused(tmp_path):
    import json
    estimator, _, _ = _bilinear()
    _saved(tmp_path, estimator)
    path = tmp_path / "model.npz"
    with np.load(path, allow_pickle=False) as archive:
        contents = dict(archive)
    metadata = read_json_array(contents["metadata"])
    metadata["estimator"]["class"] = "somewhere.RandomForest"
    contents["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(tmp_path / "other.npz", **contents)
    with pytest.raises(ModelMismatchError, match="RandomForest"):
        ClassifierModel.load(tmp_path / "other.npz")


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_model_files_load_unchanged(name):
    # Written before get_fitted_state; one records the class under its old flat module path.
    path = PACKAGE_DATA / name
    with np.load(path, allow_pickle=False) as archive:
        metadata = read_json_array(archive["metadata"])
        stored_W = archive["estimator.W_"]
    # classifier_esc50_yamnet.npz still records the old flat path refzsl.model.BilinearZSL
    assert metadata["estimator"]["class"] in ("refzsl.model.BilinearZSL", "refzsl.models.bilinear.BilinearZSL")
    estimator = ClassifierModel.load(path).estimator
    assert isinstance(estimator, BilinearZSL)
    state = estimator.get_fitted_state()
    np.testing.assert_array_equal(state["W_"], stored_W.astype(np.float64))
    assert state["W_"].dtype == np.float64
    for name_, value in metadata["estimator"]["fitted"].items():
        assert state[name_] == value
