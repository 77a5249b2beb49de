"""Read one photo/label pair at the reduced work size and measure everything the detectors need.

Runs in pool workers: it returns small arrays only (scores, a coarse feature grid, a layout vector,
a thumbnail), never the full-size pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from paintscape.curation.agreement import appearance_features, boundary_alignment
from paintscape.curation.config import CurationConfig
from paintscape.curation.duplicates import layout_descriptor, photo_thumbnail
from paintscape.curation.exposure import measure_exposure
from paintscape.curation.label_quality import measure_label
from paintscape.data.check import pair_size_problem
from paintscape.data.io import DataError, find_image, read_image, read_label

THUMBNAIL_GRID = (12, 16)


@dataclass
class PairMeasurement:
    name: str
    scores: dict[str, float] = field(default_factory=dict)
    features: np.ndarray | None = None  # (h*w, D) float16 appearance features on the appearance grid
    grid_labels: np.ndarray | None = None  # (h*w,) uint8 labels on the appearance grid
    layout: np.ndarray | None = None  # (C*gh*gw,) float16 unit-length occupancy vector
    thumbnail: np.ndarray | None = None  # (12, 16, 3) uint8
    error: str | None = None  # a pair that cannot be measured: the message
    error_flag: str = "unreadable"  # its flag: "unreadable" or "mismatched" (check-data's pair checks)


class PairMismatch(DataError):
    """A photo and a label, each readable, that do not belong together (see ``pair_size_problem``)."""


def read_pair(root: Path, name: str, check_sizes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Photo and label at full size, held to ``check-data``'s rules: each readable and within the
    pixel limit, label ids valid, the two of matching sizes (:class:`PairMismatch` otherwise;
    ``check_sizes=False`` to picture a mismatched pair anyway)."""
    image_path = find_image(root / "imgs", name)
    if image_path is None:
        raise DataError(f"{root / 'imgs'}: no photo for {name}")
    label_path = root / "labels" / f"{name}.png"
    photo = read_image(image_path)
    label = read_label(label_path)
    problem = pair_size_problem(image_path, photo.shape[:2], label_path, label.shape)
    if problem is not None and check_sizes:
        raise PairMismatch(str(problem))
    return photo, label


def load_pair(root: Path, name: str, size: tuple[int, int], check_sizes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Photo ``(h, w, 3)`` (area-averaged) and label ``(h, w)`` (nearest) at ``size`` = (h, w)."""
    photo, label = read_pair(root, name, check_sizes)
    h, w = size
    photo = np.asarray(Image.fromarray(photo).resize((w, h), Image.BOX))
    label = np.asarray(Image.fromarray(label).resize((w, h), Image.NEAREST))
    return photo, label


def measure_pair(args: tuple[str, str, CurationConfig]) -> PairMeasurement:
    root, name, config = args
    try:
        photo, label = load_pair(Path(root), name, config.work_size)
    except PairMismatch as exc:
        return PairMeasurement(name, error=str(exc), error_flag="mismatched")
    except (DataError, OSError, ValueError) as exc:
        return PairMeasurement(name, error=str(exc))
    scores = {**measure_label(label, config), **measure_exposure(photo, label, config)}
    scores["boundary_alignment"], scores["region_alignment"] = boundary_alignment(
        photo, label, config.min_region_fraction
    )
    features, grid_labels = appearance_features(photo, label, config.appearance_grid)
    return PairMeasurement(
        name,
        scores=scores,
        features=features,
        grid_labels=grid_labels,
        layout=layout_descriptor(label, config.duplicate_grid),
        thumbnail=photo_thumbnail(photo, THUMBNAIL_GRID),
    )
