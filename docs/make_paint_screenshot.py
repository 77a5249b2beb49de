"""Screenshot of the painting page (``paintscape paint``) for the README.

    python docs/make_paint_screenshot.py runs/spade/latest docs/paint.png [--style photo.jpg]

Starts the server on the checkpoint (127.0.0.1, a free port), opens the page in headless Chromium
(Debian's ``/usr/bin/chromium`` driven by the ``playwright`` package; no ``playwright install``),
loads a landscape label map through the page's upload button (sky, mountains, sea, a beach and a
meadow), paints a few trees with the brush, renders, and saves a full-page screenshot.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from paintscape import Painter
from paintscape.labels import CLASS_IDS
from paintscape.web.server import PaintServer

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def landscape(height: int, width: int) -> np.ndarray:
    """Sky over a mountain range, the sea, a beach on the right and a meadow on the left."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    label = np.full((height, width), CLASS_IDS["sky"], dtype=np.uint8)
    ridge = 0.42 - 0.16 * np.sin(x * 7.0 + 0.6) ** 2 - 0.06 * np.sin(x * 23.0) - 0.04 * np.cos(x * 13.0)
    label[y > ridge] = CLASS_IDS["mountain"]
    label[y > 0.55] = CLASS_IDS["sea"]
    label[(y > 0.78 - 0.25 * x) & (x > 0.55)] = CLASS_IDS["sand"]
    label[(y > 0.62 + 0.5 * x) & (x < 0.45)] = CLASS_IDS["grass"]
    return label


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="run directory or .safetensors generator")
    parser.add_argument("out", type=Path, help="screenshot PNG to write")
    parser.add_argument("--style", type=Path, default=None, help="style photo (needed by models with a style stream)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--viewport", default="1440x680", help="browser window WIDTHxHEIGHT")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    painter = Painter.from_checkpoint(args.checkpoint, device=args.device)
    H, W = painter.size
    view_width, view_height = (int(v) for v in args.viewport.lower().split("x"))
    with (
        tempfile.TemporaryDirectory() as tmp,
        PaintServer(painter, port=0).start() as server,
        sync_playwright() as playwright,
    ):
        label_file = Path(tmp) / "landscape.png"
        Image.fromarray(landscape(H, W)).save(label_file)
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": view_width, "height": view_height}, device_scale_factor=1)
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        page.uncheck("#live")
        if args.style:
            page.set_input_files("#style-file", str(args.style))
        page.set_input_files("#label-file", str(label_file))
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('loaded')")

        box = page.locator("#label-canvas").bounding_box()

        def at(x: float, y: float) -> tuple[float, float]:  # fractions of the label map -> page pixels
            return box["x"] + x * box["width"], box["y"] + y * box["height"]

        # Trees on the meadow: a trunk-sized stroke topped by a round crown, in decreasing size.
        page.click(f"#palette button[data-class='{CLASS_IDS['tree']}']")
        for x, top, size in [(0.06, 0.58, 0.09), (0.15, 0.63, 0.075), (0.24, 0.70, 0.06), (0.32, 0.76, 0.05)]:
            page.locator("#brush-size").evaluate(
                f"(el) => {{ el.value = {max(2, round(size * W))}; el.dispatchEvent(new Event('input')); }}"
            )
            page.mouse.move(*at(x, top))
            page.mouse.down()
            page.mouse.move(*at(x, top + size * 1.6), steps=6)
            page.mouse.up()
        page.fill("#seed", str(args.seed))
        page.click(f"#palette button[data-class='{CLASS_IDS['mountain']}']")
        page.click("#render")
        page.wait_for_function(
            """() => document.body.dataset.state === 'idle' && document.getElementById('photo').dataset.revision === document.body.dataset.revision""",
            timeout=120_000,
        )
        page.mouse.move(*at(0.7, 0.25))  # the brush outline shows on the canvas
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        error = page.locator("#error")
        problem = error.text_content() if error.is_visible() else None
        browser.close()
    if problem:
        print(f"the page shows an error: {problem}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
