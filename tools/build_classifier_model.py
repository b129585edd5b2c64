"""Build the classifier model shipped in refzsl/data, the default of ``refzsl classify``.

    python tools/build_classifier_model.py --data-root DIR

Trains the bilinear model on all 2000 clips of the 50 ESC-50 classes from the
feature pack (``refzsl/data/esc50_yamnet_pack.npz``: YAMNet clip embeddings,
mean of the patch embeddings), through the same code as ``refzsl train --pack
--select --recipe auto``:

1. Selection, zero-shot: for each label recipe (WLE, GLE, WLE+GLE) and each
   candidate of ``refzsl.experiments.esc50.DEFAULT_GRID`` (P2's λ ∈ {0, 0.01, 1, 10} × the
   runner's learning rates and epochs), train on 3/4 of the 50 classes and score
   the mAP of the held-out 1/4 (4 seeded inner class folds); the best mean
   validation mAP wins. The grid is the one ``python -m refzsl.esc50`` selects from.
2. Training on all 50 classes with the winner; the model records the whole
   selection table, the vectors' identity and the YAMNet sha256.

The word vectors (data root) embed the class names; the script checks that they
give exactly the class vectors stored in the pack. ESC-50 is CC BY-NC 3.0 and so
is the model derived from it.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from refzsl.classify import DEFAULT_MODEL_PATH
from refzsl.cli import run_train
from refzsl.datasets.pack import PACK_PATH, load_pack


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, default=PACK_PATH, help=f"feature pack (default {PACK_PATH})")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help=f"model file (default {DEFAULT_MODEL_PATH})")
    parser.add_argument("--data-root", type=Path, help="data root with the word vectors (default $REFZSL_DATA)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation folds and sample order")
    args = parser.parse_args(argv)

    model = run_train(output=args.out, pack=str(args.pack), recipe="auto", select=True, seed=args.seed,
                      root=args.data_root, verbose=True)
    pack = load_pack(args.pack)
    if not np.allclose(model.class_embeddings, pack.class_vectors[model.recipe], rtol=0, atol=1e-6):
        print(f"error: the word vectors give other {model.recipe} class vectors than the pack's", file=sys.stderr)
        return 1
    selection = model.training["selection"]
    print("validation (mean over 4 inner class folds), best candidate per recipe:", file=sys.stderr)
    for recipe in dict.fromkeys(row["recipe"] for row in selection["table"]):
        rows = [row for row in selection["table"] if row["recipe"] == recipe]
        best = max(rows, key=lambda row: row["validation_map"])
        print(f"  {recipe:<8} mAP {best['validation_map']:.3f}  Top-1 {best['validation_top1']:.3f}  "
              f"λ={best['reg_lambda']} η={best['learning_rate']} epochs={best['n_epochs']}", file=sys.stderr)
    print(f"chosen: {model.recipe} {selection['params']}; training Top-1 (50 classes) "
          f"{model.training['train_top1']:.3f}; wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
