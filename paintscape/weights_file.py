"""Reading a pretrained network's ``.pth`` file as tensors, with one-line errors naming the file.

``torch.load(weights_only=True)`` runs no code from the file, but what it raises on a wrong file is a
page of text ending in advice to pass ``weights_only=False`` — the one thing a user must not do with a
file from the internet. :func:`read_weights` says instead what is wrong with the file.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch


class WeightsFileError(ValueError):
    """A weights file that exists but cannot be read as tensors."""


def read_weights(path: str | os.PathLike, what: str) -> object:
    """``torch.load(path, weights_only=True)``; ``what`` names the file's role in the messages."""
    path = Path(path)
    if path.is_dir():
        raise WeightsFileError(f"{what} {path} is a folder; give the weights file")
    if path.stat().st_size == 0:
        raise WeightsFileError(f"{what} {path}: empty file (0 bytes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():
            raise WeightsFileError(f"{what} {path}: refused: it holds pickled Python objects besides tensors, which could run code") from None
        raise WeightsFileError(f"{what} {path}: not a PyTorch weights file (it cannot be read as tensors)") from None
    except (RuntimeError, EOFError, KeyError, ValueError, IndexError, OSError) as exc:
        reason = str(exc).split(". ")[0].strip() if not isinstance(exc, KeyError | IndexError) else "not a pickle or zip file"
        raise WeightsFileError(f"{what} {path}: not a readable PyTorch weights file, truncated or corrupt ({reason or type(exc).__name__})") from None
