"""The benchmark's measures against independent computations on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from paintscape.benchmark.class_color import class_color_distance, class_color_histograms
from paintscape.benchmark.diversity import mean_pairwise_distance
from paintscape.benchmark.feature_distance import disjoint_subsets, feature_fid, feature_kid, fid_spread

# --- colour per class ------------------------------------------------------------------------------


def test_class_color_histograms_count_each_pixel_in_its_class_and_bin():
    image = np.array([[[0, 0, 0], [255, 255, 255]], [[40, 0, 0], [0, 0, 35]]], np.uint8)
    label = np.array([[1, 1], [2, 255]], np.uint8)  # 255: not counted
    hist = class_color_histograms([image], [label], bins_per_channel=8)
    assert hist.shape == (29, 512) and hist.sum() == 3
    assert hist[1, 0] == 1  # black -> bin (0, 0, 0)
    assert hist[1, 511] == 1  # white -> bin (7, 7, 7)
    assert hist[2, (40 // 32) * 64] == 1  # red 40 -> r bin 1
    # batches add up
    twice = class_color_histograms([image, image], [label, label], bins_per_channel=8)
    np.testing.assert_array_equal(twice, 2 * hist)


def test_class_color_distance_identical_is_zero_disjoint_is_one_half_is_half():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, (4, 16, 16), dtype=np.uint8)
    hist = class_color_histograms(images, labels)
    distance, per_class = class_color_distance(hist, hist, min_pixels=10)
    assert distance == 0.0 and np.nanmax(per_class) == 0.0

    label = np.zeros((1, 20, 20), np.uint8)
    red = np.zeros((1, 20, 20, 3), np.uint8)
    red[..., 0] = 250
    blue = np.zeros((1, 20, 20, 3), np.uint8)
    blue[..., 2] = 250
    h_red, h_blue = class_color_histograms(red, label), class_color_histograms(blue, label)
    assert class_color_distance(h_red, h_blue, min_pixels=10)[0] == pytest.approx(1.0)  # the maximum
    half = np.concatenate([red[:, :10], blue[:, 10:]], axis=1)
    assert class_color_distance(class_color_histograms(half, label), h_red, min_pixels=10)[0] == pytest.approx(0.5)


def test_class_color_distance_weights_classes_by_pixels_and_skips_rare_ones():
    gen = np.zeros((29, 8), np.int64)
    real = np.zeros((29, 8), np.int64)
    gen[0, 0], real[0, 0] = 300, 300  # class 0: identical, 300 pixels
    gen[1, 0], real[1, 1] = 100, 100  # class 1: disjoint, 100 pixels
    gen[2, 0], real[2, 1] = 5, 5  # class 2: too few pixels
    distance, per_class = class_color_distance(gen, real, min_pixels=50)
    assert per_class[0] == 0.0 and per_class[1] == 1.0 and np.isnan(per_class[2])
    assert distance == pytest.approx(100 / 400)  # independent: weighted by pixel count
    with pytest.raises(ValueError, match="no class has at least"):
        class_color_distance(gen, real, min_pixels=10_000)
    with pytest.raises(ValueError, match="same"):
        class_color_distance(gen, real[:5])
    with pytest.raises(ValueError, match="divide 256"):
        class_color_histograms([], [], bins_per_channel=7)
    with pytest.raises(ValueError, match="uint8"):
        class_color_histograms([np.zeros((4, 4, 3), np.float32)], [np.zeros((4, 4), np.uint8)])


# --- diversity -----------------------------------------------------------------------------------


def test_diversity_of_identical_samples_is_exactly_zero():
    rng = np.random.default_rng(1)
    one = rng.normal(size=(5, 1, 33)) * 1e3
    assert mean_pairwise_distance(np.repeat(one, 4, axis=1)) == 0.0


def test_diversity_is_the_mean_pairwise_euclidean_distance():
    # map 0: samples (0,0), (3,4), (6,8): distances 5, 10, 5; map 1: (0,0), (0,0), (0,1): 0, 1, 1
    features = np.array([[[0, 0], [3, 4], [6, 8]], [[0, 0], [0, 0], [0, 1]]], np.float64)
    assert mean_pairwise_distance(features) == pytest.approx((5 + 10 + 5 + 0 + 1 + 1) / 6)
    with pytest.raises(ValueError, match="samples >= 2"):
        mean_pairwise_distance(features[:, :1])


# --- FID / KID on features -------------------------------------------------------------------------


def _fid_scipy(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_feature_fid_matches_scipy_and_is_zero_for_identical_sets():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(60, 8))
    b = rng.normal(loc=0.5, scale=1.5, size=(50, 8))
    assert feature_fid(a, b) == pytest.approx(_fid_scipy(a, b), rel=1e-6)
    assert abs(feature_fid(a, a)) < 1e-8
    with pytest.raises(ValueError, match="same D"):
        feature_fid(a, b[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        feature_fid(a, np.full_like(b, np.nan))


def _mmd_unbiased_cubic(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], len(x)

    def k(p, q):
        return (p @ q.T / d + 1) ** 3

    off = ~np.eye(m, dtype=bool)
    return float(k(x, x)[off].mean() + k(y, y)[off].mean() - 2 * k(x, y).mean())


def test_feature_kid_matches_an_independent_mmd_and_is_near_zero_for_identical_sets():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 6))
    b = rng.normal(loc=1.0, size=(40, 6))
    mean, std = feature_kid(a, b, subset_size=40, num_subsets=3)  # whole sets: every draw is the same
    assert mean == pytest.approx(_mmd_unbiased_cubic(a, b), rel=1e-9) and std == pytest.approx(0.0, abs=1e-12)
    same, _ = feature_kid(a, a, subset_size=40, num_subsets=3)
    assert abs(same) < 0.05 * mean


def test_fid_spread_is_the_mean_and_std_over_paired_thirds():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(30, 4)), rng.normal(loc=0.3, size=(33, 4))
    parts_a, parts_b = disjoint_subsets(30, 3), disjoint_subsets(33, 3)
    values = [_fid_scipy(a[i], b[j]) for i, j in zip(parts_a, parts_b)]
    mean, std = fid_spread(a, b, parts=3)
    assert mean == pytest.approx(np.mean(values), rel=1e-6) and std == pytest.approx(np.std(values), rel=1e-5)
    assert sorted(np.concatenate(parts_b).tolist()) == list(range(33))
    with pytest.raises(ValueError, match="cannot split"):
        disjoint_subsets(5, 3)
