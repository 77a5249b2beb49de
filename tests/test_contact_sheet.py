"""contact_sheet: output size and tile placement."""

from __future__ import annotations

import numpy as np
import pytest

from paintscape.cli import main
from paintscape.data.contact_sheet import GAP, TITLE_HEIGHT, contact_sheet, dataset_sheet
from paintscape.data.io import read_image, read_label
from paintscape.labels import PALETTE


def _tile(color, h=30, w=40):
    return np.full((h, w, 3), color, dtype=np.uint8)


def test_size_and_placement_with_titles():
    colors = [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(10, 20, 30), (200, 100, 0), (0, 100, 200)]]
    rows = [[_tile(c) for c in row] for row in colors]
    sheet = np.asarray(contact_sheet(rows, ["label", "photo", "x"], tile_width=80))
    tile_h = 60  # 30 x 40 scaled to 80 wide
    assert sheet.shape == (TITLE_HEIGHT + 2 * tile_h + GAP, 3 * 80 + 2 * GAP, 3)
    for r, row in enumerate(colors):
        for c, color in enumerate(row):
            y = TITLE_HEIGHT + r * (tile_h + GAP) + tile_h // 2
            x = c * (80 + GAP) + 40
            assert tuple(sheet[y, x]) == color
    # titles are drawn in black on the white band
    assert (sheet[:TITLE_HEIGHT] < 128).any()


def test_no_titles_and_nearest_resize():
    label = np.zeros((4, 4, 3), np.uint8)
    label[:, 2:] = (255, 20, 147)
    sheet = np.asarray(contact_sheet([[label]], None, tile_width=8))
    assert sheet.shape == (8, 8, 3)
    assert {tuple(v) for v in sheet.reshape(-1, 3)} == {(0, 0, 0), (255, 20, 147)}


def test_errors():
    with pytest.raises(ValueError, match="titles"):
        contact_sheet([[_tile(0)]], ["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        contact_sheet([])
    with pytest.raises(ValueError, match="tile_width must be >= 1, got 0"):
        contact_sheet([[_tile(0)]], tile_width=0)
    with pytest.raises(ValueError, match=r"tile \(0, 1\) must be \(H, W, 3\) uint8, got \(30, 40, 3\) float32"):
        contact_sheet([[_tile(0), _tile(0).astype(np.float32)]])


def test_a_grey_tile_is_shown_grey():
    sheet = np.asarray(contact_sheet([[np.full((4, 4), 77, np.uint8)]], tile_width=4))
    assert sheet.shape == (4, 4, 3) and (sheet == 77).all()


def test_synth_writes_a_label_photo_sheet_of_the_first_scenes(tmp_path, capsys):
    data, sheet_path = tmp_path / "data", tmp_path / "sheet.png"
    assert main(["synth", str(data), "--count", "2", "--size", "32x24", "--sheet", str(sheet_path)]) == 0
    assert capsys.readouterr().out.endswith(f"contact sheet: {sheet_path}\n")
    sheet = read_image(sheet_path)
    tile_h = 24 * 256 // 32
    assert sheet.shape == (TITLE_HEIGHT + 2 * tile_h + GAP, 2 * 256 + GAP, 3)
    for row, name in enumerate(["scene_000000", "scene_000001"]):
        top = TITLE_HEIGHT + row * (tile_h + GAP)
        label = read_label(data / "labels" / f"{name}.png")
        # left: the label map in the palette's colours, nearest-neighbour (8x): exact at each label pixel's centre
        np.testing.assert_array_equal(sheet[top + 4 : top + tile_h : 8, 4:256:8], np.asarray(PALETTE)[label])
        # right: the photo, resized
        photo = read_image(data / "imgs" / f"{name}.jpg")
        assert np.abs(sheet[top + 4 : top + tile_h : 8, 256 + GAP + 4 :: 8].astype(int) - photo.astype(int)).mean() < 12


def test_dataset_sheet_names_a_missing_photo(tmp_path):
    assert main(["synth", str(tmp_path), "--count", "1", "--size", "32x24"]) == 0
    (tmp_path / "imgs" / "scene_000000.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'imgs'}: no photo for scene_000000"):
        dataset_sheet(tmp_path, ["scene_000000"])
