"""``paintscape quickstart``: the whole loop on a CPU in minutes, with nothing to download.

1. writes synthetic scenes: a training set and a held-out test set (other seeds);
2. trains a small generator for a fixed time budget, then a SegFormer on the training photos;
3. renders the held-out label maps with the EMA generator and with the same network untrained;
4. measures each with every metric of the registry these allow: the segmenter's mask accuracy /
   mIoU against the label maps (the track's measure), per-class mean-colour error and L1 against the
   real held-out photos; writes a gallery (label | real | generated | untrained) as PNG and HTML
   with those figures.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import numpy as np
import torch

import paintscape.evaluate.metrics  # noqa: F401  (registers the metrics)
from paintscape.config import Config, load_config
from paintscape.data.contact_sheet import contact_sheet
from paintscape.data.dataset import PairedFolder
from paintscape.data.synthetic import write_dataset
from paintscape.data.transforms import tensor_to_image
from paintscape.io_atomic import atomic_save_image, atomic_write_text
from paintscape.labels import colorize
from paintscape.registry import METRICS

SIZE = (96, 128)  # (H, W): small enough for 2 CPU cores, large enough to see a landscape
TEST_SEED_OFFSET = 1_000_000  # held-out scenes use seeds no training scene uses

FAMILIES = {
    # pix2pix learns layouts and colours fastest per CPU-second (U-Net + L1).
    "pix2pix": [
        "model.generator={name: pix2pix, args: {base_channels: 32, norm: batch, dropout: 0.5}}",
        "model.discriminator={name: patchgan, args: {base_channels: 32, num_layers: 3, norm: batch}}",
        "loss.adversarial=bce",
        "loss.weights={adv: 1.0, l1: 100.0}",
        "train.betas=[0.5, 0.999]",
        "train.ttur=false",
    ],
    # SPADE at reduced width; feature matching + L1 instead of VGG (no weights to download).
    "spade": [
        "model.generator={name: spade, args: {base_channels: 16, hidden_channels: 32, norm: batch, use_vae: false}}",
        "model.discriminator={name: multiscale, args: {base_channels: 16, num_scales: 2, num_layers: 3}}",
        "loss.adversarial=hinge",
        "loss.weights={adv: 1.0, feat: 10.0, l1: 10.0}",
    ],
    # OASIS at reduced width: the segmentation discriminator and LabelMix, no reconstruction term at
    # all (it learns from D alone), so it is the slowest to learn here but draws different photos per seed.
    "oasis": [
        "model.generator={name: oasis, args: {base_channels: 16, channel_multipliers: [8, 8, 4, 2, 1], z_dim: 16, hidden_channels: 32, norm: batch}}",
        "model.discriminator={name: oasis, args: {base_channels: 16, channel_multipliers: [1, 2, 4, 4, 8]}}",
        "loss.objective=oasis",
        "loss.weights={adv: 1.0, labelmix: 10.0}",
        "train.betas=[0.0, 0.999]",
        "train.ema_bn_refresh_batches=4",
    ],
}


def quickstart_config(data_root: Path, family: str, steps: int, batch_size: int = 8, seed: int = 0) -> Config:
    if family not in FAMILIES:
        raise ValueError(f"unknown quick-start family {family!r}; valid: {', '.join(FAMILIES)}")
    return load_config(
        None,
        [
            *FAMILIES[family],
            f"data.root={data_root}",
            f"data.size=[{SIZE[0]}, {SIZE[1]}]",
            "data.workers=0",
            f"train.phases=[{{batch_size: {batch_size}, lr: 0.0002, steps: {steps}}}]",
            "train.lr_decay_start=1.0",  # a time budget, not a step budget: no decay
            "train.ema_half_life_images=400",
            f"train.seed={seed}",
            "train.log_every=10",
            "train.image_every=100",
            "train.checkpoint_every=100",
            "train.keep_last=1",
        ],
    )


def read_set(directory: Path, dataset: PairedFolder) -> list[np.ndarray]:
    from paintscape.data.io import find_image, read_image

    return [read_image(find_image(directory, name)) for name in dataset.names]


def measure(generated_dir: Path, labels_dir: Path, segmenter_dir: Path | None, targets_dir: Path | None) -> dict[str, float]:
    """Every registered metric the segmenter and (when given) the real photos allow, by name."""
    from paintscape.evaluate.report import evaluate_folder

    metrics = evaluate_folder(generated_dir, labels_dir, segmenter_dir=segmenter_dir, targets_dir=targets_dir)["metrics"]
    return {name: value for name, value in metrics.items() if name in METRICS}


def table_rows(results: dict, columns: tuple[str, ...]) -> str:
    """One HTML row per registered metric measured in any column, titled with its direction."""
    rows = []
    for entry in METRICS.entries():
        if not any(entry.name in results[c] for c in columns):
            continue
        title = f"{entry['title']} ({'higher' if entry['higher_is_better'] else 'lower'} is better)"
        cells = "".join(f"<td>{results[c][entry.name]:#.3g}</td>" if entry.name in results[c] else "<td>-</td>" for c in columns)
        rows.append(f"<tr><td>{html.escape(title)}</td>{cells}</tr>")
    return "".join(rows)


def write_gallery(out: Path, dataset: PairedFolder, generated: list[np.ndarray], untrained: list[np.ndarray], results: dict) -> None:
    rows = []
    for i, (photo, raw) in enumerate(zip(generated, untrained)):
        item = dataset[i]
        rows.append([colorize(item["label"].numpy().astype(np.uint8)), tensor_to_image(item["image"]), photo, raw])
    sheet = contact_sheet(rows[:8], ["label", "real (held out)", "generated", "untrained"], tile_width=SIZE[1] * 2)
    atomic_save_image(out / "gallery.png", sheet)
    table = table_rows(results, ("trained", "untrained", "real"))
    page = f"""<!doctype html><meta charset="utf-8"><title>paintscape quick start</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px}}</style>
<h1>paintscape quick start</h1>
<p>{results['model']} trained for {results['train_seconds'] / 60:.1f} min ({results['steps']} steps, {results['images']} images) on
{results['train_scenes']} synthetic scenes at {SIZE[1]}x{SIZE[0]}; {results['test_scenes']} held-out label maps rendered.
The segmenter (SegFormer {results['segmenter_size']}, {results['segmenter_steps']} steps on the training photos) judges how well each
photo shows its label map.</p>
<table><tr><th>held-out set</th><th>generated</th><th>untrained generator</th><th>real photos</th></tr>{table}</table>
<p><img src="gallery.png" alt="label | real | generated | untrained" style="max-width:100%"></p>"""
    atomic_write_text(out / "gallery.html", page)


def quickstart(
    out: str | Path,
    minutes: float = 6.0,
    train_count: int = 400,
    test_count: int = 16,
    seed: int = 0,
    family: str = "pix2pix",
    segmenter_steps: int = 300,
    segmenter_size: str = "b0",
    steps: int | None = None,
) -> str:
    """Everything through the same code as the CLI: ``train``, ``train-segmenter``, ``generate``,
    ``evaluate``; so ``paintscape evaluate`` on the same files reports the same mask accuracy.

    The generator trains for ``minutes``, or with ``steps`` for exactly that many steps whatever the
    machine's speed or load (what a test of the outcome needs)."""
    from paintscape.checkpoint import build_generator, load_generator, save_generator
    from paintscape.evaluate.segmenter import train_segmenter
    from paintscape.inference.generate import generate_folder
    from paintscape.inference.painter import Painter
    from paintscape.train.run_page import write_run_page
    from paintscape.train.trainer import train

    out = Path(out)
    started = time.time()
    train_root, test_root = out / "data" / "train", out / "data" / "test"
    if not (train_root / "labels").is_dir():
        write_dataset(str(train_root), train_count, size=SIZE, seed=seed, progress=True)
    if not (test_root / "labels").is_dir():
        write_dataset(str(test_root), test_count, size=SIZE, seed=seed + TEST_SEED_OFFSET, progress=True)

    run = out / "run"
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    config = quickstart_config(train_root, family, steps=steps or 1_000_000, seed=seed)
    time_limit = None if steps is not None else max(minutes * 60, 30.0)
    result = train(config, run, time_limit=time_limit, resume=(run / "latest.json").exists())
    write_run_page(run)  # run/report.html: the loss curves and sample grids of the training

    segmenter_dir = out / "segmenter"
    if not (segmenter_dir / "training.json").is_file():
        from tqdm import tqdm

        bar = tqdm(total=segmenter_steps, desc="train-segmenter", unit="step")
        train_segmenter(PairedFolder(train_root, SIZE, train=True), segmenter_dir, size=segmenter_size, steps=segmenter_steps,
                        batch_size=8, lr=6e-4, seed=seed, progress=lambda step, total, loss: bar.update(1))
        bar.close()

    # The trained generator and the same network untrained, through the CLI's generation code.
    generator, spec = load_generator(run)
    torch.manual_seed(seed)
    save_generator(out / "untrained.safetensors", build_generator(spec), spec)
    test_set = PairedFolder(test_root, SIZE, train=False)
    metrics: dict[str, dict] = {}
    for key, checkpoint in (("trained", run), ("untrained", out / "untrained.safetensors")):
        generate_folder(Painter.from_checkpoint(checkpoint, device="cpu"), test_root / "labels", out / key, suffix=".png", progress=False)
        metrics[key] = measure(out / key, test_root / "labels", segmenter_dir, targets_dir=test_root / "imgs")
    metrics["real"] = measure(test_root / "imgs", test_root / "labels", segmenter_dir, targets_dir=None)

    results = {
        "model": family,
        "steps": result.steps,
        "images": result.images,
        "train_seconds": result.seconds,
        "train_scenes": train_count,
        "test_scenes": test_count,
        "size": list(SIZE),
        "segmenter_size": segmenter_size,
        "segmenter_steps": segmenter_steps,
        **metrics,
        "total_seconds": time.time() - started,
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    write_gallery(out, test_set, read_set(out / "trained", test_set), read_set(out / "untrained", test_set), results)
    trained, base, real = results["trained"], results["untrained"], results["real"]
    return (
        f"quick start done in {results['total_seconds'] / 60:.1f} min: {family} trained {result.steps} steps on {train_count} synthetic scenes.\n"
        f"held-out mask accuracy {trained['mask_accuracy']:.3f} (untrained {base['mask_accuracy']:.3f}, real photos {real['mask_accuracy']:.3f}); "
        f"per-class colour error {trained['class_color_error']:.1f} (untrained {base['class_color_error']:.1f}) on 0..255.\n"
        f"gallery: {out / 'gallery.html'}; generator: {run}; segmenter: {segmenter_dir}"
    )
