"""SPADE's multi-scale discriminator of PatchGANs (NVlabs/SPADE ``models/networks/discriminator.py``).

:class:`NLayerDiscriminator` is one 70x70-style PatchGAN over the label map and the photo
concatenated; :class:`MultiscaleDiscriminator` runs ``num_scales`` of them on the input and on
average-pooled copies (pix2pixHD / SPADE). Both return every intermediate feature map, logits last,
for the feature-matching loss (docs/architecture.md, discriminator contract). Used by SPADE and TSIT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..labels import NUM_CLASSES, add_dont_care
from ..layers.norm_activation import normalized_leaky_relu
from ..layers.spade import LEAKY_SLOPE, init_spade_weights
from ..registry import DISCRIMINATORS
from .encoders import conv_norm

_KERNEL = 4
_PADDING = 2  # ceil((4 - 1) / 2), as in the reference: the maps grow by one pixel at stride 1
_MAX_CHANNELS = 512


class NLayerDiscriminator(nn.Module):
    """``num_layers`` 4x4 convs (stride 2, the last stride 1) then a 4x4 conv to one logit map.

    The first conv has neither norm nor spectral norm, the middle ones have both, the logit conv
    neither — exactly the reference's layout, where ``norm_layer`` wraps only the middle convs.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        base_channels: int = 64,
        num_layers: int = 4,
        norm: str = "instance",
        spectral: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"NLayerDiscriminator needs num_layers >= 1, got {num_layers}")
        layers = [
            nn.Sequential(
                nn.Conv2d(in_channels, base_channels, _KERNEL, stride=2, padding=_PADDING), nn.LeakyReLU(LEAKY_SLOPE)
            )
        ]
        channels = base_channels
        for n in range(1, num_layers):
            previous, channels = channels, min(channels * 2, _MAX_CHANNELS)
            stride = 1 if n == num_layers - 1 else 2
            block = conv_norm(previous, channels, _KERNEL, stride, _PADDING, norm=norm, spectral=spectral)
            layers.append(nn.Sequential(*block, nn.LeakyReLU(LEAKY_SLOPE)))  # (conv, norm, act)
        layers.append(nn.Sequential(nn.Conv2d(channels, 1, _KERNEL, stride=1, padding=_PADDING)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if i == 0:  # conv, leaky ReLU in place on its fresh output (the conv keeps its input, not this)
                x = F.leaky_relu(layer[0](x), LEAKY_SLOPE, inplace=True)
            elif i < last:  # conv, norm, leaky ReLU: one node that keeps only the activation
                x = normalized_leaky_relu(layer[1], layer[0](x), LEAKY_SLOPE)
            else:
                x = layer(x)
            features.append(x)
        return features


@DISCRIMINATORS.register("multiscale")
class MultiscaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs on ``cat([label, image])`` at full, 1/2, 1/4... resolution.

    ``forward(label, image)`` takes the one-hot label ``(B, num_classes + extra_label_channels, H, W)``
    and the photo ``(B, image_channels, H, W)`` and returns one list of feature maps per scale,
    logits last. Defaults are SPADE's: ``num_scales=2``, ``num_layers=4``, spectral instance norm.
    ``extra_label_channels`` counts label channels beyond the classes (SPADE's don't-care channel
    or instance-edge map).
    """

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        extra_label_channels: int = 0,
        image_channels: int = 3,
        base_channels: int = 64,
        num_layers: int = 4,
        num_scales: int = 2,
        norm: str = "instance",
        spectral: bool = True,
    ) -> None:
        super().__init__()
        self.label_channels = num_classes + extra_label_channels
        self.image_channels = image_channels
        self.scales = nn.ModuleList(
            NLayerDiscriminator(
                in_channels=self.label_channels + image_channels,
                base_channels=base_channels,
                num_layers=num_layers,
                norm=norm,
                spectral=spectral,
            )
            for _ in range(num_scales)
        )
        init_spade_weights(self)

    def forward(self, label: Tensor, image: Tensor) -> list[list[Tensor]]:
        if label.shape[1] + 1 == self.label_channels:
            label = add_dont_care(label, self.label_channels)  # 29 classes -> 29 + don't care
        if label.shape[1] != self.label_channels or image.shape[1] != self.image_channels:
            raise ValueError(
                f"MultiscaleDiscriminator expects a label with {self.label_channels} channels and an image "
                f"with {self.image_channels}, got {label.shape[1]} and {image.shape[1]}"
            )
        x = torch.cat([label, image], dim=1)  # (B, L + 3, H, W): label first, as in the reference
        outputs = []
        for i, discriminator in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs
