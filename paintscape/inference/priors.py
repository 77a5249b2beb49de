"""A diffusion run's noise priors (SCP-Diff): computed once from the run's training data, stored in
the run, read by ``generate --prior`` and the Painter.

    priors = compute_run_priors("runs/controlnet")   # writes runs/controlnet/priors.safetensors
    priors = NoisePriors.load(default_priors_path("runs/controlnet"))

The statistics are over the VAE latents of the training pairs the run's config names (every phase's
subset, the holdout left out), encoded by the run's generator file (the EMA generator: its VAE is the
one that decodes samples), at the size the generator renders; see
:mod:`paintscape.models.diffusion.priors` for the method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from paintscape.checkpoint import load_generator, resolve_generator_path
from paintscape.class_table import table_of
from paintscape.config import Config, load_config
from paintscape.data.dataset import PairedFolder, paired_names
from paintscape.data.io import read_subset
from paintscape.models.diffusion.controlnet import ControlNetGenerator
from paintscape.models.diffusion.priors import NoisePriors, compute_priors

PRIORS_FILE = "priors.safetensors"


def run_directory(checkpoint: str | Path) -> Path | None:
    """The run a checkpoint belongs to: the directory itself, or ``RUN`` for ``RUN/checkpoints/X.safetensors``."""
    path = Path(checkpoint)
    if path.name == "latest" and not path.exists():
        path = path.parent
    if path.is_dir():
        return path
    if path.parent.name == "checkpoints" and (path.parent.parent / "config.yaml").is_file():
        return path.parent.parent
    return None


def default_priors_path(checkpoint: str | Path) -> Path:
    """Where a checkpoint's priors live: ``RUN/priors.safetensors``; beside a loose generator file,
    ``NAME.priors.safetensors``."""
    run = run_directory(checkpoint)
    if run is not None:
        return run / PRIORS_FILE
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}.priors.safetensors")


def training_names(config: Config, data_root: Path) -> list[str]:
    """The pairs a run trained on: every phase's subset (all pairs when a phase has none), minus the holdout."""
    names: dict[str, None] = {}
    for phase in config.train.phases:
        names.update(dict.fromkeys(paired_names(data_root, phase.subset)))
    held = set(read_subset(config.data.holdout)) if config.data.holdout else set()
    return [n for n in names if n not in held]


def compute_run_priors(
    run: str | Path,
    *,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: Callable[[Iterator], Iterator] | None = None,
) -> tuple[NoisePriors, Path]:
    """Compute and save the priors of the diffusion run ``run`` (a run directory); returns them and
    the file written (default ``RUN/priors.safetensors``). ``data_root`` replaces the config's
    ``data.root`` (the data moved); ``progress`` wraps the batch iterator (a tqdm)."""
    run_dir = run_directory(run)
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run directory (no config.yaml); priors are computed from a run's training data")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    generator_file = resolve_generator_path(run_dir)
    generator, spec = load_generator(generator_file, device=device)
    if not isinstance(generator, ControlNetGenerator):
        raise ValueError(f"{generator_file}: a {spec.family} generator draws no diffusion noise; priors are for diffusion runs")
    config = load_config(run_dir / "config.yaml")
    root = Path(data_root) if data_root is not None else Path(config.data.root)
    names = training_names(config, root)
    # read with the model's class table: a moved dataset with other ids is an error naming the file
    dataset = PairedFolder(root, spec.image_size, names=names, train=False, load_size=config.data.load_size,
                           table=table_of(spec.class_names, spec.palette))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    batches = ((item["image"].to(device), item["label"].to(device)) for item in loader)
    if progress is not None:
        batches = progress(batches)
    generator.eval()
    info = {"image_size": list(spec.image_size), "generator": str(generator_file.relative_to(run_dir)), "data": str(root)}
    priors = compute_priors(generator.encode_photos, batches, num_classes=spec.num_classes, info=info)
    path = Path(out) if out is not None else run_dir / PRIORS_FILE
    priors.save(path)
    return priors, path
