"""P3 (SPEC §7) on generated ESC-50 clips: attention vs. uniform aggregation, zero rule, supervised bound.

The asset tests train the four systems of ``python -m refzsl.multilabel`` once with its defaults
(P2 random Fold0 as unseen test classes, YAMNet segments, WLE; ~40 s with a warm feature cache).
No number of P3 is available (SPEC §7), so the checks are orderings: both zero-shot systems beat
the zero rule and stay below the supervised model that saw the test classes, and attention peaks
on segments of the right class. P3's own finding, attention ≥ uniform, is *not* reproduced on
these clips (measured: a tie, see below); it stays here as a strict xfail so that a change that
makes it hold is noticed.
"""

import numpy as np
import pytest

from refzsl.experiments.multilabel import SYSTEMS, run


@pytest.fixture(scope="module")
def p3(data_root):  # the whole protocol: the tests using it are marked slow
    return run(root=data_root)


@pytest.mark.slow
@pytest.mark.assets
@pytest.mark.parametrize("metric", ["map_samples", "map_classes"])
def test_zero_shot_systems_between_zero_rule_and_supervised(p3, metric):
    # Measured on Fold0 (2026-11-21), mAP over samples / classes: zero rule 0.424 / 0.255,
    # attention 0.514 / 0.366, uniform 0.525 / 0.370, supervised 0.903 / 0.866.
    systems = p3["systems"]
    for name in ("attention", "uniform"):
        assert systems["zero-rule"][metric] < systems[name][metric] < systems["supervised"][metric], name


@pytest.mark.slow
@pytest.mark.assets
def test_attention_peaks_on_the_right_segments(p3):
    # Measured 0.597 against a chance level of 0.400 (Fold0).
    attention = p3["systems"]["attention"]
    assert attention["peak_hit_rate"] > attention["peak_chance"] + 0.1


@pytest.mark.slow
@pytest.mark.assets
def test_attention_matches_uniform_aggregation(p3):
    # What was measured instead of P3's gain: Fold0 attention 0.514 vs uniform 0.525; over the five
    # folds 0.526 ± 0.052 vs 0.524 ± 0.053 (attention ahead on folds 1-3, behind on 0 and 4).
    systems = p3["systems"]
    assert abs(systems["attention"]["map_samples"] - systems["uniform"]["map_samples"]) < 0.03


@pytest.mark.slow
@pytest.mark.assets
# raises=AssertionError: only the claim itself failing is the expected failure; any other error fails.
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="P3's gain of attention over uniform aggregation is not reproduced on ESC-50 sequence "
                          "mixtures: Fold0 mAP 0.514 (attention) vs 0.525 (uniform), hyper-parameters chosen on "
                          "validation classes only")
def test_attention_ranks_unseen_classes_at_least_as_well_as_uniform(p3):
    systems = p3["systems"]
    assert systems["attention"]["map_samples"] >= systems["uniform"]["map_samples"]


@pytest.mark.assets
def test_runner_plumbing_on_random_features(data_root):
    """The protocol on ESC-50's metadata, with random segment embeddings (fast, no extraction)."""
    import json
    from types import SimpleNamespace

    from refzsl.datasets.esc50 import ESC50
    from refzsl.experiments.multilabel import format_mean_table, format_table

    n_clips = len(ESC50(data_root).targets)
    rng = np.random.default_rng(0)
    features = SimpleNamespace(segment_embeddings=[rng.random((9, 16), dtype=np.float32) for _ in range(n_clips)])
    results = run(root=data_root, features=features, class_vectors=rng.normal(size=(50, 5)), n_train=200,
                  n_validation=50, n_test=50, n_epochs=1, test_fold=3)
    setup = results["setup"]
    roles = [set(setup[f"{role}_classes"]) for role in ("train", "validation", "test")]
    assert [len(r) for r in roles] == [30, 10, 10] and len(set.union(*roles)) == 50
    assert "airplane" in roles[2]  # P2 Table II, Fold3
    assert list(results["systems"]) == list(SYSTEMS)
    table = format_table(results)
    assert all(name in table for name in SYSTEMS)
    assert "2 runs" in format_mean_table([results, results])
    json.dumps(results)  # what --json writes
