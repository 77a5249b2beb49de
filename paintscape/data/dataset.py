"""Datasets in the track's format: ``ROOT/imgs/NAME.jpg`` + ``ROOT/labels/NAME.png`` (training) and
``labels/`` alone with an optional JSON of reference photos (test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from paintscape.class_table import LANDSCAPE29, ClassTable, dataset_class_table
from paintscape.data.io import (
    IMAGE_SUFFIXES,
    LABEL_SUFFIXES,
    DataError,
    find_image,
    list_stems,
    read_image,
    read_label,
    read_subset,
)
from paintscape.data.transforms import PairedTransform, image_to_tensor, resize_image, resize_label


def paired_names(root: str | Path, subset: str | Path | None = None) -> list[str]:
    """Names that have both a photo and a label (restricted to ``subset`` when given)."""
    root = Path(root)
    images, labels = root / "imgs", root / "labels"
    for folder in (images, labels):
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found; a dataset holds imgs/NAME.jpg and labels/NAME.png")
    image_stems = list_stems(images, IMAGE_SUFFIXES)
    label_stems = list_stems(labels, LABEL_SUFFIXES)
    names = sorted(set(image_stems) & set(label_stems))
    if subset is not None:
        wanted = read_subset(subset)
        missing = [n for n in wanted if n not in image_stems or n not in label_stems]
        if missing:
            raise DataError(f"subset file {subset}: {len(missing)} names have no photo+label pair in {root}, e.g. {missing[:3]}")
        names = sorted(set(wanted))
    if not names:
        raise DataError(f"{root}: no photo/label pairs found (imgs/ has {len(image_stems)} files, labels/ has {len(label_stems)})")
    return names


class PairedFolder(Dataset):
    """Photo/label pairs. Items: ``{"image": (3,H,W) float [-1,1], "label": (H,W) long, "name": str}``.

    Augmentation randomness comes from ``(seed, epoch, index)``, so a resumed run sees the same
    crops and flips as an uninterrupted one whatever the number of loader workers. Label ids are
    those of ``table`` (default: the dataset's, ``ROOT/classes.yaml`` or the landscape classes).
    """

    def __init__(
        self,
        root: str | Path,
        size: tuple[int, int],
        subset: str | Path | None = None,
        names: list[str] | None = None,
        train: bool = False,
        load_size: tuple[int, int] | None = None,
        flip: bool = True,
        seed: int = 0,
        table: ClassTable | None = None,
    ) -> None:
        self.root = Path(root)
        self.table = dataset_class_table(self.root) if table is None else table
        self.names = list(names) if names is not None else paired_names(self.root, subset)
        self.size = tuple(size)
        self.transform = PairedTransform(self.size, load_size, flip=flip, train=train)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.names)

    def image_path(self, name: str) -> Path:
        path = find_image(self.root / "imgs", name)
        if path is None:
            raise DataError(f"{self.root / 'imgs'}: no photo for {name} (looked for {', '.join(IMAGE_SUFFIXES)})")
        return path

    def label_path(self, name: str) -> Path:
        return self.root / "labels" / f"{name}.png"

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        image = read_image(self.image_path(name))
        label = read_label(self.label_path(name), table=self.table)
        if image.shape[:2] != label.shape:
            # Photos of 1024x768 with 512x384 labels occur in the wild: bring the photo to the label.
            image = resize_image(image, label.shape)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        image, label = self.transform(image, label, rng)
        return {"image": image_to_tensor(image), "label": torch.from_numpy(label.astype(np.int64)), "name": name}


def read_style_map(path: str | Path, style_root: str | Path | None = None) -> dict[str, Path]:
    """``{label stem: reference photo path}`` from a JSON mapping label file -> photo file.

    Relative photo paths are looked up beside the JSON file, then in ``style_root``.
    """
    path = Path(path)
    try:
        mapping = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"style file {path} not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"style file {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"style file {path}: not valid JSON ({exc})") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise DataError(f"style file {path}: expected an object mapping label file -> reference photo file name")
    roots = [path.parent] + ([Path(style_root)] if style_root else [])
    resolved: dict[str, Path] = {}
    missing = []
    for label_file, photo in mapping.items():
        candidates = [Path(photo)] if Path(photo).is_absolute() else [r / photo for r in roots]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            missing.append(photo)
        else:
            resolved[Path(label_file).stem] = found
    if missing:
        where = " or ".join(str(r) for r in roots)
        raise DataError(f"style file {path}: {len(missing)} reference photos not found in {where}, e.g. {missing[:3]}; pass --style-root DIR")
    return resolved


class LabelFolder(Dataset):
    """Label maps alone (a test set), with optional reference photos.

    Items: ``{"label": (H,W) long, "name": str, "size": (h, w) original}`` plus ``"style"`` (3,H,W)
    when a reference photo is mapped to the label map. Label ids are those of ``table`` (the model's).
    """

    def __init__(
        self, labels_dir: str | Path, size: tuple[int, int], styles: dict[str, Path] | None = None, table: ClassTable = LANDSCAPE29
    ) -> None:
        self.labels_dir = Path(labels_dir)
        if not self.labels_dir.is_dir():
            raise DataError(f"{self.labels_dir}: folder of label maps not found")
        self.paths = list(list_stems(self.labels_dir, LABEL_SUFFIXES).values())
        if not self.paths:
            raise DataError(f"{self.labels_dir}: no .png label maps found")
        self.names = [p.stem for p in self.paths]
        self.size = tuple(size)
        self.styles = styles or {}
        self.table = table

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        label = read_label(path, table=self.table)
        item = {
            "label": torch.from_numpy(resize_label(label, self.size).astype(np.int64)),
            "name": path.stem,
            "size": torch.tensor(label.shape),
        }
        style = self.styles.get(path.stem)
        if style is not None:
            item["style"] = image_to_tensor(resize_image(read_image(style), self.size))
        return item
