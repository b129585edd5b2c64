"""VGGish in PyTorch and the two trainers: architecture, determinism, and that nothing leaks."""

import subprocess
import sys

import numpy as np
import pytest

from refzsl.acoustic.networks import VGGISH_PARAMETERS, layer_widths
from refzsl.acoustic.training import (CONSTRAINTS, PATCHES_PER_CLIP, clip_patches, load_network, make_triplets,
                                      stratified_split, train_network)
from refzsl.exceptions import MissingDependencyError

N_CLASSES, CLIPS_PER_CLASS, N_FRAMES = 6, 4, 490
TRAIN_CLASSES = (0, 2, 3, 5)
TINY = {"width": 0.0625, "max_epochs": 1, "patience": 1, "batch_size": 16, "seed": 3}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    targets = np.repeat(np.arange(N_CLASSES), CLIPS_PER_CLASS)
    log_mels = (rng.standard_normal((targets.size, N_FRAMES, 64)) + 0.5 * targets[:, None, None]).astype(np.float32)
    return log_mels, targets


# -- architecture ------------------------------------------------------------------------------------

def test_full_width_is_googles_vggish(torch):
    from refzsl.acoustic.networks import build_vggish, count_parameters
    network = build_vggish()
    assert count_parameters(network) == VGGISH_PARAMETERS == 72_141_184
    shapes = [tuple(p.shape) for name, p in network.named_parameters() if name.endswith("weight")]
    assert shapes[0] == (64, 1, 3, 3) and shapes[5] == (512, 512, 3, 3)
    assert shapes[6:] == [(4096, 12288), (4096, 4096), (128, 4096)]


def test_reduced_width_keeps_the_layers(torch):
    from refzsl.acoustic.networks import build_vggish, count_parameters
    full, small = build_vggish(), build_vggish(width=0.0625, n_classes=40)
    assert [type(m).__name__ for m in full.modules()][1:] == [type(m).__name__ for m in small.modules()][1:-1]
    assert count_parameters(small) < count_parameters(full) / 100
    assert count_parameters(small, include_classifier=True) == count_parameters(small) + 128 * 40 + 40
    with torch.no_grad():
        assert small.embed(torch.zeros(3, 96, 64)).shape == (3, 128)
        assert small(torch.zeros(3, 96, 64)).shape == (3, 40)


def test_layer_widths_scale_every_layer():
    assert layer_widths(0.25) == {"conv1": 16, "conv2": 32, "conv3_1": 64, "conv3_2": 64, "conv4_1": 128,
                                  "conv4_2": 128, "fc1": 1024}


@pytest.mark.parametrize("width", [0, -0.5, 1.5, "half", True, None])
def test_bad_width_is_refused(width):
    with pytest.raises(ValueError, match="width must be a number in"):
        layer_widths(width)


def test_core_never_imports_torch():
    code = ("import sys, refzsl, refzsl.acoustic.training, refzsl.datasets.esc50_networks, "
            "refzsl.experiments.esc50, refzsl.esc50; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_torch_says_how_to_install(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match=r"refzsl\[train\]"):
        train_network("scratch", *data, TRAIN_CLASSES, **TINY)


# -- data handling --------------------------------------------------------------------------------------

def test_clip_patches_are_the_first_five_hops(data):
    log_mels, _ = data
    patches = clip_patches(log_mels)
    assert patches.shape == (len(log_mels), PATCHES_PER_CLIP, 96, 64)
    assert np.array_equal(patches[2, 3], log_mels[2, 288:384])


def test_stratified_split_holds_out_a_fifth_of_every_class():
    labels = np.repeat(np.arange(4), 40)
    train, validation = stratified_split(labels, seed=1)
    assert np.bincount(labels[validation]).tolist() == [8] * 4
    assert np.intersect1d(train, validation).size == 0 and train.size + validation.size == labels.size
    assert np.array_equal(validation, stratified_split(labels, seed=1)[1])
    assert not np.array_equal(validation, stratified_split(labels, seed=2)[1])


def test_triplets_follow_the_constraints():
    n_clips, n_frames = 200, 498
    # Every frame carries its clip and frame number, so a window tells where it came from.
    frames = np.broadcast_to((np.arange(n_clips)[:, None] * 1000 + np.arange(n_frames)[None, :])[:, :, None],
                             (n_clips, n_frames, 64)).astype(np.float32)
    clips = np.arange(3, n_clips, 2)
    with np.errstate(over="ignore"):  # these "log-mels" are frame numbers: exp() of them overflows (unused)
        anchors, positives, negatives, constraints = make_triplets(frames, clips, np.random.default_rng(0))
    assert anchors.shape == positives.shape == negatives.shape == (clips.size, 96, 64)
    assert set(np.unique(constraints)) == set(range(len(CONSTRAINTS)))
    anchor_clip, negative_clip = anchors[:, 0, 0] // 1000, negatives[:, 0, 0] // 1000
    assert np.array_equal(anchor_clip, clips)
    assert np.isin(negative_clip, clips).all() and (negative_clip != anchor_clip).all()
    shift, proximity = constraints == CONSTRAINTS.index("shift"), constraints == CONSTRAINTS.index("proximity")
    moved = shift | proximity
    assert (positives[moved, 0, 0] // 1000 == anchor_clip[moved]).all()
    distance = np.abs(anchors[:, 0, 0] - positives[:, 0, 0])
    assert (distance[shift] >= 1).all() and (distance[shift] <= 48).all()
    assert (distance[proximity] >= 96).all()
    assert (positives[moved, -1, 0] % 1000 <= n_frames - 1).all()

    # Noise and mixtures only add energy: the positive's mel magnitudes are at least the anchor's.
    levels = np.tile(np.log(np.linspace(0.0, 5.0, n_frames, dtype=np.float32) + 0.01)[None, :, None], (40, 1, 64))
    a, p, _, c = make_triplets(levels, np.arange(40), np.random.default_rng(5))
    added = np.isin(c, [CONSTRAINTS.index("noise"), CONSTRAINTS.index("mixture")])
    assert added.any() and (p[added] >= a[added] - 1e-5).all() and (p[added] > a[added] + 1e-3).any()


@pytest.mark.parametrize("log_mels, targets, classes, message", [
    (np.zeros((4, 100, 64), np.float32), np.zeros(4, int), (0, 1), "frames per clip"),
    (np.zeros((4, 498, 32), np.float32), np.zeros(4, int), (0, 1), "must be an array"),
    (np.zeros((4, 498, 64), np.float32), np.zeros(3, int), (0, 1), "one per clip"),
    (np.zeros((4, 498, 64), np.float32), np.array([0, 0, 1, 1]), (0, 7), r"Training classes \[7\] have no clip"),
    (np.zeros((4, 498, 64), np.float32), np.array([0, 0, 1, 1]), (1,), "at least 2 classes"),
])
def test_bad_training_input_is_refused(log_mels, targets, classes, message):
    with pytest.raises(ValueError, match=message):
        train_network("scratch", log_mels, targets, classes, **TINY)


def test_unknown_kind_is_refused(data):
    with pytest.raises(ValueError, match="kind must be one of"):
        train_network("supervised", *data, TRAIN_CLASSES)


# -- determinism and leakage -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["scratch", "triplet"])
def test_training_is_deterministic_and_test_classes_never_reach_it(torch, data, kind):
    log_mels, targets = data
    reference = train_network(kind, log_mels, targets, TRAIN_CLASSES, **TINY)
    again = train_network(kind, log_mels, targets, TRAIN_CLASSES, **TINY)
    assert again.weights_sha256 == reference.weights_sha256

    # Poison every clip of the other (test) classes: the weights must not move by one bit.
    poisoned = log_mels.copy()
    unseen = ~np.isin(targets, TRAIN_CLASSES)
    poisoned[unseen] = np.random.default_rng(9).standard_normal(poisoned[unseen].shape) * 100.0
    relabelled = targets.copy()
    relabelled[unseen] = relabelled[unseen][::-1]
    leaked = train_network(kind, poisoned, relabelled, TRAIN_CLASSES, **TINY)
    assert leaked.weights_sha256 == reference.weights_sha256
    assert leaked.manifest["data_sha256"] == reference.manifest["data_sha256"]

    # ... whereas changing the first patch of the training-class clips does change them (the test can fail).
    changed = log_mels.copy()
    changed[np.isin(targets, TRAIN_CLASSES), :96] += 0.5
    moved = train_network(kind, changed, targets, TRAIN_CLASSES, **TINY)
    assert moved.weights_sha256 != reference.weights_sha256
    assert moved.manifest["data_sha256"] != reference.manifest["data_sha256"]


def test_manifest_and_round_trip(torch, data, tmp_path):
    log_mels, targets = data
    network = train_network("scratch", log_mels, targets, TRAIN_CLASSES, **{**TINY, "max_epochs": 2})
    manifest = network.manifest
    assert manifest["kind"] == "scratch" and manifest["train_classes"] == list(TRAIN_CLASSES)
    assert manifest["seed"] == 3 and len(manifest["data_sha256"]) == 64
    assert 1 <= manifest["best_epoch"] <= manifest["epochs_run"] <= 2 == manifest["settings"]["max_epochs"]
    assert manifest["settings"]["n_train_patches"] == 4 * 3 * PATCHES_PER_CLIP  # 3 of each class's 4 clips
    assert {"train_loss", "train_accuracy", "validation_loss", "validation_accuracy"} <= set(manifest["history"][0])
    embeddings = network.embed_clips(log_mels[:5])
    assert embeddings.shape == (5, 128) and embeddings.dtype == np.float32
    path = tmp_path / "net.npz"
    network.save(path)
    loaded = load_network(path)
    assert loaded.weights_sha256 == network.weights_sha256
    assert np.array_equal(loaded.embed_clips(log_mels[:5]), embeddings)
    with np.load(path) as stored:
        weights = {name: stored[name] for name in stored.files}
    weights["classifier.bias"] = weights["classifier.bias"] + 1
    np.savez(path, **weights)
    with pytest.raises(ValueError, match="do not match the sha256"):
        load_network(path)


def test_fold_networks_are_cached_by_data_classes_and_settings(torch, data, tmp_path, monkeypatch):
    from refzsl.acoustic import training
    from refzsl.datasets import esc50_networks
    from refzsl.datasets.esc50_networks import fold_network

    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path))
    log_mels, targets = data
    manifest = {"audio_sha256": "a"}
    first = fold_network("scratch", log_mels, targets, TRAIN_CLASSES, data_manifest=manifest, **TINY)
    monkeypatch.setattr(esc50_networks, "train_network", lambda *a, **k: pytest.fail("retrained a cached network"))
    again = fold_network("scratch", log_mels, targets, TRAIN_CLASSES, data_manifest=manifest, **TINY)
    assert again.weights_sha256 == first.weights_sha256 and again.manifest["data"] == manifest
    # Another setting, other classes or other data are other networks (each would be trained).
    for change in ({"seed": 4}, {"train_classes": (0, 2)}, {"data_manifest": {"audio_sha256": "b"}}):
        arguments = {"data_manifest": manifest, "train_classes": TRAIN_CLASSES, **TINY, **change}
        classes = arguments.pop("train_classes")
        with pytest.raises(pytest.fail.Exception, match="retrained"):
            fold_network("scratch", log_mels, targets, classes, **arguments)
    assert training.training_settings("scratch", seed=4)["max_epochs"] == training.DEFAULT_MAX_EPOCHS


def test_unknown_training_setting_is_refused():
    from refzsl.acoustic.training import training_settings
    with pytest.raises(ValueError, match=r"Unknown triplet training settings \['epochs'\]"):
        training_settings("triplet", epochs=3)
