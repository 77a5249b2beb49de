"""``controlnet``: latent diffusion conditioned on label maps through a ControlNet (Zhang et al., 2023),
with SCP-Diff's noise priors (Gao et al., ECCV 2024) for sampling.

The generator is a whole sampler behind the usual contract: ``forward(label, z)`` starts from the
per-image latent ``z`` (standard normal, at the VAE's latent size), denoises it with a diffusers
scheduler and decodes it, returning ``(B, 3, H, W)`` in [-1, 1]. So the Painter, ``generate`` and the
paint page use it like any generator.

Parts (diffusers modules; :mod:`~paintscape.models.diffusion.components` builds them):

* ``controlnet`` — a ``ControlNetModel`` whose conditioning stem takes the ``num_classes``-channel
  one-hot map (not palette colours, so class ids stay exact) and downsamples it to the latent grid;
* ``unet``, ``vae`` — the base. ``base=FOLDER`` reads a local diffusers-format Stable Diffusion
  folder (1.5 or 2.1) and freezes it; its text encoder encodes the fixed ``prompt`` once and is
  dropped. ``train_base=True`` without a folder builds a small UNet and VAE from the constructor's
  sizes and trains them too; there is no text encoder then, and the prompt is a learned embedding of
  one token (``prompt_embedding``). ``base=FOLDER`` with ``train_base=True`` fine-tunes the whole base.

Classifier-free guidance is on the label condition: the unconditional prediction sees an all-zero
label map, which is how an ignored pixel already looks; training drops the label map (all zeros)
with probability p (:func:`paintscape.losses.diffusion.diffusion_terms`), so the same network learns
both. ``guidance_scale`` 1 runs the conditional prediction alone (half the cost).

Sampling settings: constructor defaults (``scheduler``, ``num_inference_steps``, ``guidance_scale``)
held in ``generator.sampling_options``, a :class:`SamplingOptions`; change them for a block of calls
with ``with generator.sampling(num_inference_steps=8, prior="joint"): ...`` or for good by assigning
``generator.sampling_options = generator.sampling_options.replace(...)``. The noise prior
(``prior``, ``prior_strength``, ``prior_min_count``) needs noise priors (a
:class:`~paintscape.models.diffusion.priors.NoisePriors`): the ``priors`` option, else
``generator.priors``; ``progress(step, total)`` is called after each denoising step.

The checkpoint (``state_dict``) holds the trainable weights only: the ControlNet, the learned prompt
embedding, and the UNet and VAE when ``train_base``; never a frozen base, which the spec's ``base``
names and which is read again from that folder when the generator is rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from paintscape.labels import NUM_CLASSES
from paintscape.models.base import Generator
from paintscape.models.diffusion.extra import diffusion_components
from paintscape.models.diffusion.priors import (
    DEFAULT_MIN_COUNT,
    PRIOR_KINDS,
    NoisePriors,
    ids_from_one_hot,
    labels_at_latent_size,
    starting_latent,
)
from paintscape.registry import GENERATORS

SCHEDULERS = ("ddim", "dpm++", "unipc")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class SamplingOptions:
    """How ``forward`` samples. ``prior_strength``: with a prior, the fraction of the
    ``num_inference_steps`` that run (diffusers' img2img ``strength``): sampling starts at the
    timestep where that many steps remain, from the prior noised to that timestep."""

    scheduler: str = "dpm++"  # ddim | dpm++ | unipc
    num_inference_steps: int = 20
    guidance_scale: float = 1.0  # 1: no classifier-free guidance
    prior: str = "none"  # none | spatial | class | joint
    prior_strength: float = 0.8
    prior_min_count: int = DEFAULT_MIN_COUNT
    progress: Callable[[int, int], None] | None = None
    # the priors to start from; None: the generator's own ``priors``
    priors: NoisePriors | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")
        if self.guidance_scale < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {self.guidance_scale}")
        if self.prior not in PRIOR_KINDS:
            raise ValueError(f"prior must be one of {', '.join(PRIOR_KINDS)}, got {self.prior!r}")
        if not 0 < self.prior_strength <= 1:
            raise ValueError(f"prior_strength must lie in (0, 1], got {self.prior_strength}")
        if self.prior_min_count < 1:
            raise ValueError(f"prior_min_count must be >= 1, got {self.prior_min_count}")

    def replace(self, **changes: Any) -> SamplingOptions:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(
                f"unknown sampling option {', '.join(unknown)}; allowed: {', '.join(f.name for f in dataclasses.fields(self))}"
            )
        return dataclasses.replace(self, **changes)


class SamplingStart(NamedTuple):
    scheduler: Any  # a fresh diffusers scheduler, its timesteps set
    timesteps: Tensor  # the timesteps still to run
    latents: Tensor  # (B, C, h, w) the starting latent at timesteps[0]


def _drop_frozen_from_state_dict(
    module: ControlNetGenerator, state_dict: dict[str, Tensor], prefix: str, local_metadata: Any
) -> None:
    for part in module.frozen_parts:
        for key in [k for k in state_dict if k.startswith(f"{prefix}{part}.")]:
            del state_dict[key]


def _ignore_missing_frozen(module: ControlNetGenerator, incompatible_keys: Any) -> None:
    # The hook gets no prefix (the generator may sit inside a wrapper): match the frozen keys' tails.
    frozen = {f"{part}.{key}" for part in module.frozen_parts for key in getattr(module, part).state_dict()}

    def is_frozen(key: str) -> bool:
        pieces = key.split(".")
        return any(".".join(pieces[i:]) in frozen for i in range(len(pieces)))

    incompatible_keys.missing_keys[:] = [k for k in incompatible_keys.missing_keys if not is_frozen(k)]


@GENERATORS.register("controlnet")
class ControlNetGenerator(Generator):
    sampling_option_names = tuple(f.name for f in dataclasses.fields(SamplingOptions))

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        image_size: tuple[int, int] = (384, 512),
        base: str | None = None,
        train_base: bool = False,
        base_dtype: str = "fp32",
        prompt: str | None = "a landscape photograph",
        unet_channels: Sequence[int] = (64, 128, 256),
        unet_layers_per_block: int = 1,
        attention_head_dim: int = 8,
        cross_attention_dim: int = 64,
        vae_channels: Sequence[int] = (64, 128, 128),
        latent_channels: int = 4,
        norm_groups: int = 32,
        conditioning_channels: Sequence[int] | None = None,
        prediction_type: str = "epsilon",
        scheduler: str = "dpm++",
        num_inference_steps: int = 20,
        guidance_scale: float = 1.0,
        gradient_checkpointing: bool = False,
    ) -> None:
        """``base``: a local diffusers-format Stable Diffusion folder (frozen unless ``train_base``);
        ``train_base`` without ``base``: a small base from scratch with ``unet_channels`` (one UNet
        level each), ``unet_layers_per_block``, ``attention_head_dim``, ``cross_attention_dim``,
        ``vae_channels`` (the VAE halves the size ``len - 1`` times), ``latent_channels``,
        ``norm_groups`` (GroupNorm groups; must divide every channel count) and ``prediction_type``
        (epsilon | v_prediction | sample); these are ignored with a base folder, whose configs
        rule. ``base_dtype``: fp32 | bf16 | fp16, the dtype a frozen base is held in.
        ``conditioning_channels``: the ControlNet conditioning stem, one entry per VAE level
        (default ControlNet's 16, 32, 96, 256, cut to the VAE's depth). ``prompt``: encoded once
        by the base folder's text encoder (None: the empty prompt)."""
        super().__init__()
        parts = diffusion_components()
        if base is None and not train_base:
            raise ValueError(
                "controlnet: give base=FOLDER (a local diffusers-format Stable Diffusion folder) or train_base: true"
            )
        if base_dtype not in DTYPES:
            raise ValueError(f"base_dtype must be one of {', '.join(DTYPES)}, got {base_dtype!r}")
        if train_base and base_dtype != "fp32":
            raise ValueError(
                "base_dtype applies to a frozen base; a trained base keeps fp32 weights (use train.precision for bf16)"
            )
        self.num_classes = self.label_channels = num_classes
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.train_base = train_base
        self.frozen_parts: tuple[str, ...] = () if train_base else ("unet", "vae")

        if base is None:
            self.unet = parts.build_unet(
                channels=unet_channels,
                layers_per_block=unet_layers_per_block,
                latent_channels=latent_channels,
                cross_attention_dim=cross_attention_dim,
                attention_head_dim=attention_head_dim,
                norm_groups=norm_groups,
            )
            self.vae = parts.build_vae(channels=vae_channels, latent_channels=latent_channels, norm_groups=norm_groups)
            self.schedule_config = parts.scratch_schedule_config(prediction_type)
            # No text encoder: the fixed prompt is one learned token.
            self.prompt_embedding = nn.Parameter(torch.zeros(1, 1, cross_attention_dim))
        else:
            loaded = parts.load_base(base, prompt=prompt, dtype=DTYPES[base_dtype])
            self.unet, self.vae, self.schedule_config = loaded.unet, loaded.vae, loaded.schedule_config
            self.register_buffer("prompt_embedding", loaded.prompt_embedding, persistent=False)
        self.vae_factor = parts.vae_downsampling(self.vae)
        self.controlnet = parts.build_controlnet(
            self.unet, num_classes=num_classes, conditioning_channels=conditioning_channels, vae_factor=self.vae_factor
        )
        self.noise_schedule = parts.noise_schedule(self.schedule_config)
        self.z_dim = int(self.vae.config.latent_channels)
        self.spatial_latent = True
        self.latent_size = self.latent_shape(1, self.image_size)[2:]

        for part in self.frozen_parts:
            getattr(self, part).requires_grad_(False).eval()
        self.register_state_dict_post_hook(_drop_frozen_from_state_dict)
        self.register_load_state_dict_post_hook(_ignore_missing_frozen)
        self.sampling_options = SamplingOptions(scheduler, num_inference_steps, guidance_scale)
        self.priors: NoisePriors | None = None
        if gradient_checkpointing:
            self.enable_gradient_checkpointing()

    # --- contract --------------------------------------------------------------------------------

    def latent_shape(self, batch: int, size: tuple[int, int]) -> tuple[int, ...]:
        """``(batch, latent_channels, H / f, W / f)`` for label maps of ``size``; ``f`` is the VAE's
        downsampling. The UNet halves the latent once per level after the first, so ``H`` and
        ``W`` must be multiples of ``f * 2**(levels - 1)``."""
        multiple = self.vae_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)
        H, W = size
        if H % multiple or W % multiple:
            raise ValueError(
                f"controlnet: image size {H}x{W} (HxW) must be a multiple of {multiple} on both sides for this base"
            )
        return (batch, self.z_dim, H // self.vae_factor, W // self.vae_factor)

    def forward(self, label: Tensor, z: Tensor | None = None, style: Tensor | None = None) -> Tensor:
        """The whole sampler: one-hot ``label (B, K, H, W)`` and ``z`` as :meth:`latent_shape` says
        (None: drawn from the global RNG) -> ``(B, 3, H, W)`` in [-1, 1]. Differentiable (no
        ``no_grad`` inside); callers that only sample wrap it in ``torch.no_grad()``."""
        if style is not None:
            raise ValueError(
                "the controlnet family takes no style photo: its output depends on the label map and the seed alone"
            )
        B, K, H, W = label.shape
        if K != self.num_classes:
            raise ValueError(f"controlnet: expected a {self.num_classes}-channel one-hot label map, got {K} channels")
        shape = self.latent_shape(B, (H, W))
        if z is None:
            z = torch.randn(shape, device=label.device)
        elif tuple(z.shape) != shape:
            raise ValueError(f"controlnet: z must have shape {shape} for this batch, got {tuple(z.shape)}")
        options = self.sampling_options
        scheduler, timesteps, latents = self.prepare_sampling(label, z)
        guided = options.guidance_scale != 1.0
        condition = torch.cat([torch.zeros_like(label), label]) if guided else label
        for step, t in enumerate(timesteps):
            x = scheduler.scale_model_input(latents, t)
            if guided:
                unconditional, conditional = self.predict(torch.cat([x, x]), t, condition).chunk(2)
                prediction = unconditional + options.guidance_scale * (conditional - unconditional)
            else:
                prediction = self.predict(x, t, condition)
            latents = scheduler.step(prediction, t, latents, return_dict=False)[0]
            if options.progress is not None:
                options.progress(step + 1, len(timesteps))
        return self.decode_latents(latents)

    # --- sampling ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def sampling(self, **changes: Any) -> Iterator[ControlNetGenerator]:
        """Changes :attr:`sampling_options` for the calls inside the block."""
        previous = self.sampling_options
        self.sampling_options = previous.replace(**changes)
        try:
            yield self
        finally:
            self.sampling_options = previous

    def prepare_sampling(self, label: Tensor, z: Tensor) -> SamplingStart:
        """A fresh scheduler, the timesteps to run and the starting latent: ``z`` itself (prior
        ``none``, from the first timestep) or the prior noised to the start timestep."""
        options = self.sampling_options
        parts = diffusion_components()
        scheduler = parts.make_sampler(options.scheduler, self.schedule_config)
        scheduler.set_timesteps(options.num_inference_steps)
        if options.prior == "none":
            return SamplingStart(scheduler, scheduler.timesteps, z * scheduler.init_noise_sigma)
        priors = options.priors if options.priors is not None else self.priors
        if priors is None:
            raise ValueError(
                f"prior {options.prior!r} needs noise priors: compute them with `paintscape priors RUN` "
                "(or set generator.priors)"
            )
        steps = options.num_inference_steps
        run = min(int(steps * options.prior_strength), steps)
        if run == 0:
            raise ValueError(
                f"prior_strength {options.prior_strength} x {steps} steps leaves no step to run; raise either"
            )
        begin = (steps - run) * scheduler.order
        timesteps = scheduler.timesteps[begin:]
        parts.begin_at(scheduler, begin)
        alpha_bar = float(self.noise_schedule.alphas_cumprod[int(timesteps[0])])
        labels = labels_at_latent_size(ids_from_one_hot(label), tuple(z.shape[-2:]))
        if priors.channels != z.shape[1]:
            raise ValueError(f"{priors.source}: priors have {priors.channels} latent channels, this model {z.shape[1]}")
        mean, var = priors.moments(options.prior, labels, options.prior_min_count)
        return SamplingStart(scheduler, timesteps, starting_latent(mean, var, z.float(), alpha_bar))

    # --- networks ------------------------------------------------------------------------------

    def predict(self, noisy: Tensor, timestep: Tensor | int, label: Tensor) -> Tensor:
        """The UNet's output (noise, velocity or sample, as ``noise_schedule.config.prediction_type``
        says) for latents ``noisy (B, C, h, w)`` at ``timestep`` (scalar or ``(B,)``) under the
        one-hot ``label (B, K, H, W)``, the ControlNet's residuals added to the UNet."""
        B = noisy.shape[0]
        control_dtype, unet_dtype = self.controlnet.dtype, self.unet.dtype
        # repeat, not expand: under no_grad an expanded leaf parameter is a grad-less view that requires grad
        prompt = self.prompt_embedding.repeat(B, 1, 1)
        down, middle = self.controlnet(
            noisy.to(control_dtype),
            timestep,
            encoder_hidden_states=prompt.to(control_dtype),
            controlnet_cond=label.to(control_dtype),
            return_dict=False,
        )
        out = self.unet(
            noisy.to(unet_dtype),
            timestep,
            encoder_hidden_states=prompt.to(unet_dtype),
            down_block_additional_residuals=[d.to(unet_dtype) for d in down],
            mid_block_additional_residual=middle.to(unet_dtype),
            return_dict=False,
        )[0]
        return out.float()

    def encode_posterior(self, photos: Tensor) -> Any:
        """The VAE's posterior (a diffusers ``DiagonalGaussianDistribution``) for photos in [-1, 1]."""
        return self.vae.encode(photos.to(self.vae.dtype)).latent_dist

    def scale_latents(self, raw: Tensor) -> Tensor:
        """VAE latents -> the latents the diffusion model works in (Stable Diffusion's scaling)."""
        shift = self.vae.config.shift_factor or 0.0
        return (raw.float() - shift) * self.vae.config.scaling_factor

    def encode_photos(self, photos: Tensor) -> Tensor:
        """Photos ``(B, 3, H, W)`` in [-1, 1] -> scaled latents ``(B, C, h, w)`` (posterior mean)."""
        return self.scale_latents(self.encode_posterior(photos).mean)

    def decode_latents(self, latents: Tensor) -> Tensor:
        """Scaled latents -> photos ``(B, 3, H, W)`` clamped to [-1, 1]."""
        shift = self.vae.config.shift_factor or 0.0
        raw = latents / self.vae.config.scaling_factor + shift
        return self.vae.decode(raw.to(self.vae.dtype), return_dict=False)[0].float().clamp(-1, 1)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute activations in backward: the ControlNet and the UNet (gradients pass through
        a frozen UNet to the ControlNet's residuals), and the VAE when it is trained."""
        self.controlnet.enable_gradient_checkpointing()
        self.unet.enable_gradient_checkpointing()
        if self.train_base:
            self.vae.enable_gradient_checkpointing()

    def train(self, mode: bool = True) -> ControlNetGenerator:
        super().train(mode)
        for part in self.frozen_parts:  # a frozen base stays in inference mode
            getattr(self, part).eval()
        return self
