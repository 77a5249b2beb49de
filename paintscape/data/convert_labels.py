"""``paintscape convert-labels SRC DST --from ade20k|coco-stuff [--to TABLE]``: another dataset's label
maps onto the 29 landscape classes (the mapping tables of :mod:`paintscape.labels`), or onto the ids
of that dataset's own built-in class table (``ade20k150``, ``cocostuff182``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from paintscape.data.io import LABEL_SUFFIXES, DataError, list_stems, read_label_raw
from paintscape.io_atomic import atomic_save_image
from paintscape.labels import IGNORE_INDEX, LabelError, from_ade20k, from_coco_stuff


def ade20k_to_table(label: np.ndarray) -> np.ndarray:
    """ADE20K file values (0 unlabelled, 1..150) -> ``ade20k150`` ids (0..149, 255 ignore)."""
    label = np.asarray(label)
    if label.size and label.max() > 150:
        raise LabelError(f"ADE20K label values lie in 0..150, got {int(label.max())}")
    lut = np.arange(151, dtype=np.int64) - 1  # file value v -> id v - 1
    lut[0] = IGNORE_INDEX
    return lut[label].astype(np.uint8)


def coco_stuff_to_table(label: np.ndarray) -> np.ndarray:
    """COCO-Stuff file values (id - 1: 0..181, 255 unlabelled) are ``cocostuff182`` ids already: checked, kept."""
    label = np.asarray(label)
    bad = (label > 181) & (label != IGNORE_INDEX)
    if bad.any():
        raise LabelError(f"COCO-Stuff label values lie in 0..181 and 255, got {sorted(np.unique(label[bad]).tolist())[:5]}")
    return label.astype(np.uint8)


#: (source dataset, target class table) -> the map from the file values the source stores to the table's ids.
CONVERSIONS: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {
    ("ade20k", "landscape29"): from_ade20k,
    ("ade20k", "ade20k150"): ade20k_to_table,
    ("coco-stuff", "landscape29"): from_coco_stuff,
    ("coco-stuff", "cocostuff182"): coco_stuff_to_table,
}
SOURCES = tuple(dict.fromkeys(source for source, _ in CONVERSIONS))
TARGETS = tuple(dict.fromkeys(target for _, target in CONVERSIONS))


def convert_label_folder(src: str | Path, dst: str | Path, source: str, target: str = "landscape29", progress: bool = False) -> list[Path]:
    """Map every label map of ``src`` (as ``source`` stores it) onto the ids of the class table ``target``,
    as 8-bit PNGs of the same names in ``dst``."""
    if source not in SOURCES:
        raise ValueError(f"--from must be one of {', '.join(SOURCES)}, got {source!r}")
    if (source, target) not in CONVERSIONS:
        targets = [t for s, t in CONVERSIONS if s == source]
        raise ValueError(f"--from {source} converts to {' or '.join(targets)}, not {target!r}")
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise DataError(f"{src}: folder of label maps not found")
    files = list(list_stems(src, LABEL_SUFFIXES).values())
    if not files:
        raise DataError(f"{src}: no .png label maps found")
    if dst.resolve() == src.resolve():
        raise ValueError(f"{dst}: write the converted maps to another folder than the source")
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc="convert-labels", unit="map", leave=False)
    written = []
    for path in files:
        raw = read_label_raw(path)
        if raw.min() < 0 or raw.max() > 255:
            raise DataError(f"{path}: values {int(raw.min())}..{int(raw.max())} are not {source} label ids")
        try:
            mapped = CONVERSIONS[source, target](raw.astype(np.uint8))
        except LabelError as exc:
            raise DataError(f"{path}: {exc}") from None
        out = dst / f"{path.stem}.png"
        atomic_save_image(out, Image.fromarray(mapped.astype(np.uint8), mode="L"))
        written.append(out)
    return written
