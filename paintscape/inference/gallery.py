"""``OUT/gallery.html``: a page to look at what ``paintscape generate`` made — per label map, the
coloured label | the photo(s) | the style photo when there is one.

Label maps and style photos are written as thumbnails under ``OUT/gallery/``; the photos are linked
where generate wrote them, so the page and the photos move together.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image

from paintscape.class_table import LANDSCAPE29, ClassTable
from paintscape.data.io import read_image, read_label
from paintscape.io_atomic import atomic_save_image, atomic_write_text
from paintscape.labels import colorize

#: Width of the label and style thumbnails (the photos are shown at this width too).
THUMB_WIDTH = 256


def _thumbnail(array: np.ndarray, resample: Image.Resampling) -> Image.Image:
    image = Image.fromarray(array)
    height = max(1, round(image.height * THUMB_WIDTH / image.width))
    return image.resize((THUMB_WIDTH, height), resample)


def write_gallery(out_dir: str | Path, photos: list[Path], label_paths: dict[str, Path], styles: dict[str, Path] | None = None,
                  table: ClassTable = LANDSCAPE29) -> Path:
    """Write ``out_dir/gallery.html`` for ``photos`` (generate's outputs, ``NAME.ext`` or ``sample_K/NAME.ext``);
    ``table``: the model's class table (the label maps' ids and the colours they are shown in)."""
    out_dir = Path(out_dir)
    styles = styles or {}
    by_name: dict[str, list[Path]] = {}
    for photo in photos:
        by_name.setdefault(photo.stem, []).append(photo)
    has_style = any(name in styles for name in by_name)
    samples = max((len(v) for v in by_name.values()), default=1)
    head = ["label"] + (["photo"] if samples == 1 else [f"sample {k}" for k in range(samples)]) + (["style"] if has_style else [])
    rows = []
    for name, outputs in sorted(by_name.items()):
        label_file = out_dir / "gallery" / "labels" / f"{name}.png"
        # nearest neighbour: a thumbnail of a label map shows only its classes' colours
        atomic_save_image(label_file, _thumbnail(colorize(read_label(label_paths[name], table=table), table.palette_array), Image.Resampling.NEAREST))
        cells = [f"<img src='gallery/labels/{html.escape(name)}.png' alt='label {html.escape(name)}'>"]
        cells += [f"<img src='{html.escape(p.relative_to(out_dir).as_posix())}' width='{THUMB_WIDTH}' alt='photo {html.escape(name)}'>" for p in sorted(outputs)]
        if has_style:
            if name in styles:
                style_file = out_dir / "gallery" / "styles" / f"{name}.jpg"
                atomic_save_image(style_file, _thumbnail(read_image(styles[name]), Image.Resampling.BICUBIC), quality=90)
                cells.append(f"<img src='gallery/styles/{html.escape(name)}.jpg' alt='style {html.escape(name)}'>")
            else:
                cells.append("")
        rows.append(f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>paintscape gallery</title>"
        "<style>body{font-family:sans-serif;margin:24px}td,th{padding:4px;vertical-align:top;text-align:left}</style></head><body>"
        f"<h1>{len(by_name)} label maps</h1><table><tr><th>name</th>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
        + "\n".join(rows) + "</table></body></html>"
    )
    path = out_dir / "gallery.html"
    atomic_write_text(path, page)
    return path
