"""``check-data``: read every pair once and report each problem with its file and the fact."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from paintscape.data.io import (
    IMAGE_SUFFIXES,
    LABEL_SUFFIXES,
    DataError,
    invalid_label_values,
    list_stems,
    read_label_raw,
    read_subset,
)
from paintscape.labels import CLASS_NAMES, NUM_CLASSES


@dataclass
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class DataReport:
    root: str
    pairs: int = 0
    problems: list[Problem] = field(default_factory=list)
    pixel_counts: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, dtype=np.int64))
    image_counts: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, dtype=np.int64))

    @property
    def ok(self) -> bool:
        return not self.problems

    def class_table(self) -> str:
        total = max(int(self.pixel_counts.sum()), 1)
        lines = [f"{'id':>3}  {'class':<10} {'pixels':>8}  {'images':>7}"]
        for i, name in enumerate(CLASS_NAMES):
            lines.append(f"{i:>3}  {name:<10} {100 * self.pixel_counts[i] / total:7.2f}%  {int(self.image_counts[i]):>7}")
        return "\n".join(lines)


def _image_size(path: Path) -> tuple[int, int]:
    """(H, W) of a photo after fully decoding it (catches truncated JPEGs)."""
    with Image.open(path) as image:
        image.load()
        return image.size[1], image.size[0]


def check_dataset(root: str | Path, subset: str | Path | None = None, progress: Iterable | None = None) -> DataReport:
    """Check ``root/imgs`` + ``root/labels``; ``progress`` wraps the name list (e.g. tqdm)."""
    root = Path(root)
    report = DataReport(str(root))
    images_dir, labels_dir = root / "imgs", root / "labels"
    for folder in (images_dir, labels_dir):
        if not folder.is_dir():
            report.problems.append(Problem(str(folder), "folder not found (a dataset holds imgs/NAME.jpg and labels/NAME.png)"))
    if report.problems:
        return report
    images = list_stems(images_dir, IMAGE_SUFFIXES)
    labels = list_stems(labels_dir, LABEL_SUFFIXES)
    if not images and not labels:
        report.problems.append(Problem(str(root), "empty dataset: imgs/ and labels/ hold no files"))
        return report
    names = sorted(set(images) | set(labels))
    if subset is not None:
        try:
            names = read_subset(subset)
        except DataError as exc:
            report.problems.append(Problem(str(subset), str(exc)))
            return report
    for folder, files in ((images_dir, images), (labels_dir, labels)):
        if not files:
            report.problems.append(Problem(str(folder), "empty folder"))
    wrap = progress if progress is not None else (lambda x: x)
    for name in wrap(names):
        image_path, label_path = images.get(name), labels.get(name)
        if image_path is None:
            report.problems.append(Problem(str(labels_dir / f"{name}.png"), f"missing partner: no photo {name}.jpg in {images_dir}"))
        if label_path is None:
            shown = image_path or images_dir / name
            report.problems.append(Problem(str(shown), f"missing partner: no label {name}.png in {labels_dir}"))
        if image_path is None or label_path is None:
            continue
        ok = True
        try:
            image_size = _image_size(image_path)
        except Exception as exc:  # PIL raises many kinds for corrupt files
            report.problems.append(Problem(str(image_path), f"unreadable or corrupt photo ({exc})"))
            ok = False
        try:
            label = read_label_raw(label_path)
        except DataError as exc:
            message = str(exc)
            prefix = f"{label_path}: "
            report.problems.append(Problem(str(label_path), message[len(prefix):] if message.startswith(prefix) else message))
            continue
        bad = invalid_label_values(label)
        if bad:
            described = ", ".join(f"{v} ({c} px)" for v, c in sorted(bad.items()))
            report.problems.append(Problem(str(label_path), f"label ids outside 0..{NUM_CLASSES - 1}: {described}"))
            ok = False
        # A photo at a multiple of its label's size (1024x768 for 512x384) is fine: the loader
        # resizes it. A different aspect ratio means the pair does not belong together.
        same_aspect = image_size[0] * label.shape[1] == image_size[1] * label.shape[0]
        if ok and image_size != label.shape and not same_aspect:
            report.problems.append(Problem(str(image_path), f"size mismatch: photo is {image_size[1]}x{image_size[0]}, label {label_path.name} is {label.shape[1]}x{label.shape[0]} (WxH)"))
            ok = False
        if ok:
            report.pairs += 1
            counts = np.bincount(label[label < NUM_CLASSES].ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
            report.pixel_counts += counts
            report.image_counts += counts > 0
    return report
