"""Image encoders that map a style photo to the latent of a generator.

:class:`ConvEncoder` is SPADE's VAE encoder (NVlabs/SPADE ``models/networks/encoder.py``): the photo
is resized to ``input_size`` squared, stride-2 3x3 convs halve it down to 4x4, and two linear heads
give ``mu`` and ``logvar``. The caller samples ``z = mu + exp(logvar / 2) * eps`` and adds the KL term
(the generator never does this itself, see docs/architecture.md).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..layers.norms import conv_normalization
from ..layers.spade import LEAKY_SLOPE, init_spade_weights
from ..layers.spectral import maybe_spectral_norm

#: Spatial size of the last feature map, flattened into the linear heads.
_FINAL_SIZE = 4


def conv_norm(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, *, norm: str, spectral: bool
) -> nn.Sequential:
    """Conv (spectral-normalised if asked) then a norm.

    As in SPADE's ``get_nonspade_norm_layer``: the conv has no bias when a norm follows (the norm's
    mean subtraction would cancel it); batch norms learn a scale and shift, instance norms do not;
    ``norm="none"`` leaves the conv alone.
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=norm == "none")
    return nn.Sequential(maybe_spectral_norm(conv, spectral), conv_normalization(norm, out_channels))


class ConvEncoder(nn.Module):
    """Style photo ``(B, 3, H, W)`` in [-1, 1] -> ``(mu, logvar)``, each ``(B, z_dim)``.

    With the defaults (``input_size=256``) this is exactly SPADE's ConvEncoder for ``crop_size >= 256``:
    six stride-2 convs (``base_channels`` x 1, 2, 4, 8, 8, 8), spectral instance norm, leaky ReLU 0.2.
    The reference hard-codes ``z_dim=256`` and ``input_size=256``; here both are arguments
    (``input_size`` must be a power of two >= 8, the number of convs is ``log2(input_size / 4)``).
    """

    def __init__(
        self,
        *,
        base_channels: int = 64,
        z_dim: int = 256,
        input_size: int = 256,
        norm: str = "instance",
        spectral: bool = True,
    ) -> None:
        super().__init__()
        num_layers = int(round(math.log2(input_size / _FINAL_SIZE))) if input_size > 0 else 0
        if num_layers < 1 or _FINAL_SIZE * 2**num_layers != input_size:
            raise ValueError(f"ConvEncoder input_size must be a power of two >= 8, got {input_size}")
        self.input_size = input_size
        self.z_dim = z_dim
        widths = [3] + [base_channels * min(2**i, 8) for i in range(num_layers)]
        self.convs = nn.ModuleList(
            conv_norm(c_in, c_out, 3, 2, 1, norm=norm, spectral=spectral) for c_in, c_out in zip(widths, widths[1:])
        )
        features = widths[-1] * _FINAL_SIZE * _FINAL_SIZE
        self.fc_mu = nn.Linear(features, z_dim)
        self.fc_var = nn.Linear(features, z_dim)
        init_spade_weights(self)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        if image.shape[2:] != (self.input_size, self.input_size):
            # bilinear, not area: the reference's choice, kept for weight compatibility
            image = F.interpolate(image, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = image
        for i, layer in enumerate(self.convs):
            x = layer(x if i == 0 else F.leaky_relu(x, LEAKY_SLOPE))
        x = F.leaky_relu(x, LEAKY_SLOPE).flatten(1)  # (B, C * 4 * 4)
        return self.fc_mu(x), self.fc_var(x)
