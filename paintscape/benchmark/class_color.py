"""Colour per class at the distribution level: does each class's colour look like the real
photos' colours of that class, pooled over a whole set?

For every class, the colours of all its pixels over a set of photos form a histogram (a joint RGB
histogram of ``bins_per_channel ** 3`` bins); a generated set is compared with a real set class by
class with the total-variation distance ``0.5 * sum |p - q|`` of the two normalised histograms
(0: the same colours in the same proportions; 1: no colour in common), and the classes are
averaged weighted by their pixel count.

What it rewards: the right *spread* of colours per class. A generator that paints every sky in
the average sky colour is penalised (real skies are blue at noon, orange at dusk, dark at night),
but a single plausible dusk is not punished for standing beside a noon photo, which per-image
colour error does. What it ignores: where in the image a colour sits, and how far off a wrong
colour is — a colour one bin off counts like any other wrong colour, hence coarse bins (8 per
channel, 32 levels wide). Lower is better; two finite samples of the same distribution score
above 0, which the benchmark's floor (real photos against other real photos) shows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from paintscape.labels import NUM_CLASSES


def class_color_histograms(
    images: Iterable[np.ndarray],
    labels: Iterable[np.ndarray],
    bins_per_channel: int = 8,
    num_classes: int = NUM_CLASSES,
) -> np.ndarray:
    """Pixel counts ``(num_classes, bins_per_channel ** 3)`` int64: per class, the joint RGB histogram
    of its pixels over all ``(H, W, 3)`` uint8 ``images`` with their ``(H, W)`` label maps (ids
    outside ``0..num_classes-1``, e.g. 255, are skipped). Histograms of several batches add up."""
    if not 1 <= bins_per_channel <= 256 or 256 % bins_per_channel:
        raise ValueError(f"bins_per_channel must divide 256, got {bins_per_channel}")
    bins = bins_per_channel**3
    width = 256 // bins_per_channel
    counts = np.zeros(num_classes * bins, dtype=np.int64)
    for image, label in zip(images, labels, strict=True):
        image, label = np.asarray(image), np.asarray(label)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != label.shape:
            raise ValueError(
                f"need (H, W, 3) uint8 images with (H, W) labels, got {image.shape} {image.dtype} and {label.shape}"
            )
        q = image.reshape(-1, 3).astype(np.int64) // width
        colour = (q[:, 0] * bins_per_channel + q[:, 1]) * bins_per_channel + q[:, 2]
        cls = label.reshape(-1).astype(np.int64)
        keep = (cls >= 0) & (cls < num_classes)
        counts += np.bincount(cls[keep] * bins + colour[keep], minlength=num_classes * bins)
    return counts.reshape(num_classes, bins)


def class_color_distance(generated: np.ndarray, real: np.ndarray, min_pixels: int = 500) -> tuple[float, np.ndarray]:
    """``(distance, per-class distance (C,))`` between two :func:`class_color_histograms`.

    Per class: total variation between the normalised histograms, in [0, 1]; NaN where either
    set has fewer than ``min_pixels`` pixels of the class (too few to compare). The distance is
    the mean of the per-class values weighted by the class's pixel count (the mean of both sets'
    counts). Lower is better.
    """
    generated, real = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    if generated.shape != real.shape or generated.ndim != 2:
        raise ValueError(f"histograms must have the same (C, bins) shape, got {generated.shape} and {real.shape}")
    n_gen, n_real = generated.sum(1), real.sum(1)
    present = (n_gen >= min_pixels) & (n_real >= min_pixels)
    per_class = np.full(len(generated), np.nan)
    if not present.any():
        raise ValueError(f"no class has at least {min_pixels} pixels in both sets")
    p = generated[present] / n_gen[present, None]
    q = real[present] / n_real[present, None]
    per_class[present] = 0.5 * np.abs(p - q).sum(1)
    weight = (n_gen + n_real)[present] / 2
    return float((per_class[present] * weight).sum() / weight.sum()), per_class
