"""Random-initialised generator files for tests of everything downstream of training."""

from __future__ import annotations

from pathlib import Path

import torch

import paintscape.models  # noqa: F401
from paintscape.checkpoint import save_generator
from paintscape.registry import GENERATORS

TINY_ARGS = {
    "spade": {"base_channels": 8, "hidden_channels": 16, "norm": "batch", "use_vae": True, "z_dim": 16, "image_size": [32, 64]},
    "pix2pix": {"base_channels": 8, "image_size": [32, 64]},
    "tsit": {"base_channels": 4, "norm": "batch", "stream_norm": "instance", "image_size": [128, 256]},
    # needs diffusers (the dev extra has it); a 2-step sampler over a small base trained from scratch
    "controlnet": {
        "train_base": True, "image_size": [16, 32], "unet_channels": [8, 16], "vae_channels": [8, 16],
        "cross_attention_dim": 8, "attention_head_dim": 4, "norm_groups": 4, "conditioning_channels": [8, 16],
        "num_inference_steps": 2,
    },
}


def tiny_generator_file(path: Path, name: str = "spade", seed: int = 0, **changes) -> Path:
    args = {**TINY_ARGS[name], **changes}
    torch.manual_seed(seed)
    generator = GENERATORS.build(name, **{k: tuple(v) if k == "image_size" else v for k, v in args.items()})
    save_generator(path, generator, {"name": name, "args": args, "image_size": args["image_size"], "num_classes": 29})
    return path
