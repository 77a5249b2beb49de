"""The benchmark kit: fixed synthetic sets drawn with disjoint seed ranges, the judge network
trained on them, and a JSON manifest naming all of it, prepared once into a folder.

```
KIT/manifest.json            sizes, seeds, versions, judge facts, the floors, kit_id
KIT/train/{imgs,labels}/     generators and the judge train here (the dataset format)
KIT/heldout/{imgs,labels}/   generators render these label maps; their real photos are the target
KIT/reference/{imgs,labels}/ other real photos: against the held-out ones they give each floor
KIT/diversity/{imgs,labels}/ a few label maps, each photographed under K styles (map_MMM_sK.png)
KIT/attributes.json          per scene: seed, time of day, season (what the judge's head learns)
KIT/judge.safetensors        the judge network (weights; its widths in the metadata; no pickle)
```

Photos are stored as PNG, so real photos carry no JPEG artefacts that generated ones lack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from paintscape import __version__
from paintscape.data.synthetic import SEASONS, TIMES_OF_DAY, make_scene, sample_style
from paintscape.io_atomic import atomic_write_text

logger = logging.getLogger(__name__)

KIT_FORMAT = 1
MANIFEST = "manifest.json"
JUDGE_FILE = "judge.safetensors"
JUDGE_FACTS = "judge_training.json"  # written with the judge: an interrupted prepare reuses it
JUDGE_PARTIAL = "judge_training_state.pt"  # the judge's training state while it trains: a prepare continues it
SETS = ("train", "heldout", "reference")


class KitError(ValueError):
    """A kit folder is missing, incomplete, or not the kit a result says it was measured on."""


@dataclass(frozen=True)
class KitSpec:
    """What a kit is made of. ``size`` is (H, W); each set's scene ``i`` uses seed ``start + i``.

    128 x 128: TSIT's streams halve the image seven times, so its sides must be multiples of 128;
    128 x 128 is the smallest size every family runs at unchanged, and small enough that a CPU
    trains each family for thousands of steps in half an hour.
    """

    size: tuple[int, int] = (128, 128)
    train_count: int = 2000
    heldout_count: int = 300
    reference_count: int = 300
    diversity_maps: int = 16
    diversity_samples: int = 4
    train_seed: int = 0
    heldout_seed: int = 1_000_000
    reference_seed: int = 2_000_000
    diversity_seed: int = 3_000_000
    judge_widths: tuple[int, ...] = (8, 16, 32, 64, 128)
    judge_steps: int = 800
    judge_batch_size: int = 16
    judge_crop: int = 64
    judge_lr: float = 3e-3
    judge_seed: int = 0
    extra: dict = field(default_factory=dict)

    def seed_ranges(self) -> dict[str, tuple[int, int]]:
        return {
            "train": (self.train_seed, self.train_count),
            "heldout": (self.heldout_seed, self.heldout_count),
            "reference": (self.reference_seed, self.reference_count),
            "diversity": (self.diversity_seed, self.diversity_maps),
        }

    def validate(self) -> None:
        if self.size[0] < 16 or self.size[1] < 16:
            raise KitError(f"kit size {self.size} (H, W) is too small (at least 16 x 16)")
        ranges = sorted((start, start + count, name) for name, (start, count) in self.seed_ranges().items())
        for (_, end, name), (start, _, other) in zip(ranges, ranges[1:]):
            if start < end:
                raise KitError(f"the seed ranges of the {name} and {other} sets overlap")
        for name in ("heldout_count", "reference_count"):
            if getattr(self, name) < 6:
                raise KitError(f"{name} must be at least 6 (FID needs 2 images in each of 3 subsets)")
        if self.train_count < 1 or self.diversity_maps < 1 or self.diversity_samples < 2:
            raise KitError("a kit needs train_count >= 1, diversity_maps >= 1 and diversity_samples >= 2")


def scene_name(index: int) -> str:
    return f"scene_{index:06d}"


def diversity_name(map_index: int, sample: int) -> str:
    return f"map_{map_index:03d}_s{sample}"


def diversity_style(seed: int, sample: int):
    """The style of diversity photo ``sample`` of the map with layout ``seed``: its own stream."""
    return sample_style(np.random.default_rng([int(seed), 3, int(sample)]))


def _save_png(path: Path, array: np.ndarray) -> None:
    from paintscape.io_atomic import atomic_save_image

    atomic_save_image(path, Image.fromarray(array))


def _write_set(
    root: Path, names_seeds: list[tuple[str, int, object]], size: tuple[int, int], progress: bool, desc: str
) -> dict:
    from tqdm import tqdm

    (root / "imgs").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    attributes = {}
    for name, seed, style in tqdm(names_seeds, desc=desc, unit="scene", disable=not progress):
        photo_path, label_path = root / "imgs" / f"{name}.png", root / "labels" / f"{name}.png"
        if not (photo_path.is_file() and label_path.is_file()):  # written atomically: present means complete
            photo, label = make_scene(seed, size, style=style)
            _save_png(photo_path, photo)
            _save_png(label_path, label)
        used = style if style is not None else sample_style(np.random.default_rng([int(seed), 2]))
        attributes[name] = {"seed": seed, "time_of_day": used.time_of_day, "season": used.season}
    return attributes


def synthetic_fingerprint(size: tuple[int, int]) -> str:
    """sha256 of two scenes' pixels: changes whenever the synthetic generator draws differently."""
    h = hashlib.sha256()
    for seed in (0, 1):
        photo, label = make_scene(seed, size)
        h.update(photo.tobytes())
        h.update(label.tobytes())
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def prepare_kit(
    out: str | Path,
    spec: KitSpec = KitSpec(),
    progress: bool = True,
    judge_progress: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Write the kit's sets, train its judge, measure the floors and write the manifest (last, so a
    folder with a manifest is a complete kit). An interrupted prepare continues: scenes already
    written are kept, and a judge already trained with the same settings is reused. Returns the manifest."""
    from paintscape.benchmark.judge import load_judge, save_judge, train_judge
    from paintscape.benchmark.measure import evaluate_judge, measure_floor

    spec.validate()
    out = Path(out)
    if (out / MANIFEST).is_file():
        raise KitError(f"{out} already holds a kit ({MANIFEST}); choose another folder or delete it")
    size = tuple(spec.size)
    attributes: dict[str, dict] = {}
    for set_name in SETS:
        start, count = spec.seed_ranges()[set_name]
        jobs = [(scene_name(i), start + i, None) for i in range(count)]
        attributes[set_name] = _write_set(out / set_name, jobs, size, progress, f"kit {set_name}")
    jobs = [
        (diversity_name(m, k), spec.diversity_seed + m, diversity_style(spec.diversity_seed + m, k))
        for m in range(spec.diversity_maps)
        for k in range(spec.diversity_samples)
    ]
    attributes["diversity"] = _write_set(out / "diversity", jobs, size, progress, "kit diversity")
    atomic_write_text(out / "attributes.json", json.dumps(attributes, indent=1))

    kit = Kit(out, manifest=None)
    settings = {"widths": list(spec.judge_widths), "steps": spec.judge_steps, "batch_size": spec.judge_batch_size,
                "crop": spec.judge_crop, "lr": spec.judge_lr, "seed": spec.judge_seed, "train_images": spec.train_count}  # fmt: skip
    facts_path = out / JUDGE_FACTS
    facts = json.loads(facts_path.read_text()) if facts_path.is_file() and (out / JUDGE_FILE).is_file() else None
    if facts is not None and all(facts.get(k) == v for k, v in settings.items()):
        judge = load_judge(out / JUDGE_FILE)
    else:
        images, labels = kit.load_set("train")
        targets = np.array(
            [[TIMES_OF_DAY.index(a["time_of_day"]), SEASONS.index(a["season"])] for a in attributes["train"].values()]
        )
        judge, facts = train_judge(
            images, labels, targets, widths=spec.judge_widths, steps=spec.judge_steps, batch_size=spec.judge_batch_size,
            crop=spec.judge_crop, lr=spec.judge_lr, seed=spec.judge_seed, progress=judge_progress,
            checkpoint=out / JUDGE_PARTIAL,
        )  # fmt: skip
        save_judge(out / JUDGE_FILE, judge)
        atomic_write_text(facts_path, json.dumps(facts, indent=1))
        (out / JUDGE_PARTIAL).unlink(missing_ok=True)
    kit.judge = judge

    heldout_targets = np.array(
        [[TIMES_OF_DAY.index(a["time_of_day"]), SEASONS.index(a["season"])] for a in attributes["heldout"].values()]
    )
    facts["heldout"] = evaluate_judge(judge, *kit.load_set("heldout"), heldout_targets)
    manifest = {
        "format": KIT_FORMAT,
        "spec": {**asdict(spec), "size": list(size), "judge_widths": list(spec.judge_widths)},
        "seed_ranges": {k: {"first": s, "count": c} for k, (s, c) in spec.seed_ranges().items()},
        "versions": {
            "paintscape": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "synthetic_fingerprint": synthetic_fingerprint(size),
        },
        "judge": {"file": JUDGE_FILE, "sha256": file_sha256(out / JUDGE_FILE), **facts},
    }
    kit.manifest = manifest
    manifest["floor"] = measure_floor(kit)
    manifest["kit_id"] = kit_id(manifest)
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def kit_id(manifest: dict) -> str:
    """A short name of what was measured on: the spec, the synthetic generator's output and the judge's weights."""
    h = hashlib.sha256()
    h.update(json.dumps(manifest["spec"], sort_keys=True).encode())
    h.update(manifest["versions"]["synthetic_fingerprint"].encode())
    h.update(manifest["judge"]["sha256"].encode())
    return f"kit-{h.hexdigest()[:12]}"


class Kit:
    """A prepared kit folder: its manifest, its sets (as uint8 arrays) and its judge network."""

    def __init__(self, root: str | Path, manifest: dict | None, judge=None) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self.judge = judge

    @classmethod
    def load(cls, root: str | Path) -> Kit:
        from paintscape.benchmark.judge import load_judge

        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise KitError(
                f"{root} is not a benchmark kit (no {MANIFEST}); make one with `paintscape benchmark prepare {root}`"
            )
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise KitError(f"{path}: not valid JSON ({exc})") from None
        if manifest.get("format") != KIT_FORMAT:
            raise KitError(
                f"{path}: kit format {manifest.get('format')!r}, this paintscape reads format {KIT_FORMAT}; prepare the kit again"
            )
        judge_path = root / manifest["judge"]["file"]
        if not judge_path.is_file() or file_sha256(judge_path) != manifest["judge"]["sha256"]:
            raise KitError(
                f"{judge_path}: missing or not the judge the manifest names (sha256 differs); prepare the kit again"
            )
        return cls(root, manifest, load_judge(judge_path))

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.manifest["spec"]["size"])

    @property
    def kit_id(self) -> str:
        return self.manifest["kit_id"]

    def names(self, set_name: str) -> list[str]:
        folder = self.root / set_name / "labels"
        if not folder.is_dir():
            raise KitError(f"{folder}: missing; the kit is incomplete")
        return sorted(p.stem for p in folder.glob("*.png"))

    def load_set(self, set_name: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(photos (N, H, W, 3) uint8, labels (N, H, W) uint8)`` of a set, in name order."""
        names = self.names(set_name)[:limit]
        root = self.root / set_name
        photos = np.stack([np.asarray(Image.open(root / "imgs" / f"{n}.png").convert("RGB")) for n in names])
        labels = np.stack([np.asarray(Image.open(root / "labels" / f"{n}.png")) for n in names])
        return photos, labels

    def load_diversity(self) -> tuple[np.ndarray, np.ndarray]:
        """``(photos (M, K, H, W, 3), labels (M, H, W))``: each map photographed under K styles."""
        spec = self.manifest["spec"]
        M, K = spec["diversity_maps"], spec["diversity_samples"]
        photos, labels = self.load_set("diversity")
        H, W = labels.shape[1:]
        return photos.reshape(M, K, H, W, 3), labels.reshape(M, K, H, W)[:, 0]
