"""The reference side of docs/benchmarks.md's ControlNet training step: the loop body of huggingface/diffusers'
``examples/controlnet/train_controlnet.py`` (read at diffusers' commit 58eb52c; none of it is copied here),
written out with diffusers' own modules on the CPU, one process per measurement:

    latents = vae.encode(photo).latent_dist.sample() * vae.config.scaling_factor
    noise, timesteps (uniform over the 1000 training steps), noisy = scheduler.add_noise(latents, noise, timesteps)
    text = text_encoder(prompt ids)                         # every step, as the script does
    down, mid = controlnet(noisy, timesteps, text, controlnet_cond=label map)
    prediction = unet(noisy, timesteps, text, down and mid residuals)
    loss = mse(prediction, noise); backward; clip the ControlNet's gradient norm at 1; AdamW step;
    constant learning-rate schedule step; zero_grad(set_to_none=False)

The script's defaults where they matter: ``torch.optim.AdamW`` with lr 5e-6, betas (0.9, 0.999), weight
decay 1e-2, eps 1e-8 (torch's own choice of kernel); ``--max_grad_norm`` 1; ``--set_grads_to_none`` off;
the UNet, VAE and text encoder frozen; gradient checkpointing only with its flag, and then on the
ControlNet alone (``--gradient-checkpointing controlnet``). ``both`` checkpoints the UNet as well, which
is what paintscape's recipe (``gradient_checkpointing: true``) does: use it for equal settings with
``bench_train.py --family controlnet``. Mixed precision as ``accelerate`` would do it
(``--precision bf16``): the frozen modules held in bf16, the ControlNet's forward under bf16 autocast.

Modules: ``ControlNetModel.from_unet(unet, conditioning_channels=29)`` (the ControlNet initialised from
the UNet, as the script does without ``--controlnet_model_name_or_path``) over the random-weight base
of ``--base`` (``benchmarks/sd15_base.py``: Stable Diffusion 1.5's UNet, VAE and text encoder shapes,
or ``tiny``), the same modules and values ``bench_train.py --family controlnet --base ...`` trains over.
The conditioning image is the 29-channel one-hot label map (paintscape's input), in place of the
script's RGB image; the photo and the map are random (fixed seed). Denormals are flushed, as on
paintscape's side. The text encoder is run every step, as the script does (paintscape encodes its
fixed prompt once at setup).

    python benchmarks/reference/bench_controlnet_step.py --size 256 256 --steps 3 --warmup 1 --gradient-checkpointing both
    python benchmarks/reference/bench_controlnet_step.py --base tiny --size 64 64 --steps 1 --warmup 1

Prints one JSON line with the fields of ``time_reference.py``'s (per-step wall and CPU seconds, median,
spread, peak RSS, load average), which ``benchmarks/summarize.py`` reads beside ``bench_train.py``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: sd15_base, bench_diffusion, timing

from timing import timing_fields  # noqa: E402

NUM_CLASSES = 29
CHECKPOINTING = {"none": (), "controlnet": ("controlnet",), "both": ("controlnet", "unet")}


def _rss_gb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 2**20, 3)
    except OSError:
        pass
    return float("nan")


def build(args: argparse.Namespace):
    """The modules, the optimiser, the schedules and the batch; returns ``iteration()``."""
    import diffusers
    import torch
    import torch.nn.functional as F
    from diffusers.optimization import get_scheduler
    from sd15_base import SD15_SCHEDULER, build_module, prompt_ids, tokenizer

    device = torch.device(args.device)
    weight_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.precision]
    unet = build_module(args.base, "unet")
    vae = build_module(args.base, "vae")
    text_encoder = build_module(args.base, "text_encoder")
    with tempfile.TemporaryDirectory() as folder:
        prompt = prompt_ids(tokenizer(Path(folder)), args.batch).to(device)
    noise_scheduler = diffusers.DDPMScheduler.from_config(SD15_SCHEDULER)
    controlnet = diffusers.ControlNetModel.from_unet(unet, conditioning_channels=NUM_CLASSES)

    for module in (vae, unet, text_encoder):
        module.requires_grad_(False)
    controlnet.train()
    if "controlnet" in CHECKPOINTING[args.gradient_checkpointing]:
        controlnet.enable_gradient_checkpointing()
    if "unet" in CHECKPOINTING[args.gradient_checkpointing]:
        unet.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(
        controlnet.parameters(), lr=5e-6, betas=(0.9, 0.999), weight_decay=args.weight_decay, eps=1e-8
    )
    lr_scheduler = get_scheduler("constant", optimizer=optimizer)
    controlnet.to(device)
    for module in (vae, unet, text_encoder):
        module.to(device, dtype=weight_dtype)

    H, W = args.size
    g = torch.Generator().manual_seed(0)
    photo = (torch.rand(args.batch, 3, H, W, generator=g) * 2 - 1).to(device)
    label = torch.randint(0, NUM_CLASSES, (args.batch, H, W), generator=g)
    condition = F.one_hot(label, NUM_CLASSES).permute(0, 3, 1, 2).float().to(device)
    torch.manual_seed(0)

    def iteration() -> None:
        latents = vae.encode(photo.to(dtype=weight_dtype)).latent_dist.sample()
        latents = latents * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],), device=device)
        noisy = noise_scheduler.add_noise(latents.float(), noise.float(), timesteps.long()).to(dtype=weight_dtype)
        text = text_encoder(prompt, return_dict=False)[0]
        # accelerate runs the prepared model (the ControlNet) under autocast with mixed precision
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            down, mid = controlnet(
                noisy, timesteps, encoder_hidden_states=text, controlnet_cond=condition.to(dtype=weight_dtype),
                return_dict=False,
            )  # fmt: skip
        prediction = unet(
            noisy, timesteps, encoder_hidden_states=text,
            down_block_additional_residuals=[d.to(dtype=weight_dtype) for d in down],
            mid_block_additional_residual=mid.to(dtype=weight_dtype), return_dict=False,
        )[0]  # fmt: skip
        loss = F.mse_loss(prediction.float(), noise.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(controlnet.parameters(), args.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=False)

    params = {
        "unet_parameters": sum(p.numel() for p in unet.parameters()),
        "controlnet_parameters": sum(p.numel() for p in controlnet.parameters()),
        "vae_parameters": sum(p.numel() for p in vae.parameters()),
        "text_encoder_parameters": sum(p.numel() for p in text_encoder.parameters()),
    }
    return iteration, params


def measure(args: argparse.Namespace) -> dict:
    import diffusers
    import torch

    torch.set_flush_denormal(True)  # random weights: no slow denormal path that trained weights would not take
    iteration, params = build(args)
    rss_setup = _rss_gb()
    wall, cpu = [], []
    for step in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        iteration()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"step {step}: {wall[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU", file=sys.stderr, flush=True)
    return {
        "impl": "reference",
        "repository": "huggingface/diffusers",
        "script": "examples/controlnet/train_controlnet.py",
        "diffusers": diffusers.__version__,
        "family": "controlnet",
        "size": list(args.size),
        "batch": args.batch,
        "device": args.device,
        "precision": args.precision,
        "ema": False,
        "mode": "train",
        "base": args.base,
        "gradient_checkpointing": sorted(CHECKPOINTING[args.gradient_checkpointing]),
        "optimizer": f"AdamW(lr=5e-6, betas=(0.9, 0.999), weight_decay={args.weight_decay}, eps=1e-8)",
        "max_grad_norm": args.max_grad_norm,
        **params,
        "threads": torch.get_num_threads(),
        **timing_fields(wall, cpu, args.warmup, args.batch),
        "rss_after_setup_gb": rss_setup,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_", "glibc default"),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--base", default="sd15", choices=("sd15", "tiny"), help="as bench_train.py --base (default sd15)"
    )
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument(
        "--gradient-checkpointing", default="none", choices=sorted(CHECKPOINTING),
        help="none (the script's default), controlnet (its --gradient_checkpointing) or both (the UNet too, as "
        "paintscape's recipe does)",
    )  # fmt: skip
    parser.add_argument(
        "--weight-decay", type=float, default=1e-2,
        help="AdamW's weight decay (the script's default 1e-2; 0 is paintscape's Adam)",
    )  # fmt: skip
    parser.add_argument("--max-grad-norm", type=float, default=1.0, help="the script's default 1")
    parser.add_argument("--steps", type=int, default=3, help="timed iterations (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first (default 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(measure(parse(argv))), flush=True)


if __name__ == "__main__":
    main()
