"""Reading photos and label maps in the formats the track and its users actually have."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from paintscape.class_table import LANDSCAPE29, ClassTable
from paintscape.labels import IGNORE_INDEX, NUM_CLASSES, LabelError, decode

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LABEL_SUFFIXES = (".png",)

#: The largest image any reader decodes, in pixels (width x height): 8192x8192 = 67.1 megapixels.
#: The track's photos are 512x384 and some sources 1024x768; this also admits 48-megapixel camera
#: photos and 8K label maps, and refuses decompression bombs (a 50 KB PNG can hold 20000x20000 pixels)
#: before a byte of pixel data is decoded. It lies below Pillow's own warning threshold (89.5 MP),
#: so Pillow never interferes with an image this policy accepts.
DEFAULT_MAX_PIXELS = 8192 * 8192
#: Environment variable that changes the limit for every reader (and the paint page): a pixel
#: count (``100000000``) or a size (``10000x10000``). Worker processes inherit it.
MAX_PIXELS_ENV = "PAINTSCAPE_MAX_PIXELS"

# What Pillow raises for a file it cannot identify, a broken header or chunk (SyntaxError), a
# truncated stream (OSError), an oversized text chunk (ValueError) or a malformed table.
_UNREADABLE = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    zlib.error,
)

ImageSource = str | os.PathLike | bytes


class DataError(ValueError):
    """A data file is missing, unreadable or not in the expected format; the message names it."""


class ImageTooLarge(DataError):
    """An image has more pixels than the limit in force; nothing of it was decoded."""

    def __init__(self, message: str, size: tuple[int, int] | None, limit: int) -> None:
        super().__init__(message)
        self.size = size  # (width, height) as the header claims, when known
        self.limit = limit


def parse_pixel_limit(text: str, source: str = MAX_PIXELS_ENV) -> int:
    """``"100000000"`` or ``"10000x10000"`` -> a positive pixel count; anything else is a DataError."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    try:
        if "x" in cleaned:
            width, height = (int(v) for v in cleaned.split("x"))
            limit = width * height if width > 0 and height > 0 else 0
        else:
            limit = int(cleaned)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise DataError(
            f"{source}={text!r}: expected a positive pixel count (e.g. 100000000) or a size (e.g. 10000x10000)"
        )
    return limit


def pixel_limit(default: int = DEFAULT_MAX_PIXELS) -> int:
    """The pixel limit in force: :data:`MAX_PIXELS_ENV` when set, else ``default``."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    return parse_pixel_limit(text) if text else default


def describe_pixels(count: int) -> str:
    """``67108864`` -> ``"67,108,864 pixels (8192x8192)"``; the square side only when exact."""
    side = math.isqrt(count)
    return f"{count:,} pixels" + (f" ({side}x{side})" if side * side == count else "")


def _header_size(fp: Any) -> tuple[int, int] | None:
    """(width, height) from the header alone, bypassing Pillow's bomb check (for the message only)."""
    try:
        fp.seek(0)
        prefix = fp.read(16)
        Image.init()
        for name in Image.ID:
            factory, accept = Image.OPEN[name]
            if accept is None or accept(prefix):
                fp.seek(0)
                try:
                    return tuple(factory(fp, "").size)  # parses the header; decodes nothing
                except Exception:  # noqa: BLE001 (not this format: try the next)
                    continue
    except Exception:  # noqa: BLE001 (the message then gives the pixel count alone)
        return None
    return None


_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"GIF8": "GIF"}


def _claimed_format(fp: Any) -> str | None:
    """The format a file's first bytes claim (for messages about files Pillow could not open)."""
    try:
        with open(fp, "rb") if isinstance(fp, Path) else contextlib.nullcontext(fp) as handle:
            handle.seek(0)
            head = handle.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def _too_large(shown: str, size: tuple[int, int] | None, pixels: int, limit: int, explicit: bool) -> ImageTooLarge:
    dims = f"{size[0]}x{size[1]} = " if size else ""
    allow = f"{size[0]}x{size[1]}" if size else str(pixels)
    hint = "" if explicit else f"; to decode it anyway, set {MAX_PIXELS_ENV}={allow}"
    return ImageTooLarge(
        f"{shown}: image too large: {dims}{pixels:,} pixels, more than the limit of {describe_pixels(limit)}{hint}",
        size,
        limit,
    )


def open_image(source: ImageSource, *, name: str | None = None, max_pixels: int | None = None) -> Image.Image:
    """Open and decode an image file (a path, or the file's bytes) under the pixel limit.

    The header is read first and its size checked against ``max_pixels`` (default: the limit in
    force, :func:`pixel_limit`) before any pixel data is decoded. A missing, empty, truncated,
    corrupt or oversized file raises :class:`DataError` (:class:`ImageTooLarge` for the size) naming
    ``name`` (default: the path; ``"image"`` for bytes).
    """
    explicit = max_pixels is not None
    limit = max_pixels if explicit else pixel_limit()
    if isinstance(source, bytes | bytearray | memoryview):
        shown = name or "image"
        nbytes = len(source)
        fp: Any = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        shown = name or str(path)
        if not path.is_file():
            raise DataError(f"{shown}: file not found")
        nbytes = path.stat().st_size
        fp = path
    if nbytes == 0:
        raise DataError(f"{shown}: unreadable: empty file (0 bytes)")
    if Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
        # The user asked for more than Pillow's own threshold: raise it to match (process-wide).
        Image.MAX_IMAGE_PIXELS = limit
    with warnings.catch_warnings():
        # Pillow warns above its threshold; the limit below decides instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(fp)
        except Image.DecompressionBombError as exc:  # more than twice Pillow's threshold
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            with open(fp, "rb") if isinstance(fp, Path) else contextlib.nullcontext(fp) as handle:
                size = _header_size(handle)
            pixels = size[0] * size[1] if size else int(claimed.group(1)) if claimed else limit + 1
            raise _too_large(shown, size, pixels, limit, explicit) from None
        except UnidentifiedImageError:
            kind = _claimed_format(fp)
            what = f"a corrupt {kind} file (its header cannot be parsed)" if kind else "not an image"
            raise DataError(f"{shown}: unreadable: {what}; paintscape reads JPEG, PNG, WebP and BMP files") from None
        except _UNREADABLE as exc:
            raise DataError(f"{shown}: unreadable: truncated or corrupt file ({exc})") from None
        width, height = image.size
        if width * height > limit:
            image.close()
            raise _too_large(shown, (width, height), width * height, limit, explicit)
        try:
            image.load()  # decode now so a truncated file fails here, naming the file
        except _UNREADABLE as exc:
            image.close()
            raise DataError(f"{shown}: unreadable: truncated or corrupt file ({exc})") from None
    return image


def read_image(source: ImageSource, *, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
    """A photo as ``(H, W, 3)`` uint8 RGB (grayscale and RGBA photos are converted)."""
    with open_image(source, name=name, max_pixels=max_pixels) as image:
        return np.asarray(image.convert("RGB"))


def image_size(source: ImageSource, *, name: str | None = None, max_pixels: int | None = None) -> tuple[int, int]:
    """``(H, W)`` of an image after fully decoding it (so a truncated file is caught)."""
    with open_image(source, name=name, max_pixels=max_pixels) as image:
        return image.size[1], image.size[0]


def _label_values(image: Image.Image, shown: str, table: ClassTable = LANDSCAPE29) -> np.ndarray:
    """Stored label values ``(H, W)`` in the narrowest dtype they come in (uint8, uint16 or int32);
    an RGB(A) map is decoded through ``table``'s colours."""
    if image.mode in ("L", "P"):
        # "P" files written by tools that store class ids as palette indices (e.g. ADE/VOC style).
        return np.asarray(image, dtype=np.uint8)
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image).astype(np.uint16, copy=False)
    if image.mode == "I":
        return np.asarray(image).astype(np.int32, copy=False)
    if image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"))
        gray = None
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            gray = np.ascontiguousarray(rgb[..., 0])
            if not invalid_label_values(gray, table.num_classes):
                return gray  # grayscale ids saved as RGB
        try:  # colours of the table's palette (gray ones too: ADE20K's wall is [120, 120, 120])
            return decode(rgb, source=shown, palette=table.palette_array).astype(np.uint8)
        except LabelError as exc:
            if gray is not None:
                return gray  # gray ids after all: the caller names the values outside the table
            raise DataError(str(exc)) from None
    if image.mode == "LA":
        return np.ascontiguousarray(np.asarray(image)[..., 0])
    raise DataError(f"{shown}: label maps must be grayscale (8 or 16 bit) or palette RGB PNGs, got mode {image.mode}")


def read_label_raw(
    source: ImageSource, *, name: str | None = None, max_pixels: int | None = None, table: ClassTable = LANDSCAPE29
) -> np.ndarray:
    """Raw label values ``(H, W)`` as int32, before any range check.

    Grayscale 8-bit (L), 16-bit (I;16 / I) and palette-indexed (P) PNGs keep their stored values
    (the track's published label maps are 16-bit); RGB(A) PNGs are decoded through ``table``'s colours.
    """
    shown = name or (str(source) if not isinstance(source, bytes | bytearray | memoryview) else "label map")
    with open_image(source, name=shown, max_pixels=max_pixels) as image:
        return _label_values(image, shown, table).astype(np.int32)


def invalid_label_values(label: np.ndarray, num_classes: int = NUM_CLASSES) -> dict[int, int]:
    """Values that are neither a class id (``0..num_classes-1``) nor IGNORE_INDEX, with their pixel counts."""
    if label.size == 0 or (label.min() >= 0 and label.max() < num_classes):
        return {}  # the common case, without a temporary as large as the map
    bad = ((label < 0) | (label >= num_classes)) & (label != IGNORE_INDEX)
    if not bad.any():
        return {}
    values, counts = np.unique(label[bad], return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def outside_table_message(bad: dict[int, int], table: ClassTable = LANDSCAPE29) -> str:
    """``label ids outside 0..N-1: V (C px), ...`` and what to do about them (``bad``: :func:`invalid_label_values`)."""
    described = ", ".join(f"{v} ({c} px)" for v, c in sorted(bad.items())[:8])
    more = f" and {len(bad) - 8} more values" if len(bad) > 8 else ""
    return f"label ids outside 0..{table.num_classes - 1}: {described}{more}. {table.outside_hint(sorted(bad))}"


def read_label(
    source: ImageSource, *, name: str | None = None, max_pixels: int | None = None, table: ClassTable = LANDSCAPE29
) -> np.ndarray:
    """Class ids ``(H, W)`` uint8 of ``table`` (default: the 29 landscape classes); values outside
    its ids (other than 255, ignore) are an error naming the file.

    ``source`` is a path or the file's bytes (then ``name`` is how messages call it).
    """
    shown = name or (str(source) if not isinstance(source, bytes | bytearray | memoryview) else "label map")
    with open_image(source, name=shown, max_pixels=max_pixels) as image:
        raw = _label_values(image, shown, table)
    bad = invalid_label_values(raw, table.num_classes)
    if bad:
        raise DataError(f"{shown}: {outside_table_message(bad, table)}")
    return raw.astype(np.uint8, copy=False)


def find_image(images_dir: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = images_dir / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def list_stems(directory: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """``{stem: path}`` for files with one of ``suffixes``, sorted by stem."""
    if not directory.is_dir():
        return {}
    found = {
        p.stem: p
        for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    }
    return dict(sorted(found.items()))


def read_subset(path: str | Path) -> list[str]:
    """Names listed one per line (blank lines and ``#`` comments skipped; file suffixes dropped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"subset file {path} not found")
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(Path(line).stem)
    if not names:
        raise DataError(f"subset file {path} lists no names")
    return names
