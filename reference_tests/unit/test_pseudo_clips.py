"""Ontology-following pseudo-clips and the "none of these" helpers on synthetic problems (no assets)."""

import numpy as np
import pytest

from refzsl.experiments import openset
from refzsl.experiments import pseudo_clips


def _sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


# A 4-class world: 0 = "Animal", 1 = "Dog" (child of 0), 2 = "Bark" (child of 1), 3 = "Speech".
ANCESTORS = (np.array([], int), np.array([0]), np.array([0, 1]), np.array([], int))


def test_fit_score_statistics_reads_event_ancestor_offset_and_context_gap():
    # Patch 1: Bark is the event (Dog and Animal are its ancestors, so not events), Speech is context.
    # Patch 2: near silence (best 0.05 < 0.2): left out.
    patch = _sigmoid([1.0, 2.0, 3.0, -1.0])
    silence = _sigmoid([-3.0, -4.0, -5.0, -3.5])
    statistics = pseudo_clips.fit_score_statistics([np.stack([patch, silence])], ANCESTORS)
    np.testing.assert_allclose(statistics.class_logits, [3.0], atol=1e-6)
    np.testing.assert_allclose(np.sort(statistics.ancestor_offsets), [-2.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(statistics.context_gaps, [4.0], atol=1e-6)
    assert statistics.n_recordings == 1
    assert set(statistics.quartiles()) == {"class_logits", "ancestor_offsets", "context_gaps"}


def test_fit_score_statistics_errors():
    silence = _sigmoid([[-3.0, -4.0, -5.0, -3.5]])
    with pytest.raises(ValueError, match="0.2"):
        pseudo_clips.fit_score_statistics([silence], ANCESTORS)
    speech_only = _sigmoid([[-3.0, -4.0, -5.0, 3.0]])
    with pytest.raises(ValueError, match="ancestor"):
        pseudo_clips.fit_score_statistics([speech_only], ANCESTORS)


def _world(seed=0, n_classes=4, dim=32):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(dim, n_classes))
    bias = -np.ones(n_classes)
    context = np.abs(rng.normal(size=(20, dim))) * 0.05
    return weights, bias, context


def test_pseudo_clips_fire_the_hidden_class_and_its_ancestors():
    weights, bias, context = _world()
    statistics = pseudo_clips.ScoreStatistics(class_logits=np.array([3.0]), ancestor_offsets=np.array([-1.0]),
                                              context_gaps=np.array([4.0]), n_recordings=1)
    clips = pseudo_clips.make_pseudo_clips([2, 3], weights, bias, statistics, context, ANCESTORS, n_patches=6,
                                           seed=0)
    assert clips.clip_embeddings.shape == (2, 32) and len(clips.segment_scores) == 2
    bark = clips.segment_scores[0].max(axis=0)
    # Bark reaches about its logit 3, Dog and Animal about 2, and they lead Speech
    np.testing.assert_allclose(np.log(bark / (1 - bark))[[2, 1, 0]], [3.0, 2.0, 2.0], atol=0.5)
    assert bark[3] < bark[0]
    speech = clips.segment_scores[1].max(axis=0)
    assert np.argmax(speech) == 3
    # scores are YAMNet's sigmoid of non-negative patch embeddings: the clip embedding is their mean
    assert np.all(clips.clip_embeddings >= 0)


def test_pseudo_clips_are_reproducible_and_need_context():
    weights, bias, context = _world()
    statistics = pseudo_clips.ScoreStatistics(np.array([1.0, 2.0]), np.array([-1.0, 0.5]), np.array([1.0, 3.0]), 2)
    first = pseudo_clips.make_pseudo_clips([1, 2], weights, bias, statistics, context, ANCESTORS, seed=3)
    again = pseudo_clips.make_pseudo_clips([1, 2], weights, bias, statistics, context, ANCESTORS, seed=3)
    np.testing.assert_array_equal(first.clip_embeddings, again.clip_embeddings)
    with pytest.raises(ValueError, match="context_embeddings"):
        pseudo_clips.make_pseudo_clips([1], weights, bias, statistics, np.empty((0, 32)), ANCESTORS)


def test_rejection_threshold_separates_fitting_from_unfitting_sets():
    best = np.array([0.9, 0.8, 0.7, 0.2, 0.3, 0.75])
    absent = np.array([False, False, False, True, True, True])
    threshold = openset.rejection_threshold(best, absent)
    assert 0.3 < threshold < 0.7
    metrics = openset.rejection_metrics(best, absent, threshold)
    assert metrics["precision"] == 1.0 and metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx(5 / 6) and metrics["n_cases"] == 6
    assert openset.rejection_metrics(best, absent, 0.0)["precision"] is None  # nothing rejected


def test_candidate_sets_hold_three_to_eight_labels_and_every_second_lacks_the_truth():
    truth = np.arange(20) % 10
    sets, absent = openset._candidate_sets(truth, 10, np.random.default_rng(0))
    assert absent.tolist() == [False, True] * 10
    for label, labels, lacking in zip(truth, sets, absent):
        assert 3 <= len(labels) <= 8 and len(set(labels)) == len(labels)
        assert (label in labels) != lacking


def test_the_marked_esc50_row_is_the_method_refzsl_classify_uses_by_default():
    from refzsl.classify import DEFAULT_METHOD
    assert openset.DEFAULT_ROW == DEFAULT_METHOD


def test_classify_none_of_these_option_is_parsed_and_shown():
    from refzsl.cli import build_parser, format_predictions
    args = build_parser().parse_args(["classify", "a.wav", "--labels", "siren, rain", "--none-of-these"])
    assert args.none_of_these
    result = {"labels": ["siren", "rain"], "results": [
        {"file": "a.wav", "ranking": [{"label": "siren", "score": 0.1}], "none_of_these": True},
        {"file": "b.wav", "ranking": [{"label": "rain", "score": 0.9}], "none_of_these": False}]}
    lines = format_predictions(result).splitlines()
    assert lines[0] == "a.wav  (none of these labels seems to fit)" and lines[2] == "b.wav"
