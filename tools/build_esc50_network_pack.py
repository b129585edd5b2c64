"""Build the ESC-50 network pack shipped in refzsl/data: per-fold clip embeddings of networks that never
heard the fold's test classes.

    python tools/build_esc50_network_pack.py --data-root DIR

For each fold of P2's random and category strategies (10 sets of 40 training classes) and each kind
(``scratch``: VGGish trained from scratch as in P2; ``triplet``: P4's label-free triplets), trains the
fold's network on its training classes only with :func:`refzsl.datasets.esc50_networks.fold_network`
(cached under REFZSL_CACHE by content, so a rerun only embeds), embeds all 2000 clips (mean of five
patch embeddings) and stores them as float16 in ``refzsl/data/esc50_network_pack.npz``, with a
manifest (``.json``) holding every network's classes, seed, data and weights sha256, settings and
per-epoch history, the licence, and a **reduced check**: a small setting (three classes, one epoch)
rebuilt from the audio by the tests, whose embeddings must match the ones recorded here.
ESC-50-derived data is CC BY-NC 3.0. Needs ``refzsl[train]`` (PyTorch).
"""

import argparse
import sys
import time
from pathlib import Path

from refzsl._util.checks import positive_int
from refzsl.acoustic.training import DEFAULT_MAX_EPOCHS, DEFAULT_PATIENCE, DEFAULT_WIDTH, KINDS
from refzsl.datasets.esc50 import ESC50
from refzsl.datasets.esc50_networks import (NETWORK_PACK_PATH, _network_summary, esc50_log_mels,
                                            fold_clip_embeddings, fold_network, reduced_check, save_network_pack)
from refzsl.experiments.protocols import protocol_splits

_PROTOCOLS = ("random", "category")
_MAX_BYTES = 10 * 1024 * 1024


def main(argv=None):
    """Train (or reuse) the fold networks, embed, save the pack; exit code 1 if it is over 10 MiB."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="data root (default $REFZSL_DATA)")
    parser.add_argument("--out", type=Path, default=NETWORK_PACK_PATH, help=f"pack file (default {NETWORK_PACK_PATH})")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS, help="networks to include")
    parser.add_argument("--width", type=float, default=DEFAULT_WIDTH, help=f"VGGish width (default {DEFAULT_WIDTH})")
    parser.add_argument("--max-epochs", type=positive_int, default=DEFAULT_MAX_EPOCHS)
    parser.add_argument("--patience", type=positive_int, default=DEFAULT_PATIENCE)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    args = parser.parse_args(argv)
    settings = {"width": args.width, "max_epochs": args.max_epochs, "patience": args.patience, "seed": args.seed}

    dataset = ESC50(args.data_root).verify()
    log_mels, targets, data_manifest = esc50_log_mels(root=args.data_root, progress=True)
    train_sets = {}
    for protocol in _PROTOCOLS:
        splits = protocol_splits(protocol, class_names=list(dataset.class_names),
                                 category_of_target=dataset.category_of_target, targets=targets, seed=0)
        for split in splits:
            train_sets.setdefault(tuple(sorted(split.train_classes)), f"{protocol}/{split.name}")
    embeddings, networks = {}, {}
    for kind in args.kinds:
        for classes, fold in train_sets.items():
            started = time.perf_counter()
            network = fold_network(kind, log_mels, targets, classes, data_manifest=data_manifest, progress=True,
                                   **settings)
            embeddings.setdefault(kind, {})[classes] = fold_clip_embeddings(network, log_mels,
                                                                            data_manifest=data_manifest)
            summary = _network_summary(network)
            summary["fold"] = fold
            networks[f"{kind}:{','.join(map(str, classes))}"] = summary
            print(f"{kind} {fold}: best epoch {network.manifest['best_epoch']} of {network.manifest['epochs_run']}, "
                  f"trained in {network.manifest['seconds']:.0f} s; embedded in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    check = reduced_check(root=args.data_root, kinds=args.kinds)
    manifest = {"dataset": {"name": "ESC-50", "n_clips": len(dataset), "audio_sha256": data_manifest["audio_sha256"],
                            "meta_sha256": data_manifest["meta_sha256"]},
                "log_mels": data_manifest, "settings": {kind: settings for kind in args.kinds},
                "networks": networks, "reduced_check": check["manifest"],
                "clip_embedding": "mean of the five 0.96 s patch embeddings, float16"}
    manifest_path = save_network_pack(args.out, kinds_embeddings=embeddings, clip_ids=dataset.clip_ids,
                                      manifest=manifest, extra_arrays=check["arrays"])
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) and {manifest_path}", file=sys.stderr)
    if size > _MAX_BYTES:
        print(f"error: the pack is {size / 1e6:.2f} MB, over the 10 MiB budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
