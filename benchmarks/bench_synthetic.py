"""Scenes per second of paintscape.data.synthetic.make_scene on one core.

python benchmarks/bench_synthetic.py --count 200 --size 384 512
"""

from __future__ import annotations

import argparse
import time

from paintscape.data.synthetic import make_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="scenes to make (default 200)")
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    args = parser.parse_args()
    size = tuple(args.size)
    make_scene(args.seed, size)  # builds the cached noise bank for this size
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(args.count):
        make_scene(args.seed + 1 + i, size)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(
        f"make_scene {size[1]}x{size[0]}: {args.count} scenes in {elapsed:.2f} s = "
        f"{args.count / elapsed:.1f} scenes/s ({1000 * elapsed / args.count:.1f} ms/scene); "
        f"CPU time {cpu:.2f} s = {args.count / cpu:.1f} scenes per CPU-second"
    )


if __name__ == "__main__":
    main()
