"""Exponential moving average of the generator, parameterised by a half-life in images."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``ema = beta * ema + (1 - beta) * current`` with ``beta = 0.5 ** (images / half_life)``.

    A half-life in images (StyleGAN2-ADA's convention) keeps the averaging horizon fixed when the
    batch size changes between phases. Buffers (batch-norm statistics, spectral-norm vectors) are
    copied, not averaged. During warm-up the half-life grows with the images seen so early noise
    is forgotten quickly.
    """

    def __init__(self, model: nn.Module, half_life_images: float, warmup_images: float = 0.0) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.half_life = float(half_life_images)
        self.warmup = float(warmup_images)

    @torch.no_grad()
    def update(self, model: nn.Module, batch_images: int, images_seen: float) -> None:
        half_life = self.half_life
        if self.warmup > 0:
            half_life = min(half_life, max(images_seen, 1.0) * self.half_life / self.warmup)
        beta = 0.5 ** (batch_images / max(half_life, 1e-8))
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - beta)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)
