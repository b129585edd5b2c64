"""Acoustic networks that never heard the test classes: scratch (P2), triplet (P4) and YAMNet side by side.

The scratch and triplet tables run on the shipped network pack (per-fold clip embeddings of networks
trained on each fold's 40 training classes only), the YAMNet table on the shipped feature pack; all
with WLE and hyper-parameters selected on inner class folds, as ``python -m refzsl.esc50``. The
tables are printed (``pytest -s``) and written to ``$REFZSL_REPORT_DIR``.

The ranges below are **measured**, not the paper's: the shipped networks are a width-reduced VGGish
(1/16 of the channels) trained for at most 3 epochs (the CPU budget), far from the converged
full-size network of P2. They land below P2's Table VII/VIII (0.51 / 0.32 random, 0.41 / 0.23
category, WLE): the assertions pin what this build measures (± 0.03 around the value measured when
the pack was built), check that every fold's network is used, and that YAMNet, which heard the
ESC-50 classes in AudioSet, stays above both.

With the data root, the reduced check (three classes, one epoch) is rebuilt from the audio and must
give the embeddings recorded in the pack, and poisoning the clips of the class the network did not
train on must leave its weights bit-identical.
"""

from functools import lru_cache

import numpy as np
import pytest

from refzsl.datasets.esc50_networks import NETWORK_PACK_PATH, esc50_log_mels, load_network_pack, reduced_check
from refzsl.datasets.pack import load_pack
from refzsl.experiments.acoustic_quality import embedding_quality, quality_ratio
from refzsl.experiments.esc50 import format_table, load_features, run_esc50, write_results
from refzsl.experiments.protocols import category_splits, p2_random_splits

pytestmark = pytest.mark.skipif(not NETWORK_PACK_PATH.is_file(), reason="network pack not built")

# Averages measured on the shipped packs (WLE, seed 0, selection), mAP / Top-1, when the pack was built
# (P2 Table VIII, WLE: random 0.51 / 0.32, category 0.41 / 0.23; training Top-1 0.76 / 0.64). The
# networks' own training accuracy is low (validation patch accuracy 0.11-0.15 on 40 classes after 3
# epochs), and so is Algorithm 1's training Top-1 (0.04-0.15): see the README.
MEASURED = {
    ("random", "scratch"): (0.366, 0.173),
    ("random", "triplet"): (0.359, 0.168),
    ("category", "scratch"): (0.345, 0.140),
    ("category", "triplet"): (0.330, 0.139),
}
TOLERANCE = 0.03
# P4's ratio (triplet / scratch) measured on the test classes of the 10 folds (P4: 0.84 classification,
# 0.41 retrieval). Above 1 here: the supervised networks are far from converged (see above).
MEASURED_RATIO = {"classification": 1.122, "retrieval": 1.024}


@lru_cache(maxsize=None)
def _features(acoustic):
    return load_features(features="pack", acoustic=acoustic)


@lru_cache(maxsize=None)
def _run(strategy, acoustic):
    return run_esc50(protocol=strategy, acoustic=acoustic, features=_features(acoustic), seed=0)


def _side_by_side(strategy):
    runs = {acoustic: _run(strategy, acoustic) for acoustic in ("scratch", "triplet", "yamnet")}
    lines = [f"ESC-50 {strategy}, WLE: mAP / Top-1 / training Top-1 per fold",
             "fold      | P2 (paper)  | scratch           | triplet           | YAMNet"]
    for index, fold in enumerate(runs["scratch"]["folds"]):
        paper = fold["paper"] or {}
        cells = [f"{r['folds'][index]['map']:.3f} {r['folds'][index]['top1']:.3f} {r['folds'][index]['train_top1']:.2f}"
                 for r in runs.values()]
        lines.append(f"{fold['name']:<9} | {paper.get('map', float('nan')):.2f} {paper.get('top1', float('nan')):.2f}"
                     f"   | " + " | ".join(cells))
    paper = runs["scratch"]["paper_average"]
    cells = [f"{r['average']['map']:.3f} {r['average']['top1']:.3f} {r['average']['train_top1']:.2f}"
             for r in runs.values()]
    lines.append(f"{'average':<9} | {paper['map']:.2f} {paper['top1']:.2f} {paper['train_top1']:.2f} | "
                 + " | ".join(cells))
    return runs, "\n".join(lines)


@pytest.mark.parametrize("strategy", ["random", "category"])
def test_three_acoustic_models_side_by_side(strategy, report_dir):
    runs, table = _side_by_side(strategy)
    print("\n" + table)
    for acoustic in ("scratch", "triplet"):
        print(format_table(runs[acoustic]))
        write_results(runs[acoustic], report_dir)
        average = runs[acoustic]["average"]
        expected_map, expected_top1 = MEASURED[(strategy, acoustic)]
        assert abs(average["map"] - expected_map) <= TOLERANCE, (strategy, acoustic, average["map"])
        assert abs(average["top1"] - expected_top1) <= TOLERANCE, (strategy, acoustic, average["top1"])
        # Every fold ran on its own network: no two folds share clip embeddings.
        networks = runs[acoustic]["provenance"]["acoustic"]["networks"]
        assert len({network["weights_sha256"] for network in networks.values()}) == 10
        # YAMNet heard the ESC-50 classes (AudioSet); the networks trained on 40 classes did not.
        assert runs["yamnet"]["average"]["map"] > average["map"]


def test_p4_ratio_on_the_test_classes():
    splits = {"random": p2_random_splits([str(n) for n in load_pack().class_names]),
              "category": category_splits(load_pack().category_of_target)}
    rows = {kind: [row for strategy in splits for row in embedding_quality(_features(kind), splits[strategy])]
            for kind in ("scratch", "triplet")}
    yamnet = [row for strategy in splits for row in embedding_quality(load_pack(), splits[strategy])]
    ratio = quality_ratio(rows["triplet"], rows["scratch"])
    for measure in ("classification", "retrieval"):
        means = {kind: np.mean([row[measure] for row in kind_rows])
                 for kind, kind_rows in (*rows.items(), ("yamnet", yamnet))}
        print(f"{measure}: " + ", ".join(f"{kind} {value:.3f}" for kind, value in means.items())
              + f"; triplet/scratch {ratio[measure]:.2f} (P4: {0.84 if measure == 'classification' else 0.41})")
        assert means["scratch"] > 0.1 and means["triplet"] > 0.1  # chance: 10 classes
        assert abs(ratio[measure] - MEASURED_RATIO[measure]) <= 0.05


@pytest.mark.assets
def test_reduced_setting_rebuilt_from_the_audio_matches_the_pack(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("REFZSL_CACHE", str(tmp_path))
    _, manifest, recorded = load_network_pack()
    rebuilt = reduced_check(root=data_root)
    assert rebuilt["manifest"]["log_mels"]["audio_sha256"] == manifest["reduced_check"]["log_mels"]["audio_sha256"]
    for kind, embeddings in rebuilt["arrays"].items():
        scale = np.abs(recorded[kind]).max()
        assert np.max(np.abs(embeddings - recorded[kind])) <= 1e-3 * scale, kind


@pytest.mark.assets
def test_poisoned_test_class_audio_leaves_the_weights_bit_identical(data_root):
    from refzsl.acoustic.training import train_network
    from refzsl.datasets.esc50_networks import REDUCED_CHECK

    pytest.importorskip("torch")
    log_mels, targets, _ = esc50_log_mels(root=data_root, classes=REDUCED_CHECK["classes"])
    settings = {**REDUCED_CHECK["settings"], "max_epochs": 1}
    train = REDUCED_CHECK["train_classes"]
    unseen = ~np.isin(targets, train)
    assert unseen.sum() == 40
    poisoned = log_mels.copy()
    poisoned[unseen] = poisoned[unseen][:, ::-1] * 3.0 + 7.0
    changed = log_mels.copy()
    changed[~unseen, :96] += 0.5
    for kind in ("scratch", "triplet"):
        reference = train_network(kind, log_mels, targets, train, **settings).weights_sha256
        assert train_network(kind, poisoned, targets, train, **settings).weights_sha256 == reference, kind
        assert train_network(kind, changed, targets, train, **settings).weights_sha256 != reference, kind


@pytest.mark.assets
def test_network_patches_are_the_front_ends(data_root):
    from refzsl.acoustic.training import clip_patches
    from refzsl.audio.frontend import waveform_to_patches
    from refzsl.audio.io import load_audio
    from refzsl.datasets.esc50 import ESC50
    from refzsl.datasets.esc50_networks import REDUCED_CHECK

    log_mels, targets, _ = esc50_log_mels(root=data_root, classes=REDUCED_CHECK["classes"])
    dataset = ESC50(data_root)
    first = int(np.flatnonzero(np.isin(dataset.targets, REDUCED_CHECK["classes"]))[0])
    expected = waveform_to_patches(load_audio(dataset.paths[first]))[:5]
    assert np.array_equal(clip_patches(log_mels[:1])[0], expected)
