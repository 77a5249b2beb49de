"""A distilled student beside its teacher: GFLOPs and seconds per render, PyTorch fp32/bf16 and onnxruntime.

By default both networks are built from a config (random weights: the time of a forward does not
depend on them): the teacher is the config's generator, the student the same family with widths x
``--width`` (what ``paintscape distill --width`` makes). ``--teacher RUN --student RUN_SMALL`` times
trained runs instead. One render is one label map at the model size through ``Painter.render``
(one-hot, latent, forward, no grad), or ``InferenceSession.run`` on the exported ONNX graph. The
calls are interleaved (teacher and student, every backend, round after round) so machine load
falls on all alike; medians and spreads are reported.

    python benchmarks/bench_distill.py --config paintscape/configs/spade.yaml --width 0.25 --runs 5

Prints one JSON line per (network, backend) and the markdown rows of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from paintscape.checkpoint import build_generator, load_generator
from paintscape.config import load_config
from paintscape.inference.export import example_inputs, export_generator_onnx
from paintscape.inference.painter import Painter
from paintscape.models.base import Generator, GeneratorSpec
from paintscape.train.distill import DEFAULT_WIDTHS, WIDTH_ARGUMENTS, scale_widths
from paintscape.train.networks import generator_spec
from paintscape.train.summary import _flops

REPO = Path(__file__).resolve().parents[1]


def networks(args: argparse.Namespace) -> dict[str, tuple[Generator, GeneratorSpec]]:
    if args.teacher:
        return {"teacher": load_generator(args.teacher), "student": load_generator(args.student)}
    config = load_config(REPO / args.config, [f"data.size=[{args.size[0]}, {args.size[1]}]"])
    spec = generator_spec(config)
    torch.manual_seed(0)
    nets = {"teacher": (build_generator(spec), spec)}
    for width in args.width:
        student = dataclasses.replace(spec, args=scale_widths(spec.family, spec.args, width))
        nets[f"student x{width:g}"] = (build_generator(student), student)
    return nets


def width_args(generator: Generator, spec: GeneratorSpec) -> dict[str, int]:
    return {k: int(spec.args.get(k, DEFAULT_WIDTHS[k])) for k in WIDTH_ARGUMENTS[spec.family]}


def gflops(generator: Generator, spec: GeneratorSpec) -> float:
    names, inputs = example_inputs(generator, spec.image_size)
    extra = dict(zip(names[1:], inputs[1:]))
    return _flops(generator.eval(), inputs[0], **extra)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="paintscape/configs/spade.yaml", help="the teacher's config (repo-relative)")
    parser.add_argument("--width", type=float, nargs="+", default=[0.25], help="one student per width (default 0.25)")
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--teacher", type=Path, default=None, help="a trained teacher run (then --student too)")
    parser.add_argument("--student", type=Path, default=None)
    parser.add_argument("--backends", nargs="+", default=["torch-fp32", "torch-bf16", "onnxruntime-fp32"],
                        choices=("torch-fp32", "torch-bf16", "onnxruntime-fp32"))
    parser.add_argument("--teacher-backends", nargs="+", default=None, help="the teacher's backends (default --backends)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] for the torch backends (onnxruntime runs on the CPU)")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--teacher-runs", type=int, default=None, help="rounds that include the teacher (default --runs)")
    args = parser.parse_args()
    if (args.teacher is None) != (args.student is None):
        parser.error("--teacher and --student go together")

    nets = networks(args)
    calls: dict[tuple[str, str], object] = {}
    info: dict[str, dict] = {}
    workdir = tempfile.TemporaryDirectory()
    for name, (generator, spec) in nets.items():
        print(f"preparing {name}", file=sys.stderr, flush=True)
        info[name] = {"family": spec.family, "args": width_args(generator, spec),
                      "parameters": sum(p.numel() for p in generator.parameters()), "gflops": round(gflops(generator, spec), 2)}
        labels = torch.randint(0, generator.num_classes, (1, *spec.image_size), generator=torch.Generator().manual_seed(1))
        styles = torch.rand(1, 3, *spec.image_size) * 2 - 1 if generator.uses_style else None
        for backend in (args.teacher_backends or args.backends) if name == "teacher" else args.backends:
            if backend.startswith("torch"):
                painter = Painter(copy.deepcopy(generator), spec, device=args.device, precision=backend.split("-")[1])

                def call(painter=painter, labels=labels, styles=styles):
                    painter.render(labels, styles, [0])
                    if painter.device.type == "cuda":
                        torch.cuda.synchronize(painter.device)  # the render has finished, not just been queued

                calls[name, backend] = call
            else:
                import onnxruntime

                path = Path(workdir.name) / f"{name}.onnx"
                names = export_generator_onnx(generator, spec.image_size, path)
                session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                feed = {n: t.numpy() for n, t in zip(names, example_inputs(generator, spec.image_size)[1])}
                calls[name, backend] = lambda session=session, feed=feed: session.run(None, feed)
    for key, call in calls.items():  # warm-up: first-call allocations and kernel selection
        print(f"warm-up {key}", file=sys.stderr, flush=True)
        call()
    times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    # CPU seconds of this process (all its threads) per render: what the render costs whatever else
    # runs on the machine; on an idle machine with T threads, wall ~ CPU / T when they all keep busy.
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    teacher_runs = args.runs if args.teacher_runs is None else args.teacher_runs
    for round_ in range(args.runs):
        print(f"round {round_ + 1}/{args.runs}", file=sys.stderr, flush=True)
        for key, call in calls.items():
            if key[0] == "teacher" and round_ >= teacher_runs:
                continue
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            times[key].append(time.perf_counter() - start)
            cpu[key].append(time.process_time() - start_cpu)
    load = os.getloadavg()
    rows = []
    for (name, backend), seconds in times.items():
        device = args.device if backend.startswith("torch") else "cpu"
        result = {"network": name, "backend": backend, "device": device, **info[name], "size": list(nets[name][1].image_size),
                  "seconds": [round(s, 3) for s in seconds], "median_s": round(statistics.median(seconds), 3),
                  "min_s": round(min(seconds), 3), "median_cpu_s": round(statistics.median(cpu[name, backend]), 3), "max_s": round(max(seconds), 3), "torch_threads": torch.get_num_threads(),
                  "loadavg": [round(v, 2) for v in load], "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
        print(json.dumps(result))
        rows.append(result)
    height, width = nets["teacher"][1].image_size
    print(f"\n| network | widths | params (M) | GFLOPs at {width}x{height} | backend | s / render (median, min-max, n) | CPU s / render |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        widths = ", ".join(f"{k} {v}" for k, v in r["args"].items())
        print(f"| {r['network']} ({r['family']}) | {widths} | {r['parameters'] / 1e6:.2f} | {r['gflops']:.1f} | {r['backend']} | "
              f"{r['median_s']:.3f} ({r['min_s']:.3f}-{r['max_s']:.3f}, {len(r['seconds'])}) | {r['median_cpu_s']:.3f} |")
    for name in info:
        if name != "teacher":
            print(f"\n{name}: GFLOPs = 1/{info['teacher']['gflops'] / info[name]['gflops']:.1f} of the teacher's", end="")
    print(f"\nload average {load[0]:.1f}; torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
