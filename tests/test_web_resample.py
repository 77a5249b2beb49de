"""Region re-sampling on the painting page: POST /api/resample over a real socket, and in Chromium
(paint, render, mark a region on the photo, re-sample: the pixels outside it are unchanged)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from test_web import SIZE, browser, drag, open_page, png_bytes, request, tiny_checkpoint, wait_rendered  # noqa: F401

import paintscape.models  # noqa: F401  (registers the networks)
from paintscape.checkpoint import save_generator
from paintscape.inference.painter import Painter
from paintscape.labels import CLASS_IDS
from paintscape.models.base import GeneratorSpec
from paintscape.registry import GENERATORS
from paintscape.train.batchnorm_refresh import refresh_batchnorm
from paintscape.web.server import PaintServer

ARGS = dict(num_classes=29, image_size=SIZE, base_channels=4, channel_multipliers=(4, 4, 2, 1), z_dim=8, hidden_channels=8, norm="batch")


@pytest.fixture(scope="module")
def oasis_server(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("oasis") / "oasis.safetensors"
    generator = GENERATORS.build("oasis", **ARGS)
    refresh_batchnorm(generator, iter([torch.randint(0, 29, (4, *SIZE))]))  # fitting statistics: photos not saturated
    save_generator(path, generator, GeneratorSpec("oasis", ARGS, SIZE))
    with PaintServer(Painter.from_checkpoint(path, device="cpu"), port=0).start() as running:
        yield running


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def post_resample(server, payload) -> tuple[int, bytes]:
    status, _, body = request(server, "POST", "/api/resample", json.dumps(payload).encode(), {"Content-Type": "application/json"})
    return status, body


def test_api_resamples_inside_the_mask_only(oasis_server):
    status, _, info = request(oasis_server, "GET", "/api/info")
    assert status == 200 and json.loads(info)["can_resample"] is True
    label = np.full(SIZE, CLASS_IDS["sky"], np.uint8)
    label[30:] = CLASS_IDS["sea"]
    mask = np.zeros(SIZE, np.uint8)
    mask[8:40, 10:50] = 255
    base = np.asarray(oasis_server.painter(label, seed=3))
    payload = {"label": b64(png_bytes(label)), "mask": b64(png_bytes(mask)), "base": b64(png_bytes(base)), "seed": 3, "region_seed": 11}
    status, body = post_resample(oasis_server, payload)
    assert status == 200
    out = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    inside = mask > 0
    assert np.array_equal(out[~inside], base[~inside]) and np.abs(out[inside].astype(float) - base[inside]).mean() > 5
    expected = np.asarray(oasis_server.painter.resample(label, inside, seed=3, region_seed=11, base=base))
    assert np.array_equal(out, expected)
    # without a base: the render with `seed` is the base
    status, body = post_resample(oasis_server, {**payload, "base": None})
    assert status == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")), expected)


def test_api_errors_are_one_line(oasis_server, server):  # noqa: F811  (server: test_web's SPADE fixture)
    status, body = post_resample(oasis_server, {"label": b64(png_bytes(np.zeros(SIZE, np.uint8)))})
    assert status == 400 and "'label' and 'mask'" in json.loads(body)["error"]
    status, body = post_resample(oasis_server, {"label": b64(png_bytes(np.zeros(SIZE, np.uint8))), "mask": b64(b"not a png")})
    assert status == 400 and json.loads(body)["error"].startswith("region mask")
    status, body = post_resample(oasis_server, {"label": b64(png_bytes(np.zeros(SIZE, np.uint8))), "mask": ""})
    assert status == 400 and json.loads(body)["error"] == "region mask: the file is empty"
    status, _, body = request(oasis_server, "POST", "/api/resample", b"{", {"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]
    status, body = post_resample(server, {"label": b64(png_bytes(np.zeros(SIZE, np.uint8))), "mask": b64(png_bytes(np.zeros(SIZE, np.uint8)))})
    assert status == 400 and "cannot re-sample a region" in json.loads(body)["error"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # noqa: F811
    painter = Painter.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("spade") / "tiny.safetensors"), device="cpu")
    with PaintServer(painter, port=0).start() as running:
        yield running


def photo_pixels(page) -> np.ndarray:
    rgba = page.evaluate(
        """() => {
            const photo = document.getElementById('photo');
            const canvas = document.createElement('canvas');
            canvas.width = photo.naturalWidth; canvas.height = photo.naturalHeight;
            const context = canvas.getContext('2d');
            context.drawImage(photo, 0, 0);
            return Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data);
        }"""
    )
    return np.array(rgba, dtype=np.uint8).reshape(*SIZE, 4)[..., :3]


def photo_to_page(page, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#region-canvas").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / SIZE[1], box["y"] + (y + 0.5) * box["height"] / SIZE[0]


def test_paint_render_resample_a_region_in_browser(browser, oasis_server, server):  # noqa: F811
    page, errors = open_page(browser, oasis_server)
    page.click(f"#palette button[data-class='{CLASS_IDS['sea']}']")
    drag(page, [(5, 50), (90, 50)])
    page.click("#render")
    wait_rendered(page)
    before = photo_pixels(page)
    assert page.is_disabled("#region-resample")  # nothing marked yet
    page.click("#region-mark")
    page.mouse.move(*photo_to_page(page, 20, 20))
    page.mouse.down()
    page.mouse.move(*photo_to_page(page, 60, 30), steps=10)
    page.mouse.up()
    mask = np.array(page.evaluate("Array.from(window.paintscapeRegion.mask)"), dtype=bool).reshape(SIZE)
    assert mask[20, 20] and mask[30, 60] and not mask[55, 5] and 50 < mask.sum() < mask.size // 2
    page.click("#region-resample")
    page.wait_for_function("() => document.getElementById('photo').dataset.resamples === '1'", timeout=20_000)
    after = photo_pixels(page)
    assert np.array_equal(after[~mask], before[~mask]), "pixels outside the region changed"
    assert np.abs(after[mask].astype(float) - before[mask]).mean() > 5, "the region did not change"
    seed = int(page.get_attribute("#photo", "data-region-seed"))
    label = oasis_server.last_label
    assert np.array_equal(after, np.asarray(oasis_server.painter.resample(label, mask, seed=0, region_seed=seed, base=before)))
    assert not errors
    page.close()
    # a model without per-pixel noise shows no region tools
    page, errors = open_page(browser, server)
    assert page.locator("#region-mark").count() == 0 and not errors
    page.close()
