"""SPADE: spatially-adaptive normalisation and the SPADE residual block (Park et al., CVPR 2019).

Faithful to NVlabs/SPADE (``models/networks/normalization.py`` SPADE and
``models/networks/architecture.py`` SPADEResnetBlock): same layers, same order, same parameter
names inside a block (``param_free_norm``, ``mlp_shared``, ``mlp_gamma``, ``mlp_beta``; ``conv_0``,
``conv_1``, ``conv_s``, ``norm_0``, ``norm_1``, ``norm_s``), so reference weights load by name.
What differs is only how a layer is configured: explicit keyword arguments instead of the reference's
``"spectralspadesyncbatch3x3"`` string, and the hidden width (hard-coded 128 there) is an argument.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintscape.layers.spectral import spectral_norm

from .norms import normalization

#: Slope of every leaky ReLU in SPADE's generator, encoder and discriminator.
LEAKY_SLOPE = 0.2


class SPADE(nn.Module):
    """``param_free_norm(x) * (1 + gamma(label)) + beta(label)``.

    ``gamma`` and ``beta`` come from a small conv net on the label map, resized (nearest) to the
    size of ``x``, so the normalisation keeps the layout that a plain norm would wash out.
    """

    def __init__(
        self,
        channels: int,
        label_channels: int,
        *,
        norm: str = "syncbatch",
        hidden_channels: int = 128,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.param_free_norm = normalization(norm, channels, affine=False)
        padding = kernel_size // 2
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(label_channels, hidden_channels, kernel_size, padding=padding), nn.ReLU(inplace=True)
        )  # in place: the conv's backward needs its input, not its output
        self.mlp_gamma = nn.Conv2d(hidden_channels, channels, kernel_size, padding=padding)
        self.mlp_beta = nn.Conv2d(hidden_channels, channels, kernel_size, padding=padding)

    def forward(self, x: Tensor, label: Tensor) -> Tensor:
        normalized = self.param_free_norm(x)
        if label.shape[2:] != x.shape[2:]:  # callers may pass the label already resized (SPADEGenerator does)
            label = F.interpolate(label, size=x.shape[2:], mode="nearest")  # (B, L, h, w) at x's size
        hidden = self.mlp_shared(label)
        gamma = self.mlp_gamma(hidden)
        beta = self.mlp_beta(hidden)
        if torch.is_grad_enabled() or normalized is x:
            return normalized * (1 + gamma) + beta
        # Inference: the same arithmetic in place on the fresh norm output (no new full-size tensors).
        return normalized.mul_(gamma.add_(1)).add_(beta)


class SPADEResBlock(nn.Module):
    """Pre-activation residual block: (SPADE, leaky ReLU, conv) twice, plus a shortcut.

    The shortcut is learned (SPADE then a 1x1 conv without bias) only when the channel count
    changes; the middle width is ``min(in_channels, out_channels)`` as in the reference.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        label_channels: int,
        *,
        norm: str = "syncbatch",
        spectral: bool = True,
        hidden_channels: int = 128,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.learned_shortcut = in_channels != out_channels
        middle_channels = min(in_channels, out_channels)
        wrap = spectral_norm if spectral else (lambda layer: layer)

        self.conv_0 = wrap(nn.Conv2d(in_channels, middle_channels, 3, padding=1))
        self.conv_1 = wrap(nn.Conv2d(middle_channels, out_channels, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(in_channels, out_channels, 1, bias=False))

        spade = dict(norm=norm, hidden_channels=hidden_channels, kernel_size=kernel_size)
        self.norm_0 = SPADE(in_channels, label_channels, **spade)
        self.norm_1 = SPADE(middle_channels, label_channels, **spade)
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, label_channels, **spade)

    def forward(self, x: Tensor, label: Tensor) -> Tensor:
        if label.shape[2:] != x.shape[2:]:  # resize once for the block's two or three SPADE layers
            label = F.interpolate(label, size=x.shape[2:], mode="nearest")
        shortcut = self.conv_s(self.norm_s(x, label)) if self.learned_shortcut else x
        # In-place leaky ReLUs on SPADE's fresh output: autograd then keeps one tensor (the
        # activation, which the conv saves anyway) instead of both the input and the activation.
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, label), LEAKY_SLOPE, inplace=True))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, label), LEAKY_SLOPE, inplace=True))
        return shortcut + dx


@torch.no_grad()
def init_spade_weights(module: nn.Module, gain: float = 0.02) -> None:
    """SPADE's default initialisation (``--init_type xavier --init_variance 0.02``).

    Conv and linear weights: Xavier normal with ``gain``; their biases: 0. Batch-norm scales:
    N(1, gain); their shifts: 0. For spectral-normalised layers the raw weight is ``weight_orig``
    (the reference writes through ``weight.data``, which shares its storage).
    """
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            if layer.weight is not None:
                nn.init.normal_(layer.weight, 1.0, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)):
            weight = getattr(layer, "weight_orig", None)
            nn.init.xavier_normal_(weight if weight is not None else layer.weight, gain=gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
