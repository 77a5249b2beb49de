"""Fréchet Inception Distance (FID) and Kernel Inception Distance (KID).

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
first mapped to ``[0, 1]``; image files are read as uint8 and divided by 255 like
``torchvision.transforms.ToTensor``.

Real-image statistics are cached as ``.npz`` files whose name is a hash of the image file names,
sizes and modification times and of the weights file, so a changed folder is never served stale
statistics.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import linalg

from paintscape.data.io import read_image

logger = logging.getLogger(__name__)

INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_WEIGHTS_FILE
)
IMAGE_EXTENSIONS = (".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
FEATURE_DIM = 2048
INPUT_SIZE = 299


class MissingWeightsError(FileNotFoundError):
    """A pretrained weights file is not where the caller said; the message says what to download."""


# --- the network --------------------------------------------------------------------------------


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
    state = torch.load(path, map_location="cpu", weights_only=True)
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


# --- statistics ---------------------------------------------------------------------------------


@torch.no_grad()
def activations(model: nn.Module, batches: Iterable[torch.Tensor]) -> np.ndarray:
    """Pool3 features ``(N, 2048)`` float64 of image batches ``(B, 3, H, W)`` in ``[-1, 1]``."""
    device = next(model.parameters()).device
    feats = [model(batch.to(device, torch.float32)).double().cpu().numpy() for batch in batches]
    if not feats:
        raise ValueError("no images to compute Inception features from")
    return np.concatenate(feats, axis=0)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, like ``np.cov``) of features ``(N, D)``."""
    if features.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 images to estimate a covariance, got {features.shape[0]}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def activation_statistics(model: nn.Module, batches: Iterable[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` of the pool3 features of image batches ``(B, 3, H, W)`` in ``[-1, 1]``."""
    return statistics(activations(model, batches))


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    # pytorch-fid calls sqrtm(..., disp=False): no exception, no message, non-finite output on failure.
    # SciPy >= 1.16 deprecates ``disp``; its default then behaves the same, minus the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            root, _ = linalg.sqrtm(matrix, disp=False)
        except TypeError:  # pragma: no cover - SciPy without ``disp``
            root = linalg.sqrtm(matrix)
    return root


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))`` between two Gaussians.

    Same computation as pytorch-fid's ``calculate_frechet_distance``: ``scipy.linalg.sqrtm`` of the
    product; if that is not finite (a near-singular product, e.g. fewer images than dimensions),
    ``eps`` is added to both diagonals and it is retried; a tiny imaginary part from numerical error
    is dropped, a large one (> 1e-3 on the diagonal) raises ``ValueError``.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"statistics have different shapes: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        logger.warning("FID: singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: imaginary component {np.max(np.abs(covmean.imag))} in sqrtm(sigma1 sigma2)")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_distance_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID straight from features ``(N1, D)``, ``(N2, D)``, exact and fast when ``min(N1, N2) < D``.

    With centred features ``A1``, ``A2`` and ``S_i = A_i^T A_i / (N_i - 1)``, the non-zero eigenvalues
    of ``S1 S2`` are the squared singular values of ``B = A1 A2^T / sqrt((N1 - 1)(N2 - 1))``, so
    ``Tr sqrt(S1 S2)`` is the nuclear norm of the small ``(N1, N2)`` matrix ``B``: no ``D x D``
    square root, which takes minutes for D = 2048 on a small CPU and is ill-conditioned when
    N < D. Mathematically the same number as :func:`frechet_distance` of the two sets' statistics
    (which pytorch-fid computes with ``sqrtm``; the two agree to sqrtm's accuracy). Falls back to
    :func:`frechet_distance` when both sets have at least ``D`` images.
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    n1, n2 = len(f1), len(f2)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 images in each set, got {n1} and {n2}")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    if min(n1, n2) >= f1.shape[1]:
        return frechet_distance(*statistics(f1), *statistics(f2))
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a1, a2 = f1 - mu1, f2 - mu2
    trace1 = np.sum(a1 * a1) / (n1 - 1)  # Tr S1
    trace2 = np.sum(a2 * a2) / (n2 - 1)
    cross = a1 @ a2.T / np.sqrt((n1 - 1) * (n2 - 1))  # (N1, N2)
    tr_covmean = np.linalg.svd(cross, compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + trace1 + trace2 - 2 * tr_covmean)


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``.

    Like Bińkowski et al. (2018) and torch-fidelity: the estimate is averaged over ``num_subsets``
    random subsets of ``min(subset_size, N1, N2)`` features drawn without replacement from each set.
    Returns ``(mean, std)`` over subsets (usually reported x 1000).
    """
    n1, n2 = len(features1), len(features2)
    m = min(subset_size, n1, n2)
    if m < 2:
        raise ValueError(f"KID needs at least 2 images in each set, got {n1} and {n2}")
    d = features1.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = features1[rng.choice(n1, m, replace=False)]
        y = features2[rng.choice(n2, m, replace=False)]
        k_xx = (x @ x.T / d + 1) ** 3
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        values[i] = (
            (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
            + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
            - 2 * k_xy.mean()
        )
    return float(values.mean()), float(values.std())


# --- folders ------------------------------------------------------------------------------------


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder '{folder}' does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in '{folder}'")
    return files


def image_batches(files: Sequence[Path], batch_size: int) -> Iterator[torch.Tensor]:
    """Batches ``(B, 3, 299, 299)`` in ``[-1, 1]`` of image files (any sizes).

    Each image is resized to 299 on its own with pytorch-fid's resize (bilinear, from ``[0, 1]``),
    so folders of mixed sizes batch; the network's own resize is then the identity.
    """
    for start in range(0, len(files), batch_size):
        batch = []
        for path in files[start : start + batch_size]:
            x = torch.from_numpy(read_image(path).copy()).permute(2, 0, 1).float().div(255)[None]  # (1, 3, H, W)
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
            batch.append(x * 2 - 1)
        yield torch.cat(batch)


def _file_identity(path: Path) -> str:
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def statistics_cache_key(files: Sequence[Path], weights: str | os.PathLike) -> str:
    """Hash of the image file names, sizes and mtimes and of the weights file's name, size and mtime."""
    h = hashlib.sha256()
    weights = Path(weights)
    h.update(_file_identity(weights).encode())
    for f in files:
        h.update(b"\0" + _file_identity(f).encode())
    return h.hexdigest()[:32]


def folder_features(
    folder: str | os.PathLike,
    model: nn.Module | None,
    batch_size: int = 50,
    cache_dir: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    files: Sequence[Path] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features (N, 2048) float32, mu, sigma)`` of the images in ``folder`` (or of ``files``).

    With both ``cache_dir`` and ``weights`` given, the result is cached in
    ``cache_dir/fid_stats_<key>.npz`` (see :func:`statistics_cache_key`) and read back next time;
    ``model`` may then be None when the cache is known to be warm.
    """
    files = list_images(folder) if files is None else list(files)
    cache_file = None
    if cache_dir is not None and weights is not None:
        cache_file = Path(cache_dir) / f"fid_stats_{statistics_cache_key(files, weights)}.npz"
        if cache_file.is_file():
            with np.load(cache_file) as f:
                logger.info("Inception statistics of %s read from %s", folder, cache_file)
                return f["features"], f["mu"], f["sigma"]
    if model is None:
        raise ValueError(f"no cached Inception statistics for {folder} and no model to compute them")
    feats = activations(model, image_batches(files, batch_size))
    mu, sigma = statistics(feats)
    feats = feats.astype(np.float32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".fid_stats.", suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, features=feats, mu=mu, sigma=sigma, folder=str(folder), count=len(files))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, cache_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return feats, mu, sigma


def folder_statistics(
    folder: str | os.PathLike,
    model: nn.Module | None,
    batch_size: int = 50,
    cache_dir: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` of the images in ``folder``, cached like :func:`folder_features`."""
    _, mu, sigma = folder_features(folder, model, batch_size, cache_dir, weights)
    return mu, sigma


def compute_fid(
    generated_dir: str | os.PathLike,
    real_dir: str | os.PathLike,
    weights: str | os.PathLike,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
) -> float:
    """FID between the images of two folders; the real folder's statistics are cached in ``cache_dir``."""
    model = load_inception(weights, device)
    mu_real, sigma_real = folder_statistics(real_dir, model, batch_size, cache_dir, weights)
    mu_gen, sigma_gen = folder_statistics(generated_dir, model, batch_size)
    return frechet_distance(mu_gen, sigma_gen, mu_real, sigma_real)
