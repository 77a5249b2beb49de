"""The diffusers parts of the ``controlnet`` family: a small base built from scratch, a frozen base read
from a local diffusers-format folder, the ControlNet, the training noise schedule and the samplers.

This module imports diffusers; reach it through :func:`paintscape.models.diffusion.extra.diffusion_components`
so that a missing extra is one line. Nothing here downloads: a base is read with
``from_pretrained(folder, local_files_only=True)`` and a missing or incomplete folder is a
``FileNotFoundError`` that names the folder, what is missing and what to download.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers
from torch import Tensor

# Sampler name -> (diffusers class, extra config). All three are deterministic (DDIM with eta = 0,
# DPM-Solver++ in its ODE form, UniPC): every random number of a sample is in its starting latent.
SAMPLERS: dict[str, tuple[type, dict[str, Any]]] = {
    "ddim": (diffusers.DDIMScheduler, {}),
    "dpm++": (diffusers.DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "unipc": (diffusers.UniPCMultistepScheduler, {}),
}

# Conditioning stem of ControlNet (Zhang et al.): one stride-2 stage per halving of the VAE.
DEFAULT_CONDITIONING_CHANNELS = (16, 32, 96, 256)

SD15_REPOSITORY = "stable-diffusion-v1-5/stable-diffusion-v1-5"
_BASE_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def scratch_schedule_config(prediction_type: str) -> dict[str, Any]:
    """Stable Diffusion's noise schedule (scaled-linear betas, 1000 steps) for a base trained from
    scratch; ``trailing`` spacing makes a sampler's first step the last training timestep."""
    return {
        "num_train_timesteps": 1000,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "prediction_type": prediction_type,
        "timestep_spacing": "trailing",
        "steps_offset": 0,
        "clip_sample": False,
    }


def noise_schedule(config: Mapping[str, Any]) -> diffusers.DDPMScheduler:
    """The training schedule: ``alphas_cumprod``, ``prediction_type``, ``add_noise``, ``get_velocity``."""
    return diffusers.DDPMScheduler.from_config(dict(config))


def make_sampler(name: str, schedule_config: Mapping[str, Any]) -> Any:
    """A fresh diffusers scheduler (they hold per-run state) on the training schedule."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SAMPLERS)}")
    cls, extra = SAMPLERS[name]
    return cls.from_config(dict(schedule_config), **extra)


def build_unet(
    *,
    channels: Sequence[int],
    layers_per_block: int,
    latent_channels: int,
    cross_attention_dim: int,
    attention_head_dim: int,
    norm_groups: int,
) -> diffusers.UNet2DConditionModel:
    """A small text-free-sized UNet: attention (self and cross) at every level but the first, the
    highest-resolution one, where it would cost the most."""
    levels = len(channels)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1)
    up = ("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",)
    return diffusers.UNet2DConditionModel(
        in_channels=latent_channels,
        out_channels=latent_channels,
        block_out_channels=tuple(channels),
        down_block_types=down,
        up_block_types=up,
        layers_per_block=layers_per_block,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=attention_head_dim,
        norm_num_groups=norm_groups,
    )


def build_vae(*, channels: Sequence[int], latent_channels: int, norm_groups: int) -> diffusers.AutoencoderKL:
    """A small KL autoencoder; it halves the size ``len(channels) - 1`` times. Its latents are used
    unscaled (``scaling_factor`` 1): the KL term of its training keeps them near unit scale."""
    levels = len(channels)
    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(channels),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=norm_groups,
        scaling_factor=1.0,
    )


def vae_downsampling(vae: diffusers.AutoencoderKL) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


def build_controlnet(
    unet: diffusers.UNet2DConditionModel,
    *,
    num_classes: int,
    conditioning_channels: Sequence[int] | None,
    vae_factor: int,
) -> diffusers.ControlNetModel:
    """A ControlNet initialised from the UNet's encoder (the paper's "trainable copy"), taking the
    ``num_classes``-channel one-hot map through its learned conditioning stem. The stem halves the
    map once per entry after the first, so it must halve as often as the VAE does for its output to
    land on the latent grid."""
    stages = vae_factor.bit_length()  # a factor of 2**k needs k + 1 entries
    if conditioning_channels is None:
        if stages > len(DEFAULT_CONDITIONING_CHANNELS):
            raise ValueError(f"the VAE downsamples by {vae_factor}; give conditioning_channels with {stages} entries")
        conditioning_channels = DEFAULT_CONDITIONING_CHANNELS[:stages]
    if len(conditioning_channels) != stages:
        raise ValueError(
            f"conditioning_channels {list(conditioning_channels)} downsample the label map by "
            f"{2 ** (len(conditioning_channels) - 1)}, but the VAE downsamples by {vae_factor}: give {stages} entries"
        )
    return diffusers.ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=tuple(conditioning_channels), conditioning_channels=num_classes
    )


@dataclass
class BaseParts:
    """What a base folder gives: its UNet and VAE, its noise schedule, and the fixed prompt encoded
    once by its text encoder (which is then dropped: it is never needed again)."""

    unet: diffusers.UNet2DConditionModel
    vae: diffusers.AutoencoderKL
    schedule_config: dict[str, Any]
    prompt_embedding: Tensor  # (1, tokens, cross_attention_dim)


def _has_weights(part: Path) -> bool:
    return any(part.glob("*.safetensors")) or any(part.glob("*.bin"))


def missing_base_parts(folder: Path) -> list[str]:
    """The files a diffusers-format Stable Diffusion folder lacks (empty when complete)."""
    missing = []
    for name in ("unet", "vae", "text_encoder"):
        if not (folder / name / "config.json").is_file():
            missing.append(f"{name}/config.json")
        elif not _has_weights(folder / name):
            missing.append(f"{name} weights (*.safetensors)")
    if not any((folder / "tokenizer" / f).is_file() for f in ("tokenizer_config.json", "vocab.json", "tokenizer.json")):
        missing.append("tokenizer/")
    if not (folder / "scheduler" / "scheduler_config.json").is_file():
        missing.append("scheduler/scheduler_config.json")
    return missing


def _download_hint(folder: Path) -> str:
    parts = " ".join(f'"{p}/*"' for p in _BASE_PARTS)
    return (
        f"download a diffusers-format Stable Diffusion 1.5 or 2.1 snapshot there, e.g. `huggingface-cli download "
        f"{SD15_REPOSITORY} --include {parts} --local-dir {folder}`, or set train_base: true without a base to "
        f"train a small base from scratch"
    )


def _variant(part: Path) -> str | None:
    """``fp16`` when a part holds only ``*.fp16.*`` weight files (some snapshots ship just those)."""
    files = [p.name for p in part.iterdir() if p.suffix in (".safetensors", ".bin")]
    return "fp16" if files and all(".fp16." in name for name in files) else None


def load_base(folder: str | Path, *, prompt: str | None, dtype: torch.dtype) -> BaseParts:
    """Reads a local diffusers-format base; never downloads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"base folder '{folder}' not found: {_download_hint(folder)}")
    missing = missing_base_parts(folder)
    if missing:
        raise FileNotFoundError(
            f"base folder '{folder}' is incomplete (missing {', '.join(missing)}): {_download_hint(folder)}"
        )
    # low_cpu_mem_usage=False: diffusers would otherwise ask for `accelerate` (not a dependency) and log that it is missing
    load = {"local_files_only": True, "torch_dtype": dtype, "low_cpu_mem_usage": False}
    unet = diffusers.UNet2DConditionModel.from_pretrained(folder / "unet", variant=_variant(folder / "unet"), **load)
    vae = diffusers.AutoencoderKL.from_pretrained(folder / "vae", variant=_variant(folder / "vae"), **load)
    schedule_config = dict(diffusers.DDPMScheduler.load_config(folder / "scheduler", local_files_only=True))
    schedule_config = {k: v for k, v in schedule_config.items() if not k.startswith("_")}
    tokenizer = transformers.CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    text_encoder = transformers.CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True)
    prompt_embedding = encode_prompt(text_encoder, tokenizer, prompt or "")
    return BaseParts(unet=unet, vae=vae, schedule_config=schedule_config, prompt_embedding=prompt_embedding)


@torch.no_grad()
def encode_prompt(
    text_encoder: transformers.CLIPTextModel, tokenizer: transformers.CLIPTokenizer, prompt: str
) -> Tensor:
    """The prompt's last hidden states ``(1, tokens, dim)``, padded to the tokenizer's length as
    Stable Diffusion was trained."""
    ids = tokenizer(
        prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids
    return text_encoder.eval()(ids)[0].float()


def begin_at(scheduler: Any, index: int) -> None:
    """Start a sampler ``index`` entries into its timesteps (diffusers' img2img does the same). The
    multistep samplers count their steps; DDIM looks each timestep up and needs nothing."""
    if not isinstance(scheduler, diffusers.DDIMScheduler):
        scheduler.set_begin_index(index)
