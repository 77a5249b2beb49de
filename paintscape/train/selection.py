"""Model selection while training: evaluate the inference generator on held-out pairs, and
average the weights of the best checkpoints (the track runner-up's trick)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from paintscape.checkpoint import CheckpointError, read_generator_file, save_generator
from paintscape.config import Config
from paintscape.data.dataset import PairedFolder
from paintscape.labels import one_hot
from paintscape.models.base import Generator


@torch.no_grad()
def evaluate_holdout(generator: Generator, config: Config, names: list[str], device: torch.device, batch_size: int = 8) -> dict[str, float]:
    """``l1`` (mean absolute error to the real photos, in [-1, 1] units) always; ``fid`` when
    ``eval.inception_weights`` is set; ``mask_acc`` and ``score`` when a segmenter is set too."""
    dataset = PairedFolder(config.data.root, config.data.size, names=names, train=False, load_size=config.data.load_size)
    was_training = generator.training
    generator.eval()
    fakes, reals, labels = [], [], []
    generator_rng = torch.get_rng_state()
    torch.manual_seed(0)
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        real = torch.stack([i["image"] for i in items]).to(device)
        label = torch.stack([i["label"] for i in items]).to(device)
        style = real if generator.uses_style else None
        fake = generator(one_hot(label), style=style).float()
        fakes.append(fake.cpu())
        reals.append(real.cpu())
        labels.append(label.cpu())
    torch.set_rng_state(generator_rng)
    generator.train(was_training)
    fake, real, label = torch.cat(fakes), torch.cat(reals), torch.cat(labels)
    metrics = {"l1": float((fake - real).abs().mean())}
    if config.eval.inception_weights:
        from paintscape.evaluate.fid import fid_from_tensors

        metrics["fid"] = fid_from_tensors(fake, real, config.eval.inception_weights, device=device)
    if config.eval.segmenter:
        from paintscape.evaluate.score import track_score
        from paintscape.evaluate.segmentation_metrics import mask_accuracy
        from paintscape.evaluate.segmenter import load_segmenter, segment

        segmenter = load_segmenter(config.eval.segmenter).to(device)
        predicted = torch.cat([segment(segmenter, fake[i : i + batch_size].to(device)).cpu() for i in range(0, len(fake), batch_size)])
        metrics["mask_acc"] = float(mask_accuracy(label.numpy(), predicted.numpy()))
        if "fid" in metrics:
            metrics["score"] = float(track_score(metrics["mask_acc"], metrics["fid"], None).score)
    return metrics


def average_generators(paths: list[Path], out: Path) -> dict:
    """Average the floating-point weights of several generator files of the same network."""
    if not paths:
        raise CheckpointError("no generator files to average")
    total: dict[str, torch.Tensor] | None = None
    spec = None
    for path in paths:
        tensors, this_spec = read_generator_file(path)
        if spec is None:
            spec, total = this_spec, {k: v.double() if v.is_floating_point() else v.clone() for k, v in tensors.items()}
        else:
            if (this_spec.family, this_spec.build_kwargs()) != (spec.family, spec.build_kwargs()) or set(tensors) != set(total):
                raise CheckpointError(f"{path}: a different network from {paths[0]}; only checkpoints of one run can be averaged")
            for k, v in tensors.items():
                if v.is_floating_point():
                    total[k] += v.double()
    averaged = {k: (v / len(paths)).float() if v.is_floating_point() else v for k, v in total.items()}
    save_generator(out, averaged, spec)
    return {"averaged": [str(p) for p in paths], "out": str(out)}


def best_checkpoints(run_dir: Path, top: int) -> list[Path]:
    """The ``top`` evaluated step checkpoints that still exist, best first, from ``evals.jsonl``."""
    log = run_dir / "evals.jsonl"
    if not log.is_file():
        raise CheckpointError(f"{log} not found: enable the evaluation hook (eval.every) to rank checkpoints")
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    available = []
    for record in records:
        path = run_dir / "checkpoints" / f"step_{record['step']:08d}.safetensors"
        if path.is_file():
            key = "score" if "score" in record else ("fid" if "fid" in record else "l1")
            value = record[key]
            available.append((-value if key == "score" else value, path))
    available.sort()
    return [p for _, p in available[:top]]
