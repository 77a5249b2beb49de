"""TSIT (Jiang et al., ECCV 2020), "A Simple and Versatile Framework for Image-to-Image Translation".

Faithful to EndlessSora/TSIT (``models/networks/generator.py``, ``stream.py``, ``architecture.py``)
for its semantic-image-synthesis task (``--task SIS``):

* a **content stream** (eight post-activation residual blocks, halving the resolution between
  blocks) turns the one-hot label map into features ``ft0 .. ft7`` at 1/1 .. 1/128 resolution;
* an optional **style stream** of the same shape turns a style photo into ``sft0 .. sft7``;
* the **generator** starts at 1/128 resolution from a 3x3 convolution of the label map downsampled
  by nearest neighbour (``use_vae=False``), or from a linear layer on ``z`` (``use_vae=True``);
  it then runs seven FADE residual blocks, each conditioned on the content feature of its
  resolution, with FAdaIN(``sft_i``, strength ``alpha``) before each block when the style stream is on,
  upsampling by 2 in between, and ends with ``tanh(conv(lrelu(x)))``.

Where this module differs from the reference, on purpose:

* The reference's option parser forces ``no_ss`` (no style stream) for SIS and would build the
  style stream with as many input channels as the label map; here ``style_stream=True`` builds it
  for a 3-channel photo, which is what the stream does in TSIT's other tasks (``semantic_nc = 3``).
* The reference draws ``z`` inside ``forward`` when it is not given; so does this module, but the
  caller may always pass it (tests fix it).
* Only ``num_upsampling_layers="more"`` is accepted: the reference's ``parse`` forces it, and with
  "normal" or "most" the streams' features no longer line up with the generator's resolutions.
* The don't-care channel: the reference's one-hot input has ``label_nc + 1`` channels when
  ``--contain_dontcare_label`` is set. With ``input_channels = num_classes + 1`` a paintscape
  one-hot label (ignored pixels all zero) gets that channel appended, set to 1 on ignored pixels.

Module names follow the reference, so :mod:`paintscape.reference.tsit` loads a released
``latest_net_G.pth`` key for key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintscape.labels import NUM_CLASSES
from paintscape.layers.fade import LEAKY_SLOPE, FADEResnetBlock, StreamResnetBlock, fadain
from paintscape.layers.norms import NORM_KINDS
from paintscape.layers.spade import init_spade_weights
from paintscape.models.base import Generator
from paintscape.models.encoders import ConvEncoder
from paintscape.registry import GENERATORS

#: Number of 2x upsamplings between the generator's first feature map and the image (TSIT's "more").
NUM_UPSAMPLINGS = 7
#: Each side of the image must be divisible by this: the streams halve the resolution seven times.
SIZE_MULTIPLE = 2**NUM_UPSAMPLINGS
#: Number of residual blocks (and feature maps) per stream.
STREAM_DEPTH = 8
#: Size of the square image the VAE encoder sees (the reference resizes every photo to 256 x 256).
ENCODER_INPUT_SIZE = 256


class TSITStream(nn.Module):
    """Content or style stream: ``(B, in_channels, H, W)`` -> eight features ``ft0 .. ft7``.

    ``ft_i`` has ``base_channels * min(2**i, 16)`` channels and size ``(H / 2**i, W / 2**i)``.
    """

    def __init__(
        self, *, in_channels: int, base_channels: int = 64, norm: str = "instance", spectral: bool = True
    ) -> None:
        super().__init__()
        widths = [in_channels] + [base_channels * min(2**i, 16) for i in range(STREAM_DEPTH)]
        for i in range(STREAM_DEPTH):
            self.add_module(f"res_{i}", StreamResnetBlock(widths[i], widths[i + 1], norm=norm, spectral=spectral))

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for i in range(STREAM_DEPTH):
            if i > 0:
                x = F.interpolate(x, scale_factor=0.5)  # nearest, (H, W) -> (H / 2, W / 2)
            x = getattr(self, f"res_{i}")(x)
            features.append(x)
        return features


@GENERATORS.register("tsit")
class TSITGenerator(Generator):
    """TSIT's generator for semantic image synthesis; see the module docstring.

    Args:
        num_classes: classes of the one-hot label map (29 for the landscape track).
        image_size: ``(H, W)`` of label maps and outputs; both divisible by 128.
        base_channels: the reference's ``ngf``; the deepest features have 16x as many.
        num_upsampling_layers: only ``"more"`` (the reference's only working setting).
        norm: parameter-free norm inside FADE (reference ``norm_G=spectralfadesyncbatch3x3``).
        stream_norm: norm of the stream blocks (reference ``norm_S=spectralinstance``).
        spectral: spectral normalisation of the FADE-block and stream convolutions (and the encoder).
        style_stream: build the style stream; ``forward`` then needs ``style`` (TSIT's SIS runs and
            the landscape report's final model use the content stream alone: pass False).
        alpha: FAdaIN strength in [0, 1] (1 = full stylisation).
        use_vae: start from ``z`` through a linear layer and build the VAE encoder.
        z_dim: size of ``z`` when ``use_vae``.
        input_channels: channels of the content stream input (``label_channels``); ``None`` ->
            ``num_classes``; ``num_classes + 1`` adds the reference's don't-care channel.
    """

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        image_size: tuple[int, int] = (256, 256),
        base_channels: int = 64,
        num_upsampling_layers: str = "more",
        norm: str = "syncbatch",
        stream_norm: str = "instance",
        spectral: bool = True,
        style_stream: bool = True,
        alpha: float = 1.0,
        use_vae: bool = False,
        z_dim: int = 256,
        input_channels: int | None = None,
    ) -> None:
        super().__init__()
        height, width = (int(s) for s in image_size)
        if num_upsampling_layers != "more":
            raise ValueError(
                f"TSIT supports num_upsampling_layers='more' only, got {num_upsampling_layers!r}: the "
                f"reference forces 'more' in options.parse, and with 'normal' or 'most' the stream features "
                f"no longer match the generator's resolutions"
            )
        if height <= 0 or width <= 0 or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise ValueError(
                f"TSIT image_size (H, W) = {tuple(image_size)}: both sides must be positive multiples of "
                f"{SIZE_MULTIPLE} (the streams halve the resolution {NUM_UPSAMPLINGS} times), e.g. (384, 512)"
            )
        if height * width == SIZE_MULTIPLE**2 and "instance" in (norm, stream_norm):
            raise ValueError(
                f"TSIT image_size {tuple(image_size)} leaves a 1x1 deepest feature map, which instance norm "
                f"cannot normalise; use at least (128, 256) or (256, 256), or batch norms"
            )
        if height * width == SIZE_MULTIPLE**2 and style_stream:
            # FAdaIN takes each style channel's std over space: of one value it is NaN (the reference's
            # calc_mean_std too), and training diverges at its first step.
            raise ValueError(
                f"TSIT image_size {tuple(image_size)} leaves a 1x1 deepest style feature, whose per-channel std "
                f"FAdaIN cannot take (NaN); use at least (128, 256), or style_stream=False"
            )
        if norm not in NORM_KINDS:
            raise ValueError(f"unknown FADE norm {norm!r}; valid: {', '.join(NORM_KINDS)}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"TSIT alpha (FAdaIN strength) must lie in [0, 1], got {alpha}")
        if input_channels is None:
            input_channels = num_classes
        if input_channels not in (num_classes, num_classes + 1):
            raise ValueError(
                f"input_channels must be num_classes ({num_classes}) or num_classes + 1 (with the "
                f"don't-care channel), got {input_channels}"
            )
        if use_vae and z_dim <= 0:
            raise ValueError(f"use_vae=True needs z_dim > 0, got {z_dim}")

        self.num_classes = num_classes
        self.label_channels = input_channels
        self.image_size = (height, width)
        self.base_channels = base_channels
        self.alpha = float(alpha)
        self.uses_style = bool(style_stream)
        self.use_vae = bool(use_vae)
        self.z_dim = int(z_dim) if use_vae else 0
        self.latent_size = (height // SIZE_MULTIPLE, width // SIZE_MULTIPLE)  # the reference's (sh, sw)

        nf = base_channels
        stream_kwargs = dict(base_channels=nf, norm=stream_norm, spectral=spectral)
        self.content_stream = TSITStream(in_channels=input_channels, **stream_kwargs)
        self.style_stream = TSITStream(in_channels=3, **stream_kwargs) if style_stream else None

        if use_vae:
            self.fc: nn.Module = nn.Linear(z_dim, 16 * nf * self.latent_size[0] * self.latent_size[1])
        else:
            # deterministic start: a convolution of the label map downsampled to the latent size
            self.fc = nn.Conv2d(input_channels, 16 * nf, kernel_size=3, padding=1)

        block_kwargs = dict(norm=norm, spectral=spectral)
        self.head_0 = FADEResnetBlock(16 * nf, 16 * nf, **block_kwargs)
        self.G_middle_0 = FADEResnetBlock(16 * nf, 16 * nf, **block_kwargs)
        self.G_middle_1 = FADEResnetBlock(16 * nf, 16 * nf, **block_kwargs)
        self.up_0 = FADEResnetBlock(16 * nf, 8 * nf, **block_kwargs)
        self.up_1 = FADEResnetBlock(8 * nf, 4 * nf, **block_kwargs)
        self.up_2 = FADEResnetBlock(4 * nf, 2 * nf, **block_kwargs)
        self.up_3 = FADEResnetBlock(2 * nf, 1 * nf, **block_kwargs)
        self.conv_img = nn.Conv2d(nf, 3, kernel_size=3, padding=1)
        init_spade_weights(self)  # TSIT's default init (xavier, gain 0.02) is SPADE's

        # built after the init so the encoder keeps its own (identical) initialisation
        self.encoder = (
            ConvEncoder(base_channels=nf, z_dim=z_dim, input_size=ENCODER_INPUT_SIZE, spectral=spectral)
            if use_vae
            else None
        )

    def _content_input(self, label: Tensor) -> Tensor:
        """One-hot ``(B, num_classes or label_channels, H, W)`` -> the content stream's input."""
        if label.dim() != 4:
            raise ValueError(f"TSIT expects a one-hot label (B, C, H, W), got shape {tuple(label.shape)}")
        if tuple(label.shape[2:]) != self.image_size:
            raise ValueError(
                f"label size {tuple(label.shape[2:])} differs from the generator's image_size {self.image_size}; "
                f"resize label maps (nearest neighbour) or build the generator for this size"
            )
        channels = label.shape[1]
        if channels == self.label_channels:
            return label
        if channels == self.num_classes and self.label_channels == self.num_classes + 1:
            dont_care = (1 - label.sum(dim=1, keepdim=True)).clamp(min=0)  # 1 where no class is set
            return torch.cat([label, dont_care], dim=1)
        raise ValueError(f"label has {channels} channels; this TSIT generator takes {self.label_channels}")

    def forward(self, label: Tensor, z: Tensor | None = None, style: Tensor | None = None) -> Tensor:
        content = self._content_input(label)
        B = content.shape[0]
        if self.uses_style and style is None:
            raise ValueError(
                "this TSIT generator has a style stream and needs style=(B, 3, H, W) photos in [-1, 1]; "
                "build it with style_stream=False to generate from labels alone"
            )
        if self.uses_style and (style.dim() != 4 or style.shape[1] != 3 or style.shape[0] != B):
            raise ValueError(f"style must be ({B}, 3, H, W) photos in [-1, 1], got shape {tuple(style.shape)}")
        features = self.content_stream(content)  # ft0 .. ft7, (B, C_i, H / 2**i, W / 2**i)
        style_features = self.style_stream(style) if self.style_stream is not None else None

        if self.use_vae:
            if z is None:
                z = torch.randn(B, self.z_dim, dtype=content.dtype, device=content.device)
            if z.shape != (B, self.z_dim):
                raise ValueError(f"z must have shape ({B}, {self.z_dim}), got {tuple(z.shape)}")
            x = self.fc(z).view(B, 16 * self.base_channels, *self.latent_size)
        else:
            if z is not None:
                raise ValueError("this TSIT generator takes no z (use_vae=False, z_dim=0); pass z=None")
            x = self.fc(F.interpolate(content, size=self.latent_size))  # nearest, (B, 16 nf, H/128, W/128)

        blocks = [self.head_0, self.G_middle_0, self.G_middle_1, self.up_0, self.up_1, self.up_2, self.up_3]
        for i, block in enumerate(blocks):
            level = STREAM_DEPTH - 1 - i  # 7 .. 1: the feature at x's resolution
            upsample = 1 if i == 0 else 2  # nearest, as the reference's nn.Upsample
            if style_features is not None:  # FAdaIN needs the upsampled x itself (its unbiased std)
                if upsample != 1:
                    x, upsample = F.interpolate(x, scale_factor=upsample), 1
                x = fadain(x, style_features[level], alpha=self.alpha)
            # without FAdaIN the block upsamples inside its fused FADE nodes, which keep the small x
            x = block(x, features[level], upsample=upsample)
        # leaky ReLU (in place on the last block's fresh sum) before the x2 nearest upsampling, which
        # it commutes with: autograd keeps the small activation. The full-resolution ft0 is unused,
        # as in the reference.
        x = F.interpolate(F.leaky_relu(x, LEAKY_SLOPE, inplace=True), scale_factor=2)  # (B, nf, H, W)
        return torch.tanh(self.conv_img(x))
