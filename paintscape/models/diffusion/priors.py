"""Noise priors for sampling, as SCP-Diff defines them (Gao et al., "SCP-Diff: Spatial-Categorical Joint
Prior for Diffusion Based Semantic Image Synthesis", ECCV 2024).

A diffusion model trained on label maps learns to denoise *noised training latents*, whose
distribution at a large timestep is not the standard normal a sampler starts from: a sky is brighter
than a lake at every noise level, and the top of a landscape differs from its bottom. SCP-Diff
starts sampling from the training latents' statistics instead, noised to a start step ``s``::

    x_s = sqrt(abar_s) * (mu + sigma * n1) + sqrt(1 - abar_s) * n2,      n1, n2 ~ N(0, I)

with ``mu, sigma`` per latent element from one of three priors, computed once over the training
set's VAE latents with the label map resized to the latent grid by nearest neighbour:

* ``spatial`` — per position (and channel): mean and variance over all training images;
* ``class`` — per class (and channel): over every latent cell of that class;
* ``joint`` — per (class, position): over the cells of that class at that position; where a pair has
  fewer than ``min_count`` samples it falls back to the class prior (SCP-Diff's released code falls
  back where the count is 0, to the spatial or the class prior).

Here a cell whose class has fewer than ``min_count`` samples overall, or that is ignored (255), uses
the spatial prior, so every cell has a prior. Since ``n1`` and ``n2`` are independent, ``x_s`` is
normal with mean ``sqrt(abar_s) mu`` and variance ``abar_s sigma^2 + 1 - abar_s``;
:func:`starting_latent` draws it from one standard-normal latent ``z`` (the generator's per-image
latent), which keeps every random number of a sample in its ``z``.

Differences from the released code, on purpose: the statistics stream over the data set in one pass
(Chan et al.'s parallel mean/variance update in float64) instead of holding every latent; the
categorical prior uses every latent cell of a class, where the released code samples one random cell
per image and class; latents are the VAE posterior mean (the released code draws a posterior sample;
Stable Diffusion's VAE posterior is nearly deterministic, so the two agree closely); a label is read at
the centre of each latent cell (PyTorch's ``nearest-exact``; the released code uses ``nearest``, the
cell's top-left pixel).

This module is pure torch (no diffusers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_save
from torch import Tensor

from paintscape.io_atomic import atomic_write_bytes
from paintscape.labels import IGNORE_INDEX, one_hot

PRIOR_KINDS = ("none", "spatial", "class", "joint")
DEFAULT_MIN_COUNT = 10  # a variance from fewer samples is too noisy to sample from
FORMAT = "paintscape-noise-priors"
METADATA_KEY = "paintscape_priors"
_TENSORS = (
    "spatial_mean",
    "spatial_var",
    "class_count",
    "class_mean",
    "class_var",
    "joint_count",
    "joint_mean",
    "joint_var",
)


class PriorsError(ValueError):
    """A priors file is missing, malformed, or does not fit the model it is used with."""


def labels_at_latent_size(label: Tensor, size: tuple[int, int]) -> Tensor:
    """``(B, H, W)`` class ids -> ``(B, h, w)``: the id at the centre pixel of each latent cell
    (nearest neighbour, so ids are never mixed)."""
    if tuple(label.shape[-2:]) == tuple(size):
        return label.long()
    return F.interpolate(label[:, None].float(), size=size, mode="nearest-exact")[:, 0].long()


def ids_from_one_hot(label: Tensor) -> Tensor:
    """One-hot ``(B, K, H, W)`` -> ids ``(B, H, W)``; an all-zero pixel (ignored) becomes 255."""
    return torch.where(label.sum(1) > 0, label.argmax(1), torch.full_like(label[:, 0], IGNORE_INDEX, dtype=torch.long))


def starting_latent(mean: Tensor, var: Tensor, noise: Tensor, alpha_bar: float) -> Tensor:
    """``sqrt(abar) (mu + sigma n1) + sqrt(1 - abar) n2`` drawn with one standard-normal ``noise``:
    the same normal distribution, mean ``sqrt(abar) mu``, variance ``abar sigma^2 + 1 - abar``."""
    return alpha_bar**0.5 * mean + (alpha_bar * var + (1.0 - alpha_bar)).sqrt() * noise


def _merge(count: Tensor, mean: Tensor, m2: Tensor, n: Tensor, batch_mean: Tensor, batch_m2: Tensor) -> None:
    """Chan et al.'s update of (count, mean, M2) with a batch's (n, mean, M2), in place.
    ``count``/``n`` broadcast against ``mean`` by a channel axis inserted by the caller."""
    total = count + n
    weight = torch.where(total > 0, n / total.clamp(min=1), torch.zeros_like(total))
    delta = batch_mean - mean
    mean += delta * weight
    m2 += batch_m2 + delta.square() * count * weight
    count += n


class PriorAccumulator:
    """Streams ``(latents, labels)`` batches into the three priors' statistics in one pass.

    ``update(latents (B, C, h, w), labels (B, h, w))`` with labels already at the latent size
    (:func:`labels_at_latent_size`); :meth:`result` gives the :class:`NoisePriors`. Holds only
    running counts, means and sums of squared deviations (float64), never the latents."""

    def __init__(self, num_classes: int, channels: int, latent_size: tuple[int, int]) -> None:
        K, C, (h, w) = num_classes, channels, latent_size
        self.num_classes, self.channels, self.latent_size = K, C, (h, w)
        f64 = torch.float64
        self.images = torch.zeros((), dtype=f64)
        self.spatial_mean = torch.zeros(C, h, w, dtype=f64)
        self.spatial_m2 = torch.zeros(C, h, w, dtype=f64)
        self.joint_count = torch.zeros(K, 1, h, w, dtype=f64)
        self.joint_mean = torch.zeros(K, C, h, w, dtype=f64)
        self.joint_m2 = torch.zeros(K, C, h, w, dtype=f64)

    @torch.no_grad()
    def update(self, latents: Tensor, labels: Tensor) -> None:
        B, C, h, w = latents.shape
        if (C, h, w) != (self.channels, *self.latent_size) or tuple(labels.shape) != (B, h, w):
            raise ValueError(
                f"priors: expected latents (B, {self.channels}, {self.latent_size[0]}, {self.latent_size[1]}) and labels "
                f"(B, {self.latent_size[0]}, {self.latent_size[1]}), got {tuple(latents.shape)} and {tuple(labels.shape)}"
            )
        x = latents.detach().to("cpu", torch.float64)
        # spatial: every image counts at every position
        n = torch.tensor(float(B), dtype=torch.float64)
        batch_mean = x.mean(0)
        _merge(self.images, self.spatial_mean, self.spatial_m2, n, batch_mean, (x - batch_mean).square().sum(0))
        # joint: per (class, position); ignored cells (255) are all-zero rows of the one-hot
        member = one_hot(labels.to("cpu").long(), self.num_classes).to(torch.float64)  # (B, K, h, w)
        n_k = member.sum(0)[:, None]  # (K, 1, h, w)
        sums = torch.einsum("bkhw,bchw->kchw", member, x)
        squares = torch.einsum("bkhw,bchw->kchw", member, x.square())
        mean_k = sums / n_k.clamp(min=1)
        m2_k = (squares - n_k * mean_k.square()).clamp(min=0)  # within one batch, float64 is exact enough
        _merge(self.joint_count, self.joint_mean, self.joint_m2, n_k, mean_k, m2_k)

    def result(self, info: Mapping[str, Any] | None = None) -> NoisePriors:
        if self.images.item() == 0:
            raise ValueError("priors: no latents were given")
        n = self.joint_count  # (K, 1, h, w)
        class_n = n.sum((1, 2, 3))  # (K,)
        class_mean = (n * self.joint_mean).sum((2, 3)) / class_n.clamp(min=1)[:, None]  # (K, C)
        spread = (n * (self.joint_mean - class_mean[:, :, None, None]).square()).sum((2, 3))
        class_var = (self.joint_m2.sum((2, 3)) + spread) / class_n.clamp(min=1)[:, None]
        return NoisePriors(
            spatial_mean=self.spatial_mean.float(),
            spatial_var=(self.spatial_m2 / self.images).float(),
            class_count=class_n.long(),
            class_mean=class_mean.float(),
            class_var=class_var.float(),
            joint_count=n[:, 0].long(),
            joint_mean=self.joint_mean.float(),
            joint_var=(self.joint_m2 / n.clamp(min=1)).float(),
            images=int(self.images.item()),
            info=dict(info or {}),
        )


@dataclass(frozen=True)
class NoisePriors:
    """Population means and variances (ddof 0, like SCP-Diff's) of the training latents.

    Shapes, for ``K`` classes, ``C`` latent channels and an ``h x w`` latent grid: ``spatial_*``
    ``(C, h, w)``; ``class_count (K,)``, ``class_*`` ``(K, C)``; ``joint_count (K, h, w)``,
    ``joint_*`` ``(K, C, h, w)``. ``info`` is provenance (image size, source file, ...)."""

    spatial_mean: Tensor
    spatial_var: Tensor
    class_count: Tensor
    class_mean: Tensor
    class_var: Tensor
    joint_count: Tensor
    joint_mean: Tensor
    joint_var: Tensor
    images: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return int(self.class_count.shape[0])

    @property
    def channels(self) -> int:
        return int(self.spatial_mean.shape[0])

    @property
    def latent_size(self) -> tuple[int, int]:
        return int(self.spatial_mean.shape[1]), int(self.spatial_mean.shape[2])

    def moments(self, kind: str, labels: Tensor, min_count: int = DEFAULT_MIN_COUNT) -> tuple[Tensor, Tensor]:
        """Mean and variance ``(B, C, h, w)`` of the prior ``kind`` for ``labels (B, h, w)`` at the
        latent size: joint -> class (fewer than ``min_count`` samples at that position) -> spatial
        (fewer than ``min_count`` samples of that class, or an ignored cell)."""
        if kind not in PRIOR_KINDS[1:]:
            raise ValueError(f"prior must be one of {', '.join(PRIOR_KINDS[1:])} here, got {kind!r}")
        B, h, w = labels.shape
        if (h, w) != self.latent_size:
            raise PriorsError(
                f"{self.source}: priors are for a {self.latent_size[0]}x{self.latent_size[1]} latent grid, not {h}x{w}"
            )
        device = labels.device
        mean = self.spatial_mean.to(device).expand(B, -1, -1, -1)
        var = self.spatial_var.to(device).expand(B, -1, -1, -1)
        if kind == "spatial":
            return mean, var
        valid = labels < self.num_classes
        ids = torch.where(valid, labels, torch.zeros_like(labels))
        use_class = (valid & (self.class_count.to(device)[ids] >= min_count))[:, None]
        mean = torch.where(use_class, self.class_mean.to(device)[ids].permute(0, 3, 1, 2), mean)
        var = torch.where(use_class, self.class_var.to(device)[ids].permute(0, 3, 1, 2), var)
        if kind == "class":
            return mean, var
        ys = torch.arange(h, device=device)[:, None]
        xs = torch.arange(w, device=device)[None, :]
        use_joint = (valid & (self.joint_count.to(device)[ids, ys, xs] >= min_count))[:, None]
        joint_mean = self.joint_mean.to(device).permute(0, 2, 3, 1)[ids, ys, xs].permute(0, 3, 1, 2)
        joint_var = self.joint_var.to(device).permute(0, 2, 3, 1)[ids, ys, xs].permute(0, 3, 1, 2)
        return torch.where(use_joint, joint_mean, mean), torch.where(use_joint, joint_var, var)

    @property
    def source(self) -> str:
        return str(self.info.get("source", "noise priors"))

    def save(self, path: str | Path) -> None:
        """A safetensors file (atomic write); sizes and provenance in its JSON metadata."""
        tensors = {name: getattr(self, name).contiguous() for name in _TENSORS}
        meta = {
            "format": FORMAT,
            "version": 1,
            "images": self.images,
            **{k: v for k, v in self.info.items() if k != "source"},
        }
        atomic_write_bytes(path, safetensors_save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))

    @classmethod
    def load(cls, path: str | Path) -> NoisePriors:
        path = Path(path)
        if not path.is_file():
            raise PriorsError(f"{path}: priors file not found (compute it with `paintscape priors RUN`)")
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = json.loads((handle.metadata() or {})[METADATA_KEY])
                tensors = {name: handle.get_tensor(name) for name in _TENSORS}
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise PriorsError(f"{path}: not a paintscape priors file ({exc})") from None
        if meta.get("format") != FORMAT:
            raise PriorsError(f"{path}: not a paintscape priors file (format {meta.get('format')!r})")
        info = {k: v for k, v in meta.items() if k not in ("format", "version", "images")} | {"source": str(path)}
        priors = cls(**tensors, images=int(meta.get("images", 0)), info=info)
        K, C, (h, w) = priors.num_classes, priors.channels, priors.latent_size
        expected = {
            "spatial_var": (C, h, w),
            "class_mean": (K, C),
            "class_var": (K, C),
            "joint_count": (K, h, w),
            "joint_mean": (K, C, h, w),
            "joint_var": (K, C, h, w),
        }
        wrong = [
            f"{k} {tuple(tensors[k].shape)} (expected {v})" for k, v in expected.items() if tuple(tensors[k].shape) != v
        ]
        if wrong:
            raise PriorsError(f"{path}: inconsistent priors file: {', '.join(wrong)}")
        return priors


@torch.no_grad()
def compute_priors(
    encode: Callable[[Tensor], Tensor],
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    num_classes: int,
    info: Mapping[str, Any] | None = None,
) -> NoisePriors:
    """One pass over ``(photos (B, 3, H, W) in [-1, 1], labels (B, H, W) ids)`` batches.

    ``encode`` maps photos to the latents the model samples in (for the ``controlnet`` family,
    ``generator.encode_photos``); labels are taken at the latent size with
    :func:`labels_at_latent_size`."""
    accumulator: PriorAccumulator | None = None
    for photos, labels in batches:
        latents = encode(photos)
        if accumulator is None:
            accumulator = PriorAccumulator(num_classes, latents.shape[1], (latents.shape[2], latents.shape[3]))
        accumulator.update(latents, labels_at_latent_size(labels.to(latents.device), accumulator.latent_size))
    if accumulator is None:
        raise ValueError("priors: the data set gave no batches")
    return accumulator.result(info)
