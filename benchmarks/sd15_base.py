"""Random-weight Stable Diffusion bases for the ``controlnet`` training benchmarks: the same modules on
both sides (``bench_train.py --family controlnet`` reads them from a folder through paintscape's own
``load_base``; ``reference/bench_controlnet_step.py`` builds them in memory). No weights can be
downloaded, and a step's cost does not depend on their values, so the modules are built on the meta
device and filled with N(0, 0.02) values (``bench_diffusion.fill_random``: seconds, where an
initialiser would take minutes), from a fixed seed.

Bases (``--base`` of both scripts):

* ``sd15`` — Stable Diffusion 1.5's shapes: its UNet and VAE configs (``bench_diffusion.SD15_UNET``,
  ``SD15_VAE``; 859.5 M and 83.7 M parameters) and its text encoder's (CLIP ViT-L/14's text tower:
  12 layers of width 768, 77 tokens, 123 M parameters). The tokenizer is a CLIP tokenizer with a small
  vocabulary (letters only): it only has to turn the prompt into 77 ids.
* ``tiny`` — the same layout (four UNet levels, cross-attention in the first three, a VAE that halves
  the size three times, 77 prompt tokens) at small widths, for checks and tests: it runs in seconds,
  and its times say nothing about Stable Diffusion 1.5.

``write_base(folder, kind)`` lays a base out as diffusers' snapshots are: ``unet/``, ``vae/``,
``text_encoder/`` (safetensors and ``config.json``), ``tokenizer/`` and ``scheduler/`` (SD 1.5's
``scheduler_config.json``).
"""

from __future__ import annotations

import json
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from bench_diffusion import SD15_UNET, SD15_VAE, fill_random

#: CLIP ViT-L/14's text tower, Stable Diffusion 1.5's text encoder (its text_encoder/config.json).
SD15_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
#: Stable Diffusion 1.5's scheduler/scheduler_config.json, as the snapshot has it (DDPMScheduler.load_config
#: reads the training schedule from it; ``clip_sample`` is a key PNDMScheduler itself does not take).
SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "clip_sample": False,
}
PROMPT = "a landscape photograph"  # paintscape/configs/controlnet.yaml's prompt
PROMPT_TOKENS = 77  # Stable Diffusion's tokenizer length


@dataclass(frozen=True)
class BaseShape:
    unet: dict[str, Any]
    vae: dict[str, Any]
    text: dict[str, Any]


BASES: dict[str, BaseShape] = {
    "sd15": BaseShape(SD15_UNET, SD15_VAE, SD15_TEXT),
    "tiny": BaseShape(
        {
            **SD15_UNET,
            "block_out_channels": [32, 32, 64, 64],
            "layers_per_block": 1,
            "cross_attention_dim": 32,
            "norm_num_groups": 8,
            "sample_size": 8,
        },
        {
            **SD15_VAE,
            "block_out_channels": [16, 16, 32, 32],
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "sample_size": 64,
        },
        {
            **SD15_TEXT,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "projection_dim": 32,
        },
    ),
}


def _vocabulary() -> dict[str, int]:
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return vocab


def _text_config(kind: str) -> Any:
    import transformers

    # the small vocabulary's start and end tokens; SD 1.5's vocabulary size is kept (its embedding table)
    return transformers.CLIPTextConfig(**BASES[kind].text, bos_token_id=0, eos_token_id=1, pad_token_id=1)


def build_module(kind: str, part: str, dtype: torch.dtype = torch.float32) -> Any:
    """Part ``unet``, ``vae`` or ``text_encoder`` of base ``kind`` with random weights (the same values
    every time), frozen, in inference mode."""
    import diffusers
    import transformers

    shape = BASES[kind]
    with torch.device("meta"):
        if part == "unet":
            module = diffusers.UNet2DConditionModel(**shape.unet)
        elif part == "vae":
            module = diffusers.AutoencoderKL(**shape.vae)
        elif part == "text_encoder":
            module = transformers.CLIPTextModel(_text_config(kind))
        else:
            raise ValueError(f"unknown part {part!r}: unet, vae or text_encoder")
    module = fill_random(module, dtype)
    for name, buffer in module.named_buffers():
        if name.endswith("position_ids"):  # the text encoder's, which fill_random zeroed: positions 0..76 again
            buffer.copy_(torch.arange(buffer.shape[-1]).expand_as(buffer))
    return module


def tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer of Stable Diffusion's length (77) over the small vocabulary, saved in ``folder``."""
    import transformers

    with tempfile.TemporaryDirectory() as raw:
        (Path(raw) / "vocab.json").write_text(json.dumps(_vocabulary()))
        (Path(raw) / "merges.txt").write_text("#version: 0.2\n")
        tok = transformers.CLIPTokenizer(
            vocab_file=str(Path(raw) / "vocab.json"),
            merges_file=str(Path(raw) / "merges.txt"),
            model_max_length=PROMPT_TOKENS,
        )
        tok.save_pretrained(folder)
    return tok


def prompt_ids(tok: Any, batch: int) -> torch.Tensor:
    """The prompt as ``train_controlnet.py``'s ``tokenize_captions`` gives it: padded to the
    tokenizer's length, one row per image."""
    ids = tok(PROMPT, max_length=tok.model_max_length, padding="max_length", truncation=True, return_tensors="pt")
    return ids.input_ids.repeat(batch, 1)


def write_base(folder: Path, kind: str) -> Path:
    """Base ``kind`` in fp32 as a diffusers-format snapshot folder; returns ``folder``."""
    folder = Path(folder)
    for part in ("unet", "vae", "text_encoder"):  # one module in memory at a time
        build_module(kind, part).save_pretrained(folder / part)
    tokenizer(folder / "tokenizer")
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_SCHEDULER, indent=2) + "\n")
    return folder
