"""``check-data``: read every pair once and report each problem with its file and the fact."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paintscape.class_table import CLASSES_FILE, LANDSCAPE29, ClassTable, ClassTableError, dataset_class_table
from paintscape.data.io import (
    IMAGE_SUFFIXES,
    LABEL_SUFFIXES,
    DataError,
    ImageTooLarge,
    image_size,
    invalid_label_values,
    list_stems,
    outside_table_message,
    pixel_limit,
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
    class_names: tuple[str, ...] = CLASS_NAMES  # the dataset's class table (classes.yaml or the landscape 29)
    pixel_counts: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, dtype=np.int64))
    image_counts: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, dtype=np.int64))

    @property
    def ok(self) -> bool:
        return not self.problems

    def class_table(self) -> str:
        """Pixel share and image count per class; a table of over 40 classes lists only those that occur."""
        total = max(int(self.pixel_counts.sum()), 1)
        width = max(10, *(len(n) for n in self.class_names))
        shown = [i for i in range(len(self.class_names)) if len(self.class_names) <= 40 or self.image_counts[i]]
        lines = [f"{'id':>3}  {'class':<{width}} {'pixels':>8}  {'images':>7}"]
        for i in shown:
            name = self.class_names[i]
            lines.append(f"{i:>3}  {name:<{width}} {100 * self.pixel_counts[i] / total:7.2f}%  {int(self.image_counts[i]):>7}")
        if len(shown) < len(self.class_names):
            lines.append(f"({len(shown)} of the table's {len(self.class_names)} classes occur; the others have no pixel)")
        return "\n".join(lines)


def _detail(exc: DataError, path: Path) -> str:
    """The message of a reader's error without its leading ``PATH: `` (a Problem names the file)."""
    message, prefix = str(exc), f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def pair_size_problem(
    image_path: str | Path, photo_size: tuple[int, int], label_path: str | Path, label_size: tuple[int, ...]
) -> Problem | None:
    """Whether a readable photo of ``photo_size`` and a label of ``label_size`` (both H, W) belong together.

    A photo at a multiple of its label's size (1024x768 for 512x384) is fine: the loader resizes it.
    A different aspect ratio means the pair does not belong together; a smaller photo would be
    upscaled into a blurry training target."""
    (ph, pw), (lh, lw) = photo_size, label_size[:2]
    name = Path(label_path).name
    if ph * lw != pw * lh:
        return Problem(str(image_path), f"size mismatch: photo is {pw}x{ph}, label {name} is {lw}x{lh} (WxH)")
    if ph < lh:
        return Problem(
            str(image_path),
            f"photo is {pw}x{ph}, smaller than its label {name} ({lw}x{lh}): it would be upscaled into a blurry training target",
        )
    return None




def _check_pair(image_path: Path, label_path: Path, table: ClassTable = LANDSCAPE29) -> tuple[list[Problem], np.ndarray | None]:
    """The pair's problems, and its raw label values when it has none (for the class statistics)."""
    problems: list[Problem] = []
    photo_size: tuple[int, int] | None = None  # (H, W)
    try:
        photo_size = image_size(image_path)  # decodes the whole photo, so a truncated file is caught
    except ImageTooLarge as exc:
        problems.append(Problem(str(image_path), _detail(exc, image_path)))
    except DataError as exc:
        detail = _detail(exc, image_path).removeprefix("unreadable: ")
        problems.append(Problem(str(image_path), f"unreadable or corrupt photo: {detail}"))
    label: np.ndarray | None = None
    try:
        label = read_label_raw(label_path, table=table)
    except DataError as exc:
        problems.append(Problem(str(label_path), _detail(exc, label_path)))
    if label is not None:
        bad = invalid_label_values(label, table.num_classes)
        if bad:
            problems.append(Problem(str(label_path), outside_table_message(bad, table)))
    if photo_size is not None and label is not None:
        mismatch = pair_size_problem(image_path, photo_size, label_path, label.shape)
        if mismatch is not None:
            problems.append(mismatch)
    return problems, (label if not problems else None)


def check_pair(image_path: str | Path, label_path: str | Path, table: ClassTable = LANDSCAPE29) -> list[Problem]:
    """Every problem of one photo/label pair (empty when the pair is fit for training).

    The checks ``check-data`` applies: each file readable and within the pixel limit, label values
    ids of ``table`` (0..28 for the landscape classes) or 255, photo and label of the same aspect
    ratio, the photo not smaller than its label.
    """
    return _check_pair(Path(image_path), Path(label_path), table)[0]


def check_dataset(root: str | Path, subset: str | Path | None = None, progress: Iterable | None = None) -> DataReport:
    """Check ``root/imgs`` + ``root/labels``; ``progress`` wraps the name list (e.g. tqdm)."""
    root = Path(root)
    pixel_limit()  # a bad PAINTSCAPE_MAX_PIXELS is one error up front, not one per pair
    report = DataReport(str(root))
    try:
        table = dataset_class_table(root)
    except ClassTableError as exc:
        report.problems.append(Problem(str(root / CLASSES_FILE), str(exc).removeprefix(f"{root / CLASSES_FILE}: ")))
        return report
    report.class_names = table.names
    report.pixel_counts = np.zeros(table.num_classes, dtype=np.int64)
    report.image_counts = np.zeros(table.num_classes, dtype=np.int64)
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
        problems, label = _check_pair(image_path, label_path, table)
        report.problems.extend(problems)
        if label is not None:
            report.pairs += 1
            counts = np.bincount(label[label < table.num_classes].ravel(), minlength=table.num_classes)[: table.num_classes]
            report.pixel_counts += counts
            report.image_counts += counts > 0
    return report
