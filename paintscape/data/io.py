"""Reading photos and label maps in the formats the track and its users actually have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from paintscape.labels import IGNORE_INDEX, NUM_CLASSES, LabelError, decode

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LABEL_SUFFIXES = (".png",)


class DataError(ValueError):
    """A data file is missing, unreadable or not in the expected format; the message names it."""


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        image = Image.open(path)
        image.load()  # decode now so a truncated file fails here, naming the file
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: unreadable or corrupt image ({exc})") from None
    return image


def read_image(path: str | Path) -> np.ndarray:
    """A photo as ``(H, W, 3)`` uint8 RGB (grayscale and RGBA photos are converted)."""
    return np.asarray(_open(Path(path)).convert("RGB"))


def read_label_raw(path: str | Path) -> np.ndarray:
    """Raw label values ``(H, W)`` as int32, before any range check.

    Grayscale 8-bit (L), 16-bit (I;16 / I) and palette-indexed (P) PNGs keep their stored values
    (the track's published label maps are 16-bit); RGB(A) PNGs are decoded through the palette.
    """
    path = Path(path)
    image = _open(path)
    if image.mode in ("L", "P"):
        # "P" files written by tools that store class ids as palette indices (e.g. ADE/VOC style).
        return np.asarray(image, dtype=np.uint8).astype(np.int32)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image).astype(np.int32)
    if image.mode in ("RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"))
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return rgb[..., 0].astype(np.int32)  # grayscale ids saved as RGB
        try:
            return decode(rgb, source=str(path)).astype(np.int32)
        except LabelError as exc:
            raise DataError(str(exc)) from None
    if image.mode == "LA":
        return np.asarray(image)[..., 0].astype(np.int32)
    raise DataError(f"{path}: label maps must be grayscale (8 or 16 bit) or palette RGB PNGs, got mode {image.mode}")


def invalid_label_values(label: np.ndarray) -> dict[int, int]:
    """Values that are neither a class id nor IGNORE_INDEX, with their pixel counts."""
    values, counts = np.unique(label, return_counts=True)
    bad = (values >= NUM_CLASSES) & (values != IGNORE_INDEX) | (values < 0)
    return {int(v): int(c) for v, c in zip(values[bad], counts[bad])}


def read_label(path: str | Path) -> np.ndarray:
    """Class ids ``(H, W)`` uint8; values outside 0..28 (other than 255, ignore) are an error."""
    raw = read_label_raw(path)
    bad = invalid_label_values(raw)
    if bad:
        described = ", ".join(f"{v} ({c} px)" for v, c in sorted(bad.items())[:8])
        raise DataError(
            f"{path}: label ids outside 0..{NUM_CLASSES - 1}: {described}. "
            "The landscape track uses 29 classes; remap other datasets with paintscape.labels.from_ade20k / from_coco_stuff."
        )
    return raw.astype(np.uint8)


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
    found = {p.stem: p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")}
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
