"""refzsl.acoustic.scheduling and sharded output: one task function in this process, on the pool and on Dask.

A stand-in embedder (a fixed random projection of the patches) replaces the TFLite models:
these tests check the scheduling machinery, that every scheduler gives bitwise identical
features and manifests, the failure semantics (bad files, killed workers, resumption) and
the sharded output with its lazy reader.
"""

import json
import os
import signal
import threading
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from refzsl.acoustic.extraction import Features, extract_files
from refzsl.acoustic.scheduling import (DEFAULT_PARALLEL, Scheduler, WorkerLocal, _probe_folder, _raise_unshared,
                                        make_scheduler, map_ordered, map_unordered, plan_batches)
from refzsl.acoustic.shards import ShardedFeatures, extract_sharded, load_features
from refzsl.exceptions import AudioError, OutputError, SharedPathError
from refzsl.extract import main

from test_extract import StandInEmbedder, write_tone


class LoggingEmbedder(StandInEmbedder):
    """The stand-in, appending one line per clip it embeds to ``log`` (visible from any worker process)."""

    def __init__(self, log, *, seconds_per_clip=0.0):
        super().__init__()
        self.log, self.seconds_per_clip = str(log), seconds_per_clip

    def run(self, patches):
        time.sleep(self.seconds_per_clip)
        with open(self.log, "a") as stream:
            stream.write(f"{os.getpid()}\n")
        return super().run(patches)


def embedded(log):
    return len(Path(log).read_text().splitlines()) if Path(log).exists() else 0


def square(value, *, offset=0):
    return value * value + offset


def worker_pid(_):
    return os.getpid()


@pytest.fixture(scope="module")
def dask_scheduler():
    """A local Dask cluster of 2 workers, shared by the tests of this module (it takes seconds to start)."""
    pytest.importorskip("distributed")
    with Scheduler("dask", workers=2) as scheduler:
        yield scheduler


@pytest.fixture(scope="module")
def pool_scheduler():
    """A local pool of 2 processes, shared by the tests of this module."""
    with Scheduler("pool", workers=2) as scheduler:
        yield scheduler


@pytest.fixture
def schedulers(pool_scheduler, dask_scheduler):
    return {"process": "process", "pool": pool_scheduler, "dask": dask_scheduler}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Twelve clips of different lengths, rates and channel counts; one shorter than a patch."""
    folder = tmp_path_factory.mktemp("corpus")
    clips = [write_tone(folder / f"clip{index:02d}.wav", frequency_hz=150 + 170 * index, seconds=1.0 + 0.4 * index,
                        rate_hz=(16000, 44100, 22050)[index % 3], channels=1 + index % 2) for index in range(11)]
    clips.insert(5, write_tone(folder / "short.wav", seconds=0.5))
    return clips


def test_plan_batches_sizes_order_and_large_items():
    assert plan_batches([3, 3, 3, 10, 1], 6) == [range(0, 2), range(2, 3), range(3, 4), range(4, 5)]
    assert plan_batches([], 6) == []
    assert plan_batches([0, 0, 0], 1) == [range(0, 3)]
    sizes = np.random.default_rng(0).integers(0, 100, 200)
    batches = plan_batches(sizes, 250)
    assert [index for batch in batches for index in batch] == list(range(200))
    assert all(sum(sizes[list(batch)]) <= 250 for batch in batches if len(batch) > 1)
    with pytest.raises(ValueError, match="max_bytes must be > 0, got 0"):
        plan_batches([1], 0)
    with pytest.raises(ValueError, match="sizes must be >= 0, got -1 at index 1"):
        plan_batches([1, -1], 5)


def test_worker_local_unpickles_once_per_thread():
    import pickle

    value = {"big": list(range(10))}
    local = WorkerLocal(value)
    assert local.get() is value  # the original, in the process that made it
    copy = pickle.loads(pickle.dumps(local))
    again = pickle.loads(pickle.dumps(local))
    assert copy.get() == value and copy.get() is not value
    assert again.get() is copy.get()  # one object per token and thread
    seen = []
    thread = threading.Thread(target=lambda: seen.append(pickle.loads(pickle.dumps(local)).get()))
    thread.start()
    thread.join()
    assert seen[0] == value and seen[0] is not copy.get()


@pytest.mark.parametrize("kind", ["process", "pool", "dask"])
def test_generic_map_in_order_on_every_scheduler(kind, schedulers):
    function = partial(square, offset=1)
    assert map_ordered(function, range(7), scheduler=schedulers[kind]) == [value * value + 1 for value in range(7)]
    pairs = list(map_unordered(function, [3, 4], scheduler=schedulers[kind]))
    assert sorted(pairs) == [(0, 10), (1, 17)]


def test_one_call_map_starts_and_stops_its_pool():
    assert map_ordered(square, [2, 3], scheduler="pool", workers=2) == [4, 9]


def test_pool_and_dask_run_in_other_processes(schedulers):
    assert set(map_ordered(worker_pid, range(4), scheduler="process")) == {os.getpid()}
    assert os.getpid() not in map_ordered(worker_pid, range(4), scheduler=schedulers["pool"])
    assert os.getpid() not in map_ordered(worker_pid, range(4), scheduler=schedulers["dask"])


def thread_settings(_):
    return os.environ.get("OMP_NUM_THREADS"), os.environ.get("NUMBA_NUM_THREADS")


def test_workers_run_single_threaded(schedulers):
    """The workers are the parallelism: BLAS, OpenMP and numba threads in each would oversubscribe the cores."""
    for kind in ("pool", "dask"):
        assert set(map_ordered(thread_settings, range(4), scheduler=schedulers[kind])) == {("1", "1")}, kind
    assert set(map_ordered(thread_settings, range(2), scheduler="pool", workers=2)) == {("1", "1")}


def test_task_errors_reach_the_caller(schedulers):
    for scheduler in schedulers.values():
        with pytest.raises(TypeError):
            map_ordered(square, ["a", "b"], scheduler=scheduler)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"kind": "cluster"}, ValueError, "Unknown scheduler 'cluster'; choose one of process, pool, dask"),
    ({"kind": 3}, TypeError, "scheduler must be one of"),
    ({"kind": "pool", "address": "tcp://x:1"}, ValueError, "address applies to the dask scheduler only"),
    ({"kind": "dask", "address": "tcp://x:1", "workers": 2}, ValueError, "workers applies to a local cluster"),
    ({"kind": "pool", "workers": 0}, ValueError, "workers must be >= 1, got 0"),
])
def test_scheduler_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        Scheduler(**kwargs)


def test_make_scheduler_defaults():
    assert make_scheduler() == "process" and make_scheduler(workers=1) == "process"
    pool = make_scheduler(workers=3)
    assert (pool.kind, pool.workers) == (DEFAULT_PARALLEL, 3) == ("pool", 3)
    remote = make_scheduler(address="tcp://host:8786")
    assert (remote.kind, remote.address) == ("dask", "tcp://host:8786")
    assert make_scheduler(remote) is remote
    assert make_scheduler("dask", workers=2).workers == 2  # nothing starts before first use


def test_every_scheduler_gives_identical_features_and_manifests(corpus, tmp_path, schedulers):
    reference = extract_files(corpus, embedder=StandInEmbedder(), cache=False, batch_mb=0.15)
    assert len(reference) == 12 and reference.manifest["failed"] == []
    for name, scheduler in schedulers.items():
        for batch_mb in (0.15, 1.0):
            got = extract_files(corpus, embedder=StandInEmbedder(), cache=tmp_path / f"cache-{name}",
                                batch_mb=batch_mb, scheduler=scheduler)
            assert got.clip_ids == reference.clip_ids, name
            assert got.clip_embeddings.tobytes() == reference.clip_embeddings.tobytes(), name
            for ours, theirs in zip(got.segment_embeddings + got.segment_scores,
                                    reference.segment_embeddings + reference.segment_scores):
                assert ours.tobytes() == theirs.tobytes(), name
            assert json.dumps(got.manifest, sort_keys=True) == json.dumps(reference.manifest, sort_keys=True), name
        folder = tmp_path / f"shards-{name}"
        sharded = extract_sharded(corpus, folder, embedder=StandInEmbedder(), cache=False, batch_mb=0.15,
                                  scheduler=scheduler)
        merged = sharded.to_features()
        assert merged.clip_embeddings.tobytes() == reference.clip_embeddings.tobytes(), name
        assert all(a.tobytes() == b.tobytes() for a, b in zip(merged.segment_scores, reference.segment_scores))
        assert merged.manifest == reference.manifest
    manifests = {(tmp_path / f"shards-{name}" / "manifest.json").read_bytes() for name in schedulers}
    assert len(manifests) == 1  # the manifest files are byte for byte the same


def test_sharded_output_is_lazy_and_complete(corpus, tmp_path):
    reference = extract_files(corpus, embedder=StandInEmbedder(), cache=False)
    quarter_mb = sum(path.stat().st_size for path in corpus) / 4 / 2 ** 20
    sharded = extract_sharded(corpus, tmp_path / "out", embedder=StandInEmbedder(), cache=False,
                              batch_mb=quarter_mb)
    files = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert files == ["manifest.json"] + sorted(shard["file"] for shard in sharded.shards)
    assert 4 <= len(sharded.shards) < len(corpus)
    assert len(sharded) == 12 and sharded.clip_ids == reference.clip_ids
    np.testing.assert_array_equal(sharded.clip_embeddings, reference.clip_embeddings)
    counts = [len(shard) for shard in sharded.iter_shards()]
    assert counts == [shard["n_clips"] for shard in sharded.shards] and sum(counts) == 12
    assert isinstance(sharded.load_shard(0), Features)
    assert isinstance(load_features(tmp_path / "out"), ShardedFeatures)
    reference.save(tmp_path / "one.npz")
    assert isinstance(load_features(tmp_path / "one.npz"), Features)
    # A rerun with other batches replaces the shards of the first run.
    again = extract_sharded(corpus, tmp_path / "out", embedder=StandInEmbedder(), cache=False, batch_mb=100)
    assert len(again.shards) == 1 and len(list((tmp_path / "out").glob("shard-*.npz"))) == 1
    np.testing.assert_array_equal(again.clip_embeddings, reference.clip_embeddings)


def test_sharded_output_refuses_a_foreign_folder(corpus, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(OutputError, match="thesis.tex"):
        extract_sharded(corpus[:2], tmp_path / "mine", embedder=StandInEmbedder(), cache=False)
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        ShardedFeatures(tmp_path / "mine")
    out = tmp_path / "out"
    extract_sharded(corpus[:2], out, embedder=StandInEmbedder(), cache=False)
    next(out.glob("shard-*.npz")).unlink()
    with pytest.raises(ValueError, match="lacks 1 shard"):
        ShardedFeatures(out)


def test_cli_refuses_a_sharded_output_before_any_work(corpus, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    for output, message in [(tmp_path / "mine", "thesis.tex"), (tmp_path / "notes.txt", "is a file")]:
        with pytest.raises(SystemExit) as exit_info:  # the model path is absent: refused before it is needed
            main([str(corpus[0]), "-o", str(output), "--model-path", str(tmp_path / "absent.tflite"), "--no-cache"])
        assert exit_info.value.code == 7
        assert message in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "x" and not list((tmp_path / "mine").glob("shard-*"))


def test_a_damaged_cache_entry_found_by_a_worker_is_recomputed_with_a_warning(corpus, tmp_path, schedulers):
    cache = tmp_path / "cache"
    reference = extract_files(corpus[:3], embedder=StandInEmbedder(), cache=cache)
    entry = sorted(cache.rglob("*.v2.npy"))[0]
    entry.write_bytes(entry.read_bytes()[:-1] + b"x")  # one flipped checksum byte
    with pytest.warns(UserWarning, match="is damaged .checksum mismatch.; recomputed"):
        again = extract_files(corpus[:3], embedder=StandInEmbedder(), cache=cache, scheduler=schedulers["pool"])
    assert again.clip_embeddings.tobytes() == reference.clip_embeddings.tobytes()
    embedder = StandInEmbedder()
    extract_files(corpus[:3], embedder=embedder, cache=cache)  # the worker rewrote it whole: trusted again
    assert embedder.calls == 0


@pytest.mark.parametrize("kind", ["process", "pool", "dask"])
def test_a_bad_file_is_skipped_and_listed(kind, corpus, tmp_path, schedulers):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    clips = corpus[:3] + [bad] + corpus[3:6]
    options = dict(embedder=StandInEmbedder(), cache=False, on_error="skip", batch_mb=0.3, scheduler=schedulers[kind])
    with pytest.warns(UserWarning, match="skipped 'bad'.*bad.wav"):
        features = extract_files(clips, **options)
    assert len(features) == 6 and "bad" not in features.clip_ids
    (failure,) = features.manifest["failed"]
    assert failure["clip_id"] == "bad" and failure["path"] == str(bad) and "bad.wav" in failure["error"]
    with pytest.warns(UserWarning, match="skipped 'bad'"):
        sharded = extract_sharded(clips, tmp_path / "out", **options)
    assert sharded.index["failed"] == features.manifest["failed"] and len(sharded) == 6
    options["on_error"] = "raise"
    with pytest.raises(AudioError, match="bad.wav"):
        extract_files(clips, **options)


def test_worker_warnings_reach_the_caller(corpus, schedulers):
    for scheduler in schedulers.values():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            extract_files(corpus[4:7], embedder=StandInEmbedder(), cache=False, scheduler=scheduler)
        assert any("short.wav" in str(warning.message) and "zero-padded" in str(warning.message)
                   for warning in caught), scheduler


def test_a_rerun_after_interruption_computes_only_what_is_missing(corpus, tmp_path, schedulers):
    cache, log = tmp_path / "cache", tmp_path / "embedded.log"
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio")
    # Interrupted: the run stops at the broken file (on_error="raise"), 5 clips are done.
    with pytest.raises(AudioError, match="broken.wav"):
        extract_files(corpus[:5] + [bad] + corpus[5:], embedder=LoggingEmbedder(log), cache=cache,
                      batch_mb=1000, scheduler=schedulers["dask"])
    assert embedded(log) == 5 == len(list(cache.rglob("*.npy")))
    features = extract_files(corpus, embedder=LoggingEmbedder(log), cache=cache, scheduler=schedulers["dask"],
                             batch_mb=0.1)
    assert embedded(log) == 12 and len(features) == 12  # the 7 missing clips only
    extract_sharded(corpus, tmp_path / "out", embedder=LoggingEmbedder(log), cache=cache,
                    scheduler=schedulers["pool"])
    assert embedded(log) == 12


def test_killed_worker_tasks_are_retried_and_results_unchanged(corpus, tmp_path):
    """SIGKILL one of two local Dask workers mid-run: every clip comes back, equal to an uninterrupted run."""
    pytest.importorskip("distributed")
    reference = extract_files(corpus, embedder=StandInEmbedder(), cache=False)
    cache, log = tmp_path / "cache", tmp_path / "embedded.log"
    killed = {}
    with Scheduler("dask", workers=2) as scheduler:
        pids = scheduler.client.run(os.getpid)
        victim = max(pids.values())

        def kill_when_three_are_cached():
            deadline = time.monotonic() + 120
            while embedded(log) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            killed["done_before"] = embedded(log)
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_when_three_are_cached)
        killer.start()
        features = extract_files(corpus, embedder=LoggingEmbedder(log, seconds_per_clip=0.3), cache=cache,
                                 batch_mb=0.01, scheduler=scheduler)  # one clip per task
        killer.join()
        assert victim not in scheduler.client.run(os.getpid).values()  # the nanny started a new worker
    assert 3 <= killed["done_before"] < len(corpus)
    assert features.clip_ids == reference.clip_ids
    assert features.clip_embeddings.tobytes() == reference.clip_embeddings.tobytes()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(features.segment_embeddings, reference.segment_embeddings))


def test_shared_folder_check(tmp_path, dask_scheduler):
    dask_scheduler.check_shared_folder(tmp_path / "cache")  # a local cluster sees it
    assert not [path for path in (tmp_path / "cache").iterdir()]  # no probe file is left behind
    (tmp_path / "probe").write_text("token")
    assert _probe_folder(str(tmp_path), "probe", "token") is None
    assert "no folder" in _probe_folder(str(tmp_path / "elsewhere"), "probe", "token")
    assert "not the client's folder" in _probe_folder(str(tmp_path), "absent", "token")
    with pytest.raises(SharedPathError) as caught:
        _raise_unshared(tmp_path, "cache", {"tcp://10.0.0.1:3": None, "tcp://10.0.0.2:4": "node2: no folder '/x'"})
    assert "not shared with 1 of 2 Dask workers: tcp://10.0.0.2:4 (node2: no folder '/x')" in str(caught.value)
    assert caught.value.workers == ["tcp://10.0.0.2:4"]


def test_cli_sharded_output_on_dask_equals_one_file_in_process(corpus, tmp_path, capsys, fixtures_dir,
                                                               dask_scheduler):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"junk")
    common = [str(corpus[0].parent), str(bad), "--embedder", "vggish", "--model-path",
              str(fixtures_dir / "vggish_tiny.tflite"), "--quiet"]
    code = main(common + ["-o", str(tmp_path / "features"), "--cache-dir", str(tmp_path / "cache"),
                          "--scheduler", "dask", "--dask-address", dask_scheduler.client.scheduler.address,
                          "--batch-mb", "0.2"])
    assert code == 4  # a file was skipped: the exit code of an audio file that cannot be used
    err = capsys.readouterr().err
    assert "12 clips" in err and "1 failed" in err and "'failed'" in err
    assert "warning: skipped 'bad'" in err  # the command prints warnings as one line each
    assert main(common + ["-o", str(tmp_path / "one.npz"), "--no-cache"]) == 4
    assert "warning: skipped 'bad'" in capsys.readouterr().err
    sharded, single = ShardedFeatures(tmp_path / "features"), Features.load(tmp_path / "one.npz")
    assert len(sharded.shards) > 1 and sharded.manifest == single.manifest
    assert sharded.clip_embeddings.tobytes() == single.clip_embeddings.tobytes()


@pytest.mark.parametrize("argv, message", [
    (["a.wav", "-o", "x", "--scheduler", "pool", "--dask-address", "tcp://h:1"], "needs --scheduler dask"),
    (["a.wav", "-o", "x", "--dask-address", "tcp://h:1", "--workers", "2"], "has its own"),
    (["a.wav", "-o", "x", "--scheduler", "spark"], "invalid choice"),
    (["a.wav", "-o", "x", "--batch-mb", "0"], "must be a finite number > 0"),
])
def test_cli_rejects_bad_scheduler_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err
