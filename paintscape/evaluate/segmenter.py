"""The SegFormer that measures mask accuracy: does a generated photo segment back into its label map?

SegFormer (Xie et al., 2021) through ``transformers``: a Mix Transformer (MiT) encoder and an
all-MLP decoder, with one output per class of the dataset's class table (the 29 landscape classes
by default). Sizes ``b0`` ... ``b5`` use the paper's MiT settings
(same as the ``nvidia/mit-b*`` configs on the Hugging Face hub); ``tiny`` is a few-channel model
for tests only.

* :func:`build_segmenter` -- a fresh model, optionally starting from a local ImageNet-pretrained
  MiT encoder (``nvidia/mit-b0`` etc., a folder holding ``config.json`` and the weights). Nothing is
  ever downloaded.
* :func:`train_segmenter` -- cross-entropy training (ignore 255) on ``{"image", "label"}`` items;
  the result is written atomically (``save_pretrained`` with safetensors + ``training.json``).
* :func:`load_segmenter` / :func:`segment` -- inference at the input's resolution.

Input normalisation: our images are in ``[-1, 1]``; SegFormer's MiT encoders were trained on
ImageNet-normalised RGB, so images are mapped to ``[0, 1]`` and normalised with the ImageNet mean
and std (what ``SegformerImageProcessor`` does) both in training and in :func:`segment`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from paintscape.io_atomic import atomic_write_directory
from paintscape.labels import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRAINING_FACTS_FILE = "training.json"


@dataclass(frozen=True)
class MiTSize:
    hidden_sizes: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    num_attention_heads: tuple[int, int, int, int]
    decoder_hidden_size: int


#: SegFormer paper, Table 6 / the nvidia/mit-b* configs: channels, blocks per stage, heads, decoder C.
SEGFORMER_SIZES: dict[str, MiTSize] = {
    "b0": MiTSize((32, 64, 160, 256), (2, 2, 2, 2), (1, 2, 5, 8), 256),
    "b1": MiTSize((64, 128, 320, 512), (2, 2, 2, 2), (1, 2, 5, 8), 256),
    "b2": MiTSize((64, 128, 320, 512), (3, 4, 6, 3), (1, 2, 5, 8), 768),
    "b3": MiTSize((64, 128, 320, 512), (3, 4, 18, 3), (1, 2, 5, 8), 768),
    "b4": MiTSize((64, 128, 320, 512), (3, 8, 27, 3), (1, 2, 5, 8), 768),
    "b5": MiTSize((64, 128, 320, 512), (3, 6, 40, 3), (1, 2, 5, 8), 768),
    # tests only: b0's layout with a few channels
    "tiny": MiTSize((8, 16, 24, 32), (1, 1, 1, 1), (1, 1, 2, 2), 16),
}


def _transformers():
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the SegFormer segmenter needs the 'transformers' package: pip install transformers"
        ) from err
    return transformers


def segformer_config(size: str = "b0", num_labels: int = NUM_CLASSES, class_names: tuple[str, ...] | None = None):
    """A ``SegformerConfig`` for MiT size ``size`` whose labels are ``class_names`` (default: the
    landscape classes for 29 labels, numbers otherwise)."""
    if size not in SEGFORMER_SIZES:
        raise ValueError(f"unknown SegFormer size '{size}'; choose one of {', '.join(SEGFORMER_SIZES)}")
    spec = SEGFORMER_SIZES[size]
    if class_names is not None and len(class_names) != num_labels:
        raise ValueError(f"{len(class_names)} class names for {num_labels} labels")
    names = class_names or (CLASS_NAMES if num_labels == NUM_CLASSES else tuple(str(i) for i in range(num_labels)))
    return _transformers().SegformerConfig(
        hidden_sizes=list(spec.hidden_sizes),
        depths=list(spec.depths),
        num_attention_heads=list(spec.num_attention_heads),
        decoder_hidden_size=spec.decoder_hidden_size,
        sr_ratios=[8, 4, 2, 1],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2],
        mlp_ratios=[4, 4, 4, 4],
        drop_path_rate=0.1,
        semantic_loss_ignore_index=IGNORE_INDEX,
        num_labels=num_labels,
        id2label={i: n for i, n in enumerate(names)},
        label2id={n: i for i, n in enumerate(names)},
    )


def _missing_backbone_message(path: Path, size: str) -> str:
    hub = f"nvidia/mit-{size}" if size.startswith("b") else "nvidia/mit-b0"
    return (
        f"pretrained SegFormer encoder not found at '{path}'. Download {hub} from "
        f"https://huggingface.co/{hub} (config.json and model.safetensors or pytorch_model.bin) into "
        f"that folder, e.g. `huggingface-cli download {hub} --local-dir {path}`, or pass no pretrained "
        f"backbone to train from scratch."
    )


def build_segmenter(
    size: str = "b0", pretrained_backbone: str | os.PathLike | None = None, num_labels: int = NUM_CLASSES,
    class_names: tuple[str, ...] | None = None,
):
    """A SegFormer for the landscape classes (or ``num_labels`` others, named ``class_names``).

    ``pretrained_backbone``: a local folder with an ImageNet MiT encoder (``nvidia/mit-b*``) or any
    SegFormer checkpoint of the same size; its encoder weights are loaded and the decode head is
    freshly initialised for ``num_labels`` classes. ``None`` starts from random weights.
    """
    transformers = _transformers()
    config = segformer_config(size, num_labels, class_names)
    if pretrained_backbone is None:
        return transformers.SegformerForSemanticSegmentation(config)
    path = Path(pretrained_backbone)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(_missing_backbone_message(path, size))
    found = transformers.SegformerConfig.from_pretrained(path, local_files_only=True)
    if list(found.hidden_sizes) != list(config.hidden_sizes) or list(found.depths) != list(config.depths):
        raise ValueError(
            f"'{path}' holds a SegFormer encoder with hidden sizes {found.hidden_sizes} and depths "
            f"{found.depths}, which is not size '{size}' ({config.hidden_sizes}, {config.depths})"
        )
    return transformers.SegformerForSemanticSegmentation.from_pretrained(
        path, config=config, local_files_only=True, ignore_mismatched_sizes=True
    )


def load_segmenter(directory: str | os.PathLike, device: str | torch.device = "cpu", num_classes: int | None = None):
    """A segmenter saved by :func:`train_segmenter` (or any local SegFormer folder), in eval mode;
    ``num_classes``: the classes of the label maps it will judge (a segmenter of another table is refused)."""
    path = Path(directory)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no trained segmenter in '{path}' (expected config.json and model.safetensors). Train one "
            f"with `paintscape train-segmenter DATA --out {path}`."
        )
    model = _transformers().SegformerForSemanticSegmentation.from_pretrained(path, local_files_only=True)
    check_segmenter_classes(path, model.config.num_labels, num_classes)
    return model.eval().to(device)


def check_segmenter_classes(path: str | os.PathLike, predicted: int, wanted: int | None) -> None:
    """A segmenter of ``predicted`` classes cannot judge label maps of ``wanted`` classes: one line naming it."""
    if wanted is not None and predicted != wanted:
        raise ValueError(
            f"{path}: the segmenter predicts {predicted} classes, the label maps' class table has {wanted}; "
            "train one on the same class table (paintscape train-segmenter DATA)"
        )


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Images ``(B, 3, H, W)`` in ``[-1, 1]`` -> ImageNet-normalised input."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((images + 1) / 2 - mean) / std


def logits_at(model, images: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Class logits ``(B, C, H, W)`` at ``size`` (default: the input's), upsampled bilinearly."""
    logits = model(pixel_values=normalize(images)).logits  # (B, C, H/4, W/4)
    size = tuple(images.shape[-2:]) if size is None else size
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


@torch.no_grad()
def segment(model, images: torch.Tensor) -> torch.Tensor:
    """Label maps ``(B, H, W)`` long at the input resolution for images ``(B, 3, H, W)`` in ``[-1, 1]``."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return logits_at(model, images.to(device, torch.float32)).argmax(1)
    finally:
        model.train(was_training)


def segmentation_loss(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Pixel cross-entropy at label resolution; 255 ignored (logits ``(B, C, H, W)``, label ``(B, H, W)``)."""
    return F.cross_entropy(logits, label, ignore_index=IGNORE_INDEX)


def _collate(items: list[Mapping]) -> dict:
    return {
        "image": torch.stack([it["image"] for it in items]),
        "label": torch.stack([torch.as_tensor(it["label"]).long() for it in items]),
    }


def _save(model, out_dir: Path, facts: dict) -> None:
    """``save_pretrained`` + ``training.json``, all at once (io_atomic's folder swap)."""

    def fill(folder: Path) -> None:
        model.save_pretrained(folder, safe_serialization=True)
        (folder / TRAINING_FACTS_FILE).write_text(json.dumps(facts, indent=2))

    atomic_write_directory(out_dir, fill)


def train_segmenter(
    dataset: torch.utils.data.Dataset,
    out_dir: str | os.PathLike,
    size: str = "b0",
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 8,
    lr: float = 6e-5,
    weight_decay: float = 0.01,
    device: str | torch.device = "cpu",
    pretrained_backbone: str | os.PathLike | None = None,
    num_workers: int = 0,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    class_names: tuple[str, ...] | None = None,
):
    """Train a SegFormer on ``dataset`` and save it to ``out_dir``; returns the trained model.

    ``class_names``: the dataset's class table (default: the landscape 29); one output per class.

    ``dataset`` is a map-style dataset (``len`` and indexing) whose items are ``{"image": (3, H, W) float in [-1, 1], "label": (H, W) long, ...}`` (a
    ``paintscape.data`` folder dataset). Training length is ``steps`` optimiser steps or ``epochs``
    passes (one of them; ``steps`` wins if both are given). AdamW with the SegFormer paper's
    recipe: lr 6e-5 (x10 on the decode head), polynomial decay (power 1). ``progress(step, total,
    loss)`` is called after each step. ``out_dir`` receives ``config.json``, ``model.safetensors``
    and ``training.json`` (size, steps, losses, data count, time) all at once: a crash never leaves a
    half-written model behind.
    """
    if steps is None and epochs is None:
        raise ValueError("train_segmenter needs steps or epochs")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        names = tuple(class_names or CLASS_NAMES)
        model = build_segmenter(size, pretrained_backbone, num_labels=len(names), class_names=names).to(device)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=False, num_workers=num_workers,
        collate_fn=_collate, generator=generator,
    )  # fmt: skip
    total = steps if steps is not None else epochs * len(loader)
    if total <= 0:
        raise ValueError(f"nothing to train: {total} steps (dataset of {len(dataset)} items?)")
    start = time.time()
    losses = _fit(model, dataset, loader, total, lr, weight_decay, device, progress)
    facts = {
        "size": size,
        "steps": len(losses),
        "epochs": round(len(losses) / len(loader), 3),
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "pretrained_backbone": None if pretrained_backbone is None else str(pretrained_backbone),
        "num_items": len(dataset),
        "seed": seed,
        "first_loss": losses[0],
        "final_loss": float(sum(losses[-10:]) / len(losses[-10:])),
        "seconds": round(time.time() - start, 3),
        "class_names": list(class_names or CLASS_NAMES),
        "input_normalisation": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "from": "[-1, 1] -> [0, 1]"},
    }
    _save(model, Path(out_dir), facts)
    return model


def _fit(model, dataset, loader, total: int, lr: float, weight_decay: float, device, progress) -> list[float]:
    """``total`` AdamW steps (x10 lr on the decode head, linear decay to 0); returns the losses."""
    head = [p for n, p in model.named_parameters() if n.startswith("decode_head.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("decode_head.")]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head, "lr": lr * 10}], weight_decay=weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
    model.train()
    losses: list[float] = []
    epoch = 0
    while len(losses) < total:
        if hasattr(dataset, "set_epoch"):  # PairedFolder: fresh augmentation each pass
            dataset.set_epoch(epoch)
        epoch += 1
        for batch in loader:
            image = batch["image"].to(device, torch.float32)
            label = batch["label"].to(device)
            loss = segmentation_loss(logits_at(model, image, size=tuple(label.shape[-2:])), label)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"segmenter loss became {loss.item()} at step {len(losses)}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if progress is not None:
                progress(len(losses), total, losses[-1])
            if len(losses) >= total:
                break
    model.eval()
    return losses
