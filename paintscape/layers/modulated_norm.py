"""``norm(x) * scale + shift`` as one autograd node that does not keep ``norm(x)``.

SPADE and FADE normalise ``x`` without affine parameters and then modulate it per pixel. Written
as ``norm(x) * (1 + gamma) + beta``, autograd keeps the normalised tensor for the multiplication's
backward: one more full-size activation per layer (about 155 MB for SPADE's generator at 256x256,
batch 1). The node here keeps only ``x`` (which the norm's own backward needs anyway), ``scale``
and the per-channel statistics; its backward rebuilds what it needs from them.

The arithmetic is PyTorch's own: the forward is ``torch.native_batch_norm`` (the kernel behind
``F.batch_norm`` and, on a reshaped input, ``F.instance_norm``, including the running-statistics
update) followed by one ``addcmul`` in place; the backward is ``native_batch_norm_backward`` applied to
``grad * scale``. So results and running statistics are those of the plain formula, and the forward
allocates one full-size tensor instead of four.

Only the cases where that is the same computation are taken: an ``nn.BatchNorm2d`` in training
mode or an ``nn.InstanceNorm2d`` without affine parameters or running statistics, on float32
input, with autograd recording. Everything else (evaluation, ``nn.SyncBatchNorm`` under DDP,
bf16 autocast) runs the norm module itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintscape.layers.norms import SyncableBatchNorm2d


def fusable(norm: nn.Module, x: Tensor) -> bool:
    """Whether :func:`modulated_norm` may compute ``norm`` itself for this input."""
    if x.dtype != torch.float32 or not torch.is_grad_enabled() or x.dim() != 4:
        return False
    if type(norm) in (nn.BatchNorm2d, SyncableBatchNorm2d):  # exactly: nn.SyncBatchNorm must reduce across ranks
        return norm.training and not norm.affine
    if type(norm) is nn.InstanceNorm2d:
        return not norm.affine and not norm.track_running_stats
    return False


def _upsampled(x: Tensor, upsample: int) -> Tensor:
    return x if upsample == 1 else F.interpolate(x, scale_factor=upsample, mode="nearest")


class _ModulatedNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: Tensor, shift: Tensor, running_mean, running_var, momentum: float, eps: float, instance: bool, upsample: int) -> Tensor:
        big = _upsampled(x, upsample)
        # Instance norm is batch norm over (1, B*C, H, W), as F.instance_norm computes it.
        flat = big.reshape(1, -1, *big.shape[2:]) if instance else big
        normalized, mean, invstd = torch.native_batch_norm(flat, None, None, running_mean, running_var, True, momentum, eps)
        del big, flat
        if instance:  # a fresh tensor: an output that is a view of a temporary may not be modified in place
            out = torch.addcmul(shift, normalized.view_as(scale), scale)
        else:  # in place into the fresh norm output: no second full-size allocation
            out = torch.addcmul(shift, normalized, scale, out=normalized)
        ctx.save_for_backward(x, scale, mean, invstd)  # x before upsampling: a quarter of the size
        ctx.eps, ctx.instance, ctx.upsample, ctx.shapes = eps, instance, upsample, (scale.shape, shift.shape)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, scale, mean, invstd = ctx.saved_tensors
        scale_shape, shift_shape = ctx.shapes
        big = _upsampled(x, ctx.upsample)
        B, C = big.shape[:2]
        stat_shape = (B, C, 1, 1) if ctx.instance else (1, C, 1, 1)
        grad_scale = grad_shift = grad_x = None
        # grad_x first: its temporary (grad * scale) is freed before grad_scale's tensor is made,
        # so at most two full-size tensors are new at a time.
        if ctx.needs_input_grad[0]:
            g = grad * scale  # d loss / d normalized
            flat = (lambda t: t.reshape(1, -1, *t.shape[2:])) if ctx.instance else (lambda t: t)
            grad_x = torch.ops.aten.native_batch_norm_backward(
                flat(g), flat(big), None, None, None, mean, invstd, True, ctx.eps, [True, False, False]
            )[0].view_as(big)
            del g
            if ctx.upsample != 1:  # nearest upsampling's backward: each input pixel sums its copies
                grad_x = torch.ops.aten.upsample_nearest2d_backward(grad_x, big.shape[2:], x.shape, None, None)
        if ctx.needs_input_grad[1]:
            mean4, invstd4 = mean.view(stat_shape), invstd.view(stat_shape)
            normalized = torch.addcmul(-mean4 * invstd4, big, invstd4)  # (x - mean) * invstd in one pass
            grad_scale = normalized.mul_(grad).sum_to_size(scale_shape)
        if ctx.needs_input_grad[2]:
            grad_shift = grad.sum_to_size(shift_shape)
        return grad_x, grad_scale, grad_shift, None, None, None, None, None, None


def modulated_norm(norm: nn.Module, x: Tensor, scale: Tensor, shift: Tensor, upsample: int = 1) -> Tensor:
    """``norm(up(x)) * scale + shift``, fused when :func:`fusable` says so, else with the norm module.

    ``up`` is nearest upsampling by ``upsample`` (1: none). Passing the small ``x`` instead of
    upsampling it first lets the fused node keep the small tensor for its backward (a quarter of
    the memory at x2) and rebuild the large one there.
    """
    if not fusable(norm, x):
        normalized = norm(_upsampled(x, upsample))
        if torch.is_grad_enabled() or normalized is x:
            return torch.addcmul(shift, normalized, scale)
        return normalized.mul_(scale).add_(shift)  # inference: in place on the fresh norm output
    if isinstance(norm, nn.BatchNorm2d):
        # nn.BatchNorm2d.forward's bookkeeping: count the batch, pick the averaging factor.
        factor = 0.0 if norm.momentum is None else norm.momentum
        if norm.track_running_stats and norm.num_batches_tracked is not None:
            norm.num_batches_tracked.add_(1)
            if norm.momentum is None:  # cumulative moving average
                factor = 1.0 / float(norm.num_batches_tracked)
        if x.numel() * upsample**2 // x.shape[1] < 2:  # F.batch_norm's own check, with its message
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        return _ModulatedNorm.apply(x, scale, shift, norm.running_mean, norm.running_var, factor, norm.eps, False, upsample)
    return _ModulatedNorm.apply(x, scale, shift, None, None, 0.0, norm.eps, True, upsample)
