"""Benchmark the multi-label temporal-attention model (P3) and its gradient kernel.

Measures, in one run on the same data:

- ``TemporalAttentionZSL.fit`` on 4000 generated ESC-50 mixtures x 20 epochs, attention and uniform
  pooling interleaved so a change of machine load hits both (target: <= 60 s on 2 cores);
- the gradient kernel jitted with Numba against its plain-Python twin on one 16-clip batch
  (compile time excluded; both checked equal first).

Needs the data root (``REFZSL_DATA``); YAMNet segments come from the extraction cache.

Usage: ``python benchmarks/attention_sgd.py [--repeats 3] [--json out.json]``
"""

import argparse
import json
import statistics
import time

import numpy as np

from refzsl.models import _attention_sgd
from refzsl._util.checks import positive_int
from refzsl.models._ranksgd import rank_penalties
from refzsl.models.attention import TemporalAttentionZSL
from refzsl.datasets.esc50 import ESC50
from refzsl.datasets.esc50 import extract_esc50
from refzsl.datasets.mixtures import make_mixtures

N_MIXTURES = 4000
N_TRAIN_CLASSES = 30
BATCH, SEGMENTS = 16, 18


def median_seconds(function, *, repeats, calls=1):
    """Median wall time of ``calls`` consecutive calls, over ``repeats`` runs, per call."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def bench_fit(repeats):
    dataset, features = ESC50(), extract_esc50(workers=2, progress=True)
    segment_counts = np.array([len(segments) for segments in features.segment_embeddings])
    classes = np.arange(N_TRAIN_CLASSES)
    clips = np.flatnonzero(np.isin(dataset.targets, classes))
    start = time.perf_counter()
    mixtures = make_mixtures(dataset.targets, segment_counts, clips=clips, n_mixtures=N_MIXTURES, random_state=0)
    X, Y = mixtures.embeddings(features.segment_embeddings), mixtures.labels[:, classes]
    generate_seconds = time.perf_counter() - start
    class_embeddings = np.random.default_rng(0).normal(size=(N_TRAIN_CLASSES, 300))
    TemporalAttentionZSL(n_epochs=1).fit(X[:32], Y[:32], class_embeddings)  # JIT compile, outside the timing

    times = {"attention": [], "uniform": []}
    for seed in range(repeats):
        for pooling, runs in times.items():  # interleaved
            start = time.perf_counter()
            TemporalAttentionZSL(pooling=pooling, n_epochs=20, random_state=seed).fit(X, Y, class_embeddings)
            runs.append(time.perf_counter() - start)
    return {"generate_and_gather_seconds": generate_seconds, "input_shape": list(X.shape),
            **{f"fit_{pooling}_median_seconds": statistics.median(runs) for pooling, runs in times.items()}}


def bench_kernel(repeats):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(BATCH, SEGMENTS, N_TRAIN_CLASSES)).astype(np.float32)
    targets = (rng.random((BATCH, N_TRAIN_CLASSES)) < 0.1).astype(np.uint8)
    targets[:, 0] = 1
    options = (_attention_sgd.POOLINGS["attention"], 0.5, _attention_sgd.LOSSES["rank_normalised"], 0.2,
               rank_penalties(N_TRAIN_CLASSES))
    kernels = {"numba": _attention_sgd.jitted(_attention_sgd.pool_and_gradient),
               "python": _attention_sgd.pool_and_gradient}

    def call(kernel):
        outputs = (np.empty((BATCH, N_TRAIN_CLASSES), np.float32), np.empty_like(scores), np.empty_like(scores))
        loss, n_violations = kernel(scores, targets, *options, *outputs)
        return loss, n_violations, outputs

    (loss_jit, violations_jit, out_jit), (loss_py, violations_py, out_py) = (
        call(kernels["numba"]), call(kernels["python"]))  # the first call compiles
    assert violations_jit == violations_py > 0, (violations_jit, violations_py)
    np.testing.assert_allclose(loss_jit, loss_py, rtol=1e-5)
    for got, want in zip(out_jit, out_py):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    seconds = {name: median_seconds(lambda kernel=kernel: call(kernel), repeats=repeats,
                                    calls=200 if name == "numba" else 3)
               for name, kernel in kernels.items()}
    return {"kernel_numba_ms": seconds["numba"] * 1e3, "kernel_python_ms": seconds["python"] * 1e3,
            "kernel_speedup": seconds["python"] / seconds["numba"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    results = {**bench_kernel(args.repeats), **bench_fit(args.repeats)}
    print(f"kernel, one batch of {BATCH} clips: numba {results['kernel_numba_ms']:.3f} ms, "
          f"python {results['kernel_python_ms']:.1f} ms, speed-up {results['kernel_speedup']:.0f}x")
    print(f"generate + gather {N_MIXTURES} mixtures: {results['generate_and_gather_seconds']:.2f} s")
    for pooling in ("attention", "uniform"):
        print(f"fit {pooling}: {N_MIXTURES} clips x 20 epochs, median "
              f"{results[f'fit_{pooling}_median_seconds']:.1f} s (target <= 60 s)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
