"""Ensembles and selection: from several candidate renderings of each label map (other checkpoints,
other seeds), keep per map the one a per-image metric of the registry rates best; by default the
segmenter's mask accuracy (how faithful the photo is to its label map). The report did this by
hand with two models."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from paintscape.class_table import label_folder_class_table
from paintscape.data.io import LABEL_SUFFIXES, DataError, list_stems
from paintscape.evaluate.inputs import FolderInputs
from paintscape.evaluate.metrics import metric, missing_inputs, rank_key
from paintscape.io_atomic import atomic_write_text


@dataclass
class Choice:
    name: str
    chosen: str
    scores: dict[str, float]


def expand_candidates(directories: list[Path]) -> list[Path]:
    """A folder of ``sample_K/`` subfolders (``generate --samples``) counts as K candidates."""
    out = []
    for directory in directories:
        samples = sorted(p for p in Path(directory).glob("sample_*") if p.is_dir())
        out.extend(samples or [Path(directory)])
    for directory in out:
        if not directory.is_dir():
            raise DataError(f"{directory}: candidate folder not found")
    if len(out) < 2:
        raise ValueError("selection needs at least two candidate folders (or one folder with sample_K/ subfolders)")
    return out


@torch.no_grad()
def select_best(
    candidates: list[Path],
    labels_dir: Path,
    out_dir: Path,
    segmenter_dir: Path | None = None,
    metric: str = "mask_accuracy",
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> list[Choice]:
    """Rate every candidate photo by the per-image ``metric`` and copy the best one per label map
    into ``out_dir``; writes ``choices.csv`` and ``choices.md`` beside them."""
    entry = _per_image_metric(metric)
    candidates = expand_candidates(candidates)
    models = {}
    table = label_folder_class_table(labels_dir)
    if segmenter_dir is not None:
        from paintscape.evaluate.segmenter import load_segmenter, segment

        models["segmenter"] = partial(segment, load_segmenter(segmenter_dir, device, table.num_classes))
    per_candidate: list[dict[str, float]] = []
    files: list[dict[str, Path]] = []
    for directory in candidates:
        bar = f"select: {directory.name}" if progress else None
        inputs = FolderInputs(directory, labels_dir, device=device, batch_size=8, progress=bar, table=table, **models)
        missing = missing_inputs(entry.name, inputs.available)
        if missing:
            raise ValueError(f"select --metric {entry.name} needs {', '.join(missing)} (e.g. --segmenter for mask_accuracy)")
        per_candidate.append(entry["per_image"](inputs))
        files.append({name: path for name, path, _ in inputs.pairs})
    label_names = list_stems(Path(labels_dir), LABEL_SUFFIXES)
    choices: list[Choice] = []
    sources: list[Path] = []
    for name, label_path in label_names.items():  # every choice first: a map no candidate rendered writes nothing
        scores = {str(c): values[name] for c, values in zip(candidates, per_candidate) if name in values}
        if not scores:
            raise DataError(f"no candidate folder has a photo for label map {label_path.name}")
        rated = {c: v for c, v in scores.items() if not math.isnan(v)} or scores
        best = min(rated, key=lambda c: rank_key(entry.name, rated[c]))
        sources.append(files[[str(c) for c in candidates].index(best)][name])
        choices.append(Choice(name, best, scores))
    out_dir.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copyfile(source, out_dir / source.name)
    names = [str(c) for c in candidates]
    csv = ["name,chosen," + ",".join(names)] + [f"{c.name},{c.chosen}," + ",".join(f"{c.scores.get(n, float('nan')):.4f}" for n in names) for c in choices]
    atomic_write_text(out_dir / "choices.csv", "\n".join(csv) + "\n")
    wins = {n: sum(c.chosen == n for c in choices) for n in names}
    mean = {n: np.nanmean([c.scores.get(n, np.nan) for c in choices]) for n in names}
    chosen_mean = float(np.mean([c.scores[c.chosen] for c in choices]))
    md = [f"| candidate | chosen for | mean {entry.name} |", "|---|---:|---:|"] + [f"| {n} | {wins[n]} | {mean[n]:.4f} |" for n in names]
    md.append(f"| **selection** | {len(choices)} | {chosen_mean:.4f} |")
    atomic_write_text(out_dir / "choices.md", "\n".join(md) + "\n")
    return choices


def _per_image_metric(name: str):
    entry = metric(name)
    if entry.metadata.get("per_image") is None:
        from paintscape.registry import METRICS

        usable = [e.name for e in METRICS.entries() if e.metadata.get("per_image") is not None]
        raise ValueError(f"select --metric {name}: not a per-image metric; use one of {', '.join(usable)}")
    return entry
