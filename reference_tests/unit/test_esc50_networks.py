"""Per-fold network features: the pack format, the runner with per-fold embeddings, P4's ratio (no assets)."""

import json

import numpy as np
import pytest

from refzsl.datasets.esc50_networks import (NETWORK_PACK_PATH, NetworkFeatures, load_network_pack,
                                            save_network_pack)
from refzsl.esc50 import parse_args
from refzsl.experiments.acoustic_quality import (embedding_quality, linear_probe_accuracy, quality_ratio,
                                                 retrieval_map)
from refzsl.experiments.esc50 import format_table, run_esc50
from refzsl.datasets.pack import FeaturePack
from refzsl.experiments.protocols import P2_RANDOM_FOLDS, category_splits, p2_random_splits

FIXED = dict(select=False, learning_rate=0.1, n_epochs=3)


def synthetic_pack(seed=0, d_a=16, d_s=8, clips_per_class=8):
    """50 classes whose clips are a linear image of their class vector plus noise: zero-shot learnable."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(50, d_s)).astype(np.float32)
    targets = np.repeat(np.arange(50), clips_per_class)
    X = vectors[targets] @ rng.normal(size=(d_s, d_a)) + 0.5 * rng.normal(size=(targets.size, d_a))
    return FeaturePack(
        clip_ids=np.array([f"clip{i}" for i in range(targets.size)]), targets=targets,
        folds=np.arange(targets.size) % 5 + 1,
        class_names=np.array(sorted(name for fold in P2_RANDOM_FOLDS for name in fold)),
        category_of_target=np.arange(50) // 10, clip_embeddings=X.astype(np.float32),
        class_vectors={"WLE": vectors}, manifest={"acoustic": {"embedder": "yamnet"}})


def _fold_embeddings(pack, splits, *, informative=True, seed=0):
    """Per training-class set: the pack's embeddings (informative) or noise, plus a fold-specific offset."""
    rng = np.random.default_rng(seed)
    embeddings = {}
    for split in splits:
        base = pack.clip_embeddings if informative else rng.normal(size=pack.clip_embeddings.shape)
        embeddings[tuple(sorted(split.train_classes))] = (base + rng.normal(size=base.shape[1])).astype(np.float32)
    return embeddings


@pytest.fixture(scope="module")
def pack():
    return synthetic_pack()


@pytest.fixture(scope="module")
def random_splits(pack):
    return p2_random_splits([str(name) for name in pack.class_names])


def test_runner_uses_each_folds_own_network(pack, random_splits):
    informative = NetworkFeatures("scratch", pack, _fold_embeddings(pack, random_splits), {"embedder": "scratch"})
    results = run_esc50(protocol="random", features=informative, **FIXED)
    assert all(fold["top1"] > 0.3 for fold in results["folds"])
    # Swap in noise for one fold only: that fold, and only that one, falls to about chance.
    embeddings = dict(informative.fold_embeddings)
    broken = tuple(sorted(random_splits[2].train_classes))
    embeddings[broken] = np.random.default_rng(1).normal(size=pack.clip_embeddings.shape).astype(np.float32)
    mixed = run_esc50(protocol="random", features=NetworkFeatures("scratch", pack, embeddings, {}), **FIXED)
    tops = [fold["top1"] for fold in mixed["folds"]]
    assert tops[2] < 0.25 and all(top > 0.3 for i, top in enumerate(tops) if i != 2)
    assert mixed["provenance"]["clip_embeddings_sha256"] != results["provenance"]["clip_embeddings_sha256"]


def test_a_fold_without_its_network_is_named(pack, random_splits):
    features = NetworkFeatures("triplet", pack, _fold_embeddings(pack, random_splits), {})
    with pytest.raises(ValueError, match=r"No triplet network was trained on the training classes \[.*--data-root"):
        run_esc50(protocol="category", features=features, **FIXED)


def test_network_pack_round_trip_and_corruption(pack, random_splits, tmp_path):
    folds = _fold_embeddings(pack, random_splits)
    path = tmp_path / "networks.npz"
    save_network_pack(path, kinds_embeddings={"scratch": folds, "triplet": folds}, clip_ids=pack.clip_ids,
                      manifest={"networks": {}, "settings": {}}, extra_arrays={"scratch": np.ones((3, 2))})
    embeddings, manifest, checks = load_network_pack(path)
    assert set(embeddings) == {"scratch", "triplet"} and np.array_equal(checks["scratch"], np.ones((3, 2)))
    for key, array in folds.items():
        assert embeddings["scratch"][key].dtype == np.float16
        assert np.allclose(embeddings["scratch"][key], array, rtol=1e-3, atol=1e-3)
    assert "CC BY-NC 3.0" in manifest["licence"] and manifest["file_bytes"] == path.stat().st_size
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    name = next(key for key in arrays if key.startswith("triplet:"))
    arrays[name][0, 0] += 1
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="does not match the sha256"):
        load_network_pack(path)
    with pytest.raises(FileNotFoundError, match="build_esc50_network_pack"):
        load_network_pack(tmp_path / "absent.npz")


def test_cli_accepts_network_models_from_the_pack():
    args = parse_args(["--strategy", "category", "--acoustic", "triplet", "--features", "pack"])
    assert (args.protocol, args.acoustic, args.features) == ("category", "triplet", "pack")


def test_deviations_name_the_network_and_its_width(pack, random_splits):
    manifest = {"embedder": "scratch", "source": "network pack", "settings": {"width": 0.0625, "max_epochs": 5},
                "networks": {"a": {"width": 0.0625, "best_epoch": 3}, "b": {"width": 0.0625, "best_epoch": 5}}}
    features = NetworkFeatures("scratch", pack, _fold_embeddings(pack, random_splits), manifest)
    text = format_table(run_esc50(protocol="random", acoustic="scratch", features=features, **FIXED))
    assert "trained from scratch on each fold's training classes" in text
    assert "0.0625 of the channels" in text and "best epochs 3-5" in text


# -- P4's ratio -------------------------------------------------------------------------------------------

def test_linear_probe_and_retrieval_separate_good_from_bad_embeddings():
    rng = np.random.default_rng(0)
    labels, groups = np.repeat(np.arange(10), 40), np.tile(np.arange(1, 6), 80)
    centres = rng.normal(size=(10, 16))
    good = centres[labels] + 0.3 * rng.normal(size=(400, 16))
    noise = rng.normal(size=(400, 16))
    assert linear_probe_accuracy(good, labels, groups) > 0.95 > 0.2 > linear_probe_accuracy(noise, labels, groups)
    assert retrieval_map(good, labels) > 0.9 > 0.2 > retrieval_map(noise, labels)


def test_retrieval_map_of_a_perfect_ranking_is_one():
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert retrieval_map(embeddings, np.array([0, 0, 1, 1])) == 1.0


def test_quality_ratio_per_fold_network(pack):
    splits = category_splits(pack.category_of_target)
    scratch = NetworkFeatures("scratch", pack, _fold_embeddings(pack, splits), {})
    triplet = NetworkFeatures("triplet", pack, _fold_embeddings(pack, splits, informative=False), {})
    rows_scratch, rows_triplet = embedding_quality(scratch, splits), embedding_quality(triplet, splits)
    assert [row["fold"] for row in rows_scratch] == [split.name for split in splits]
    ratio = quality_ratio(rows_triplet, rows_scratch)
    assert 0 < ratio["classification"] < 0.6 and 0 < ratio["retrieval"] < 0.8
    json.dumps(ratio)


@pytest.mark.skipif(not NETWORK_PACK_PATH.is_file(), reason="network pack not built")
def test_shipped_network_pack_is_small_and_documented():
    embeddings, manifest, checks = load_network_pack()
    assert NETWORK_PACK_PATH.stat().st_size <= 10 * 1024 * 1024
    assert set(embeddings) == {"scratch", "triplet"}
    assert all(len(folds) == 10 for folds in embeddings.values())
    assert all(array.shape == (2000, 128) and array.dtype == np.float16
               for folds in embeddings.values() for array in folds.values())
    assert "CC BY-NC 3.0" in manifest["licence"]
    for name, network in manifest["networks"].items():
        kind, classes = name.split(":")
        assert network["kind"] == kind and network["train_classes"] == [int(c) for c in classes.split(",")]
        assert len(network["train_classes"]) == 40 and len(network["data_sha256"]) == 64
        assert 1 <= network["best_epoch"] <= network["epochs_run"] and network["history"]
    assert set(checks) == {"scratch", "triplet"}
