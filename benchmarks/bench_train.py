"""Training seconds per iteration and peak memory of paintscape's real Trainer step.

One iteration is ``Trainer.train_step`` (one generator forward, the D step, the G step with
adversarial + feature-matching + VGG terms, both optimiser steps), the divergence guard and the EMA
update, as in ``Trainer.fit``. Every measurement runs in a fresh subprocess so that its peak RSS
(``resource.getrusage(...).ru_maxrss``) belongs to that measurement alone; on CUDA the peak of
``torch.cuda.max_memory_allocated`` is reported too. VGG19 is randomly initialised (same FLOPs).

``--family controlnet`` is ``paintscape/configs/controlnet.yaml``'s recipe (a 29-class ControlNet over a
frozen Stable Diffusion 1.5, gradient checkpointing, no EMA): its iteration is the diffusion objective's
step (a VAE encode, the ControlNet and the UNet forward and backward, the ControlNet's Adam step). No
weights can be downloaded, so the base is written once per invocation, before the measurement processes,
as a diffusers-format folder of random weights (``--base``, see ``sd15_base.py``: SD 1.5's UNet, VAE and
text encoder shapes, or ``tiny``), which the Trainer reads through paintscape's ``load_base``. The text
encoder only encodes the prompt once at setup and is then dropped. Denormals are flushed for this family
(``torch.set_flush_denormal``) so that random weights cannot take a slow path trained ones do not. The
base is held in fp32 with ``--precision fp32`` and in bf16 with ``--precision bf16`` (the recipe's
``base_dtype``); bf16 is emulated on CPUs without bf16 kernels and many times slower there.

    python benchmarks/bench_train.py --family spade --size 256 256 --batch 1 --steps 5 --warmup 2
    python benchmarks/bench_train.py --family pix2pix --size 256 256 --batch 1
    python benchmarks/bench_train.py --family oasis --size 256 256 --batch 1 --steps 3 --warmup 1
    python benchmarks/bench_train.py --family controlnet --size 256 256 --batch 1 --steps 3 --warmup 1
    python benchmarks/bench_train.py --family controlnet --base tiny --size 64 64 --steps 1 --warmup 1
    python benchmarks/bench_train.py --family spade --precision bf16 --channels-last --repeats 2
    python benchmarks/bench_train.py --family tsit --size 384 512 --equal-settings --no-ema --steps 1 --warmup 1 --profile

Prints one JSON line per repeat (per-step wall and CPU seconds, median, peak memory, load average).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/: timing

from timing import timing_fields  # noqa: E402


class RandomBase:
    """A frozen Stable Diffusion base with random weights, of ``--base``'s shapes (``sd15_base.py``), for a
    family that trains over one (controlnet). The parent process writes it once per invocation into a
    folder the measurement processes share (writing it is not part of a measurement's peak memory);
    each measurement flushes denormals, so that random weights cannot take a slow path trained ones
    do not, and records the base and which of the generator's parts recompute activations in backward."""

    def write(self, folder: Path, args: argparse.Namespace) -> list[str]:
        """The base in ``folder``, and the overrides that train over it (held in ``--precision``'s dtype)."""
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # sd15_base, bench_diffusion: this folder's modules
        from sd15_base import write_base

        write_base(folder / "base", args.base)
        return [f"model.generator.args.base={folder / 'base'}", f"model.generator.args.base_dtype={args.precision}"]

    def fields(self, generator: object, args: argparse.Namespace) -> dict:
        parts = dict(generator.named_children())
        checkpointed = [name for name, part in parts.items() if getattr(part, "is_gradient_checkpointing", False)]
        return {
            "base": args.base,
            "gradient_checkpointing": sorted(checkpointed),
            **{f"{name}_parameters": sum(p.numel() for p in parts[name].parameters()) for name in ("unet", "controlnet")},
        }


@dataclass(frozen=True)
class Family:
    """A trainable family at the paper's widths, with the loss and settings its reference trains with.

    ``config`` is the family's tiny config (for data and loader settings) or, where the family has no
    tiny one at the real widths, its recipe; ``model`` and ``loss`` are overrides that give the
    full-width networks and the reference's loss terms. ``dont_care``: the reference adds a don't-care
    label channel (``--contain_dontcare_label``); ``--equal-settings`` adds it here too so both sides
    have the same input channels. ``equal``: more overrides ``--equal-settings`` adds, the reference's
    settings where they differ from paintscape's. ``ema_half_life_images``: the EMA measured unless
    ``--no-ema`` (0: none, as the family's recipe keeps none). ``base``: the family trains over a
    frozen pretrained base, which is written here with random weights (:class:`RandomBase`).
    """

    config: str
    model: Callable[[int], list[str]]  # extra label channels -> model overrides
    loss: list[str]
    train: list[str] = field(default_factory=list)
    dont_care: bool = False
    equal: list[str] = field(default_factory=list)
    ema_half_life_images: int = 10000
    base: RandomBase | None = None

    def overrides(self, size: tuple[int, int], batch: int, equal: bool) -> list[str]:
        h, w = size
        extra = 1 if (equal and self.dont_care) else 0
        return [
            f"data.size=[{h}, {w}]",
            f"train.phases=[{{batch_size: {batch}, lr: 0.0002, steps: 1000000}}]",
            "loss.vgg_weights=random",
            "data.workers=0",
            *self.model(extra),
            *self.loss,
            *self.train,
            # the references feed VGG the [-1, 1] image as it is (same FLOPs either way)
            *(["loss.vgg_normalization=none", *self.equal] if equal else []),
        ]


def _spade_model(extra: int) -> list[str]:
    return [
        "model.generator.args={base_channels: 64, norm: syncbatch, use_vae: false, "
        f"num_upsampling_layers: normal, extra_label_channels: {extra}}}",
        f"model.discriminator.args={{base_channels: 64, num_scales: 2, num_layers: 4, extra_label_channels: {extra}}}",
    ]


def _tsit_model(extra: int) -> list[str]:
    return [
        "model.generator.args={base_channels: 64, num_upsampling_layers: more, norm: syncbatch, "
        f"stream_norm: instance, spectral: true, style_stream: false, use_vae: false, input_channels: {29 + extra}}}",
        "model.discriminator.name=multiscale",
        f"model.discriminator.args={{base_channels: 64, num_scales: 2, num_layers: 4, extra_label_channels: {extra}}}",
    ]


def _pix2pix_model(extra: int) -> list[str]:
    return [
        "model.generator.args={base_channels: 64, norm: batch, dropout: 0.5}",
        "model.discriminator.args={base_channels: 64, num_layers: 3, norm: batch}",
    ]


def _oasis_model(extra: int) -> list[str]:
    # boschresearch/OASIS's defaults: channels_G 64, 3D noise 64, 6-level U-Net D; no VGG
    return [
        "model.generator.args={base_channels: 64, z_dim: 64, norm: syncbatch, spectral: true}",
        "model.discriminator.args={base_channels: 64, spectral: true}",
    ]


def _controlnet_model(extra: int) -> list[str]:
    return []  # the recipe's generator; RandomBase.write points it at the base


#: One entry per trainable family. Settings: the papers' widths and the loss each reference trains
#: with (benchmarks/reference/README.md).
FAMILIES: dict[str, Family] = {
    # NVlabs/SPADE: ngf/ndf 64, spectral SPADE sync-BN, "normal", multiscale D 2x4, hinge + feat 10 + VGG 10
    "spade": Family("paintscape/configs/spade_tiny.yaml", _spade_model, ["loss.weights={adv: 1.0, feat: 10.0, vgg: 10.0}"],
                    dont_care=True),
    # EndlessSora/TSIT, SIS: content stream only, no VAE, "more", spectral FADE sync-BN, D 2x4,
    # hinge + feat 10 + VGG 20 (its SIS train scripts' --lambda_vgg 20)
    "tsit": Family("paintscape/configs/tsit_tiny.yaml", _tsit_model, ["loss.weights={adv: 1.0, feat: 10.0, vgg: 20.0}"],
                   ["train.betas=[0.0, 0.9]", "train.ttur=true"], dont_care=True),
    # junyanz/pytorch-CycleGAN-and-pix2pix: unet_256, batch norm, dropout, basic D 3 layers, BCE + 100 L1
    "pix2pix": Family("paintscape/configs/pix2pix_tiny.yaml", _pix2pix_model, ["loss.weights={adv: 1.0, l1: 100.0}"]),
    # boschresearch/OASIS: segmentation D with LabelMix 10, no VGG; the EMA's BN refresh is not a step cost
    "oasis": Family("paintscape/configs/oasis_tiny.yaml", _oasis_model, ["loss.weights={adv: 1.0, labelmix: 10.0, vgg: 0.0}"],
                    ["train.ema_bn_refresh_batches=0"]),
    # controlnet.yaml's recipe (SCP-Diff): ControlNet over a frozen SD 1.5, gradient checkpointing, no EMA.
    # huggingface/diffusers' train_controlnet.py clips at --max_grad_norm 1 and drops no condition
    "controlnet": Family("paintscape/configs/controlnet.yaml", _controlnet_model, ["loss.weights={diffusion: 1.0}"],
                         equal=["train.max_grad_norm=1.0", "loss.label_dropout=0.0"], ema_half_life_images=0,
                         base=RandomBase()),
}


def _rss_gb() -> float:
    """Resident memory now (Linux), GB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 2**20, 3)
    except OSError:
        pass
    return float("nan")


def _profile(iteration: Callable[[int], None], step: int, device) -> dict:
    """One more iteration under torch.profiler: its table (by self CPU time) goes to stderr; the JSON
    gets the share of each operator that took at least 1 % and the share of all convolutions."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        iteration(step)
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr, flush=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    shares = {e.key: round(e.self_cpu_time_total / total, 4) for e in events if e.self_cpu_time_total >= 0.01 * total}
    convolutions = sum(e.self_cpu_time_total for e in events if "conv" in e.key and e.key.startswith("aten::"))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {
        "self_cpu_s": round(total / 1e6, 3),
        "convolution_share": round(convolutions / total, 4),
        "ops": dict(sorted(shares.items(), key=lambda kv: -kv[1])),
    }


def measure(args: argparse.Namespace) -> dict:
    """One measurement in this (fresh) process."""
    import torch

    from paintscape.config import load_config
    from paintscape.data.synthetic import write_dataset
    from paintscape.train.divergence import check_weights_finite
    from paintscape.train.trainer import Trainer

    size = tuple(args.size)
    family = FAMILIES[args.family]
    overrides = family.overrides(size, args.batch, args.equal_settings)
    overrides += [
        f"train.device={args.device}",
        f"train.precision={args.precision}",
        f"train.channels_last={str(args.channels_last).lower()}",
        f"train.compile={str(args.compile).lower()}",
        f"train.ema_half_life_images={0 if args.no_ema else family.ema_half_life_images}",
        *args.prepared,  # the parent's RandomBase.write
        *args.set,
    ]
    if family.base is not None:
        torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory(prefix="paintscape-bench-") as tmp:
        root = Path(tmp) / "data"
        write_dataset(str(root), 4, size=size, seed=0, workers=1, progress=False)
        config = load_config(REPO / family.config, overrides + [f"data.root={root}"])
        trainer = Trainer(config, Path(tmp) / "run", progress=False, check_data=False)
        trainer.setup()
        device = trainer.device
        weights = dict(config.loss.weights)
        gen = torch.Generator().manual_seed(0)
        batch = {
            "image": torch.rand(args.batch, 3, *size, generator=gen) * 2 - 1,
            "label": torch.randint(0, 29, (args.batch, *size), generator=gen),
        }
        rss_setup = _rss_gb()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        wall, cpu = [], []
        trainer.state.train_mode()

        def iteration(step: int) -> None:
            trainer.train_step(batch, weights)
            roles = {name: role.module for name, role in trainer.state.roles.items()}
            check_weights_finite(roles, trainer.info, step, trainer.run_dir)  # as Trainer.fit, after each step
            trainer.state.advance(args.batch)  # the step counter and the EMA update

        for step in range(args.warmup + args.steps):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0, c0 = time.perf_counter(), time.process_time()
            iteration(step)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            print(f"step {step}: {wall[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU", file=sys.stderr, flush=True)
        profile = _profile(iteration, args.warmup + args.steps, device) if args.profile else None
        from paintscape.train.optimizers import state_bytes

        optimizer_state_gb = {
            ("G" if name == "generator" else "D" if name == "discriminator" else name): round(state_bytes(optimizer) / 2**30, 3)
            for name, optimizer in trainer.state.optimizers.items()
        }
        ema = trainer.state.ema is not None
        family_fields = {} if family.base is None else family.base.fields(trainer.state.objective.generator(), args)
        if trainer.log is not None:
            trainer.log.close()
    result = {
        "impl": "paintscape",
        "family": args.family,
        "size": list(size),
        "batch": args.batch,
        "device": str(device),
        "precision": args.precision,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "ema": ema,
        "equal_settings": args.equal_settings,
        "set": args.set,
        "threads": torch.get_num_threads(),
        **timing_fields(wall, cpu, args.warmup, args.batch),
        "rss_after_setup_gb": rss_setup,
        "optimizer_state_gb": optimizer_state_gb,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_", "glibc default"),
        **family_fields,
    }
    if profile is not None:
        result["profile"] = profile
    if device.type == "cuda":
        result["cuda_max_allocated_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="spade", choices=sorted(FAMILIES))
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--no-ema", action="store_true",
        help="no EMA generator (the references keep none); without it the GAN families keep one (half-life 10000 "
        "images) and controlnet keeps none, as its recipe (the JSON line's ema field says which)",
    )  # fmt: skip
    parser.add_argument(
        "--equal-settings",
        action="store_true",
        help="the reference scripts' settings where they differ from paintscape's defaults: the don't-care "
        "label channel (SPADE, TSIT), VGG fed the [-1, 1] image; controlnet: gradients clipped at norm 1, no label "
        "dropout (see benchmarks/reference/README.md)",
    )
    parser.add_argument(
        "--base", default="sd15", choices=("sd15", "tiny"),
        help="controlnet: the random-weight base written for the run: sd15 (Stable Diffusion 1.5's shapes, the "
        "default) or tiny (its layout at small widths, for quick checks; its times say nothing about SD 1.5)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="any config override, e.g. --set train.optimizer_in_backward=true (repeatable)",
    )
    parser.add_argument("--steps", type=int, default=6, help="timed iterations (default 6)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="fresh subprocesses, one measurement each")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the timed iterations, one more under torch.profiler: its operator table to stderr, "
        "each operator's share of the CPU time (and all convolutions') in the JSON line",
    )
    parser.add_argument(
        "--malloc-mmap-threshold-mb",
        type=int,
        default=None,
        help="run the measurement with glibc's MALLOC_MMAP_THRESHOLD_ set to this many MiB (Linux): "
        "tensors below it come from the reusable heap instead of fresh page-faulted mappings",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepared", action="append", default=[], help=argparse.SUPPRESS)  # the parent's overrides
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(measure(args)), flush=True)
        return
    family = FAMILIES[args.family]
    with tempfile.TemporaryDirectory(prefix="paintscape-bench-base-") as shared:
        child_args = list(sys.argv[1:])
        if family.base is not None:
            child_args += [f"--prepared={o}" for o in family.base.write(Path(shared), args)]
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
