"""refzsl.audio.frontend: SPEC §1 worked values, frame/patch counts, a naive twin, short-clip policies."""

import math

import numpy as np
import pytest

from refzsl.exceptions import AudioError
from refzsl.audio.frontend import (SHORT_POLICIES, frame, hertz_to_mel, log_mel_spectrogram, mel_matrix,
                             periodic_hann, stft_magnitude, waveform_to_patches)
from refzsl.audio.params import VGGISH, YAMNET


# --- a deliberately naive implementation: Python loops, one frame / one bin at a time -----------------

def naive_mel_matrix():
    """Triangles built bin by bin from SPEC §1's description."""
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)  # noqa: E731
    edges = [mel(125.0) + i * (mel(7500.0) - mel(125.0)) / 65 for i in range(66)]
    weights = np.zeros((257, 64))
    for band in range(64):
        lower, center, upper = edges[band], edges[band + 1], edges[band + 2]
        for bin_index in range(1, 257):  # bin 0 (DC) stays zero
            m = mel(8000.0 * bin_index / 256)
            if lower < m <= center:
                weights[bin_index, band] = (m - lower) / (center - lower)
            elif center < m < upper:
                weights[bin_index, band] = (upper - m) / (upper - center)
    return weights


def naive_patches(waveform, log_offset, patch_hop):
    window = [0.5 - 0.5 * math.cos(2 * math.pi * n / 400) for n in range(400)]
    weights = naive_mel_matrix()
    rows = []
    start = 0
    while start + 400 <= len(waveform):
        segment = np.zeros(512)
        for n in range(400):
            segment[n] = waveform[start + n] * window[n]
        magnitude = np.abs(np.fft.fft(segment)[:257])
        rows.append(np.log(magnitude @ weights + log_offset))
        start += 160
    patches = []
    first = 0
    while first + 96 <= len(rows):
        patches.append(np.array(rows[first:first + 96]))
        first += patch_hop
    return np.array(patches).reshape(-1, 96, 64)


# --- SPEC §1 worked values ---------------------------------------------------------------------------

def test_mel_scale_worked_values():
    assert hertz_to_mel(125.0) == pytest.approx(185.1695, abs=1e-4)
    assert hertz_to_mel(7500.0) == pytest.approx(2773.3319, abs=1e-4)
    np.testing.assert_allclose(hertz_to_mel(np.array([0.0, 700.0])), [0.0, 1127.0 * math.log(2.0)])


def test_mel_matrix_worked_values():
    weights = mel_matrix()
    assert weights.shape == (257, 64)
    assert weights.sum() == pytest.approx(230.9136, abs=1e-4)
    assert np.count_nonzero(weights) == 461
    assert not weights[0].any()  # DC row zeroed
    edges_mel = np.linspace(hertz_to_mel(125.0), hertz_to_mel(7500.0), 66)
    centres_hz = 700.0 * (np.exp(edges_mel[1:-1] / 1127.0) - 1.0)
    np.testing.assert_allclose(centres_hz[:3], [154.669, 185.405, 217.246], atol=1e-3)
    assert centres_hz[-1] == pytest.approx(7215.345, abs=1e-3)
    np.testing.assert_allclose(weights, naive_mel_matrix(), rtol=0, atol=1e-12)
    assert weights.max() <= 1.0


def test_periodic_hann():
    window = periodic_hann(400)
    assert window[0] == 0.0 and window[200] == pytest.approx(1.0)
    np.testing.assert_allclose(window, np.hanning(401)[:400], atol=1e-15)  # periodic = symmetric N+1, cut


@pytest.mark.parametrize("seconds, frames, vggish_patches, yamnet_patches", [
    (0.96, 94, 0, 0),        # 15 360 samples: short of one patch
    (0.975, 96, 1, 1),       # 15 600 samples: exactly one patch
    (5.0, 498, 5, 9),
    (10.0, 998, 10, 19),
])
def test_frame_and_patch_counts(seconds, frames, vggish_patches, yamnet_patches):
    n = int(round(seconds * 16000))
    waveform = np.random.default_rng(0).uniform(-0.1, 0.1, n)
    assert log_mel_spectrogram(waveform).shape == (frames, 64)
    assert waveform_to_patches(waveform, params=VGGISH, short_policy="drop").shape == (vggish_patches, 96, 64)
    assert waveform_to_patches(waveform, params=YAMNET, short_policy="drop").shape == (yamnet_patches, 96, 64)


@pytest.mark.parametrize("params, hop", [(VGGISH, 96), (YAMNET, 48)])
def test_patches_equal_naive_loop(params, hop):
    waveform = np.random.default_rng(1).uniform(-0.5, 0.5, 16000 * 2 + 1234)
    waveform[:3000] *= np.sin(2 * np.pi * 440 * np.arange(3000) / 16000)
    patches = waveform_to_patches(waveform, params=params)
    expected = naive_patches(waveform, params.log_offset, hop)
    assert patches.dtype == np.float32 and patches.shape == expected.shape
    np.testing.assert_allclose(patches, expected, rtol=1e-6, atol=1e-5)


def test_float32_and_float64_waveforms_agree():
    waveform = np.random.default_rng(2).uniform(-0.5, 0.5, 16000 * 3)
    np.testing.assert_allclose(waveform_to_patches(waveform.astype(np.float32)), waveform_to_patches(waveform),
                               atol=1e-4)


def test_sine_peaks_in_its_mel_band():
    t = np.arange(16000 * 2) / 16000
    log_mel = log_mel_spectrogram(np.sin(2 * np.pi * 1000.0 * t), params=YAMNET)
    edges_hz = 700.0 * (np.exp(np.linspace(hertz_to_mel(125.0), hertz_to_mel(7500.0), 66) / 1127.0) - 1.0)
    band = int(np.argmax(log_mel.mean(axis=0)))
    assert edges_hz[band] < 1000.0 < edges_hz[band + 2]
    # Log offset floor: silence gives log(0.001) for YAMNet.
    assert log_mel_spectrogram(np.zeros(16000), params=YAMNET).max() == pytest.approx(math.log(0.001))


def test_frame_is_a_strided_view():
    data = np.arange(20.0)
    frames = frame(data, window_length=5, hop_length=3)
    assert frames.shape == (6, 5)
    assert np.shares_memory(frames, data) and not frames.flags.writeable
    np.testing.assert_array_equal(frames[2], [6, 7, 8, 9, 10])
    assert frame(data[:4], window_length=5, hop_length=3).shape == (0, 5)
    two_d = frame(np.arange(30.0).reshape(10, 3), window_length=4, hop_length=2)
    assert two_d.shape == (4, 4, 3)
    np.testing.assert_array_equal(two_d[1, 0], [6, 7, 8])


def test_stft_magnitude_of_a_bin_centred_sine():
    n = np.arange(4000)
    magnitude = stft_magnitude(np.cos(2 * np.pi * 32 * n / 512), fft_length=512, hop_length=160,
                               window_length=400)
    assert magnitude.shape == (1 + (4000 - 400) // 160, 257)
    assert set(np.argmax(magnitude, axis=1)) == {32}


# --- short clips ---------------------------------------------------------------------------------------

SHORT = np.random.default_rng(3).uniform(-0.3, 0.3, 8000)  # 0.5 s


def test_short_pad_warns_and_zero_pads_to_one_patch():
    with pytest.warns(UserWarning, match="clip.wav.*zero-padded"):
        patches = waveform_to_patches(SHORT, params=YAMNET, short_policy="pad", source="clip.wav")
    assert patches.shape == (1, 96, 64)
    padded = np.concatenate([SHORT, np.zeros(YAMNET.min_samples - len(SHORT))])
    np.testing.assert_array_equal(patches, waveform_to_patches(padded, params=YAMNET))


def test_short_drop_gives_no_patch():
    patches = waveform_to_patches(SHORT, short_policy="drop")
    assert patches.shape == (0, 96, 64) and patches.dtype == np.float32


def test_short_error_names_the_source():
    with pytest.raises(AudioError, match=r"dog\.ogg.*8000 samples"):
        waveform_to_patches(SHORT, short_policy="error", source="dog.ogg")


def test_exactly_one_patch_needs_no_policy():
    for policy in SHORT_POLICIES:
        assert waveform_to_patches(np.zeros(15600), short_policy=policy).shape == (1, 96, 64)


# --- bad inputs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("waveform, kwargs, error, message", [
    (np.zeros(16000, dtype=np.int16), {}, TypeError, "int16"),
    ([0.0] * 16000, {}, TypeError, "NumPy array"),
    (np.zeros((16000, 2)), {}, ValueError, r"\(16000, 2\)"),
    (np.full(16000, np.nan), {"source": "x.wav"}, AudioError, r"x\.wav.*NaN"),
    (np.array([0.0, np.inf] * 8000), {}, AudioError, "NaN or Inf"),
    (np.zeros(16000), {"short_policy": "truncate"}, ValueError, "truncate"),
])
def test_bad_waveforms(waveform, kwargs, error, message):
    with pytest.raises(error, match=message):
        waveform_to_patches(waveform, **kwargs)


@pytest.mark.parametrize("waveform, error, message", [
    (np.zeros(16000, dtype=np.int16), TypeError, "int16"),
    (np.zeros((16000, 2)), ValueError, r"\(16000, 2\)"),
    (np.array([0.0, np.nan] * 8000), AudioError, "NaN or Inf"),
])
def test_log_mel_spectrogram_checks_its_waveform(waveform, error, message):
    with pytest.raises(error, match=message):
        log_mel_spectrogram(waveform)


@pytest.mark.parametrize("kwargs, message", [
    ({"lower_edge_hz": -1.0}, "lower_edge_hz=-1.0"),
    ({"lower_edge_hz": 8000.0, "upper_edge_hz": 7500.0}, "below"),
    ({"upper_edge_hz": 9000.0}, "Nyquist"),
    ({"num_mel_bins": 0}, "num_mel_bins"),
    ({"sample_rate_hz": 0}, "sample_rate_hz=0"),
])
def test_bad_mel_matrix_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mel_matrix(**kwargs)


@pytest.mark.parametrize("kwargs", [{"window_length": 0, "hop_length": 1}, {"window_length": 4, "hop_length": 0}])
def test_bad_frame_arguments(kwargs):
    with pytest.raises(ValueError, match="positive"):
        frame(np.zeros(10), **kwargs)
