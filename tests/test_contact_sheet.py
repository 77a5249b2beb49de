"""contact_sheet: output size and tile placement."""

from __future__ import annotations

import numpy as np
import pytest

from paintscape.data.contact_sheet import GAP, TITLE_HEIGHT, contact_sheet


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
