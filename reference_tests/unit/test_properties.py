"""Property-based tests (hypothesis): whatever comes in, a result or one of refzsl's errors naming the culprit.

Never a traceback of another kind, a NaN score, or a changed input file. Four families:

- random audio files (length, rate, channels, sample format, NaN/Inf) through ``load_audio`` and the front end,
  random in-memory waveforms (dtype, shape, values) through the front end, and resampling in random blocks
  (equal to resampling the whole waveform);
- random labels through ``check_labels``, tokenisation and word-vector embedding, scored by a bilinear model;
- random byte corruptions (flips, truncation, insertions) of model files;
- random byte corruptions of extraction cache entries and of cache ``.npz`` files.

The default profile ("ci") is derandomised (the same examples on every run) and fast; set
``HYPOTHESIS_PROFILE=thorough`` for many more, random examples.
"""

import hashlib
import os
import warnings

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from refzsl._util.files import read_cached_npz
from refzsl.acoustic.extraction import extract_files
from refzsl.audio.frontend import SHORT_POLICIES, waveform_to_patches
from refzsl.audio.io import load_audio
from refzsl.audio.params import VGGISH, YAMNET
from refzsl.classify import check_labels
from refzsl.exceptions import AudioError, ModelFileError, ModelMismatchError, OutOfVocabularyError, RefzslError
from refzsl.models.bilinear import BilinearZSL
from refzsl.models.persistence import ClassifierModel
from refzsl.semantic.recipes import class_embeddings
from refzsl.semantic.vectors import WordVectors

from test_extract import StandInEmbedder

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
               print_blob=True)
settings.register_profile("ci", max_examples=50, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=400, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- audio -------------------------------------------------------------------------------------------------

RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "PCM_U8", "FLOAT", "DOUBLE")


@st.composite
def audio_files(draw):
    rate = draw(st.sampled_from(RATES))
    channels = draw(st.integers(1, 4))
    frames = draw(st.one_of(st.integers(0, 40), st.integers(0, int(2.5 * rate))))
    subtype = draw(st.sampled_from(SUBTYPES))
    seed = draw(st.integers(0, 2**16))
    amplitude = draw(st.sampled_from([0.0, 1e-6, 0.3, 1.0, 4.0]))  # 4.0 clips in integer formats
    poison = draw(st.sampled_from([None, np.nan, np.inf, -np.inf])) if subtype in ("FLOAT", "DOUBLE") else None
    samples = amplitude * np.random.default_rng(seed).uniform(-1, 1, size=(frames, channels))
    if poison is not None and frames:
        samples[draw(st.integers(0, frames - 1)), draw(st.integers(0, channels - 1))] = poison
    return rate, subtype, samples


@given(audio_files(), st.sampled_from(SHORT_POLICIES), st.sampled_from([VGGISH, YAMNET]))
def test_any_audio_file_gives_finite_patches_or_an_audio_error(tmp_path_factory, case, short_policy, params):
    rate, subtype, samples = case
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    soundfile.write(path, samples, rate, subtype=subtype)
    before = _sha(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short clips padded with a warning
            waveform = load_audio(path)
            patches = waveform_to_patches(waveform, params=params, short_policy=short_policy, source=path)
    except AudioError as error:
        assert str(path) in str(error)
        if short_policy != "error" and len(samples) and np.isfinite(samples).all():
            # A finite file is only refused for being too short to resample at all.
            assert "Cannot resample" in str(error)
    else:
        assert waveform.dtype == np.float32 and np.isfinite(waveform).all()
        assert patches.dtype == np.float32 and patches.shape[1:] == (96, 64) and np.isfinite(patches).all()
        assert len(patches) >= (1 if short_policy == "pad" else 0)
    assert _sha(path) == before


@given(st.sampled_from([np.float16, np.float32, np.float64, np.int16, np.int32, np.complex64, np.bool_]),
       st.sampled_from([(1,), (2,), (0,)]), st.integers(0, 40000), st.sampled_from([None, np.nan, np.inf, 1e30]),
       st.integers(0, 2**16))
def test_any_in_memory_waveform_gives_finite_patches_or_an_error_naming_it(dtype, tail, length, special, seed):
    shape = (length,) if tail == (1,) else (length, 2) if tail == (2,) else ()
    waveform = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    if special is not None and waveform.size:
        waveform.flat[seed % waveform.size] = special
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        waveform = waveform.astype(dtype)
        try:
            patches = waveform_to_patches(waveform, params=YAMNET, source="input")
        except (AudioError, TypeError, ValueError) as error:
            assert "waveform of input" in str(error) or "input:" in str(error)
            return
    assert np.isfinite(patches).all() and patches.shape[1:] == (96, 64)


@given(st.sampled_from(RATES), st.integers(1, 30000), st.integers(1, 9000), st.integers(0, 2**16))
def test_resampling_in_any_blocks_equals_resampling_the_whole(rate, length, block, seed):
    from refzsl.audio.io import _StreamResampler, resample
    x = np.random.default_rng(seed).uniform(-1, 1, length)
    try:
        whole = resample(x, sample_rate_hz=rate, target_rate_hz=16000)
    except ValueError:  # too short to give one output sample: the stream says the same
        stream = _StreamResampler(rate, 16000, "kaiser_best")
        for start in range(0, length, block):
            stream.push(x[start:start + block])
        with pytest.raises(ValueError, match="too small"):
            stream.finish()
        return
    stream = _StreamResampler(rate, 16000, "kaiser_best")
    pieces = [stream.push(x[start:start + block]) for start in range(0, length, block)] + [stream.finish()]
    got = np.concatenate(pieces)
    assert got.shape == whole.shape
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-12)


# ---- labels ------------------------------------------------------------------------------------------------

VOCABULARY = ["dog", "barking", "rain", "siren", "car", "horn", "bird", "song", "door", "knock", "über", "c3po"]
_VECTORS = WordVectors(VOCABULARY, np.random.default_rng(0).normal(size=(len(VOCABULARY), 6)).astype(np.float32))
_MODEL = BilinearZSL(learning_rate=0.1, n_epochs=2, random_state=0).fit(
    np.random.default_rng(1).normal(size=(12, 5)), np.arange(12) % 3,
    np.random.default_rng(2).normal(size=(3, 6)))

label_text = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(VOCABULARY + ["the", "a", "of", "DOG", "Rain!", "--", "!!!", "x", " ", "\t", "ß"]),
             max_size=6).map(" ".join))


@given(st.lists(label_text, max_size=6))
def test_any_labels_embed_to_finite_scores_or_an_error_naming_a_label(labels):
    try:
        cleaned = check_labels(labels)
    except (ValueError, TypeError) as error:
        assert "Label" in str(error) or "labels" in str(error).lower()
        return
    try:
        phi = class_embeddings(cleaned, "WLE", vectors={"word2vec": _VECTORS})
    except OutOfVocabularyError as error:
        assert error.missing and set(error.missing) <= set(cleaned)
        return
    except (RefzslError, ValueError) as error:  # only stop words ("the"), or no known word: the label is named
        assert any(repr(label) in str(error) for label in cleaned)
        return
    assert phi.shape == (len(cleaned), 6) and np.isfinite(phi).all()
    scores = _MODEL.decision_function(np.random.default_rng(3).normal(size=(2, 5)), phi)
    assert np.isfinite(scores).all()


# ---- model files -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_model_bytes(tmp_path_factory):
    model = ClassifierModel(estimator=_MODEL, acoustic={"name": "standin", "embedding_dim": 5},
                            semantic={"recipe": "WLE", "options": {}}, classes=["dog", "rain", "siren"],
                            class_embeddings=np.ones((3, 6), np.float32))
    path = model.save(tmp_path_factory.mktemp("model") / "model.npz")
    return path.read_bytes()


@st.composite
def corruptions(draw, size):
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "zero run"]))
    position = draw(st.integers(0, size - 1))
    if kind == "flip":
        return kind, position, draw(st.integers(1, 255))
    if kind == "insert":
        return kind, position, draw(st.binary(min_size=1, max_size=16))
    return kind, position, draw(st.integers(1, 64))


def _corrupt(data, corruption):
    kind, position, value = corruption
    data = bytearray(data)
    if kind == "flip":
        data[position] ^= value
    elif kind == "truncate":
        del data[position:]
    elif kind == "insert":
        data[position:position] = value
    else:
        data[position:position + value] = bytes(len(data[position:position + value]))
    return bytes(data)


@given(data=st.data())
def test_any_corrupted_model_file_loads_finite_or_raises_a_model_file_error(small_model_bytes, tmp_path_factory,
                                                                           data):
    corrupted = _corrupt(small_model_bytes, data.draw(corruptions(len(small_model_bytes))))
    path = tmp_path_factory.mktemp("corrupt") / "model.npz"
    path.write_bytes(corrupted)
    try:
        model = ClassifierModel.load(path)
    except ModelMismatchError as error:  # ModelFileError, or a format version from the future
        assert str(path) in str(error)
        assert isinstance(error, ModelFileError) or "format version" in str(error)
    else:
        scores = model.estimator.decision_function(np.ones((1, model.estimator.W_.shape[0])),
                                                   np.ones((2, model.estimator.W_.shape[1])))
        assert np.isfinite(scores).all() and np.isfinite(model.class_embeddings).all()
    assert path.read_bytes() == corrupted


# ---- caches ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cached_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cached")
    clip = folder / "clip.wav"
    soundfile.write(clip, 0.3 * np.sin(np.arange(24000) / 7.0), 16000)
    reference = extract_files([clip], embedder=StandInEmbedder(), cache=folder / "cache")
    (entry,) = (folder / "cache").rglob("*.v2.npy")
    return clip, entry, entry.read_bytes(), reference


@given(data=st.data())
def test_any_corrupted_cache_entry_gives_the_uncorrupted_result(cached_clip, data):
    clip, entry, original, reference = cached_clip
    entry.write_bytes(_corrupt(original, data.draw(corruptions(len(original)))))
    embedder = StandInEmbedder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "damaged ... recomputed"
        got = extract_files([clip], embedder=embedder, cache=entry.parents[2])
    np.testing.assert_array_equal(got.clip_embeddings, reference.clip_embeddings)
    np.testing.assert_array_equal(got.segment_scores[0], reference.segment_scores[0])
    assert entry.read_bytes() == original  # recomputed entries are rewritten whole


@pytest.fixture(scope="module")
def cache_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("npz") / "table.npz"
    arrays = {"words": np.array(VOCABULARY), "vectors": _VECTORS.vectors}
    np.savez(path, **arrays)
    return path, path.read_bytes(), arrays


@given(data=st.data())
def test_any_corrupted_cache_file_reads_whole_or_as_absent(cache_npz, data):
    path, original, arrays = cache_npz
    path.write_bytes(_corrupt(original, data.draw(corruptions(len(original)))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "damaged ... rebuilt"
        got = read_cached_npz(path, names=arrays)
    assume(got is not None or path.read_bytes() != original)
    if got is not None:  # zip's CRC catches changed data: what reads is what was written
        assert set(got) == set(arrays)
        for name, value in arrays.items():
            np.testing.assert_array_equal(got[name], value)
