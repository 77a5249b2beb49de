"""Label/photo disagreement: does each labelled region look like its class?

Without a segmenter, three measurements, each with its own threshold:

* **boundary alignment**: label boundaries should sit on photo edges. The mean luminance gradient
  on (dilated) label boundaries divided by the photo's mean gradient; a shuffled label map (another
  image's layout) or speckle puts boundaries anywhere and brings the ratio near 1.
* **weakest region alignment**: the same ratio for the boundary of each large connected region,
  minimum over regions; a large relabelled block has straight edges through the photo's content.
* **region appearance**: a Gaussian per class is fitted over the whole dataset on per-pixel
  appearance features (CIE Lab colour, local luminance contrast, luminance relative to the photo's
  median). A pixel *disagrees* when another class explains it better than its own label by more than
  ``likelihood_margin`` nats; the score is the share of the map covered by large regions most of
  whose pixels disagree.

The last two are skipped on badly exposed photos, whose edges and colours carry little evidence.
With a segmenter the score is ``1 - pixel accuracy`` of its prediction on the photo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from paintscape.curation.config import CurationConfig
from paintscape.labels import IGNORE_INDEX, NUM_CLASSES

FEATURE_NAMES = ("L", "a", "b", "contrast", "relative_L")
NUM_FEATURES = len(FEATURE_NAMES)


def srgb_to_lab(photo: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 sRGB -> float32 CIE Lab (D65)."""
    c = photo.astype(np.float32) * np.float32(1 / 255)
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = c @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]], np.float32
    )  # rows: R, G, B contributions to X, Y, Z
    xyz /= np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1).astype(np.float32)


def _area_resize(channel: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(channel.astype(np.float32), mode="F").resize((grid[1], grid[0]), Image.BOX))


def appearance_features(photo: np.ndarray, label: np.ndarray, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel features ``(h*w, NUM_FEATURES)`` float16 and labels ``(h*w,)`` uint8 on ``grid``."""
    lab = srgb_to_lab(photo)  # (H, W, 3)
    L = lab[..., 0]
    mean = ndimage.uniform_filter(L, 3)
    contrast = np.sqrt(np.maximum(ndimage.uniform_filter(L * L, 3) - mean * mean, 0))
    channels = [lab[..., 0], lab[..., 1], lab[..., 2], contrast, L - np.median(L)]
    features = np.stack([_area_resize(ch, grid) for ch in channels], axis=-1) * np.float32(1 / 100)
    small = np.asarray(Image.fromarray(label).resize((grid[1], grid[0]), Image.NEAREST))
    return features.reshape(-1, NUM_FEATURES).astype(np.float16), small.reshape(-1)


@dataclass(frozen=True)
class ClassAppearance:
    """One Gaussian per class over the appearance features."""

    mean: np.ndarray  # (C, D)
    precision: np.ndarray  # (C, D, D) inverse covariance
    log_det: np.ndarray  # (C,) log-determinant of the covariance
    modelled: np.ndarray  # (C,) bool: enough pixels in the dataset to fit the class
    counts: np.ndarray  # (C,) pixels seen per class

    def log_likelihood(self, features: np.ndarray) -> np.ndarray:
        """``(N, D)`` -> ``(N, C)`` log densities up to a shared constant; -inf for unmodelled classes."""
        X = features.astype(np.float32)
        out = np.full((X.shape[0], self.mean.shape[0]), -np.inf, np.float32)
        for c in np.nonzero(self.modelled)[0]:
            diff = X - self.mean[c]
            out[:, c] = -0.5 * (np.einsum("nd,de,ne->n", diff, self.precision[c], diff) + self.log_det[c])
        return out


def fit_appearance(
    samples: Iterable[tuple[np.ndarray, np.ndarray]], min_pixels: int, ridge: float = 1e-4
) -> ClassAppearance:
    """Fit per-class Gaussians from ``(features (N, D), labels (N,))`` pairs (one per image)."""
    D = NUM_FEATURES
    count = np.zeros(NUM_CLASSES, np.float64)
    total = np.zeros((NUM_CLASSES, D), np.float64)
    outer = np.zeros((NUM_CLASSES, D, D), np.float64)
    for features, labels in samples:
        X = features.astype(np.float64)
        keep = labels < NUM_CLASSES
        X, y = X[keep], labels[keep].astype(np.int64)
        count += np.bincount(y, minlength=NUM_CLASSES)
        for d in range(D):
            total[:, d] += np.bincount(y, weights=X[:, d], minlength=NUM_CLASSES)
            for e in range(d, D):
                s = np.bincount(y, weights=X[:, d] * X[:, e], minlength=NUM_CLASSES)
                outer[:, d, e] += s
                if e != d:
                    outer[:, e, d] += s
    modelled = count >= max(min_pixels, D + 1)
    mean = np.zeros((NUM_CLASSES, D))
    precision = np.zeros((NUM_CLASSES, D, D))
    log_det = np.zeros(NUM_CLASSES)
    for c in np.nonzero(modelled)[0]:
        mean[c] = total[c] / count[c]
        cov = outer[c] / count[c] - np.outer(mean[c], mean[c]) + ridge * np.eye(D)
        precision[c] = np.linalg.inv(cov)
        log_det[c] = np.linalg.slogdet(cov)[1]
    return ClassAppearance(
        mean.astype(np.float32), precision.astype(np.float32), log_det.astype(np.float32), modelled, count
    )


def boundary_alignment(photo: np.ndarray, label: np.ndarray, min_region_fraction: float) -> tuple[float, float]:
    """``(image ratio, weakest region ratio)`` of mean photo gradient on label boundaries to the mean
    gradient (see the module notes); 10.0 when there is nothing to measure."""
    L = srgb_to_lab(photo)[..., 0]
    gradient = np.hypot(ndimage.sobel(L, 1), ndimage.sobel(L, 0))
    mean = float(gradient.mean()) + 1e-6
    edges = np.zeros(label.shape, bool)
    edges[:, 1:] |= label[:, 1:] != label[:, :-1]
    edges[1:] |= label[1:] != label[:-1]
    image_ratio = float(gradient[ndimage.binary_dilation(edges)].mean()) / mean if edges.any() else 10.0
    weakest = 10.0
    for cls in np.unique(label):
        parts, _ = ndimage.label(label == cls)  # cls is in the map: one region at least
        sizes = np.bincount(parts.ravel())
        for k in np.nonzero(sizes[1:] >= min_region_fraction * label.size)[0] + 1:
            region = parts == k
            rim = region & ~ndimage.binary_erosion(region)
            rim[0, :] = rim[-1, :] = rim[:, 0] = rim[:, -1] = False  # the frame is no boundary
            if rim.sum() >= 20:
                weakest = min(weakest, float(gradient[ndimage.binary_dilation(rim)].mean()) / mean)
    return image_ratio, weakest


def region_disagreement(
    model: ClassAppearance,
    features: np.ndarray,
    labels: np.ndarray,
    grid: tuple[int, int],
    margin: float,
    min_region_fraction: float,
) -> tuple[float, float]:
    """``(pixel share, region share)``: disagreeing pixels, and the map area in large regions where
    most pixels disagree."""
    valid = (labels < NUM_CLASSES) & model.modelled[np.minimum(labels, NUM_CLASSES - 1)]
    if not valid.any():
        return 0.0, 0.0
    ll = model.log_likelihood(features)
    own = np.take_along_axis(ll, np.minimum(labels, NUM_CLASSES - 1).astype(np.int64)[:, None], axis=1)[:, 0]
    disagree = ((ll.max(axis=1) - own > margin) & valid).reshape(grid)
    label = labels.reshape(grid)
    bad = 0
    for cls in np.unique(label[valid.reshape(grid)]):
        parts, n = ndimage.label(label == cls)
        sizes = np.bincount(parts.ravel())
        for k in np.nonzero(sizes[1:] >= min_region_fraction * label.size)[0] + 1:
            region = parts == k
            if disagree[region].mean() > 0.5:
                bad += int(region.sum())
    return float(disagree.sum() / valid.sum()), bad / label.size


def segmenter_accuracy(model, photos: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pixel accuracy ``(B,)`` of ``segment(model, photos)`` against ``labels`` (ignore skipped).

    ``photos`` ``(B, H, W, 3)`` uint8, ``labels`` ``(B, H, W)`` uint8.
    """
    import torch

    from paintscape.evaluate.segmenter import segment

    images = torch.from_numpy(photos).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, H, W) in [-1, 1]
    predicted = segment(model, images).cpu().numpy()  # (B, H, W)
    valid = labels != IGNORE_INDEX
    hits = ((predicted == labels) & valid).reshape(len(labels), -1).sum(1)
    return hits / np.maximum(valid.reshape(len(labels), -1).sum(1), 1)


def disagreement_reasons(scores: dict[str, float], config: CurationConfig, method: str, badly_exposed: bool) -> list[tuple[str, str]]:
    """``("disagreement", reason)`` pairs from a pair's scores; empty when label and photo agree.

    ``method`` says which scores there are: ``segmenter`` (its pixel accuracy) or ``appearance``
    (boundary alignment, weakest region alignment, region appearance; the last two are not judged
    on a ``badly_exposed`` photo, whose edges are weak and colours shifted everywhere).
    """
    found = []
    if method == "segmenter":
        if scores["segmenter_accuracy"] < config.segmenter_min_accuracy:
            found.append(f"segmenter pixel accuracy {scores['segmenter_accuracy']:.2f} < {config.segmenter_min_accuracy}")
        return [("disagreement", f"label/photo disagreement: {why}") for why in found]
    if scores["boundary_alignment"] < config.boundary_min_ratio:
        found.append(f"label boundaries off the photo's edges (ratio {scores['boundary_alignment']:.2f} < {config.boundary_min_ratio})")
    if not badly_exposed:
        if scores["region_alignment"] < config.region_boundary_min_ratio:
            found.append(
                f"a large region's boundary is off the photo's edges (ratio {scores['region_alignment']:.2f} < {config.region_boundary_min_ratio})"
            )
        if scores["region_disagreement"] > config.region_disagreement_max:
            found.append(
                f"{scores['region_disagreement']:.0%} of the map in regions that look like another class (max {config.region_disagreement_max:.0%})"
            )
    return [("disagreement", f"label/photo disagreement: {why}") for why in found]
