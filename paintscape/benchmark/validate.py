"""The proxy is validated before it is used: over checkpoints of one training run (untrained, a
few hundred steps, a few thousand) and the real photos, a measure that tells models apart must
order them untrained < short < long < real, by more than its noise.

For each checkpoint every measure is computed (:func:`paintscape.benchmark.measure.measure_photos`);
its noise is the spread over three disjoint thirds of the held-out set (FID, colour distance,
mask accuracy) or over KID's 50 random subsets, and, with several training seeds, over seeds.
A measure **orders** the checkpoints when each one is better than the one before; the order is
**resolved** when each gap is larger than the two spreads together.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from paintscape.benchmark.kit import Kit
from paintscape.benchmark.measure import MEASURES
from paintscape.benchmark.runner import benchmark_config, measure_generator
from paintscape.io_atomic import atomic_write_text

DEFAULT_STEPS = (0, 100, 500, 2000)

#: measure -> (value key, spread: key of a {"mean", "std"} entry used for the noise)
CHECKED = {
    "fid": ("fid_subsets", "mean"),
    "kid_x1000": ("kid_x1000", "mean"),
    "class_color": ("class_color_subsets", "mean"),
    "mask_accuracy": ("mask_accuracy_subsets", "mean"),
}


def checkpoint_generators(
    kit: Kit, config_path: str | Path, out: Path, steps: tuple[int, ...], seed: int, progress: bool = True
) -> dict[int, dict]:
    """Train one run to each of ``steps`` in turn and copy its generator at each: ``{step: {"path", "cpu_seconds"}}``.
    Step 0 is the network as the trainer initialises it (same seed), untrained."""
    from paintscape.checkpoint import latest_record, save_generator
    from paintscape.train.networks import build_generator_from_config
    from paintscape.train.trainer import train

    config = benchmark_config(kit, config_path, [f"train.seed={seed}"])
    run = out / f"seed_{seed}" / "run"
    found: dict[int, dict] = {}
    cpu = 0.0
    for step in sorted(steps):
        target = out / f"seed_{seed}" / f"step_{step:06d}.safetensors"
        facts = target.with_suffix(".json")
        if target.is_file() and facts.is_file():
            found[step] = json.loads(facts.read_text())
            cpu = found[step]["cpu_seconds"]
            continue
        if step == 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                generator, spec = build_generator_from_config(config)
            save_generator(target, generator.eval(), spec)
        else:
            record = latest_record(run)
            started = time.process_time()
            train(config, run, resume=record is not None, progress=progress, check_data=False, stop_after=step)
            cpu += time.process_time() - started
            shutil.copyfile(run / latest_record(run)["generator"], target)
        found[step] = {"path": str(target), "step": step, "cpu_seconds": round(cpu, 1)}
        atomic_write_text(facts, json.dumps(found[step]))
    return found


def _value(measures: dict, key: str) -> tuple[float, float]:
    entry = measures[key]
    return (entry["mean"], entry["std"]) if isinstance(entry, dict) else (float(entry), 0.0)


def order_check(rows: list[tuple[float, float]], higher_is_better: bool) -> dict:
    """Rows ``(mean, spread)`` from worst expected to best: ``{"ordered", "resolved", "gaps"}``."""
    sign = 1.0 if higher_is_better else -1.0
    gaps = [sign * (b[0] - a[0]) for a, b in zip(rows, rows[1:])]
    noise = [a[1] + b[1] for a, b in zip(rows, rows[1:])]
    return {
        "ordered": bool(all(g > 0 for g in gaps)),
        "resolved": bool(all(g > n for g, n in zip(gaps, noise))),
        "gaps": [round(g, 6) for g in gaps],
        "noise": [round(n, 6) for n in noise],
    }


def validate(
    kit: Kit,
    config_path: str | Path,
    out: str | Path,
    steps: tuple[int, ...] = DEFAULT_STEPS,
    seeds: tuple[int, ...] = (0,),
    progress: bool = True,
) -> dict:
    """Measure checkpoints of ``config_path`` at ``steps`` (per training seed) and the real photos;
    check every measure's order; write ``OUT/validation.json`` and ``OUT/validation.md``."""
    out = Path(out)
    per_seed: dict[int, dict[int, dict]] = {}
    for seed in seeds:
        generators = checkpoint_generators(kit, config_path, out, tuple(steps), seed, progress)
        per_seed[seed] = {}
        for step, facts in generators.items():
            cached = Path(facts["path"]).with_suffix(".measures.json")
            if cached.is_file():
                per_seed[seed][step] = json.loads(cached.read_text())
                continue
            measures, _ = measure_generator(kit, facts["path"])
            per_seed[seed][step] = {**measures, "cpu_seconds": facts["cpu_seconds"]}
            atomic_write_text(cached, json.dumps(per_seed[seed][step]))
    floor = kit.manifest["floor"]
    rows = [f"{s} steps" if s else "untrained" for s in sorted(steps)] + ["real photos"]
    checks = {}
    table: dict[str, list[tuple[float, float]]] = {}
    for measure, (key, _) in CHECKED.items():
        values = []
        for step in sorted(steps):
            per = [_value(per_seed[seed][step], key) for seed in seeds]
            mean = float(np.mean([m for m, _ in per]))
            # noise: the evaluation spread, or the spread over training seeds when it is larger
            spread = max(
                float(np.mean([s for _, s in per])), float(np.std([m for m, _ in per])) if len(per) > 1 else 0.0
            )
            values.append((mean, spread))
        values.append(_value(floor, key))
        table[measure] = values
        checks[measure] = order_check(values, MEASURES[measure][1])
    result = {
        "kit_id": kit.kit_id,
        "config": str(config_path),
        "steps": list(sorted(steps)),
        "seeds": list(seeds),
        "rows": rows,
        "table": {m: [list(v) for v in vals] for m, vals in table.items()},
        "checks": checks,
        "checkpoints": {str(seed): {str(step): m for step, m in per.items()} for seed, per in per_seed.items()},
        "floor": floor,
    }
    atomic_write_text(out / "validation.json", json.dumps(result, indent=1))
    atomic_write_text(out / "validation.md", validation_markdown(result))
    return result


def validation_markdown(result: dict) -> str:
    """The validation table: one column per measure (mean ± spread), then each measure's verdict."""
    names = {
        "fid": "FID (thirds)",
        "kid_x1000": "KID x1000",
        "class_color": "class colour (thirds)",
        "mask_accuracy": "mask accuracy (thirds)",
    }
    measures = list(result["table"])
    lines = [
        "| checkpoint | CPU s | " + " | ".join(names.get(m, m) for m in measures) + " |",
        "|---|---:|" + "---:|" * len(measures),
    ]
    first_seed = str(result["seeds"][0])
    for i, row in enumerate(result["rows"]):
        step = str(result["steps"][i]) if i < len(result["steps"]) else None
        cpu = f"{result['checkpoints'][first_seed][step]['cpu_seconds']:.0f}" if step is not None else "—"
        cells = []
        for m in measures:
            mean, spread = result["table"][m][i]
            digits = 3 if m in ("class_color", "mask_accuracy") else 2
            cells.append(f"{mean:.{digits}f} ± {spread:.{digits}f}")
        lines.append(f"| {row} | {cpu} | " + " | ".join(cells) + " |")
    verdicts = []
    for m in measures:
        check = result["checks"][m]
        verdict = (
            "resolved" if check["resolved"] else ("ordered, not beyond noise" if check["ordered"] else "NOT ordered")
        )
        verdicts.append(verdict)
    lines.append("| **order untrained → real** | | " + " | ".join(verdicts) + " |")
    return "\n".join(lines) + "\n"
