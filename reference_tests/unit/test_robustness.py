"""Nothing lost, nothing silently wrong: outputs, model files, caches, scale, and messages naming the culprit."""

import hashlib
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from refzsl import cli, config
from refzsl._util.files import check_output_file, check_output_folder, read_cached_npz
from refzsl.acoustic.extraction import _entry_bytes, extract_files, find_audio_files
from refzsl.audio.io import load_audio
from refzsl.classify import ZeroShotClassifier, check_labels
from refzsl.exceptions import (AudioError, ModelFileError, ModelMismatchError, OutOfVocabularyError, OutputError,
                               MissingAssetError, RefzslError)
from refzsl.models.bilinear import BilinearZSL
from refzsl.models.persistence import ClassifierModel

from test_extract import StandInEmbedder, write_tone

SHIPPED_MODEL = config.PACKAGE_DATA / "classifier_esc50_yamnet.npz"
README = Path(__file__).resolve().parents[2] / "README.md"


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- outputs -----------------------------------------------------------------------------------------------

def test_output_refuses_an_input_another_file_a_folder_and_an_unwritable_place(tmp_path):
    clip = write_tone(tmp_path / "clip.wav")
    with pytest.raises(OutputError, match="is an input of this command"):
        check_output_file(clip, option="-o", inputs=[tmp_path / "." / "clip.wav"], is_output=lambda path: True)
    with pytest.raises(OutputError, match="exists and is not a file this command writes"):
        check_output_file(clip, option="-o", is_output=lambda path: False)
    with pytest.raises(OutputError, match="is a folder"):
        check_output_file(tmp_path, option="-o")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="its folder .* is not writable"):
        check_output_file(tmp_path / "afile" / "out.npz", option="-o")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "afile", option="--out")
    with pytest.raises(OutputError, match="cannot be written"):
        check_output_folder(tmp_path / "afile" / "results", option="--out")
    assert check_output_file(clip, option="-o", force=True) == clip
    assert check_output_file(tmp_path / "new" / "out.npz", option="-o") == tmp_path / "new" / "out.npz"
    assert not list((tmp_path / "new").iterdir())  # the write probe leaves nothing behind


def test_extract_and_train_refuse_to_overwrite_their_input(tmp_path, monkeypatch, capsys):
    from refzsl.extract import main as extract_main
    monkeypatch.chdir(tmp_path)
    clip = write_tone(tmp_path / "clip.wav")
    before = _sha(clip)
    with pytest.raises(SystemExit) as exit_info:
        extract_main(["clip.wav", "-o", "clip.wav", "--quiet"])
    assert exit_info.value.code == 7
    assert "is an input of this command" in capsys.readouterr().err
    assert cli.main(["train", "--pack", "-o", "clip.wav"]) == 7
    assert "refusing to overwrite it" in capsys.readouterr().err
    rows = tmp_path / "clips.csv"
    rows.write_text("clip.wav,dog\n")
    assert cli.main(["train", "--csv", str(rows), "-o", str(rows)]) == 7
    assert _sha(clip) == before


def test_esc50_checks_out_before_the_run(tmp_path, capsys):
    from refzsl.esc50 import main as esc50_main
    (tmp_path / "afile").write_text("x")
    assert esc50_main(["--features", "pack", "--no-select", "--learning-rate", "0.1", "--epochs", "1", "--quiet",
                       "--out", str(tmp_path / "afile" / "results")]) == 7
    captured = capsys.readouterr()
    assert "nothing was run" in captured.err and captured.out == ""  # no table: the run never started


def test_negative_seed_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--pack", "-o", "m.npz", "--seed", "-1"])
    assert "argument --seed: must be an integer >= 0, got '-1'" in capsys.readouterr().err


# ---- model files -------------------------------------------------------------------------------------------

def _model_parts():
    with np.load(SHIPPED_MODEL, allow_pickle=False) as archive:
        parts = {name: archive[name] for name in archive.files}
    return parts, json.loads(parts["metadata"].tobytes().decode())


def _write_model(path, parts, metadata=None):
    parts = dict(parts)
    if metadata is not None:
        parts["metadata"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(path, **parts)
    return path


def _damage(kind, path):
    parts, meta = _model_parts()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = SHIPPED_MODEL.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "W all NaN":
        _write_model(path, {**parts, "estimator.W_": np.full_like(parts["estimator.W_"], np.nan)})
    elif kind == "W wrong shape":
        _write_model(path, {**parts, "estimator.W_": parts["estimator.W_"][:-3]})
    elif kind == "key missing":
        _write_model(path, parts, {key: value for key, value in meta.items() if key != "classes"})
    elif kind == "unknown parameter":
        meta["estimator"]["params"]["bogus"] = 1
        _write_model(path, parts, meta)
    elif kind == "JSON list":
        _write_model(path, parts, [1, 2, 3])
    elif kind == "pickled array":
        _write_model(path, {**parts, "class_embeddings": np.array([{"a": 1}], dtype=object)})
    elif kind == "mistyped metadata":
        meta["classes"] = "dog"
        _write_model(path, parts, meta)
    elif kind == "zip flags say encrypted":  # found by the property suite: zipfile raises RuntimeError
        data = bytearray(SHIPPED_MODEL.read_bytes())
        central = data.index(b"PK\x01\x02")
        data[central + 8] |= 1  # general purpose flag, bit 0: encrypted
        path.write_bytes(bytes(data))
    elif kind == "unknown fitted attribute":
        meta["estimator"]["fitted"]["extra_"] = 1
        _write_model(path, parts, meta)
    return path


@pytest.mark.parametrize("kind, message", [
    ("empty", "the file is empty"),
    ("truncated", "unreadable .npz archive"),
    ("random bytes", "not an .npz archive"),
    ("W all NaN", r"W_ holds NaN or Inf \(307200 of 307200 values\)"),
    ("W wrong shape", r"W_ must be a float array of shape \[1024, 300\]"),
    ("key missing", r"the metadata lacks \['classes'\]"),
    ("unknown parameter", "Invalid parameter 'bogus'"),
    ("JSON list", "the metadata is a JSON list, expected an object"),
    ("pickled array", "cannot be read without pickle"),
    ("mistyped metadata", "metadata 'classes' is a str, expected a list"),
    ("unknown fitted attribute", r"unknown fitted attributes \['extra_'\]"),
    ("zip flags say encrypted", r"unreadable .npz archive \(RuntimeError"),
])
def test_damaged_model_files_raise_one_error_naming_file_and_problem(tmp_path, kind, message):
    path = _damage(kind, tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match=message) as error:
        ClassifierModel.load(path)
    assert str(path) in str(error.value) and "allow_pickle" not in str(error.value)
    assert isinstance(error.value, ModelMismatchError)  # exit 6


def test_damaged_model_exits_6_and_a_folder_is_no_model(tmp_path, capsys):
    path = _damage("W all NaN", tmp_path / "nan.npz")
    clip = write_tone(tmp_path / "clip.wav")
    assert cli.main(["classify", str(clip), "--labels", "dog, rain", "--model", str(path)]) == 6
    assert "W_ holds NaN or Inf" in capsys.readouterr().err
    assert cli.main(["classify", str(clip), "--labels", "dog, rain", "--model", str(tmp_path)]) == 6
    assert "is a folder, not a model file" in capsys.readouterr().err


def test_the_shipped_models_pass_validation():
    for name in ("classifier_esc50_yamnet.npz", "openvocab_yamnet.npz"):
        model = ClassifierModel.load(config.PACKAGE_DATA / name)
        assert np.isfinite(model.estimator.W_).all()


# ---- fit scale ---------------------------------------------------------------------------------------------

def _toy():
    rng = np.random.default_rng(0)
    Phi = rng.normal(size=(5, 4))
    y = np.repeat(np.arange(5), 8)
    return Phi[y] @ rng.normal(size=(4, 6)) + 0.1 * rng.normal(size=(40, 6)), y, Phi


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e300, 1e-300])
def test_fit_learns_the_same_W_at_any_scale_of_normalised_inputs(scale):
    X, y, Phi = _toy()
    reference = BilinearZSL(learning_rate=0.1, n_epochs=5, random_state=0).fit(X, y, Phi)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        scaled = BilinearZSL(learning_rate=0.1, n_epochs=5, random_state=0).fit(X * scale, y, Phi * scale)
        np.testing.assert_allclose(scaled.W_, reference.W_, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(scaled.predict(X * scale, Phi), reference.predict(X, Phi))


def test_fit_refuses_an_unnormalised_input_of_meaningless_scale():
    X, y, Phi = _toy()
    with pytest.raises(ValueError, match="X holds values up to .*e\\+200 .* Rescale X"):
        BilinearZSL(normalize="none").fit(X * 1e200, y, Phi)
    with pytest.raises(ValueError, match="class_embeddings holds values up to"):
        BilinearZSL(normalize="acoustic").fit(X, y, Phi * 1e-40)


# ---- caches ------------------------------------------------------------------------------------------------

def _entries(cache):
    return sorted(cache.rglob("*.v2.npy"))


@pytest.mark.parametrize("damage", ["zeros", "nan with a valid checksum", "truncated", "empty"])
def test_a_damaged_cache_entry_is_recomputed_with_a_warning(tmp_path, damage):
    clip = write_tone(tmp_path / "a.wav")
    cache = tmp_path / "cache"
    first = extract_files([clip], embedder=StandInEmbedder(), cache=cache)
    (entry,) = _entries(cache)
    array = np.load(entry)  # np.load ignores the checksum trailer
    if damage == "zeros":
        np.save(entry, np.zeros_like(array))  # a valid .npy, but its checksum is gone
    elif damage == "nan with a valid checksum":
        entry.write_bytes(_entry_bytes(np.full_like(array, np.nan)))
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    else:
        entry.write_bytes(b"")
    embedder = StandInEmbedder()
    with pytest.warns(UserWarning, match="is damaged .*; recomputed"):
        second = extract_files([clip], embedder=embedder, cache=cache)
    assert embedder.calls == 1
    np.testing.assert_array_equal(first.clip_embeddings, second.clip_embeddings)
    third_embedder = StandInEmbedder()
    extract_files([clip], embedder=third_embedder, cache=cache)  # rewritten whole: trusted again
    assert third_embedder.calls == 0


def test_an_unusable_cache_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    clip = write_tone(tmp_path / "a.wav")
    reference = extract_files([clip], embedder=StandInEmbedder(), cache=False)
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path / "afile"))
    with pytest.warns(UserWarning, match="features are not cached"):
        got = extract_files([clip], embedder=StandInEmbedder(), cache=True)
    np.testing.assert_array_equal(got.clip_embeddings, reference.clip_embeddings)
    with pytest.warns(UserWarning, match="cannot be written .*features are not cached"):
        extract_files([clip], embedder=StandInEmbedder(), cache=tmp_path / "afile" / "sub")


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04garbage"])
def test_a_damaged_cache_file_reads_as_absent_with_a_warning(tmp_path, damage):
    path = tmp_path / "table.npz"
    path.write_bytes(damage)
    with pytest.warns(UserWarning, match="is damaged .*rebuilt"):
        assert read_cached_npz(path) is None
    np.savez(path, matrix=np.array([[1.0, np.nan]]))
    with pytest.warns(UserWarning, match="NaN or Inf"):
        assert read_cached_npz(path) is None
    np.savez(path)  # a zip directory damaged to list no member reads as an empty archive (property suite)
    with pytest.warns(UserWarning, match="lacks any array"):
        assert read_cached_npz(path) is None
    np.savez(path, matrix=np.ones((2, 2)))
    with pytest.warns(UserWarning, match=r"lacks \['known'\]"):
        assert read_cached_npz(path, names=("matrix", "known")) is None
    assert read_cached_npz(path, names=("matrix",))["matrix"].shape == (2, 2)


@pytest.mark.assets
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_word_vector_cache_is_rebuilt(data_root, tmp_path, monkeypatch, damage):
    from refzsl.semantic import recipes, vectors
    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(vectors, "_CACHE", {})  # the one word-vector memo
    reference = recipes.cached_word_vectors("WLE", root=data_root)["word2vec"]
    (cached,) = (tmp_path / "cache" / "vectors").glob("*.npz")
    blob = cached.read_bytes()
    cached.write_bytes(b"" if damage == "empty" else blob[:len(blob) // 3])
    monkeypatch.setattr(vectors, "_CACHE", {})  # the one word-vector memo
    with pytest.warns(UserWarning, match="is damaged"):
        rebuilt = recipes.cached_word_vectors("WLE", root=data_root)["word2vec"]
    np.testing.assert_array_equal(rebuilt.vectors, reference.vectors)
    monkeypatch.setattr(vectors, "_CACHE", {})  # the one word-vector memo
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt whole: no warning on the next run
        recipes.cached_word_vectors("WLE", root=data_root)


# ---- messages naming the culprit ---------------------------------------------------------------------------

def test_files_sharing_a_stem_get_distinct_ids(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = write_tone(tmp_path / "a" / "x.wav"), write_tone(tmp_path / "b" / "x.wav", frequency_hz=900)
    paths, ids = find_audio_files([first, second])
    assert len(set(ids)) == 2 and ids[0].endswith("a/x") and ids[1].endswith("b/x")
    features = extract_files(paths, clip_ids=ids, embedder=StandInEmbedder(), cache=False)
    assert not np.array_equal(features.clip_embeddings[0], features.clip_embeddings[1])


def test_a_folder_is_not_audio_and_one_path_is_not_a_list(tmp_path):
    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        load_audio(tmp_path)
    classifier = ZeroShotClassifier(ClassifierModel.load(SHIPPED_MODEL), method="bilinear")
    with pytest.raises(TypeError, match=r"files must be a sequence of audio files, not one path 'clip.wav': "
                                        r"pass \['clip.wav'\]"):
        classifier.predict("clip.wav", ["dog", "rain"])
    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        classifier.embed([tmp_path])


@pytest.mark.parametrize("label", ["!!!", "...", "-", "?!"])
def test_punctuation_only_labels_are_refused(label):
    with pytest.raises(ValueError, match="has no letter or digit"):
        check_labels(["dog", label])
    assert check_labels(["dog", "C-3PO", "über"]) == ["dog", "C-3PO", "über"]


# ---- the exit-code table -----------------------------------------------------------------------------------

_ERRORS = {
    1: RefzslError("other"),
    3: MissingAssetError("asset"),
    4: AudioError("audio"),
    5: OutOfVocabularyError("words"),
    6: ModelFileError("damaged"),
    7: OutputError("output"),
}


def _docstring_table(text):
    return {int(code): meaning for code, meaning in re.findall(r"^(\d)\s{3,}(\S.*)$", text, flags=re.M)}


def test_exit_code_table_matches_exit_code():
    table = _docstring_table(cli.__doc__)
    assert sorted(table) == sorted(cli.EXIT_CODES.values()) == list(range(8))
    for code, error in _ERRORS.items():
        assert cli.exit_code(error) == code
    assert cli.exit_code(ModelMismatchError("vectors")) == 6
    assert cli.exit_code(FileNotFoundError("model")) == 3
    assert "missing" in table[4] and "damaged" in table[6] and "refused" in table[7]


def test_readme_exit_code_table_matches_exit_code():
    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\|\s*(\d)\s*\|\s*(.+?)\s*\|$", text, flags=re.M))
    assert sorted(int(code) for code in rows) == sorted(cli.EXIT_CODES.values())
    for code, meaning in _docstring_table(cli.__doc__).items():
        assert rows[str(code)].split()[0].lower() == meaning.split()[0].lower()


# ---- streaming ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate_hz", [44100, 48000, 22050, 8000, 11025])
@pytest.mark.parametrize("block", [7, 1000, 65536])
def test_resampling_as_a_stream_equals_whole_file_resampling(rate_hz, block):
    from refzsl.audio.io import _StreamResampler, resample
    x = np.random.default_rng(rate_hz).normal(size=70001 if block > 7 else 3001)
    whole = resample(x, sample_rate_hz=rate_hz, target_rate_hz=16000)
    stream = _StreamResampler(rate_hz, 16000, "kaiser_best")
    got = np.concatenate([stream.push(x[i:i + block]) for i in range(0, len(x), block)] + [stream.finish()])
    assert got.shape == whole.shape
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seconds", [0.5, 0.975, 1.2, 5.3, 63.0])
def test_patches_as_a_stream_equal_whole_waveform_patches(seconds):
    from refzsl.audio.frontend import iter_patches, waveform_to_patches
    from refzsl.audio.params import VGGISH, YAMNET
    x = (0.1 * np.random.default_rng(3).normal(size=int(seconds * 16000))).astype(np.float32)
    for params in (YAMNET, VGGISH):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short clips are padded with a warning, both ways
            whole = waveform_to_patches(x, params=params)
            blocks = list(iter_patches((x[i:i + 4000] for i in range(0, len(x), 4000)), params=params,
                                       block_patches=5))
        assert all(len(block) == 5 for block in blocks[:-1])
        np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_a_stereo_file_read_in_small_blocks_gives_the_whole_file_waveform(tmp_path):
    """Blocks of 4096 frames give :func:`load_audio`'s waveform (itself compared with resampy in test_audio)."""
    from refzsl.audio import io
    clip = write_tone(tmp_path / "long.wav", seconds=6.0, rate_hz=44100, channels=2)
    pieces = list(io.iter_audio(clip, block_frames=4096))
    assert len(pieces) > 60
    np.testing.assert_array_equal(np.concatenate(pieces), io.load_audio(clip))


@pytest.mark.parametrize("n, frames", [(0, 0), (1, 0), (399, 0), (400, 1), (560, 2), (400 + 160 * 200, 201)])
def test_log_mel_of_any_length_has_one_row_per_whole_frame(n, frames):
    from refzsl.audio.frontend import log_mel_spectrogram
    log_mel = log_mel_spectrogram(np.full(n, 0.1, dtype=np.float32))
    assert log_mel.shape == (frames, 64) and np.isfinite(log_mel).all()
