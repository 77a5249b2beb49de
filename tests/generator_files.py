"""Random-initialised generator files for tests of everything downstream of training."""

from __future__ import annotations

from pathlib import Path

import torch

import paintscape.models  # noqa: F401
from paintscape.checkpoint import build_generator, save_generator
from paintscape.models.base import GeneratorSpec

TINY_ARGS = {
    "spade": {"base_channels": 8, "hidden_channels": 16, "norm": "batch", "use_vae": True, "z_dim": 16, "image_size": [32, 64]},
    "pix2pix": {"base_channels": 8, "image_size": [32, 64]},
    "tsit": {"base_channels": 4, "norm": "batch", "stream_norm": "instance", "image_size": [128, 256]},
    "oasis": {"base_channels": 2, "channel_multipliers": [8, 8, 4, 2, 1], "z_dim": 8, "hidden_channels": 16, "norm": "batch", "image_size": [32, 64]},
    # needs diffusers (the dev extra has it); a 2-step sampler over a small base trained from scratch
    "controlnet": {
        "train_base": True, "image_size": [16, 32], "unet_channels": [8, 16], "vae_channels": [8, 16],
        "cross_attention_dim": 8, "attention_head_dim": 4, "norm_groups": 4, "conditioning_channels": [8, 16],
        "num_inference_steps": 2,
    },
}


def tiny_generator_file(path: Path, name: str = "spade", seed: int = 0, **changes) -> Path:
    args = {**TINY_ARGS[name], **changes}
    spec = GeneratorSpec(name, args, tuple(args["image_size"]))
    torch.manual_seed(seed)
    save_generator(path, build_generator(spec), spec)
    return path


def varied_generator_file(path: Path, name: str, init_std: float, seed: int = 0) -> Path:
    """A tiny generator whose outputs vary across pixels, for comparisons that must see differences.

    Freshly initialised tiny networks render an almost constant image (pix2pix's 0.02-std init gives
    a per-image pixel std of ~0.005 on [-1, 1]) or one saturated at +-1 (SPADE's, before its batch
    norms have statistics): two implementations could disagree and still match there. Here every
    convolution gets weights of std ``init_std`` and the batch norms running statistics of a few
    random label maps, so that the output spreads over [-1, 1] without saturating.
    """
    args = TINY_ARGS[name]
    spec = GeneratorSpec(name, args, tuple(args["image_size"]))
    torch.manual_seed(seed)
    generator = build_generator(spec)
    for module in generator.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear):
            torch.nn.init.normal_(module.weight, 0.0, init_std)
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batch
    ids = torch.randint(0, 29, (8, *args["image_size"]))
    with torch.no_grad():
        generator.train()(torch.nn.functional.one_hot(ids, 29).permute(0, 3, 1, 2).float())
    save_generator(path, generator.eval(), spec)
    return path
