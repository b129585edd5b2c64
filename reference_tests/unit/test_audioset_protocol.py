"""P2's AudioSet protocol: filtering, under-sampling, class folds, the runner and its command."""

import json

import numpy as np
import pytest

from refzsl import audioset as command
from refzsl.datasets.audioset import write_shard
from refzsl.experiments.audioset import (PAPER_TABLE_III, PAPER_TABLE_IX, class_folds, format_table,
                                         load_acoustic_features, load_single_label_clips, run_audioset, undersample)
from refzsl.semantic.recipes import RECIPES


def _write_corpus(folder, label_lists, *, seed=0, n_frames=None):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, labels in enumerate(label_lists):
        frames = rng.integers(0, 256, size=(10 if n_frames is None else n_frames[i], 128), dtype=np.uint8)
        clips.append((f"vid{i:06d}", 10.0 * (i % 3), 10.0 * (i % 3) + 10, labels, frames))
    half = len(clips) // 2
    write_shard(folder / "a.tfrecord", clips[:half])
    (folder / "sub").mkdir(exist_ok=True)
    write_shard(folder / "sub" / "b.tfrecord", clips[half:])
    return clips


def test_paper_tables_are_complete():
    assert set(PAPER_TABLE_IX) == set(RECIPES)
    assert sum(c for c, _ in PAPER_TABLE_III) == 521 and sum(n for _, n in PAPER_TABLE_III) == 112774


def test_class_folds_give_table_iii_class_counts_for_521_classes():
    rng = np.random.default_rng(0)
    classes = np.arange(527)[rng.permutation(527)[:521]]
    counts = rng.integers(1, 1501, size=521)
    folds, bins = class_folds(classes, counts, seed=3)
    assert np.bincount(folds).tolist() == [c for c, _ in PAPER_TABLE_III]
    assert np.bincount(bins).tolist() == [60] * 8 + [41]
    # Bins follow the counts, most populous first: every class of bin b has at least as many clips as
    # any class of bin b + 1.
    for b in range(8):
        assert counts[bins == b].min() >= counts[bins == b + 1].max()
    # Each bin gives each fold floor(n/5) classes, the remainder to the last fold.
    for b in range(9):
        assert np.bincount(folds[bins == b], minlength=5)[:4].tolist() == [np.sum(bins == b) // 5] * 4
    again, _ = class_folds(classes, counts, seed=3)
    other, _ = class_folds(classes, counts, seed=4)
    assert np.array_equal(folds, again) and not np.array_equal(folds, other)
    with pytest.raises(ValueError, match="cannot fill"):
        class_folds(np.arange(44), np.ones(44), seed=0)


def test_undersample_caps_each_class_at_random():
    targets = np.repeat([3, 5, 9], [10, 2, 7])
    kept = undersample(targets, max_per_class=4, seed=0)
    assert np.bincount(targets[kept]).tolist()[3:] == [4, 0, 2, 0, 0, 0, 4]
    assert np.all(np.diff(kept) > 0)
    assert not np.array_equal(kept, undersample(targets, max_per_class=4, seed=1))
    with pytest.raises(ValueError, match="max_per_class"):
        undersample(targets, max_per_class=0)


def test_single_label_clips_are_kept_as_dequantised_means(tmp_path):
    labels = [[1], [2, 3], [], [4], [5], [6, 7, 8]]
    clips = _write_corpus(tmp_path, labels, n_frames=[10, 10, 10, 3, 0, 1])
    loaded = load_single_label_clips(tmp_path)
    assert loaded.n_clips_read == 6 and loaded.n_shards == 2 and loaded.n_without_frames == 1
    assert loaded.video_ids.tolist() == ["vid000000", "vid000003"] and loaded.targets.tolist() == [1, 4]
    for row, index in enumerate((0, 3)):
        expected = (clips[index][4].astype(np.float64) * 4 / 255 - 2).mean(axis=0)
        np.testing.assert_allclose(loaded.embeddings[row], expected, atol=1e-5)


def test_user_acoustic_features_are_matched_by_clip(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, video_ids=np.array(["a", "b", "a"]), start_seconds=np.array([0.0, 0.0, 10.0]),
             embeddings=np.arange(6, dtype=np.float64).reshape(3, 2))
    got = load_acoustic_features(path, np.array(["a", "a", "b"]), np.array([10.0, 0.0, 0.0], np.float32))
    assert got.tolist() == [[4, 5], [0, 1], [2, 3]] and got.dtype == np.float32
    with pytest.raises(ValueError, match=r"miss 1 of 1 clips, e.g. \['c@0s'\]"):
        load_acoustic_features(path, np.array(["c"]), np.array([0.0]))
    np.savez(path, video_ids=np.array(["a"]), embeddings=np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"lack \['start_seconds'\]"):
        load_acoustic_features(path, np.array(["a"]), np.array([0.0]))


def test_command_names_the_corrupt_shard_and_offset(tmp_path, capsys):
    _write_corpus(tmp_path, [[1], [2], [3], [4]])
    data = bytearray((tmp_path / "a.tfrecord").read_bytes())
    data[40] ^= 0xFF
    (tmp_path / "a.tfrecord").write_bytes(bytes(data))
    assert command.main(["--features", str(tmp_path), "--embedding", "WLE"]) == 4
    error = capsys.readouterr().err
    assert "a.tfrecord: record at byte offset 0: data CRC mismatch" in error and "--on-error skip" in error
    clips = load_single_label_clips(tmp_path, on_error="skip")
    assert clips.n_clips_read == 3 and len(clips.skipped) == 1


def test_command_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        command.main(["--features", str(tmp_path), "--setting", "3"])
    with pytest.raises(SystemExit):
        command.main(["--features", str(tmp_path), "--embedding", "XYZ"])
    assert command.main(["--features", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.assets
def test_protocol_runs_end_to_end_on_a_small_corpus(tmp_path, data_root):
    # 60 classes x 6 single-label clips, plus multi-label clips that must be ignored.
    rng = np.random.default_rng(1)
    classes = rng.choice(np.arange(527), size=60, replace=False)
    labels = [[int(c)] for c in np.repeat(classes, 6)] + [[int(classes[0]), int(classes[1])]] * 5
    _write_corpus(tmp_path / "shards", labels)
    report = run_audioset(features=tmp_path / "shards", setting=2, recipes=("WLE", "wle+gle"), data_root=data_root,
                          max_per_class=5, seed=0)
    corpus = report["corpus"]
    assert corpus["clips_read"] == 365 and corpus["single_label"] == 360
    assert corpus["after_undersampling"] == 300 and corpus["classes"] == 60
    assert [row["classes"] for row in report["folds"]] == [12] * 5
    assert list(report["results"]) == ["WLE", "WLE+GLE"]
    for recipe, result in report["results"].items():
        assert result["paper_map"] == PAPER_TABLE_IX[recipe][1][0]
        assert 0 < result["map"] <= 1 and 0 <= result["top1"] <= 1
        assert result["n_clips"]["test"] == 5 * result["n_classes"]["test"]
        assert len(result["validation"]) == 8
    text = format_table(report)
    assert "Table IX, Setting 2" in text and "heard by the acoustic model" in text and "Fold4 test" in text
    assert set(report["stage_seconds"]) >= {"read", "filter", "folds", "selection", "evaluate", "total"}
    out = tmp_path / "report.json"
    assert command.main(["--features", str(tmp_path / "shards"), "--data-root", str(data_root), "--embedding",
                         "GLE", "--max-per-class", "5", "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert list(saved["results"]) == ["GLE"] and saved["corpus"]["after_undersampling"] == 300
    # Setting 2 proper: the user's own clip embeddings (16-d here) replace the released ones.
    clips = load_single_label_clips(tmp_path / "shards")
    mine = tmp_path / "mine.npz"
    np.savez(mine, video_ids=clips.video_ids, start_seconds=clips.start_seconds,
             embeddings=np.random.default_rng(0).normal(size=(len(clips.video_ids), 16)))
    own = run_audioset(features=tmp_path / "shards", setting=2, recipes=("WLE",), data_root=data_root,
                       max_per_class=5, acoustic_features=mine, clips=clips)
    assert own["corpus"]["acoustic_dimension"] == 16 and "the user's own clip embeddings" in own["deviations"][0]
    assert own["folds"] == report["folds"]
