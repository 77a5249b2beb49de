"""Shared fixtures: small datasets made in the test, never downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def write_pair(root: Path, name: str, label: np.ndarray, photo: np.ndarray | None = None, suffix: str = ".jpg") -> None:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    if photo is None:
        rng = np.random.default_rng(abs(hash(name)) % 2**32)
        photo = rng.integers(0, 255, (*label.shape, 3), dtype=np.uint8)
    Image.fromarray(photo).save(root / "imgs" / f"{name}{suffix}")
    Image.fromarray(label.astype(np.uint8)).save(root / "labels" / f"{name}.png")


def striped_label(height: int = 24, width: int = 32, classes: tuple[int, ...] = (1, 0, 3)) -> np.ndarray:
    """Horizontal bands of the given classes (sky over mountain over sea by default)."""
    label = np.zeros((height, width), dtype=np.uint8)
    bands = np.array_split(np.arange(height), len(classes))
    for cls, rows in zip(classes, bands):
        label[rows] = cls
    return label


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for i in range(4):
        write_pair(root, f"img{i}", striped_label(classes=(1, 0, 3 + i)))
    return root


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata not present")
    return REALDATA
