"""AudioSet features: read throughput against ``cat``, and P2's protocol stage by stage, on simulated shards.

Usage (writes the corpora under SCRATCH unless they exist; delete SCRATCH afterwards)::

    python benchmarks/audioset.py --scratch /tmp/audioset-bench [--full-clips 150000] [--repeats 3]

1. A corpus of ``--full-clips`` clips with the full release's class profile
   (:mod:`refzsl.datasets.audioset_simulation`): ``cat`` of its shards to /dev/null (the I/O limit, page
   cache warm after one untimed pass), then :func:`read_shard` over every shard (uint8 and float), then
   the protocol's streaming single-label pass. Medians of ``--repeats``; clips/s and MB/s.
2. The protocol's corpus (the single-label clips, at most 1 500 per class, ~112 774 clips): one run of
   :func:`run_audioset` for ``--embedding`` with its stage times and the fold sizes beside Table III.
3. The full release extrapolated: 2 042 985 clips at the measured single-label pass rate, plus step 2.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from refzsl.datasets.audioset import list_shards, read_shard
from refzsl.datasets.audioset_simulation import UNBALANCED_TRAIN_CLIPS, class_profile, write_corpus
from refzsl.experiments.audioset import format_table, load_single_label_clips, run_audioset


def _cpu_seconds():
    """CPU time of this process and its finished children (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _median_seconds(function, repeats):
    """Median (wall, CPU) seconds of ``repeats`` calls: on a shared machine CPU time is the stable figure."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), _cpu_seconds()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--full-clips", type=int, default=150_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--embedding", default="WLE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    profile = class_profile()
    full, single = args.scratch / "full", args.scratch / "single"
    written = {}
    if not full.exists():
        written["full"] = write_corpus(full, n_clips=args.full_clips, profile=profile, seed=2)
    if not single.exists():
        written["single"] = write_corpus(single, single_label=True, profile=profile, seed=1)
    report = {"load_average_start": os.getloadavg(), "cpus": os.cpu_count(), "written": written}

    paths = [str(p) for p in list_shards(full)]
    n_bytes = sum(os.path.getsize(p) for p in paths)
    n_clips = sum(len(read_shard(p, dequantize=False)) for p in paths)  # also warms the page cache
    cat = _median_seconds(lambda: subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True),
                          args.repeats)
    read_uint8 = _median_seconds(lambda: [read_shard(p, dequantize=False) for p in paths], args.repeats)
    read_float = _median_seconds(lambda: [read_shard(p) for p in paths], args.repeats)
    single_pass = _median_seconds(lambda: load_single_label_clips(full), args.repeats)
    rows = {"cat": cat, "read_shard uint8": read_uint8, "read_shard float32": read_float,
            "single-label pass": single_pass}
    report["throughput"] = {"clips": n_clips, "shards": len(paths), "bytes": n_bytes,
                            "wall_seconds": {k: v[0] for k, v in rows.items()},
                            "cpu_seconds": {k: v[1] for k, v in rows.items()}}
    print(f"corpus: {n_clips} clips, {len(paths)} shards, {n_bytes / 1e6:.1f} MB; medians of {args.repeats}; "
          "page cache warm")
    print(f"{'reader':<20}{'wall s':>8}{'CPU s':>8}{'clips/CPU s':>13}{'MB/CPU s':>10}{'clips/wall s':>14}"
          f"{'CPU vs cat':>12}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:<20}{wall:>8.2f}{cpu:>8.2f}{n_clips / cpu:>13.0f}{n_bytes / 1e6 / cpu:>10.0f}"
              f"{n_clips / wall:>14.0f}{cpu / cat[1]:>11.1f}x")

    cpu = _cpu_seconds()
    protocol = run_audioset(features=single, recipes=(args.embedding,), seed=0)
    report["protocol"] = protocol
    report["protocol_cpu_seconds"] = _cpu_seconds() - cpu
    print()
    print(format_table(protocol))
    rate = n_clips / single_pass[1]  # clips per CPU second: what one free core would do
    full_read = UNBALANCED_TRAIN_CLIPS / rate
    rest = protocol["stage_seconds"]["total"] - protocol["stage_seconds"]["read"]
    report["extrapolation"] = {"full_release_clips": UNBALANCED_TRAIN_CLIPS, "read_seconds": full_read,
                               "protocol_after_read_seconds": rest}
    report["load_average_end"] = os.getloadavg()
    print(f"\nfull release (~{UNBALANCED_TRAIN_CLIPS} clips): single-label pass ~{full_read:.0f} CPU s at "
          f"{rate:.0f} clips per CPU second, then {rest:.0f} s for {args.embedding} (filter, folds, selection, evaluation)")
    print(f"protocol: {protocol['stage_seconds']['total']:.1f} s wall, {report['protocol_cpu_seconds']:.1f} s CPU")
    print(f"load average: start {report['load_average_start']}, end {report['load_average_end']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
