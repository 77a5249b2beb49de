"""Averaging the weights of a run's best evaluated checkpoints (the track runner-up's trick).

``best_checkpoints`` ranks the step checkpoints that ``evals.jsonl`` scored, by a metric of the
registry (by default the one the run selected by), best first; ``average_generators`` writes the
mean of their floating-point weights as one generator file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from paintscape.checkpoint import CheckpointError, read_generator_file, save_generator
from paintscape.evaluate.metrics import metric, rank_key, read_record
from paintscape.models.base import GeneratorSpec


def average_generators(paths: list[Path], out: Path) -> GeneratorSpec:
    """Average the floating-point weights of several generator files of the same network."""
    if not paths:
        raise CheckpointError("no generator files to average")
    total: dict[str, torch.Tensor] = {}
    spec = None
    for path in paths:
        tensors, this_spec = read_generator_file(path)
        if spec is None:
            spec, total = this_spec, {k: v.double() if v.is_floating_point() else v.clone() for k, v in tensors.items()}
            continue
        if (this_spec.family, this_spec.build_kwargs()) != (spec.family, spec.build_kwargs()) or set(tensors) != set(total):
            raise CheckpointError(f"{path}: a different network from {paths[0]}; only checkpoints of one run can be averaged")
        for k, v in tensors.items():
            if v.is_floating_point():
                total[k] += v.double()
    averaged = {k: (v / len(paths)).float() if v.is_floating_point() else v for k, v in total.items()}
    save_generator(out, averaged, spec)
    return spec


def selected_metric(run_dir: Path) -> str:
    """The metric the run selected by: ``best.json``'s, else the run config's ``eval.select_by``."""
    best = run_dir / "best.json"
    if best.is_file():
        return metric(str(json.loads(best.read_text())["metric"])).name
    config = run_dir / "config.yaml"
    if config.is_file():
        from paintscape.config import config_from_yaml_text

        return metric(config_from_yaml_text(config.read_text()).eval.select_by).name
    return "l1"


def best_checkpoints(run_dir: Path, top: int, by: str | None = None) -> list[Path]:
    """The ``top`` evaluated step checkpoints that still exist, best first by metric ``by`` (default:
    :func:`selected_metric`), from ``evals.jsonl`` (records of older versions read too)."""
    if top < 1:
        raise ValueError(f"--top must be at least 1 (the number of checkpoints to average), got {top}")
    log = run_dir / "evals.jsonl"
    if not log.is_file():
        raise CheckpointError(f"{log} not found: enable the evaluation hook (eval.every) to rank checkpoints")
    name = metric(by).name if by is not None else selected_metric(run_dir)
    records = read_evaluations(log)
    if not any(name in r for r in records):
        logged = sorted({k for r in records for k in r} - {"step"})
        raise CheckpointError(f"{log}: no evaluation logged {name}; it has {', '.join(logged) or 'nothing'} (average --by NAME)")
    available = []
    for record in records:
        path = run_dir / "checkpoints" / f"step_{record['step']:08d}.safetensors"
        if path.is_file() and name in record:
            value = record[name]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise CheckpointError(f"{log}: step {record['step']}: {name} is {value!r}, not a number")
            available.append((rank_key(name, float(value)), path))
    available.sort()
    return [p for _, p in available[:top]]


def read_evaluations(log: Path) -> list[dict[str, object]]:
    """The records of ``evals.jsonl``; a line that is not a JSON object with an integer ``step`` is
    an error naming the file and the line (an edited or damaged log must not rank silently)."""
    try:
        lines = log.read_text().splitlines()
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{log}: not a text file ({exc})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{log}: line {number} is not JSON ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int) or isinstance(record["step"], bool):
            raise CheckpointError(f"{log}: line {number} is not an evaluation record (an object with an integer 'step')")
        records.append(read_record(record))
    return records
