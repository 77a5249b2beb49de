"""``paintscape quickstart``: the whole loop on a CPU in minutes, with nothing to download.

1. writes synthetic scenes: a training set and a held-out test set (other seeds);
2. trains a small model for a fixed time budget;
3. renders the held-out label maps with the EMA generator and with the same network untrained;
4. measures how close each is to the real held-out photos (per-class mean-colour error and L1)
   and writes a gallery (label | real | generated) as PNG and HTML with those figures.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import numpy as np
import torch

from paintscape.config import Config, load_config
from paintscape.data.contact_sheet import contact_sheet
from paintscape.data.dataset import PairedFolder
from paintscape.data.synthetic import write_dataset
from paintscape.data.transforms import tensor_to_image
from paintscape.evaluate.color_error import class_color_error
from paintscape.io_atomic import atomic_save_image, atomic_write_text
from paintscape.labels import colorize, one_hot

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


@torch.no_grad()
def render_set(generator: torch.nn.Module, dataset: PairedFolder) -> list[np.ndarray]:
    generator.eval()
    out = []
    for i in range(len(dataset)):
        item = dataset[i]
        torch.manual_seed(i)
        style = item["image"][None] if getattr(generator, "uses_style", False) else None
        fake = generator(one_hot(item["label"][None]), style=style)[0]
        out.append(tensor_to_image(fake))
    return out


def measure(generated: list[np.ndarray], dataset: PairedFolder) -> dict[str, float]:
    color, l1 = [], []
    for photo, i in zip(generated, range(len(dataset))):
        item = dataset[i]
        real = tensor_to_image(item["image"])
        color.append(class_color_error(photo, real, item["label"].numpy().astype(np.uint8)))
        l1.append(np.abs(photo.astype(np.float64) - real.astype(np.float64)).mean())
    return {"class_color_error": float(np.nanmean(color)), "l1": float(np.mean(l1))}


def write_gallery(out: Path, dataset: PairedFolder, generated: list[np.ndarray], untrained: list[np.ndarray], results: dict) -> None:
    rows = []
    for i, (photo, raw) in enumerate(zip(generated, untrained)):
        item = dataset[i]
        rows.append([colorize(item["label"].numpy().astype(np.uint8)), tensor_to_image(item["image"]), photo, raw])
    sheet = contact_sheet(rows[:8], ["label", "real (held out)", "generated", "untrained"], tile_width=SIZE[1] * 2)
    atomic_save_image(out / "gallery.png", sheet)
    trained, base = results["trained"], results["untrained"]
    table = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{trained[k]:.1f}</td><td>{base[k]:.1f}</td></tr>" for k in ("class_color_error", "l1")
    )
    page = f"""<!doctype html><meta charset="utf-8"><title>paintscape quick start</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px}}</style>
<h1>paintscape quick start</h1>
<p>{results['model']} trained for {results['train_seconds'] / 60:.1f} min ({results['steps']} steps, {results['images']} images) on
{results['train_scenes']} synthetic scenes; rendered {results['test_scenes']} held-out label maps.</p>
<table><tr><th>metric (lower is better, 0..255)</th><th>trained</th><th>untrained</th></tr>{table}</table>
<p><img src="gallery.png" alt="label | real | generated | untrained" style="max-width:100%"></p>"""
    atomic_write_text(out / "gallery.html", page)


def quickstart(out: str | Path, minutes: float = 8.0, train_count: int = 400, test_count: int = 16, seed: int = 0, family: str = "pix2pix") -> str:
    from paintscape.checkpoint import build_generator, load_generator
    from paintscape.train.trainer import train

    out = Path(out)
    started = time.time()
    train_root, test_root = out / "data" / "train", out / "data" / "test"
    if not (train_root / "labels").is_dir():
        write_dataset(str(train_root), train_count, size=SIZE, seed=seed, progress=True)
    if not (test_root / "labels").is_dir():
        write_dataset(str(test_root), test_count, size=SIZE, seed=seed + TEST_SEED_OFFSET, progress=True)
    run = out / "run"
    budget = max(minutes * 60 - (time.time() - started), 30.0)
    config = quickstart_config(train_root, family, steps=1_000_000, seed=seed)
    result = train(config, run, time_limit=budget, resume=(run / "latest.json").exists())

    generator, spec = load_generator(run)
    torch.manual_seed(seed)
    untrained_generator = build_generator(spec)
    test_set = PairedFolder(test_root, SIZE, train=False)
    generated = render_set(generator, test_set)
    untrained = render_set(untrained_generator, test_set)
    for item_index, photo in enumerate(generated):
        from PIL import Image

        atomic_save_image(out / "generated" / f"{test_set.names[item_index]}.png", Image.fromarray(photo))
    results = {
        "model": family,
        "steps": result.steps,
        "images": result.images,
        "train_seconds": result.seconds,
        "train_scenes": train_count,
        "test_scenes": test_count,
        "size": list(SIZE),
        "trained": measure(generated, test_set),
        "untrained": measure(untrained, test_set),
        "total_seconds": time.time() - started,
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    write_gallery(out, test_set, generated, untrained, results)
    trained, base = results["trained"], results["untrained"]
    return (
        f"quick start done in {results['total_seconds'] / 60:.1f} min: {family} trained {result.steps} steps.\n"
        f"held-out per-class colour error {trained['class_color_error']:.1f} (untrained {base['class_color_error']:.1f}), "
        f"L1 {trained['l1']:.1f} (untrained {base['l1']:.1f}), 0..255 scale.\n"
        f"gallery: {out / 'gallery.html'} and {out / 'gallery.png'}; model: {run}"
    )
