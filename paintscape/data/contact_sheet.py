"""A grid of equally sized tiles with column titles (README pictures, galleries, sample sheets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["contact_sheet", "TITLE_HEIGHT", "GAP"]

TITLE_HEIGHT = 16  # pixels above the first row when titles are given
GAP = 2  # pixels between tiles


def contact_sheet(rows: list[list[np.ndarray]], titles: list[str] | None = None, tile_width: int = 256) -> Image.Image:
    """Tile ``rows`` of ``(H, W, 3)`` uint8 images into one RGB image.

    Every tile is resized to ``tile_width`` wide keeping the aspect ratio of the first image (label
    maps should be colourised first, e.g. with :func:`paintscape.labels.colorize`; tiles are resized
    with nearest neighbour so label colours stay exact). Tile ``(r, c)`` has its top-left corner at
    ``(c * (tile_width + GAP), top + r * (tile_height + GAP))`` where ``top`` is ``TITLE_HEIGHT`` when
    ``titles`` are given (one per column, drawn with PIL's default font) and 0 otherwise.
    """
    if not rows or not rows[0]:
        raise ValueError("contact_sheet needs at least one row with one image")
    if tile_width < 1:
        raise ValueError(f"contact_sheet tile_width must be >= 1, got {tile_width}")
    cols = max(len(r) for r in rows)
    if titles is not None and len(titles) != cols:
        raise ValueError(f"contact_sheet got {len(titles)} titles for {cols} columns")
    first = np.asarray(rows[0][0])
    tile_h = max(1, round(first.shape[0] * tile_width / first.shape[1]))
    top = TITLE_HEIGHT if titles is not None else 0
    width = cols * tile_width + (cols - 1) * GAP
    height = top + len(rows) * tile_h + (len(rows) - 1) * GAP
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            arr = np.asarray(tile)
            if arr.ndim == 2:
                arr = np.repeat(arr[..., None], 3, axis=2)
            if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
                raise ValueError(f"contact_sheet tile ({r}, {c}) must be (H, W, 3) uint8, got {arr.shape} {arr.dtype}")
            img = Image.fromarray(arr).resize((tile_width, tile_h), Image.NEAREST)
            sheet.paste(img, (c * (tile_width + GAP), top + r * (tile_h + GAP)))
    if titles is not None:
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default()
        for c, title in enumerate(titles):
            draw.text((c * (tile_width + GAP) + 4, 2), str(title), fill=(0, 0, 0), font=font)
    return sheet


def dataset_sheet(root: str | Path, names: list[str], tile_width: int = 256) -> Image.Image:
    """A ``label | photo`` sheet of the named pairs of a dataset folder, labels in its class table's colours."""
    from paintscape.class_table import dataset_class_table
    from paintscape.data.io import find_image, read_image, read_label
    from paintscape.labels import colorize

    root = Path(root)
    table = dataset_class_table(root)
    rows = []
    for name in names:
        photo_path = find_image(root / "imgs", name)
        if photo_path is None:
            raise FileNotFoundError(f"{root / 'imgs'}: no photo for {name}")
        rows.append([colorize(read_label(root / "labels" / f"{name}.png", table=table), table.palette_array), read_image(photo_path)])
    return contact_sheet(rows, ["label", "photo"], tile_width=tile_width)
