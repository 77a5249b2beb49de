"""Photo exposure: backlit (bright sky over a dark ground, or a bright spot over a dark foreground),
under- and over-exposed photos (mean luminance, clipped pixels). Selection II removed backlit photos."""

from __future__ import annotations

import numpy as np

from paintscape.curation.config import CurationConfig
from paintscape.labels import CLASS_IDS

SKY = CLASS_IDS["sky"]
#: The flags of this detector (badly exposed photos: other detectors judge them more leniently).
EXPOSURE_FLAGS = ("backlit", "underexposed", "overexposed")


def luminance(photo: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of ``(H, W, 3)`` uint8 RGB, in ``[0, 1]``."""
    rgb = photo.astype(np.float32) * np.float32(1 / 255)
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def measure_exposure(photo: np.ndarray, label: np.ndarray, config: CurationConfig) -> dict[str, float]:
    """Exposure scores of a photo ``(H, W, 3)`` with its label map ``(H, W)`` at the work size."""
    Y = luminance(photo)
    H = Y.shape[0]
    sky = label == SKY
    has_sky = sky.mean() >= config.min_layout_fraction and (~sky).mean() >= config.min_layout_fraction
    sky_lum = float(Y[sky].mean()) if has_sky else -1.0
    ground_lum = float(Y[~sky].mean()) if has_sky else float(Y[H // 2 :].mean())
    return {
        "mean_luminance": float(Y.mean()),
        "dark_fraction": float((Y <= 0.02).mean()),
        "bright_fraction": float((Y >= 0.98).mean()),
        "sky_luminance": sky_lum,
        "ground_luminance": ground_lum,
        "backlit_ratio": sky_lum / max(ground_lum, 0.02) if has_sky else -1.0,
        "bright_spot": float(np.percentile(Y, 99)),
        "foreground_median": float(np.median(Y[H // 2 :])),
    }


def exposure_reasons(scores: dict[str, float], config: CurationConfig) -> list[tuple[str, str]]:
    """``(flag, reason)`` pairs, flags among :data:`EXPOSURE_FLAGS`; empty when the photo passes."""
    out = {}
    if scores["backlit_ratio"] >= config.backlit_ratio and scores["ground_luminance"] <= config.backlit_ground_max:
        out["backlit"] = (
            f"backlit: sky {scores['backlit_ratio']:.1f}x brighter than the ground (>= {config.backlit_ratio}), "
            f"ground luminance {scores['ground_luminance']:.2f}"
        )
    elif (
        scores["backlit_ratio"] < 0
        and scores["bright_spot"] >= config.spot_luminance
        and scores["foreground_median"] <= config.spot_ground_max
    ):
        out["backlit"] = (
            f"backlit: bright spot ({scores['bright_spot']:.2f}) over a dark foreground ({scores['foreground_median']:.2f})"
        )
    if scores["mean_luminance"] < config.underexposed_mean or scores["dark_fraction"] > config.max_clipped_fraction:
        out["underexposed"] = (
            f"under-exposed: mean luminance {scores['mean_luminance']:.2f} (min {config.underexposed_mean}), "
            f"{scores['dark_fraction']:.0%} black"
        )
    if scores["mean_luminance"] > config.overexposed_mean or scores["bright_fraction"] > config.max_clipped_fraction:
        out["overexposed"] = (
            f"over-exposed: mean luminance {scores['mean_luminance']:.2f} (max {config.overexposed_mean}), "
            f"{scores['bright_fraction']:.0%} clipped white"
        )
    return list(out.items())
