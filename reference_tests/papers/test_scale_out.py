"""Real ESC-50 clips through YAMNet under every scheduler: bitwise identical embeddings and manifests.

16 clips: ESC-50's odd ones (a 48 kHz clip, a stereo clip, the five that are not 5 s long)
and nine spread over the folds. One process, the local pool (2 workers) and Dask (1 and 2
local workers, features in memory and as shards) must give the same bytes, with no cache,
so that every scheduler really computes. Runtime: about 1 min on 2 quiet cores.
"""

import json

import numpy as np
import pytest
import soundfile

from refzsl.acoustic.extraction import extract_files
from refzsl.acoustic.scheduling import Scheduler
from refzsl.acoustic.shards import extract_sharded
from refzsl.datasets.esc50 import ESC50

ODD_LENGTHS = ("1-17808-B", "1-172649-F", "5-177957-A", "4-163264-A", "4-164661-B")  # + "-{target}"

pytestmark = pytest.mark.assets


@pytest.fixture(scope="module")
def clips(data_root):
    dataset = ESC50(data_root)
    by_stem = dict(zip(dataset.clip_ids, dataset.paths))
    chosen = [stem for stem in dataset.clip_ids if stem.rsplit("-", 1)[0] in ODD_LENGTHS]
    for wanted in (lambda info: info.samplerate == 48000, lambda info: info.channels == 2):
        chosen.append(next(stem for stem, path in by_stem.items() if wanted(soundfile.info(path))))
    chosen += [stem for stem in dataset.clip_ids[::100] if stem not in chosen][:16 - len(chosen)]
    assert len(chosen) == 16 and len(set(chosen)) == 16
    return [by_stem[stem] for stem in chosen], chosen


def as_bytes(features):
    return (features.clip_embeddings.tobytes(), [s.tobytes() for s in features.segment_embeddings],
            [s.tobytes() for s in features.segment_scores], json.dumps(features.manifest, sort_keys=True))


def test_every_scheduler_gives_the_same_bytes(clips, data_root, tmp_path):
    pytest.importorskip("distributed")
    paths, clip_ids = clips
    options = dict(clip_ids=clip_ids, embedder="yamnet", root=data_root, cache=False, batch_mb=0.5)
    reference = extract_files(paths, **options)
    assert len(reference) == 16 and sum(reference.manifest["segment_counts"]) > 16 * 8
    expected = as_bytes(reference)
    assert as_bytes(extract_files(paths, scheduler="pool", workers=2, **options)) == expected
    for workers in (1, 2):
        with Scheduler("dask", workers=workers) as scheduler:
            assert as_bytes(extract_files(paths, scheduler=scheduler, **options)) == expected, workers
            sharded = extract_sharded(paths, tmp_path / f"dask{workers}", scheduler=scheduler, **options)
            assert len(sharded.shards) > 2
            assert as_bytes(sharded.to_features()) == expected, workers
    assert (tmp_path / "dask1" / "manifest.json").read_bytes() == (tmp_path / "dask2" / "manifest.json").read_bytes()
    np.testing.assert_array_equal(reference.clip_embeddings, sharded.clip_embeddings)
