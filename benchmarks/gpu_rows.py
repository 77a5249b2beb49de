"""The markdown rows of ``benchmarks/gpu.sh``: reads its measurements, prints a docs/benchmarks.md section.

    python benchmarks/gpu_rows.py --mode gpu --work DIR    (DIR: train_fp32.jsonl, train_fast.jsonl, generate.jsonl, distill.txt)
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path


def last_json(path: Path) -> dict:
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{path}: no measurement (the step before failed?)")
    return json.loads(lines[-1])


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return "CPU (dry run)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("gpu", "dry"), required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    fp32, fast = last_json(args.work / "train_fp32.jsonl"), last_json(args.work / "train_fast.jsonl")
    generate = last_json(args.work / "generate.jsonl")
    distill = [json.loads(line) for line in (args.work / "distill.txt").read_text().splitlines() if line.startswith("{")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    h, w = fp32["size"]
    lines = [f"### GPU measurements ({device_name(fp32['device'])}, commit {commit}, `benchmarks/gpu.sh`)", ""]
    if args.mode == "dry":
        lines += ["**Dry run on the CPU at a tiny size: these rows check the script; they are not GPU figures.**", ""]
    lines += [f"SPADE training step at {w}x{h}, batch {fp32['batch']}:", "",
              "| setting | s / step (median) | peak GPU memory (GB) |", "|---|---|---|"]
    for name, r in (("fp32", fp32), ("bf16 + channels_last" + (" + compile" if fast["compile"] else ""), fast)):
        lines.append(f"| {name} | {r['median_s']:.3f} | {r.get('cuda_max_allocated_gb', '-')} |")
    speedup = fp32["median_s"] / fast["median_s"]
    lines += ["", f"speed-up {speedup:.2f}x", "",
              f"Generation (SPADE, {generate['precision']}, batch {generate['batch']}): "
              f"{generate['images_per_s']:.1f} label maps / s ({generate['median_s_per_image'] * 1000:.1f} ms per map)", "",
              f"Student (width 0.25) beside its teacher, batch 1 at {w}x{h}:", "",
              "| network | GFLOPs | backend | s / render (median, n) |", "|---|---|---|---|"]
    for r in distill:
        lines.append(f"| {r['network']} | {r['gflops']:.1f} | {r['backend']} | {r['median_s']:.4f} ({len(r['seconds'])}) |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
