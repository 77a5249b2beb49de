"""pix2pix (Isola et al., 2017): the U-Net generator (its PatchGAN discriminator is in :mod:`.patchgan`).

Faithful to junyanz/pytorch-CycleGAN-and-pix2pix (``models/networks.py``: ``UnetGenerator``,
``UnetSkipConnectionBlock``), written as flat loops instead of recursive blocks so that it reads
top to bottom. :mod:`paintscape.reference.pix2pix` converts that repository's
``latest_net_G.pth`` / ``latest_net_D.pth`` into these modules.

Two details of the reference are reproduced on purpose:

* The skip connection of every inner U-Net level carries ``LeakyReLU(x)``, not ``x``: the reference
  concatenates ``[x, block(x)]`` but ``block`` starts with an in-place ``LeakyReLU`` that rewrites
  ``x`` before the concatenation.
* With batch norm (and with no norm) the convolutions followed by a norm have no bias; with
  instance norm (no affine) they do.

The reference runs its test script in train mode unless ``--eval`` is given, i.e. with batch
statistics and active dropout (the paper's "noise"). Here the module follows the usual PyTorch
``train()`` / ``eval()`` switch; call ``.train()`` to reproduce the reference's test-time behaviour.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintscape.labels import NUM_CLASSES
from paintscape.layers.norms import conv_normalization
from paintscape.models.base import Generator
from paintscape.registry import GENERATORS

MAX_UNET_DEPTH = 8  # the reference's unet_256


def unet_depth(image_size: tuple[int, int], max_depth: int = MAX_UNET_DEPTH) -> int:
    """The number of stride-2 down-samplings for an image of ``(H, W)``.

    The largest ``d <= max_depth`` such that both H and W are divisible by ``2**d`` (each level
    halves the size exactly and the transposed convolution doubles it back, so the skip
    connections line up) and the bottleneck ``(H / 2**d, W / 2**d)`` is at least 1 pixel.
    Examples: (256, 256) -> 8 (the reference's unet_256), (384, 512) -> 7 (bottleneck 3 x 4),
    (32, 48) -> 4 (bottleneck 2 x 3).
    """
    height, width = image_size
    if height < 2 or width < 2:
        raise ValueError(f"image_size {image_size} is too small for a U-Net: both sides must be >= 2")
    depth = 0
    while depth < max_depth and height % 2 ** (depth + 1) == 0 and width % 2 ** (depth + 1) == 0:
        depth += 1
    if depth == 0:
        raise ValueError(
            f"image_size {image_size} (H, W) has an odd side; the U-Net needs both sides divisible by 2 "
            f"at least (ideally by 2**{max_depth} = {2**max_depth}): resize or crop the images"
        )
    return depth


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """The reference's ``init_weights(init_type='normal', init_gain=0.02)``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)


class _Level(nn.Module):
    """One convolution (down or up) and the norm after it; named so that state dicts read well."""

    def __init__(self, conv: nn.Module, norm: nn.Module) -> None:
        super().__init__()
        self.conv = conv
        self.norm = norm

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


@GENERATORS.register("pix2pix")
class UNetGenerator(Generator):
    """pix2pix's U-Net generator ``unet_<size>`` with skip connections, batch norm and dropout.

    Level ``k`` (1 = outermost, ``depth`` = innermost) has ``base_channels * min(2**(k-1), 8)``
    channels, like the reference (64, 128, 256, 512, 512, ...). ``depth`` is ``num_downsampling``
    when given, else :func:`unet_depth` of ``image_size``: the largest number of halvings (at most
    8) that divides both sides and leaves a bottleneck of at least 1 px. With depth 8 and
    ``base_channels=64`` this is exactly the reference ``unet_256`` (54,413,955 parameters for 3
    input channels), with depth 7 ``unet_128``. Dropout (p = ``dropout``, 0 disables) sits, as in
    the reference, on the decoder levels 5..depth-1 (three of them in unet_256, none below depth 6):
    it is pix2pix's only source of randomness, so ``z`` is not used.

    Args:
        num_classes: label classes; the one-hot input has this many channels.
        image_size: ``(H, W)`` the network is built for; inputs must be divisible by ``2**depth``.
        input_channels: overrides the input channel count, ``label_channels`` (e.g. 3 for an RGB
            label, 30 for a checkpoint trained with an extra channel); defaults to ``num_classes``.
        output_channels: image channels (3).
        base_channels: the reference's ``ngf``.
        num_downsampling: the reference's ``num_downs``; ``None`` picks it from ``image_size``.
        norm: ``batch`` (reference default), ``syncbatch``, ``instance`` or ``none``.
        dropout: dropout probability on the inner decoder levels (reference: 0.5).
    """

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        image_size: tuple[int, int] = (384, 512),
        input_channels: int | None = None,
        output_channels: int = 3,
        base_channels: int = 64,
        num_downsampling: int | None = None,
        norm: str = "batch",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        depth = unet_depth(tuple(image_size)) if num_downsampling is None else int(num_downsampling)
        if depth < 2:
            raise ValueError(f"num_downsampling must be >= 2, got {depth}")
        self.num_classes = num_classes
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.label_channels = num_classes if input_channels is None else int(input_channels)
        self.depth = depth
        use_bias = norm == "instance"  # reference: bias only when the norm has no affine shift
        channels = [base_channels * min(2**k, 8) for k in range(depth)]  # inner channels per level

        down: list[nn.Module] = []
        up: list[nn.Module] = []
        for k in range(depth):
            outermost, innermost = k == 0, k == depth - 1
            in_channels = self.label_channels if outermost else channels[k - 1]
            out_channels = output_channels if outermost else channels[k - 1]
            down_norm = nn.Identity() if (outermost or innermost) else conv_normalization(norm, channels[k])
            down.append(_Level(nn.Conv2d(in_channels, channels[k], 4, stride=2, padding=1, bias=use_bias), down_norm))
            # The innermost level sees only its own down path; the others also get the skip.
            up_in = channels[k] if innermost else channels[k] * 2
            up_conv = nn.ConvTranspose2d(up_in, out_channels, 4, stride=2, padding=1, bias=outermost or use_bias)
            up.append(_Level(up_conv, nn.Identity() if outermost else conv_normalization(norm, out_channels)))
        self.down = nn.ModuleList(down)
        self.up = nn.ModuleList(up)
        # Reference: dropout on the levels with 8x channels on both sides, except the innermost.
        self.dropout_levels = [k for k in range(4, depth - 1)]
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        init_weights(self)

    def forward(self, label: Tensor, z: Tensor | None = None, style: Tensor | None = None) -> Tensor:
        """``label`` one-hot ``(B, C, H, W)`` -> image ``(B, 3, H, W)`` in [-1, 1]; ``z`` and
        ``style`` are accepted for the common generator signature and ignored (dropout is the noise)."""
        B, C, H, W = label.shape
        if C != self.label_channels:
            raise ValueError(f"pix2pix generator expects {self.label_channels} input channels, got {C}")
        step = 2**self.depth
        if H % step or W % step:
            raise ValueError(
                f"pix2pix U-Net with {self.depth} down-samplings needs H and W divisible by {step}, "
                f"got ({H}, {W}); resize the input or build with image_size=({H}, {W})"
            )
        skips: list[Tensor] = []
        h = self.down[0](label)  # (B, ngf, H/2, W/2)
        for k in range(1, self.depth):
            h = F.leaky_relu(h, 0.2)
            skips.append(h)  # the reference's skip is the activated tensor (in-place LeakyReLU)
            h = self.down[k](h)  # (B, C_k, H/2^(k+1), W/2^(k+1))
        for k in range(self.depth - 1, 0, -1):
            h = self.up[k](F.relu(h))  # (B, C_{k-1}, H/2^k, W/2^k)
            if k in self.dropout_levels:
                h = self.dropout(h)
            h = torch.cat([skips.pop(), h], dim=1)
        return torch.tanh(self.up[0](F.relu(h)))  # (B, 3, H, W)
