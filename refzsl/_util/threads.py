"""Thread settings: the one place that limits BLAS, OpenMP and Numba threads."""

import os
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas", "single_threaded_children"]

#: Environment variables that set the thread pools of a new process's native libraries.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def single_threaded_blas():
    """Context in which NumPy's BLAS runs on one thread (in this process).

    The training loops multiply small matrices (a batch of a few hundred rows by 1024 × d): there,
    BLAS threads cost more synchronisation than they give, and on a shared 2-core machine they wait
    for each other (3-4x slower measured for the ESC-50 runner; 7.7 s vs 32-55 s for P3 attention
    training on 4000 clips × 20 epochs).

    Returns
    -------
    threadpoolctl.threadpool_limits
        A context manager; the previous limits come back on exit.
    """
    return threadpool_limits(limits=1, user_api="blas")


@contextmanager
def single_threaded_children():
    """Context whose spawned processes start with one BLAS/OpenMP/Numba thread each.

    A pool of worker processes is the parallelism there; each worker's own thread pools would only
    oversubscribe the cores. The variables are read when a child starts, so they are set in this
    process's environment for the duration and restored after.
    """
    saved = {name: os.environ.get(name) for name in THREAD_ENV}
    os.environ.update({name: "1" for name in THREAD_ENV})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
