"""The shared YAMNet TFLite model through refzsl.acoustic.embedders.YAMNet (needs the data root).

Expected values: the model's signature and sha256 are those documented in
../shared/README.md; the 1 kHz sine result ("Beep, bleep" 0.93) is the sanity
figure given there, re-measured 2026-11-21 with ai-edge-litert 2.3 (0.9315).
"""

import numpy as np
import pytest

from refzsl.acoustic.embedders import YAMNet, get_embedder
from refzsl.audio.frontend import waveform_to_patches
from refzsl.audio.params import YAMNET

# Every test here reads the YAMNet model file from the data root.
pytestmark = pytest.mark.assets

SHARED_SHA256 = "8eec7358c3f55ada644e036791dfad6dfc8e87a2781d461233b6d8645c74ff3c"


@pytest.fixture(scope="module")
def yamnet(data_root):
    return YAMNet(root=data_root)


def _sine_patches(frequency_hz, seconds=3.0, amplitude=0.5):
    time_s = np.arange(int(seconds * YAMNET.sample_rate_hz)) / YAMNET.sample_rate_hz
    waveform = (amplitude * np.sin(2 * np.pi * frequency_hz * time_s)).astype(np.float32)
    return waveform_to_patches(waveform, params=YAMNET)


def test_signature_and_identity(yamnet):
    assert yamnet.name == "yamnet"
    assert yamnet.params is YAMNET
    assert yamnet.output_names == ("embedding", "scores")
    assert yamnet.embedding_dim == 1024
    assert yamnet.n_classes == 521
    assert yamnet.sha256 == SHARED_SHA256


def test_shapes_and_ranges(yamnet):
    patches = _sine_patches(440.0)  # 3 s -> 5 patches at hop 0.48 s
    outputs = yamnet.run(patches)
    assert outputs["embedding"].shape == (5, 1024) and outputs["embedding"].dtype == np.float32
    assert outputs["scores"].shape == (5, 521) and outputs["scores"].dtype == np.float32
    # Global average pool of ReLU activations; sigmoid scores.
    assert outputs["embedding"].min() >= 0.0
    assert outputs["scores"].min() >= 0.0 and outputs["scores"].max() <= 1.0
    np.testing.assert_array_equal(yamnet.embed(patches), outputs["embedding"])


def test_class_names(yamnet):
    names = yamnet.class_names()
    assert len(names) == 521
    assert names[0] == "Speech" and names[475] == "Beep, bleep"


def test_classifier_weights_reproduce_scores(yamnet):
    weights, bias = yamnet.classifier_weights()
    assert weights.shape == (1024, 521) and bias.shape == (521,)
    assert weights.dtype == np.float32 and bias.dtype == np.float32
    rng = np.random.default_rng(7)
    patches = np.concatenate([_sine_patches(1000.0), rng.normal(-5.0, 2.0, (6, 96, 64)).astype(np.float32)])
    outputs = yamnet.run(patches)
    logits = outputs["embedding"].astype(np.float64) @ weights + bias
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-logits)), outputs["scores"], rtol=0, atol=1e-5)


def test_sine_1khz_is_beep(yamnet):
    scores = yamnet.run(_sine_patches(1000.0))["scores"].mean(axis=0)
    names = yamnet.class_names()
    top = int(np.argmax(scores))
    assert names[top] == "Beep, bleep"
    assert scores[top] == pytest.approx(0.93, abs=0.02)


def test_batch_size_does_not_change_results(data_root):
    patches = np.random.default_rng(3).normal(-5.0, 2.0, (11, 96, 64)).astype(np.float32)
    reference = get_embedder("yamnet", root=data_root, batch_size=64).run(patches)
    for batch_size in (1, 4):
        outputs = get_embedder("yamnet", root=data_root, batch_size=batch_size, num_threads=1).run(patches)
        for name in reference:
            np.testing.assert_allclose(outputs[name], reference[name], rtol=1e-5, atol=1e-6)
