"""Ensembles and selection: from several candidate renderings of each label map (other checkpoints,
other seeds), keep per map the one a segmenter finds most faithful to the label map (its mask
accuracy), optionally mixed with the aesthetic score. The report did this by hand with two models."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from paintscape.data.io import IMAGE_SUFFIXES, DataError, list_stems, read_image, read_label
from paintscape.data.transforms import image_to_tensor, resize_label
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
    segmenter_dir: Path,
    aesthetic: object | None = None,
    aesthetic_weight: float = 0.0,
    device: str = "cpu",
) -> list[Choice]:
    """Score every candidate photo by ``mask_acc + aesthetic_weight * aesthetic`` and copy the best
    one per label map into ``out_dir``; writes ``choices.csv`` and ``choices.md`` beside them."""
    from paintscape.evaluate.segmentation_metrics import mask_accuracy
    from paintscape.evaluate.segmenter import load_segmenter, segment

    candidates = expand_candidates(candidates)
    labels = list_stems(Path(labels_dir), (".png",))
    if not labels:
        raise DataError(f"{labels_dir}: no label maps found")
    files = [list_stems(c, IMAGE_SUFFIXES) for c in candidates]
    segmenter = load_segmenter(segmenter_dir).to(device).eval()
    choices: list[Choice] = []
    for name, label_path in labels.items():
        label = read_label(label_path)
        scores: dict[str, float] = {}
        for directory, found in zip(candidates, files):
            if name not in found:
                continue
            photo = read_image(found[name])
            image = image_to_tensor(photo)[None].to(device)
            predicted = segment(segmenter, image)[0].cpu().numpy()
            target = resize_label(label, photo.shape[:2])
            score = float(mask_accuracy(target[None], predicted[None]))
            if aesthetic is not None and aesthetic_weight:
                score += aesthetic_weight * float(aesthetic.score(image)[0])
            scores[str(directory)] = score
        if not scores:
            raise DataError(f"no candidate folder has a photo for label map {label_path.name}")
        best = max(scores, key=scores.get)
        source = files[[str(c) for c in candidates].index(best)][name]
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out_dir / source.name)
        choices.append(Choice(name, best, scores))
    names = [str(c) for c in candidates]
    csv = ["name,chosen," + ",".join(names)] + [f"{c.name},{c.chosen}," + ",".join(f"{c.scores.get(n, float('nan')):.4f}" for n in names) for c in choices]
    atomic_write_text(out_dir / "choices.csv", "\n".join(csv) + "\n")
    wins = {n: sum(c.chosen == n for c in choices) for n in names}
    mean = {n: np.nanmean([c.scores.get(n, np.nan) for c in choices]) for n in names}
    chosen_mean = float(np.mean([c.scores[c.chosen] for c in choices]))
    md = ["| candidate | chosen for | mean score |", "|---|---:|---:|"] + [f"| {n} | {wins[n]} | {mean[n]:.4f} |" for n in names]
    md.append(f"| **selection** | {len(choices)} | {chosen_mean:.4f} |")
    atomic_write_text(out_dir / "choices.md", "\n".join(md) + "\n")
    return choices
