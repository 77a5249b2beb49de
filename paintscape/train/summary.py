"""``paintscape inspect``: parameter counts, output sizes and forward GFLOPs of a config's networks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from paintscape.config import Config
from paintscape.models.oasis import OASISDiscriminator


@dataclass
class NetworkSummary:
    role: str
    name: str
    parameters: int
    output: str
    gflops: float


def count_parameters(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _flops(module: nn.Module, *args, **kwargs) -> tuple[float, object]:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = module(*args, **kwargs)
    return counter.get_total_flops() / 1e9, out


def _shape(out: object) -> str:
    if isinstance(out, torch.Tensor):
        return "x".join(map(str, out.shape))
    if isinstance(out, list | tuple):  # multiscale D: the logits of each scale
        return ", ".join(_shape(o[-1] if isinstance(o, list | tuple) else o) for o in out)
    return type(out).__name__


def summarize(config: Config) -> list[NetworkSummary]:
    """Builds the networks on the ``meta`` device (no memory, no weights) and counts a batch-1 forward."""
    from paintscape.train.networks import build_discriminator, build_generator_from_config

    with torch.device("meta"):
        generator, spec = build_generator_from_config(config)
        discriminator = None if config.model.discriminator is None else build_discriminator(config)
    generator.eval()
    H, W = config.data.size
    with torch.device("meta"):
        label = torch.zeros(1, generator.num_classes, H, W)
        image = torch.zeros(1, 3, H, W)
    encoder = generator.encoder
    style = image if generator.uses_style else None
    latent = generator.latent_shape(1, (H, W))
    z = None if latent is None else torch.zeros(latent, device="meta")
    g_flops, fake = _flops(generator, label, z=z, style=style)
    rows = [NetworkSummary("generator", spec.family, count_parameters(generator) - count_parameters(encoder), _shape(fake), g_flops)]
    if encoder is not None:
        e_flops, (mu, _) = _flops(encoder, image)
        rows.append(NetworkSummary("encoder", type(encoder).__name__, count_parameters(encoder), f"mu, logvar {_shape(mu)}", e_flops))
    if discriminator is None:  # a discriminator-free objective (diffusion)
        return rows
    discriminator.eval()
    # A segmentation discriminator (OASIS) sees the photo alone; the patch discriminators see both.
    d_inputs = (image,) if isinstance(discriminator, OASISDiscriminator) else (label, image)
    d_flops, predictions = _flops(discriminator, *d_inputs)
    rows.append(NetworkSummary("discriminator", config.model.discriminator.name, count_parameters(discriminator), _shape(predictions), d_flops))
    return rows


def format_table(rows: list[NetworkSummary], size: tuple[int, int]) -> str:
    lines = [f"networks at {size[1]}x{size[0]} (WxH), batch 1", f"{'role':<14}{'name':<18}{'parameters':>14}  {'GFLOPs':>9}  output"]
    for r in rows:
        lines.append(f"{r.role:<14}{r.name:<18}{r.parameters:>14,}  {r.gflops:>9.2f}  {r.output}")
    return "\n".join(lines)
