"""Discriminator feature matching (pix2pixHD, SPADE's ``GAN_Feat`` term).

SPADE (``pix2pix_model.compute_generator_loss``): for every scale ``i`` and every intermediate
output ``j`` (all but the logits, which are last), ``L1(fake[i][j], real[i][j].detach())`` with
``L1`` the mean absolute difference; summed over layers, divided by the number of scales. The
``lambda_feat`` weight (SPADE: 10) is the objective's business, not applied here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor


def feature_matching_loss(
    fake_predictions: Sequence[Sequence[Tensor]], real_predictions: Sequence[Sequence[Tensor]]
) -> Tensor:
    """``sum_j mean|fake[i][j] - real[i][j]|`` averaged over scales ``i``; real features are detached."""
    if len(fake_predictions) != len(real_predictions) or not fake_predictions:
        raise ValueError(
            f"feature matching needs the same, non-zero number of scales, got {len(fake_predictions)} fake "
            f"and {len(real_predictions)} real"
        )
    num_scales = len(fake_predictions)
    total = fake_predictions[0][-1].new_zeros(())
    for fake_scale, real_scale in zip(fake_predictions, real_predictions):
        if len(fake_scale) != len(real_scale):
            raise ValueError(f"fake and real outputs have {len(fake_scale)} and {len(real_scale)} entries per scale")
        for fake, real in zip(fake_scale[:-1], real_scale[:-1]):  # intermediate features, not the logits
            total = total + F.l1_loss(fake, real.detach())
    return total / num_scales
