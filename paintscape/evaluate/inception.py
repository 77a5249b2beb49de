"""The FID Inception network: images -> the 2048-d pool3 features FID and KID compare.

The feature extractor is the "FID Inception" network of TensorFlow's original FID code, as ported
to PyTorch by pytorch-fid (``pytorch_fid.inception.InceptionV3`` with ``use_fid_inception=True``):
torchvision's Inception-v3 layout with three patched block types

* ``FIDInceptionA`` / ``FIDInceptionC`` / ``FIDInceptionE_1``: the pooling branch averages without
  counting the zero padding (``count_include_pad=False``), like TensorFlow;
* ``FIDInceptionE_2`` (``Mixed_7c``): the pooling branch is a *max* pool.

It is written out here so that evaluation does not depend on pytorch-fid at run time, but the
module names are the same, so pytorch-fid's weight file ``pt_inception-2015-12-05-6726825d.pth``
loads into :class:`FIDInceptionV3` unchanged (see :data:`INCEPTION_WEIGHTS_URL`). Features are the
2048-d pool3 activations. Preprocessing follows pytorch-fid exactly: images in ``[0, 1]`` are
resized to 299 x 299 with bilinear interpolation (``align_corners=False``, no antialiasing), then
mapped to ``[-1, 1]``. Our images live in ``[-1, 1]`` (see :mod:`paintscape.labels`), so they are
first mapped to ``[0, 1]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from paintscape.weights_file import read_weights

INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_WEIGHTS_FILE
)
FEATURE_DIM = 2048
INPUT_SIZE = 299


class MissingWeightsError(FileNotFoundError):
    """A pretrained weights file is not where the caller said; the message says what to download."""


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU, torchvision's Inception building block."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool does not count the padded zeros.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (torchvision's InceptionB; FID does not patch it)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        branch7x7dbl = self.branch7x7dbl_3(self.branch7x7dbl_2(branch7x7dbl))
        branch7x7dbl = self.branch7x7dbl_5(self.branch7x7dbl_4(branch7x7dbl))
        branch_pool = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([branch1x1, branch7x7, branch7x7dbl, branch_pool], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (torchvision's InceptionD; FID does not patch it)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        branch7x7x3 = self.branch7x7x3_4(self.branch7x7x3_3(branch7x7x3))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch7x7x3, branch_pool], 1)


class FIDInceptionE(nn.Module):
    """InceptionE; ``max_pool=False`` is FID's ``Mixed_7b`` (TF average pool), ``True`` its ``Mixed_7c``.

    The FID network's last block pools with a max pool instead of an average pool; that is most
    likely a bug in the original TensorFlow graph, but the released FID numbers depend on it.
    """

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_tf(x)
        branch_pool = self.branch_pool(pooled)
        return torch.cat([branch1x1, branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3 up to pool3: images ``(B, 3, H, W)`` in ``[-1, 1]`` -> ``(B, 2048)``.

    Module names match torchvision's ``Inception3`` (and so pytorch-fid's weight file). ``fc``
    (1008 ImageNet-2015 classes) is kept only so that the weight file loads strictly; it is unused.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # pytorch-fid's order: input in [0, 1] -> bilinear resize to 299 -> scale to [-1, 1].
        x = (images + 1) / 2
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # (B, 64, 147, 147)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (B, 64, 73, 73)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # (B, 192, 71, 71)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (B, 192, 35, 35)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # (B, 288, 35, 35)
        x = self.Mixed_6a(x)  # (B, 768, 17, 17)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        x = self.Mixed_7a(x)  # (B, 1280, 8, 8)
        x = self.Mixed_7c(self.Mixed_7b(x))  # (B, 2048, 8, 8)
        return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)  # (B, 2048)


def load_inception(weights: str | os.PathLike, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """The FID Inception network with pytorch-fid's weights from the local file ``weights``.

    Raises :class:`MissingWeightsError` naming the file to download when ``weights`` is missing.
    """
    path = Path(weights)
    if not path.is_file():
        raise MissingWeightsError(
            f"FID Inception weights not found at '{path}'. Download {INCEPTION_WEIGHTS_FILE} from "
            f"{INCEPTION_WEIGHTS_URL} and pass its path (e.g. --inception {INCEPTION_WEIGHTS_FILE})."
        )
    state = read_weights(path, "FID Inception weights")
    model = FIDInceptionV3()
    expected = set(model.state_dict())
    # Files saved before BatchNorm tracked its batch count lack num_batches_tracked; it is unused.
    missing = {k for k in expected - set(state) if not k.endswith("num_batches_tracked")}
    unexpected = set(state) - expected
    if missing or unexpected:
        raise ValueError(
            f"'{path}' is not the FID Inception weight file {INCEPTION_WEIGHTS_FILE} "
            f"(missing keys: {sorted(missing)[:5]}, unexpected keys: {sorted(unexpected)[:5]}). "
            f"Download it from {INCEPTION_WEIGHTS_URL}."
        )
    model.load_state_dict(state, strict=False)
    return model.eval().requires_grad_(False).to(device)


def random_inception(seed: int = 0, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """A randomly initialised FID Inception. FOR TESTS ONLY: its distances mean nothing."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FIDInceptionV3()
    return model.eval().requires_grad_(False).to(device)



@torch.no_grad()
def activations(model: nn.Module, batches: Iterable[torch.Tensor]) -> np.ndarray:
    """Pool3 features ``(N, 2048)`` float64 of image batches ``(B, 3, H, W)`` in ``[-1, 1]``."""
    device = next(model.parameters()).device
    feats = [model(batch.to(device, torch.float32)).double().cpu().numpy() for batch in batches]
    if not feats:
        raise ValueError("no images to compute Inception features from")
    return np.concatenate(feats, axis=0)



def tensor_features(model: nn.Module, images: torch.Tensor, batch_size: int = 16) -> np.ndarray:
    """Pool3 features ``(N, 2048)`` float64 of images ``(N, 3, H, W)`` in ``[-1, 1]`` already in memory
    (the network resizes them to 299 itself): what FID of renders made during training reads."""
    return activations(model, images.split(batch_size))
