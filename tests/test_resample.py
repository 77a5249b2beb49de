"""Region re-sampling from Python (Painter.resample): new noise inside a mask, the photo shown outside."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import paintscape.models  # noqa: F401  (registers the networks)
from paintscape.data.transforms import tensor_to_image
from paintscape.inference.painter import Painter, RegionResampleUnsupported
from paintscape.labels import one_hot
from paintscape.models.base import GeneratorSpec
from paintscape.registry import GENERATORS

SIZE = (64, 96)
ARGS = dict(num_classes=29, image_size=SIZE, base_channels=4, channel_multipliers=(4, 4, 2, 1), z_dim=8, hidden_channels=8, norm="batch")


@pytest.fixture(scope="module")
def painter() -> Painter:
    torch.manual_seed(0)
    return Painter(GENERATORS.build("oasis", **ARGS), GeneratorSpec("oasis", ARGS, SIZE))


def scene() -> tuple[np.ndarray, np.ndarray]:
    label = np.full(SIZE, 5, np.uint8)
    label[30:] = 9
    label[20:50, 60:90] = 3
    mask = np.zeros(SIZE, bool)
    mask[10:40, 20:60] = True
    return label, mask


def test_resample_changes_the_region_and_keeps_the_rest_byte_for_byte(painter):
    label, mask = scene()
    base = np.asarray(painter(label, seed=0))
    out = np.asarray(painter.resample(label, mask, seed=0, region_seed=7))
    assert np.array_equal(out[~mask], base[~mask])  # default base: the render with `seed`
    change = np.abs(out.astype(float) - base)[mask].mean()
    assert change > 5, change
    # inside: the network's render with the region's noise replaced; it also moves pixels outside
    z = torch.where(torch.from_numpy(mask)[None, None], painter.generator.latent_for([7], SIZE), painter.generator.latent_for([0], SIZE))
    with torch.no_grad():
        raw = tensor_to_image(painter.generator(one_hot(torch.from_numpy(label).long()[None]), z=z)[0])
    assert np.array_equal(out[mask], raw[mask])
    outside = np.abs(raw.astype(float) - base)[~mask].mean()
    assert 0 < outside < change, (outside, change)  # why the result is composited onto the base
    # another region seed, another region; the same seeds, the same photo
    assert not np.array_equal(np.asarray(painter.resample(label, mask, seed=0, region_seed=8)), out)
    assert np.array_equal(np.asarray(painter.resample(label, mask, seed=0, region_seed=7)), out)


def test_resampling_region_after_region_keeps_earlier_ones(painter, tmp_path):
    label, mask = scene()
    first = painter.resample(label, mask, seed=0, region_seed=7)
    second_mask = np.zeros(SIZE, np.uint8)
    second_mask[44:60, 0:30] = 255  # even edges: the same mask after a x2 nearest round trip
    Image.fromarray(second_mask).save(tmp_path / "mask.png")
    first.save(tmp_path / "first.png")
    second = np.asarray(painter.resample(label, tmp_path / "mask.png", seed=0, region_seed=9,
                                         base=tmp_path / "first.png"))  # fmt: skip
    inside = second_mask > 0
    assert np.array_equal(second[~inside], np.asarray(first)[~inside])
    assert not np.array_equal(second[inside], np.asarray(first)[inside])
    # a mask at another size is resized (nearest) to the model's
    small = np.asarray(painter.resample(label, Image.fromarray(second_mask).resize((48, 32), Image.NEAREST), seed=0, region_seed=9, base=first))
    assert np.array_equal(small, second)


def test_models_without_per_pixel_noise_and_bad_masks_are_refused(painter):
    label, mask = scene()
    with pytest.raises(ValueError, match=r"a region mask is \(H, W\)"):
        painter.resample(label, np.zeros((2, 3, 4)), seed=0)
    args = dict(num_classes=29, image_size=SIZE, base_channels=4, hidden_channels=8, norm="batch")
    spade = Painter(GENERATORS.build("spade", **args), GeneratorSpec("spade", args, SIZE))
    assert painter.can_resample_regions and not spade.can_resample_regions
    with pytest.raises(RegionResampleUnsupported, match="spade generator has no per-pixel noise"):
        spade.resample(label, mask)
