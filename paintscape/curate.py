"""Training-subset selection: the landscape report's Selection I and Selection II, automated.

``curate(root, out_dir)`` measures every photo/label pair at a reduced resolution (in a process
pool when ``workers > 1``), runs the detectors of :mod:`paintscape.curation` and writes to ``out_dir``:

* ``selection1.txt`` — pairs without label-quality failures (speckle, implausible layout, too many
  classes) and without label/photo disagreement (Selection I: "obvious segmentation errors and
  tightly entangled labels");
* ``selection2.txt`` — Selection I minus backlit / badly exposed photos, with groups of
  near-identical label maps whose photos differ a lot thinned to the most typical few (Selection II);
* ``findings.json`` — per image its scores, flags and reasons; per group its members, dispersion and
  kept members; the thresholds used;
* ``contact_sheet.png`` and ``removed.html`` — what was removed and why (label | photo | reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from paintscape.config import config_to_dict
from paintscape.curation.agreement import fit_appearance, region_disagreement, segmenter_accuracy
from paintscape.curation.config import CurationConfig
from paintscape.curation.duplicates import DuplicateGroup, connected_groups, similar_pairs, thin_groups
from paintscape.curation.exposure import exposure_reasons
from paintscape.curation.label_quality import label_reasons
from paintscape.curation.measure import PairMeasurement, load_pair, measure_pair
from paintscape.curation.report import write_findings, write_removed_report, write_subset
from paintscape.data.dataset import paired_names
from paintscape.parallel import parallel_map

logger = logging.getLogger(__name__)

__all__ = ["curate", "CurationResult", "SELECTION1_FLAGS", "SELECTION2_FLAGS"]

# Flags that remove a pair from Selection I (and so from Selection II too).
SELECTION1_FLAGS = ("unreadable", "speckle", "too_many_classes", "layout", "disagreement")
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


def _measure_all(
    root: Path, names: list[str], config: CurationConfig, workers: int, progress: bool
) -> list[PairMeasurement]:
    jobs = [(str(root), name, config) for name in names]
    return parallel_map(measure_pair, jobs, workers, desc="curate: measuring", unit="pair", progress=progress, chunksize=16)


def _segmenter_scores(
    segmenter: str | Path, root: Path, names: list[str], config: CurationConfig, progress: bool
) -> np.ndarray:
    from tqdm import tqdm

    from paintscape.evaluate.segmenter import load_segmenter

    model = load_segmenter(segmenter)
    accuracy = np.zeros(len(names))
    batches = range(0, len(names), config.segmenter_batch)
    for start in tqdm(batches, desc="curate: segmenting", unit="batch", disable=not progress):
        pairs = [load_pair(root, n, config.segmenter_size) for n in names[start : start + config.segmenter_batch]]
        photos = np.stack([p for p, _ in pairs])
        labels = np.stack([lab for _, lab in pairs])
        accuracy[start : start + len(pairs)] = segmenter_accuracy(model, photos, labels)
    return accuracy


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
    names = paired_names(root)
    measured = _measure_all(root, names, config, workers, progress)
    readable = [i for i, m in enumerate(measured) if m.error is None]
    flags: dict[str, list[str]] = {n: [] for n in names}
    reasons: dict[str, list[str]] = {n: [] for n in names}

    def flag(name: str, kind: str, reason: str) -> None:
        if kind not in flags[name]:
            flags[name].append(kind)
        reasons[name].append(reason)

    for m in measured:
        if m.error is not None:
            flag(m.name, "unreadable", f"unreadable: {m.error}")
            continue
        for kind, reason in label_reasons(m.scores, config):
            flag(m.name, kind, reason)
        for kind, reason in exposure_reasons(m.scores, config).items():
            flag(m.name, kind, reason)

    # label/photo disagreement
    if segmenter is not None:
        ok_names = [names[i] for i in readable]
        accuracy = _segmenter_scores(segmenter, root, ok_names, config, progress)
        for i, acc in zip(readable, accuracy):
            measured[i].scores["segmenter_accuracy"] = float(acc)
            measured[i].scores["disagreement"] = float(1.0 - acc)
        method = "segmenter"
    else:
        # fit on well-exposed photos only: dark and backlit ones would widen every class's colours
        fit_on = [
            i for i in readable if not set(flags[names[i]]) & {"backlit", "underexposed", "overexposed"}
        ] or readable
        model = fit_appearance(
            ((measured[i].features, measured[i].grid_labels) for i in fit_on),
            config.min_class_pixels,
            config.appearance_ridge,
        )
        for i in readable:
            m = measured[i]
            m.scores["pixel_disagreement"], m.scores["region_disagreement"] = region_disagreement(
                model,
                m.features,
                m.grid_labels,
                config.appearance_grid,
                config.likelihood_margin,
                config.min_region_fraction,
            )
        method = "appearance"
    exposure_flags = {"backlit", "underexposed", "overexposed"}
    for i in readable:
        m = measured[i]
        s = m.scores
        if method == "segmenter":
            if s["segmenter_accuracy"] < config.segmenter_min_accuracy:
                flag(
                    m.name,
                    "disagreement",
                    f"label/photo disagreement: segmenter pixel accuracy {s['segmenter_accuracy']:.2f} < {config.segmenter_min_accuracy}",
                )
            continue
        if s["boundary_alignment"] < config.boundary_min_ratio:
            flag(
                m.name,
                "disagreement",
                f"label/photo disagreement: label boundaries off the photo's edges (ratio {s['boundary_alignment']:.2f} < {config.boundary_min_ratio})",
            )
        if set(flags[m.name]) & exposure_flags:
            continue  # a dark or washed-out photo has weak edges and shifted colours everywhere
        if s["region_alignment"] < config.region_boundary_min_ratio:
            flag(
                m.name,
                "disagreement",
                f"label/photo disagreement: a large region's boundary is off the photo's edges (ratio {s['region_alignment']:.2f} < {config.region_boundary_min_ratio})",
            )
        if s["region_disagreement"] > config.region_disagreement_max:
            flag(
                m.name,
                "disagreement",
                f"label/photo disagreement: {s['region_disagreement']:.0%} of the map in regions that look like another class (max {config.region_disagreement_max:.0%})",
            )

    # near-duplicate label maps
    eligible = np.array([not flags[n] for n in names])
    if readable:
        layouts = np.stack([measured[i].layout for i in readable])
        thumbnails = np.stack([measured[i].thumbnail for i in readable])
        local_groups = connected_groups(len(readable), similar_pairs(layouts, config.duplicate_similarity))
        local = thin_groups(
            local_groups, thumbnails, config.dispersion_threshold, config.keep_per_group, eligible[readable]
        )
        groups = [
            DuplicateGroup(
                [readable[j] for j in g.members], g.dispersion, g.typicality, [readable[j] for j in g.kept], g.thinned
            )
            for g in local
        ]
    else:
        groups = []
    group_of: dict[str, int] = {}
    for gid, group in enumerate(groups):
        for i in group.members:
            group_of[names[i]] = gid
        if not group.thinned:
            continue
        kept = set(group.kept)
        for i in group.members:
            if i not in kept:
                flag(
                    names[i],
                    "duplicate",
                    f"near-duplicate layout: group {gid} of {len(group.members)} maps, photo dispersion "
                    f"{group.dispersion:.3f} > {config.dispersion_threshold}; kept the {len(kept)} most typical",
                )

    selection1 = [n for n in names if not set(flags[n]) & set(SELECTION1_FLAGS)]
    selection2 = [n for n in selection1 if not set(flags[n]) & set(SELECTION2_FLAGS)]
    in1, in2 = set(selection1), set(selection2)
    findings = {
        "root": str(root),
        "method": method,
        "thresholds": config_to_dict(config),
        "summary": {
            "total": len(names),
            "selection1": len(selection1),
            "selection2": len(selection2),
            "flag_counts": {k: sum(k in f for f in flags.values()) for k in (*SELECTION1_FLAGS, *SELECTION2_FLAGS)},
            "groups": len(groups),
            "thinned_groups": sum(g.thinned for g in groups),
        },
        "images": {
            m.name: {
                "scores": {k: round(float(v), 5) for k, v in m.scores.items()},
                "flags": flags[m.name],
                "reasons": reasons[m.name],
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
    out_dir.mkdir(parents=True, exist_ok=True)
    header = f"paintscape curate {root}: {{}} of {len(names)} pairs"
    write_subset(out_dir / "selection1.txt", selection1, header.format(f"Selection I, {len(selection1)}"))
    write_subset(out_dir / "selection2.txt", selection2, header.format(f"Selection II, {len(selection2)}"))
    write_findings(out_dir / "findings.json", findings)
    removed = [
        {"name": n, "flags": flags[n], "reasons": reasons[n], "selection": "I" if n not in in1 else "II"}
        for n in names
        if n not in in2
    ]
    write_removed_report(out_dir, root, removed, config.sheet_max_rows, config.sheet_tile_width)
    logger.info("curate: %d pairs, Selection I %d, Selection II %d", len(names), len(selection1), len(selection2))
    return CurationResult(names, selection1, selection2, flags, groups, findings)
