"""``paintscape export``: a generator as an ONNX graph (label one-hot [, z] [, style] -> image)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from paintscape.checkpoint import load_generator
from paintscape.io_atomic import atomic_write_bytes
from paintscape.models.base import Generator


class _ExportWrapper(nn.Module):
    """Positional inputs only, as ONNX wants: ``(label[, z][, style])``."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator
        self.takes_z = generator.z_dim > 0
        self.takes_style = generator.uses_style

    def forward(self, label: Tensor, *extra: Tensor) -> Tensor:
        extra_list = list(extra)
        z = extra_list.pop(0) if self.takes_z else None
        style = extra_list.pop(0) if self.takes_style else None
        return self.generator(label, z=z, style=style)


def example_inputs(generator: Generator, size: tuple[int, int], batch: int = 1, seed: int = 0) -> tuple[list[str], tuple[Tensor, ...]]:
    generator_rng = torch.Generator().manual_seed(seed)
    H, W = size
    ids = torch.randint(0, generator.num_classes, (batch, H, W), generator=generator_rng)
    label = torch.nn.functional.one_hot(ids, generator.num_classes).permute(0, 3, 1, 2).float()
    names, inputs = ["label"], [label]
    latent = generator.latent_shape(batch, size)
    if latent is not None:
        names.append("z")
        inputs.append(torch.randn(latent, generator=generator_rng))
    if generator.uses_style:
        names.append("style")
        inputs.append(torch.rand(batch, 3, H, W, generator=generator_rng) * 2 - 1)
    return names, tuple(inputs)


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = 17) -> dict[str, Any]:
    generator, spec = load_generator(checkpoint, device="cpu")
    names = export_generator_onnx(generator, spec.image_size, out, opset=opset)
    return {"inputs": names, "size": spec.image_size, "spec": spec}


def export_generator_onnx(generator: Generator, size: tuple[int, int], out: str | Path, opset: int = 17) -> list[str]:
    """Write ``generator`` (in eval mode) as an ONNX graph rendering ``size``; returns its input names."""
    wrapper = _ExportWrapper(generator).eval()
    names, inputs = example_inputs(generator, size)
    buffer = io.BytesIO()
    # The networks' argument checks read tensor shapes in Python; tracing fixes them for the example
    # size, which is what we want (the graph serves one size), so the warnings are noise.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            wrapper, inputs, buffer, input_names=names, output_names=["image"], opset_version=opset,
            dynamic_axes={n: {0: "batch"} for n in [*names, "image"]}, dynamo=False,
        )
    atomic_write_bytes(out, buffer.getvalue())
    return names
