"""bf16 autocast against fp32 for one convolution and one transposed convolution on this CPU.

Why the default recipe (``train.precision: bf16``) is a slowdown on some CPUs: without native
bfloat16 arithmetic (x86 CPUs whose best vector unit is AVX2) oneDNN emulates it. One forward and
backward of a 128 -> 64 channel 4x4 stride-2 layer on a 64x64 map, batch 1, one thread, the median
CPU seconds of ``--runs`` repetitions after one warm-up, interleaved fp32 / bf16:

    python benchmarks/bench_precision_cpu.py --runs 5

Prints torch's CPU capability and one JSON line per (layer, precision).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn


def _seconds(layer: nn.Module, x: torch.Tensor, bf16: bool) -> float:
    started = time.process_time()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = layer(x)
    y.float().sum().backward()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions per layer and precision")
    parser.add_argument("--size", type=int, default=64, help="side of the input map (default 64)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(1, 128, args.size, args.size)
    layers = {"conv 4x4/2": nn.Conv2d(128, 64, 4, 2, 1), "transposed conv 4x4/2": nn.ConvTranspose2d(128, 64, 4, 2, 1)}
    print(json.dumps({"cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}))
    for name, layer in layers.items():
        times: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for bf16 in (False, True):
            _seconds(layer, x, bf16)  # warm-up: oneDNN picks and caches its kernel
        for _ in range(args.runs):
            for precision in times:
                times[precision].append(_seconds(layer, x, precision == "bf16"))
        for precision, values in times.items():
            print(
                json.dumps(
                    {
                        "layer": name,
                        "precision": precision,
                        "size": args.size,
                        "cpu_s_median": round(statistics.median(values), 4),
                        "cpu_s_min": round(min(values), 4),
                        "cpu_s_max": round(max(values), 4),
                        "runs": args.runs,
                    }
                )
            )


if __name__ == "__main__":
    main()
