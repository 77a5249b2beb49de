"""Fréchet Inception Distance (FID) and Kernel Inception Distance (KID) from Inception features.

The features come from :mod:`paintscape.evaluate.inception` (images in memory) or
:mod:`paintscape.evaluate.feature_cache` (folders of image files, real-image features cached);
this module holds the maths only: Gaussian statistics, pytorch-fid's Fréchet distance, an exact
low-rank form of it for small sets, and the unbiased polynomial-kernel MMD of KID.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy import linalg

logger = logging.getLogger(__name__)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, like ``np.cov``) of features ``(N, D)``."""
    if features.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 images to estimate a covariance, got {features.shape[0]}")
    return features.mean(axis=0), np.cov(features, rowvar=False)



def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    # pytorch-fid calls sqrtm(..., disp=False): no exception, no message, non-finite output on failure.
    # SciPy >= 1.16 deprecates ``disp``; its default then behaves the same, minus the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            root, _ = linalg.sqrtm(matrix, disp=False)
        except TypeError:  # pragma: no cover - SciPy without ``disp``
            root = linalg.sqrtm(matrix)
    return root


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))`` between two Gaussians.

    Same computation as pytorch-fid's ``calculate_frechet_distance``: ``scipy.linalg.sqrtm`` of the
    product; if that is not finite (a near-singular product, e.g. fewer images than dimensions),
    ``eps`` is added to both diagonals and it is retried; a tiny imaginary part from numerical error
    is dropped, a large one (> 1e-3 on the diagonal) raises ``ValueError``.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"statistics have different shapes: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        logger.warning("FID: singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: imaginary component {np.max(np.abs(covmean.imag))} in sqrtm(sigma1 sigma2)")
        covmean = covmean.real
    # a squared distance: round-off can leave a tiny negative for identical sets
    return max(0.0, float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)))


def frechet_distance_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID straight from features ``(N1, D)``, ``(N2, D)``, exact and fast when ``min(N1, N2) < D``.

    With centred features ``A1``, ``A2`` and ``S_i = A_i^T A_i / (N_i - 1)``, the non-zero eigenvalues
    of ``S1 S2`` are the squared singular values of ``B = A1 A2^T / sqrt((N1 - 1)(N2 - 1))``, so
    ``Tr sqrt(S1 S2)`` is the nuclear norm of the small ``(N1, N2)`` matrix ``B``: no ``D x D``
    square root, which takes minutes for D = 2048 on a small CPU and is ill-conditioned when
    N < D. Mathematically the same number as :func:`frechet_distance` of the two sets' statistics
    (which pytorch-fid computes with ``sqrtm``; the two agree to sqrtm's accuracy). Falls back to
    :func:`frechet_distance` when both sets have at least ``D`` images.
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    n1, n2 = len(f1), len(f2)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 images in each set, got {n1} and {n2}")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    if min(n1, n2) >= f1.shape[1]:
        return frechet_distance(*statistics(f1), *statistics(f2))
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a1, a2 = f1 - mu1, f2 - mu2
    trace1 = np.sum(a1 * a1) / (n1 - 1)  # Tr S1
    trace2 = np.sum(a2 * a2) / (n2 - 1)
    cross = a1 @ a2.T / np.sqrt((n1 - 1) * (n2 - 1))  # (N1, N2)
    tr_covmean = np.linalg.svd(cross, compute_uv=False).sum()
    diff = mu1 - mu2
    return max(0.0, float(diff.dot(diff) + trace1 + trace2 - 2 * tr_covmean))  # round-off: see frechet_distance


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``.

    Like Bińkowski et al. (2018) and torch-fidelity: the estimate is averaged over ``num_subsets``
    random subsets of ``min(subset_size, N1, N2)`` features drawn without replacement from each set.
    Returns ``(mean, std)`` over subsets (usually reported x 1000).
    """
    n1, n2 = len(features1), len(features2)
    m = min(subset_size, n1, n2)
    if m < 2:
        raise ValueError(f"KID needs at least 2 images in each set, got {n1} and {n2}")
    d = features1.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = features1[rng.choice(n1, m, replace=False)]
        y = features2[rng.choice(n2, m, replace=False)]
        k_xx = (x @ x.T / d + 1) ** 3
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        values[i] = (
            (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
            + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
            - 2 * k_xy.mean()
        )
    return float(values.mean()), float(values.std())

