"""Paired transforms for (photo, label) arrays. Labels are always resized with nearest neighbour:
the 2022 track's baseline resized them bicubically, which invents class ids at every boundary."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``(H, W)`` class ids to ``size = (H, W)``."""
    height, width = size
    if label.shape == (height, width):
        return label
    return np.asarray(Image.fromarray(label).resize((width, height), Image.NEAREST))


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of an ``(H, W, 3)`` uint8 photo to ``size = (H, W)``."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [-1, 1]."""
    tensor = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float()
    return tensor.div_(127.5).sub_(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [-1, 1] -> ``(H, W, 3)`` uint8."""
    array = ((tensor.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return array.permute(1, 2, 0).cpu().numpy()


class PairedTransform:
    """Resize to ``load_size`` (or ``size``), random-crop to ``size``, random horizontal flip.

    With ``train=False`` the crop is centred and nothing is flipped, so evaluation is deterministic.
    """

    def __init__(self, size: tuple[int, int], load_size: tuple[int, int] | None = None, flip: bool = True, train: bool = True) -> None:
        self.size = tuple(size)
        self.load_size = tuple(load_size) if load_size else self.size
        if self.load_size[0] < self.size[0] or self.load_size[1] < self.size[1]:
            raise ValueError(f"load_size {self.load_size} must be at least size {self.size} in both dimensions")
        self.flip = flip
        self.train = train

    def __call__(self, image: np.ndarray | None, label: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray | None, np.ndarray]:
        rng = rng if rng is not None else np.random.default_rng()
        label = resize_label(label, self.load_size)
        if image is not None:
            image = resize_image(image, self.load_size)
        (load_h, load_w), (h, w) = self.load_size, self.size
        if self.train:
            top, left = int(rng.integers(0, load_h - h + 1)), int(rng.integers(0, load_w - w + 1))
        else:
            top, left = (load_h - h) // 2, (load_w - w) // 2
        label = label[top : top + h, left : left + w]
        if image is not None:
            image = image[top : top + h, left : left + w]
        if self.train and self.flip and rng.random() < 0.5:
            label = label[:, ::-1]
            if image is not None:
                image = image[:, ::-1]
        return image, np.ascontiguousarray(label)
