"""Soundscapes of short events (refzsl.datasets.soundscapes) and zero-shot SED scoring (refzsl.evaluation.sed).

Tiny synthetic inputs only; the scaper mix and the sed_eval cross-check skip when those packages are absent.
"""

import numpy as np
import pytest

from refzsl.datasets.soundscapes import (BACKGROUND_CLASSES, Event, SoundscapeRecipe, Soundscapes, SoundscapeSpec,
                                         draw_soundscapes)
from refzsl.evaluation.sed import activity_curves, curves_to_events, segment_f1, segment_spans
from refzsl.experiments.protocols import P2_RANDOM_FOLDS
from refzsl.experiments.soundscapes import (class_roles, event_breakdown, paired_differences, plot_soundscape,
                                            sed_threshold)


def _pool(n_classes=6, clips_per_class=4, seed=0):
    """Targets, spans and durations of a toy dataset: classes 0-3 events, 4-5 backgrounds."""
    rng = np.random.default_rng(seed)
    targets = np.repeat(np.arange(n_classes), clips_per_class)
    starts = rng.uniform(0, 1, targets.size)
    spans = np.stack([starts, starts + rng.uniform(0.6, 4.0, targets.size)], axis=1)
    seconds = np.full(targets.size, 5.0)
    spans[targets >= 4] = (0.0, 5.0)  # backgrounds fully active
    return targets, spans, seconds


def _draw(n=200, seed=1, **recipe):
    targets, spans, seconds = _pool()
    specs = draw_soundscapes(n, targets=targets, event_clips=np.flatnonzero(targets < 4),
                             background_clips=np.flatnonzero(targets >= 4), spans=spans, clip_seconds=seconds,
                             recipe=SoundscapeRecipe(**recipe), random_state=seed)
    return specs, targets, spans


@pytest.mark.parametrize("overlap", [True, False])
def test_draws_follow_the_recipe(overlap):
    specs, targets, spans = _draw(allow_overlap=overlap)
    counts = set()
    for spec in specs:
        assert targets[spec.background_clip] == spec.background_target >= 4
        classes = [event.target for event in spec.events]
        assert len(set(classes)) == len(classes) and all(c < 4 for c in classes)
        counts.add(len(classes))
        for event in spec.events:
            assert targets[event.clip] == event.target
            assert 0.5 - 1e-6 <= event.duration_seconds <= 3.0 + 1e-6
            start, end = spans[event.clip]
            assert start - 1e-6 <= event.source_seconds and event.source_seconds + event.duration_seconds <= end + 1e-5
            assert 0 <= event.onset_seconds and event.offset_seconds <= 10.0 + 1e-5
            assert event.ebr_db in (-6.0, 0.0, 6.0)
        if not overlap:
            for first, second in zip(spec.events, spec.events[1:]):
                assert first.offset_seconds <= second.onset_seconds + 1e-5
    assert counts == {1, 2, 3}


def test_draws_are_seeded():
    assert _draw(seed=3)[0] == _draw(seed=3)[0]
    assert _draw(seed=3)[0] != _draw(seed=4)[0]


@pytest.mark.parametrize("bad, message", [
    (dict(event_clips=[0, 16]), "both event and background"),
    (dict(background_clips=[0]), "both event and background"),
    (dict(event_clips=[0, 4]), "fewer than the 3 events"),
])
def test_draw_rejects_bad_pools(bad, message):
    targets, spans, seconds = _pool()
    arguments = dict(targets=targets, event_clips=np.flatnonzero(targets < 4),
                     background_clips=np.flatnonzero(targets >= 4), spans=spans, clip_seconds=seconds)
    arguments.update(bad)
    with pytest.raises(ValueError, match=message):
        draw_soundscapes(2, **arguments, random_state=0)


def test_recipe_check_names_the_field():
    with pytest.raises(ValueError, match="event_seconds"):
        SoundscapeRecipe(event_seconds=(2.0, 1.0)).check()
    with pytest.raises(ValueError, match="without overlap"):
        SoundscapeRecipe(event_seconds=(0.5, 4.0), allow_overlap=False).check()


def _two_soundscapes():
    specs = [SoundscapeSpec(9, 5, (Event(0, 1, 0.0, 1.0, 0.5, -6.0), Event(2, 3, 0.0, 2.5, 4.0, 6.0))),
             SoundscapeSpec(9, 5, (Event(1, 2, 0.0, 0.6, 9.0, 0.0),))]
    return Soundscapes(specs, n_classes=4)


def test_labels_segment_labels_and_events():
    soundscapes = _two_soundscapes()
    assert soundscapes.labels.tolist() == [[True, False, True, False], [False, True, False, False]]
    starts, ends = np.arange(10.0), np.arange(1.0, 11.0)
    strong = soundscapes.segment_labels(starts, ends)
    assert np.flatnonzero(strong[0, :, 0]).tolist() == [0, 1]  # 0.5-1.5 s
    assert np.flatnonzero(strong[0, :, 2]).tolist() == [4, 5, 6]  # 4-6.5 s
    assert np.flatnonzero(strong[1, :, 1]).tolist() == [9]
    table = soundscapes.event_table()
    assert table["soundscape"].tolist() == [0, 0, 1] and table["target"].tolist() == [0, 2, 1]
    assert table["ebr_db"].tolist() == [-6.0, 6.0, 0.0]
    assert soundscapes.reference_events("abcd")[0] == [(0.5, 1.5, "a"), (4.0, 6.5, "c")]


def test_segment_spans_tile_the_clip():
    starts, ends = segment_spans(19, hop_seconds=0.48, window_seconds=0.96, duration_seconds=10.0)
    assert starts[0] == 0 and ends[-1] == 10.0
    np.testing.assert_allclose(starts[1:], ends[:-1])
    np.testing.assert_allclose(starts[1], 0.72)  # half-way between centres 0.48 and 0.96


def test_activity_curves_average_to_the_clip_score():
    rng = np.random.default_rng(0)
    s = rng.uniform(-1, 1, (3, 7, 4))
    a = np.exp(s / 0.5)
    a /= a.sum(axis=1, keepdims=True)
    curves = activity_curves(s, a)
    np.testing.assert_allclose(curves.mean(axis=1), (a * s).sum(axis=1))
    np.testing.assert_allclose(activity_curves(s, np.full_like(s, 1 / 7)), s)  # uniform pooling: c_t = s_t
    with pytest.raises(ValueError, match="shape"):
        activity_curves(s, a[:, :3])


def test_curves_to_events_merges_runs():
    curves = np.array([[[0.1, 0.9], [0.8, 0.9], [0.7, 0.0], [0.2, 0.9]]])
    starts, ends = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    events = curves_to_events(curves, 0.5, starts=starts, ends=ends, class_names=["a", "b"])
    assert events == [[(0.0, 2.0, "b"), (1.0, 3.0, "a"), (3.0, 4.0, "b")]]


def test_segment_f1_by_hand():
    reference = [[(0.5, 1.5, "a"), (4.0, 6.5, "c")]]
    # reference segments: a in 0-1 and 1-2; c in 4-5, 5-6, 6-7  (5 active)
    estimated = [[(1.2, 1.8, "a"), (6.1, 8.0, "c"), (0.0, 1.0, "b")]]
    # estimated: a in 1-2 (TP), c in 6-7 (TP) and 7-8 (FP), b outside the evaluated classes
    assert segment_f1(reference, estimated, class_names=["a", "c"]) == pytest.approx(2 * 2 / (2 * 2 + 1 + 3))
    assert segment_f1([[]], [[]], class_names=["a"]) == 0.0
    with pytest.raises(ValueError, match="reference clips"):
        segment_f1(reference, [], class_names=["a"])


def test_segment_f1_matches_sed_eval():
    pytest.importorskip("sed_eval")
    from refzsl.evaluation.sed import sed_eval_scores

    rng = np.random.default_rng(1)
    names = ["a", "b", "c"]

    def random_events():
        onsets = rng.uniform(0, 9, 3)
        return [(float(o), float(min(10.0, o + rng.uniform(0.3, 3))), str(rng.choice(names))) for o in onsets]

    reference = [random_events() for _ in range(20)]
    estimated = [random_events() for _ in range(20)]
    scores = sed_eval_scores(reference, estimated, class_names=names)
    assert scores["segment_f1"] == pytest.approx(segment_f1(reference, estimated, class_names=names))
    perfect = sed_eval_scores(reference, reference, class_names=names)
    assert perfect["segment_f1"] == pytest.approx(1.0) and perfect["event_f1"] == pytest.approx(1.0)


def test_sed_threshold_finds_the_separating_cut():
    # class 0 active in segments 2-3 of every clip; its curve is high exactly there
    curves = np.zeros((5, 10, 2))
    curves[:, 2:4, 0] = 1.0
    curves[:, :, 1] = np.linspace(0, 0.5, 10)
    starts, ends = np.arange(10.0), np.arange(1.0, 11.0)
    reference = [[(2.0, 4.0, "x")] for _ in range(5)]
    threshold, f1 = sed_threshold(curves, reference, starts=starts, ends=ends, class_names=["x", "y"])
    assert f1 == 1.0 and 0.5 <= threshold < 1.0


def test_event_breakdown_bins_events():
    soundscapes = _two_soundscapes()
    classes = [0, 1, 2]
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    starts, ends = np.arange(10.0), np.arange(1.0, 11.0)
    strong = soundscapes.segment_labels(starts, ends)[:, :, classes]
    segment_scores = np.zeros((2, 10, 3))
    segment_scores[0, 1, 0] = 1.0  # class 0 peaks in its event
    segment_scores[0, 0, 2] = 1.0  # class 2 peaks before its event
    segment_scores[1, 9, 1] = 1.0
    breakdown = event_breakdown(soundscapes, classes=classes, scores=scores, segment_scores=segment_scores,
                                segment_labels=strong, threshold=0.4)
    assert breakdown["0.5-1 s"] == pytest.approx(dict(n_events=1, precision_at_rank=0.5, peak_hit=1.0, detected=0.0,
                                                      peak_chance=0.1))
    assert breakdown["1-2 s"]["n_events"] == 1 and breakdown["1-2 s"]["precision_at_rank"] == 1.0
    assert breakdown["2-3 s"]["peak_hit"] == 0.0 and breakdown["2-3 s"]["detected"] == 1.0
    assert breakdown["-6 dB"]["n_events"] == breakdown["+6 dB"]["n_events"] == 1


def test_class_roles_keep_backgrounds_out():
    names = [name for fold in P2_RANDOM_FOLDS for name in fold]
    background = {names.index(name) for name in BACKGROUND_CLASSES}
    for fold in range(5):
        roles = class_roles(names, test_fold=fold, seed=0)
        events = roles["train"] + roles["validation"] + roles["test"]
        assert len(set(events)) == len(events) == 43 and not background & set(events)
        assert {names[c] for c in roles["test"]} == set(P2_RANDOM_FOLDS[fold]) - set(BACKGROUND_CLASSES)
    with pytest.raises(ValueError, match="test_fold"):
        class_roles(names, test_fold=5, seed=0)


def test_paired_differences():
    def result(a, u):
        return {"systems": {"attention": {"map_samples": a, "map_classes": a, "f1": a, "peak_hit_rate": a},
                            "uniform": {"map_samples": u, "map_classes": u, "f1": u, "peak_hit_rate": u}}}

    differences = paired_differences([result(0.5, 0.4), result(0.3, 0.4)])
    assert differences["map_samples"]["mean"] == pytest.approx(0.0)
    assert differences["map_samples"]["sd"] == pytest.approx(0.1)
    assert differences["map_samples"]["n_positive"] == 1


def test_plot_renders(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    waveform = (0.1 * rng.standard_normal(16000 * 10)).astype(np.float32)
    starts, ends = segment_spans(19, hop_seconds=0.48, window_seconds=0.96, duration_seconds=10.0)
    curves = {"attention": rng.uniform(size=(19, 3)), "uniform": rng.uniform(size=(19, 3))}
    path = plot_soundscape(tmp_path / "scene.png", waveform=waveform, sample_rate_hz=16000,
                           reference=[(1.0, 2.0, "dog"), (5.0, 5.5, "cat")], curves=curves,
                           thresholds={"attention": 0.5, "uniform": 0.6}, class_names=["dog", "cat", "cow"],
                           starts=starts, ends=ends, title="toy")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="16 kHz"):
        plot_soundscape(tmp_path / "x.png", waveform=waveform, sample_rate_hz=8000, reference=[], curves=curves,
                        thresholds={}, class_names=["dog", "cat", "cow"], starts=starts, ends=ends)


def test_scaper_mixes_a_soundscape(tmp_path):
    pytest.importorskip("scaper")
    pytest.importorskip("librosa")
    import soundfile

    from refzsl.datasets.soundscapes import mix_soundscapes, read_event_list

    rate = 16000
    t = np.arange(5 * rate) / rate
    rng = np.random.default_rng(0)
    sources = {"tone": 0.5 * np.sin(2 * np.pi * 1000 * t), "chirp": 0.5 * np.sin(2 * np.pi * (300 + 200 * t) * t),
               "hum": 0.2 * rng.standard_normal(t.size)}
    paths = []
    for name, samples in sources.items():
        paths.append(tmp_path / f"{name}.wav")
        soundfile.write(paths[-1], samples.astype(np.float32), rate)
    spec = SoundscapeSpec(2, 2, (Event(0, 0, 1.0, 1.0, 2.0, 6.0), Event(1, 1, 0.0, 0.5, 6.0, -6.0)))
    soundscapes = Soundscapes([spec], n_classes=3)
    mix_soundscapes(soundscapes, paths=paths, clip_ids=list(sources), class_names=list(sources),
                    folder=tmp_path / "out")
    audio, got_rate = soundfile.read(soundscapes.audio_paths[0])
    assert got_rate == rate and audio.shape == (10 * rate,) and np.abs(audio).max() <= 1.0
    events = read_event_list(soundscapes.event_list_paths[0])
    assert [(round(a, 3), round(b, 3), label) for a, b, label in events] == [(2.0, 3.0, "tone"), (6.0, 6.5, "chirp")]
    # The 1 kHz tone is where the annotation puts it, and louder than the noise floor elsewhere.
    def tone_prominence(second):  # 1 kHz bin of one second's spectrum, over the median bin
        spectrum = np.abs(np.fft.rfft(audio[second * rate:(second + 1) * rate]))
        return spectrum[1000] / np.median(spectrum)

    assert tone_prominence(2) > 20 * tone_prominence(8)
    assert '"tone"' in soundscapes.jams_paths[0].read_text()
    before = soundscapes.audio_paths[0].stat().st_mtime_ns
    mix_soundscapes(soundscapes, paths=paths, clip_ids=list(sources), class_names=list(sources),
                    folder=tmp_path / "out")
    assert soundscapes.audio_paths[0].stat().st_mtime_ns == before  # kept, not remixed


def test_command_parser():
    from refzsl.experiments.soundscapes import DEFAULTS
    from refzsl.soundscapes import build_parser

    args = build_parser().parse_args([])
    for key, value in DEFAULTS.items():
        if key not in ("test_fold", "seed"):
            assert getattr(args, key) == value, key
    assert args.test_folds == [DEFAULTS["test_fold"]] and args.seeds == [DEFAULTS["seed"]]
    args = build_parser().parse_args(["--test-folds", "0,3", "--seeds", "0,1", "--no-overlap"])
    assert args.test_folds == [0, 3] and args.seeds == [0, 1] and args.allow_overlap is False
    assert build_parser().parse_args(["--test-folds", "all"]).test_folds == [0, 1, 2, 3, 4]
    for bad in (["--test-folds", "5"], ["--seeds", "x"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)
