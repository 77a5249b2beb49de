"""Precision and recall of `paintscape curate`'s detectors on synthetic scenes with planted defects.

    python benchmarks/bench_curation.py --count 1000 --size 512x384 --workers 2

Writes the planted set to a temporary folder (or --keep DIR), runs curation with the default
thresholds (or --config FILE) and prints a Markdown table; see docs/curation.md for a recorded run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from paintscape.cli import parse_size
from paintscape.curation.config import load_curation_config
from paintscape.curation.pipeline import curate
from paintscape.curation.planted import detector_scores, markdown_table, write_planted_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=parse_size, default=(384, 512), help="WIDTHxHEIGHT (default 512x384)")
    parser.add_argument("--rate", type=float, default=0.05, help="share of the set per defect kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", type=Path, default=None, help="curation thresholds YAML")
    parser.add_argument(
        "--keep", type=Path, default=None, help="write the set and outputs here instead of a temporary folder"
    )
    args = parser.parse_args()
    config = load_curation_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        start = time.perf_counter()
        truth = write_planted_dataset(
            str(out / "data"), args.count, args.size, args.seed, args.rate, workers=args.workers
        )
        generated = time.perf_counter()
        result = curate(out / "data", out / "subsets", config, workers=args.workers, progress=False)
        done = time.perf_counter()
    kinds = {k: sum(v == k for v in truth.values()) for k in sorted(set(truth.values()))}
    print(f"{len(truth)} scenes at {args.size[1]}x{args.size[0]}, planted: {kinds}")
    print(f"generation {generated - start:.1f} s, curation {done - generated:.1f} s ({args.workers} workers)")
    print(f"Selection I keeps {len(result.selection1)}, Selection II keeps {len(result.selection2)}\n")
    print(markdown_table(detector_scores(result.findings, truth)))


if __name__ == "__main__":
    main()
