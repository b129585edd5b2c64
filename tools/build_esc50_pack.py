"""Build the ESC-50 feature pack shipped in refzsl/data, through refzsl's own pipeline.

    python tools/build_esc50_pack.py --data-root DIR

Extracts YAMNet clip embeddings (mean of the patch embeddings) and the clip-level
mean of YAMNet's 521 scores for ESC-50's 2000 clips with
:func:`refzsl.acoustic.extraction.extract_files` (cached per clip under REFZSL_CACHE), computes
the WLE, GLE and WLE+GLE class vectors with :func:`refzsl.semantic.recipes.class_embeddings`,
and writes ``refzsl/data/esc50_yamnet_pack.npz`` with its manifest
``esc50_yamnet_pack.json`` (audio, model and vector-file hashes, front-end
parameters, per-array sha256, licence). ESC-50-derived data is CC BY-NC 3.0.
"""

import argparse
import sys
from pathlib import Path

from refzsl._util.checks import positive_int
from refzsl.datasets.pack import PACK_PATH, PACK_RECIPES, build_pack
from refzsl.semantic.recipes import RECIPES

_MAX_BYTES = 10 * 1024 * 1024


def main(argv=None):
    """Build and save the pack; exit code 1 if it is over the 10 MiB budget (the file is still written)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="data root (default $REFZSL_DATA)")
    parser.add_argument("--out", type=Path, default=PACK_PATH, help=f"pack file (default {PACK_PATH})")
    parser.add_argument("--recipes", nargs="+", default=list(PACK_RECIPES), choices=tuple(RECIPES),
                        metavar="RECIPE", help=f"semantic recipes to include (default {' '.join(PACK_RECIPES)})")
    parser.add_argument("--no-scores", dest="include_scores", action="store_false",
                        help="leave out the clip-level YAMNet scores [2000, 521]")
    parser.add_argument("--workers", type=positive_int, default=1, help="extraction processes")
    args = parser.parse_args(argv)
    pack = build_pack(root=args.data_root, recipes=tuple(args.recipes), include_scores=args.include_scores,
                      workers=args.workers, progress=True)
    manifest_path = pack.save(args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) and {manifest_path}", file=sys.stderr)
    if size > _MAX_BYTES:
        print(f"error: the pack is {size / 1e6:.2f} MB, over the 10 MiB budget; rebuild with --no-scores",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
