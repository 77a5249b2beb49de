"""Procedural scenes: determinism, format, class coverage, consistent class appearance, style."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from paintscape.data.synthetic import SceneStyle, make_scene, sample_style, write_dataset
from paintscape.labels import CLASS_IDS, NUM_CLASSES

SMALL = (96, 128)
DAY = SceneStyle(time_of_day="day", season="summer", haze=0.2, sun_x=0.5, sun_height=0.7, cloudiness=0.3)


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(seed, SMALL, style=DAY) for seed in range(50)]


def test_shapes_and_dtypes():
    photo, label = make_scene(0, SMALL)
    assert photo.shape == (*SMALL, 3) and photo.dtype == np.uint8
    assert label.shape == SMALL and label.dtype == np.uint8
    photo, label = make_scene(1)
    assert photo.shape == (384, 512, 3) and label.shape == (384, 512)


def test_deterministic_by_seed():
    a_photo, a_label = make_scene(7, SMALL)
    b_photo, b_label = make_scene(7, SMALL)
    np.testing.assert_array_equal(a_photo, b_photo)
    np.testing.assert_array_equal(a_label, b_label)


def test_different_seeds_differ():
    labels = [make_scene(seed, SMALL)[1] for seed in range(5)]
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            assert (labels[i] != labels[j]).mean() > 0.01


def test_labels_are_class_ids_and_cover_many_classes(scenes):
    seen = set()
    for _, label in scenes:
        assert label.max() < NUM_CLASSES
        seen |= set(np.unique(label).tolist())
    assert len(seen) >= 12, sorted(seen)
    assert {CLASS_IDS["sky"], CLASS_IDS["mountain"]} <= seen


def test_sky_and_mountain_are_common(scenes):
    labels = np.stack([label for _, label in scenes])
    assert (labels == CLASS_IDS["sky"]).mean() > 0.2
    assert (labels == CLASS_IDS["mountain"]).mean() > 0.1


def test_class_appearance_is_consistent(scenes):
    """Per-class mean colour varies far less across day scenes than between classes."""
    names = ["sky", "mountain", "grass", "sea", "sand", "tree"]
    means = {n: [] for n in names}
    for photo, label in scenes:
        for n in names:
            # inner pixels only: the photo has soft edges
            mask = label == CLASS_IDS[n]
            inner = mask.copy()
            inner[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
            if inner.sum() >= 30:
                means[n].append(photo[inner].astype(np.float64).mean(axis=0))
    class_means = {n: np.mean(v, axis=0) for n, v in means.items() if len(v) >= 3}
    assert len(class_means) >= 5, {n: len(v) for n, v in means.items()}
    within = np.mean([np.var(np.stack(means[n]), axis=0).sum() for n in class_means])
    between = np.var(np.stack(list(class_means.values())), axis=0).sum()
    assert within < 0.35 * between, (within, between)


def test_style_changes_photo_not_label():
    base = make_scene(3, SMALL, style=DAY)
    for style in (SceneStyle(time_of_day="dusk", season="autumn", haze=0.5),
                  SceneStyle(time_of_day="night", season="winter"),
                  SceneStyle(time_of_day="golden", season="spring", haze=0.0, sun_x=0.1)):  # fmt: skip
        photo, label = make_scene(3, SMALL, style=style)
        np.testing.assert_array_equal(label, base[1])
        assert np.abs(photo.astype(int) - base[0].astype(int)).mean() > 5


def test_dusk_is_darker_than_day():
    day = make_scene(5, SMALL, style=DAY)[0].mean()
    night = make_scene(5, SMALL, style=SceneStyle(time_of_day="night"))[0].mean()
    assert night < 0.6 * day


def test_sample_style_and_validation():
    rng = np.random.default_rng(0)
    styles = [sample_style(rng) for _ in range(50)]
    assert len({s.time_of_day for s in styles}) >= 3 and len({s.season for s in styles}) >= 3
    with pytest.raises(ValueError, match="time_of_day"):
        SceneStyle(time_of_day="noon")
    with pytest.raises(ValueError, match="haze"):
        SceneStyle(haze=2.0)


def test_write_dataset(tmp_path):
    names = write_dataset(tmp_path, 3, size=SMALL, seed=10, progress=False)
    assert names == ["scene_000000", "scene_000001", "scene_000002"]
    for name, seed in zip(names, range(10, 13)):
        label = np.asarray(Image.open(tmp_path / "labels" / f"{name}.png"))
        image = Image.open(tmp_path / "imgs" / f"{name}.jpg")
        assert image.mode == "RGB" and image.size == (SMALL[1], SMALL[0])
        assert Image.open(tmp_path / "labels" / f"{name}.png").mode == "L"
        np.testing.assert_array_equal(label, make_scene(seed, SMALL)[1])
    assert not [p for p in (tmp_path / "imgs").iterdir() if p.name.startswith(".")]
