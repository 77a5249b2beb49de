"""A generator trained on another label set (e.g. NVIDIA's released ADE20K SPADE model), fed
landscape label maps through a fixed class-to-channel table."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from paintscape.labels import LANDSCAPE_TO_ADE20K, NUM_CLASSES
from paintscape.registry import GENERATORS

TABLES = ("ade20k", "ade20k_shifted")


def landscape_to_channels(table: str, channels: int) -> Tensor:
    """``(channels, 29)`` 0/1 matrix sending each landscape class to one channel of the other model.

    ``ade20k``: channel = ADE20K file value (what the reference ``test.py`` feeds the released model;
    ``other`` -> 0, unlabeled). ``ade20k_shifted``: value v -> channel v - 1 and ``other`` -> 150,
    the don't-care channel (the shift SPADE's ADE20K loader intends but never applies)."""
    if table not in TABLES:
        raise ValueError(f"unknown label table {table!r}; valid: {', '.join(TABLES)}")
    ade = torch.as_tensor(LANDSCAPE_TO_ADE20K.astype("int64"))
    index = ade if table == "ade20k" else torch.where(ade == 0, torch.full_like(ade, 150), ade - 1)
    if int(index.max()) >= channels:
        raise ValueError(f"table {table!r} needs at least {int(index.max()) + 1} input channels, the inner generator has {channels}")
    matrix = torch.zeros(channels, NUM_CLASSES)
    matrix[index, torch.arange(NUM_CLASSES)] = 1.0
    return matrix


@GENERATORS.register("remapped")
class RemappedGenerator(nn.Module):
    """``inner`` (any registered generator) behind a landscape -> other-label-set channel map."""

    def __init__(self, *, inner: str, inner_args: dict[str, Any], table: str = "ade20k", num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if num_classes != NUM_CLASSES:
            raise ValueError(f"the remap tables start from the {NUM_CLASSES} landscape classes, got num_classes={num_classes}")
        args = {k: tuple(v) if k == "image_size" else v for k, v in inner_args.items()}
        self.inner = GENERATORS.build(inner, **args)
        channels = getattr(self.inner, "label_channels", None) or getattr(self.inner, "input_channels", None)
        if channels is None:
            raise ValueError(f"generator {inner!r} does not say how many label channels it takes")
        self.register_buffer("remap", landscape_to_channels(table, int(channels)), persistent=False)
        self.z_dim = int(getattr(self.inner, "z_dim", 0))
        self.uses_style = bool(getattr(self.inner, "uses_style", False))
        self.encoder = getattr(self.inner, "encoder", None)

    def forward(self, label: Tensor, z: Tensor | None = None, style: Tensor | None = None) -> Tensor:
        # (B, 29, H, W) -> (B, channels, H, W): a one-hot stays one-hot (each class has one channel).
        mapped = torch.einsum("oc,bchw->bohw", self.remap.to(label.dtype), label)
        return self.inner(mapped, z=z, style=style)
