"""Thread settings shared by the training loops."""

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas"]


def single_threaded_blas():
    """Context in which NumPy's BLAS runs on one thread.

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
