"""VGG19 perceptual loss (pix2pixHD / SPADE ``VGGLoss``), with an L1 or cosine feature distance.

Features are taken after ``relu1_1, relu2_1, relu3_1, relu4_1, relu5_1`` of torchvision's VGG19
(``torchvision.models.vgg19().features[:2], [2:7], [7:12], [12:21], [21:30]``, SPADE's slices) and weighted
``1/32, 1/16, 1/8, 1/4, 1``. Per layer the distance is averaged over every element (``l1``: SPADE's
``nn.L1Loss``) or over every pixel (``cosine``: ``1 - cos`` between the channel vectors of the fake
and the real at that pixel); the real image's features carry no gradient (SPADE detaches them).

Input normalisation, exactly: with ``input_normalization="imagenet"`` (the default) the ``[-1, 1]``
images are mapped to ``[0, 1]`` and standardised with the ImageNet mean ``(0.485, 0.456, 0.406)``
and std ``(0.229, 0.224, 0.225)``, the statistics torchvision's VGG19 was trained with. SPADE and
pix2pixHD feed the ``[-1, 1]`` tensor to VGG unchanged; ``input_normalization="none"`` reproduces
that bit for bit.

Weights are read from a local file, never downloaded (library code has no network side effects):
``weights=None`` means torchvision's cache file ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``;
a missing file raises :class:`FileNotFoundError` naming the path and :data:`VGG19_URL`.
``weights="random"`` builds an untrained network, for tests only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
LAYER_NAMES = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
DISTANCES = ("l1", "cosine")
_SLICE_ENDS = (2, 7, 12, 21, 30)  # indices into torchvision's vgg19().features
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def default_vgg19_path() -> Path:
    """Where torchvision caches its ImageNet VGG19 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME


def _read_weights(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG19 weights not found at {path}. Download {VGG19_URL} to that path (or pass the path "
            f"of a local copy, .pth or .safetensors, as the perceptual loss weights); paintscape never "
            f"downloads by itself."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


class VGG19Features(nn.Module):
    """Frozen VGG19 up to ``relu5_1``; ``forward(image in [-1, 1]) -> [relu1_1, ..., relu5_1]``.

    Always in eval mode with ``requires_grad=False`` parameters: gradients flow to the input only.
    State-dict keys are torchvision's (``features.0.weight`` ...), so its checkpoint loads as is.
    """

    def __init__(self, weights: str | Path | None = None, input_normalization: str = "imagenet") -> None:
        super().__init__()
        if input_normalization not in ("imagenet", "none"):
            raise ValueError(f"input_normalization must be 'imagenet' or 'none', got {input_normalization!r}")
        self.input_normalization = input_normalization
        # torchvision's own network, built on the meta device (no memory, no initialisation), of
        # which only the layers up to relu5_1 are materialised. Its ReLUs work in place: each
        # follows a conv (which needs its input, not its output), and every slice forward returns
        # ends on a ReLU that the next slice's conv only reads.
        with torch.device("meta"):
            network = torchvision.models.vgg19(weights=None)
        self.features = network.features[: _SLICE_ENDS[-1]].to_empty(device="cpu")
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if weights == "random":
            self._initialise()
        else:
            path = default_vgg19_path() if weights is None else Path(weights)
            self._load(path)
        self.requires_grad_(False)
        self.eval()

    @torch.no_grad()
    def _initialise(self) -> None:
        """Random weights as torchvision initialises VGG's convolutions (tests only)."""
        for layer in self.features:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def _load(self, path: Path) -> None:
        state = _read_weights(path)
        wanted = self.state_dict()
        picked = {}
        for key, expected in wanted.items():
            value = state.get(key, state.get(key.removeprefix("features."), None))
            if value is None:
                raise KeyError(
                    f"{path} has no VGG19 weight {key!r}; expected torchvision's vgg19 state dict ({VGG19_URL})"
                )
            if tuple(value.shape) != tuple(expected.shape):
                raise ValueError(f"{path}: {key!r} has shape {tuple(value.shape)}, VGG19 needs {tuple(expected.shape)}")
            picked[key] = value
        self.load_state_dict(picked)

    def train(self, mode: bool = True) -> VGG19Features:
        return super().train(False)  # a fixed feature extractor: never in training mode

    def forward(self, image: Tensor) -> list[Tensor]:
        x = image
        if self.input_normalization == "imagenet":
            x = ((x + 1) / 2 - self.mean) / self.std  # [-1, 1] -> [0, 1] -> ImageNet-standardised
        outputs = []
        start = 0
        for end in _SLICE_ENDS:
            x = self.features[start:end](x)
            outputs.append(x)
            start = end
        return outputs


def feature_distance(fake: Tensor, real: Tensor, distance: str = "l1") -> Tensor:
    """Mean distance between feature maps ``(B, C, H, W)``.

    ``l1``: mean absolute difference over all elements. ``cosine``: mean over ``B, H, W`` of
    ``1 - cos(fake[:, :, h, w], real[:, :, h, w])``; a pixel where both vectors are zero (common
    after a ReLU) counts as identical (distance 0) rather than orthogonal.
    """
    if distance == "l1":
        return F.l1_loss(fake, real)
    if distance == "cosine":
        similarity = F.cosine_similarity(fake, real, dim=1, eps=1e-8)  # (B, H, W)
        both_zero = (fake.detach().abs().amax(dim=1) == 0) & (real.detach().abs().amax(dim=1) == 0)
        return (1 - similarity).masked_fill(both_zero, 0.0).mean()
    raise ValueError(f"unknown feature distance {distance!r}; valid: {', '.join(DISTANCES)}")


def perceptual_loss(
    vgg: VGG19Features,
    fake: Tensor,
    real: Tensor,
    distance: str = "l1",
    layer_weights: Sequence[float] = LAYER_WEIGHTS,
) -> Tensor:
    """``sum_l weight_l * distance(vgg_l(fake), vgg_l(real))`` over relu1_1..relu5_1 (SPADE's VGGLoss).

    ``fake`` and ``real`` are images ``(B, 3, H, W)`` in ``[-1, 1]``; the real branch runs without
    gradient (SPADE detaches it), the fake branch keeps it.
    """
    if distance not in DISTANCES:
        raise ValueError(f"unknown feature distance {distance!r}; valid: {', '.join(DISTANCES)}")
    if len(layer_weights) != len(LAYER_NAMES):
        raise ValueError(f"layer_weights needs {len(LAYER_NAMES)} values ({', '.join(LAYER_NAMES)})")
    with torch.no_grad():
        real_features = vgg(real)
    fake_features = vgg(fake)
    total = fake.new_zeros(())
    for weight, f, r in zip(layer_weights, fake_features, real_features):
        total = total + weight * feature_distance(f, r, distance)
    return total
