"""Per-class mean-colour error: how far each labelled region's average colour in a generated photo
is from the same region's average colour in the real photo. Cheap, needs no pretrained network,
and is what a semantic generator must get right first (sky blue, sea dark blue, grass green)."""

from __future__ import annotations

import numpy as np

from paintscape.labels import IGNORE_INDEX


def class_color_error(generated: np.ndarray, real: np.ndarray, label: np.ndarray, min_pixels: int = 16) -> float:
    """Mean over classes present (>= ``min_pixels``) of the L1 distance (0..255 per channel,
    averaged over RGB) between the region's mean colour in ``generated`` and in ``real``."""
    if generated.shape != real.shape or generated.shape[:2] != label.shape:
        raise ValueError(f"shapes differ: generated {generated.shape}, real {real.shape}, label {label.shape}")
    errors = []
    g = generated.reshape(-1, 3).astype(np.float64)
    r = real.reshape(-1, 3).astype(np.float64)
    flat = label.reshape(-1)
    for cls in np.unique(flat):  # the classes of the label map, whatever its class table
        if cls == IGNORE_INDEX:
            continue
        mask = flat == cls
        if mask.sum() >= min_pixels:
            errors.append(np.abs(g[mask].mean(0) - r[mask].mean(0)).mean())
    return float(np.mean(errors)) if errors else float("nan")
