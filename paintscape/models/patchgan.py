"""pix2pix's PatchGAN discriminator (junyanz/pytorch-CycleGAN-and-pix2pix ``NLayerDiscriminator``).

Registered as ``patchgan``; :mod:`paintscape.reference.pix2pix` converts the reference's
``latest_net_D.pth`` into it. (SPADE's multi-scale discriminator of PatchGANs is
:mod:`paintscape.models.multiscale`.)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from paintscape.labels import NUM_CLASSES
from paintscape.layers.norms import conv_normalization
from paintscape.models.pix2pix import init_weights
from paintscape.registry import DISCRIMINATORS


@DISCRIMINATORS.register("patchgan")
class PatchGANDiscriminator(nn.Module):
    """pix2pix's PatchGAN ``NLayerDiscriminator`` (``basic`` = 3 layers: 70x70 receptive field).

    It sees the label and the image concatenated on channels, label first (the reference's
    ``cat((real_A, fake_B), 1)``), and returns one scale ``[[feature_1, ..., feature_n, logits]]``:
    the output of every LeakyReLU block, then the 1-channel patch logits (no sigmoid).

    Args:
        num_classes: label classes (one-hot channels).
        input_channels: overrides the label channel count (3 or 30 for reference checkpoints).
        image_channels: image channels (3).
        base_channels: the reference's ``ndf``.
        num_layers: the reference's ``n_layers_D`` (3 for ``basic``).
        norm: ``batch`` (reference default), ``syncbatch``, ``instance`` or ``none``.
    """

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        input_channels: int | None = None,
        image_channels: int = 3,
        base_channels: int = 64,
        num_layers: int = 3,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.label_channels = num_classes if input_channels is None else int(input_channels)
        self.image_channels = image_channels
        use_bias = norm == "instance"
        blocks = [
            nn.Sequential(
                nn.Conv2d(self.label_channels + image_channels, base_channels, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
            )
        ]
        previous = base_channels
        for n in range(1, num_layers + 1):
            current = base_channels * min(2**n, 8)
            stride = 2 if n < num_layers else 1  # the last block keeps the resolution
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(previous, current, 4, stride=stride, padding=1, bias=use_bias),
                    conv_normalization(norm, current),
                    nn.LeakyReLU(0.2),
                )
            )
            previous = current
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Conv2d(previous, 1, 4, stride=1, padding=1)
        init_weights(self)

    def forward(self, label: Tensor, image: Tensor) -> list[list[Tensor]]:
        """``label`` ``(B, C, H, W)`` and ``image`` ``(B, 3, H, W)`` -> ``[[features..., logits]]``."""
        if label.shape[1] != self.label_channels or image.shape[1] != self.image_channels:
            raise ValueError(
                f"PatchGAN expects a {self.label_channels}-channel label and a {self.image_channels}-channel "
                f"image, got {label.shape[1]} and {image.shape[1]}"
            )
        h = torch.cat([label, image], dim=1)  # (B, C + 3, H, W)
        features = []
        for block in self.blocks:
            h = block(h)
            features.append(h)
        features.append(self.classifier(h))  # (B, 1, H/2^n - 2, W/2^n - 2) patch logits
        return [features]
