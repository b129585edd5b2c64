"""Helpers shared by the paper-protocol tests."""

import os

import pytest


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory):
    """Folder the side-by-side tables are written to: ``$REFZSL_REPORT_DIR``, else a pytest temporary one."""
    return os.environ.get("REFZSL_REPORT_DIR") or tmp_path_factory.mktemp("esc50_reports")


@pytest.fixture(scope="session")
def assert_folds_above_chance():
    """Check that every fold beats chance, except folds documented as measured below it.

    A documented fold is a measured shortfall, not a tolerance: the test is reported as an
    expected failure (with the reason) only when exactly the documented folds fall short. A new
    fold below chance fails the test, and so does a documented fold that recovers (update the list).
    """

    def check(folds, *, label, known_below=(), reason=""):
        below = sorted(fold["name"] for fold in folds
                       if not (fold["top1"] > fold["chance_top1"] and fold["map"] > fold["chance_map"]))
        detail = {fold["name"]: (round(fold["top1"], 3), round(fold["map"], 3)) for fold in folds
                  if fold["name"] in below}
        known = sorted(known_below)
        assert below == known, (
            f"{label}: folds at or below chance (Top-1, mAP) {detail}; documented as below chance: {known}")
        if known:
            pytest.xfail(f"{label}: measured below chance {detail} — {reason}")

    return check
