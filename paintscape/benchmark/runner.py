"""Train families on the kit at equal CPU budgets, render the kit with them, measure.

The budget is **process CPU time** (``time.process_time()``: every thread of this process), not
wall time, since the machine is shared. Training runs in chunks through the ordinary trainer
(``train(..., resume=True, stop_after=step + n)``; a resumed run continues exactly as an
uninterrupted one), and the CPU clock is read between chunks: a chunk is sized from the measured
CPU seconds per step to end at the budget, so a run overshoots it by a fraction of a step's cost
plus the estimate's error. The chunks' own set-up (build, load, save) is counted too.

Several families given together train **round-robin**, one chunk each in turn, so that they share
the machine's load (which changes the CPU time a step takes: measured up to 2x on the 2-core
project machine) rather than one family training on a busy machine and another on an idle one.

``RUN/budget.json`` records the CPU seconds, steps and chunks so far; a run interrupted between
chunks continues from there.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from paintscape.benchmark.kit import Kit, KitError
from paintscape.config import Config, load_config
from paintscape.io_atomic import atomic_write_text

logger = logging.getLogger(__name__)

BUDGET_FILE = "budget.json"
FIRST_CHUNK_STEPS = 5
CHUNK_FRACTION = 0.1  # at most this share of the budget per chunk: round-robin stays fine-grained


def benchmark_config(kit: Kit, config_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """A family's config pointed at the kit's train set; its size must be the kit's."""
    config = load_config(config_path, [*overrides, f"data.root={kit.root / 'train'}"])
    if tuple(config.data.size) != tuple(kit.size):
        raise KitError(
            f"{config_path}: data.size {list(config.data.size)} is not the kit's size {list(kit.size)} (H, W)"
        )
    if len(config.train.phases) != 1:
        raise ValueError(
            f"{config_path}: a benchmark config has one training phase (the CPU budget ends it), got {len(config.train.phases)}"
        )
    return config


@dataclass
class BudgetState:
    cpu_budget: float
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    steps: int = 0
    images: int = 0
    chunks: int = 0
    threads: int = 1
    load_average: list = field(default_factory=list)  # 1-minute load at the end of each chunk

    @property
    def done(self) -> bool:
        if self.steps == 0:
            return False
        per_step = self.cpu_seconds / self.steps
        return self.cpu_seconds + per_step / 2 >= self.cpu_budget  # the next step would end nearer past it

    def next_chunk(self) -> int:
        if self.steps == 0:
            return FIRST_CHUNK_STEPS
        per_step = self.cpu_seconds / self.steps
        remaining = int(round((self.cpu_budget - self.cpu_seconds) / per_step))
        return max(1, min(remaining, int(CHUNK_FRACTION * self.cpu_budget / per_step) or 1))


def read_budget(run_dir: Path, cpu_budget: float) -> BudgetState:
    path = run_dir / BUDGET_FILE
    if not path.is_file():
        if (run_dir / "latest.json").exists():
            raise KitError(
                f"{run_dir} holds a training run without {BUDGET_FILE}; benchmark runs need a fresh --out folder"
            )
        return BudgetState(cpu_budget=cpu_budget, threads=torch.get_num_threads())
    state = BudgetState(**json.loads(path.read_text()))
    from paintscape.checkpoint import latest_record

    record = latest_record(run_dir)
    if record is None or record["step"] != state.steps:
        raise KitError(
            f"{run_dir}: the checkpoint (step {record and record['step']}) and {BUDGET_FILE} (step {state.steps}) disagree: "
            "the run stopped between the two writes; delete the folder to start it again"
        )
    state.cpu_budget = cpu_budget
    return state


def train_chunk(config: Config, run_dir: Path, state: BudgetState) -> None:
    """One chunk of training, timed on the CPU clock; updates and saves ``state``."""
    from paintscape.train.trainer import train

    steps = state.next_chunk()
    cpu, wall = time.process_time(), time.time()
    result = train(
        config,
        run_dir,
        resume=state.steps > 0,
        progress=False,
        check_data=False,  # the kit's sets were written by prepare: no CPU spent re-reading them
        stop_after=state.steps + steps,
    )
    state.cpu_seconds += time.process_time() - cpu
    state.wall_seconds += time.time() - wall
    state.steps, state.images = result.steps, result.images
    state.chunks += 1
    state.load_average.append(round(os.getloadavg()[0], 2))
    atomic_write_text(run_dir / BUDGET_FILE, json.dumps(asdict(state), indent=1))


def train_on_budget(
    runs: dict[str, tuple[Config, Path]], cpu_seconds: float, progress: bool = True
) -> dict[str, BudgetState]:
    """Train every ``name: (config, run_dir)`` round-robin until each has used ``cpu_seconds`` of CPU."""
    if cpu_seconds <= 0:
        raise ValueError(f"the CPU budget must be positive, got {cpu_seconds}")
    states = {name: read_budget(Path(run_dir), cpu_seconds) for name, (_, run_dir) in runs.items()}
    # One-time imports are paid before the clock starts, not by whichever family trains first.
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401

    import paintscape.models  # noqa: F401
    import paintscape.train.trainer  # noqa: F401

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(cpu_seconds * len(runs)), initial=round(sum(min(s.cpu_seconds, cpu_seconds) for s in states.values())),
                   desc="train (CPU s)", unit="cpu-s", dynamic_ncols=True)  # fmt: skip
    try:
        while not all(s.done for s in states.values()):
            for name, (config, run_dir) in runs.items():
                state = states[name]
                if state.done:
                    continue
                before = min(state.cpu_seconds, cpu_seconds)
                train_chunk(config, Path(run_dir), state)
                logger.info("%s: %d steps, %.0f CPU s of %.0f", name, state.steps, state.cpu_seconds, cpu_seconds)
                if bar is not None:
                    bar.update(round(min(state.cpu_seconds, cpu_seconds) - before))
                    bar.set_postfix({k: s.steps for k, s in states.items()}, refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return states


# --- rendering --------------------------------------------------------------------------------


def _styles(kit: Kit, count: int, offset: int = 0) -> np.ndarray:
    """Training photos as style references, photo ``(offset + i) % N`` for item i: a style stream
    never sees the held-out photo it is measured against."""
    names = kit.names("train")
    photos, _ = kit.load_set("train", limit=min(len(names), offset + count))
    return photos[(offset + np.arange(count)) % len(photos)]


@torch.no_grad()
def render(painter, labels: np.ndarray, styles: np.ndarray | None, sample: int = 0, batch_size: int = 16) -> np.ndarray:
    """Photos ``(N, H, W, 3)`` uint8 of label maps ``(N, H, W)``; each image's latent from seed
    ``1000 * sample + i`` (so sample k of map i is the same whatever the batch)."""
    from paintscape.benchmark.judge import to_input

    if tuple(labels.shape[1:]) != tuple(painter.size):
        raise KitError(
            f"the generator renders {painter.size[1]}x{painter.size[0]} but the kit is {labels.shape[2]}x{labels.shape[1]}"
        )
    out = []
    for start in range(0, len(labels), batch_size):
        stop = min(start + batch_size, len(labels))
        batch = torch.from_numpy(labels[start:stop].astype(np.int64))
        style = to_input(styles[start:stop]) if painter.uses_style else None
        photos = painter.render(batch, style, seeds=[1000 * sample + i for i in range(start, stop)])
        out.append(((photos.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def render_kit(painter, kit: Kit) -> tuple[np.ndarray, np.ndarray]:
    """``(held-out photos (N, H, W, 3), diversity samples (M, K, H, W, 3))`` of a generator.

    Sample k of diversity map m uses latent seed ``1000 k + m`` and, for a generator with a style
    stream, training photo ``m K + k`` as its style: K samples differ by latent and style.
    """
    labels = kit.load_set("heldout")[1]
    heldout = render(painter, labels, _styles(kit, len(labels)) if painter.uses_style else None)
    _, div_labels = kit.load_diversity()
    M, K = kit.manifest["spec"]["diversity_maps"], kit.manifest["spec"]["diversity_samples"]
    styles = _styles(kit, M * K).reshape(M, K, *heldout.shape[1:]) if painter.uses_style else None
    samples = [render(painter, div_labels, None if styles is None else styles[:, k], sample=k) for k in range(K)]
    return heldout, np.stack(samples, axis=1)


def measure_generator(kit: Kit, generator_path: str | Path) -> tuple[dict, np.ndarray]:
    """Every measure of a generator file or run directory on the kit; also its held-out photos."""
    from paintscape.benchmark.measure import measure_photos
    from paintscape.inference.painter import Painter

    painter = Painter.from_checkpoint(generator_path, device="cpu")
    heldout, diversity = render_kit(painter, kit)
    real, real_labels = kit.load_set("heldout")
    measures = measure_photos(kit.judge, heldout, real_labels, real, real_labels, diversity)
    measures["generator_parameters"] = sum(p.numel() for p in painter.generator.parameters())
    return measures, heldout


GALLERY_IMAGES = 8


def save_samples(out: Path, photos: np.ndarray) -> None:
    """The first held-out photos as PNG, for the leaderboard's gallery."""
    from PIL import Image

    from paintscape.io_atomic import atomic_save_image

    for i, photo in enumerate(photos[:GALLERY_IMAGES]):
        atomic_save_image(out / "samples" / f"{i:03d}.png", Image.fromarray(photo))


def family_runs(
    kit: Kit, configs: dict[str, str | Path], seeds: tuple[int, ...], out: str | Path
) -> dict[str, tuple[Config, Path]]:
    """``"NAME/seed_K": (config with train.seed=K, OUT/NAME/seed_K/run)`` for every family and seed."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"training seeds must be distinct and at least one, got {list(seeds)}")
    out = Path(out)
    return {
        f"{name}/seed_{seed}": (benchmark_config(kit, path, [f"train.seed={seed}"]), out / name / f"seed_{seed}" / "run")
        for name, path in configs.items()
        for seed in seeds
    }


def _summary(per_seed: list[dict]) -> dict:
    """Each measure's mean and std over training seeds (std 0 for one seed)."""
    summary = {}
    for key in MEASURE_KEYS:
        values = [m[key]["mean"] if isinstance(m[key], dict) else m[key] for m in per_seed if key in m]
        if values:
            summary[key] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "seeds": len(values)}
    return summary


MEASURE_KEYS = ("fid", "kid_x1000", "class_color", "mask_accuracy", "mean_iou", "diversity")


def run_benchmark(
    kit: Kit,
    configs: dict[str, str | Path],
    cpu_seconds: float,
    out: str | Path,
    seeds: tuple[int, ...] = (0,),
    command: str = "",
    progress: bool = True,
) -> dict[str, dict]:
    """Train each ``name: config`` with each training seed for ``cpu_seconds`` of CPU (all runs
    round-robin), measure every run on the kit, write ``OUT/NAME/result.json`` (per-seed measures,
    and their mean and std over seeds in ``"seeds_summary"``) and ``OUT/NAME/samples/`` (the first
    seed's); returns the results by name. An interrupted run continues where it stopped."""
    out = Path(out)
    runs = family_runs(kit, configs, seeds, out)
    states = train_on_budget(runs, cpu_seconds, progress=progress)
    results = {}
    for name, path in configs.items():
        per_seed, training = [], []
        for seed in seeds:
            key = f"{name}/seed_{seed}"
            config, run_dir = runs[key]
            cached = run_dir.parent / "measures.json"
            if cached.is_file():
                measures = json.loads(cached.read_text())
            else:
                measures, heldout = measure_generator(kit, run_dir)
                atomic_write_text(cached, json.dumps(measures, indent=1))
                if seed == seeds[0]:
                    save_samples(out / name, heldout)
            per_seed.append(measures)
            training.append({"seed": seed, **asdict(states[key])})
        result = {
            "name": name,
            "kit_id": kit.kit_id,
            "config": str(path),
            "generator": config.model.generator.name,
            "generator_args": dict(config.model.generator.args),
            "command": command,
            "cpu_budget": cpu_seconds,
            "seeds": list(seeds),
            "training": _training_summary(training),
            "training_per_seed": training,
            "measures": per_seed[0],
            "measures_per_seed": per_seed,
            "seeds_summary": _summary(per_seed),
            "floor": kit.manifest["floor"],
        }
        atomic_write_text(out / name / "result.json", json.dumps(result, indent=1))
        results[name] = result
    return results


def _training_summary(training: list[dict]) -> dict:
    """CPU seconds, steps and images, averaged over seeds (what one run of the family gets)."""
    return {
        "cpu_seconds": float(np.mean([t["cpu_seconds"] for t in training])),
        "steps": int(round(np.mean([t["steps"] for t in training]))),
        "images": int(round(np.mean([t["images"] for t in training]))),
        "load_average": [round(float(np.median([v for t in training for v in t["load_average"]] or [0.0])), 2)],
    }


def measure_result(kit: Kit, generator_path: str | Path, out: str | Path, name: str | None = None) -> dict:
    """Measure a generator trained elsewhere (no CPU budget: its row says so); writes
    ``OUT/result.json`` and ``OUT/samples/``."""
    out = Path(out)
    measures, heldout = measure_generator(kit, generator_path)
    result = {
        "name": name or Path(generator_path).stem,
        "kit_id": kit.kit_id,
        "generator_file": str(generator_path),
        "command": f"paintscape benchmark measure {kit.root} {generator_path} --out {out}",
        "training": None,
        "measures": measures,
        "floor": kit.manifest["floor"],
    }
    save_samples(out, heldout)
    atomic_write_text(out / "result.json", json.dumps(result, indent=1))
    return result
