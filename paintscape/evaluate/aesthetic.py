"""Aesthetic scores for the track's aesthetic term, on a 0..1 scale.

Any object with ``score(images) -> (B,)`` fits (:class:`AestheticPredictor`). The one provided is
the LAION "improved aesthetic predictor" (Schuhmann, github.com/christophschuhmann/
improved-aesthetic-predictor), the predictor behind LAION-Aesthetics v2:

1. CLIP ViT-L/14 image embedding (768-d projection; ``transformers.CLIPVisionModelWithProjection``
   loaded from a local copy of ``openai/clip-vit-large-patch14``);
2. L2-normalised;
3. an MLP ``768 -> 1024 -> 128 -> 64 -> 16 -> 1`` (dropout between the first layers, *no*
   nonlinearity, exactly as in the released ``sac+logos+ava1-l14-linearMSE.pth``, whose state dict
   ``layers.{0,2,4,6,7}.{weight,bias}`` loads into :class:`AestheticMLP` unchanged);
4. the MLP's output is a rating on the AVA 1..10 scale; we report ``(s - 1) / 9`` clipped to
   ``[0, 1]`` so that it can enter the track score directly.

The predictor and the mapping are paintscape's choices, not the track's. The track's rules name no
aesthetic model (one "following a paper", its score "normalised to 0..1", written ``rating / 10``
in the formula), so its term cannot be reproduced. ``(s - 1) / 9`` sends the ends of AVA's 1..10
scale to 0 and 1, so the whole unit range is used; ``s / 10`` would be higher by ``(10 - s) / 90``
(0.056 at a rating of 5). Scores are comparable between paintscape runs, not with the leaderboard.

Preprocessing follows CLIP's: shortest side resized to the model's input size (224) with bicubic
interpolation, centre crop, CLIP mean/std normalisation. It is done on tensors (antialiased
bicubic) rather than with PIL as in the original, which changes scores by a small fraction of a
point. Everything is read from local paths; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
import torch.nn as nn
import torch.nn.functional as F

from paintscape.weights_file import read_weights

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_MODEL = "openai/clip-vit-large-patch14"
CLIP_URL = f"https://huggingface.co/{CLIP_MODEL}"
MLP_FILE = "sac+logos+ava1-l14-linearMSE.pth"
MLP_URL = f"https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/{MLP_FILE}"


@runtime_checkable
class AestheticPredictor(Protocol):
    def score(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` in ``[-1, 1]`` -> aesthetic scores ``(B,)`` in ``[0, 1]``."""
        ...


class AestheticMLP(nn.Module):
    """The LAION improved-aesthetic-predictor head: embedding ``(B, D)`` -> rating ``(B, 1)`` on 1..10."""

    def __init__(self, input_size: int = 768) -> None:
        super().__init__()
        self.input_size = input_size
        self.layers = nn.Sequential(
            nn.Linear(input_size, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.layers(embedding)


def rating_to_unit(rating: torch.Tensor) -> torch.Tensor:
    """AVA rating on 1..10 -> ``(rating - 1) / 9`` clipped to ``[0, 1]``.

    paintscape's own mapping (the ends of the 1..10 scale to 0 and 1), not the track's, whose formula
    divides its unnamed model's rating by 10; see the module docstring.
    """
    return ((rating - 1) / 9).clamp(0.0, 1.0)


def load_aesthetic_mlp(path: str | os.PathLike) -> AestheticMLP:
    """The MLP from ``sac+logos+ava1-l14-linearMSE.pth`` (or a file with the same keys)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"aesthetic MLP weights not found at '{path}'. Download {MLP_FILE} from {MLP_URL}.")
    state = read_weights(path, "aesthetic MLP weights")
    if "state_dict" in state:  # a Lightning checkpoint of the same model
        state = state["state_dict"]
    if "layers.0.weight" not in state:
        raise ValueError(
            f"'{path}' is not an improved-aesthetic-predictor MLP (no 'layers.0.weight'); expected {MLP_FILE}"
        )
    mlp = AestheticMLP(input_size=state["layers.0.weight"].shape[1])
    mlp.load_state_dict(state)
    return mlp.eval().requires_grad_(False)


def clip_preprocess(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images ``(B, 3, H, W)`` in ``[-1, 1]`` -> CLIP input ``(B, 3, size, size)``."""
    x = (images + 1) / 2
    H, W = x.shape[-2:]
    scale = size / min(H, W)
    new_h, new_w = max(size, round(H * scale)), max(size, round(W * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[..., top : top + size, left : left + size].clamp(0, 1)
    mean = x.new_tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


class LaionAestheticPredictor(nn.Module):
    """CLIP image embedding -> L2 norm -> :class:`AestheticMLP` -> ``(rating - 1) / 9`` in ``[0, 1]``."""

    def __init__(self, clip_vision: nn.Module, mlp: AestheticMLP) -> None:
        super().__init__()
        projection_dim = clip_vision.config.projection_dim
        if mlp.input_size != projection_dim:
            raise ValueError(
                f"aesthetic MLP expects {mlp.input_size}-d embeddings but the CLIP model gives "
                f"{projection_dim}-d ones; {MLP_FILE} goes with {CLIP_MODEL} (ViT-L/14, 768-d)"
            )
        self.clip_vision = clip_vision
        self.mlp = mlp
        self.image_size = int(clip_vision.config.image_size)

    @classmethod
    def from_paths(
        cls, clip_dir: str | os.PathLike, mlp_path: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> LaionAestheticPredictor:
        """Load CLIP from a local folder (``openai/clip-vit-large-patch14``) and the MLP from its .pth."""
        clip_dir = Path(clip_dir)
        if not (clip_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"CLIP model not found at '{clip_dir}'. Download {CLIP_MODEL} from {CLIP_URL} "
                f"(config.json and model.safetensors), e.g. `huggingface-cli download {CLIP_MODEL} "
                f"--local-dir {clip_dir}`."
            )
        mlp = load_aesthetic_mlp(mlp_path)  # check the small file before loading the big one
        try:
            from transformers import CLIPConfig, CLIPVisionConfig, CLIPVisionModelWithProjection
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the aesthetic predictor needs 'transformers': pip install transformers") from err
        raw = json.loads((clip_dir / "config.json").read_text())
        if raw.get("model_type") == "clip":
            # A full CLIP folder (as on the hub): the projection size lives on the top-level config,
            # and CLIPVisionConfig.from_pretrained would fall back to its default of 512.
            full = CLIPConfig.from_pretrained(clip_dir, local_files_only=True)
            vision = CLIPVisionConfig(**{**full.vision_config.to_dict(), "projection_dim": full.projection_dim})
        else:
            vision = CLIPVisionConfig.from_pretrained(clip_dir, local_files_only=True)
        clip = CLIPVisionModelWithProjection.from_pretrained(clip_dir, config=vision, local_files_only=True)
        return cls(clip.eval().requires_grad_(False), mlp).to(device)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised CLIP image embeddings ``(B, D)``."""
        pixels = clip_preprocess(images, self.image_size)
        embedding = self.clip_vision(pixel_values=pixels).image_embeds  # (B, D)
        return embedding / embedding.norm(dim=-1, keepdim=True)

    def rating(self, images: torch.Tensor) -> torch.Tensor:
        """The predictor's raw rating ``(B,)`` on the AVA 1..10 scale."""
        return self.mlp(self.embed(images)).squeeze(-1)

    @torch.no_grad()
    def score(self, images: torch.Tensor) -> torch.Tensor:
        device = next(self.parameters()).device
        self.eval()
        return rating_to_unit(self.rating(images.to(device, torch.float32))).float().cpu()
