"""OASIS's adversarial loss: the discriminator segments a photo into N classes plus "fake".

Schönfeld, Sushko et al., ICLR 2021 ("You Only Need Adversarial Supervision"); reproduces
``losses_computer.loss`` of boschresearch/OASIS (``models/losses.py``). The discriminator's output
is ``(B, N + 1, H, W)`` logits, channel 0 "fake" and channel ``k + 1`` class ``k``
(:data:`paintscape.models.oasis.FAKE_CHANNEL`). Per pixel, cross-entropy against:

* a real photo, for D (``D/real``) and for G on its fakes (``G/adv``): the pixel's class, each pixel
  weighted by :func:`class_balance_weights` (``real=True``);
* a generated photo, for D (``D/fake``): the fake class, unweighted (``real=False``).

Each loss is the mean over every pixel of the batch, weights included, as in the reference.
Labels are ids ``(B, H, W)`` (:mod:`paintscape.labels`); ignored pixels (255) get weight 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from paintscape.labels import IGNORE_INDEX


def _valid(label: Tensor, num_classes: int, ignore_index: int) -> Tensor:
    return (label != ignore_index) & (label >= 0) & (label < num_classes)


def class_balance_weights(
    label: Tensor, num_classes: int, *, dont_care_class: int | None = None, ignore_index: int = IGNORE_INDEX
) -> Tensor:
    """Per-pixel weights ``(B, H, W)``, float32: OASIS's class balancing over the whole batch.

    A class present in the batch with ``n_c`` pixels gets ``B*H*W / (K * n_c)``, ``K`` being the
    number of classes present, so each present class weighs as much in total as an even share of
    the pixels. ``dont_care_class`` (the reference's ``contain_dontcare_label``: ADE20K's "unknown",
    id 0) and ignored pixels get 0 and are not counted in ``K``; absent classes take no part. The
    arithmetic is the reference's ``get_class_balancing``, in the same order.
    """
    if label.dim() != 3:
        raise ValueError(f"class_balance_weights expects label ids (B, H, W), got shape {tuple(label.shape)}")
    B, H, W = label.shape
    valid = _valid(label, num_classes, ignore_index)
    ids = torch.where(valid, label, torch.zeros_like(label)).long()
    # Pixel counts per class without a sync: invalid pixels go to an extra bin that is dropped.
    bins = torch.where(valid, ids, torch.full_like(ids, num_classes)).flatten()
    counts = torch.zeros(num_classes + 1, device=label.device).index_add_(
        0, bins, torch.ones(bins.numel(), device=label.device)
    )[:num_classes]
    if dont_care_class is not None:
        counts[dont_care_class] = 0
    present = (counts > 0).sum()
    # The reference: reciprocal(occurrence) * numel(one-hot) / (K * channels); absent classes are inf, never read.
    coefficients = torch.reciprocal(counts) * (B * num_classes * H * W) / (present * num_classes)
    if dont_care_class is not None:
        coefficients[dont_care_class] = 0
    return torch.where(valid, coefficients[ids], torch.zeros((), device=label.device))


def segmentation_adversarial_loss(
    logits: Tensor,
    label: Tensor,
    *,
    real: bool,
    class_balanced: bool = True,
    dont_care_class: int | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> Tensor:
    """The (N+1)-class cross-entropy of ``logits`` ``(B, N + 1, H, W)`` for label ids ``(B, H, W)``.

    ``real=True``: target each pixel's class (channel ``id + 1``), weighted by
    :func:`class_balance_weights` (``class_balanced=False``: weight 1, the reference's
    ``--no_balancing_inloss``; ignored pixels 0 either way). ``real=False``: target the fake class
    (channel 0) everywhere, unweighted. Returns the mean over all ``B*H*W`` pixels, a 0-dim tensor.
    """
    if logits.dim() != 4 or label.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"segmentation_adversarial_loss expects logits (B, N+1, H, W) and label ids (B, H, W) of the same "
            f"B, H, W; got {tuple(logits.shape)} and {tuple(label.shape)}"
        )
    num_classes = logits.shape[1] - 1
    if not real:
        return F.cross_entropy(logits, torch.zeros(label.shape, dtype=torch.long, device=label.device))
    valid = _valid(label, num_classes, ignore_index)
    target = torch.where(valid, label.long() + 1, torch.ones_like(label, dtype=torch.long))  # class k -> channel k+1
    loss = F.cross_entropy(logits, target, reduction="none")  # (B, H, W)
    if class_balanced:
        weights = class_balance_weights(label, num_classes, dont_care_class=dont_care_class, ignore_index=ignore_index)
    else:
        weights = valid.to(loss.dtype)
    return torch.mean(loss * weights)


__all__ = ["class_balance_weights", "segmentation_adversarial_loss"]
