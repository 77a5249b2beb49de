"""TSIT's feature-conditioned layers: FADE, the FADE residual block, FAdaIN and the stream block.

TSIT (Jiang et al., ECCV 2020; reference code EndlessSora/TSIT) generalises SPADE: instead of a
one-hot label map, the scale and shift of every normalisation are predicted from a *feature map*
of the content stream (FADE, "feature adaptive denormalisation"), and the style of a photo enters
through AdaIN applied to multi-scale features of a second, identical stream (FAdaIN).

Module and parameter names follow the reference (``conv_0``, ``norm_0``, ``mlp_gamma``,
``norm_layer_in``...) so that a released checkpoint maps onto these layers key for key, and
spectral normalisation has the state dict of ``torch.nn.utils.spectral_norm`` used there
(``weight_orig``, ``weight_u``, ``weight_v``; see :mod:`paintscape.layers.spectral`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintscape.layers.modulated_norm import modulated_norm
from paintscape.layers.norm_activation import normalized_leaky_relu
from paintscape.layers.norms import NORM_KINDS, conv_normalization, normalization
from paintscape.layers.spade import LEAKY_SLOPE  # TSIT's leaky ReLUs have SPADE's slope
from paintscape.layers.spectral import maybe_spectral_norm


class FADE(nn.Module):
    """Feature adaptive denormalisation: ``norm(x) * (1 + gamma(feature)) + beta(feature)``.

    ``norm`` is the parameter-free normalisation of ``x`` (the reference's default is synchronised
    batch norm, ``spectralfadesyncbatch3x3``); ``gamma`` and ``beta`` are single convolutions of the
    content-stream feature map, which has the same spatial size as ``x``.
    """

    def __init__(self, channels: int, feature_channels: int, norm: str = "syncbatch", kernel_size: int = 3) -> None:
        super().__init__()
        self.param_free_norm = normalization(norm, channels, affine=False)
        padding = kernel_size // 2
        self.mlp_gamma = nn.Conv2d(feature_channels, channels, kernel_size=kernel_size, padding=padding)
        self.mlp_beta = nn.Conv2d(feature_channels, channels, kernel_size=kernel_size, padding=padding)

    def forward(self, x: Tensor, feature: Tensor, upsample: int = 1) -> Tensor:
        """``upsample``: normalise ``x`` upsampled (nearest) by this factor to ``feature``'s size."""
        # As SPADE: ``1 + gamma`` in place on the conv's output and one autograd node for norm and
        # modulation that does not keep the normalised x (paintscape.layers.modulated_norm), and
        # keeps x before the upsampling.
        scale = self.mlp_gamma(feature).add_(1)
        return modulated_norm(self.param_free_norm, x, scale, self.mlp_beta(feature), upsample)


class FADEResnetBlock(nn.Module):
    """Pre-activation residual block whose normalisations are FADE on the stream feature.

    ``x -> conv_1(lrelu(FADE_1(conv_0(lrelu(FADE_0(x)))))) + shortcut(x)``; the shortcut is a
    FADE-normalised 1x1 convolution when the channel count changes. The hidden width equals
    ``in_channels`` and the FADE feature has ``in_channels`` channels, as in the reference.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "syncbatch", spectral: bool = True) -> None:
        super().__init__()
        self.learned_shortcut = in_channels != out_channels
        middle = in_channels
        self.conv_0 = maybe_spectral_norm(nn.Conv2d(in_channels, middle, kernel_size=3, padding=1), spectral)
        self.conv_1 = maybe_spectral_norm(nn.Conv2d(middle, out_channels, kernel_size=3, padding=1), spectral)
        if self.learned_shortcut:
            self.conv_s = maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False), spectral)
        self.norm_0 = FADE(in_channels, in_channels, norm)
        self.norm_1 = FADE(middle, middle, norm)
        if self.learned_shortcut:
            self.norm_s = FADE(in_channels, in_channels, norm)

    def forward(self, x: Tensor, feature: Tensor, upsample: int = 1) -> Tensor:
        """``upsample``: the block's input is ``x`` upsampled (nearest) by this factor. The FADE layers
        upsample inside their fused node, which then keeps only the small ``x`` for backward."""
        if upsample != 1 and not torch.is_grad_enabled():  # inference: nothing is kept, upsample once
            x, upsample = F.interpolate(x, scale_factor=upsample, mode="nearest"), 1
        if self.learned_shortcut:
            shortcut = self.conv_s(self.norm_s(x, feature, upsample))
        else:
            shortcut = x if upsample == 1 else F.interpolate(x, scale_factor=upsample, mode="nearest")
        # In place on FADE's fresh output, as in SPADE's block: one saved tensor instead of two.
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, feature, upsample), LEAKY_SLOPE, inplace=True))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, feature), LEAKY_SLOPE, inplace=True))
        return shortcut + dx


class StreamResnetBlock(nn.Module):
    """Post-activation residual block of TSIT's content and style streams.

    ``x -> lrelu(norm_out(conv_1(lrelu(norm_in(conv_0(x)))))) + shortcut(x)``, the shortcut being
    ``lrelu(norm_s(conv_s(x)))`` when the channel count changes. Batch norms carry an affine
    transform and instance norms do not, as in the reference's ``norm_S`` handling.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "instance", spectral: bool = True) -> None:
        super().__init__()
        if norm not in NORM_KINDS or norm == "none":
            raise ValueError(f"stream norm must be one of 'batch', 'syncbatch', 'instance', got {norm!r}")
        self.learned_shortcut = in_channels != out_channels
        middle = in_channels
        self.conv_0 = maybe_spectral_norm(nn.Conv2d(in_channels, middle, kernel_size=3, padding=1), spectral)
        self.conv_1 = maybe_spectral_norm(nn.Conv2d(middle, out_channels, kernel_size=3, padding=1), spectral)
        if self.learned_shortcut:
            self.conv_s = maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False), spectral)
        self.norm_layer_in = conv_normalization(norm, in_channels)
        self.norm_layer_out = conv_normalization(norm, out_channels)
        if self.learned_shortcut:
            self.norm_layer_s = conv_normalization(norm, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        # Norm and leaky ReLU as one node that keeps only the activation (which the next conv keeps
        # anyway), not the conv's output and the normalised tensor (paintscape.layers.norm_activation).
        shortcut = normalized_leaky_relu(self.norm_layer_s, self.conv_s(x), LEAKY_SLOPE) if self.learned_shortcut else x
        dx = normalized_leaky_relu(self.norm_layer_in, self.conv_0(x), LEAKY_SLOPE)
        dx = normalized_leaky_relu(self.norm_layer_out, self.conv_1(dx), LEAKY_SLOPE)
        return shortcut + dx


def _mean_std(feature: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and std over space, ``(B, C, 1, 1)`` each.

    The variance is the unbiased one (``Tensor.var``'s default) plus ``eps``, as in the reference's
    ``calc_mean_std`` (itself from pytorch-AdaIN).
    """
    B, C = feature.shape[:2]
    flat = feature.reshape(B, C, -1)
    std = (flat.var(dim=2) + eps).sqrt().view(B, C, 1, 1)
    mean = flat.mean(dim=2).view(B, C, 1, 1)
    return mean, std


def fadain(content: Tensor, style: Tensor, alpha: float = 1.0, eps: float = 1e-5) -> Tensor:
    """Feature AdaIN: give ``content`` the per-channel mean and std of ``style``, blended by ``alpha``.

    ``alpha = 1`` is full stylisation, ``alpha = 0`` returns ``content`` unchanged. ``style`` may
    have a different spatial size from ``content`` (only its statistics are used) but must have the
    same batch size and channel count.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"FAdaIN strength alpha must lie in [0, 1], got {alpha}")
    if content.shape[:2] != style.shape[:2]:
        raise ValueError(
            f"FAdaIN needs content and style features with the same (batch, channels), got "
            f"{tuple(content.shape[:2])} and {tuple(style.shape[:2])}"
        )
    content_mean, content_std = _mean_std(content, eps)
    style_mean, style_std = _mean_std(style, eps)
    stylised = (content - content_mean) / content_std * style_std + style_mean
    return alpha * stylised + (1 - alpha) * content


__all__ = ["FADE", "FADEResnetBlock", "StreamResnetBlock", "fadain", "LEAKY_SLOPE"]
