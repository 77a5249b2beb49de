"""Shared by the ``*_reference.py`` converters: moving a reference implementation's state dict onto
a paintscape network through a key map, checking every key and shape."""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor

_BN_BOOKKEEPING = re.compile(r"(running_mean|running_var|num_batches_tracked)$")


class ReferenceWeightsError(ValueError):
    """A reference state dict does not fit the paintscape network it is loaded into."""


def read_reference_state(
    path: str | os.PathLike, error: type[ReferenceWeightsError] = ReferenceWeightsError
) -> dict[str, Tensor]:
    """A reference checkpoint file as a state dict on the CPU: a ``.pth`` read with
    ``weights_only=True`` (no pickled code runs) or a ``.safetensors`` file of the same keys.

    A file that is empty, truncated, not a checkpoint, or holds pickled objects other than tensors
    raises ``error`` in one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise error(f"{path}: empty file (0 bytes)")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise error(f"{path}: not a readable .safetensors file, truncated or corrupt ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():  # the pickle names a class or function to call
            raise error(
                f"{path}: refused: the file holds pickled Python objects besides tensors, and loading them "
                "would run code from the file; save a plain state dict (torch.save(net.state_dict())) "
                "or a .safetensors file"
            ) from None
        raise error(f"{path}: not a PyTorch checkpoint written by torch.save (it cannot be read as tensors)") from None
    except (RuntimeError, EOFError, KeyError, ValueError, IndexError, OSError) as exc:
        # torch's own text ends with advice about internal errors: keep its first sentence only.
        reason = "not a pickle or zip file" if isinstance(exc, KeyError | IndexError) else str(exc).split(". ")[0].strip()
        reason = reason or type(exc).__name__
        raise error(f"{path}: not a readable PyTorch checkpoint, truncated or corrupt ({reason})") from None
    if not isinstance(state, Mapping):
        raise error(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    not_tensors = [key for key, value in state.items() if not isinstance(value, Tensor)]
    if not_tensors:
        key = not_tensors[0]
        raise error(f"{path}: expected a state dict (name -> tensor), but {key!r} holds a {type(state[key]).__name__}")
    return dict(state)


def strip_data_parallel(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop the ``module.`` prefix of a model saved while wrapped in (Distributed)DataParallel."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def convert_with_key_map(
    state: Mapping[str, Tensor],
    ours: Mapping[str, Tensor],
    key_map: Mapping[str, str],
    what: str,
    hint: Callable[[str, bool], str],
    error: type[ReferenceWeightsError] = ReferenceWeightsError,
) -> dict[str, Tensor]:
    """``{our key: reference tensor}`` for every ``our key -> reference key`` of ``key_map``.

    A missing reference key, a shape mismatch or a reference key left over raises ``error`` naming
    the keys, both shapes and ``hint(reference_key, missing)`` (the constructor argument to check).
    """
    state = strip_data_parallel(state)
    converted: dict[str, Tensor] = {}
    for our_key, reference_key in key_map.items():
        expected = ours[our_key]
        if reference_key not in state:
            if our_key.endswith("num_batches_tracked"):  # PyTorch < 0.4 checkpoints lack it
                converted[our_key] = torch.zeros_like(expected)
                continue
            raise error(f"reference {what} has no key {reference_key!r} (for our {our_key!r}); {hint(reference_key, True)}")
        value = state[reference_key]
        if tuple(value.shape) != tuple(expected.shape):
            raise error(
                f"reference {what} key {reference_key!r} has shape {tuple(value.shape)}, but our {our_key!r} "
                f"needs {tuple(expected.shape)}; {hint(reference_key, False)}"
            )
        converted[our_key] = value.detach().to(dtype=expected.dtype)
    used = set(key_map.values())
    # Old checkpoints keep running stats on (non-affine) instance norms; the references ignore them too.
    unused = sorted(k for k in state if k not in used and not _BN_BOOKKEEPING.search(k))
    if unused:
        shown = ", ".join(map(repr, unused[:5])) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
        raise error(f"reference {what} has keys our network does not use: {shown}; {hint(unused[0], False)}")
    return converted
