"""Data root resolution and missing-asset errors."""

import pytest

from refzsl import config
from refzsl.exceptions import MissingAssetError


def test_override_wins_over_environment(tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(config.DATA_ROOT_ENV, str(other))
    assert config.data_root(tmp_path) == tmp_path
    assert config.data_root() == other


def test_no_data_root_names_the_variable(monkeypatch):
    monkeypatch.delenv(config.DATA_ROOT_ENV, raising=False)
    with pytest.raises(MissingAssetError, match="REFZSL_DATA"):
        config.data_root()


def test_data_root_that_is_not_a_folder(tmp_path):
    with pytest.raises(MissingAssetError, match="not a folder"):
        config.data_root(tmp_path / "absent")


def test_missing_asset_names_path_and_how_to_obtain(tmp_path):
    with pytest.raises(MissingAssetError) as excinfo:
        config.asset_path("vggish", root=tmp_path)  # not shipped with the package
    message = str(excinfo.value)
    assert str(tmp_path / "models" / "vggish.tflite") in message
    assert "To obtain it" in message


def test_present_asset(tmp_path):
    path = tmp_path / "vggish" / "vggish_pca_params.npz"
    path.parent.mkdir()
    path.write_bytes(b"")
    assert config.asset_path("vggish_pca", root=tmp_path) == path


def test_unknown_asset_lists_known_names(tmp_path):
    with pytest.raises(KeyError, match="word2vec"):
        config.asset_path("word2vecc", root=tmp_path)


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    assert config.cache_dir() == tmp_path / "cache"
    assert (tmp_path / "cache").is_dir()
