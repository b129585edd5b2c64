"""YAMNet embeddings of real ESC-50 clips (SPEC §1): finite, deterministic, and recognisably right.

28 clips (4 from each of 7 classes YAMNet's AudioSet ontology names directly) are
extracted from the shared Ogg files. YAMNet's own 521 scores, averaged over a
clip's segments, must rank a matching AudioSet class in the top 5 for >= 80 % of
the clips: a check of the whole audio -> resample -> log-mel -> model path, since a
wrong log offset, scaling, or patch layout destroys the classification.
Runtime: ~10 s on 2 cores.
"""

import csv

import numpy as np
import pytest
import resampy
import soundfile

from refzsl.audio.io import load_audio
from refzsl.datasets.esc50 import ESC50
from refzsl.acoustic.extraction import extract_files

# Every test here reads ESC-50 audio and YAMNet from the data root.
pytestmark = pytest.mark.assets

YAMNET_SHA256 = "8eec7358c3f55ada644e036791dfad6dfc8e87a2781d461233b6d8645c74ff3c"

# ESC-50 class -> the YAMNet (AudioSet) display names that are that sound: the class itself and its
# AudioSet children, or its parent where the ESC-50 class is one instance of it (church bells -> Bell).
MATCHING_YAMNET_CLASSES = {
    "dog": {"Dog", "Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)"},
    "rooster": {"Chicken, rooster", "Crowing, cock-a-doodle-doo"},
    "siren": {"Siren", "Civil defense siren", "Police car (siren)", "Ambulance (siren)",
              "Fire engine, fire truck (siren)"},
    "rain": {"Rain", "Raindrop", "Rain on surface"},
    "church bells": {"Church bell", "Bell", "Change ringing (campanology)"},
    "crying baby": {"Baby cry, infant cry", "Crying, sobbing"},
    "clock alarm": {"Alarm clock", "Alarm"},
}
CLIPS_PER_CLASS = 4
MIN_TOP5_FRACTION = 0.8


@pytest.fixture(scope="module")
def dataset(data_root):
    return ESC50(data_root)


@pytest.fixture(scope="module")
def subset(dataset):
    """Clips spread over the official folds: the 1st, 11th, 21st and 31st clip of each class."""
    chosen = []
    for name in MATCHING_YAMNET_CLASSES:
        target = dataset.class_names.index(name)
        members = np.flatnonzero(dataset.targets == target)
        chosen += [(int(index), name) for index in members[::10][:CLIPS_PER_CLASS]]
    return chosen


@pytest.fixture(scope="module")
def features(dataset, subset, data_root):
    indices = [index for index, _ in subset]
    return extract_files([dataset.paths[i] for i in indices], clip_ids=[dataset.clip_ids[i] for i in indices],
                         embedder="yamnet", root=data_root, cache=False)


def test_embeddings_are_finite_and_shaped(features, subset):
    assert len(features) == len(subset) >= 20
    assert features.clip_embeddings.shape == (len(subset), 1024)
    assert np.isfinite(features.clip_embeddings).all()
    for segments, scores in zip(features.segment_embeddings, features.segment_scores):
        assert segments.shape[1] == 1024 and scores.shape == (len(segments), 521)
        assert len(segments) >= 7  # ESC-50 clips are ~5 s: 9 YAMNet patches (fewer for the 3.6 s one)
        assert np.isfinite(segments).all() and ((scores >= 0) & (scores <= 1)).all()
    assert features.manifest["model_sha256"] == YAMNET_SHA256


def test_identical_on_rerun_and_from_the_cache(features, dataset, subset, data_root, session_cache):
    indices = [index for index, _ in subset]
    paths = [dataset.paths[i] for i in indices]
    for cache in (False, session_cache / "segments", session_cache / "segments"):  # fresh, then cold+warm cache
        again = extract_files(paths, clip_ids=features.clip_ids, embedder="yamnet", root=data_root, cache=cache)
        np.testing.assert_array_equal(again.clip_embeddings, features.clip_embeddings)
        for a, b in zip(again.segment_scores, features.segment_scores):
            np.testing.assert_array_equal(a, b)
        assert again.manifest["audio_sha256"] == features.manifest["audio_sha256"]


def test_yamnet_scores_name_the_class(features, subset, data_root):
    with open(data_root / "models" / "yamnet_class_map.csv", newline="") as handle:
        names = [row["display_name"] for row in csv.DictReader(handle)]
    for wanted in MATCHING_YAMNET_CLASSES.values():
        assert wanted <= set(names), wanted - set(names)
    hits, report = [], []
    for (_, esc50_class), clip_id, scores in zip(subset, features.clip_ids, features.segment_scores):
        top5 = [names[i] for i in np.argsort(-scores.mean(axis=0))[:5]]
        hits.append(bool(MATCHING_YAMNET_CLASSES[esc50_class] & set(top5)))
        report.append(f"{clip_id} ({esc50_class}): {'ok ' if hits[-1] else 'MISS'} {top5}")
    fraction = np.mean(hits)
    assert fraction >= MIN_TOP5_FRACTION, f"top-5 hit rate {fraction:.2f}\n" + "\n".join(report)


@pytest.mark.parametrize("pick", ["48 kHz", "stereo", "1-17808-B", "4-164661-B"])
def test_quirky_clips_load_as_16k_mono(dataset, pick):
    """The shared Ogg files include 48 kHz, stereo and odd-length clips (shared/README.md)."""
    if pick.startswith(("1-", "4-")):
        path = next(p for p, clip in zip(dataset.paths, dataset.clip_ids) if clip.startswith(pick))
    else:
        path = next(p for p in dataset.paths
                    if (soundfile.info(str(p)).samplerate == 48000 if pick == "48 kHz"
                        else soundfile.info(str(p)).channels == 2))
    info = soundfile.info(str(path))
    waveform = load_audio(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert len(waveform) == int(info.frames * 16000 / info.samplerate)
    assert np.isfinite(waveform).all() and np.abs(waveform).max() <= 1.5
    # The reference path (vggish_input.waveform_to_examples): channel mean, then resampy kaiser_best.
    samples, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    mono = samples.mean(axis=1)
    expected = resampy.resample(mono, rate, 16000) if rate != 16000 else mono
    np.testing.assert_allclose(waveform, expected.astype(np.float32), rtol=0, atol=1e-6)
