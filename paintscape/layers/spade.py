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

from paintscape.layers.spectral import maybe_spectral_norm

from .modulated_norm import modulated_norm
from .norms import normalization

#: Slope of every leaky ReLU in SPADE's generator, encoder and discriminator, and in TSIT's.
LEAKY_SLOPE = 0.2


class SPADE(nn.Module):
    """``param_free_norm(x) * (1 + gamma(label)) + beta(label)``.

    ``gamma`` and ``beta`` come from a small conv net on the label map, resized (nearest) to the
    size of ``x``, so the normalisation keeps the layout that a plain norm would wash out.

    Memory: the normalisation and modulation are one autograd node that keeps ``x`` but not the
    normalised tensor (:mod:`paintscape.layers.modulated_norm`), and ``1 + gamma`` is computed in
    place on the conv's output. With ``recompute_hidden`` the
    128-channel hidden map is not kept for backward either but rebuilt there from the label (one
    small conv); SPADEGenerator turns it on for its full-resolution blocks, where those maps are
    the largest activations of the network.
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
        self.recompute_hidden = False

    def modulation(self, label: Tensor) -> tuple[Tensor, Tensor]:
        """``(1 + gamma, beta)`` for a label map already at the size of ``x``."""
        recompute = self.recompute_hidden and torch.is_grad_enabled() and not torch.compiler.is_compiling()
        if not recompute:
            return self._scale_shift(self.mlp_shared(label))
        conv = self.mlp_shared[0]
        before_relu = conv(label)
        hooks = _RebuildHidden(conv, label, before_relu)
        with torch.autograd.graph.saved_tensors_hooks(hooks.pack, hooks.unpack):
            return self._scale_shift(F.relu(before_relu, inplace=True))

    def _scale_shift(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        # 1 + gamma in place on the conv's fresh output (the conv's backward does not need it).
        return self.mlp_gamma(hidden).add_(1), self.mlp_beta(hidden)

    def forward(self, x: Tensor, label: Tensor, upsample: int = 1) -> Tensor:
        """``upsample``: normalise ``x`` upsampled (nearest) by this factor, see :func:`modulated_norm`."""
        size = (x.shape[2] * upsample, x.shape[3] * upsample)
        if tuple(label.shape[2:]) != size:  # callers may pass the label already resized (SPADEGenerator does)
            label = F.interpolate(label, size=size, mode="nearest")  # (B, L, h, w) at x's size
        scale, shift = self.modulation(label)
        return modulated_norm(self.param_free_norm, x, scale, shift, upsample)


class _RebuildHidden:
    """Saved-tensor hooks: keep a marker instead of SPADE's hidden map, rebuild it in backward.

    The hidden map ``relu(conv(label))`` is saved by the ReLU and by the gamma and beta convs. The
    label and the conv's weights are saved anyway and do not change before the backward, so the
    rebuilt map is the same tensor; it is built once and shared by the three backward nodes, and
    freed with them.
    """

    def __init__(self, conv: nn.Conv2d, label: Tensor, hidden: Tensor) -> None:
        self.conv, self.label = conv, label
        self.pointer, self.shape = hidden.data_ptr(), hidden.shape
        self.value: Tensor | None = None
        # The backward runs outside the forward's autocast region: rebuild under the same settings,
        # or a bf16 forward would get a float32 map back.
        device = label.device.type
        self.autocast = (device, torch.get_autocast_dtype(device), torch.is_autocast_enabled(device))

    def pack(self, tensor: Tensor) -> object:
        if tensor.data_ptr() == self.pointer and tensor.shape == self.shape:
            return self
        return tensor

    def unpack(self, packed: object) -> Tensor:
        if packed is not self:
            return packed  # type: ignore[return-value]
        if self.value is None:
            device, dtype, enabled = self.autocast
            with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                self.value = F.relu(self.conv(self.label), inplace=True)
        return self.value


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
        self.conv_0 = maybe_spectral_norm(nn.Conv2d(in_channels, middle_channels, 3, padding=1), spectral)
        self.conv_1 = maybe_spectral_norm(nn.Conv2d(middle_channels, out_channels, 3, padding=1), spectral)
        if self.learned_shortcut:
            self.conv_s = maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, 1, bias=False), spectral)

        spade = dict(norm=norm, hidden_channels=hidden_channels, kernel_size=kernel_size)
        self.norm_0 = SPADE(in_channels, label_channels, **spade)
        self.norm_1 = SPADE(middle_channels, label_channels, **spade)
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, label_channels, **spade)

    def forward(self, x: Tensor, label: Tensor, upsample: int = 1) -> Tensor:
        """``upsample``: the block's input is ``x`` upsampled (nearest) by this factor. The SPADE
        layers upsample inside their fused node, which then keeps only the small ``x`` for backward."""
        if upsample != 1 and not torch.is_grad_enabled():  # inference: nothing is kept, upsample once
            x, upsample = F.interpolate(x, scale_factor=upsample, mode="nearest"), 1
        size = (x.shape[2] * upsample, x.shape[3] * upsample)
        if tuple(label.shape[2:]) != size:  # resize once for the block's two or three SPADE layers
            label = F.interpolate(label, size=size, mode="nearest")
        if self.learned_shortcut:
            shortcut = self.conv_s(self.norm_s(x, label, upsample))
        else:
            shortcut = x if upsample == 1 else F.interpolate(x, scale_factor=upsample, mode="nearest")
        # In-place leaky ReLUs on SPADE's fresh output: autograd then keeps one tensor (the
        # activation, which the conv saves anyway) instead of both the input and the activation.
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, label, upsample), LEAKY_SLOPE, inplace=True))
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
