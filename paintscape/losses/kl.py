"""KL divergence of the VAE style encoder's posterior from N(0, I) (SPADE's ``KLDLoss``)."""

from __future__ import annotations

import torch
from torch import Tensor


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))`` summed over batch and latent dims, like SPADE.

    SPADE weighs it with ``lambda_kld = 0.05``; the sum (not mean) is part of that calibration.
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
