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
}


def tiny_generator_file(path: Path, name: str = "spade", seed: int = 0, **changes) -> Path:
    args = {**TINY_ARGS[name], **changes}
    spec = GeneratorSpec(name, args, tuple(args["image_size"]))
    torch.manual_seed(seed)
    save_generator(path, build_generator(spec), spec)
    return path
