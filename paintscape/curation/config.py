"""Thresholds of the curation detectors: a frozen dataclass, loadable from YAML (paintscape/configs/curate.yaml).

Pixel counts and sizes refer to the reduced ``work_size`` every pair is measured at, so the same
thresholds hold for 512x384 and 1024x768 datasets. Luminance is Rec. 601 luma in ``[0, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paintscape.config import ConfigError, load_dataclass, read_yaml_mapping


@dataclass(frozen=True)
class CurationConfig:
    work_size: tuple[int, int] = (96, 128)  # (height, width) every pair is measured at

    # label quality (Selection I)
    min_component_pixels: int = 4  # a connected piece of a class smaller than this is a "tiny fragment"
    max_tiny_fraction: float = 0.01  # flag when more of the map than this lies in tiny fragments
    min_class_fraction: float = 0.002  # a class covering less than this is not counted as present
    max_classes: int = 14  # flag maps with more classes present (tightly entangled labels)
    sky_below_margin: float = 0.08  # flag sky whose mean row lies this far (fraction of H) below ground/water
    min_layout_fraction: float = 0.02  # classes smaller than this do not take part in the layout check
    sky_top_rows: float = 0.25  # flag a big sky region (>= min_sky_fraction) that never reaches this top part
    min_sky_fraction: float = 0.1

    # exposure (Selection II)
    underexposed_mean: float = 0.08  # mean luminance below this -> under-exposed
    overexposed_mean: float = 0.85  # mean luminance above this -> over-exposed
    max_clipped_fraction: float = 0.35  # pixels at >= 0.98 luminance (or <= 0.02) above this -> clipped
    backlit_ratio: float = 3.0  # mean sky luminance / mean non-sky luminance at or above this ...
    backlit_ground_max: float = 0.25  # ... with the non-sky part this dark -> backlit
    spot_luminance: float = 0.97  # maps without sky: a bright spot (99th percentile) this bright ...
    spot_ground_max: float = 0.12  # ... over a lower half this dark (median) -> backlit

    # label/photo disagreement (Selection I)
    appearance_grid: tuple[int, int] = (48, 64)  # pixels compared against the per-class statistics
    boundary_min_ratio: float = 1.4  # flag when label boundaries are on edges less than this x mean gradient
    region_boundary_min_ratio: float = 0.7  # flag when a large region's boundary is weaker than this
    min_region_fraction: float = 0.03  # regions smaller than this share of the map are not judged alone
    likelihood_margin: float = 3.0  # nats by which another class must explain a pixel better
    min_class_pixels: int = 200  # classes with fewer pixels in the whole dataset are not modelled
    appearance_ridge: float = 0.002  # added to each class covariance (features are Lab / 100)
    region_disagreement_max: float = 0.3  # flag when regions covering more than this share look like another class
    segmenter_size: tuple[int, int] = (192, 256)  # photo size fed to the segmenter, when one is given
    segmenter_batch: int = 16
    segmenter_min_accuracy: float = 0.5  # with a segmenter: flag pixel accuracy below this

    # near-duplicate label maps (Selection II)
    duplicate_grid: tuple[int, int] = (12, 16)  # per-class occupancy grid compared between maps
    duplicate_similarity: float = 0.99  # cosine similarity at or above this -> same equivalence class
    dispersion_threshold: float = 0.08  # RMS photo distance (0..1 RGB) above which a group is thinned
    keep_per_group: int = 2  # photos kept from a thinned group (the most typical ones)

    # report
    sheet_max_rows: int = 60  # removed pairs shown in contact_sheet.png (removed.html lists all)
    sheet_tile_width: int = 192

    def __post_init__(self) -> None:
        for name in ("work_size", "appearance_grid", "duplicate_grid", "segmenter_size"):
            h, w = getattr(self, name)
            if h < 1 or w < 1:
                raise ConfigError(f"curate.{name} must be positive (height, width), got {(h, w)}")
        for name in ("appearance_grid", "duplicate_grid"):
            h, w = getattr(self, name)
            if h > self.work_size[0] or w > self.work_size[1]:
                raise ConfigError(f"curate.{name} {(h, w)} must not exceed curate.work_size {self.work_size}")
        if self.keep_per_group < 1:
            raise ConfigError(f"curate.keep_per_group must be >= 1, got {self.keep_per_group}")
        if not 0.0 < self.duplicate_similarity <= 1.0:
            raise ConfigError(f"curate.duplicate_similarity must lie in (0, 1], got {self.duplicate_similarity}")


def load_curation_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> CurationConfig:
    """Read thresholds from YAML (missing keys keep their defaults) and apply ``key=value`` overrides.

    The file holds the fields at the top level, or under a ``curate:`` section.
    """
    if path is not None:
        from paintscape.config_files import resolve_config

        path = resolve_config(path)
    data: dict[str, Any] = read_yaml_mapping(path, "curation config") if path is not None else {}
    if set(data) == {"curate"}:
        data = data["curate"] or {}
    return load_dataclass(CurationConfig, data, overrides, source=str(path) if path is not None else "defaults", prefix="curate")
