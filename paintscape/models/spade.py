"""SPADE / GauGAN generator (Park et al., CVPR 2019), faithful to NVlabs/SPADE ``SPADEGenerator``.

The generator starts from a tiny ``(16 * base_channels, sh, sw)`` map and doubles it 5, 6 or 7
times (``num_upsampling_layers`` "normal", "more", "most") through SPADE residual blocks that see
the label map at every scale::

    stem            conv on the label map resized to (sh, sw)     [or, with use_vae, linear on z]
    head            SPADEResBlock 16nf -> 16nf                    then x2
    middle_0        SPADEResBlock 16nf -> 16nf                    ("more"/"most": then x2)
    middle_1        SPADEResBlock 16nf -> 16nf                    then x2
    up_0 .. up_3    16nf -> 8nf -> 4nf -> 2nf -> nf               each after a x2
    up_4            ("most" only) nf -> nf/2                      after a x2
    to_rgb          leaky ReLU, 3x3 conv to 3 channels, tanh

Reference weights (e.g. NVIDIA's released ``latest_net_G.pth``) load through
:mod:`paintscape.reference.spade`; the parameter names map one to one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..labels import NUM_CLASSES, add_dont_care
from ..layers.spade import LEAKY_SLOPE, SPADE, SPADEResBlock, init_spade_weights
from ..registry import GENERATORS
from .base import Generator
from .encoders import ConvEncoder

#: Number of x2 upsamplings for each ``num_upsampling_layers`` setting.
UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


def latent_size(image_size: tuple[int, int], num_upsampling_layers: str) -> tuple[int, int]:
    """The ``(sh, sw)`` of the first feature map, computed as the reference does.

    SPADE takes ``sw = crop_size // 2**n`` and ``sh = round(sw / aspect_ratio)`` with
    ``aspect_ratio = width / height``; an ``image_size`` that these do not reproduce exactly
    raises a ValueError naming the sizes that would work.
    """
    if num_upsampling_layers not in UPSAMPLINGS:
        raise ValueError(
            f"num_upsampling_layers must be one of {', '.join(UPSAMPLINGS)}, got {num_upsampling_layers!r}"
        )
    height, width = image_size
    scale = 2 ** UPSAMPLINGS[num_upsampling_layers]
    sw = width // scale
    sh = round(sw / (width / height)) if sw > 0 else 0
    if sh < 1 or (sh * scale, sw * scale) != (height, width):
        raise ValueError(
            f"SPADEGenerator cannot make image_size {tuple(image_size)} (height, width) with "
            f"num_upsampling_layers={num_upsampling_layers!r}: height and width must be multiples of {scale} "
            f"(e.g. ({max(sh, 1) * scale}, {max(sw, 1) * scale})), or pick fewer upsampling layers"
        )
    return sh, sw


@GENERATORS.register("spade")
class SPADEGenerator(Generator):
    """One-hot label ``(B, num_classes + extra_label_channels, H, W)`` -> photo ``(B, 3, H, W)`` in [-1, 1].

    Without ``use_vae`` the network is deterministic given the label (``z_dim`` is 0, ``encoder`` is
    None). With ``use_vae`` it starts from ``z ~ N(0, I)`` of size ``z_dim`` (or the ``z`` passed in,
    e.g. ``mu`` / a sample from ``encoder(style)``), and ``encoder`` is SPADE's :class:`ConvEncoder`.

    ``norm`` is the parameter-free norm inside SPADE (the reference's ``--norm_G
    spectralspade<norm>3x3``; "syncbatch" turns into ``nn.SyncBatchNorm`` under DDP, see
    :func:`paintscape.layers.norms.normalization`). ``extra_label_channels`` counts label channels
    beyond the classes: 1 for SPADE's don't-care channel (ADE20K, COCO-Stuff), 1 more for an
    instance-edge map. ``hidden_channels`` is SPADE's hard-coded 128. ``recompute_hidden_blocks``:
    how many of the last residual blocks rebuild their SPADE hidden maps in the backward instead of
    keeping them (a memory/compute trade that leaves every result unchanged; 0 keeps them all).
    """

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        image_size: tuple[int, int] = (256, 256),
        base_channels: int = 64,
        num_upsampling_layers: str = "normal",
        norm: str = "syncbatch",
        spectral: bool = True,
        use_vae: bool = False,
        z_dim: int = 256,
        extra_label_channels: int = 0,
        hidden_channels: int = 128,
        kernel_size: int = 3,
        recompute_hidden_blocks: int = 2,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.label_channels = num_classes + extra_label_channels
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.num_upsampling_layers = num_upsampling_layers
        self.sh, self.sw = latent_size(self.image_size, num_upsampling_layers)
        self.use_vae = use_vae
        self.z_dim = z_dim if use_vae else 0
        nf = base_channels
        top = 16 * nf
        if nf < 1 or (num_upsampling_layers == "most" and nf < 2):
            raise ValueError(
                f"SPADEGenerator base_channels must be >= 1 (>= 2 with 'most', whose last block has "
                f"base_channels // 2), got {base_channels}"
            )

        if use_vae:
            self.stem: nn.Module = nn.Linear(z_dim, top * self.sh * self.sw)
        else:
            self.stem = nn.Conv2d(self.label_channels, top, 3, padding=1)

        def block(c_in: int, c_out: int) -> SPADEResBlock:
            return SPADEResBlock(
                c_in,
                c_out,
                self.label_channels,
                norm=norm,
                spectral=spectral,
                hidden_channels=hidden_channels,
                kernel_size=kernel_size,
            )

        self.head = block(top, top)
        self.middle_0 = block(top, top)
        self.middle_1 = block(top, top)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_channels = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_channels = nf // 2
        self.to_rgb = nn.Conv2d(final_channels, 3, 3, padding=1)
        init_spade_weights(self)
        # The last blocks' SPADE hidden maps (128 channels at the largest sizes) are rebuilt in the
        # backward instead of kept: about 120 MB less at 256x256 for ~1.5 % more compute.
        blocks = [b for b in self.children() if isinstance(b, SPADEResBlock)]
        for block in blocks[max(len(blocks) - recompute_hidden_blocks, 0) :]:
            for layer in block.modules():
                if isinstance(layer, SPADE):
                    layer.recompute_hidden = True
        # Built after the init so that the encoder's own init (the same one) is not run twice.
        self.encoder = ConvEncoder(base_channels=nf, z_dim=z_dim) if use_vae else None

    def forward(self, label: Tensor, z: Tensor | None = None, style: Tensor | None = None) -> Tensor:
        """``style`` is ignored: callers encode it with ``self.encoder`` and pass ``z`` (the contract)."""
        B = label.shape[0]
        if label.dim() == 4 and label.shape[1] + 1 == self.label_channels:
            label = add_dont_care(label, self.label_channels)  # 29 classes -> 29 + don't care
        if label.dim() != 4 or label.shape[1] != self.label_channels:
            raise ValueError(
                f"SPADEGenerator expects a one-hot label (B, {self.label_channels}, H, W), got {tuple(label.shape)}"
            )
        if self.use_vae:
            if z is None:
                z = torch.randn(B, self.z_dim, dtype=label.dtype, device=label.device)
            elif z.shape != (B, self.z_dim):
                raise ValueError(f"SPADEGenerator expects z of shape ({B}, {self.z_dim}), got {tuple(z.shape)}")
            x = self.stem(z).view(B, -1, self.sh, self.sw)  # (B, 16nf, sh, sw)
        else:
            if z is not None and z.numel() > 0:
                raise ValueError("this SPADEGenerator has no latent (use_vae=False, z_dim 0); pass z=None")
            x = self.stem(F.interpolate(label, size=(self.sh, self.sw), mode="nearest"))  # (B, 16nf, sh, sw)

        # The label resized (nearest) to each feature size once, shared by every SPADE layer at that
        # size (the layers would otherwise each resize it again; the values are the same).
        resized: dict[tuple[int, int], Tensor] = {}

        def at(size: tuple[int, int]) -> Tensor:
            if size not in resized:
                resized[size] = (
                    label if size == tuple(label.shape[2:]) else F.interpolate(label, size=size, mode="nearest")
                )
            return resized[size]

        def up(block: SPADEResBlock, x: Tensor) -> Tensor:
            # x2 nearest upsampling, done inside the block (its SPADE nodes then keep the small x).
            return block(x, at((2 * x.shape[2], 2 * x.shape[3])), upsample=2)

        x = self.head(x, at(tuple(x.shape[2:])))
        x = up(self.middle_0, x)
        if self.num_upsampling_layers in ("more", "most"):
            x = up(self.middle_1, x)
        else:
            x = self.middle_1(x, at(tuple(x.shape[2:])))
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = up(block, x)
        if self.num_upsampling_layers == "most":
            x = up(self.up_4, x)
        x = self.to_rgb(F.leaky_relu(x, LEAKY_SLOPE, inplace=True))  # x is the last block's fresh sum
        return torch.tanh(x)  # (B, 3, H, W)
