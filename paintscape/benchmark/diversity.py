"""Diversity: how different are K samples a generator draws for one label map?

Measured in a feature space (the benchmark uses its judge network's pooled features): the mean,
over label maps, of the mean Euclidean distance between every pair of the map's K samples.
Higher means more varied samples; it is exactly 0 for a generator that draws the same photo every
time (pix2pix without test-time dropout, SPADE and TSIT without their VAE: a label map fixes the
photo). It is not a quality measure by itself — noise scores high — so read it beside realism:
real photos of one label map under K different times of day and seasons give the natural level.
"""

from __future__ import annotations

import numpy as np


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Features ``(M, K, D)``: M label maps, K samples each -> mean pairwise L2 distance; higher is
    more diverse, exactly 0.0 when each map's K samples have identical features."""
    features = np.asarray(features, np.float64)
    if features.ndim != 3 or features.shape[1] < 2:
        raise ValueError(f"need features (maps, samples >= 2, dim), got shape {features.shape}")
    K = features.shape[1]
    i, j = np.triu_indices(K, k=1)
    # differences, not the expanded |a|^2 + |b|^2 - 2ab, so identical samples give exactly 0
    distances = np.linalg.norm(features[:, i] - features[:, j], axis=-1)  # (M, K(K-1)/2)
    return float(distances.mean())
