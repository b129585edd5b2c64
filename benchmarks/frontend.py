"""Log-mel front end speed: refzsl vs librosa vs Google's mel_features formulation, one thread, same waveforms.

Each implementation computes the VGGish/YAMNet log-mel spectrogram (periodic Hann 400, hop 160, |rfft 512|,
64 HTK mel bands 125-7500 Hz, log(mel + 0.01)) of the same 16 kHz float32 waveforms:

- refzsl: :func:`refzsl.audio.frontend.log_mel_spectrogram`;
- librosa: ``np.log(librosa.feature.melspectrogram(..., power=1, htk=True, norm=None, center=False) + 0.01)``
  (float32 arithmetic, and the window centred in a 512-sample frame: other values, shown for speed);
- Google mel_features: the reference's own code path (``vggish_input`` -> ``mel_features.log_mel_spectrogram``),
  restated here: strided frames times the window, ``np.abs(np.fft.rfft(frames, 512))``, ``np.dot`` with the mel
  matrix, ``np.log``;
- per-frame: the same formula one frame at a time (the SPEC §1 description, literally).

Prints the median time of --repeats runs (interleaved), the speed in multiples of real time, the ratio to
librosa, and each result's largest difference from Google's formulation.

    python benchmarks/frontend.py --seconds 60 --repeats 9
"""

import argparse
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"  # one thread, before NumPy loads

import time  # noqa: E402

import numpy as np  # noqa: E402

from refzsl.audio.frontend import log_mel_spectrogram, mel_matrix, periodic_hann  # noqa: E402
from refzsl.audio.params import VGGISH  # noqa: E402

RATE_HZ = 16000


def google_mel_features(waveform):
    """Google's mel_features.log_mel_spectrogram as the VGGish reference calls it (whole-signal arrays)."""
    window_length, hop_length, fft_length = 400, 160, 512
    num_frames = 1 + (len(waveform) - window_length) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        waveform, shape=(num_frames, window_length), strides=(waveform.strides[0] * hop_length, waveform.strides[0]))
    spectrogram = np.abs(np.fft.rfft(frames * periodic_hann(window_length), int(fft_length)))
    mel = np.dot(spectrogram, mel_matrix())
    return np.log(mel + VGGISH.log_offset)


def per_frame(waveform):
    """The same formula, one frame at a time."""
    window, weights = periodic_hann(400), mel_matrix()
    rows = []
    for start in range(0, len(waveform) - 400 + 1, 160):
        magnitude = np.abs(np.fft.rfft(waveform[start:start + 400] * window, 512))
        rows.append(np.log(magnitude @ weights + VGGISH.log_offset))
    return np.array(rows)


def librosa_log_mel(waveform):
    import librosa
    mel = librosa.feature.melspectrogram(y=waveform, sr=RATE_HZ, n_fft=512, hop_length=160, win_length=400,
                                         window="hann", center=False, power=1.0, n_mels=64, fmin=125.0,
                                         fmax=7500.0, htk=True, norm=None)
    return np.log(mel.T + VGGISH.log_offset)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="waveform length (default 60 s)")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs of each (default 9; median shown)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    n = int(args.seconds * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    waveform = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.5 * t))
                + 0.05 * rng.standard_normal(n)).astype(np.float32)
    methods = {"refzsl": lambda: log_mel_spectrogram(waveform, params=VGGISH),
               "librosa": lambda: librosa_log_mel(waveform),
               "Google mel_features": lambda: google_mel_features(waveform),
               "per-frame": lambda: per_frame(waveform)}
    reference = google_mel_features(waveform)
    # librosa centres the 400-sample window in each 512-sample frame (one frame fewer, shifted by 56 samples):
    # its values are not comparable, only its speed.
    differences = {name: float(np.abs(run() - reference).max()) if name != "librosa" else None
                   for name, run in methods.items()}
    methods["librosa"]()  # warm-up (its first call loads numba-compiled helpers)
    times = {name: [] for name in methods}
    for _ in range(args.repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: float(np.median(values)) for name, values in times.items()}
    print(f"{args.seconds:.0f} s of 16 kHz audio, one thread, median of {args.repeats}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'front end':<20} {'ms':>8} {'x real time':>12} {'vs librosa':>11} {'max |diff| vs Google':>22}")
    for name, seconds in medians.items():
        print(f"{name:<20} {1000 * seconds:>8.1f} {args.seconds / seconds:>12.0f} "
              f"{medians['librosa'] / seconds:>10.2f}x "
              f"{'(other framing)' if differences[name] is None else format(differences[name], '.2e'):>22}")


if __name__ == "__main__":
    main()
