"""The shipped ESC-50 feature pack: intact, documented, and refused when broken (no assets needed)."""

import numpy as np
import pytest

from refzsl.datasets.pack import PACK_PATH, PACK_RECIPES, load_pack
from refzsl.audio.params import YAMNET

@pytest.fixture(scope="module")
def pack():
    return load_pack()  # verifies every array against the manifest's sha256


def test_pack_is_small_complete_and_documented(pack):
    assert PACK_PATH.stat().st_size <= 10 * 1024 * 1024
    assert pack.clip_embeddings.shape == (2000, 1024) and pack.clip_embeddings.dtype == np.float32
    assert pack.clip_scores is None or pack.clip_scores.shape == (2000, 521)
    assert np.bincount(pack.targets).tolist() == [40] * 50
    assert sorted(pack.class_vectors) == sorted(PACK_RECIPES)
    assert {name: v.shape[1] for name, v in pack.class_vectors.items()} == {"WLE": 300, "GLE": 50, "WLE+GLE": 350}
    manifest = pack.manifest
    assert "CC BY-NC 3.0" in manifest["licence"]
    assert manifest["acoustic"]["extraction"]["model_sha256"] == \
        "8eec7358c3f55ada644e036791dfad6dfc8e87a2781d461233b6d8645c74ff3c"
    assert manifest["acoustic"]["extraction"]["front_end"] == YAMNET.as_dict()
    assert len(manifest["dataset"]["audio_sha256_per_clip"]) == 2000
    assert set(manifest["semantic"]["vector_files"]) == {"word2vec", "glove"}


def test_corrupted_pack_is_refused(pack, tmp_path):
    path = tmp_path / "pack.npz"
    pack.save(path)
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["clip_embeddings"][3, 7] += 1e-3
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="'clip_embeddings'.*does not match the sha256"):
        load_pack(path)


def _tiny_pack(pack, n=20):
    return pack.subset(np.arange(n))


@pytest.mark.parametrize("edit, message", [
    (lambda p: setattr(p, "targets", p.targets[:-1]), "'targets' has shape"),
    (lambda p: setattr(p, "clip_embeddings", p.clip_embeddings.astype(np.float64)), "expected float32"),
    (lambda p: p.clip_embeddings.__setitem__((0, 0), np.nan), "NaN or Inf"),
    (lambda p: p.class_vectors.__setitem__("WLE", p.class_vectors["WLE"][:49]), "Class vectors 'WLE'"),
    (lambda p: p.targets.__setitem__(0, 50), "targets outside 0..49"),
])
def test_inconsistent_pack_is_refused(pack, edit, message):
    broken = _tiny_pack(pack)
    broken.clip_embeddings = broken.clip_embeddings.copy()
    broken.targets = broken.targets.copy()
    edit(broken)
    with pytest.raises(ValueError, match=message):
        broken.check()


def test_missing_pack_files_are_named(pack, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_pack(tmp_path / "nowhere.npz")
    path = tmp_path / "tiny.npz"
    _tiny_pack(pack).save(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="tiny.json"):
        load_pack(path)
