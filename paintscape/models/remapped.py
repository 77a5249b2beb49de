"""A generator trained on another label set (e.g. NVIDIA's released ADE20K SPADE model), fed
landscape label maps through a fixed class-to-channel table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from paintscape.labels import LANDSCAPE_TO_ADE20K, NUM_CLASSES
from paintscape.models.base import Generator
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
class RemappedGenerator(Generator):
    """``inner`` (any registered generator) behind a landscape -> other-label-set channel map.

    It takes the landscape one-hot and is, to its callers, the inner generator: same latent, same
    style input, the inner encoder. ``inner_args`` are the inner constructor's arguments (sizes as
    the spec stores them are turned into tuples by :meth:`GeneratorSpec.build_kwargs`).
    """

    def __init__(self, *, inner: str, inner_args: dict[str, Any], table: str = "ade20k", num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if num_classes != NUM_CLASSES:
            raise ValueError(f"the remap tables start from the {NUM_CLASSES} landscape classes, got num_classes={num_classes}")
        self.inner: Generator = GENERATORS.build(inner, **inner_args)
        self.register_buffer("remap", landscape_to_channels(table, self.inner.label_channels), persistent=False)
        self.num_classes = self.label_channels = NUM_CLASSES
        self.z_dim = self.inner.z_dim
        self.spatial_latent = self.inner.spatial_latent
        self.uses_style = self.inner.uses_style
        # The inner encoder, reachable as ``self.encoder`` but registered once (under ``inner``):
        # assigning the module would register it twice and store its weights twice.
        self.__dict__["encoder"] = self.inner.encoder

    def latent_shape(self, batch: int, size: tuple[int, int]) -> tuple[int, ...] | None:
        return self.inner.latent_shape(batch, size)

    def latent_for(self, seeds: Sequence[int], size: tuple[int, int], **kwargs: Any) -> Tensor | None:
        return self.inner.latent_for(seeds, size, **kwargs)

    def forward(self, label: Tensor, z: Tensor | None = None, style: Tensor | None = None) -> Tensor:
        # (B, 29, H, W) -> (B, channels, H, W): a one-hot stays one-hot (each class has one channel).
        mapped = torch.einsum("oc,bchw->bohw", self.remap.to(label.dtype), label)
        return self.inner(mapped, z=z, style=style)
