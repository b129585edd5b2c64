"""refzsl.audio.io: reading, int16 scaling, mono mixing, resampling (equal to resampy), bad files."""

import numpy as np
import pytest
import resampy
import soundfile

from refzsl.audio.io import RESAMPLE_FILTERS, load_audio, resample, to_mono
from refzsl.exceptions import AudioError


def _noise(n, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, n)


def test_int16_wav_is_scaled_by_1_over_32768(tmp_path):
    pcm = np.array([-32768, -16384, -1, 0, 1, 12345, 32767] * 100, dtype=np.int16)
    path = tmp_path / "pcm16.wav"
    soundfile.write(path, pcm, 16000, subtype="PCM_16")
    waveform = load_audio(path)
    assert waveform.dtype == np.float32 and waveform.shape == pcm.shape
    np.testing.assert_array_equal(waveform, (pcm / 32768.0).astype(np.float32))
    assert waveform.min() == -1.0


def test_channels_are_averaged(tmp_path):
    left, right = _noise(16000, 1), _noise(16000, 2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), ((left + right) / 2).astype(np.float32), atol=1e-7)


@pytest.mark.parametrize("file_rate_hz", [48000, 44100, 22050, 8000])
@pytest.mark.parametrize("resample_filter", RESAMPLE_FILTERS)
def test_load_audio_resamples_like_resampy(tmp_path, file_rate_hz, resample_filter):
    samples = _noise(file_rate_hz // 2 + 7)
    path = tmp_path / f"at_{file_rate_hz}.wav"
    soundfile.write(path, samples, file_rate_hz, subtype="DOUBLE")
    expected = resampy.resample(samples, file_rate_hz, 16000, filter=resample_filter).astype(np.float32)
    waveform = load_audio(path, resample_filter=resample_filter)
    assert waveform.shape == expected.shape
    np.testing.assert_allclose(waveform, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("rates", [(44100, 16000), (48000, 16000), (22050, 16000), (11025, 16000),
                                   (8000, 16000), (96000, 16000), (16001, 16000),
                                   # 48 -> 44.1 kHz: resampy's time register rounds across integers,
                                   # exercising the per-sample correction path.
                                   (48000, 44100)])
@pytest.mark.parametrize("length", [1, 7, 999, 30011])
def test_resample_equals_resampy(rates, length):
    sr_orig, sr_new = rates
    samples = _noise(length, seed=length)
    try:
        expected = resampy.resample(samples, sr_orig, sr_new)
    except ValueError:
        with pytest.raises(ValueError):
            resample(samples, sample_rate_hz=sr_orig, target_rate_hz=sr_new)
        return
    result = resample(samples, sample_rate_hz=sr_orig, target_rate_hz=sr_new)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("file_rate_hz", [44100, 48000])
def test_resample_equals_resampy_on_a_full_esc50_length_clip(file_rate_hz):
    # 5 s: resampy's time register drifts further from the phase templates than in short signals.
    samples = _noise(5 * file_rate_hz, seed=5)
    expected = resampy.resample(samples, file_rate_hz, 16000)
    result = resample(samples, sample_rate_hz=file_rate_hz, target_rate_hz=16000)
    assert result.shape == expected.shape == (80000,)
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("waveform, kwargs, error, message", [
    (np.zeros(4410, dtype=np.int16), {}, TypeError, "dtype int16"),
    ([0.0] * 4410, {}, TypeError, "got list"),
    (np.zeros((4410, 2)), {}, ValueError, r"shape \(4410, 2\)"),
    (np.zeros(4410), {"resample_filter": "sinc_window"}, ValueError, "resample_filter='sinc_window'"),
    (np.zeros(4410), {"sample_rate_hz": 0}, ValueError, "sample_rate_hz=0"),
    (np.zeros(4410), {"target_rate_hz": -16000}, ValueError, "target_rate_hz=-16000"),
])
def test_resample_bad_inputs(waveform, kwargs, error, message):
    with pytest.raises(error, match=message):
        resample(waveform, **{"sample_rate_hz": 44100, "target_rate_hz": 16000, **kwargs})


def test_resample_keeps_a_sine_and_same_rate_is_identity():
    t = np.arange(44100) / 44100
    sine = np.sin(2 * np.pi * 1000 * t)
    out = resample(sine, sample_rate_hz=44100, target_rate_hz=16000)
    reference = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    np.testing.assert_allclose(out[500:-500], reference[500:-500], atol=1e-3)
    assert resample(sine, sample_rate_hz=16000, target_rate_hz=16000) is sine


def test_to_mono():
    stereo = np.array([[1.0, 3.0], [2.0, 4.0]])
    np.testing.assert_array_equal(to_mono(stereo), [2.0, 3.0])
    np.testing.assert_array_equal(to_mono(np.array([1.0, 2.0])), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(2, 2, 2\)"):
        to_mono(np.zeros((2, 2, 2)))


def _unreadable(path):
    path.write_bytes(b"this is not audio at all" * 10)


def _empty(path):
    soundfile.write(path, np.zeros(0), 16000, subtype="PCM_16")


def _nan(path):
    samples = _noise(16000)
    samples[100] = np.nan
    soundfile.write(path, samples, 16000, subtype="FLOAT")


def _inf(path):
    samples = _noise(16000)
    samples[5] = np.inf
    soundfile.write(path, samples, 16000, subtype="DOUBLE")


def _missing(path):
    pass


@pytest.mark.parametrize("make, message", [(_unreadable, "Cannot read"), (_empty, "no samples"),
                                           (_nan, "NaN or Inf"), (_inf, "NaN or Inf"),
                                           (_missing, "Cannot read")])
def test_bad_audio_raises_naming_the_file(tmp_path, make, message):
    path = tmp_path / f"bad_{make.__name__.strip('_')}.wav"
    make(path)
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_too_short_to_resample_names_the_file(tmp_path):
    path = tmp_path / "one_sample.wav"
    soundfile.write(path, np.array([0.1]), 48000, subtype="FLOAT")
    with pytest.raises(AudioError, match="one_sample.wav"):
        load_audio(path)


@pytest.mark.parametrize("kwargs, message", [({"resample_filter": "sinc_window"}, "resample_filter"),
                                             ({"sample_rate_hz": 0}, "sample_rate_hz=0"),
                                             ({"sample_rate_hz": -16000}, "sample_rate_hz=-16000")])
def test_bad_options(tmp_path, kwargs, message):
    path = tmp_path / "ok.wav"
    soundfile.write(path, _noise(1600), 16000)
    with pytest.raises(ValueError, match=message):
        load_audio(path, **kwargs)
