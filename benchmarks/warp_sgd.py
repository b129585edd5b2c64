"""Benchmark the Training Algorithm 1 kernels: oracle (python), numba, dual.

For each configuration, on the same synthetic data and the same seeded sample
orders:

1. **check**: every kernel's W equals the oracle's (relative 1e-9) on a
   subsample, 2 epochs, before anything is timed;
2. **same work, early** (W = 0, where nearly every class violates): the oracle
   and both fast kernels each run one epoch over the same subsample; speed-ups
   are ratios of medians from this run;
3. **same work, late** (W from the trained dual model: few or no violators,
   so mostly scoring): one epoch of the oracle and of the numba kernel over
   the subsample, from the same W;
4. **full size**: the fast kernels on all N samples (ESC-50-like: 20 epochs
   with the dual kernel = one fold of training, 2 epochs with numba;
   AudioSet-like: one epoch each).

Reported: samples/s, wall and thread-CPU medians, effective GFLOP/s (the dense
formulation's flops per sample, 4·d_a·d_s + 2·C·d_s, times samples/s, so the
dual kernel can exceed the machine's peak) and its ratio to NumPy's float64
matmul GFLOP/s measured in the same run. JIT compile time is measured apart.
BLAS runs single-threaded (set before NumPy loads), like the kernels.

Usage::

    python benchmarks/warp_sgd.py [--quick] [--json results.json | --json -]
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from refzsl import _ranksgd  # noqa: E402

LEARNING_RATE = 0.1
CHECK_TOLERANCE = 1e-9
TARGETS = {
    "numba_over_oracle_early": 100.0,  # at d_a = 1024, d_s = 300, C = 40
    "dual_over_numba": 3.0,  # same configuration
    "esc50_fold_20_epochs_seconds": 0.5,  # fastest kernel
    "audioset_epoch_seconds": 2.0,  # fastest kernel
}
HEADLINE = "esc50 d_a=1024 d_s=300"


def configurations(quick):
    """Benchmark problems: name, sizes, epochs of the full-size runs, oracle subsample."""
    esc = [
        dict(name=f"esc50 d_a={d_a} d_s={d_s}", n_samples=1600, n_classes=40, d_a=d_a, d_s=d_s, dual_epochs=20, numba_epochs=2)
        for d_a in (128, 1024)
        for d_s in (300, 350, 600)
    ]
    audioset = dict(name="audioset d_a=128 d_s=300", n_samples=23000, n_classes=104, d_a=128, d_s=300, dual_epochs=1, numba_epochs=1)
    if quick:
        esc = [c for c in esc if c["d_s"] == 300]
    return esc + [audioset]


def synthetic_problem(n_samples, n_classes, d_a, d_s, seed=0):
    """L2-normalised embeddings where audio depends linearly on its class embedding.

    Balanced classes; noise makes the problem hard enough that violators remain.
    """
    rng = np.random.default_rng(seed)
    Phi = rng.normal(size=(n_classes, d_s))
    y = np.arange(n_samples) % n_classes
    X = Phi[y] @ rng.normal(size=(d_s, d_a)) / np.sqrt(d_s) + 2.0 * rng.normal(size=(n_samples, d_a))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Phi /= np.linalg.norm(Phi, axis=1, keepdims=True)
    return X, y, Phi


def timed(function, repeats):
    """Median wall and thread-CPU seconds of ``function()`` and its last result."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.thread_time()
        result = function()
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return float(np.median(walls)), float(np.median(cpus)), result


def matmul_gflops(repeats):
    """Single-threaded float64 NumPy matmul rate, 1024 × 1024 by 1024 × 1024."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1024, 1024)), rng.normal(size=(1024, 1024))
    a @ b
    wall, cpu, _ = timed(lambda: a @ b, repeats)
    return 2 * 1024**3 / wall / 1e9, 2 * 1024**3 / cpu / 1e9


def jit_compile_seconds():
    """Compile time of each fast kernel without the on-disk cache, and first-call time with it.

    The dual kernel (the default) goes first, so its figure includes Numba's
    start-up and the shared helpers, as a user's first fit does; the numba
    kernel then reuses the compiled helpers.
    """
    import numba

    X, y, Phi = synthetic_problem(8, 3, 4, 5)
    order, beta = np.arange(8), _ranksgd.rank_penalties(3)
    result = {}
    for name, function in (("dual", _ranksgd.dual_epoch), ("numba", _ranksgd.rank1_epoch)):
        cached = _ranksgd.jitted(function)  # also registers the shared helpers
        fresh = numba.njit(cache=False, nogil=True)(function)
        for label, kernel in (("compile_seconds", fresh), ("first_call_with_cache_seconds", cached)):
            if name == "numba":
                arguments = (Phi, np.ascontiguousarray(Phi.T), np.zeros((4, 5)), np.ones(1))
            else:
                arguments = (_ranksgd.gram_matrix(Phi), np.zeros((3, 4)), np.ones(1))
            started = time.perf_counter()
            kernel(X, y, *arguments, order, 0.1, 1.0, 0, beta)
            result.setdefault(name, {})[label] = time.perf_counter() - started
        result[name]["cache_hits"] = int(sum(cached.stats.cache_hits.values()))
    return result


def train_once(X, y, Phi, orders, kernel, violations, epoch_seconds=None):
    """A run of ``train``; fills ``violations`` per epoch and appends the epochs' end times to ``epoch_seconds``."""

    def run():
        violations.clear()
        started, ends = time.perf_counter(), []

        def on_epoch(epoch, count):
            violations.append(count)
            ends.append(time.perf_counter() - started)

        W = _ranksgd.train(
            X, y, Phi, orders, kernel=kernel, learning_rate=LEARNING_RATE, reg_lambda=0.0, update="algorithm1",
            on_epoch=on_epoch,
        )
        if epoch_seconds is not None:
            epoch_seconds.append(ends)
        return W

    return run


def benchmark_configuration(config, *, oracle_samples, repeats, oracle_repeats, matmul_rate):
    n_samples, n_classes, d_a, d_s = (config[k] for k in ("n_samples", "n_classes", "d_a", "d_s"))
    X, y, Phi = synthetic_problem(n_samples, n_classes, d_a, d_s)
    flops_per_sample = 4 * d_a * d_s + 2 * n_classes * d_s
    rng = np.random.default_rng(1)
    subset = rng.choice(n_samples, size=oracle_samples, replace=False)
    Xs, ys = X[subset], y[subset]
    out = dict(config, oracle_samples=oracle_samples, flops_per_sample=flops_per_sample)

    # 1. check before timing
    check_orders = [rng.permutation(oracle_samples) for _ in range(2)]
    reference = train_once(Xs, ys, Phi, check_orders, "python", [])()
    errors = {k: float(np.abs(train_once(Xs, ys, Phi, check_orders, k, [])() - reference).max() / np.abs(reference).max()) for k in ("numba", "dual")}
    out["check_relative_error"] = errors
    if max(errors.values()) > CHECK_TOLERANCE:
        raise RuntimeError(f"{config['name']}: kernels disagree with the oracle: {errors}")

    def rates(wall, cpu, n):
        return dict(wall_seconds=wall, cpu_seconds=cpu, samples_per_second=n / wall,
                    effective_gflops=flops_per_sample * n / wall / 1e9,
                    effective_over_matmul=flops_per_sample * n / wall / 1e9 / matmul_rate)

    # 2. same work from W = 0
    order = [rng.permutation(oracle_samples)]
    early = {}
    for kernel, count in (("python", oracle_repeats), ("numba", repeats), ("dual", repeats)):
        violations = []
        wall, cpu, W = timed(train_once(Xs, ys, Phi, order, kernel, violations), count)
        early[kernel] = dict(rates(wall, cpu, oracle_samples), violators_per_sample=violations[0] / oracle_samples)
        if kernel == "python":
            W_early = W
        elif np.abs(W - W_early).max() > CHECK_TOLERANCE * np.abs(W_early).max():
            raise RuntimeError(f"{config['name']}: {kernel} W differs from the oracle after the timed epoch")
    out["early"] = early
    out["speedup_early"] = {
        "numba_over_oracle": early["python"]["wall_seconds"] / early["numba"]["wall_seconds"],
        "dual_over_oracle": early["python"]["wall_seconds"] / early["dual"]["wall_seconds"],
        "dual_over_numba": early["numba"]["wall_seconds"] / early["dual"]["wall_seconds"],
    }

    # 4. full size (also gives the trained W for 3.)
    full = {}
    for kernel in ("dual", "numba"):
        epochs = config[f"{kernel}_epochs"]
        orders = [np.random.default_rng(2 + e).permutation(n_samples) for e in range(epochs)]
        violations, epoch_seconds = [], []
        wall, cpu, W = timed(train_once(X, y, Phi, orders, kernel, violations, epoch_seconds),
                             repeats if kernel == "dual" else max(1, repeats // 2))
        full[kernel] = dict(rates(wall, cpu, n_samples * epochs), epochs=epochs,
                            violators_per_sample_first_last=[violations[0] / n_samples, violations[-1] / n_samples],
                            median_epoch_end_seconds=np.median(epoch_seconds, axis=0).tolist())
        if kernel == "dual":
            W_trained = W
    out["full"] = full
    # same work: the first numba_epochs epochs of both kernels (same orders)
    compared = config["numba_epochs"] - 1
    out["dual_over_numba_full"] = (full["numba"]["median_epoch_end_seconds"][compared]
                                   / full["dual"]["median_epoch_end_seconds"][compared])

    # 3. same work from a trained W (few or no violators): oracle vs numba
    beta, late_order = _ranksgd.rank_penalties(n_classes), rng.permutation(oracle_samples)
    late = {}
    for kernel in ("python", "numba"):
        def run(kernel=kernel):
            W = W_trained.copy()
            if kernel == "python":
                return _ranksgd.oracle_epoch(Xs, ys, Phi, W, late_order, LEARNING_RATE, 1.0, 0, beta)
            return _ranksgd.jitted(_ranksgd.rank1_epoch)(
                Xs, ys, Phi, np.ascontiguousarray(Phi.T), W, np.ones(1), late_order, LEARNING_RATE, 1.0, 0, beta)
        wall, cpu, count = timed(run, oracle_repeats if kernel == "python" else repeats)
        late[kernel] = dict(rates(wall, cpu, oracle_samples), violators_per_sample=count / oracle_samples)
    out["late"] = late
    out["speedup_late"] = {"numba_over_oracle": late["python"]["wall_seconds"] / late["numba"]["wall_seconds"]}
    return out


def check_targets(results):
    by_name = {r["name"]: r for r in results}
    headline = by_name.get(HEADLINE)
    audioset = next((r for r in results if r["name"].startswith("audioset")), None)
    checks = []
    if headline:
        checks += [
            ("numba >= 100x oracle (same work from W=0), d_a=1024 d_s=300 C=40",
             headline["speedup_early"]["numba_over_oracle"], TARGETS["numba_over_oracle_early"], ">="),
            ("dual >= 3x numba (full size, first 2 epochs from W=0), d_a=1024 d_s=300 C=40",
             headline["dual_over_numba_full"], TARGETS["dual_over_numba"], ">="),
            ("ESC-50 fold x 20 epochs, dual, d_a=1024 d_s=300 [s]",
             headline["full"]["dual"]["wall_seconds"], TARGETS["esc50_fold_20_epochs_seconds"], "<"),
        ]
    small = by_name.get("esc50 d_a=128 d_s=300")
    if small:
        checks.append(("ESC-50 fold x 20 epochs, dual, d_a=128 d_s=300 [s]",
                       small["full"]["dual"]["wall_seconds"], TARGETS["esc50_fold_20_epochs_seconds"], "<"))
    if audioset:
        checks.append(("AudioSet-like epoch (N=23000, C=104), dual [s]",
                       audioset["full"]["dual"]["wall_seconds"], TARGETS["audioset_epoch_seconds"], "<"))
    return [dict(target=name, measured=value, bound=bound, passed=bool(value >= bound if op == ">=" else value < bound))
            for name, value, bound, op in checks]


def print_report(report, stream):
    print(f"machine: {report['machine']['processor']}, {report['machine']['cpu_count']} CPUs, load average "
          f"{report['machine']['load_average_start']} at start, {report['machine']['load_average_end']} at end", file=stream)
    print(f"NumPy matmul (float64, 1 thread): {report['matmul_gflops']:.1f} GFLOP/s wall, {report['matmul_gflops_cpu']:.1f} per CPU second", file=stream)
    for name, values in report["jit"].items():
        print(f"JIT {name}: compile {values['compile_seconds']:.2f} s without cache; first call with cache "
              f"{values['first_call_with_cache_seconds']:.3f} s (cache hits {values['cache_hits']})", file=stream)
    for r in report["results"]:
        print(f"\n== {r['name']}  (N={r['n_samples']}, C={r['n_classes']}; oracle subsample {r['oracle_samples']}; "
              f"check rel. error numba {r['check_relative_error']['numba']:.1e}, dual {r['check_relative_error']['dual']:.1e})", file=stream)
        print(f"{'regime':<8}{'kernel':<8}{'samples/s':>12}{'wall s':>10}{'cpu s':>10}{'eff GFLOP/s':>13}{'/matmul':>9}{'viol/sample':>13}", file=stream)
        for regime in ("early", "late"):
            for kernel, v in r[regime].items():
                print(f"{regime:<8}{kernel:<8}{v['samples_per_second']:>12.0f}{v['wall_seconds']:>10.4f}{v['cpu_seconds']:>10.4f}"
                      f"{v['effective_gflops']:>13.2f}{v['effective_over_matmul']:>9.2f}{v['violators_per_sample']:>13.2f}", file=stream)
        for kernel, v in r["full"].items():
            first, last = v["violators_per_sample_first_last"]
            print(f"{'full':<8}{kernel:<8}{v['samples_per_second']:>12.0f}{v['wall_seconds']:>10.4f}{v['cpu_seconds']:>10.4f}"
                  f"{v['effective_gflops']:>13.2f}{v['effective_over_matmul']:>9.2f}{first:>7.2f}->{last:.2f}  ({v['epochs']} epochs)", file=stream)
        s = r["speedup_early"]
        print(f"speed-up from W=0: numba/oracle {s['numba_over_oracle']:.0f}x, dual/oracle {s['dual_over_oracle']:.0f}x, "
              f"dual/numba {s['dual_over_numba']:.1f}x; trained W: numba/oracle {r['speedup_late']['numba_over_oracle']:.0f}x; "
              f"full size dual/numba {r['dual_over_numba_full']:.1f}x", file=stream)
    print("\nTargets:", file=stream)
    for t in report["targets"]:
        print(f"  [{'PASS' if t['passed'] else 'FAIL'}] {t['target']}: {t['measured']:.3g} (bound {t['bound']})", file=stream)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="d_s = 300 only, fewer repeats, smaller oracle subsample")
    parser.add_argument("--json", metavar="PATH", help="write all figures as JSON to PATH ('-' = stdout)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of each fast-kernel timing (median)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    oracle_repeats = 1 if args.quick else 3
    oracle_samples = 24 if args.quick else 48
    load_start = os.getloadavg()
    jit = jit_compile_seconds()
    matmul_wall, matmul_cpu = matmul_gflops(repeats)
    results = []
    for config in configurations(args.quick):
        print(f"running {config['name']} ...", file=sys.stderr, flush=True)
        results.append(benchmark_configuration(config, oracle_samples=oracle_samples, repeats=repeats,
                                               oracle_repeats=oracle_repeats, matmul_rate=matmul_wall))
    report = dict(
        machine=dict(processor=platform.processor() or platform.machine(), cpu_count=os.cpu_count(),
                     load_average_start=[round(x, 2) for x in load_start],
                     load_average_end=[round(x, 2) for x in os.getloadavg()],
                     python=platform.python_version(), numpy=np.__version__),
        quick=args.quick, repeats=repeats, learning_rate=LEARNING_RATE,
        matmul_gflops=matmul_wall, matmul_gflops_cpu=matmul_cpu, jit=jit, results=results,
        targets=check_targets(results),
    )
    if args.json == "-":
        json.dump(report, sys.stdout, indent=2)
        print()
        print_report(report, sys.stderr)
    else:
        print_report(report, sys.stdout)
        if args.json:
            with open(args.json, "w") as stream:
                json.dump(report, stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
