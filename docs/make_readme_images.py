"""Regenerates docs/images/synthetic_scenes.png: `python docs/make_readme_images.py`."""

from pathlib import Path

from paintscape.data.contact_sheet import contact_sheet
from paintscape.data.synthetic import make_scene
from paintscape.io_atomic import atomic_save_image
from paintscape.labels import colorize

rows = []
for row in range(4):
    tiles = []
    for seed in (2 * row + 4, 2 * row + 5):
        photo, label = make_scene(seed, size=(384, 512))
        tiles += [colorize(label), photo]
    rows.append(tiles)
out = Path(__file__).parent / "images" / "synthetic_scenes.png"
atomic_save_image(out, contact_sheet(rows, ["label", "photo", "label", "photo"], tile_width=256))
print(out)
