"""LabelMix (OASIS, Schönfeld, Sushko et al., ICLR 2021): a consistency regulariser for a
segmentation discriminator.

A binary map assigns each class of the label map to the real or the generated photo; the mixed
photo takes its pixels accordingly. The discriminator's output on the mix should equal the same mix
of its outputs on the real and the generated photo (mean squared error), which makes it attend to
content and boundaries rather than to one photo's global look. Reproduces boschresearch/OASIS's
``generate_labelmix`` (``models/models.py``) and ``losses_computer.loss_labelmix``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def labelmix_mask(label: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """A random binary map ``(B, 1, H, W)`` float, constant on each class of ``label`` ``(B, H, W)``.

    Every id present in the batch, in increasing order, draws one ``torch.randint(0, 2)`` from
    ``generator`` (the global RNG when None), one draw for the whole batch as in the reference; with
    the same RNG state the map is the reference's. Ignored pixels (255) form one more group. As in the
    reference, whose loop relabels the map in place: when class 0 draws 1 and class 1 is present,
    class 0's pixels are relabelled again with class 1's draw.
    """
    if label.dim() != 3:
        raise ValueError(f"labelmix_mask expects label ids (B, H, W), got shape {tuple(label.shape)}")
    ids = label.long()
    classes = torch.unique(ids)  # sorted, as the reference's torch.unique
    device = generator.device if generator is not None else ids.device
    coins = torch.randint(0, 2, (classes.numel(),), generator=generator, device=device).to(ids.device)
    size = int(classes[-1]) + 1
    table = torch.zeros(size, device=ids.device).index_put_((classes,), coins.float())
    present = torch.zeros(size, dtype=torch.bool, device=ids.device).index_fill_(0, classes, True)
    if size > 1:
        relabelled = present[0] & present[1] & (table[0] == 1)
        table[0] = torch.where(relabelled, table[1], table[0])
    return table[ids].unsqueeze(1)


def mix_images(real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
    """``mask * real + (1 - mask) * fake``: the real photo where the map is 1, the fake elsewhere."""
    return mask * real + (1 - mask) * fake


def labelmix_loss(mask: Tensor, output_mixed: Tensor, output_fake: Tensor, output_real: Tensor) -> Tensor:
    """Mean squared error between D's output on the mixed photo and the same mix of its outputs on
    the fake and the real one (``(B, N + 1, H, W)`` each; the mask broadcasts over channels).
    Gradients reach all three outputs, as in the reference."""
    return F.mse_loss(mix_images(output_real, output_fake, mask), output_mixed)


__all__ = ["labelmix_mask", "mix_images", "labelmix_loss"]
