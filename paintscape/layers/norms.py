"""Parameter-free and affine normalisation layers chosen by name."""

from __future__ import annotations

from torch import nn

NORM_KINDS = ("batch", "syncbatch", "instance", "none")


def normalization(kind: str, channels: int, affine: bool = False) -> nn.Module:
    """The normalisation layer ``kind`` over ``channels``.

    ``syncbatch`` builds ``nn.BatchNorm2d``: PyTorch's own ``nn.SyncBatchNorm.convert_sync_batchnorm``
    turns every batch norm into a synchronised one when the trainer wraps the model in DDP, so the
    same module serves one GPU, many GPUs and CPU tests (SyncBatchNorm itself refuses to run outside
    a process group). The kind is remembered on the module so the trainer knows what to convert.
    """
    if kind in ("batch", "syncbatch"):
        layer: nn.Module = nn.BatchNorm2d(channels, affine=affine)
        layer.paintscape_sync = kind == "syncbatch"  # type: ignore[attr-defined]
        return layer
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
