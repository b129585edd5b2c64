"""P3 on scaper soundscapes of real ESC-50 events (refzsl.datasets.soundscapes, refzsl.experiments.soundscapes).

The asset tests mix a few soundscapes from ESC-50 clips and embed them with YAMNet; the slow one runs the
whole comparison at a toy size (a smoke test of the pipeline: the numbers of a toy run mean nothing, so only
their ranges and the protocol's invariants are checked). They skip when scaper or librosa is absent.
"""

import json

import numpy as np
import pytest

pytest.importorskip("scaper")
pytest.importorskip("librosa")

from refzsl.acoustic.extraction import extract_files  # noqa: E402
from refzsl.datasets.esc50 import ESC50  # noqa: E402
from refzsl.datasets.soundscapes import (SoundscapeRecipe, Soundscapes, active_spans, draw_soundscapes,  # noqa: E402
                                         mix_soundscapes, read_event_list)
from refzsl.experiments.soundscapes import class_roles  # noqa: E402


@pytest.mark.assets
def test_real_soundscapes_mix_and_embed(data_root, tmp_path, session_cache):
    import soundfile

    dataset = ESC50(data_root)
    roles = class_roles(dataset.class_names, test_fold=0, seed=0)
    rng = np.random.default_rng(0)
    # A few clips of each role, to keep the test short; their active spans from the original files.
    events = np.concatenate([rng.choice(np.flatnonzero(dataset.targets == c), 2, replace=False)
                             for c in roles["test"][:4]])
    backgrounds = np.concatenate([np.flatnonzero(dataset.targets == c)[:3] for c in roles["background"][:2]])
    spans = np.zeros((len(dataset), 2))
    seconds = np.full(len(dataset), 5.0)
    for clip in np.concatenate([events, backgrounds]):
        samples, rate = soundfile.read(str(dataset.paths[clip]), always_2d=True)
        spans[clip] = active_spans([samples.mean(axis=1)], sample_rate_hz=rate)[0]
        seconds[clip] = samples.shape[0] / rate
    recipe = SoundscapeRecipe(min_background_activity=0.5)
    specs = draw_soundscapes(3, targets=dataset.targets, event_clips=events, background_clips=backgrounds,
                             spans=spans, clip_seconds=seconds, recipe=recipe, random_state=0)
    soundscapes = mix_soundscapes(Soundscapes(specs, n_classes=50, recipe=recipe), paths=dataset.paths,
                                  clip_ids=dataset.clip_ids, class_names=dataset.class_names, folder=tmp_path)
    for spec, audio_path, jams_path, list_path in zip(specs, soundscapes.audio_paths, soundscapes.jams_paths,
                                                      soundscapes.event_list_paths):
        audio, rate = soundfile.read(audio_path)
        assert rate == 16000 and audio.shape == (160000,) and np.abs(audio).max() <= 1.0
        listed = read_event_list(list_path)
        assert [round(onset, 3) for onset, _, _ in listed] == [round(e.onset_seconds, 3) for e in spec.events]
        annotation = json.loads(jams_path.read_text())
        assert annotation["annotations"][0]["namespace"] == "scaper"
    features = extract_files(soundscapes.audio_paths, root=data_root, cache=session_cache / "segments")
    assert [len(segments) for segments in features.segment_embeddings] == [19, 19, 19]


@pytest.mark.assets
@pytest.mark.slow
def test_toy_run_of_the_comparison(data_root):
    pytest.importorskip("sed_eval")
    from refzsl.experiments.soundscapes import format_table, run

    result = run(root=data_root, n_train=80, n_validation=40, n_test=40,
                 n_supervised=80, n_epochs=3, test_fold=1)
    systems = result["systems"]
    assert set(systems) == {"attention", "uniform", "zero-rule", "supervised"}
    for name, metrics in systems.items():
        assert 0 < metrics["map_samples"] <= 1 and 0 <= metrics["f1"] <= 1
        if name != "zero-rule":
            assert 0 <= metrics["sed"]["segment_f1"] <= 1 and 0 <= metrics["peak_hit_rate"] <= 1
            assert sum(b["n_events"] for k, b in metrics["breakdown"].items() if k.endswith(" s")) == \
                sum(b["n_events"] for k, b in metrics["breakdown"].items() if k.endswith("dB"))
    assert not set(result["setup"]["test_classes"]) & set(result["setup"]["background_classes"])
    assert "crickets" not in result["setup"]["test_classes"]  # Fold1's background class is held out
    assert "P3 on soundscapes" in format_table(result)
