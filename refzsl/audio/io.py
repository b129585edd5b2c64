"""Read audio files into float32 mono waveforms at the model's sample rate.

The only module of refzsl that reads audio. It follows Google's VGGish
reference (``vggish_input``): integer PCM is scaled to [-1, 1) by 1/32768 for
int16, channels are averaged, and the waveform is resampled with resampy's
``kaiser_best`` filter (SPEC §1), evaluated as a polyphase matrix product.
"""

import functools
import math
from pathlib import Path

import numpy as np
import soundfile

from ..exceptions import AudioError

__all__ = ["RESAMPLE_FILTERS", "BLOCK_FRAMES", "load_audio", "iter_audio", "to_mono", "resample"]

# resampy's precomputed filters. ``kaiser_best`` is the reference's; ``kaiser_fast``
# has a shorter filter and transition band (a documented option).
RESAMPLE_FILTERS = ("kaiser_best", "kaiser_fast")

# Largest polyphase weight matrix (phases x span, float64 elements) worth building;
# beyond it (unusual rate pairs) resampy's own loop is used.
_MAX_POLYPHASE_ELEMENTS = 4_000_000
_MIN_PHASES = 64

#: Frames read from an audio file at a time: 2^18 (6 s at 44.1 kHz), so memory stays flat in the duration.
BLOCK_FRAMES = 1 << 18


def _check_resample_filter(resample_filter):
    if resample_filter not in RESAMPLE_FILTERS:
        raise ValueError(f"Unknown resample_filter={resample_filter!r}; choose one of {RESAMPLE_FILTERS}")


def to_mono(samples):
    """Average the channels of a waveform.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,) or (n, channels)]
        Samples along the first axis, as ``soundfile.read`` returns them.

    Returns
    -------
    np.ndarray [shape=(n,)]
        The channel mean (``samples`` itself when already 1-D).

    Raises
    ------
    ValueError
        If ``samples`` has more than two dimensions.
    """
    samples = np.asarray(samples)
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise ValueError(f"Expected a waveform of shape (n,) or (n, channels), got shape {samples.shape}")
    return samples.mean(axis=1)


def resample(waveform, *, sample_rate_hz, target_rate_hz, resample_filter="kaiser_best"):
    """Resample a mono waveform with resampy's band-limited interpolation.

    The result equals ``resampy.resample(waveform, sample_rate_hz, target_rate_hz,
    filter=resample_filter)`` (within 1e-10 in float64) but, for integer rates, is
    computed as one polyphase matrix product with the same interpolated filter taps,
    several times faster than resampy's per-sample loop (44.1 -> 16 kHz: ~20 ms
    instead of ~150 ms for 5 s). Other rates use resampy itself.

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

    Raises
    ------
    TypeError
        If ``waveform`` is not a floating-point NumPy array.
    ValueError
        If ``waveform`` is not 1-D, a rate is not positive, ``resample_filter`` is unknown, or
        ``waveform`` is too short to give one output sample.
    """
    _check_resample_filter(resample_filter)
    if not isinstance(waveform, np.ndarray) or not np.issubdtype(waveform.dtype, np.floating):
        # resampy would return float32 for integers; casting the result back would truncate it.
        kind = f"dtype {waveform.dtype}" if isinstance(waveform, np.ndarray) else type(waveform).__name__
        raise TypeError(f"waveform must be a floating-point NumPy array, got {kind}")
    if waveform.ndim != 1:
        raise ValueError(f"waveform must be mono with shape (n,), got shape {waveform.shape}")
    if sample_rate_hz <= 0 or target_rate_hz <= 0:
        raise ValueError(f"Invalid sample rate: sample_rate_hz={sample_rate_hz}, target_rate_hz={target_rate_hz}")
    if sample_rate_hz == target_rate_hz:
        return waveform
    if int(sample_rate_hz) == sample_rate_hz and int(target_rate_hz) == target_rate_hz:
        plan = _polyphase_plan(int(sample_rate_hz), int(target_rate_hz), resample_filter)
        if plan is not None:
            return _resample_polyphase(np.asarray(waveform, dtype=np.float64), plan).astype(waveform.dtype,
                                                                                              copy=False)
    import resampy  # imported here: it loads numba, which 16 kHz input never needs

    return resampy.resample(waveform, sample_rate_hz, target_rate_hz, filter=resample_filter)


def _resampy_positions(n_out, plan):
    """resampy's per-output input index and filter offsets, with resampy's own float arithmetic."""
    t_out = np.arange(n_out) * (1.0 / plan["sample_ratio"])
    n = t_out.astype(np.int64)
    frac = plan["scale"] * (t_out - n)
    index_left = frac * plan["num_table"]
    index_right = (plan["scale"] - frac) * plan["num_table"]
    return n, index_left, index_right


def _wing_weights(plan, index_left, index_right):
    """Filter taps of one output sample, resampy's interpolated window, laid out over x[n-L+1 .. n+R]."""
    win, delta, step, left, right = (plan["interp_win"], plan["interp_delta"], plan["index_step"],
                                     plan["left"], plan["right"])
    weights = np.zeros(left + right)
    for index_frac, sign, base in ((index_left, -1, left - 1), (index_right, 1, left)):
        offset = int(index_frac)
        eta = index_frac - offset
        taps = np.arange((win.shape[0] - offset) // step)
        table = offset + taps * step
        weights[base + sign * taps] = win[table] + eta * delta[table]
    return weights


@functools.lru_cache(maxsize=16)
def _polyphase_plan(sr_orig, sr_new, resample_filter):
    """Precompute resampy's filter taps for each of the ``up`` output phases of a rational rate change.

    For ``sr_new / sr_orig = up / down`` in lowest terms, output sample ``t = p + up * k`` reads the
    input around ``n_p + down * k`` with the taps of phase ``p``. Stacking the ``up`` phase filters,
    shifted by ``n_p``, into one matrix turns resampy's per-sample loop into one matrix product
    over input frames hopped by ``down``. Returns None when that matrix would be too large.
    """
    import resampy.filters  # imported here: it loads numba, which 16 kHz input never needs

    sample_ratio = float(sr_new) / sr_orig
    interp_win, num_table, _ = resampy.filters.get_filter(resample_filter)
    if sample_ratio < 1:
        interp_win = sample_ratio * interp_win
    scale = min(1.0, sample_ratio)
    index_step = int(scale * num_table)
    gcd = math.gcd(sr_orig, sr_new)
    # Group several periods when there are few phases (e.g. 48 -> 16 kHz has one), so the
    # product stays a matrix-matrix one over a small frame matrix.
    block = -(-_MIN_PHASES // (sr_new // gcd))
    up, down = block * sr_new // gcd, block * sr_orig // gcd
    plan = {"sample_ratio": sample_ratio, "scale": scale, "num_table": num_table, "index_step": index_step,
            "interp_win": interp_win, "interp_delta": np.diff(interp_win, append=interp_win[-1]),
            "up": up, "down": down, "sr_orig": sr_orig, "sr_new": sr_new}
    # Widest wings over all offsets: offset 0 gives the most taps.
    plan["left"] = plan["right"] = interp_win.shape[0] // index_step
    n_first, index_left, index_right = _resampy_positions(up, plan)
    span = int(n_first[-1]) + plan["left"] + plan["right"]
    if up * span > _MAX_POLYPHASE_ELEMENTS:
        return None
    matrix = np.zeros((span, up))
    for phase in range(up):
        start = int(n_first[phase])
        matrix[start:start + plan["left"] + plan["right"], phase] = _wing_weights(
            plan, index_left[phase], index_right[phase])
    plan.update(matrix=matrix, n_first=n_first, offsets_left=index_left.astype(np.int64),
                offsets_right=index_right.astype(np.int64))
    return plan


def _resample_polyphase(x, plan):
    """resampy's band-limited interpolation as one matrix product (equal to resampy within ~1e-11).

    The phase templates are built from the first output of each phase; outputs whose
    input index or table offsets differ from their phase's template (float rounding of
    resampy's time register at exact integers) are recomputed one by one.
    """
    up, down, left, right = plan["up"], plan["down"], plan["left"], plan["right"]
    # resampy's output length, computed as resampy does.
    n_out = int(x.shape[0] * float(plan["sr_new"]) / float(plan["sr_orig"]))
    if n_out < 1:
        raise ValueError(f"Input signal length={x.shape[0]} is too small to resample by {up}/{down}")
    span = plan["matrix"].shape[0]
    periods = -(-n_out // up)
    # Zeros outside the signal stand for resampy's truncated wings at the edges.
    padded = np.zeros(max(left + x.shape[0], down * (periods - 1) + span) + 1)
    padded[left:left + x.shape[0]] = x
    frames = np.lib.stride_tricks.as_strided(padded[1:], shape=(periods, span),
                                             strides=(down * padded.strides[0], padded.strides[0]))
    y = (frames @ plan["matrix"]).reshape(-1)[:n_out]
    n, index_left, index_right = _resampy_positions(n_out, plan)
    t = np.arange(n_out)
    phase = t % up
    regular = ((n == plan["n_first"][phase] + down * (t // up))
               & (index_left.astype(np.int64) == plan["offsets_left"][phase])
               & (index_right.astype(np.int64) == plan["offsets_right"][phase]))
    for irregular in np.flatnonzero(~regular):
        start = int(n[irregular]) + 1
        y[irregular] = padded[start:start + left + right] @ _wing_weights(plan, index_left[irregular],
                                                                         index_right[irregular])
    return y


class _StreamResampler:
    """resampy's band-limited interpolation of a waveform given block by block.

    Equal, output sample by output sample, to :func:`_resample_polyphase` of the whole waveform: output
    period ``k`` reads the same input window (zeros before the start and after the end), multiplied by
    the same polyphase matrix, and the outputs off their phase template are recomputed the same way.
    Only the input a period still needs is kept. Rates without a polyphase plan (non-integer, or a
    matrix too large) are resampled with resampy once the whole waveform is in.
    """

    def __init__(self, sample_rate_hz, target_rate_hz, resample_filter):
        self.rates = (sample_rate_hz, target_rate_hz)
        self.resample_filter = resample_filter
        self.plan = None
        if sample_rate_hz != target_rate_hz and int(sample_rate_hz) == sample_rate_hz \
                and int(target_rate_hz) == target_rate_hz:
            self.plan = _polyphase_plan(int(sample_rate_hz), int(target_rate_hz), resample_filter)
        self.buffer = np.zeros(0)    # input samples from index self.start on
        self.start = 0
        self.received = 0
        self.period = 0              # next output period to compute
        self.whole = []              # rates without a plan: the whole input

    def _input(self, first, stop):
        """Input samples ``first .. stop - 1`` (zeros outside what was received)."""
        window = np.zeros(stop - first)
        low, high = max(first, self.start), min(stop, self.received)
        if high > low:
            window[low - first:high - first] = self.buffer[low - self.start:high - self.start]
        return window

    def _periods(self, stop_period):
        """Outputs of periods ``self.period .. stop_period - 1``."""
        plan = self.plan
        up, down, left, right, span = plan["up"], plan["down"], plan["left"], plan["right"], plan["matrix"].shape[0]
        first_period = self.period
        if stop_period <= first_period:
            return np.zeros(0)
        first = down * first_period + 1 - left
        window = self._input(first, down * (stop_period - 1) + 1 - left + span)
        frames = np.lib.stride_tricks.as_strided(window, shape=(stop_period - first_period, span),
                                                 strides=(down * window.strides[0], window.strides[0]))
        y = (frames @ plan["matrix"]).reshape(-1)
        t = np.arange(up * first_period, up * stop_period)
        n, index_left, index_right = _resampy_positions_at(t, plan)
        phase = t % up
        regular = ((n == plan["n_first"][phase] + down * (t // up))
                   & (index_left.astype(np.int64) == plan["offsets_left"][phase])
                   & (index_right.astype(np.int64) == plan["offsets_right"][phase]))
        for irregular in np.flatnonzero(~regular):
            begin = int(n[irregular]) + 1 - left  # padded index n + 1 is input index n + 1 - left
            y[irregular] = self._input(begin, begin + left + right) @ _wing_weights(
                plan, index_left[irregular], index_right[irregular])
        self.period = stop_period
        keep_from = down * stop_period + 1 - left
        if keep_from > self.start:
            self.buffer = self.buffer[keep_from - self.start:]
            self.start = keep_from
        return y

    def push(self, block):
        """Resampled samples that ``block`` (float64, mono) completes."""
        if self.rates[0] == self.rates[1]:
            self.received += block.shape[0]
            return block
        if self.plan is None:
            self.whole.append(block)
            self.received += block.shape[0]
            return np.zeros(0)
        self.buffer = np.concatenate([self.buffer, block])
        self.received += block.shape[0]
        down, left, span = self.plan["down"], self.plan["left"], self.plan["matrix"].shape[0]
        # Period k is complete when its window ends within the input received.
        complete = (self.received + left - 1 - span) // down + 1
        return self._periods(max(complete, self.period))

    def finish(self):
        """The last resampled samples (the input is over); ValueError if it gives no output at all."""
        if self.rates[0] == self.rates[1]:
            return np.zeros(0)
        if self.plan is None:
            import resampy  # imported here: it loads numba, which 16 kHz input never needs
            return resampy.resample(np.concatenate(self.whole) if self.whole else np.zeros(0), self.rates[0],
                                    self.rates[1], filter=self.resample_filter)
        n_out = int(self.received * float(self.plan["sr_new"]) / float(self.plan["sr_orig"]))
        if n_out < 1:
            raise ValueError(f"Input signal length={self.received} is too small to resample by "
                             f"{self.plan['up']}/{self.plan['down']}")
        done = self.plan["up"] * self.period
        return self._periods(-(-n_out // self.plan["up"]))[:n_out - done]


def _resampy_positions_at(t, plan):
    """:func:`_resampy_positions` for the output indices ``t`` (the same float arithmetic, element by element)."""
    t_out = t * (1.0 / plan["sample_ratio"])
    n = t_out.astype(np.int64)
    frac = plan["scale"] * (t_out - n)
    return n, frac * plan["num_table"], (plan["scale"] - frac) * plan["num_table"]


def iter_audio(path, *, sample_rate_hz=16000, resample_filter="kaiser_best", block_frames=BLOCK_FRAMES):
    """Read an audio file block by block as float32 mono waveform pieces at ``sample_rate_hz``.

    Memory stays flat in the file's duration: ``block_frames`` frames are decoded at a time, mixed
    to mono and resampled as a stream. The pieces concatenated are :func:`load_audio`'s waveform,
    bit for bit (``load_audio`` is this generator, joined).

    Parameters
    ----------
    path : str or Path
    sample_rate_hz : int > 0
    resample_filter : str in RESAMPLE_FILTERS
    block_frames : int > 0
        Frames decoded per block.

    Yields
    ------
    np.ndarray [shape=(m,), dtype=float32]
        Consecutive pieces of the waveform (some may be empty).

    Raises
    ------
    AudioError
        If the file is a folder, cannot be read, holds no samples or holds NaN/Inf (the message names
        the file and, for NaN/Inf, the time), or is too short to resample.
    ValueError
        If ``sample_rate_hz`` or ``resample_filter`` is invalid.
    """
    # Checked before reading: resample()'s ValueError is reported as the file's fault below.
    _check_resample_filter(resample_filter)
    if sample_rate_hz <= 0:
        raise ValueError(f"Invalid sample rate: sample_rate_hz={sample_rate_hz}")
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"Audio file {str(path)!r} is a folder, not an audio file")
    try:
        audio = soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(f"Cannot read audio file {str(path)!r}: {error}") from error
    with audio:
        file_rate_hz = audio.samplerate
        stream = _StreamResampler(file_rate_hz, sample_rate_hz, resample_filter)
        frames_read = 0
        while True:
            try:
                samples = audio.read(block_frames, dtype="float64", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
                raise AudioError(f"Cannot read audio file {str(path)!r} after {frames_read} frames: "
                                 f"{error}") from error
            if samples.shape[0] == 0:
                break
            if not np.isfinite(samples).all():
                first = frames_read + int(np.flatnonzero(~np.isfinite(samples).all(axis=1))[0])
                raise AudioError(f"Audio file {str(path)!r} holds NaN or Inf samples "
                                 f"(first at {first / file_rate_hz:.3f} s)")
            frames_read += samples.shape[0]
            yield stream.push(to_mono(samples)).astype(np.float32)
    if frames_read == 0:
        raise AudioError(f"Audio file {str(path)!r} holds no samples")
    try:
        yield stream.finish().astype(np.float32)
    except ValueError as error:  # too short to give one output sample
        raise AudioError(f"Cannot resample audio file {str(path)!r} "
                         f"({frames_read} samples at {file_rate_hz} Hz): {error}") from error


def load_audio(path, *, sample_rate_hz=16000, resample_filter="kaiser_best"):
    """Read an audio file as a float32 mono waveform at ``sample_rate_hz``.

    Any format libsndfile reads (wav, flac, ogg, ...). Integer PCM is scaled the
    way the VGGish reference scales int16 (divide by 32768; soundfile's float read
    does exactly this), channels are averaged, then the waveform is resampled.
    Decoding, mixing and resampling run in float64, as in the reference, block by
    block (:func:`iter_audio`; long files are better streamed with it).

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
        If the file is a folder, cannot be read, holds no samples, or holds NaN/Inf; the
        message names the file.
    ValueError
        If ``sample_rate_hz`` or ``resample_filter`` is invalid.
    """
    pieces = list(iter_audio(path, sample_rate_hz=sample_rate_hz, resample_filter=resample_filter))
    return np.ascontiguousarray(np.concatenate(pieces), dtype=np.float32)
