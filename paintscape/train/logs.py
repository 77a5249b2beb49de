"""What a training run records (rank 0 only): ``log.jsonl``, TensorBoard scalars and sample grids.

Scalars are averaged over the steps since the last record (every ``train.log_every`` steps), with
the learning rates and the images per second of that window. Sample grids (label | real |
generated for a few held-out pairs, every ``train.image_every`` steps) are rendered with latents
drawn from private generators inside :func:`torch.random.fork_rng`, so dumping them never changes
the training run's random stream.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from paintscape.data.contact_sheet import contact_sheet
from paintscape.data.dataset import PairedFolder
from paintscape.data.transforms import tensor_to_image
from paintscape.io_atomic import atomic_save_image, atomic_write_text
from paintscape.labels import colorize, one_hot
from paintscape.models.base import Generator

#: First seed of the sample grids' latents: the same z at every dump, so grids compare across steps.
SAMPLE_SEED = 12345


def drop_records_after(path: Path, step: int) -> None:
    """Rewrite a ``.jsonl`` log without the records of steps after ``step`` (and a line cut short
    by a kill): a resumed run logs those steps again, and each step must appear once."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))


class TrainingLog:
    """``log.jsonl`` + TensorBoard under ``run_dir``; ``sample_pairs`` are the pairs drawn in the
    sample grids. ``resume_step`` drops what the interrupted run recorded after it (TensorBoard
    events, ``log.jsonl`` and ``evals.jsonl`` records), since the resumed run records those steps again."""

    def __init__(self, run_dir: Path, sample_pairs: PairedFolder, tile_width: int, resume_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if resume_step is not None:
            for name in ("log.jsonl", "evals.jsonl"):
                drop_records_after(run_dir / name, resume_step)
        self.run_dir = run_dir
        self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step)
        items = [sample_pairs[i] for i in range(len(sample_pairs))]
        self.sample_image = torch.stack([i["image"] for i in items])
        self.sample_label = torch.stack([i["label"] for i in items])
        self.tile_width = tile_width
        self.palette: np.ndarray | None = None  # the class table's colours for the label column (None: landscape)
        self._window: dict[str, float] = {}
        self._steps = self._images = 0
        self._start = time.time()

    def add(self, terms: dict[str, float], batch_images: int) -> None:
        """One optimiser step's loss terms, into the current window."""
        for key, value in terms.items():
            self._window[key] = self._window.get(key, 0.0) + value
        self._steps += 1
        self._images += batch_images

    def write_window(self, step: int, images_seen: int, extra: dict[str, float]) -> None:
        """The window's mean terms, ``extra`` (learning rates, phase) and the speed, then a new window."""
        elapsed = max(time.time() - self._start, 1e-9)
        record = {k: v / max(self._steps, 1) for k, v in self._window.items()}
        record.update(extra)
        record["speed/images_per_s"] = self._images / elapsed
        self.write(step, images_seen, record)
        self._window, self._steps, self._images, self._start = {}, 0, 0, time.time()

    def write(self, step: int, images_seen: int, record: dict[str, float]) -> None:
        record = {"step": step, "images": images_seen, "time": time.time(), **record}
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if key not in ("step", "time") and isinstance(value, int | float):
                self.writer.add_scalar(key, value, step)

    @torch.no_grad()
    def samples(self, generator: Generator, step: int, device: torch.device) -> None:
        """``samples/step_N.png``: label | real | generated, with the generator in eval mode."""
        was_training = generator.training
        generator.eval()
        label = one_hot(self.sample_label.to(device), generator.num_classes)
        real = self.sample_image.to(device)
        size = tuple(self.sample_label.shape[1:])
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # whatever the generator draws, the run's stream stays
            if generator.encoder is not None:
                z = generator.encoder(real)[0]  # the real photo's encoding: its style
            else:
                z = generator.latent_for(range(SAMPLE_SEED, SAMPLE_SEED + len(real)), size, device=device)
            fake = generator(label, z=z, style=real if generator.uses_style else None)
        generator.train(was_training)
        palette = self.palette if self.palette is not None and len(self.palette) == generator.num_classes else None
        rows = [
            [colorize(lab.numpy().astype(np.uint8), palette), tensor_to_image(r), tensor_to_image(f)]
            for lab, r, f in zip(self.sample_label, real.cpu(), fake.float().cpu())
        ]
        sheet = contact_sheet(rows, ["label", "real", "generated"], tile_width=self.tile_width)
        atomic_save_image(self.run_dir / "samples" / f"step_{step:08d}.png", sheet)
        self.writer.add_image("samples", np.asarray(sheet), step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
