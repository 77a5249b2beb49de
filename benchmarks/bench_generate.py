"""Seconds per image of a full-width generator forward through ``paintscape.inference.painter.Painter``.

The generator is the EMA copy the trainer keeps (what checkpoints export), in eval mode, fp32 by
default; one timed call is ``Painter.render`` on a batch of label maps (one-hot, forward, no grad).

    python benchmarks/bench_generate.py --family spade --size 384 512 --batch 1 --runs 5
    python benchmarks/bench_generate.py --family spade --size 384 512 --batch 8 --runs 2

Prints one JSON line: per-call seconds, median s/image, images/s, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

from paintscape.config import load_config
from paintscape.inference.painter import Painter
from paintscape.train.ema import EMA
from paintscape.train.networks import build_generator_from_config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import FAMILIES, REPO  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="spade", choices=sorted(FAMILIES))
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--runs", type=int, default=5, help="timed calls (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any config override after the family's, e.g. --set model.generator.args.base_channels=8")
    args = parser.parse_args()
    size = tuple(args.size)
    family = FAMILIES[args.family]
    config = load_config(REPO / family.config, [*family.overrides(size, args.batch, equal=False), *args.set])
    torch.manual_seed(0)
    generator, spec = build_generator_from_config(config)
    ema = EMA(generator, 10_000.0)  # the copy the trainer keeps
    del generator
    painter = Painter(ema.model, spec, device=args.device, precision=args.precision)
    labels = torch.randint(0, 29, (args.batch, *size), generator=torch.Generator().manual_seed(0))
    times, cpu = [], []
    for i in range(args.warmup + args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        painter.render(labels)
        if painter.device.type == "cuda":
            torch.cuda.synchronize(painter.device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"call {i}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
    median = statistics.median(times[args.warmup :])
    print(
        json.dumps(
            {
                "impl": "paintscape",
                "family": args.family,
                "size": list(size),
                "batch": args.batch,
                "device": str(painter.device),
                "precision": args.precision,
                "threads": torch.get_num_threads(),
                "call_s": [round(t, 3) for t in times],
                "cpu_s": [round(t, 3) for t in cpu],
                "median_s_per_image": round(median / args.batch, 3),
                "images_per_s": round(args.batch / median, 3),
                "median_cpu_s_per_image": round(statistics.median(cpu[args.warmup :]) / args.batch, 3),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
                "loadavg": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
