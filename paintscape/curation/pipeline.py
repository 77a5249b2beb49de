"""Training-subset selection: the landscape report's Selection I and Selection II, automated.

``curate(root, out_dir)`` measures every photo/label pair at a reduced resolution (in a process
pool when ``workers > 1``), runs the detectors of this package and writes to ``out_dir``:

* ``selection1.txt`` — pairs without label-quality failures (speckle, implausible layout, too many
  classes) and without label/photo disagreement (Selection I: "obvious segmentation errors and
  tightly entangled labels");
* ``selection2.txt`` — Selection I minus backlit / badly exposed photos, with groups of
  near-identical label maps whose photos differ a lot thinned to the most typical few (Selection II);
* ``findings.json`` — per image its scores, flags and reasons; per group its members, dispersion and
  kept members; the thresholds used;
* ``contact_sheet.png`` and ``removed.html`` — what was removed and why (label | photo | reason).

A pair that cannot be read, or whose photo and label do not belong together by ``check-data``'s
rules (``unreadable`` / ``mismatched``), is left out of both selections with the reason.

Every detector answers the same way: a list of ``(flag, reason)`` pairs for one pair (empty when
it passes), which :class:`Flags` collects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from paintscape.class_table import dataset_class_table
from paintscape.config import config_to_dict
from paintscape.curation.agreement import disagreement_reasons, fit_appearance, region_disagreement, segmenter_accuracy
from paintscape.curation.config import CurationConfig
from paintscape.curation.duplicates import (
    DuplicateGroup,
    connected_groups,
    duplicate_reasons,
    similar_pairs,
    thin_groups,
)
from paintscape.curation.exposure import EXPOSURE_FLAGS, exposure_reasons
from paintscape.curation.label_quality import label_reasons
from paintscape.curation.measure import PairMeasurement, load_pair, measure_pair
from paintscape.curation.report import write_findings, write_removed_report, write_subset
from paintscape.data.dataset import paired_names
from paintscape.labels import NUM_CLASSES
from paintscape.parallel import parallel_map

logger = logging.getLogger(__name__)

__all__ = ["curate", "CurationResult", "SELECTION1_FLAGS", "SELECTION2_FLAGS"]

# Flags that remove a pair from Selection I (and so from Selection II too).
SELECTION1_FLAGS = ("unreadable", "mismatched", "speckle", "too_many_classes", "layout", "disagreement")
# Flags that remove a pair from Selection II only.
SELECTION2_FLAGS = ("backlit", "underexposed", "overexposed", "duplicate")


@dataclass(frozen=True)
class CurationResult:
    names: list[str]
    selection1: list[str]
    selection2: list[str]
    flags: dict[str, list[str]]  # name -> flags (empty list: clean)
    groups: list[DuplicateGroup]
    findings: dict[str, Any]


class Flags:
    """Per pair: the flags raised (each once, in order) and every reason given."""

    def __init__(self, names: list[str]) -> None:
        self.flags: dict[str, list[str]] = {n: [] for n in names}
        self.reasons: dict[str, list[str]] = {n: [] for n in names}

    def add(self, name: str, found: list[tuple[str, str]]) -> None:
        for flag, reason in found:
            if flag not in self.flags[name]:
                self.flags[name].append(flag)
            self.reasons[name].append(reason)

    def has_any(self, name: str, flags: tuple[str, ...]) -> bool:
        return bool(set(self.flags[name]) & set(flags))


def curate(
    root: str | Path,
    out_dir: str | Path,
    config: CurationConfig | None = None,
    segmenter: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> CurationResult:
    """Measure every pair under ``root``, decide Selection I and II, write the outputs to ``out_dir``."""
    config = config or CurationConfig()
    root, out_dir = Path(root), Path(out_dir)
    table = dataset_class_table(root)
    if table.source != "landscape29":  # the detectors read sky, water and ground classes by their landscape ids
        raise ValueError(
            f"{root}: curate's detectors are built on the 29 landscape classes (sky for exposure, water and ground for the "
            f"label checks); this dataset's class table is {table.source} ({table.num_classes} classes)"
        )
    names = paired_names(root)
    jobs = [(str(root), name, config) for name in names]
    measured = parallel_map(measure_pair, jobs, workers, desc="curate: measuring", unit="pair", progress=progress, chunksize=16)
    readable = [m for m in measured if m.error is None]
    flags = Flags(names)
    for m in measured:
        if m.error is not None:
            flags.add(m.name, [(m.error_flag, f"{m.error_flag}: {m.error}")])
        else:
            flags.add(m.name, label_reasons(m.scores, config) + exposure_reasons(m.scores, config))
    method = _score_disagreement(readable, root, config, segmenter, flags, progress)
    for m in readable:
        flags.add(m.name, disagreement_reasons(m.scores, config, method, badly_exposed=flags.has_any(m.name, EXPOSURE_FLAGS)))
    groups = _duplicate_groups(measured, names, config, flags)
    for name, found in duplicate_reasons(groups, names, config).items():
        flags.add(name, found)

    selection1 = [n for n in names if not flags.has_any(n, SELECTION1_FLAGS)]
    selection2 = [n for n in selection1 if not flags.has_any(n, SELECTION2_FLAGS)]
    findings = _findings(root, method, config, measured, names, flags, groups, selection1, selection2)
    _write_outputs(out_dir, root, names, flags, selection1, selection2, findings, config)
    logger.info("curate: %d pairs, Selection I %d, Selection II %d", len(names), len(selection1), len(selection2))
    return CurationResult(names, selection1, selection2, flags.flags, groups, findings)


def _score_disagreement(
    readable: list[PairMeasurement], root: Path, config: CurationConfig, segmenter: str | Path | None, flags: Flags, progress: bool
) -> str:
    """Fill each pair's disagreement scores; returns the method: ``segmenter`` or ``appearance``."""
    if segmenter is not None:
        accuracy = _segmenter_scores(segmenter, root, [m.name for m in readable], config, progress)
        for m, acc in zip(readable, accuracy):
            m.scores["segmenter_accuracy"] = float(acc)
            m.scores["disagreement"] = float(1.0 - acc)
        return "segmenter"
    # fit on well-exposed photos only: dark and backlit ones would widen every class's colours
    fit_on = [m for m in readable if not flags.has_any(m.name, EXPOSURE_FLAGS)] or readable
    model = fit_appearance(((m.features, m.grid_labels) for m in fit_on), config.min_class_pixels, config.appearance_ridge)
    for m in readable:
        m.scores["pixel_disagreement"], m.scores["region_disagreement"] = region_disagreement(
            model, m.features, m.grid_labels, config.appearance_grid, config.likelihood_margin, config.min_region_fraction
        )
    return "appearance"


def _segmenter_scores(segmenter: str | Path, root: Path, names: list[str], config: CurationConfig, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    from paintscape.evaluate.segmenter import load_segmenter

    model = load_segmenter(segmenter, num_classes=NUM_CLASSES)
    accuracy = np.zeros(len(names))
    batches = range(0, len(names), config.segmenter_batch)
    for start in tqdm(batches, desc="curate: segmenting", unit="batch", disable=not progress):
        pairs = [load_pair(root, n, config.segmenter_size) for n in names[start : start + config.segmenter_batch]]
        photos = np.stack([p for p, _ in pairs])
        labels = np.stack([lab for _, lab in pairs])
        accuracy[start : start + len(pairs)] = segmenter_accuracy(model, photos, labels)
    return accuracy


def _duplicate_groups(measured: list[PairMeasurement], names: list[str], config: CurationConfig, flags: Flags) -> list[DuplicateGroup]:
    """Groups of near-identical label maps (indices into ``names``), thinned among the pairs no
    other detector removed."""
    readable = [i for i, m in enumerate(measured) if m.error is None]
    if not readable:
        return []
    eligible = np.array([not flags.flags[n] for n in names])
    layouts = np.stack([measured[i].layout for i in readable])
    thumbnails = np.stack([measured[i].thumbnail for i in readable])
    local_groups = connected_groups(len(readable), similar_pairs(layouts, config.duplicate_similarity))
    local = thin_groups(local_groups, thumbnails, config.dispersion_threshold, config.keep_per_group, eligible[readable])
    return [
        DuplicateGroup([readable[j] for j in g.members], g.dispersion, g.typicality, [readable[j] for j in g.kept], g.thinned)
        for g in local
    ]


def _findings(
    root: Path, method: str, config: CurationConfig, measured: list[PairMeasurement], names: list[str], flags: Flags,
    groups: list[DuplicateGroup], selection1: list[str], selection2: list[str],
) -> dict[str, Any]:  # fmt: skip
    group_of = {names[i]: gid for gid, group in enumerate(groups) for i in group.members}
    in1, in2 = set(selection1), set(selection2)
    return {
        "root": str(root),
        "method": method,
        "thresholds": config_to_dict(config),
        "summary": {
            "total": len(names),
            "selection1": len(selection1),
            "selection2": len(selection2),
            "flag_counts": {k: sum(k in f for f in flags.flags.values()) for k in (*SELECTION1_FLAGS, *SELECTION2_FLAGS)},
            "groups": len(groups),
            "thinned_groups": sum(g.thinned for g in groups),
        },
        "images": {
            m.name: {
                "scores": {k: round(float(v), 5) for k, v in m.scores.items()},
                "flags": flags.flags[m.name],
                "reasons": flags.reasons[m.name],
                "selection1": m.name in in1,
                "selection2": m.name in in2,
                "group": group_of.get(m.name),
            }
            for m in measured
        },
        "groups": [
            {
                "id": gid,
                "members": [names[i] for i in g.members],
                "dispersion": round(g.dispersion, 5),
                "typicality": [round(t, 5) for t in g.typicality],
                "thinned": g.thinned,
                "kept": [names[i] for i in g.kept],
            }
            for gid, g in enumerate(groups)
        ],
    }


def _write_outputs(
    out_dir: Path, root: Path, names: list[str], flags: Flags, selection1: list[str], selection2: list[str],
    findings: dict[str, Any], config: CurationConfig,
) -> None:  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    header = f"paintscape curate {root}: {{}} of {len(names)} pairs"
    write_subset(out_dir / "selection1.txt", selection1, header.format(f"Selection I, {len(selection1)}"))
    write_subset(out_dir / "selection2.txt", selection2, header.format(f"Selection II, {len(selection2)}"))
    write_findings(out_dir / "findings.json", findings)
    in1, in2 = set(selection1), set(selection2)
    removed = [
        {"name": n, "flags": flags.flags[n], "reasons": flags.reasons[n], "selection": "I" if n not in in1 else "II"}
        for n in names
        if n not in in2
    ]
    write_removed_report(out_dir, root, removed, config.sheet_max_rows, config.sheet_tile_width)
