"""Exponential moving average of the generator, parameterised by a half-life in images."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``ema = beta * ema + (1 - beta) * current`` with ``beta = 0.5 ** (batch / half_life)``.

    A half-life in images (StyleGAN2-ADA's convention) keeps the averaging horizon fixed when the
    batch size changes between phases. With ``rampup`` > 0 the half-life is at most
    ``rampup * images_seen``, so early in training the average forgets the random initialisation
    quickly instead of dragging it along (StyleGAN2-ADA uses 0.05). Buffers (batch-norm statistics,
    spectral-norm vectors) are copied, not averaged.

    Only trainable parameters are averaged: the ones that do not require grad (a diffusion model's
    frozen base, gigabytes) are shared with ``model``, not copied, and never updated.
    """

    def __init__(self, model: nn.Module, half_life_images: float, rampup: float = 0.05) -> None:
        # deepcopy's memo maps each frozen parameter to itself: the copy shares it
        shared = {id(p): p for p in model.parameters() if not p.requires_grad}
        self.model = copy.deepcopy(model, shared).eval()
        for p in self.model.parameters():
            if id(p) not in shared:
                p.requires_grad_(False)
        self.half_life = float(half_life_images)
        self.rampup = float(rampup)

    def beta(self, batch_images: int, images_seen: float) -> float:
        half_life = self.half_life
        if self.rampup > 0:
            half_life = min(half_life, images_seen * self.rampup)
        return 0.5 ** (batch_images / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, model: nn.Module, batch_images: int, images_seen: float) -> None:
        beta = self.beta(batch_images, images_seen)
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            if ema_p is not p:  # a shared frozen parameter is its own average
                ema_p.lerp_(p.detach().to(ema_p.dtype), 1.0 - beta)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)
