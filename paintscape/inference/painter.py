"""``Painter``: a trained generator as a function from label map (and style photo) to photo.

    painter = Painter.from_checkpoint("runs/spade")          # a run directory or a .safetensors
    image = painter(label, style=None, seed=0)                 # PIL.Image at the model's size

Noise is drawn per image from its own seed, so an image is the same whatever batch it is in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from paintscape.checkpoint import load_generator
from paintscape.data.io import read_image, read_label
from paintscape.data.transforms import image_to_tensor, resize_image, resize_label, tensor_to_image
from paintscape.devices import resolve_device
from paintscape.labels import NUM_CLASSES, PALETTE, LabelError, decode, one_hot
from paintscape.models.base import Generator, GeneratorSpec


class StyleRequired(ValueError):
    """The model has a style stream and was called without a reference photo."""


class StyleRefused(ValueError):
    """A style photo was given to a model with no trained way to use it (converted with --no-encoder)."""


def _as_label(label: Any, palette: np.ndarray | None = None) -> np.ndarray:
    """Class ids ``(H, W)`` of the model's class table (``palette``: its colours; None: the landscape 29)."""
    if isinstance(label, str | Path):
        if palette is None:
            return read_label(label)
        with Image.open(label) as image:  # another class table: its own colours decode a coloured map
            image.load()
            label = image
    num_classes = NUM_CLASSES if palette is None else len(palette)
    if isinstance(label, Image.Image):
        array = np.asarray(label.convert("RGB") if label.mode in ("RGB", "RGBA") else label)
        label = decode(array, palette=palette) if array.ndim == 3 else array
    label = np.asarray(label)
    if label.ndim != 2:
        raise LabelError(f"a label map is (H, W) class ids, got shape {label.shape}")
    if label.size and (label.min() < 0 or (label.max() >= num_classes and not np.all((label < num_classes) | (label == 255)))):
        raise LabelError(f"label ids must lie in 0..{num_classes - 1} (or 255 to ignore), got {sorted(np.unique(label).tolist())[-3:]}")
    return label.astype(np.uint8)


def _as_photo(style: Any) -> np.ndarray:
    if isinstance(style, str | Path):
        return read_image(style)
    if isinstance(style, Image.Image):
        return np.asarray(style.convert("RGB"))
    return np.asarray(style, dtype=np.uint8)


class Painter:
    def __init__(self, generator: Generator, spec: GeneratorSpec, device: str | torch.device = "cpu", precision: str = "fp32") -> None:
        self.generator = generator.to(device).eval()
        self.spec = spec
        self.device = torch.device(device)
        self.precision = precision
        self.size: tuple[int, int] = spec.image_size  # (H, W)
        # the class table the model was trained with; None for the landscape 29 (the default readers)
        landscape = spec.num_classes == NUM_CLASSES and tuple(map(tuple, PALETTE.tolist())) == tuple(map(tuple, spec.palette))
        self.palette: np.ndarray | None = None if landscape else np.asarray(spec.palette, dtype=np.uint8)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", precision: str = "fp32") -> Painter:
        device = resolve_device(device)
        generator, spec = load_generator(path, device=device)
        return cls(generator, spec, device, precision)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str = "auto", precision: str = "fp32", revision: str = "main") -> Painter:
        """A run directory, a generator file, a folder with one, or a Hugging Face id in the local cache (no download)."""
        from paintscape.inference.pretrained import resolve_pretrained

        return cls.from_checkpoint(resolve_pretrained(name_or_path, revision), device=device, precision=precision)

    @property
    def uses_style(self) -> bool:
        return self.generator.uses_style

    @property
    def has_encoder(self) -> bool:
        """Whether a style photo steers the output through a trained VAE encoder."""
        return self.generator.encoder is not None and not self.spec.style_encoder_absent

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim

    @torch.no_grad()
    def render(self, labels: Tensor, styles: Tensor | None = None, seeds: list[int] | None = None) -> Tensor:
        """``labels (B, H, W)`` long at the model size, ``styles (B, 3, H, W)`` -> ``(B, 3, H, W)`` in [-1, 1]."""
        B = labels.shape[0]
        seeds = list(range(B)) if seeds is None else seeds
        if self.uses_style and styles is None:
            raise StyleRequired("this model has a style stream and needs a reference photo for every label map (--style refs.json)")
        if styles is not None and not self.uses_style and self.spec.style_encoder_absent:
            raise StyleRefused(
                f"this generator was converted from {self.spec.extra.get('converted_from', 'a reference file')} without its "
                "style encoder (--no-encoder): it cannot follow a style photo; render without --style, or convert again with --encoder"
            )
        labels = labels.to(self.device)
        styles = styles.to(self.device) if styles is not None else None
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with autocast:
            mu = logvar = None
            if self.has_encoder and styles is not None:
                mu, logvar = self.generator.encoder(styles)
                mu, logvar = mu.float(), logvar.float()
            # one latent per seed; around the style photo's encoding when there is one
            z = self.generator.latent_for(seeds, tuple(labels.shape[1:]), mu=mu, logvar=logvar, device=self.device)
            style_input = styles if self.uses_style else None
            out = self.generator(one_hot(labels, self.generator.num_classes), z=z, style=style_input)
        return out.float()

    def prepare_label(self, label: Any) -> Tensor:
        return torch.from_numpy(resize_label(_as_label(label, self.palette), self.size).astype(np.int64))

    def prepare_style(self, style: Any) -> Tensor:
        return image_to_tensor(resize_image(_as_photo(style), self.size))

    def __call__(self, label: Any, style: Any = None, seed: int = 0, batch_size: int = 8) -> Image.Image | list[Image.Image]:
        """One label map (array, PIL image or path) -> a PIL photo at the model's size.

        A list of label maps (with a list of styles, or none) -> a list of photos, rendered
        ``batch_size`` at a time; map ``i`` uses seed ``seed + i``, so ``painter(maps)[i]`` equals
        ``painter(maps[i], seed=seed + i)``.
        """
        if isinstance(label, list | tuple):
            return self.paint_many(label, style, seed=seed, batch_size=batch_size)
        labels = self.prepare_label(label)[None]
        styles = self.prepare_style(style)[None] if style is not None else None
        return Image.fromarray(tensor_to_image(self.render(labels, styles, [seed])[0]))

    def paint_many(self, labels: list | tuple, styles: list | tuple | None = None, seed: int = 0, batch_size: int = 8) -> list[Image.Image]:
        """Label maps -> photos, batched; see :meth:`__call__`."""
        if styles is not None and (not isinstance(styles, list | tuple) or len(styles) != len(labels)):
            raise ValueError(f"give one style photo per label map: {len(labels)} label maps, styles {type(styles).__name__}"
                             f"{' of ' + str(len(styles)) if isinstance(styles, list | tuple) else ''}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        photos: list[Image.Image] = []
        for start in range(0, len(labels), batch_size):
            chunk = range(start, min(start + batch_size, len(labels)))
            batch = torch.stack([self.prepare_label(labels[i]) for i in chunk])
            style_batch = torch.stack([self.prepare_style(styles[i]) for i in chunk]) if styles is not None else None
            out = self.render(batch, style_batch, [seed + i for i in chunk])
            photos += [Image.fromarray(tensor_to_image(photo)) for photo in out]
        return photos
