"""Files shipped in the package: manifest, licences, the data-root fallback, wheel globs, user-facing wording."""

import glob
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

from refzsl import config
from refzsl.exceptions import MissingAssetError

REPO = Path(__file__).resolve().parents[2]
MANIFEST = config.PACKAGE_DATA / "MANIFEST.json"


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_shipped_file_matches_the_manifest_and_has_a_licence():
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    shipped = {str(path.relative_to(config.PACKAGE_DATA)) for path in config.SHIPPED_ASSETS.rglob("*")
               if path.is_file()}
    listed = {name for name in manifest["files"] if name.startswith("assets/")}
    assert shipped == listed
    licences = (config.PACKAGE_DATA / "LICENSES.md").read_text(encoding="utf-8")
    for name, entry in manifest["files"].items():
        path = config.PACKAGE_DATA / name
        assert path.stat().st_size == entry["bytes"], name
        assert _sha256(path) == entry["sha256"], name
        assert entry["licence"] and entry["source"], name
        row = "`assets/sentence/all-MiniLM-L6-v2/*`" if name.startswith("assets/sentence/") else f"`{name}`"
        assert row in licences, f"{name} has no row in LICENSES.md"


def test_shipped_assets_stay_small():
    total = sum(path.stat().st_size for path in config.SHIPPED_ASSETS.rglob("*") if path.is_file())
    assert total < 30 * 2 ** 20, f"{total / 2 ** 20:.1f} MiB shipped in {config.SHIPPED_ASSETS}"


def test_wheel_globs_cover_every_data_file():
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["package-data"]["refzsl"]
    package = config.PACKAGE_DATA.parent
    # setuptools expands package-data patterns with glob(recursive=True) relative to the package
    covered = {name for pattern in patterns for name in glob.glob(pattern, root_dir=package, recursive=True)}
    uncovered = [str(path.relative_to(package)) for path in config.PACKAGE_DATA.rglob("*")
                 if path.is_file() and "__pycache__" not in path.parts
                 and str(path.relative_to(package)) not in covered]
    assert not uncovered, f"not in the wheel: {uncovered[:5]}"


def test_the_data_root_wins_and_the_package_fills_gaps(tmp_path, monkeypatch):
    monkeypatch.delenv(config.DATA_ROOT_ENV, raising=False)
    assert config.asset_path("yamnet") == config.SHIPPED_ASSETS / "models" / "yamnet.tflite"
    (tmp_path / "models").mkdir()
    own = tmp_path / "models" / "yamnet.tflite"
    own.write_bytes(b"mine")
    assert config.asset_path("yamnet", root=tmp_path) == own
    assert config.asset_path("word2vec", root=tmp_path) == config.shipped_asset("word2vec")
    monkeypatch.setenv(config.DATA_ROOT_ENV, str(tmp_path))
    assert config.asset_path("yamnet") == own


def test_an_asset_nobody_has_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(config.DATA_ROOT_ENV, raising=False)
    with pytest.raises(MissingAssetError, match=r"no data root is set .* To obtain it: .*vggish_model\.ckpt"):
        config.asset_path("vggish")
    with pytest.raises(MissingAssetError, match=r"looked for .*audioset.*ontology\.json"):
        config.asset_path("audioset_ontology", root=tmp_path)
    with pytest.raises(MissingAssetError, match="is not a folder"):
        config.asset_path("yamnet", root=tmp_path / "nowhere")


def _user_facing_files():
    package = config.PACKAGE_DATA.parent  # the installed package (a wheel's, in CI's fresh-install run)
    files = [path for path in package.rglob("*") if path.suffix in (".py", ".md", ".json", ".txt")
             and "__pycache__" not in path.parts and path.name != "vocab.txt"]
    files += [path for folder in ("tools", "benchmarks") for path in (REPO / folder).rglob("*.py")]
    return files


def test_no_message_or_doc_points_users_at_the_ci_data_folder():
    # The CI's data folder is not something users can get: refzsl must never send them there.
    pattern = re.compile(r"shared/assets|\.\./shared")
    offenders = [str(path) for path in _user_facing_files()
                 if pattern.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders


def test_the_readme_does_not_point_users_at_the_ci_data_folder():
    assert not re.search(r"shared/assets|\.\./shared", (REPO / "README.md").read_text(encoding="utf-8"))


def test_build_tool_check_passes_on_the_shipped_files():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import build_package_data
    finally:
        sys.path.remove(str(REPO / "tools"))
    assert build_package_data.check() == []
    pinned = {name: spec[2] for name, spec in build_package_data.FILES.items() if spec[2]}
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
    for name, sha256 in pinned.items():
        assert manifest[f"assets/{name}"]["sha256"] == sha256, name
