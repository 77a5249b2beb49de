"""``Painter``: a trained generator as a function from label map (and style photo) to photo.

    painter = Painter.from_checkpoint("runs/spade")          # a run directory or a .safetensors
    image = painter(label, style=None, seed=0)                 # PIL.Image at the model's size
    image = painter.resample(label, mask, seed=0, region_seed=1, base=image)   # new noise inside mask (OASIS)

Noise is drawn per image from its own seed, so an image is the same whatever batch it is in. A
diffusion model samples with the painter's ``sampling`` options (steps, guidance, sampler, noise
prior; :meth:`Painter.set_sampling`) and reports its steps to ``progress``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from paintscape.checkpoint import load_generator
from paintscape.class_table import LANDSCAPE29, ClassTable, table_of
from paintscape.data.io import read_image, read_label
from paintscape.data.transforms import image_to_tensor, resize_image, resize_label, tensor_to_image
from paintscape.devices import resolve_device
from paintscape.labels import LabelError, decode, one_hot
from paintscape.models.base import Generator, GeneratorSpec
from paintscape.models.diffusion.controlnet import SamplingOptions
from paintscape.models.diffusion.priors import NoisePriors


class StyleRequired(ValueError):
    """The model has a style stream and was called without a reference photo."""


class StyleRefused(ValueError):
    """A style photo was given to a model with no way to use it (no style stream or encoder, or one
    converted with --no-encoder)."""


class NoisePriorsMissing(ValueError):
    """A diffusion noise prior was asked for and the run has no priors file."""


def _as_label(label: Any, table: ClassTable = LANDSCAPE29) -> np.ndarray:
    """Class ids ``(H, W)`` of the model's class table: a label file (read as every reader does), a PIL
    image or array of ids, or a PIL image coloured with the table's palette."""
    if isinstance(label, str | Path):
        return read_label(label, table=table)
    if isinstance(label, Image.Image):
        array = np.asarray(label.convert("RGB") if label.mode in ("RGB", "RGBA") else label)
        label = decode(array, palette=table.palette_array) if array.ndim == 3 else array
    label = np.asarray(label)
    if label.ndim != 2:
        raise LabelError(f"a label map is (H, W) class ids, got shape {label.shape}")
    num_classes = table.num_classes
    if label.size and (label.min() < 0 or (label.max() >= num_classes and not np.all((label < num_classes) | (label == 255)))):
        raise LabelError(f"label ids must lie in 0..{num_classes - 1} (or 255 to ignore), got {sorted(np.unique(label).tolist())[-3:]}")
    return label.astype(np.uint8)


def _as_photo(style: Any) -> np.ndarray:
    if isinstance(style, str | Path):
        return read_image(style)
    if isinstance(style, Image.Image):
        return np.asarray(style.convert("RGB"))
    return np.asarray(style, dtype=np.uint8)


class RegionResampleUnsupported(ValueError):
    """Region re-sampling needs noise with one value per pixel (OASIS's 3D noise)."""


def _as_mask(mask: Any, size: tuple[int, int]) -> np.ndarray:
    """A region mask (bool/number array, PIL image or path; nonzero = inside) -> bool (H, W) at ``size``."""
    if isinstance(mask, str | Path):
        mask = Image.open(mask)
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L")) > 127
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a region mask is (H, W), nonzero inside the region; got shape {mask.shape}")
    return resize_label((mask != 0).astype(np.uint8), size).astype(bool)


class Painter:
    """``sampling`` (diffusion models only): options every render samples with, names from the
    generator's ``sampling_option_names`` (``num_inference_steps``, ``guidance_scale``, ``scheduler``,
    ``prior``, ``prior_strength``, ...); change them with :meth:`set_sampling`. ``priors``: the
    run's noise priors, which ``prior`` other than ``none`` needs."""

    def __init__(
        self,
        generator: Generator,
        spec: GeneratorSpec,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        *,
        priors: NoisePriors | None = None,
        priors_path: Path | None = None,
    ) -> None:
        self.generator = generator.to(device).eval()
        self.spec = spec
        self.device = torch.device(device)
        self.precision = precision
        self.size: tuple[int, int] = spec.image_size  # (H, W)
        self.priors = priors
        self.priors_path = priors_path  # where priors were looked for (named when they are missing)
        self.sampling: dict[str, Any] = {}
        # the class table the model was trained with: label maps are read with its ids and colours
        self.table: ClassTable = table_of(spec.class_names, spec.palette)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", precision: str = "fp32", priors: str | Path | None = None) -> Painter:
        """A run directory or generator file; a diffusion model's noise priors are read from ``priors``
        (default: the run's ``priors.safetensors``, when `paintscape priors` wrote it)."""
        device = resolve_device(device)
        generator, spec = load_generator(path, device=device)
        loaded = None
        priors_path = Path(priors) if priors is not None else None
        if generator.sampling_option_names:
            from paintscape.inference.priors import default_priors_path

            priors_path = priors_path or default_priors_path(path)
            if priors is not None or priors_path.is_file():
                loaded = NoisePriors.load(priors_path)
        elif priors is not None:
            raise ValueError(f"{path}: a {spec.family} generator draws no diffusion noise; --priors applies to diffusion runs")
        return cls(generator, spec, device, precision, priors=loaded, priors_path=priors_path)

    @property
    def iterative(self) -> bool:
        """Whether the model samples in steps (diffusion): renders take ``sampling`` options and report progress."""
        return bool(self.generator.sampling_option_names)

    def set_sampling(self, **options: Any) -> None:
        """Options for every later render (None values are skipped); errors name the bad option."""
        options = {k: v for k, v in options.items() if v is not None}
        if not options:
            return
        names = self.generator.sampling_option_names
        unknown = sorted(set(options) - set(names) - {"progress", "priors"})
        if not names or unknown:
            raise ValueError(
                f"the {self.spec.family} model takes no sampling option {', '.join(unknown or sorted(options))}"
                + (f"; it takes {', '.join(n for n in names if n not in ('progress', 'priors'))}" if names else
                   " (steps, guidance, sampler and noise priors apply to diffusion models)")
            )
        if options.get("prior", "none") != "none" and self.priors is None:
            raise NoisePriorsMissing(
                f"prior {options['prior']!r} needs noise priors and {self.priors_path or 'the run'} has none: "
                "compute them with `paintscape priors RUN` (or give --priors FILE)"
            )
        with self.generator.sampling(**options):  # checks the values now, not at the first render
            pass
        self.sampling.update(options)

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
    def render(
        self,
        labels: Tensor,
        styles: Tensor | None = None,
        seeds: list[int] | None = None,
        progress: Callable[[int, int], None] | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> Tensor:
        """``labels (B, H, W)`` long at the model size, ``styles (B, 3, H, W)`` -> ``(B, 3, H, W)`` in [-1, 1].
        A diffusion model calls ``progress(step, total)`` after each sampling step; ``sampling``
        overrides :attr:`sampling` for this call (e.g. fewer steps for a live preview)."""
        B = labels.shape[0]
        seeds = list(range(B)) if seeds is None else seeds
        if styles is not None and not self.uses_style and self.spec.style_encoder_absent:
            raise StyleRefused(
                f"this generator was converted from {self.spec.extra.get('converted_from', 'a reference file')} without its "
                "style encoder (--no-encoder): it cannot follow a style photo; render without --style, or convert again with --encoder"
            )
        if styles is not None and not self.uses_style and not self.has_encoder:
            raise StyleRefused(
                f"the {self.spec.family} model takes no style photo: its output depends on the label map and the seed "
                "alone; render without --style"
            )
        if self.uses_style and styles is None:
            raise StyleRequired("this model has a style stream and needs a reference photo for every label map (--style refs.json)")
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
            with self.generator.sampling(**self._sampling_options(progress, sampling)):
                out = self.generator(one_hot(labels, self.generator.num_classes), z=z, style=style_input)
        return out.float()

    @property
    def can_resample_regions(self) -> bool:
        """Whether :meth:`resample` works: a latent with one noise value per pixel and no style input."""
        size = self.size
        return not self.uses_style and self.generator.latent_shape(1, size) == (1, self.z_dim, *size) and self.z_dim > 0

    @torch.no_grad()
    def resample(self, label: Any, mask: Any, *, seed: int = 0, region_seed: int = 1, base: Any = None) -> Image.Image:
        """Re-sample one region: new noise (``region_seed``'s) inside ``mask``, ``seed``'s elsewhere.

        The network's receptive field reaches across the mask, so the whole image changes a little
        when the noise of a region changes (about a fifth as much outside as inside, measured on
        OASIS); the result therefore takes the new render only inside ``mask`` and ``base``
        (default: the render of ``label`` with ``seed``) outside it, pixel for pixel. ``base`` is
        the photo shown before (PIL image, array or path, resized to the model size if needed):
        passing the previous result re-samples region after region. ``mask``: nonzero inside.
        """
        if not self.can_resample_regions:
            raise RegionResampleUnsupported(
                f"this {self.spec.family} generator has no per-pixel noise: region re-sampling needs one like OASIS's 3D noise"
            )
        labels = self.prepare_label(label)[None].to(self.device)
        inside = torch.from_numpy(_as_mask(mask, self.size)).to(self.device)[None, None]  # (1, 1, H, W)
        z_old = self.generator.latent_for([seed], self.size, device=self.device)
        z_new = self.generator.latent_for([region_seed], self.size, device=self.device)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with autocast:
            new = self.generator(one_hot(labels, self.generator.num_classes), z=torch.where(inside, z_new, z_old))
        new_pixels = tensor_to_image(new[0].float())
        if base is None:
            before = tensor_to_image(self.render(labels, seeds=[seed])[0])
        else:
            before = resize_image(_as_photo(base), self.size)
        # composited in 8-bit pixels: outside the mask the result is the base, byte for byte
        return Image.fromarray(np.where(inside[0, 0].cpu().numpy()[..., None], new_pixels, before))

    def _sampling_options(self, progress: Callable[[int, int], None] | None, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
        if not self.iterative:
            if overrides:
                raise ValueError(f"the {self.spec.family} model renders in one pass: it takes no sampling options")
            return {}
        options = {**self.sampling, **(overrides or {})}
        if self.priors is not None:
            options["priors"] = self.priors
        if progress is not None:
            options["progress"] = progress
        return options

    def prepare_label(self, label: Any) -> Tensor:
        return torch.from_numpy(resize_label(_as_label(label, self.table), self.size).astype(np.int64))

    def prepare_style(self, style: Any) -> Tensor:
        return image_to_tensor(resize_image(_as_photo(style), self.size))

    def __call__(
        self,
        label: Any,
        style: Any = None,
        seed: int = 0,
        batch_size: int = 8,
        progress: Callable[[int, int], None] | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> Image.Image | list[Image.Image]:
        """One label map (array, PIL image or path) -> a PIL photo at the model's size.

        A list of label maps (with a list of styles, or none) -> a list of photos, rendered
        ``batch_size`` at a time; map ``i`` uses seed ``seed + i``, so ``painter(maps)[i]`` equals
        ``painter(maps[i], seed=seed + i)``. ``progress`` and ``sampling``: a diffusion model's
        per-step callback and sampling options for this call.
        """
        if isinstance(label, list | tuple):
            return self.paint_many(label, style, seed=seed, batch_size=batch_size, progress=progress, sampling=sampling)
        labels = self.prepare_label(label)[None]
        styles = self.prepare_style(style)[None] if style is not None else None
        return Image.fromarray(tensor_to_image(self.render(labels, styles, [seed], progress, sampling)[0]))

    def paint_many(
        self,
        labels: list | tuple,
        styles: list | tuple | None = None,
        seed: int = 0,
        batch_size: int = 8,
        progress: Callable[[int, int], None] | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> list[Image.Image]:
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
            out = self.render(batch, style_batch, [seed + i for i in chunk], progress, sampling)
            photos += [Image.fromarray(tensor_to_image(photo)) for photo in out]
        return photos

    @property
    def steps(self) -> int | None:
        """A diffusion model's sampling steps per render (None for a one-pass generator)."""
        if not self.iterative:
            return None
        default = self.spec.args.get("num_inference_steps", SamplingOptions.num_inference_steps)
        return int(self.sampling.get("num_inference_steps", default))
