"""``leaky_relu(norm(x))`` as one autograd node that keeps only its output.

TSIT's stream blocks and the PatchGAN discriminators end every convolution with a parameter-free
normalisation and a leaky ReLU. Written plainly, autograd keeps three full-size tensors per layer:
the conv's output (for the norm's backward), the normalised tensor (for the leaky ReLU's) and the
activation (for the next conv's). The activation alone is enough: a leaky ReLU with a positive
slope is invertible, so the normalised tensor is ``y`` where ``y > 0`` and ``y / slope`` elsewhere,
and the norm's backward needs only that and the per-channel ``1 / std``. The node here keeps the
output (which the next conv keeps anyway) and the statistics; the conv's output is freed at once.

The arithmetic is PyTorch's: the forward is ``torch.native_batch_norm`` (the kernel of
``F.batch_norm`` and, on a reshaped input, ``F.instance_norm``, running statistics included) and an
in-place leaky ReLU; the backward is ``native_batch_norm_backward`` on the rebuilt normalised tensor
(with mean 0 and ``invstd`` 1, then scaled by the saved ``invstd``). Results and running statistics
are those of the plain modules (the rebuilt tensor may differ from the original by one rounding
where ``y < 0``, tests/test_norm_activation.py).

Fused: ``nn.InstanceNorm2d`` without affine parameters or running statistics, ``nn.BatchNorm2d``
(exactly: not SyncBatchNorm) in training mode without affine parameters, float32 input, autograd
recording, positive slope. Anything else runs the norm module, then the leaky ReLU in place on its
fresh output (autograd then keeps the activation instead of the normalised tensor and the activation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def fusable(norm: nn.Module, x: Tensor, slope: float) -> bool:
    """Whether :func:`normalized_leaky_relu` may compute ``norm`` itself for this input."""
    if slope <= 0 or x.dtype != torch.float32 or not torch.is_grad_enabled() or x.dim() != 4:
        return False
    if type(norm) is nn.BatchNorm2d:
        return norm.training and not norm.affine
    if type(norm) is nn.InstanceNorm2d:
        return not norm.affine and not norm.track_running_stats
    return False


class _NormalizedLeakyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, running_mean, running_var, momentum: float, eps: float, instance: bool, slope: float) -> Tensor:
        # Instance norm is batch norm over (1, B*C, H, W), as F.instance_norm computes it.
        flat = x.reshape(1, -1, *x.shape[2:]) if instance else x
        out, _, invstd = torch.native_batch_norm(flat, None, None, running_mean, running_var, True, momentum, eps)
        out = F.leaky_relu_(out, slope).view_as(x)
        ctx.save_for_backward(out, invstd)
        ctx.instance, ctx.slope = instance, slope
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        out, invstd = ctx.saved_tensors
        slope = ctx.slope
        positive = out > 0
        normalized = torch.where(positive, out, out / slope)  # the leaky ReLU undone
        grad_normalized = torch.where(positive, grad, grad * slope)
        del positive
        flat = (lambda t: t.reshape(1, -1, *t.shape[2:])) if ctx.instance else (lambda t: t)
        zeros, ones = torch.zeros_like(invstd), torch.ones_like(invstd)
        # d/d(normalized) of the norm, from the normalised tensor itself (mean 0, invstd 1) ...
        grad_x = torch.ops.aten.native_batch_norm_backward(
            flat(grad_normalized), flat(normalized), None, None, None, zeros, ones, True, 0.0, [True, False, False]
        )[0]
        del normalized, grad_normalized
        # ... then through x -> normalized, which scales by invstd per channel
        channel_shape = (1, -1, 1, 1)
        grad_x = grad_x.mul_(invstd.view(channel_shape)).view_as(out)
        return grad_x, None, None, None, None, None, None


def normalized_leaky_relu(norm: nn.Module, x: Tensor, slope: float) -> Tensor:
    """``leaky_relu(norm(x), slope)``, fused when :func:`fusable` says so (see the module doc)."""
    if not fusable(norm, x, slope):
        normalized = norm(x)
        if normalized is x:  # nn.Identity: x belongs to the caller
            return F.leaky_relu(x, slope)
        return F.leaky_relu(normalized, slope, inplace=True)
    if isinstance(norm, nn.BatchNorm2d):
        # nn.BatchNorm2d.forward's bookkeeping: count the batch, pick the averaging factor.
        factor = 0.0 if norm.momentum is None else norm.momentum
        if norm.track_running_stats and norm.num_batches_tracked is not None:
            norm.num_batches_tracked.add_(1)
            if norm.momentum is None:  # cumulative moving average
                factor = 1.0 / float(norm.num_batches_tracked)
        if x.numel() // x.shape[1] < 2:  # F.batch_norm's own check, with its message
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        return _NormalizedLeakyReLU.apply(x, norm.running_mean, norm.running_var, factor, norm.eps, False, slope)
    if x.shape[2] * x.shape[3] < 2:  # F.instance_norm's check
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {tuple(x.shape)}")
    return _NormalizedLeakyReLU.apply(x, None, None, 0.0, norm.eps, True, slope)
