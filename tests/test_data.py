import json

import numpy as np
import pytest
import torch
from conftest import striped_label, write_pair
from PIL import Image

from paintscape.data.dataset import LabelFolder, PairedFolder, paired_names, read_style_map
from paintscape.data.io import DataError, read_image, read_label, read_subset
from paintscape.data.transforms import PairedTransform, resize_label
from paintscape.labels import PALETTE, colorize


def test_reads_8bit_16bit_and_palette_labels(tmp_path):
    label = striped_label(classes=(1, 0, 28))
    Image.fromarray(label).save(tmp_path / "l8.png")
    Image.fromarray(label.astype(np.uint16)).save(tmp_path / "l16.png")
    assert Image.open(tmp_path / "l16.png").mode.startswith("I")
    Image.fromarray(colorize(label)).save(tmp_path / "rgb.png")
    for name in ("l8.png", "l16.png", "rgb.png"):
        out = read_label(tmp_path / name)
        assert out.dtype == np.uint8 and (out == label).all(), name


def test_real_16bit_track_labels(realdata):
    paths = sorted((realdata / "track_labels" / "labels").glob("*.png"))[:5]
    assert paths
    for path in paths:
        label = read_label(path)
        assert label.shape == (384, 512) and label.max() <= 28


def test_out_of_range_and_bad_palette_errors_name_file(tmp_path):
    label = striped_label()
    label[0, 0] = 40
    Image.fromarray(label).save(tmp_path / "bad.png")
    with pytest.raises(DataError, match=r"bad\.png.*40 \(1 px\)"):
        read_label(tmp_path / "bad.png")
    rgb = colorize(striped_label())
    rgb[1, 2] = (3, 3, 4)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match=r"rgb\.png.*x=2, y=1"):
        read_label(tmp_path / "rgb.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match="corrupt.png: unreadable"):
        read_label(tmp_path / "corrupt.png")
    gray = np.repeat(striped_label()[..., None], 3, axis=2)
    gray[0, :3] = 40  # gray ids saved as RGB, one outside the table (and not a palette colour either)
    Image.fromarray(gray).save(tmp_path / "gray_rgb.png")
    with pytest.raises(DataError, match=r"gray_rgb\.png: label ids outside 0\.\.28: 40 \(3 px\)"):
        read_label(tmp_path / "gray_rgb.png")


def test_a_label_with_an_alpha_channel_reads_its_gray_ids(tmp_path):
    label = striped_label()
    Image.fromarray(np.stack([label, np.full_like(label, 255)], axis=2), mode="LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_label(tmp_path / "la.png"), label)


def test_a_photo_claiming_webp_that_cannot_be_parsed_says_so(tmp_path):
    (tmp_path / "p.webp").write_bytes(b"RIFF\x04\x00\x00\x00WEBPXXXX")
    with pytest.raises(DataError, match=r"p\.webp: unreadable: a corrupt WebP file \(its header cannot be parsed\)"):
        read_image(tmp_path / "p.webp")


def test_labels_resized_nearest_never_mix_ids():
    label = np.zeros((30, 40), dtype=np.uint8)
    label[:, 20:] = 28  # a bilinear/bicubic resize would invent ids between 0 and 28
    for size in ((17, 23), (64, 90), (384, 512)):
        assert set(np.unique(resize_label(label, size))) == {0, 28}


def test_paired_transform_crop_and_flip_keep_pairs_aligned():
    label = np.tile(np.arange(40, dtype=np.uint8) % 29, (30, 1))
    image = np.stack([label * 8] * 3, -1).astype(np.uint8)
    transform = PairedTransform((20, 24), load_size=(30, 40), flip=True, train=True)
    for seed in range(10):
        img, lab = transform(image, label, np.random.default_rng(seed))
        assert img.shape == (20, 24, 3) and lab.shape == (20, 24)
        assert (img[..., 0] == lab * 8).all()


def test_paired_folder_items(tiny_dataset):
    dataset = PairedFolder(tiny_dataset, size=(16, 24), train=True, load_size=(24, 32))
    item = dataset[1]
    assert item["image"].shape == (3, 16, 24) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["label"].shape == (16, 24) and item["label"].dtype == torch.long
    assert item["name"] == "img1"
    # same epoch -> same crop; the randomness does not depend on call order
    assert torch.equal(dataset[1]["label"], item["label"]) and torch.equal(dataset[1]["image"], item["image"])


def test_subset_file(tiny_dataset, tmp_path):
    subset = tmp_path / "sel.txt"
    subset.write_text("# selection\nimg2.jpg\nimg0\n\n")
    assert read_subset(subset) == ["img2", "img0"]
    assert PairedFolder(tiny_dataset, (24, 32), subset=subset).names == ["img0", "img2"]
    subset.write_text("img9\n")
    with pytest.raises(DataError, match="img9"):
        paired_names(tiny_dataset, subset)
    subset.write_text("# nothing listed\n\n")
    with pytest.raises(DataError, match=f"subset file {subset} lists no names"):
        read_subset(subset)
    with pytest.raises(DataError, match=f"subset file {tmp_path / 'none.txt'} not found"):
        read_subset(tmp_path / "none.txt")


def test_a_dataset_without_pairs_and_a_load_size_below_the_size_are_named(tiny_dataset, tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'imgs'}: folder not found; a dataset holds imgs/NAME.jpg and labels/NAME.png"):
        paired_names(tmp_path)
    (tiny_dataset / "labels" / "img0.png").rename(tiny_dataset / "labels" / "other.png")
    for path in (tiny_dataset / "labels").glob("img*.png"):
        path.unlink()
    with pytest.raises(DataError, match=r"no photo/label pairs found \(imgs/ has 4 files, labels/ has 1\)"):
        paired_names(tiny_dataset)
    with pytest.raises(ValueError, match=r"load_size \(16, 64\) must be at least size \(24, 32\) in both dimensions"):
        PairedTransform((24, 32), load_size=(16, 64))


def test_photo_twice_label_size_is_resized(tmp_path):
    label = striped_label(24, 32)
    write_pair(tmp_path, "big", label, photo=np.zeros((48, 64, 3), np.uint8))
    item = PairedFolder(tmp_path, (24, 32))[0]
    assert item["image"].shape == (3, 24, 32)


def test_label_folder_with_styles(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    Image.fromarray(striped_label(48, 64).astype(np.uint16)).save(labels / "a.png")
    Image.fromarray(striped_label(48, 64)).save(labels / "b.png")
    refs = tmp_path / "refs"
    refs.mkdir()
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(refs / "photo.jpg")
    (tmp_path / "styles.json").write_text(json.dumps({"a.png": "photo.jpg"}))
    styles = read_style_map(tmp_path / "styles.json", style_root=refs)
    dataset = LabelFolder(labels, (24, 32), styles)
    assert len(dataset) == 2
    assert dataset[0]["label"].shape == (24, 32) and dataset[0]["style"].shape == (3, 24, 32)
    assert "style" not in dataset[1]
    (tmp_path / "styles.json").write_text(json.dumps({"a.png": "missing.jpg"}))
    with pytest.raises(DataError, match="missing.jpg"):
        read_style_map(tmp_path / "styles.json")


def test_palette_is_uint8():
    assert PALETTE.dtype == np.uint8
