"""The shipped ESC-50 feature pack rebuilt from the audio gives the same numbers (the checks that need no
audio are in ``unit/test_esc50_pack_checks.py``)."""

import numpy as np
import pytest

from refzsl.datasets.pack import build_pack, load_pack

N_REBUILT = 60  # clips re-extracted from the audio (CI budget: ~1 s each on 2 cores)


@pytest.fixture(scope="module")
def pack():
    return load_pack()  # verifies every array against the manifest's sha256


@pytest.mark.assets
def test_rebuilding_clips_from_the_audio_reproduces_the_pack(pack, data_root, tmp_path):
    # Clips spread over classes and folds, including the ones with quirks (48 kHz, stereo, not 5 s long).
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(pack.clip_ids, size=N_REBUILT - 3, replace=False).tolist())
    chosen |= {"1-17808-B-12", "4-164661-B-12", "5-177957-A-40"}
    chosen &= set(pack.clip_ids.tolist())
    rebuilt = build_pack(root=data_root, clip_ids=sorted(chosen), cache=tmp_path / "cache")
    index = {clip: i for i, clip in enumerate(pack.clip_ids)}
    rows = [index[clip] for clip in rebuilt.clip_ids]
    assert len(rows) >= 50
    assert np.array_equal(rebuilt.targets, pack.targets[rows])
    assert np.max(np.abs(rebuilt.clip_embeddings - pack.clip_embeddings[rows])) <= 1e-4
    if pack.clip_scores is not None:
        assert np.max(np.abs(rebuilt.clip_scores - pack.clip_scores[rows])) <= 1e-4
    for recipe, vectors in pack.class_vectors.items():
        assert np.max(np.abs(rebuilt.class_vectors[recipe] - vectors)) <= 1e-6, recipe
    assert rebuilt.manifest["dataset"]["meta_sha256"] == pack.manifest["dataset"]["meta_sha256"]
    for clip in rebuilt.clip_ids:
        assert rebuilt.manifest["dataset"]["audio_sha256_per_clip"][clip] == \
            pack.manifest["dataset"]["audio_sha256_per_clip"][clip]


@pytest.mark.assets
@pytest.mark.parametrize("clip_ids, message", [
    (["1-100032-A-0", "9-nope-A-0"], r"Unknown ESC-50 clip ids \['9-nope-A-0'\] \(1 in all\)"),
    (["1-100032-A-0", "1-100032-A-0"], r"Repeated clip ids \['1-100032-A-0'\]"),
])
def test_build_pack_names_bad_clip_ids(data_root, clip_ids, message):
    with pytest.raises(ValueError, match=message):
        build_pack(root=data_root, clip_ids=clip_ids)
