"""Inception features of folders of image files, with the real folder's features cached on disk.

Real-image statistics are cached as ``.npz`` files whose name is a hash of the image file names,
sizes and modification times and of the weights file, so a changed folder is never served stale
statistics. Image files are read as uint8 and divided by 255 like ``torchvision.transforms.ToTensor``,
then resized to 299 the way pytorch-fid does.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from paintscape.data.io import IMAGE_SUFFIXES, read_image
from paintscape.evaluate.fid import statistics
from paintscape.evaluate.inception import INPUT_SIZE, activations
from paintscape.io_atomic import atomic_write

logger = logging.getLogger(__name__)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder '{folder}' does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in '{folder}'")
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
        atomic_write(cache_file, lambda out: np.savez(out, features=feats, mu=mu, sigma=sigma, folder=str(folder), count=len(files)))
    return feats, mu, sigma

