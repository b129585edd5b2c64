"""Where tasks run: in this process, on a local process pool, or on a Dask cluster.

One task function, three schedulers. A task is a top-level (picklable) function applied
to one item; the schedulers differ only in where the call happens:

* ``"process"`` — in the calling process, one item after the other;
* ``"pool"`` — a pool of spawned local processes (:class:`concurrent.futures.ProcessPoolExecutor`);
* ``"dask"`` — a ``dask.distributed`` cluster: a local one of ``workers`` processes, or the
  scheduler at ``address`` (``tcp://host:8786``). Needs the ``dask`` extra
  (``pip install refzsl[dask]``).

What a task needs besides its item travels with it: bind it with :func:`functools.partial`.
State that is costly to build (a TFLite model) goes into a :class:`WorkerLocal`, built once
per worker thread and reused by every later task there. Results must not depend on where a
task ran; extraction checks that they are bitwise identical under every scheduler.

Dask brings what long runs need: a task whose worker dies is re-run on another worker, and
progress shows through Dask's own progress bar. Files a run writes must sit on a folder
every worker sees; :meth:`Scheduler.check_shared_folder` checks that at start.

Examples
--------
Read shards on a cluster, in input order (``read_shard`` a top-level function)::

    from functools import partial
    tables = map_ordered(partial(read_shard, dequantize=True), shard_paths, scheduler="dask", workers=2)
"""

import functools
import hashlib
import os
import pickle
import secrets
import socket
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .._util.checks import check_positive_int, positive_int
from .._util.threads import THREAD_ENV, single_threaded_children
from ..exceptions import MissingDependencyError, SharedPathError

__all__ = ["SCHEDULERS", "DEFAULT_PARALLEL", "Scheduler", "WorkerLocal", "map_unordered", "map_ordered",
           "plan_batches", "check_scheduler", "make_scheduler", "add_scheduler_arguments",
           "scheduler_from_arguments"]

#: Scheduler names, from the simplest to the most distributed.
SCHEDULERS = ("process", "pool", "dask")

#: Scheduler for more than one worker when none is named. Both run the same tasks; on one 2-core machine
#: (all 2000 ESC-50 clips, quiet) the pool took about a third less CPU and wall time than a local Dask
#: cluster (77-79 against 109-120 CPU s), starts faster and needs no optional package. Dask is for
#: clusters and for surviving a killed worker.
DEFAULT_PARALLEL = "pool"

# A local cluster's housekeeping, made less frequent: Dask's defaults (event-loop tick every 20 ms,
# system monitor every 0.5 s, statistical profiler every 10 ms) cost its processes about 0.035 CPU
# seconds per second of wall time for 2 workers, half of it saved here (measured on 2 cores). Nannies
# hand this configuration to the workers they start, restarted ones included.
_QUIET_LOCAL_CLUSTER = {"distributed.admin.tick.interval": "1s",
                        "distributed.admin.system-monitor.interval": "2s",
                        "distributed.worker.profile.enabled": False}


def check_scheduler(scheduler):
    """Return ``scheduler`` if it is a name of :data:`SCHEDULERS` or a :class:`Scheduler`, else raise.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For anything else.
    """
    if isinstance(scheduler, Scheduler):
        return scheduler
    if not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be one of {SCHEDULERS} or a Scheduler, got {type(scheduler).__name__} "
                        f"{scheduler!r}")
    if scheduler not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
    return scheduler


def plan_batches(sizes, max_bytes):
    """Split items into consecutive batches of at most ``max_bytes`` bytes each.

    Batches keep the input order and depend only on the sizes, never on the number of
    workers, so every scheduler runs the same tasks. An item larger than ``max_bytes`` is a
    batch of its own.

    Parameters
    ----------
    sizes : sequence of int >= 0
        Size of each item in bytes (a file's size on disk).
    max_bytes : int > 0
        Bytes per batch.

    Returns
    -------
    list[range]
        Item indices of each batch; together they cover ``range(len(sizes))`` in order.

    Raises
    ------
    ValueError
        If ``max_bytes`` <= 0 or a size is negative.

    Examples
    --------
    >>> plan_batches([3, 3, 3, 10, 1], 6)
    [range(0, 2), range(2, 3), range(3, 4), range(4, 5)]
    """
    if not max_bytes > 0:
        raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
    batches, start, total = [], 0, 0
    for index, size in enumerate(sizes):
        if size < 0:
            raise ValueError(f"sizes must be >= 0, got {size} at index {index}")
        if index > start and total + size > max_bytes:
            batches.append(range(start, index))
            start, total = index, 0
        total += size
    if start < len(sizes):
        batches.append(range(start, len(sizes)))
    return batches


class WorkerLocal:
    """A value that each worker thread unpickles once and then keeps for every later task.

    Tasks are pickled one by one; an object such as a TFLite embedder, pickled inside each
    task, would be rebuilt for every task. A ``WorkerLocal`` pickles its value once, here,
    and :meth:`get` unpickles it on the first call in each worker thread (keyed by the
    bytes' sha256). In the process that made it, :meth:`get` returns the value itself.

    Parameters
    ----------
    value : object
        Any picklable object.
    """

    _memo = threading.local()

    def __init__(self, value):
        self._payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.token = hashlib.sha256(self._payload).hexdigest()
        self._value = value

    def __getstate__(self):
        return {"payload": self._payload, "token": self.token}

    def __setstate__(self, state):
        self._payload, self.token, self._value = state["payload"], state["token"], None

    def get(self):
        """The value: the original here, one unpickled copy per thread in a worker."""
        if self._value is not None:
            return self._value
        memo = self._memo.__dict__.setdefault("values", {})
        if self.token not in memo:
            if len(memo) >= 4:  # a long-lived worker serves many runs: keep the latest few
                memo.pop(next(iter(memo)))
            memo[self.token] = pickle.loads(self._payload)
        return memo[self.token]


def _import_distributed():
    try:
        import distributed
    except ImportError as error:
        raise MissingDependencyError(
            "The dask scheduler needs dask.distributed: pip install 'refzsl[dask]' "
            "(or pip install 'dask[distributed]')") from error
    return distributed


def _call(function, index, item):
    return index, function(item)


class Scheduler:
    """Runs a task function over items on one of :data:`SCHEDULERS`; a context manager.

    The pool or the Dask client starts on first use and stops on :meth:`close` (or when
    the ``with`` block ends), so one scheduler can serve several maps (for example the
    shared-folder check, then the run).

    Parameters
    ----------
    kind : str in SCHEDULERS
        ``"process"``, ``"pool"`` or ``"dask"``.
    workers : int >= 1, optional
        Processes of the pool or of the local Dask cluster (default 1). Not with ``address``.
    address : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); ``kind="dask"`` only.
        Without it, ``"dask"`` starts a local cluster of ``workers`` single-threaded processes.

    Raises
    ------
    ValueError
        For an unknown ``kind``, or ``address`` with another kind or with ``workers``.
    MissingDependencyError
        On first use of ``"dask"`` without ``dask.distributed`` installed.
    """

    def __init__(self, kind="process", *, workers=None, address=None):
        if isinstance(kind, Scheduler):
            raise TypeError("kind must be a scheduler name, got a Scheduler")
        check_scheduler(kind)
        if address is not None and kind != "dask":
            raise ValueError(f"address applies to the dask scheduler only, got scheduler {kind!r}")
        if address is not None and workers is not None:
            raise ValueError(f"workers applies to a local cluster; the cluster at {address!r} has its own")
        self.kind = kind
        self.workers = 1 if workers is None else check_positive_int(workers, "workers")
        self.address = address
        self._pool = self._client = self._cluster = None

    def __repr__(self):
        where = f"address={self.address!r}" if self.address else f"workers={self.workers}"
        return f"Scheduler({self.kind!r}, {where})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def runs_elsewhere(self):
        """True when tasks run in other processes (their arguments and results are pickled)."""
        return self.kind != "process"

    @property
    def client(self):
        """The ``distributed.Client`` (``"dask"`` only), started on first use."""
        if self.kind != "dask":
            raise ValueError(f"scheduler {self.kind!r} has no Dask client")
        if self._client is None:
            distributed = _import_distributed()
            if self.address is not None:
                self._client = distributed.Client(self.address)
            else:
                import dask

                with single_threaded_children(), dask.config.set(_QUIET_LOCAL_CLUSTER):
                    self._cluster = distributed.LocalCluster(
                        n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                        env={name: "1" for name in THREAD_ENV})
                self._client = distributed.Client(self._cluster)
        return self._client

    def close(self):
        """Stop the pool or the Dask client (and the local cluster it started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def worker_names(self):
        """Addresses of the Dask workers, or ``["local"]`` for the other schedulers."""
        if self.kind != "dask":
            return ["local"]
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def check_shared_folder(self, folder, *, purpose="cache"):
        """Check that every worker sees ``folder`` (the same folder, writable).

        The client writes a probe file into ``folder``; each Dask worker must read it back
        and write a file of its own there. A no-op for the local schedulers.

        Parameters
        ----------
        folder : str or Path
            Absolute path, as the workers see it.
        purpose : str
            What the folder is for, named in the error (``"cache"``, ``"output"``).

        Raises
        ------
        SharedPathError
            If some workers cannot see or write the folder; the message names them.
        """
        if self.kind != "dask":
            return
        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        probe = folder / f".refzsl-probe-{token}"
        probe.write_text(token)
        try:
            problems = self.client.run(_probe_folder, str(folder), probe.name, token)
        finally:
            probe.unlink(missing_ok=True)
        _raise_unshared(folder, purpose, problems)

    def map_unordered(self, function, items, *, progress=False):
        """Apply ``function`` to each item; yield ``(index, result)`` as results arrive.

        Parameters
        ----------
        function : callable
            A top-level function of one argument (or a :func:`functools.partial` of one);
            it must be picklable unless the scheduler is ``"process"``.
        items : sequence
            Picklable items.
        progress : bool
            Under ``"dask"``, show Dask's progress bar (the other schedulers leave progress
            to the caller, who sees every result arrive).

        Yields
        ------
        (int, object)
            Index of the item and ``function(item)``, in completion order.

        Raises
        ------
        Exception
            The first exception a task raised; the remaining tasks are cancelled. A task
            whose Dask worker died is re-run on another worker (up to
            ``distributed.scheduler.allowed-failures`` times); a dead pool worker stops the
            run with ``BrokenProcessPool``.
        """
        items = list(items)
        if not items:
            return
        if self.kind == "process":
            for index, item in enumerate(items):
                yield index, function(item)
        elif self.kind == "pool":
            yield from self._map_pool(function, items)
        else:
            yield from self._map_dask(function, items, progress)

    def _map_pool(self, function, items):
        import multiprocessing

        # The executor starts its processes as tasks are submitted: they inherit this environment then.
        with single_threaded_children():
            if self._pool is None:
                # Spawned, not forked: the parent may hold interpreter and BLAS threads.
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            futures = [self._pool.submit(_call, function, index, item) for index, item in enumerate(items)]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def _map_dask(self, function, items, progress):
        distributed = _import_distributed()
        client = self.client
        name = getattr(getattr(function, "func", function), "__name__", "task").strip("_") or "task"
        run_id = uuid.uuid4().hex[:8]  # unique keys: a finished run's results are never reused
        futures = client.map(functools.partial(_call, function), range(len(items)), items, pure=False,
                             key=[f"{name}-{run_id}-{index}" for index in range(len(items))])
        if progress:
            threading.Thread(target=distributed.progress, args=(futures,), kwargs={"notebook": False},
                             daemon=True).start()
        try:
            for future in distributed.as_completed(futures):
                result = future.result()
                future.release()  # the worker may drop the result now
                yield result
        finally:
            client.cancel([future for future in futures if not future.done()])


def _probe_folder(folder, probe_name, token):
    """Run on each worker: None if ``folder`` is the client's folder and writable, else the problem."""
    folder = Path(folder)
    host = socket.gethostname()
    if not folder.is_dir():
        return f"{host}: no folder {str(folder)!r}"
    try:
        seen = (folder / probe_name).read_text()
    except OSError:
        return f"{host}: {str(folder)!r} exists but is not the client's folder (its probe file is absent)"
    if seen != token:
        return f"{host}: {str(folder)!r} holds another probe file"
    own = folder / f"{probe_name}.{os.getpid()}"
    try:
        own.write_text(token)
        own.unlink()
    except OSError as error:
        return f"{host}: cannot write into {str(folder)!r} ({error.strerror or error})"
    return None


def _raise_unshared(folder, purpose, problems):
    """Raise SharedPathError naming each worker of ``problems`` ({worker: problem or None}) that failed."""
    bad = {worker: problem for worker, problem in sorted(problems.items()) if problem}
    if bad:
        listed = "; ".join(f"{worker} ({problem})" for worker, problem in bad.items())
        raise SharedPathError(
            f"The {purpose} folder {str(folder)!r} is not shared with {len(bad)} of {len(problems)} Dask "
            f"workers: {listed}. Put it on a file system every worker mounts at the same path "
            f"(NFS, Lustre, ...)", folder=folder, workers=list(bad))


def map_unordered(function, items, *, scheduler="process", workers=None, address=None, progress=False):
    """Apply ``function`` to each item on a scheduler; yield ``(index, result)`` as they arrive.

    A one-call form of :meth:`Scheduler.map_unordered`: the pool or the local cluster
    starts here and stops when the generator ends. Pass a :class:`Scheduler` to reuse one.

    Parameters
    ----------
    function : callable
        Top-level function of one argument (or a :func:`functools.partial` of one).
    items : sequence
    scheduler : str in SCHEDULERS or Scheduler
    workers : int >= 1, optional
        Processes of the pool or of the local Dask cluster.
    address : str, optional
        Address of a running Dask scheduler.
    progress : bool
        Dask's progress bar (``"dask"`` only).

    Yields
    ------
    (int, object)
    """
    scheduler = check_scheduler(scheduler)
    if isinstance(scheduler, Scheduler):
        yield from scheduler.map_unordered(function, items, progress=progress)
        return
    with Scheduler(scheduler, workers=workers, address=address) as owned:
        yield from owned.map_unordered(function, items, progress=progress)


def map_ordered(function, items, **options):
    """``[function(item) for item in items]``, computed on a scheduler (see :func:`map_unordered`)."""
    items = list(items)
    results = [None] * len(items)
    for index, result in map_unordered(function, items, **options):
        results[index] = result
    return results


def make_scheduler(scheduler=None, *, workers=None, address=None):
    """The scheduler a command line asks for: a name for ``"process"``, else a :class:`Scheduler`.

    Parameters
    ----------
    scheduler : str in SCHEDULERS or Scheduler, optional
        Default: ``"dask"`` with an ``address``, else ``"process"`` for one worker and the
        pool for more.
    workers : int >= 1, optional
    address : str, optional
        Address of a running Dask scheduler.

    Returns
    -------
    str or Scheduler
        ``scheduler`` itself if it is a :class:`Scheduler`. Close a new one when done (it is a
        context manager).
    """
    if isinstance(scheduler, Scheduler):
        return scheduler
    if address is not None:
        return Scheduler(scheduler or "dask", address=address)
    if scheduler is None:
        scheduler = "process" if (workers or 1) == 1 else DEFAULT_PARALLEL
    return scheduler if scheduler == "process" else Scheduler(scheduler, workers=workers)


def add_scheduler_arguments(parser):
    """Add ``--scheduler``, ``--workers`` and ``--dask-address`` to an argparse parser."""
    parser.add_argument("--scheduler", choices=SCHEDULERS, default=None,
                        help="where tasks run: this process, a local process pool, or Dask "
                             "(default: process for 1 worker, pool for more; dask with --dask-address)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="worker processes of the pool or of the local Dask cluster (default 1)")
    parser.add_argument("--dask-address", default=None,
                        help="address of a running Dask scheduler (tcp://host:8786); "
                             "without it, --scheduler dask starts a local cluster of --workers processes")


def scheduler_from_arguments(parser, args):
    """:func:`make_scheduler` for the arguments of :func:`add_scheduler_arguments`; bad combinations
    end in ``parser.error``."""
    if args.dask_address and args.scheduler not in (None, "dask"):
        parser.error(f"--dask-address needs --scheduler dask, not {args.scheduler}")
    if args.dask_address and args.workers:
        parser.error("--workers sets the size of a local cluster; the cluster at --dask-address has its own")
    return make_scheduler(args.scheduler, workers=args.workers, address=args.dask_address)
