"""OASIS (Schönfeld, Sushko et al., ICLR 2021), faithful to boschresearch/OASIS ``models/``.

"You Only Need Adversarial Supervision": the discriminator is a U-Net that segments a photo into the
N classes plus one "fake" class, and the generator takes 3D noise concatenated to the one-hot label,
so that one label map gives many photos and a region can be re-sampled alone.

Generator (``OASIS_Generator``), channels ``base * (16, 16, 16, 8, 4, 2, 1)``::

    input       concat(z, label)            (B, z_dim + N, H, W)    z first, as the reference
    fc          3x3 conv on the input resized (nearest) to (H, W) / 32
    body.0..5   SPADE residual blocks (:class:`paintscape.layers.spade.SPADEResBlock`) on the input
                 (noise and label together), x2 nearest upsampling between them
    conv_img    leaky ReLU, 3x3 conv to 3 channels, tanh

Discriminator (``OASIS_Discriminator``), channels ``base * (2, 2, 4, 4, 8, 8)``: six residual blocks
that halve the size (the encoder), six that double it with the encoder's maps concatenated (the
decoder), and a 1x1 conv to ``N + 1`` per-pixel logits. Channel 0 is "fake"; channel ``k + 1`` is
class ``k`` (the reference's target layout). Spectral norm on every block conv.

The weights of the reference load through :mod:`paintscape.reference.oasis`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers.spade import LEAKY_SLOPE, SPADE, SPADEResBlock, init_spade_weights
from ..layers.spectral import spectral_norm
from ..registry import DISCRIMINATORS, GENERATORS
from .base import Generator

#: Channel of the "fake" class in the discriminator's output; class ``k`` is channel ``k + 1``.
FAKE_CHANNEL = 0


def latent_size(image_size: tuple[int, int], num_upsamplings: int) -> tuple[int, int]:
    """The ``(h, w)`` of the first feature map, as the reference computes it.

    ``w = width // 2**n`` and ``h = round(w / (width / height))`` (``compute_latent_vector_size``);
    an ``image_size`` that these do not give back exactly raises a ValueError naming sizes that do.
    """
    height, width = image_size
    scale = 2**num_upsamplings
    w = width // scale
    h = round(w / (width / height)) if w > 0 else 0
    if h < 1 or (h * scale, w * scale) != (height, width):
        raise ValueError(
            f"OASISGenerator cannot make image_size {tuple(image_size)} (height, width) with {num_upsamplings} "
            f"upsamplings: height and width must be multiples of {scale} (e.g. ({max(h, 1) * scale}, "
            f"{max(w, 1) * scale}))"
        )
    return h, w


@GENERATORS.register("oasis")
class OASISGenerator(Generator):
    """One-hot label ``(B, num_classes, H, W)`` and noise -> photo ``(B, 3, H, W)`` in [-1, 1].

    ``z`` is ``(B, z_dim, H, W)`` (:meth:`latent_shape`). The reference draws one ``z_dim``-vector
    per image and repeats it over the map; a spatially constant ``z`` reproduces it exactly, and a
    ``(B, z_dim)`` ``z`` is taken as that vector. ``z=None`` draws it from the global RNG as the
    reference does (``torch.randn(B, z_dim)``), and :meth:`latent_for` draws it per seed. A ``z``
    that varies over the map gives each region its own noise (re-sampling a region replaces ``z``
    inside a mask). ``z_dim=0`` is the reference's ``--no_3dnoise``.

    ``channel_multipliers``: widths of the stem and the block outputs in units of ``base_channels``
    (the reference's ``channels_G``); one residual block per step, x2 upsampling between blocks, so
    the image is ``2**(len - 2)`` times the first map. ``norm`` is the parameter-free norm inside
    SPADE (``--param_free_norm``; "syncbatch" becomes ``nn.SyncBatchNorm`` under DDP),
    ``kernel_size`` the SPADE convs' (``--spade_ks``), ``hidden_channels`` SPADE's hidden width (128,
    hard-coded there). ``spectral=False`` gives plain convs: the reference's ``--no_spectral_norm``,
    which raises NameError there (its norms.py uses ``torch`` unimported). ``recompute_hidden_blocks``:
    how many of the last blocks rebuild their SPADE hidden maps in the backward instead of keeping
    them (memory for compute; results unchanged).
    """

    def __init__(
        self,
        *,
        num_classes: int = 29,
        image_size: Sequence[int] = (256, 256),
        base_channels: int = 64,
        channel_multipliers: Sequence[int] = (16, 16, 16, 8, 4, 2, 1),
        z_dim: int = 64,
        norm: str = "syncbatch",
        spectral: bool = True,
        hidden_channels: int = 128,
        kernel_size: int = 3,
        recompute_hidden_blocks: int = 2,
    ) -> None:
        super().__init__()
        if len(channel_multipliers) < 2 or base_channels < 1 or min(channel_multipliers) < 1:
            raise ValueError(
                f"OASISGenerator needs base_channels >= 1 and at least two positive channel_multipliers, got "
                f"{base_channels} and {tuple(channel_multipliers)}"
            )
        if z_dim < 0:
            raise ValueError(f"OASISGenerator z_dim must be >= 0 (0: no 3D noise), got {z_dim}")
        self.num_classes = num_classes
        self.label_channels = num_classes
        self.z_dim = z_dim
        self.spatial_latent = z_dim > 0
        self.image_size = (int(image_size[0]), int(image_size[1]))
        channels = [base_channels * m for m in channel_multipliers]
        self.sh, self.sw = latent_size(self.image_size, len(channels) - 2)
        conditioning = z_dim + num_classes  # what every SPADE sees: the noise and the label together

        self.fc = nn.Conv2d(conditioning, channels[0], 3, padding=1)
        self.body = nn.ModuleList(
            SPADEResBlock(
                channels[i],
                channels[i + 1],
                conditioning,
                norm=norm,
                spectral=spectral,
                hidden_channels=hidden_channels,
                kernel_size=kernel_size,
            )
            for i in range(len(channels) - 1)
        )
        self.conv_img = nn.Conv2d(channels[-1], 3, 3, padding=1)
        init_spade_weights(self)  # the reference's init_networks: xavier normal, gain 0.02
        for block in list(self.body)[max(len(self.body) - recompute_hidden_blocks, 0) :]:
            for layer in block.modules():
                if isinstance(layer, SPADE):
                    layer.recompute_hidden = True

    def latent_for(
        self,
        seeds: Sequence[int],
        size: tuple[int, int],
        *,
        mu: Tensor | None = None,
        logvar: Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> Tensor | None:
        """One spatially constant ``(1, z_dim, H, W)`` latent per seed (the reference's noise: one
        ``N(0, I)`` vector per image, repeated over the map), each from its own ``torch.Generator``."""
        if mu is not None or logvar is not None:
            raise ValueError("OASISGenerator has no style encoder: latent_for takes no mu/logvar")
        if self.z_dim == 0:
            return None
        vectors = [torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        return torch.cat(vectors).to(device)[:, :, None, None].expand(-1, -1, *size).contiguous()

    def _noise(self, z: Tensor | None, label: Tensor) -> Tensor | None:
        B, _, H, W = label.shape
        if self.z_dim == 0:
            if z is not None and z.numel() > 0:
                raise ValueError("this OASISGenerator has no noise (z_dim 0); pass z=None")
            return None
        if z is None:  # as the reference: one vector per image from the global RNG
            z = torch.randn(B, self.z_dim, dtype=label.dtype, device=label.device)
        if z.shape == (B, self.z_dim):
            return z[:, :, None, None].expand(B, self.z_dim, H, W)
        if z.shape != (B, self.z_dim, H, W):
            raise ValueError(
                f"OASISGenerator expects z of shape ({B}, {self.z_dim}, {H}, {W}) or ({B}, {self.z_dim}), "
                f"got {tuple(z.shape)}"
            )
        return z.to(label.dtype)

    def forward(self, label: Tensor, z: Tensor | None = None, style: Tensor | None = None) -> Tensor:
        """``style`` is ignored (OASIS has no style input); see the class docstring for ``z``."""
        if label.dim() != 4 or label.shape[1] != self.num_classes:
            raise ValueError(
                f"OASISGenerator expects a one-hot label (B, {self.num_classes}, H, W), got {tuple(label.shape)}"
            )
        if tuple(label.shape[2:]) != self.image_size:
            raise ValueError(
                f"OASISGenerator was built for image_size {self.image_size}, got a label of size {tuple(label.shape[2:])}"
            )
        noise = self._noise(z, label)
        seg = label if noise is None else torch.cat([noise, label], dim=1)  # (B, z_dim + N, H, W)

        # The conditioning resized (nearest) to each feature size once, shared by the block's SPADEs.
        resized: dict[tuple[int, int], Tensor] = {}

        def at(size: tuple[int, int]) -> Tensor:
            if size not in resized:
                resized[size] = seg if size == tuple(seg.shape[2:]) else F.interpolate(seg, size=size, mode="nearest")
            return resized[size]

        x = self.fc(at((self.sh, self.sw)))  # (B, 16nf, sh, sw)
        for i, block in enumerate(self.body):
            if i == 0:
                x = block(x, at(tuple(x.shape[2:])))
            else:  # x2 nearest upsampling, done inside the block (its SPADE nodes then keep the small x)
                x = block(x, at((2 * x.shape[2], 2 * x.shape[3])), upsample=2)
        x = self.conv_img(F.leaky_relu(x, LEAKY_SLOPE, inplace=True))  # x is the last block's fresh sum
        return torch.tanh(x)  # (B, 3, H, W)


class DiscriminatorResBlock(nn.Module):
    """The OASIS discriminator's residual block (``residual_block_D``), down or up.

    ``out = shortcut(x) + conv2(lrelu(conv1(pre(x))))``, where for a down block ``pre`` is leaky
    ReLU (nothing for the ``first`` block) and the sum is average-pooled x2 on both paths; for an up
    block ``pre`` is leaky ReLU then x2 nearest upsampling. The shortcut is a 1x1 conv (with bias)
    when the channel count changes; it is applied after the pooling in the first block, before it
    in the others, and after the upsampling in up blocks, as in the reference.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, up: bool, first: bool = False, spectral: bool = True
    ) -> None:
        super().__init__()
        if up and first:
            raise ValueError("only the discriminator's first (down) block is 'first'")
        self.up, self.first = up, first
        self.learned_shortcut = in_channels != out_channels
        wrap = spectral_norm if spectral else (lambda layer: layer)
        self.conv1 = wrap(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv2 = wrap(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(in_channels, out_channels, 1))

    def _shortcut(self, x: Tensor) -> Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            return self.conv_s(x) if self.learned_shortcut else x
        if self.first:
            x = F.avg_pool2d(x, 2)
            return self.conv_s(x) if self.learned_shortcut else x
        return F.avg_pool2d(self.conv_s(x) if self.learned_shortcut else x, 2)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self._shortcut(x)
        dx = x if self.first else F.leaky_relu(x, LEAKY_SLOPE)
        if self.up:
            dx = F.interpolate(dx, scale_factor=2, mode="nearest")
        dx = self.conv2(F.leaky_relu(self.conv1(dx), LEAKY_SLOPE))
        if not self.up:
            dx = F.avg_pool2d(dx, 2)
        return shortcut + dx


@DISCRIMINATORS.register("oasis")
class OASISDiscriminator(nn.Module):
    """Photo ``(B, 3, H, W)`` in [-1, 1] -> per-pixel logits ``(B, num_classes + 1, H, W)``.

    Unlike the patch discriminators (``forward(label, image) -> list[list[Tensor]]``), this one sees
    the photo alone and segments it: ``forward(image) -> Tensor``, channel :data:`FAKE_CHANNEL` (0)
    "fake", channel ``k + 1`` class ``k``. The OASIS objective calls it that way and scores the
    output with :mod:`paintscape.losses.segmentation_adversarial`. :meth:`segment` (and
    :func:`class_logits` for an output already computed) drop the fake channel, so a trained D
    serves as an N-class segmenter.

    ``channel_multipliers``: the encoder's block widths in units of ``base_channels`` (the reference
    hard-codes 128, 128, 256, 256, 512, 512 and a last decoder width of 64, i.e. base 64; its
    ``--channels_D`` option is declared but unused). ``H`` and ``W`` must be multiples of
    ``2**len(channel_multipliers)``.
    """

    def __init__(
        self,
        *,
        num_classes: int = 29,
        base_channels: int = 64,
        channel_multipliers: Sequence[int] = (2, 2, 4, 4, 8, 8),
        spectral: bool = True,
    ) -> None:
        super().__init__()
        if len(channel_multipliers) < 2 or base_channels < 1 or min(channel_multipliers) < 1:
            raise ValueError(
                f"OASISDiscriminator needs base_channels >= 1 and at least two positive channel_multipliers, got "
                f"{base_channels} and {tuple(channel_multipliers)}"
            )
        self.num_classes = num_classes
        c = [base_channels * m for m in channel_multipliers]
        n = len(c)
        self.body_down = nn.ModuleList(
            DiscriminatorResBlock(3 if i == 0 else c[i - 1], c[i], up=False, first=i == 0, spectral=spectral)
            for i in range(n)
        )
        # The decoder: the deepest map up one step, then each step on (encoder map, decoder map) concatenated.
        up = [DiscriminatorResBlock(c[n - 1], c[n - 2], up=True, spectral=spectral)]
        up += [
            DiscriminatorResBlock(2 * c[n - 1 - i], c[n - 2 - i], up=True, spectral=spectral) for i in range(1, n - 1)
        ]
        up.append(DiscriminatorResBlock(2 * c[0], base_channels, up=True, spectral=spectral))
        self.body_up = nn.ModuleList(up)
        self.layer_up_last = nn.Conv2d(base_channels, num_classes + 1, 1)
        init_spade_weights(self)  # the reference initialises D as G: xavier normal, gain 0.02

    def forward(self, image: Tensor) -> Tensor:
        multiple = 2 ** len(self.body_down)
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[2] % multiple or image.shape[3] % multiple:
            raise ValueError(
                f"OASISDiscriminator expects a photo (B, 3, H, W) with H and W multiples of {multiple}, "
                f"got {tuple(image.shape)}"
            )
        x = image
        skips = []
        for block in self.body_down:
            x = block(x)
            skips.append(x)
        x = self.body_up[0](x)
        for i in range(1, len(self.body_up)):
            x = self.body_up[i](torch.cat([skips[-i - 1], x], dim=1))
        return self.layer_up_last(x)  # (B, num_classes + 1, H, W)

    def segment(self, image: Tensor) -> Tensor:
        """Class ids ``(B, H, W)`` long: the D as a segmenter (its fake channel left out)."""
        return class_logits(self(image)).argmax(dim=1)


def class_logits(output: Tensor) -> Tensor:
    """The ``N`` class logits ``(B, N, H, W)`` of an OASIS discriminator output ``(B, N + 1, H, W)``."""
    return output[:, FAKE_CHANNEL + 1 :]
