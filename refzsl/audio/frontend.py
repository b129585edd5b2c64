"""Log-mel front end of VGGish and YAMNet in pure NumPy, one step per function.

Follows Google's ``mel_features.py`` / ``vggish_input.py`` (SPEC §1): a periodic
Hann window of 400 samples hopped by 160, the magnitude of a 512-point real FFT,
an HTK mel filterbank of 64 bands over 125-7500 Hz, ``log(mel + offset)``, and
patches of 96 frames. Framing uses strided views, never a per-frame loop.

    waveform --frame/stft_magnitude--> [frames, 257] --mel_matrix--> [frames, 64]
             --log--> log-mel --frame--> patches [n, 96, 64]
"""

import functools
import warnings

import numpy as np

from ..exceptions import AudioError
from .params import VGGISH

__all__ = [
    "SHORT_POLICIES",
    "frame",
    "periodic_hann",
    "stft_magnitude",
    "hertz_to_mel",
    "mel_matrix",
    "log_mel_spectrogram",
    "waveform_to_patches",
    "iter_patches",
]

# What to do with a waveform shorter than one patch (params.min_samples, 0.975 s at 16 kHz),
# which gives zero patches in the reference: zero-pad it to one patch (with a warning),
# drop it (zero patches, as the reference), or raise AudioError.
SHORT_POLICIES = ("pad", "drop", "error")

# HTK mel scale constants: mel(f) = 1127 ln(1 + f / 700).
_MEL_BREAK_FREQUENCY_HZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def frame(data, *, window_length, hop_length):
    """Cut an array into overlapping frames along its first axis, without padding.

    Parameters
    ----------
    data : np.ndarray [shape=(n, ...)]
    window_length : int > 0
        Samples (rows) per frame.
    hop_length : int > 0
        Samples (rows) between frame starts.

    Returns
    -------
    np.ndarray [shape=(n_frames, window_length, ...)]
        A read-only strided view of ``data``, ``n_frames = 1 + (n - window_length) // hop_length``,
        or 0 when ``n < window_length``.

    Raises
    ------
    ValueError
        If a length is not positive or ``data`` is a scalar.
    """
    if window_length <= 0 or hop_length <= 0:
        raise ValueError(f"window_length and hop_length must be positive, got {window_length} and {hop_length}")
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError("Cannot frame a scalar; expected an array of shape (n, ...)")
    num_samples = data.shape[0]
    num_frames = max(0, 1 + (num_samples - window_length) // hop_length)
    shape = (num_frames, window_length) + data.shape[1:]
    strides = (data.strides[0] * hop_length,) + data.strides
    return np.lib.stride_tricks.as_strided(data, shape=shape, strides=strides, writeable=False)


def periodic_hann(window_length):
    """Periodic Hann window ``0.5 - 0.5 cos(2 pi n / N)``, n = 0..N-1.

    Periodic rather than symmetric (``np.hanning``), as in the reference and
    TensorFlow's ``hann_window``: one whole cosine period over N samples, which the
    N-point DFT basis expresses compactly (the symmetric window spans N - 1 samples
    per period).

    Parameters
    ----------
    window_length : int > 0

    Returns
    -------
    np.ndarray [shape=(window_length,), dtype=float64]

    Raises
    ------
    ValueError
        If ``window_length`` is not positive.
    """
    if window_length <= 0:
        raise ValueError(f"window_length must be positive, got {window_length}")
    return 0.5 - 0.5 * np.cos(2.0 * np.pi / window_length * np.arange(window_length))


def stft_magnitude(signal, *, fft_length, hop_length, window_length):
    """Magnitude of the short-time Fourier transform (not the power).

    Parameters
    ----------
    signal : np.ndarray [shape=(n,)]
    fft_length : int >= window_length
        FFT size (512); the frame is zero-padded to it.
    hop_length : int > 0
        Samples between frames (160).
    window_length : int > 0
        Samples per frame (400), windowed by :func:`periodic_hann`.

    Returns
    -------
    np.ndarray [shape=(n_frames, fft_length // 2 + 1), dtype=float64]

    Raises
    ------
    ValueError
        If ``fft_length < window_length`` or a length is not positive.
    """
    if fft_length < window_length:
        raise ValueError(f"fft_length={fft_length} is shorter than window_length={window_length}")
    frames = frame(signal, window_length=window_length, hop_length=hop_length)
    windowed = frames * periodic_hann(window_length)
    return np.abs(np.fft.rfft(windowed, n=int(fft_length), axis=1))


def hertz_to_mel(frequencies_hz):
    """Convert frequencies in Hz to the HTK mel scale, ``1127 ln(1 + f / 700)``.

    Parameters
    ----------
    frequencies_hz : float or np.ndarray

    Returns
    -------
    float or np.ndarray, same shape
    """
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + np.asarray(frequencies_hz, dtype=np.float64)
                                          / _MEL_BREAK_FREQUENCY_HZ)


@functools.lru_cache(maxsize=16)
def _mel_matrix_cached(num_mel_bins, num_spectrogram_bins, sample_rate_hz, lower_edge_hz, upper_edge_hz):
    nyquist_hz = sample_rate_hz / 2.0
    bin_mels = hertz_to_mel(np.linspace(0.0, nyquist_hz, num_spectrogram_bins))[:, np.newaxis]
    band_edges_mel = np.linspace(hertz_to_mel(lower_edge_hz), hertz_to_mel(upper_edge_hz), num_mel_bins + 2)
    lower, center, upper = band_edges_mel[:-2], band_edges_mel[1:-1], band_edges_mel[2:]
    # Triangles in the mel domain, peak 1, no area normalisation (as the reference).
    rising = (bin_mels - lower) / (center - lower)
    falling = (upper - bin_mels) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # HTK excludes the DC bin. The reference zeroes it explicitly; with lower_edge_hz >= 0 its
    # weight is already 0, so this keeps the convention rather than changing any value.
    weights[0, :] = 0.0
    weights.flags.writeable = False
    return weights


def mel_matrix(*, num_mel_bins=64, num_spectrogram_bins=257, sample_rate_hz=16000,
               lower_edge_hz=125.0, upper_edge_hz=7500.0):
    """Matrix mapping STFT magnitude bins to HTK mel bands.

    Bin centres are ``linspace(0, sample_rate_hz / 2, num_spectrogram_bins)``; band
    edges are ``num_mel_bins + 2`` points evenly spaced in mel between the edges.

    Parameters
    ----------
    num_mel_bins : int > 0
        Mel bands (64).
    num_spectrogram_bins : int > 1
        STFT bins, ``fft_length // 2 + 1`` (257).
    sample_rate_hz : float > 0
        Audio sample rate (16 000).
    lower_edge_hz, upper_edge_hz : float, 0 <= lower < upper <= sample_rate_hz / 2
        Filterbank edges (125, 7500).

    Returns
    -------
    np.ndarray [shape=(num_spectrogram_bins, num_mel_bins), dtype=float64], read-only

    Raises
    ------
    ValueError
        If the edges are negative, mis-ordered or above Nyquist, or a count is not positive.
    """
    if num_mel_bins <= 0 or num_spectrogram_bins <= 1:
        raise ValueError(f"Need num_mel_bins > 0 and num_spectrogram_bins > 1, "
                         f"got {num_mel_bins} and {num_spectrogram_bins}")
    if sample_rate_hz <= 0:
        raise ValueError(f"Invalid sample rate: sample_rate_hz={sample_rate_hz}")
    if lower_edge_hz < 0.0:
        raise ValueError(f"lower_edge_hz={lower_edge_hz} must be >= 0")
    if lower_edge_hz >= upper_edge_hz:
        raise ValueError(f"lower_edge_hz={lower_edge_hz} must be below upper_edge_hz={upper_edge_hz}")
    if upper_edge_hz > sample_rate_hz / 2.0:
        raise ValueError(f"upper_edge_hz={upper_edge_hz} is above the Nyquist frequency {sample_rate_hz / 2.0}")
    return _mel_matrix_cached(int(num_mel_bins), int(num_spectrogram_bins), float(sample_rate_hz),
                              float(lower_edge_hz), float(upper_edge_hz))


def log_mel_spectrogram(waveform, *, params=VGGISH):
    """Log-mel spectrogram ``log(mel_magnitude + params.log_offset)`` of a mono waveform.

    Parameters
    ----------
    waveform : np.ndarray [shape=(n,)], floating
        Mono samples at ``params.sample_rate_hz``.
    params : FrontEndParams
        ``VGGISH`` (log offset 0.01) or ``YAMNET`` (0.001).

    Returns
    -------
    np.ndarray [shape=(n_frames, params.num_mel_bins), dtype=float64]
        ``n_frames = 1 + (n - 400) // 160`` (0 if ``n < 400``).

    Raises
    ------
    AudioError
        If the waveform holds NaN/Inf.
    TypeError
        If ``waveform`` is not a floating NumPy array.
    ValueError
        If ``waveform`` is not 1-D.
    """
    _check_waveform(waveform, source=None)
    return _log_mel(waveform, params)


# Frames per step of _log_mel: the windowed frames (128 x 512 float64, 0.5 MB) and their spectrum stay in
# the CPU cache from the window product to the mel product, 1.5x faster than whole-signal arrays.
_FRAMES_PER_STEP = 128


@functools.lru_cache(maxsize=16)
def _mel_band_rows(num_mel_bins, fft_length, sample_rate_hz, lower_edge_hz, upper_edge_hz):
    """The mel matrix's rows with a non-zero weight (a slice of bins) and those rows."""
    weights = mel_matrix(num_mel_bins=num_mel_bins, num_spectrogram_bins=fft_length // 2 + 1,
                         sample_rate_hz=sample_rate_hz, lower_edge_hz=lower_edge_hz, upper_edge_hz=upper_edge_hz)
    used = np.flatnonzero(weights.any(axis=1))
    bins = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, 1)
    rows = np.ascontiguousarray(weights[bins])
    rows.flags.writeable = False
    return bins, rows


def _log_mel(waveform, params):
    """``log(|rfft(frame * hann, 512)| @ mel + offset)``, the reference's formula, computed a step of frames at
    a time; bins outside the filterbank (weight 0) are left out of the product (values equal to ~1e-15)."""
    window_length, fft_length = params.window_samples, params.fft_length
    frames = frame(waveform, window_length=window_length, hop_length=params.hop_samples)
    bins, weights = _mel_band_rows(params.num_mel_bins, fft_length, float(params.sample_rate_hz),
                                   float(params.mel_min_hz), float(params.mel_max_hz))
    window = periodic_hann(window_length)
    mel = np.empty((frames.shape[0], params.num_mel_bins))
    step = max(1, min(_FRAMES_PER_STEP, frames.shape[0]))
    # Buffers reused by every step: no allocation in the loop.
    padded = np.zeros((step, fft_length))  # frames zero-padded to the FFT length
    spectrum = np.empty((step, fft_length // 2 + 1), dtype=np.complex128)
    magnitude = np.empty((step, weights.shape[0]))
    for start in range(0, frames.shape[0], step):
        count = min(step, frames.shape[0] - start)
        np.multiply(frames[start:start + count], window, out=padded[:count, :window_length])
        np.fft.rfft(padded[:count], axis=1, out=spectrum[:count])
        np.abs(spectrum[:count, bins], out=magnitude[:count])
        np.matmul(magnitude[:count], weights, out=mel[start:start + count])
    mel += params.log_offset
    return np.log(mel, out=mel)


def _check_short_policy(short_policy):
    if short_policy not in SHORT_POLICIES:
        raise ValueError(f"Unknown short_policy={short_policy!r}; choose one of {SHORT_POLICIES}")


def _check_waveform(waveform, source):
    where = f" of {source}" if source is not None else ""
    if not isinstance(waveform, np.ndarray):
        raise TypeError(f"waveform{where} must be a NumPy array, got {type(waveform).__name__}")
    if not np.issubdtype(waveform.dtype, np.floating):
        raise TypeError(f"waveform{where} must be floating point in [-1, 1], got dtype {waveform.dtype} "
                        "(scale int16 PCM by 1/32768 first, or read it with refzsl.audio.load_audio)")
    if waveform.ndim != 1:
        raise ValueError(f"waveform{where} must be mono with shape (n,), got shape {waveform.shape}")
    if not np.isfinite(waveform).all():
        raise AudioError(f"waveform{where} holds NaN or Inf samples")


def waveform_to_patches(waveform, *, params=VGGISH, short_policy="pad", source=None):
    """Log-mel patches of a mono waveform, the input of VGGish and YAMNet.

    Patches are ``params.patch_frames`` (96) frames long, hopped by
    ``params.patch_hop_frames`` (96 VGGish, 48 YAMNet), without padding: a 5 s clip
    gives 5 VGGish or 9 YAMNet patches. A waveform shorter than
    ``params.min_samples`` (15 600 = 0.975 s) gives no patch in the reference;
    ``short_policy`` decides what happens then.

    Parameters
    ----------
    waveform : np.ndarray [shape=(n,)], floating
        Mono samples at ``params.sample_rate_hz`` (see :func:`refzsl.audio.load_audio`).
    params : FrontEndParams
        ``VGGISH`` or ``YAMNET``.
    short_policy : str in SHORT_POLICIES
        ``"pad"``: zero-pad the end to one patch and warn; ``"drop"``: return zero
        patches; ``"error"``: raise :class:`AudioError`.
    source : str or Path, optional
        Where the waveform came from, named in warnings and errors.

    Returns
    -------
    np.ndarray [shape=(n_patches, params.patch_frames, params.num_mel_bins), dtype=float32]

    Raises
    ------
    AudioError
        If the waveform holds NaN/Inf, or is short and ``short_policy="error"``.
    TypeError
        If ``waveform`` is not a floating NumPy array.
    ValueError
        If ``waveform`` is not 1-D or ``short_policy`` is unknown.
    """
    _check_short_policy(short_policy)
    _check_waveform(waveform, source)
    if waveform.shape[0] < params.min_samples:
        name = f"{source}: " if source is not None else ""
        detail = (f"{name}waveform of {waveform.shape[0]} samples ({waveform.shape[0] / params.sample_rate_hz:.3f} s) "
                  f"is shorter than one patch ({params.min_samples} samples)")
        if short_policy == "error":
            raise AudioError(detail)
        if short_policy == "drop":
            return np.zeros((0, params.patch_frames, params.num_mel_bins), dtype=np.float32)
        warnings.warn(detail + "; zero-padded to one patch (short_policy='pad')", stacklevel=2)
        waveform = np.pad(waveform, (0, params.min_samples - waveform.shape[0]))
    log_mel = _log_mel(waveform, params)
    patches = frame(log_mel, window_length=params.patch_frames, hop_length=params.patch_hop_frames)
    return np.ascontiguousarray(patches, dtype=np.float32)


def iter_patches(pieces, *, params=VGGISH, short_policy="pad", source=None, block_patches=512):
    """Log-mel patches of a waveform given piece by piece, in blocks: :func:`waveform_to_patches` as a stream.

    Memory stays flat in the waveform's duration: only the samples of the next STFT frame and the
    log-mel frames of the next patch are carried from one piece to the next. The blocks concatenated
    are ``waveform_to_patches`` of the pieces concatenated (the same frames, window, FFT and
    filterbank; values equal up to float rounding of the mel product).

    Parameters
    ----------
    pieces : iterable of np.ndarray [shape=(m,)], floating
        Consecutive pieces of a mono waveform at ``params.sample_rate_hz``
        (:func:`refzsl.audio.iter_audio`).
    params : FrontEndParams
    short_policy : str in SHORT_POLICIES
        For a whole waveform shorter than one patch, as :func:`waveform_to_patches`.
    source : str or Path, optional
        Named in warnings and errors.
    block_patches : int > 0
        Patches per yielded block (the last may hold fewer); a multiple of the embedder's batch
        size keeps its batches those of the whole clip.

    Yields
    ------
    np.ndarray [shape=(k, params.patch_frames, params.num_mel_bins), dtype=float32]
        At least one block (possibly empty under ``short_policy="drop"``).

    Raises
    ------
    AudioError, TypeError, ValueError
        As :func:`waveform_to_patches`.
    """
    _check_short_policy(short_policy)
    hop, window = params.hop_samples, params.window_samples
    patch_frames, patch_hop = params.patch_frames, params.patch_hop_frames
    samples = np.zeros(0, dtype=np.float32)   # waveform from the next STFT frame's start on
    log_mel = np.zeros((0, params.num_mel_bins))  # log-mel frames from the next patch's start on
    pending, n_pending, started = [], 0, False
    for piece in pieces:
        _check_waveform(piece, source)
        samples = np.concatenate([samples, piece]) if samples.size else piece
        if not started:
            if samples.shape[0] < params.min_samples:
                continue  # the short-clip policy needs the whole length
            started = True
        n_frames = max(0, 1 + (samples.shape[0] - window) // hop)
        if n_frames == 0:
            continue
        frames = _log_mel(samples[:(n_frames - 1) * hop + window], params)
        samples = samples[n_frames * hop:]
        log_mel = np.concatenate([log_mel, frames]) if log_mel.size else frames
        n_patches = max(0, 1 + (log_mel.shape[0] - patch_frames) // patch_hop)
        if n_patches:
            pending.append(np.ascontiguousarray(frame(log_mel, window_length=patch_frames,
                                                      hop_length=patch_hop)[:n_patches], dtype=np.float32))
            n_pending += n_patches
            log_mel = log_mel[n_patches * patch_hop:]
        while n_pending >= block_patches:
            joined = np.concatenate(pending)
            yield joined[:block_patches]
            pending, n_pending = [joined[block_patches:]], n_pending - block_patches
    if not started:  # the whole waveform is shorter than one patch
        yield waveform_to_patches(samples, params=params, short_policy=short_policy, source=source)
        return
    if n_pending or not pending:
        yield (np.concatenate(pending) if pending
               else np.zeros((0, patch_frames, params.num_mel_bins), dtype=np.float32))
