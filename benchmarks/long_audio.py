"""Peak memory and wall time of extracting one long recording, against its duration.

Writes 44.1 kHz stereo 16-bit WAV files of the given durations (noise with tones, seeded) into --audio-dir,
then extracts each (YAMNet, no cache) in a fresh child process that reports its own peak RSS
(``ru_maxrss``) and wall time. Prints a table and least-squares lines ``a + b * minutes`` of both:
streamed extraction keeps the RSS slope near zero, and the time linear in the duration.

    REFZSL_DATA=... python benchmarks/long_audio.py --minutes 1 10 60 --audio-dir /tmp/long_audio
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RATE_HZ = 44100
CHILD = r"""
import json, resource, sys, time, warnings
start = time.perf_counter()
import refzsl
from refzsl.acoustic.extraction import extract_files
features = extract_files([sys.argv[1]], cache=False, root=sys.argv[2] or None)
wall = time.perf_counter() - start
print(json.dumps({"refzsl": refzsl.__file__, "wall_s": wall,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "segments": int(len(features.segment_embeddings[0]))}))
"""


def write_recording(path, minutes, seed=0):
    """A 44.1 kHz stereo 16-bit WAV of ``minutes``, written a minute at a time (never whole in memory)."""
    import soundfile
    rng = np.random.default_rng(seed)
    with soundfile.SoundFile(path, "w", samplerate=RATE_HZ, channels=2, subtype="PCM_16") as out:
        for minute in range(int(minutes)):
            t = np.arange(60 * RATE_HZ) / RATE_HZ
            tone = 0.2 * np.sin(2 * np.pi * (300 + 40 * (minute % 20)) * t)
            left = tone + 0.05 * rng.standard_normal(t.size)
            out.write(np.stack([left, 0.5 * left + 0.05 * rng.standard_normal(t.size)], axis=1))
    return path


def measure(path, root):
    """Peak RSS (MB), wall (s) and segment count of extracting ``path`` in a fresh process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # cwd: the recording's folder, so that `python -c` finds refzsl on PYTHONPATH / site-packages, not in the cwd.
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), root or ""], capture_output=True, text=True,
                            env=env, check=True, cwd=Path(path).parent)
    return json.loads(result.stdout.strip().splitlines()[-1])


def linear_fit(minutes, values):
    """Intercept, slope and R² of the least-squares line through (minutes, values)."""
    slope, intercept = np.polyfit(minutes, values, 1)
    predicted = intercept + slope * np.asarray(minutes)
    residual = np.sum((np.asarray(values) - predicted) ** 2)
    total = np.sum((np.asarray(values) - np.mean(values)) ** 2)
    return intercept, slope, 1.0 - residual / total if total > 0 else 1.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10, 60])
    parser.add_argument("--audio-dir", type=Path, required=True, help="where the test recordings are written")
    parser.add_argument("--data-root", default=None, help="data root (default $REFZSL_DATA)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    args.audio_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"load average {os.getloadavg()[0]:.1f}; one child process per file, YAMNet, no cache; "
          f"refzsl from {os.environ.get('PYTHONPATH') or 'site-packages'}")
    print(f"{'minutes':>8} {'MB on disk':>11} {'peak RSS MB':>12} {'wall s':>8} {'x real time':>12} {'segments':>9}")
    for minutes in args.minutes:
        path = args.audio_dir / f"recording_{minutes}min_44k_stereo.wav"
        if not path.is_file():
            write_recording(path, minutes)
        row = {"minutes": minutes, "file_mb": path.stat().st_size / 2**20, **measure(path, args.data_root)}
        rows.append(row)
        print(f"{minutes:>8} {row['file_mb']:>11.0f} {row['peak_rss_mb']:>12.0f} {row['wall_s']:>8.1f} "
              f"{60 * minutes / row['wall_s']:>12.0f} {row['segments']:>9}", flush=True)
    if len(rows) >= 2:
        minutes = [row["minutes"] for row in rows]
        for key, unit in (("peak_rss_mb", "MB"), ("wall_s", "s")):
            intercept, slope, r2 = linear_fit(minutes, [row[key] for row in rows])
            print(f"{key}: {intercept:.1f} {unit} + {slope:.2f} {unit}/min (R² {r2:.4f})")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
