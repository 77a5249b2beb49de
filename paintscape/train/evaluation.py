"""Model selection while training: every ``eval.every`` steps the inference generator renders the
held-out label maps, the metric registry judges the renders, and the best generator is kept.

Writes ``RUN/evals.jsonl`` (one record per evaluation: the step and every metric the config's
models allow), ``RUN/best.safetensors`` and ``RUN/best.json`` (the step, the metric and value it
was chosen by, and all metrics of that step). ``eval.select_by`` names the metric; whether lower or
higher is better comes from the registry. The renders are judged against the held-out photos: L1
and colour error always, FID with ``eval.inception_weights``, mask accuracy and mIoU with
``eval.segmenter``, the track's (partial) score with both.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import torch

from paintscape.checkpoint import save_generator
from paintscape.config import Config
from paintscape.data.dataset import PairedFolder
from paintscape.evaluate.inputs import TensorInputs
from paintscape.evaluate.metrics import compute_metrics, is_better, metric, missing_inputs
from paintscape.io_atomic import atomic_write_text
from paintscape.labels import one_hot
from paintscape.models.base import Generator, GeneratorSpec
from paintscape.train.networks import class_table

log = logging.getLogger("paintscape.train")

#: Which config key provides each judging model.
MODEL_KEYS = {"inception": "eval.inception_weights", "segmenter": "eval.segmenter"}


@torch.no_grad()
def render_pairs(
    generator: Generator, config: Config, names: list[str], device: torch.device, batch_size: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(generated, real, labels)`` for the pairs ``names``, rendered in eval mode.

    Latents come from :meth:`Generator.latent_for` with each pair's index as its seed (the same
    latent at every evaluation), so rendering leaves the training random stream untouched; a
    style-stream generator gets the real photo as its style.
    """
    dataset = PairedFolder(config.data.root, config.data.size, names=names, train=False, load_size=config.data.load_size)
    was_training = generator.training
    generator.eval()
    fakes, reals, labels = [], [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        real = torch.stack([i["image"] for i in items]).to(device)
        label = torch.stack([i["label"] for i in items]).to(device)
        z = generator.latent_for(range(start, start + len(items)), tuple(label.shape[1:]), device=device)
        fake = generator(one_hot(label, generator.num_classes), z=z, style=real if generator.uses_style else None).float()
        fakes.append(fake.cpu())
        reals.append(real.cpu())
        labels.append(label.cpu())
    generator.train(was_training)
    return torch.cat(fakes), torch.cat(reals), torch.cat(labels)


class EvaluationHook:
    """See the module docstring. ``names`` are the pairs judged (the holdout)."""

    def __init__(self, config: Config, run_dir: Path, names: list[str], device: torch.device) -> None:
        self.config = config
        self.run_dir = run_dir
        self.names = names[: config.eval.max_images]
        self.device = device
        self.select_by = metric(config.eval.select_by).name
        self.table = class_table(config)
        provided = {"inception": config.eval.inception_weights, "segmenter": config.eval.segmenter}
        available = {"generated", "labels", "targets", "real"} | {kind for kind, value in provided.items() if value}
        missing = missing_inputs(self.select_by, available)
        if missing:
            keys = " and ".join(MODEL_KEYS.get(kind, kind) for kind in missing)
            raise ValueError(f"eval.select_by={config.eval.select_by} needs {keys}; set it or select by another metric")
        self.best: dict[str, Any] | None = None
        self._models: dict[str, Any] | None = None

    def _load_models(self) -> dict[str, Any]:
        if self._models is None:
            self._models = {}
            if self.config.eval.inception_weights:
                from paintscape.evaluate.inception import load_inception

                self._models["inception"] = load_inception(self.config.eval.inception_weights, self.device)
            if self.config.eval.segmenter:
                from paintscape.evaluate.segmenter import load_segmenter, segment

                self._models["segmenter"] = partial(segment, load_segmenter(self.config.eval.segmenter, self.device, self.table.num_classes))
        return self._models

    def __call__(self, generator: Generator, spec: GeneratorSpec, step: int) -> dict[str, float]:
        """Judge ``generator`` at ``step``; keeps it as ``best`` when it beats the best so far."""
        fake, real, labels = render_pairs(generator, self.config, self.names, self.device)
        inputs = TensorInputs(fake, labels, targets=real, real=real, names=self.names, device=self.device, table=self.table, **self._load_models())
        metrics, _ = compute_metrics(inputs)
        with open(self.run_dir / "evals.jsonl", "a") as handle:
            handle.write(json.dumps({"step": step, **metrics}) + "\n")
        value = metrics[self.select_by]
        if is_better(self.select_by, value, None if self.best is None else self.best["value"]):
            self.best = {"step": step, "metric": self.select_by, "value": value}
            save_generator(self.run_dir / "best.safetensors", generator, spec)
            atomic_write_text(self.run_dir / "best.json", json.dumps({**self.best, **metrics}, indent=1))
            log.info("step %d: best %s so far (%g)", step, self.select_by, value)
        return metrics
