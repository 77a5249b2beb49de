"""Label maps in a folder -> photos in a folder (and a submission archive)."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader

from paintscape.data.dataset import LabelFolder
from paintscape.data.io import read_image, read_label
from paintscape.data.transforms import tensor_to_image
from paintscape.inference.painter import Painter, StyleRequired
from paintscape.io_atomic import atomic_save_image, atomic_write


def image_seed(base: int, name: str, sample: int) -> int:
    """A stable seed per (run seed, image name, sample index), independent of batching and order."""
    return zlib.crc32(f"{base}:{name}:{sample}".encode()) & 0x7FFFFFFF


def output_path(out_dir: Path, name: str, sample: int, samples: int, suffix: str) -> Path:
    return (out_dir / f"{name}{suffix}") if samples == 1 else (out_dir / f"sample_{sample}" / f"{name}{suffix}")


def _collate(items: list[dict]) -> dict:
    batch = {"label": torch.stack([i["label"] for i in items]), "name": [i["name"] for i in items]}
    if all("style" in i for i in items):
        batch["style"] = torch.stack([i["style"] for i in items])
    elif any("style" in i for i in items):
        batch["style_partial"] = True
    return batch


def generate_folder(
    painter: Painter,
    labels_dir: str | Path,
    out_dir: str | Path,
    styles: dict[str, Path] | None = None,
    samples: int = 1,
    seed: int = 0,
    batch_size: int = 8,
    suffix: str = ".jpg",
    workers: int = 0,
    progress: bool = True,
) -> list[Path]:
    """Render every label map of ``labels_dir`` into ``out_dir`` at the model's size.

    ``samples > 1`` writes ``out_dir/sample_K/NAME.jpg`` for K in 0..samples-1.
    """
    if samples < 1:
        raise ValueError(f"--samples must be at least 1, got {samples}")
    dataset = LabelFolder(labels_dir, painter.size, styles, table=painter.table)
    if painter.uses_style:
        missing = [n for n in dataset.names if n not in (styles or {})]
        if missing:
            raise StyleRequired(f"this model has a style stream: {len(missing)} label maps have no reference photo in --style, e.g. {missing[:3]}")
    check_inputs(dataset)
    out_dir = Path(out_dir)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=_collate)
    written: list[Path] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset) * samples, desc="generate", unit="img", dynamic_ncols=True)
    for batch in loader:
        if batch.get("style_partial"):  # mixed batch: render one by one so each gets its own style
            raise ValueError("some label maps of a batch have a reference photo and some do not; give --style for all or none (or --batch-size 1)")
        for k in range(samples):
            seeds = [image_seed(seed, name, k) for name in batch["name"]]
            photos = painter.render(batch["label"], batch.get("style"), seeds)
            for name, photo in zip(batch["name"], photos):
                path = output_path(out_dir, name, k, samples, suffix)
                atomic_save_image(path, Image.fromarray(tensor_to_image(photo)), **({"quality": 95} if suffix in (".jpg", ".jpeg") else {}))
                written.append(path)
            if bar is not None:
                bar.update(len(batch["name"]))
    if bar is not None:
        bar.close()
    return written


def check_inputs(dataset: LabelFolder) -> None:
    """Read every label map and reference photo once before anything is rendered: a bad file is one
    error naming it, and no output folder is left half written."""
    for path in dataset.paths:
        read_label(path, table=dataset.table)
    for name in dataset.names:
        if name in dataset.styles:
            read_image(dataset.styles[name])


def write_archive(files: Iterable[Path], root: str | Path, archive: str | Path) -> Path:
    """A zip of ``files`` with names relative to ``root``, written atomically."""
    root = Path(root)
    files = sorted(Path(f) for f in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:  # JPEGs do not compress
        for path in files:
            zf.write(path, arcname=str(path.relative_to(root)))
    atomic_write(archive, lambda handle: handle.write(buffer.getvalue()))
    return Path(archive)
