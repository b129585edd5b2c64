"""Time ``refzsl classify`` on one 5 s file, start-up included (target: <= 2 s on 2 cores).

    python benchmarks/classify_startup.py [--file clip.wav] [--runs 5] [--method bilinear]

Runs the console command in fresh processes and prints the median wall-clock and
CPU time (children's user + sys) over the runs, for two cases: a 16 kHz WAV (no
resampling) and a 44.1 kHz WAV (resampled), each with the clip-feature cache
off (``--no-cache``: the audio is decoded and YAMNet runs every time) and on (warm).
The first, untimed run of each case fills the word-vector cache and any
compiled-code cache, as a user's first call would. Needs no data root (refzsl ships what classify reads).
Also prints ``python -X importtime``'s ten slowest imports of one run.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

LABELS = "siren, dog, rain, church bells, speech, engine"


def _clip(folder, rate_hz, seconds=5.0):
    """A 5 s test sound: a chirp in noise (any real recording would do)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    waveform = 0.3 * np.sin(2 * np.pi * (600 + 300 * np.sin(2 * np.pi * 0.5 * t)) * t) + 0.05 * rng.normal(size=t.size)
    path = Path(folder) / f"clip_{rate_hz}.wav"
    soundfile.write(str(path), waveform.astype(np.float32), rate_hz, subtype="PCM_16")
    return path


def _run(command, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="audio file to classify (default: generated 16 and 44.1 kHz clips)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--method", default=None, help="--method of refzsl classify (default: its default)")
    parser.add_argument("--model", default=None, help="--model of refzsl classify (default: the shipped model)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        env.setdefault("REFZSL_CACHE", str(Path(folder) / "cache"))
        files = [args.file] if args.file else [_clip(folder, 16000), _clip(folder, 44100)]
        base = [sys.executable, "-m", "refzsl", "classify", "--labels", LABELS]
        base += ["--method", args.method] if args.method else []
        base += ["--model", args.model] if args.model else []
        print(f"{'file':<18} {'features':<9} {'wall median':>12} {'cpu median':>11}  (runs={args.runs}, "
              f"load average {os.getloadavg()[0]:.1f})")
        for path in files:
            for cache in (False, True):
                command = base + [str(path)] + ([] if cache else ["--no-cache"])
                _run(command, env)  # untimed: fills the vector cache (and the feature cache when on)
                times = [_run(command, env)[:2] for _ in range(args.runs)]
                walls, cpus = zip(*times)
                print(f"{path.name:<18} {'cached' if cache else 'computed':<9} {statistics.median(walls):>10.3f} s "
                      f"{statistics.median(cpus):>9.3f} s")
        _, _, done = _run([sys.executable, "-X", "importtime"] + base[1:] + [str(files[0]), "--no-cache"], env)
        rows = [re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line) for line in done.stderr.splitlines()]
        rows = sorted((int(m.group(2)), m.group(4)) for m in rows if m and len(m.group(3)) <= 3)
        print("slowest top-level imports (cumulative):",
              ", ".join(f"{name} {micros / 1e6:.2f} s" for micros, name in rows[-10:][::-1]))


if __name__ == "__main__":
    main()
