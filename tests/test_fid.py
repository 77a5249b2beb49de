"""FID / KID against independent computations and against pytorch-fid's network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg

from paintscape.evaluate import feature_cache, fid, inception


def _direct_frechet(mu1, s1, mu2, s2):
    root = linalg.sqrtm(linalg.sqrtm(s1) @ s2 @ linalg.sqrtm(s1)).real  # symmetric form
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root))


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    v1, v2 = rng.uniform(0.1, 2, size=d), rng.uniform(0.1, 2, size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    got = fid.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_frechet_distance_matches_scipy_on_full_covariances():
    rng = np.random.default_rng(1)
    d = 12
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_direct_frechet(mu1, s1, mu2, s2), rel=1e-7)
    assert fid.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-7)


def test_frechet_distance_singular_uses_eps_fix():
    # rank-1 covariances: the product is singular; the result must still be finite.
    v = np.array([[1.0, 0.0, 0.0]])
    s = v.T @ v
    assert np.isfinite(fid.frechet_distance(np.zeros(3), s, np.ones(3), s))


def test_frechet_distance_retries_with_eps_when_the_square_root_is_not_finite(monkeypatch, caplog):
    calls = []
    real_sqrtm = fid._sqrtm

    def flaky(matrix):  # scipy's sqrtm giving up on a near-singular product, once
        calls.append(matrix)
        return np.full_like(matrix, np.nan) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(fid, "_sqrtm", flaky)
    a, b = np.diag([1.0, 2.0]), np.diag([3.0, 0.5])
    with caplog.at_level("WARNING", logger=fid.logger.name):
        value = fid.frechet_distance(np.zeros(2), a, np.ones(2), b, eps=1e-3)
    assert "singular covariance product; adding 0.001 to the diagonals" in caplog.text
    np.testing.assert_allclose(calls[1], (a + 1e-3 * np.eye(2)) @ (b + 1e-3 * np.eye(2)))
    expected = 2 + np.trace(a + b) - 2 * np.trace(np.sqrt((a + 1e-3 * np.eye(2)) @ (b + 1e-3 * np.eye(2))))
    assert value == pytest.approx(expected, rel=1e-9)


def test_fid_and_kid_need_two_images_of_the_same_features():
    one, two = np.zeros((1, 3)), np.random.default_rng(0).normal(size=(2, 3))
    with pytest.raises(ValueError, match="at least 2 images to estimate a covariance, got 1"):
        fid.statistics(one)
    with pytest.raises(ValueError, match="at least 2 images in each set, got 1 and 2"):
        fid.frechet_distance_from_features(one, two)
    with pytest.raises(ValueError, match="feature sizes differ: 3 vs 4"):
        fid.frechet_distance_from_features(two, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="KID needs at least 2 images in each set, got 1 and 2"):
        fid.kernel_inception_distance(one, two)
    with pytest.raises(ValueError, match="statistics have different shapes"):
        fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


@pytest.mark.parametrize("n1, n2", [(10, 7), (40, 50)])  # fewer images than dims (singular), and more
def test_frechet_distance_from_features_matches_statistics_path(n1, n2):
    rng = np.random.default_rng(5)
    d = 32
    f1 = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d))
    f2 = rng.normal(size=(n2, d)) @ rng.normal(size=(d, d)) + 0.5
    via_stats = fid.frechet_distance(*fid.statistics(f1), *fid.statistics(f2))
    assert fid.frechet_distance_from_features(f1, f2) == pytest.approx(via_stats, rel=1e-6)
    assert fid.frechet_distance_from_features(f1, f1) == pytest.approx(0.0, abs=1e-8)


def test_kid_zero_mean_for_same_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    same, _ = fid.kernel_inception_distance(x, y, num_subsets=20, subset_size=100)
    shifted, _ = fid.kernel_inception_distance(x, y + 1.0, num_subsets=20, subset_size=100)
    assert abs(same) < 0.05
    assert shifted > 10 * abs(same)


def test_kid_matches_direct_unbiased_mmd_on_full_sets():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)) + 0.5
    d, m = 4, 6

    def k(a, b):
        return (a @ b / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = fid.kernel_inception_distance(x, y, num_subsets=3, subset_size=100)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)  # every subset is the whole (permuted) set


def test_missing_weights_error_names_file_and_url(tmp_path):
    with pytest.raises(inception.MissingWeightsError) as err:
        inception.load_inception(tmp_path / "nope.pth")
    assert inception.INCEPTION_WEIGHTS_FILE in str(err.value)
    assert inception.INCEPTION_WEIGHTS_URL in str(err.value)


def test_wrong_weight_file_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"foo": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not the FID Inception weight file"):
        inception.load_inception(path)


def _randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give BatchNorm non-trivial statistics so that a mismatch cannot hide behind identity BNs."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def test_features_match_pytorch_fid_on_same_random_weights(tmp_path, monkeypatch):
    pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception")
    ours = _randomised(inception.random_inception(seed=0), seed=1)
    state = ours.state_dict()
    # pytorch-fid downloads its weights inside fid_inception_v3(); hand it ours instead, which
    # also proves that a file with pytorch-fid's keys loads strictly into its network.
    monkeypatch.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *a, **k: state)
    theirs = pytorch_fid_inception.InceptionV3([3], use_fid_inception=True).eval()

    # and that the same state dict, saved as a file, loads through our loader
    weights = tmp_path / inception.INCEPTION_WEIGHTS_FILE
    torch.save(state, weights)
    loaded = inception.load_inception(weights)

    torch.manual_seed(0)
    images01 = torch.rand(2, 3, 64, 80)  # pytorch-fid takes [0, 1]
    with torch.no_grad():
        ref = theirs(images01)[0].flatten(1)
        got = loaded(images01 * 2 - 1)
    assert got.shape == (2, inception.FEATURE_DIM)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)


def _write_images(folder, count, seed, size=(64, 48)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")


def test_fid_of_a_folder_against_itself_is_zero_and_cache_is_used(tmp_path):
    model = inception.random_inception(seed=0)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"stand-in for a weights file, only its identity is hashed")
    _write_images(tmp_path / "real", 3, seed=0)
    cache = tmp_path / "cache"
    feats, mu, sigma = feature_cache.folder_features(tmp_path / "real", model, batch_size=2, cache_dir=cache, weights=weights)
    assert feats.shape == (3, inception.FEATURE_DIM) and len(list(cache.glob("*.npz"))) == 1
    np.testing.assert_allclose(mu, feats.mean(0), rtol=1e-5, atol=1e-6)
    # FID of the set against itself: the exact low-rank path (a 2048-d sqrtm takes minutes on a
    # small CPU; the sqrtm path is checked against the low-rank one on smaller dimensions)
    assert fid.frechet_distance_from_features(feats, feats) == pytest.approx(0.0, abs=1e-6)
    # a second call is served from the cache (same numbers, no model needed)
    feats2, mu2, sigma2 = feature_cache.folder_features(tmp_path / "real", None, cache_dir=cache, weights=weights)
    np.testing.assert_array_equal(feats2, feats)
    np.testing.assert_array_equal(sigma2, sigma)
    # changing the folder changes the key
    _write_images(tmp_path / "real", 4, seed=1)
    files = feature_cache.list_images(tmp_path / "real")
    assert feature_cache.statistics_cache_key(files, weights) not in {p.stem[len("fid_stats_") :] for p in cache.glob("*.npz")}


def test_image_batches_match_pytorch_fid_preprocessing(tmp_path):
    _write_images(tmp_path / "imgs", 2, seed=4, size=(40, 30))
    files = feature_cache.list_images(tmp_path / "imgs")
    batch = next(feature_cache.image_batches(files, batch_size=2))
    assert batch.shape == (2, 3, 299, 299)
    x = torch.from_numpy(np.array(Image.open(files[0]).convert("RGB"))).permute(2, 0, 1).float()[None] / 255
    ref = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    torch.testing.assert_close(batch[:1], ref)


def test_fid_of_a_set_against_itself_is_clamped_at_zero_and_scores():
    """Round-off leaves the raw distance of identical statistics slightly negative (measured:
    -9.1e-13 for these 24 features in 8 dimensions); FID is a squared distance, so it is 0, and the
    track's score accepts it (a negative FID is an error there)."""
    from paintscape.evaluate.score import track_score

    features = np.random.default_rng(0).normal(size=(24, 8)) * 10
    mu, sigma = fid.statistics(features)
    raw = 2 * np.trace(sigma) - 2 * np.trace(linalg.sqrtm(sigma @ sigma).real)
    assert raw < 0  # the case being guarded: without the clamp FID would be negative
    assert fid.frechet_distance(mu, sigma, mu, sigma) == 0.0
    assert fid.frechet_distance_from_features(features, features) >= 0.0
    assert track_score(0.8, fid.frechet_distance(mu, sigma, mu, sigma), None).score == pytest.approx(0.4)
