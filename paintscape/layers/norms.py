"""Parameter-free and affine normalisation layers chosen by name."""

from __future__ import annotations

from torch import nn

NORM_KINDS = ("batch", "syncbatch", "instance", "none")


class SyncableBatchNorm2d(nn.BatchNorm2d):
    """``norm="syncbatch"``: a plain batch norm that the trainer turns into ``nn.SyncBatchNorm`` under
    DDP on GPUs (PyTorch's own ``convert_sync_batchnorm``), so the same module serves one GPU, many
    GPUs and CPU tests (SyncBatchNorm itself refuses to run outside a process group)."""


def normalization(kind: str, channels: int, affine: bool = False) -> nn.Module:
    """The normalisation layer ``kind`` over ``channels`` (``syncbatch``: :class:`SyncableBatchNorm2d`)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=affine)
    if kind == "syncbatch":
        return SyncableBatchNorm2d(channels, affine=affine)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalization {kind!r}; valid: {', '.join(NORM_KINDS)}")


def conv_normalization(kind: str, channels: int) -> nn.Module:
    """The norm after a plain (non-SPADE) convolution, with the references' one rule for its
    parameters (SPADE's ``get_nonspade_norm_layer``, pix2pix's ``norm_layer``): batch norms learn a
    scale and shift, instance norms do not; ``none`` is the identity."""
    return normalization(kind, channels, affine=kind in ("batch", "syncbatch"))
