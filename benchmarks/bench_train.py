"""Training seconds per iteration and peak memory of paintscape's real Trainer step.

One iteration is ``Trainer.train_step`` (one generator forward, the D step, the G step with
adversarial + feature-matching + VGG terms, both optimiser steps) plus the EMA update, as in
``Trainer.fit``. Every measurement runs in a fresh subprocess so that its peak RSS
(``resource.getrusage(...).ru_maxrss``) belongs to that measurement alone; on CUDA the peak of
``torch.cuda.max_memory_allocated`` is reported too. VGG19 is randomly initialised (same FLOPs).

    python benchmarks/bench_train.py --family spade --size 256 256 --batch 1 --steps 5 --warmup 2
    python benchmarks/bench_train.py --family pix2pix --size 256 256 --batch 1
    python benchmarks/bench_train.py --family spade --precision bf16 --channels-last --repeats 2

Prints one JSON line per repeat (per-step wall and CPU seconds, median, peak memory, load average).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def family_overrides(
    family: str, size: tuple[int, int], batch: int, extra_label_channels: int
) -> tuple[str, list[str]]:
    """The config file and overrides of the full-width model of ``family`` (the papers' settings)."""
    h, w = size
    common = [
        f"data.size=[{h}, {w}]",
        f"train.phases=[{{batch_size: {batch}, lr: 0.0002, steps: 1000000}}]",
        "loss.vgg_weights=random",
        "data.workers=0",
    ]
    if family == "spade":
        return "paintscape/configs/spade_tiny.yaml", common + [
            f"model.generator.args={{base_channels: 64, norm: syncbatch, use_vae: false, extra_label_channels: {extra_label_channels}}}",
            f"model.discriminator.args={{num_scales: 2, num_layers: 4, extra_label_channels: {extra_label_channels}}}",
            "loss.weights={adv: 1.0, feat: 10.0, vgg: 10.0}",
        ]
    if family == "pix2pix":
        return "paintscape/configs/pix2pix_tiny.yaml", common + [
            "model.generator.args={base_channels: 64, norm: batch, dropout: 0.5}",
            "model.discriminator.args={base_channels: 64, num_layers: 3, norm: batch}",
            "loss.weights={adv: 1.0, l1: 100.0}",
        ]
    raise SystemExit(f"unknown family {family!r}; use spade or pix2pix")


def measure(args: argparse.Namespace) -> dict:
    """One measurement in this (fresh) process."""
    import torch

    from paintscape.config import load_config
    from paintscape.data.synthetic import write_dataset
    from paintscape.train.trainer import Trainer

    size = tuple(args.size)
    config_file, overrides = family_overrides(args.family, size, args.batch, args.extra_label_channels)
    overrides += [
        f"train.device={args.device}",
        f"train.precision={args.precision}",
        f"train.channels_last={str(args.channels_last).lower()}",
        f"train.compile={str(args.compile).lower()}",
        "train.ema_half_life_images=" + ("0" if args.no_ema else "10000"),
    ]
    with tempfile.TemporaryDirectory(prefix="paintscape-bench-") as tmp:
        root = Path(tmp) / "data"
        write_dataset(str(root), 4, size=size, seed=0, workers=1, progress=False)
        config = load_config(REPO / config_file, overrides + [f"data.root={root}"])
        trainer = Trainer(config, Path(tmp) / "run", progress=False, check_data=False)
        trainer.setup()
        device = trainer.device
        weights = dict(config.loss.weights)
        gen = torch.Generator().manual_seed(0)
        batch = {
            "image": torch.rand(args.batch, 3, *size, generator=gen) * 2 - 1,
            "label": torch.randint(0, 29, (args.batch, *size), generator=gen),
        }
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        wall, cpu = [], []
        trainer.state.train_mode()
        for step in range(args.warmup + args.steps):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.train_step(batch, weights)
            trainer.state.advance(args.batch)  # the step counter and the EMA update
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            print(f"step {step}: {wall[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU", file=sys.stderr, flush=True)
        if trainer.log is not None:
            trainer.log.close()
    timed = slice(args.warmup, None)
    result = {
        "impl": "paintscape",
        "family": args.family,
        "size": list(size),
        "batch": args.batch,
        "device": str(device),
        "precision": args.precision,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "ema": not args.no_ema,
        "threads": torch.get_num_threads(),
        "wall_s": [round(t, 3) for t in wall],
        "cpu_s": [round(t, 3) for t in cpu],
        "median_s": round(statistics.median(wall[timed]), 3),
        "median_cpu_s": round(statistics.median(cpu[timed]), 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_", "glibc default"),
    }
    if device.type == "cuda":
        result["cuda_max_allocated_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="spade", choices=("spade", "pix2pix"))
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--no-ema", action="store_true", help="leave the EMA update out of the timed iteration")
    parser.add_argument("--extra-label-channels", type=int, default=0, help="label channels beyond the 29 classes")
    parser.add_argument("--steps", type=int, default=5, help="timed iterations (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="fresh subprocesses, one measurement each")
    parser.add_argument(
        "--malloc-mmap-threshold-mb",
        type=int,
        default=None,
        help="run the measurement with glibc's MALLOC_MMAP_THRESHOLD_ set to this many MiB (Linux): "
        "tensors below it come from the reusable heap instead of fresh page-faulted mappings",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)), flush=True)
        return
    child_args = [a for a in sys.argv[1:]]
    for _ in range(args.repeats):
        env = dict(os.environ)
        if args.malloc_mmap_threshold_mb is not None:  # glibc reads it at process start: set it for the child
            env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold_mb * 2**20)
        out = subprocess.run(
            [sys.executable, __file__, "--child", *child_args], check=True, stdout=subprocess.PIPE, text=True, env=env
        )
        line = out.stdout.strip().splitlines()[-1]
        print(line, flush=True)


if __name__ == "__main__":
    main()
