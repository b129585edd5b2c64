"""Benchmark of audio -> YAMNet embeddings on ESC-50 (issue 2's targets).

Measures, in one run:

* cold extraction of ESC-50 from the Ogg files into an empty cache (``--workers`` processes;
  target: all 2000 clips <= 3 min on 2 cores);
* the warm rerun from that cache (median of ``--repeats``; target <= 5 s);
* the front end alone, log-mel + patches of 16 kHz waveforms, no resampling, one thread
  (target >= 300x real time);
* resampling 44.1 -> 16 kHz: refzsl's polyphase evaluation against ``resampy.resample`` on the
  same clips (same output within 1e-10);
* peak resident memory of the main process and of the largest worker (target <= 1.5 GB).

Usage::

    REFZSL_DATA=DIR python benchmarks/extract.py [--clips 2000] [--workers 2] [--json]
"""

import os

# One thread per process before NumPy loads: the front-end figure is per core, and the
# extraction's parallelism is its worker processes.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import resampy  # noqa: E402
import soundfile  # noqa: E402

from refzsl.audio.io import load_audio, resample  # noqa: E402
from refzsl.datasets.esc50 import ESC50  # noqa: E402
from refzsl.acoustic.extraction import extract_files  # noqa: E402
from refzsl.audio.frontend import waveform_to_patches  # noqa: E402
from refzsl.audio.params import YAMNET  # noqa: E402

TARGETS = {"cold_seconds_2000": 180.0, "warm_seconds_2000": 5.0, "frontend_realtime_factor": 300.0,
           "peak_memory_mb": 1500.0}


def _peak_mb(who):
    return resource.getrusage(who).ru_maxrss / 1024.0  # kB on Linux


def _cpu_seconds():
    """CPU time of this process and its finished children (on a shared machine, steadier than wall time)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_frontend(waveforms, repeats):
    """Median seconds per pass of log-mel + patches over ``waveforms``; audio seconds per pass."""
    audio_seconds = sum(len(w) for w in waveforms) / YAMNET.sample_rate_hz
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for waveform in waveforms:
            waveform_to_patches(waveform, params=YAMNET)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return float(np.median(times)), float(np.median(cpu_times)), audio_seconds


def bench_resample(signals, repeats):
    """Median seconds per pass for resampy and for refzsl on the same (signal, rate) pairs; max difference."""
    resampy.resample(signals[0][0], signals[0][1], 16000)  # JIT compile outside the timing
    resampy_times, refzsl_times, difference = [], [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        expected = [resampy.resample(x, rate, 16000) for x, rate in signals]
        resampy_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        got = [resample(x, sample_rate_hz=rate, target_rate_hz=16000) for x, rate in signals]
        refzsl_times.append(time.perf_counter() - start)
        difference = max(difference, max(float(np.abs(a - b).max()) for a, b in zip(expected, got)))
    return float(np.median(resampy_times)), float(np.median(refzsl_times)), difference


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=2000, help="ESC-50 clips to extract (default all 2000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the short measurements")
    parser.add_argument("--frontend-clips", type=int, default=100, help="clips in the front-end measurement")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)

    dataset = ESC50(args.data_root).verify()
    paths, clip_ids = dataset.paths[:args.clips], dataset.clip_ids[:args.clips]
    results = {"clips": len(paths), "workers": args.workers, "cpu_count": os.cpu_count()}

    with tempfile.TemporaryDirectory(prefix="refzsl-bench-cache-") as cache:
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        features = extract_files(paths, clip_ids=clip_ids, embedder="yamnet", root=args.data_root, cache=cache,
                                 workers=args.workers, progress=not args.json)
        results["cold_seconds"] = time.perf_counter() - start
        results["cold_cpu_seconds"] = _cpu_seconds() - cpu_start
        warm = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            again = extract_files(paths, clip_ids=clip_ids, embedder="yamnet", root=args.data_root, cache=cache,
                                  workers=args.workers)
            warm.append(time.perf_counter() - start)
        results["warm_seconds_median"] = float(np.median(warm))
        results["warm_equals_cold"] = bool(np.array_equal(features.clip_embeddings, again.clip_embeddings))
    scale = 2000 / len(paths)
    results["cold_seconds_2000_estimate"] = results["cold_seconds"] * scale
    # What the cold run would take with the CPUs to itself: its CPU time spread over the workers.
    results["cold_seconds_2000_unloaded_estimate"] = results["cold_cpu_seconds"] * scale / args.workers
    results["cold_clips_per_second"] = len(paths) / results["cold_seconds"]

    sample = dataset.paths[:args.frontend_clips]
    waveforms = [load_audio(path) for path in sample]
    seconds, cpu_seconds, audio_seconds = bench_frontend(waveforms, args.repeats)
    results["frontend_seconds_per_pass_median"] = seconds
    results["frontend_audio_seconds"] = audio_seconds
    results["frontend_realtime_factor"] = audio_seconds / seconds
    results["frontend_realtime_factor_cpu"] = audio_seconds / cpu_seconds

    signals = []
    for path in sample[:20]:
        samples, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
        signals.append((samples.mean(axis=1), rate))
    resampy_s, refzsl_s, difference = bench_resample(signals, args.repeats)
    results.update(resample_resampy_ms_per_clip=1000 * resampy_s / len(signals),
                   resample_refzsl_ms_per_clip=1000 * refzsl_s / len(signals),
                   resample_speedup=resampy_s / refzsl_s, resample_max_abs_difference=difference)

    results["peak_memory_mb_main"] = _peak_mb(resource.RUSAGE_SELF)
    results["peak_memory_mb_largest_worker"] = _peak_mb(resource.RUSAGE_CHILDREN)
    results["targets"] = TARGETS

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"ESC-50 YAMNet extraction, {len(paths)} clips, {args.workers} workers, {os.cpu_count()} CPUs")
    print(f"  cold (from Ogg, empty cache): {results['cold_seconds']:.1f} s "
          f"({results['cold_clips_per_second']:.1f} clips/s; "
          f"2000 clips ~ {results['cold_seconds_2000_estimate']:.0f} s, "
          f"target <= {TARGETS['cold_seconds_2000']:.0f} s); CPU {results['cold_cpu_seconds']:.1f} s "
          f"-> ~{results['cold_seconds_2000_unloaded_estimate']:.0f} s for 2000 clips on {args.workers} idle cores")
    print(f"  warm cache, median of {args.repeats}: {results['warm_seconds_median']:.2f} s "
          f"(target for 2000 clips <= {TARGETS['warm_seconds_2000']} s); "
          f"identical to cold: {results['warm_equals_cold']}")
    print(f"  front end (log-mel + patches, 1 thread): median {results['frontend_seconds_per_pass_median']:.3f} s "
          f"for {audio_seconds:.0f} s of audio = {results['frontend_realtime_factor']:.0f}x real time "
          f"({results['frontend_realtime_factor_cpu']:.0f}x by CPU time; "
          f"target >= {TARGETS['frontend_realtime_factor']:.0f}x)")
    print(f"  resampling to 16 kHz per clip: resampy {results['resample_resampy_ms_per_clip']:.1f} ms, "
          f"refzsl {results['resample_refzsl_ms_per_clip']:.1f} ms, ratio {results['resample_speedup']:.1f}x, "
          f"max |difference| {difference:.1e}")
    print(f"  peak memory: main {results['peak_memory_mb_main']:.0f} MB, largest worker "
          f"{results['peak_memory_mb_largest_worker']:.0f} MB (target <= {TARGETS['peak_memory_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
