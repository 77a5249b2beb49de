import numpy as np
import pytest
import torch

from paintscape import labels as L


def test_track_class_order():
    assert L.NUM_CLASSES == 29
    assert L.CLASS_NAMES[0] == "mountain" and L.CLASS_NAMES[1] == "sky" and L.CLASS_NAMES[28] == "other"
    assert L.CLASS_NAMES[16] == "waterfall" and L.CLASS_NAMES[27] == "house"


def test_palette_colours_are_distinct():
    palette = L.PALETTE.astype(int)
    distance = np.abs(palette[:, None] - palette[None]).sum(-1) + np.eye(29, dtype=int) * 10_000
    assert distance.min() >= 40  # clearly distinct: no two colours within 40 summed RGB steps


def test_colorize_decode_round_trip():
    ids = np.arange(29, dtype=np.uint8).reshape(1, 29).repeat(3, 0)
    ids[0, 0] = L.IGNORE_INDEX
    assert (L.decode(L.colorize(ids)) == ids).all()


def test_decode_names_unknown_colour_and_position():
    rgb = L.colorize(np.zeros((4, 5), dtype=np.uint8))
    rgb[2, 3] = (1, 2, 3)
    with pytest.raises(L.LabelError, match=r"x=3, y=2.*\(1, 2, 3\)"):
        L.decode(rgb, source="foo.png")


def test_colorize_rejects_out_of_range_ids():
    with pytest.raises(L.LabelError, match="40"):
        L.colorize(np.array([[40]], dtype=np.uint8))


def test_one_hot_zeroes_ignored_pixels():
    label = torch.tensor([[[0, 28], [255, 5]]])
    out = L.one_hot(label)
    assert out.shape == (1, 29, 2, 2)
    assert out[0, :, 1, 0].sum() == 0
    assert out[0, 28, 0, 1] == 1 and out[0, 5, 1, 1] == 1
    assert out.sum() == 3


def test_ade20k_mapping():
    ade = np.array([[0, 17, 3, 27, 49, 150]])
    assert L.from_ade20k(ade).tolist() == [[255, 0, 1, 3, 11, 28]]
    # every named landscape class maps to an ADE id that maps back to it
    back = L.from_ade20k(L.LANDSCAPE_TO_ADE20K[:28])
    assert back.tolist() == list(range(28))
    assert L.to_ade20k(np.array([28, 1])).tolist() == [0, 3]


def test_coco_stuff_mapping():
    # file values are id - 1: 153 sand, 154 sea, 156 sky-other, 168 tree, 255 unlabeled, 0 person
    coco = np.array([153, 154, 156, 168, 255, 0, 2])
    expected = [L.CLASS_IDS[n] for n in ("sand", "sea", "sky", "tree")] + [255, L.CLASS_IDS["person"], L.CLASS_IDS["other"]]
    assert L.from_coco_stuff(coco).tolist() == expected


def test_real_ade20k_and_coco_labels_map(realdata):
    from paintscape.data.io import read_label_raw

    for sub, convert in (("ade20k", L.from_ade20k), ("cocostuff", L.from_coco_stuff)):
        for path in sorted((realdata / sub / "labels").glob("*.png"))[:4]:
            mapped = convert(read_label_raw(path))
            assert mapped.shape == read_label_raw(path).shape
            assert set(np.unique(mapped)) <= set(range(29)) | {255}
