"""refzsl.datasets.mixtures: seeded multi-label clips as sequences of clips, with strong labels."""

import numpy as np
import pytest

from refzsl.datasets.mixtures import Mixtures, make_mixtures

N_CLASSES, CLIPS_PER_CLASS = 6, 5
TARGETS = np.repeat(np.arange(N_CLASSES), CLIPS_PER_CLASS)
COUNTS = np.full(TARGETS.size, 9)


def _mix(**kwargs):
    options = dict(clips=np.arange(TARGETS.size), n_mixtures=200, random_state=0)
    options.update(kwargs)
    return make_mixtures(TARGETS, options.pop("counts", COUNTS), **options)


def test_same_seed_same_clips_other_seed_other_clips():
    first, second, other = _mix(), _mix(), _mix(random_state=1)
    for field in ("segment_clips", "segment_positions", "source_clips", "labels", "segment_labels"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert not np.array_equal(first.segment_clips, other.segment_clips)


def test_shapes():
    mix = _mix(n_mixtures=7, n_segments=12, n_sources=(2, 3, 4))
    assert len(mix) == 7 and mix.n_segments == 12
    assert mix.segment_clips.shape == mix.segment_positions.shape == (7, 12)
    assert mix.source_clips.shape == mix.source_classes.shape == (7, 4)
    assert mix.labels.shape == (7, N_CLASSES) and mix.segment_labels.shape == (7, 12, N_CLASSES)


@pytest.mark.parametrize("n_sources", [(2,), (3,), (2, 3)])
def test_recipes_are_consistent(n_sources):
    mix = _mix(n_sources=n_sources, min_source_segments=3)
    counts = (mix.source_clips >= 0).sum(axis=1)
    assert set(counts.tolist()) == set(n_sources)  # 200 draws reach every allowed count
    for i in range(len(mix)):
        sources = mix.source_clips[i, :counts[i]]
        classes = mix.source_classes[i, :counts[i]]
        np.testing.assert_array_equal(TARGETS[sources], classes)
        assert len(set(classes.tolist())) == counts[i]  # classes differ
        np.testing.assert_array_equal(np.flatnonzero(mix.labels[i]), np.sort(classes))
        # every segment holds exactly the class of its source clip
        assert (mix.segment_labels[i].sum(axis=1) == 1).all()
        np.testing.assert_array_equal(mix.segment_labels[i].argmax(axis=1), TARGETS[mix.segment_clips[i]])
        np.testing.assert_array_equal(mix.segment_labels[i].any(axis=0), mix.labels[i])
        # sources play in order, each as one contiguous run of consecutive segments of its clip
        runs = np.split(np.arange(mix.n_segments), np.flatnonzero(np.diff(mix.segment_clips[i])) + 1)
        assert len(runs) == counts[i]
        for run, clip in zip(runs, sources):
            assert (mix.segment_clips[i, run] == clip).all()
            positions = mix.segment_positions[i, run]
            assert run.size >= 3
            assert (np.diff(positions) == 1).all() and positions[0] >= 0 and positions[-1] < COUNTS[clip]


def test_two_whole_clips_fill_eighteen_segments():
    mix = _mix(n_sources=(2,))
    for i in range(len(mix)):
        np.testing.assert_array_equal(mix.segment_positions[i], np.tile(np.arange(9), 2))


def test_only_eligible_clips_and_their_classes_are_used():
    eligible = np.flatnonzero(TARGETS < 3)
    mix = _mix(clips=eligible)
    assert np.isin(mix.segment_clips, eligible).all()
    assert not mix.labels[:, 3:].any() and mix.labels[:, :3].any(axis=0).all()


def test_short_clips_are_redrawn_not_padded():
    counts = COUNTS.copy()
    counts[TARGETS == 0] = 4  # class 0 clips: 4 segments, so only 3-source clips (or a 14+ partner) fit
    mix = _mix(counts=counts, n_sources=(2, 3))
    uses_class_0 = mix.labels[:, 0]
    assert uses_class_0.any()
    assert ((mix.source_clips[uses_class_0] >= 0).sum(axis=1) == 3).all()
    assert (mix.segment_positions < counts[mix.segment_clips]).all()


def test_embeddings_gather_the_right_segments():
    mix = _mix(n_mixtures=20)
    # segment j of clip i is the vector [i, j]
    embeddings = [np.stack([np.full(9, i), np.arange(9)], axis=1).astype(np.float32) for i in range(TARGETS.size)]
    X = mix.embeddings(embeddings)
    assert X.shape == (20, 18, 2) and X.dtype == np.float32
    np.testing.assert_array_equal(X[..., 0], mix.segment_clips)
    np.testing.assert_array_equal(X[..., 1], mix.segment_positions)


def test_embeddings_refuse_other_segment_counts():
    mix = _mix(n_mixtures=20)
    embeddings = [np.zeros((5, 3), np.float32)] * TARGETS.size
    with pytest.raises(ValueError, match="segments"):
        mix.embeddings(embeddings)
    with pytest.raises(ValueError, match="holds 2 clips"):
        mix.embeddings([np.zeros((9, 3), np.float32)] * 2)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_sources=(7,), min_source_segments=2), ValueError, "distinct classes"),
    (dict(n_sources=(0, 2)), ValueError, "n_sources"),
    (dict(n_segments=5, min_source_segments=3), ValueError, "do not fit"),
    (dict(n_sources=(2.5,)), TypeError, "n_sources must hold integers"),
    (dict(n_mixtures=0), ValueError, "n_mixtures"),
    (dict(n_mixtures=2.0), TypeError, "n_mixtures must be an int"),
    (dict(n_segments=18.0), TypeError, "n_segments must be an int"),
    (dict(min_source_segments=0), ValueError, "min_source_segments"),
    (dict(clips=np.array([0, 99])), ValueError, "clips must index"),
    (dict(clips=np.array([0.5, 1.0])), TypeError, "clips must hold integers"),
    (dict(counts=np.full(TARGETS.size, 4)), ValueError, "too short"),
    (dict(counts=np.full(3, 9)), ValueError, "segment_counts has shape"),
    (dict(n_classes=3), ValueError, "n_classes"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        _mix(**kwargs)


def test_is_a_plain_record():
    mix = _mix(n_mixtures=3)
    assert isinstance(mix, Mixtures)
    with pytest.raises(AttributeError):
        mix.labels = None
