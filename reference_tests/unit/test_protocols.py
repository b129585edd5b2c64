"""Protocols as data: P2 Table II, category folds, P1 Settings 1-4, validation folds, paper numbers."""

import numpy as np
import pytest

from refzsl.experiments import protocols
from refzsl.datasets.esc50 import CATEGORIES
from refzsl.experiments.protocols import (
    P2_RANDOM_FOLDS,
    PAPER_RESULTS,
    Split,
    category_splits,
    chance_map,
    chance_top1,
    class_targets,
    few_shot_splits,
    p2_random_splits,
    protocol_splits,
    setting1_splits,
    setting2_splits,
    validation_folds,
)

# ESC-50's class names by target (meta/esc50.csv, underscores as spaces).
ESC50_CLASSES = (
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea waves", "crackling fire", "crickets", "chirping birds", "water drops", "wind", "pouring water",
    "toilet flush", "thunderstorm",
    "crying baby", "sneezing", "clapping", "breathing", "coughing", "footsteps", "laughing", "brushing teeth",
    "snoring", "drinking sipping",
    "door wood knock", "mouse click", "keyboard typing", "door wood creaks", "can opening", "washing machine",
    "vacuum cleaner", "clock alarm", "clock tick", "glass breaking",
    "helicopter", "chainsaw", "siren", "car horn", "engine", "train", "church bells", "airplane", "fireworks",
    "hand saw",
)
CATEGORY_OF_TARGET = np.arange(50) // 10
TARGETS = np.repeat(np.arange(50), 40)


def test_p2_table_ii_partitions_the_50_classes():
    names = [name for fold in P2_RANDOM_FOLDS for name in fold]
    assert len(names) == 50 and sorted(names) == sorted(ESC50_CLASSES)
    assert [len(fold) for fold in P2_RANDOM_FOLDS] == [10] * 5


def test_p2_random_splits_follow_table_ii():
    splits = p2_random_splits(ESC50_CLASSES)
    assert [s.name for s in splits] == ["Fold0", "Fold1", "Fold2", "Fold3", "Fold4"]
    # SPEC §5, Table II: Fold1 starts with clapping and crickets; dog (target 0) is in Fold4.
    assert ESC50_CLASSES.index("clapping") in splits[1].test_classes
    assert ESC50_CLASSES.index("crickets") in splits[1].test_classes
    assert 0 in splits[4].test_classes
    for split in splits:
        assert len(split.train_classes) == 40 and len(split.test_classes) == 10
        assert split.train_indices(TARGETS).size == 1600 and split.test_indices(TARGETS).size == 400
    tested = sorted(c for s in splits for c in s.test_classes)
    assert tested == list(range(50))


def test_category_splits_test_one_category():
    splits = category_splits(CATEGORY_OF_TARGET)
    assert [s.name for s in splits] == list(CATEGORIES)
    assert splits[0].test_classes == tuple(range(10))
    assert splits[4].train_classes == tuple(range(40))


def test_setting1_is_seeded_and_stays_within_the_category():
    splits = setting1_splits(CATEGORY_OF_TARGET, seed=3)
    assert len(splits) == 25
    for split in splits:
        category = CATEGORIES.index(split.group)
        assert len(split.test_classes) == 2 and len(split.train_classes) == 8
        assert set(split.train_classes + split.test_classes) == set(range(10 * category, 10 * category + 10))
        assert split.train_indices(TARGETS).size == 320
    again = setting1_splits(CATEGORY_OF_TARGET, seed=3)
    other = setting1_splits(CATEGORY_OF_TARGET, seed=4)
    assert [s.test_classes for s in again] == [s.test_classes for s in splits]
    assert [s.test_classes for s in other] != [s.test_classes for s in splits]


def test_setting2_has_the_20_ordered_pairs():
    splits = setting2_splits(CATEGORY_OF_TARGET)
    assert len(splits) == 20
    assert splits[0].name == "Animal->Natural" and splits[0].group == "Natural"
    assert all(("setting2", "WLE", s.name) in PAPER_RESULTS for s in splits)


def test_few_shot_moves_5_clips_per_test_class_into_training():
    splits = few_shot_splits(TARGETS, CATEGORY_OF_TARGET, seed=0)
    assert len(splits) == 40
    for category in CATEGORIES:
        group = [s for s in splits if s.group == category]
        assert len(group) == 8
        shots = [set(s.shot_clips) for s in group]
        # the 8 shot groups partition the 400 clips of the 10 test classes
        assert sum(len(s) for s in shots) == 400 and len(set().union(*shots)) == 400
    split = splits[0]
    train, test = split.train_indices(TARGETS), split.test_indices(TARGETS)
    assert train.size == 1600 + 50 and test.size == 350
    assert np.intersect1d(train, test).size == 0
    assert np.all(np.bincount(TARGETS[list(split.shot_clips)], minlength=50)[list(split.test_classes)] == 5)


def test_split_refuses_overlapping_classes():
    with pytest.raises(ValueError, match=r"test classes \[3\] are also training classes"):
        Split(name="bad", train_classes=(1, 2, 3), test_classes=(3, 4))


@pytest.mark.parametrize("kwargs, message", [
    (dict(train_classes=(), test_classes=(1,)), "needs training and test classes"),
    (dict(train_classes=(1, 1), test_classes=(2,)), "repeated training classes"),
])
def test_split_rejects_bad_class_lists(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Split(name="bad", **kwargs)


def test_shot_clips_must_belong_to_test_classes():
    split = Split(name="bad", train_classes=(0,), test_classes=(1,), shot_clips=(0,))  # clip 0 is class 0
    with pytest.raises(ValueError, match="not of a test class"):
        split.train_indices(TARGETS)


def test_unknown_class_names_are_named():
    with pytest.raises(ValueError, match="unicorn"):
        class_targets(["dog", "unicorn"], ESC50_CLASSES)


def test_protocol_splits_rejects_unknown_protocol():
    with pytest.raises(ValueError, match="protocol 'nope'"):
        protocol_splits("nope", class_names=ESC50_CLASSES, category_of_target=CATEGORY_OF_TARGET,
                        targets=TARGETS, seed=0)


def test_validation_folds_use_training_classes_only():
    split = p2_random_splits(ESC50_CLASSES)[0]
    folds = validation_folds(split.train_classes, seed=0)
    assert len(folds) == 4
    held_out = [c for _, fold in folds for c in fold]
    assert sorted(held_out) == sorted(split.train_classes)  # every training class validated once
    assert not set(held_out) & set(split.test_classes)
    for inner_train, fold in folds:
        assert len(fold) == 10 and not set(inner_train) & set(fold)


def test_validation_folds_by_group_leave_one_category_out():
    split = category_splits(CATEGORY_OF_TARGET)[0]
    folds = validation_folds(split.train_classes, seed=0, groups=CATEGORY_OF_TARGET[list(split.train_classes)])
    assert [fold for _, fold in folds] == [tuple(range(10 * k, 10 * k + 10)) for k in range(1, 5)]


def test_validation_folds_of_setting1_hold_out_pairs():
    folds = validation_folds(range(8), seed=0)
    assert [len(fold) for _, fold in folds] == [2, 2, 2, 2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(train_classes=(1, 2, 3)), "at least 4 training classes"),
    (dict(train_classes=range(8), n_folds=1), "n_folds must be >= 2"),
    (dict(train_classes=range(8), groups=[0] * 7), "groups has shape"),
    (dict(train_classes=range(8), groups=[0] * 8), "at least two distinct groups"),
])
def test_validation_folds_reject_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        validation_folds(seed=0, **kwargs)


def test_chance_levels():
    assert chance_top1(10) == 0.1
    assert chance_map(10) == pytest.approx(0.2929, abs=1e-4)  # P2 §V-D: 0.29
    assert chance_map(2) == pytest.approx(0.75)
    assert chance_map(1) == 1.0
    # E[1/rank] under a uniform rank, by enumeration
    assert chance_map(7) == pytest.approx(np.mean(1 / np.arange(1, 8)))


def test_paper_results_cover_spec_section_5():
    cells = PAPER_RESULTS
    # P2: 5 category rows + 5 random rows + 2 averages, for 3 recipes
    assert sum(1 for key in cells if key[0] in ("category", "random")) == 3 * 12
    assert cells["random", "GLE", "Fold1"].map == 0.61 and cells["random", "GLE", "Fold1"].top1 == 0.46
    assert cells["category", "WLE", "Natural"].source == "P2 Table VI"
    assert cells["random", "WLE+GLE", "average"].train_top1 == 0.81
    # P1: averages the reference tests compare to; each is the mean of its table's cells
    assert cells["setting1", "WLE", "average"].top1 == 0.764
    assert np.mean([cells["setting1", "WLE", c].top1 for c in CATEGORIES]) == pytest.approx(0.764, abs=1e-3)
    assert np.mean([cells["setting4", "WLE", c].top1 for c in CATEGORIES]) == pytest.approx(0.617, abs=1e-3)
    assert np.mean([cells["setting3", "WLE", c].top1 for c in CATEGORIES]) == pytest.approx(0.260, abs=1e-3)
    pairs = [cells["setting2", "WLE", f"{a}->{b}"].top1 for a in CATEGORIES for b in CATEGORIES if a != b]
    assert len(pairs) == 20 and np.mean(pairs) == pytest.approx(0.169, abs=2e-3)
    assert cells["setting2", "WLE", "Interior->Natural"].top1 == pytest.approx(0.097)


def test_all_protocols_listed():
    assert protocols.PROTOCOLS == ("random", "category", "setting1", "setting2", "setting3", "setting4")
