"""The one image-opening policy of paintscape.data.io: the pixel limit, how to change it, and that
nothing is decoded before the size is checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bad_inputs import encode, header_only_png, png_of_zeros, scene
from PIL import Image

from paintscape.data.io import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    DataError,
    ImageTooLarge,
    image_size,
    open_image,
    parse_pixel_limit,
    pixel_limit,
    read_image,
    read_label,
)


def test_default_limit_admits_8192_squared_and_lies_below_pillows_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    assert pixel_limit() == DEFAULT_MAX_PIXELS == 8192 * 8192
    assert DEFAULT_MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # Pillow never warns about an image we accept
    # exactly at the limit: decoded (a 1-bit map, which read_label then refuses for its mode)
    with pytest.raises(DataError, match="got mode 1"):
        read_label(png_of_zeros(8192, 8192), name="edge.png")
    with pytest.raises(ImageTooLarge, match=r"edge\.png: image too large: 8193x8192 = 67,117,056 pixels"):
        read_label(png_of_zeros(8193, 8192), name="edge.png")


def test_the_size_is_checked_before_any_pixel_is_decoded(tmp_path: Path) -> None:
    # A header that claims 20000x20000 with no pixel data after it: decoding would fail as
    # truncated, so "too large" shows the limit was applied to the header alone.
    with pytest.raises(ImageTooLarge, match="20000x20000"):
        read_label(header_only_png(20000, 20000), name="claims.png")
    with pytest.raises(DataError, match="truncated"):  # the same file, small enough to be decoded
        read_label(header_only_png(64, 48), name="claims.png")
    path = tmp_path / "bomb.png"
    path.write_bytes(png_of_zeros(20000, 20000, 8, 0))  # 400 MB of pixels in a 1.7 MB file
    with pytest.raises(ImageTooLarge) as caught:
        read_image(path)
    assert caught.value.size == (20000, 20000) and caught.value.limit == DEFAULT_MAX_PIXELS
    message = str(caught.value)
    assert message.startswith(f"{path}: image too large: 20000x20000 = 400,000,000 pixels")
    assert "67,108,864 pixels (8192x8192)" in message and f"set {MAX_PIXELS_ENV}=20000x20000" in message


def test_the_environment_changes_the_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(encode(np.zeros((48, 64, 3), np.uint8)))
    monkeypatch.setenv(MAX_PIXELS_ENV, "64x47")
    with pytest.raises(ImageTooLarge, match="more than the limit of 3,008 pixels"):
        read_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "3072")
    assert image_size(path) == (48, 64)
    # above Pillow's own threshold (178 MP refused outright): Pillow's limit follows ours
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    monkeypatch.setenv(MAX_PIXELS_ENV, "20000x20000")
    with pytest.raises(DataError, match="got mode 1"):  # decoded: 50 MB at 1 bit per pixel
        read_label(png_of_zeros(20000, 20000), name="big.png")
    assert Image.MAX_IMAGE_PIXELS == 400_000_000
    monkeypatch.setenv(MAX_PIXELS_ENV, "0")
    with pytest.raises(DataError, match=f"{MAX_PIXELS_ENV}='0': expected a positive pixel count"):
        read_image(path)


@pytest.mark.parametrize(
    ("text", "pixels"), [("100000000", 100_000_000), ("10000x10000", 100_000_000), ("8_192X8_192", 67_108_864)]
)
def test_limit_forms(text: str, pixels: int) -> None:
    assert parse_pixel_limit(text) == pixels


@pytest.mark.parametrize("text", ["", "lots", "-5", "0x10", "10x", "1.5e6"])
def test_bad_limits_are_named(text: str) -> None:
    with pytest.raises(DataError, match=MAX_PIXELS_ENV):
        parse_pixel_limit(text)


def test_an_explicit_limit_gives_no_environment_hint() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        open_image(encode(scene(48, 64)), name="upload.png", max_pixels=100)
    assert (
        str(caught.value)
        == "upload.png: image too large: 64x48 = 3,072 pixels, more than the limit of 100 pixels (10x10)"
    )


def test_bytes_and_paths_read_alike(tmp_path: Path) -> None:
    label = scene(48, 64)
    label16 = encode(label.astype(np.uint16))  # 16-bit, as the track's maps
    (tmp_path / "l.png").write_bytes(label16)
    np.testing.assert_array_equal(read_label(label16), label)
    np.testing.assert_array_equal(read_label(tmp_path / "l.png"), label)
    assert read_label(label16).dtype == np.uint8
    with pytest.raises(DataError, match=r"^label map: unreadable: empty file"):
        read_label(b"")
    with pytest.raises(DataError, match=r"^image: unreadable: not an image"):
        read_image(b"hello, no image here")
    with pytest.raises(DataError, match=r"nope\.png: file not found"):
        read_image(tmp_path / "nope.png")
