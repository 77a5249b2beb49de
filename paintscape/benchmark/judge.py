"""The benchmark's own judge: one small fully-convolutional network trained on the kit's real
synthetic photos, with nothing downloaded.

* a U-Net **segmenter** (label map at full resolution), the faithfulness judge: mask accuracy and
  mIoU of generated photos under it;
* a **scene-attribute head** on the deepest stage (time of day, season: the synthetic generator's
  style, which a label map does not fix), trained with it so that the encoder also sees lighting
  and season, not only class identity;
* its **features** — each encoder stage mean-pooled and concatenated — the space in which FID, KID
  and diversity are measured (the issue's SegFormer measurement pooled its four encoder stages the
  same way).

Why not SegFormer: at 128 px SegFormer-b0 predicts at 1/4 resolution and had reached 0.835 held-out
mask accuracy after 300 steps; a U-Net predicts at full resolution and learns these scenes to well
above the generators in a few CPU minutes (docs/quality.md has the figures).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintscape.labels import IGNORE_INDEX, NUM_CLASSES

#: the attribute head's outputs: class counts of the synthetic generator's style choices.
ATTRIBUTES = {"time_of_day": 4, "season": 4}


class _ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by batch norm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class JudgeNet(nn.Module):
    """Photo ``(B, 3, H, W)`` in [-1, 1] -> segmentation logits, attribute logits, pooled features.

    Args:
        num_classes: segmentation classes (the 29 landscape classes).
        widths: channels of the encoder stages, at 1/1, 1/2, 1/4, ... resolution; H and W must be
            divisible by ``2 ** (len(widths) - 1)``.
    """

    def __init__(self, *, num_classes: int = NUM_CLASSES, widths: tuple[int, ...] = (8, 16, 32, 64, 128)) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"JudgeNet needs at least 2 encoder stages, got widths={widths}")
        self.num_classes = num_classes
        self.widths = tuple(int(w) for w in widths)
        self.encoder = nn.ModuleList(
            _ConvBlock(3 if k == 0 else self.widths[k - 1], w) for k, w in enumerate(self.widths)
        )
        # decoder level k merges the upsampled level k+1 with the encoder's stage k (skip)
        self.decoder = nn.ModuleList(
            _ConvBlock(self.widths[k + 1] + self.widths[k], self.widths[k]) for k in range(len(self.widths) - 1)
        )
        self.segment_head = nn.Conv2d(self.widths[0], num_classes, 1)
        self.attribute_head = nn.Linear(self.widths[-1], sum(ATTRIBUTES.values()))

    @property
    def feature_dim(self) -> int:
        return sum(self.widths)

    def encode(self, images: Tensor) -> list[Tensor]:
        """The encoder stages ``[(B, widths[k], H / 2**k, W / 2**k)]``."""
        step = 2 ** (len(self.widths) - 1)
        if images.shape[-2] % step or images.shape[-1] % step:
            raise ValueError(
                f"JudgeNet with {len(self.widths)} stages needs H and W divisible by {step}, got {tuple(images.shape[-2:])}"
            )
        stages = []
        x = images
        for k, block in enumerate(self.encoder):
            x = block(x if k == 0 else F.max_pool2d(x, 2))
            stages.append(x)
        return stages

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(segmentation logits (B, C, H, W), attribute logits (B, 8), features (B, feature_dim))``."""
        stages = self.encode(images)
        x = stages[-1]
        for k in range(len(stages) - 2, -1, -1):
            x = F.interpolate(x, size=stages[k].shape[-2:], mode="bilinear", align_corners=False)
            x = self.decoder[k](torch.cat([x, stages[k]], dim=1))
        features = torch.cat([s.mean(dim=(2, 3)) for s in stages], dim=1)
        return self.segment_head(x), self.attribute_head(stages[-1].mean(dim=(2, 3))), features

    def features(self, images: Tensor) -> Tensor:
        """Each encoder stage mean-pooled and concatenated: ``(B, feature_dim)``."""
        return torch.cat([s.mean(dim=(2, 3)) for s in self.encode(images)], dim=1)


# --- training, saving, loading ----------------------------------------------------------------

JUDGE_WIDTHS_KEY = "paintscape_judge_widths"


def to_input(photos: np.ndarray) -> Tensor:
    """uint8 photos ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` in [-1, 1] (the tensor convention)."""
    return torch.from_numpy(np.ascontiguousarray(photos)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def train_judge(
    photos: np.ndarray,
    labels: np.ndarray,
    attributes: np.ndarray,
    *,
    widths: tuple[int, ...] = (8, 16, 32, 64, 128),
    steps: int = 1200,
    batch_size: int = 16,
    crop: int | None = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 50,
) -> tuple[JudgeNet, dict]:
    """Train a :class:`JudgeNet` on photos ``(N, H, W, 3)`` uint8, labels ``(N, H, W)`` and
    attribute ids ``(N, 2)`` (time of day, season); returns it in eval mode and training facts.

    Pixel cross-entropy plus half the attribute cross-entropies; AdamW, linear warm-up over 10 % of the
    steps, then cosine down to 0, random horizontal flips and random ``crop x crop`` windows (the
    network is fully convolutional: a window costs a fraction of a photo and the judge still runs
    on whole photos; None trains on whole photos). Deterministic in ``seed`` on a CPU.

    With ``checkpoint``, the training state (weights, optimiser, schedule, random stream, losses)
    is written there every ``checkpoint_every`` steps, and a run that finds one continues from it
    exactly as if never stopped (loaded with ``weights_only=True``: no code is executed).
    """
    if steps < 1:
        raise ValueError(f"judge training needs at least 1 step, got {steps}")
    images = torch.from_numpy(np.ascontiguousarray(photos))
    targets = torch.from_numpy(np.ascontiguousarray(labels)).long()
    attrs = torch.from_numpy(np.asarray(attributes)).long()
    H, W = targets.shape[1:]
    step_size = 2 ** (len(widths) - 1)
    if crop is not None and (crop > min(H, W) or crop % step_size):
        raise ValueError(f"judge crop {crop} must be at most the photo side {min(H, W)} and divisible by {step_size}")
    if not (len(images) == len(targets) == len(attrs)):
        raise ValueError(f"photos, labels and attributes differ in count: {len(images)}, {len(targets)}, {len(attrs)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = JudgeNet(widths=tuple(widths))
    draw = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: (k + 1) / warm if k < warm else 0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, steps - warm)))
    )
    split = ATTRIBUTES["time_of_day"]
    net.train()
    losses, first, cpu_before = [], 1, 0.0
    if checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, weights_only=True)
        if state["settings"] != _settings(widths, steps, batch_size, crop, lr, seed, len(images)):
            raise ValueError(f"{checkpoint}: a judge training with other settings; delete it to start again")
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        draw.set_state(state["draw"])
        losses, first, cpu_before = list(state["losses"]), int(state["step"]) + 1, float(state["cpu_seconds"])
    started = time.process_time()
    for step in range(first, steps + 1):
        index = torch.randint(0, len(images), (batch_size,), generator=draw)
        x = to_input(images[index].numpy())
        y, a = targets[index], attrs[index]
        flip = torch.rand(batch_size, generator=draw) < 0.5
        x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        if crop is not None:  # one window per batch: cheap, and every image still varies by flip and draw
            top = int(torch.randint(0, H - crop + 1, (1,), generator=draw))
            left = int(torch.randint(0, W - crop + 1, (1,), generator=draw))
            x, y = x[..., top : top + crop, left : left + crop], y[..., top : top + crop, left : left + crop]
        logits, attribute_logits, _ = net(x)
        loss = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX) + 0.5 * (
            F.cross_entropy(attribute_logits[:, :split], a[:, 0])
            + F.cross_entropy(attribute_logits[:, split:], a[:, 1])
        )
        if not torch.isfinite(loss):
            raise FloatingPointError(f"judge loss became {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, steps, losses[-1])
        if checkpoint is not None and step % checkpoint_every == 0 and step < steps:
            _save_training_state(checkpoint, net, optimizer, schedule, draw, losses, step,
                                 cpu_before + time.process_time() - started,
                                 _settings(widths, steps, batch_size, crop, lr, seed, len(images)))  # fmt: skip
    net.eval()
    facts = {
        "widths": list(net.widths),
        "parameters": sum(p.numel() for p in net.parameters()),
        "steps": steps,
        "batch_size": batch_size,
        "crop": crop,
        "lr": lr,
        "seed": seed,
        "train_images": len(images),
        "final_loss": float(np.mean(losses[-20:])),
        "cpu_seconds": round(cpu_before + time.process_time() - started, 1),
    }
    return net, facts


def _settings(widths, steps, batch_size, crop, lr, seed, images) -> dict:
    return {"widths": [int(w) for w in widths], "steps": steps, "batch_size": batch_size, "crop": crop, "lr": lr,
            "seed": seed, "images": images}  # fmt: skip


def _save_training_state(path, net, optimizer, schedule, draw, losses, step, cpu_seconds, settings) -> None:
    import io

    from paintscape.io_atomic import atomic_write_bytes

    buffer = io.BytesIO()
    state = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
             "draw": draw.get_state(), "losses": losses, "step": step, "cpu_seconds": cpu_seconds, "settings": settings}  # fmt: skip
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def save_judge(path: str | Path, net: JudgeNet) -> None:
    """Weights as safetensors, the widths in the metadata: rebuilt with no pickle."""
    from safetensors.torch import save

    from paintscape.io_atomic import atomic_write_bytes

    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    metadata = {JUDGE_WIDTHS_KEY: json.dumps(list(net.widths)), "num_classes": str(net.num_classes)}
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def load_judge(path: str | Path) -> JudgeNet:
    """A judge saved by :func:`save_judge`, in eval mode."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        widths = tuple(json.loads(metadata[JUDGE_WIDTHS_KEY]))
        num_classes = int(metadata["num_classes"])
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a benchmark judge file ({exc})") from None
    net = JudgeNet(num_classes=num_classes, widths=widths)
    net.load_state_dict(tensors, strict=True)
    return net.eval()


@torch.no_grad()
def judge_outputs(net: JudgeNet, photos: np.ndarray, batch_size: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(label maps (N, H, W) uint8, attribute logits (N, 8), features (N, feature_dim) float64)``
    of uint8 photos ``(N, H, W, 3)``."""
    was_training = net.training
    net.eval()
    segs, attrs, feats = [], [], []
    try:
        for start in range(0, len(photos), batch_size):
            logits, attribute_logits, features = net(to_input(photos[start : start + batch_size]))
            segs.append(logits.argmax(1).to(torch.uint8).numpy())
            attrs.append(attribute_logits.numpy())
            feats.append(features.double().numpy())
    finally:
        net.train(was_training)
    if not segs:
        raise ValueError("no photos to judge")
    return np.concatenate(segs), np.concatenate(attrs), np.concatenate(feats)
