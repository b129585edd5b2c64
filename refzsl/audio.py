"""Read audio files into float32 mono waveforms at the model's sample rate.

The only module of refzsl that reads audio. It follows Google's VGGish
reference (``vggish_input``): integer PCM is scaled to [-1, 1) by 1/32768 for
int16, channels are averaged, and the waveform is resampled with resampy's
``kaiser_best`` filter (SPEC §1).
"""

from pathlib import Path

import numpy as np
import resampy
import soundfile

from .exceptions import AudioError

__all__ = ["RESAMPLE_FILTERS", "load_audio", "to_mono", "resample"]

# resampy's precomputed filters. ``kaiser_best`` is the reference's; ``kaiser_fast``
# is about 4x faster with a shorter transition band (a documented option).
RESAMPLE_FILTERS = ("kaiser_best", "kaiser_fast")


def to_mono(samples):
    """Average the channels of a waveform.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,) or (n, channels)]

    Returns
    -------
    np.ndarray [shape=(n,)]
    """
    samples = np.asarray(samples)
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise ValueError(f"Expected a waveform of shape (n,) or (n, channels), got shape {samples.shape}")
    return samples.mean(axis=1)


def resample(waveform, *, sample_rate_hz, target_rate_hz, resample_filter="kaiser_best"):
    """Resample a mono waveform with resampy.

    Parameters
    ----------
    waveform : np.ndarray [shape=(n,)], floating
    sample_rate_hz : int > 0
        Rate of ``waveform``.
    target_rate_hz : int > 0
        Rate wanted.
    resample_filter : str in RESAMPLE_FILTERS

    Returns
    -------
    np.ndarray [shape=(m,)], same dtype as ``waveform`` (``waveform`` itself if the rates agree)
    """
    if resample_filter not in RESAMPLE_FILTERS:
        raise ValueError(f"Unknown resample_filter={resample_filter!r}; choose one of {RESAMPLE_FILTERS}")
    if sample_rate_hz <= 0 or target_rate_hz <= 0:
        raise ValueError(f"Invalid sample rate: sample_rate_hz={sample_rate_hz}, target_rate_hz={target_rate_hz}")
    if sample_rate_hz == target_rate_hz:
        return waveform
    return resampy.resample(waveform, sample_rate_hz, target_rate_hz, filter=resample_filter)


def load_audio(path, *, sample_rate_hz=16000, resample_filter="kaiser_best"):
    """Read an audio file as a float32 mono waveform at ``sample_rate_hz``.

    Any format libsndfile reads (wav, flac, ogg, ...). Integer PCM is scaled the
    way the VGGish reference scales int16 (divide by 32768; soundfile's float read
    does exactly this), channels are averaged, then the waveform is resampled.
    Decoding, mixing and resampling run in float64, as in the reference.

    Parameters
    ----------
    path : str or Path
        Audio file.
    sample_rate_hz : int > 0
        Rate of the returned waveform (16 000 for VGGish and YAMNet).
    resample_filter : str in RESAMPLE_FILTERS
        resampy filter; ``kaiser_best`` is the reference's.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]
        Samples in [-1, 1] (up to resampling overshoot).

    Raises
    ------
    AudioError
        If the file cannot be read, holds no samples, or holds NaN/Inf; the
        message names the file.
    ValueError
        If ``sample_rate_hz`` or ``resample_filter`` is invalid.
    """
    if resample_filter not in RESAMPLE_FILTERS:
        raise ValueError(f"Unknown resample_filter={resample_filter!r}; choose one of {RESAMPLE_FILTERS}")
    if sample_rate_hz <= 0:
        raise ValueError(f"Invalid sample rate: sample_rate_hz={sample_rate_hz}")
    path = Path(path)
    try:
        samples, file_rate_hz = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(f"Cannot read audio file {str(path)!r}: {error}") from error
    if samples.size == 0:
        raise AudioError(f"Audio file {str(path)!r} holds no samples")
    if not np.isfinite(samples).all():
        raise AudioError(f"Audio file {str(path)!r} holds NaN or Inf samples")
    try:
        waveform = resample(to_mono(samples), sample_rate_hz=file_rate_hz, target_rate_hz=sample_rate_hz,
                            resample_filter=resample_filter)
    except ValueError as error:  # resampy refuses inputs too short to give one output sample
        raise AudioError(f"Cannot resample audio file {str(path)!r} "
                         f"({samples.shape[0]} samples at {file_rate_hz} Hz): {error}") from error
    return np.ascontiguousarray(waveform, dtype=np.float32)
