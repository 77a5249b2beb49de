"""Adversarial losses (hinge, least squares, non-saturating BCE) over discriminator outputs.

Reproduces SPADE's ``GANLoss`` (``models/networks/loss.py``): the input is a discriminator output in
the repository's convention, ``list[list[Tensor]]`` (one list per scale, logits last), a list of
logit tensors, or one logit tensor. Each scale's loss is the mean over all of its logits (batch
and patches together); the result is the mean over scales, a 0-dim tensor.

Per-scale formulas on logits ``x`` (``mean`` over every element):

* ``hinge``:           D real ``mean(relu(1 - x))``, D fake ``mean(relu(1 + x))``, G ``-mean(x)``
* ``least_squares``:   D real ``mean((x - 1)^2)``, D fake ``mean(x^2)``, G ``mean((x - 1)^2)``
* ``non_saturating``:  D real ``BCE(x, 1)``, D fake ``BCE(x, 0)``, G ``BCE(x, 1) = mean(softplus(-x))``
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

GAN_MODES = ("hinge", "least_squares", "non_saturating")
# Names used by SPADE / pix2pix options, accepted so their configs translate directly.
_ALIASES = {"ls": "least_squares", "lsgan": "least_squares", "bce": "non_saturating",
            "original": "non_saturating", "vanilla": "non_saturating"}  # fmt: skip

Predictions = Tensor | Sequence[Tensor] | Sequence[Sequence[Tensor]]


def gan_mode(mode: str) -> str:
    """The canonical name of a GAN loss (SPADE's and pix2pix's aliases accepted); ValueError naming the valid ones."""
    mode = _ALIASES.get(mode, mode)
    if mode not in GAN_MODES:
        raise ValueError(f"unknown GAN loss {mode!r}; valid: {', '.join(GAN_MODES)} (or {', '.join(_ALIASES)})")
    return mode


def logits_per_scale(predictions: Predictions) -> list[Tensor]:
    """The logits of every scale: the last element of each inner list (SPADE's convention)."""
    if isinstance(predictions, Tensor):
        return [predictions]
    logits = [scale[-1] if isinstance(scale, (list, tuple)) else scale for scale in predictions]
    if not logits:
        raise ValueError("discriminator output is empty")
    return logits


def _scale_loss(x: Tensor, mode: str, target_is_real: bool, for_discriminator: bool) -> Tensor:
    if mode == "hinge":
        if for_discriminator:
            return F.relu(1 - x).mean() if target_is_real else F.relu(1 + x).mean()
        if not target_is_real:
            raise ValueError("the generator's hinge loss must aim for real")
        return -x.mean()
    target = torch.full_like(x, 1.0 if target_is_real else 0.0)
    if mode == "least_squares":
        return F.mse_loss(x, target)
    return F.binary_cross_entropy_with_logits(x, target)


def adversarial_loss(
    predictions: Predictions, target_is_real: bool, for_discriminator: bool, mode: str = "hinge"
) -> Tensor:
    """SPADE's ``GANLoss(mode)(predictions, target_is_real, for_discriminator)``, as a 0-dim tensor."""
    mode = gan_mode(mode)
    losses = [_scale_loss(x, mode, target_is_real, for_discriminator) for x in logits_per_scale(predictions)]
    return torch.stack(losses).mean()


def generator_adversarial_loss(fake_predictions: Predictions, mode: str = "hinge") -> Tensor:
    """The generator's term ``G/adv``: D's output on fakes, pushed towards real."""
    return adversarial_loss(fake_predictions, target_is_real=True, for_discriminator=False, mode=mode)


def discriminator_adversarial_loss(predictions: Predictions, target_is_real: bool, mode: str = "hinge") -> Tensor:
    """The discriminator's ``D/real`` (``target_is_real=True``) or ``D/fake`` term."""
    return adversarial_loss(predictions, target_is_real=target_is_real, for_discriminator=True, mode=mode)
