"""refzsl classify --timeline: a ranking per window of a long recording."""

import csv
import io
import json

import numpy as np
import pytest

from refzsl import cli
from refzsl.acoustic.extraction import Features
from refzsl.acoustic.timeline import window_features
from refzsl.audio.params import YAMNET

from test_extract import write_tone


def _features(n_segments=9, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    segments = rng.normal(size=(n_segments, dim)).astype(np.float32)
    scores = rng.uniform(size=(n_segments, 3)).astype(np.float32)
    return Features(clip_ids=["clip"], clip_embeddings=segments.mean(axis=0, keepdims=True),
                    segment_embeddings=[segments], segment_scores=[scores])


def test_windows_pool_the_segments_they_start_in():
    features = _features()
    (windows,) = window_features(features, YAMNET, window_seconds=0.96)
    segments = features.segment_embeddings[0]
    np.testing.assert_allclose(windows.starts, [0.0, 0.96, 1.92, 2.88, 3.84])
    np.testing.assert_allclose(windows.ends, [0.96, 1.92, 2.88, 3.84, 4.80])  # 9 patches: the last ends at 4.8 s
    np.testing.assert_allclose(windows.features.clip_embeddings[1], segments[2:4].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(windows.features.segment_scores[4], features.segment_scores[0][8:9])
    (one,) = window_features(features, YAMNET, window_seconds=100.0)
    np.testing.assert_allclose(one.features.clip_embeddings, features.clip_embeddings, rtol=1e-6)
    (each,) = window_features(features, YAMNET, window_seconds=0.48)
    assert len(each.starts) == 9


@pytest.mark.parametrize("seconds", [0.1, 0.47, float("nan"), float("inf")])
def test_windows_shorter_than_the_hop_are_refused(seconds):
    with pytest.raises(ValueError, match="patch hop"):
        window_features(_features(), YAMNET, window_seconds=seconds)


def test_cli_refuses_a_short_timeline_window(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["classify", "x.wav", "--labels", "dog, rain", "--timeline", "0.2"])
    assert exit_info.value.code == 2
    assert "--timeline 0.2: a window must be at least the patch hop" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["classify", "x.wav", "--labels", "a, b", "--json", "--csv"])
    assert cli.build_parser().parse_args(["classify", "x.wav", "--labels", "a, b", "--timeline"]).timeline == 0.96


@pytest.mark.assets
def test_timeline_json_csv_and_one_window_equals_the_clip(data_root, tmp_path, capsys):
    clip = write_tone(tmp_path / "clip.wav", seconds=6.0, frequency_hz=700)
    base = ["classify", str(clip), "--labels", "dog, rain, siren", "--method", "bilinear",
            "--data-root", str(data_root)]
    assert cli.main(base + ["--json"]) == 0
    whole = json.loads(capsys.readouterr().out)["results"][0]["ranking"]
    assert cli.main(base + ["--json", "--timeline"]) == 0
    result = json.loads(capsys.readouterr().out)
    timeline = result["results"][0]["timeline"]
    assert result["window_seconds"] == 0.96 and len(timeline) == 6
    assert [window["start"] for window in timeline] == [0.0, 0.96, 1.92, 2.88, 3.84, 4.8]
    assert all(len(window["ranking"]) == 3 and np.isfinite([e["score"] for e in window["ranking"]]).all()
               for window in timeline)
    assert cli.main(base + ["--json", "--timeline", "60"]) == 0
    (single,) = json.loads(capsys.readouterr().out)["results"][0]["timeline"]
    assert [entry["label"] for entry in single["ranking"]] == [entry["label"] for entry in whole]
    np.testing.assert_allclose([e["score"] for e in single["ranking"]], [e["score"] for e in whole], atol=1e-5)
    assert cli.main(base + ["--csv", "--timeline", "2", "--top", "1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["start"] for row in rows] == ["0.000", "2.000", "4.000"]
    assert all(row["rank"] == "1" and row["file"] == str(clip) for row in rows)
    assert cli.main(base + ["--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "file,rank,label,score"
