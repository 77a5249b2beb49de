"""Pixel reconstruction loss (pix2pix's L1 term, ``lambda_L1 = 100`` in the reference)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def l1_loss(fake: Tensor, real: Tensor) -> Tensor:
    """Mean absolute difference over every element (``nn.L1Loss()`` as pix2pix uses it)."""
    if fake.shape != real.shape:
        raise ValueError(f"L1 needs images of one shape, got {tuple(fake.shape)} and {tuple(real.shape)}")
    return F.l1_loss(fake, real)
