"""Sampling cost of the ``controlnet`` family per image: one denoising evaluation (ControlNet + UNet at
the latent size, as ``ControlNetGenerator.predict`` calls them) and one VAE decode at the image size,
then the cost of a whole sample for N steps (N evaluations + one decode; with classifier-free guidance
each evaluation runs on a batch of two).

Two configurations, random weights (the cost does not depend on the values):

* ``tiny`` — ``paintscape/configs/controlnet_tiny.yaml``'s base at the requested size, built through the
  registry, so a full ``generator(label, z)`` sample is timed as well, as a check of the sum;
* ``sd15`` — Stable Diffusion 1.5's UNet and VAE (the ``unet/config.json`` and ``vae/config.json`` of
  ``stable-diffusion-v1-5/stable-diffusion-v1-5``, written out below) and a ControlNet made from that
  UNet with a 29-channel conditioning stem; the text encoder is replaced by a random (1, 77, 768)
  prompt embedding, which is all the UNet sees of it. The modules are built on the meta device and
  filled with N(0, 0.02) values (fast; an initialiser would take minutes and change nothing).

    python benchmarks/bench_diffusion.py --config tiny --size 384 512 --threads 1
    python benchmarks/bench_diffusion.py --config sd15 --size 384 512 --threads 1 --precision bf16
    python benchmarks/bench_diffusion.py --config sd15 --size 384 512 --threads 1 --precision fp32
    python benchmarks/bench_diffusion.py --conv-check --threads 1   # one conv in fp32 / bf16 / bf16 channels-last

Denormals are flushed (``torch.set_flush_denormal``) so that random weights cannot hit the slow
denormal path that trained weights do not. Prints one JSON line per measured part to stdout.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 768,
    "norm_num_groups": 32,
}
SD15_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}


def timed(fn, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for i in range(warmup + runs):
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            fn()
        if i >= warmup:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"  call {i}: {time.perf_counter() - t0:.2f} s", file=sys.stderr, flush=True)
    return wall, cpu


def report(part: str, args: argparse.Namespace, wall: list[float], cpu: list[float], **extra) -> dict:
    row = {
        "config": args.config,
        "part": part,
        "size": list(args.size),
        "precision": args.precision,
        "threads": torch.get_num_threads(),
        "calls_s": [round(t, 3) for t in wall],
        "median_s": round(statistics.median(wall), 3),
        "median_cpu_s": round(statistics.median(cpu), 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        **extra,
    }
    print(json.dumps(row), flush=True)
    return row


def fill_random(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    module = module.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.02, generator=g)
        for b in module.buffers():
            b.zero_()
    return module.to(dtype).eval().requires_grad_(False)


def denoising_evaluation(controlnet, unet, x, t, text, cond) -> None:
    """What ``ControlNetGenerator.predict`` runs: the ControlNet, then the UNet with its residuals."""
    down, mid = controlnet(x, t, encoder_hidden_states=text, controlnet_cond=cond, return_dict=False)
    unet(x, t, encoder_hidden_states=text, down_block_additional_residuals=down, mid_block_additional_residual=mid)


def sd15_modules(dtype: torch.dtype):
    import diffusers

    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel(**SD15_UNET)
        controlnet = diffusers.ControlNetModel.from_unet(unet, conditioning_channels=29, load_weights_from_unet=False)
    unet, controlnet = fill_random(unet, dtype), fill_random(controlnet, dtype)
    return unet, controlnet


def tiny_generator(size: tuple[int, int], dtype: torch.dtype):
    from paintscape.config import load_config
    from paintscape.train.networks import build_generator_from_config

    config = load_config(REPO / "paintscape" / "configs" / "controlnet_tiny.yaml", [f"data.size=[{size[0]}, {size[1]}]"])
    torch.manual_seed(0)
    generator, _ = build_generator_from_config(config)
    return generator.to(dtype).eval().requires_grad_(False)


def conv_check() -> None:
    """CPU seconds of one 320-channel 3x3 convolution at 48x64 (the SD UNet's first level at 512x384) per dtype:
    whether this CPU has fast bf16 kernels."""
    conv = torch.nn.Conv2d(320, 320, 3, padding=1).eval()
    x = torch.randn(1, 320, 48, 64)
    for name, dtype, layout in (
        ("fp32", torch.float32, torch.contiguous_format),
        ("bf16", torch.bfloat16, torch.contiguous_format),
        ("bf16 channels-last", torch.bfloat16, torch.channels_last),
    ):
        c, xx = conv.to(dtype).to(memory_format=layout), x.to(dtype).contiguous(memory_format=layout)
        _, cpu = timed(functools.partial(c, xx), 2, 1)
        print(
            json.dumps(
                {"part": "conv 320->320 3x3 at 48x64", "dtype": name, "median_cpu_s": round(statistics.median(cpu), 3)}
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("tiny", "sd15"), default="tiny")
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 50], help="sampler steps to total up")
    parser.add_argument(
        "--full-sample-steps", type=int, default=20, help="tiny only: time whole samples of this many steps"
    )
    parser.add_argument("--full-sample-runs", type=int, default=1, help="tiny only: how many whole samples (0: none)")
    parser.add_argument("--conv-check", action="store_true", help="only time one SD-sized conv per dtype, then exit")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    if args.conv_check:
        conv_check()
        return
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.precision]
    H, W = args.size
    label = torch.nn.functional.one_hot(torch.randint(0, 29, (1, H, W), generator=torch.Generator().manual_seed(0)), 29)
    label = label.permute(0, 3, 1, 2).to(dtype)

    generator = None
    if args.config == "tiny":
        generator = tiny_generator((H, W), dtype)
        unet, controlnet, vae = generator.unet, generator.controlnet, generator.vae
        prompt = generator.prompt_embedding.detach().to(dtype)
        factor = generator.vae_factor
    else:
        unet, controlnet = sd15_modules(dtype)
        prompt = torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(0)).to(dtype)
        factor = 8
    params = {
        "unet_parameters": sum(p.numel() for p in unet.parameters()),
        "controlnet_parameters": sum(p.numel() for p in controlnet.parameters()),
    }
    print(json.dumps(params), flush=True)

    rows = {}
    for batch in (1, 2):  # 2: one guided step (unconditional + conditional)
        x = torch.randn(batch, 4, H // factor, W // factor).to(dtype)
        t = torch.tensor(500)
        cond, text = label.expand(batch, -1, -1, -1), prompt.expand(batch, -1, -1)

        print(f"ControlNet + UNet, batch {batch}", file=sys.stderr)
        evaluation = functools.partial(denoising_evaluation, controlnet, unet, x, t, text, cond)
        rows[batch] = report(
            f"controlnet+unet batch {batch}", args, *timed(evaluation, args.runs, args.warmup), **params
        )

    if args.config == "sd15":
        del unet, controlnet  # keep the peak to one big model at a time
        import diffusers

        with torch.device("meta"):
            vae = diffusers.AutoencoderKL(**SD15_VAE)
        vae = fill_random(vae, dtype)
    latents = torch.randn(1, 4, H // factor, W // factor).to(dtype)
    print("VAE decode", file=sys.stderr)
    decode = report(
        "vae decode",
        args,
        *timed(lambda: vae.decode(latents), args.runs, args.warmup),
        vae_parameters=sum(p.numel() for p in vae.parameters()),
    )

    for steps in args.steps:
        for guided, batch in ((False, 1), (True, 2)):
            per_image = steps * rows[batch]["median_s"] + decode["median_s"]
            per_image_cpu = steps * rows[batch]["median_cpu_s"] + decode["median_cpu_s"]
            print(
                json.dumps(
                    {
                        "config": args.config,
                        "part": "per image (sum)",
                        "steps": steps,
                        "guidance": guided,
                        "s": round(per_image, 2),
                        "cpu_s": round(per_image_cpu, 2),
                        "precision": args.precision,
                    }
                ),
                flush=True,
            )

    if generator is not None and args.full_sample_runs:
        z = generator.latent_for([0], (H, W)).to(dtype)
        print(f"whole sample, {args.full_sample_steps} steps", file=sys.stderr)
        with generator.sampling(num_inference_steps=args.full_sample_steps, scheduler="dpm++"):
            report(
                f"whole sample {args.full_sample_steps} steps",
                args,
                *timed(lambda: generator(label, z), args.full_sample_runs, 0),
            )


if __name__ == "__main__":
    main()
