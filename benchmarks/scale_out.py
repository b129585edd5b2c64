"""Benchmark of extraction scaled out: the local process pool against Dask, on 1 and 2 workers.

Cold-cache YAMNet extraction of ESC-50 clips (all 2000, or the first ``--clips``), each run in
a fresh Python process with an empty cache folder of its own, so that nothing is shared
between runs. Configurations: ``process`` (one process, no workers), ``pool-1``, ``pool-2``,
``dask-1``, ``dask-2`` (a local cluster, started and stopped inside the timing). The
configurations are interleaved, ``--repeats`` rounds, and each figure is the median.

Printed per configuration: wall time, clips/s, CPU seconds (this process and its
children: steadier than wall time on a shared machine), scaling efficiency (2-worker
throughput over twice the 1-worker throughput of the same scheduler), and the overhead
against the pool with the same number of workers. Then the cost model: clips/s per core,
measured on one worker, times N cores gives the hours for AudioSet (about 2 M clips, 5 500 h
of audio: counted in audio seconds, since AudioSet clips are 10 s and ESC-50 clips 5 s),
checked against the 1 -> 2 worker measurement. The load average is printed with every run:
on a shared machine, compare figures taken at similar load.

``--fault`` runs the fault test instead: one of two local Dask workers is killed (SIGKILL) once a
tenth of the clips are cached; the run must bring back every clip, bitwise equal to an
uninterrupted one-process run.

Usage::

    REFZSL_DATA=... python benchmarks/scale_out.py [--clips 2000] [--repeats 3] [--scratch DIR] [--json]
    REFZSL_DATA=... python benchmarks/scale_out.py --fault --clips 200 --batch-mb 0.5
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CONFIGURATIONS = ("process", "pool-1", "pool-2", "dask-1", "dask-2")
AUDIOSET_CLIPS = 2_000_000
AUDIOSET_HOURS = 5_500
OVERHEAD_TARGET = 0.10


def _cpu_seconds():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_one(configuration, clips, cache, data_root, batch_mb):
    """One cold run in this process; returns its measurements (called in a fresh subprocess)."""
    from refzsl.acoustic.extraction import extract_files
    from refzsl.acoustic.scheduling import Scheduler
    from refzsl.datasets.esc50 import ESC50

    dataset = ESC50(data_root).verify()
    paths, clip_ids = dataset.paths[:clips], dataset.clip_ids[:clips]
    kind, _, workers = configuration.partition("-")
    audio_seconds = sum(_duration(path) for path in paths)
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    with Scheduler(kind, workers=int(workers) if workers else None) as scheduler:
        features = extract_files(paths, clip_ids=clip_ids, embedder="yamnet", root=data_root, cache=cache,
                                 scheduler=scheduler, batch_mb=batch_mb)
    wall = time.perf_counter() - start
    return {"configuration": configuration, "clips": len(features), "audio_seconds": audio_seconds,
            "wall_seconds": wall, "cpu_seconds": _cpu_seconds() - cpu_start,
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "embedding_sha256": __import__("hashlib").sha256(features.clip_embeddings.tobytes()).hexdigest()}


def fault_test(clips, scratch, data_root, batch_mb):
    """Kill (SIGKILL) one of two local Dask workers once a tenth of the clips are cached; compare the result
    with an uninterrupted one-process run of the same clips."""
    import signal
    import threading

    from refzsl.acoustic.extraction import extract_files
    from refzsl.acoustic.scheduling import Scheduler
    from refzsl.datasets.esc50 import ESC50

    dataset = ESC50(data_root).verify()
    paths, clip_ids = dataset.paths[:clips], dataset.clip_ids[:clips]
    options = dict(clip_ids=clip_ids, embedder="yamnet", root=data_root, batch_mb=batch_mb)
    reference = extract_files(paths, cache=False, **options)
    cache = Path(scratch) / "cache-fault"
    shutil.rmtree(cache, ignore_errors=True)
    report = {}
    with Scheduler("dask", workers=2) as scheduler:
        victim = max(scheduler.client.run(os.getpid).values())

        def kill():
            while len(list(cache.rglob("*.npy"))) < clips // 10:
                time.sleep(0.05)
            report["cached_when_killed"] = len(list(cache.rglob("*.npy")))
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill, daemon=True)
        killer.start()
        start = time.perf_counter()
        features = extract_files(paths, cache=cache, scheduler=scheduler, **options)
        report["wall_seconds"] = time.perf_counter() - start
        report["worker_restarted"] = victim not in scheduler.client.run(os.getpid).values()
    shutil.rmtree(cache, ignore_errors=True)
    report.update(clips=len(paths), clips_back=len(features), killed="cached_when_killed" in report,
                  embeddings_equal=features.clip_embeddings.tobytes() == reference.clip_embeddings.tobytes(),
                  segments_equal=all(a.tobytes() == b.tobytes() for a, b in zip(features.segment_embeddings,
                                                                                reference.segment_embeddings)),
                  manifests_equal=features.manifest == reference.manifest)
    return report


def _duration(path):
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def summarise(runs, repeats):
    """Median per configuration, efficiency, overhead against the pool, and the cost model."""
    table = {}
    for configuration in CONFIGURATIONS:
        mine = [run for run in runs if run["configuration"] == configuration]
        if not mine:
            continue
        wall = float(np.median([run["wall_seconds"] for run in mine]))
        table[configuration] = {
            "runs": len(mine), "clips": mine[0]["clips"], "audio_seconds": mine[0]["audio_seconds"],
            "wall_seconds": wall, "wall_seconds_all": [round(run["wall_seconds"], 2) for run in mine],
            "clips_per_second": mine[0]["clips"] / wall,
            "cpu_seconds": float(np.median([run["cpu_seconds"] for run in mine])),
            "load": float(np.median([(run["load_before"] + run["load_after"]) / 2 for run in mine])),
        }
    for kind in ("pool", "dask"):
        one, two = table.get(f"{kind}-1"), table.get(f"{kind}-2")
        if one and two:
            two["efficiency"] = two["clips_per_second"] / (2 * one["clips_per_second"])
    for workers in ("1", "2"):
        pool, dask = table.get(f"pool-{workers}"), table.get(f"dask-{workers}")
        if pool and dask:
            dask["overhead_vs_pool"] = dask["wall_seconds"] / pool["wall_seconds"] - 1
            dask["cpu_overhead_vs_pool"] = dask["cpu_seconds"] / pool["cpu_seconds"] - 1
    model = {}
    if "dask-1" in table and "dask-2" in table:
        one, two = table["dask-1"], table["dask-2"]
        per_core = one["audio_seconds"] / one["wall_seconds"]  # audio seconds per second on one worker
        model = {
            "clips_per_second_per_core": one["clips_per_second"],
            "audio_seconds_per_second_per_core": per_core,
            "audioset_hours": {str(cores): AUDIOSET_HOURS * 3600 / (per_core * cores) / 3600
                               for cores in (1, 2, 16, 64, 256)},
            "predicted_2_worker_clips_per_second": 2 * one["clips_per_second"],
            "measured_2_worker_clips_per_second": two["clips_per_second"],
        }
        model["measured_over_predicted"] = (model["measured_2_worker_clips_per_second"]
                                            / model["predicted_2_worker_clips_per_second"])
        cpu_per_audio = one["cpu_seconds"] / one["audio_seconds"]
        model["audioset_hours_by_cpu_time"] = {str(cores): AUDIOSET_HOURS * cpu_per_audio / cores
                                               for cores in (1, 2, 16, 64, 256)}
    return {"repeats": repeats, "table": table, "cost_model": model}


def print_report(summary, same_embeddings):
    table = summary["table"]
    first = next(iter(table.values()))
    print(f"Cold-cache YAMNet extraction of {first['clips']} ESC-50 clips ({first['audio_seconds'] / 3600:.2f} h "
          f"of audio), median of {summary['repeats']} interleaved rounds; {os.cpu_count()} CPUs")
    print(f"{'configuration':<14}{'wall s':>9}{'clips/s':>9}{'CPU s':>8}{'efficiency':>12}{'vs pool':>9}"
          f"{'CPU vs pool':>13}{'load':>7}   all walls")
    for name, row in table.items():
        efficiency = f"{row['efficiency']:.0%}" if "efficiency" in row else ""
        overhead = f"{row['overhead_vs_pool']:+.1%}" if "overhead_vs_pool" in row else ""
        cpu_overhead = f"{row['cpu_overhead_vs_pool']:+.1%}" if "cpu_overhead_vs_pool" in row else ""
        print(f"{name:<14}{row['wall_seconds']:>9.1f}{row['clips_per_second']:>9.1f}{row['cpu_seconds']:>8.1f}"
              f"{efficiency:>12}{overhead:>9}{cpu_overhead:>13}{row['load']:>7.1f}   {row['wall_seconds_all']}")
    for name, row in table.items():
        if "overhead_vs_pool" in row:
            verdict = "met" if row["overhead_vs_pool"] <= OVERHEAD_TARGET else "NOT met"
            print(f"  {name}: overhead vs the pool {row['overhead_vs_pool']:+.1%} "
                  f"(target <= {OVERHEAD_TARGET:.0%}: {verdict})")
    print(f"  every run gave the same clip embeddings: {same_embeddings}")
    model = summary["cost_model"]
    if model:
        hours = ", ".join(f"{cores} cores {value:.1f} h" for cores, value in model["audioset_hours"].items())
        print(f"Cost model: {model['clips_per_second_per_core']:.1f} ESC-50 clips/s per core = "
              f"{model['audio_seconds_per_second_per_core']:.0f} s of audio per second")
        print(f"  AudioSet ({AUDIOSET_HOURS} h, ~{AUDIOSET_CLIPS / 1e6:.0f} M clips): {hours}")
        by_cpu = ", ".join(f"{cores}: {value:.1f} h" for cores, value in model["audioset_hours_by_cpu_time"].items())
        print(f"  by CPU time (start included): {by_cpu}")
        print(f"  check: 2 workers predicted {model['predicted_2_worker_clips_per_second']:.1f} clips/s, measured "
              f"{model['measured_2_worker_clips_per_second']:.1f} ({model['measured_over_predicted']:.0%} of the "
              f"prediction)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=2000, help="first N ESC-50 clips (default all 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS), choices=CONFIGURATIONS)
    parser.add_argument("--batch-mb", type=float, default=4.0)
    parser.add_argument("--scratch", default=None, help="folder for the per-run caches (default: a temporary one)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--fault", action="store_true",
                        help="instead: the fault test (SIGKILL one of two Dask workers mid-run) on --clips clips")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one run, in a subprocess
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.clips, args.cache, args.data_root, args.batch_mb)))
        return 0

    import tempfile

    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="refzsl-scale-out-"))
    if args.fault:
        report = fault_test(args.clips, scratch, args.data_root, args.batch_mb)
        print(json.dumps(report, indent=2))
        return 0 if report["killed"] and report["embeddings_equal"] and report["clips_back"] == args.clips else 1
    runs = []
    for round_number in range(args.repeats):
        for configuration in args.configurations:
            cache = scratch / f"cache-{configuration}-{round_number}"
            shutil.rmtree(cache, ignore_errors=True)
            command = [sys.executable, __file__, "--one", configuration, "--clips", str(args.clips),
                       "--cache", str(cache), "--batch-mb", str(args.batch_mb)]
            if args.data_root:
                command += ["--data-root", args.data_root]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            run = json.loads(output.strip().splitlines()[-1])
            runs.append(run)
            shutil.rmtree(cache, ignore_errors=True)
            print(f"round {round_number + 1}: {configuration:<8} {run['wall_seconds']:7.1f} s  "
                  f"load {run['load_before']:.1f} -> {run['load_after']:.1f}", file=sys.stderr, flush=True)
    summary = summarise(runs, args.repeats)
    same = len({run["embedding_sha256"] for run in runs}) == 1
    summary["same_embeddings"] = same
    summary["runs"] = runs
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_report(summary, same)
    return 0


if __name__ == "__main__":
    sys.exit(main())
