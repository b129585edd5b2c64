"""The simulated AudioSet release, and P3 on AudioSet features (python -m refzsl.multilabel --dataset audioset)."""

import numpy as np
import pytest

from refzsl import multilabel as command
from refzsl.datasets.audioset import N_LABELS, read_folder
from refzsl.datasets.audioset_simulation import (ClassProfile, class_profile, expected_single_label_clips,
                                                 single_label_counts, write_corpus)
from refzsl.experiments import audioset_multilabel
from refzsl.experiments.audioset import load_single_label_clips


def _toy_profile():
    """Labels 0-9 only; label 1's ancestor is label 0."""
    primary = np.zeros(N_LABELS)
    primary[:10] = np.arange(10, 0, -1) / 55
    ancestors = tuple(np.array([0]) if k == 1 else np.zeros(0, np.int64) for k in range(N_LABELS))
    return ClassProfile(tuple(f"c{k}" for k in range(N_LABELS)), primary, ancestors, np.zeros(N_LABELS, bool),
                        1.0, 0.7, 0.3, 4000)


def test_corpus_is_deterministic_and_follows_the_profile(tmp_path):
    profile = _toy_profile()
    report = write_corpus(tmp_path / "a", n_clips=1200, profile=profile, clips_per_shard=500, seed=5)
    write_corpus(tmp_path / "b", n_clips=1200, profile=profile, clips_per_shard=500, seed=5)
    assert report["shards"] == 3 and report["clips"] == 1200
    for name in ("00000", "00001", "00002"):
        path = f"unbal_train/{name}.tfrecord"
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    clips = read_folder(tmp_path / "a", dequantize=False)
    assert len(clips) == 1200 and set(clips.labels.tolist()) <= set(range(10))
    assert 0.9 < np.mean(clips.n_frames == 10) < 1.0 and clips.n_frames.min() >= 1
    # Label 1 carries its ancestor 0 about 70 % of the time; an extra label comes 30 % of the time.
    with_one = [set(clips.clip_labels(i).tolist()) for i in range(len(clips)) if clips.clip_labels(i)[0] == 1]
    assert 0.6 < np.mean([0 in labels for labels in with_one]) < 0.8
    assert 0.2 < np.mean(clips.n_labels[[clips.clip_labels(i)[0] != 1 for i in range(len(clips))]] > 1) < 0.4


def test_single_label_corpus_has_the_expected_counts(tmp_path):
    profile = _toy_profile()
    counts = single_label_counts(profile)
    write_corpus(tmp_path, single_label=True, profile=profile, clips_per_shard=700)
    clips = load_single_label_clips(tmp_path)
    assert np.bincount(clips.targets, minlength=N_LABELS).tolist() == counts.tolist()
    single, capped = expected_single_label_clips(profile.primary, profile.ancestors, n_clips=4000,
                                                 p_ancestor=0.7, p_extra=0.3, cap=300)
    assert capped[1] == pytest.approx(4000 * 9 / 55 * 0.3 * 0.7) and capped[0] == 300 and single[0] > 300
    with pytest.raises(ValueError, match="do not pass n_clips"):
        write_corpus(tmp_path, single_label=True, n_clips=5, profile=profile)


@pytest.mark.assets
def test_profile_from_the_ontology_is_calibrated_to_p2(data_root):
    profile = class_profile(root=data_root)
    assert len(profile.names) == 527 and profile.primary.sum() == pytest.approx(1.0)
    _, capped = expected_single_label_clips(profile.primary, profile.ancestors, n_clips=profile.n_clips,
                                            p_ancestor=profile.p_ancestor, p_extra=profile.p_extra)
    assert capped.sum() == pytest.approx(112774, rel=1e-6)
    assert profile.blacklisted.sum() == 12
    dog = profile.names.index("Dog")
    assert {profile.names[a] for a in profile.ancestors[dog]} == {"Animal", "Domestic animals, pets"}


@pytest.mark.assets
def test_p3_on_audioset_features(tmp_path, data_root, capsys):
    write_corpus(tmp_path, n_clips=3000, clips_per_shard=500, seed=0, root=data_root)
    options = dict(max_clips=2500, n_train=800, n_validation=300, n_test=300, n_epochs=1, recipe="WLE")
    results = audioset_multilabel.run(features=tmp_path, root=data_root, **options)
    setup = results["setup"]
    assert setup["clips_kept"] == 2500 and setup["shards_read"] == 6
    assert set(results["systems"]) == {"attention", "uniform", "zero-rule", "supervised"}
    for name, result in results["systems"].items():
        assert 0 < result["map_samples"] <= 1 and 0 <= result["f1"] <= 1, name
    assert setup["clips"]["test"] <= 300 and setup["mean_labels_per_test_clip"] >= 1
    assert command.main(["--dataset", "audioset", "--features", str(tmp_path), "--data-root", str(data_root),
                         "--max-clips", "2500", "--n-train", "800", "--n-validation", "300", "--n-test", "300",
                         "--n-epochs", "1", "--systems", "uniform", "zero-rule"]) == 0
    out = capsys.readouterr().out
    assert "P3 on AudioSet features" in out and "uniform" in out and "no peak-hit rate" in out


def test_multilabel_command_needs_features_for_audioset(capsys):
    with pytest.raises(SystemExit):
        command.main(["--dataset", "audioset"])
    assert "--features" in capsys.readouterr().err


@pytest.mark.assets
def test_folds_of_the_calibrated_profile_against_table_iii(data_root):
    from refzsl.experiments.audioset import PAPER_TABLE_III, class_folds

    counts = single_label_counts(class_profile(root=data_root))
    classes = np.flatnonzero(counts)
    folds, _ = class_folds(classes, counts[classes], seed=0)
    assert len(classes) == 521 and counts.sum() == pytest.approx(112774, abs=5)
    assert np.bincount(folds).tolist() == [n for n, _ in PAPER_TABLE_III]
    clips = np.bincount(folds, weights=counts[classes])
    # Random groups of ~104 classes with counts 1..1500: each fold within 15 % of a fifth of the corpus,
    # as Table III's folds are (21 377-23 007 around 22 555).
    assert np.all(np.abs(clips / (counts.sum() / 5) - 1) < 0.15)
