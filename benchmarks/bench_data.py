"""Data-loading throughput of the real training dataset (``PairedFolder(train=True)``).

Make a synthetic set first, then time a pass over it in the main process and through
``torch.utils.data.DataLoader`` with 1 and 2 worker processes:

    paintscape synth /tmp/synth512 --count 200 --size 512x384
    python benchmarks/bench_data.py /tmp/synth512 --size 384 512 --workers 0 1 2

"pairs/s per worker" is the loader's rate divided by its worker count (the main process counts
as one worker for ``--workers 0``). Prints one JSON line per worker count.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch.utils.data import DataLoader

from paintscape.data.dataset import PairedFolder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="dataset folder with imgs/ and labels/")
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--workers", type=int, nargs="+", default=(0, 1, 2))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1, help="passes over the set per measurement (default 1)")
    args = parser.parse_args()
    dataset = PairedFolder(args.root, tuple(args.size), train=True, seed=0)
    dataset[0]  # warm the file cache and imports
    for workers in args.workers:
        loader = DataLoader(
            dataset,
            batch_size=args.batch,
            shuffle=False,
            num_workers=workers,
            prefetch_factor=4 if workers else None,
            persistent_workers=False,
        )
        count = 0
        start = time.perf_counter()
        for epoch in range(args.epochs):
            dataset.set_epoch(epoch)
            for batch in loader:
                count += batch["image"].shape[0]
        elapsed = time.perf_counter() - start  # includes starting the worker processes
        rate = count / elapsed
        print(
            json.dumps(
                {
                    "workers": workers,
                    "pairs": count,
                    "seconds": round(elapsed, 2),
                    "pairs_per_s": round(rate, 1),
                    "pairs_per_s_per_worker": round(rate / max(workers, 1), 1),
                    "size": list(args.size),
                    "batch": args.batch,
                    "torch_threads": torch.get_num_threads(),
                    "loadavg": [round(x, 2) for x in os.getloadavg()],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
