"""refzsl.acoustic.embedders on the small VGGish-signature fixture (no data root, no TensorFlow).

The fixture (reference_tests/fixtures/vggish_tiny.md) is a narrow VGGish with random
weights, exported by tools/export_vggish_tflite.py --fixture; its weights are
kept as .npz so a NumPy re-implementation of the network checks the TFLite output.
"""

import hashlib
import pickle
import sys
import types
import warnings

import numpy as np
import pytest

from refzsl.acoustic import embedders
from refzsl.acoustic.embedders import EMBEDDERS, PCAPostprocessor, TFLiteEmbedder, VGGish, YAMNet, get_embedder
from refzsl.exceptions import MissingAssetError
from refzsl.audio.params import VGGISH, FrontEndParams


@pytest.fixture(scope="module")
def model_path(fixtures_dir):
    return fixtures_dir / "vggish_tiny.tflite"


@pytest.fixture(scope="module")
def pca_path(fixtures_dir):
    return fixtures_dir / "vggish_tiny_pca_params.npz"


@pytest.fixture(scope="module")
def vggish(model_path):
    return VGGish(model_path)


def _patches(n, seed=0):
    # Log-mel values of real audio lie in about [log(0.01), 3].
    return np.random.default_rng(seed).uniform(np.log(0.01), 3.0, (n, 96, 64)).astype(np.float32)


# --- NumPy re-implementation of VGGish (vggish_slim.define_vggish_slim, current release) ---

def _conv3x3_same_relu(x, weights, biases):
    n, height, width, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, height, width, weights.shape[-1]))
    for dt in range(3):
        for df in range(3):
            out += padded[:, dt:dt + height, df:df + width, :] @ weights[dt, df]
    return np.maximum(out + biases, 0.0)


def _max_pool_2x2(x):
    n, height, width, channels = x.shape  # even sizes here: SAME padding adds nothing
    return x.reshape(n, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))


def _numpy_vggish(patches, weights):
    def layer(scope):
        return weights[f"vggish/{scope}/weights"].astype(np.float64), weights[f"vggish/{scope}/biases"]

    net = patches.astype(np.float64)[..., None]
    net = _max_pool_2x2(_conv3x3_same_relu(net, *layer("conv1")))
    net = _max_pool_2x2(_conv3x3_same_relu(net, *layer("conv2")))
    net = _max_pool_2x2(_conv3x3_same_relu(_conv3x3_same_relu(net, *layer("conv3/conv3_1")), *layer("conv3/conv3_2")))
    net = _max_pool_2x2(_conv3x3_same_relu(_conv3x3_same_relu(net, *layer("conv4/conv4_1")), *layer("conv4/conv4_2")))
    net = net.reshape(len(net), -1)  # (time, frequency, channel) order, as slim.flatten
    for scope in ("fc1/fc1_1", "fc1/fc1_2"):
        weight, bias = layer(scope)
        net = np.maximum(net @ weight + bias, 0.0)
    weight, bias = layer("fc2")
    return net @ weight + bias  # no ReLU on the embedding layer


# --- the runner and VGGish ---

def test_model_identity(vggish, model_path):
    assert vggish.name == "vggish"
    assert vggish.params is VGGISH
    assert vggish.output_names == ("embedding",)
    assert vggish.embedding_output == "embedding"
    assert vggish.embedding_dim == 128
    assert vggish.patch_shape == (96, 64)
    assert vggish.sha256 == hashlib.sha256(model_path.read_bytes()).hexdigest()


def test_embeddings_match_numpy_reimplementation(vggish, fixtures_dir):
    patches = _patches(5)
    with np.load(fixtures_dir / "vggish_tiny_weights.npz") as weights:
        expected = _numpy_vggish(patches, dict(weights))
    got = vggish.embed(patches)
    assert got.shape == (5, 128) and got.dtype == np.float32
    assert (expected < 0).any()  # the linear embedding layer gives negative values
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("batch_size", [1, 3, 7, 64])
def test_batch_size_does_not_change_embeddings(model_path, vggish, batch_size):
    patches = _patches(7, seed=1)
    embedder = VGGish(model_path, batch_size=batch_size, num_threads=1)
    np.testing.assert_allclose(embedder.embed(patches), vggish.embed(patches), rtol=1e-6, atol=1e-6)


def test_each_patch_is_embedded_independently(vggish):
    patches = _patches(4, seed=2)
    together = vggish.embed(patches)
    alone = np.concatenate([vggish.embed(patch[None]) for patch in patches])
    np.testing.assert_allclose(together, alone, rtol=1e-6, atol=1e-6)


def test_zero_patches_give_empty_outputs(vggish):
    outputs = vggish.run(np.zeros((0, 96, 64), np.float32))
    assert outputs["embedding"].shape == (0, 128) and outputs["embedding"].dtype == np.float32


def test_float64_patches_are_accepted(vggish):
    patches = _patches(2, seed=3)
    np.testing.assert_array_equal(vggish.embed(patches.astype(np.float64)), vggish.embed(patches))


def test_model_without_signature_uses_tensor_details(model_path, vggish, monkeypatch):
    class NoSignatureInterpreter(embedders._Interpreter):
        def get_signature_list(self):
            return {}

    monkeypatch.setattr(embedders, "_Interpreter", NoSignatureInterpreter)
    embedder = TFLiteEmbedder(model_path, params=VGGISH, batch_size=3)
    assert embedder._runner is None
    assert embedder.embedding_dim == 128 and len(embedder.output_names) == 1
    patches = _patches(7, seed=4)  # batches of 3, 3, 1: the input is resized twice
    np.testing.assert_allclose(embedder.embed(patches), vggish.embed(patches), rtol=1e-6, atol=1e-6)


def test_pickle_rebuilds_the_interpreter(model_path, pca_path):
    embedder = VGGish(model_path, postprocess=True, pca_params_path=pca_path, batch_size=5)
    clone = pickle.loads(pickle.dumps(embedder))
    assert clone.batch_size == 5 and clone.postprocessor is not None
    patches = _patches(3, seed=5)
    np.testing.assert_array_equal(clone.embed(patches), embedder.embed(patches))


# --- bad inputs ---

@pytest.mark.parametrize("shape", [(96, 64), (2, 64, 96), (2, 96, 63), (2, 96, 64, 1), (0,)])
def test_bad_patch_shape_is_named(vggish, shape):
    with pytest.raises(ValueError, match=r"\[n, 96, 64\].*got " + repr(list(shape)).replace("[", r"\[")):
        vggish.embed(np.zeros(shape, np.float32))


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_patches_are_rejected(vggish, bad_value):
    patches = _patches(3)
    patches[1, 5, 7] = bad_value
    with pytest.raises(ValueError, match=r"\[3, 96, 64\] hold 1 NaN/Inf"):
        vggish.embed(patches)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, bool, np.complex64])
def test_non_float_patches_are_rejected(vggish, dtype):
    with pytest.raises(TypeError, match="floating-point"):
        vggish.embed(np.zeros((1, 96, 64), dtype))


def test_missing_model_names_the_path(tmp_path):
    missing = tmp_path / "models" / "nothing.tflite"
    with pytest.raises(MissingAssetError, match="nothing.tflite"):
        VGGish(missing)


def test_default_model_missing_from_data_root_names_the_path(tmp_path):
    with pytest.raises(MissingAssetError, match=r"models/vggish\.tflite.*export_vggish_tflite"):
        get_embedder("vggish", root=tmp_path)


def test_file_that_is_not_a_model_is_named(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ValueError, match="junk.tflite"):
        TFLiteEmbedder(junk, params=VGGISH)


def test_model_input_must_match_the_front_end(model_path):
    narrow = FrontEndParams(name="narrow", num_mel_bins=32)
    with pytest.raises(ValueError, match=r"float32 \[-1, 96, 64\]; expected float32 \[n, 96, 32\]"):
        TFLiteEmbedder(model_path, params=narrow)


def test_yamnet_needs_scores_output(model_path):
    with pytest.raises(ValueError, match="needs 'embedding' and 'scores'"):
        YAMNet(model_path)


def test_unknown_embedding_output_is_named(model_path):
    with pytest.raises(ValueError, match="embedding_output='logits'.*outputs: \\['embedding'\\]"):
        TFLiteEmbedder(model_path, params=VGGISH, embedding_output="logits")


@pytest.mark.parametrize("keyword, value, error", [
    ("batch_size", 0, ValueError), ("batch_size", -3, ValueError), ("batch_size", "8", TypeError),
    ("batch_size", 2.0, TypeError), ("batch_size", None, TypeError), ("num_threads", 0, ValueError),
    ("num_threads", True, TypeError),
])
def test_bad_runner_settings(model_path, keyword, value, error):
    with pytest.raises(error, match=keyword):
        VGGish(model_path, **{keyword: value})


# --- registry ---

def test_registry(model_path):
    assert EMBEDDERS == {"yamnet": YAMNet, "vggish": VGGish}
    embedder = get_embedder("vggish", model_path=model_path, batch_size=2)
    assert isinstance(embedder, VGGish) and embedder.batch_size == 2


def test_unknown_embedder_lists_known_ones():
    with pytest.raises(ValueError, match="'openl3'.*known: vggish, yamnet"):
        get_embedder("openl3")
    with pytest.raises(TypeError, match="str"):
        get_embedder(VGGish)


# --- PCA post-processing (SPEC §1) ---

def _write_pca(path, eigen_vectors, means):
    np.savez(path, pca_eigen_vectors=eigen_vectors, pca_means=means)
    return path


def test_quantisation_truncates_and_clips(tmp_path):
    postprocessor = PCAPostprocessor(_write_pca(tmp_path / "pca.npz", np.eye(128), np.zeros(128)))
    values = np.zeros((1, 128))
    # projected value -> (v + 2) * 63.75, truncated: 0 -> 127.5 -> 127 (rounding would give 128)
    values[0, :8] = [-3.0, -2.0, -1.999, 0.0, 1.0, 1.99, 2.0, 7.0]
    expected = [0, 0, 0, 127, 191, 254, 255, 255]  # 1.0 -> 191.25; 1.99 -> 254.3625
    codes = postprocessor.postprocess(values)
    assert codes.dtype == np.uint8 and codes.shape == (1, 128)
    assert codes[0, :8].tolist() == expected


def test_projection_uses_means_and_eigen_vectors(tmp_path):
    # E' = (E - means) @ eigen_vectors.T with rows [e1, e2, e0, e3, ...]: E'_2 = E_0 - means_0
    # (a transposed product would move it to dimension 1 instead).
    eigen_vectors = np.eye(128)[[1, 2, 0] + list(range(3, 128))]
    means = np.full(128, 0.5)
    postprocessor = PCAPostprocessor(_write_pca(tmp_path / "pca.npz", eigen_vectors, means))
    embedding = np.full((1, 128), 0.5)
    embedding[0, 0] = 1.5
    codes = postprocessor.postprocess(embedding)
    assert codes[0, 2] == 191 and (np.delete(codes[0], 2) == 127).all()


def test_vggish_postprocess_matches_hand_computation(model_path, pca_path, vggish):
    patches = _patches(6, seed=6)
    raw = vggish.embed(patches)
    with np.load(pca_path) as params:
        projected = (raw.astype(np.float64) - params["pca_means"]) @ params["pca_eigen_vectors"].T
    assert (np.abs(projected) > 2).any() and (np.abs(projected) < 2).any()  # both branches of the clip
    expected = np.floor((np.clip(projected, -2.0, 2.0) + 2.0) * 255.0 / 4.0).astype(np.uint8)
    codes = VGGish(model_path, postprocess=True, pca_params_path=pca_path).embed(patches)
    assert codes.dtype == np.uint8 and codes.shape == (6, 128)
    np.testing.assert_array_equal(codes, expected)


def test_vggish_postprocess_needs_pca_params(model_path, tmp_path):
    with pytest.raises(MissingAssetError, match=r"vggish/vggish_pca_params\.npz"):
        VGGish(model_path, postprocess=True, root=tmp_path)
    with pytest.raises(MissingAssetError, match="absent.npz"):
        VGGish(model_path, postprocess=True, pca_params_path=tmp_path / "absent.npz")


@pytest.mark.parametrize("eigen_shape, means_shape, keys, message", [
    ((128, 128), (128,), ("pca_eigen_vectors",), "lacks \\['pca_means'\\]"),
    ((128, 64), (128,), ("pca_eigen_vectors", "pca_means"), r"\[128, 64\]; expected \[128, 128\]"),
    ((64, 64), (128,), ("pca_eigen_vectors", "pca_means"), r"\[64, 64\]; expected \[128, 128\]"),
])
def test_bad_pca_params_are_named(tmp_path, eigen_shape, means_shape, keys, message):
    arrays = {"pca_eigen_vectors": np.zeros(eigen_shape), "pca_means": np.zeros(means_shape)}
    path = tmp_path / "pca.npz"
    np.savez(path, **{key: arrays[key] for key in keys})
    with pytest.raises(ValueError, match=message):
        PCAPostprocessor(path)


def test_pca_for_other_width_is_refused(model_path, tmp_path):
    path = _write_pca(tmp_path / "pca64.npz", np.eye(64), np.zeros(64))
    with pytest.raises(ValueError, match="64-d embeddings.*gives 128-d"):
        VGGish(model_path, postprocess=True, pca_params_path=path)


@pytest.mark.parametrize("shape", [(128,), (3, 127), (2, 128, 1)])
def test_postprocess_checks_its_batch(pca_path, shape):
    with pytest.raises(ValueError, match=r"\[n, 128\], got " + repr(list(shape)).replace("[", r"\[")):
        PCAPostprocessor(pca_path).postprocess(np.zeros(shape))


def test_postprocess_rejects_nan(pca_path):
    embeddings = np.zeros((2, 128))
    embeddings[1, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        PCAPostprocessor(pca_path).postprocess(embeddings)


# --- runtime import ---

def _block(monkeypatch, *modules):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # import of a None entry raises ImportError


def test_runtime_prefers_ai_edge_litert():
    interpreter, runtime = embedders._import_interpreter()
    assert runtime == "ai_edge_litert"
    from ai_edge_litert.interpreter import Interpreter
    assert interpreter is Interpreter


def test_runtime_falls_back_to_tflite_runtime_with_warning(monkeypatch):
    _block(monkeypatch, "ai_edge_litert", "ai_edge_litert.interpreter")
    fake = types.ModuleType("tflite_runtime.interpreter")
    fake.Interpreter = type("Interpreter", (), {})
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("tflite_runtime"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    with pytest.warns(RuntimeWarning, match="falling back to tflite_runtime"):
        interpreter, runtime = embedders._import_interpreter()
    assert runtime == "tflite_runtime" and interpreter is fake.Interpreter


def test_no_runtime_is_a_clear_error(monkeypatch, model_path):
    _block(monkeypatch, "ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
           "tflite_runtime.interpreter")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert embedders._import_interpreter() == (None, None)
    monkeypatch.setattr(embedders, "_Interpreter", None)
    with pytest.raises(ImportError, match="ai_edge_litert.*tflite_runtime"):
        VGGish(model_path)
