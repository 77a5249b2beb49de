"""Label-map quality: speckle and tiny fragments, implausible layouts, too many classes.

These are the "obvious segmentation errors and tightly entangled labels" Selection I removed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from paintscape.curation.config import CurationConfig
from paintscape.labels import CLASS_IDS, IGNORE_INDEX, NUM_CLASSES

SKY = CLASS_IDS["sky"]
# Classes that lie on or below the horizon in a landscape: sky above them is the plausible order.
GROUND_CLASSES = tuple(
    CLASS_IDS[n] for n in ("water", "sea", "river", "lake", "sand", "land", "grass", "field", "road", "path", "earth")
)
_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


def measure_label(label: np.ndarray, config: CurationConfig) -> dict[str, float]:
    """Scores of a label map ``(H, W)`` at the work size (see :class:`CurationConfig`)."""
    H, W = label.shape
    valid = label != IGNORE_INDEX
    total = max(int(valid.sum()), 1)
    counts = np.bincount(label[valid].ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
    fractions = counts / total
    present = np.nonzero(fractions >= config.min_class_fraction)[0]
    tiny_pixels = 0
    components = 0
    for cls in np.nonzero(counts)[0]:
        parts, n = ndimage.label(label == cls, structure=_FOUR_CONNECTED)
        sizes = np.bincount(parts.ravel())[1:]
        components += n
        tiny_pixels += int(sizes[sizes < config.min_component_pixels].sum())
    rows = np.arange(H, dtype=np.float64)[:, None] / max(H - 1, 1)
    sky_row = -1.0
    ground_row = -1.0
    sky_top = 1.0
    if fractions[SKY] >= config.min_layout_fraction:
        sky = label == SKY
        sky_row = float((rows * sky).sum() / sky.sum())
        top = max(1, int(round(H * config.sky_top_rows)))
        sky_top = float(sky[:top].mean() > 0) if fractions[SKY] >= config.min_sky_fraction else 1.0
        ground = [c for c in GROUND_CLASSES if fractions[c] >= config.min_layout_fraction]
        if ground:
            # the highest-lying ground/water class: sky should lie above all of them
            ground_row = min(float((rows * (label == c)).sum() / counts[c]) for c in ground)
    return {
        "num_classes": int(len(present)),
        "components": int(components),
        "tiny_fraction": tiny_pixels / total,
        "ignore_fraction": 1.0 - total / label.size if valid.any() else 1.0,
        "sky_row": sky_row,
        "ground_row": ground_row,
        "sky_reaches_top": sky_top,
    }


def label_reasons(scores: dict[str, float], config: CurationConfig) -> list[tuple[str, str]]:
    """``(flag, reason)`` pairs, flags among ``speckle``, ``too_many_classes``, ``layout``; empty when it passes."""
    reasons = []
    if scores["tiny_fraction"] > config.max_tiny_fraction:
        reasons.append(
            (
                "speckle",
                f"speckle: {scores['tiny_fraction']:.1%} of pixels in fragments < {config.min_component_pixels} px (max {config.max_tiny_fraction:.1%})",
            )
        )
    if scores["num_classes"] > config.max_classes:
        reasons.append(("too_many_classes", f"too many classes: {scores['num_classes']} (max {config.max_classes})"))
    if (
        scores["sky_row"] >= 0
        and scores["ground_row"] >= 0
        and scores["sky_row"] > scores["ground_row"] + config.sky_below_margin
    ):
        reasons.append(
            (
                "layout",
                f"implausible layout: sky (mean row {scores['sky_row']:.2f}) below ground/water ({scores['ground_row']:.2f})",
            )
        )
    if scores["sky_reaches_top"] == 0.0:
        reasons.append(
            ("layout", f"implausible layout: large sky region absent from the top {config.sky_top_rows:.0%} of the map")
        )
    return reasons
