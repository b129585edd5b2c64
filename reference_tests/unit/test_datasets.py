"""refzsl.datasets.esc50.ESC50 on a synthetic ESC-50 layout (and on the real one when the data root is there)."""

import csv

import numpy as np
import pytest

from refzsl.datasets.esc50 import CATEGORIES, ESC50
from refzsl.exceptions import MissingAssetError

HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]


def class_name(target):
    return "chirping_birds" if target == 14 else f"class_{target:02d}"


def write_esc50(root, *, n_per_class=40, n_classes=50, suffix=".ogg", rows_hook=None, skip_audio=(),
                with_audio=True):
    """Write an ESC-50 csv and (unless ``with_audio=False``: 2000 files take seconds) empty audio files."""
    meta = root / "esc50" / "meta"
    audio = root / "esc50" / "audio"
    meta.mkdir(parents=True)
    audio.mkdir(parents=True)
    rows = []
    for target in range(n_classes):
        for take in range(n_per_class):
            fold = take % 5 + 1
            stem = f"{fold}-{1000 + target * 100 + take}-A-{target}"
            rows.append([f"{stem}.wav", fold, target, class_name(target), str(target < 10), 1000 + take, "A"])
    if rows_hook:
        rows = rows_hook(rows)
    with open(meta / "esc50.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    for row in rows if with_audio else ():
        stem = row[0][:-4]
        if stem not in skip_audio:
            (audio / f"{stem}{suffix}").write_bytes(b"")
    return rows


def test_reads_metadata_in_csv_order(tmp_path):
    rows = write_esc50(tmp_path)
    dataset = ESC50(tmp_path).verify()
    assert len(dataset) == 2000
    assert dataset.clip_ids[:2] == [rows[0][0][:-4], rows[1][0][:-4]]
    assert dataset.paths[0].suffix == ".ogg" and dataset.paths[0].stem == dataset.clip_ids[0]
    assert dataset.targets.dtype == np.int64 and dataset.folds.dtype == np.int64
    np.testing.assert_array_equal(dataset.targets, [row[2] for row in rows])
    np.testing.assert_array_equal(dataset.folds, [row[1] for row in rows])
    assert dataset.esc10.sum() == 400
    assert len(dataset.class_names) == 50
    assert dataset.class_names[14] == "chirping birds"  # underscores -> spaces
    assert dataset.class_names[0] == "class 00"
    assert CATEGORIES == ("Animal", "Natural", "Human", "Interior", "Exterior")
    np.testing.assert_array_equal(dataset.category_of_target, np.repeat(np.arange(5), 10))
    assert dataset.missing == []


def test_matches_audio_by_stem_preferring_lossless(tmp_path):
    rows = write_esc50(tmp_path, suffix=".ogg")
    stem = rows[3][0][:-4]
    (tmp_path / "esc50" / "audio" / f"{stem}.wav").write_bytes(b"")
    (tmp_path / "esc50" / "audio" / "notes.txt").write_text("not audio")
    dataset = ESC50(tmp_path)
    assert dataset.paths[3].name == f"{stem}.wav"
    assert dataset.paths[4].suffix == ".ogg"


def test_verify_lists_missing_audio(tmp_path):
    rows = write_esc50(tmp_path, skip_audio={"1-1000-A-0", "2-1001-A-0"})
    dataset = ESC50(tmp_path)
    assert dataset.missing == ["1-1000-A-0", "2-1001-A-0"]
    assert dataset.paths[0].name == rows[0][0]  # the expected name, under esc50/audio
    with pytest.raises(MissingAssetError, match=r"2 of 2000 .*1-1000-A-0, 2-1001-A-0"):
        dataset.verify()


def test_verify_rejects_an_incomplete_dataset(tmp_path):
    write_esc50(tmp_path, rows_hook=lambda rows: rows[:-3], with_audio=False)
    with pytest.raises(ValueError, match=r"1997 clips.*\{49: 37\}"):
        ESC50(tmp_path).verify()


def test_missing_column_is_named(tmp_path):
    write_esc50(tmp_path, with_audio=False)
    meta = tmp_path / "esc50" / "meta" / "esc50.csv"
    meta.write_text(meta.read_text().replace("target", "label", 1))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['target'\]"):
        ESC50(tmp_path)


@pytest.mark.parametrize("column, value", [(2, "dog"), (1, ""), (2, "3.5")])
def test_non_integer_target_or_fold_names_the_line(tmp_path, column, value):
    def spoil(rows):
        rows[6][column] = value
        return rows
    write_esc50(tmp_path, rows_hook=spoil, with_audio=False)
    name = {1: "fold", 2: "target"}[column]
    with pytest.raises(ValueError, match=rf"esc50\.csv' line 8: {name}='{value}' is not an integer"):
        ESC50(tmp_path)


def test_one_target_two_names_is_an_error(tmp_path):
    def rename(rows):
        rows[5][3] = "cat"
        return rows
    write_esc50(tmp_path, rows_hook=rename, with_audio=False)
    with pytest.raises(ValueError, match="target 0 is named both 'class 00' and 'cat'"):
        ESC50(tmp_path)


def test_a_target_without_clips_is_named(tmp_path):
    write_esc50(tmp_path, rows_hook=lambda rows: [row for row in rows if row[2] not in (3, 7)], with_audio=False)
    with pytest.raises(ValueError, match=r"targets \[3, 7\] have no clip"):
        ESC50(tmp_path)


def test_missing_metadata_says_where_it_looked(tmp_path):
    with pytest.raises(MissingAssetError, match="esc50.csv"):
        ESC50(tmp_path)


def test_real_esc50(data_root):
    dataset = ESC50(data_root).verify()
    assert len(dataset) == 2000 and not dataset.missing
    assert dataset.class_names[:3] == ("dog", "rooster", "pig")
    assert dataset.class_names[14] == "chirping birds"
    assert sorted(np.unique(dataset.folds)) == [1, 2, 3, 4, 5]
    assert np.all(np.bincount(dataset.folds)[1:] == 400)
    # Targets 0-9 are animals, 40-49 exterior sounds (ESC-50's category order).
    assert {dataset.class_names[t] for t in range(10)} >= {"dog", "cat", "cow", "crow"}
    assert {dataset.class_names[t] for t in range(40, 50)} >= {"helicopter", "siren", "train"}
