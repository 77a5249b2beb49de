"""A synthetic dataset with planted defects, to measure the curation detectors' precision and recall.

Defects (each pair carries at most one; ``kind`` names it):

* ``dark``      under-exposed photo (photo x 0.1);
* ``backlit``   sky pushed towards white, everything else darkened to 20 %;
* ``shuffled``  two pairs swap their label maps;
* ``region``    a large rectangle (30-45 % of the map) relabelled to a class foreign to it;
* ``speckle``   8 % of the pixels relabelled to random classes;
* ``duplicate`` one layout seed rendered under several very different styles (same label map,
                different photos); every member of such a group carries the kind.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
from PIL import Image

from paintscape.curation.label_quality import SKY
from paintscape.data.synthetic import make_scene, sample_style
from paintscape.labels import CLASS_IDS, NUM_CLASSES

DEFECT_KINDS = ("dark", "backlit", "shuffled", "region", "speckle", "duplicate")
LABEL_DEFECTS = ("shuffled", "region", "speckle")
PHOTO_DEFECTS = ("dark", "backlit")
GROUP_SIZE = 3  # renders per planted duplicate layout (the base render and two other styles)
_FOREIGN = tuple(CLASS_IDS[n] for n in ("sky", "sea", "tree", "building", "sand", "road", "rock"))


def _save(out_dir: str, name: str, photo: np.ndarray, label: np.ndarray) -> None:
    Image.fromarray(photo).save(os.path.join(out_dir, "imgs", name + ".jpg"), quality=95)
    Image.fromarray(label, mode="L").save(os.path.join(out_dir, "labels", name + ".png"))


def _scene(args: tuple[int, tuple[int, int], object]) -> tuple[np.ndarray, np.ndarray]:
    seed, size, style = args
    return make_scene(seed, size, style)


def write_planted_dataset(
    out_dir: str,
    count: int,
    size: tuple[int, int] = (192, 256),
    seed: int = 0,
    rate: float = 0.05,
    workers: int = 1,
    progress: bool = False,
) -> dict[str, str]:
    """Write ``count`` pairs (``imgs/``, ``labels/``) with planted defects; returns ``{name: kind}``,
    ``kind`` is ``"clean"`` or one of :data:`DEFECT_KINDS`. ``rate`` is the share of each defect."""
    rng = np.random.default_rng([seed, 77])
    for sub in ("imgs", "labels"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    n_per = max(2, int(round(count * rate)))
    n_dup_groups = max(1, n_per // 3)  # groups of 3 renders of one layout
    n_base = count - 2 * n_dup_groups  # each group adds two extra renders of a base layout
    jobs: list[tuple[int, tuple[int, int], object]] = [(seed + i, tuple(size), None) for i in range(n_base)]
    dup_bases = rng.choice(n_base, n_dup_groups, replace=False)
    looks = [("day", "summer"), ("dusk", "autumn"), ("night", "winter"), ("golden", "spring")]
    for b in dup_bases:
        base_style = sample_style(np.random.default_rng([int(seed + b), 2]))
        others = [look for look in looks if look[0] != base_style.time_of_day]
        for k in rng.choice(len(others), GROUP_SIZE - 1, replace=False):
            tod, season = others[int(k)]
            jobs.append((int(seed + b), tuple(size), replace(base_style, time_of_day=tod, season=season)))
    if workers > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(workers) as pool:
            scenes = pool.map(_scene, jobs, chunksize=8)
    else:
        scenes = [_scene(job) for job in jobs]
    photos = [s[0].copy() for s in scenes]
    labels = [s[1].copy() for s in scenes]
    kinds = ["clean"] * len(scenes)
    for j, b in enumerate(dup_bases):
        for i in (int(b), n_base + 2 * j, n_base + 2 * j + 1):
            kinds[i] = "duplicate"
    free = [i for i in rng.permutation(len(scenes)) if kinds[i] == "clean"]

    def take(n: int, where=lambda i: True) -> list[int]:
        picked = [i for i in free if where(i)][:n]
        for i in picked:
            free.remove(i)
        return picked

    for i in take(n_per, lambda i: (labels[i] == SKY).mean() > 0.15):
        sky = labels[i] == SKY
        p = photos[i].astype(np.float32)
        p[sky] = 255 - (255 - p[sky]) * 0.15
        p[~sky] *= 0.2
        photos[i], kinds[i] = p.clip(0, 255).astype(np.uint8), "backlit"
    for i in take(n_per):
        photos[i], kinds[i] = (photos[i].astype(np.float32) * 0.1).astype(np.uint8), "dark"
    shuffled = take(2 * (n_per // 2))
    for a, b in zip(shuffled[0::2], shuffled[1::2]):
        labels[a], labels[b] = labels[b], labels[a]
        kinds[a] = kinds[b] = "shuffled"
    H, W = size
    for i in take(n_per):
        area = rng.uniform(0.3, 0.45)
        h = int(H * rng.uniform(max(area, 0.45), 0.9))
        w = max(1, int(area * H * W / h))
        y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, max(W - w, 0) + 1))
        region = labels[i][y : y + h, x : x + w]
        majority = np.bincount(region.ravel(), minlength=256).argmax()
        options = [c for c in _FOREIGN if c != majority and (region == c).mean() < 0.05]
        region[...] = options[int(rng.integers(len(options)))]
        kinds[i] = "region"
    for i in take(n_per):
        noise = rng.random(labels[i].shape) < 0.08
        labels[i][noise] = rng.integers(0, NUM_CLASSES, int(noise.sum()))
        kinds[i] = "speckle"
    truth = {}
    for i, (photo, label) in enumerate(zip(photos, labels)):
        name = f"planted_{i:06d}"
        _save(out_dir, name, photo, label)
        truth[name] = kinds[i]
    return truth


# (detector, flags that count as a detection, kinds it targets (recall), kinds that count as right (precision))
DETECTORS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("label quality: speckle", ("speckle",), ("speckle",), LABEL_DEFECTS),
    ("label quality: layout / too many classes", ("layout", "too_many_classes"), ("region", "shuffled"), LABEL_DEFECTS),
    ("label/photo disagreement", ("disagreement",), ("shuffled", "region"), LABEL_DEFECTS),
    ("exposure: backlit", ("backlit",), ("backlit",), ("backlit",)),
    ("exposure: under-exposed", ("underexposed",), ("dark",), PHOTO_DEFECTS),
    ("near-duplicate grouping", ("@group",), ("duplicate",), ("duplicate",)),
    ("near-duplicate thinning (removed)", ("duplicate",), ("duplicate",), ("duplicate",)),
    ("Selection I removal", ("@not_selection1",), LABEL_DEFECTS, LABEL_DEFECTS),
    ("Selection II removal", ("@not_selection2",), LABEL_DEFECTS + PHOTO_DEFECTS, DEFECT_KINDS),
)


def detector_scores(findings: dict, truth: dict[str, str]) -> list[dict]:
    """Per detector: flagged count, true positives, precision and recall against the planted kinds.

    Thinning can remove at most ``GROUP_SIZE - keep_per_group`` members of a planted group, so its
    recall is counted against that number.
    """
    keep = int(findings["thresholds"]["keep_per_group"])
    rows = []
    images = findings["images"]
    for title, flags, targets, right in DETECTORS:
        flagged = set()
        for name, item in images.items():
            hit = any(
                (f == "@group" and item["group"] is not None)
                or (f == "@not_selection1" and not item["selection1"])
                or (f == "@not_selection2" and not item["selection2"])
                or f in item["flags"]
                for f in flags
            )
            if hit:
                flagged.add(name)
        target = {n for n, k in truth.items() if k in targets}
        correct = {n for n in flagged if truth.get(n) in right}
        found = flagged & target
        planted = len(target)
        if flags == ("duplicate",):
            planted = (len(target) // GROUP_SIZE) * max(GROUP_SIZE - keep, 0)
        rows.append({
            "detector": title,
            "targets": "/".join(targets),
            "planted": planted,
            "flagged": len(flagged),
            "precision": len(correct) / len(flagged) if flagged else 1.0,
            "recall": min(1.0, len(found) / planted) if planted else 1.0,
        })  # fmt: skip
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| detector | planted kinds | planted | flagged | precision | recall |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['detector']} | {r['targets']} | {r['planted']} | {r['flagged']} | {r['precision']:.3f} | {r['recall']:.3f} |"
        )
    return "\n".join(lines)
