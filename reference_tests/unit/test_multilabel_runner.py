"""The P3 runner (refzsl.experiments.multilabel) without assets: metrics by hand, options, the command line."""

import numpy as np
import pytest

from refzsl.experiments.multilabel import DEFAULTS, SYSTEMS, best_threshold, micro_f1, peak_hit_rate, run
from refzsl.multilabel import build_parser, main


def test_micro_f1_by_hand():
    Y = np.array([[1, 0, 1], [0, 1, 0]])
    decisions = np.array([[1, 1, 0], [0, 1, 0]])
    # TP = 2, predicted 3, true 3: F1 = 4/6
    assert micro_f1(Y, decisions) == pytest.approx(2 / 3)
    assert micro_f1(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    with pytest.raises(ValueError, match="shape"):
        micro_f1(Y, decisions[:1])


def test_best_threshold_cuts_between_scores():
    Y = np.array([[1, 0, 0], [0, 1, 0]])
    scores = np.array([[0.9, 0.2, 0.1], [0.3, 0.8, 0.05]])
    threshold, f1 = best_threshold(Y, scores)
    assert threshold == pytest.approx((0.8 + 0.3) / 2) and f1 == 1.0
    assert micro_f1(Y, scores > threshold) == f1
    # predicting everything is best when every label is positive
    threshold, f1 = best_threshold(np.ones((2, 2)), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert threshold < 1.0 and f1 == 1.0


def test_best_threshold_never_splits_ties():
    Y = np.array([[1, 0], [0, 1]])
    scores = np.array([[0.5, 0.5], [0.5, 0.1]])
    threshold, f1 = best_threshold(Y, scores)
    assert micro_f1(Y, scores > threshold) == pytest.approx(f1)


def test_peak_hit_rate_and_chance():
    # one clip, 4 segments; class 0 in segments 0-1, class 1 in segments 2-3
    strong = np.zeros((1, 4, 2), bool)
    strong[0, :2, 0] = strong[0, 2:, 1] = True
    Y = strong.any(axis=1)
    scores = np.array([[[0.1, 0.0], [0.9, 0.8], [0.2, 0.1], [0.0, 0.7]]])
    # class 0 peaks at segment 1 (hit), class 1 at segment 1 (miss)
    assert peak_hit_rate(scores, Y, strong) == (0.5, 0.5)


def test_parser_defaults_match_run_defaults():
    args = build_parser().parse_args([])
    for key, value in DEFAULTS.items():
        got = getattr(args, key)
        if key in ("n_train", "n_validation", "n_test"):  # resolved per --dataset in main
            assert got is None, key
            continue
        assert (tuple(got) if isinstance(value, tuple) else got) == value, key
    assert args.systems == list(SYSTEMS)


@pytest.mark.parametrize("argv", [["--n-train", "0"], ["--temperature", "-1"], ["--test-fold", "5"],
                                  ["--loss", "hinge"], ["--systems", "oracle"]])
def test_parser_rejects_bad_values(argv, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_missing_data_root_exits_with_a_message(tmp_path, capsys):
    assert main(["--data-root", str(tmp_path / "nowhere")]) == 2
    assert "error" in capsys.readouterr().err


def test_run_rejects_unknown_options():
    with pytest.raises(ValueError, match="Unknown options"):
        run(n_clips=3)
    with pytest.raises(ValueError, match="systems"):
        run(systems=("oracle",))
