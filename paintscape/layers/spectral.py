"""Spectral normalisation that never keeps ``W / sigma`` around.

``torch.nn.utils.spectral_norm`` (Miyato et al., 2018) computes ``weight = weight_orig / sigma`` in a
forward pre-hook and stores it on the module. For weight-heavy layers that is expensive: SPADE's
generator at 256x256 keeps about 255 MB of normalised conv weights alive for backward (the
low-resolution 1024-channel convs have 9.4M-float weights but tiny outputs), plus elementwise
passes over all of them forward and backward. A convolution is linear in its weight, so

    conv(x, W / sigma) + b == conv(x, W) / sigma + b

and when autograd is recording, :func:`spectral_norm` here divides whichever is smaller: the weight
(as torch does) or the layer's output. Without autograd (inference, ``torch.no_grad``) there is no
backward to keep anything for and the layer computes exactly what torch's does, bitwise; so do
generated images, including their independence of the batch size. Everything else is torch's
spectral norm, unchanged:

* the same state dict: parameter ``weight_orig`` (plus ``bias``), buffers ``weight_u`` and
  ``weight_v``, no ``weight`` entry, the same ``spectral_norm`` metadata; state dicts move strictly
  between the two implementations, and pre-PyTorch-1.1 ones (``weight`` instead of ``weight_v``)
  are converted by torch's own rule;
* the same initialisation: ``u`` then ``v`` drawn with ``normal_(0, 1)`` and normalised, so a model
  built under a seed has the same tensors as with torch's version;
* the same sigma: in training mode ``n_power_iterations`` power-iteration steps update ``u`` and
  ``v`` in place (no grad), which are then cloned, and ``sigma = u . (W v)`` is differentiated
  through; in eval mode ``u`` and ``v`` are used as they are.

The module keeps its class's ``isinstance`` relations (a spectral-normalised ``nn.Conv2d`` becomes a
:class:`SpectralNormConv2d`, a subclass of ``nn.Conv2d``), and ``module.weight`` is a read-only
property that returns ``weight_orig / sigma`` for the current ``u`` and ``v`` (no power iteration).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.spectral_norm import SpectralNorm, SpectralNormLoadStateDictPreHook

__all__ = [
    "SpectralNormConv1d",
    "SpectralNormConv2d",
    "SpectralNormConv3d",
    "SpectralNormConvTranspose1d",
    "SpectralNormConvTranspose2d",
    "SpectralNormConvTranspose3d",
    "SpectralNormLinear",
    "spectral_norm",
]

T_module = TypeVar("T_module", bound=nn.Module)

#: ``torch.nn.utils.spectral_norm``'s state-dict format version (``SpectralNorm._version``).
_VERSION = SpectralNorm._version


def _as_matrix(weight: Tensor, dim: int) -> Tensor:
    """``SpectralNorm.reshape_weight_to_matrix``: ``dim`` to the front, the rest flattened."""
    if dim != 0:
        weight = weight.permute(dim, *[d for d in range(weight.dim()) if d != dim])
    return weight.reshape(weight.size(0), -1)


class _SpectralNorm:
    """What the spectral-normalised layers share; mixed in before the layer class.

    A subclass implements ``_bias_shape`` (how the bias broadcasts against the output),
    ``_output_numel`` (the number of output elements for an input) and ``_linear_map`` (the layer for
    a given weight and bias).
    """

    weight_orig: nn.Parameter
    weight_u: Tensor
    weight_v: Tensor
    bias: Tensor | None
    training: bool
    _parameters: dict[str, nn.Parameter | None]
    #: settings of :func:`spectral_norm` (set there)
    sn_dim: int
    sn_n_power_iterations: int
    sn_eps: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{type(self).__name__} is made from an existing layer with "
            f"paintscape.layers.spectral.spectral_norm(layer), not constructed directly"
        )

    @property
    def weight(self) -> Tensor:
        """``weight_orig / sigma`` with the current ``u`` and ``v`` (computed on each access)."""
        return self.weight_orig / self.sigma(power_iteration=False)

    def sigma(self, power_iteration: bool) -> Tensor:
        """The estimate of ``weight_orig``'s largest singular value, as torch's ``compute_weight``.

        With ``power_iteration`` the buffers ``weight_u`` and ``weight_v`` are updated in place
        first (so that DataParallel replicas write through to the original's buffers, as with torch)
        and then cloned, so that a graph built by an earlier forward keeps the values it saved.
        """
        weight_mat = _as_matrix(self.weight_orig, self.sn_dim)
        u, v = self.weight_u, self.weight_v
        if power_iteration:
            with torch.no_grad():
                for _ in range(self.sn_n_power_iterations):
                    v.copy_(F.normalize(torch.mv(weight_mat.t(), u), dim=0, eps=self.sn_eps))
                    u.copy_(F.normalize(torch.mv(weight_mat, v), dim=0, eps=self.sn_eps))
                u = u.clone(memory_format=torch.contiguous_format)
                v = v.clone(memory_format=torch.contiguous_format)
        return torch.dot(u, torch.mv(weight_mat, v))

    def _output_numel(self, input: Tensor, *extra: Any) -> int:
        raise NotImplementedError

    def _linear_map(self, input: Tensor, weight: Tensor, bias: Tensor | None, *extra: Any) -> Tensor:
        raise NotImplementedError

    def _bias_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _normalized(self, input: Tensor, *extra: Any) -> Tensor:
        """The layer with weight ``weight_orig / sigma``, dividing the weight or the output.

        With autograd on, whichever is smaller, as that is what backward keeps (the weight-sized
        ``W / sigma`` saved by the convolution, or the output saved by the division). Without, the
        weight, as torch does: the same result bitwise, for any batch size.
        """
        sigma = self.sigma(power_iteration=self.training)
        weight = self.weight_orig
        if not torch.is_grad_enabled() or weight.numel() <= self._output_numel(input, *extra):
            return self._linear_map(input, weight / sigma, self.bias, *extra)
        # (not addcdiv: ONNX has no such operator; the outputs of these layers are small anyway)
        out = self._linear_map(input, weight, None, *extra) / sigma
        if self.bias is None:
            return out
        # under autocast ``out`` is in the lower precision: the bias follows it, as in the layer
        return out + self.bias.to(out.dtype).view(self._bias_shape())

    # State dicts: torch's format, including its metadata and its conversion of old state dicts.

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)  # type: ignore[misc]
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None and prefix[:-1] in metadata:
            # what SpectralNormStateDictHook writes (Module.state_dict has just made this entry)
            metadata[prefix[:-1]].setdefault("spectral_norm", {})["weight.version"] = _VERSION

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # pre-1.1 state dicts hold ``weight`` and no ``weight_v``: torch's hook rebuilds ``weight_v``
        fn = SpectralNorm("weight", self.sn_n_power_iterations, self.sn_dim, self.sn_eps)
        SpectralNormLoadStateDictPreHook(fn)(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class _SpectralNormConv(_SpectralNorm):
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: str | tuple[int, ...]
    dilation: tuple[int, ...]
    _spatial_dims: int

    def _bias_shape(self) -> tuple[int, ...]:
        return (-1,) + (1,) * self._spatial_dims

    def _output_numel(self, input: Tensor, *extra: Any) -> int:
        n = self._spatial_dims
        numel = math.prod(input.shape[: -n - 1]) * self.out_channels  # batch (none if unbatched)
        for i, size in enumerate(input.shape[-n:]):
            if self.padding != "same":  # "same": the output has the input's size
                pad = 0 if self.padding == "valid" else self.padding[i]
                size = (size + 2 * pad - self.dilation[i] * (self.kernel_size[i] - 1) - 1) // self.stride[i] + 1
            numel *= size
        return numel

    def _linear_map(self, input: Tensor, weight: Tensor, bias: Tensor | None, *extra: Any) -> Tensor:
        return self._conv_forward(input, weight, bias)  # type: ignore[attr-defined]

    def forward(self, input: Tensor) -> Tensor:
        return self._normalized(input)


class SpectralNormConv1d(_SpectralNormConv, nn.Conv1d):
    _spatial_dims = 1


class SpectralNormConv2d(_SpectralNormConv, nn.Conv2d):
    _spatial_dims = 2


class SpectralNormConv3d(_SpectralNormConv, nn.Conv3d):
    _spatial_dims = 3


class _SpectralNormConvTranspose(_SpectralNormConv):
    output_padding: tuple[int, ...]
    groups: int
    padding_mode: str
    _functional: Any

    def _output_numel(self, input: Tensor, *extra: Any) -> int:
        (output_padding,) = extra
        n = self._spatial_dims
        numel = math.prod(input.shape[: -n - 1]) * self.out_channels
        for i, size in enumerate(input.shape[-n:]):
            numel *= (
                (size - 1) * self.stride[i]
                - 2 * self.padding[i]  # type: ignore[index]
                + self.dilation[i] * (self.kernel_size[i] - 1)
                + output_padding[i]
                + 1
            )
        return numel

    def _linear_map(self, input: Tensor, weight: Tensor, bias: Tensor | None, *extra: Any) -> Tensor:
        (output_padding,) = extra
        return type(self)._functional(
            input, weight, bias, self.stride, self.padding, output_padding, self.groups, self.dilation
        )

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:  # type: ignore[override]
        if self.padding_mode != "zeros":
            raise ValueError(f"Only `zeros` padding mode is supported for {type(self).__name__}")
        output_padding = self._output_padding(  # type: ignore[attr-defined]
            input, output_size, self.stride, self.padding, self.kernel_size, self._spatial_dims, self.dilation
        )
        return self._normalized(input, output_padding)


class SpectralNormConvTranspose1d(_SpectralNormConvTranspose, nn.ConvTranspose1d):
    _spatial_dims = 1
    _functional = staticmethod(F.conv_transpose1d)


class SpectralNormConvTranspose2d(_SpectralNormConvTranspose, nn.ConvTranspose2d):
    _spatial_dims = 2
    _functional = staticmethod(F.conv_transpose2d)


class SpectralNormConvTranspose3d(_SpectralNormConvTranspose, nn.ConvTranspose3d):
    _spatial_dims = 3
    _functional = staticmethod(F.conv_transpose3d)


class SpectralNormLinear(_SpectralNorm, nn.Linear):
    in_features: int
    out_features: int

    def _bias_shape(self) -> tuple[int, ...]:
        return (-1,)

    def _output_numel(self, input: Tensor, *extra: Any) -> int:
        return math.prod(input.shape[:-1]) * self.out_features

    def _linear_map(self, input: Tensor, weight: Tensor, bias: Tensor | None, *extra: Any) -> Tensor:
        return F.linear(input, weight, bias)

    def forward(self, input: Tensor) -> Tensor:
        return self._normalized(input)


_SPECTRAL_CLASSES: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: SpectralNormConv1d,
    nn.Conv2d: SpectralNormConv2d,
    nn.Conv3d: SpectralNormConv3d,
    nn.ConvTranspose1d: SpectralNormConvTranspose1d,
    nn.ConvTranspose2d: SpectralNormConvTranspose2d,
    nn.ConvTranspose3d: SpectralNormConvTranspose3d,
    nn.Linear: SpectralNormLinear,
}


def spectral_norm(
    module: T_module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> T_module:
    """Spectral-normalise ``module``'s weight in place and return it, as ``torch.nn.utils.spectral_norm``.

    ``module`` must be exactly an ``nn.Conv{1,2,3}d``, ``nn.ConvTranspose{1,2,3}d`` or ``nn.Linear``
    (not a subclass, whose ``forward`` would be lost); it becomes the matching ``SpectralNorm*``
    subclass, keeping its parameters (the weight is renamed ``weight_orig``). ``dim`` defaults to 1
    for transposed convolutions and 0 otherwise, as in torch.
    """
    if isinstance(module, _SpectralNorm):
        raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
    spectral_class = _SPECTRAL_CLASSES.get(type(module))
    if spectral_class is None:
        raise TypeError(
            f"paintscape's spectral_norm supports {', '.join(c.__name__ for c in _SPECTRAL_CLASSES)} "
            f"(exactly), not {type(module).__name__}; use torch.nn.utils.spectral_norm for other layers"
        )
    if name != "weight":
        raise ValueError(f"paintscape's spectral_norm normalises 'weight' only, not {name!r}")
    if n_power_iterations <= 0:
        raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")
    if dim is None:
        dim = 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0
    weight = module._parameters.get("weight")
    if weight is None:
        raise ValueError("`SpectralNorm` cannot be applied as parameter `weight` is None")

    # exactly SpectralNorm.apply's draws, so that the random stream is consumed as with torch's version
    with torch.no_grad():
        h, w = _as_matrix(weight, dim).size()
        u = F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=eps)
        v = F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=eps)

    del module._parameters["weight"]
    module.__class__ = spectral_class
    # registration order as in torch (weight_orig after bias), which fixes the parameter order that
    # optimiser state dicts index by
    module.register_parameter("weight_orig", weight)
    module.register_buffer("weight_u", u)
    module.register_buffer("weight_v", v)
    module.sn_dim = dim
    module.sn_n_power_iterations = n_power_iterations
    module.sn_eps = eps
    return module


def maybe_spectral_norm(module: T_module, enabled: bool) -> T_module:
    """:func:`spectral_norm` of ``module`` when ``enabled`` (the networks' ``spectral`` switch), else ``module``."""
    return spectral_norm(module) if enabled else module
