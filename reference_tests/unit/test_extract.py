"""refzsl.acoustic.extraction: shapes, clip = segment mean, the content-keyed cache, resumption, workers, policies, CLI.

A tiny stand-in embedder (a fixed random projection of the patches) replaces the
TFLite models, so these tests check the extraction machinery, not a network.
"""

import numpy as np
import pytest
import soundfile

from refzsl.audio.io import load_audio
from refzsl.exceptions import AudioError
from refzsl.acoustic.extraction import Features, extract_files, find_audio_files
from refzsl.extract import main
from refzsl.audio.frontend import waveform_to_patches
from refzsl.audio.params import YAMNET


class StandInEmbedder:
    """Patches [n, 96, 64] -> 'embedding' [n, 8] and 'scores' [n, 3]; counts its calls (in this process)."""

    name = "standin"
    params = YAMNET
    sha256 = "0" * 64
    embedding_dim = 8
    embedding_output = "embedding"
    output_names = ("embedding", "scores")

    def __init__(self):
        rng = np.random.default_rng(0)
        self.projection = rng.standard_normal((64, 8)).astype(np.float32)
        self.calls = 0

    def run(self, patches):
        self.calls += 1
        embedding = patches.mean(axis=1) @ self.projection
        return {"embedding": embedding, "scores": 1 / (1 + np.exp(-embedding[:, :3]))}

    def embed(self, patches):
        return self.run(patches)["embedding"]


def write_tone(path, *, seconds=2.0, frequency_hz=440.0, rate_hz=16000, channels=1):
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    noise = np.random.default_rng(int(frequency_hz)).standard_normal(len(t))
    tone = 0.3 * np.sin(2 * np.pi * frequency_hz * t) + 0.01 * noise
    soundfile.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, rate_hz)
    return path


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    return [write_tone(folder / "a.wav", frequency_hz=300),
            write_tone(folder / "b.wav", frequency_hz=1200, seconds=3.1, rate_hz=44100, channels=2),
            write_tone(folder / "c.flac", frequency_hz=2500, seconds=1.0, rate_hz=48000)]


def test_segments_and_clip_mean(clips, tmp_path):
    embedder = StandInEmbedder()
    features = extract_files(clips, embedder=embedder, cache=tmp_path / "cache")
    assert features.clip_ids == ["a", "b", "c"]
    assert [len(s) for s in features.segment_embeddings] == [3, 5, 1]  # 2 s, 3.1 s, 1.0 s at hop 0.48 s
    assert features.clip_embeddings.shape == (3, 8) and features.clip_embeddings.dtype == np.float32
    for index, path in enumerate(clips):
        patches = waveform_to_patches(load_audio(path), params=YAMNET)
        np.testing.assert_array_equal(features.segment_embeddings[index], embedder.embed(patches))
        np.testing.assert_allclose(features.clip_embeddings[index],
                                   features.segment_embeddings[index].mean(axis=0), rtol=1e-6)
    assert [s.shape for s in features.segment_scores] == [(3, 3), (5, 3), (1, 3)]
    manifest = features.manifest
    assert manifest["model_sha256"] == "0" * 64 and manifest["embedder"]["name"] == "standin"
    assert manifest["front_end"] == YAMNET.as_dict()
    assert manifest["short_policy"] == "pad" and manifest["resample_filter"] == "kaiser_best"
    assert manifest["clip_ids"] == ["a", "b", "c"] and manifest["segment_counts"] == [3, 5, 1]
    assert len(manifest["audio_sha256"][0]) == 64 and manifest["dropped"] == []


def test_warm_cache_skips_the_model_and_returns_the_same(clips, tmp_path):
    cache = tmp_path / "cache"
    first = extract_files(clips, embedder=StandInEmbedder(), cache=cache)
    warm_embedder = StandInEmbedder()
    second = extract_files(clips, embedder=warm_embedder, cache=cache)
    assert warm_embedder.calls == 0
    np.testing.assert_array_equal(first.clip_embeddings, second.clip_embeddings)
    for a, b in zip(first.segment_scores, second.segment_scores):
        np.testing.assert_array_equal(a, b)
    assert first.manifest == second.manifest
    assert not list(cache.rglob("*.tmp"))


def test_cache_is_keyed_by_content_and_settings(clips, tmp_path):
    cache = tmp_path / "cache"
    extract_files(clips, embedder=StandInEmbedder(), cache=cache)
    # Same bytes under another name and id: a hit.
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(clips[0].read_bytes())
    embedder = StandInEmbedder()
    extract_files([copy], clip_ids=["other"], embedder=embedder, cache=cache)
    assert embedder.calls == 0
    # Changed audio (clip a only), then another filter, short-clip policy or model (both clips): misses.
    write_tone(clips[0], frequency_hz=301)
    for kwargs, model_sha, misses in [({}, "0" * 64, 1), ({"resample_filter": "kaiser_fast"}, "0" * 64, 2),
                                      ({"short_policy": "drop"}, "0" * 64, 2), ({}, "1" * 64, 2)]:
        embedder = StandInEmbedder()
        embedder.sha256 = model_sha
        extract_files(clips[:2], embedder=embedder, cache=cache, **kwargs)
        assert embedder.calls == misses, (kwargs, model_sha)


def test_interrupted_run_resumes(clips, tmp_path):
    cache = tmp_path / "cache"
    broken = clips[1].with_name("broken.wav")
    broken.write_bytes(b"not audio")
    with pytest.raises(AudioError, match="broken.wav"):
        extract_files([clips[0], broken, clips[2]], embedder=StandInEmbedder(), cache=cache)
    assert len(list(cache.rglob("*.npy"))) == 1  # the clip finished before the failure
    embedder = StandInEmbedder()
    features = extract_files([clips[0], clips[2]], embedder=embedder, cache=cache)
    assert embedder.calls == 1 and len(features) == 2


def test_corrupt_cache_entry_is_recomputed(clips, tmp_path):
    cache = tmp_path / "cache"
    first = extract_files(clips[:1], embedder=StandInEmbedder(), cache=cache)
    (entry,) = cache.rglob("*.npy")
    entry.write_bytes(entry.read_bytes()[:50])
    embedder = StandInEmbedder()
    with pytest.warns(UserWarning, match="is damaged .*; recomputed"):
        second = extract_files(clips[:1], embedder=embedder, cache=cache)
    assert embedder.calls == 1
    np.testing.assert_array_equal(first.clip_embeddings, second.clip_embeddings)


def test_no_cache_writes_nothing(clips, tmp_path, monkeypatch):
    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path / "env-cache"))
    extract_files(clips[:1], embedder=StandInEmbedder(), cache=False)
    assert not (tmp_path / "env-cache").exists() or not list((tmp_path / "env-cache").rglob("*.npy"))
    extract_files(clips[:1], embedder=StandInEmbedder(), cache=True)
    assert len(list((tmp_path / "env-cache" / "segments").rglob("*.npy"))) == 1


def test_workers_give_the_same_result(clips, tmp_path):
    serial = extract_files(clips, embedder=StandInEmbedder(), cache=False)
    parallel = extract_files(clips, embedder=StandInEmbedder(), cache=tmp_path / "cache", workers=2)
    np.testing.assert_array_equal(serial.clip_embeddings, parallel.clip_embeddings)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3  # the workers wrote the entries


def test_short_clip_policies(tmp_path):
    short = write_tone(tmp_path / "short.wav", seconds=0.5)
    long = write_tone(tmp_path / "long.wav", seconds=1.5)
    with pytest.warns(UserWarning, match="short.wav"):
        padded = extract_files([short, long], embedder=StandInEmbedder(), cache=False)
    assert [len(s) for s in padded.segment_embeddings] == [1, 2]
    dropped = extract_files([short, long], embedder=StandInEmbedder(), cache=False, short_policy="drop")
    assert dropped.clip_ids == ["long"] and dropped.clip_embeddings.shape == (1, 8)
    assert [d["clip_id"] for d in dropped.manifest["dropped"]] == ["short"]
    with pytest.raises(AudioError, match="short.wav"):
        extract_files([short, long], embedder=StandInEmbedder(), cache=False, short_policy="error")


def test_save_and_load_round_trip(clips, tmp_path):
    features = extract_files(clips, embedder=StandInEmbedder(), cache=False)
    path = tmp_path / "features.npz"
    features.save(path)
    loaded = Features.load(path)
    assert loaded.clip_ids == features.clip_ids and loaded.manifest == features.manifest
    np.testing.assert_array_equal(loaded.clip_embeddings, features.clip_embeddings)
    for a, b in zip(loaded.segment_embeddings + loaded.segment_scores,
                    features.segment_embeddings + features.segment_scores):
        np.testing.assert_array_equal(a, b)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a refzsl features file"):
        Features.load(tmp_path / "other.npz")


def test_all_clips_dropped_round_trips_as_empty(tmp_path):
    short = write_tone(tmp_path / "short.wav", seconds=0.5)
    features = extract_files([short], embedder=StandInEmbedder(), cache=False, short_policy="drop")
    assert len(features) == 0 and features.clip_embeddings.shape == (0, 8)
    assert features.segment_embeddings == [] and features.segment_scores is None
    features.save(tmp_path / "empty.npz")
    loaded = Features.load(tmp_path / "empty.npz")
    assert loaded.clip_ids == [] and loaded.segment_embeddings == [] and loaded.segment_scores is None
    assert loaded.clip_embeddings.shape == (0, 8)
    assert [d["clip_id"] for d in loaded.manifest["dropped"]] == ["short"]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"clip_ids": ["x", "x", "y"]}, ValueError, r"Duplicate clip ids.*'x'"),
    ({"clip_ids": ["x"]}, ValueError, "1 clip ids for 3 paths"),
    ({"short_policy": "stretch"}, ValueError, "stretch"),
    ({"resample_filter": "linear"}, ValueError, "linear"),
    ({"workers": 0}, ValueError, "workers must be >= 1, got 0"),
    ({"workers": 1.5}, TypeError, "workers must be an int"),
    ({"cache": 3}, TypeError, "cache must be"),
    ({"model_path": "x.tflite"}, ValueError, "named embedders only"),
])
def test_bad_arguments(clips, kwargs, error, message):
    with pytest.raises(error, match=message):
        extract_files(clips, embedder=StandInEmbedder(), **kwargs)


def test_a_single_path_is_refused(clips):
    with pytest.raises(TypeError, match="single path"):
        extract_files(str(clips[0]), embedder=StandInEmbedder())


def test_missing_file_is_named(clips, tmp_path):
    with pytest.raises(AudioError, match="nowhere.wav"):
        extract_files([clips[0], tmp_path / "nowhere.wav"], embedder=StandInEmbedder(), cache=False)


def test_find_audio_files(clips, tmp_path):
    nested = clips[0].parent / "sub"
    nested.mkdir()
    write_tone(nested / "d.ogg")
    (clips[0].parent / "readme.txt").write_text("x")
    paths, ids = find_audio_files([clips[0].parent, clips[0]])
    assert ids == ["a", "b", "c", "sub/d", "a"]
    assert paths[3] == nested / "d.ogg"
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        find_audio_files([tmp_path / "nothing_here"])


def test_progress_bar_only_when_asked(clips, capsys):
    extract_files(clips, embedder=StandInEmbedder(), cache=False)
    assert capsys.readouterr().err == ""
    extract_files(clips, embedder=StandInEmbedder(), cache=False, progress=True)
    assert "3/3" in capsys.readouterr().err


def test_cli_with_the_vggish_fixture(clips, tmp_path, capsys, fixtures_dir):
    model = fixtures_dir / "vggish_tiny.tflite"  # committed: a missing fixture must fail, not skip
    out = tmp_path / "out.npz"
    code = main([str(clips[0].parent), "-o", str(out), "--embedder", "vggish", "--model-path", str(model),
                 "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert code == 0
    features = Features.load(out)
    assert features.clip_ids == ["a", "b", "c"] and features.segment_scores is None
    assert [len(s) for s in features.segment_embeddings] == [2, 3, 1]  # VGGish hop 0.96 s
    assert features.manifest["front_end"]["log_offset"] == 0.01
    assert "3 clips" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["-o", "x.npz"], "one of the two"),
    (["--esc50", "a.wav", "-o", "x.npz"], "one of the two"),
    (["a.wav", "-o", "x.npz", "--no-cache", "--cache-dir", "c"], "exclude"),
    (["a.wav", "-o", "x.npz", "--workers", "0"], "must be an integer >= 1"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_reports_missing_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "absent.wav"), "-o", str(tmp_path / "x.npz"), "--no-cache"])
    assert exit_info.value.code == 1
    assert "absent.wav" in capsys.readouterr().err
