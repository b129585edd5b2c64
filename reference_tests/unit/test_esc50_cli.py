"""The ESC-50 runner and its CLI on a small synthetic feature pack (no assets needed)."""

import json

import numpy as np
import pytest

from refzsl.experiments import esc50
from refzsl.esc50 import build_parser, main, parse_args
from refzsl.experiments.esc50 import run_esc50, write_results
from refzsl.experiments.selection import select_hyper_parameters
from refzsl.datasets.pack import FeaturePack, load_pack
from refzsl.experiments.protocols import P2_RANDOM_FOLDS, p2_random_splits

FIXED = dict(select=False, learning_rate=0.1, n_epochs=3)
SMALL_GRID = {"reg_lambda": (0.0, 10.0), "learning_rate": (0.01, 0.1), "n_epochs": (2,)}


def synthetic_pack(seed=0, d_a=16, d_s=8, clips_per_class=8):
    """50 classes whose clips are a linear image of their class vector plus noise: zero-shot learnable."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(50, d_s)).astype(np.float32)
    targets = np.repeat(np.arange(50), clips_per_class)
    X = vectors[targets] @ rng.normal(size=(d_s, d_a)) + 0.5 * rng.normal(size=(targets.size, d_a))
    return FeaturePack(
        clip_ids=np.array([f"clip{i}" for i in range(targets.size)]), targets=targets,
        folds=np.arange(targets.size) % 5 + 1,
        class_names=np.array(sorted(name for fold in P2_RANDOM_FOLDS for name in fold)),
        category_of_target=np.arange(50) // 10, clip_embeddings=X.astype(np.float32),
        class_vectors={"WLE": vectors}, manifest={"acoustic": {"embedder": "yamnet"}})


@pytest.fixture(scope="module")
def pack():
    return synthetic_pack()


def test_random_strategy_learns_and_reports_every_cell(pack):
    results = run_esc50(protocol="random", features=pack, **FIXED)
    assert [fold["name"] for fold in results["folds"]] == [f"Fold{k}" for k in range(5)]
    for fold in results["folds"]:
        assert fold["n_train_clips"] == 40 * 8 and fold["n_test_clips"] == 10 * 8
        assert fold["top1"] > fold["chance_top1"] == 0.1
        assert fold["map"] > fold["chance_map"]
        assert fold["paper"]["source"] == "P2 Table VII"
    assert results["paper_average"]["map"] == 0.51
    assert results["average"]["top1"] == pytest.approx(np.mean([f["top1"] for f in results["folds"]]))
    # each class tested exactly once in the random strategy: the confusion matrix counts every clip once
    matrix = np.array(results["confusion"]["matrix"])
    assert matrix.sum() == 400 and (matrix.sum(axis=1) == 8).all()


def test_runs_are_reproducible_from_the_seed(pack):
    first = run_esc50(protocol="setting1", features=pack, seed=7, **FIXED)
    again = run_esc50(protocol="setting1", features=pack, seed=7, **FIXED)
    other = run_esc50(protocol="setting1", features=pack, seed=8, **FIXED)
    assert [f["top1"] for f in first["folds"]] == [f["top1"] for f in again["folds"]]
    assert [f["test_classes"] for f in first["folds"]] != [f["test_classes"] for f in other["folds"]]


@pytest.mark.parametrize("protocol, n_folds, n_groups", [
    ("category", 5, 5), ("setting1", 25, 5), ("setting2", 20, 5), ("setting3", 5, 5), ("setting4", 40, 5),
])
def test_every_protocol_runs(pack, protocol, n_folds, n_groups):
    results = run_esc50(protocol=protocol, features=pack, **FIXED)
    assert len(results["folds"]) == n_folds and len(results["groups"]) == n_groups
    for fold in results["folds"]:
        assert not set(fold["train_classes"]) & set(fold["test_classes"])
    if protocol == "setting4":
        assert all(f["n_shot_clips"] == 10 * 1 for f in results["folds"])  # 8 clips / 8 folds = 1 per class
    assert results["paper_average"] is not None


def test_selection_never_reads_test_classes(pack):
    split = p2_random_splits([str(n) for n in pack.class_names])[0]
    X = pack.clip_embeddings.copy()
    X[np.isin(pack.targets, split.test_classes)] = np.nan  # any use of a test clip would raise
    best, table = select_hyper_parameters(X, pack.targets, pack.class_vectors["WLE"], split.train_classes,
                                          grid=SMALL_GRID, seed=0)
    # λ = 10 with η = 0.1 is not a valid SGD step (2ηλ >= 1) and is left out
    assert len(table) == 3
    assert best in [{k: row[k] for k in best} for row in table]
    assert max(row["validation_map"] for row in table) == next(
        row["validation_map"] for row in table if {k: row[k] for k in best} == best)


def test_selection_runs_per_split(pack):
    results = run_esc50(protocol="category", features=pack, grid=SMALL_GRID)
    for fold in results["folds"]:
        assert len(fold["validation"]) == 3
        assert fold["hyper_parameters"]["n_epochs"] == 2
    assert results["settings"]["inner_folds"] == "categories"


def test_writers_save_settings_hashes_and_tables(pack, tmp_path):
    results = run_esc50(protocol="random", features=pack, seed=3, **FIXED)
    paths = write_results(results, tmp_path)
    assert sorted(p.suffix for p in paths) == [".csv", ".json", ".md"]
    saved = json.loads(next(p for p in paths if p.suffix == ".json").read_text())
    assert saved["settings"]["seed"] == 3 and saved["settings"]["protocol"] == "random"
    assert saved["provenance"]["refzsl_version"]
    assert len(saved["provenance"]["clip_embeddings_sha256"]) == 64
    csv_lines = next(p for p in paths if p.suffix == ".csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 5 + 1 and csv_lines[1].startswith("fold,Fold0")
    assert "| Fold0 |" in next(p for p in paths if p.suffix == ".md").read_text()


def test_csv_has_a_row_per_fold_group_and_average(pack, tmp_path):
    results = run_esc50(protocol="setting1", features=pack, **FIXED)
    (path,) = write_results(results, tmp_path, formats=("csv",))
    kinds = [line.split(",")[0] for line in path.read_text().splitlines()[1:]]
    assert kinds == ["fold"] * 25 + ["group"] * 5 + ["average"]


def test_table_shows_paper_numbers_and_deviations(pack):
    text = esc50.format_table(run_esc50(protocol="category", features=pack, **FIXED))
    assert "Animal" in text and "0.43" in text and "P2 Table VI" in text
    assert "YAMNet" in text and "Deviations" in text
    # the deviation note says how the hyper-parameters were chosen in this run
    assert "Fixed hyper-parameters (λ=0, η=0.1, 3 epochs)" in text and "selected on inner" not in text


def test_main_runs_on_a_pack_file_and_plots(pack, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pack_path = tmp_path / "pack.npz"
    pack.save(pack_path)
    assert load_pack(pack_path).clip_embeddings.shape == pack.clip_embeddings.shape
    code = main(["--pack", str(pack_path), "--features", "pack", "--no-select", "--learning-rate", "0.1",
                 "--epochs", "2", "--out", str(tmp_path / "out"), "--plot", "--quiet"])
    assert code == 0
    assert "Fold4" in capsys.readouterr().out
    assert (tmp_path / "out" / "esc50_random_WLE_yamnet_seed0_confusion.png").stat().st_size > 0


def test_main_reports_errors_with_exit_code_1(pack, tmp_path, capsys):
    pack_path = tmp_path / "pack.npz"
    pack.save(pack_path)
    assert main(["--pack", str(pack_path), "--features", "pack", "--embedding", "GLE", "--quiet"]) == 1
    assert "class vectors for ['WLE'], not 'GLE'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "diagonal"], "invalid choice"),
    (["--strategy", "random", "--setting", "2"], "not allowed with"),
    (["--setting", "5"], "invalid choice"),
    (["--embedding", "XLE"], "invalid choice"),
    (["--seed", "one"], "argument --seed: must be an integer >= 0"),
    (["--learning-rate", "0.1"], "add --no-select"),
    (["--no-select", "--learning-rate", "0.1"], "needs --learning-rate and --epochs"),
    (["--no-select", "--learning-rate", "-1", "--epochs", "3"], "must be a finite number > 0"),
    (["--no-select", "--learning-rate", "0.1", "--epochs", "0"], "must be an integer >= 1"),
    (["--no-select", "--learning-rate", "0.1", "--epochs", "2", "--reg-lambda", "-0.5"], ">= 0"),
    (["--plot"], "give --out"),
    (["--features", "pack", "--acoustic", "vggish"], "--acoustic vggish needs --features audio"),
    (["--format", "xml"], "invalid choice"),
])
def test_parser_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_parser_maps_settings_to_protocols():
    assert parse_args([]).protocol == "random"
    assert parse_args(["--strategy", "category"]).protocol == "category"
    assert parse_args(["--setting", "4"]).protocol == "setting4"
    assert build_parser().prog == "python -m refzsl.esc50"


def test_run_rejects_bad_options(pack):
    with pytest.raises(ValueError, match="protocol must be one of"):
        run_esc50(protocol="diagonal", features=pack)
    with pytest.raises(ValueError, match="pass learning_rate and n_epochs"):
        run_esc50(features=pack, select=False)
    with pytest.raises(ValueError, match=r"missing \['n_epochs'\]"):
        run_esc50(features=pack, grid={"reg_lambda": (0.0,), "learning_rate": (0.01,)})
    with pytest.raises(ValueError, match="No valid candidate"):
        run_esc50(features=pack, grid={"reg_lambda": (10.0,), "learning_rate": (0.1,), "n_epochs": (1,)})
