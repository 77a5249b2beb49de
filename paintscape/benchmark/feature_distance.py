"""Realism at the distribution level: FID and KID between two sets of features, with their spread.

The maths is :mod:`paintscape.evaluate.fid`'s (``frechet_distance_from_features``,
``kernel_inception_distance``); this module applies it to any feature network's features (the
quality benchmark uses its judge network's pooled encoder stages, see ``paintscape.benchmark``)
and adds the spread over disjoint subsets, so that a difference can be compared with the noise.

Both measures are **lower is better** and compare distributions, not pairs: a generated set
scores well when its features spread like the real set's (mean *and* covariance for FID, all
moments of the cubic kernel for KID), whichever real photo each generated one stands beside.
FID is biased upwards for small sets (two sets of the same distribution score above 0), KID is
unbiased (the same distribution scores 0 on average, so it can come out slightly negative).
"""

from __future__ import annotations

import numpy as np

from paintscape.evaluate.fid import frechet_distance_from_features, kernel_inception_distance


def _check(generated: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    generated, real = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    if generated.ndim != 2 or real.ndim != 2 or generated.shape[1] != real.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {generated.shape} and {real.shape}")
    if not (np.isfinite(generated).all() and np.isfinite(real).all()):
        raise ValueError("features hold NaN or Inf")
    return generated, real


def feature_fid(generated: np.ndarray, real: np.ndarray) -> float:
    """FID between features ``(N1, D)`` and ``(N2, D)``; lower is better, 0 for identical statistics."""
    return frechet_distance_from_features(*_check(generated, real))


def feature_kid(
    generated: np.ndarray, real: np.ndarray, subset_size: int = 100, num_subsets: int = 50, seed: int = 0
) -> tuple[float, float]:
    """KID (unbiased MMD², cubic kernel) as ``(mean, std over random subsets)``; lower is better.

    ``subset_size`` features are drawn without replacement from each set ``num_subsets`` times
    (torch-fidelity's protocol); the std is the spread of those draws.
    """
    generated, real = _check(generated, real)
    return kernel_inception_distance(generated, real, num_subsets=num_subsets, subset_size=subset_size, seed=seed)


def disjoint_subsets(count: int, parts: int) -> list[np.ndarray]:
    """``parts`` disjoint index sets covering ``range(count)`` in order (the last ones one shorter)."""
    if parts < 1 or count < 2 * parts:
        raise ValueError(f"cannot split {count} items into {parts} subsets of at least 2")
    return np.array_split(np.arange(count), parts)


def fid_spread(generated: np.ndarray, real: np.ndarray, parts: int = 3) -> tuple[float, float]:
    """FID on ``parts`` disjoint, paired subsets (subset k of the generated set against subset k of
    the real set) as ``(mean, std)``: the noise a FID difference must beat. Each subset is
    ``1/parts`` of the set, so the mean is higher than :func:`feature_fid` of the whole sets."""
    generated, real = _check(generated, real)
    values = [
        frechet_distance_from_features(generated[g], real[r])
        for g, r in zip(disjoint_subsets(len(generated), parts), disjoint_subsets(len(real), parts))
    ]
    return float(np.mean(values)), float(np.std(values))
