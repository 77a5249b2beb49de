"""``paintscape convert-labels SRC DST --from ade20k|coco-stuff``: another dataset's label maps onto
the 29 landscape classes, with the mapping tables of :mod:`paintscape.labels`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from paintscape.data.io import LABEL_SUFFIXES, DataError, list_stems, read_label_raw
from paintscape.io_atomic import atomic_save_image
from paintscape.labels import LabelError, from_ade20k, from_coco_stuff

#: Source dataset -> its mapping onto the landscape classes (file values as the dataset stores them).
MAPPINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"ade20k": from_ade20k, "coco-stuff": from_coco_stuff}


def convert_label_folder(src: str | Path, dst: str | Path, source: str, progress: bool = False) -> list[Path]:
    """Map every label map of ``src`` onto the landscape classes, as 8-bit PNGs of the same names in ``dst``."""
    if source not in MAPPINGS:
        raise ValueError(f"--from must be one of {', '.join(MAPPINGS)}, got {source!r}")
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
            mapped = MAPPINGS[source](raw.astype(np.uint8))
        except LabelError as exc:
            raise DataError(f"{path}: {exc}") from None
        out = dst / f"{path.stem}.png"
        atomic_save_image(out, Image.fromarray(mapped.astype(np.uint8), mode="L"))
        written.append(out)
    return written
