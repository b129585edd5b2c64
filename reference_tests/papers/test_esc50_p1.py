"""P1 Settings 1-4 (Tables 2-4) rerun on the shipped feature pack (YAMNet + WLE), with selection.

Prints the side-by-side tables (``pytest -s``), writes them to ``$REFZSL_REPORT_DIR`` (default: a
pytest temporary folder), and asserts: every fold above chance (Top-1 > 1/C, mAP > H(C)/C for C
test classes), and each setting's average Top-1 within [paper − 0.08, paper + 0.15] of P1
(Setting 1: 0.764, Setting 2: 0.169, Setting 3: 0.260, Setting 4: 0.617).
"""

import os
from functools import lru_cache

import pytest

from refzsl.esc50 import format_table, run_esc50, write_results
from refzsl.pack import load_pack

BELOW, ABOVE = 0.08, 0.15
PAPER_AVERAGES = {"setting1": 0.764, "setting2": 0.169, "setting3": 0.260, "setting4": 0.617}


@lru_cache(maxsize=None)
def _run(setting):
    return run_esc50(protocol=setting, embedding="WLE", features=load_pack(), seed=0)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    folder = os.environ.get("REFZSL_REPORT_DIR")
    return tmp_path_factory.mktemp("esc50_p1") if not folder else folder


@pytest.mark.parametrize("setting", sorted(PAPER_AVERAGES))
def test_p1_setting_average_within_range(setting, report_dir):
    results = _run(setting)
    print("\n" + format_table(results))
    for path in write_results(results, report_dir):
        print(f"wrote {path}")
    assert results["paper_average"]["top1"] == PAPER_AVERAGES[setting]
    top1, paper = results["average"]["top1"], PAPER_AVERAGES[setting]
    assert paper - BELOW <= top1 <= paper + ABOVE, (
        f"{setting} average Top-1 {top1:.3f} outside [{paper - BELOW:.3f}, {paper + ABOVE:.3f}] (P1: {paper})")


@pytest.mark.parametrize("setting", sorted(PAPER_AVERAGES))
def test_p1_every_fold_above_chance(setting):
    below = [(fold["name"], round(fold["top1"], 4), round(fold["map"], 4)) for fold in _run(setting)["folds"]
             if not (fold["top1"] > fold["chance_top1"] and fold["map"] > fold["chance_map"])]
    assert not below, f"{setting}: folds at or below chance (name, Top-1, mAP): {below}"
